//! Upgrading a database that already holds data, on the real ClickHouse: migration 0006
//! (`rollup_states`, users as HyperLogLog states) carries the counts over from the old
//! rollups and the users from the raw events kept, without doubling any count, also when a
//! run interrupted halfway is run again; 0009 backfills the breakdowns and the funnel's
//! events; and processes migrating at once take turns.

use recoscope_clickhouse::{ClickHouse, Query};
use recoscope_core::{ActionType, BehaviorRecord, Event, UnixMillis};
use recoscope_server::config::Config;
use recoscope_server::migrations::{migrate, migrate_to, statements, LOCK_TABLE, MIGRATIONS};
use recoscope_workers::row::BehaviorRow;

#[derive(serde::Deserialize, Debug, PartialEq)]
struct Rollup {
    events: u64,
    users: u64,
}

/// Events and users of the hourly or the daily rows.
async fn rollup(ch: &ClickHouse, grain: &str) -> Rollup {
    ch.fetch_one(
        Query::new(
            "SELECT sumMerge(events) AS events, uniqHLL12Merge(users) AS users \
             FROM rollup_states WHERE grain = ?",
        )
        .bind(grain),
    )
    .await
    .unwrap()
}

/// Events and users of one grain of the device breakdown (0009), and the funnel's copy of
/// the events.
async fn breakdown(ch: &ClickHouse, grain: &str) -> (Rollup, u64) {
    #[derive(serde::Deserialize)]
    struct Rows {
        rows: u64,
    }
    let states = ch
        .fetch_one(
            Query::new(
                "SELECT sumMerge(events) AS events, uniqHLL12Merge(users) AS users \
                 FROM breakdown_states WHERE dimension = 'device' AND grain = ?",
            )
            .bind(grain),
        )
        .await
        .unwrap();
    let funnel: Rows = ch
        .fetch_one(Query::new("SELECT count() AS rows FROM funnel_events"))
        .await
        .unwrap();
    (states, funnel.rows)
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
    upgrade_after_an_interruption(ch).await;
    two_processes_migrate_one_at_a_time(ch).await;
}

async fn upgrade_after_an_interruption(ch: &ClickHouse) {
    let before = MIGRATIONS
        .iter()
        .position(|m| m.name == "0006_rollup_states.sql")
        .unwrap();
    migrate_to(ch, before as u32).await.unwrap();
    load(ch, 0).await;

    // As if an earlier run had stopped after copying the hourly counts.
    let partial: Vec<String> = statements(MIGRATIONS[before].sql)
        .into_iter()
        .take(4)
        .collect();
    assert!(partial[3].contains("FROM metrics_hourly"), "{}", partial[3]);
    for statement in partial {
        ch.execute(Query::new(statement)).await.unwrap();
    }

    let pending: Vec<u32> = (before as u32 + 1..=MIGRATIONS.len() as u32).collect();
    assert_eq!(migrate(ch).await.unwrap(), pending);
    for grain in ["hour", "day"] {
        assert_eq!(
            rollup(ch, grain).await,
            Rollup {
                events: 90,
                users: 30
            },
            "{grain}: history backfilled, counts not doubled"
        );
        assert_eq!(
            breakdown(ch, grain).await,
            (
                Rollup {
                    events: 90,
                    users: 30
                },
                90
            ),
            "{grain}: breakdowns and the funnel's events backfilled"
        );
    }
    // New events reach the new states through the replaced views.
    load(ch, 1000).await;
    for grain in ["hour", "day"] {
        assert_eq!(
            rollup(ch, grain).await,
            Rollup {
                events: 180,
                users: 30
            },
            "{grain}"
        );
        assert_eq!(
            breakdown(ch, grain).await,
            (
                Rollup {
                    events: 180,
                    users: 30
                },
                180
            ),
            "{grain}: the new views feed breakdowns and the funnel's events"
        );
    }
    assert!(
        migrate(ch).await.unwrap().is_empty(),
        "nothing left to apply"
    );
}

