//! Test harness: an isolated Recoscope on the real local stack.
//!
//! Each `TestApp` gets its own ClickHouse database (random name) on the stack's ClickHouse,
//! and its own tansu broker on a free port (data in a temporary directory), plus a random tenant and write key, so
//! tests run in parallel and leave nothing behind: cleaning up stops the app, drops the
//! database and stops the broker.
//!
//! Why a broker per test rather than a topic per test on the shared one: deleting a topic on
//! tansu while other librdkafka clients are connected can crash those clients (a null topic
//! name reaches librdkafka's metadata cache; see docs/ARCHITECTURE.md). A private broker
//! needs no topic deletion at all.

#![allow(dead_code)]

pub mod dom;
pub mod page;
pub mod posting;
pub mod processes;
pub mod shop;

use recoscope_clickhouse::{ClickHouse, Query};
use recoscope_server::config::Config;
use recoscope_server::roles::{self, Roles, Running};
use recoscope_stores::{Stores, TenantStore};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A deterministic stream of numbers below `n` (xorshift64 from `seed`), so generated
/// datasets are the same in every run and in every app they are sent to.
pub fn numbers(mut seed: u64) -> impl FnMut(u64) -> u64 {
    move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    }
}

/// A private tansu broker on a free port, its data (sqlite, so it survives a restart) in a
/// temporary directory that is removed on drop.
pub struct Broker {
    pub address: String,
    port: u16,
    /// Temporary directory of this test (broker data, configuration store).
    pub dir: std::path::PathBuf,
    child: Option<Child>,
}

/// `TANSU_BIN`, else `tansu` on PATH, else the copy `scripts/stack install` caches.
fn tansu_binary() -> String {
    if let Ok(bin) = std::env::var("TANSU_BIN") {
        return bin;
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("tansu"))
            .find(|candidate| candidate.is_file())
    });
    match on_path {
        Some(path) => path.to_string_lossy().into_owned(),
        None => format!(
            "{}/.cache/recoscope/tools/bin/tansu",
            std::env::var("HOME").unwrap_or_default()
        ),
    }
}

impl Broker {
    pub async fn start() -> Broker {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(unique("recoscope-tansu-"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut broker = Broker {
            address: format!("127.0.0.1:{port}"),
            port,
            dir,
            child: None,
        };
        broker.resume().await;
        broker
    }

    /// Kills the broker (SIGKILL: no clean shutdown).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes (`SIGSTOP`) or thaws (`SIGCONT`) the broker: connections stay open but nothing
    /// is answered, as with a broker stuck in a long pause.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("the broker is running").id();
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} {pid}");
    }

