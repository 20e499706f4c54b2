//! Raw-event retention: `user_behaviors` and its per-event copy for the funnel,
//! `funnel_events`, keep `RAW_RETENTION_DAYS` (90) days of events; the rollups keep everything.
//!
//! Works the same on ClickHouse 18.16 (no TTL) and on current releases: the raw tables are
//! partitioned by day (`toYYYYMMDD(event_time)`), so expiry drops whole partitions older
//! than the cutoff, which is cheap (files removed, nothing rewritten) and leaves the
//! materialized rollups untouched. The worker runs it at boot and then every hour.
//!
//! Where the server has table TTL (19.6 and later), the worker also sets the same window as
//! the raw tables' TTL at boot ([`ensure_ttl`]), so rows expire even while no worker runs;
//! dropping partitions stays as the immediate, cheap path on every version.

use recoscope_clickhouse::{ClickHouse, ClickHouseError, Query};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The tables of single events, each partitioned by `toYYYYMMDD(event_time)`.
const RAW_TABLES: [&str; 2] = ["user_behaviors", "funnel_events"];
/// Their names on each node of a cluster (the replicated tables under the `Distributed` ones).
const LOCAL_RAW_TABLES: [&str; 2] = ["user_behaviors_local", "funnel_events_local"];

/// A server whose raw tables expire: the single server, or one node of a cluster (dropping
/// a partition of a replicated table drops it on every replica of the shard; the other
/// replicas then find nothing to drop).
#[derive(Debug, Clone)]
pub struct RawTables {
    clickhouse: ClickHouse,
    names: [&'static str; 2],
}

impl RawTables {
    pub fn single(clickhouse: ClickHouse) -> Self {
        RawTables {
            clickhouse,
            names: RAW_TABLES,
        }
    }

    pub fn cluster_node(clickhouse: ClickHouse) -> Self {
        RawTables {
            clickhouse,
            names: LOCAL_RAW_TABLES,
        }
    }
}
const EVERY: Duration = Duration::from_secs(3600);

/// Drops the raw tables' daily partitions that end before `keep_days` days before
/// `today_yyyymmdd` (a partition of day D is dropped when D < today − keep_days). Returns the
/// days dropped (from any of the tables), as `YYYYMMDD`.
pub async fn drop_expired(
    clickhouse: &ClickHouse,
    keep_days: u32,
    today: chrono::NaiveDate,
) -> Result<Vec<u32>, ClickHouseError> {
    drop_expired_in(&RawTables::single(clickhouse.clone()), keep_days, today).await
}

/// [`drop_expired`] on `target`'s raw tables.
pub async fn drop_expired_in(
    target: &RawTables,
    keep_days: u32,
    today: chrono::NaiveDate,
) -> Result<Vec<u32>, ClickHouseError> {
    let (clickhouse, tables) = (&target.clickhouse, target.names);
    #[derive(serde::Deserialize)]
    struct Part {
        table: String,
        partition: String,
    }
    let cutoff = today - chrono::Days::new(u64::from(keep_days));
    let cutoff: u32 = cutoff
        .format("%Y%m%d")
        .to_string()
        .parse()
        .expect("a date formats as digits");
    let parts: Vec<Part> = clickhouse
        .fetch(
            Query::new(
                "SELECT DISTINCT table, partition FROM system.parts \
                 WHERE database = currentDatabase() AND table IN (?, ?) AND active",
            )
            .bind(tables[0])
            .bind(tables[1]),
        )
        .await?;
    let mut dropped = Vec::new();
    for table in tables {
        let mut expired: Vec<u32> = parts
            .iter()
            .filter(|part| part.table == table)
            .filter_map(|part| part.partition.trim_matches('\'').parse().ok())
            .filter(|day| *day < cutoff)
            .collect();
        expired.sort_unstable();
        for day in expired {
            // The partition is named by its key's value, a number, and the table is ours:
            // no user input reaches here.
            clickhouse
                .execute(Query::new(format!(
                    "ALTER TABLE {table} DROP PARTITION {day}"
                )))
                .await?;
            tracing::info!(table, partition = day, "dropped expired raw events");
            metrics::counter!("recoscope_retention_partitions_dropped_total").increment(1);
            dropped.push(day);
        }
    }
    dropped.sort_unstable();
    dropped.dedup();
    Ok(dropped)
}

/// The first release with table TTL (`ALTER TABLE … MODIFY TTL`).
const TTL_SINCE: (u32, u32) = (19, 6);

/// Whether a server reporting `version()` (e.g. `18.16.1`, `24.8.4.13`) has table TTL.
pub fn supports_ttl(version: &str) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) >= TTL_SINCE,
        _ => false,
    }
}

