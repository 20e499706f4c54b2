//! What every benchmark sets up the same way: environment knobs, unique names, and a server
//! configuration isolated to this run (private broker, throw-away database, Redis prefix and
//! store files, no rate limit).

use crate::broker::Broker;
use recoscope_server::config::Config;
use std::path::Path;

/// `name` from the environment as a number, else `default`.
pub fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `prefix` followed by a random suffix.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

/// The local defaults (ClickHouse and Redis addresses from the environment as for the
/// binary) on `broker`, with the write key `bench-key` for tenant `bench` and the stores'
/// files in `scratch`.
pub fn bench_config(broker: &Broker, scratch: &Path) -> anyhow::Result<Config> {
    let mut config = Config::local_defaults();
    if let Ok(from_env) = Config::from_env() {
        config.clickhouse.url = from_env.clickhouse.url;
        config.redis.url = from_env.redis.url;
    }
    config.kafka.brokers = broker.address.clone();
    config.listen = "127.0.0.1:0".parse()?;
    config.clickhouse.database = unique("bench_");
    config.redis.key_prefix = unique("bench:") + ":";
    config.stores.write_keys = "bench-key=bench".into();
    let file = |name: &str| scratch.join(name).to_string_lossy().into_owned();
    config.stores.path = file("config.sqlite3");
    config.stores.recent_path = file("recent.sqlite3");
    config.ingest.rate_events_per_sec = u32::MAX;
    config.ingest.rate_burst = u32::MAX;
    config.validate().map_err(anyhow::Error::msg)?;
    Ok(config)
}
