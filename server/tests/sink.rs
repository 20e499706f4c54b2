//! The ClickHouse loader on the real stack: a batch delivered again is not counted twice (raw
//! table and rollup), poison messages go to the dead-letter topic while the sink goes on, and
//! a failing materialized view doubles nothing.

mod support;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};
use recoscope_clickhouse::Query;
use recoscope_core::{ActionType, BehaviorRecord, Event, Fraction, Label, Seconds, UnixMillis};
use recoscope_kafka::client_config;
use recoscope_workers::batch::Source;
use recoscope_workers::clickhouse_sink::ClickHouseLoader;
use recoscope_workers::row::BehaviorRow;
use std::time::{Duration, Instant};
use support::{EventCounts, TestApp};
use tokio_util::sync::CancellationToken;

fn records(tenant: &str, n: usize) -> Vec<BehaviorRecord> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    (0..n)
        .map(|i| {
            let action = [ActionType::Impression, ActionType::Click, ActionType::Order][i % 3];
            let scenario = ["home", "search"][i % 2];
            let mut e =
                Event::new(scenario, format!("u{}", i % 17), format!("i{i}"), action).unwrap();
            // Spread over three hours, so the lookup spans several hours and partitions.
            e.timestamp = UnixMillis::new(now - (i as i64 % 3) * 3_600_000).ok();
            // One id with what TSV must escape (the lookup sends ids as TSV).
            let id = match i {
                0 => "ev-0\twith\\odd\nbytes".to_string(),
                _ => format!("ev-{i}"),
            };
            BehaviorRecord::new(tenant, e, now, || id)
        })
        .collect()
}

/// The raw table's counts and the rollup's events for this tenant.
async fn counts(app: &TestApp) -> (EventCounts, u64) {
    (app.event_counts().await.unwrap(), app.rollup_events().await)
}

