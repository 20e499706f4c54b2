//! The insert that isolates bad rows: a batch ClickHouse refuses as bad data is split until
//! the refused rows are alone (they go to the dead-letter topic); a failing materialized view
//! is not bad data and is never split.

use super::Shard;
use crate::retry::{retry, Retry};
use crate::row::BehaviorRow;
use futures::future::BoxFuture;
use futures::FutureExt;
use recoscope_clickhouse::ClickHouseError;
use tokio_util::sync::CancellationToken;
/// How an insert ended.
pub(super) enum Inserted<T> {
    /// Every row is in (or refused as bad data).
    Done,
    /// Shutdown came while ClickHouse was down.
    Shutdown,
    /// A materialized view failed: ClickHouse had already written (some of) these rows to
    /// the raw table, so they are not bad data and must not be inserted blindly again.
    ViewFailed {
        rows: Vec<(BehaviorRow, T)>,
        error: ClickHouseError,
    },
}

/// Whether ClickHouse failed in a materialized view after writing the raw block: the row
/// data is fine, the schema is not (on 18.16 and current releases alike).
pub(super) fn is_view_failure(error: &ClickHouseError) -> bool {
    error.to_string().contains("while pushing to view")
}

/// Inserts `rows`, retrying transient failures; on a permanent rejection splits the rows
/// until each refused row is alone, and puts it in `refused` with ClickHouse's reason. A
/// failing materialized view stops it (see [`Inserted::ViewFailed`]): splitting would
/// write the raw rows again with every half.
pub(super) fn insert_isolating_bad_rows<'a, T: Send + 'a>(
    shard: &'a Shard,
    mut rows: Vec<(BehaviorRow, T)>,
    refused: &'a mut Vec<(BehaviorRow, T, String)>,
    shutdown: &'a CancellationToken,
) -> BoxFuture<'a, Inserted<T>> {
    async move {
        if rows.is_empty() {
            return Inserted::Done;
        }
        let plain: Vec<&BehaviorRow> = rows.iter().map(|(row, _)| row).collect();
        let outcome = retry(shutdown, "insert", || async {
            match shard
                .clickhouse
                .insert(shard.raw_table, plain.iter().copied())
                .await
            {
                Ok(()) => Ok(Ok(())),
                Err(e) if e.is_retryable() => Err(Retry::Again(e.to_string())),
                Err(e) => Ok(Err(e)),
            }
        })
        .await;
        drop(plain);
        match outcome {
            Err(()) => Inserted::Shutdown,
            Ok(Ok(())) => {
                metrics::counter!("recoscope_sink_rows_inserted_total")
                    .increment(rows.len() as u64);
                Inserted::Done
            }
            Ok(Err(error)) if is_view_failure(&error) => Inserted::ViewFailed { rows, error },
            Ok(Err(error)) if rows.len() == 1 => {
                let (row, value) = rows.remove(0);
                tracing::error!(%error, event_id = %row.event_id, "row refused by ClickHouse");
                metrics::counter!("recoscope_sink_rows_rejected_total").increment(1);
                refused.push((row, value, format!("refused by ClickHouse: {error}")));
                Inserted::Done
            }
            Ok(Err(_)) => {
                let second = rows.split_off(rows.len() / 2);
                match insert_isolating_bad_rows(shard, rows, refused, shutdown).await {
                    Inserted::Done => {
                        insert_isolating_bad_rows(shard, second, refused, shutdown).await
                    }
                    Inserted::Shutdown => Inserted::Shutdown,
                    Inserted::ViewFailed { mut rows, error } => {
                        rows.extend(second);
                        Inserted::ViewFailed { rows, error }
                    }
                }
            }
        }
    }
    .boxed()
}
