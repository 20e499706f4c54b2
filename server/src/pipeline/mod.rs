//! Kafka-fed workers.
//!
//! - [`row`]: a `BehaviorRecord` as a `user_behaviors` row.
//! - [`batch`]: the size/time bounded batch and the offsets it covers.
//! - [`clickhouse_sink`]: the consumer group that loads ClickHouse; offsets are committed only
//!   after ClickHouse took the batch.

pub mod batch;
pub mod clickhouse_sink;
pub mod row;
