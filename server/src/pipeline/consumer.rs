//! The loop every worker shares: consume into a bounded [`Batch`], hand it to a
//! [`BatchHandler`], commit the offsets only after the handler delivered it.
//!
//! Pipelining: one batch is delivered (on its own task) while the next one is read, so the
//! broker, this process and the destination work at the same time; a batch is handed over
//! only after the one before it was delivered and committed, so deliveries stay in order and
//! each sees everything earlier batches wrote (the sink's duplicate lookup relies on that).
//!
//! Rebalance: the group uses the eager protocol, where a rebalance revokes every partition.
//! Revoked partitions are dropped from the batch being read (their offsets were not
//! committed, so their new owner reads them again). A delivery in flight is told to stop
//! retrying, and the revocation waits until it has finished, so no two workers ever write
//! one partition at once. Shutdown delivers and commits what the batches hold.

use super::batch::{Batch, Limits, Offsets, Source};
use crate::config::Config;
use crate::kafka::client_config;
use futures::future::BoxFuture;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::message::BorrowedMessage;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long a revocation waits for the delivery in flight (told to stop retrying, it only
/// finishes its current request, which the client timeouts bound).
const REVOKE_WAIT: Duration = Duration::from_secs(60);

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
/// drop from its batch, and holds back a revocation until the delivery in flight is over.
#[derive(Default)]
pub struct GroupContext {
    revoked: Mutex<Vec<(String, i32)>>,
    in_flight: Mutex<Option<(CancellationToken, Arc<Finished>)>>,
}

impl ClientContext for GroupContext {}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            let mut revoked = self.revoked.lock().unwrap_or_else(|e| e.into_inner());
            for element in list.elements() {
                revoked.push((element.topic().to_string(), element.partition()));
            }
            drop(revoked);
            self.settle_in_flight();
        }
    }
}

