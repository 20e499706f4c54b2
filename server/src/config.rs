//! The process's configuration, assembled at boot from each component's own part.
//!
//! Every component owns its settings, their defaults and their checks, next to its code:
//! [`HttpConfig`] (recoscope-web), [`KafkaConfig`] (recoscope-kafka), [`StoreConfig`]
//! (recoscope-stores), [`AccountsConfig`] (recoscope-accounts), [`IngestConfig`] (recoscope-ingest), and the workers' [`WorkerConfig`],
//! [`RedisConfig`], [`SinkConfig`], [`RealtimeConfig`] and [`RecentFeedConfig`]
//! (recoscope-workers). This module adds what only the server has (where it listens, the
//! admin token, the demo shop, the ClickHouse connection), reads them all from the
//! environment in one place, checks each part and the rules that span parts, and hands each
//! component only its part.
//!
//! Every variable has a default that matches the local stack (`scripts/stack up`), so a
//! developer needs to set nothing. A bad value stops the process with a message that names
//! the variable.

use envconfig::Envconfig;
use recoscope_clickhouse::ClickHouseConfig;
use recoscope_core::config::ensure;
use recoscope_core::names::is_identifier;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

pub use recoscope_accounts::AccountsConfig;
pub use recoscope_core::config::ConfigError;
pub use recoscope_ingest::IngestConfig;
pub use recoscope_kafka::KafkaConfig;
pub use recoscope_stores::StoreConfig;
pub use recoscope_web::HttpConfig;
pub use recoscope_workers::{
    Membership, RealtimeConfig, RecentFeedConfig, RedisConfig, SinkConfig, WorkerConfig,
};

#[derive(Envconfig, Debug, Clone)]
pub struct Config {
    /// Address the HTTP server (ingest API + dashboard) listens on.
    #[envconfig(from = "RECOSCOPE_LISTEN", default = "127.0.0.1:3000")]
    pub listen: SocketAddr,
    /// Bearer token for the admin endpoints (`/api/v1/tenants/…`: catalog import and
    /// listing); empty turns them off.
    #[envconfig(from = "RECOSCOPE_ADMIN_TOKEN", default = "")]
    pub admin_token: String,
    /// The write key the demo shop's pages (`/shop`) embed the tracker with; its tenant's
    /// catalog fills the shop. Empty turns the shop off.
    #[envconfig(from = "DEMO_SHOP_WRITE_KEY", default = "demo-key")]
    pub demo_shop_write_key: String,

    #[envconfig(nested)]
    pub http: HttpConfig,
    #[envconfig(nested)]
    pub kafka: KafkaConfig,
    #[envconfig(nested)]
    pub clickhouse: ClickHouseSettings,
    #[envconfig(nested)]
    pub analytics: AnalyticsSettings,
    #[envconfig(nested)]
    pub redis: RedisConfig,
    #[envconfig(nested)]
    pub stores: StoreConfig,
    #[envconfig(nested)]
    pub accounts: AccountsConfig,
    #[envconfig(nested)]
    pub ingest: IngestConfig,
    #[envconfig(nested)]
    pub worker: WorkerConfig,
    #[envconfig(nested)]
    pub sink: SinkConfig,
    #[envconfig(nested)]
    pub realtime: RealtimeConfig,
    #[envconfig(nested)]
    pub recent: RecentFeedConfig,
}

/// The ClickHouse the workers load and the dashboard reads.
#[derive(Envconfig, Debug, Clone)]
pub struct ClickHouseSettings {
    /// ClickHouse HTTP interface.
    #[envconfig(from = "CLICKHOUSE_URL", default = "http://127.0.0.1:8123")]
    pub url: String,
    #[envconfig(from = "CLICKHOUSE_DATABASE", default = "recoscope")]
    pub database: String,
    #[envconfig(from = "CLICKHOUSE_USER", default = "default")]
    pub user: String,
    #[envconfig(from = "CLICKHOUSE_PASSWORD", default = "")]
    pub password: String,
    /// The cluster's name in ClickHouse's `remote_servers`; empty: one server (the default).
    #[envconfig(from = "CLICKHOUSE_CLUSTER", default = "")]
    pub cluster: String,
    /// With `CLICKHOUSE_CLUSTER`: every node's HTTP URL, shards separated by `;` in the
    /// cluster's order, a shard's replicas by `,`.
    #[envconfig(from = "CLICKHOUSE_SHARDS", default = "")]
    pub shards: String,
}

/// How the dashboard's queries bound their cost.
#[derive(Envconfig, Debug, Clone)]
pub struct AnalyticsSettings {
    /// The funnel's events read at most: a range with more is estimated from a random
    /// sample of users (the answer states the share and the error).
    #[envconfig(from = "FUNNEL_SAMPLE_EVENTS", default = "1000000")]
    pub funnel_sample_events: u64,
}

impl AnalyticsSettings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        ensure(
            self.funnel_sample_events >= 1_000,
            "FUNNEL_SAMPLE_EVENTS",
            "must be at least 1000 (a smaller sample says little)",
        )
    }
}

