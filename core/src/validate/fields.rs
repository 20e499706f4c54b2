//! The field-by-field parser: each field of a raw JSON event into its bounded type, with the
//! configured limits, so a rejection names the field and says what is wrong.

use super::{Limits, Rejection};
use crate::bounded::{ExtraData, FieldError, Fraction, Label, Seconds, UnixMillis};
use crate::event::{ActionType, Event, EventContext};
use serde_json::{Map, Value};

/// A field that failed to parse, before the event's index is known.
struct Bad {
    field: &'static str,
    error: FieldError,
}

type Parsed<T> = Result<T, Bad>;

/// Parses one raw event (the `index`th of its batch) with the given limits and clock.
pub fn parse_event(
    index: usize,
    raw: Value,
    limits: &Limits,
    now_ms: i64,
) -> Result<Event, Rejection> {
    let Value::Object(mut map) = raw else {
        return Err(Rejection {
            index,
            code: "not_an_object",
            field: None,
            message: "an event must be a JSON object".into(),
        });
    };
    event_from_map(&mut map, limits, now_ms).map_err(|bad| Rejection {
        index,
        code: bad.error.code,
        field: Some(bad.field),
        message: bad.error.message,
    })
}

fn event_from_map(map: &mut Map<String, Value>, limits: &Limits, now_ms: i64) -> Parsed<Event> {
    // Required fields first, so a client missing several learns about them in a fixed order.
    let scenario_id = required(map, "scenario_id", |v, f| label(v, f, limits))?;
    let user_id = required(map, "user_id", |v, f| label(v, f, limits))?;
    let item_id = required(map, "item_id", |v, f| label(v, f, limits))?;
    let action_type = required(map, "action_type", action)?;
    let context = match optional(map, "context") {
        None => None,
        Some(Value::Object(mut context)) => Some(EventContext {
            device_type: opt_label(&mut context, "device_type", "context.device_type", limits)?,
            os: opt_label(&mut context, "os", "context.os", limits)?,
            location: opt_label(&mut context, "location", "context.location", limits)?,
            ip: opt_label(&mut context, "ip", "context.ip", limits)?,
        }),
        Some(other) => return Err(wrong_type("context", "a JSON object", &other)),
    };
    Ok(Event {
        event_id: opt_label(map, "event_id", "event_id", limits)?,
        scenario_id,
        user_id,
        item_id,
        action_type,
        context,
        extra_data: optional(map, "extra_data")
            .map(|v| extra_data(v, limits))
            .transpose()?,
        watch_duration: optional(map, "watch_duration")
            .map(|v| watch_duration(v, limits))
            .transpose()?,
        completion_rate: optional(map, "completion_rate")
            .map(completion_rate)
            .transpose()?,
        experiment_id: opt_label(map, "experiment_id", "experiment_id", limits)?,
        experiment_group: opt_label(map, "experiment_group", "experiment_group", limits)?,
        timestamp: optional(map, "timestamp")
            .map(|v| timestamp(v, limits, now_ms))
            .transpose()?,
        request_id: opt_label(map, "request_id", "request_id", limits)?,
        position: optional(map, "position").map(position).transpose()?,
        session_id: opt_label(map, "session_id", "session_id", limits)?,
    })
}

/// Takes a field out of the object; `null` counts as absent.
fn optional(map: &mut Map<String, Value>, field: &str) -> Option<Value> {
    map.remove(field).filter(|v| !v.is_null())
}

