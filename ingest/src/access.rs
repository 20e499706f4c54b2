//! Who may send: write keys and their tenants' origins, as an in-memory view of the
//! configuration store, so that neither the CORS layer nor the handler waits on SQLite (a
//! lock can hold it for seconds) or on a MongoDB round trip per request.
//!
//! - The view is loaded at boot and reloaded every `INGEST_KEYS_REFRESH_SECS`: a key revoked
//!   with the CLI is refused within that time.
//! - A key the view does not know (issued since the last reload) is looked up in the store
//!   once, off the async threads; the answer, "no such key" included, is kept until the
//!   next reload, so a flood of made-up keys costs one lookup each per reload at most, and
//!   their number is bounded.
//! - The CORS layer reads the view only. A key it does not know yet is checked against the
//!   origins of every tenant; the handler then checks the key's own tenant.

use recoscope_stores::{StoreError, Stores, Tenant, TenantStore};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Unknown keys remembered at most between two reloads.
const MAX_UNKNOWN: usize = 100_000;

#[derive(Default)]
struct Snapshot {
    /// Live write key → its tenant (shared, so a request takes a reference count, not a
    /// copy of the origins); `None`: looked up, no such live key.
    keys: HashMap<String, Option<Arc<Tenant>>>,
    /// The origins some tenant lists (for a preflight, which names no key).
    origins: HashSet<String>,
    unknown: usize,
}

pub struct AccessView {
    stores: Stores,
    snapshot: RwLock<Snapshot>,
}

/// Every live key with its tenant, read from the store (blocking).
fn read_all(store: &dyn TenantStore) -> Result<Snapshot, StoreError> {
    let mut snapshot = Snapshot::default();
    for tenant in store.list_tenants()? {
        snapshot.origins.extend(tenant.origins.iter().cloned());
        let tenant = Arc::new(tenant);
        for key in store.keys(&tenant.id)? {
            if key.revoked_at.is_none() {
                snapshot.keys.insert(key.key, Some(tenant.clone()));
            }
        }
    }
    Ok(snapshot)
}

impl AccessView {
    /// Reads the whole view from the store. A store that does not answer leaves the view
    /// empty (every key is then looked up, and fails, until a reload works): the API starts
    /// and answers 503 rather than not starting at all.
    pub async fn load(stores: Stores) -> Arc<AccessView> {
        let view = Arc::new(AccessView {
            stores,
            snapshot: RwLock::new(Snapshot::default()),
        });
        if let Err(e) = view.reload().await {
            tracing::warn!(error = %e, "write keys not read at start; retrying on every refresh");
        }
        view
    }

    /// Reads the view again (the keys of the store now replace what was known).
    pub async fn reload(&self) -> Result<(), StoreError> {
        let fresh = self.stores.tenants(read_all).await?;
        *self.snapshot.write().expect("not poisoned") = fresh;
        Ok(())
    }

    /// Reloads every `every` until `shutdown`; a failed reload keeps the last view.
    pub async fn refresh(self: Arc<Self>, every: Duration, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(every);
        ticks.tick().await;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            if let Err(e) = self.reload().await {
                tracing::warn!(error = %e, "write keys not reloaded; the last view stays");
            }
        }
    }

    /// What the view knows of `key` without asking the store: `Some(None)` for a key known
    /// not to exist, `None` when it does not know.
    fn known(&self, key: &str) -> Option<Option<Arc<Tenant>>> {
        self.snapshot
            .read()
            .expect("not poisoned")
            .keys
            .get(key)
            .cloned()
    }

    /// The tenant of a live write key.
    pub async fn tenant_for_key(&self, key: &str) -> Result<Option<Arc<Tenant>>, StoreError> {
        if let Some(known) = self.known(key) {
            return Ok(known);
        }
        let asked = key.to_string();
        let found = self
            .stores
            .tenants(move |store| store.tenant_for_key(&asked))
            .await?
            .map(Arc::new);
        let mut snapshot = self.snapshot.write().expect("not poisoned");
        if let Some(tenant) = &found {
            snapshot.origins.extend(tenant.origins.iter().cloned());
        }
        if found.is_some() || snapshot.unknown < MAX_UNKNOWN {
            snapshot.unknown += usize::from(found.is_none());
            snapshot.keys.insert(key.to_string(), found.clone());
        }
        Ok(found)
    }

    /// Whether a browser page at `origin` may send with `key` (or, without a key or with
    /// one the view does not know yet, for some tenant). Never waits.
    pub fn origin_allowed(&self, origin: &str, key: Option<&str>) -> bool {
        let snapshot = self.snapshot.read().expect("not poisoned");
        match key.and_then(|k| snapshot.keys.get(k)) {
            Some(Some(tenant)) => tenant.origins.iter().any(|o| o == origin),
            Some(None) => false,
            None => snapshot.origins.contains(origin),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use recoscope_stores::StoreConfig;

    #[tokio::test]
    async fn keys_come_from_memory_new_ones_at_once_revoked_ones_at_the_next_reload() {
        let dir = std::env::temp_dir().join(format!("recoscope-access-{}", uuid::Uuid::new_v4()));
        let stores = Stores::open(&StoreConfig {
            path: dir.join("config.sqlite3").display().to_string(),
            recent_path: dir.join("recent.sqlite3").display().to_string(),
            write_keys: String::new(),
            ..StoreConfig::default()
        })
        .unwrap();
        let store = stores.tenant_store().clone();
        store.create_tenant("acme").unwrap();
        store
            .set_origins("acme", &["https://acme.example".to_string()])
            .unwrap();
        let old = store.issue_key("acme").unwrap().key;
        let view = AccessView::load(stores).await;
        assert_eq!(view.tenant_for_key(&old).await.unwrap().unwrap().id, "acme");
        assert!(view.origin_allowed("https://acme.example", Some(&old)));
        assert!(view.origin_allowed("https://acme.example", None));
        assert!(!view.origin_allowed("https://evil.example", Some(&old)));

        // Issued after the view was read: looked up once, then known.
        store.create_tenant("beta").unwrap();
        store
            .set_origins("beta", &["https://beta.example".to_string()])
            .unwrap();
        let new = store.issue_key("beta").unwrap().key;
        assert!(!view.origin_allowed("https://beta.example", None));
        assert_eq!(view.tenant_for_key(&new).await.unwrap().unwrap().id, "beta");
        assert!(view.origin_allowed("https://beta.example", None));
        assert_eq!(view.tenant_for_key("rk_made_up").await.unwrap(), None);
        assert!(!view.origin_allowed("https://acme.example", Some("rk_made_up")));

        // Revoked: still known until the view is read again, then refused.
        store.revoke_key(&old).unwrap();
        assert!(view.tenant_for_key(&old).await.unwrap().is_some());
        view.reload().await.unwrap();
        assert_eq!(view.tenant_for_key(&old).await.unwrap(), None);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
