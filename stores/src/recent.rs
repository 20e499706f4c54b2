//! Recent behaviour per user, kept 7 days (the original design's MongoDB `interactions`
//! collection with a TTL index).
//!
//! - [`RecentStore`]: the trait; [`SqliteRecentStore`]: the embedded default.
//!
//! The ingest API never writes here: the `recent-behaviour` consumer group
//! (`pipeline::recent_feed`) feeds it from the topic, so an outage of this store delays it
//! but never blocks or loses ingest.

use super::StoreError;
use recoscope_core::BehaviorRecord;
use rusqlite::{params, Connection};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

/// How long behaviour is kept.
pub const RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

pub trait RecentStore: Send + Sync + 'static {
    fn record(&self, records: &[BehaviorRecord]) -> Result<(), StoreError>;
    /// The user's events received after `since_ms`, newest first.
    fn recent(
        &self,
        tenant: &str,
        user: &str,
        since_ms: i64,
        limit: usize,
    ) -> Result<Vec<BehaviorRecord>, StoreError>;
    /// Removes what was received before `before_ms`; returns how many.
    fn purge_before(&self, before_ms: i64) -> Result<usize, StoreError>;
}

pub struct SqliteRecentStore {
    connection: Mutex<Connection>,
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl SqliteRecentStore {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let connection = super::open_sqlite(
            path,
            "PRAGMA synchronous = NORMAL;
                 CREATE TABLE IF NOT EXISTS recent (
                     tenant_id TEXT NOT NULL,
                     user_id TEXT NOT NULL,
                     event_id TEXT NOT NULL,
                     event_time INTEGER NOT NULL,
                     received_at INTEGER NOT NULL,
                     record TEXT NOT NULL,
                     PRIMARY KEY (tenant_id, user_id, event_id)
                 );
                 CREATE INDEX IF NOT EXISTS recent_by_user
                     ON recent(tenant_id, user_id, event_time);
                 CREATE INDEX IF NOT EXISTS recent_by_age ON recent(received_at);",
        )?;
        Ok(SqliteRecentStore {
            connection: Mutex::new(connection),
        })
    }
}

impl RecentStore for SqliteRecentStore {
    fn record(&self, records: &[BehaviorRecord]) -> Result<(), StoreError> {
        let mut connection = self.connection.lock().map_err(backend)?;
        let tx = connection.transaction().map_err(backend)?;
        {
            // A redelivered event replaces itself: the key is (tenant, user, event id).
            let mut insert = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO recent \
                     (tenant_id, user_id, event_id, event_time, received_at, record) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(backend)?;
            for r in records {
                let json = serde_json::to_string(r).map_err(backend)?;
                insert
                    .execute(params![
                        r.tenant_id,
                        r.event.user_id.as_str(),
                        r.event_id,
                        r.event_time_ms(),
                        r.received_at,
                        json
                    ])
                    .map_err(backend)?;
            }
        }
        tx.commit().map_err(backend)
    }

    fn recent(
        &self,
        tenant: &str,
        user: &str,
        since_ms: i64,
        limit: usize,
    ) -> Result<Vec<BehaviorRecord>, StoreError> {
        let connection = self.connection.lock().map_err(backend)?;
        let mut query = connection
            .prepare_cached(
                "SELECT record FROM recent WHERE tenant_id = ?1 AND user_id = ?2 \
                 AND received_at >= ?3 ORDER BY event_time DESC, event_id DESC LIMIT ?4",
            )
            .map_err(backend)?;
        let rows = query
            .query_map(params![tenant, user, since_ms, limit as i64], |row| {
                row.get::<_, String>(0)
            })
            .map_err(backend)?;
        rows.map(|json| serde_json::from_str(&json.map_err(backend)?).map_err(backend))
            .collect()
    }

    fn purge_before(&self, before_ms: i64) -> Result<usize, StoreError> {
        let connection = self.connection.lock().map_err(backend)?;
        connection
            .execute("DELETE FROM recent WHERE received_at < ?1", [before_ms])
            .map_err(backend)
    }
}

/// The behaviour every `RecentStore` backend must have, on an empty store.
pub fn conformance(store: &dyn RecentStore) {
    use recoscope_core::{ActionType, Event, UnixMillis};
    let record = |tenant: &str, user: &str, id: &str, t: i64, received: i64| {
        let mut e = Event::new("home", user, format!("item-{id}"), ActionType::View).unwrap();
        e.timestamp = UnixMillis::new(t).ok();
        BehaviorRecord::new(tenant, e, received, || id.to_string())
    };
    let now = 1_800_000_000_000;
    store
        .record(&[
            record("t1", "u1", "a", now - 3000, now - 3000),
            record("t1", "u1", "b", now - 1000, now - 1000),
            record("t1", "u2", "c", now - 2000, now - 2000),
            record("t2", "u1", "d", now - 500, now - 500),
            record("t1", "u1", "old", now - 10_000_000, now - 10_000_000),
        ])
        .unwrap();
    // Redelivery of the same event does not duplicate it.
    store
        .record(&[record("t1", "u1", "b", now - 1000, now - 1000)])
        .unwrap();

    let ids = |v: Vec<BehaviorRecord>| v.into_iter().map(|r| r.event_id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.recent("t1", "u1", now - 5000, 10).unwrap()),
        ["b", "a"]
    );
    assert_eq!(ids(store.recent("t1", "u1", now - 5000, 1).unwrap()), ["b"]);
    assert_eq!(
        ids(store.recent("t1", "u1", 0, 10).unwrap()),
        ["b", "a", "old"]
    );
    assert_eq!(ids(store.recent("t2", "u1", 0, 10).unwrap()), ["d"]);
    assert!(store.recent("t1", "nobody", 0, 10).unwrap().is_empty());
    let full = store.recent("t2", "u1", 0, 1).unwrap().remove(0);
    assert_eq!(full, record("t2", "u1", "d", now - 500, now - 500));

    assert_eq!(store.purge_before(now - 5000).unwrap(), 1);
    assert_eq!(ids(store.recent("t1", "u1", 0, 10).unwrap()), ["b", "a"]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_passes_the_conformance_suite() {
        let dir = std::env::temp_dir().join(format!("recoscope-recent-{}", uuid::Uuid::new_v4()));
        let store = SqliteRecentStore::open(&dir.join("recent.sqlite3")).unwrap();
        conformance(&store);
        drop(store);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
