//! The stores a process uses, opened once from [`StoreConfig`], and their one async face.
//!
//! The backends are synchronous (SQLite waits on its file lock, the MongoDB driver runs on a
//! runtime of its own), so an async caller never calls them directly: [`Stores::tenants`],
//! [`Stores::catalog`] and [`Stores::recent`] run a call on the blocking pool, and hand back
//! the call's own error type (an API maps store errors to its answers its own way).

use crate::accounts::AccountStore;
use crate::catalog::{CatalogStore, SqliteCatalogStore};
use crate::config::StoreConfig;
use crate::recent::{RecentStore, SqliteRecentStore};
use crate::sqlite::SqliteStore;
use crate::sqlite_accounts::SqliteAccountStore;
use crate::{StoreError, TenantStore};
use std::path::Path;
use std::sync::Arc;

/// Tenants and keys, item catalogs, recent behaviour and operator accounts: MongoDB when `MONGODB_URI` is set,
/// else the SQLite files.
#[derive(Clone)]
pub struct Stores {
    tenants: Arc<dyn TenantStore>,
    catalog: Arc<dyn CatalogStore>,
    recent: Arc<dyn RecentStore>,
    accounts: Arc<dyn AccountStore>,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Stores")
    }
}

impl Stores {
    /// Opens every store (creating SQLite files as needed) and registers the bootstrap write
    /// keys of `RECOSCOPE_WRITE_KEYS`. Blocking: call it at boot or from the CLI.
    pub fn open(config: &StoreConfig) -> Result<Stores, StoreError> {
        let stores = if config.mongodb_uri.is_empty() {
            Stores::new(
                Arc::new(
                    SqliteStore::open(Path::new(&config.path))
                        .map_err(|e| opening("the configuration store", &config.path, e))?,
                ),
                Arc::new(
                    SqliteCatalogStore::open(Path::new(&config.path))
                        .map_err(|e| opening("the catalog in", &config.path, e))?,
                ),
                Arc::new(
                    SqliteRecentStore::open(Path::new(&config.recent_path)).map_err(|e| {
                        opening("the recent-behaviour store", &config.recent_path, e)
                    })?,
                ),
                Arc::new(
                    SqliteAccountStore::open(Path::new(&config.path))
                        .map_err(|e| opening("the accounts in", &config.path, e))?,
                ),
            )
        } else {
            Stores::open_mongodb(config)?
        };
        for (key, tenant) in config.write_key_map() {
            // Another process may be bootstrapping the same tenant at the same moment.
            match stores.tenants.create_tenant(&tenant) {
                Ok(_) | Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
            stores.tenants.add_key(&tenant, &key)?;
        }
        Ok(stores)
    }

    #[cfg(feature = "mongodb")]
    fn open_mongodb(config: &StoreConfig) -> Result<Stores, StoreError> {
        use crate::mongo::{Mongo, MongoRecentStore, MongoTenantStore};
        use crate::mongo_accounts::MongoAccountStore;
        use crate::mongo_catalog::MongoCatalogStore;
        let mongo = Mongo::connect(&config.mongodb_uri, &config.mongodb_database)
            .map_err(|e| StoreError::Backend(format!("connecting to MONGODB_URI: {e}")))?;
        Ok(Stores::new(
            Arc::new(MongoTenantStore::new(mongo.clone())),
            Arc::new(MongoCatalogStore::new(mongo.clone())),
            Arc::new(MongoRecentStore::new(mongo.clone())),
            Arc::new(MongoAccountStore::new(mongo)),
        ))
    }

    /// Unreachable after [`StoreConfig::validate`], which refuses `MONGODB_URI` in a build
    /// without the driver; kept so a caller that skipped validation gets the same answer.
    #[cfg(not(feature = "mongodb"))]
    fn open_mongodb(_config: &StoreConfig) -> Result<Stores, StoreError> {
        Err(StoreError::Backend(crate::config::NO_MONGODB.into()))
    }

    /// Stores from backends already open (tests, benchmarks).
    pub fn new(
        tenants: Arc<dyn TenantStore>,
        catalog: Arc<dyn CatalogStore>,
        recent: Arc<dyn RecentStore>,
        accounts: Arc<dyn AccountStore>,
    ) -> Self {
        Stores {
            tenants,
            catalog,
            recent,
            accounts,
        }
    }

    /// The account store itself, for blocking callers (the CLI).
    pub fn account_store(&self) -> &Arc<dyn AccountStore> {
        &self.accounts
    }

    /// Runs `call` on the account store, off the async threads.
    pub async fn accounts<T: Send + 'static, E: From<StoreError> + Send + 'static>(
        &self,
        call: impl FnOnce(&dyn AccountStore) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E> {
        off_runtime(&self.accounts, |store| call(store.as_ref())).await
    }

    /// The tenant store itself, for blocking callers (the CLI).
    pub fn tenant_store(&self) -> &Arc<dyn TenantStore> {
        &self.tenants
    }

    /// The catalog store itself, for blocking callers (the CLI's imports).
    pub fn catalog_store(&self) -> &Arc<dyn CatalogStore> {
        &self.catalog
    }

    /// Runs `call` on the tenant store, off the async threads.
    pub async fn tenants<T: Send + 'static, E: From<StoreError> + Send + 'static>(
        &self,
        call: impl FnOnce(&dyn TenantStore) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E> {
        off_runtime(&self.tenants, |store| call(store.as_ref())).await
    }

    /// Runs `call` on the catalog store, off the async threads.
    pub async fn catalog<T: Send + 'static, E: From<StoreError> + Send + 'static>(
        &self,
        call: impl FnOnce(&dyn CatalogStore) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E> {
        off_runtime(&self.catalog, |store| call(store.as_ref())).await
    }

    /// Runs `call` on the recent-behaviour store, off the async threads.
    pub async fn recent<T: Send + 'static, E: From<StoreError> + Send + 'static>(
        &self,
        call: impl FnOnce(&dyn RecentStore) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E> {
        off_runtime(&self.recent, |store| call(store.as_ref())).await
    }
}

fn opening(what: &str, path: &str, error: StoreError) -> StoreError {
    StoreError::Backend(format!("opening {what} {path}: {error}"))
}

/// Runs `call` on the blocking pool. Its error type is the caller's (an API maps store
/// errors its own way), as long as a store error converts into it.
async fn off_runtime<S, T, E>(
    store: &Arc<S>,
    call: impl FnOnce(&Arc<S>) -> Result<T, E> + Send + 'static,
) -> Result<T, E>
where
    S: ?Sized + Send + Sync + 'static,
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
{
    let store = store.clone();
    tokio::task::spawn_blocking(move || call(&store))
        .await
        .map_err(|e| StoreError::Backend(format!("a store call did not finish: {e}")))?
}
