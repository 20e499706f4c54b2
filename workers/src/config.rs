//! Each worker's settings, with its defaults and checks. The server reads them all from the
//! environment at boot and hands each worker its own.

use envconfig::Envconfig;
use recoscope_core::config::{ensure, ConfigError};
use recoscope_kafka::KafkaConfig;
pub use recoscope_redis::RedisConfig;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

/// Defaults as a developer on the local stack gets them.
macro_rules! defaults {
    ($($config:ty),*) => {$(
        impl Default for $config {
            fn default() -> Self {
                <$config>::init_from_hashmap(&HashMap::new()).expect("defaults parse")
            }
        }
    )*};
}
defaults!(WorkerConfig, SinkConfig, RealtimeConfig, RecentFeedConfig);

/// The Redis of the real-time state and of the partition leases.
/// What every worker process shares: its name, its leases, and when it is not ready.
#[derive(Envconfig, Debug, Clone)]
pub struct WorkerConfig {
    /// Where a worker-only process (`recoscope worker`) serves liveness, readiness and
    /// metrics.
    #[envconfig(from = "WORKER_LISTEN", default = "127.0.0.1:3001")]
    pub listen: SocketAddr,
    /// A readable name for this worker process in the partition-ownership logs and keys
    /// (e.g. the pod name). Empty: host name and process id. It is only a label: ownership
    /// never depends on it, so two processes given the same name by mistake still never
    /// own one partition together.
    #[envconfig(from = "WORKER_INSTANCE_ID", default = "")]
    pub instance_id: String,
    /// A consumer partition further behind than this many messages makes readiness fail.
    #[envconfig(from = "WORKER_READY_MAX_LAG", default = "100000")]
    pub ready_max_lag: i64,
    /// A partition with work waiting (lag > 0) whose committed offset has not moved for this
    /// long is stalled: readiness fails, a warning names it, `/metrics` shows it.
    #[envconfig(from = "WORKER_STALL_SECS", default = "60")]
    pub stall_secs: u64,
    /// How long a worker's claim on a partition lasts without renewal (renewed every third
    /// of it). A crashed worker's partitions are taken over this long after its last renewal.
    #[envconfig(from = "WORKER_LEASE_SECS", default = "10")]
    pub lease_secs: u64,
}

impl WorkerConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        ensure(self.stall_secs > 0, "WORKER_STALL_SECS", "must be positive")?;
        ensure(
            (3..=300).contains(&self.lease_secs),
            "WORKER_LEASE_SECS",
            "must be between 3 and 300 seconds",
        )?;
        ensure(
            self.ready_max_lag >= 0,
            "WORKER_READY_MAX_LAG",
            "must not be negative",
        )
    }

    pub fn stall_after(&self) -> Duration {
        Duration::from_secs(self.stall_secs)
    }
}

/// The ClickHouse loader (`clickhouse-sink`) and the raw table's retention.
#[derive(Envconfig, Debug, Clone)]
pub struct SinkConfig {
    /// Consumer group of the ClickHouse loader.
    #[envconfig(from = "SINK_GROUP_ID", default = "clickhouse-sink")]
    pub group_id: String,
    /// A batch is written when it holds this many rows...
    #[envconfig(from = "SINK_MAX_ROWS", default = "20000")]
    pub max_rows: usize,
    /// ...or this many bytes of messages (ClickHouse prefers few large inserts)...
    #[envconfig(from = "SINK_MAX_BYTES", default = "16777216")]
    pub max_bytes: usize,
    /// ...or when its first row has waited this long.
    #[envconfig(from = "SINK_MAX_WAIT_MS", default = "1000")]
    pub max_wait_ms: u64,
    /// Looks up every message by event id for this long after a partition came to this
    /// loader (a start, a handover), not only redelivered ones: a client's resend of an event
    /// its predecessor inserted (the API died between the broker's ack and its answer) lands
    /// at a new offset in that time. 0 turns that off.
    /// Clients retry within seconds to a minute; the lookups cost the sink while they last
    /// (docs/ARCHITECTURE.md, "Each event once").
    #[envconfig(from = "SINK_RESEND_GRACE_SECS", default = "120")]
    pub resend_grace_secs: u64,
    /// How many inserted events the sink remembers (8-byte hashes) to drop clients' resends
    /// without asking ClickHouse; 0 turns that off.
    #[envconfig(from = "SINK_RECENT_IDS", default = "1000000")]
    pub recent_ids: usize,
    /// Days of raw events `user_behaviors` keeps (whole daily partitions are dropped after);
    /// the rollups keep everything.
    #[envconfig(from = "RAW_RETENTION_DAYS", default = "90")]
    pub raw_retention_days: u32,
}

