//! The loop every worker shares: consume into a bounded [`Batch`], hand it to a
//! [`BatchHandler`], commit the offsets only after the handler delivered it.
//!
//! Pipelining: one batch is delivered (on its own task) while the next one is read, so the
//! broker, this process and the destination work at the same time; a batch is handed over
//! only after the one before it was delivered and committed, so deliveries stay in order and
//! each sees everything earlier batches wrote (the sink's duplicate lookup relies on that).
//!
//! Ownership: the loop reads only the partitions its [`Ownership`] gives it (leases in Redis,
//! see [`super::ownership`]); the broker's group coordinator is never joined. Each partition
//! starts at the group's committed offset. When partitions are added, they are assigned on
//! top of the others. When one is taken away (handed to another worker, or its lease lapsed),
//! the delivery in flight is told to stop retrying and waited for, the batch being read is
//! dropped, and the remaining partitions start again from their committed offsets: nothing
//! uncommitted is skipped, and no two workers write one partition at once. Only then does the
//! keeper release the lease. Shutdown delivers and commits what the batches hold, then
//! releases every lease.

use super::batch::{Batch, Limits, Offsets, Source};
use super::ownership::{Ownership, Partitions};
use crate::config::Membership;
use futures::future::BoxFuture;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::BorrowedMessage;
use rdkafka::{Offset, TopicPartitionList};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// What a worker does with its batches.
pub trait BatchHandler: Send + Sync {
    type Item: Send;

