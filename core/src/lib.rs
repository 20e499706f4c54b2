//! The behaviour event model shared by every part of Recoscope.
//!
//! - [`bounded`]: the bounded value types an event is made of (`Label`, `Fraction`,
//!   `Seconds`, `UnixMillis`, `ExtraData`), each checked when built or deserialized.
//! - [`validate`]: raw JSON → `Event` or a `Rejection` (code, field, index, message) under
//!   configurable `Limits`; used by the ingest API and by the tracker before it sends.
//! - [`event`]: the wire format a tracker or a server-side producer sends
//!   (`Event`, `ActionType`, `EventContext`) and the batch envelope.
//! - [`catalog`]: the items and scenarios an operator imports (`CatalogItem`, `Scenario`),
//!   checked when built or deserialized.
//! - [`realtime`]: the layout of the real-time state in Redis (keys, decay), shared by its
//!   writer and the dashboard's live view.
//! - [`record`]: what the ingest API writes to Kafka (`BehaviorRecord`): the event plus what
//!   only the server may set (tenant, event id, receive time).
//! - [`names`]: tenant, database and topic names that are safe unquoted.
//! - [`clock`]: wall-clock milliseconds.
//! - [`config`]: the error every component's configuration reports.
//!
//! Kept free of I/O so the WASM tracker can depend on it.

pub mod bounded;
pub mod catalog;
pub mod clock;
pub mod config;
pub mod event;
pub mod names;
pub mod realtime;
pub mod record;
pub mod validate;

pub use bounded::{ExtraData, FieldError, Fraction, Label, Seconds, UnixMillis};
pub use event::{ActionType, Event, EventContext, IngestBody};
pub use record::BehaviorRecord;

/// The Kafka topic behaviour events are written to unless configured otherwise.
pub const DEFAULT_TOPIC: &str = "user-behaviors";
