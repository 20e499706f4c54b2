//! The ClickHouse loader: a member of consumer group `clickhouse-sink` (configurable).
//!
//! Loop: read messages into a [`Batch`] until it holds `SINK_MAX_ROWS` rows or
//! `SINK_MAX_BYTES` bytes, or its first message is `SINK_MAX_WAIT_MS` old; then
//! 1. produce what cannot be decoded to the dead-letter topic;
//! 2. load the rows ([`ClickHouseLoader`]): without the events ClickHouse already holds, in
//!    one insert, retrying transient failures with jittered backoff; rows ClickHouse refuses
//!    as bad data are isolated by splitting and go to the dead-letter topic too;
//! 3. commit the offsets.
//!
//! Offsets never move before ClickHouse (or the dead-letter topic) took every message, so a
//! crash or an outage delays data but never loses it. Why a redelivered batch is not counted
//! twice is explained on [`ClickHouseLoader::load`].
//!
//! Rebalance: partitions taken away are dropped from the pending batch (their offsets were
//! not committed, so their new owner reads them again); shutdown writes and commits what the
//! batch holds.

use super::batch::{Batch, Limits, Offsets, Source};
use super::dead_letter::{DeadLetter, DeadLetters};
use super::row::BehaviorRow;
use crate::config::Config;
use crate::kafka::client_config;
use futures::future::BoxFuture;
use futures::FutureExt;
use rand::Rng;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::message::Message;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use recoscope_clickhouse::{ClickHouse, ClickHouseError, Query, SqlValue};
use recoscope_core::BehaviorRecord;
use std::collections::HashSet;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const TABLE: &str = "user_behaviors";
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A consumed message: a row to load (with the message, for the dead-letter topic should
/// ClickHouse refuse it) or a letter that is already dead.
pub enum Consumed {
    Row(Box<BehaviorRow>, DeadLetter),
    Dead(DeadLetter),
}

/// Records the partitions a rebalance takes away, for the loop to drop from its batch.
#[derive(Default)]
struct SinkContext {
    revoked: Mutex<Vec<(String, i32)>>,
}

impl ClientContext for SinkContext {}

impl ConsumerContext for SinkContext {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            let mut revoked = self.revoked.lock().unwrap_or_else(|e| e.into_inner());
            for element in list.elements() {
                revoked.push((element.topic().to_string(), element.partition()));
            }
        }
    }
}

pub struct ClickHouseSink {
    consumer: StreamConsumer<SinkContext>,
    loader: ClickHouseLoader,
    dead_letters: DeadLetters,
    limits: Limits,
}

