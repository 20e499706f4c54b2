//! MongoDB backends (the original design's stores): `tenants` and `write_keys` for the
//! configuration, `interactions` with a TTL index for recent behaviour (the catalog's are in
//! `store::mongo_catalog`). Chosen with `MONGODB_URI`; each passes the same conformance
//! suite as its SQLite default.
//!
//! The store traits are synchronous: the SQLite defaults answer in microseconds and the CLI
//! has no async runtime. So the driver runs on a small runtime of its own and callers wait
//! for its answer, from any thread, async or not (the ingest path calls the configuration
//! store from a request task, a network round trip here; see docs/ARCHITECTURE.md).

use super::recent::{RecentStore, RETENTION};
use super::{
    new_key, new_read_key, normalize_origins, read_key_digest, validate_tenant_id,
    validate_write_key, ReadKey, StoreError, Tenant, TenantStore, WriteKey,
};
use futures::TryStreamExt;
use mongodb::bson::{self, doc, Bson, DateTime, Document};
use mongodb::error::{Error as MongoError, ErrorKind, WriteFailure};
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Client, Collection, Database, IndexModel};
use recoscope_core::clock::now_ms;
use recoscope_core::BehaviorRecord;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Runtime;

/// MongoDB's duplicate-key error.
const DUPLICATE_KEY: i32 = 11000;

/// A connection to one database, with the runtime its driver runs on.
pub struct Mongo {
    runtime: Option<Runtime>,
    database: Database,
}

pub(crate) fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Runs `future` on `runtime` and waits for it from whatever thread calls (a plain
/// `block_on` would panic inside another runtime's task).
fn wait_on<T: Send + 'static>(
    runtime: &Runtime,
    future: impl Future<Output = Result<T, StoreError>> + Send + 'static,
) -> Result<T, StoreError> {
    let (answer, answered) = std::sync::mpsc::sync_channel(1);
    runtime.spawn(async move {
        let _ = answer.send(future.await);
    });
    answered
        .recv()
        .map_err(|_| StoreError::Backend("the MongoDB runtime stopped".into()))?
}

impl Mongo {
    /// Connects (failing within a few seconds when nobody answers) and creates the indexes.
    pub fn connect(uri: &str, database: &str) -> Result<Arc<Mongo>, StoreError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("mongodb")
            .enable_all()
            .build()
            .map_err(backend)?;
        let (uri, name) = (uri.to_string(), database.to_string());
        let database = wait_on(&runtime, async move {
            let mut options = ClientOptions::parse(&uri).await.map_err(backend)?;
            options.app_name = Some("recoscope".into());
            options
                .server_selection_timeout
                .get_or_insert(Duration::from_secs(5));
            let database = Client::with_options(options)
                .map_err(backend)?
                .database(&name);
            create_indexes(&database).await.map_err(backend)?;
            Ok(database)
        })?;
        Ok(Arc::new(Mongo {
            runtime: Some(runtime),
            database,
        }))
    }

    pub(crate) fn run<T: Send + 'static>(
        &self,
        future: impl Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> Result<T, StoreError> {
        let runtime = self.runtime.as_ref().expect("present until dropped");
        wait_on(runtime, future)
    }

    pub(crate) fn collection(&self, name: &str) -> Collection<Document> {
        self.database.collection(name)
    }

    pub(crate) fn database(&self) -> Database {
        self.database.clone()
    }

    /// Drops the whole database (tests clean up with this).
    pub fn drop_database(&self) -> Result<(), StoreError> {
        let database = self.database.clone();
        self.run(async move { database.drop().await.map_err(backend) })
    }
}

impl Drop for Mongo {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which panics inside another runtime's task.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn create_indexes(database: &Database) -> Result<(), MongoError> {
    let index = |keys: Document, options: IndexOptions| {
        IndexModel::builder().keys(keys).options(options).build()
    };
    database
        .collection::<Document>("write_keys")
        .create_index(index(
            doc! {"tenant_id": 1, "created_at": 1},
            IndexOptions::default(),
        ))
        .await?;
    let interactions = database.collection::<Document>("interactions");
    interactions
        .create_index(index(
            doc! {"tenant_id": 1, "user_id": 1, "event_time": -1},
            IndexOptions::default(),
        ))
        .await?;
    // MongoDB's TTL monitor removes documents a week after they were received;
    // `purge_before` does the same on demand.
    interactions
        .create_index(index(
            doc! {"received_at": 1},
            IndexOptions::builder().expire_after(RETENTION).build(),
        ))
        .await?;
    for (collection, field) in [
        ("memberships", "email"),
        ("memberships", "tenant_id"),
        ("sessions", "email"),
    ] {
        database
            .collection::<Document>(collection)
            .create_index(index(doc! {field: 1}, IndexOptions::default()))
            .await?;
    }
    for (collection, id) in [
        ("catalog_items", "item_id"),
        ("catalog_scenarios", "scenario_id"),
    ] {
        database
            .collection::<Document>(collection)
            .create_index(index(doc! {"tenant_id": 1, id: 1}, IndexOptions::default()))
            .await?;
    }
    Ok(())
}

