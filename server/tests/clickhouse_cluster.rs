//! ClickHouse cluster mode on a real local cluster: ZooKeeper and 2 shards × 2 replicas of
//! ClickHouse (`scripts/clickhouse-cluster`, on free ports). The `recoscope all` binary runs
//! with nothing but the variables an operator sets (`CLICKHOUSE_CLUSTER`,
//! `CLICKHOUSE_SHARDS`) and is SIGKILLed while it loads; the API in the test reads through
//! the same settings. Events go through the process's API and sink into the shards; the
//! counts are exact, every analytics answer equals the single server's for the same events,
//! and with one replica of each shard stopped (the read URL's node among them) reads and
//! writes go on.

mod support;

use recoscope_clickhouse::{ClickHouse, ClickHouseConfig, Query};
use recoscope_core::{ActionType, Event, Label, UnixMillis};
use recoscope_server::roles::Roles;
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;
use support::posting::{send, Client};
use support::processes::{free_port, RecoscopeProcess};
use support::{unique, TestApp};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/clickhouse-cluster");

/// The cluster of `scripts/clickhouse-cluster`, on ports of its own; stopped and removed on
/// drop.
struct LocalCluster {
    env: Vec<(&'static str, String)>,
    dir: PathBuf,
    settings: HashMap<String, String>,
}

impl LocalCluster {
    fn start() -> LocalCluster {
        let dir = std::env::temp_dir().join(unique("recoscope-ch-cluster-"));
        let env = vec![
            ("CH_CLUSTER_ZK_PORT", free_port().to_string()),
            ("CH_CLUSTER_BASE_PORT", free_base_port().to_string()),
            ("CH_CLUSTER_DIR", dir.to_string_lossy().into_owned()),
        ];
        let mut cluster = LocalCluster {
            env,
            dir,
            settings: HashMap::new(),
        };
        let output = cluster.script(&["up"]);
        cluster.settings = String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        cluster
    }

