//! The record the ingest API writes to Kafka and the workers read back.

use crate::bounded::Label;
use crate::event::Event;
use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// An accepted event, stamped by the server. This is the Kafka message value (JSON): the
/// event's fields with the record's three beside them, in one flat object.
///
/// Every worker decodes every message, so reading it back is hand-written (see the
/// `Deserialize` impl below) rather than serde's `flatten`, which buffers the whole object
/// before handing it to the event: 1.46 µs per typical record against 0.88 µs.
#[derive(Debug, Clone, PartialEq, Serialize)]
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

/// Reads the flat object in one pass: the record's own keys are taken as they pass, every
/// other key and its value go straight to the event's derived `Deserialize`.
impl<'de> Deserialize<'de> for BehaviorRecord {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(RecordVisitor)
    }
}

struct RecordVisitor;

impl<'de> Visitor<'de> for RecordVisitor {
    type Value = BehaviorRecord;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a behavior record (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<BehaviorRecord, A::Error> {
        let mut own = RecordKeys::<A> {
            map,
            tenant_id: None,
            event_id: None,
            received_at: None,
        };
        let event = Event::deserialize(de::value::MapAccessDeserializer::new(&mut own))?;
        Ok(BehaviorRecord {
            tenant_id: own
                .tenant_id
                .ok_or_else(|| de::Error::missing_field("tenant_id"))?,
            event_id: own
                .event_id
                .ok_or_else(|| de::Error::missing_field("event_id"))?,
            received_at: own
                .received_at
                .ok_or_else(|| de::Error::missing_field("received_at"))?,
            event,
        })
    }
}

/// The record's map as the event sees it: without the record's own keys, whose values are
/// kept aside on the way.
struct RecordKeys<A> {
    map: A,
    tenant_id: Option<String>,
    event_id: Option<String>,
    received_at: Option<i64>,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for &mut RecordKeys<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        while let Some(key) = self.map.next_key::<Key<'de>>()? {
            let name = key.as_str();
            match name {
                "tenant_id" => once(&mut self.tenant_id, "tenant_id", self.map.next_value()?)?,
                "event_id" => once(&mut self.event_id, "event_id", self.map.next_value()?)?,
                "received_at" => {
                    once(&mut self.received_at, "received_at", self.map.next_value()?)?
                }
                _ => return seed.deserialize(name.into_deserializer()).map(Some),
            }
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.map.next_value_seed(seed)
    }
}

/// Sets a record key's value, refusing a second one (as serde's derive does).
fn once<T, E: de::Error>(slot: &mut Option<T>, name: &'static str, value: T) -> Result<(), E> {
    if slot.replace(value).is_some() {
        return Err(E::duplicate_field(name));
    }
    Ok(())
}

/// An object key, borrowed from the input when it has no escapes.
enum Key<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl Key<'_> {
    fn as_str(&self) -> &str {
        match self {
            Key::Borrowed(s) => s,
            Key::Owned(s) => s,
        }
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key::Borrowed(s))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key::Owned(s.to_string()))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
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

    /// What serde's `flatten` read before: the same records from the same objects.
    #[derive(Deserialize)]
    struct Flattened {
        tenant_id: String,
        event_id: String,
        received_at: i64,
        #[serde(flatten)]
        event: Event,
    }

    fn both(
        json: &str,
    ) -> (
        Result<BehaviorRecord, String>,
        Result<BehaviorRecord, String>,
    ) {
        let by_hand = serde_json::from_str::<BehaviorRecord>(json).map_err(|e| e.to_string());
        let flattened = serde_json::from_str::<Flattened>(json)
            .map(|f| BehaviorRecord {
                tenant_id: f.tenant_id,
                event_id: f.event_id,
                received_at: f.received_at,
                event: f.event,
            })
            .map_err(|e| e.to_string());
        (by_hand, flattened)
    }

    #[test]
    fn the_record_reads_as_flatten_did_in_any_key_order() {
        let full = r#"{"item_id":"i\u0031","received_at":7,"context":{"device_type":"mobile"},
            "user_id":"u1","tenant_id":"acme","scenario_id":"home","extra_data":{"a":[1]},
            "action_type":"click","position":3,"event_id":"e1","timestamp":5,"unknown":{"x":1},
            "request_id":"r","session_id":"s","watch_duration":1.5,"completion_rate":0.5,
            "experiment_id":"x","experiment_group":"B"}"#;
        let (by_hand, flattened) = both(full);
        let record = by_hand.unwrap();
        assert_eq!(Ok(record.clone()), flattened);
        assert_eq!(
            (record.tenant_id.as_str(), record.event_id.as_str()),
            ("acme", "e1")
        );
        assert_eq!((record.received_at, record.event_time_ms()), (7, 5));
        assert_eq!(record.event.item_id.as_str(), "i1", "an escaped value");
        assert_eq!(record.event.event_id, None, "the id is the record's");
        // An escaped key is a key like any other.
        let escaped = r#"{"tenant\u005fid":"acme","event_id":"e","received_at":1,
            "scenario_id":"s","user_id":"u","item_id":"i","action_type":"view"}"#;
        assert_eq!(both(escaped).0.unwrap().tenant_id, "acme");
    }

    #[test]
    fn a_record_missing_or_repeating_a_key_or_with_a_bad_field_is_refused_and_says_why() {
        let missing = r#"{"event_id":"e","received_at":1,"scenario_id":"s","user_id":"u",
            "item_id":"i","action_type":"view"}"#;
        assert!(both(missing)
            .0
            .unwrap_err()
            .contains("missing field `tenant_id`"));
        let twice = r#"{"tenant_id":"a","tenant_id":"b","event_id":"e","received_at":1,
            "scenario_id":"s","user_id":"u","item_id":"i","action_type":"view"}"#;
        assert!(both(twice)
            .0
            .unwrap_err()
            .contains("duplicate field `tenant_id`"));
        let no_action = r#"{"tenant_id":"a","event_id":"e","received_at":1,"scenario_id":"s",
            "user_id":"u","item_id":"i"}"#;
        assert!(both(no_action)
            .0
            .unwrap_err()
            .contains("missing field `action_type`"));
        let bad_action = r#"{"tenant_id":"a","event_id":"e","received_at":1,"scenario_id":"s",
            "user_id":"u","item_id":"i","action_type":"teleport"}"#;
        let (by_hand, flattened) = both(bad_action);
        assert!(by_hand.unwrap_err().contains("teleport"));
        assert!(flattened.is_err());
        for not_a_record in ["[]", "\"text\"", "{\"tenant_id\": 3}"] {
            assert!(both(not_a_record).0.is_err(), "{not_a_record}");
        }
    }

    #[test]
    fn a_missing_event_id_is_generated() {
        let event = Event::new("home", "u1", "i1", ActionType::View).unwrap();
        let record = BehaviorRecord::new("acme", event, 5, || "generated".into());
        assert_eq!(record.event_id, "generated");
        assert_eq!(record.partition_key(), "acme/u1");
    }
}
