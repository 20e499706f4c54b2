//! `bench/queries`: the dashboard's queries at two sizes of data in one run, how much each
//! one's time grows with the events, and the overview's rollup path against a scan of the
//! raw table.
//!
//! 1. Two throw-away databases get `BENCH_SMALL_EVENTS` (1,000,000) and `BENCH_EVENTS`
//!    (10,000,000) events of the simulator's sessions, spread over the last 30 days, inserted
//!    as the sink inserts them (RowBinary, blocks of 500,000 rows; the materialized views
//!    fill the rollups).
//! 2. Each query runs `BENCH_RUNS` (20) times after one warm-up on each database; p50 and p95
//!    are reported, and the growth: large p50 / small p50 (the goal is at most 1.5 for ten
//!    times the events). The queries are the product's own functions (`*_for` in
//!    `recoscope_analytics`) with the product's defaults (the funnel's sampling budget
//!    included); top items look their names up in a SQLite catalog of the simulator's 400
//!    items. Before timing, the tables are merged (`OPTIMIZE ... FINAL`) as background
//!    merges would have done by the time a 30-day range is read; `BENCH_MERGE=0` skips that.
//! 3. Baseline: the same overview (KPIs, the previous period's KPIs, the daily trend with
//!    distinct users per day) computed from `user_behaviors` directly (count, countIf, uniq
//!    over the raw rows), its three queries sent together like the rollup path's. The KPIs
//!    of both are compared before timing. The baseline is left out of the growth goal: it
//!    is what grows.
//!
//! Environment: `CLICKHOUSE_URL`, `REDIS_URL`. Last line:
//! `RESULT overview_speedup=<x> slowest_query=<name> slowest_p95_ms=<n>
//! most_growth_query=<name> most_growth=<x>` (the large dataset's numbers).

use futures::future::BoxFuture;
use futures::FutureExt;
use recoscope_analytics::catalog::Catalog;
use recoscope_analytics::live_store::LiveStore;
use recoscope_analytics::read_keys::ReadKeys;
use recoscope_analytics::recent::RecentReader;
use recoscope_analytics::{
    distributions::{distribution_for, Dimension},
    experiments::experiments_for,
    funnel::funnel_for,
    overview::overview_for,
    top_items::{top_items_for, RankBy},
    trends::{trends_for, Granularity},
    AnalyticsDb, AnalyticsError,
};
use recoscope_bench::setup::{env_or, unique};
use recoscope_bench::stats::percentile;
use recoscope_clickhouse::{ClickHouse, Query, SqlValue};
use recoscope_core::clock::now_ms;
use recoscope_core::{BehaviorRecord, Label};
use recoscope_server::config::Config;
use recoscope_server::migrations::migrate;
use recoscope_server::roles::StoreCatalog;
use recoscope_server::simulate::{demo_catalog, TrafficModel};
use recoscope_stores::{StoreConfig, Stores};
use recoscope_workers::row::BehaviorRow;
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TENANT: &str = "bench";
const DAYS: i64 = 30;
const BLOCK: usize = 500_000;

