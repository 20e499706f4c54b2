//! Configuration from the environment into one typed struct, validated at boot.
//!
//! Every variable has a default that matches the local stack (`scripts/stack up`), so a
//! developer needs to set nothing. A bad value stops the process with a message that names
//! the variable.

use envconfig::Envconfig;
use recoscope_clickhouse::ClickHouseConfig;
use recoscope_stores::StoreConfig;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Envconfig, Debug, Clone)]
pub struct Config {
    /// Address the HTTP server (ingest API + dashboard) listens on.
    #[envconfig(from = "RECOSCOPE_LISTEN", default = "127.0.0.1:3000")]
    pub listen: SocketAddr,
    /// Where a worker-only process (`recoscope worker`) serves liveness, readiness and
    /// metrics.
    #[envconfig(from = "WORKER_LISTEN", default = "127.0.0.1:3001")]
    pub worker_listen: SocketAddr,
    /// A readable name for this worker process in the partition-ownership logs and keys
    /// (e.g. the pod name). Empty: host name and process id. It is only a label: ownership
    /// never depends on it, so two processes given the same name by mistake still never
    /// own one partition together.
    #[envconfig(from = "WORKER_INSTANCE_ID", default = "")]
    pub worker_instance_id: String,
    /// A consumer partition further behind than this many messages makes readiness fail.
    #[envconfig(from = "WORKER_READY_MAX_LAG", default = "100000")]
    pub worker_ready_max_lag: i64,
    /// A partition with work waiting (lag > 0) whose committed offset has not moved for this
    /// long is stalled: readiness fails, a warning names it, `/metrics` shows it.
    #[envconfig(from = "WORKER_STALL_SECS", default = "60")]
    pub worker_stall_secs: u64,
    /// How long a worker's claim on a partition lasts without renewal (renewed every third
    /// of it). A crashed worker's partitions are taken over this long after its last renewal.
    #[envconfig(from = "WORKER_LEASE_SECS", default = "10")]
    pub worker_lease_secs: u64,

    /// Request line and headers must arrive within this time; a client that stalls is
    /// disconnected. It is also how long a kept-alive connection may stay idle (hyper has one
    /// timer for both), so the default avoids the 10/15/30/60 s intervals pollers and scrapers
    /// use: a request sent just as the server closes the idle connection fails.
    #[envconfig(from = "HTTP_HEADER_TIMEOUT_SECS", default = "20")]
    pub http_header_timeout_secs: u64,
    /// A request body must arrive within this time (408 otherwise).
    #[envconfig(from = "HTTP_BODY_TIMEOUT_SECS", default = "30")]
    pub http_body_timeout_secs: u64,
    /// Request line and headers larger than this get 431.
    #[envconfig(from = "HTTP_MAX_HEADER_BYTES", default = "65536")]
    pub http_max_header_bytes: usize,
    /// Open HTTP connections at most (also bounded by the open-file limit); more wait.
    #[envconfig(from = "HTTP_MAX_CONNECTIONS", default = "10000")]
    pub http_max_connections: usize,

    /// Kafka bootstrap servers, comma-separated.
    #[envconfig(from = "KAFKA_BROKERS", default = "127.0.0.1:9092")]
    pub kafka_brokers: String,
    /// Topic behaviour events are written to and read from.
    #[envconfig(from = "KAFKA_TOPIC", default = "user-behaviors")]
    pub kafka_topic: String,
    /// Partitions of the topic when the server creates it (more partitions, more workers).
    #[envconfig(from = "KAFKA_TOPIC_PARTITIONS", default = "3")]
    pub kafka_topic_partitions: i32,
    /// How long the topic keeps events when the server creates it (replay window for the
    /// workers and for backfills).
    #[envconfig(from = "KAFKA_TOPIC_RETENTION_HOURS", default = "168")]
    pub kafka_topic_retention_hours: u64,
    /// How long the dead-letter topic keeps messages when the server creates it.
    #[envconfig(from = "SINK_DEAD_LETTER_RETENTION_HOURS", default = "720")]
    pub sink_dead_letter_retention_hours: u64,
    /// How long the ingest API waits for the broker's acknowledgement before answering 503.
    #[envconfig(from = "KAFKA_PRODUCE_TIMEOUT_MS", default = "5000")]
    pub kafka_produce_timeout_ms: u64,
    /// Events the ingest API's producer holds at most while waiting for the broker. A batch
    /// that does not fit is refused whole with 503 (back-pressure), never half enqueued.
    #[envconfig(from = "KAFKA_QUEUE_MAX_MESSAGES", default = "100000")]
    pub kafka_queue_max_messages: usize,

