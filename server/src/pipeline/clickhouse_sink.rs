//! The ClickHouse loader: a member of consumer group `clickhouse-sink` (configurable).
//!
//! Loop: read messages into a [`Batch`] until it is full or its first row is
//! `SINK_MAX_WAIT_MS` old, insert the batch in one request, then commit the offsets. Offsets
//! never move before ClickHouse took the rows, so a crash or an outage delays data but does
//! not lose it. (A crash between insert and commit redelivers the batch; making that
//! idempotent is issue 4.)
//!
//! Retryable failures (ClickHouse down or busy) are retried with jittered exponential
//! backoff for as long as it takes. A batch that ClickHouse rejects as bad data is split in
//! halves until the bad rows are isolated; good rows are still written and bad ones are
//! logged (the dead-letter topic is issue 4).

use super::batch::Batch;
use super::row::BehaviorRow;
use crate::config::Config;
use crate::kafka::client_config;
use futures::future::BoxFuture;
use futures::FutureExt;
use rand::Rng;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use recoscope_clickhouse::{ClickHouse, ClickHouseError};
use recoscope_core::BehaviorRecord;
use std::collections::HashMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const TABLE: &str = "user_behaviors";
const MAX_BACKOFF: Duration = Duration::from_secs(30);

pub struct ClickHouseSink {
    consumer: StreamConsumer,
    clickhouse: ClickHouse,
    max_rows: usize,
    max_wait: Duration,
}

impl ClickHouseSink {
    pub fn new(config: &Config, clickhouse: ClickHouse) -> anyhow::Result<Self> {
        let consumer: StreamConsumer = client_config(&config.kafka_brokers)
            .set("group.id", &config.sink_group_id)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "10000")
            .create()?;
        consumer.subscribe(&[&config.kafka_topic])?;
        Ok(ClickHouseSink {
            consumer,
            clickhouse,
            max_rows: config.sink_max_rows,
            max_wait: Duration::from_millis(config.sink_max_wait_ms),
        })
    }

    /// Runs until `shutdown` is cancelled, then writes and commits what it holds.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let mut batch: Batch<BehaviorRow> = Batch::new(self.max_rows, self.max_wait);
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
                        let row = decode(m.payload());
                        batch.push(m.topic(), m.partition(), m.offset(), row);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "kafka consume error");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                },
            }
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

    /// Writes and commits the batch. Returns false when shutdown interrupted the retries (the
    /// offsets stay uncommitted and the rows will be read again).
    async fn flush(&self, batch: &mut Batch<BehaviorRow>, shutdown: &CancellationToken) -> bool {
        let (rows, offsets) = batch.take();
        let count = rows.len();
        if !insert_isolating_bad_rows(&self.clickhouse, rows, shutdown).await {
            return false;
        }
        metrics::counter!("recoscope_sink_batches_total").increment(1);
        match self.commit(&offsets) {
            Ok(()) => {
                tracing::debug!(rows = count, "batch loaded and committed");
                true
            }
            Err(e) => {
                // The rows are in ClickHouse but the offsets did not move: they will be
                // delivered again after a restart or rebalance.
                tracing::error!(error = %e, "offset commit failed");
                metrics::counter!("recoscope_sink_commit_failures_total").increment(1);
                true
            }
        }
    }

    fn commit(&self, offsets: &HashMap<(String, i32), i64>) -> rdkafka::error::KafkaResult<()> {
        let mut list = TopicPartitionList::new();
        for ((topic, partition), offset) in offsets {
            list.add_partition_offset(topic, *partition, Offset::Offset(offset + 1))?;
        }
        self.consumer.commit(&list, CommitMode::Sync)
    }
}

fn decode(payload: Option<&[u8]>) -> Option<BehaviorRow> {
    let payload = payload?;
    match serde_json::from_slice::<BehaviorRecord>(payload) {
        Ok(record) => Some(BehaviorRow::from(record)),
        Err(e) => {
            tracing::error!(error = %e, "undecodable message skipped");
            metrics::counter!("recoscope_sink_undecodable_messages_total").increment(1);
            None
        }
    }
}

/// Inserts `rows`, retrying transient failures; on a permanent rejection splits the rows to
/// write every good one. Returns false only if shutdown came while ClickHouse was down.
fn insert_isolating_bad_rows<'a>(
    ch: &'a ClickHouse,
    rows: Vec<BehaviorRow>,
    shutdown: &'a CancellationToken,
) -> BoxFuture<'a, bool> {
    async move {
        match insert_with_retry(ch, &rows, shutdown).await {
            Ok(()) => true,
            Err(None) => false,
            Err(Some(error)) if rows.len() == 1 => {
                tracing::error!(%error, event_id = %rows[0].event_id, "row rejected by ClickHouse");
                metrics::counter!("recoscope_sink_rows_rejected_total").increment(1);
                true
            }
            Err(Some(_)) => {
                let mut rows = rows;
                let second = rows.split_off(rows.len() / 2);
                insert_isolating_bad_rows(ch, rows, shutdown).await
                    && insert_isolating_bad_rows(ch, second, shutdown).await
            }
        }
    }
    .boxed()
}

/// `Err(None)`: interrupted by shutdown; `Err(Some(e))`: permanent failure.
async fn insert_with_retry(
    ch: &ClickHouse,
    rows: &[BehaviorRow],
    shutdown: &CancellationToken,
) -> Result<(), Option<ClickHouseError>> {
    let mut backoff = Duration::from_millis(100);
    loop {
        match ch.insert(TABLE, rows).await {
            Ok(()) => {
                metrics::counter!("recoscope_sink_rows_inserted_total")
                    .increment(rows.len() as u64);
                return Ok(());
            }
            Err(e) if e.is_retryable() => {
                let jitter = rand::thread_rng().gen_range(0.5..1.5);
                let wait = backoff.mul_f64(jitter);
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "insert failed, retrying");
                metrics::counter!("recoscope_sink_insert_retries_total").increment(1);
                tokio::select! {
                    _ = shutdown.cancelled() => return Err(None),
                    _ = tokio::time::sleep(wait) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            Err(e) => return Err(Some(e)),
        }
    }
}
