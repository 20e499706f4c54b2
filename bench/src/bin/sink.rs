//! `bench/sink`: the stream workers against their baselines, in one run.
//!
//! 1. **Load rate.** `BENCH_ROWS` (300000) events are produced to a private tansu broker.
//!    Baseline: `clickhouse-client` bulk-inserts the same rows (`JSONEachRow`, the sink's own
//!    row format) into a same-schema database, materialized views included. Then the
//!    ClickHouse sink loads them from Kafka; its rate is counted from its first insert to
//!    the last row, so the consumer group's join time (seconds on tansu) is not billed as
//!    load time. Ratio = sink rows/s ÷ bulk rows/s.
//!    Then a consumer that only counts messages reads the same topic: the broker's ceiling,
//!    printed beside the ratio (on 2 cores, tansu serves ~230k messages/s; see
//!    docs/ARCHITECTURE.md "Sink throughput").
//!    **CPU per event**: the sink runs on a runtime of its own (threads named `server`), so
//!    its CPU time and its Kafka consumer's is read apart from the bench's polling; the
//!    baseline's is `clickhouse-client`'s own (a waited-for child). Both in CPU seconds per
//!    million rows; ClickHouse's server does the same insert work for both and is left out.
//!    **The rollups' cost**: the same rows bulk-inserted (`BENCH_VIEW_ROUNDS`, 3, rounds
//!    alternating) into a database with every materialized view and into one without the
//!    views of migration 0009 (breakdowns, the funnel's copy): rows/s and the ClickHouse
//!    server's CPU per million rows (its query threads, `system.events`), medians.
//! 2. **Freshness.** The API and the workers run on a fresh topic under a steady background
//!    load (`BENCH_LOAD_EPS`, 2000 events/s) while `BENCH_PROBES` (100) probe events, one
//!    every 100 ms, each with its own item, are posted. For each probe: time from the API's
//!    2xx to its item in the Redis hot items (polled every 10 ms) and to its row in
//!    ClickHouse (polled every 100 ms, so up to 100 ms of that figure is polling).
//!
//! Environment: `TANSU_BIN`, `CLICKHOUSE_URL`, `CLICKHOUSE_TCP_PORT` (9000, for
//! clickhouse-client), `REDIS_URL`, `SINK_RESEND_GRACE_SECS` (the sink starts fresh, so the
//! default measures the two minutes after a restart, when every row is looked up; 0 the
//! steady state). Last line:
//! `RESULT sink_ratio=<r> sink_rps=<n> bulk_rps=<n> redis_p95_ms=<n> clickhouse_p95_ms=<n>
//! sink_cpu_s_per_m=<s> bulk_cpu_s_per_m=<s> cpu_ratio=<sink/bulk>
//! views_rps_ratio=<with/without> views_clickhouse_cpu_ratio=<with/without>`.

use futures::StreamExt;
use recoscope_bench::broker::Broker;
use recoscope_bench::cpu;
use recoscope_bench::events::generate;
use recoscope_bench::setup::{bench_config, env_or, unique};
use recoscope_bench::stats::{median, percentile};
use recoscope_clickhouse::{ClickHouse, Query};
use recoscope_core::clock::now_ms;
use recoscope_core::realtime::Keys;
use recoscope_core::{ActionType, BehaviorRecord, Event, Label};
use recoscope_ingest::kafka_sink::KafkaEventSink;
use recoscope_ingest::sink::EventSink;
use recoscope_kafka::ensure_topic;
use recoscope_server::config::Config;
use recoscope_server::migrations::migrate;
use recoscope_server::roles::{self, Roles};
use recoscope_workers::clickhouse_sink::ClickHouseSink;
use recoscope_workers::row::BehaviorRow;
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(serde::Deserialize)]
struct Count {
    n: u64,
}

async fn count(ch: &ClickHouse, tenant: &str) -> anyhow::Result<u64> {
    Ok(ch
        .fetch_one::<Count>(
            Query::new("SELECT count() AS n FROM user_behaviors WHERE tenant_id = ?").bind(tenant),
        )
        .await?
        .n)
}