    fn script(&self, args: &[&str]) -> std::process::Output {
        let output = Command::new(SCRIPT)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .expect("scripts/clickhouse-cluster runs");
        assert!(
            output.status.success(),
            "scripts/clickhouse-cluster {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    fn setting(&self, name: &str) -> String {
        self.settings
            .get(name)
            .unwrap_or_else(|| panic!("the script printed no {name}"))
            .clone()
    }

    fn stop_node(&self, node: usize) {
        self.script(&["stop-node", &node.to_string()]);
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        let _ = Command::new(SCRIPT)
            .arg("down")
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A base port whose 40 ports after it are free (node N takes base + 10N .. + 2).
fn free_base_port() -> u16 {
    for _ in 0..100 {
        let base = 20_000 + (free_port() % 200) * 100;
        let free = (0..40).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok());
        if free {
            return base;
        }
    }
    panic!("no 40 free ports in a row");
}

/// 60 users' sessions over the last 50 minutes: impressions and, step by step, clicks,
/// views, adds to cart and orders, on three devices and two experiment groups; ids fixed, so
/// two apps get the same events.
fn events(tag: &str, now_ms: i64) -> Vec<Event> {
    let mut out = Vec::new();
    let mut next = support::numbers(0x5eed_c1a5_7e12_0017);
    for u in 0..60 {
        for session in 0..3 {
            let mut at = now_ms - 50 * 60_000 + next(40 * 60_000) as i64;
            let steps = [
                ActionType::Impression,
                ActionType::Click,
                ActionType::View,
                ActionType::AddCart,
                ActionType::Order,
            ];
            for (i, action) in steps.into_iter().enumerate() {
                if i > 0 && next(100) >= 60 {
                    break;
                }
                let mut e = Event::new(
                    if session == 2 { "search" } else { "home" },
                    format!("user-{u}"),
                    format!("item-{}", next(12)),
                    action,
                )
                .unwrap();
                e.event_id = Label::new(format!("{tag}-{u}-{session}-{i}")).ok();
                e.timestamp = UnixMillis::new(at).ok();
                e.position = Some(next(6) as u32);
                e.experiment_id = Label::new("exp-c").ok();
                e.experiment_group = Label::new(if u % 2 == 0 { "control" } else { "b" }).ok();
                e.context = Some(recoscope_core::EventContext {
                    device_type: Label::new(["mobile", "desktop", "tablet"][u % 3]).ok(),
                    ..Default::default()
                });
                out.push(e);
                at += 1_000 + next(120_000) as i64;
            }
        }
    }
    out
}

/// `GET path` with the app's read key, without the tenant's name (the apps' tenants differ).
async fn answer(app: &TestApp, path: &str) -> Value {
    let (status, mut body) = app.get_json(path, Some(&app.read_key)).await;
    assert_eq!(status, 200, "{path}: {body}");
    if let Some(object) = body.as_object_mut() {
        object.remove("tenant");
    }
    body
}

/// Rows in each shard's local raw table, read from `nodes` (one live node per shard).
async fn local_rows(nodes: &[String], database: &str, tenant: &str) -> Vec<u64> {
    #[derive(serde::Deserialize)]
    struct Rows {
        rows: u64,
    }
    let mut out = Vec::new();
    for url in nodes {
        let ch = ClickHouse::new(ClickHouseConfig {
            url: url.clone(),
            database: database.to_string(),
            ..ClickHouseConfig::default()
        })
        .unwrap();
        let rows: Rows = ch
            .fetch_one(
                Query::new("SELECT count() AS rows FROM user_behaviors_local WHERE tenant_id = ?")
                    .bind(tenant),
            )
            .await
            .unwrap();
        out.push(rows.rows);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_by_two_cluster_loads_exactly_answers_like_one_server_and_survives_a_replica_per_shard(
) {
    let cluster = LocalCluster::start();
    let shards = cluster.setting("CLICKHOUSE_SHARDS");
    // Reads in the test; the process under test writes (its API, its sink).
    let app = TestApp::start_roles(
        Roles {
            serve: true,
            worker: false,
        },
        |c| {
            c.clickhouse.url = cluster.setting("CLICKHOUSE_URL");
            c.clickhouse.cluster = cluster.setting("CLICKHOUSE_CLUSTER");
            c.clickhouse.shards = shards.clone();
        },
    )
    .await;
    let mut process = RecoscopeProcess::start_role(&app.config, "all").await;
    let client = Client::to_process(&app, &process);
    let single = TestApp::start().await;
    let nodes: Vec<Vec<String>> = shards
        .split(';')
        .map(|s| s.split(',').map(str::to_string).collect())
        .collect();

    let now_ms = recoscope_core::clock::now_ms();
    let first = events("a", now_ms);
    let n = first.len() as u64;
    // Killed while it loads the shards: its successor loads what was not, and no row twice.
    let (start, rest) = first.split_at(first.len() / 3);
    send(&client, start).await;
    assert!(app.wait_for_rows(1).await >= 1);
    tokio::join!(send(&client, rest), async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        process.kill();
        process.resume().await;
    });
    send(&Client::of(&single), &first).await;
    assert_eq!(app.wait_for_rows(n).await, n);
    assert_eq!(single.wait_for_rows(n).await, n);

    // Exact: every event once, and both shards hold some (partition 0 → shard 1, 1 → 2).
    let counts = app.event_counts().await.unwrap();
    assert_eq!((counts.rows, counts.distinct), (n, n));
    let per_shard = local_rows(
        &[nodes[0][0].clone(), nodes[1][0].clone()],
        &app.config.clickhouse.database,
        &app.tenant,
    )
    .await;
    assert_eq!(per_shard.iter().sum::<u64>(), n, "{per_shard:?}");
    assert!(per_shard.iter().all(|rows| *rows > 0), "{per_shard:?}");

    // Every view answers as the single server does for the same events.
    let until = now_ms / 1000 + 60;
    let from = until - 2 * 3600;
    let views = [
        format!("/api/v1/analytics/overview?hours=2&until={until}"),
        format!("/api/v1/analytics/trends?from={from}&to={until}&granularity=hour"),
        format!("/api/v1/analytics/distribution?dimension=device&from={from}&to={until}"),
        format!("/api/v1/analytics/distribution?dimension=position&from={from}&to={until}"),
        format!("/api/v1/analytics/funnel?from={from}&to={until}&window_secs=600"),
        format!("/api/v1/analytics/experiments?from={from}&to={until}"),
        format!("/api/v1/analytics/top_items?from={from}&to={until}&limit=5"),
    ];
    for view in &views {
        let (clustered, alone) = (answer(&app, view).await, answer(&single, view).await);
        assert_eq!(clustered, alone, "{view}");
    }
    let overview = answer(&app, &views[0]).await;
    assert_eq!(overview["kpis"]["events"].as_u64(), Some(n), "{overview}");

    // One replica of each shard stops: the node reads went to, and the second shard's second.
    cluster.stop_node(0);
    cluster.stop_node(3);
    let second = events("b", now_ms);
    let m = second.len() as u64;
    send(&client, &second).await;
    assert_eq!(app.wait_for_rows(n + m).await, n + m, "writes went on");
    let counts = app.event_counts().await.unwrap();
    assert_eq!((counts.rows, counts.distinct), (n + m, n + m));
    let per_shard = local_rows(
        &[nodes[0][1].clone(), nodes[1][0].clone()],
        &app.config.clickhouse.database,
        &app.tenant,
    )
    .await;
    assert_eq!(per_shard.iter().sum::<u64>(), n + m, "{per_shard:?}");
    let overview = answer(&app, &views[0]).await;
    assert_eq!(
        overview["kpis"]["events"].as_u64(),
        Some(n + m),
        "reads went on: {overview}"
    );

    single.cleanup().await;
    app.cleanup().await;
}