/// Inserts `n` events spread over the `DAYS` days before `now` (seconds).
async fn load(ch: &ClickHouse, n: usize, now: i64) -> anyhow::Result<()> {
    let mut model = TrafficModel::new(7);
    let span_ms = DAYS * 86_400_000;
    let start_ms = (now - DAYS * 86_400) * 1000;
    let mut block: Vec<BehaviorRow> = Vec::with_capacity(BLOCK + 64);
    let mut sent = 0usize;
    let mut session = 0i64;
    let started = Instant::now();
    while sent < n {
        // Sessions evenly spaced over the span, so every day has its share.
        let at = start_ms + (session * 7919 * 1000) % span_ms;
        session += 1;
        for mut event in model.session(at) {
            event.event_id = Label::new(format!("q-{}", sent + block.len())).ok();
            let record = BehaviorRecord::new(TENANT, event, at, || unreachable!());
            block.push(BehaviorRow::from(record));
        }
        if block.len() >= BLOCK || sent + block.len() >= n {
            block.truncate(n - sent);
            ch.insert("user_behaviors", block.iter()).await?;
            sent += block.len();
            block.clear();
            eprintln!(
                "inserted {sent} rows ({:.0} rows/s)",
                sent as f64 / started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}

#[derive(serde::Deserialize, Debug)]
struct RawKpis {
    events: u64,
    impressions: u64,
    clicks: u64,
    orders: u64,
    users: u64,
}

/// The KPIs of `[from, to)` computed from the raw rows.
async fn raw_kpis(ch: &ClickHouse, from: i64, to: i64) -> anyhow::Result<RawKpis> {
    Ok(ch
        .fetch_one(
            Query::new(
                "SELECT count() AS events, countIf(action_type = 'impression') AS impressions, \
                 countIf(action_type = 'click') AS clicks, countIf(action_type = 'order') AS orders, \
                 uniq(user_id) AS users FROM user_behaviors \
                 WHERE tenant_id = ? AND event_time >= ? AND event_time < ?",
            )
            .bind(TENANT)
            .bind(SqlValue::DateTime(from))
            .bind(SqlValue::DateTime(to)),
        )
        .await?)
}

/// The baseline: what the overview returns (KPIs, the previous period's KPIs, the daily
/// trend with distinct users per day), computed from the raw rows, the three queries sent
/// together as the rollup path sends its three.
async fn raw_overview(ch: &ClickHouse, from: i64, to: i64) -> anyhow::Result<RawKpis> {
    #[derive(serde::Deserialize)]
    struct Day {
        #[allow(dead_code)]
        day: i64,
    }
    let trend = ch.fetch::<Day>(
        Query::new(
            "SELECT toInt64(toUInt32(toStartOfDay(event_time))) AS day, \
             countIf(action_type = 'impression') AS impressions, \
             countIf(action_type = 'click') AS clicks, countIf(action_type = 'order') AS orders, \
             uniq(user_id) AS users FROM user_behaviors \
             WHERE tenant_id = ? AND event_time >= ? AND event_time < ? GROUP BY day ORDER BY day",
        )
        .bind(TENANT)
        .bind(SqlValue::DateTime(from))
        .bind(SqlValue::DateTime(to)),
    );
    let (kpis, _previous, _trend) = futures::try_join!(
        raw_kpis(ch, from, to),
        raw_kpis(ch, from - (to - from), from),
        async { trend.await.map_err(anyhow::Error::from) },
    )?;
    Ok(kpis)
}

/// A query's outcome with its answer dropped (the analytics errors are not `std` errors:
/// they become server-function errors through their own conversion).
fn done<T>(result: Result<T, AnalyticsError>) -> anyhow::Result<()> {
    result.map(drop).map_err(|e| anyhow::anyhow!("{e}"))
}

type Run<'a> = Box<dyn Fn() -> BoxFuture<'a, anyhow::Result<()>> + 'a>;

/// p50 and p95 of `runs` timed calls after one warm-up.
async fn time(runs: usize, call: &Run<'_>) -> anyhow::Result<(Duration, Duration)> {
    call().await?;
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        call().await?;
        samples.push(started.elapsed());
    }
    Ok((
        percentile(&mut samples, 50.0),
        percentile(&mut samples, 95.0),
    ))
}

/// One database of `events` events, loaded and merged, with the read model over it.
struct Dataset {
    events: usize,
    database: String,
    ch: ClickHouse,
    db: AnalyticsDb,
}

async fn dataset(
    config: &Config,
    stores: &Stores,
    events: usize,
    now: i64,
) -> anyhow::Result<Dataset> {
    let mut config = config.clone();
    config.clickhouse.database = unique("bench_queries_");
    let ch = ClickHouse::new(config.clickhouse())?;
    migrate(&ch).await?;
    let db = AnalyticsDb {
        clickhouse: ch.clone(),
        live: LiveStore::new(
            config.redis.target(),
            &unique("bench:"),
            Duration::from_secs(3600),
        )?,
        read_keys: ReadKeys::new(|_| async { Ok(None) }),
        recent: RecentReader::new(|_, _, _, _| async { Ok(Vec::new()) }),
        // The simulated shop's catalog in a real SQLite store: top items pay for their names.
        catalog: Catalog::new(StoreCatalog(stores.clone())),
        funnel_sample_events: config.analytics.funnel_sample_events,
    };
    let dataset = Dataset {
        events,
        database: config.clickhouse.database.clone(),
        ch,
        db,
    };
    let started = Instant::now();
    load(&dataset.ch, events, now).await?;
    println!(
        "loaded {events} events in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if env_or("BENCH_MERGE", 1) == 1 {
        // Steady state: in production the background merges fold each hour's parts long
        // before anyone reads a 30-day range; a fresh bulk load has not been merged yet.
        // The raw table is merged too, so the baseline gets the same treatment.
        let started = Instant::now();
        for table in [
            "rollup_states",
            "item_stats_daily",
            "breakdown_states",
            "funnel_events",
            "user_behaviors",
        ] {
            dataset
                .ch
                .execute(Query::new(format!("OPTIMIZE TABLE {table} FINAL")))
                .await?;
        }
        println!(
            "merged the parts in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(dataset)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let small = env_or("BENCH_SMALL_EVENTS", 1_000_000);
    let large = env_or("BENCH_EVENTS", 10_000_000);
    let runs = env_or("BENCH_RUNS", 20);
    let mut config = Config::local_defaults();
    if let Ok(from_env) = Config::from_env() {
        config.clickhouse.url = from_env.clickhouse.url;
        config.redis.url = from_env.redis.url;
    }
    let catalog_dir = std::env::temp_dir().join(unique("recoscope-bench-catalog-"));
    let in_dir = |file: &str| catalog_dir.join(file).display().to_string();
    let stores = Stores::open(&StoreConfig {
        path: in_dir("catalog.sqlite3"),
        recent_path: in_dir("recent.sqlite3"),
        write_keys: String::new(),
        ..StoreConfig::default()
    })?;
    let (items, scenarios) = demo_catalog();
    stores.catalog_store().upsert_items(TENANT, &items)?;
    stores
        .catalog_store()
        .upsert_scenarios(TENANT, &scenarios)?;
    let now = now_ms() / 1000;
    let mut datasets = Vec::new();
    let mut outcome = Ok(());
    for events in [small, large] {
        match dataset(&config, &stores, events, now).await {
            Ok(d) => datasets.push(d),
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    if outcome.is_ok() {
        outcome = run(&datasets, now, runs).await;
    }
    std::fs::remove_dir_all(&catalog_dir)?;
    for d in &datasets {
        if env_or("BENCH_KEEP", 0) == 1 {
            println!("kept database {}", d.database);
            continue;
        }
        d.ch.execute_on_server(Query::new(format!(
            "DROP DATABASE IF EXISTS {}",
            d.database
        )))
        .await?;
    }
    outcome
}

/// Checks the overview against the raw rows, then times every query on every dataset.
async fn run(datasets: &[Dataset], now: i64, runs: usize) -> anyhow::Result<()> {
    let hours = (DAYS * 24) as u32;
    let mut table: Vec<(&'static str, Vec<(Duration, Duration)>)> = Vec::new();
    for d in datasets {
        let (db, ch) = (&d.db, &d.ch);
        // The overview of the last 30 days, and its baseline; the same numbers first.
        let overview = overview_for(db, TENANT, None, hours, Some(now))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let (from, to) = (overview.from, overview.to);
        let kpis = overview.kpis.clone().expect("the range has events");
        let raw = raw_overview(ch, from, to).await?;
        anyhow::ensure!(
            (kpis.events, kpis.impressions, kpis.clicks, kpis.conversions)
                == (raw.events, raw.impressions, raw.clicks, raw.orders),
            "the rollup and the raw table disagree: {kpis:?} vs {raw:?}"
        );
        let users_gap =
            (kpis.active_users as f64 - raw.users as f64).abs() / raw.users.max(1) as f64;
        anyhow::ensure!(
            users_gap < 0.02,
            "users differ by {users_gap:.3}: {kpis:?} vs {raw:?}"
        );
        println!(
            "{} events: overview of {} events, {} users: rollup and raw scan agree",
            d.events, raw.events, raw.users
        );
        for (i, (name, call)) in queries(db, ch, now, from, to).iter().enumerate() {
            let timed = time(runs, call).await?;
            if table.len() <= i {
                table.push((name, Vec::new()));
            }
            table[i].1.push(timed);
        }
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    print!("{:<28}", "query");
    for d in datasets {
        print!(" | {:>5}M p50 / p95 ms", d.events as f64 / 1e6);
    }
    println!(" | growth (p50)");
    let growth = |timings: &[(Duration, Duration)]| {
        let (first, last) = (timings[0].0, timings[timings.len() - 1].0);
        last.as_secs_f64() / first.as_secs_f64()
    };
    for (name, timings) in &table {
        print!("{name:<28}");
        for (p50, p95) in timings {
            print!(" | {:>8.1} / {:>8.1}", ms(*p50), ms(*p95));
        }
        println!(" | {:.2}", growth(timings));
    }
    let last = |name: &str| {
        table
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| t[t.len() - 1])
            .expect("measured")
    };
    let (rollup_p50, _) = last("overview_rollup");
    let (raw_p50, _) = last("overview_raw_scan");
    let product = || table.iter().filter(|(n, _)| *n != "overview_raw_scan");
    let (slowest, slowest_timings) = product()
        .max_by_key(|(_, t)| t[t.len() - 1].1)
        .expect("measured");
    let (most_growth, growth_timings) = product()
        .max_by(|a, b| growth(&a.1).total_cmp(&growth(&b.1)))
        .expect("measured");
    println!(
        "RESULT overview_speedup={:.1} slowest_query={slowest} slowest_p95_ms={:.1} \
         most_growth_query={most_growth} most_growth={:.2}",
        raw_p50.as_secs_f64() / rollup_p50.as_secs_f64(),
        ms(slowest_timings[slowest_timings.len() - 1].1),
        growth(growth_timings)
    );
    Ok(())
}

/// Each entry: a name and a call of the product's query function (or the baseline).
fn queries<'a>(
    db: &'a AnalyticsDb,
    ch: &'a ClickHouse,
    now: i64,
    from: i64,
    to: i64,
) -> Vec<(&'static str, Run<'a>)> {
    let hours = (DAYS * 24) as u32;
    let week = now - 7 * 86_400;
    macro_rules! call {
        ($e:expr) => {
            Box::new(move || async move { done($e.await) }.boxed()) as Run
        };
    }
    let berlin = "Europe/Berlin";
    vec![
        (
            "overview_rollup",
            call!(overview_for(db, TENANT, None, hours, Some(now))),
        ),
        (
            "overview_24h",
            call!(overview_for(db, TENANT, None, 24, Some(now))),
        ),
        (
            "overview_raw_scan",
            Box::new(move || async move { raw_overview(ch, from, to).await.map(drop) }.boxed()),
        ),
        (
            "trends_day_berlin_30d",
            call!(trends_for(
                db,
                TENANT,
                None,
                from,
                to,
                Granularity::Day,
                berlin
            )),
        ),
        (
            "trends_hour_7d",
            call!(trends_for(
                db,
                TENANT,
                None,
                week,
                now,
                Granularity::Hour,
                "UTC"
            )),
        ),
        (
            "distribution_device_30d",
            call!(distribution_for(
                db,
                TENANT,
                None,
                Dimension::Device,
                from,
                to
            )),
        ),
        (
            "distribution_position_30d",
            call!(distribution_for(
                db,
                TENANT,
                None,
                Dimension::Position,
                from,
                to
            )),
        ),
        (
            "funnel_7d_1h_window",
            call!(funnel_for(db, TENANT, None, week, now, 3600)),
        ),
        (
            "experiments_30d",
            call!(experiments_for(db, TENANT, None, None, from, to)),
        ),
        (
            "top_items_30d_named",
            call!(top_items_for(
                db,
                TENANT,
                None,
                from,
                to,
                RankBy::Clicks,
                20
            )),
        ),
        (
            "distribution_location_30d",
            call!(distribution_for(
                db,
                TENANT,
                None,
                Dimension::Location,
                from,
                to
            )),
        ),
        (
            "funnel_30d_1d_window",
            call!(funnel_for(db, TENANT, None, from, to, 86_400)),
        ),
    ]
}
