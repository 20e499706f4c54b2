//! Per-event validation. A bad event is rejected on its own, with its index in the batch, a
//! machine-readable code, the field and a message; its valid siblings go on.
//!
//! Checks run on the raw JSON first (required fields, JSON types, known action types), so the
//! client learns *which* field is wrong rather than a deserializer's message; then the typed
//! event is checked against the configured limits (lengths, sizes, ranges, clock skew).

use recoscope_core::{ActionType, Event};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::HashSet;

/// Why one event was not accepted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejection {
    pub index: usize,
    pub code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
    pub message: String,
}

/// Every code a rejection can carry (documented in the OpenAPI text and the README).
pub const REJECTION_CODES: &[&str] = &[
    "not_an_object",
    "missing_field",
    "wrong_type",
    "unknown_action_type",
    "empty_field",
    "too_long",
    "too_large",
    "out_of_range",
    "timestamp_in_future",
    "timestamp_too_old",
    "duplicate_event_id",
];

/// Configurable bounds (`INGEST_*` variables).
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Longest id or label (bytes).
    pub max_string_len: usize,
    /// Largest `extra_data`, serialized (bytes).
    pub max_extra_bytes: usize,
    /// How far ahead of the server's clock a timestamp may be.
    pub max_future_skew_ms: i64,
    /// How far back a timestamp may be (older events belong to a backfill, not to ingest).
    pub max_age_ms: i64,
    /// Longest watch/dwell time (seconds).
    pub max_watch_seconds: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_string_len: 256,
            max_extra_bytes: 4096,
            max_future_skew_ms: 5 * 60 * 1000,
            max_age_ms: 7 * 24 * 3600 * 1000,
            max_watch_seconds: 24.0 * 3600.0,
        }
    }
}

const REQUIRED_STRINGS: [&str; 3] = ["scenario_id", "user_id", "item_id"];
const OPTIONAL_STRINGS: [&str; 6] = [
    "event_id",
    "experiment_id",
    "experiment_group",
    "request_id",
    "session_id",
    "action_type",
];
const CONTEXT_STRINGS: [&str; 4] = ["device_type", "os", "location", "ip"];

/// Validates one batch: each event on its own, plus duplicate `event_id`s within the batch
/// (the second and later copies are rejected).
pub fn validate_batch(
    raw_events: Vec<Value>,
    limits: &Limits,
    now_ms: i64,
) -> (Vec<Event>, Vec<Rejection>) {
    let mut accepted = Vec::with_capacity(raw_events.len());
    let mut rejected = Vec::new();
    let mut seen_ids = HashSet::new();
    for (index, raw) in raw_events.into_iter().enumerate() {
        match validate_event(index, raw, limits, now_ms) {
            Ok(event) => {
                if let Some(id) = &event.event_id {
                    if !seen_ids.insert(id.clone()) {
                        rejected.push(Rejection {
                            index,
                            code: "duplicate_event_id",
                            field: Some("event_id"),
                            message: format!("event_id {id:?} appears earlier in this batch"),
                        });
                        continue;
                    }
                }
                accepted.push(event);
            }
            Err(rejection) => rejected.push(rejection),
        }
    }
    (accepted, rejected)
}

