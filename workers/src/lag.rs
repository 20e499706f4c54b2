//! Consumer lag per partition: how many messages each consumer group has not committed yet,
//! and whether a partition with work waiting has stopped making progress (a stall).
//!
//! Each worker's group is watched by [`watch`]: every [`INTERVAL`] it reads the group's
//! committed offsets and the broker's watermarks for *every* partition of the topic (not only
//! the ones this process owns, so a group stuck without owners shows as lagging), sets the
//! `recoscope_consumer_lag{group,topic,partition}` gauge and puts the numbers on the
//! process's [`LagBoard`], which the server hands to readiness.
//!
//! A partition is **stalled** when it has lag and its committed offset has not moved for
//! `WORKER_STALL_SECS`: nobody loads it (no owner, a destination down, a stuck loop). Lag alone
//! is not a stall (a busy partition catching up moves), and a stall below
//! `WORKER_READY_MAX_LAG` is still one: this is what kept a frozen pipeline "ready" (issue
//! 12). A stall turns readiness red, is logged as a warning naming group, partition and lag,
//! and shows as `recoscope_consumer_stalled{group,topic,partition}` (1) with
//! `recoscope_consumer_stalled_seconds`.

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use recoscope_kafka::KafkaConfig;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
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
    /// Seconds since the committed offset last moved while there was lag (0 without lag).
    pub idle_secs: u64,
    /// Lag and no progress for the stall time.
    pub stalled: bool,
}

/// One reading: lag and the committed offset (`None` before the first commit).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    pub lag: i64,
    pub committed: Option<i64>,
}

/// (topic, partition) → reading, for one group.
pub type GroupReadings = BTreeMap<(String, i32), Reading>;

#[derive(Debug, Clone)]
struct Tracked {
    reading: Reading,
    /// Last time the partition had no lag or its committed offset moved.
    progress_at: Instant,
    stalled: bool,
}

/// (topic, partition) → what the board knows of it, for one group.
type GroupState = BTreeMap<(String, i32), Tracked>;

#[derive(Default)]
pub struct LagBoard {
    groups: Mutex<BTreeMap<String, GroupState>>,
}

/// Messages after the committed offset up to the high watermark; while the group has
/// committed nothing, everything the broker still holds (from the low watermark).
fn partition_lag(low: i64, high: i64, committed: Option<i64>) -> i64 {
    (high - committed.unwrap_or(low).max(low)).max(0)
}

impl LagBoard {
    /// Takes a new reading of `group` at `now`: updates progress, stalls (a partition stalls
    /// after `stall_after` with lag and no progress) and gauges, and logs the changes.
    pub fn set(&self, group: &str, readings: GroupReadings, stall_after: Duration, now: Instant) {
        let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        let previous = groups.remove(group).unwrap_or_default();
        let mut tracked = BTreeMap::new();
        for ((topic, partition), reading) in readings {
            let key = (topic.clone(), partition);
            let moved = previous
                .get(&key)
                .is_none_or(|p| p.reading.committed != reading.committed);
            let progress_at = match previous.get(&key) {
                Some(p) if !moved && reading.lag > 0 => p.progress_at,
                _ => now,
            };
            let idle = now.duration_since(progress_at);
            let stalled = reading.lag > 0 && idle >= stall_after;
            let was_stalled = previous.get(&key).is_some_and(|p| p.stalled);
            if stalled && !was_stalled {
                tracing::warn!(
                    group,
                    topic,
                    partition,
                    lag = reading.lag,
                    idle_secs = idle.as_secs(),
                    "partition stalled: messages are waiting and none were committed"
                );
            } else if !stalled && was_stalled {
                tracing::info!(
                    group,
                    topic,
                    partition,
                    lag = reading.lag,
                    "partition moves again"
                );
            }
            let labels = [
                ("group", group.to_string()),
                ("topic", topic.clone()),
                ("partition", partition.to_string()),
            ];
            metrics::gauge!("recoscope_consumer_lag", &labels).set(reading.lag as f64);
            metrics::gauge!("recoscope_consumer_stalled", &labels)
                .set(f64::from(u8::from(stalled)));
            metrics::gauge!("recoscope_consumer_stalled_seconds", &labels).set(if stalled {
                idle.as_secs_f64()
            } else {
                0.0
            });
            tracked.insert(
                key,
                Tracked {
                    reading,
                    progress_at,
                    stalled,
                },
            );
        }
        groups.insert(group.to_string(), tracked);
    }

