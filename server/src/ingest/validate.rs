//! Per-event validation. A bad event is rejected on its own, with its index in the batch, a
//! machine-readable code, the field and a message; its valid siblings go on.
//!
//! This is the first cut (types, required ids, ranges); issue 3 adds the full rule set with
//! bounded newtypes and configurable limits.

use recoscope_core::Event;
use serde::Serialize;

/// Why one event was not accepted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejection {
    pub index: usize,
    pub code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
    pub message: String,
}

const MAX_ID_LEN: usize = 256;

pub fn validate_event(index: usize, raw: serde_json::Value) -> Result<Event, Rejection> {
    let reject = |code, field, message: String| Rejection {
        index,
        code,
        field,
        message,
    };
    if !raw.is_object() {
        return Err(reject(
            "not_an_object",
            None,
            "an event must be a JSON object".into(),
        ));
    }
    let event: Event = serde_json::from_value(raw)
        .map_err(|e| reject("invalid_event", None, format!("event {index}: {e}")))?;
    for (field, value) in [
        ("scenario_id", &event.scenario_id),
        ("user_id", &event.user_id),
        ("item_id", &event.item_id),
    ] {
        if value.trim().is_empty() {
            return Err(reject(
                "empty_field",
                Some(field),
                format!("{field} must not be empty"),
            ));
        }
        if value.len() > MAX_ID_LEN {
            return Err(reject(
                "too_long",
                Some(field),
                format!("{field} is longer than {MAX_ID_LEN} bytes"),
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
        if !(d.is_finite() && d >= 0.0) {
            return Err(reject(
                "out_of_range",
                Some("watch_duration"),
                format!("watch_duration must be a non-negative number of seconds, got {d}"),
            ));
        }
    }
    if let Some(ts) = event.timestamp {
        if ts <= 0 {
            return Err(reject(
                "out_of_range",
                Some("timestamp"),
                "timestamp must be milliseconds since the Unix epoch".into(),
            ));
        }
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn valid() -> serde_json::Value {
        json!({"scenario_id": "home", "user_id": "u1", "item_id": "i1", "action_type": "click"})
    }

    #[test]
    fn rejections_carry_index_code_and_field() {
        let cases = [
            (json!(3), "not_an_object", None),
            (json!({"user_id": "u"}), "invalid_event", None),
            (
                {
                    let mut v = valid();
                    v["action_type"] = json!("purchase");
                    v
                },
                "invalid_event",
                None,
            ),
            (
                {
                    let mut v = valid();
                    v["user_id"] = json!(" ");
                    v
                },
                "empty_field",
                Some("user_id"),
            ),
            (
                {
                    let mut v = valid();
                    v["completion_rate"] = json!(1.5);
                    v
                },
                "out_of_range",
                Some("completion_rate"),
            ),
            (
                {
                    let mut v = valid();
                    v["watch_duration"] = json!(-1);
                    v
                },
                "out_of_range",
                Some("watch_duration"),
            ),
            (
                {
                    let mut v = valid();
                    v["item_id"] = json!("x".repeat(300));
                    v
                },
                "too_long",
                Some("item_id"),
            ),
        ];
        for (i, (raw, code, field)) in cases.into_iter().enumerate() {
            let r = validate_event(i, raw.clone()).unwrap_err();
            assert_eq!((r.index, r.code, r.field), (i, code, field), "{raw}");
            assert!(!r.message.is_empty());
        }
        assert!(validate_event(0, valid()).is_ok());
    }
}
