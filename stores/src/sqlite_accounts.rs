//! The embedded `AccountStore`: tables beside the tenants in the configuration store's
//! SQLite file, so a membership's tenant is a foreign key.

use crate::accounts::{AccountStore, Invitation, Membership, Role, Session, User};
use crate::StoreError;
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::path::Path;
use std::sync::Mutex;

const SCHEMA: &str = "PRAGMA foreign_keys = ON;
    CREATE TABLE IF NOT EXISTS tenants (
        id TEXT PRIMARY KEY,
        origins TEXT NOT NULL DEFAULT '[]'
    );
    CREATE TABLE IF NOT EXISTS users (
        email TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        failed_sign_ins INTEGER NOT NULL DEFAULT 0,
        locked_until INTEGER
    );
    CREATE TABLE IF NOT EXISTS memberships (
        email TEXT NOT NULL REFERENCES users(email),
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        role TEXT NOT NULL,
        PRIMARY KEY (email, tenant_id)
    );
    CREATE INDEX IF NOT EXISTS memberships_tenant ON memberships(tenant_id);
    CREATE TABLE IF NOT EXISTS sessions (
        digest TEXT PRIMARY KEY,
        email TEXT NOT NULL,
        tenant_id TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS sessions_email ON sessions(email);
    CREATE TABLE IF NOT EXISTS invitations (
        digest TEXT PRIMARY KEY,
        email TEXT NOT NULL,
        tenant_id TEXT NOT NULL,
        role TEXT NOT NULL,
        invited_by TEXT NOT NULL,
        expires_at INTEGER NOT NULL
    );";

pub struct SqliteAccountStore {
    connection: Mutex<Connection>,
}

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl SqliteAccountStore {
    /// Opens (creating if needed) the account tables in the configuration store at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(SqliteAccountStore {
            connection: Mutex::new(crate::open_sqlite(path, SCHEMA)?),
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

/// A statement that must change one row, else `what` was not there.
fn one_row(changed: usize, what: impl FnOnce() -> String) -> Result<(), StoreError> {
    if changed == 0 {
        Err(StoreError::NotFound(what()))
    } else {
        Ok(())
    }
}

fn membership(row: &Row) -> rusqlite::Result<(String, String, String)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
}

fn memberships_where(
    c: &Connection,
    condition: &str,
    value: &str,
) -> Result<Vec<Membership>, StoreError> {
    let mut statement = c
        .prepare(&format!(
            "SELECT email, tenant_id, role FROM memberships WHERE {condition} = ?1 \
             ORDER BY tenant_id, email"
        ))
        .map_err(backend)?;
    let rows = statement
        .query_map([value], membership)
        .map_err(backend)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(backend)?;
    rows.into_iter()
        .map(|(email, tenant_id, role)| {
            Ok(Membership {
                email,
                tenant_id,
                role: Role::parse(&role)?,
            })
        })
        .collect()
}

impl AccountStore for SqliteAccountStore {
    fn create_user(&self, user: &User) -> Result<(), StoreError> {
        self.with(|c| {
            let inserted = c
                .execute(
                    "INSERT OR IGNORE INTO users \
                     (email, password_hash, created_at, failed_sign_ins, locked_until) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        user.email,
                        user.password_hash,
                        user.created_at,
                        user.failed_sign_ins,
                        user.locked_until
                    ],
                )
                .map_err(backend)?;
            if inserted == 0 {
                return Err(StoreError::Conflict(format!("user {:?}", user.email)));
            }
            Ok(())
        })
    }

    fn user(&self, email: &str) -> Result<Option<User>, StoreError> {
        self.with(|c| {
            c.query_row(
                "SELECT email, password_hash, created_at, failed_sign_ins, locked_until \
                 FROM users WHERE email = ?1",
                [email],
                |row| {
                    Ok(User {
                        email: row.get(0)?,
                        password_hash: row.get(1)?,
                        created_at: row.get(2)?,
                        failed_sign_ins: row.get(3)?,
                        locked_until: row.get(4)?,
                    })
                },
            )
            .optional()
            .map_err(backend)
        })
    }

    fn set_password(&self, email: &str, password_hash: &str) -> Result<(), StoreError> {
        self.with(|c| {
            let changed = c
                .execute(
                    "UPDATE users SET password_hash = ?2, failed_sign_ins = 0, \
                     locked_until = NULL WHERE email = ?1",
                    params![email, password_hash],
                )
                .map_err(backend)?;
            one_row(changed, || format!("user {email:?}"))
        })
    }

    fn add_failed_sign_in(&self, email: &str) -> Result<u32, StoreError> {
        self.with(|c| {
            c.query_row(
                "UPDATE users SET failed_sign_ins = failed_sign_ins + 1 WHERE email = ?1 \
                 RETURNING failed_sign_ins",
                [email],
                |row| row.get(0),
            )
            .optional()
            .map_err(backend)?
            .ok_or_else(|| StoreError::NotFound(format!("user {email:?}")))
        })
    }

    fn set_lock(&self, email: &str, locked_until: Option<i64>) -> Result<(), StoreError> {
        self.with(|c| {
            let changed = c
                .execute(
                    "UPDATE users SET locked_until = ?2, failed_sign_ins = 0 WHERE email = ?1",
                    params![email, locked_until],
                )
                .map_err(backend)?;
            one_row(changed, || format!("user {email:?}"))
        })
    }

    fn set_role(&self, email: &str, tenant_id: &str, role: Role) -> Result<(), StoreError> {
        self.with(|c| {
            let exists = |sql: &str, value: &str| {
                c.query_row(sql, [value], |_| Ok(()))
                    .optional()
                    .map(|found| found.is_some())
                    .map_err(backend)
            };
            if !exists("SELECT 1 FROM users WHERE email = ?1", email)? {
                return Err(StoreError::NotFound(format!("user {email:?}")));
            }
            if !exists("SELECT 1 FROM tenants WHERE id = ?1", tenant_id)? {
                return Err(StoreError::NotFound(format!("tenant {tenant_id:?}")));
            }
            c.execute(
                "INSERT INTO memberships (email, tenant_id, role) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (email, tenant_id) DO UPDATE SET role = excluded.role",
                params![email, tenant_id, role.as_str()],
            )
            .map_err(backend)?;
            Ok(())
        })
    }

    fn remove_member(&self, email: &str, tenant_id: &str) -> Result<(), StoreError> {
        self.with(|c| {
            let changed = c
                .execute(
                    "DELETE FROM memberships WHERE email = ?1 AND tenant_id = ?2",
                    params![email, tenant_id],
                )
                .map_err(backend)?;
            one_row(changed, || format!("member {email:?} of {tenant_id:?}"))
        })
    }

    fn memberships(&self, email: &str) -> Result<Vec<Membership>, StoreError> {
        self.with(|c| memberships_where(c, "email", email))
    }

    fn members(&self, tenant_id: &str) -> Result<Vec<Membership>, StoreError> {
        self.with(|c| memberships_where(c, "tenant_id", tenant_id))
    }

    fn put_session(&self, session: &Session) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT OR REPLACE INTO sessions \
                 (digest, email, tenant_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    session.digest,
                    session.email,
                    session.tenant_id,
                    session.created_at,
                    session.expires_at
                ],
            )
            .map_err(backend)?;
            Ok(())
        })
    }

    fn session(&self, digest: &str) -> Result<Option<Session>, StoreError> {
        self.with(|c| {
            c.query_row(
                "SELECT digest, email, tenant_id, created_at, expires_at FROM sessions \
                 WHERE digest = ?1",
                [digest],
                |row| {
                    Ok(Session {
                        digest: row.get(0)?,
                        email: row.get(1)?,
                        tenant_id: row.get(2)?,
                        created_at: row.get(3)?,
                        expires_at: row.get(4)?,
                    })
                },
            )
            .optional()
            .map_err(backend)
        })
    }

    fn delete_session(&self, digest: &str) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute("DELETE FROM sessions WHERE digest = ?1", [digest])
                .map_err(backend)?;
            Ok(())
        })
    }

    fn delete_sessions_of(&self, email: &str, keep: Option<&str>) -> Result<u64, StoreError> {
        self.with(|c| {
            let ended = c
                .execute(
                    "DELETE FROM sessions WHERE email = ?1 AND digest IS NOT ?2",
                    params![email, keep],
                )
                .map_err(backend)?;
            Ok(ended as u64)
        })
    }

    fn put_invitation(&self, invitation: &Invitation) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO invitations \
                 (digest, email, tenant_id, role, invited_by, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    invitation.digest,
                    invitation.email,
                    invitation.tenant_id,
                    invitation.role.as_str(),
                    invitation.invited_by,
                    invitation.expires_at
                ],
            )
            .map_err(backend)?;
            Ok(())
        })
    }

    fn take_invitation(&self, digest: &str) -> Result<Option<Invitation>, StoreError> {
        self.with(|c| {
            let row = c
                .query_row(
                    "DELETE FROM invitations WHERE digest = ?1 \
                     RETURNING digest, email, tenant_id, role, invited_by, expires_at",
                    [digest],
                    |row| {
                        Ok((
                            row.get::<_, String>(0)?,
                            row.get::<_, String>(1)?,
                            row.get::<_, String>(2)?,
                            row.get::<_, String>(3)?,
                            row.get::<_, String>(4)?,
                            row.get::<_, i64>(5)?,
                        ))
                    },
                )
                .optional()
                .map_err(backend)?;
            row.map(|(digest, email, tenant_id, role, invited_by, expires_at)| {
                Ok(Invitation {
                    digest,
                    email,
                    tenant_id,
                    role: Role::parse(&role)?,
                    invited_by,
                    expires_at,
                })
            })
            .transpose()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::SqliteStore;
    use crate::TenantStore;

    #[test]
    fn sqlite_passes_the_account_conformance_suite() {
        let dir = std::env::temp_dir().join(format!("recoscope-accts-{}", uuid::Uuid::new_v4()));
        let path = dir.join("config.sqlite3");
        let tenants = SqliteStore::open(&path).unwrap();
        tenants.create_tenant("acme").unwrap();
        tenants.create_tenant("beta").unwrap();
        crate::accounts::conformance::run(&SqliteAccountStore::open(&path).unwrap());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
