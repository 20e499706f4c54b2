//! Raw client JSON → an [`Event`], or a rejection that says exactly what is wrong (code,
//! field, message), as the API answers it.
//!
//! - [`body`]: a request body split into its events ([`split_body`]);
//! - this module: the rejection codes, the configured [`Limits`], and [`parse_batch`] (the
//!   fast path, and duplicate ids within a batch);
//! - [`fields`]: the field-by-field parser ([`parse_event`]) that finds the exact reason.
//!
//! Each field is parsed into its bounded type ([`crate::bounded`]) straight from the JSON
//! object, so the client learns *which* field is wrong rather than a deserializer's message,
//! and the configured limits (lengths, sizes, clock skew) are applied on the way. A bad event
//! is rejected on its own, with its index in the batch; its valid siblings go on.
//!
//! The API's hot path: [`split_body`] splits a request body into its events without building
//! a JSON tree, and [`parse_batch`] first deserializes each raw event straight into an
//! [`Event`] and checks the limits on it. Only an event that fails that (or a body of an
//! unusual shape) goes through the field-by-field parser, which finds the exact reason. The
//! fast path accepts nothing the field-by-field parser would not, with the same result (a
//! property test below compares the two on arbitrary and mutated input).

mod body;
mod fields;

pub use body::{split_body, BodyError, RawBody, RawEvent};
pub use fields::parse_event;

use crate::bounded::{Label, Seconds};
use crate::event::Event;
use serde::Serialize;
use serde_json::value::RawValue;
use std::collections::HashSet;

/// Why one event was not accepted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejection {
    /// Position of the event in the batch (0-based).
    pub index: usize,
    /// Machine-readable reason, one of [`REJECTION_CODES`].
    pub code: &'static str,
    /// The offending field (`context.os` for a context field), when one is to blame.
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

/// Configurable bounds (the server's `INGEST_*` variables). Each may only be tighter than
/// the ceiling its type promises ([`Limits::check`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Longest id or label (bytes), at most [`Label::MAX_LEN`].
    pub max_string_len: usize,
    /// Largest `extra_data`, serialized (bytes).
    pub max_extra_bytes: usize,
    /// How far ahead of the server's clock a timestamp may be.
    pub max_future_skew_ms: i64,
    /// How far back a timestamp may be (older events belong to a backfill, not to ingest).
    pub max_age_ms: i64,
    /// How far a client's clock may be from the server's and still be trusted as it is
    /// (see [`RawBody::clock_offset`](body::RawBody::clock_offset)).
    pub clock_tolerance_ms: i64,
    /// Longest watch/dwell time (seconds), at most [`Seconds::MAX`].
    pub max_watch_seconds: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_string_len: 256,
            max_extra_bytes: 4096,
            max_future_skew_ms: 5 * 60 * 1000,
            max_age_ms: 7 * 24 * 3600 * 1000,
            clock_tolerance_ms: 10_000,
            max_watch_seconds: 24.0 * 3600.0,
        }
    }
}

impl Limits {
    /// Limits looser than the types' own ceilings would be silently capped; refuse them.
    pub fn check(&self) -> Result<(), String> {
        if self.max_string_len == 0 || self.max_string_len > Label::MAX_LEN {
            return Err(format!(
                "the longest string must be 1..={} bytes",
                Label::MAX_LEN
            ));
        }
        if !(self.max_watch_seconds > 0.0 && self.max_watch_seconds <= Seconds::MAX) {
            return Err(format!(
                "the longest watch time must be in (0, {}] seconds",
                Seconds::MAX
            ));
        }
        if self.max_future_skew_ms < 0 || self.max_age_ms <= 0 || self.clock_tolerance_ms < 0 {
            return Err("clock skew and maximum age must be positive".into());
        }
        Ok(())
    }
}

