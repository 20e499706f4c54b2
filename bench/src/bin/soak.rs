//! `bench/soak`: the product under steady load for a long time, watched from outside.
//!
//! `recoscope all` (the release binary, as users run it) serves a private broker, a
//! throw-away database and Redis prefix, while `recoscope simulate` sends the simulated
//! shop's traffic through its API for `BENCH_SOAK_SECS` (600). Every `BENCH_SAMPLE_SECS` (10)
//! the process's resident memory (`/proc/PID/status` VmRSS), open file descriptors
//! (`/proc/PID/fd`), threads, HTTP connections and consumer lag (its `/_readiness`) are read.
//! The first `BENCH_WARMUP_SECS` (60) fill caches and pools and are not judged.
//!
//! Judged: the growth from the first to the second half of the measured time (means of each
//! half, so one sample's noise does not decide), for memory and descriptors. A leak grows in
//! both halves; a process that settled does not. At the end the traffic stops, the pipeline
//! drains, and ClickHouse must hold exactly the events the API accepted.
//!
//! Build the product first: `cargo build --release -p recoscope-server`, then
//! `cargo run --release -p recoscope-bench --bin soak` (`RECOSCOPE_BIN` names another
//! binary). Environment: `TANSU_BIN`, `CLICKHOUSE_URL`, `REDIS_URL`,
//! `BENCH_SESSIONS_PER_SEC` (20). Last line: `RESULT rss_growth_pct=… fd_growth=… …`.

use recoscope_bench::broker::Broker;
use recoscope_bench::setup::{bench_config, env_or, unique};
use recoscope_clickhouse::{ClickHouse, Query};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One look at the process.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at_secs: u64,
    rss_mib: f64,
    fds: usize,
    threads: usize,
    connections: f64,
    lag: i64,
    accepted: f64,
}

fn product_binary() -> anyhow::Result<PathBuf> {
    if let Ok(bin) = std::env::var("RECOSCOPE_BIN") {
        return Ok(bin.into());
    }
    let sibling = std::env::current_exe()?.with_file_name("recoscope");
    anyhow::ensure!(
        sibling.is_file(),
        "{} not found: run `cargo build --release -p recoscope-server` first",
        sibling.display()
    );
    Ok(sibling)
}

fn status_field(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// A number from Prometheus text (the first series starting with `series`).
fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(series))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn sample(
    http: &reqwest::Client,
    base: &str,
    pid: u32,
    started: Instant,
) -> anyhow::Result<Sample> {
    let readiness: serde_json::Value = http
        .get(format!("{base}/_readiness"))
        .send()
        .await?
        .json()
        .await?;
    let lag = readiness["consumers"]["lag"]
        .as_array()
        .map(|rows| rows.iter().filter_map(|r| r["lag"].as_i64()).sum())
        .unwrap_or(0);
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    Ok(Sample {
        at_secs: started.elapsed().as_secs(),
        rss_mib: status_field(pid, "VmRSS:").unwrap_or(0.0) / 1024.0,
        fds: std::fs::read_dir(format!("/proc/{pid}/fd"))?.count(),
        threads: status_field(pid, "Threads:").unwrap_or(0.0) as usize,
        connections: metric(&metrics, "recoscope_http_connections"),
        lag,
        accepted: metric(&metrics, "recoscope_ingest_events_accepted_total"),
    })
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 {
        0.0
    } else {
        sum / n as f64
    }
}

