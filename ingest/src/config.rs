//! The ingest API's own settings: how much one request may carry, what an event may hold,
//! who is believed about the client's address, how fast one key may send, and how the
//! producer waits for the broker.

use crate::enrich::TrustedProxies;
use envconfig::Envconfig;
use recoscope_core::config::{ensure, ConfigError};
use recoscope_core::validate::Limits;
use std::collections::HashMap;
use std::time::Duration;

#[derive(Envconfig, Debug, Clone)]
pub struct IngestConfig {
    /// Largest request body the ingest API reads.
    #[envconfig(from = "INGEST_MAX_BODY_BYTES", default = "1048576")]
    pub max_body_bytes: usize,
    /// Most events in one request.
    #[envconfig(from = "INGEST_MAX_BATCH", default = "500")]
    pub max_batch: usize,
    /// Longest id or label in an event (bytes).
    #[envconfig(from = "INGEST_MAX_STRING_BYTES", default = "256")]
    pub max_string_bytes: usize,
    /// Largest `extra_data` of one event, serialized (bytes).
    #[envconfig(from = "INGEST_MAX_EXTRA_BYTES", default = "4096")]
    pub max_extra_bytes: usize,
    /// How far ahead of the server clock a timestamp may be (seconds).
    #[envconfig(from = "INGEST_MAX_FUTURE_SKEW_SECS", default = "300")]
    pub max_future_skew_secs: i64,
    /// How far a client's clock (`sent_at`) may be from the server's and still be trusted
    /// as it is (seconds); a clock further off has its batch moved onto the server's.
    #[envconfig(from = "INGEST_CLOCK_TOLERANCE_SECS", default = "10")]
    pub clock_tolerance_secs: i64,
    /// How old a timestamp may be (hours).
    #[envconfig(from = "INGEST_MAX_AGE_HOURS", default = "168")]
    pub max_age_hours: i64,
    /// Proxies whose `X-Forwarded-For` is believed: comma-separated IPs or CIDR networks.
    /// Empty: the TCP peer is the client.
    #[envconfig(from = "INGEST_TRUSTED_PROXIES", default = "")]
    pub trusted_proxies: String,
    /// Steady events per second allowed per write key...
    #[envconfig(from = "INGEST_RATE_EVENTS_PER_SEC", default = "5000")]
    pub rate_events_per_sec: u32,
    /// ...and how many may come at once (at least `INGEST_MAX_BATCH`).
    #[envconfig(from = "INGEST_RATE_BURST", default = "20000")]
    pub rate_burst: u32,
    /// How often write keys and origins are reloaded from the configuration store
    /// (seconds): a key revoked with the CLI is refused within this time.
    #[envconfig(from = "INGEST_KEYS_REFRESH_SECS", default = "5")]
    pub keys_refresh_secs: u64,
    /// How long the API waits for the broker's acknowledgement before answering 503.
    #[envconfig(from = "KAFKA_PRODUCE_TIMEOUT_MS", default = "5000")]
    pub produce_timeout_ms: u64,
    /// Events the producer holds at most while waiting for the broker. A batch that does not
    /// fit is refused whole with 503 (back-pressure), never half enqueued.
    #[envconfig(from = "KAFKA_QUEUE_MAX_MESSAGES", default = "100000")]
    pub queue_max_messages: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig::init_from_hashmap(&HashMap::new()).expect("defaults parse")
    }
}

impl IngestConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        ensure(self.max_batch > 0, "INGEST_MAX_BATCH", "must be positive")?;
        ensure(
            self.max_body_bytes >= 1024,
            "INGEST_MAX_BODY_BYTES",
            "must be at least 1024",
        )?;
        ensure(
            (1..=recoscope_core::Label::MAX_LEN).contains(&self.max_string_bytes),
            "INGEST_MAX_STRING_BYTES",
            "must be between 1 and 1024 (the longest label an event can hold)",
        )?;
        ensure(
            self.max_future_skew_secs >= 0,
            "INGEST_MAX_FUTURE_SKEW_SECS",
            "must not be negative",
        )?;
        ensure(
            (0..=3600).contains(&self.clock_tolerance_secs),
            "INGEST_CLOCK_TOLERANCE_SECS",
            "must be between 0 and 3600 seconds",
        )?;
        ensure(
            self.max_age_hours > 0,
            "INGEST_MAX_AGE_HOURS",
            "must be positive",
        )?;
        TrustedProxies::parse(&self.trusted_proxies)
            .map_err(|reason| ConfigError::invalid("INGEST_TRUSTED_PROXIES", reason))?;
        ensure(
            self.rate_events_per_sec > 0,
            "INGEST_RATE_EVENTS_PER_SEC",
            "must be positive",
        )?;
        ensure(
            self.rate_burst as usize >= self.max_batch,
            "INGEST_RATE_BURST",
            "must be at least INGEST_MAX_BATCH, or a full batch could never pass",
        )?;
        // Whatever the variables above leave unchecked is checked against the event types.
        self.limits()
            .check()
            .map_err(|reason| ConfigError::invalid("INGEST_*", reason))?;
        ensure(
            (1..=3600).contains(&self.keys_refresh_secs),
            "INGEST_KEYS_REFRESH_SECS",
            "must be between 1 and 3600 seconds",
        )?;
        ensure(
            self.produce_timeout_ms > 0,
            "KAFKA_PRODUCE_TIMEOUT_MS",
            "must be positive",
        )?;
        // librdkafka's own ceiling for queue.buffering.max.messages.
        ensure(
            (self.max_batch..=10_000_000).contains(&self.queue_max_messages),
            "KAFKA_QUEUE_MAX_MESSAGES",
            "must be between INGEST_MAX_BATCH and 10000000, or a full batch could never fit",
        )
    }

    /// Per-event validation bounds.
    pub fn limits(&self) -> Limits {
        Limits {
            max_string_len: self.max_string_bytes,
            max_extra_bytes: self.max_extra_bytes,
            max_future_skew_ms: self.max_future_skew_secs * 1000,
            max_age_ms: self.max_age_hours * 3_600_000,
            clock_tolerance_ms: self.clock_tolerance_secs * 1000,
            ..Default::default()
        }
    }

    pub fn keys_refresh(&self) -> Duration {
        Duration::from_secs(self.keys_refresh_secs)
    }
}
