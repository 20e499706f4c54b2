//! The ClickHouse loader: a member of consumer group `clickhouse-sink` (configurable).
//!
//! Loop: read messages into a [`super::batch::Batch`] until it holds `SINK_MAX_ROWS` rows or
//! `SINK_MAX_BYTES` bytes, or its first message is `SINK_MAX_WAIT_MS` old; then
//! 1. produce what cannot be decoded to the dead-letter topic;
//! 2. load the rows ([`ClickHouseLoader`]): without the events ClickHouse already holds, in
//!    one `RowBinary` insert, retrying transient failures with jittered backoff; rows
//!    ClickHouse refuses as bad data are isolated by splitting and go to the dead-letter topic
//!    too; a failing materialized view is not bad data and is never split (raw rows it let
//!    in are kept once);
//! 3. commit the offsets.
//!
//! Offsets never move before ClickHouse (or the dead-letter topic) took every message (the
//! shared loop in [`super::consumer`]), so a crash or an outage delays data but never loses
//! it. Why a redelivered batch is not counted twice is explained on
//! [`ClickHouseLoader::load`].

use super::batch::{Limits, Source};
use super::consumer::{self, BatchHandler};
use super::dead_letter::{DeadLetter, DeadLetters};
use super::retry::{retry, Retry};
use super::row::{datetime_text, BehaviorRow};
use crate::config::Config;
use futures::future::BoxFuture;
use futures::FutureExt;
use rdkafka::message::{BorrowedMessage, Message};
use recoscope_clickhouse::{
    ClickHouse, ClickHouseError, ExternalTable, Query, RowBinary, RowBinaryWriter, SqlValue,
};
use recoscope_core::BehaviorRecord;
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const TABLE: &str = "user_behaviors";
const FENCE_TABLE: &str = "sink_fence";
/// The pause before inserting again when a failing view let no row in.
const VIEW_FAILURE_PAUSE: Duration = Duration::from_secs(1);

/// A consumed message: a row to load (with the message, for the dead-letter topic should
/// ClickHouse refuse it) or a letter that is already dead.
pub enum Consumed {
    Row(Box<BehaviorRow>, DeadLetter),
    Dead(DeadLetter),
}

pub struct ClickHouseSink {
    loader: ClickHouseLoader,
    dead_letters: DeadLetters,
}

impl ClickHouseSink {
    /// Joins the loader's consumer group and runs until `shutdown`.
    pub async fn run(
        config: Config,
        clickhouse: ClickHouse,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let consumer = consumer::join(&config, &config.sink_group_id, &config.kafka_topic)?;
        let sink = ClickHouseSink {
            loader: ClickHouseLoader::new(clickhouse, config.sink_recent_ids)
                .with_resend_grace(Duration::from_secs(config.sink_resend_grace_secs)),
            dead_letters: DeadLetters::new(&config)?,
        };
        let limits = Limits {
            max_rows: config.sink_max_rows,
            max_bytes: config.sink_max_bytes,
            max_wait: Duration::from_millis(config.sink_max_wait_ms),
        };
        consumer::run(consumer, sink, limits, shutdown).await
    }

    async fn load(&self, items: Vec<(Source, Consumed)>, shutdown: &CancellationToken) -> bool {
        let mut dead = Vec::new();
        let mut rows = Vec::with_capacity(items.len());
        for (source, consumed) in items {
            match consumed {
                Consumed::Row(row, message) => rows.push((source, *row, message)),
                Consumed::Dead(letter) => dead.push(letter),
            }
        }
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
        true
    }
}

impl BatchHandler for ClickHouseSink {
    type Item = Consumed;

    fn assigned(&self, topic: &str, partitions: &[i32]) {
        self.loader.arrived(topic, partitions);
    }

    fn decode(&self, message: &BorrowedMessage<'_>) -> Consumed {
        decode(DeadLetter {
            source: Source {
                topic: message.topic().to_string(),
                partition: message.partition(),
                offset: message.offset(),
            },
            key: message.key().map(<[u8]>::to_vec),
            payload: message.payload().unwrap_or_default().to_vec(),
            reason: String::new(),
        })
    }

    fn deliver<'a>(
        &'a self,
        items: Vec<(Source, Consumed)>,
        shutdown: &'a CancellationToken,
    ) -> BoxFuture<'a, bool> {
        self.load(items, shutdown).boxed()
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