/// Validates one batch: each event on its own, plus duplicate `event_id`s within the batch
/// (the second and later copies are rejected).
pub fn parse_batch(
    raw_events: Vec<RawEvent<'_>>,
    limits: &Limits,
    now_ms: i64,
) -> (Vec<Event>, Vec<Rejection>) {
    let mut accepted = Vec::with_capacity(raw_events.len());
    let mut rejected = Vec::new();
    let mut seen_ids = HashSet::new();
    for (index, raw) in raw_events.into_iter().enumerate() {
        let parsed = match raw {
            RawEvent::Text(text) => match parse_fast(text, limits, now_ms) {
                Some(event) => Ok(event),
                // Valid JSON (it is a slice of a parsed body), so this cannot fail.
                None => match serde_json::from_str(text.get()) {
                    Ok(value) => parse_event(index, value, limits, now_ms),
                    Err(e) => Err(Rejection {
                        index,
                        code: "not_an_object",
                        field: None,
                        message: e.to_string(),
                    }),
                },
            },
            RawEvent::Value(value) => parse_event(index, value, limits, now_ms),
        };
        match parsed {
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

/// The common case: the event deserializes straight into its bounded types and is within the
/// limits. `None` sends it to the field-by-field parser for the reason.
fn parse_fast(raw: &RawValue, limits: &Limits, now_ms: i64) -> Option<Event> {
    // serde's derive would also read a struct from an array; an event must be an object.
    if !raw.get().trim_start().starts_with('{') {
        return None;
    }
    let event: Event = serde_json::from_str(raw.get()).ok()?;
    within_limits(&event, limits, now_ms).then_some(event)
}

/// The configured limits, on an event whose types already hold (the same checks the
/// field-by-field parser makes).
fn within_limits(event: &Event, limits: &Limits, now_ms: i64) -> bool {
    let short = |label: &Label| label.as_str().len() <= limits.max_string_len;
    let short_opt = |label: &Option<Label>| label.as_ref().is_none_or(short);
    let context_ok = event.context.as_ref().is_none_or(|c| {
        short_opt(&c.device_type) && short_opt(&c.os) && short_opt(&c.location) && short_opt(&c.ip)
    });
    short(&event.scenario_id)
        && short(&event.user_id)
        && short(&event.item_id)
        && short_opt(&event.event_id)
        && short_opt(&event.experiment_id)
        && short_opt(&event.experiment_group)
        && short_opt(&event.request_id)
        && short_opt(&event.session_id)
        && context_ok
        && event
            .extra_data
            .as_ref()
            .is_none_or(|x| x.to_json().len() <= limits.max_extra_bytes)
        && event
            .watch_duration
            .is_none_or(|w| w.get() <= limits.max_watch_seconds)
        && event.timestamp.is_none_or(|t| {
            let t = t.get();
            t <= now_ms.saturating_add(limits.max_future_skew_ms)
                && t >= now_ms.saturating_sub(limits.max_age_ms)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn a_batch_may_say_when_it_was_sent_and_only_as_an_integer() {
        let body = split_body(r#"{"sent_at": 1000, "events": [{}]}"#).unwrap();
        assert_eq!(body.sent_at, Some(1000));
        assert_eq!(body.client_clock(5000), 1000);
        assert_eq!(body.clock_offset(5000, 3999), 4000);
        assert_eq!(body.clock_offset(-3000, 3999), -4000);
        // Within the tolerance the difference is transit, not a wrong clock: nothing moves.
        assert_eq!(body.clock_offset(5000, 4000), 0);
        assert_eq!(body.clock_offset(-3000, 4000), 0);
        let none = split_body(r#"{"events": [{}]}"#).unwrap();
        assert_eq!(
            (none.client_clock(5000), none.clock_offset(5000, 0)),
            (5000, 0)
        );
        assert_eq!(
            split_body(r#"{"sent_at": "soon", "events": [{}]}"#).unwrap_err(),
            BodyError::Shape(crate::event::SENT_AT_TYPE)
        );
        // A single event may carry it too; it is not taken for one of its fields.
        let single = split_body(r#"{"sent_at": 7, "item_id": "i"}"#).unwrap();
        assert_eq!(single.sent_at, Some(7));
    }
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
                Some("context.os"),
            ),
            (
                with("context", json!("mobile")),
                "wrong_type",
                Some("context"),
            ),
            (
                with("context", json!({"ip": 1})),
                "wrong_type",
                Some("context.ip"),
            ),
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
        for (i, (raw, code, field)) in cases.iter().enumerate() {
            let r = parse_event(i, raw.clone(), &limits, NOW).unwrap_err();
            assert_eq!((r.index, r.code, r.field), (i, *code, *field), "{raw}");
            assert!(REJECTION_CODES.contains(&r.code));
            assert!(!r.message.is_empty());
        }
        // The same cases sent as one batch body, through the API's path.
        let events: Vec<Value> = cases.iter().map(|(raw, _, _)| raw.clone()).collect();
        let text = json!({ "events": events }).to_string();
        let (accepted, rejected) = parse_batch(split_body(&text).unwrap().events, &limits, NOW);
        assert!(accepted.is_empty());
        let got: Vec<_> = rejected.iter().map(|r| (r.code, r.field)).collect();
        let want: Vec<_> = cases
            .iter()
            .map(|(_, code, field)| (*code, *field))
            .collect();
        assert_eq!(got, want);
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
        let event = parse_event(0, full, &Limits::default(), NOW).unwrap();
        assert_eq!(event.position, Some(0));
        assert!(parse_event(0, valid(), &Limits::default(), NOW).is_ok());
        assert!(parse_event(
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
        let batch = batch.into_iter().map(RawEvent::from).collect();
        let (accepted, rejected) = parse_batch(batch, &Limits::default(), NOW);
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
    use crate::event::IngestBody;
    use proptest::prelude::*;
    use serde_json::Value;

    const NOW: i64 = 1_800_000_000_000;

    /// What a body comes to: accepted events, rejections and the write key.
    type Outcome = Result<(Vec<Event>, Vec<Rejection>, Option<String>), BodyError>;

    /// A body through the API's path (split, then fast or field by field)...
    fn via_text(text: &str) -> Outcome {
        let body = split_body(text)?;
        let (events, rejected) = parse_batch(body.events, &Limits::default(), NOW);
        Ok((events, rejected, body.write_key))
    }

    /// ...and through a JSON tree and the field-by-field parser only.
    fn via_tree(text: &str) -> Outcome {
        let value: Value =
            serde_json::from_str(text).map_err(|e| BodyError::Malformed(e.to_string()))?;
        let body = IngestBody::from_value(value).map_err(BodyError::Shape)?;
        let events = body.events.into_iter().map(RawEvent::Value).collect();
        let (events, rejected) = parse_batch(events, &Limits::default(), NOW);
        Ok((events, rejected, body.write_key))
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            ".{0,300}".prop_map(Value::from),
            // Timestamps around the accepted window.
            (NOW - 8 * 24 * 3_600_000..NOW + 600_000).prop_map(Value::from),
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
            let values = values.into_iter().map(RawEvent::from).collect();
            let (accepted, rejected) = parse_batch(values, &Limits::default(), NOW);
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
            let events = events.into_iter().map(RawEvent::from).collect();
            let (accepted, rejected) = parse_batch(events, &Limits::default(), NOW);
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

        #[test]
        fn the_fast_path_decides_every_event_as_the_field_parser_does(
            events in prop::collection::vec(prop_oneof![mutated_event(), json_value()], 1..8),
            write_key in prop_oneof![
                Just(None),
                Just(Some(Value::Null)),
                Just(Some(Value::from("key"))),
                Just(Some(Value::from(3))),
            ],
        ) {
            let mut batch = serde_json::json!({ "events": events.clone() });
            if let Some(key) = write_key {
                batch["write_key"] = key;
            }
            let batch = batch.to_string();
            prop_assert_eq!(via_text(&batch), via_tree(&batch));
            // A body that is one event, and a body of arbitrary JSON.
            let single = events[0].to_string();
            prop_assert_eq!(via_text(&single), via_tree(&single));
            // Whitespace and a broken tail.
            let spaced = format!(" {{ \"events\" : [ {} ] }} ", single);
            prop_assert_eq!(via_text(&spaced), via_tree(&spaced));
            let mut half = batch.len() / 2;
            while !batch.is_char_boundary(half) {
                half -= 1;
            }
            let cut = &batch[..half];
            prop_assert!(via_text(cut).is_err() && via_tree(cut).is_err());
        }
    }
}
