//! `bench/ingest`: events/s through the HTTP ingest API against the broker's own ceiling,
//! measured in the same run on the same private broker.
//!
//! - Baseline: the same events produced straight to the broker with rdkafka (the API's own
//!   producer settings: acks=all, lz4, linger 1 ms), big batches, many in flight.
//! - API: `POST /api/v1/behaviors` in batches of `BENCH_BATCH` (50) over `BENCH_CONNECTIONS`
//!   (8) connections; latency per request.
//!
//! The two alternate for `BENCH_ROUNDS` (3) rounds and each side reports its median, so a
//! burst of noise on this shared machine moves one round, not the ratio.
//!
//! CPU per event, the fair measure on 2 shared cores: the server runs on a runtime of its own
//! (threads named `server`), so its CPU time, with its Kafka producer's threads, is read
//! apart from the load generator's during the API rounds. The baseline's is the whole
//! process's during its rounds (its producer is made for the round and closed after it, so
//! its threads are gone by the API's rounds; the idle server's threads count against the
//! baseline, not for it). Both as CPU seconds per million events.
//!
//! Environment: `BENCH_EVENTS` (200000 per round), `BENCH_BATCH`, `BENCH_CONNECTIONS`,
//! `BENCH_ROUNDS`, `TANSU_BIN`, `CLICKHOUSE_URL` (the server migrates a throw-away database
//! there at start).
//! Last line: `RESULT ingest_ratio=<ratio> api_eps=<n> broker_eps=<n> p99_ms=<n>
//! api_cpu_s_per_m=<s> broker_cpu_s_per_m=<s> cpu_ratio=<api/broker>`.

use bytes::Bytes;
use futures::StreamExt;
use recoscope_bench::broker::Broker;
use recoscope_bench::cpu;
use recoscope_bench::events::generate;
use recoscope_bench::setup::{bench_config, env_or};
use recoscope_bench::stats::{median, peak_rss_mib, percentile};
use recoscope_clickhouse::{ClickHouse, Query};
use recoscope_core::clock::now_ms;
use recoscope_core::BehaviorRecord;
use recoscope_ingest::kafka_sink::KafkaEventSink;
use recoscope_ingest::sink::EventSink;
use recoscope_kafka::ensure_topic;
use recoscope_server::roles::{self, Roles};
use std::time::{Duration, Instant};

// The same allocator as the `recoscope` binary, so the server measured here is the shipped one.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Events/s of the producer alone: the records go straight to the broker, 8 chunks of 1000 in
/// flight.
async fn broker_baseline(sink: &KafkaEventSink, records: &[BehaviorRecord]) -> anyhow::Result<f64> {
    let started = Instant::now();
    let results: Vec<_> = futures::stream::iter(records.chunks(1000))
        .map(|chunk| sink.send_batch(chunk))
        .buffer_unordered(8)
        .collect()
        .await;
    let elapsed = started.elapsed();
    for r in results {
        r.map_err(anyhow::Error::msg)?;
    }
    Ok(records.len() as f64 / elapsed.as_secs_f64())
}

/// Events/s through the API, and each request's latency.
async fn api_run(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    bodies: &[(usize, Bytes)],
    connections: usize,
) -> anyhow::Result<(f64, Vec<Duration>)> {
    let events: usize = bodies.iter().map(|(n, _)| n).sum();
    let started = Instant::now();
    let latencies: Vec<anyhow::Result<Duration>> = futures::stream::iter(bodies)
        .map(|(_, body)| async move {
            let t = Instant::now();
            post(http, url, key, body.clone()).await?;
            Ok(t.elapsed())
        })
        .buffer_unordered(connections)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let latencies = latencies.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    Ok((events as f64 / elapsed.as_secs_f64(), latencies))
}