/// Writes rows to `user_behaviors` at most once per event (the "service" of the sink).
pub struct ClickHouseLoader {
    clickhouse: ClickHouse,
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
        ClickHouseLoader {
            clickhouse,
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
    pub async fn load<T: Send>(
        &self,
        rows: Vec<(Source, BehaviorRow, T)>,
        shutdown: &CancellationToken,
    ) -> Option<Vec<(T, String)>> {
        if rows.is_empty() {
            return Some(Vec::new());
        }
        let fence = retry(shutdown, "fence read", || async {
            self.fence(&rows)
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
                self.present(&redelivered)
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
            self.raise_fence(&rows)
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
            match insert_isolating_bad_rows(&self.clickhouse, pending, &mut refused, shutdown).await
            {
                Inserted::Done => break,
                Inserted::Shutdown => return None,
                Inserted::ViewFailed { rows, error } => {
                    pending = self.after_view_failure(rows, error, shutdown).await?;
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
        rows: Vec<(BehaviorRow, T)>,
        error: ClickHouseError,
        shutdown: &CancellationToken,
    ) -> Option<Vec<(BehaviorRow, T)>> {
        tracing::error!(
            %error,
            "a materialized view on {TABLE} fails: raw events are kept once, but the rollups \
             miss them until the view is fixed"
        );
        metrics::counter!("recoscope_sink_view_failures_total").increment(1);
        let keys: Vec<&BehaviorRow> = rows.iter().map(|(row, _)| row).collect();
        let present = retry(shutdown, "lookup after a view failure", || async {
            self.present(&keys)
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

    /// The fence of each partition the batch comes from (absent: never written).
    async fn fence<T>(&self, rows: &[(Source, BehaviorRow, T)]) -> Result<Fence, ClickHouseError> {
        #[derive(serde::Deserialize)]
        struct Row {
            kafka_partition: i32,
            fence: i64,
        }
        let mut partitions: HashMap<&str, HashSet<i32>> = HashMap::new();
        for (source, _, _) in rows {
            partitions
                .entry(source.topic.as_str())
                .or_default()
                .insert(source.partition);
        }
        let mut fence = Fence::default();
        for (topic, partitions) in partitions {
            let query = Query::new(format!(
                "SELECT kafka_partition, max(kafka_offset) AS fence FROM {FENCE_TABLE} \
                 WHERE topic = ? AND kafka_partition IN ? GROUP BY kafka_partition"
            ))
            .bind(topic)
            .bind(SqlValue::Tuple(
                partitions.into_iter().map(SqlValue::from).collect(),
            ));
            for row in self.clickhouse.fetch::<Row>(query).await? {
                fence
                    .0
                    .entry(topic.to_string())
                    .or_default()
                    .insert(row.kafka_partition, row.fence);
            }
        }
        Ok(fence)
    }

    /// Raises each partition's fence to the batch's highest offset in it (before the insert).
    async fn raise_fence<T>(
        &self,
        rows: &[(Source, BehaviorRow, T)],
    ) -> Result<(), ClickHouseError> {
        let mut highest: HashMap<(&str, i32), i64> = HashMap::new();
        for (source, _, _) in rows {
            let offset = highest
                .entry((source.topic.as_str(), source.partition))
                .or_insert(source.offset);
            *offset = (*offset).max(source.offset);
        }
        let marks: Vec<FenceMark> = highest
            .into_iter()
            .map(|((topic, partition), offset)| FenceMark {
                topic,
                partition,
                offset,
            })
            .collect();
        self.clickhouse.insert(FENCE_TABLE, marks.iter()).await
    }

    /// Which of these events ClickHouse already holds, as (tenant, event id).
    ///
    /// The batch's keys travel as an external table (TSV data beside the query), not as SQL
    /// literals: a whole batch of key tuples in the statement went past ClickHouse's 50,000
    /// syntax-tree elements and stalled the sink on its first full batch (found by
    /// `bench/sink`), and parsing such statements cost more than the insert. The lookup names
    /// the batch's (tenant, scenario, hour) prefixes, so only those granules are read.
    async fn present(&self, rows: &[&BehaviorRow]) -> Result<PresentEvents, ClickHouseError> {
        #[derive(serde::Deserialize)]
        struct Key {
            tenant_id: String,
            event_id: String,
        }
        let mut keys = ExternalTable::new(
            "batch_keys",
            "tenant_id String, scenario_id String, hour DateTime('UTC'), event_id String",
        );
        for row in rows {
            let hour = datetime_text(i64::from(row.event_time / 3600 * 3600) * 1000);
            keys.row([
                row.tenant_id.as_str(),
                row.scenario_id.as_str(),
                hour.as_str(),
                row.event_id.as_str(),
            ]);
        }
        let query = Query::new(format!(
            "SELECT tenant_id, event_id FROM {TABLE} \
             WHERE (tenant_id, scenario_id, toStartOfHour(event_time)) IN \
                 (SELECT DISTINCT tenant_id, scenario_id, hour FROM batch_keys) \
             AND (tenant_id, event_id) IN (SELECT tenant_id, event_id FROM batch_keys)"
        ))
        .with_table(keys);
        let mut present = PresentEvents::default();
        for key in self.clickhouse.fetch::<Key>(query).await? {
            present
                .0
                .entry(key.tenant_id)
                .or_default()
                .insert(key.event_id);
        }
        Ok(present)
    }
}

/// The highest offset the sink began to insert, per (topic, partition).
#[derive(Default)]
struct Fence(HashMap<String, HashMap<i32, i64>>);

impl Fence {
    /// Whether the message may already be in ClickHouse.
    fn covers(&self, source: &Source) -> bool {
        self.0
            .get(&source.topic)
            .and_then(|partitions| partitions.get(&source.partition))
            .is_some_and(|fence| source.offset <= *fence)
    }
}

/// A `sink_fence` row.
struct FenceMark<'a> {
    topic: &'a str,
    partition: i32,
    offset: i64,
}

impl RowBinary for FenceMark<'_> {
    const COLUMNS: &'static [&'static str] = &["topic", "kafka_partition", "kafka_offset"];

    fn write(&self, out: &mut RowBinaryWriter) {
        out.string(self.topic);
        out.i32(self.partition);
        out.i64(self.offset);
    }
}

/// Event ids ClickHouse holds, per tenant (looked up with borrowed keys).
#[derive(Default)]
struct PresentEvents(HashMap<String, HashSet<String>>);

impl PresentEvents {
    fn contains(&self, (tenant, event_id): &(&str, &str)) -> bool {
        self.0
            .get(*tenant)
            .is_some_and(|ids| ids.contains(*event_id))
    }
}

/// A 64-bit hash of (tenant, event id). Two different events share one with a probability
/// of about n / 2^64 for n remembered events (≈ 5e-14 per event for a million): negligible.
fn event_key(row: &BehaviorRow) -> u64 {
    let mut hasher = DefaultHasher::new();
    (&row.tenant_id, &row.event_id).hash(&mut hasher);
    hasher.finish()
}

/// The last `capacity` events this loader inserted, oldest forgotten first. Catches a
/// client's resend of an event (same id, later offset) while the loader owns its partition;
/// a resend of an event inserted before a restart is not caught (see docs/ARCHITECTURE.md).
struct RecentEvents {
    keys: HashSet<u64>,
    order: VecDeque<u64>,
    capacity: usize,
}

impl RecentEvents {
    fn new(capacity: usize) -> Self {
        RecentEvents {
            keys: HashSet::new(),
            order: VecDeque::new(),
            capacity,
        }
    }

    fn contains(&self, key: u64) -> bool {
        self.capacity > 0 && self.keys.contains(&key)
    }

    fn extend(&mut self, keys: impl Iterator<Item = u64>) {
        if self.capacity == 0 {
            return;
        }
        for key in keys {
            if self.keys.insert(key) {
                self.order.push_back(key);
            }
            if self.order.len() > self.capacity {
                if let Some(old) = self.order.pop_front() {
                    self.keys.remove(&old);
                }
            }
        }
    }
}

/// How an insert ended.
enum Inserted<T> {
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
fn is_view_failure(error: &ClickHouseError) -> bool {
    error.to_string().contains("while pushing to view")
}

/// Inserts `rows`, retrying transient failures; on a permanent rejection splits the rows
/// until each refused row is alone, and puts it in `refused` with ClickHouse's reason. A
/// failing materialized view stops it (see [`Inserted::ViewFailed`]): splitting would
/// write the raw rows again with every half.
fn insert_isolating_bad_rows<'a, T: Send + 'a>(
    ch: &'a ClickHouse,
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
            match ch.insert(TABLE, plain.iter().copied()).await {
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
                match insert_isolating_bad_rows(ch, rows, refused, shutdown).await {
                    Inserted::Done => {
                        insert_isolating_bad_rows(ch, second, refused, shutdown).await
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