pub fn validate_event(
    index: usize,
    raw: Value,
    limits: &Limits,
    now_ms: i64,
) -> Result<Event, Rejection> {
    let reject = |code, field: Option<&'static str>, message: String| Rejection {
        index,
        code,
        field,
        message,
    };
    let Value::Object(map) = &raw else {
        return Err(reject(
            "not_an_object",
            None,
            "an event must be a JSON object".into(),
        ));
    };
    check_shape(map).map_err(|(code, field, message)| reject(code, Some(field), message))?;
    let event: Event = serde_json::from_value(raw)
        .map_err(|e| reject("wrong_type", None, format!("event {index}: {e}")))?;

    let strings = REQUIRED_STRINGS
        .iter()
        .zip([&event.scenario_id, &event.user_id, &event.item_id])
        .map(|(f, v)| (*f, Some(v)))
        .chain([
            ("event_id", event.event_id.as_ref()),
            ("experiment_id", event.experiment_id.as_ref()),
            ("experiment_group", event.experiment_group.as_ref()),
            ("request_id", event.request_id.as_ref()),
            ("session_id", event.session_id.as_ref()),
        ]);
    for (field, value) in strings {
        let Some(value) = value else { continue };
        if value.trim().is_empty() {
            return Err(reject(
                "empty_field",
                Some(field),
                format!("{field} must not be empty"),
            ));
        }
        if value.len() > limits.max_string_len {
            return Err(reject(
                "too_long",
                Some(field),
                format!("{field} is longer than {} bytes", limits.max_string_len),
            ));
        }
    }
    if let Some(context) = &event.context {
        for (field, value) in CONTEXT_STRINGS.iter().zip([
            &context.device_type,
            &context.os,
            &context.location,
            &context.ip,
        ]) {
            if value
                .as_ref()
                .is_some_and(|v| v.len() > limits.max_string_len)
            {
                return Err(reject(
                    "too_long",
                    Some(field),
                    format!(
                        "context.{field} is longer than {} bytes",
                        limits.max_string_len
                    ),
                ));
            }
        }
    }
    if let Some(extra) = &event.extra_data {
        let size = extra.to_string().len();
        if size > limits.max_extra_bytes {
            return Err(reject(
                "too_large",
                Some("extra_data"),
                format!(
                    "extra_data is {size} bytes, at most {} allowed",
                    limits.max_extra_bytes
                ),
            ));
        }
    }
    if let Some(rate) = event.completion_rate {
        if !(0.0..=1.0).contains(&rate) {
            return Err(reject(
                "out_of_range",
                Some("completion_rate"),
                format!("completion_rate must be between 0 and 1, got {rate}"),
            ));
        }
    }
    if let Some(d) = event.watch_duration {
        if !(d.is_finite() && (0.0..=limits.max_watch_seconds).contains(&d)) {
            return Err(reject(
                "out_of_range",
                Some("watch_duration"),
                format!(
                    "watch_duration must be between 0 and {} seconds, got {d}",
                    limits.max_watch_seconds
                ),
            ));
        }
    }
    if let Some(ts) = event.timestamp {
        if ts > now_ms + limits.max_future_skew_ms {
            return Err(reject(
                "timestamp_in_future",
                Some("timestamp"),
                format!(
                    "timestamp is {} s ahead of the server clock (at most {} s allowed); \
                     timestamps are milliseconds since the Unix epoch",
                    (ts - now_ms) / 1000,
                    limits.max_future_skew_ms / 1000
                ),
            ));
        }
        if ts < now_ms - limits.max_age_ms {
            return Err(reject(
                "timestamp_too_old",
                Some("timestamp"),
                format!(
                    "timestamp is older than {} hours; timestamps are milliseconds since the \
                     Unix epoch",
                    limits.max_age_ms / 3_600_000
                ),
            ));
        }
    }
    Ok(event)
}

type ShapeError = (&'static str, &'static str, String);

/// Required fields, JSON types and the action type, on the raw object.
fn check_shape(map: &Map<String, Value>) -> Result<(), ShapeError> {
    for field in REQUIRED_STRINGS.iter().chain(["action_type"].iter()) {
        if map.get(*field).is_none_or(Value::is_null) {
            return Err(("missing_field", field, format!("{field} is required")));
        }
    }
    for field in REQUIRED_STRINGS.iter().chain(OPTIONAL_STRINGS.iter()) {
        expect(map, field, "a string", Value::is_string)?;
    }
    let action = map["action_type"].as_str().unwrap_or_default();
    if !ActionType::ALL.iter().any(|a| a.as_str() == action) {
        let known: Vec<&str> = ActionType::ALL.iter().map(|a| a.as_str()).collect();
        return Err((
            "unknown_action_type",
            "action_type",
            format!(
                "unknown action_type {action:?}; expected one of {}",
                known.join(", ")
            ),
        ));
    }
    for field in ["watch_duration", "completion_rate"] {
        expect(map, field, "a number", Value::is_number)?;
    }
    expect(
        map,
        "timestamp",
        "an integer (milliseconds since the Unix epoch)",
        |v| v.as_i64().is_some(),
    )?;
    expect(map, "position", "a non-negative integer below 2^32", |v| {
        v.as_u64().is_some_and(|p| p <= u64::from(u32::MAX))
    })?;
    expect(map, "extra_data", "a JSON object", Value::is_object)?;
    expect(map, "context", "a JSON object", Value::is_object)?;
    if let Some(Value::Object(context)) = map.get("context") {
        for field in CONTEXT_STRINGS {
            expect(context, field, "a string", Value::is_string)?;
        }
    }
    Ok(())
}

