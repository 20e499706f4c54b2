//! The container image as ops run it: a one-shot `migrate` container, then a `serve` and a
//! `worker` container of the image `scripts/image` built (`RECOSCOPE_IMAGE`), on the local
//! stack, configured by the environment only. Migrate applies the schema and exits 0, the
//! API accepts events, the worker role loads them into ClickHouse, the dashboard served
//! from the container hydrates in Chromium, both pass the image's own health check, and a
//! SIGTERM stops the worker cleanly.
//!
//! Needs podman and the image, so it is ignored in a bare `cargo test`; `scripts/test` builds
//! the image and runs it with `--run-ignored all`.

mod support;

use recoscope_clickhouse::{ClickHouse, ClickHouseConfig, Query};
use std::process::{Command, Output};
use std::time::Duration;
use support::dom::{chart_markup, dump_dom, sign_in_url};
use support::{delete_redis_keys, drop_database_blocking, unique, wait_until, Broker};

/// podman as these machines run it (crun fails here; the defaults' open-file limit is low).
fn podman(args: &[&str]) -> Output {
    Command::new("podman")
        .args(["--runtime", "runc"])
        .args(args)
        .output()
        .expect("podman runs (scripts/test installs it)")
}

/// A running container, removed when dropped (also when the test panics).
struct Container(String);

