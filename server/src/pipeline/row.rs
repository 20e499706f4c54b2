//! A behaviour record as a `user_behaviors` row (`JSONEachRow`).

use recoscope_core::{BehaviorRecord, Fraction, Label, Seconds};
use serde::Serialize;

#[derive(Debug, Serialize, PartialEq)]
pub struct BehaviorRow {
    pub tenant_id: String,
    pub event_id: String,
    pub scenario_id: String,
    pub user_id: String,
    pub item_id: String,
    pub action_type: &'static str,
    /// `YYYY-MM-DD hh:mm:ss`, UTC (the column is `DateTime('UTC')`).
    pub event_time: String,
    pub event_ts_ms: u64,
    pub received_at: String,
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
            event_time: datetime_text(event_ms),
            event_ts_ms: event_ms as u64,
            received_at: datetime_text(r.received_at),
            tenant_id: r.tenant_id,
            event_id: r.event_id,
            scenario_id: e.scenario_id.into(),
            user_id: e.user_id.into(),
            item_id: e.item_id.into(),
            action_type: e.action_type.as_str(),
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
        assert_eq!(row.event_time, "2023-11-14 22:13:20");
        assert_eq!(row.event_ts_ms, 1_700_000_000_123);
        assert_eq!(row.received_at, "2023-11-14 22:13:21");
        assert_eq!(row.action_type, "add_cart");
        assert_eq!(row.device_type, "");
        assert_eq!(row.position, None);
    }
}