impl ClickHouseSink {
    pub fn new(config: &Config, clickhouse: ClickHouse) -> anyhow::Result<Self> {
        let consumer: StreamConsumer<SinkContext> = client_config(&config.kafka_brokers)
            .set("group.id", &config.sink_group_id)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "10000")
            .create_with_context(SinkContext::default())?;
        consumer.subscribe(&[&config.kafka_topic])?;
        Ok(ClickHouseSink {
            consumer,
            loader: ClickHouseLoader::new(clickhouse),
            dead_letters: DeadLetters::new(config)?,
            limits: Limits {
                max_rows: config.sink_max_rows,
                max_bytes: config.sink_max_bytes,
                max_wait: Duration::from_millis(config.sink_max_wait_ms),
            },
        })
    }

    /// Runs until `shutdown` is cancelled, then writes and commits what it holds.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let mut batch: Batch<Consumed> = Batch::new(self.limits);
        loop {
            let deadline = batch.deadline();
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = sleep => {}
                message = self.consumer.recv() => match message {
                    Ok(m) => {
                        let source = Source {
                            topic: m.topic().to_string(),
                            partition: m.partition(),
                            offset: m.offset(),
                        };
                        let payload = m.payload().unwrap_or_default().to_vec();
                        let letter = DeadLetter {
                            source: source.clone(),
                            key: m.key().map(<[u8]>::to_vec),
                            payload,
                            reason: String::new(),
                        };
                        batch.push(source, letter.payload.len(), decode(letter));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "kafka consume error");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                },
            }
            let revoked = std::mem::take(
                &mut *self
                    .consumer
                    .context()
                    .revoked
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()),
            );
            batch.drop_partitions(&revoked);
            if batch.is_due() && !self.flush(&mut batch, &shutdown).await {
                break;
            }
        }
        if !batch.is_empty() {
            // Drain: one last write without waiting for shutdown to be lifted.
            self.flush(&mut batch, &CancellationToken::new()).await;
        }
        Ok(())
    }

    /// Loads and commits the batch. Returns false when shutdown interrupted the retries (the
    /// offsets stay uncommitted and the messages will be read again).
    async fn flush(&self, batch: &mut Batch<Consumed>, shutdown: &CancellationToken) -> bool {
        let (items, offsets) = batch.take();
        let mut dead = Vec::new();
        let mut rows = Vec::with_capacity(items.len());
        for (_, consumed) in items {
            match consumed {
                Consumed::Row(row, message) => rows.push((*row, message)),
                Consumed::Dead(letter) => dead.push(letter),
            }
        }
        let count = rows.len();
        let Some(refused) = self.loader.load(rows, shutdown).await else {
            return false;
        };
        dead.extend(refused.into_iter().map(|(mut letter, reason)| {
            letter.reason = reason;
            letter
        }));
        if !dead.is_empty() {
            let sent = retry(shutdown, "dead-letter produce", || {
                let dead = &dead;
                async move { self.dead_letters.send(dead).await.map_err(Retry::Again) }
            })
            .await;
            if sent.is_err() {
                return false;
            }
            tracing::warn!(
                messages = dead.len(),
                topic = self.dead_letters.topic(),
                "messages sent to the dead-letter topic"
            );
        }
        metrics::counter!("recoscope_sink_batches_total").increment(1);
        match self.commit(&offsets) {
            Ok(()) => {
                tracing::debug!(rows = count, "batch loaded and committed");
                true
            }
            Err(e) => {
                // The rows are in ClickHouse but the offsets did not move: they will be
                // delivered again after a restart or rebalance, and skipped then.
                tracing::error!(error = %e, "offset commit failed");
                metrics::counter!("recoscope_sink_commit_failures_total").increment(1);
                true
            }
        }
    }

    fn commit(&self, offsets: &Offsets) -> rdkafka::error::KafkaResult<()> {
        let mut list = TopicPartitionList::new();
        for ((topic, partition), offset) in offsets {
            list.add_partition_offset(topic, *partition, Offset::Offset(offset + 1))?;
        }
        self.consumer.commit(&list, CommitMode::Sync)
    }
}

/// A message → a row, or a dead letter saying why not.
pub fn decode(mut message: DeadLetter) -> Consumed {
    match serde_json::from_slice::<BehaviorRecord>(&message.payload) {
        Ok(record) => Consumed::Row(Box::new(BehaviorRow::from(record)), message),
        Err(e) => {
            metrics::counter!("recoscope_sink_undecodable_messages_total").increment(1);
            message.reason = format!("undecodable: {e}");
            Consumed::Dead(message)
        }
    }
}

enum Retry {
    Again(String),
}