impl ClickHouseSettings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        ensure(
            self.url.starts_with("http://") || self.url.starts_with("https://"),
            "CLICKHOUSE_URL",
            "must start with http:// or https://",
        )?;
        ensure(
            is_identifier(&self.database),
            "CLICKHOUSE_DATABASE",
            "use letters, digits and '_' only",
        )?;
        if self.cluster.is_empty() {
            return ensure(
                self.shards.trim().is_empty(),
                "CLICKHOUSE_SHARDS",
                "is for a cluster: set CLICKHOUSE_CLUSTER too",
            );
        }
        ensure(
            is_identifier(&self.cluster),
            "CLICKHOUSE_CLUSTER",
            "use letters, digits and '_' only",
        )?;
        let shards = self.shard_urls();
        ensure(
            !shards.is_empty(),
            "CLICKHOUSE_SHARDS",
            "list every node: shards separated by ';', a shard's replicas by ','",
        )?;
        ensure(
            shards
                .iter()
                .flatten()
                .all(|u| u.starts_with("http://") || u.starts_with("https://")),
            "CLICKHOUSE_SHARDS",
            "every node's URL must start with http:// or https://",
        )
    }

    /// The nodes' URLs, by shard (empty without a cluster).
    pub fn shard_urls(&self) -> Vec<Vec<String>> {
        self.shards
            .split(';')
            .map(|shard| {
                shard
                    .split(',')
                    .map(str::trim)
                    .filter(|u| !u.is_empty())
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .filter(|replicas| !replicas.is_empty())
            .collect()
    }
}

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

    /// Each part's own checks, then the rules that span parts.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.http.validate()?;
        self.kafka.validate()?;
        self.clickhouse.validate()?;
        self.analytics.validate()?;
        self.redis.validate()?;
        self.stores.validate()?;
        self.accounts.validate()?;
        self.ingest.validate()?;
        self.worker.validate()?;
        self.sink.validate()?;
        self.realtime.validate()?;
        self.recent.validate()?;
        recoscope_workers::config::check_groups(&self.sink, &self.realtime, &self.recent)?;
        ensure(
            self.admin_token.is_empty() || self.admin_token.len() >= 16,
            "RECOSCOPE_ADMIN_TOKEN",
            "use at least 16 characters, or leave empty",
        )
    }

    /// The ClickHouse client's settings: `CLICKHOUSE_URL`, and in a cluster every other node
    /// as failover (reads go through the `Distributed` tables, which every node has).
    pub fn clickhouse(&self) -> ClickHouseConfig {
        let failover = self
            .clickhouse
            .shard_urls()
            .into_iter()
            .flatten()
            .filter(|u| *u != self.clickhouse.url)
            .collect();
        self.clickhouse_at(self.clickhouse.url.clone(), failover)
    }

    fn clickhouse_at(&self, url: String, failover: Vec<String>) -> ClickHouseConfig {
        ClickHouseConfig {
            url,
            failover,
            database: self.clickhouse.database.clone(),
            user: self.clickhouse.user.clone(),
            password: self.clickhouse.password.clone(),
            timeout: Duration::from_secs(60),
        }
    }

    /// In a cluster, one client per shard (its first replica, the others as failover), in
    /// the cluster's order; empty for one server.
    pub fn clickhouse_shards(&self) -> Vec<ClickHouseConfig> {
        self.clickhouse
            .shard_urls()
            .into_iter()
            .map(|mut replicas| {
                let first = replicas.remove(0);
                self.clickhouse_at(first, replicas)
            })
            .collect()
    }

    /// In a cluster, one client per node, by shard; empty for one server.
    pub fn clickhouse_nodes(&self) -> Vec<Vec<ClickHouseConfig>> {
        self.clickhouse
            .shard_urls()
            .into_iter()
            .map(|replicas| {
                replicas
                    .into_iter()
                    .map(|url| self.clickhouse_at(url, Vec::new()))
                    .collect()
            })
            .collect()
    }

    /// What every consumer group member of this process shares.
    pub fn membership(&self) -> Membership {
        Membership {
            kafka: self.kafka.clone(),
            redis: self.redis.clone(),
            worker: self.worker.clone(),
        }
    }
}

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
        assert_eq!(c.kafka.brokers, "127.0.0.1:9092");
        assert_eq!(c.clickhouse.url, "http://127.0.0.1:8123");
        assert_eq!(c.kafka.topic, recoscope_core::DEFAULT_TOPIC);
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
        // Rules that span components are checked where the parts meet.
        let e = with(&[("REALTIME_GROUP_ID", "clickhouse-sink")]).unwrap_err();
        assert!(e.to_string().contains("REALTIME_GROUP_ID"), "{e}");
        let e = with(&[("KAFKA_QUEUE_MAX_MESSAGES", "10")]).unwrap_err();
        assert!(e.to_string().contains("KAFKA_QUEUE_MAX_MESSAGES"), "{e}");
    }
}