    /// Every partition of every group, ordered by group, topic and partition.
    pub fn snapshot(&self) -> Vec<PartitionLag> {
        let now = Instant::now();
        let groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        groups
            .iter()
            .flat_map(|(group, partitions)| {
                partitions
                    .iter()
                    .map(move |((topic, partition), t)| PartitionLag {
                        group: group.clone(),
                        topic: topic.clone(),
                        partition: *partition,
                        lag: t.reading.lag,
                        idle_secs: if t.reading.lag > 0 {
                            now.duration_since(t.progress_at).as_secs()
                        } else {
                            0
                        },
                        stalled: t.stalled,
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
pub async fn watch(
    kafka: KafkaConfig,
    group: String,
    stall_after: Duration,
    board: Arc<LagBoard>,
    shutdown: CancellationToken,
) {
    let topic = kafka.topic.clone();
    let consumer: Option<BaseConsumer> = kafka
        .client()
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .create()
        .map_err(|error| tracing::warn!(%error, group, "cannot watch the consumer lag"))
        .ok();
    let Some(consumer) = consumer else { return };
    let consumer = Arc::new(consumer);
    let mut every = tokio::time::interval(INTERVAL);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = every.tick() => {}
        }
        let (reader, topic_name) = (consumer.clone(), topic.clone());
        match tokio::task::spawn_blocking(move || read_lag(&reader, &topic_name)).await {
            Ok(Ok(lags)) => board.set(&group, lags, stall_after, Instant::now()),
            Ok(Err(error)) => tracing::debug!(%error, group, "consumer lag not read"),
            Err(error) => tracing::debug!(%error, group, "consumer lag task failed"),
        }
    }
    board.remove(&group);
}

/// The group's lag on every partition of `topic` (blocking: metadata, offsets, watermarks).
fn read_lag(consumer: &BaseConsumer, topic: &str) -> rdkafka::error::KafkaResult<GroupReadings> {
    let timeout = Duration::from_secs(2);
    let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
    let mut partitions = TopicPartitionList::new();
    for t in metadata.topics() {
        for p in t.partitions() {
            partitions.add_partition(topic, p.id());
        }
    }
    let committed = consumer.committed_offsets(partitions, timeout)?;
    let mut lags = GroupReadings::new();
    for element in committed.elements() {
        let (low, high) = consumer.fetch_watermarks(topic, element.partition(), timeout)?;
        let committed = match element.offset() {
            Offset::Offset(o) => Some(o),
            _ => None,
        };
        lags.insert(
            (topic.to_string(), element.partition()),
            Reading {
                lag: partition_lag(low, high, committed),
                committed,
            },
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

    fn reading(lag: i64, committed: i64) -> Reading {
        Reading {
            lag,
            committed: Some(committed),
        }
    }

    fn one(topic: &str, partition: i32, r: Reading) -> GroupReadings {
        GroupReadings::from([((topic.to_string(), partition), r)])
    }

    #[test]
    fn the_board_lists_every_group_and_forgets_stopped_ones() {
        let board = LagBoard::default();
        let (stall, now) = (Duration::from_secs(60), Instant::now());
        board.set(
            "sink",
            GroupReadings::from([
                (("events".into(), 1), reading(7, 0)),
                (("events".into(), 0), reading(3, 0)),
            ]),
            stall,
            now,
        );
        board.set("realtime", one("events", 0, reading(0, 9)), stall, now);
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

    #[test]
    fn lag_without_progress_for_the_stall_time_is_a_stall() {
        let board = LagBoard::default();
        let (stall, t0) = (Duration::from_secs(10), Instant::now());
        let stalled = |board: &LagBoard| board.snapshot()[0].stalled;
        board.set("g", one("t", 0, reading(5, 100)), stall, t0);
        board.set(
            "g",
            one("t", 0, reading(50, 100)),
            stall,
            t0 + Duration::from_secs(9),
        );
        assert!(!stalled(&board), "not yet the stall time");
        board.set(
            "g",
            one("t", 0, reading(80, 100)),
            stall,
            t0 + Duration::from_secs(10),
        );
        assert!(
            stalled(&board),
            "lag and the same committed offset for 10 s"
        );
        // Progress ends the stall and restarts the clock.
        board.set(
            "g",
            one("t", 0, reading(60, 120)),
            stall,
            t0 + Duration::from_secs(11),
        );
        assert!(!stalled(&board));
        board.set(
            "g",
            one("t", 0, reading(60, 120)),
            stall,
            t0 + Duration::from_secs(20),
        );
        assert!(!stalled(&board));
        board.set(
            "g",
            one("t", 0, reading(60, 120)),
            stall,
            t0 + Duration::from_secs(21),
        );
        assert!(stalled(&board));
    }

    #[test]
    fn an_idle_partition_without_lag_never_stalls() {
        let board = LagBoard::default();
        let (stall, t0) = (Duration::from_secs(10), Instant::now());
        board.set("g", one("t", 0, reading(0, 100)), stall, t0);
        board.set(
            "g",
            one("t", 0, reading(0, 100)),
            stall,
            t0 + Duration::from_secs(600),
        );
        assert!(!board.snapshot()[0].stalled);
        // Work arrives after a long quiet time: the clock starts when it arrives.
        board.set(
            "g",
            one("t", 0, reading(4, 100)),
            stall,
            t0 + Duration::from_secs(601),
        );
        board.set(
            "g",
            one("t", 0, reading(4, 100)),
            stall,
            t0 + Duration::from_secs(605),
        );
        assert!(!board.snapshot()[0].stalled);
    }
}
