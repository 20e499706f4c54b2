//! The admin token that guards operator endpoints under `/api/v1/tenants/…` (catalog import
//! and listing), and what a store's failure means to their callers. Write keys are public and never read or change configuration;
//! without a configured `RECOSCOPE_ADMIN_TOKEN` these endpoints are off.

use axum::http::{HeaderMap, StatusCode};
use recoscope_stores::StoreError;
use recoscope_web::ApiError;

/// Compares without an early exit on the first differing byte.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Ok when the request carries `Authorization: Bearer <token>`; else the error to send
/// (403 when no token is configured, 401 for a missing or wrong one).
pub fn check(token: Option<&str>, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = token else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "disabled",
            "set RECOSCOPE_ADMIN_TOKEN to enable admin endpoints",
        ));
    };
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if given.is_some_and(|g| same_secret(g, token)) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid admin token is required",
        ))
    }
}

/// What a store's failure means to an API caller: a missing tenant or item is 404, a bad
/// value 400, a duplicate 409, and a backend that failed 503 (logged; the caller may retry).
pub fn store_error(error: StoreError) -> ApiError {
    {
        match error {
            StoreError::NotFound(what) => ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{what} not found"),
            ),
            StoreError::Invalid(message) => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid", message)
            }
            StoreError::Conflict(what) => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("{what} already exists"),
            ),
            StoreError::Backend(message) => {
                tracing::error!(error = %message, "store failed");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    format!("configuration store unavailable: {message}"),
                )
            }
        }
    }
}