pub(crate) fn is_duplicate(error: &MongoError) -> bool {
    match error.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(e)) => e.code == DUPLICATE_KEY,
        _ => false,
    }
}

/// `tenants` and `write_keys`.
pub struct MongoTenantStore {
    mongo: Arc<Mongo>,
}

impl MongoTenantStore {
    pub fn new(mongo: Arc<Mongo>) -> Self {
        MongoTenantStore { mongo }
    }
}

fn tenant_from(document: &Document) -> Result<Tenant, StoreError> {
    let id = document.get_str("_id").map_err(backend)?.to_string();
    let origins = document
        .get_array("origins")
        .map_err(backend)?
        .iter()
        .filter_map(|o| o.as_str().map(str::to_string))
        .collect();
    Ok(Tenant { id, origins })
}

fn key_from(document: &Document) -> Result<WriteKey, StoreError> {
    Ok(WriteKey {
        key: document.get_str("_id").map_err(backend)?.to_string(),
        tenant_id: document.get_str("tenant_id").map_err(backend)?.to_string(),
        created_at: document.get_i64("created_at").map_err(backend)?,
        revoked_at: document.get_i64("revoked_at").ok(),
    })
}

async fn find_tenant(
    tenants: &Collection<Document>,
    id: &str,
) -> Result<Option<Tenant>, StoreError> {
    match tenants.find_one(doc! {"_id": id}).await.map_err(backend)? {
        Some(document) => tenant_from(&document).map(Some),
        None => Ok(None),
    }
}

async fn require_tenant(tenants: &Collection<Document>, id: &str) -> Result<Tenant, StoreError> {
    find_tenant(tenants, id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("tenant {id:?}")))
}

async fn find_key(keys: &Collection<Document>, key: &str) -> Result<Option<WriteKey>, StoreError> {
    match keys.find_one(doc! {"_id": key}).await.map_err(backend)? {
        Some(document) => key_from(&document).map(Some),
        None => Ok(None),
    }
}

impl TenantStore for MongoTenantStore {
    fn create_tenant(&self, id: &str) -> Result<Tenant, StoreError> {
        validate_tenant_id(id)?;
        let tenants = self.mongo.collection("tenants");
        let id = id.to_string();
        self.mongo.run(async move {
            let document = doc! {"_id": &id, "origins": Bson::Array(vec![])};
            match tenants.insert_one(document).await {
                Ok(_) => require_tenant(&tenants, &id).await,
                Err(e) if is_duplicate(&e) => Err(StoreError::Conflict(format!("tenant {id:?}"))),
                Err(e) => Err(backend(e)),
            }
        })
    }

    fn tenant(&self, id: &str) -> Result<Option<Tenant>, StoreError> {
        let tenants = self.mongo.collection("tenants");
        let id = id.to_string();
        self.mongo
            .run(async move { find_tenant(&tenants, &id).await })
    }

    fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        let tenants = self.mongo.collection("tenants");
        self.mongo.run(async move {
            let documents: Vec<Document> = tenants
                .find(doc! {})
                .sort(doc! {"_id": 1})
                .await
                .map_err(backend)?
                .try_collect()
                .await
                .map_err(backend)?;
            documents.iter().map(tenant_from).collect()
        })
    }

    fn set_origins(&self, id: &str, origins: &[String]) -> Result<Tenant, StoreError> {
        let origins = normalize_origins(origins)?;
        let tenants = self.mongo.collection("tenants");
        let id = id.to_string();
        self.mongo.run(async move {
            let updated = tenants
                .update_one(doc! {"_id": &id}, doc! {"$set": {"origins": origins}})
                .await
                .map_err(backend)?;
            if updated.matched_count == 0 {
                return Err(StoreError::NotFound(format!("tenant {id:?}")));
            }
            require_tenant(&tenants, &id).await
        })
    }

    fn issue_key(&self, tenant_id: &str) -> Result<WriteKey, StoreError> {
        self.add_key(tenant_id, &new_key())
    }

    fn add_key(&self, tenant_id: &str, key: &str) -> Result<WriteKey, StoreError> {
        validate_write_key(key)?;
        let tenants = self.mongo.collection("tenants");
        let keys = self.mongo.collection("write_keys");
        let (tenant_id, key) = (tenant_id.to_string(), key.to_string());
        self.mongo.run(async move {
            require_tenant(&tenants, &tenant_id).await?;
            let document = doc! {
                "_id": &key, "tenant_id": &tenant_id, "created_at": now_ms(),
                "revoked_at": Bson::Null,
            };
            match keys.insert_one(document).await {
                Ok(_) => {}
                // Registered before (a restart, or another process bootstrapping): fine for
                // the same tenant, a conflict for another.
                Err(e) if is_duplicate(&e) => {}
                Err(e) => return Err(backend(e)),
            }
            let stored = find_key(&keys, &key)
                .await?
                .ok_or_else(|| StoreError::Backend("key vanished".into()))?;
            if stored.tenant_id == tenant_id {
                Ok(stored)
            } else {
                Err(StoreError::Conflict("write key".into()))
            }
        })
    }

    fn revoke_key(&self, key: &str) -> Result<(), StoreError> {
        let keys = self.mongo.collection("write_keys");
        let key = key.to_string();
        self.mongo.run(async move {
            let updated = keys
                .update_one(
                    doc! {"_id": &key, "revoked_at": Bson::Null},
                    doc! {"$set": {"revoked_at": now_ms()}},
                )
                .await
                .map_err(backend)?;
            if updated.matched_count == 0 && find_key(&keys, &key).await?.is_none() {
                return Err(StoreError::NotFound("write key".into()));
            }
            Ok(())
        })
    }

    fn keys(&self, tenant_id: &str) -> Result<Vec<WriteKey>, StoreError> {
        let tenants = self.mongo.collection("tenants");
        let keys = self.mongo.collection("write_keys");
        let tenant_id = tenant_id.to_string();
        self.mongo.run(async move {
            require_tenant(&tenants, &tenant_id).await?;
            let documents: Vec<Document> = keys
                .find(doc! {"tenant_id": &tenant_id})
                .sort(doc! {"created_at": 1, "_id": 1})
                .await
                .map_err(backend)?
                .try_collect()
                .await
                .map_err(backend)?;
            documents.iter().map(key_from).collect()
        })
    }

    fn tenant_for_key(&self, key: &str) -> Result<Option<Tenant>, StoreError> {
        let tenants = self.mongo.collection("tenants");
        let keys = self.mongo.collection("write_keys");
        let key = key.to_string();
        self.mongo.run(async move {
            match find_key(&keys, &key).await? {
                Some(k) if k.revoked_at.is_none() => find_tenant(&tenants, &k.tenant_id).await,
                _ => Ok(None),
            }
        })
    }

    fn issue_read_key(&self, tenant_id: &str) -> Result<ReadKey, StoreError> {
        let tenants = self.mongo.collection("tenants");
        let keys = self.mongo.collection("read_keys");
        let key = ReadKey {
            key: new_read_key(),
            tenant_id: tenant_id.to_string(),
            created_at: now_ms(),
        };
        self.mongo.run(async move {
            require_tenant(&tenants, &key.tenant_id).await?;
            keys.insert_one(doc! {
                "_id": read_key_digest(&key.key), "tenant_id": &key.tenant_id,
                "created_at": key.created_at, "revoked_at": Bson::Null,
            })
            .await
            .map_err(backend)?;
            Ok(key)
        })
    }

    fn revoke_read_key(&self, key: &str) -> Result<(), StoreError> {
        let keys = self.mongo.collection("read_keys");
        let digest = read_key_digest(key);
        self.mongo.run(async move {
            let updated = keys
                .update_one(
                    doc! {"_id": &digest},
                    doc! {"$set": {"revoked_at": now_ms()}},
                )
                .await
                .map_err(backend)?;
            if updated.matched_count == 0 {
                return Err(StoreError::NotFound("read key".into()));
            }
            Ok(())
        })
    }

    fn tenant_for_read_key(&self, key: &str) -> Result<Option<Tenant>, StoreError> {
        let tenants = self.mongo.collection("tenants");
        let keys = self.mongo.collection("read_keys");
        let digest = read_key_digest(key);
        self.mongo.run(async move {
            let live = keys
                .find_one(doc! {"_id": &digest, "revoked_at": Bson::Null})
                .await
                .map_err(backend)?;
            match live {
                Some(document) => {
                    let tenant_id = document.get_str("tenant_id").map_err(backend)?;
                    find_tenant(&tenants, tenant_id).await
                }
                None => Ok(None),
            }
        })
    }
}

