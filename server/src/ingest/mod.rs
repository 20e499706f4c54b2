//! The ingest API: `POST /api/v1/behaviors`.
//!
//! - [`handler`]: request → key → events → sink → answer.
//! - Validation itself lives in `recoscope_core::validate`, shared with the tracker.
//! - [`rate_limit`]: events per second per write key (429 with Retry-After).
//! - [`sink`]: the `EventSink` trait the handler writes to (Kafka in production).
//! - [`access`]: write keys → tenants and their origins, in memory (never waits on the store).
//! - [`cors`]: CORS from each tenant's allowed origins.
//! - [`enrich`]: client IP (trusted proxies, anonymised) and device/OS from the User-Agent.
//! - [`error`]: the request-level errors and how they map to HTTP.

pub mod access;
pub mod cors;
pub mod enrich;
pub mod error;
pub mod handler;
pub mod rate_limit;
pub mod sink;

pub use handler::{ingest_routes, IngestResponse, IngestState};
