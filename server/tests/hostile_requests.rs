//! A corpus of malformed and hostile requests against the real ingest API (issue 12): each
//! gets a clear 4xx (application errors as `{"error": {"code", ...}}`), never a 5xx, a hang or
//! a crash; valid events next to bad ones are kept; and ClickHouse ends up holding exactly the
//! valid events, nothing of the rest.

mod support;

use std::time::Duration;
use support::TestApp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `request` as raw bytes on a fresh connection; the status code and the body text.
async fn raw(app: &TestApp, request: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    // The server may answer before reading everything (then a reset while writing is fine).
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 8192];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer within 10 s to {:?}", head(request));
    let text = String::from_utf8_lossy(&answer).into_owned();
    // 0: the server closed the connection without answering.
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

fn head(request: &[u8]) -> String {
    String::from_utf8_lossy(&request[..request.len().min(80)]).into_owned()
}

/// A POST to the ingest endpoint with `extra` headers and `body`, closing the connection.
fn post(key: &str, extra: &str, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST /api/v1/behaviors?key={key} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\
         Content-Type: text/plain\r\n{extra}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

fn event(id: &str) -> serde_json::Value {
    serde_json::json!({
        "event_id": id,
        "scenario_id": "home_feed",
        "user_id": "u1",
        "item_id": "i1",
        "action_type": "click",
    })
}

fn with(id: &str, field: &str, value: serde_json::Value) -> serde_json::Value {
    let mut e = event(id);
    e[field] = value;
    e
}

fn batch(events: Vec<serde_json::Value>) -> Vec<u8> {
    serde_json::json!({ "events": events })
        .to_string()
        .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_clear_4xx_and_good_events_are_kept() {
    let app = TestApp::start_with(|c| c.http.header_timeout_secs = 3).await;
    let key = app.key.clone();
    let now = chrono::Utc::now().timestamp_millis();
    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let many_headers: String = (0..2_000).map(|i| format!("X-H{i}: v\r\n")).collect();

    // (what, request, expected status, the application's error code when it answers)
    let cases: Vec<(&str, Vec<u8>, u16, Option<&str>)> = vec![
        ("empty body", post(&key, "", b""), 400, Some("malformed_json")),
        ("null", post(&key, "", b"null"), 400, None),
        ("a bare array", post(&key, "", b"[1,2]"), 400, None),
        ("no events", post(&key, "", b"{\"events\": []}"), 400, None),
        ("events not a list", post(&key, "", b"{\"events\": \"x\"}"), 400, None),
        ("not JSON", post(&key, "", b"hello"), 400, None),
        ("cut-off JSON", post(&key, "", b"{\"events\": [{\"scen"), 400, None),
        ("trailing bytes", post(&key, "", &[&batch(vec![event("t-1")])[..], b"xyz"].concat()), 400, None),
        ("deep nesting", post(&key, "", nested.as_bytes()), 400, None),
        ("not UTF-8", post(&key, "", b"{\"events\": [\xff\xfe]}"), 400, None),
        ("no key", post("", "", &batch(vec![event("k-1")])), 401, Some("missing_key")),
        ("unknown key", post("nope", "", &batch(vec![event("k-2")])), 401, Some("unknown_key")),
        ("unknown action", post(&key, "", &batch(vec![with("a-1", "action_type", "purchase".into())])), 400, None),
        ("missing user", post(&key, "", &batch(vec![with("a-2", "user_id", serde_json::Value::Null)])), 400, None),
        ("number as id", post(&key, "", &batch(vec![with("a-3", "item_id", 7.into())])), 400, None),
        ("long string", post(&key, "", &batch(vec![with("a-4", "scenario_id", "s".repeat(5_000).into())])), 400, None),
        ("huge extra_data", post(&key, "", &batch(vec![with("a-5", "extra_data", serde_json::json!({"x": "y".repeat(50_000)}))])), 400, None),
        ("extra_data not an object", post(&key, "", &batch(vec![with("a-6", "extra_data", "x".into())])), 400, None),
        ("timestamp in the future", post(&key, "", &batch(vec![with("a-7", "timestamp", (now + 86_400_000).into())])), 400, None),
        ("timestamp long ago", post(&key, "", &batch(vec![with("a-8", "timestamp", 1_000.into())])), 400, None),
        ("timestamp overflow", post(&key, "", b"{\"events\":[{\"scenario_id\":\"s\",\"user_id\":\"u\",\"item_id\":\"i\",\"action_type\":\"click\",\"timestamp\":1e400}]}"), 400, None),
        ("completion rate 2", post(&key, "", &batch(vec![with("a-9", "completion_rate", 2.into())])), 400, None),
        ("negative watch time", post(&key, "", &batch(vec![with("a-10", "watch_duration", (-5).into())])), 400, None),
        ("context an array", post(&key, "", &batch(vec![with("a-11", "context", serde_json::json!([1]))])), 400, None),
        ("blank label", post(&key, "", &batch(vec![with("a-12", "user_id", "   ".into())])), 400, None),
        ("too many events", post(&key, "", &batch((0..501).map(|i| event(&format!("m-{i}"))).collect())), 413, None),
        ("body over the limit", post(&key, "", &vec![b' '; 1_100_000]), 413, None),
        ("unknown encoding", post(&key, "Content-Encoding: br\r\n", &batch(vec![event("e-1")])), 415, None),
        ("fake gzip", post(&key, "Content-Encoding: gzip\r\n", &batch(vec![event("e-2")])), 400, None),
        ("origin not allowed", post(&key, "Origin: https://evil.example\r\n", &batch(vec![event("o-1")])), 403, Some("origin_not_allowed")),
        ("wrong method", b"GET /api/v1/behaviors HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".to_vec(), 405, None),
        ("garbage request line", b"GARBAGE\r\n\r\n".to_vec(), 400, None),
        ("bad header name", b"POST /api/v1/behaviors HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n".to_vec(), 400, None),
        ("length and chunked", format!("POST /api/v1/behaviors?key={key} HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n").into_bytes(), 400, None),
        ("bad chunk", format!("POST /api/v1/behaviors?key={key} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n").into_bytes(), 400, None),
        ("huge URL", format!("POST /api/v1/behaviors?key={key}&x={} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(200_000)).into_bytes(), 431, None),
        ("2,000 headers", format!("POST /api/v1/behaviors HTTP/1.1\r\nHost: t\r\n{many_headers}\r\n").into_bytes(), 431, None),
        ("unknown path", b"POST /api/v1/behaviours HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 0\r\n\r\n".to_vec(), 404, None),
        ("path traversal", b"GET /pkg/../../../../etc/passwd HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".to_vec(), 404, None),
        // HTTP/2 is not spoken here (a TLS proxy in front speaks it): the connection closes.
        ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(), 0, None),
    ];
    let mut wrong = Vec::new();
    for (what, request, expected, code) in &cases {
        let (status, body) = raw(&app, request).await;
        let code_ok = code.is_none_or(|c| {
            serde_json::from_str::<serde_json::Value>(&body).is_ok_and(|b| b["error"]["code"] == *c)
        });
        if status != *expected || !code_ok {
            wrong.push(format!(
                "{what}: {status} (expected {expected}) {body:.200}"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "unexpected answers:\n{}",
        wrong.join("\n")
    );

    // Good events beside bad ones are kept: 3 of 6 accepted, each rejection named.
    let mixed = batch(vec![
        event("good-1"),
        with("bad-1", "action_type", "purchase".into()),
        event("good-2"),
        with("bad-2", "timestamp", (now + 86_400_000).into()),
        event("good-1"), // a repeat of the first id in one batch
        event("good-3"),
    ]);
    let (status, body) = raw(&app, &post(&key, "", &mixed)).await;
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["accepted"], 3, "{answer}");
    let codes: Vec<&str> = answer["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["code"].as_str())
        .collect();
    assert_eq!(
        codes,
        [
            "unknown_action_type",
            "timestamp_in_future",
            "duplicate_event_id"
        ],
        "{answer}"
    );

    // The server is still up, and only the three good events reached ClickHouse.
    assert_eq!(app.wait_for_rows(3).await, 3);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let counts = app.event_counts().await.unwrap();
    assert_eq!((counts.rows, counts.distinct), (3, 3));
    app.cleanup().await;
}