/// Rows/s of `clickhouse-client` inserting `rows` (JSONEachRow) into `database`, and the CPU
/// time `clickhouse-client` spent.
fn bulk_insert(
    database: &str,
    rows: &[BehaviorRow],
    scratch: &std::path::Path,
) -> anyhow::Result<(f64, Duration)> {
    let file = scratch.join("rows.jsonl");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file)?);
    for row in rows {
        serde_json::to_writer(&mut out, row)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    drop(out);
    let port = std::env::var("CLICKHOUSE_TCP_PORT").unwrap_or_else(|_| "9000".into());
    let started = Instant::now();
    let children_before = cpu::waited_children();
    let status = std::process::Command::new("clickhouse-client")
        .args(["--port", &port])
        .args([
            "--query",
            &format!("INSERT INTO {database}.user_behaviors FORMAT JSONEachRow"),
        ])
        .stdin(std::fs::File::open(&file)?)
        .status()?;
    let elapsed = started.elapsed();
    let spent = cpu::waited_children() - children_before;
    anyhow::ensure!(status.success(), "clickhouse-client failed: {status}");
    Ok((rows.len() as f64 / elapsed.as_secs_f64(), spent))
}

/// Bulk rows/s and ClickHouse CPU seconds per million rows, inserting `rows` into a database
/// with every view and into one without 0009's, `rounds` times each, alternating: medians.
async fn views_cost(
    ch: &ClickHouse,
    with_views: &str,
    without_views: &str,
    rows: &[BehaviorRow],
    scratch: &std::path::Path,
) -> anyhow::Result<[(f64, f64); 2]> {
    let rounds = env_or("BENCH_VIEW_ROUNDS", 3).max(1);
    let mut measured: [(Vec<f64>, Vec<f64>); 2] = Default::default();
    for _ in 0..rounds {
        for (i, database) in [with_views, without_views].into_iter().enumerate() {
            let before = cpu::clickhouse_queries(ch).await?;
            let (rps, _) = bulk_insert(database, rows, scratch)?;
            let spent = cpu::clickhouse_queries(ch).await? - before;
            measured[i].0.push(rps);
            measured[i].1.push(cpu::per_million(spent, rows.len()));
        }
    }
    Ok(measured.map(|(rps, cpu)| (median(&rps), median(&cpu))))
}

