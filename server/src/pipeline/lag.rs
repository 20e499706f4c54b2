//! Consumer lag per partition: how many messages each consumer group has not committed yet.
//!
//! Each worker's group is watched by [`watch`]: every [`INTERVAL`] it reads the group's
//! committed offsets and the broker's watermarks for *every* partition of the topic (not only
//! the ones this process owns, so a group stuck without owners shows as lagging), sets the
//! `recoscope_consumer_lag{group,topic,partition}` gauge and puts the numbers on the
//! process-wide [`LagBoard`] that readiness reads.

use crate::config::Config;
use crate::kafka::client_config;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the lag is read.
pub const INTERVAL: Duration = Duration::from_secs(2);

/// One partition's lag as a consumer group sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartitionLag {
    pub group: String,
    pub topic: String,
    pub partition: i32,
    /// Messages after the group's committed offset.
    pub lag: i64,
}

/// (topic, partition) → lag, for one group.
type GroupLags = BTreeMap<(String, i32), i64>;

#[derive(Default)]
pub struct LagBoard {
    groups: Mutex<BTreeMap<String, GroupLags>>,
}

/// The board of this process (every consumer of every worker reports here).
pub fn board() -> &'static LagBoard {
    static BOARD: OnceLock<LagBoard> = OnceLock::new();
    BOARD.get_or_init(LagBoard::default)
}

/// Messages after the committed offset up to the high watermark; while the group has
/// committed nothing, everything the broker still holds (from the low watermark).
fn partition_lag(low: i64, high: i64, committed: Option<i64>) -> i64 {
    (high - committed.unwrap_or(low).max(low)).max(0)
}

impl LagBoard {
    /// Replaces `group`'s numbers and gauges.
    pub fn set(&self, group: &str, lags: GroupLags) {
        for ((topic, partition), lag) in &lags {
            metrics::gauge!("recoscope_consumer_lag",
                "group" => group.to_string(),
                "topic" => topic.clone(),
                "partition" => partition.to_string())
            .set(*lag as f64);
        }
        let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        groups.insert(group.to_string(), lags);
    }

    /// Every partition of every group, ordered by group, topic and partition.
    pub fn snapshot(&self) -> Vec<PartitionLag> {
        let groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        groups
            .iter()
            .flat_map(|(group, partitions)| {
                partitions
                    .iter()
                    .map(move |((topic, partition), lag)| PartitionLag {
                        group: group.clone(),
                        topic: topic.clone(),
                        partition: *partition,
                        lag: *lag,
                    })
            })
            .collect()
    }

    /// Forgets a group (its worker stopped).
    pub fn remove(&self, group: &str) {
        let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        groups.remove(group);
    }
}

/// Reads `group`'s lag on `topic` every [`INTERVAL`] until shutdown; the group disappears
/// from the board when its worker stops.
pub async fn watch(config: Config, group: String, topic: String, shutdown: CancellationToken) {
    let consumer: Option<BaseConsumer> = client_config(&config.kafka_brokers)
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .create()
        .map_err(|error| tracing::warn!(%error, group, "cannot watch the consumer lag"))
        .ok();
    let Some(consumer) = consumer else { return };
    let consumer = std::sync::Arc::new(consumer);
    let mut every = tokio::time::interval(INTERVAL);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = every.tick() => {}
        }
        let (reader, topic_name) = (consumer.clone(), topic.clone());
        match tokio::task::spawn_blocking(move || read_lag(&reader, &topic_name)).await {
            Ok(Ok(lags)) => board().set(&group, lags),
            Ok(Err(error)) => tracing::debug!(%error, group, "consumer lag not read"),
            Err(error) => tracing::debug!(%error, group, "consumer lag task failed"),
        }
    }
    board().remove(&group);
}

/// The group's lag on every partition of `topic` (blocking: metadata, offsets, watermarks).
fn read_lag(consumer: &BaseConsumer, topic: &str) -> rdkafka::error::KafkaResult<GroupLags> {
    let timeout = Duration::from_secs(2);
    let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
    let mut partitions = TopicPartitionList::new();
    for t in metadata.topics() {
        for p in t.partitions() {
            partitions.add_partition(topic, p.id());
        }
    }
    let committed = consumer.committed_offsets(partitions, timeout)?;
    let mut lags = GroupLags::new();
    for element in committed.elements() {
        let (low, high) = consumer.fetch_watermarks(topic, element.partition(), timeout)?;
        let committed = match element.offset() {
            Offset::Offset(o) => Some(o),
            _ => None,
        };
        lags.insert(
            (topic.to_string(), element.partition()),
            partition_lag(low, high, committed),
        );
    }
    Ok(lags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_counts_from_the_committed_offset_or_from_what_the_broker_holds() {
        assert_eq!(partition_lag(0, 100, Some(40)), 60);
        assert_eq!(partition_lag(10, 60, None), 50);
        // Committed before what retention kept: only what is still there is behind.
        assert_eq!(partition_lag(30, 60, Some(5)), 30);
        assert_eq!(partition_lag(0, 60, Some(60)), 0);
    }

    #[test]
    fn the_board_lists_every_group_and_forgets_stopped_ones() {
        let board = LagBoard::default();
        board.set(
            "sink",
            GroupLags::from([(("events".into(), 1), 7), (("events".into(), 0), 3)]),
        );
        board.set("realtime", GroupLags::from([(("events".into(), 0), 0)]));
        let rows: Vec<(String, i32, i64)> = board
            .snapshot()
            .into_iter()
            .map(|l| (l.group, l.partition, l.lag))
            .collect();
        assert_eq!(
            rows,
            [
                ("realtime".into(), 0, 0),
                ("sink".into(), 0, 3),
                ("sink".into(), 1, 7)
            ]
        );
        board.remove("sink");
        assert_eq!(board.snapshot().len(), 1);
    }
}
