//! The ingest API: `POST /api/v1/behaviors`, from a request to events acknowledged by Kafka.
//!
//! - [`IngestConfig`]: its settings (limits, trusted proxies, rate, producer waits).
//! - [`handler`]: request → key → events → sink → answer.
//! - Validation itself lives in `recoscope_core::validate`, shared with the tracker.
//! - [`rate_limit`]: events per second per write key (429 with Retry-After).
//! - [`sink`]: the `EventSink` trait the handler writes to; [`kafka_sink`]: the Kafka one,
//!   answering only after the broker acknowledged.
//! - [`access`]: write keys → tenants and their origins, in memory (never waits on the store).
//! - [`cors`]: CORS from each tenant's allowed origins.
//! - [`enrich`]: client IP (trusted proxies, anonymised) and device/OS from the User-Agent.
//! - [`error`]: the request-level errors and how they map to HTTP.
//! - [`openapi`]: the API's OpenAPI document (`/api/v1/openapi.json`).

pub mod access;
mod config;
pub mod cors;
pub mod enrich;
pub mod error;
pub mod handler;
pub mod kafka_sink;
pub mod openapi;
pub mod rate_limit;
pub mod sink;

pub use config::IngestConfig;
pub use handler::{ingest_routes, IngestResponse, IngestState};