/// Rows/s of the ClickHouse sink loading what the topic holds, from its first insert on, and
/// the CPU time of the sink's threads (on `server`, the runtime of their own) from its start
/// to its stop.
async fn sink_load(
    server: &tokio::runtime::Handle,
    config: &Config,
    ch: &ClickHouse,
    tenant: &str,
    rows: u64,
) -> anyhow::Result<(f64, Duration)> {
    let stop = CancellationToken::new();
    let threads_before = cpu::threads(cpu::is_server_thread);
    let sink = server.spawn(ClickHouseSink::run(
        config.membership(),
        config.sink.clone(),
        ch.clone(),
        stop.clone(),
    ));
    let deadline = Instant::now() + Duration::from_secs(180);
    let (mut first, mut started) = (0, None);
    loop {
        let n = count(ch, tenant).await?;
        if n > 0 && started.is_none() {
            (first, started) = (n, Some(Instant::now()));
        }
        if n >= rows {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the sink loaded {n} of {rows} rows"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.expect("rows arrived").elapsed();
    stop.cancel();
    sink.await??;
    let spent = cpu::spent(&threads_before, &cpu::threads(cpu::is_server_thread));
    anyhow::ensure!(rows > first, "one batch held every row: raise BENCH_ROWS");
    Ok(((rows - first) as f64 / elapsed.as_secs_f64(), spent))
}

/// Messages/s a consumer that only counts reads from the topic: the broker's ceiling for
/// any sink on this machine (the bulk baseline reads a file and has no such ceiling).
async fn broker_read_rate(config: &Config, rows: usize) -> anyhow::Result<f64> {
    use rdkafka::consumer::{Consumer, StreamConsumer};
    let consumer: StreamConsumer = recoscope_kafka::client_config(&config.kafka.brokers)
        .set("group.id", unique("bench-read-"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "100")
        .create()?;
    consumer.subscribe(&[&config.kafka.topic])?;
    let mut started = None;
    for _ in 0..rows {
        tokio::time::timeout(Duration::from_secs(60), consumer.recv()).await??;
        started.get_or_insert_with(Instant::now);
    }
    let elapsed = started.expect("messages arrived").elapsed();
    Ok(rows as f64 / elapsed.as_secs_f64())
}

/// Posts batches to the ingest API; answers when the API acknowledged.
#[derive(Clone)]
struct Poster {
    http: reqwest::Client,
    url: String,
    key: String,
}

impl Poster {
    async fn post(&self, events: Vec<Event>) -> anyhow::Result<Instant> {
        let response = self
            .http
            .post(&self.url)
            .header("X-Recoscope-Key", &self.key)
            .json(&serde_json::json!({ "events": events }))
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "API answered {}",
            response.status()
        );
        Ok(Instant::now())
    }
}

/// Freshness of probes under load: (Redis latencies, ClickHouse latencies).
async fn freshness(
    config: Config,
    ch: &ClickHouse,
    tenant: &str,
    key: &str,
) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    let probes = env_or("BENCH_PROBES", 100);
    let load_eps = env_or("BENCH_LOAD_EPS", 2000);
    let running = roles::start(config.clone(), Roles::ALL).await?;
    let url = format!("http://{}/api/v1/behaviors", running.addr.expect("serving"));
    let poster = Poster {
        http: reqwest::Client::new(),
        url,
        key: key.to_string(),
    };

    // Background load: batches of 50, paced.
    let stop = CancellationToken::new();
    let background = {
        let (stop, poster) = (stop.clone(), poster.clone());
        let mut events = generate(load_eps * 120, "load").into_iter();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs_f64(50.0 / load_eps as f64));
            while !stop.is_cancelled() {
                every.tick().await;
                let batch: Vec<Event> = events.by_ref().take(50).collect();
                if batch.is_empty() || poster.post(batch).await.is_err() {
                    break;
                }
            }
        })
    };
    // Let the workers join their groups and settle before probing.
    tokio::time::sleep(Duration::from_secs(8)).await;

    let acked: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let redis_seen: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let clickhouse_seen: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let keys = Keys::new(config.redis.key_prefix.clone());
    let hot = keys.hot_items(tenant, "probe");
    let redis_watch = {
        let (acked, seen, stop) = (acked.clone(), redis_seen.clone(), stop.clone());
        let mut redis = redis::Client::open(config.redis.url.as_str())?
            .get_multiplexed_async_connection()
            .await?;
        tokio::spawn(async move {
            while !stop.is_cancelled() {
                let waiting: Vec<String> = {
                    let (acked, seen) = (acked.lock().unwrap(), seen.lock().unwrap());
                    acked
                        .keys()
                        .filter(|k| !seen.contains_key(*k))
                        .cloned()
                        .collect()
                };
                if !waiting.is_empty() {
                    let mut pipe = redis::pipe();
                    for item in &waiting {
                        pipe.cmd("ZSCORE").arg(&hot).arg(item);
                    }
                    let scores: Vec<Option<f64>> =
                        pipe.query_async(&mut redis).await.unwrap_or_default();
                    let now = Instant::now();
                    let mut seen = seen.lock().unwrap();
                    for (item, score) in waiting.into_iter().zip(scores) {
                        if score.is_some() {
                            seen.insert(item, now);
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    let clickhouse_watch = {
        let (seen, stop, ch, tenant) = (
            clickhouse_seen.clone(),
            stop.clone(),
            ch.clone(),
            tenant.to_string(),
        );
        tokio::spawn(async move {
            #[derive(serde::Deserialize)]
            struct Item {
                item_id: String,
            }
            while !stop.is_cancelled() {
                let query = Query::new(
                    "SELECT item_id FROM user_behaviors WHERE tenant_id = ? AND scenario_id = 'probe'",
                )
                .bind(&tenant);
                if let Ok(items) = ch.fetch::<Item>(query).await {
                    let now = Instant::now();
                    let mut seen = seen.lock().unwrap();
                    for i in items {
                        seen.entry(i.item_id).or_insert(now);
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    for k in 0..probes {
        let item = format!("probe-item-{k}");
        let mut probe = Event::new(
            "probe",
            format!("prober-{k}"),
            item.clone(),
            ActionType::Click,
        )?;
        probe.event_id = Label::new(format!("probe-{k}")).ok();
        let at = poster.post(vec![probe]).await?;
        acked.lock().unwrap().insert(item, at);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while redis_seen.lock().unwrap().len() < probes
        || clickhouse_seen.lock().unwrap().len() < probes
    {
        anyhow::ensure!(
            Instant::now() < deadline,
            "probes not all visible after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    let _ = tokio::join!(background, redis_watch, clickhouse_watch);
    running.stop().await?;

    let latencies = |seen: &Mutex<HashMap<String, Instant>>| -> Vec<Duration> {
        let (acked, seen) = (acked.lock().unwrap(), seen.lock().unwrap());
        acked
            .iter()
            .map(|(item, at)| seen[item].saturating_duration_since(*at))
            .collect()
    };
    Ok((latencies(&redis_seen), latencies(&clickhouse_seen)))
}

fn main() -> anyhow::Result<()> {
    // The bench's own runtime; the sink gets a runtime of its own (see the module's doc).
    cpu::beside_a_server(bench)
}

async fn bench(server: tokio::runtime::Handle) -> anyhow::Result<()> {
    // The workers' warnings (retries, consume errors) show; RUST_LOG overrides.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let rows = env_or("BENCH_ROWS", 300_000);
    let broker = Broker::start().await?;
    let scratch = std::env::temp_dir().join(unique("recoscope-bench-sink-"));
    std::fs::create_dir_all(&scratch)?;

    let mut config = bench_config(&broker, &scratch)?;
    config.kafka.topic = unique("bench-load-");
    config.sink.max_rows = env_or("SINK_MAX_ROWS", config.sink.max_rows);
    // The sink starts fresh here, so with the default grace every row is looked up by id (the
    // two minutes after a restart); 0 measures the steady state.
    config.sink.resend_grace_secs = env_or(
        "SINK_RESEND_GRACE_SECS",
        config.sink.resend_grace_secs as usize,
    ) as u64;

    let ch = ClickHouse::new(config.clickhouse())?;
    migrate(&ch).await?;
    let mut bulk_config = config.clone();
    bulk_config.clickhouse.database = unique("bench_bulk_");
    let bulk_ch = ClickHouse::new(bulk_config.clickhouse())?;
    migrate(&bulk_ch).await?;
    let mut bare_config = config.clone();
    bare_config.clickhouse.database = unique("bench_no_views_");
    let bare_ch = ClickHouse::new(bare_config.clickhouse())?;
    migrate(&bare_ch).await?;
    for view in [
        "breakdown_states_mv",
        "experiment_states_mv",
        "funnel_events_mv",
    ] {
        bare_ch
            .execute(Query::new(format!("DROP TABLE {view}")))
            .await?;
    }

    // The same records for both: produced to the topic, and as rows for clickhouse-client.
    let records: Vec<BehaviorRecord> = generate(rows, "sink")
        .into_iter()
        .map(|e| BehaviorRecord::new("bench", e, now_ms(), || unreachable!()))
        .collect();
    ensure_topic(
        &config.kafka.brokers,
        &config.kafka.topic,
        config.kafka.topic_partitions,
        Duration::from_secs(3600),
    )
    .await?;
    let producer = KafkaEventSink::new(&config.kafka, &config.ingest)?;
    let produced: Vec<_> = futures::stream::iter(records.chunks(1000))
        .map(|chunk| producer.send_batch(chunk))
        .buffer_unordered(8)
        .collect()
        .await;
    for p in produced {
        p.map_err(anyhow::Error::msg)?;
    }
    // Its threads would count as the sink's (librdkafka names them alike).
    drop(producer);
    let row_values: Vec<BehaviorRow> = records.iter().cloned().map(BehaviorRow::from).collect();

    let (bulk_rps, bulk_cpu) =
        bulk_insert(&bulk_config.clickhouse.database, &row_values, &scratch)?;
    let (sink_rps, sink_cpu) = sink_load(&server, &config, &ch, "bench", rows as u64).await?;
    let (bulk_cpu, sink_cpu) = (
        cpu::per_million(bulk_cpu, rows),
        cpu::per_million(sink_cpu, rows),
    );
    println!("load: clickhouse-client bulk {bulk_rps:.0} rows/s, sink {sink_rps:.0} rows/s");
    println!(
        "CPU per million rows: the sink {sink_cpu:.2} s (its runtime and Kafka consumer \
         threads), clickhouse-client {bulk_cpu:.2} s"
    );
    let [(with_rps, with_cpu), (without_rps, without_cpu)] = views_cost(
        &ch,
        &bulk_config.clickhouse.database,
        &bare_config.clickhouse.database,
        &row_values,
        &scratch,
    )
    .await?;
    println!(
        "the rollups' cost (bulk inserts, medians): with every view {with_rps:.0} rows/s and \
         {with_cpu:.2} ClickHouse CPU s per M rows; without 0009's views {without_rps:.0} rows/s \
         and {without_cpu:.2} s"
    );
    let read_rps = broker_read_rate(&config, rows).await?;
    println!(
        "broker ceiling: a consumer that only counts reads {read_rps:.0} messages/s \
         (a sink cannot pass ratio {:.2} here)",
        read_rps / bulk_rps
    );

    let mut fresh_config = config.clone();
    fresh_config.kafka.topic = unique("bench-fresh-");
    let (mut redis_lat, mut ch_lat) = freshness(fresh_config, &ch, "bench", "bench-key").await?;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let (redis_p50, redis_p95) = (
        ms(percentile(&mut redis_lat, 50.0)),
        ms(percentile(&mut redis_lat, 95.0)),
    );
    let (ch_p50, ch_p95) = (
        ms(percentile(&mut ch_lat, 50.0)),
        ms(percentile(&mut ch_lat, 95.0)),
    );
    println!("freshness from the API's 2xx: Redis p50 {redis_p50:.0} ms, p95 {redis_p95:.0} ms; ClickHouse p50 {ch_p50:.0} ms, p95 {ch_p95:.0} ms");

    for db in [
        &config.clickhouse.database,
        &bulk_config.clickhouse.database,
        &bare_config.clickhouse.database,
    ] {
        ch.execute_on_server(Query::new(format!("DROP DATABASE IF EXISTS {db}")))
            .await?;
    }
    let mut redis = redis::Client::open(config.redis.url.as_str())?
        .get_multiplexed_async_connection()
        .await?;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}*", config.redis.key_prefix))
        .query_async(&mut redis)
        .await?;
    if !keys.is_empty() {
        redis::cmd("DEL")
            .arg(&keys)
            .query_async::<()>(&mut redis)
            .await?;
    }
    let _ = std::fs::remove_dir_all(&scratch);

    println!(
        "RESULT sink_ratio={:.3} sink_rps={sink_rps:.0} bulk_rps={bulk_rps:.0} \
         redis_p95_ms={redis_p95:.0} clickhouse_p95_ms={ch_p95:.0} \
         sink_cpu_s_per_m={sink_cpu:.2} bulk_cpu_s_per_m={bulk_cpu:.2} cpu_ratio={:.2} \
         views_rps_ratio={:.2} views_clickhouse_cpu_ratio={:.2}",
        sink_rps / bulk_rps,
        sink_cpu / bulk_cpu,
        with_rps / without_rps,
        with_cpu / without_cpu
    );
    Ok(())
}