impl GroupContext {
    fn take(&self) -> Vec<(String, i32)> {
        std::mem::take(&mut *self.revoked.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn set_in_flight(&self, delivery: Option<(CancellationToken, Arc<Finished>)>) {
        *self.in_flight.lock().unwrap_or_else(|e| e.into_inner()) = delivery;
    }

    /// Stops the delivery in flight from retrying and waits until it is over. Runs inside
    /// `recv` (rebalance callbacks do), on the task that reads messages; the delivery runs on
    /// another, and `block_in_place` hands this thread's other tasks to the runtime meanwhile.
    fn settle_in_flight(&self) {
        let in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let Some((stop, finished)) = in_flight else {
            return;
        };
        stop.cancel();
        tokio::task::block_in_place(|| {
            if !finished.wait(REVOKE_WAIT) {
                tracing::error!(
                    "a delivery still runs {REVOKE_WAIT:?} after its partitions were revoked"
                );
            }
        });
    }
}

/// Set when a delivery task ends, however it ends.
#[derive(Default)]
struct Finished {
    done: Mutex<bool>,
    signal: Condvar,
}

impl Finished {
    /// Whether the delivery finished within `timeout`.
    fn wait(&self, timeout: Duration) -> bool {
        let done = self.done.lock().unwrap_or_else(|e| e.into_inner());
        let (done, _) = self
            .signal
            .wait_timeout_while(done, timeout, |done| !*done)
            .unwrap_or_else(|e| e.into_inner());
        *done
    }
}

/// Marks a delivery finished when dropped (also when the handler panics).
struct FinishOnDrop(Arc<Finished>);

impl Drop for FinishOnDrop {
    fn drop(&mut self) {
        *self.0.done.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.0.signal.notify_all();
    }
}

/// A batch being delivered, and the offsets to commit once it is.
struct Delivery {
    task: JoinHandle<bool>,
    offsets: Offsets,
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
        // Eager rebalancing (librdkafka's default, set here because the loop depends on it):
        // a rebalance revokes every partition, so nothing read after an interrupted delivery
        // stays assigned and gets committed past it.
        .set("partition.assignment.strategy", "range,roundrobin")
        // The broker answers a fetch when data is there or after this wait: librdkafka's
        // 500 ms default was most of the live view's freshness (bench/sink).
        .set("fetch.wait.max.ms", "100")
        .create_with_context(GroupContext::default())?;
    consumer.subscribe(&[topic])?;
    Ok(consumer)
}

/// Runs until `shutdown` is cancelled, then delivers and commits what it holds. Needs the
/// multi-thread runtime (a revocation blocks its thread while the delivery finishes).
pub async fn run<H: BatchHandler + 'static>(
    consumer: StreamConsumer<GroupContext>,
    handler: H,
    limits: Limits,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        Handle::current().runtime_flavor() == RuntimeFlavor::MultiThread,
        "the consumer loop needs tokio's multi-thread runtime"
    );
    let handler = Arc::new(handler);
    let mut batch: Batch<H::Item> = Batch::new(limits);
    let mut in_flight: Option<Delivery> = None;
    let mut stopped = false;
    while !stopped {
        if batch.is_due() {
            // Hand the batch over once the one before it is delivered and committed.
            if let Some(delivery) = in_flight.take() {
                stopped = !settle(&consumer, delivery, &shutdown).await?;
                if stopped {
                    break;
                }
            }
            in_flight = Some(start(
                &consumer,
                &handler,
                &mut batch,
                shutdown.child_token(),
            ));
            continue;
        }
        let deadline = batch.deadline();
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        let delivered = async {
            match &mut in_flight {
                Some(delivery) => (&mut delivery.task).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = sleep => {}
            outcome = delivered => {
                let delivery = in_flight.take().expect("a delivery was in flight");
                stopped = !commit_delivered(&consumer, delivery.offsets, outcome, &shutdown)?;
            }
            message = consumer.recv() => take(&consumer, &*handler, &mut batch, message).await,
        }
    }
    // Drain: the delivery in flight (interrupted only if shutdown found its destination
    // down), then what was read after it, without waiting for shutdown to be lifted.
    if let Some(delivery) = in_flight.take() {
        stopped = !settle(&consumer, delivery, &shutdown).await?;
    }
    if !stopped && !batch.is_empty() {
        let last = start(&consumer, &handler, &mut batch, CancellationToken::new());
        settle(&consumer, last, &shutdown).await?;
    }
    Ok(())
}

/// Starts delivering the batch on its own task.
fn start<H: BatchHandler + 'static>(
    consumer: &StreamConsumer<GroupContext>,
    handler: &Arc<H>,
    batch: &mut Batch<H::Item>,
    stop: CancellationToken,
) -> Delivery {
    let (items, offsets) = batch.take();
    let finished = Arc::new(Finished::default());
    consumer
        .context()
        .set_in_flight(Some((stop.clone(), finished.clone())));
    let handler = handler.clone();
    let task = tokio::spawn(async move {
        let _finished = FinishOnDrop(finished);
        handler.deliver(items, &stop).await
    });
    Delivery { task, offsets }
}

/// Waits for a delivery and commits it; false when the loop must stop.
async fn settle(
    consumer: &StreamConsumer<GroupContext>,
    delivery: Delivery,
    shutdown: &CancellationToken,
) -> anyhow::Result<bool> {
    let outcome = delivery.task.await;
    commit_delivered(consumer, delivery.offsets, outcome, shutdown)
}

/// Commits a finished delivery's offsets. An interrupted delivery is not committed: if
/// shutdown interrupted it the loop stops (later batches must not be committed past it); if
/// a revocation did, its partitions belong to their next owner, who reads them again.
fn commit_delivered(
    consumer: &StreamConsumer<GroupContext>,
    offsets: Offsets,
    outcome: Result<bool, tokio::task::JoinError>,
    shutdown: &CancellationToken,
) -> anyhow::Result<bool> {
    consumer.context().set_in_flight(None);
    match outcome {
        Ok(true) => {}
        Ok(false) => return Ok(!shutdown.is_cancelled()),
        Err(e) => anyhow::bail!("a delivery task failed: {e}"),
    }
    if let Err(e) = commit(consumer, &offsets) {
        // Delivered but the offsets did not move: the messages will be read again after a
        // restart or rebalance, and the handlers skip what they already hold.
        tracing::error!(error = %e, "offset commit failed");
        metrics::counter!("recoscope_consumer_commit_failures_total").increment(1);
    }
    Ok(true)
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
