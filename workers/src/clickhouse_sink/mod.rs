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
//!
//! - this module: the consumer glue (decode, dead letters, hand the batch to the loader);
//! - [`loader`]: `ClickHouseLoader`, one batch into `user_behaviors` at most once per event
//!   (split by shard in a cluster: [`ClickHouseTarget`]);
//! - [`fence`]: the per-partition write-ahead fence (`sink_fence`);
//! - [`duplicates`]: events ClickHouse holds already (lookup by id) and the memory of those
//!   inserted lately;
//! - [`bad_rows`]: the insert that isolates rows ClickHouse refuses as bad data.

mod bad_rows;
mod duplicates;
mod fence;
mod loader;

pub use loader::ClickHouseLoader;

/// Where the loader writes: one server, or each shard of a ClickHouse cluster.
///
/// In a cluster, a Kafka partition's rows always go to the same shard (partition modulo the
/// number of shards), into the shard's local tables (`user_behaviors_local`,
/// `sink_fence_local`) on whichever replica answers: its fence and its duplicate lookups
/// are on that shard, so the exactly-once argument of [`ClickHouseLoader::load`] holds per
/// shard. The views on the local raw table feed the shard's local rollups; reads merge the
/// shards through the `Distributed` tables.
#[derive(Debug, Clone)]
pub enum ClickHouseTarget {
    Single(ClickHouse),
    /// One client per shard, in the cluster's order, each with its replicas as failover.
    Sharded(Vec<ClickHouse>),
}

impl From<ClickHouse> for ClickHouseTarget {
    fn from(clickhouse: ClickHouse) -> Self {
        ClickHouseTarget::Single(clickhouse)
    }
}

/// One place rows are written: a server or a shard, with its table names.
#[derive(Debug, Clone)]
pub(crate) struct Shard {
    pub(crate) clickhouse: ClickHouse,
    pub(crate) raw_table: &'static str,
    pub(crate) fence_table: &'static str,
}

impl ClickHouseTarget {
    pub(crate) fn shards(&self) -> Vec<Shard> {
        match self {
            ClickHouseTarget::Single(clickhouse) => vec![Shard {
                clickhouse: clickhouse.clone(),
                raw_table: "user_behaviors",
                fence_table: "sink_fence",
            }],
            ClickHouseTarget::Sharded(shards) => shards
                .iter()
                .map(|clickhouse| Shard {
                    clickhouse: clickhouse.clone(),
                    raw_table: "user_behaviors_local",
                    fence_table: "sink_fence_local",
                })
                .collect(),
        }
    }
}

use super::batch::{Limits, Source};
use super::consumer::{self, BatchHandler};
use super::dead_letter::{DeadLetter, DeadLetters};
use super::retry::{retry, Retry};
use super::row::BehaviorRow;
use crate::config::{Membership, SinkConfig};
use futures::future::BoxFuture;
use futures::FutureExt;
use rdkafka::message::{BorrowedMessage, Message};
use recoscope_clickhouse::ClickHouse;
use recoscope_core::BehaviorRecord;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

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
        membership: Membership,
        config: SinkConfig,
        target: impl Into<ClickHouseTarget>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let consumer = consumer::join(&membership, &config.group_id)?;
        let sink = ClickHouseSink {
            loader: ClickHouseLoader::to(target.into(), config.recent_ids)
                .with_resend_grace(Duration::from_secs(config.resend_grace_secs)),
            dead_letters: DeadLetters::new(&membership.kafka)?,
        };
        let limits = Limits {
            max_rows: config.max_rows,
            max_bytes: config.max_bytes,
            max_wait: Duration::from_millis(config.max_wait_ms),
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
