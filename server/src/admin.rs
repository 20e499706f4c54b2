//! The admin token that guards operator endpoints under `/api/v1/tenants/…` (a user's recent
//! behaviour, catalog import). Write keys are public and never read or change configuration;
//! without a configured `RECOSCOPE_ADMIN_TOKEN` these endpoints are off.

use crate::api_error::ApiError;
use axum::http::{HeaderMap, StatusCode};

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
