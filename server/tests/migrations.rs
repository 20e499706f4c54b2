//! Upgrading a database that already holds data, on the real ClickHouse: migration 0006
//! (users as HyperLogLog states) fills the new states from the raw events kept, without
//! doubling any count, and a run interrupted after its first `ADD COLUMN` completes when
//! run again.

use recoscope_clickhouse::{ClickHouse, Query};
use recoscope_core::{ActionType, BehaviorRecord, Event, UnixMillis};
use recoscope_server::config::Config;
use recoscope_server::migrations::{migrate, migrate_to, statements, MIGRATIONS};
use recoscope_server::pipeline::row::BehaviorRow;

#[derive(serde::Deserialize, Debug, PartialEq)]
struct Rollup {
    events: u64,
    users: u64,
}

/// Events of the hourly or daily rollup, and users of the same grain.
async fn rollup(ch: &ClickHouse, grain: &str) -> Rollup {
    let sql = match grain {
        "hourly" => {
            "SELECT (SELECT sumMerge(events) FROM metrics_hourly) AS events, \
                     (SELECT uniqHLL12Merge(users) FROM users_hourly) AS users"
        }
        _ => {
            "SELECT sumMerge(events) AS events, uniqHLL12Merge(users_hll) AS users \
              FROM metrics_daily"
        }
    };
    ch.fetch_one(Query::new(sql)).await.unwrap()
}

/// 90 events of 30 users over three hours of one day, loaded into the raw table (and by the
/// views of the schema at hand into its rollups).
async fn load(ch: &ClickHouse, first_id: usize) {
    let day = chrono::Utc::now().timestamp_millis() / 86_400_000 * 86_400_000 - 86_400_000;
    let rows: Vec<BehaviorRow> = (0..90)
        .map(|i| {
            let mut e =
                Event::new("home", format!("u{}", i % 30), "item", ActionType::View).unwrap();
            e.timestamp = UnixMillis::new(day + (i as i64 % 3) * 3_600_000).ok();
            BehaviorRow::from(BehaviorRecord::new("t", e, day, || {
                format!("m-{}", first_id + i)
            }))
        })
        .collect();
    ch.insert("user_behaviors", rows.iter()).await.unwrap();
}

async fn upgrade(ch: &ClickHouse) {
    let before_hll = MIGRATIONS
        .iter()
        .position(|m| m.name == "0006_users_hll.sql")
        .unwrap();
    migrate_to(ch, before_hll as u32).await.unwrap();
    load(ch, 0).await;

    // As if an earlier run had stopped right after its first statement.
    let first = statements(MIGRATIONS[before_hll].sql).remove(0);
    assert!(first.contains("ADD COLUMN users_hll"), "{first}");
    ch.execute(Query::new(first)).await.unwrap();

    assert_eq!(migrate(ch).await.unwrap(), vec![before_hll as u32 + 1]);
    for grain in ["hourly", "daily"] {
        assert_eq!(
            rollup(ch, grain).await,
            Rollup {
                events: 90,
                users: 30
            },
            "{grain}: history backfilled, counts not doubled"
        );
    }
    // New events reach the new states through the replaced views.
    load(ch, 1000).await;
    for grain in ["hourly", "daily"] {
        assert_eq!(
            rollup(ch, grain).await,
            Rollup {
                events: 180,
                users: 30
            },
            "{grain}"
        );
    }
    assert!(
        migrate(ch).await.unwrap().is_empty(),
        "nothing left to apply"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrating_a_database_with_data_to_hll_users_keeps_every_count() {
    let mut config = Config::local_defaults();
    if let Ok(from_env) = Config::from_env() {
        config.clickhouse_url = from_env.clickhouse_url;
    }
    config.clickhouse_database = format!("test_{}", uuid::Uuid::new_v4().simple());
    let ch = ClickHouse::new(config.clickhouse()).unwrap();
    // The database goes whether the checks pass or panic.
    let outcome = tokio::spawn({
        let ch = ch.clone();
        async move { upgrade(&ch).await }
    })
    .await;
    ch.execute_on_server(Query::new(format!(
        "DROP DATABASE IF EXISTS {}",
        config.clickhouse_database
    )))
    .await
    .unwrap();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic.into_panic());
    }
}