async fn post(http: &reqwest::Client, url: &str, key: &str, body: Bytes) -> anyhow::Result<()> {
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

fn main() -> anyhow::Result<()> {
    // The load generator's runtime; the server gets a runtime of its own (see the module's doc).
    cpu::beside_a_server(bench)
}

async fn bench(server: tokio::runtime::Handle) -> anyhow::Result<()> {
    let n = env_or("BENCH_EVENTS", 200_000);
    let batch = env_or("BENCH_BATCH", 50);
    let connections = env_or("BENCH_CONNECTIONS", 8);
    let rounds = env_or("BENCH_ROUNDS", 3).max(1);
    let broker = Broker::start().await?;
    let events = generate(n, "bench");

    let scratch = std::env::temp_dir().join(format!("recoscope-bench-{}", uuid::Uuid::new_v4()));
    let config = bench_config(&broker, &scratch)?;

    let mut baseline_config = config.clone();
    baseline_config.kafka.topic = "bench-baseline".into();
    ensure_topic(
        &broker.address,
        "bench-baseline",
        config.kafka.topic_partitions,
        Duration::from_secs(3600),
    )
    .await?;
    let records: Vec<BehaviorRecord> = events
        .iter()
        .map(|e| BehaviorRecord::new("bench", e.clone(), now_ms(), || unreachable!()))
        .collect();

    let running = server
        .spawn(roles::start(
            config.clone(),
            Roles {
                serve: true,
                worker: false,
            },
        ))
        .await??;
    let url = format!("http://{}/api/v1/behaviors", running.addr.expect("serving"));
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .build()?;
    let bodies: Vec<(usize, Bytes)> = events
        .chunks(batch)
        .map(|c| {
            let body = serde_json::json!({ "events": c }).to_string();
            (c.len(), Bytes::from(body))
        })
        .collect();

    // Warm-up: connections, the API producer's metadata.
    api_run(
        &http,
        &url,
        "bench-key",
        &bodies[..connections.min(bodies.len())],
        connections,
    )
    .await?;

    let (mut broker_rounds, mut api_rounds, mut latencies) = (Vec::new(), Vec::new(), Vec::new());
    let (mut broker_cpu, mut api_cpu) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        // A producer for this round only, warmed up (metadata) before the clock starts.
        let baseline_sink = KafkaEventSink::new(&baseline_config.kafka, &baseline_config.ingest)?;
        baseline_sink
            .send_batch(&records[..500.min(records.len())])
            .await
            .map_err(anyhow::Error::msg)?;
        let before = cpu::process();
        let broker_eps = broker_baseline(&baseline_sink, &records).await?;
        let broker_spent = cpu::process() - before;
        drop(baseline_sink);

        let before = cpu::threads(cpu::is_server_thread);
        let (api_eps, round_latencies) =
            api_run(&http, &url, "bench-key", &bodies, connections).await?;
        let api_spent = cpu::spent(&before, &cpu::threads(cpu::is_server_thread));
        println!(
            "round {round}: broker {broker_eps:.0} events/s, {:.2} CPU s per M events; \
             API {api_eps:.0} events/s, {:.2} CPU s per M events",
            cpu::per_million(broker_spent, records.len()),
            cpu::per_million(api_spent, records.len())
        );
        broker_rounds.push(broker_eps);
        api_rounds.push(api_eps);
        broker_cpu.push(cpu::per_million(broker_spent, records.len()));
        api_cpu.push(cpu::per_million(api_spent, records.len()));
        latencies.extend(round_latencies);
    }
    let (broker_eps, api_eps) = (median(&broker_rounds), median(&api_rounds));
    let (broker_cpu, api_cpu) = (median(&broker_cpu), median(&api_cpu));
    running.stop().await?;
    ClickHouse::new(config.clickhouse())?
        .execute_on_server(Query::new(format!(
            "DROP DATABASE IF EXISTS {}",
            config.clickhouse.database
        )))
        .await?;
    let _ = std::fs::remove_dir_all(&scratch);

    let p50 = percentile(&mut latencies, 50.0).as_secs_f64() * 1000.0;
    let p99 = percentile(&mut latencies, 99.0).as_secs_f64() * 1000.0;
    println!(
        "ingest bench: {n} events per round, {rounds} rounds, batches of {batch}, \
         {connections} connections"
    );
    println!("broker baseline (rdkafka, same producer settings): median {broker_eps:.0} events/s");
    println!(
        "HTTP API: median {api_eps:.0} events/s, request latency p50 {p50:.1} ms, p99 {p99:.1} ms"
    );
    println!(
        "peak RSS of the process (load generator + server): {:.0} MiB",
        peak_rss_mib()
    );
    println!(
        "CPU per million events: the API server {api_cpu:.2} s (its runtime and Kafka \
         producer threads), the rdkafka baseline {broker_cpu:.2} s (the whole process)"
    );
    println!(
        "RESULT ingest_ratio={:.3} api_eps={api_eps:.0} broker_eps={broker_eps:.0} p99_ms={p99:.1} \
         api_cpu_s_per_m={api_cpu:.2} broker_cpu_s_per_m={broker_cpu:.2} cpu_ratio={:.2}",
        api_eps / broker_eps,
        api_cpu / broker_cpu
    );
    Ok(())
}