/// Records as the sink sees them: spread over three partitions of `topic`, message `i` at
/// offset `first_offset + i / 3` of partition `i % 3`.
fn consumed(
    topic: &str,
    first_offset: i64,
    records: &[BehaviorRecord],
) -> Vec<(Source, BehaviorRow, ())> {
    records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let source = Source {
                topic: topic.to_string(),
                partition: (i % 3) as i32,
                offset: first_offset + (i / 3) as i64,
            };
            (source, BehaviorRow::from(r.clone()), ())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_delivered_again_is_not_counted_twice() {
    let app = TestApp::start().await;
    let topic = &app.config.kafka.topic;
    let batch = records(&app.tenant, 600);
    let shutdown = CancellationToken::new();

    // A loader inserts part of the batch and dies before committing (a crash mid-way).
    let first = ClickHouseLoader::new(app.clickhouse.clone(), 1000);
    let refused = first
        .load(consumed(topic, 0, &batch[..250]), &shutdown)
        .await
        .unwrap();
    assert!(refused.is_empty());
    let looked_up = || app.metric("recoscope_sink_rows_looked_up_total");
    assert_eq!(looked_up().await, None, "nothing is below a fence yet");
    // Its successor, with nothing in memory, reads the whole batch again: the part below the
    // fence is looked up and skipped, the rest inserted.
    let second = ClickHouseLoader::new(app.clickhouse.clone(), 1000);
    second
        .load(consumed(topic, 0, &batch), &shutdown)
        .await
        .unwrap();
    assert_eq!(
        looked_up().await,
        Some(250.0),
        "exactly the redelivered part"
    );
    // A third gets it once more, with repeats inside the batch.
    let third = ClickHouseLoader::new(app.clickhouse.clone(), 1000);
    let mut with_repeats = consumed(topic, 0, &batch);
    with_repeats.extend(consumed(topic, 0, &batch[100..200]));
    third.load(with_repeats, &shutdown).await.unwrap();
    assert_eq!(looked_up().await, Some(950.0));

    // A client's resends of events the second loader inserted arrive at later offsets,
    // above the fence: its memory of recent events drops them.
    second
        .load(consumed(topic, 1_000, &batch[300..360]), &shutdown)
        .await
        .unwrap();
    assert_eq!(
        looked_up().await,
        Some(950.0),
        "resends above the fence are not looked up"
    );

    let (raw, rollup) = counts(&app).await;
    assert_eq!(
        raw,
        EventCounts {
            rows: 600,
            distinct: 600
        }
    );
    assert_eq!(rollup, 600, "the hourly rollup agrees with the raw table");
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_batch_passes_the_duplicate_lookup() {
    let app = TestApp::start().await;
    // A batch as large as the sink makes by default, delivered again to a fresh loader, so
    // every message is below the fence: one lookup with every key in it was refused by
    // ClickHouse (more than 50,000 syntax-tree elements) and stalled the sink.
    let n = app.config.sink.max_rows;
    let all = records(&app.tenant, n);
    let topic = &app.config.kafka.topic;
    let shutdown = CancellationToken::new();
    // Within a second or two, not in a retry loop.
    let loaded = tokio::time::timeout(Duration::from_secs(60), async {
        ClickHouseLoader::new(app.clickhouse.clone(), 0)
            .load(consumed(topic, 0, &all), &shutdown)
            .await
            .unwrap();
        ClickHouseLoader::new(app.clickhouse.clone(), 0)
            .load(consumed(topic, 0, &all), &shutdown)
            .await
            .unwrap();
    })
    .await;
    assert!(loaded.is_ok(), "the loads did not finish");
    let (raw, rollup) = counts(&app).await;
    assert_eq!(
        (raw.rows, raw.distinct, rollup),
        (n as u64, n as u64, n as u64)
    );
    app.cleanup().await;
}

/// A broken materialized view (an operator's schema error) is not bad data: ClickHouse has
/// already written the raw block when the view fails, so the loader keeps those rows once,
/// never splits the batch to "isolate" them (which inserted them again with every half:
/// 12 events became 56 rows), and goes on once the view is fixed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_view_neither_doubles_raw_rows_nor_dead_letters_them() {
    let app = TestApp::start().await;
    // A view that cannot fill its target: 18.16 wants every column of it.
    for statement in [
        "CREATE TABLE broken_target (x UInt8, y AggregateFunction(sum, UInt64)) ENGINE = Log",
        "CREATE MATERIALIZED VIEW broken_mv TO broken_target AS \
         SELECT toUInt8(1) AS x FROM user_behaviors",
    ] {
        app.clickhouse.execute(Query::new(statement)).await.unwrap();
    }
    let all = records(&app.tenant, 300);
    let topic = &app.config.kafka.topic;
    let shutdown = CancellationToken::new();
    let loader = ClickHouseLoader::new(app.clickhouse.clone(), 1000);
    let refused = tokio::time::timeout(
        Duration::from_secs(60),
        loader.load(consumed(topic, 0, &all[..200]), &shutdown),
    )
    .await
    .expect("the load ends")
    .unwrap();
    assert!(refused.is_empty(), "not bad data: {refused:?}");
    let (raw, _) = counts(&app).await;
    assert_eq!((raw.rows, raw.distinct), (200, 200), "each row once");
    assert!(app.metric("recoscope_sink_view_failures_total").await >= Some(1.0));

    // Fixed: the next rows reach the raw table and the rollups as usual.
    app.clickhouse
        .execute(Query::new("DROP TABLE broken_mv"))
        .await
        .unwrap();
    let before = app.rollup_events().await;
    loader
        .load(consumed(topic, 100, &all[200..]), &shutdown)
        .await
        .unwrap();
    let (raw, rollup) = counts(&app).await;
    assert_eq!((raw.rows, raw.distinct), (300, 300));
    assert_eq!(rollup - before, 100);
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_read_back_exactly_as_the_sink_wrote_them() {
    let app = TestApp::start().await;
    // Every action, every optional field set and unset, text that needs escaping in other
    // formats, and a long string (a multi-byte length prefix in RowBinary).
    let records: Vec<BehaviorRecord> = ActionType::ALL
        .iter()
        .enumerate()
        .map(|(i, action)| {
            let mut e = Event::new("home", format!("user-ü-{i}"), "item\t\"q\"", *action).unwrap();
            e.timestamp = UnixMillis::new(1_700_000_000_123 + i as i64 * 1000).ok();
            if i % 2 == 0 {
                e.position = Some(i as u32);
                e.watch_duration = Seconds::new(12.5).ok();
                e.completion_rate = Fraction::new(0.75).ok();
                e.session_id = Label::new("s\n1").ok();
                e.experiment_id = Label::new("exp").ok();
                e.experiment_group = Label::new("b").ok();
                e.request_id = Label::new("x".repeat(200)).ok();
            }
            BehaviorRecord::new(&app.tenant, e, 1_700_000_100_000, || format!("ev-{i}"))
        })
        .collect();
    let topic = &app.config.kafka.topic;
    ClickHouseLoader::new(app.clickhouse.clone(), 10)
        .load(consumed(topic, 0, &records), &CancellationToken::new())
        .await
        .unwrap();
    let stored: Vec<serde_json::Value> = app
        .clickhouse
        .fetch(
            Query::new("SELECT * FROM user_behaviors WHERE tenant_id = ? ORDER BY event_id")
                .bind(&app.tenant),
        )
        .await
        .unwrap();
    let written: Vec<serde_json::Value> = records
        .into_iter()
        .map(|r| serde_json::to_value(BehaviorRow::from(r)).unwrap())
        .collect();
    assert_eq!(stored, written);
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_messages_go_to_the_dead_letter_topic_and_the_sink_goes_on() {
    let app = TestApp::start().await;
    let producer: FutureProducer = client_config(&app.config.kafka.brokers)
        .set("acks", "all")
        .create()
        .unwrap();
    let poison: Vec<Vec<u8>> = vec![
        b"not json at all".to_vec(),
        br#"{"tenant_id":"x","event_id":"e"}"#.to_vec(),
        br#"{"tenant_id":"x","event_id":"e","received_at":1,"scenario_id":"",
             "user_id":"u","item_id":"i","action_type":"click"}"#
            .to_vec(),
    ];
    let good = records(&app.tenant, 90);
    for (i, record) in good.iter().enumerate() {
        let payload = serde_json::to_vec(record).unwrap();
        let key = record.partition_key();
        producer
            .send(
                FutureRecord::to(&app.config.kafka.topic)
                    .key(&key)
                    .payload(&payload),
                Duration::from_secs(5),
            )
            .await
            .unwrap();
        if i % 30 == 0 {
            let bad = &poison[i / 30];
            producer
                .send(
                    FutureRecord::<(), _>::to(&app.config.kafka.topic).payload(bad),
                    Duration::from_secs(5),
                )
                .await
                .unwrap();
        }
    }

    // Every good event is loaded: the poison did not stop the sink.
    assert_eq!(app.wait_for_rows(90).await, 90);

    // The poison is on the dead-letter topic, unchanged, with its reason and origin.
    let consumer: StreamConsumer = client_config(&app.config.kafka.brokers)
        .set("group.id", "dead-letter-reader")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer
        .subscribe(&[&app.config.kafka.dead_letter_topic])
        .unwrap();
    let mut letters = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while letters.len() < poison.len() {
        assert!(Instant::now() < deadline, "dead letters: {letters:?}");
        let Ok(Ok(message)) = tokio::time::timeout(Duration::from_secs(5), consumer.recv()).await
        else {
            continue;
        };
        let headers = message.headers().expect("a dead letter has headers");
        let header = |name: &str| {
            headers
                .iter()
                .find(|h| h.key == name)
                .and_then(|h| h.value)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        letters.push((
            message.payload().unwrap().to_vec(),
            header("recoscope-reason").unwrap(),
            header("recoscope-source").unwrap(),
        ));
    }
    let mut payloads: Vec<Vec<u8>> = letters.iter().map(|(p, _, _)| p.clone()).collect();
    payloads.sort();
    let mut expected = poison.clone();
    expected.sort();
    assert_eq!(payloads, expected);
    for (_, reason, source) in &letters {
        assert!(reason.starts_with("undecodable: "), "{reason}");
        assert!(
            source.starts_with(&format!("{}/", app.config.kafka.topic)),
            "{source}"
        );
    }
    assert!(app.metric("recoscope_sink_dead_letters_total").await >= Some(3.0));
    // Leave the group while the broker is still there (cleanup stops it).
    drop(consumer);
    app.cleanup().await;
}
