//! The delivery contract on a real broker: a 2xx only after Kafka acknowledged; with the
//! broker down a 503 with Retry-After and readiness failing; once the broker is back the API
//! accepts again and every accepted event reaches ClickHouse exactly once.

mod support;

use recoscope_core::{ActionType, Event, Label, UnixMillis};
use std::time::{Duration, Instant};
use support::TestApp;

const TOKEN: &str = "test-admin-token-0123456789";

/// Ids of `user`'s recent events (newest first), polled until there are at least `n`: the
/// store is fed from the topic by a consumer group.
async fn recent_ids(app: &TestApp, user: &str, n: usize) -> Vec<String> {
    let url = app.url(&format!("/api/v1/analytics/users/{user}/recent"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let body: serde_json::Value = app
            .http
            .get(&url)
            .bearer_auth(&app.read_key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let ids: Vec<String> = body["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event_id"].as_str().unwrap().to_string())
            .collect();
        if ids.len() >= n {
            return ids;
        }
        assert!(Instant::now() < deadline, "{user}: {ids:?}, expected {n}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn events(tag: &str, n: usize) -> Vec<Event> {
    (0..n)
        .map(|i| {
            let mut e = Event::new(
                "home_feed",
                format!("u{i}"),
                "item-1",
                ActionType::Impression,
            )
            .unwrap();
            e.event_id = Label::new(format!("{tag}-{i}")).ok();
            e
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_outage_gives_503_and_loses_nothing() {
    let mut app = TestApp::start_with(|c| c.ingest.produce_timeout_ms = 1500).await;

    assert_eq!(app.post_events(&events("before", 10)).await.status(), 200);

    app.broker.kill();
    let response = app.post_events(&events("during", 5)).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable");
    let ready = app.http.get(app.url("/_readiness")).send().await.unwrap();
    assert_eq!(ready.status(), 503);

    assert!(app.metric("recoscope_ingest_unavailable_total").await >= Some(1.0));
    assert!(
        app.metric("recoscope_ingest_requests_total{status=\"503\"}")
            .await
            >= Some(1.0)
    );

    app.broker.resume().await;
    // The client retries the batch it could not deliver, as the tracker does.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = app.post_events(&events("during", 5)).await.status();
        if status == 200 {
            break;
        }
        assert_eq!(status, 503);
        assert!(Instant::now() < deadline, "the API did not recover");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(app.post_events(&events("after", 10)).await.status(), 200);

    // 25 accepted events, each in ClickHouse once; give duplicates time to show up.
    assert_eq!(app.wait_for_rows(25).await, 25);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(app.wait_for_rows(25).await, 25);
    assert_eq!(app.event_counts().await.unwrap().distinct, 25);
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_key_over_its_rate_gets_429_with_retry_after() {
    let app = TestApp::start_with(|c| {
        c.ingest.max_batch = 20;
        c.ingest.rate_burst = 20;
        c.ingest.rate_events_per_sec = 2;
    })
    .await;

    assert_eq!(app.post_events(&events("first", 20)).await.status(), 200);
    let response = app.post_events(&events("second", 20)).await;
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=10).contains(&retry_after), "{retry_after}");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    assert!(app.metric("recoscope_ingest_rate_limited_total").await >= Some(1.0));

    // Nothing of the refused batch was written.
    assert_eq!(app.wait_for_rows(20).await, 20);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.event_counts().await.unwrap().distinct, 20);
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_recent_behaviour_is_served_newest_first_to_its_tenants_read_key_only() {
    let app = TestApp::start_with(|c| c.admin_token = TOKEN.into()).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let mut batch = events("recent", 4);
    for (i, e) in batch.iter_mut().enumerate() {
        e.user_id = Label::new(if i < 3 { "alice" } else { "bob" }).unwrap();
        e.timestamp = UnixMillis::new(now - 60_000 + i as i64 * 1000).ok();
    }
    assert_eq!(app.post_events(&batch).await.status(), 200);

    let url = app.url("/api/v1/analytics/users/alice/recent");
    let get = |token: Option<&str>| {
        let mut request = app.http.get(url.clone());
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        request.send()
    };
    assert_eq!(get(None).await.unwrap().status(), 401);
    assert_eq!(
        get(Some("rr_not_a_live_read_key")).await.unwrap().status(),
        401
    );
    // The admin token is not a read key: one endpoint, one kind of credential.
    assert_eq!(get(Some(TOKEN)).await.unwrap().status(), 401);

    assert_eq!(
        recent_ids(&app, "alice", 3).await,
        ["recent-2", "recent-1", "recent-0"]
    );
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_producer_queue_refuses_whole_batches_with_503() {
    let app = TestApp::start_with(|c| {
        c.ingest.max_batch = 50;
        c.ingest.queue_max_messages = 100;
        c.ingest.produce_timeout_ms = 60_000;
    })
    .await;
    assert_eq!(app.post_events(&events("warm", 10)).await.status(), 200);

    // A frozen broker: 80 of the queue's 100 places fill with two batches waiting for acks.
    app.broker.signal("STOP");
    let waiting: Vec<_> = [("a", 50), ("b", 30)]
        .into_iter()
        .map(|(tag, n)| {
            let request = app
                .http
                .post(app.url("/api/v1/behaviors"))
                .header("X-Recoscope-Key", &app.key)
                .json(&serde_json::json!({ "events": events(tag, n) }));
            tokio::spawn(async move { request.send().await.unwrap().status() })
        })
        .collect();
    // Ordering only: the two requests above are enqueued long before this.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let refused = app.post_events(&events("c", 50)).await;
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("queue full"),
        "{body}"
    );
    assert!(app.metric("recoscope_producer_queue_full_total").await >= Some(1.0));

    app.broker.signal("CONT");
    for request in waiting {
        assert_eq!(request.await.unwrap(), 200);
    }
    assert_eq!(app.post_events(&events("c", 50)).await.status(), 200);

    // The refused batch of 50 did not fit in the 20 free places, and none of it was enqueued
    // (its retry would otherwise add duplicates): 140 events, each once.
    assert_eq!(app.wait_for_rows(140).await, 140);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(app.wait_for_rows(140).await, 140);
    assert_eq!(app.event_counts().await.unwrap().distinct, 140);
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recent_store_outage_never_blocks_ingest() {
    let app = TestApp::start_with(|c| c.admin_token = TOKEN.into()).await;

    // Another process holds the store's write lock: every write the server tries fails
    // after its busy timeout.
    let lock = rusqlite::Connection::open(&app.config.stores.recent_path).unwrap();
    lock.execute_batch("BEGIN EXCLUSIVE").unwrap();
    for batch in 0..10 {
        let response = app
            .post_events(&events(&format!("locked{batch}"), 50))
            .await;
        assert_eq!(response.status(), 200, "ingest must not wait on the store");
    }
    // Kafka is the source of truth: everything reaches ClickHouse, while the feed of the
    // store keeps failing and retrying.
    assert_eq!(app.wait_for_rows(500).await, 500);
    let retries = r#"recoscope_worker_retries_total{what="recent-behaviour write"}"#;
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.metric(retries).await < Some(1.0) {
        assert!(Instant::now() < deadline, "failed writes are retried");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The store comes back: the feed catches up on what it missed, nothing is skipped.
    lock.execute_batch("ROLLBACK").unwrap();
    drop(lock);
    let mut ids = recent_ids(&app, "u7", 10).await;
    ids.sort();
    let expected: Vec<String> = (0..10).map(|b| format!("locked{b}-7")).collect();
    assert_eq!(ids, expected);
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_runs_on_the_mongodb_stores() {
    let uri = std::env::var("MONGODB_URI")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "mongodb://127.0.0.1:27017".into());
    let database = format!("test_{}", uuid::Uuid::new_v4().simple());
    let app = TestApp::start_with(|c| {
        c.stores.mongodb_uri = uri.clone();
        c.stores.mongodb_database = database.clone();
        c.admin_token = TOKEN.into();
    })
    .await;

    // The bootstrap key was registered in MongoDB and authorises requests.
    let mut batch = events("mongo", 3);
    for e in &mut batch {
        e.user_id = Label::new("dora").unwrap();
    }
    assert_eq!(app.post_events(&batch).await.status(), 200);
    let response = app
        .http
        .post(app.url("/api/v1/behaviors"))
        .header("X-Recoscope-Key", "not-a-key-in-mongodb")
        .json(&serde_json::json!({ "events": events("x", 1) }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    // Recent behaviour is written to and served from MongoDB.
    assert_eq!(recent_ids(&app, "dora", 3).await.len(), 3);
    app.cleanup().await;
    let mongo = recoscope_stores::mongo::Mongo::connect(&uri, &database).unwrap();
    mongo.drop_database().unwrap();
}
