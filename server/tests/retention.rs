//! Raw-event retention on the real ClickHouse: daily partitions older than the window are
//! dropped (from the raw table and the funnel's copy), newer ones and the rollups stay.

mod support;

use recoscope_core::{ActionType, BehaviorRecord, Event, UnixMillis};
use recoscope_workers::retention::{drop_expired, ensure_ttl, supports_ttl};
use support::{EventCounts, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_past_the_window_are_dropped_and_rollups_kept() {
    let app = TestApp::start().await;
    let today = chrono::Utc::now().date_naive();
    let noon = |days_ago: u64| {
        (today - chrono::Days::new(days_ago))
            .and_hms_opt(12, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_millis()
    };
    // Two events on each of: 100 and 91 days ago (expired with a 90-day window), 90 days ago
    // (the oldest day kept) and yesterday.
    let days = [100, 91, 90, 1];
    let records = days
        .iter()
        .flat_map(|days_ago| [(*days_ago, 0), (*days_ago, 1)])
        .map(|(days_ago, n)| {
            let mut e = Event::new("home", "u", format!("i{n}"), ActionType::Click).unwrap();
            e.timestamp = UnixMillis::new(noon(days_ago)).ok();
            BehaviorRecord::new(&app.tenant, e, noon(0), || format!("ev-{days_ago}-{n}"))
        })
        .collect();
    app.load_records(records).await;
    assert_eq!(app.event_counts().await.unwrap().rows, 8);

    let dropped = drop_expired(&app.clickhouse, 90, today).await.unwrap();
    let day = |days_ago: u64| -> u32 {
        (today - chrono::Days::new(days_ago))
            .format("%Y%m%d")
            .to_string()
            .parse()
            .unwrap()
    };
    assert_eq!(dropped, vec![day(100), day(91)]);
    assert_eq!(
        app.event_counts().await.unwrap(),
        EventCounts {
            rows: 4,
            distinct: 4
        },
        "90 days ago and yesterday stay"
    );
    assert_eq!(app.rollup_events().await, 8, "the rollup keeps every event");
    #[derive(serde::Deserialize)]
    struct Rows {
        rows: u64,
    }
    let funnel_rows = app
        .clickhouse
        .fetch_one::<Rows>(recoscope_clickhouse::Query::new(
            "SELECT count() AS rows FROM funnel_events",
        ))
        .await
        .unwrap();
    assert_eq!(
        funnel_rows.rows, 4,
        "the funnel's copy expires with the raw events"
    );
    // The TTL is set exactly where the server has TTL (not on 18.16, the stack's version).
    #[derive(serde::Deserialize)]
    struct Table {
        version: String,
        engine_full: String,
    }
    let table = || async {
        app.clickhouse
            .fetch_one::<Table>(recoscope_clickhouse::Query::new(
                "SELECT version() AS version, engine_full FROM system.tables \
                 WHERE database = currentDatabase() AND name = 'user_behaviors'",
            ))
            .await
            .unwrap()
    };
    let has_ttl = supports_ttl(&table().await.version);
    assert_eq!(ensure_ttl(&app.clickhouse, 90).await.unwrap(), has_ttl);
    assert_eq!(
        ensure_ttl(&app.clickhouse, 90).await.unwrap(),
        has_ttl,
        "again: no change"
    );
    let engine = table().await.engine_full;
    assert_eq!(engine.contains("TTL"), has_ttl, "{engine}");

    // Nothing more to drop the second time.
    assert!(drop_expired(&app.clickhouse, 90, today)
        .await
        .unwrap()
        .is_empty());
    app.cleanup().await;
}