    /// ClickHouse HTTP interface.
    #[envconfig(from = "CLICKHOUSE_URL", default = "http://127.0.0.1:8123")]
    pub clickhouse_url: String,
    #[envconfig(from = "CLICKHOUSE_DATABASE", default = "recoscope")]
    pub clickhouse_database: String,
    #[envconfig(from = "CLICKHOUSE_USER", default = "default")]
    pub clickhouse_user: String,
    #[envconfig(from = "CLICKHOUSE_PASSWORD", default = "")]
    pub clickhouse_password: String,

    /// Consumer group of the ClickHouse loader.
    #[envconfig(from = "SINK_GROUP_ID", default = "clickhouse-sink")]
    pub sink_group_id: String,
    /// A batch is written when it holds this many rows...
    #[envconfig(from = "SINK_MAX_ROWS", default = "20000")]
    pub sink_max_rows: usize,
    /// ...or this many bytes of messages (ClickHouse prefers few large inserts)...
    #[envconfig(from = "SINK_MAX_BYTES", default = "16777216")]
    pub sink_max_bytes: usize,
    /// ...or when its first row has waited this long.
    #[envconfig(from = "SINK_MAX_WAIT_MS", default = "1000")]
    pub sink_max_wait_ms: u64,
    /// Looks up every message by event id for this long after a partition came to this
    /// loader (a start, a handover), not only redelivered ones: a client's resend of an event
    /// its predecessor inserted (the API died between the broker's ack and its answer) lands
    /// at a new offset in that time. 0 turns that off.
    /// Clients retry within seconds to a minute; the lookups cost the sink while they last
    /// (docs/ARCHITECTURE.md, "Each event once").
    #[envconfig(from = "SINK_RESEND_GRACE_SECS", default = "120")]
    pub sink_resend_grace_secs: u64,
    /// How many inserted events the sink remembers (8-byte hashes) to drop clients' resends
    /// without asking ClickHouse; 0 turns that off.
    #[envconfig(from = "SINK_RECENT_IDS", default = "1000000")]
    pub sink_recent_ids: usize,
    /// Days of raw events `user_behaviors` keeps (whole daily partitions are dropped after);
    /// the rollups keep everything.
    #[envconfig(from = "RAW_RETENTION_DAYS", default = "90")]
    pub raw_retention_days: u32,
    /// Redis for the real-time state (hot items, last-hour metrics).
    #[envconfig(from = "REDIS_URL", default = "redis://127.0.0.1:6379")]
    pub redis_url: String,
    /// Put before every Redis key (several deployments or tests on one Redis).
    #[envconfig(from = "REDIS_KEY_PREFIX", default = "")]
    pub redis_key_prefix: String,
    /// Consumer group of the real-time worker.
    #[envconfig(from = "REALTIME_GROUP_ID", default = "redis-realtime")]
    pub realtime_group_id: String,
    /// The real-time worker applies what it read at least this often (freshness).
    #[envconfig(from = "REALTIME_MAX_WAIT_MS", default = "200")]
    pub realtime_max_wait_ms: u64,
    /// Hot-item scores halve in this time.
    #[envconfig(from = "REALTIME_HOT_HALF_LIFE_SECS", default = "3600")]
    pub realtime_hot_half_life_secs: u64,
    /// Items kept per hot-items set.
    #[envconfig(from = "REALTIME_HOT_MAX_ITEMS", default = "1000")]
    pub realtime_hot_max_items: usize,
    /// A hot-items set disappears this long after its last event.
    #[envconfig(from = "REALTIME_HOT_TTL_SECS", default = "172800")]
    pub realtime_hot_ttl_secs: u64,
    /// Event ids the real-time worker remembers per partition and generation (two
    /// generations) to skip clients' resends: at 1,000 events/s on a partition, 50,000 cover
    /// the 50–100 s after an event. About 50 bytes each in Redis.
    #[envconfig(from = "REALTIME_RESEND_WINDOW", default = "50000")]
    pub realtime_resend_window: usize,
    /// Where messages the loader cannot load go, with the reason in a header.
    #[envconfig(
        from = "SINK_DEAD_LETTER_TOPIC",
        default = "user-behaviors-dead-letter"
    )]
    pub sink_dead_letter_topic: String,

    /// Where tenants, keys, catalogs and recent behaviour are kept.
    #[envconfig(nested)]
    pub stores: StoreConfig,
    /// Consumer group that feeds the recent-behaviour store from the topic.
    #[envconfig(from = "RECENT_GROUP_ID", default = "recent-behaviour")]
    pub recent_group_id: String,
    /// Bearer token for the admin endpoints (`/api/v1/tenants/…`: catalog import and
    /// listing); empty turns them off.
    #[envconfig(from = "RECOSCOPE_ADMIN_TOKEN", default = "")]
    pub admin_token: String,
    /// How often the ingest API reloads write keys and origins from the configuration store
    /// (seconds): a key revoked with the CLI is refused within this time.
    #[envconfig(from = "INGEST_KEYS_REFRESH_SECS", default = "5")]
    pub ingest_keys_refresh_secs: u64,
    /// The write key the demo shop's pages (`/shop`) embed the tracker with; its tenant's
    /// catalog fills the shop. Empty turns the shop off.
    #[envconfig(from = "DEMO_SHOP_WRITE_KEY", default = "demo-key")]
    pub demo_shop_write_key: String,
    /// Largest request body the ingest API reads.
    #[envconfig(from = "INGEST_MAX_BODY_BYTES", default = "1048576")]
    pub ingest_max_body_bytes: usize,
    /// Most events in one request.
    #[envconfig(from = "INGEST_MAX_BATCH", default = "500")]
    pub ingest_max_batch: usize,
    /// Longest id or label in an event (bytes).
    #[envconfig(from = "INGEST_MAX_STRING_BYTES", default = "256")]
    pub ingest_max_string_bytes: usize,
    /// Largest `extra_data` of one event, serialized (bytes).
    #[envconfig(from = "INGEST_MAX_EXTRA_BYTES", default = "4096")]
    pub ingest_max_extra_bytes: usize,
    /// How far ahead of the server clock a timestamp may be (seconds).
    #[envconfig(from = "INGEST_MAX_FUTURE_SKEW_SECS", default = "300")]
    pub ingest_max_future_skew_secs: i64,
    /// How old a timestamp may be (hours).
    #[envconfig(from = "INGEST_MAX_AGE_HOURS", default = "168")]
    pub ingest_max_age_hours: i64,
    /// Proxies whose `X-Forwarded-For` is believed: comma-separated IPs or CIDR networks.
    /// Empty: the TCP peer is the client.
    #[envconfig(from = "INGEST_TRUSTED_PROXIES", default = "")]
    pub ingest_trusted_proxies: String,
    /// Steady events per second allowed per write key...
    #[envconfig(from = "INGEST_RATE_EVENTS_PER_SEC", default = "5000")]
    pub ingest_rate_events_per_sec: u32,
    /// ...and how many may come at once (at least `INGEST_MAX_BATCH`).
    #[envconfig(from = "INGEST_RATE_BURST", default = "20000")]
    pub ingest_rate_burst: u32,
}