    /// One message → what the batch keeps of it.
    fn decode(&self, message: &BorrowedMessage<'_>) -> Self::Item;

    /// These partitions of `topic` came to this worker (at start or from another one).
    fn assigned(&self, _topic: &str, _partitions: &[i32]) {}

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

/// The part of a [`BatchHandler`] a change of ownership calls (object-safe).
trait AssignedHook {
    fn assigned(&self, topic: &str, partitions: &[i32]);
}

impl<H: BatchHandler> AssignedHook for H {
    fn assigned(&self, topic: &str, partitions: &[i32]) {
        BatchHandler::assigned(self, topic, partitions);
    }
}

/// A batch being delivered, the offsets to commit once it is, and how to tell it to stop
/// retrying.
struct Delivery {
    task: JoinHandle<bool>,
    offsets: Offsets,
    stop: CancellationToken,
}

/// A worker of consumer group `group` on `topic`: a consumer that commits by hand under the
/// group's name, and the keeper of its partition leases.
pub struct Member {
    consumer: StreamConsumer,
    ownership: Ownership,
    topic: String,
}

/// Joins `group` on `topic`: starts claiming partitions; nothing is read until some are held.
pub fn join(membership: &Membership, group: &str) -> anyhow::Result<Member> {
    let topic = membership.kafka.topic.as_str();
    let consumer: StreamConsumer = membership
        .kafka
        .client()
        // Only the name under which offsets are committed and fetched: the consumer never
        // subscribes, so the broker's group coordinator has no say in who reads what.
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        // The broker answers a fetch when data is there or after this wait: librdkafka's
        // 500 ms default was most of the live view's freshness (bench/sink).
        .set("fetch.wait.max.ms", "100")
        .create()?;
    Ok(Member {
        consumer,
        ownership: Ownership::start(membership, group, topic)?,
        topic: topic.to_string(),
    })
}

/// Runs until `shutdown` is cancelled, then delivers and commits what it holds and releases
/// its partitions.
pub async fn run<H: BatchHandler + 'static>(
    member: Member,
    handler: H,
    limits: Limits,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let Member {
        consumer,
        mut ownership,
        topic,
    } = member;
    let handler = Arc::new(handler);
    let mut reader = Reader {
        consumer,
        topic,
        batch: Batch::new(limits),
        in_flight: None,
        assigned: Partitions::new(),
    };
    let result = reader.read(&handler, &mut ownership, &shutdown).await;
    ownership.finish().await;
    result
}

/// The loop's state: what it reads, the batch being read and the delivery in flight.
struct Reader<T> {
    consumer: StreamConsumer,
    topic: String,
    batch: Batch<T>,
    in_flight: Option<Delivery>,
    assigned: Partitions,
}

impl<T: Send + 'static> Reader<T> {
    async fn read<H: BatchHandler<Item = T> + 'static>(
        &mut self,
        handler: &Arc<H>,
        ownership: &mut Ownership,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        let mut stopped = false;
        while !stopped {
            if self.batch.is_due() {
                // Hand the batch over once the one before it is delivered and committed.
                if let Some(delivery) = self.in_flight.take() {
                    stopped = !self.settle(delivery, shutdown).await?;
                    if stopped {
                        break;
                    }
                }
                self.in_flight = Some(self.start(handler, shutdown.child_token()));
                continue;
            }
            let deadline = self.batch.deadline();
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            };
            let delivered = async {
                match &mut self.in_flight {
                    Some(delivery) => (&mut delivery.task).await,
                    None => std::future::pending().await,
                }
            };
            let reading = !self.assigned.is_empty();
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = sleep => {}
                outcome = delivered => {
                    let delivery = self.in_flight.take().expect("a delivery was in flight");
                    stopped = !self.commit_delivered(delivery.offsets, outcome, shutdown)?;
                }
                next = ownership.changed() => {
                    let Some(next) = next else {
                        anyhow::bail!("the partition-lease keeper of {} stopped", ownership.group);
                    };
                    stopped = !self.reassign(next, &**handler, ownership, shutdown).await?;
                }
                message = self.consumer.recv(), if reading => {
                    take(&**handler, &mut self.batch, message).await;
                }
            }
        }
        // Drain: the delivery in flight (interrupted only if shutdown found its destination
        // down), then what was read after it, without waiting for shutdown to be lifted.
        if let Some(delivery) = self.in_flight.take() {
            stopped = !self.settle(delivery, shutdown).await?;
        }
        if !stopped && !self.batch.is_empty() {
            let last = self.start(handler, CancellationToken::new());
            self.settle(last, shutdown).await?;
        }
        Ok(())
    }

    /// Reads `next` from now on. False when shutdown interrupted a delivery meanwhile.
    async fn reassign(
        &mut self,
        next: Partitions,
        handler: &(dyn AssignedHook + Sync),
        ownership: &Ownership,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<bool> {
        let added: Vec<i32> = next.difference(&self.assigned).copied().collect();
        let removed: Vec<i32> = self.assigned.difference(&next).copied().collect();
        if added.is_empty() && removed.is_empty() {
            return Ok(true);
        }
        if removed.is_empty() {
            // Added on top: the others go on where they are.
            self.consumer
                .incremental_assign(&self.partition_list(&added)?)?;
        } else {
            // Taken away: the delivery in flight may hold their messages; stop its retries,
            // wait, and start everything still ours again from what is committed.
            if let Some(delivery) = self.in_flight.take() {
                delivery.stop.cancel();
                if !self.settle(delivery, shutdown).await? {
                    return Ok(false);
                }
            }
            drop(self.batch.take());
            let all: Vec<i32> = next.iter().copied().collect();
            self.consumer.assign(&self.partition_list(&all)?)?;
        }
        if !added.is_empty() {
            handler.assigned(&self.topic, &added);
        }
        self.assigned = next;
        ownership.reading(&self.assigned);
        tracing::info!(
            group = ownership.group,
            member = ownership.member,
            reading = ?self.assigned,
            ?added,
            ?removed,
            "partitions assigned"
        );
        Ok(true)
    }

    /// The partitions of our topic, each from the group's committed offset (or the earliest
    /// one the broker holds when nothing was committed yet).
    fn partition_list(&self, partitions: &[i32]) -> anyhow::Result<TopicPartitionList> {
        let mut list = TopicPartitionList::new();
        for p in partitions {
            list.add_partition_offset(&self.topic, *p, Offset::Stored)?;
        }
        Ok(list)
    }

    /// Starts delivering the batch on its own task.
    fn start<H: BatchHandler<Item = T> + 'static>(
        &mut self,
        handler: &Arc<H>,
        stop: CancellationToken,
    ) -> Delivery {
        let (items, offsets) = self.batch.take();
        let handler = handler.clone();
        let task_stop = stop.clone();
        let task = tokio::spawn(async move { handler.deliver(items, &task_stop).await });
        Delivery {
            task,
            offsets,
            stop,
        }
    }

    /// Waits for a delivery and commits it; false when the loop must stop.
    async fn settle(
        &self,
        delivery: Delivery,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<bool> {
        let outcome = delivery.task.await;
        self.commit_delivered(delivery.offsets, outcome, shutdown)
    }

    /// Commits a finished delivery's offsets. An interrupted delivery is not committed: if
    /// shutdown interrupted it the loop stops (later batches must not be committed past it);
    /// if a change of ownership did, its messages are read again from the committed offsets.
    fn commit_delivered(
        &self,
        offsets: Offsets,
        outcome: Result<bool, tokio::task::JoinError>,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<bool> {
        match outcome {
            Ok(true) => {}
            Ok(false) => return Ok(!shutdown.is_cancelled()),
            Err(e) => anyhow::bail!("a delivery task failed: {e}"),
        }
        if let Err(e) = commit(&self.consumer, &offsets) {
            // Delivered but the offsets did not move: the messages will be read again after a
            // restart or a change of ownership, and the handlers skip what they already hold.
            tracing::error!(error = %e, "offset commit failed");
            metrics::counter!("recoscope_consumer_commit_failures_total").increment(1);
        }
        Ok(true)
    }
}

/// Adds what `recv` returned to the batch.
async fn take<H: BatchHandler>(
    handler: &H,
    batch: &mut Batch<H::Item>,
    message: rdkafka::error::KafkaResult<BorrowedMessage<'_>>,
) {
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

fn commit(consumer: &StreamConsumer, offsets: &Offsets) -> rdkafka::error::KafkaResult<()> {
    let mut list = TopicPartitionList::new();
    for ((topic, partition), offset) in offsets {
        list.add_partition_offset(topic, *partition, Offset::Offset(offset + 1))?;
    }
    consumer.commit(&list, CommitMode::Sync)
}
