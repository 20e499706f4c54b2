//! The behaviour event model shared by every part of Recoscope.
//!
//! - [`event`]: the wire format a tracker or a server-side producer sends
//!   (`Event`, `ActionType`, `EventContext`) and the batch envelope.
//! - [`record`]: what the ingest API writes to Kafka (`BehaviorRecord`): the event plus what
//!   only the server may set (tenant, event id, receive time).
//!
//! Kept free of I/O so the WASM tracker can depend on it.

pub mod event;
pub mod record;

pub use event::{ActionType, Event, EventContext, IngestBody};
pub use record::BehaviorRecord;

/// The Kafka topic behaviour events are written to unless configured otherwise.
pub const DEFAULT_TOPIC: &str = "user-behaviors";
