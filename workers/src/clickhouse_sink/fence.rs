//! The fence: before each insert the loader raises, per partition, the highest offset it
//! began to insert (`sink_fence`, write-ahead), so an offset above it cannot be in ClickHouse.

use super::Shard;
use crate::batch::Source;
use crate::row::BehaviorRow;
use recoscope_clickhouse::{ClickHouseError, Query, RowBinary, RowBinaryWriter, SqlValue};
use std::collections::{HashMap, HashSet};

/// The fence of each partition the batch comes from (absent: never written).
pub(super) async fn read<T>(
    shard: &Shard,
    rows: &[(Source, BehaviorRow, T)],
) -> Result<Fence, ClickHouseError> {
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
            "SELECT kafka_partition, max(kafka_offset) AS fence FROM {} \
             WHERE topic = ? AND kafka_partition IN ? GROUP BY kafka_partition",
            shard.fence_table
        ))
        .bind(topic)
        .bind(SqlValue::Tuple(
            partitions.into_iter().map(SqlValue::from).collect(),
        ));
        for row in shard.clickhouse.fetch::<Row>(query).await? {
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
pub(super) async fn raise<T>(
    shard: &Shard,
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
    shard
        .clickhouse
        .insert(shard.fence_table, marks.iter())
        .await
}
/// The highest offset the sink began to insert, per (topic, partition).
#[derive(Default)]
pub(super) struct Fence(HashMap<String, HashMap<i32, i64>>);

impl Fence {
    /// Whether the message may already be in ClickHouse.
    pub(super) fn covers(&self, source: &Source) -> bool {
        self.0
            .get(&source.topic)
            .and_then(|partitions| partitions.get(&source.partition))
            .is_some_and(|fence| source.offset <= *fence)
    }
}

/// A `sink_fence` row.
pub(super) struct FenceMark<'a> {
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
