//! The ClickHouse loader: a member of consumer group `clickhouse-sink` (configurable).
//!
//! Loop: read messages into a [`super::batch::Batch`] until it holds `SINK_MAX_ROWS` rows or
//! `SINK_MAX_BYTES` bytes, or its first message is `SINK_MAX_WAIT_MS` old; then
//! 1. produce what cannot be decoded to the dead-letter topic;
//! 2. load the rows ([`ClickHouseLoader`]): without the events ClickHouse already holds, in
//!    one insert, retrying transient failures with jittered backoff; rows ClickHouse refuses
//!    as bad data are isolated by splitting and go to the dead-letter topic too;
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
use recoscope_clickhouse::{ClickHouse, ClickHouseError, ExternalTable, Query};
use recoscope_core::BehaviorRecord;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const TABLE: &str = "user_behaviors";

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
        let consumer = consumer::subscribe(&config, &config.sink_group_id, &config.kafka_topic)?;
        let sink = ClickHouseSink {
            loader: ClickHouseLoader::new(clickhouse),
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
        for (_, consumed) in items {
            match consumed {
                Consumed::Row(row, message) => rows.push((*row, message)),
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
        if rows.is_empty() {
            return Some(Vec::new());
        }
        // One lookup for the whole batch (repeats in it only repeat a row of the key table).
        let present = retry(shutdown, "duplicate lookup", || async {
            self.present(&rows)
                .await
                .map_err(|e| Retry::Again(e.to_string()))
        })
        .await
        .ok()?;
        // Then one pass, borrowing the keys: keep an event's first copy unless ClickHouse
        // holds it already.
        let mut seen: HashSet<(&str, &str)> = HashSet::with_capacity(rows.len());
        let keep: Vec<bool> = rows
            .iter()
            .map(|(row, _)| {
                let key = (row.tenant_id.as_str(), row.event_id.as_str());
                seen.insert(key) && !present.contains(&key)
            })
            .collect();
        let total = rows.len();
        let fresh: Vec<(BehaviorRow, T)> = rows
            .into_iter()
            .zip(keep)
            .filter_map(|(row, keep)| keep.then_some(row))
            .collect();
        if fresh.len() < total {
            metrics::counter!("recoscope_sink_duplicates_skipped_total")
                .increment((total - fresh.len()) as u64);
        }
        let mut refused = Vec::new();
        if insert_isolating_bad_rows(&self.clickhouse, fresh, &mut refused, shutdown).await {
            Some(refused)
        } else {
            None
        }
    }

    /// Which of these events ClickHouse already holds, as (tenant, event id).
    ///
    /// The batch's keys travel as an external table (TSV data beside the query), not as SQL
    /// literals: a whole batch of key tuples in the statement went past ClickHouse's 50,000
    /// syntax-tree elements and stalled the sink on its first full batch (found by
    /// `bench/sink`), and parsing such statements cost more than the insert. The lookup names
    /// the batch's (tenant, scenario, hour) prefixes, so only those granules are read.
    async fn present<T>(
        &self,
        rows: &[(BehaviorRow, T)],
    ) -> Result<PresentEvents, ClickHouseError> {
        #[derive(serde::Deserialize)]
        struct Key {
            tenant_id: String,
            event_id: String,
        }
        let mut keys = ExternalTable::new(
            "batch_keys",
            "tenant_id String, scenario_id String, hour DateTime('UTC'), event_id String",
        );
        for (row, _) in rows {
            let hour = datetime_text((row.event_ts_ms / 1000 / 3600 * 3600 * 1000) as i64);
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
