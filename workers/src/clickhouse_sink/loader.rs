//! `ClickHouseLoader`: one batch into `user_behaviors`, at most once per event (why: its
//! `load`); the fence, the duplicate lookup and the bad-row isolation it uses live beside it.

use super::bad_rows::{insert_isolating_bad_rows, Inserted};
use super::duplicates::{self, event_key, PresentEvents, RecentEvents};
use super::fence;
use super::{ClickHouseTarget, Shard, VIEW_FAILURE_PAUSE};
use crate::batch::Source;
use crate::retry::{retry, Retry};
use crate::row::BehaviorRow;
use recoscope_clickhouse::{ClickHouse, ClickHouseError};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
/// Writes rows to `user_behaviors` at most once per event (the "service" of the sink).
pub struct ClickHouseLoader {
    /// One server, or a cluster's shards in order (a partition's rows go to
    /// `shards[partition % shards.len()]`).
    shards: Vec<Shard>,
    inserted: Mutex<RecentEvents>,
    /// How long after a partition came to this loader all its messages are looked up.
    resend_grace: Duration,
    /// When each partition came, (topic, partition) → instant.
    arrived: Mutex<HashMap<(String, i32), Instant>>,
}

impl ClickHouseLoader {
    /// `recent_events`: how many inserted events to remember for dropping clients' resends
    /// (`SINK_RECENT_IDS`).
    pub fn new(clickhouse: ClickHouse, recent_events: usize) -> Self {
        Self::to(ClickHouseTarget::Single(clickhouse), recent_events)
    }

    /// A loader writing to `target`: one server or a cluster's shards.
    pub fn to(target: ClickHouseTarget, recent_events: usize) -> Self {
        ClickHouseLoader {
            shards: target.shards(),
            inserted: Mutex::new(RecentEvents::new(recent_events)),
            resend_grace: Duration::ZERO,
            arrived: Mutex::new(HashMap::new()),
        }
    }

    /// After a partition comes to this loader, every message of it is looked up by event id
    /// for `grace` (`SINK_RESEND_GRACE_SECS`), not only those below the fence: a client's
    /// resend of an event the previous owner inserted (the API died between the broker's
    /// ack and its answer) arrives at a new offset, above the fence, and this loader's memory
    /// of recent events does not know it.
    pub fn with_resend_grace(mut self, grace: Duration) -> Self {
        self.resend_grace = grace;
        self
    }

    /// Partitions of `topic` came to this loader now.
    pub fn arrived(&self, topic: &str, partitions: &[i32]) {
        let now = Instant::now();
        let mut arrived = self.arrived.lock().unwrap_or_else(|e| e.into_inner());
        for p in partitions {
            arrived.insert((topic.to_string(), *p), now);
        }
    }

    /// The partitions that came to this loader less than the grace ago, read once per batch.
    fn in_grace(&self) -> HashMap<String, HashSet<i32>> {
        let mut in_grace: HashMap<String, HashSet<i32>> = HashMap::new();
        if self.resend_grace.is_zero() {
            return in_grace;
        }
        let now = Instant::now();
        let arrived = self.arrived.lock().unwrap_or_else(|e| e.into_inner());
        for ((topic, partition), at) in arrived.iter() {
            if now.duration_since(*at) < self.resend_grace {
                in_grace
                    .entry(topic.clone())
                    .or_default()
                    .insert(*partition);
            }
        }
        in_grace
    }

    /// Loads `rows` (each with the message it came from, and a value `T` that comes back
    /// with the rows ClickHouse refused as bad data, and the reason). `None` when shutdown
    /// came while ClickHouse was unavailable: nothing should be committed then.
    ///
    /// **Why nothing is counted twice.** An event is identified by `(tenant_id, event_id)`;
    /// one loader at a time owns a Kafka partition and reads it in order (revocations wait
    /// for the delivery in flight: [`super::consumer`]).
    /// 1. Before inserting, the loader raises the partition's *fence* (`sink_fence`) to the
    ///    batch's highest offset: a write-ahead record, so whatever crash comes later, every
    ///    offset that reached `user_behaviors` is at or below the fence.
    /// 2. A message above the fence therefore cannot be in ClickHouse: no lookup. A message
    ///    at or below it is a redelivery (a crash between insert and commit, a rebalance, a
    ///    partial insert): its event is looked up by id in the hours the batch covers, and
    ///    skipped if present. So the lookup runs only after a crash or rebalance, instead of
    ///    reading a whole hour of ids for every batch.
    /// 3. Repeats inside a batch keep their first copy; a client's resend of an event this
    ///    loader inserted lately (the same event id at a later offset) is dropped from memory
    ///    ([`RecentEvents`]); for a while after a partition came to this loader, every
    ///    message of it is looked up, so resends of what its predecessor inserted are caught
    ///    too ([`ClickHouseLoader::with_resend_grace`]).
    ///
    /// The rollups are fed by materialized views on inserts into the raw table, so they see
    /// each event once too.
    ///
    /// In a cluster the rows are split by shard (each partition has its shard) and each
    /// shard's share goes through all of the above on that shard; a shard that fails stops
    /// the batch, and the shards done before it skip their rows when it comes again.
    pub async fn load<T: Send>(
        &self,
        rows: Vec<(Source, BehaviorRow, T)>,
        shutdown: &CancellationToken,
    ) -> Option<Vec<(T, String)>> {
        if self.shards.len() == 1 {
            return self.load_on(&self.shards[0], rows, shutdown).await;
        }
        let mut shares: Vec<Vec<(Source, BehaviorRow, T)>> =
            self.shards.iter().map(|_| Vec::new()).collect();
        for row in rows {
            let shard = row.0.partition.unsigned_abs() as usize % self.shards.len();
            shares[shard].push(row);
        }
        let mut refused = Vec::new();
        for (shard, share) in self.shards.iter().zip(shares) {
            refused.extend(self.load_on(shard, share, shutdown).await?);
        }
        Some(refused)
    }

