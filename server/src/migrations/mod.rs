//! ClickHouse migrations: the numbered files in `sql/`, compiled into the binary, applied in
//! order and recorded in `schema_migrations` so each runs once.
//!
//! A file may hold several statements separated by `;` at the end of a line. Statements use
//! `IF NOT EXISTS` (and backfills guard themselves), so a migration interrupted halfway can
//! run again from its start. One process migrates at a time (a lock table). A migration
//! that was edited after it was applied is reported (checksum mismatch) instead of silently
//! diverging.

mod cluster;

pub use cluster::{migrate_cluster, Placement};

use recoscope_clickhouse::{ClickHouse, ClickHouseError, Query, SqlValue};
use serde::Deserialize;
use std::time::{Duration, Instant};
use thiserror::Error;

pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// A migration from its file in `sql/`; its version is the number the file name starts with.
macro_rules! migration {
    ($file:literal) => {
        Migration {
            version: version_of($file),
            name: $file,
            sql: include_str!(concat!("../../../sql/", $file)),
        }
    };
}

/// The number a migration's file name starts with (`0009_….sql` → 9); a name without one
/// fails the build.
const fn version_of(name: &str) -> u32 {
    let bytes = name.as_bytes();
    let mut i = 0;
    let mut version = 0;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        version = version * 10 + (bytes[i] - b'0') as u32;
        i += 1;
    }
    assert!(i > 0, "a migration file name starts with its version");
    version
}

/// Every migration, in order. `every_sql_file_is_listed` keeps this in step with `sql/`.
pub const MIGRATIONS: &[Migration] = &[
    migration!("0001_user_behaviors.sql"),
    migration!("0002_metrics_hourly.sql"),
    migration!("0003_sink_fence.sql"),
    migration!("0004_metrics_daily.sql"),
    migration!("0005_item_stats_daily.sql"),
    migration!("0006_rollup_states.sql"),
    migration!("0007_dwell_action.sql"),
    migration!("0008_drop_dead_rollups.sql"),
    migration!("0009_breakdowns_and_funnel_sample.sql"),
];

#[derive(Debug, Error)]
pub enum MigrationError {
    #[error("migration {name}: {source}")]
    Statement {
        name: &'static str,
        source: ClickHouseError,
    },
    #[error("migration {name} was changed after it was applied (checksum {applied} != {current})")]
    Changed {
        name: &'static str,
        applied: String,
        current: String,
    },
    #[error(
        "another process has been migrating this database for 15 minutes (table \
         {LOCK_TABLE}); if none is, drop that table"
    )]
    Locked,
    #[error("ClickHouse cluster: {0}")]
    Cluster(String),
    #[error(transparent)]
    ClickHouse(#[from] ClickHouseError),
}

/// FNV-1a over the file: stable across builds and platforms, enough to notice an edit.
fn checksum(sql: &str) -> String {
    let mut hash: u64 = 0xcbf29ce484222325;
    for byte in sql.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x100000001b3);
    }
    format!("{hash:016x}")
}

