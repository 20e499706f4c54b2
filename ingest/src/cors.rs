//! CORS for the ingest API, answered from each tenant's allowed origins.
//!
//! A request that carries its key (header, or `?key=` for sendBeacon) is checked against that
//! key's tenant. A preflight carries no header values, so without `?key=` (or with a key the
//! view does not know yet) it is allowed when some tenant lists the origin; the actual request is then checked against the key's tenant
//! by the handler, which refuses a foreign origin with 403 (CORS headers alone do not stop a
//! simple request from reaching the server).

use super::access::AccessView;
use axum::http::{header, HeaderName, HeaderValue, Method};
use std::sync::Arc;
use std::time::Duration;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The key a request names, from the header or the query string.
fn key_of(parts: &axum::http::request::Parts) -> Option<String> {
    parts
        .headers
        .get("x-recoscope-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| {
            parts.uri.query().and_then(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .find(|(k, _)| k == "key")
                    .map(|(_, v)| v.into_owned())
            })
        })
}

/// CORS answered from the in-memory view of keys and origins (it never waits on the store).
pub fn cors_layer(access: Arc<AccessView>) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(
            move |origin: &HeaderValue, parts| {
                let Ok(origin) = origin.to_str() else {
                    return false;
                };
                access.origin_allowed(origin, key_of(parts).as_deref())
            },
        ))
        .allow_methods([Method::POST, Method::OPTIONS])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            HeaderName::from_static("x-recoscope-key"),
        ])
        .expose_headers([header::RETRY_AFTER])
        .max_age(Duration::from_secs(600))
}
