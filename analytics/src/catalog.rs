//! The item catalog and scenarios (ssr only): how the analytics views reach the catalog
//! store, which lives in the server crate (SQLite or MongoDB). Views use it to put names on
//! the ids that events carry.
//!
//! A view treats the catalog as optional: when the store fails, its numbers still come back,
//! with ids only and `catalog_unavailable` set.

use recoscope_core::catalog::{CatalogItem, Scenario};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub type CatalogFuture<T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send>>;

/// Reads a tenant's catalog. The server implements it over its `CatalogStore`.
pub trait CatalogReader: Send + Sync + 'static {
    /// The items among `ids` that the catalog has.
    fn items(&self, tenant: String, ids: Vec<String>) -> CatalogFuture<Vec<CatalogItem>>;
    /// All the tenant's scenarios.
    fn scenarios(&self, tenant: String) -> CatalogFuture<Vec<Scenario>>;
    /// How many items the tenant's catalog holds.
    fn count_items(&self, tenant: String) -> CatalogFuture<u64>;
}

/// The catalog reader the analytics views share.
#[derive(Clone)]
pub struct Catalog(Arc<dyn CatalogReader>);

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Catalog")
    }
}

impl Catalog {
    pub fn new(reader: impl CatalogReader) -> Self {
        Catalog(Arc::new(reader))
    }

    /// The catalog entries for `ids`, by id; `None` when the store failed (logged).
    pub async fn items_by_id(
        &self,
        tenant: &str,
        ids: Vec<String>,
    ) -> Option<std::collections::HashMap<String, CatalogItem>> {
        match self.0.items(tenant.to_string(), ids).await {
            Ok(items) => Some(
                items
                    .into_iter()
                    .map(|item| (item.item_id().to_string(), item))
                    .collect(),
            ),
            Err(error) => {
                tracing::warn!(%error, tenant, "item catalog unavailable; showing ids");
                None
            }
        }
    }

    /// How many items the tenant's catalog holds; `None` when the store failed (logged).
    pub async fn count_items(&self, tenant: &str) -> Option<u64> {
        match self.0.count_items(tenant.to_string()).await {
            Ok(count) => Some(count),
            Err(error) => {
                tracing::warn!(%error, tenant, "item catalog unavailable; no item count");
                None
            }
        }
    }

    /// The tenant's scenarios; `None` when the store failed (logged).
    pub async fn scenarios(&self, tenant: &str) -> Option<Vec<Scenario>> {
        match self.0.scenarios(tenant.to_string()).await {
            Ok(scenarios) => Some(scenarios),
            Err(error) => {
                tracing::warn!(%error, tenant, "scenario catalog unavailable; showing ids");
                None
            }
        }
    }
}
