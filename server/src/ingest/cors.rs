//! CORS for the ingest API, answered from each tenant's allowed origins.
//!
//! A request that carries its key (header, or `?key=` for sendBeacon) is checked against that
//! key's tenant. A preflight carries no header values, so without `?key=` it is allowed when
//! some tenant lists the origin; the actual request is then checked against the key's tenant
//! by the handler, which refuses a foreign origin with 403 (CORS headers alone do not stop a
//! simple request from reaching the server).

use crate::store::TenantStore;
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

/// Whether `origin` may send events for `key` (or, without a key, for some tenant).
pub fn origin_allowed(store: &dyn TenantStore, origin: &str, key: Option<&str>) -> bool {
    let listed = |origins: &[String]| origins.iter().any(|o| o == origin);
    match key {
        Some(key) => matches!(store.tenant_for_key(key), Ok(Some(t)) if listed(&t.origins)),
        None => store
            .list_tenants()
            .map(|tenants| tenants.iter().any(|t| listed(&t.origins)))
            .unwrap_or(false),
    }
}

pub fn cors_layer(store: Arc<dyn TenantStore>) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(
            move |origin: &HeaderValue, parts| {
                let Ok(origin) = origin.to_str() else {
                    return false;
                };
                origin_allowed(store.as_ref(), origin, key_of(parts).as_deref())
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
