//! A behaviour record as a `user_behaviors` row: `RowBinary` for the sink's inserts, and
//! `JSONEachRow` (serde) for tools such as `bench/sink`'s bulk baseline.

use recoscope_clickhouse::{RowBinary, RowBinaryWriter};
use recoscope_core::{ActionType, BehaviorRecord, Fraction, Label, Seconds};
use serde::{Serialize, Serializer};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BehaviorRow {
    pub tenant_id: String,
    pub event_id: String,
    pub scenario_id: String,
    pub user_id: String,
    pub item_id: String,
    pub action_type: ActionType,
    /// Seconds since the epoch (the column is `DateTime('UTC')`); JSON has it as text.
    #[serde(serialize_with = "datetime_json")]
    pub event_time: u32,
    pub event_ts_ms: u64,
    #[serde(serialize_with = "datetime_json")]
    pub received_at: u32,
    pub device_type: String,
    pub os: String,
    pub location: String,
    pub ip: String,
    pub request_id: String,
    pub position: Option<u32>,
    pub session_id: String,
    pub experiment_id: String,
    pub experiment_group: String,
    pub watch_duration: Option<f64>,
    pub completion_rate: Option<f64>,
    pub extra_data: String,
}

/// Milliseconds since the epoch as ClickHouse's DateTime text, UTC.
pub fn datetime_text(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

fn datetime_json<S: Serializer>(secs: &u32, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&datetime_text(i64::from(*secs) * 1000))
}

/// A `DateTime` column's value: seconds since the epoch, clamped to what `UInt32` holds.
fn datetime_secs(ms: i64) -> u32 {
    (ms.max(0) / 1000).min(i64::from(u32::MAX)) as u32
}

/// The `action_type` column's `Enum8` numbers (sql/0001_user_behaviors.sql, 0007).
fn action_code(action: ActionType) -> i8 {
    match action {
        ActionType::Impression => 1,
        ActionType::Click => 2,
        ActionType::View => 3,
        ActionType::Like => 4,
        ActionType::Share => 5,
        ActionType::AddCart => 6,
        ActionType::Order => 7,
        ActionType::Dwell => 8,
    }
}

/// ClickHouse's columns are not Nullable: an absent label is the empty string.
fn text(label: Option<Label>) -> String {
    label.map(Label::into_string).unwrap_or_default()
}

impl From<BehaviorRecord> for BehaviorRow {
    fn from(r: BehaviorRecord) -> Self {
        let event_ms = r.event_time_ms().max(0);
        let e = r.event;
        let context = e.context.unwrap_or_default();
        BehaviorRow {
            event_time: datetime_secs(event_ms),
            event_ts_ms: event_ms as u64,
            received_at: datetime_secs(r.received_at),
            tenant_id: r.tenant_id,
            event_id: r.event_id,
            scenario_id: e.scenario_id.into(),
            user_id: e.user_id.into(),
            item_id: e.item_id.into(),
            action_type: e.action_type,
            device_type: text(context.device_type),
            os: text(context.os),
            location: text(context.location),
            ip: text(context.ip),
            request_id: text(e.request_id),
            position: e.position,
            session_id: text(e.session_id),
            experiment_id: text(e.experiment_id),
            experiment_group: text(e.experiment_group),
            watch_duration: e.watch_duration.map(Seconds::get),
            completion_rate: e.completion_rate.map(Fraction::get),
            extra_data: e
                .extra_data
                .map(|extra| extra.to_json())
                .unwrap_or_default(),
        }
    }
}

impl RowBinary for BehaviorRow {
    const COLUMNS: &'static [&'static str] = &[
        "tenant_id",
        "event_id",
        "scenario_id",
        "user_id",
        "item_id",
        "action_type",
        "event_time",
        "event_ts_ms",
        "received_at",
        "device_type",
        "os",
        "location",
        "ip",
        "request_id",
        "position",
        "session_id",
        "experiment_id",
        "experiment_group",
        "watch_duration",
        "completion_rate",
        "extra_data",
    ];

    fn write(&self, out: &mut RowBinaryWriter) {
        out.string(&self.tenant_id);
        out.string(&self.event_id);
        out.string(&self.scenario_id);
        out.string(&self.user_id);
        out.string(&self.item_id);
        out.enum8(action_code(self.action_type));
        out.datetime(self.event_time);
        out.u64(self.event_ts_ms);
        out.datetime(self.received_at);
        out.string(&self.device_type);
        out.string(&self.os);
        out.string(&self.location);
        out.string(&self.ip);
        out.string(&self.request_id);
        out.nullable(self.position, RowBinaryWriter::u32);
        out.string(&self.session_id);
        out.string(&self.experiment_id);
        out.string(&self.experiment_group);
        out.nullable(self.watch_duration, RowBinaryWriter::f64);
        out.nullable(self.completion_rate, RowBinaryWriter::f64);
        out.string(&self.extra_data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use recoscope_core::{ActionType, Event, UnixMillis};

    #[test]
    fn times_are_utc_text_and_missing_fields_are_empty() {
        let mut event = Event::new("home", "u", "i", ActionType::AddCart).unwrap();
        event.timestamp = UnixMillis::new(1_700_000_000_123).ok();
        let row = BehaviorRow::from(BehaviorRecord::new("t", event, 1_700_000_001_000, || {
            "id".into()
        }));
        assert_eq!(row.event_time, 1_700_000_000);
        assert_eq!(row.event_ts_ms, 1_700_000_000_123);
        assert_eq!(row.received_at, 1_700_000_001);
        let json = serde_json::to_value(&row).unwrap();
        assert_eq!(json["event_time"], "2023-11-14 22:13:20");
        assert_eq!(json["received_at"], "2023-11-14 22:13:21");
        assert_eq!(json["action_type"], "add_cart");
        assert_eq!(row.device_type, "");
        assert_eq!(row.position, None);
    }
}
