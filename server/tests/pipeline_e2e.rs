//! The thin path, end to end on the real stack: HTTP ingest → Kafka → ClickHouse loader →
//! hourly rollup → overview server function → dashboard HTML.
//!
//! Expected numbers are computed here, in plain Rust over the generated events, never with
//! the SQL under test.

mod support;

use recoscope_analytics::overview::{Overview, TrendPoint};
use recoscope_app::components::format;
use recoscope_core::{ActionType, Event, Label, UnixMillis};
use serde_json::json;
use std::collections::{BTreeMap, HashSet};
use support::TestApp;

/// A deterministic little world: a few scenarios and users over three hours.
fn generate(hour0_ms: i64) -> Vec<Event> {
    let mut next = support::numbers(0x2545F4914F6CDD1D);
    let actions = [
        (ActionType::Impression, 60),
        (ActionType::Click, 15),
        (ActionType::View, 10),
        (ActionType::Like, 3),
        (ActionType::Share, 2),
        (ActionType::AddCart, 6),
        (ActionType::Order, 4),
    ];
    (0..420)
        .map(|i| {
            let mut roll = next(100);
            let action = actions
                .iter()
                .find(|(_, w)| {
                    if roll < *w {
                        true
                    } else {
                        roll -= w;
                        false
                    }
                })
                .unwrap()
                .0;
            let scenario = ["home_feed", "search", "cart"][next(3) as usize];
            let mut e = Event::new(
                scenario,
                format!("user-{}", next(37)),
                format!("item-{}", next(50)),
                action,
            )
            .unwrap();
            e.event_id = Label::new(format!("e-{i}")).ok();
            e.timestamp = UnixMillis::new(hour0_ms + next(3 * 3_600_000) as i64).ok();
            e.position = Some(next(10) as u32);
            e
        })
        .collect()
}

struct Expected {
    events: u64,
    impressions: u64,
    clicks: u64,
    orders: u64,
    users: u64,
}

fn expected<'a>(events: impl Iterator<Item = &'a Event>) -> Expected {
    let mut e = Expected {
        events: 0,
        impressions: 0,
        clicks: 0,
        orders: 0,
        users: 0,
    };
    let mut users = HashSet::new();
    for ev in events {
        e.events += 1;
        match ev.action_type {
            ActionType::Impression => e.impressions += 1,
            ActionType::Click => e.clicks += 1,
            ActionType::Order => e.orders += 1,
            _ => {}
        }
        users.insert(ev.user_id.clone());
    }
    e.users = users.len() as u64;
    e
}

