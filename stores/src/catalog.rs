//! A tenant's item catalog and scenarios: names for the ids events carry.
//!
//! - [`CatalogStore`]: the trait; [`SqliteCatalogStore`]: the embedded default, in the
//!   configuration store's file (MongoDB's is in `store::mongo`).
//! - [`conformance`]: the behaviour every backend must have.
//!
//! Items and scenarios are keyed by (tenant, id); writing one again replaces it, so an
//! import can be repeated. Importing files is the server's `catalog_import`'s job.

use super::StoreError;
use recoscope_core::catalog::{CatalogItem, ItemFields, Scenario, ScenarioFields};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};
use serde::Serialize;
use std::path::Path;
use std::sync::Mutex;

/// What a write did: rows that were new and rows that replaced an existing one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Upserted {
    pub inserted: usize,
    pub updated: usize,
}

impl std::ops::AddAssign for Upserted {
    fn add_assign(&mut self, other: Upserted) {
        self.inserted += other.inserted;
        self.updated += other.updated;
    }
}

/// Most ids one lookup takes (SQLite binds at most 32766 parameters; a page of a dashboard
/// needs 100).
pub const MAX_LOOKUP: usize = 1000;

pub trait CatalogStore: Send + Sync + 'static {
    /// Inserts each item or replaces the one with its id. Within one call the last of
    /// repeated ids wins.
    fn upsert_items(&self, tenant: &str, items: &[CatalogItem]) -> Result<Upserted, StoreError>;
    /// The items among `ids` (at most [`MAX_LOOKUP`]) the catalog has, in id order.
    fn items(&self, tenant: &str, ids: &[String]) -> Result<Vec<CatalogItem>, StoreError>;
    /// Up to `limit` items with an id after `after`, in id order (paging).
    fn list_items(
        &self,
        tenant: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<CatalogItem>, StoreError>;
    fn count_items(&self, tenant: &str) -> Result<u64, StoreError>;
    /// Removes these items; returns how many existed.
    fn delete_items(&self, tenant: &str, ids: &[String]) -> Result<usize, StoreError>;
    /// Inserts each scenario or replaces the one with its id.
    fn upsert_scenarios(
        &self,
        tenant: &str,
        scenarios: &[Scenario],
    ) -> Result<Upserted, StoreError>;
    /// All the tenant's scenarios, in id order.
    fn scenarios(&self, tenant: &str) -> Result<Vec<Scenario>, StoreError>;
    fn delete_scenarios(&self, tenant: &str, ids: &[String]) -> Result<usize, StoreError>;
}

/// Refuses a lookup of more than [`MAX_LOOKUP`] ids.
pub(crate) fn check_lookup(ids: &[String]) -> Result<(), StoreError> {
    if ids.len() > MAX_LOOKUP {
        return Err(StoreError::Invalid(format!(
            "lookup of {} ids: at most {MAX_LOOKUP} at a time",
            ids.len()
        )));
    }
    Ok(())
}

/// A stored row read back through its type's checks (`CatalogItem` from `ItemFields`,
/// `Scenario` from `ScenarioFields`): it passed them when written, so failing them now means
/// the store was edited by hand.
fn stored<T, F>(fields: F) -> Result<T, StoreError>
where
    T: TryFrom<F, Error = recoscope_core::FieldError>,
{
    T::try_from(fields)
        .map_err(|e| StoreError::Backend(format!("stored catalog entry is invalid: {e}")))
}

pub struct SqliteCatalogStore {
    connection: Mutex<Connection>,
}

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl SqliteCatalogStore {
    /// Opens (creating if needed) the catalog tables in the SQLite file at `path`; the
    /// configuration store's file is the natural home.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let connection = super::open_sqlite(
            path,
            "CREATE TABLE IF NOT EXISTS catalog_items (
                 tenant_id TEXT NOT NULL,
                 item_id TEXT NOT NULL,
                 name TEXT NOT NULL,
                 category TEXT,
                 price REAL,
                 url TEXT,
                 PRIMARY KEY (tenant_id, item_id)
             ) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS catalog_scenarios (
                 tenant_id TEXT NOT NULL,
                 scenario_id TEXT NOT NULL,
                 name TEXT NOT NULL,
                 description TEXT,
                 PRIMARY KEY (tenant_id, scenario_id)
             ) WITHOUT ROWID;",
        )?;
        Ok(SqliteCatalogStore {
            connection: Mutex::new(connection),
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut connection = self
            .connection
            .lock()
            .map_err(|_| StoreError::Backend("store lock poisoned".into()))?;
        f(&mut connection)
    }

    /// Writes `rows` in one transaction with `write` (an `INSERT OR REPLACE`), counting
    /// those whose id `exists` found already there as updated.
    fn upsert_rows<R>(
        &self,
        exists: &str,
        write: &str,
        tenant: &str,
        rows: &[R],
        id: impl Fn(&R) -> &str,
        write_row: impl Fn(&mut rusqlite::CachedStatement, &R) -> rusqlite::Result<usize>,
    ) -> Result<Upserted, StoreError> {
        self.with(|connection| {
            let tx = connection.transaction().map_err(backend)?;
            let mut count = Upserted::default();
            {
                let mut exists = tx.prepare_cached(exists).map_err(backend)?;
                let mut write = tx.prepare_cached(write).map_err(backend)?;
                for row in rows {
                    let existed = exists
                        .query_row(params![tenant, id(row)], |_| Ok(()))
                        .optional()
                        .map_err(backend)?
                        .is_some();
                    write_row(&mut write, row).map_err(backend)?;
                    if existed {
                        count.updated += 1;
                    } else {
                        count.inserted += 1;
                    }
                }
            }
            tx.commit().map_err(backend)?;
            Ok(count)
        })
    }
}

