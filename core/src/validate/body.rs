//! A request body split into its events, without building a JSON tree for the common shape.

use crate::event::IngestBody;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::Value;

/// One event of a request body, not parsed yet: a slice of the body, or a JSON value when the
/// body had to be parsed into a tree.
#[derive(Debug)]
pub enum RawEvent<'a> {
    Text(&'a RawValue),
    Value(Value),
}

impl From<Value> for RawEvent<'_> {
    fn from(value: Value) -> Self {
        RawEvent::Value(value)
    }
}

/// A request body split into its events.
#[derive(Debug)]
pub struct RawBody<'a> {
    pub events: Vec<RawEvent<'a>>,
    /// The write key, for `navigator.sendBeacon` which cannot set headers.
    pub write_key: Option<String>,
    /// The client's clock at sending (see [`IngestBody::sent_at`]).
    pub sent_at: Option<i64>,
}

impl RawBody<'_> {
    /// The clock to check the events' timestamps against: the client's when it said when it
    /// sent them, so a client whose clock is off has its events checked in its own frame and
    /// then moved by [`RawBody::clock_offset`].
    pub fn client_clock(&self, received_at: i64) -> i64 {
        self.sent_at.unwrap_or(received_at)
    }

    /// What to add to a client timestamp to put it on the server's clock: nothing while the
    /// two clocks agree within `tolerance_ms`.
    ///
    /// `received_at - sent_at` is the clock difference plus the batch's time in transit,
    /// and the transit differs from batch to batch. Moving every batch by it would shuffle a
    /// tab's events that lie a few milliseconds apart in different batches (a like sent at
    /// once, the click that leaves the page in a beacon), and a funnel needs their order.
    /// A clock that is right is trusted as it is, so its events keep the order the page
    /// gave them; only a clock further off than any transit is moved.
    pub fn clock_offset(&self, received_at: i64, tolerance_ms: i64) -> i64 {
        let offset = received_at.saturating_sub(self.client_clock(received_at));
        if offset.saturating_abs() <= tolerance_ms {
            0
        } else {
            offset
        }
    }
}

/// Why a request body could not be split into events.
#[derive(Debug, Clone, PartialEq)]
pub enum BodyError {
    /// Not JSON at all.
    Malformed(String),
    /// JSON, but not one event or `{"events": [...]}`.
    Shape(&'static str),
}

/// A field that is there, even as `null` (so `"write_key": null` is not taken for absent).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// Splits a request body (one event, or `{"events": [...], "write_key": ...}`) into its
/// events, borrowing each from `text`. Bodies of any other shape are parsed into a tree and
/// judged by [`IngestBody::from_value`], which says what is wrong.
pub fn split_body(text: &str) -> Result<RawBody<'_>, BodyError> {
    #[derive(Deserialize)]
    struct Envelope<'a> {
        #[serde(borrow, default, deserialize_with = "present")]
        events: Option<Vec<&'a RawValue>>,
        #[serde(default, deserialize_with = "present")]
        write_key: Option<Value>,
        #[serde(default, deserialize_with = "present")]
        sent_at: Option<Value>,
    }
    // Only an object is a body (serde's derive would also read one from an array).
    let envelope = match text.trim_start().starts_with('{') {
        true => serde_json::from_str::<Envelope<'_>>(text).ok(),
        false => None,
    };
    if let Some(envelope) = envelope {
        let write_key = match envelope.write_key {
            None => Some(None),
            Some(Value::String(key)) => Some(Some(key)),
            Some(_) => None,
        };
        let sent_at = match envelope.sent_at {
            None => Some(None),
            Some(value) => value.as_i64().map(Some),
        };
        if let (Some(write_key), Some(sent_at)) = (write_key, sent_at) {
            let events = match envelope.events {
                Some(events) => events.into_iter().map(RawEvent::Text).collect(),
                None => vec![RawEvent::Text(
                    serde_json::from_str(text).map_err(|e| BodyError::Malformed(e.to_string()))?,
                )],
            };
            return Ok(RawBody {
                events,
                write_key,
                sent_at,
            });
        }
    }
    let value: Value =
        serde_json::from_str(text).map_err(|e| BodyError::Malformed(e.to_string()))?;
    let body = IngestBody::from_value(value).map_err(BodyError::Shape)?;
    Ok(RawBody {
        events: body.events.into_iter().map(RawEvent::Value).collect(),
        write_key: body.write_key,
        sent_at: body.sent_at,
    })
}