pub use recoscope_core::config::ConfigError;

impl Config {
    /// Reads and validates the environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        let config = Config::init_from_env().map_err(|e| ConfigError::Env(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// The defaults, as a developer on the local stack gets them.
    pub fn local_defaults() -> Config {
        Config::init_from_hashmap(&HashMap::new()).expect("defaults parse")
    }

    /// The limits every HTTP connection gets.
    pub fn connection_limits(&self) -> crate::http_server::ConnectionLimits {
        crate::http_server::ConnectionLimits {
            header_timeout: Duration::from_secs(self.http_header_timeout_secs),
            max_header_bytes: self.http_max_header_bytes,
            max_connections: crate::http_server::connections_that_fit(self.http_max_connections),
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |var, reason: &str| {
            Err(ConfigError::Invalid {
                var,
                reason: reason.to_string(),
            })
        };
        if self.kafka_brokers.trim().is_empty() {
            return invalid("KAFKA_BROKERS", "must name at least one host:port");
        }
        if !is_topic_name(&self.kafka_topic) {
            return invalid("KAFKA_TOPIC", "use letters, digits, '.', '_' and '-' only");
        }
        if !(1..=1024).contains(&self.kafka_topic_partitions) {
            return invalid("KAFKA_TOPIC_PARTITIONS", "must be between 1 and 1024");
        }
        if self.kafka_topic_retention_hours == 0 {
            return invalid("KAFKA_TOPIC_RETENTION_HOURS", "must be positive");
        }
        if self.sink_dead_letter_retention_hours == 0 {
            return invalid("SINK_DEAD_LETTER_RETENTION_HOURS", "must be positive");
        }
        if self.http_header_timeout_secs == 0 || self.http_body_timeout_secs == 0 {
            return invalid(
                "HTTP_HEADER_TIMEOUT_SECS/HTTP_BODY_TIMEOUT_SECS",
                "must be positive",
            );
        }
        if !(8192..=1 << 20).contains(&self.http_max_header_bytes) {
            return invalid("HTTP_MAX_HEADER_BYTES", "must be between 8192 and 1048576");
        }
        if self.http_max_connections == 0 {
            return invalid("HTTP_MAX_CONNECTIONS", "must be positive");
        }
        if !(1..=3600).contains(&self.ingest_keys_refresh_secs) {
            return invalid(
                "INGEST_KEYS_REFRESH_SECS",
                "must be between 1 and 3600 seconds",
            );
        }
        if self.worker_stall_secs == 0 {
            return invalid("WORKER_STALL_SECS", "must be positive");
        }
        if !(3..=300).contains(&self.worker_lease_secs) {
            return invalid("WORKER_LEASE_SECS", "must be between 3 and 300 seconds");
        }
        if self.worker_ready_max_lag < 0 {
            return invalid("WORKER_READY_MAX_LAG", "must not be negative");
        }
        if self.kafka_produce_timeout_ms == 0 {
            return invalid("KAFKA_PRODUCE_TIMEOUT_MS", "must be positive");
        }
        // librdkafka's own ceiling for queue.buffering.max.messages.
        if !(self.ingest_max_batch..=10_000_000).contains(&self.kafka_queue_max_messages) {
            return invalid(
                "KAFKA_QUEUE_MAX_MESSAGES",
                "must be between INGEST_MAX_BATCH and 10000000, or a full batch could never fit",
            );
        }
        if !(self.clickhouse_url.starts_with("http://")
            || self.clickhouse_url.starts_with("https://"))
        {
            return invalid("CLICKHOUSE_URL", "must start with http:// or https://");
        }
        if !is_identifier(&self.clickhouse_database) {
            return invalid("CLICKHOUSE_DATABASE", "use letters, digits and '_' only");
        }
        self.stores.validate()?;
        if !self.admin_token.is_empty() && self.admin_token.len() < 16 {
            return invalid(
                "RECOSCOPE_ADMIN_TOKEN",
                "use at least 16 characters, or leave empty",
            );
        }
        if self.sink_group_id.is_empty() {
            return invalid("SINK_GROUP_ID", "must not be empty");
        }
        if self.sink_max_rows == 0 {
            return invalid("SINK_MAX_ROWS", "must be positive");
        }
        if !(self.redis_url.starts_with("redis://") || self.redis_url.starts_with("rediss://")) {
            return invalid("REDIS_URL", "must start with redis:// or rediss://");
        }
        if self.realtime_group_id.is_empty() || self.realtime_group_id == self.sink_group_id {
            return invalid(
                "REALTIME_GROUP_ID",
                "must be set and differ from SINK_GROUP_ID",
            );
        }
        if self.recent_group_id.is_empty()
            || self.recent_group_id == self.sink_group_id
            || self.recent_group_id == self.realtime_group_id
        {
            return invalid(
                "RECENT_GROUP_ID",
                "must be set and differ from SINK_GROUP_ID and REALTIME_GROUP_ID",
            );
        }
        if self.realtime_max_wait_ms == 0 {
            return invalid("REALTIME_MAX_WAIT_MS", "must be positive");
        }
        if self.realtime_hot_half_life_secs == 0 {
            return invalid("REALTIME_HOT_HALF_LIFE_SECS", "must be positive");
        }
        if self.realtime_hot_max_items == 0 {
            return invalid("REALTIME_HOT_MAX_ITEMS", "must be positive");
        }
        if self.realtime_resend_window == 0 {
            return invalid("REALTIME_RESEND_WINDOW", "must be positive");
        }
        if self.realtime_hot_ttl_secs < 60 {
            return invalid("REALTIME_HOT_TTL_SECS", "must be at least 60");
        }
        if self.sink_max_bytes < 1024 {
            return invalid("SINK_MAX_BYTES", "must be at least 1024");
        }
        if !is_topic_name(&self.sink_dead_letter_topic)
            || self.sink_dead_letter_topic == self.kafka_topic
        {
            return invalid(
                "SINK_DEAD_LETTER_TOPIC",
                "must be a topic name (letters, digits, '.', '_', '-') other than KAFKA_TOPIC",
            );
        }
        if self.raw_retention_days == 0 {
            return invalid("RAW_RETENTION_DAYS", "must be at least 1");
        }
        if self.sink_max_wait_ms == 0 {
            return invalid("SINK_MAX_WAIT_MS", "must be positive");
        }
        if self.ingest_max_batch == 0 {
            return invalid("INGEST_MAX_BATCH", "must be positive");
        }
        if !(1..=recoscope_core::Label::MAX_LEN).contains(&self.ingest_max_string_bytes) {
            return invalid(
                "INGEST_MAX_STRING_BYTES",
                "must be between 1 and 1024 (the longest label an event can hold)",
            );
        }
        if self.ingest_max_future_skew_secs < 0 {
            return invalid("INGEST_MAX_FUTURE_SKEW_SECS", "must not be negative");
        }
        if self.ingest_max_age_hours <= 0 {
            return invalid("INGEST_MAX_AGE_HOURS", "must be positive");
        }
        if let Err(reason) =
            crate::ingest::enrich::TrustedProxies::parse(&self.ingest_trusted_proxies)
        {
            return invalid("INGEST_TRUSTED_PROXIES", &reason);
        }
        if self.ingest_rate_events_per_sec == 0 {
            return invalid("INGEST_RATE_EVENTS_PER_SEC", "must be positive");
        }
        if (self.ingest_rate_burst as usize) < self.ingest_max_batch {
            return invalid(
                "INGEST_RATE_BURST",
                "must be at least INGEST_MAX_BATCH, or a full batch could never pass",
            );
        }
        // Whatever the variables above leave unchecked is checked against the event types.
        if let Err(reason) = self.limits().check() {
            return invalid("INGEST_*", &reason);
        }
        if self.ingest_max_body_bytes < 1024 {
            return invalid("INGEST_MAX_BODY_BYTES", "must be at least 1024");
        }
        Ok(())
    }

    pub fn clickhouse(&self) -> ClickHouseConfig {
        ClickHouseConfig {
            url: self.clickhouse_url.clone(),
            database: self.clickhouse_database.clone(),
            user: self.clickhouse_user.clone(),
            password: self.clickhouse_password.clone(),
            timeout: Duration::from_secs(60),
        }
    }

    /// Per-event validation bounds.
    pub fn limits(&self) -> recoscope_core::validate::Limits {
        recoscope_core::validate::Limits {
            max_string_len: self.ingest_max_string_bytes,
            max_extra_bytes: self.ingest_max_extra_bytes,
            max_future_skew_ms: self.ingest_max_future_skew_secs * 1000,
            max_age_ms: self.ingest_max_age_hours * 3_600_000,
            ..Default::default()
        }
    }
}

pub use recoscope_core::names::{is_identifier, is_topic_name};

#[cfg(test)]
mod tests {
    use super::*;