/// `interactions`: one document per (tenant, user, event), removed a week after receipt.
pub struct MongoRecentStore {
    mongo: Arc<Mongo>,
}

impl MongoRecentStore {
    pub fn new(mongo: Arc<Mongo>) -> Self {
        MongoRecentStore { mongo }
    }
}

impl RecentStore for MongoRecentStore {
    fn record(&self, records: &[BehaviorRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let documents = records
            .iter()
            .map(|r| {
                Ok(doc! {
                    "_id": {"t": &r.tenant_id, "u": r.event.user_id.as_str(), "e": &r.event_id},
                    "tenant_id": &r.tenant_id,
                    "user_id": r.event.user_id.as_str(),
                    "event_time": r.event_time_ms(),
                    "received_at": DateTime::from_millis(r.received_at),
                    "record": bson::to_document(r).map_err(backend)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let interactions = self.mongo.collection("interactions");
        self.mongo.run(async move {
            // Unordered, so one event already there (a redelivery) does not stop the rest.
            match interactions.insert_many(documents).ordered(false).await {
                Ok(_) => Ok(()),
                Err(e) => match e.kind.as_ref() {
                    ErrorKind::InsertMany(failure)
                        if failure.write_concern_error.is_none()
                            && failure
                                .write_errors
                                .iter()
                                .flatten()
                                .all(|w| w.code == DUPLICATE_KEY) =>
                    {
                        Ok(())
                    }
                    _ => Err(backend(e)),
                },
            }
        })
    }

    fn recent(
        &self,
        tenant: &str,
        user: &str,
        since_ms: i64,
        limit: usize,
    ) -> Result<Vec<BehaviorRecord>, StoreError> {
        let interactions = self.mongo.collection("interactions");
        let filter = doc! {
            "tenant_id": tenant, "user_id": user,
            "received_at": {"$gte": DateTime::from_millis(since_ms)},
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.mongo.run(async move {
            let documents: Vec<Document> = interactions
                .find(filter)
                .sort(doc! {"event_time": -1, "_id.e": -1})
                .limit(limit)
                .await
                .map_err(backend)?
                .try_collect()
                .await
                .map_err(backend)?;
            documents
                .into_iter()
                .map(|d| {
                    let record = d.get_document("record").map_err(backend)?.clone();
                    bson::from_document(record).map_err(backend)
                })
                .collect()
        })
    }

    fn purge_before(&self, before_ms: i64) -> Result<usize, StoreError> {
        let interactions = self.mongo.collection("interactions");
        self.mongo.run(async move {
            let deleted = interactions
                .delete_many(doc! {"received_at": {"$lt": DateTime::from_millis(before_ms)}})
                .await
                .map_err(backend)?;
            Ok(deleted.deleted_count as usize)
        })
    }
}

/// A fresh database on the test server (`MONGODB_URI`, or the local stack's), for the
/// conformance tests; the caller drops it.
#[cfg(test)]
pub(crate) fn test_connection() -> Arc<Mongo> {
    let uri = std::env::var("MONGODB_URI")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "mongodb://127.0.0.1:27017".into());
    let database = format!("test_{}", uuid::Uuid::new_v4().simple());
    Mongo::connect(&uri, &database)
        .unwrap_or_else(|e| panic!("a MongoDB server at {uri} (scripts/stack up): {e}"))
}

#[cfg(test)]
mod tests {
    //! The SQLite backends' conformance suites, on a MongoDB-protocol server: `MONGODB_URI`,
    //! or the local stack's (`scripts/stack up` runs one). Each test uses its own database
    //! and drops it.
    use super::*;

    fn connect() -> Arc<Mongo> {
        test_connection()
    }

    #[test]
    fn mongodb_passes_the_configuration_store_conformance_suite() {
        let mongo = connect();
        super::super::conformance::run(&MongoTenantStore::new(mongo.clone()));
        mongo.drop_database().unwrap();
    }

    #[test]
    fn mongodb_passes_the_recent_store_conformance_suite() {
        let mongo = connect();
        super::super::recent::conformance(&MongoRecentStore::new(mongo.clone()));
        mongo.drop_database().unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_stores_can_be_called_from_async_tasks() {
        let mongo = connect();
        let store = MongoTenantStore::new(mongo.clone());
        let tenant = tokio::spawn(async move { store.create_tenant("from_a_task") })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(tenant.id, "from_a_task");
        mongo.drop_database().unwrap();
        drop(mongo); // inside a runtime: must not panic
    }
}
