//! The stores: tenants, their write keys (public, for sending events), read keys (secret, for
//! reading analytics), allowed origins, their item catalogs and scenarios, and each user's
//! recent behaviour.
//!
//! - [`Stores`]: every store a process uses, opened from [`StoreConfig`], with one async
//!   face (calls run on the blocking pool; the backends are synchronous).
//! - [`TenantStore`]: tenants, keys and origins (the API, the CLI).
//! - [`sqlite`]: the embedded default (one SQLite file, safe for several processes, so the
//!   CLI can issue a key while the server runs).
//! - [`conformance`]: one test suite every backend must pass.
//! - [`recent`]: recent behaviour per user, 7 days (`RecentStore`, fed without blocking ingest).
//! - [`accounts`]: operators (users with password hashes), their roles per tenant, sessions
//!   and invitations (`AccountStore`; [`sqlite_accounts`] beside the tenants by default).
//! - [`catalog_import`]: JSON and CSV catalog files → checked records, written, and a report
//!   (the CLI, the catalog API and the dashboard's admin page import through it).
//! - [`catalog`]: item names and scenarios per tenant (`CatalogStore`), imported from files.
//!
//! - [`mongo`], [`mongo_catalog`], [`mongo_accounts`]: the MongoDB backends of the four traits (the original
//!   design's stores), chosen with `MONGODB_URI`; they pass the same conformance suites.
//!   Behind the `mongodb` feature (on by default).

pub mod accounts;
pub mod catalog;
pub mod catalog_import;
mod config;
pub mod conformance;
#[cfg(feature = "mongodb")]
pub mod mongo;
#[cfg(feature = "mongodb")]
pub mod mongo_accounts;
#[cfg(feature = "mongodb")]
pub mod mongo_catalog;
mod open;
pub mod recent;
pub mod sqlite;
pub mod sqlite_accounts;

pub use config::StoreConfig;
pub use open::Stores;

use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: String,
    /// Exact origins (`https://shop.example`) allowed to send events from a browser.
    pub origins: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteKey {
    pub key: String,
    pub tenant_id: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// A secret key that reads one tenant's analytics. The store keeps only its SHA-256, so the
/// key itself exists only in what [`TenantStore::issue_read_key`] returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadKey {
    pub key: String,
    pub tenant_id: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
}

/// How a read key is stored: hex SHA-256. A read key has 190 bits of randomness, so a fast
/// hash is enough (a slow password hash such as argon2 guards low-entropy secrets).
pub fn read_key_digest(key: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A new read key: `rr_` and 32 random alphanumerics.
pub fn new_read_key() -> String {
    use rand::distributions::{Alphanumeric, DistString};
    format!(
        "rr_{}",
        Alphanumeric.sample_string(&mut rand::thread_rng(), 32)
    )
}

#[derive(Debug, Error, PartialEq)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    Conflict(String),
    #[error("invalid {0}")]
    Invalid(String),
    /// The backend failed (I/O, lock timeout): retryable from the API's point of view.
    #[error("configuration store unavailable: {0}")]
    Backend(String),
}

pub trait TenantStore: Send + Sync + 'static {
    fn create_tenant(&self, id: &str) -> Result<Tenant, StoreError>;
    fn tenant(&self, id: &str) -> Result<Option<Tenant>, StoreError>;
    fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError>;
    /// Replaces the tenant's allowed origins.
    fn set_origins(&self, id: &str, origins: &[String]) -> Result<Tenant, StoreError>;
    /// Issues a new random key for the tenant.
    fn issue_key(&self, tenant_id: &str) -> Result<WriteKey, StoreError>;
    /// Registers a key with a given value (bootstrap from configuration); idempotent for the
    /// same tenant, a conflict for another.
    fn add_key(&self, tenant_id: &str, key: &str) -> Result<WriteKey, StoreError>;
    fn revoke_key(&self, key: &str) -> Result<(), StoreError>;
    fn keys(&self, tenant_id: &str) -> Result<Vec<WriteKey>, StoreError>;
    /// The tenant of a live (not revoked) key.
    fn tenant_for_key(&self, key: &str) -> Result<Option<Tenant>, StoreError>;
    /// Issues a new read key for the tenant; the only time the key is seen in full.
    fn issue_read_key(&self, tenant_id: &str) -> Result<ReadKey, StoreError>;
    fn revoke_read_key(&self, key: &str) -> Result<(), StoreError>;
    /// The tenant of a live (not revoked) read key.
    fn tenant_for_read_key(&self, key: &str) -> Result<Option<Tenant>, StoreError>;
}