/// Splits a file into statements, dropping comment-only pieces.
pub fn statements(sql: &str) -> Vec<String> {
    sql.split(";\n")
        .map(|s| {
            s.lines()
                .filter(|l| !l.trim_start().starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n")
                .trim()
                .trim_end_matches(';')
                .to_string()
        })
        .filter(|s| !s.is_empty())
        .collect()
}

#[derive(Deserialize)]
struct Applied {
    version: u32,
    checksum: String,
}

/// Creates the database if needed and applies what has not run yet. Returns the versions
/// applied now.
pub async fn migrate(ch: &ClickHouse) -> Result<Vec<u32>, MigrationError> {
    migrate_to(ch, u32::MAX).await
}

/// What `config` asks for: the one server's database, or every node of the cluster
/// ([`migrate_cluster`]; then no versions are returned).
pub async fn migrate_configured(
    config: &crate::config::Config,
) -> Result<Vec<u32>, MigrationError> {
    if config.clickhouse.cluster.is_empty() {
        migrate(&ClickHouse::new(config.clickhouse())?).await
    } else {
        migrate_cluster(&config.clickhouse.cluster, &config.clickhouse_nodes()).await?;
        Ok(Vec::new())
    }
}

/// [`migrate`], up to and including version `last` (upgrade tests start from an old schema).
///
/// One process at a time: every role migrates at boot, and two processes copying the same
/// history at once would count it twice. ClickHouse has no locks, but creating a table is
/// atomic, so the process that creates [`LOCK_TABLE`] migrates while the others wait, then
/// find the work done.
pub async fn migrate_to(ch: &ClickHouse, last: u32) -> Result<Vec<u32>, MigrationError> {
    migrate_on(ch, &Placement::Single, last).await
}

/// [`migrate_to`] with each statement placed for the server it runs on.
pub async fn migrate_on(
    ch: &ClickHouse,
    placement: &Placement,
    last: u32,
) -> Result<Vec<u32>, MigrationError> {
    let db = ch.database().to_string();
    ch.execute_on_server(Query::new(format!("CREATE DATABASE IF NOT EXISTS {db}")))
        .await?;
    // A restart of an up-to-date database (the common case, and a crash loop's) needs no
    // lock: nothing to apply, and a lock left by a killed migrator cannot hold it up.
    if !pending(&applied_migrations(ch).await?, last)? {
        return Ok(Vec::new());
    }
    acquire_lock(ch).await?;
    let heartbeat = tokio::spawn(hold_lock(ch.clone()));
    let outcome = apply(ch, placement, last).await;
    heartbeat.abort();
    let released = ch
        .execute(Query::new(format!("DROP TABLE IF EXISTS {LOCK_TABLE}")))
        .await;
    let ran = outcome?;
    released?;
    Ok(ran)
}

/// The versions and checksums applied so far (none before the first migration).
async fn applied_migrations(ch: &ClickHouse) -> Result<Vec<Applied>, MigrationError> {
    match ch
        .fetch(Query::new(
            "SELECT version, checksum FROM schema_migrations",
        ))
        .await
    {
        Ok(applied) => Ok(applied),
        Err(e) if e.code() == Some(UNKNOWN_TABLE) => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

/// Whether a migration up to `last` has not run yet; an applied one that was edited since is
/// an error.
fn pending(applied: &[Applied], last: u32) -> Result<bool, MigrationError> {
    let mut pending = false;
    for migration in MIGRATIONS.iter().filter(|m| m.version <= last) {
        let current = checksum(migration.sql);
        match applied.iter().find(|a| a.version == migration.version) {
            Some(done) if done.checksum != current => {
                return Err(MigrationError::Changed {
                    name: migration.name,
                    applied: done.checksum.clone(),
                    current,
                })
            }
            Some(_) => {}
            None => pending = true,
        }
    }
    Ok(pending)
}

/// Shows the lock is held by a live migrator: a row with the time every few seconds, so a
/// migrator that died (SIGKILL during its start-up) is recognised within [`LOCK_STALE`].
async fn hold_lock(ch: ClickHouse) {
    loop {
        let beat = format!("INSERT INTO {LOCK_TABLE} VALUES (now())");
        if let Err(error) = ch.execute(Query::new(beat)).await {
            tracing::warn!(%error, "migration lock heartbeat failed");
        }
        tokio::time::sleep(LOCK_BEAT).await;
    }
}

/// The table whose existence means "a process is migrating this database".
pub const LOCK_TABLE: &str = "schema_migrations_lock";
/// How long a process waits for another's migration before giving up.
const LOCK_WAIT: Duration = Duration::from_secs(15 * 60);
/// A lock whose last heartbeat is this old was left by a migrator that died; it is taken
/// over.
const LOCK_STALE: Duration = Duration::from_secs(30);
/// How often a migrator shows it is alive.
const LOCK_BEAT: Duration = Duration::from_secs(3);
/// ClickHouse's "table already exists".
const TABLE_ALREADY_EXISTS: u32 = 57;
/// ClickHouse's "table doesn't exist".
const UNKNOWN_TABLE: u32 = 60;

async fn acquire_lock(ch: &ClickHouse) -> Result<(), MigrationError> {
    #[derive(Deserialize)]
    struct Age {
        secs: i64,
    }
    let started = Instant::now();
    loop {
        let create = format!("CREATE TABLE {LOCK_TABLE} (since DateTime('UTC')) ENGINE = Log");
        match ch.execute(Query::new(create)).await {
            Ok(_) => return Ok(()),
            Err(e) if e.code() == Some(TABLE_ALREADY_EXISTS) => {}
            Err(e) => return Err(e.into()),
        }
        // The last heartbeat, or the table's creation while its creator had not written
        // one yet.
        let age: Vec<Age> = ch
            .fetch(
                Query::new(format!(
                    "SELECT toInt64(now()) - greatest( \
                       (SELECT toInt64(max(since)) FROM {LOCK_TABLE}), \
                       (SELECT toInt64(metadata_modification_time) FROM system.tables \
                        WHERE database = currentDatabase() AND name = ?)) AS secs"
                ))
                .bind(LOCK_TABLE),
            )
            .await
            .unwrap_or_default();
        if age
            .first()
            .is_some_and(|a| a.secs > LOCK_STALE.as_secs() as i64)
        {
            // Renaming is atomic: of several waiters, one moves the dead lock away and the
            // others find it gone (or a new, live one) on their next try.
            let aside = format!("{LOCK_TABLE}_dead_{}", uuid::Uuid::new_v4().simple());
            let renamed = ch
                .execute(Query::new(format!("RENAME TABLE {LOCK_TABLE} TO {aside}")))
                .await;
            if renamed.is_ok() {
                tracing::warn!(
                    "took over a migration lock whose holder stopped beating {LOCK_STALE:?} ago"
                );
                ch.execute(Query::new(format!("DROP TABLE IF EXISTS {aside}")))
                    .await?;
            }
            continue;
        }
        if started.elapsed() > LOCK_WAIT {
            return Err(MigrationError::Locked);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Applies what has not run yet, under the lock.
async fn apply(
    ch: &ClickHouse,
    placement: &Placement,
    last: u32,
) -> Result<Vec<u32>, MigrationError> {
    ch.execute(Query::new(
        "CREATE TABLE IF NOT EXISTS schema_migrations \
         (version UInt32, name String, checksum String, applied_at DateTime('UTC')) \
         ENGINE = TinyLog",
    ))
    .await?;
    let applied: Vec<Applied> = ch
        .fetch(Query::new(
            "SELECT version, checksum FROM schema_migrations",
        ))
        .await?;

    let mut ran = Vec::new();
    for migration in MIGRATIONS.iter().filter(|m| m.version <= last) {
        let current = checksum(migration.sql);
        if let Some(done) = applied.iter().find(|a| a.version == migration.version) {
            if done.checksum != current {
                return Err(MigrationError::Changed {
                    name: migration.name,
                    applied: done.checksum.clone(),
                    current,
                });
            }
            continue;
        }
        for statement in statements(migration.sql) {
            for placed in placement.place(&statement, ch.database()) {
                ch.execute(Query::new(placed)).await.map_err(|source| {
                    MigrationError::Statement {
                        name: migration.name,
                        source,
                    }
                })?;
            }
        }
        ch.execute(
            Query::new("INSERT INTO schema_migrations VALUES (?, ?, ?, now())")
                .bind(migration.version)
                .bind(migration.name)
                .bind(SqlValue::Str(current)),
        )
        .await?;
        tracing::info!(migration = migration.name, "applied");
        ran.push(migration.version);
    }
    Ok(ran)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sql_file_is_listed_in_order() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../sql");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|f| f.ends_with(".sql"))
            .collect();
        files.sort();
        let listed: Vec<&str> = MIGRATIONS.iter().map(|m| m.name).collect();
        assert_eq!(files, listed);
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1);
            assert!(m.name.starts_with(&format!("{:04}_", m.version)));
        }
    }

    #[test]
    fn files_split_into_statements_without_comments() {
        let parts =
            statements("-- a comment\nCREATE TABLE a (x UInt8) ENGINE = Log;\n\n-- b\nSELECT 1\n");
        assert_eq!(
            parts,
            vec!["CREATE TABLE a (x UInt8) ENGINE = Log", "SELECT 1"]
        );
        assert_eq!(statements(MIGRATIONS[1].sql).len(), 2);
    }

    #[test]
    fn checksums_change_with_the_text() {
        assert_eq!(checksum("a"), checksum("a"));
        assert_ne!(checksum("a"), checksum("b"));
    }
}