/// `?, ?, ?` for `n` parameters after the tenant (`?1`).
fn placeholders(n: usize) -> String {
    (0..n)
        .map(|i| format!("?{}", i + 2))
        .collect::<Vec<_>>()
        .join(", ")
}

fn item_row(row: &rusqlite::Row) -> rusqlite::Result<ItemFields> {
    Ok(ItemFields {
        item_id: row.get(0)?,
        name: row.get(1)?,
        category: row.get(2)?,
        price: row.get(3)?,
        url: row.get(4)?,
    })
}

impl CatalogStore for SqliteCatalogStore {
    fn upsert_items(&self, tenant: &str, items: &[CatalogItem]) -> Result<Upserted, StoreError> {
        self.upsert_rows(
            "SELECT 1 FROM catalog_items WHERE tenant_id = ?1 AND item_id = ?2",
            "INSERT OR REPLACE INTO catalog_items \
             (tenant_id, item_id, name, category, price, url) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            tenant,
            items,
            CatalogItem::item_id,
            |write, item| {
                write.execute(params![
                    tenant,
                    item.item_id(),
                    item.name(),
                    item.category(),
                    item.price(),
                    item.url()
                ])
            },
        )
    }

    fn items(&self, tenant: &str, ids: &[String]) -> Result<Vec<CatalogItem>, StoreError> {
        check_lookup(ids)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.with(|connection| {
            let sql = format!(
                "SELECT item_id, name, category, price, url FROM catalog_items \
                 WHERE tenant_id = ?1 AND item_id IN ({}) ORDER BY item_id",
                placeholders(ids.len())
            );
            let mut query = connection.prepare(&sql).map_err(backend)?;
            let parameters = std::iter::once(tenant).chain(ids.iter().map(String::as_str));
            let rows = query
                .query_map(params_from_iter(parameters), item_row)
                .map_err(backend)?;
            rows.map(|row| stored(row.map_err(backend)?)).collect()
        })
    }