/// The TTL clause for `keep_days`, as the server prints it back in `engine_full`.
fn ttl_clause(keep_days: u32) -> String {
    format!("TTL event_time + toIntervalDay({keep_days})")
}

/// Sets the raw tables' TTL to `keep_days` where the server supports it and it is not
/// already so (changing a TTL rewrites parts, so it is not repeated at every boot). Returns
/// whether the table has that TTL now.
pub async fn ensure_ttl(clickhouse: &ClickHouse, keep_days: u32) -> Result<bool, ClickHouseError> {
    ensure_ttl_in(&RawTables::single(clickhouse.clone()), keep_days).await
}

/// [`ensure_ttl`] on `target`'s raw tables.
pub async fn ensure_ttl_in(target: &RawTables, keep_days: u32) -> Result<bool, ClickHouseError> {
    let clickhouse = &target.clickhouse;
    #[derive(serde::Deserialize)]
    struct Version {
        version: String,
    }
    #[derive(serde::Deserialize)]
    struct Engine {
        engine_full: String,
    }
    let server: Version = clickhouse
        .fetch_one(Query::new("SELECT version() AS version"))
        .await?;
    if !supports_ttl(&server.version) {
        return Ok(false);
    }
    let clause = ttl_clause(keep_days);
    for table in target.names {
        let engine: Engine = clickhouse
            .fetch_one(
                Query::new(
                    "SELECT engine_full FROM system.tables \
                     WHERE database = currentDatabase() AND name = ?",
                )
                .bind(table),
            )
            .await?;
        if !engine.engine_full.contains(&clause) {
            // `keep_days` is a validated number: nothing else reaches the statement.
            clickhouse
                .execute(Query::new(format!(
                    "ALTER TABLE {table} MODIFY TTL event_time + INTERVAL {keep_days} DAY"
                )))
                .await?;
            tracing::info!(table, keep_days, "raw events now expire by TTL as well");
        }
    }
    Ok(true)
}

/// Sets the TTL where supported ([`ensure_ttl`]), then runs [`drop_expired`] now and every
/// hour until `shutdown`, on every target (each node of a cluster); failures are logged and
/// tried again at the next round, a node that is down does not hold the others up.
pub async fn run(targets: Vec<RawTables>, keep_days: u32, shutdown: CancellationToken) {
    for target in &targets {
        if let Err(error) = ensure_ttl_in(target, keep_days).await {
            tracing::warn!(
                %error,
                server = target.clickhouse.current_url(),
                "could not set the raw tables' TTL; partitions are still dropped"
            );
        }
    }
    loop {
        let today = chrono::Utc::now().date_naive();
        for target in &targets {
            if let Err(error) = drop_expired_in(target, keep_days, today).await {
                tracing::warn!(
                    %error,
                    server = target.clickhouse.current_url(),
                    "raw-event retention failed; next try in an hour"
                );
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(EVERY) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_is_offered_from_19_6() {
        for (version, has) in [
            ("18.16.1", false),
            ("19.5.3.8", false),
            ("19.6.2.11", true),
            ("20.3.1", true),
            ("24.8.4.13", true),
            ("garbage", false),
        ] {
            assert_eq!(supports_ttl(version), has, "{version}");
        }
        assert_eq!(ttl_clause(90), "TTL event_time + toIntervalDay(90)");
    }
}
