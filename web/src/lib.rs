//! What every HTTP API of ours shares.
//!
//! - [`ApiError`] / [`ErrorBody`]: the one `{"error": {code, message}}` body of every JSON
//!   API (ingest, admin, catalog, analytics), with its status and `Retry-After`.
//! - [`serve`]: the accept loop, with a header timeout, a header size cap and a connection
//!   cap that hostile clients cannot outwait.
//! - [`HttpConfig`]: those limits, and the body timeout, from the environment.

mod config;
mod error;
pub mod serve;

pub use config::HttpConfig;
pub use error::{error, ApiError, ErrorBody, ErrorDetail};
