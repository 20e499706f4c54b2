//! Who is reading: every read acts for the tenant of the caller's **read key**, never for a
//! tenant named in the request.
//!
//! A read key (`rr_…`, issued by `recoscope keys read --tenant T`) arrives either as
//! `Authorization: Bearer <key>` (the JSON API, scripts) or in the [`READ_KEY_COOKIE`] cookie
//! the dashboard's sign-in sets. [`ReadKeys`] resolves it; the server backs it with its tenant
//! store (which keeps only the key's SHA-256).

/// The cookie holding the dashboard's read key (HttpOnly, SameSite=Strict).
pub const READ_KEY_COOKIE: &str = "recoscope_read_key";
/// The message every refusal starts with, so pages can offer to sign in.
pub const UNAUTHORIZED: &str = "unauthorized";

/// Whether `key` looks like a read key at all (also keeps it safe inside a cookie header).
pub fn is_read_key_shaped(key: &str) -> bool {
    key.starts_with("rr_")
        && key.len() <= 64
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(feature = "server")]
pub use server::{read_key_of, ReadKeys};

#[cfg(feature = "server")]
mod server {
    use super::{is_read_key_shaped, READ_KEY_COOKIE};
    use crate::AnalyticsError;
    use http::header::{AUTHORIZATION, COOKIE};
    use http::HeaderMap;
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Arc;

    type Lookup = dyn Fn(String) -> Pin<Box<dyn Future<Output = Result<Option<String>, String>> + Send>>
        + Send
        + Sync;

    /// Resolves a read key to its tenant (`Ok(None)`: unknown or revoked; `Err`: the store
    /// failed).
    #[derive(Clone)]
    pub struct ReadKeys(Arc<Lookup>);

    impl std::fmt::Debug for ReadKeys {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("ReadKeys")
        }
    }

    impl ReadKeys {
        pub fn new<F, Fut>(lookup: F) -> Self
        where
            F: Fn(String) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = Result<Option<String>, String>> + Send + 'static,
        {
            ReadKeys(Arc::new(move |key| Box::pin(lookup(key))))
        }

        /// The tenant `key` reads.
        pub async fn tenant(&self, key: &str) -> Result<String, AnalyticsError> {
            if !is_read_key_shaped(key) {
                return Err(AnalyticsError::Unauthorized);
            }
            match (self.0)(key.to_string()).await {
                Ok(Some(tenant)) => Ok(tenant),
                Ok(None) => Err(AnalyticsError::Unauthorized),
                Err(error) => {
                    tracing::error!(%error, "read key lookup failed");
                    Err(AnalyticsError::Failed {
                        message: "the configuration store is unavailable; try again shortly".into(),
                        retryable: true,
                    })
                }
            }
        }

        /// The tenant of the read key `headers` carry.
        pub async fn caller(&self, headers: &HeaderMap) -> Result<String, AnalyticsError> {
            match read_key_of(headers) {
                Some(key) => self.tenant(&key).await,
                None => Err(AnalyticsError::Unauthorized),
            }
        }
    }

    /// The read key a request carries: the bearer token, else the session cookie.
    pub fn read_key_of(headers: &HeaderMap) -> Option<String> {
        let bearer = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|k| k.trim().to_string());
        bearer.or_else(|| {
            headers
                .get_all(COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(';'))
                .filter_map(|pair| pair.trim().split_once('='))
                .find(|(name, _)| *name == READ_KEY_COOKIE)
                .map(|(_, value)| value.to_string())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_read_key_shaped_values_reach_the_cookie() {
        assert!(is_read_key_shaped("rr_abcDEF123"));
        assert!(!is_read_key_shaped("rk_abc"));
        assert!(!is_read_key_shaped("rr_abc; Path=/evil"));
        assert!(!is_read_key_shaped(&format!("rr_{}", "a".repeat(80))));
    }

    #[cfg(feature = "server")]
    #[test]
    fn the_bearer_token_wins_over_the_cookie() {
        use http::HeaderMap;
        let mut headers = HeaderMap::new();
        headers.insert(
            "cookie",
            "a=1; recoscope_read_key=rr_cookie".parse().unwrap(),
        );
        assert_eq!(read_key_of(&headers).as_deref(), Some("rr_cookie"));
        headers.insert("authorization", "Bearer rr_bearer".parse().unwrap());
        assert_eq!(read_key_of(&headers).as_deref(), Some("rr_bearer"));
        assert_eq!(read_key_of(&HeaderMap::new()), None);
    }
}
