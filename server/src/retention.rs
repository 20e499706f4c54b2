//! Raw-event retention: `user_behaviors` keeps `RAW_RETENTION_DAYS` (90) days of events, the
//! rollups keep everything.
//!
//! Works the same on ClickHouse 18.16 (no TTL) and on current releases: the raw table is
//! partitioned by day (`toYYYYMMDD(event_time)`), so expiry drops whole partitions older
//! than the cutoff, which is cheap (files removed, nothing rewritten) and leaves the
//! materialized rollups untouched. The worker runs it at boot and then every hour.

use recoscope_clickhouse::{ClickHouse, ClickHouseError, Query};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const TABLE: &str = "user_behaviors";
const EVERY: Duration = Duration::from_secs(3600);

/// Drops the raw table's daily partitions that end before `keep_days` days before
/// `today_yyyymmdd` (a partition of day D is dropped when D < today − keep_days). Returns the
/// partitions dropped, as `YYYYMMDD`.
pub async fn drop_expired(
    clickhouse: &ClickHouse,
    keep_days: u32,
    today: chrono::NaiveDate,
) -> Result<Vec<u32>, ClickHouseError> {
    #[derive(serde::Deserialize)]
    struct Part {
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
                "SELECT DISTINCT partition FROM system.parts \
                 WHERE database = currentDatabase() AND table = ? AND active",
            )
            .bind(TABLE),
        )
        .await?;
    let mut expired: Vec<u32> = parts
        .iter()
        .filter_map(|part| part.partition.trim_matches('\'').parse().ok())
        .filter(|day| *day < cutoff)
        .collect();
    expired.sort_unstable();
    for day in &expired {
        // The partition is named by its key's value, a number: no user input reaches here.
        clickhouse
            .execute(Query::new(format!(
                "ALTER TABLE {TABLE} DROP PARTITION {day}"
            )))
            .await?;
        tracing::info!(partition = day, "dropped expired raw events");
        metrics::counter!("recoscope_retention_partitions_dropped_total").increment(1);
    }
    Ok(expired)
}

/// Runs [`drop_expired`] now and every hour until `shutdown`; failures are logged and tried
/// again at the next round.
pub async fn run(clickhouse: ClickHouse, keep_days: u32, shutdown: CancellationToken) {
    loop {
        let today = chrono::Utc::now().date_naive();
        if let Err(error) = drop_expired(&clickhouse, keep_days, today).await {
            tracing::warn!(%error, "raw-event retention failed; next try in an hour");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(EVERY) => {}
        }
    }
}
