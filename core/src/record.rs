//! The record the ingest API writes to Kafka and the workers read back.

use crate::bounded::Label;
use crate::event::Event;
use serde::{Deserialize, Serialize};

/// An accepted event, stamped by the server. This is the Kafka message value (JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BehaviorRecord {
    /// From the write key, never from the body.
    pub tenant_id: String,
    /// Always set: the client's id or one the server generated.
    pub event_id: String,
    /// Server receive time, milliseconds since the Unix epoch.
    pub received_at: i64,
    #[serde(flatten)]
    pub event: Event,
}

impl BehaviorRecord {
    /// Stamps an accepted event. The event's own id moves to the record (so it is serialized
    /// once); `new_id` supplies one when the client sent none.
    pub fn new(
        tenant_id: impl Into<String>,
        mut event: Event,
        received_at: i64,
        new_id: impl FnOnce() -> String,
    ) -> Self {
        let event_id = event
            .event_id
            .take()
            .map(Label::into_string)
            .unwrap_or_else(new_id);
        BehaviorRecord {
            tenant_id: tenant_id.into(),
            event_id,
            received_at,
            event,
        }
    }

    /// Event time in milliseconds: the client's timestamp, or the receive time.
    pub fn event_time_ms(&self) -> i64 {
        self.event.timestamp.map_or(self.received_at, |t| t.get())
    }

    /// The Kafka message key: all events of one user land in one partition, in order.
    pub fn partition_key(&self) -> String {
        format!("{}/{}", self.tenant_id, self.event.user_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ActionType;

    #[test]
    fn the_record_serializes_the_event_id_once_and_reads_back() {
        let mut event = Event::new("home", "u1", "i1", ActionType::Click).unwrap();
        event.event_id = Some(Label::new("client-id").unwrap());
        let record = BehaviorRecord::new("acme", event, 1_700_000_000_000, || unreachable!());
        let json = serde_json::to_string(&record).unwrap();
        assert_eq!(json.matches("event_id").count(), 1);
        let back: BehaviorRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back, record);
        assert_eq!(back.event_id, "client-id");
        assert_eq!(back.event_time_ms(), 1_700_000_000_000);
    }

    #[test]
    fn a_missing_event_id_is_generated() {
        let event = Event::new("home", "u1", "i1", ActionType::View).unwrap();
        let record = BehaviorRecord::new("acme", event, 5, || "generated".into());
        assert_eq!(record.event_id, "generated");
        assert_eq!(record.partition_key(), "acme/u1");
    }
}
