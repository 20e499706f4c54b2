//! The embeddable tracker. Product pages create a `Tracker` with the ingest endpoint and a
//! public write key, `track()` events and `flush()` them in batches.
//!
//! - `Tracker`: the queue and the batch encoder (shared event model from `recoscope-core`).
//! - Delivery uses `navigator.sendBeacon` (text/plain, key in the query string), which the
//!   browser completes even while the page closes.
//!
//! Still to come (see the issues): impression visibility, dwell time, retry with a
//! persistent queue when the network is down.

use recoscope_core::{Event, IngestBody};
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

    /// Queues one event given as a JSON string; returns an error naming what is wrong.
    pub fn track(&mut self, event_json: &str) -> Result<(), JsError> {
        let mut event: Event = serde_json::from_str(event_json)
            .map_err(|e| JsError::new(&format!("invalid event: {e}")))?;
        if event.timestamp.is_none() {
            event.timestamp = Some(js_sys::Date::now() as i64);
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
            Event::new("home", "u1", "i1", ActionType::Impression),
            Event::new("home", "u1", "i1", ActionType::Click),
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
}