    /// [`ClickHouseLoader::load`] on one server or shard.
    async fn load_on<T: Send>(
        &self,
        shard: &Shard,
        rows: Vec<(Source, BehaviorRow, T)>,
        shutdown: &CancellationToken,
    ) -> Option<Vec<(T, String)>> {
        if rows.is_empty() {
            return Some(Vec::new());
        }
        let fence = retry(shutdown, "fence read", || async {
            fence::read(shard, &rows)
                .await
                .map_err(|e| Retry::Again(e.to_string()))
        })
        .await
        .ok()?;
        let in_grace = self.in_grace();
        let redelivered: Vec<&BehaviorRow> = rows
            .iter()
            .filter(|(source, _, _)| {
                fence.covers(source)
                    || in_grace
                        .get(&source.topic)
                        .is_some_and(|partitions| partitions.contains(&source.partition))
            })
            .map(|(_, row, _)| row)
            .collect();
        let present = if redelivered.is_empty() {
            PresentEvents::default()
        } else {
            metrics::counter!("recoscope_sink_rows_looked_up_total")
                .increment(redelivered.len() as u64);
            retry(shutdown, "duplicate lookup", || async {
                duplicates::present(shard, &redelivered)
                    .await
                    .map_err(|e| Retry::Again(e.to_string()))
            })
            .await
            .ok()?
        };
        drop(redelivered);
        // One pass, borrowing the keys: keep an event's first copy unless ClickHouse holds
        // it already or this loader inserted it lately.
        // Each row's hash for the memory of recent events, computed once.
        let hashes: Vec<u64> = rows.iter().map(|(_, row, _)| event_key(row)).collect();
        let keep: Vec<bool> = {
            let inserted = self.inserted.lock().unwrap_or_else(|e| e.into_inner());
            let mut seen: HashSet<(&str, &str)> = HashSet::with_capacity(rows.len());
            rows.iter()
                .zip(&hashes)
                .map(|((_, row, _), hash)| {
                    let key = (row.tenant_id.as_str(), row.event_id.as_str());
                    seen.insert(key) && !present.contains(&key) && !inserted.contains(*hash)
                })
                .collect()
        };
        retry(shutdown, "fence write", || async {
            fence::raise(shard, &rows)
                .await
                .map_err(|e| Retry::Again(e.to_string()))
        })
        .await
        .ok()?;
        let total = rows.len();
        let (fresh, keys): (Vec<(BehaviorRow, T)>, Vec<u64>) = rows
            .into_iter()
            .zip(hashes)
            .zip(keep)
            .filter_map(|(((_, row, value), hash), keep)| keep.then_some(((row, value), hash)))
            .unzip();
        if fresh.len() < total {
            metrics::counter!("recoscope_sink_duplicates_skipped_total")
                .increment((total - fresh.len()) as u64);
        }
        let mut refused = Vec::new();
        let mut pending = fresh;
        loop {
            match insert_isolating_bad_rows(shard, pending, &mut refused, shutdown).await {
                Inserted::Done => break,
                Inserted::Shutdown => return None,
                Inserted::ViewFailed { rows, error } => {
                    pending = self
                        .after_view_failure(shard, rows, error, shutdown)
                        .await?;
                }
            }
        }
        let refused_keys: HashSet<u64> = refused.iter().map(|(row, _, _)| event_key(row)).collect();
        self.inserted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(keys.into_iter().filter(|key| !refused_keys.contains(key)));
        Some(
            refused
                .into_iter()
                .map(|(_, value, reason)| (value, reason))
                .collect(),
        )
    }

    /// A materialized view failed after ClickHouse wrote (part of) `rows` to the raw table.
    /// Inserting them again would count them twice, and they are not bad data: the rows
    /// now in the raw table are kept as they are (the rollups miss them until the view is
    /// fixed and they are rebuilt), the others are returned to insert again. Each attempt
    /// writes at least one more block, so this ends.
    async fn after_view_failure<T: Send>(
        &self,
        shard: &Shard,
        rows: Vec<(BehaviorRow, T)>,
        error: ClickHouseError,
        shutdown: &CancellationToken,
    ) -> Option<Vec<(BehaviorRow, T)>> {
        tracing::error!(
            %error,
            table = shard.raw_table,
            "a materialized view on the raw table fails: raw events are kept once, but the rollups \
             miss them until the view is fixed"
        );
        metrics::counter!("recoscope_sink_view_failures_total").increment(1);
        let keys: Vec<&BehaviorRow> = rows.iter().map(|(row, _)| row).collect();
        let present = retry(shutdown, "lookup after a view failure", || async {
            duplicates::present(shard, &keys)
                .await
                .map_err(|e| Retry::Again(e.to_string()))
        })
        .await
        .ok()?;
        drop(keys);
        let (written, missing): (Vec<_>, Vec<_>) = rows.into_iter().partition(|(row, _)| {
            present.contains(&(row.tenant_id.as_str(), row.event_id.as_str()))
        });
        metrics::counter!("recoscope_sink_rows_inserted_total").increment(written.len() as u64);
        if written.is_empty() {
            // Nothing got in this time: wait before trying again, as for an outage.
            tokio::select! {
                _ = shutdown.cancelled() => return None,
                _ = tokio::time::sleep(VIEW_FAILURE_PAUSE) => {}
            }
        }
        Some(missing)
    }
}
