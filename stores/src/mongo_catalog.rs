//! The MongoDB `CatalogStore`: collections `catalog_items` and `catalog_scenarios`, one
//! document per (tenant, id) keyed by `_id: {t, i}`, with a (tenant_id, id) index for lookups
//! and paging.
//!
//! A write is one `update` command per thousand documents (each an upsert that replaces),
//! so importing a large catalog costs a round trip per thousand items, not per item.

use super::catalog::{check_lookup, CatalogStore, Upserted};
use super::mongo::{backend, Mongo};
use super::StoreError;
use futures::TryStreamExt;
use mongodb::bson::{self, doc, Bson, Document};
use recoscope_core::catalog::{CatalogItem, Scenario};
use std::sync::Arc;

const ITEMS: &str = "catalog_items";
const SCENARIOS: &str = "catalog_scenarios";
/// Statements per `update` command (MongoDB takes up to 100,000 and 16 MB).
const WRITE_BATCH: usize = 1000;

pub struct MongoCatalogStore {
    mongo: Arc<Mongo>,
}

impl MongoCatalogStore {
    pub fn new(mongo: Arc<Mongo>) -> Self {
        MongoCatalogStore { mongo }
    }

    /// Replaces (or inserts) each `(key, document)` in `collection`.
    fn upsert(
        &self,
        collection: &'static str,
        documents: Vec<(Document, Document)>,
    ) -> Result<Upserted, StoreError> {
        let database = self.mongo.database();
        self.mongo.run(async move {
            let mut count = Upserted::default();
            for chunk in documents.chunks(WRITE_BATCH) {
                let updates: Vec<Document> = chunk
                    .iter()
                    .map(|(key, document)| doc! {"q": {"_id": key}, "u": document, "upsert": true})
                    .collect();
                let reply = database
                    .run_command(doc! {"update": collection, "updates": updates, "ordered": true})
                    .await
                    .map_err(backend)?;
                if let Ok(errors) = reply.get_array("writeErrors") {
                    return Err(backend(format!("{collection} write failed: {errors:?}")));
                }
                let matched = number(&reply, "n")?;
                let inserted = reply.get_array("upserted").map(Vec::len).unwrap_or(0);
                count += Upserted {
                    inserted,
                    updated: matched.saturating_sub(inserted),
                };
            }
            Ok(count)
        })
    }

    fn find(
        &self,
        collection: &'static str,
        filter: Document,
        sort_by: &'static str,
        limit: Option<i64>,
    ) -> Result<Vec<Document>, StoreError> {
        let collection = self.mongo.collection(collection);
        self.mongo.run(async move {
            let mut find = collection.find(filter).sort(doc! {sort_by: 1});
            if let Some(limit) = limit {
                find = find.limit(limit);
            }
            find.await
                .map_err(backend)?
                .try_collect()
                .await
                .map_err(backend)
        })
    }

    fn delete(
        &self,
        collection: &'static str,
        id_field: &'static str,
        tenant: &str,
        ids: &[String],
    ) -> Result<usize, StoreError> {
        check_lookup(ids)?;
        let collection = self.mongo.collection(collection);
        let filter = doc! {"tenant_id": tenant, id_field: {"$in": ids}};
        self.mongo.run(async move {
            let deleted = collection.delete_many(filter).await.map_err(backend)?;
            Ok(deleted.deleted_count as usize)
        })
    }
}

/// A count in a command's reply (servers answer with 32- or 64-bit integers).
fn number(reply: &Document, field: &str) -> Result<usize, StoreError> {
    match reply.get(field) {
        Some(Bson::Int32(n)) => Ok(*n as usize),
        Some(Bson::Int64(n)) => Ok(*n as usize),
        Some(Bson::Double(n)) => Ok(*n as usize),
        other => Err(backend(format!("update reply without {field}: {other:?}"))),
    }
}

/// The stored document of a catalog entry: its own fields (as the type serializes them,
/// absent ones left out), the tenant, and `_id` = `{t: tenant, <id_key>: id}`.
fn document_of(
    tenant: &str,
    id_key: &str,
    id: &str,
    entry: &impl serde::Serialize,
) -> Result<(Document, Document), StoreError> {
    let key = doc! {"t": tenant, id_key: id};
    let mut document = bson::to_document(entry).map_err(backend)?;
    document.insert("_id", key.clone());
    document.insert("tenant_id", tenant);
    Ok((key, document))
}

/// A stored entry read back through the type's checks (`_id` and `tenant_id` are ignored);
/// failing them means the collection was edited by hand.
fn entry_from<T: serde::de::DeserializeOwned>(document: Document) -> Result<T, StoreError> {
    bson::from_document(document)
        .map_err(|e| StoreError::Backend(format!("stored catalog entry is invalid: {e}")))
}

impl CatalogStore for MongoCatalogStore {
    fn upsert_items(&self, tenant: &str, items: &[CatalogItem]) -> Result<Upserted, StoreError> {
        let documents = items
            .iter()
            .map(|item| document_of(tenant, "i", item.item_id(), item))
            .collect::<Result<_, _>>()?;
        self.upsert(ITEMS, documents)
    }

    fn items(&self, tenant: &str, ids: &[String]) -> Result<Vec<CatalogItem>, StoreError> {
        check_lookup(ids)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let filter = doc! {"tenant_id": tenant, "item_id": {"$in": ids}};
        self.find(ITEMS, filter, "item_id", None)?
            .into_iter()
            .map(entry_from)
            .collect()
    }

    fn list_items(
        &self,
        tenant: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<CatalogItem>, StoreError> {
        let filter = doc! {"tenant_id": tenant, "item_id": {"$gt": after.unwrap_or("")}};
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.find(ITEMS, filter, "item_id", Some(limit))?
            .into_iter()
            .map(entry_from)
            .collect()
    }

    fn count_items(&self, tenant: &str) -> Result<u64, StoreError> {
        let collection = self.mongo.collection(ITEMS);
        let filter = doc! {"tenant_id": tenant};
        self.mongo
            .run(async move { collection.count_documents(filter).await.map_err(backend) })
    }

    fn delete_items(&self, tenant: &str, ids: &[String]) -> Result<usize, StoreError> {
        self.delete(ITEMS, "item_id", tenant, ids)
    }

    fn upsert_scenarios(
        &self,
        tenant: &str,
        scenarios: &[Scenario],
    ) -> Result<Upserted, StoreError> {
        let documents = scenarios
            .iter()
            .map(|scenario| document_of(tenant, "s", scenario.scenario_id(), scenario))
            .collect::<Result<_, _>>()?;
        self.upsert(SCENARIOS, documents)
    }

    fn scenarios(&self, tenant: &str) -> Result<Vec<Scenario>, StoreError> {
        self.find(SCENARIOS, doc! {"tenant_id": tenant}, "scenario_id", None)?
            .into_iter()
            .map(entry_from)
            .collect()
    }

    fn delete_scenarios(&self, tenant: &str, ids: &[String]) -> Result<usize, StoreError> {
        self.delete(SCENARIOS, "scenario_id", tenant, ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mongodb_passes_the_catalog_store_conformance_suite() {
        let mongo = super::super::mongo::test_connection();
        super::super::catalog::conformance(&MongoCatalogStore::new(mongo.clone()));
        mongo.drop_database().unwrap();
    }
}