fn required<T>(
    map: &mut Map<String, Value>,
    field: &'static str,
    parse: impl FnOnce(Value, &'static str) -> Parsed<T>,
) -> Parsed<T> {
    match optional(map, field) {
        Some(value) => parse(value, field),
        None => Err(Bad {
            field,
            error: FieldError {
                code: "missing_field",
                message: format!("{field} is required"),
            },
        }),
    }
}

fn fail(field: &'static str, error: FieldError) -> Bad {
    Bad {
        field,
        error: error.in_field(field),
    }
}

fn wrong_type(field: &'static str, what: &str, got: &Value) -> Bad {
    Bad {
        field,
        error: FieldError {
            code: "wrong_type",
            message: format!("{field} must be {what}, got {got}"),
        },
    }
}

fn label(value: Value, field: &'static str, limits: &Limits) -> Parsed<Label> {
    let Value::String(text) = value else {
        return Err(wrong_type(field, "a string", &value));
    };
    if text.len() > limits.max_string_len {
        return Err(fail(
            field,
            FieldError {
                code: "too_long",
                message: format!("is longer than {} bytes", limits.max_string_len),
            },
        ));
    }
    Label::new(text).map_err(|e| fail(field, e))
}

fn opt_label(
    map: &mut Map<String, Value>,
    key: &str,
    field: &'static str,
    limits: &Limits,
) -> Parsed<Option<Label>> {
    optional(map, key)
        .map(|v| label(v, field, limits))
        .transpose()
}

fn action(value: Value, field: &'static str) -> Parsed<ActionType> {
    let Value::String(name) = &value else {
        return Err(wrong_type(field, "a string", &value));
    };
    ActionType::from_wire(name).ok_or_else(|| {
        let known: Vec<&str> = ActionType::ALL.iter().map(|a| a.as_str()).collect();
        Bad {
            field,
            error: FieldError {
                code: "unknown_action_type",
                message: format!(
                    "unknown action_type {name:?}; expected one of {}",
                    known.join(", ")
                ),
            },
        }
    })
}

fn number(value: &Value, field: &'static str) -> Parsed<f64> {
    value
        .as_f64()
        .ok_or_else(|| wrong_type(field, "a number", value))
}

fn completion_rate(value: Value) -> Parsed<Fraction> {
    let field = "completion_rate";
    Fraction::new(number(&value, field)?).map_err(|e| fail(field, e))
}

fn watch_duration(value: Value, limits: &Limits) -> Parsed<Seconds> {
    let field = "watch_duration";
    let seconds = number(&value, field)?;
    if seconds > limits.max_watch_seconds {
        return Err(fail(
            field,
            FieldError {
                code: "out_of_range",
                message: format!(
                    "must be between 0 and {} seconds, got {seconds}",
                    limits.max_watch_seconds
                ),
            },
        ));
    }
    Seconds::new(seconds).map_err(|e| fail(field, e))
}

fn position(value: Value) -> Parsed<u32> {
    value
        .as_u64()
        .and_then(|p| u32::try_from(p).ok())
        .ok_or_else(|| wrong_type("position", "a non-negative integer below 2^32", &value))
}

fn extra_data(value: Value, limits: &Limits) -> Parsed<ExtraData> {
    let field = "extra_data";
    let extra = ExtraData::new(value).map_err(|e| fail(field, e))?;
    let size = extra.to_json().len();
    if size > limits.max_extra_bytes {
        return Err(Bad {
            field,
            error: FieldError {
                code: "too_large",
                message: format!(
                    "extra_data is {size} bytes, at most {} allowed",
                    limits.max_extra_bytes
                ),
            },
        });
    }
    Ok(extra)
}

fn timestamp(value: Value, limits: &Limits, now_ms: i64) -> Parsed<UnixMillis> {
    let field = "timestamp";
    let Some(ts) = value.as_i64() else {
        return Err(wrong_type(
            field,
            "an integer (milliseconds since the Unix epoch)",
            &value,
        ));
    };
    let problem = |code, message| Bad {
        field,
        error: FieldError { code, message },
    };
    if ts > now_ms.saturating_add(limits.max_future_skew_ms) {
        return Err(problem(
            "timestamp_in_future",
            format!(
                "timestamp is {} s ahead of the server clock (at most {} s allowed); \
                 timestamps are milliseconds since the Unix epoch",
                (ts - now_ms) / 1000,
                limits.max_future_skew_ms / 1000
            ),
        ));
    }
    if ts < now_ms.saturating_sub(limits.max_age_ms) {
        return Err(problem(
            "timestamp_too_old",
            format!(
                "timestamp is older than {} hours; timestamps are milliseconds since the \
                 Unix epoch",
                limits.max_age_ms / 3_600_000
            ),
        ));
    }
    UnixMillis::new(ts).map_err(|e| fail(field, e))
}
