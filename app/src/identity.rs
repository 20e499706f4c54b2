//! Signing in and out of the dashboard: a read key checked by the read model
//! (`recoscope_analytics::read_keys`) and kept in an HttpOnly cookie, which every server
//! function then reads.

use leptos::prelude::*;
pub use recoscope_analytics::read_keys::{READ_KEY_COOKIE, UNAUTHORIZED};

/// Checks `key` and, if it is a live read key, keeps it in the session cookie; returns the
/// tenant it reads.
#[server(endpoint = "sign_in")]
pub async fn sign_in(key: String) -> Result<String, ServerFnError> {
    let key = key.trim().to_string();
    let tenant = crate::analytics::analytics_db()?
        .read_keys
        .tenant(&key)
        .await
        .map_err(crate::analytics::failed)?;
    let cookie = format!(
        "{READ_KEY_COOKIE}={key}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        30 * 24 * 3600
    );
    set_cookie(&cookie)?;
    Ok(tenant)
}

/// Forgets the session cookie.
#[server(endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), ServerFnError> {
    set_cookie(&format!(
        "{READ_KEY_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
    ))
}

#[cfg(feature = "ssr")]
fn set_cookie(cookie: &str) -> Result<(), ServerFnError> {
    use http::{header::SET_COOKIE, HeaderValue};
    let response = use_context::<leptos_axum::ResponseOptions>()
        .ok_or_else(|| ServerFnError::new("no response to set the cookie on"))?;
    let value = HeaderValue::from_str(cookie).map_err(|e| ServerFnError::new(e.to_string()))?;
    response.append_header(SET_COOKIE, value);
    Ok(())
}