/// Opens (creating the file and its directory if needed) a SQLite database shared with other
/// processes: WAL journal, and a busy timeout instead of failing on a concurrent writer.
pub(crate) fn open_sqlite(
    path: &std::path::Path,
    schema: &str,
) -> Result<rusqlite::Connection, StoreError> {
    let backend = |e: &dyn std::fmt::Display| StoreError::Backend(e.to_string());
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| backend(&e))?;
    }
    let connection = rusqlite::Connection::open(path).map_err(|e| backend(&e))?;
    connection
        .busy_timeout(std::time::Duration::from_secs(5))
        .map_err(|e| backend(&e))?;
    connection
        .execute_batch("PRAGMA journal_mode = WAL;")
        .map_err(|e| backend(&e))?;
    connection.execute_batch(schema).map_err(|e| backend(&e))?;
    Ok(connection)
}

/// A tenant id usable in ClickHouse and URLs.
pub fn validate_tenant_id(id: &str) -> Result<(), StoreError> {
    if recoscope_core::names::is_identifier(id) {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "tenant id {id:?}: use letters, digits and '_' (at most 64, not starting with a digit)"
        )))
    }
}

/// An origin must be exactly `scheme://host[:port]`, as browsers send it.
pub fn validate_origin(origin: &str) -> Result<(), StoreError> {
    let bad = || StoreError::Invalid(format!("origin {origin:?}: expected scheme://host[:port]"));
    let url = url::Url::parse(origin).map_err(|_| bad())?;
    if !matches!(url.scheme(), "http" | "https") || url.origin().ascii_serialization() != origin {
        return Err(bad());
    }
    Ok(())
}

/// A tenant's origins as every backend stores them: each valid, sorted, without repeats.
pub fn normalize_origins(origins: &[String]) -> Result<Vec<String>, StoreError> {
    for origin in origins {
        validate_origin(origin)?;
    }
    let mut origins = origins.to_vec();
    origins.sort();
    origins.dedup();
    Ok(origins)
}

/// A write key someone chose (bootstrap keys): 6 to 128 printable ASCII characters.
pub fn validate_write_key(key: &str) -> Result<(), StoreError> {
    if key.len() < 6 || key.len() > 128 || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(StoreError::Invalid(
            "write key: 6 to 128 printable ASCII characters".into(),
        ));
    }
    Ok(())
}

/// A new write key: `rk_` and 32 random alphanumerics.
pub fn new_key() -> String {
    use rand::distributions::{Alphanumeric, DistString};
    format!(
        "rk_{}",
        Alphanumeric.sample_string(&mut rand::thread_rng(), 32)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_must_be_exact() {
        assert!(validate_origin("https://shop.example").is_ok());
        assert!(validate_origin("http://localhost:8080").is_ok());
        for bad in [
            "https://shop.example/",
            "shop.example",
            "ftp://x.y",
            "https://a.b/path",
            "*",
        ] {
            assert!(validate_origin(bad).is_err(), "{bad}");
        }
        assert!(validate_tenant_id("acme_1").is_ok());
        assert!(validate_tenant_id("acme-1").is_err());
        assert!(new_key().starts_with("rk_") && new_key().len() == 35);
    }
}