    fn list_items(
        &self,
        tenant: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<CatalogItem>, StoreError> {
        self.with(|connection| {
            let mut query = connection
                .prepare_cached(
                    "SELECT item_id, name, category, price, url FROM catalog_items \
                     WHERE tenant_id = ?1 AND item_id > ?2 ORDER BY item_id LIMIT ?3",
                )
                .map_err(backend)?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let rows = query
                .query_map(params![tenant, after.unwrap_or(""), limit], item_row)
                .map_err(backend)?;
            rows.map(|row| stored(row.map_err(backend)?)).collect()
        })
    }

    fn count_items(&self, tenant: &str) -> Result<u64, StoreError> {
        self.with(|connection| {
            connection
                .query_row(
                    "SELECT count(*) FROM catalog_items WHERE tenant_id = ?1",
                    [tenant],
                    |row| row.get::<_, i64>(0),
                )
                .map(|n| n as u64)
                .map_err(backend)
        })
    }

    fn delete_items(&self, tenant: &str, ids: &[String]) -> Result<usize, StoreError> {
        delete(self, "catalog_items", "item_id", tenant, ids)
    }

    fn upsert_scenarios(
        &self,
        tenant: &str,
        scenarios: &[Scenario],
    ) -> Result<Upserted, StoreError> {
        self.upsert_rows(
            "SELECT 1 FROM catalog_scenarios WHERE tenant_id = ?1 AND scenario_id = ?2",
            "INSERT OR REPLACE INTO catalog_scenarios \
             (tenant_id, scenario_id, name, description) VALUES (?1, ?2, ?3, ?4)",
            tenant,
            scenarios,
            Scenario::scenario_id,
            |write, scenario| {
                write.execute(params![
                    tenant,
                    scenario.scenario_id(),
                    scenario.name(),
                    scenario.description()
                ])
            },
        )
    }

    fn scenarios(&self, tenant: &str) -> Result<Vec<Scenario>, StoreError> {
        self.with(|connection| {
            let mut query = connection
                .prepare_cached(
                    "SELECT scenario_id, name, description FROM catalog_scenarios \
                     WHERE tenant_id = ?1 ORDER BY scenario_id",
                )
                .map_err(backend)?;
            let rows = query
                .query_map([tenant], |row| {
                    Ok(ScenarioFields {
                        scenario_id: row.get(0)?,
                        name: row.get(1)?,
                        description: row.get(2)?,
                    })
                })
                .map_err(backend)?;
            rows.map(|row| stored(row.map_err(backend)?)).collect()
        })
    }

    fn delete_scenarios(&self, tenant: &str, ids: &[String]) -> Result<usize, StoreError> {
        delete(self, "catalog_scenarios", "scenario_id", tenant, ids)
    }
}

fn delete(
    store: &SqliteCatalogStore,
    table: &str,
    id_column: &str,
    tenant: &str,
    ids: &[String],
) -> Result<usize, StoreError> {
    check_lookup(ids)?;
    if ids.is_empty() {
        return Ok(0);
    }
    store.with(|connection| {
        let sql = format!(
            "DELETE FROM {table} WHERE tenant_id = ?1 AND {id_column} IN ({})",
            placeholders(ids.len())
        );
        let parameters = std::iter::once(tenant).chain(ids.iter().map(String::as_str));
        connection
            .execute(&sql, params_from_iter(parameters))
            .map_err(backend)
    })
}

/// The behaviour every `CatalogStore` backend must have, on an empty store.
pub fn conformance(store: &dyn CatalogStore) {
    let item = |id: &str, name: &str, price: Option<f64>| {
        CatalogItem::new(ItemFields {
            item_id: Some(id.into()),
            name: Some(name.into()),
            category: Some("shoes".into()),
            price,
            url: Some(format!("https://shop.example/{id}")),
        })
        .unwrap()
    };
    let ids = |items: Vec<CatalogItem>| {
        items
            .iter()
            .map(|i| i.item_id().to_string())
            .collect::<Vec<_>>()
    };
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    let first = store
        .upsert_items(
            "t1",
            &[
                item("b", "Bee", Some(2.5)),
                item("a", "Ant", None),
                item("c", "Cat", Some(0.0)),
            ],
        )
        .unwrap();
    assert_eq!(
        first,
        Upserted {
            inserted: 3,
            updated: 0
        }
    );
    store
        .upsert_items("t2", &[item("a", "Other tenant's ant", None)])
        .unwrap();
    // Writing again replaces: the import can be repeated.
    let again = store
        .upsert_items(
            "t1",
            &[item("b", "Bumblebee", Some(3.0)), item("d", "Dog", None)],
        )
        .unwrap();
    assert_eq!(
        again,
        Upserted {
            inserted: 1,
            updated: 1
        }
    );

    let found = store
        .items("t1", &strings(&["d", "b", "nope", "a"]))
        .unwrap();
    assert_eq!(ids(found.clone()), ["a", "b", "d"]);
    assert_eq!(
        found[1],
        item("b", "Bumblebee", Some(3.0)),
        "every field kept"
    );
    assert_eq!(
        store.items("t2", &strings(&["a"])).unwrap()[0].name(),
        "Other tenant's ant"
    );
    assert!(store.items("t3", &strings(&["a"])).unwrap().is_empty());
    assert!(store.items("t1", &[]).unwrap().is_empty());
    let too_many = vec!["x".to_string(); MAX_LOOKUP + 1];
    assert!(matches!(
        store.items("t1", &too_many),
        Err(StoreError::Invalid(_))
    ));

    assert_eq!(ids(store.list_items("t1", None, 2).unwrap()), ["a", "b"]);
    assert_eq!(
        ids(store.list_items("t1", Some("b"), 10).unwrap()),
        ["c", "d"]
    );
    assert_eq!(store.count_items("t1").unwrap(), 4);
    assert_eq!(store.count_items("t3").unwrap(), 0);

    assert_eq!(
        store.delete_items("t1", &strings(&["a", "zzz"])).unwrap(),
        1
    );
    assert_eq!(store.count_items("t1").unwrap(), 3);
    assert_eq!(
        store.count_items("t2").unwrap(),
        1,
        "other tenants untouched"
    );

    let scenario = |id: &str, name: &str, description: Option<&str>| {
        Scenario::new(ScenarioFields {
            scenario_id: Some(id.into()),
            name: Some(name.into()),
            description: description.map(str::to_string),
        })
        .unwrap()
    };
    let written = store
        .upsert_scenarios(
            "t1",
            &[
                scenario("home", "Home feed", Some("The first screen")),
                scenario("cart", "Cart", None),
            ],
        )
        .unwrap();
    assert_eq!(written.inserted, 2);
    store
        .upsert_scenarios("t1", &[scenario("cart", "Cart page", None)])
        .unwrap();
    assert_eq!(
        store.scenarios("t1").unwrap(),
        [
            scenario("cart", "Cart page", None),
            scenario("home", "Home feed", Some("The first screen"))
        ]
    );
    assert!(store.scenarios("t2").unwrap().is_empty());
    assert_eq!(
        store.delete_scenarios("t1", &strings(&["cart"])).unwrap(),
        1
    );
    assert_eq!(store.scenarios("t1").unwrap().len(), 1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_passes_the_conformance_suite() {
        let dir = std::env::temp_dir().join(format!("recoscope-catalog-{}", uuid::Uuid::new_v4()));
        let store = SqliteCatalogStore::open(&dir.join("config.sqlite3")).unwrap();
        conformance(&store);
        drop(store);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
