//! The stream workers: three consumer groups on the events topic, each keeping one store
//! up to date, each event once; and the jobs around them.
//!
//! - [`config`]: each worker's settings ([`SinkConfig`], [`RealtimeConfig`],
//!   [`RecentFeedConfig`]) and what every member shares ([`Membership`]: the topic, the
//!   Redis of the leases, [`WorkerConfig`]).
//! - [`row`]: a `BehaviorRecord` as a `user_behaviors` row.
//! - [`batch`]: the rows/bytes/time bounded batch and the offsets it covers.
//! - [`ownership`]: who reads which partition: leases in Redis, not the broker's group
//!   coordinator (a crashed worker's partitions are taken over after one lease).
//! - [`consumer`]: the loop every worker shares (batch, deliver, then commit; changes of
//!   ownership).
//! - [`lag`]: consumer lag per partition, for `/metrics` and readiness.
//! - [`retry`]: jittered exponential backoff for transient failures.
//! - [`dead_letter`]: the dead-letter topic for messages that cannot be loaded.
//! - [`clickhouse_sink`]: the consumer group that loads ClickHouse: each event once, offsets
//!   committed only after ClickHouse (or the dead-letter topic) took the batch.
//! - [`recent_feed`]: the consumer group that feeds the recent-behaviour store (7 days per
//!   user) and purges it.
//! - [`realtime`]: the consumer group that keeps hot items and last-hour metrics in Redis,
//!   each message once.
//! - [`retention`]: dropping raw events older than `RAW_RETENTION_DAYS`.
//!
//! Nothing here serves HTTP or renders pages: the server starts these and reads their
//! health (the [`lag::LagBoard`]).

pub mod batch;
pub mod clickhouse_sink;
pub mod config;
pub mod consumer;
pub mod dead_letter;
pub mod lag;
pub mod ownership;
pub mod realtime;
pub mod recent_feed;
pub mod retention;
pub mod retry;
pub mod row;

pub use config::{
    Membership, RealtimeConfig, RecentFeedConfig, RedisConfig, SinkConfig, WorkerConfig,
};