struct Stopped(Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[derive(serde::Deserialize)]
struct Count {
    n: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let soak = Duration::from_secs(env_or("BENCH_SOAK_SECS", 600) as u64);
    let every = Duration::from_secs(env_or("BENCH_SAMPLE_SECS", 10) as u64);
    let warmup = Duration::from_secs(env_or("BENCH_WARMUP_SECS", 60) as u64);
    let sessions = env_or("BENCH_SESSIONS_PER_SEC", 20);
    anyhow::ensure!(soak > warmup + every * 4, "BENCH_SOAK_SECS is too short");
    let bin = product_binary()?;

    let broker = Broker::start().await?;
    let scratch = std::env::temp_dir().join(unique("recoscope-soak-"));
    std::fs::create_dir_all(&scratch)?;
    let config = bench_config(&broker, &scratch)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let topic = unique("soak-");
    let env = [
        ("RECOSCOPE_LISTEN", format!("127.0.0.1:{port}")),
        ("KAFKA_BROKERS", config.kafka.brokers.clone()),
        ("KAFKA_TOPIC", topic.clone()),
        ("SINK_DEAD_LETTER_TOPIC", format!("{topic}-dead")),
        ("CLICKHOUSE_URL", config.clickhouse.url.clone()),
        ("CLICKHOUSE_DATABASE", config.clickhouse.database.clone()),
        ("REDIS_URL", config.redis.url.clone()),
        ("REDIS_KEY_PREFIX", config.redis.key_prefix.clone()),
        ("RECOSCOPE_STORE_PATH", config.stores.path.clone()),
        ("RECOSCOPE_RECENT_PATH", config.stores.recent_path.clone()),
        ("RECOSCOPE_WRITE_KEYS", config.stores.write_keys.clone()),
        ("MONGODB_URI", String::new()),
        ("INGEST_RATE_EVENTS_PER_SEC", "1000000".into()),
        ("INGEST_RATE_BURST", "1000000".into()),
        ("RUST_LOG", "warn".into()),
    ];
    let product = Stopped(
        Command::new(&bin)
            .arg("all")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .spawn()?,
    );
    let pid = product.0.id();
    // Idle pooled connections are dropped before the server's idle timeout closes them: a
    // request sent on a connection the server is closing at that moment fails.
    let http = reqwest::Client::builder()
        .pool_idle_timeout(Duration::from_secs(5))
        .build()?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while !http
        .get(format!("{base}/_readiness"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the product did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!(
        "soak: {} for {}s, {sessions} sessions/s, samples every {}s, first {}s not judged",
        bin.display(),
        soak.as_secs(),
        every.as_secs(),
        warmup.as_secs()
    );
    let simulator = Stopped(
        Command::new(&bin)
            .args(["simulate", "--target", &base, "--keys", "bench-key"])
            .args(["--sessions-per-sec", &sessions.to_string()])
            .args(["--duration-secs", &soak.as_secs().to_string()])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()?,
    );

    let started = Instant::now();
    let mut samples = Vec::new();
    println!("   s   RSS MiB  fds  threads  conns      lag   accepted");
    while started.elapsed() < soak {
        tokio::time::sleep(every).await;
        let s = sample(&http, &base, pid, started).await?;
        println!(
            "{:>4}  {:>8.1}  {:>3}  {:>7}  {:>5}  {:>7}  {:>9}",
            s.at_secs, s.rss_mib, s.fds, s.threads, s.connections, s.lag, s.accepted
        );
        samples.push(s);
    }
    drop(simulator);

    // Drain: the API accepted what it counted; the pipeline must load exactly that.
    let ch = ClickHouse::new(config.clickhouse())?;
    let accepted = sample(&http, &base, pid, started).await?.accepted as u64;
    let drain_deadline = Instant::now() + Duration::from_secs(120);
    let loaded = loop {
        let n = ch
            .fetch_one::<Count>(Query::new("SELECT count() AS n FROM user_behaviors"))
            .await
            .map(|c| c.n)
            .unwrap_or(0);
        if n >= accepted || Instant::now() > drain_deadline {
            break n;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let end = sample(&http, &base, pid, started).await?;
    drop(product);
    let _ = ch
        .execute_on_server(Query::new(format!(
            "DROP DATABASE IF EXISTS {}",
            config.clickhouse.database
        )))
        .await;
    let _ = std::fs::remove_dir_all(&scratch);

    let judged: Vec<Sample> = samples
        .iter()
        .copied()
        .filter(|s| s.at_secs >= warmup.as_secs())
        .collect();
    let (first, second) = judged.split_at(judged.len() / 2);
    let rss = |half: &[Sample]| mean(half.iter().map(|s| s.rss_mib));
    let fds = |half: &[Sample]| mean(half.iter().map(|s| s.fds as f64));
    let rss_growth_pct = 100.0 * (rss(second) - rss(first)) / rss(first).max(1.0);
    let fd_growth = fds(second) - fds(first);
    let (start, last) = (judged[0], judged[judged.len() - 1]);
    let max_lag = samples.iter().map(|s| s.lag).max().unwrap_or(0);
    let rate = (last.accepted - start.accepted) / (last.at_secs - start.at_secs).max(1) as f64;
    println!(
        "after warm-up: RSS {:.1} → {:.1} MiB, fds {} → {}, threads {} → {}, lag {} → {} (max {max_lag}); {rate:.0} events/s",
        start.rss_mib, last.rss_mib, start.fds, last.fds, start.threads, last.threads, start.lag, last.lag
    );
    println!(
        "halves: RSS {:.1} → {:.1} MiB ({rss_growth_pct:+.1}%), fds {:.1} → {:.1} ({fd_growth:+.1})",
        rss(first),
        rss(second),
        fds(first),
        fds(second)
    );
    println!(
        "drained: {loaded} rows in ClickHouse for {accepted} events accepted; lag {}",
        end.lag
    );
    println!(
        "RESULT rss_growth_pct={rss_growth_pct:.1} fd_growth={fd_growth:.1} rss_mib_start={:.1} rss_mib_end={:.1} fds_start={} fds_end={} lag_start={} lag_end={} max_lag={max_lag} events_per_sec={rate:.0} accepted={accepted} loaded={loaded}",
        start.rss_mib, last.rss_mib, start.fds, last.fds, start.lag, last.lag
    );
    Ok(())
}