/// A present, non-null field must satisfy `ok`.
fn expect(
    map: &Map<String, Value>,
    field: &'static str,
    what: &str,
    ok: impl Fn(&Value) -> bool,
) -> Result<(), ShapeError> {
    match map.get(field) {
        Some(v) if !v.is_null() && !ok(v) => Err((
            "wrong_type",
            field,
            format!("{field} must be {what}, got {v}"),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000_000;

    fn valid() -> Value {
        json!({"scenario_id": "home", "user_id": "u1", "item_id": "i1", "action_type": "click"})
    }

    fn with(field: &str, value: Value) -> Value {
        let mut v = valid();
        v[field] = value;
        v
    }

    fn without(field: &str) -> Value {
        let mut v = valid();
        v.as_object_mut().unwrap().remove(field);
        v
    }

    #[test]
    fn every_rule_rejects_with_its_code_and_field() {
        let limits = Limits::default();
        let cases: Vec<(Value, &str, Option<&str>)> = vec![
            (json!(3), "not_an_object", None),
            (json!([valid()]), "not_an_object", None),
            (without("user_id"), "missing_field", Some("user_id")),
            (without("action_type"), "missing_field", Some("action_type")),
            (
                with("scenario_id", Value::Null),
                "missing_field",
                Some("scenario_id"),
            ),
            (with("item_id", json!(42)), "wrong_type", Some("item_id")),
            (
                with("event_id", json!({"a": 1})),
                "wrong_type",
                Some("event_id"),
            ),
            (
                with("action_type", json!("purchase")),
                "unknown_action_type",
                Some("action_type"),
            ),
            (
                with("action_type", json!(1)),
                "wrong_type",
                Some("action_type"),
            ),
            (with("user_id", json!(" ")), "empty_field", Some("user_id")),
            (
                with("session_id", json!("")),
                "empty_field",
                Some("session_id"),
            ),
            (
                with("item_id", json!("x".repeat(257))),
                "too_long",
                Some("item_id"),
            ),
            (
                with("context", json!({"os": "y".repeat(300)})),
                "too_long",
                Some("os"),
            ),
            (
                with("context", json!("mobile")),
                "wrong_type",
                Some("context"),
            ),
            (with("context", json!({"ip": 1})), "wrong_type", Some("ip")),
            (
                with("extra_data", json!([1, 2])),
                "wrong_type",
                Some("extra_data"),
            ),
            (
                with("extra_data", json!({"blob": "z".repeat(5000)})),
                "too_large",
                Some("extra_data"),
            ),
            (
                with("completion_rate", json!(1.5)),
                "out_of_range",
                Some("completion_rate"),
            ),
            (
                with("completion_rate", json!(-0.1)),
                "out_of_range",
                Some("completion_rate"),
            ),
            (
                with("completion_rate", json!("half")),
                "wrong_type",
                Some("completion_rate"),
            ),
            (
                with("watch_duration", json!(-1)),
                "out_of_range",
                Some("watch_duration"),
            ),
            (
                with("watch_duration", json!(1e9)),
                "out_of_range",
                Some("watch_duration"),
            ),
            (
                with("timestamp", json!("yesterday")),
                "wrong_type",
                Some("timestamp"),
            ),
            (
                with("timestamp", json!(1.5)),
                "wrong_type",
                Some("timestamp"),
            ),
            (
                with("timestamp", json!(NOW + 3_600_000)),
                "timestamp_in_future",
                Some("timestamp"),
            ),
            (
                with("timestamp", json!(NOW / 1000)),
                "timestamp_too_old",
                Some("timestamp"),
            ),
            (with("position", json!(-1)), "wrong_type", Some("position")),
            (
                with("position", json!(5_000_000_000u64)),
                "wrong_type",
                Some("position"),
            ),
        ];
        for (i, (raw, code, field)) in cases.into_iter().enumerate() {
            let r = validate_event(i, raw.clone(), &limits, NOW).unwrap_err();
            assert_eq!((r.index, r.code, r.field), (i, code, field), "{raw}");
            assert!(REJECTION_CODES.contains(&r.code));
            assert!(!r.message.is_empty());
        }
    }

    #[test]
    fn valid_events_pass_with_every_optional_field() {
        let full = json!({
            "event_id": "e1", "scenario_id": "home", "user_id": "u1", "item_id": "i1",
            "action_type": "view", "context": {"device_type": "mobile", "os": "iOS",
            "location": "Berlin", "ip": "1.2.3.4"}, "extra_data": {"price": 3},
            "watch_duration": 12.5, "completion_rate": 1, "experiment_id": "x",
            "experiment_group": "treatment", "timestamp": NOW - 1000, "request_id": "r",
            "position": 0, "session_id": "s", "unknown_future_field": true
        });
        let event = validate_event(0, full, &Limits::default(), NOW).unwrap();
        assert_eq!(event.position, Some(0));
        assert!(validate_event(0, valid(), &Limits::default(), NOW).is_ok());
        assert!(validate_event(
            0,
            with("timestamp", json!(NOW + 60_000)),
            &Limits::default(),
            NOW
        )
        .is_ok());
    }

    #[test]
    fn duplicates_within_a_batch_are_rejected_after_the_first() {
        let batch = vec![
            with("event_id", json!("a")),
            with("event_id", json!("b")),
            with("event_id", json!("a")),
            valid(),
            valid(),
        ];
        let (accepted, rejected) = validate_batch(batch, &Limits::default(), NOW);
        assert_eq!(accepted.len(), 4);
        assert_eq!(rejected.len(), 1);
        assert_eq!(
            (rejected[0].index, rejected[0].code),
            (2, "duplicate_event_id")
        );
    }
}

#[cfg(test)]
mod properties {
    //! No input makes validation panic, and every rejection carries a known code.
    use super::*;
    use proptest::prelude::*;

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            ".{0,300}".prop_map(Value::from),
            prop::sample::select(vec!["click", "order", "view", "add_cart", "nope", ""])
                .prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(".{0,12}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// A valid event with some fields replaced by arbitrary values.
    fn mutated_event() -> impl Strategy<Value = Value> {
        let fields = prop::sample::select(vec![
            "event_id",
            "scenario_id",
            "user_id",
            "item_id",
            "action_type",
            "context",
            "extra_data",
            "watch_duration",
            "completion_rate",
            "experiment_id",
            "experiment_group",
            "timestamp",
            "request_id",
            "position",
            "session_id",
        ]);
        prop::collection::vec((fields, json_value()), 0..5).prop_map(|changes| {
            let mut event = serde_json::json!({"scenario_id": "s", "user_id": "u",
                "item_id": "i", "action_type": "click"});
            for (field, value) in changes {
                event[field] = value;
            }
            event
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn arbitrary_json_never_panics(values in prop::collection::vec(json_value(), 0..8)) {
            let n = values.len();
            let (accepted, rejected) = validate_batch(values, &Limits::default(), 1_800_000_000_000);
            prop_assert_eq!(accepted.len() + rejected.len(), n);
            for r in rejected {
                prop_assert!(REJECTION_CODES.contains(&r.code), "unknown code {}", r.code);
                prop_assert!(r.index < n);
                prop_assert!(!r.message.is_empty());
            }
        }

        #[test]
        fn mutated_events_are_accepted_or_rejected_with_a_code(
            events in prop::collection::vec(mutated_event(), 1..8)
        ) {
            let n = events.len();
            let (accepted, rejected) = validate_batch(events, &Limits::default(), 1_800_000_000_000);
            prop_assert_eq!(accepted.len() + rejected.len(), n);
            for r in &rejected {
                prop_assert!(REJECTION_CODES.contains(&r.code), "unknown code {}", r.code);
            }
            // Whatever is accepted can be serialized and read back unchanged (what the
            // worker will do with it).
            for event in accepted {
                let json = serde_json::to_string(&event).unwrap();
                let back: Event = serde_json::from_str(&json).unwrap();
                prop_assert_eq!(back, event);
            }
        }
    }
}