/// A process with migrations to apply that finds the lock waits until it is released; an
/// up-to-date database needs no lock (a lock left by a killed process cannot hold a restart
/// up); two processes booting together apply each migration once.
async fn two_processes_migrate_one_at_a_time(ch: &ClickHouse) {
    let lock = format!("CREATE TABLE {LOCK_TABLE} (since DateTime('UTC')) ENGINE = Log");
    ch.execute(Query::new(lock.clone())).await.unwrap();
    assert!(
        migrate(ch).await.unwrap().is_empty(),
        "an up-to-date database boots past a held lock"
    );
    ch.execute(Query::new(format!("DROP TABLE {LOCK_TABLE}")))
        .await
        .unwrap();

    let held = ch.with_database(format!("{}_held", ch.database()));
    held.execute_on_server(Query::new(format!("CREATE DATABASE {}", held.database())))
        .await
        .unwrap();
    held.execute(Query::new(lock)).await.unwrap();
    let waiting = tokio::spawn({
        let held = held.clone();
        async move { migrate(&held).await.unwrap() }
    });
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert!(!waiting.is_finished(), "the lock holds the second process");
    held.execute(Query::new(format!("DROP TABLE {LOCK_TABLE}")))
        .await
        .unwrap();
    assert_eq!(waiting.await.unwrap().len(), MIGRATIONS.len());

    // A fresh database, migrated by two processes at once: every migration applied once.
    let fresh = ch.with_database(format!("{}_twin", ch.database()));
    let (a, b) = tokio::join!(migrate(&fresh), migrate(&fresh));
    let (mut a, b) = (a.unwrap(), b.unwrap());
    assert!(a.is_empty() || b.is_empty(), "{a:?} and {b:?}");
    a.extend(b);
    assert_eq!(a.len(), MIGRATIONS.len());
}

/// Runs `body` on a database of its own (and `{database}_{suffix}` for each of `siblings`),
/// dropped afterwards whether `body` passes or panics.
async fn on_scratch_database<F, Fut>(siblings: &[&str], body: F)
where
    F: FnOnce(ClickHouse) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut config = Config::local_defaults();
    if let Ok(from_env) = Config::from_env() {
        config.clickhouse.url = from_env.clickhouse.url;
    }
    config.clickhouse.database = format!("test_{}", uuid::Uuid::new_v4().simple());
    let ch = ClickHouse::new(config.clickhouse()).unwrap();
    let outcome = tokio::spawn(body(ch.clone())).await;
    let database = &config.clickhouse.database;
    let dropped = std::iter::once(database.clone())
        .chain(siblings.iter().map(|suffix| format!("{database}_{suffix}")));
    for database in dropped {
        ch.execute_on_server(Query::new(format!("DROP DATABASE IF EXISTS {database}")))
            .await
            .unwrap();
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic.into_panic());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrading_a_database_with_data_to_rollup_states_keeps_every_count() {
    on_scratch_database(&["twin", "held"], |ch| async move { upgrade(&ch).await }).await;
}

/// A migrator killed while it held the lock (SIGKILL during a first boot) stops beating; the
/// next process takes the lock over after 30 s instead of waiting 15 minutes and failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_migrators_lock_is_taken_over() {
    on_scratch_database(&[], |ch| async move {
        ch.execute_on_server(Query::new(format!("CREATE DATABASE {}", ch.database())))
            .await
            .unwrap();
        // The lock as a migrator leaves it when killed right after taking it.
        ch.execute(Query::new(format!(
            "CREATE TABLE {LOCK_TABLE} (since DateTime('UTC')) ENGINE = Log"
        )))
        .await
        .unwrap();
        let started = std::time::Instant::now();
        let applied = tokio::time::timeout(std::time::Duration::from_secs(90), migrate(&ch))
            .await
            .expect("the dead lock was not taken over within 90 s")
            .unwrap();
        assert_eq!(applied.len(), MIGRATIONS.len());
        assert!(
            started.elapsed() >= std::time::Duration::from_secs(25),
            "a fresh lock must be respected, taken over after {:?}",
            started.elapsed()
        );
    })
    .await;
}
