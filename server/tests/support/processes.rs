//! Real processes a fault test can stop and start again: a private ClickHouse server, a
//! private Redis (append-only file, fsync on every write, so a SIGKILL loses nothing it
//! acknowledged), and `recoscope worker` itself. Each runs on free ports with its data in a
//! temporary directory removed on drop, so fault tests never touch the shared stack.

use super::unique;
use recoscope_server::config::Config;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn signal(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{signal} {}", child.id());
}

async fn wait_for_port(port: u16, what: &str, within: Duration) {
    let deadline = Instant::now() + within;
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "{what} did not listen on {port}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A ClickHouse server of our own (the stack's binary, a private data directory).
pub struct PrivateClickHouse {
    pub http_port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl PrivateClickHouse {
    pub async fn start() -> PrivateClickHouse {
        let dir = std::env::temp_dir().join(unique("recoscope-clickhouse-"));
        for sub in ["data", "tmp", "user_files", "format_schemas", "log"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        std::fs::copy("/etc/clickhouse-server/users.xml", dir.join("users.xml"))
            .expect("clickhouse-server is installed (scripts/stack install)");
        let (http_port, tcp_port) = (free_port(), free_port());
        let d = dir.display();
        let config = format!(
            r#"<?xml version="1.0"?>
<yandex>
    <logger><level>warning</level><log>{d}/log/server.log</log><errorlog>{d}/log/error.log</errorlog></logger>
    <http_port>{http_port}</http_port>
    <tcp_port>{tcp_port}</tcp_port>
    <listen_host>127.0.0.1</listen_host>
    <path>{d}/data/</path>
    <tmp_path>{d}/tmp/</tmp_path>
    <user_files_path>{d}/user_files/</user_files_path>
    <format_schema_path>{d}/format_schemas/</format_schema_path>
    <users_config>{d}/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mark_cache_size>67108864</mark_cache_size>
</yandex>
"#
        );
        std::fs::write(dir.join("config.xml"), config).unwrap();
        let mut server = PrivateClickHouse {
            http_port,
            dir,
            child: None,
        };
        server.resume().await;
        server
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// Stops the server the way an operator does (SIGTERM) and waits until it is gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(&child, "TERM");
            let _ = child.wait();
        }
    }

    /// Starts it again on the same ports with the same data and waits until it answers.
    pub async fn resume(&mut self) {
        assert!(self.child.is_none(), "ClickHouse is running");
        let child = Command::new("clickhouse-server")
            .arg(format!(
                "--config-file={}",
                self.dir.join("config.xml").display()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("clickhouse-server runs");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        let ping = format!("{}/ping", self.url());
        while !reqwest::get(&ping)
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            assert!(Instant::now() < deadline, "ClickHouse did not start");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for PrivateClickHouse {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Redis of our own that persists every write before acknowledging it.
pub struct PrivateRedis {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl PrivateRedis {
    pub async fn start() -> PrivateRedis {
        let dir = std::env::temp_dir().join(unique("recoscope-redis-"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut redis = PrivateRedis {
            port: free_port(),
            dir,
            child: None,
        };
        redis.resume().await;
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// SIGKILL: no shutdown save; what was acknowledged is in the append-only file.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub async fn resume(&mut self) {
        assert!(self.child.is_none(), "Redis is running");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--dir", &self.dir.to_string_lossy()])
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (scripts/stack install)");
        self.child = Some(child);
        wait_for_port(self.port, "Redis", Duration::from_secs(20)).await;
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Redis Cluster of three masters (`redis-server --cluster-enabled yes`, no replicas) on
/// free ports, its slots spread by `redis-cli --cluster create`; stopped and removed on drop.
pub struct PrivateRedisCluster {
    pub ports: Vec<u16>,
    dir: PathBuf,
    children: Vec<Child>,
}

impl PrivateRedisCluster {
    pub async fn start() -> PrivateRedisCluster {
        let dir = std::env::temp_dir().join(unique("recoscope-redis-cluster-"));
        let mut cluster = PrivateRedisCluster {
            ports: Vec::new(),
            dir,
            children: Vec::new(),
        };
        for _ in 0..3 {
            let (port, bus) = (free_port(), free_port());
            let node_dir = cluster.dir.join(port.to_string());
            std::fs::create_dir_all(&node_dir).unwrap();
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args([
                    "--cluster-enabled",
                    "yes",
                    "--cluster-port",
                    &bus.to_string(),
                ])
                .args(["--cluster-config-file", "nodes.conf"])
                .args(["--dir", &node_dir.to_string_lossy()])
                .args(["--appendonly", "no", "--save", ""])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server runs (scripts/stack install)");
            cluster.children.push(child);
            cluster.ports.push(port);
        }
        for port in &cluster.ports {
            wait_for_port(*port, "Redis Cluster node", Duration::from_secs(20)).await;
        }
        let nodes: Vec<String> = cluster
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&nodes)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli runs (scripts/stack install)");
        assert!(created.success(), "redis-cli --cluster create failed");
        // Every node knows every slot's owner before anyone writes.
        let deadline = Instant::now() + Duration::from_secs(30);
        for port in &cluster.ports {
            loop {
                let info = Command::new("redis-cli")
                    .args(["-p", &port.to_string(), "cluster", "info"])
                    .output()
                    .expect("redis-cli runs");
                if String::from_utf8_lossy(&info.stdout).contains("cluster_state:ok") {
                    break;
                }
                assert!(Instant::now() < deadline, "the cluster did not form");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        cluster
    }

    /// The nodes' URLs, comma-separated, as `REDIS_URL` takes them with `REDIS_CLUSTER`.
    pub fn urls(&self) -> String {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl Drop for PrivateRedisCluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The `recoscope` binary as a process of its own (`worker` or `all`), configured like the app
/// under test and otherwise with the defaults users get: no instance id, nothing a user would
/// not set (an earlier suite set `WORKER_INSTANCE_ID`, and the default process's crash was never
/// tried).
pub struct RecoscopeProcess {
    /// Its HTTP port: `WORKER_LISTEN` for `worker`, `RECOSCOPE_LISTEN` for `all`.
    pub port: u16,
    role: &'static str,
    env: Vec<(&'static str, String)>,
    child: Option<Child>,
}

/// The old name: a worker-only process.
pub type WorkerProcess = RecoscopeProcess;

impl RecoscopeProcess {
    /// `recoscope worker`, waited for until it listens.
    pub async fn start(config: &Config) -> RecoscopeProcess {
        Self::start_role(config, "worker").await
    }

    /// `recoscope ROLE`, waited for until it listens.
    pub async fn start_role(config: &Config, role: &'static str) -> RecoscopeProcess {
        let mut process = Self::configure(config, role);
        process.resume().await;
        process
    }

    /// The process's configuration, not started yet.
    pub fn configure(config: &Config, role: &'static str) -> RecoscopeProcess {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let mut env = vec![
            // Both listeners get a free port; the role decides which one is served.
            ("WORKER_LISTEN", listen.clone()),
            ("RECOSCOPE_LISTEN", listen),
            (
                "WORKER_READY_MAX_LAG",
                config.worker.ready_max_lag.to_string(),
            ),
            ("WORKER_STALL_SECS", config.worker.stall_secs.to_string()),
            ("KAFKA_BROKERS", config.kafka.brokers.clone()),
            ("KAFKA_TOPIC", config.kafka.topic.clone()),
            (
                "KAFKA_TOPIC_PARTITIONS",
                config.kafka.topic_partitions.to_string(),
            ),
            (
                "SINK_DEAD_LETTER_TOPIC",
                config.kafka.dead_letter_topic.clone(),
            ),
            ("CLICKHOUSE_URL", config.clickhouse.url.clone()),
            ("CLICKHOUSE_DATABASE", config.clickhouse.database.clone()),
            ("CLICKHOUSE_CLUSTER", config.clickhouse.cluster.clone()),
            ("CLICKHOUSE_SHARDS", config.clickhouse.shards.clone()),
            ("SINK_GROUP_ID", config.sink.group_id.clone()),
            ("SINK_MAX_ROWS", config.sink.max_rows.to_string()),
            ("SINK_MAX_WAIT_MS", config.sink.max_wait_ms.to_string()),
            ("REDIS_URL", config.redis.url.clone()),
            ("REDIS_CLUSTER", config.redis.cluster.to_string()),
            ("REDIS_KEY_PREFIX", config.redis.key_prefix.clone()),
            ("REALTIME_GROUP_ID", config.realtime.group_id.clone()),
            ("RECENT_GROUP_ID", config.recent.group_id.clone()),
            ("RECOSCOPE_STORE_PATH", config.stores.path.clone()),
            ("RECOSCOPE_RECENT_PATH", config.stores.recent_path.clone()),
            ("RECOSCOPE_WRITE_KEYS", config.stores.write_keys.clone()),
            ("MONGODB_URI", String::new()),
            (
                "INGEST_RATE_EVENTS_PER_SEC",
                config.ingest.rate_events_per_sec.to_string(),
            ),
            ("INGEST_RATE_BURST", config.ingest.rate_burst.to_string()),
            (
                "KAFKA_PRODUCE_TIMEOUT_MS",
                config.ingest.produce_timeout_ms.to_string(),
            ),
            (
                "RUST_LOG",
                std::env::var("WORKER_LOG").unwrap_or_else(|_| "warn".into()),
            ),
        ];
        if let Ok(site) = std::env::var("LEPTOS_SITE_ROOT") {
            env.push(("LEPTOS_SITE_ROOT", site));
        }
        RecoscopeProcess {
            port,
            role,
            env,
            child: None,
        }
    }

    /// SIGKILL: no drain, no commit; whatever batch it held is read again by its successor.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, as an operator or an orchestrator stops it, and waits until it exited; its
    /// exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("the process is running");
        signal(&child, "TERM");
        child.wait().expect("the process ends")
    }

    /// Starts the process without waiting for anything (a crash during start-up is tried by
    /// killing it soon after).
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "the process is running");
        let child = Command::new(env!("CARGO_BIN_EXE_recoscope"))
            .arg(self.role)
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            // Its log (stdout) shows in the test's output when WORKER_LOG asks for one.
            .stdout(match std::env::var_os("WORKER_LOG") {
                Some(_) => Stdio::inherit(),
                None => Stdio::null(),
            })
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the recoscope binary runs");
        self.child = Some(child);
    }

    /// Starts a fresh process with the same configuration and waits until it listens.
    pub async fn resume(&mut self) {
        self.spawn();
        wait_for_port(self.port, "the recoscope process", Duration::from_secs(60)).await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for RecoscopeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
