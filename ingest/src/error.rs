//! Errors that fail a whole ingest request, and their HTTP answers.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use recoscope_web::ApiError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum IngestError {
    #[error("missing write key: send it as the X-Recoscope-Key header, ?key= or \"write_key\" in the body")]
    MissingKey,
    #[error("unknown write key")]
    UnknownKey,
    #[error("origin {0:?} is not allowed for this write key (see `recoscope tenants origins`)")]
    OriginNotAllowed(String),
    #[error("the body is not valid UTF-8: {0}")]
    InvalidUtf8(String),
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    #[error("bad request body: {0}")]
    BadBody(String),
    #[error("Content-Encoding {0:?} is not supported: send gzip, deflate or an uncompressed body")]
    UnsupportedEncoding(String),
    #[error("too many events: {got} in one request, at most {max}")]
    TooManyEvents { got: usize, max: usize },
    #[error("request body is larger than {max} bytes")]
    BodyTooLarge { max: usize },
    #[error("rate limit of this write key exceeded; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("the event log is temporarily unavailable; retry later ({0})")]
    Unavailable(String),
    #[error("the event log refused the events: {0}")]
    Refused(String),
}

impl IngestError {
    pub fn code(&self) -> &'static str {
        match self {
            IngestError::MissingKey => "missing_key",
            IngestError::UnknownKey => "unknown_key",
            IngestError::OriginNotAllowed(_) => "origin_not_allowed",
            IngestError::InvalidUtf8(_) => "invalid_utf8",
            IngestError::MalformedJson(_) => "malformed_json",
            IngestError::BadBody(_) => "bad_body",
            IngestError::UnsupportedEncoding(_) => "unsupported_encoding",
            IngestError::TooManyEvents { .. } => "too_many_events",
            IngestError::BodyTooLarge { .. } => "body_too_large",
            IngestError::RateLimited { .. } => "rate_limited",
            IngestError::Unavailable(_) => "unavailable",
            IngestError::Refused(_) => "refused",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            IngestError::MissingKey | IngestError::UnknownKey => StatusCode::UNAUTHORIZED,
            IngestError::OriginNotAllowed(_) => StatusCode::FORBIDDEN,
            IngestError::InvalidUtf8(_)
            | IngestError::MalformedJson(_)
            | IngestError::BadBody(_) => StatusCode::BAD_REQUEST,
            IngestError::UnsupportedEncoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            IngestError::TooManyEvents { .. } | IngestError::BodyTooLarge { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            IngestError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            IngestError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            IngestError::Refused(_) => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        // The tracker keeps its queue and retries after this many seconds.
        let retry_after = match self {
            IngestError::Unavailable(_) => Some(2),
            IngestError::RateLimited { retry_after_secs } => Some(retry_after_secs),
            _ => None,
        };
        let error = ApiError::new(self.status(), self.code(), self.to_string());
        match retry_after {
            Some(secs) => error.retry_after(secs),
            None => error,
        }
        .into_response()
    }
}
