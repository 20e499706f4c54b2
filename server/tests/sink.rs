//! The ClickHouse loader on the real stack: a batch delivered again is not counted twice (raw
//! table and rollup), and poison messages go to the dead-letter topic while the sink goes on.

mod support;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};
use recoscope_core::{ActionType, BehaviorRecord, Event, UnixMillis};
use recoscope_server::kafka::client_config;
use recoscope_server::pipeline::clickhouse_sink::ClickHouseLoader;
use recoscope_server::pipeline::row::BehaviorRow;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_delivered_again_is_not_counted_twice() {
    let app = TestApp::start().await;
    let loader = ClickHouseLoader::new(app.clickhouse.clone());
    let batch = records(&app.tenant, 600);
    let rows = |records: &[BehaviorRecord]| -> Vec<(BehaviorRow, ())> {
        records
            .iter()
            .cloned()
            .map(|r| (BehaviorRow::from(r), ()))
            .collect()
    };
    let shutdown = CancellationToken::new();

    // A partial insert (a crash mid-way), then the whole batch again (the redelivery), then
    // the whole batch once more with repeats inside it (a client's resends).
    let refused = loader.load(rows(&batch[..250]), &shutdown).await.unwrap();
    assert!(refused.is_empty());
    loader.load(rows(&batch), &shutdown).await.unwrap();
    let mut with_repeats = rows(&batch);
    with_repeats.extend(rows(&batch[100..200]));
    loader.load(with_repeats, &shutdown).await.unwrap();

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
    let loader = ClickHouseLoader::new(app.clickhouse.clone());
    // A batch as large as the sink makes by default: one lookup with every key in it was
    // refused by ClickHouse (more than 50,000 syntax-tree elements) and stalled the sink.
    let n = app.config.sink_max_rows;
    let batch: Vec<(BehaviorRow, ())> = records(&app.tenant, n)
        .into_iter()
        .map(|r| (BehaviorRow::from(r), ()))
        .collect();
    let shutdown = CancellationToken::new();
    let again: Vec<(BehaviorRow, ())> = records(&app.tenant, n)
        .into_iter()
        .map(|r| (BehaviorRow::from(r), ()))
        .collect();
    // Within a second or two, not in a retry loop.
    let loaded = tokio::time::timeout(Duration::from_secs(60), async {
        loader.load(batch, &shutdown).await.unwrap();
        loader.load(again, &shutdown).await.unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_messages_go_to_the_dead_letter_topic_and_the_sink_goes_on() {
    let app = TestApp::start().await;
    let producer: FutureProducer = client_config(&app.config.kafka_brokers)
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
                FutureRecord::to(&app.config.kafka_topic)
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
                    FutureRecord::<(), _>::to(&app.config.kafka_topic).payload(bad),
                    Duration::from_secs(5),
                )
                .await
                .unwrap();
        }
    }

    // Every good event is loaded: the poison did not stop the sink.
    assert_eq!(app.wait_for_rows(90).await, 90);

    // The poison is on the dead-letter topic, unchanged, with its reason and origin.
    let consumer: StreamConsumer = client_config(&app.config.kafka_brokers)
        .set("group.id", "dead-letter-reader")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer
        .subscribe(&[&app.config.sink_dead_letter_topic])
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
            source.starts_with(&format!("{}/", app.config.kafka_topic)),
            "{source}"
        );
    }
    assert!(app.metric("recoscope_sink_dead_letters_total").await >= Some(3.0));
    // Leave the group while the broker is still there (cleanup stops it).
    drop(consumer);
    app.cleanup().await;
}
