//! `bench/ingest`: events/s through the HTTP ingest API against the broker's own ceiling,
//! measured in the same run on the same private broker.
//!
//! - Baseline: the same events produced straight to the broker with rdkafka (the API's own
//!   producer settings: acks=all, lz4, linger 1 ms), big batches, many in flight.
//! - API: `POST /api/v1/behaviors` in batches of `BENCH_BATCH` (50) over `BENCH_CONNECTIONS`
//!   (8) connections; latency per request.
//!
//! Environment: `BENCH_EVENTS` (200000), `BENCH_BATCH`, `BENCH_CONNECTIONS`, `TANSU_BIN`,
//! `CLICKHOUSE_URL` (the server migrates a throw-away database there at start).
//! Last line: `RESULT ingest_ratio=<ratio> api_eps=<n> broker_eps=<n> p99_ms=<n>`.

use futures::StreamExt;
use recoscope_bench::broker::Broker;
use recoscope_bench::stats::{peak_rss_mib, percentile};
use recoscope_clickhouse::{ClickHouse, Query};
use recoscope_core::{BehaviorRecord, Event, Label, UnixMillis};
use recoscope_server::clock::now_ms;
use recoscope_server::config::Config;
use recoscope_server::ingest::sink::EventSink;
use recoscope_server::kafka::{ensure_topic, KafkaEventSink};
use recoscope_server::roles::{self, Roles};
use recoscope_server::simulate::TrafficModel;
use std::sync::Arc;
use std::time::{Duration, Instant};

// The same allocator as the `recoscope` binary, so the server measured here is the shipped one.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Realistic events (the simulator's sessions), stamped now so validation accepts them.
fn generate(n: usize) -> Vec<Event> {
    let mut model = TrafficModel::new(42);
    let mut events = Vec::with_capacity(n + 64);
    let now = now_ms();
    while events.len() < n {
        events.extend(model.session(now - 60_000).into_iter().map(|mut e| {
            e.timestamp = UnixMillis::new(now - 60_000).ok();
            e
        }));
    }
    events.truncate(n);
    for (i, e) in events.iter_mut().enumerate() {
        e.event_id = Label::new(format!("bench-{i}")).ok();
    }
    events
}

async fn broker_baseline(config: &Config, events: &[Event]) -> anyhow::Result<f64> {
    let sink = Arc::new(KafkaEventSink::new(config)?);
    let records: Vec<BehaviorRecord> = events
        .iter()
        .map(|e| BehaviorRecord::new("bench", e.clone(), now_ms(), || unreachable!()))
        .collect();
    sink.send_batch(&records[..500.min(records.len())])
        .await
        .map_err(anyhow::Error::msg)?;
    let started = Instant::now();
    let results: Vec<_> = futures::stream::iter(records.chunks(1000).map(|c| c.to_vec()))
        .map(|chunk| {
            let sink = sink.clone();
            async move { sink.send_batch(&chunk).await }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let elapsed = started.elapsed();
    for r in results {
        r.map_err(anyhow::Error::msg)?;
    }
    Ok(events.len() as f64 / elapsed.as_secs_f64())
}

async fn api_run(
    url: String,
    key: &str,
    events: &[Event],
    batch: usize,
    connections: usize,
) -> anyhow::Result<(f64, Vec<Duration>)> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .build()?;
    let bodies: Vec<String> = events
        .chunks(batch)
        .map(|c| serde_json::json!({ "events": c }).to_string())
        .collect();
    // Warm-up: connections, the producer's metadata.
    for body in bodies.iter().take(connections) {
        post(&http, &url, key, body.clone()).await?;
    }
    let started = Instant::now();
    let latencies: Vec<anyhow::Result<Duration>> = futures::stream::iter(bodies)
        .map(|body| {
            let http = http.clone();
            let url = url.clone();
            async move {
                let t = Instant::now();
                post(&http, &url, key, body).await?;
                Ok(t.elapsed())
            }
        })
        .buffer_unordered(connections)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let latencies = latencies.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    Ok((events.len() as f64 / elapsed.as_secs_f64(), latencies))
}

async fn post(http: &reqwest::Client, url: &str, key: &str, body: String) -> anyhow::Result<()> {
    let response = http
        .post(url)
        .header("X-Recoscope-Key", key)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?;
    anyhow::ensure!(
        response.status().is_success(),
        "API answered {}: {}",
        response.status(),
        response.text().await.unwrap_or_default()
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n = env_or("BENCH_EVENTS", 200_000);
    let batch = env_or("BENCH_BATCH", 50);
    let connections = env_or("BENCH_CONNECTIONS", 8);
    let broker = Broker::start().await?;
    let events = generate(n);

    let mut config = Config::local_defaults();
    if let Ok(url) = std::env::var("CLICKHOUSE_URL") {
        config.clickhouse_url = url;
    }
    config.kafka_brokers = broker.address.clone();
    config.listen = "127.0.0.1:0".parse()?;
    config.clickhouse_database = format!("bench_{}", uuid::Uuid::new_v4().simple());
    config.write_keys = "bench-key=bench".into();
    let scratch = std::env::temp_dir().join(format!("recoscope-bench-{}", uuid::Uuid::new_v4()));
    config.store_path = scratch
        .join("config.sqlite3")
        .to_string_lossy()
        .into_owned();
    config.recent_path = scratch
        .join("recent.sqlite3")
        .to_string_lossy()
        .into_owned();
    config.ingest_rate_events_per_sec = u32::MAX;
    config.ingest_rate_burst = u32::MAX;
    config.validate().map_err(anyhow::Error::msg)?;

    let mut baseline_config = config.clone();
    baseline_config.kafka_topic = "bench-baseline".into();
    ensure_topic(
        &broker.address,
        "bench-baseline",
        config.kafka_topic_partitions,
    )
    .await?;
    let broker_eps = broker_baseline(&baseline_config, &events).await?;

    let running = roles::start(
        config.clone(),
        Roles {
            serve: true,
            worker: false,
        },
    )
    .await?;
    let url = format!("http://{}/api/v1/behaviors", running.addr.expect("serving"));
    let (api_eps, mut latencies) = api_run(url, "bench-key", &events, batch, connections).await?;
    running.stop().await?;
    ClickHouse::new(config.clickhouse())?
        .execute_on_server(Query::new(format!(
            "DROP DATABASE IF EXISTS {}",
            config.clickhouse_database
        )))
        .await?;
    let _ = std::fs::remove_dir_all(&scratch);

    let p50 = percentile(&mut latencies, 50.0).as_secs_f64() * 1000.0;
    let p99 = percentile(&mut latencies, 99.0).as_secs_f64() * 1000.0;
    println!("ingest bench: {n} events, batches of {batch}, {connections} connections");
    println!("broker baseline (rdkafka, same producer settings): {broker_eps:.0} events/s");
    println!("HTTP API: {api_eps:.0} events/s, request latency p50 {p50:.1} ms, p99 {p99:.1} ms");
    println!(
        "peak RSS of the process (load generator + server): {:.0} MiB",
        peak_rss_mib()
    );
    println!(
        "RESULT ingest_ratio={:.3} api_eps={api_eps:.0} broker_eps={broker_eps:.0} p99_ms={p99:.1}",
        api_eps / broker_eps
    );
    Ok(())
}
