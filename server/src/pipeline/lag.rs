//! Consumer lag per partition: how many messages each consumer group has not committed yet.
//!
//! librdkafka reports statistics for the partitions a consumer owns every
//! [`STATS_INTERVAL_MS`]; each report replaces that group's rows on the process-wide
//! [`LagBoard`] (so revoked partitions disappear) and sets the `recoscope_consumer_lag`
//! gauge. Readiness reads the board.

use rdkafka::statistics::Statistics;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

/// How often librdkafka reports (and so how fresh the lag is).
pub const STATS_INTERVAL_MS: u32 = 2_000;

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

/// Lag of one partition from its statistics: up to the high watermark from the committed
/// offset, or from the low watermark while the group has committed nothing yet. `None` when
/// the broker's offsets are not known yet.
fn partition_lag(p: &rdkafka::statistics::Partition) -> Option<i64> {
    if p.hi_offset < 0 {
        return None;
    }
    let from = if p.committed_offset >= 0 {
        p.committed_offset
    } else if p.lo_offset >= 0 {
        p.lo_offset
    } else {
        return None;
    };
    Some((p.hi_offset - from).max(0))
}

impl LagBoard {
    /// Takes a statistics report of `group`'s consumer: the partitions it owns now.
    pub fn report(&self, group: &str, statistics: &Statistics) {
        let mut owned = BTreeMap::new();
        for (topic_name, topic) in &statistics.topics {
            for (id, p) in &topic.partitions {
                // -1 is librdkafka's internal "unassigned" partition.
                if *id < 0 || !p.desired {
                    continue;
                }
                if let Some(lag) = partition_lag(p) {
                    metrics::gauge!("recoscope_consumer_lag",
                        "group" => group.to_string(),
                        "topic" => topic_name.clone(),
                        "partition" => id.to_string())
                    .set(lag as f64);
                    owned.insert((topic_name.clone(), *id), lag);
                }
            }
        }
        let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        // Partitions this consumer gave away stop being reported as lagging here.
        if let Some(previous) = groups.get(group) {
            for (topic, partition) in previous.keys().filter(|k| !owned.contains_key(*k)) {
                metrics::gauge!("recoscope_consumer_lag",
                    "group" => group.to_string(),
                    "topic" => topic.clone(),
                    "partition" => partition.to_string())
                .set(0.0);
            }
        }
        groups.insert(group.to_string(), owned);
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

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::statistics::{Partition, Topic};

    fn stats(partitions: &[(i32, i64, i64, i64)]) -> Statistics {
        let mut topic = Topic::default();
        for &(id, lo, hi, committed) in partitions {
            topic.partitions.insert(
                id,
                Partition {
                    partition: id,
                    desired: true,
                    lo_offset: lo,
                    hi_offset: hi,
                    committed_offset: committed,
                    ..Default::default()
                },
            );
        }
        let mut statistics = Statistics::default();
        statistics.topics.insert("events".into(), topic);
        statistics
    }

    #[test]
    fn lag_counts_from_the_committed_offset_or_the_start() {
        let board = LagBoard::default();
        // Partition 0 committed up to 40 of 100; 1 has committed nothing of 10..60; 2 has no
        // broker offsets yet; -1 is librdkafka's internal partition.
        board.report(
            "sink",
            &stats(&[
                (0, 0, 100, 40),
                (1, 10, 60, -1001),
                (2, -1, -1, -1),
                (-1, 0, 5, 0),
            ]),
        );
        let lags: Vec<(i32, i64)> = board
            .snapshot()
            .iter()
            .map(|l| (l.partition, l.lag))
            .collect();
        assert_eq!(lags, [(0, 60), (1, 50)]);

        // After a rebalance the group owns only partition 1.
        board.report("sink", &stats(&[(1, 10, 60, 60)]));
        let after = board.snapshot();
        assert_eq!(after.len(), 1);
        assert_eq!((after[0].partition, after[0].lag), (1, 0));
        board.remove("sink");
        assert!(board.snapshot().is_empty());
    }
}