async fn overview(app: &TestApp, scenario: Option<&str>, hours: u32, until: i64) -> Overview {
    let mut form = vec![("hours", hours.to_string()), ("until", until.to_string())];
    if let Some(s) = scenario {
        form.push(("scenario", s.to_string()));
    }
    app.server_fn("overview", &form).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_flow_from_the_api_to_the_dashboard() {
    let app = TestApp::start().await;
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // Three whole hours that ended at least an hour ago.
    let until = (now_s / 3600 - 1) * 3600;
    let hour0 = until - 3 * 3600;
    let events = generate(hour0 * 1000);

    // Ready once the broker (the new topic's metadata) and ClickHouse answer.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let ready = app.http.get(app.url("/_readiness")).send().await.unwrap();
        if ready.status() == 200 {
            break;
        }
        let body = ready.text().await.unwrap();
        assert!(std::time::Instant::now() < deadline, "never ready: {body}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    // Send in batches; the last batch carries two bad events among good ones.
    let mut accepted = 0;
    for (n, chunk) in events.chunks(100).enumerate() {
        let mut batch: Vec<serde_json::Value> = chunk
            .iter()
            .map(|e| serde_json::to_value(e).unwrap())
            .collect();
        let last = n == events.len().div_ceil(100) - 1;
        if last {
            batch.insert(1, json!({"scenario_id": "s", "user_id": "u", "item_id": "i", "action_type": "teleport"}));
            batch.push(json!({"scenario_id": "s", "user_id": "u", "item_id": "i", "action_type": "click", "completion_rate": 7}));
        }
        let response = app.post_events(&batch).await;
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        accepted += body["accepted"].as_u64().unwrap();
        if last {
            let rejected = body["rejected"].as_array().unwrap();
            assert_eq!(rejected.len(), 2, "{body}");
            assert_eq!(rejected[0]["index"], 1);
            assert_eq!(rejected[0]["code"], "unknown_action_type");
            assert_eq!(rejected[0]["field"], "action_type");
            assert_eq!(rejected[1]["code"], "out_of_range");
            assert_eq!(rejected[1]["field"], "completion_rate");
        } else {
            assert_eq!(body["rejected"], json!([]));
        }
    }
    assert_eq!(accepted, events.len() as u64);
    assert!(
        app.metric("recoscope_ingest_events_rejected_total{code=\"out_of_range\"}")
            .await
            >= Some(1.0)
    );
    assert!(app.metric("recoscope_ingest_events_accepted_total").await >= Some(accepted as f64));

    // Every accepted event reaches ClickHouse exactly once.
    let rows = app.wait_for_rows(events.len() as u64).await;
    assert_eq!(rows, events.len() as u64);

    // KPIs and trend from the server function match what the events say.
    let all = expected(events.iter());
    let got = overview(&app, None, 3, until).await;
    assert_eq!((got.from, got.to), (hour0, until));
    let kpis = got.kpis.expect("the range has data");
    assert_eq!(kpis.events, all.events);
    assert_eq!(kpis.impressions, all.impressions);
    assert_eq!(kpis.clicks, all.clicks);
    assert_eq!(kpis.conversions, all.orders);
    assert_eq!(kpis.active_users, all.users);
    assert_eq!(kpis.ctr, Some(all.clicks as f64 / all.impressions as f64));
    assert_eq!(
        kpis.conversion_rate,
        Some(all.orders as f64 / all.clicks as f64)
    );

    let mut by_hour: BTreeMap<i64, Vec<&Event>> = BTreeMap::new();
    for e in &events {
        by_hour
            .entry(e.timestamp.unwrap().get() / 1000 / 3600 * 3600)
            .or_default()
            .push(e);
    }
    let want_trend: Vec<TrendPoint> = (0..3)
        .map(|h| {
            let hour = hour0 + h * 3600;
            let x = expected(by_hour.get(&hour).into_iter().flatten().copied());
            TrendPoint {
                hour,
                impressions: x.impressions,
                clicks: x.clicks,
                conversions: x.orders,
                active_users: x.users,
            }
        })
        .collect();
    assert_eq!(got.trend, want_trend);

    // One scenario only.
    let search = expected(events.iter().filter(|e| e.scenario_id == "search"));
    let got = overview(&app, Some("search"), 3, until).await;
    let kpis = got.kpis.unwrap();
    assert_eq!(
        (
            kpis.impressions,
            kpis.clicks,
            kpis.conversions,
            kpis.active_users
        ),
        (
            search.impressions,
            search.clicks,
            search.orders,
            search.users
        )
    );

    // A range with no events says so instead of showing zeros.
    let empty = overview(&app, None, 24, hour0 - 10 * 86_400).await;
    assert_eq!(empty.kpis, None);
    assert!(empty.trend.is_empty());

    // The dashboard page renders the same numbers on the server.
    let html = app.get_text("/?hours=24").await;
    assert!(html.contains("Impressions"), "{html}");
    assert!(html.contains(&format::count(all.impressions)), "{html}");
    assert!(html.contains(&format::percent(Some(
        all.clicks as f64 / all.impressions as f64
    ))));
    assert!(html.contains("id=\"trend-chart\""));

    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_errors() {
    let app = TestApp::start().await;
    let post = |body: String, key: Option<&str>| {
        let mut r = app
            .http
            .post(app.url("/api/v1/behaviors"))
            .header("content-type", "text/plain")
            .body(body);
        if let Some(k) = key {
            r = r.header("X-Recoscope-Key", k);
        }
        r.send()
    };
    let event = json!({"scenario_id": "s", "user_id": "u", "item_id": "i", "action_type": "view"});

    let r = post("{not json".into(), Some(&app.key)).await.unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "malformed_json");

    let r = app
        .http
        .post(app.url("/api/v1/behaviors"))
        .header("X-Recoscope-Key", &app.key)
        .body(b"{\"scenario_id\": \"\xff\xfe\"}".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_utf8");

    let r = post(event.to_string(), None).await.unwrap();
    assert_eq!(r.status(), 401);
    let r = post(event.to_string(), Some("key-that-does-not-exist"))
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let r = post(
        json!({"events": vec![event.clone(); 501]}).to_string(),
        Some(&app.key),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 413);

    // sendBeacon style: text/plain, key in the query string, and in the body.
    let r = app
        .http
        .post(app.url(&format!("/api/v1/behaviors?key={}", app.key)))
        .header("content-type", "text/plain;charset=UTF-8")
        .body(event.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut with_key = event.clone();
    with_key["write_key"] = json!(app.key);
    let r = post(with_key.to_string(), None).await.unwrap();
    assert_eq!(r.status(), 200);

    assert_eq!(app.wait_for_rows(2).await, 2);
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_stamps_client_ip_and_device() {
    let app = TestApp::start_with(|c| c.ingest.trusted_proxies = "127.0.0.1/32".into()).await;
    let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
    let send = |id: &str, forwarded: Option<&str>, context: serde_json::Value| {
        let mut event = json!({"event_id": id, "scenario_id": "s", "user_id": "u",
            "item_id": "i", "action_type": "view", "context": context});
        event["context"]["ip"] = json!("6.6.6.6");
        let mut request = app
            .http
            .post(app.url("/api/v1/behaviors"))
            .header("X-Recoscope-Key", &app.key)
            .header("User-Agent", iphone)
            .json(&event);
        if let Some(f) = forwarded {
            request = request.header("X-Forwarded-For", f);
        }
        request.send()
    };
    assert_eq!(
        send("via-proxy", Some("203.0.113.9"), json!({}))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        send("direct", None, json!({"os": "CustomOS"}))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(app.wait_for_rows(2).await, 2);

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Row {
        event_id: String,
        ip: String,
        device_type: String,
        os: String,
    }
    let rows: Vec<Row> = app
        .clickhouse
        .fetch(
            recoscope_clickhouse::Query::new(
                "SELECT event_id, ip, device_type, os FROM user_behaviors \
                 WHERE tenant_id = ? ORDER BY event_id",
            )
            .bind(&app.tenant),
        )
        .await
        .unwrap();
    let row = |event_id: &str, ip: &str, os: &str| Row {
        event_id: event_id.into(),
        ip: ip.into(),
        device_type: "mobile".into(),
        os: os.into(),
    };
    // The client's own "ip" is never trusted; the proxy's header is, anonymised; the event's
    // own OS wins over the User-Agent's.
    assert_eq!(
        rows,
        vec![
            row("direct", "127.0.0.0", "CustomOS"),
            row("via-proxy", "203.0.113.0", "iOS")
        ]
    );
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_the_ingest_api() {
    let app = TestApp::start().await;
    let doc: serde_json::Value =
        serde_json::from_str(&app.get_text("/api/v1/openapi.json").await).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let ingest = &doc["paths"]["/api/v1/behaviors"]["post"];
    for status in ["200", "400", "401", "413", "429", "503"] {
        assert!(
            ingest["responses"][status].is_object(),
            "no {status} in {ingest}"
        );
    }
    let schemas = &doc["components"]["schemas"];
    let actions: Vec<&str> = schemas["ActionType"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let expected: Vec<&str> = ActionType::ALL.iter().map(|a| a.as_str()).collect();
    assert_eq!(actions, expected);
    let required = schemas["Event"]["required"].as_array().unwrap();
    for field in ["scenario_id", "user_id", "item_id", "action_type"] {
        assert!(required.contains(&json!(field)), "{field} not required");
    }
    assert!(schemas["IngestRequestDoc"]["oneOf"].is_array());
    assert_eq!(
        doc["components"]["securitySchemes"]["write_key"]["name"],
        "X-Recoscope-Key"
    );
    app.cleanup().await;
}

/// A client whose clock is two hours behind says so with `sent_at`: its events land at the
/// server's time (less their age in the batch), and an event "two hours old" by its own
/// clock is not refused as too old, nor one that is "in the future" by ours accepted blindly.
/// A clock only a few seconds off is trusted as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skewed_client_clock_is_moved_onto_the_servers() {
    let app = TestApp::start().await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let behind = now - 2 * 3_600_000;
    let event = |id: &str, ts: i64| {
        serde_json::json!({"event_id": id, "scenario_id": "s", "user_id": "u", "item_id": "i",
            "action_type": "click", "timestamp": ts})
    };
    let answer = app
        .http
        .post(app.url(&format!("/api/v1/behaviors?key={}", app.key)))
        .header("content-type", "text/plain;charset=UTF-8")
        .body(
            serde_json::json!({
                "sent_at": behind,
                "events": [event("ten-s-ago", behind - 10_000),
                           event("ahead", behind + 3_600_000)],
            })
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["accepted"], 1, "{body}");
    assert_eq!(body["rejected"][0]["code"], "timestamp_in_future", "{body}");
    // A clock 4 s slow is within the tolerance (10 s): its timestamps are kept exactly, so
    // events of one tab sent in different batches keep their order.
    let close = app
        .http
        .post(app.url(&format!("/api/v1/behaviors?key={}", app.key)))
        .header("content-type", "text/plain;charset=UTF-8")
        .body(
            serde_json::json!({
                "sent_at": now - 4_000,
                "events": [event("kept-as-is", now - 5_000)],
            })
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(close.status(), 200);
    assert_eq!(app.wait_for_rows(2).await, 2);
    #[derive(serde::Deserialize)]
    struct Row {
        event_ts_ms: u64,
    }
    let rows: Vec<Row> = app
        .clickhouse
        .fetch(
            recoscope_clickhouse::Query::new(
                "SELECT event_ts_ms FROM user_behaviors WHERE tenant_id = ? ORDER BY event_id",
            )
            .bind(&app.tenant),
        )
        .await
        .unwrap();
    assert_eq!(rows[0].event_ts_ms as i64, now - 5_000, "kept-as-is moved");
    let landed = rows[1].event_ts_ms as i64;
    assert!(
        (now - 10_000..now - 10_000 + 5_000).contains(&landed),
        "landed {} ms from now, expected about -10000",
        landed - now
    );
    let bad = app
        .http
        .post(app.url(&format!("/api/v1/behaviors?key={}", app.key)))
        .body(r#"{"sent_at": "yesterday", "events": [{}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("sent_at"));
    app.cleanup().await;
}
