//! The one error body of every JSON API (ingest, admin, catalog, analytics):
//! `{"error": {"code": "...", "message": "..."}}`, with the HTTP status, and a
//! `Retry-After` where waiting helps.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

/// The body of every failed request.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable, per API: e.g. missing_key, unknown_key, origin_not_allowed,
    /// malformed_json, too_many_events, rate_limited, unavailable (ingest); unauthorized,
    /// bad_request (analytics); not_found, invalid (admin).
    pub code: String,
    pub message: String,
}

/// An API error before it becomes a response (small, so handlers can pass it around).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds for `Retry-After` (503, 429).
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    /// The same error, telling the client when to try again.
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
            },
        });
        match self.retry_after_secs {
            Some(secs) => {
                (self.status, [(header::RETRY_AFTER, secs.to_string())], body).into_response()
            }
            None => (self.status, body).into_response(),
        }
    }
}

/// An error response in one call.
pub fn error(status: StatusCode, code: &'static str, message: &str) -> Response {
    ApiError::new(status, code, message).into_response()
}
