//! The embedded `TenantStore`: one SQLite file (WAL, busy timeout), safe to share between the
//! server and the CLI.

use super::{
    new_key, new_read_key, normalize_origins, read_key_digest, validate_tenant_id,
    validate_write_key, ReadKey, StoreError, Tenant, TenantStore, WriteKey,
};
use recoscope_core::clock::now_ms;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::Mutex;

pub struct SqliteStore {
    connection: Mutex<Connection>,
}

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl SqliteStore {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let connection = super::open_sqlite(
            path,
            "PRAGMA foreign_keys = ON;
                 CREATE TABLE IF NOT EXISTS tenants (
                     id TEXT PRIMARY KEY,
                     origins TEXT NOT NULL DEFAULT '[]'
                 );
                 CREATE TABLE IF NOT EXISTS write_keys (
                     key TEXT PRIMARY KEY,
                     tenant_id TEXT NOT NULL REFERENCES tenants(id),
                     created_at INTEGER NOT NULL,
                     revoked_at INTEGER
                 );
                 CREATE INDEX IF NOT EXISTS write_keys_tenant ON write_keys(tenant_id);
                 CREATE TABLE IF NOT EXISTS read_keys (
                     digest TEXT PRIMARY KEY,
                     tenant_id TEXT NOT NULL REFERENCES tenants(id),
                     created_at INTEGER NOT NULL,
                     revoked_at INTEGER
                 );",
        )?;
        Ok(SqliteStore {
            connection: Mutex::new(connection),
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let connection = self
            .connection
            .lock()
            .map_err(|_| StoreError::Backend("store lock poisoned".into()))?;
        f(&connection)
    }
}

fn read_tenant(c: &Connection, id: &str) -> Result<Option<Tenant>, StoreError> {
    c.query_row(
        "SELECT id, origins FROM tenants WHERE id = ?1",
        [id],
        |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)),
    )
    .optional()
    .map_err(backend)?
    .map(|(id, origins)| {
        Ok(Tenant {
            id,
            origins: serde_json::from_str(&origins)
                .map_err(|e| StoreError::Backend(format!("corrupt origins: {e}")))?,
        })
    })
    .transpose()
}

fn read_key(c: &Connection, key: &str) -> Result<Option<WriteKey>, StoreError> {
    c.query_row(
        "SELECT key, tenant_id, created_at, revoked_at FROM write_keys WHERE key = ?1",
        [key],
        |row| {
            Ok(WriteKey {
                key: row.get(0)?,
                tenant_id: row.get(1)?,
                created_at: row.get(2)?,
                revoked_at: row.get(3)?,
            })
        },
    )
    .optional()
    .map_err(backend)
}

fn require_tenant(c: &Connection, id: &str) -> Result<Tenant, StoreError> {
    read_tenant(c, id)?.ok_or_else(|| StoreError::NotFound(format!("tenant {id:?}")))
}

impl TenantStore for SqliteStore {
    fn create_tenant(&self, id: &str) -> Result<Tenant, StoreError> {
        validate_tenant_id(id)?;
        self.with(|c| {
            let inserted = c
                .execute("INSERT OR IGNORE INTO tenants (id) VALUES (?1)", [id])
                .map_err(backend)?;
            if inserted == 0 {
                return Err(StoreError::Conflict(format!("tenant {id:?}")));
            }
            require_tenant(c, id)
        })
    }

    fn tenant(&self, id: &str) -> Result<Option<Tenant>, StoreError> {
        self.with(|c| read_tenant(c, id))
    }

    fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        let ids: Vec<String> = self.with(|c| {
            let mut statement = c
                .prepare("SELECT id FROM tenants ORDER BY id")
                .map_err(backend)?;
            let ids = statement
                .query_map([], |row| row.get(0))
                .map_err(backend)?
                .collect::<Result<Vec<String>, _>>()
                .map_err(backend)?;
            Ok(ids)
        })?;
        ids.iter()
            .map(|id| {
                self.tenant(id)?
                    .ok_or_else(|| StoreError::NotFound(id.clone()))
            })
            .collect()
    }

    fn set_origins(&self, id: &str, origins: &[String]) -> Result<Tenant, StoreError> {
        let origins = normalize_origins(origins)?;
        let json = serde_json::to_string(&origins).expect("strings serialize");
        self.with(|c| {
            let updated = c
                .execute(
                    "UPDATE tenants SET origins = ?2 WHERE id = ?1",
                    params![id, json],
                )
                .map_err(backend)?;
            if updated == 0 {
                return Err(StoreError::NotFound(format!("tenant {id:?}")));
            }
            require_tenant(c, id)
        })
    }

    fn issue_key(&self, tenant_id: &str) -> Result<WriteKey, StoreError> {
        self.add_key(tenant_id, &new_key())
    }

    fn add_key(&self, tenant_id: &str, key: &str) -> Result<WriteKey, StoreError> {
        validate_write_key(key)?;
        self.with(|c| {
            require_tenant(c, tenant_id)?;
            if let Some(existing) = read_key(c, key)? {
                return if existing.tenant_id == tenant_id {
                    Ok(existing)
                } else {
                    Err(StoreError::Conflict("write key".into()))
                };
            }
            c.execute(
                "INSERT INTO write_keys (key, tenant_id, created_at) VALUES (?1, ?2, ?3)",
                params![key, tenant_id, now_ms()],
            )
            .map_err(backend)?;
            read_key(c, key)?.ok_or_else(|| StoreError::Backend("key vanished".into()))
        })
    }

    fn revoke_key(&self, key: &str) -> Result<(), StoreError> {
        self.with(|c| {
            let updated = c
                .execute(
                    "UPDATE write_keys SET revoked_at = ?2 WHERE key = ?1 AND revoked_at IS NULL",
                    params![key, now_ms()],
                )
                .map_err(backend)?;
            if updated == 0 && read_key(c, key)?.is_none() {
                return Err(StoreError::NotFound("write key".into()));
            }
            Ok(())
        })
    }

    fn keys(&self, tenant_id: &str) -> Result<Vec<WriteKey>, StoreError> {
        self.with(|c| {
            require_tenant(c, tenant_id)?;
            let mut statement = c
                .prepare(
                    "SELECT key, tenant_id, created_at, revoked_at FROM write_keys \
                     WHERE tenant_id = ?1 ORDER BY created_at, key",
                )
                .map_err(backend)?;
            let keys = statement
                .query_map([tenant_id], |row| {
                    Ok(WriteKey {
                        key: row.get(0)?,
                        tenant_id: row.get(1)?,
                        created_at: row.get(2)?,
                        revoked_at: row.get(3)?,
                    })
                })
                .map_err(backend)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(backend)?;
            Ok(keys)
        })
    }

    fn tenant_for_key(&self, key: &str) -> Result<Option<Tenant>, StoreError> {
        self.with(|c| match read_key(c, key)? {
            Some(k) if k.revoked_at.is_none() => read_tenant(c, &k.tenant_id),
            _ => Ok(None),
        })
    }

    fn issue_read_key(&self, tenant_id: &str) -> Result<ReadKey, StoreError> {
        let key = new_read_key();
        let created_at = now_ms();
        self.with(|c| {
            require_tenant(c, tenant_id)?;
            c.execute(
                "INSERT INTO read_keys (digest, tenant_id, created_at) VALUES (?1, ?2, ?3)",
                params![read_key_digest(&key), tenant_id, created_at],
            )
            .map_err(backend)?;
            Ok(ReadKey {
                key,
                tenant_id: tenant_id.to_string(),
                created_at,
            })
        })
    }

    fn revoke_read_key(&self, key: &str) -> Result<(), StoreError> {
        let digest = read_key_digest(key);
        self.with(|c| {
            let updated = c
                .execute(
                    "UPDATE read_keys SET revoked_at = ?2 WHERE digest = ?1",
                    params![digest, now_ms()],
                )
                .map_err(backend)?;
            if updated == 0 {
                return Err(StoreError::NotFound("read key".into()));
            }
            Ok(())
        })
    }

    fn tenant_for_read_key(&self, key: &str) -> Result<Option<Tenant>, StoreError> {
        let digest = read_key_digest(key);
        self.with(|c| {
            let tenant: Option<String> = c
                .query_row(
                    "SELECT tenant_id FROM read_keys WHERE digest = ?1 AND revoked_at IS NULL",
                    [digest],
                    |row| row.get(0),
                )
                .optional()
                .map_err(backend)?;
            match tenant {
                Some(id) => read_tenant(c, &id),
                None => Ok(None),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_passes_the_conformance_suite() {
        let dir = std::env::temp_dir().join(format!("recoscope-store-{}", uuid::Uuid::new_v4()));
        let store = SqliteStore::open(&dir.join("config.sqlite3")).unwrap();
        super::super::conformance::run(&store);
        // A second handle on the same file (the CLI beside the server) sees the same data.
        let other = SqliteStore::open(&dir.join("config.sqlite3")).unwrap();
        assert!(!other.list_tenants().unwrap().is_empty());
        drop((store, other));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