impl SinkConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        ensure(
            !self.group_id.is_empty(),
            "SINK_GROUP_ID",
            "must not be empty",
        )?;
        ensure(self.max_rows > 0, "SINK_MAX_ROWS", "must be positive")?;
        ensure(
            self.max_bytes >= 1024,
            "SINK_MAX_BYTES",
            "must be at least 1024",
        )?;
        ensure(self.max_wait_ms > 0, "SINK_MAX_WAIT_MS", "must be positive")?;
        ensure(
            self.raw_retention_days > 0,
            "RAW_RETENTION_DAYS",
            "must be at least 1",
        )
    }
}

/// The real-time worker (`redis-realtime`): hot items and last-hour metrics in Redis.
#[derive(Envconfig, Debug, Clone)]
pub struct RealtimeConfig {
    /// Consumer group of the real-time worker.
    #[envconfig(from = "REALTIME_GROUP_ID", default = "redis-realtime")]
    pub group_id: String,
    /// The real-time worker applies what it read at least this often (freshness).
    #[envconfig(from = "REALTIME_MAX_WAIT_MS", default = "200")]
    pub max_wait_ms: u64,
    /// Hot-item scores halve in this time.
    #[envconfig(from = "REALTIME_HOT_HALF_LIFE_SECS", default = "3600")]
    pub hot_half_life_secs: u64,
    /// Items kept per hot-items set.
    #[envconfig(from = "REALTIME_HOT_MAX_ITEMS", default = "1000")]
    pub hot_max_items: usize,
    /// A hot-items set disappears this long after its last event.
    #[envconfig(from = "REALTIME_HOT_TTL_SECS", default = "172800")]
    pub hot_ttl_secs: u64,
    /// Event ids the real-time worker remembers per partition and generation (two
    /// generations) to skip clients' resends: at 1,000 events/s on a partition, 50,000 cover
    /// the 50–100 s after an event. About 50 bytes each in Redis.
    #[envconfig(from = "REALTIME_RESEND_WINDOW", default = "50000")]
    pub resend_window: usize,
}

impl RealtimeConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        ensure(
            self.max_wait_ms > 0,
            "REALTIME_MAX_WAIT_MS",
            "must be positive",
        )?;
        ensure(
            self.hot_half_life_secs > 0,
            "REALTIME_HOT_HALF_LIFE_SECS",
            "must be positive",
        )?;
        ensure(
            self.hot_max_items > 0,
            "REALTIME_HOT_MAX_ITEMS",
            "must be positive",
        )?;
        ensure(
            self.resend_window > 0,
            "REALTIME_RESEND_WINDOW",
            "must be positive",
        )?;
        ensure(
            self.hot_ttl_secs >= 60,
            "REALTIME_HOT_TTL_SECS",
            "must be at least 60",
        )
    }

    pub fn hot_half_life(&self) -> Duration {
        Duration::from_secs(self.hot_half_life_secs)
    }
}

/// The recent-behaviour feed (`recent-behaviour`): 7 days per user in the stores.
#[derive(Envconfig, Debug, Clone)]
pub struct RecentFeedConfig {
    /// Consumer group that feeds the recent-behaviour store from the topic.
    #[envconfig(from = "RECENT_GROUP_ID", default = "recent-behaviour")]
    pub group_id: String,
    /// The feed writes what it read at least this often.
    #[envconfig(from = "RECENT_MAX_WAIT_MS", default = "200")]
    pub max_wait_ms: u64,
}

impl RecentFeedConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        ensure(
            !self.group_id.is_empty(),
            "RECENT_GROUP_ID",
            "must not be empty",
        )?;
        ensure(
            self.max_wait_ms > 0,
            "RECENT_MAX_WAIT_MS",
            "must be positive",
        )
    }
}

/// The three consumer groups must differ: each reads every event for its own store.
pub fn check_groups(
    sink: &SinkConfig,
    realtime: &RealtimeConfig,
    recent: &RecentFeedConfig,
) -> Result<(), ConfigError> {
    ensure(
        realtime.group_id != sink.group_id,
        "REALTIME_GROUP_ID",
        "must be set and differ from SINK_GROUP_ID",
    )?;
    ensure(
        recent.group_id != sink.group_id && recent.group_id != realtime.group_id,
        "RECENT_GROUP_ID",
        "must be set and differ from SINK_GROUP_ID and REALTIME_GROUP_ID",
    )
}

/// What a member of any consumer group needs: the topic it reads, the Redis that holds the
/// partition leases, and this process's worker settings.
#[derive(Debug, Clone)]
pub struct Membership {
    pub kafka: KafkaConfig,
    pub redis: RedisConfig,
    pub worker: WorkerConfig,
}