impl Container {
    fn run(image: &str, name: &str, env: &[(String, String)], role: &str) -> Container {
        let mut args: Vec<String> = [
            "run",
            "-d",
            "--name",
            name,
            "--network",
            "host",
            "--ulimit",
            "nofile=16384:16384",
            "--ulimit",
            "nproc=16384:16384",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for (key, value) in env {
            args.push("-e".into());
            args.push(format!("{key}={value}"));
        }
        args.push(image.into());
        args.push(role.into());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = podman(&args);
        assert!(
            output.status.success(),
            "podman run {role}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Container(name.to_string())
    }

    fn logs(&self) -> String {
        let output = podman(&["logs", &self.0]);
        String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr)
    }

    /// Runs the image's `HEALTHCHECK` command now (no systemd timer here to run it).
    fn healthy(&self) -> bool {
        podman(&["healthcheck", "run", &self.0]).status.success()
    }
}

/// The test's database, dropped when the test ends, also when it panics.
struct Database(ClickHouse, String);

impl Drop for Database {
    fn drop(&mut self) {
        drop_database_blocking(self.0.clone(), self.1.clone());
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = podman(&["rm", "-f", "-t", "5", &self.0]);
    }
}

/// Runs a one-shot role (`migrate`, the CLI) in a container that is removed when it ends.
fn run_to_end(image: &str, env: &[(String, String)], role: &str) -> Output {
    let mut args: Vec<String> = ["run", "--rm", "--network", "host"]
        .iter()
        .chain(&[
            "--ulimit",
            "nofile=16384:16384",
            "--ulimit",
            "nproc=16384:16384",
        ])
        .map(|s| s.to_string())
        .collect();
    for (key, value) in env {
        args.extend(["-e".to_string(), format!("{key}={value}")]);
    }
    args.extend([image.to_string(), role.to_string()]);
    podman(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

async fn wait_ready(http: &reqwest::Client, url: &str, container: &Container) {
    wait_until(
        90,
        async || match http.get(url).send().await {
            Ok(response) if response.status() == 200 => Ok(()),
            Ok(response) => Err(format!("{url}: {}", response.status())),
            Err(error) => Err(format!("{url}: {error}")),
        },
        || container.logs(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs podman and the image scripts/image builds: run scripts/test"]
async fn the_image_serves_loads_and_stops_cleanly_on_the_local_stack() {
    let image = std::env::var("RECOSCOPE_IMAGE").expect("RECOSCOPE_IMAGE (set by scripts/test)");
    let broker = Broker::start().await;
    let clickhouse_url =
        std::env::var("CLICKHOUSE_URL").unwrap_or_else(|_| "http://127.0.0.1:8123".into());
    let database = unique("test_image_");
    let tenant = unique("t_");
    let key = unique("key-");
    let (api_port, worker_port) = (
        support::processes::free_port(),
        support::processes::free_port(),
    );
    let redis_prefix = unique("test-image:") + ":";
    let redis_url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    // Only environment: what a deployment sets (the image's defaults do the rest).
    let env: Vec<(String, String)> = [
        ("KAFKA_BROKERS", broker.address.clone()),
        ("KAFKA_TOPIC", unique("test-image-")),
        ("SINK_DEAD_LETTER_TOPIC", unique("test-image-dead-")),
        ("CLICKHOUSE_URL", clickhouse_url.clone()),
        ("CLICKHOUSE_DATABASE", database.clone()),
        ("REDIS_URL", redis_url.clone()),
        ("REDIS_KEY_PREFIX", redis_prefix.clone()),
        ("RECOSCOPE_WRITE_KEYS", format!("{key}={tenant}")),
        ("RECOSCOPE_LISTEN", format!("127.0.0.1:{api_port}")),
        ("WORKER_LISTEN", format!("127.0.0.1:{worker_port}")),
        ("SINK_GROUP_ID", unique("test-image-sink-")),
        ("REALTIME_GROUP_ID", unique("test-image-rt-")),
        ("RECENT_GROUP_ID", unique("test-image-recent-")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let clickhouse = ClickHouse::new(ClickHouseConfig {
        url: clickhouse_url,
        failover: Vec::new(),
        database: database.clone(),
        user: "default".into(),
        password: String::new(),
        timeout: Duration::from_secs(30),
    })
    .unwrap();
    let _database = Database(clickhouse.clone(), database.clone());

    // The one-shot `migrate` role first, as compose.yaml runs it: it applies the schema
    // and exits 0, which is what the other services wait for.
    let migrated = run_to_end(&image, &env, "migrate");
    assert!(
        migrated.status.success(),
        "migrate: {}{}",
        String::from_utf8_lossy(&migrated.stdout),
        String::from_utf8_lossy(&migrated.stderr)
    );
    #[derive(serde::Deserialize)]
    struct Tables {
        tables: u64,
    }
    let tables = clickhouse
        .fetch_one::<Tables>(Query::new(
            "SELECT count() AS tables FROM system.tables \
             WHERE database = currentDatabase() AND name = 'user_behaviors'",
        ))
        .await;
    assert_eq!(
        tables.map(|t| t.tables).ok(),
        Some(1),
        "no user_behaviors table after migrate"
    );

    let serve = Container::run(&image, &unique("recoscope-serve-"), &env, "serve");
    let worker = Container::run(&image, &unique("recoscope-worker-"), &env, "worker");
    let http = reqwest::Client::new();
    let api = format!("http://127.0.0.1:{api_port}");
    wait_ready(&http, &format!("{api}/_readiness"), &serve).await;
    wait_ready(
        &http,
        &format!("http://127.0.0.1:{worker_port}/_readiness"),
        &worker,
    )
    .await;
    assert!(
        serve.healthy(),
        "serve health check failed:\n{}",
        serve.logs()
    );
    assert!(
        worker.healthy(),
        "worker health check failed:\n{}",
        worker.logs()
    );

    // Events through the container's API...
    let events = support::feed_events(30, 6);
    let response = support::post_behaviors(&http, &api, &key, &events).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());

    // ...loaded into ClickHouse by the worker container.
    #[derive(serde::Deserialize)]
    struct Count {
        rows: u64,
    }
    wait_until(
        60,
        async || {
            let rows = clickhouse
                .fetch_one::<Count>(Query::new("SELECT count() AS rows FROM user_behaviors"))
                .await
                .map_or(0, |c| c.rows);
            match rows {
                30 => Ok(()),
                _ => Err(format!("{rows} of 30 rows in ClickHouse")),
            }
        },
        || worker.logs(),
    )
    .await;

    // The dashboard from the container hydrates and draws, signed in with a read key the
    // image's own CLI issues.
    let issued = podman(&["exec", &serve.0, "/app/recoscope", "keys", "read", &tenant]);
    assert!(
        issued.status.success(),
        "keys read: {}",
        String::from_utf8_lossy(&issued.stderr)
    );
    let read_key = serde_json::from_slice::<serde_json::Value>(&issued.stdout).unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let (dom, console) = dump_dom(sign_in_url(&api, &read_key, "/?hours=6")).await;
    assert!(
        !console.contains("panicked at"),
        "the bundle panicked:\n{console}"
    );
    let chart = chart_markup(&dom, "trend-chart");
    assert!(
        chart.contains("<canvas"),
        "no chart drawn from the image's site:\n{chart}\n{console}"
    );

    // SIGTERM: the worker delivers, commits, releases its partitions and exits 0.
    let stopped = podman(&["stop", "-t", "30", &worker.0]);
    assert!(stopped.status.success());
    let code = podman(&["inspect", &worker.0, "--format", "{{.State.ExitCode}}"]);
    assert_eq!(
        String::from_utf8_lossy(&code.stdout).trim(),
        "0",
        "worker logs:\n{}",
        worker.logs()
    );
    assert!(
        worker.logs().contains("left the group"),
        "{}",
        worker.logs()
    );

    // The containers go, then the Redis keys they wrote; the database goes as the test ends
    // (also when it panics).
    drop(serve);
    drop(worker);
    delete_redis_keys(&redis_url, &redis_prefix).await;
}
