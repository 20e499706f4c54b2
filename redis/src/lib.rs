//! Redis plumbing every Redis client of ours shares: where Redis is ([`RedisConfig`]: one
//! server, or the seed nodes of a Redis Cluster) and one connection type for both
//! ([`RedisConnection`]), so the real-time writer, the partition leases and the live view's
//! reader are written once.
//!
//! In a cluster every command goes to the node that owns its key's hash slot, and a
//! pipeline, a transaction (`MULTI`) or a script must keep to one slot. The key layouts
//! (`recoscope_core::realtime`, the leases in `recoscope_workers::ownership`) put a hash
//! tag (`{...}`) in every key that shares a transaction; on a single server the braces are
//! just characters.

use envconfig::Envconfig;
use recoscope_core::config::{ensure, ConfigError};
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};
use std::time::Duration;

#[derive(Envconfig, Debug, Clone)]
pub struct RedisConfig {
    /// One server's URL; with `REDIS_CLUSTER`, a comma-separated list of the cluster's seed
    /// nodes (any of them is enough to find the others).
    #[envconfig(from = "REDIS_URL", default = "redis://127.0.0.1:6379")]
    pub url: String,
    /// The URL(s) are nodes of a Redis Cluster.
    #[envconfig(from = "REDIS_CLUSTER", default = "false")]
    pub cluster: bool,
    /// Put before every Redis key (several deployments or tests on one Redis).
    #[envconfig(from = "REDIS_KEY_PREFIX", default = "")]
    pub key_prefix: String,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig::init_from_hashmap(&Default::default()).expect("defaults parse")
    }
}

impl RedisConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let urls = self.urls();
        ensure(
            !urls.is_empty()
                && urls
                    .iter()
                    .all(|u| u.starts_with("redis://") || u.starts_with("rediss://")),
            "REDIS_URL",
            "must start with redis:// or rediss://",
        )?;
        ensure(
            self.cluster || urls.len() == 1,
            "REDIS_URL",
            "lists several servers: set REDIS_CLUSTER=true for a Redis Cluster",
        )
    }

    fn urls(&self) -> Vec<&str> {
        self.url
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .collect()
    }

    /// Where to connect, with these limits.
    pub fn target(&self) -> RedisTarget {
        RedisTarget {
            urls: self.urls().into_iter().map(str::to_string).collect(),
            cluster: self.cluster,
        }
    }
}

/// One server or a cluster's seed nodes (from [`RedisConfig::target`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RedisTarget {
    urls: Vec<String>,
    cluster: bool,
}

/// How long to wait for a connection and for an answer, and how many times to try again
/// to connect before giving up.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub connect: Duration,
    pub response: Duration,
    pub retries: u32,
}

impl RedisTarget {
    /// One server at `url` (tests, tools).
    pub fn single(url: &str) -> RedisTarget {
        RedisTarget {
            urls: vec![url.to_string()],
            cluster: false,
        }
    }

    pub fn is_cluster(&self) -> bool {
        self.cluster
    }

    /// A connection that reconnects by itself after a failure. In a cluster it learns the
    /// slots from a seed node and follows them when they move.
    pub async fn connect(&self, limits: Limits) -> RedisResult<RedisConnection> {
        if self.cluster {
            let client = ClusterClient::builder(self.urls.clone())
                .connection_timeout(limits.connect)
                .response_timeout(limits.response)
                .retries(limits.retries)
                .build()?;
            Ok(RedisConnection::Cluster(
                client.get_async_connection().await?,
            ))
        } else {
            let client = redis::Client::open(self.urls[0].as_str())?;
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(limits.connect))
                .set_response_timeout(Some(limits.response))
                .set_number_of_retries(limits.retries as usize);
            Ok(RedisConnection::Single(
                ConnectionManager::new_with_config(client, config).await?,
            ))
        }
    }

    /// Checks the URLs parse (at boot), without connecting.
    pub fn check(&self) -> RedisResult<()> {
        for url in &self.urls {
            redis::Client::open(url.as_str())?;
        }
        Ok(())
    }
}

/// A connection to one server or to a cluster; cheap to clone (clones share it).
#[derive(Clone)]
pub enum RedisConnection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            RedisConnection::Single(c) => c.req_packed_command(cmd),
            RedisConnection::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            RedisConnection::Single(c) => c.req_packed_commands(pipeline, offset, count),
            RedisConnection::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            RedisConnection::Single(c) => c.get_db(),
            RedisConnection::Cluster(c) => c.get_db(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str, cluster: bool) -> RedisConfig {
        RedisConfig {
            url: url.into(),
            cluster,
            key_prefix: String::new(),
        }
    }

    #[test]
    fn several_servers_need_cluster_mode_and_every_url_its_scheme() {
        assert!(config("redis://a:6379", false).validate().is_ok());
        let err = config("redis://a:1,redis://b:2", false)
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.contains("REDIS_CLUSTER"), "{err}");
        assert!(config("redis://a:1, redis://b:2", true).validate().is_ok());
        assert!(config("redis://a:1,http://b:2", true).validate().is_err());
        assert!(config("", false).validate().is_err());
        assert_eq!(
            config("redis://a:1, redis://b:2,", true).target().urls,
            ["redis://a:1", "redis://b:2"]
        );
    }
}