/// Runs `attempt` until it succeeds, backing off with jitter; `Err(())` only on shutdown.
async fn retry<T, F, Fut>(shutdown: &CancellationToken, what: &str, mut attempt: F) -> Result<T, ()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Retry>>,
{
    let mut backoff = Duration::from_millis(100);
    loop {
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(Retry::Again(error)) => {
                let wait = backoff.mul_f64(rand::thread_rng().gen_range(0.5..1.5));
                tracing::warn!(%error, retry_in_ms = wait.as_millis() as u64, "{what} failed, retrying");
                metrics::counter!("recoscope_sink_retries_total").increment(1);
                tokio::select! {
                    _ = shutdown.cancelled() => return Err(()),
                    _ = tokio::time::sleep(wait) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Writes rows to `user_behaviors` at most once per event (the "service" of the sink).
pub struct ClickHouseLoader {
    clickhouse: ClickHouse,
}

impl ClickHouseLoader {
    pub fn new(clickhouse: ClickHouse) -> Self {
        ClickHouseLoader { clickhouse }
    }

    /// Loads `rows`, each carrying a value `T` that comes back with the rows ClickHouse
    /// refused as bad data (and the reason). `None` when shutdown came while ClickHouse was
    /// unavailable: nothing should be committed then.
    ///
    /// **Why nothing is counted twice.** An event is identified by `(tenant_id, event_id)`;
    /// events with one key all go to one Kafka partition (the message key is tenant/user), so
    /// one loader at a time handles them, in order. Before inserting, the loader drops the
    /// batch's repeats of an event and asks ClickHouse which of the batch's events it already
    /// holds (by the primary-key prefix tenant, scenario, hour plus event id, so the lookup
    /// reads only the granules of those hours), and inserts only the others. A batch delivered
    /// again after a crash between insert and commit, a partial insert, or a client's resend
    /// of an accepted event all find their rows present and add nothing. The rollups are fed
    /// by materialized views on inserts into the raw table, so they see each event once too.
    /// The one window left is two loaders writing the same partition at once, which the
    /// rebalance handling above prevents (a revoked partition's rows are dropped, not written).
    pub async fn load<T: Send>(
        &self,
        rows: Vec<(BehaviorRow, T)>,
        shutdown: &CancellationToken,
    ) -> Option<Vec<(T, String)>> {
        let mut seen = HashSet::new();
        let rows: Vec<(BehaviorRow, T)> = rows
            .into_iter()
            .filter(|(row, _)| seen.insert((row.tenant_id.clone(), row.event_id.clone())))
            .collect();
        if rows.is_empty() {
            return Some(Vec::new());
        }
        let present = retry(shutdown, "duplicate lookup", || async {
            self.present(&rows)
                .await
                .map_err(|e| Retry::Again(e.to_string()))
        })
        .await
        .ok()?;
        let fresh: Vec<(BehaviorRow, T)> = rows
            .into_iter()
            .filter(|(row, _)| !present.contains(&(row.tenant_id.clone(), row.event_id.clone())))
            .collect();
        let skipped = seen.len() - fresh.len();
        if skipped > 0 {
            metrics::counter!("recoscope_sink_duplicates_skipped_total").increment(skipped as u64);
        }
        let mut refused = Vec::new();
        if insert_isolating_bad_rows(&self.clickhouse, fresh, &mut refused, shutdown).await {
            Some(refused)
        } else {
            None
        }
    }

    /// Which of these events ClickHouse already holds, as (tenant, event id).
    async fn present<T>(
        &self,
        rows: &[(BehaviorRow, T)],
    ) -> Result<HashSet<(String, String)>, ClickHouseError> {
        #[derive(serde::Deserialize)]
        struct Key {
            tenant_id: String,
            event_id: String,
        }
        let keys: Vec<SqlValue> = rows
            .iter()
            .map(|(row, _)| {
                let hour = (row.event_ts_ms / 1000 / 3600 * 3600) as i64;
                SqlValue::Tuple(vec![
                    row.tenant_id.as_str().into(),
                    row.scenario_id.as_str().into(),
                    SqlValue::DateTime(hour),
                    row.event_id.as_str().into(),
                ])
            })
            .collect();
        let query = Query::new(format!(
            "SELECT tenant_id, event_id FROM {TABLE} \
             WHERE (tenant_id, scenario_id, toStartOfHour(event_time), event_id) IN ?"
        ))
        .bind(SqlValue::Tuple(keys))
        // The key list is part of the statement: allow a full batch of it.
        .setting("max_query_size", 256 << 20);
        let found: Vec<Key> = self.clickhouse.fetch(query).await?;
        Ok(found
            .into_iter()
            .map(|k| (k.tenant_id, k.event_id))
            .collect())
    }
}

/// Inserts `rows`, retrying transient failures; on a permanent rejection splits the rows
/// until each refused row is alone, and puts it in `refused` with ClickHouse's reason.
/// Returns false only if shutdown came while ClickHouse was down.
fn insert_isolating_bad_rows<'a, T: Send + 'a>(
    ch: &'a ClickHouse,
    mut rows: Vec<(BehaviorRow, T)>,
    refused: &'a mut Vec<(T, String)>,
    shutdown: &'a CancellationToken,
) -> BoxFuture<'a, bool> {
    async move {
        if rows.is_empty() {
            return true;
        }
        let plain: Vec<&BehaviorRow> = rows.iter().map(|(row, _)| row).collect();
        let outcome = retry(shutdown, "insert", || async {
            match ch.insert(TABLE, &plain).await {
                Ok(()) => Ok(Ok(())),
                Err(e) if e.is_retryable() => Err(Retry::Again(e.to_string())),
                Err(e) => Ok(Err(e)),
            }
        })
        .await;
        match outcome {
            Err(()) => false,
            Ok(Ok(())) => {
                metrics::counter!("recoscope_sink_rows_inserted_total")
                    .increment(rows.len() as u64);
                true
            }
            Ok(Err(error)) if rows.len() == 1 => {
                let (row, value) = rows.remove(0);
                tracing::error!(%error, event_id = %row.event_id, "row refused by ClickHouse");
                metrics::counter!("recoscope_sink_rows_rejected_total").increment(1);
                refused.push((value, format!("refused by ClickHouse: {error}")));
                true
            }
            Ok(Err(_)) => {
                let second = rows.split_off(rows.len() / 2);
                insert_isolating_bad_rows(ch, rows, refused, shutdown).await
                    && insert_isolating_bad_rows(ch, second, refused, shutdown).await
            }
        }
    }
    .boxed()
}
