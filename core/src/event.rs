//! The event as a client sends it (JSON).

use crate::bounded::{ExtraData, FieldError, Fraction, Label, Seconds, UnixMillis};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What the user did with a recommended item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ActionType {
    Impression,
    Click,
    View,
    Like,
    Share,
    AddCart,
    Order,
    /// Engaged time on an item's page (and media watched), sent in increments: its
    /// `watch_duration` is the seconds since the page's previous `dwell` event, so the sum
    /// over a page view is the whole time. Not a view: views are counted by `view` events.
    Dwell,
}

impl ActionType {
    pub const ALL: [ActionType; 8] = [
        ActionType::Impression,
        ActionType::Click,
        ActionType::View,
        ActionType::Like,
        ActionType::Share,
        ActionType::AddCart,
        ActionType::Order,
        ActionType::Dwell,
    ];

    /// The name used on the wire and in ClickHouse's `Enum8`.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionType::Impression => "impression",
            ActionType::Click => "click",
            ActionType::View => "view",
            ActionType::Like => "like",
            ActionType::Share => "share",
            ActionType::AddCart => "add_cart",
            ActionType::Order => "order",
            ActionType::Dwell => "dwell",
        }
    }

    /// The action with this wire name, if there is one.
    pub fn from_wire(name: &str) -> Option<ActionType> {
        ActionType::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

impl fmt::Display for ActionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the event happened. The server overrides `ip` with what it saw.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventContext {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_type: Option<Label>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<Label>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Label>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<Label>,
}

/// One behaviour event as sent by a client. `tenant_id` is deliberately absent: the tenant
/// comes from the write key, never from the body.
///
/// Every field is a bounded type, so an `Event` is valid by construction; raw client JSON
/// becomes one through [`crate::validate::parse_event`], which also applies the configured
/// limits and says exactly what is wrong.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    /// Client-generated id used for de-duplication; the server assigns one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<Label>,
    pub scenario_id: Label,
    pub user_id: Label,
    pub item_id: Label,
    pub action_type: ActionType,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "context_object"
    )]
    pub context: Option<EventContext>,
    /// Free-form JSON the operator wants to keep with the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub extra_data: Option<ExtraData>,
    /// Seconds the user watched or dwelt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch_duration: Option<Seconds>,
    /// Share of the item consumed, 0..=1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_rate: Option<Fraction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment_id: Option<Label>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment_group: Option<Label>,
    /// Client time in milliseconds since the Unix epoch; the receive time when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<UnixMillis>,
    /// The recommendation response that produced the impression, so clicks join to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<Label>,
    /// Rank of the item in the recommended list (0-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<Label>,
}

/// A context is a JSON object or `null`: serde's derive would also read one from an array,
/// which the field-by-field parser refuses.
fn context_object<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<EventContext>, D::Error> {
    use serde::de::{MapAccess, Visitor};
    struct ObjectOrNull;
    impl<'de> Visitor<'de> for ObjectOrNull {
        type Value = Option<EventContext>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object or null")
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(self)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            EventContext::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Some)
        }
    }
    deserializer.deserialize_option(ObjectOrNull)
}

impl Event {
    /// A minimal event, handy for producers and tests; fails on a blank or too long id.
    pub fn new(
        scenario_id: impl Into<String>,
        user_id: impl Into<String>,
        item_id: impl Into<String>,
        action_type: ActionType,
    ) -> Result<Self, FieldError> {
        let label = |value: String, field: &str| Label::new(value).map_err(|e| e.in_field(field));
        Ok(Event {
            event_id: None,
            scenario_id: label(scenario_id.into(), "scenario_id")?,
            user_id: label(user_id.into(), "user_id")?,
            item_id: label(item_id.into(), "item_id")?,
            action_type,
            context: None,
            extra_data: None,
            watch_duration: None,
            completion_rate: None,
            experiment_id: None,
            experiment_group: None,
            timestamp: None,
            request_id: None,
            position: None,
            session_id: None,
        })
    }
}

pub const SENT_AT_TYPE: &str = "sent_at must be an integer (milliseconds since the Unix epoch)";

/// A request body: either one event or `{"events": [...]}`.
///
/// Events stay as raw JSON values here so that one malformed event can be rejected on its
/// own while its siblings are still accepted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IngestBody {
    pub events: Vec<serde_json::Value>,
    /// The write key, for `navigator.sendBeacon` which cannot set headers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_key: Option<String>,
    /// The client's clock when it sent the request (ms since the Unix epoch): the API moves
    /// the events' timestamps by the difference to its own clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<i64>,
}

impl IngestBody {
    /// Splits a parsed JSON body into its events. A body with an `events` array is a batch;
    /// any other object is a single event.
    pub fn from_value(value: serde_json::Value) -> Result<IngestBody, &'static str> {
        let serde_json::Value::Object(mut map) = value else {
            return Err("the body must be a JSON object: one event or {\"events\": [...]}");
        };
        let write_key = match map.remove("write_key") {
            Some(serde_json::Value::String(k)) => Some(k),
            Some(_) => return Err("write_key must be a string"),
            None => None,
        };
        let sent_at = match map.remove("sent_at") {
            Some(value) => Some(value.as_i64().ok_or(SENT_AT_TYPE)?),
            None => None,
        };
        match map.remove("events") {
            Some(serde_json::Value::Array(events)) => Ok(IngestBody {
                events,
                write_key,
                sent_at,
            }),
            Some(_) => Err("events must be an array"),
            None => Ok(IngestBody {
                events: vec![serde_json::Value::Object(map)],
                write_key,
                sent_at,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_types_round_trip_through_their_wire_names() {
        for action in ActionType::ALL {
            let json = serde_json::to_string(&action).unwrap();
            assert_eq!(json, format!("\"{}\"", action.as_str()));
            let back: ActionType = serde_json::from_str(&json).unwrap();
            assert_eq!(back, action);
        }
        assert!(serde_json::from_str::<ActionType>("\"purchase\"").is_err());
        assert_eq!(ActionType::from_wire("add_cart"), Some(ActionType::AddCart));
        assert_eq!(ActionType::from_wire("purchase"), None);
    }

    #[test]
    fn a_body_is_one_event_or_a_batch() {
        let single = serde_json::json!({"scenario_id": "s", "user_id": "u", "item_id": "i",
            "action_type": "click", "write_key": "k"});
        let body = IngestBody::from_value(single).unwrap();
        assert_eq!(body.events.len(), 1);
        assert_eq!(body.write_key.as_deref(), Some("k"));
        assert!(body.events[0].get("write_key").is_none());

        let batch = serde_json::json!({"events": [{}, {}, {}]});
        assert_eq!(IngestBody::from_value(batch).unwrap().events.len(), 3);

        assert!(IngestBody::from_value(serde_json::json!([1, 2])).is_err());
        assert!(IngestBody::from_value(serde_json::json!({"events": 3})).is_err());
    }
}