    /// Starts the broker again on the same port with the same data.
    pub async fn resume(&mut self) {
        assert!(self.child.is_none(), "the broker is running");
        let url = format!("tcp://127.0.0.1:{}", self.port);
        // tansu resolves the sqlite path against its working directory.
        let child = Command::new(tansu_binary())
            .current_dir(&self.dir)
            .args(["broker", "--storage-engine", "sqlite://tansu.db"])
            .args(["--listener-url", &url, "--advertised-listener-url", &url])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tansu runs (scripts/stack install builds it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(&self.address).await.is_err() {
            assert!(
                Instant::now() < deadline,
                "tansu did not listen on {}",
                self.address
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Rows and distinct event ids in the raw table.
#[derive(Debug, PartialEq, serde::Deserialize)]
pub struct EventCounts {
    pub rows: u64,
    pub distinct: u64,
}

pub struct TestApp {
    pub config: Config,
    pub broker: Broker,
    pub addr: SocketAddr,
    pub tenant: String,
    /// The tenant's write key (sending events).
    pub key: String,
    /// A read key of the tenant (the analytics API and the dashboard); empty when the app
    /// runs without the API (the tenant is created by the API's boot).
    pub read_key: String,
    pub clickhouse: ClickHouse,
    pub http: reqwest::Client,
    running: Option<Running>,
}

/// Runs the `recoscope` binary with `args` against this app's SQLite configuration store;
/// returns (success, stdout, stderr).
pub fn cli(app: &TestApp, args: &[&str]) -> (bool, String, String) {
    cli_with_env(app, args, &[])
}

/// [`cli`] with more environment variables (`RECOSCOPE_PASSWORD` for `users add`).
pub fn cli_with_env(app: &TestApp, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_recoscope"))
        .args(args)
        .envs(env.iter().copied())
        .env_remove("MONGODB_URI")
        .env("RECOSCOPE_STORE_PATH", &app.config.stores.path)
        .env("RECOSCOPE_WRITE_KEYS", "")
        .env("RUST_LOG", "warn")
        .output()
        .expect("the binary runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// An operator for the account tests: made with the CLI (`recoscope users add`), as an
/// admin would make the first one.
pub const OPERATOR: &str = "ada@acme.example";
pub const OPERATOR_PASSWORD: &str = "correct horse battery";

/// `recoscope users add EMAIL --tenant T --role R` with the password in the environment.
pub fn add_operator(app: &TestApp, email: &str, password: &str, tenant: &str, role: &str) {
    let (ok, out, err) = cli_with_env(
        app,
        &["users", "add", email, "--tenant", tenant, "--role", role],
        &[("RECOSCOPE_PASSWORD", password)],
    );
    assert!(ok, "users add {email}: {out}{err}");
}

/// The `Set-Cookie` line of a response that sets cookie `name` (attributes included).
pub fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    let prefix = format!("{name}=");
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&prefix))
        .map(str::to_string)
}

/// Chromium's flags for tests on this machine: without the last five, its own connections
/// are refused by the closed network, many at a time.
pub const CHROMIUM_FLAGS: [&str; 6] = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// The tenant store the app under test uses, opened as the CLI opens it.
pub fn tenant_store(config: &Config) -> Arc<dyn TenantStore> {
    Stores::open(&config.stores)
        .expect("the test's stores open")
        .tenant_store()
        .clone()
}

/// Posts `events` to the ingest API at `base` with write key `key`, as a product page does.
pub async fn post_behaviors<T: serde::Serialize>(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    events: &[T],
) -> reqwest::Response {
    http.post(format!("{base}/api/v1/behaviors"))
        .header("X-Recoscope-Key", key)
        .json(&serde_json::json!({ "events": events }))
        .send()
        .await
        .unwrap()
}

/// Polls `check` twice a second until it returns `Ok`. After `seconds` it panics with the
/// last state `check` reported and `context()` (logs, say: gathered only then).
pub async fn wait_until(
    seconds: u64,
    mut check: impl AsyncFnMut() -> Result<(), String>,
    context: impl FnOnce() -> String,
) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        let state = match check().await {
            Ok(()) => return,
            Err(state) => state,
        };
        if Instant::now() >= deadline {
            panic!("still waiting after {seconds} s: {state}\n{}", context());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// `count` feed events from the last minutes: item `i0`, `i1`, … each once, 7 users in turn,
/// every `click_every`-th a click and the rest impressions, a second apart, the newest a
/// minute old.
pub fn feed_events(count: i64, click_every: i64) -> Vec<recoscope_core::Event> {
    use recoscope_core::{ActionType, Event, UnixMillis};
    let now_ms = recoscope_core::clock::now_ms();
    (0..count)
        .map(|i| {
            let action = if i % click_every == 0 {
                ActionType::Click
            } else {
                ActionType::Impression
            };
            let mut e =
                Event::new("home_feed", format!("u{}", i % 7), format!("i{i}"), action).unwrap();
            e.timestamp = UnixMillis::new(now_ms - 60_000 - i * 1000).ok();
            e
        })
        .collect()
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

impl TestApp {
    /// The tenant store this app uses.
    #[allow(dead_code)]
    pub fn tenant_store(&self) -> Arc<dyn TenantStore> {
        tenant_store(&self.config)
    }

    pub async fn start() -> TestApp {
        Self::start_with(|_| {}).await
    }

    /// Starts with test defaults, then `adjust` to change the configuration.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
        Self::start_roles(Roles::ALL, adjust).await
    }

    /// Starts the given roles (the API alone when the workers run as processes of their own).
    pub async fn start_roles(roles: Roles, adjust: impl FnOnce(&mut Config)) -> TestApp {
        let broker = Broker::start().await;
        let tenant = unique("t_");
        let key = unique("key-");
        let mut config = Config::local_defaults();
        // The stack's address may be overridden as for the binary.
        if let Ok(from_env) = Config::from_env() {
            config.clickhouse.url = from_env.clickhouse.url;
        }
        config.kafka.brokers = broker.address.clone();
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.kafka.topic = unique("test-behaviors-");
        config.kafka.topic_partitions = 2;
        config.clickhouse.database = unique("test_");
        config.sink.group_id = unique("test-sink-");
        config.sink.max_wait_ms = 200;
        config.redis.key_prefix = unique("test:") + ":";
        if let Ok(from_env) = Config::from_env() {
            config.redis.url = from_env.redis.url;
        }
        config.stores.write_keys = format!("{key}={tenant}");
        config.stores.path = broker
            .dir
            .join("config.sqlite3")
            .to_string_lossy()
            .into_owned();
        config.stores.recent_path = broker
            .dir
            .join("recent.sqlite3")
            .to_string_lossy()
            .into_owned();
        adjust(&mut config);
        config.validate().expect("test config is valid");

        let running = roles::start(config.clone(), roles)
            .await
            .expect("the app starts on the local stack (is `scripts/stack up` running?)");
        let clickhouse = ClickHouse::new(config.clickhouse()).unwrap();
        let store = tenant_store(&config);
        let read_key = match store.tenant(&tenant).unwrap() {
            Some(_) => store.issue_read_key(&tenant).unwrap().key,
            None => String::new(),
        };
        TestApp {
            addr: running.addr.expect("serving"),
            broker,
            config,
            tenant,
            key,
            read_key,
            clickhouse,
            http: reqwest::Client::new(),
            running: Some(running),
        }
    }

    /// The read model the app serves from, for calling the analytics functions directly.
    #[allow(dead_code)]
    pub fn analytics_db(&self) -> recoscope_analytics::AnalyticsDb {
        self.running
            .as_ref()
            .and_then(|r| r.analytics.clone())
            .expect("the API role runs")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Posts `{"events": [...]}` with this app's write key.
    pub async fn post_events<T: serde::Serialize>(&self, events: &[T]) -> reqwest::Response {
        self.http
            .post(self.url("/api/v1/behaviors"))
            .header("X-Recoscope-Key", &self.key)
            .json(&serde_json::json!({ "events": events }))
            .send()
            .await
            .expect("the API answers")
    }

    /// Posts `count` feed events ([`feed_events`], a click every 8th) to the API and waits
    /// until the tenant has `rows` rows in ClickHouse (the ones before included).
    #[allow(dead_code)]
    pub async fn feed(&self, count: i64, rows: u64) {
        assert_eq!(self.post_events(&feed_events(count, 8)).await.status(), 200);
        assert_eq!(self.wait_for_rows(rows).await, rows);
    }

    /// Loads `records` straight into ClickHouse with the sink's loader, as messages 0, 1, ...
    /// of partition 0 (no broker, no ingest checks: for datasets dated in the past).
    pub async fn load_records(&self, records: Vec<recoscope_core::BehaviorRecord>) {
        use recoscope_workers::batch::Source;
        use recoscope_workers::clickhouse_sink::ClickHouseLoader;
        use recoscope_workers::row::BehaviorRow;
        let rows = records
            .into_iter()
            .enumerate()
            .map(|(i, record)| {
                let source = Source {
                    topic: self.config.kafka.topic.clone(),
                    partition: 0,
                    offset: i as i64,
                };
                (source, BehaviorRow::from(record), ())
            })
            .collect();
        ClickHouseLoader::new(self.clickhouse.clone(), 0)
            .load(rows, &tokio_util::sync::CancellationToken::new())
            .await
            .expect("ClickHouse took the rows");
    }

    /// Rows and distinct event ids of this tenant in the raw table.
    pub async fn event_counts(&self) -> Result<EventCounts, recoscope_clickhouse::ClickHouseError> {
        self.clickhouse
            .fetch_one::<EventCounts>(
                Query::new(
                    "SELECT count() AS rows, uniqExact(event_id) AS distinct \
                     FROM user_behaviors WHERE tenant_id = ?",
                )
                .bind(&self.tenant),
            )
            .await
    }

    /// Events of this tenant in the hourly rollup.
    pub async fn rollup_events(&self) -> u64 {
        #[derive(serde::Deserialize)]
        struct Rollup {
            events: u64,
        }
        self.clickhouse
            .fetch_one::<Rollup>(
                Query::new(
                    "SELECT sumMerge(events) AS events FROM rollup_states \
                     WHERE tenant_id = ? AND grain = 'hour'",
                )
                .bind(&self.tenant),
            )
            .await
            .unwrap()
            .events
    }

    /// Polls `count()` of the raw table for this tenant until it reaches `expected`, and the
    /// hourly rollup until it holds as many: an insert's rows become visible in the raw table
    /// before its materialized views have written theirs, so a reader right after the raw
    /// count can still find the rollups behind (seen once in CI).
    pub async fn wait_for_rows(&self, expected: u64) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let n = self.event_counts().await.unwrap().rows;
            let settled = n >= expected && self.rollup_events().await >= expected;
            if settled || Instant::now() > deadline {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Calls the server function at `/api/{endpoint}` with form arguments; panics with the
    /// server's message when it fails.
    pub async fn server_fn<T: serde::de::DeserializeOwned>(
        &self,
        endpoint: &str,
        form: &[(&str, String)],
    ) -> T {
        let response = self
            .http
            .post(self.url(&format!("/api/{endpoint}")))
            .bearer_auth(&self.read_key)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(form).unwrap())
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{}",
            response.text().await.unwrap()
        );
        response.json().await.unwrap()
    }

    /// `GET path` with `Authorization: Bearer <bearer>` (none: no header): status and JSON.
    pub async fn get_json(&self, path: &str, bearer: Option<&str>) -> (u16, serde_json::Value) {
        let mut request = self.http.get(self.url(path));
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        let response = request.send().await.expect("the API answers");
        (
            response.status().as_u16(),
            response.json().await.expect("a JSON body"),
        )
    }

    /// The body of `GET path`, signed in (the read key in the dashboard's cookie).
    pub async fn get_text(&self, path: &str) -> String {
        let response = self
            .http
            .get(self.url(path))
            .header(
                "cookie",
                format!(
                    "{}={}",
                    recoscope_analytics::read_keys::READ_KEY_COOKIE,
                    self.read_key
                ),
            )
            .send()
            .await
            .unwrap();
        response.text().await.unwrap()
    }

    /// The value of one series from `/metrics`, e.g. `recoscope_ingest_requests_total{status="503"}`.
    pub async fn metric(&self, series: &str) -> Option<f64> {
        let text = self.get_text("/metrics").await;
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
    }

    /// A Redis connection (the app's Redis; keys under `config.redis.key_prefix`).
    pub async fn redis(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.config.redis.url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .expect("the stack's Redis answers")
    }

    /// Stops the app, removes the database and its Redis keys; the broker stops when dropped.
    pub async fn cleanup(mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await.expect("clean stop");
        }
        delete_redis_keys(&self.config.redis.url, &self.config.redis.key_prefix).await;
        self.clickhouse
            .execute_on_server(Query::new(format!(
                "DROP DATABASE IF EXISTS {}",
                self.config.clickhouse.database
            )))
            .await
            .expect("drop test database");
    }
}

impl Drop for TestApp {
    /// A test that panicked never reached `cleanup`: remove its database anyway,
    /// on a runtime of our own (the test's runtime is unwinding).
    fn drop(&mut self) {
        if self.running.is_none() {
            return;
        }
        drop_database_blocking(
            self.clickhouse.clone(),
            self.config.clickhouse.database.clone(),
        );
    }
}

/// Deletes every Redis key under `prefix` (what one test's app wrote) from every server in
/// `url` (one, or a cluster's nodes, comma-separated). One key per `DEL`: in a cluster a
/// node refuses a `DEL` of keys in different slots.
pub async fn delete_redis_keys(url: &str, prefix: &str) {
    for url in url.split(',').map(str::trim).filter(|u| !u.is_empty()) {
        let mut redis = redis::Client::open(url)
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .expect("the stack's Redis answers");
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}*"))
            .query_async(&mut redis)
            .await
            .unwrap();
        if keys.is_empty() {
            continue;
        }
        let mut pipe = redis::pipe();
        for key in &keys {
            pipe.cmd("DEL").arg(key).ignore();
        }
        pipe.query_async::<()>(&mut redis).await.unwrap();
    }
}

/// Drops `database` on a runtime of its own: for `Drop` impls, which run while the test's
/// runtime may be unwinding after a panic.
pub fn drop_database_blocking(clickhouse: ClickHouse, database: String) {
    let _ = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let _ = clickhouse
                .execute_on_server(Query::new(format!("DROP DATABASE IF EXISTS {database}")))
                .await;
        });
    })
    .join();
}
