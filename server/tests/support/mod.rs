//! Test harness: an isolated Recoscope on the real local stack.
//!
//! Each `TestApp` gets its own ClickHouse database, Kafka topic, consumer group, tenant and
//! write key (random names), so tests run in parallel and leave nothing behind: dropping the
//! app stops it, drops the database and deletes the topic.

#![allow(dead_code)]

use recoscope_clickhouse::{ClickHouse, Query};
use recoscope_server::config::Config;
use recoscope_server::kafka::delete_topic;
use recoscope_server::roles::{self, Roles, Running};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub struct TestApp {
    pub config: Config,
    pub addr: SocketAddr,
    pub tenant: String,
    pub key: String,
    pub clickhouse: ClickHouse,
    pub http: reqwest::Client,
    running: Option<Running>,
}

fn unique(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

impl TestApp {
    pub async fn start() -> TestApp {
        let tenant = unique("t_");
        let key = unique("key-");
        let mut config = Config::local_defaults();
        // The stack's address may be overridden as for the binary.
        if let Ok(from_env) = Config::from_env() {
            config.kafka_brokers = from_env.kafka_brokers;
            config.clickhouse_url = from_env.clickhouse_url;
        }
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.kafka_topic = unique("test-behaviors-");
        config.kafka_topic_partitions = 2;
        config.clickhouse_database = unique("test_");
        config.sink_group_id = unique("test-sink-");
        config.sink_max_wait_ms = 200;
        config.write_keys = format!("{key}={tenant}");
        config.validate().expect("test config is valid");

        let running = roles::start(config.clone(), Roles::ALL)
            .await
            .expect("the app starts on the local stack (is `scripts/stack up` running?)");
        let clickhouse = ClickHouse::new(config.clickhouse()).unwrap();
        TestApp {
            addr: running.addr.expect("serving"),
            config,
            tenant,
            key,
            clickhouse,
            http: reqwest::Client::new(),
            running: Some(running),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Polls `count()` of the raw table for this tenant until it reaches `expected`.
    pub async fn wait_for_rows(&self, expected: u64) -> u64 {
        #[derive(serde::Deserialize)]
        struct Count {
            n: u64,
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let n = self
                .clickhouse
                .fetch_one::<Count>(
                    Query::new("SELECT count() AS n FROM user_behaviors WHERE tenant_id = ?")
                        .bind(&self.tenant),
                )
                .await
                .unwrap()
                .n;
            if n >= expected || Instant::now() > deadline {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Stops the app and removes the database and topic.
    pub async fn cleanup(mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await.expect("clean stop");
        }
        self.clickhouse
            .execute_on_server(Query::new(format!(
                "DROP DATABASE IF EXISTS {}",
                self.config.clickhouse_database
            )))
            .await
            .expect("drop test database");
        delete_topic(&self.config.kafka_brokers, &self.config.kafka_topic)
            .await
            .expect("delete test topic");
    }
}
