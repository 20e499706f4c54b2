//! The embeddable tracker. Product pages create a `Tracker` with the ingest endpoint and a
//! public write key, `track()` events and `flush()` them in batches.
//!
//! - `Tracker`: the queue and the batch encoder. Events are parsed with
//!   `recoscope_core::validate`, the same code the ingest API runs, so a page learns about a
//!   bad event (code, field, message) when it tracks it, not after it was sent.
//! - Delivery uses `navigator.sendBeacon` (text/plain, key in the query string), which the
//!   browser completes even while the page closes.
//!
//! Still to come (see the issues): impression visibility, dwell time, retry with a
//! persistent queue when the network is down.

use recoscope_core::validate::{parse_event, Limits, Rejection};
use recoscope_core::{Event, IngestBody, Label, UnixMillis};
use wasm_bindgen::prelude::*;

/// Events kept at most before the oldest are dropped (a page that never flushes must not
/// grow without bound).
const MAX_QUEUE: usize = 1000;
/// Events per request; matches the API's default batch limit headroom.
const BATCH: usize = 50;

#[wasm_bindgen]
pub struct Tracker {
    endpoint: String,
    write_key: String,
    queue: Vec<Event>,
}

#[wasm_bindgen]
impl Tracker {
    #[wasm_bindgen(constructor)]
    pub fn new(endpoint: String, write_key: String) -> Tracker {
        Tracker {
            endpoint,
            write_key,
            queue: Vec::new(),
        }
    }

    /// Queues one event given as a JSON string; returns an error naming what is wrong
    /// (`<code> <field>: <message>`, as the API would).
    pub fn track(&mut self, event_json: &str) -> Result<(), JsError> {
        let now = js_sys::Date::now() as i64;
        let mut event = parse_tracked(event_json, now).map_err(|r| JsError::new(&describe(&r)))?;
        // An id of its own makes a resend after a 503 or a lost answer idempotent: the
        // pipeline de-duplicates by event id.
        if event.event_id.is_none() {
            event.event_id = new_event_id();
        }
        if self.queue.len() >= MAX_QUEUE {
            self.queue.remove(0);
        }
        self.queue.push(event);
        Ok(())
    }

    /// Number of queued events.
    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    /// Sends queued events with `sendBeacon`; events the browser refused stay queued.
    pub fn flush(&mut self) -> Result<usize, JsError> {
        let window = web_sys::window().ok_or_else(|| JsError::new("no window"))?;
        let navigator = window.navigator();
        let url = format!(
            "{}?key={}",
            self.endpoint,
            js_sys::encode_uri_component(&self.write_key)
        );
        let mut sent = 0;
        while !self.queue.is_empty() {
            let n = self.queue.len().min(BATCH);
            let body = encode_batch(&self.queue[..n]);
            let queued = navigator
                .send_beacon_with_opt_str(&url, Some(&body))
                .map_err(|e| JsError::new(&format!("sendBeacon failed: {e:?}")))?;
            if !queued {
                break;
            }
            self.queue.drain(..n);
            sent += n;
        }
        Ok(sent)
    }
}

/// Parses one tracked event with the API's default limits and stamps it with the page's
/// clock when it has no time of its own.
pub fn parse_tracked(event_json: &str, now_ms: i64) -> Result<Event, Rejection> {
    let raw: serde_json::Value = serde_json::from_str(event_json).map_err(|e| Rejection {
        index: 0,
        code: "not_an_object",
        field: None,
        message: format!("not valid JSON: {e}"),
    })?;
    let mut event = parse_event(0, raw, &Limits::default(), now_ms)?;
    if event.timestamp.is_none() {
        event.timestamp = UnixMillis::new(now_ms).ok();
    }
    Ok(event)
}

/// A random UUID from the browser's `crypto.randomUUID()`.
fn new_event_id() -> Option<Label> {
    let uuid = web_sys::window()?.crypto().ok()?.random_uuid();
    Label::new(uuid).ok()
}

fn describe(rejection: &Rejection) -> String {
    match rejection.field {
        Some(field) => format!("{} {field}: {}", rejection.code, rejection.message),
        None => format!("{}: {}", rejection.code, rejection.message),
    }
}

/// The request body for a batch: `{"events": [...]}`.
pub fn encode_batch(events: &[Event]) -> String {
    let body = IngestBody {
        events: events
            .iter()
            .map(|e| serde_json::to_value(e).expect("events serialize"))
            .collect(),
        write_key: None,
    };
    serde_json::to_string(&body).expect("batch serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use recoscope_core::ActionType;

    #[test]
    fn a_batch_decodes_back_into_the_same_events() {
        let events = vec![
            Event::new("home", "u1", "i1", ActionType::Impression).unwrap(),
            Event::new("home", "u1", "i1", ActionType::Click).unwrap(),
        ];
        let body: serde_json::Value = serde_json::from_str(&encode_batch(&events)).unwrap();
        let parsed = IngestBody::from_value(body).unwrap();
        let back: Vec<Event> = parsed
            .events
            .into_iter()
            .map(|v| serde_json::from_value(v).unwrap())
            .collect();
        assert_eq!(back, events);
    }

    #[test]
    fn tracked_events_are_checked_like_the_api_checks_them() {
        let now = 1_800_000_000_000;
        let event = parse_tracked(
            r#"{"scenario_id":"home","user_id":"u1","item_id":"i1","action_type":"view"}"#,
            now,
        )
        .unwrap();
        assert_eq!(event.timestamp.map(UnixMillis::get), Some(now));

        let bad = parse_tracked(
            r#"{"scenario_id":"home","user_id":"u1","item_id":"i1","action_type":"view",
                "completion_rate":2}"#,
            now,
        )
        .unwrap_err();
        assert_eq!(
            (bad.code, bad.field),
            ("out_of_range", Some("completion_rate"))
        );
        assert!(describe(&bad).starts_with("out_of_range completion_rate: "));
        assert_eq!(parse_tracked("{", now).unwrap_err().code, "not_an_object");
    }
}