    fn with(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let config =
            Config::init_from_hashmap(&map).map_err(|e| ConfigError::Env(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    #[test]
    fn defaults_match_the_local_stack_and_are_valid() {
        let c = with(&[]).unwrap();
        assert_eq!(c.kafka_brokers, "127.0.0.1:9092");
        assert_eq!(c.clickhouse_url, "http://127.0.0.1:8123");
        assert_eq!(c.kafka_topic, recoscope_core::DEFAULT_TOPIC);
        assert_eq!(
            c.stores.write_key_map().get("demo-key").map(String::as_str),
            Some("demo")
        );
    }

    #[test]
    fn errors_name_the_bad_variable() {
        let e = with(&[("KAFKA_TOPIC_PARTITIONS", "many")]).unwrap_err();
        assert!(e.to_string().contains("KAFKA_TOPIC_PARTITIONS"), "{e}");
        let e = with(&[("CLICKHOUSE_URL", "localhost:8123")]).unwrap_err();
        assert!(e.to_string().contains("CLICKHOUSE_URL"), "{e}");
        let e = with(&[("CLICKHOUSE_DATABASE", "x; DROP")]).unwrap_err();
        assert!(e.to_string().contains("CLICKHOUSE_DATABASE"), "{e}");
        let e = with(&[("RECOSCOPE_WRITE_KEYS", "short=t")]).unwrap_err();
        assert!(e.to_string().contains("RECOSCOPE_WRITE_KEYS"), "{e}");
        let e = with(&[("RECOSCOPE_LISTEN", "nope")]).unwrap_err();
        assert!(e.to_string().contains("RECOSCOPE_LISTEN"), "{e}");
        let e = with(&[("INGEST_TRUSTED_PROXIES", "10.0.0.0/99")]).unwrap_err();
        assert!(e.to_string().contains("INGEST_TRUSTED_PROXIES"), "{e}");
        let e = with(&[("INGEST_RATE_BURST", "10")]).unwrap_err();
        assert!(e.to_string().contains("INGEST_RATE_BURST"), "{e}");
        let e = with(&[("SINK_MAX_ROWS", "0")]).unwrap_err();
        assert!(e.to_string().contains("SINK_MAX_ROWS"), "{e}");
    }
}
