//! The loop every worker shares: consume into a bounded [`Batch`], hand it to a
//! [`BatchHandler`], commit the offsets only after the handler delivered it.
//!
//! Rebalance: partitions taken away are dropped from the pending batch (their offsets were
//! not committed, so their new owner reads them again, and never two workers write one
//! partition at once). Shutdown delivers and commits what the batch holds.

use super::batch::{Batch, Limits, Offsets, Source};
use crate::config::Config;
use crate::kafka::client_config;
use futures::future::BoxFuture;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::message::BorrowedMessage;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use std::sync::Mutex;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What a worker does with its batches.
pub trait BatchHandler: Send + Sync {
    type Item: Send;

    /// One message → what the batch keeps of it.
    fn decode(&self, message: &BorrowedMessage<'_>) -> Self::Item;

    /// Delivers a batch. `false` means shutdown interrupted the delivery: nothing is
    /// committed and the messages will be read again.
    fn deliver<'a>(
        &'a self,
        items: Vec<(Source, Self::Item)>,
        shutdown: &'a CancellationToken,
    ) -> BoxFuture<'a, bool>;
}

/// The record a message holds; `None` when it does not decode. Workers other than the
/// ClickHouse sink skip such messages: the sink dead-letters them.
pub fn record_of(message: &BorrowedMessage<'_>) -> Option<recoscope_core::BehaviorRecord> {
    use rdkafka::Message;
    serde_json::from_slice(message.payload()?).ok()
}

/// A group member's context: records the partitions a rebalance takes away, for the loop to
/// drop from its batch.
#[derive(Default)]
pub struct GroupContext {
    revoked: Mutex<Vec<(String, i32)>>,
}

impl ClientContext for GroupContext {}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            let mut revoked = self.revoked.lock().unwrap_or_else(|e| e.into_inner());
            for element in list.elements() {
                revoked.push((element.topic().to_string(), element.partition()));
            }
        }
    }
}

impl GroupContext {
    fn take(&self) -> Vec<(String, i32)> {
        std::mem::take(&mut *self.revoked.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// A member of consumer group `group` on `topic`, committing by hand; a static member when
/// `config.worker_instance_id` is set.
pub fn subscribe(
    config: &Config,
    group: &str,
    topic: &str,
) -> anyhow::Result<StreamConsumer<GroupContext>> {
    let mut client = client_config(&config.kafka_brokers);
    if !config.worker_instance_id.is_empty() {
        client.set("group.instance.id", &config.worker_instance_id);
    }
    let consumer: StreamConsumer<GroupContext> = client
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        // The broker answers a fetch when data is there or after this wait: librdkafka's
        // 500 ms default was most of the live view's freshness (bench/sink).
        .set("fetch.wait.max.ms", "100")
        .create_with_context(GroupContext::default())?;
    consumer.subscribe(&[topic])?;
    Ok(consumer)
}

/// Runs until `shutdown` is cancelled, then delivers and commits what it holds.
pub async fn run<H: BatchHandler>(
    consumer: StreamConsumer<GroupContext>,
    handler: H,
    limits: Limits,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut batch: Batch<H::Item> = Batch::new(limits);
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
            message = consumer.recv() => take(&consumer, &handler, &mut batch, message).await,
        }
        if batch.is_due() && !flush(&consumer, &handler, &mut batch, &shutdown).await {
            break;
        }
    }
    if !batch.is_empty() {
        // Drain: one last delivery without waiting for shutdown to be lifted.
        flush(&consumer, &handler, &mut batch, &CancellationToken::new()).await;
    }
    Ok(())
}

/// Adds what `recv` returned to the batch.
async fn take<H: BatchHandler>(
    consumer: &StreamConsumer<GroupContext>,
    handler: &H,
    batch: &mut Batch<H::Item>,
    message: rdkafka::error::KafkaResult<BorrowedMessage<'_>>,
) {
    // Rebalance callbacks run inside `recv`, so a revocation recorded now came before this
    // message: drop the stale partitions first. Dropping them after the push lost the first
    // message of a partition assigned again right after a revocation (found by the
    // broker-restart fault test: one event missing).
    batch.drop_partitions(&consumer.context().take());
    match message {
        Ok(m) => {
            use rdkafka::Message;
            let source = Source {
                topic: m.topic().to_string(),
                partition: m.partition(),
                offset: m.offset(),
            };
            let bytes = m.payload_len();
            batch.push(source, bytes, handler.decode(&m));
        }
        Err(e) => {
            tracing::warn!(error = %e, "kafka consume error");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

async fn flush<H: BatchHandler>(
    consumer: &StreamConsumer<GroupContext>,
    handler: &H,
    batch: &mut Batch<H::Item>,
    shutdown: &CancellationToken,
) -> bool {
    let (items, offsets) = batch.take();
    if !handler.deliver(items, shutdown).await {
        return false;
    }
    if let Err(e) = commit(consumer, &offsets) {
        // Delivered but the offsets did not move: the messages will be read again after a
        // restart or rebalance, and the handlers skip what they already hold.
        tracing::error!(error = %e, "offset commit failed");
        metrics::counter!("recoscope_consumer_commit_failures_total").increment(1);
    }
    true
}

fn commit(
    consumer: &StreamConsumer<GroupContext>,
    offsets: &Offsets,
) -> rdkafka::error::KafkaResult<()> {
    let mut list = TopicPartitionList::new();
    for ((topic, partition), offset) in offsets {
        list.add_partition_offset(topic, *partition, Offset::Offset(offset + 1))?;
    }
    consumer.commit(&list, CommitMode::Sync)
}
