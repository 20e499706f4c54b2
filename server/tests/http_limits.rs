//! Hostile and unusual HTTP clients against the real server (issue 12): stalled headers,
//! oversized headers, trickled bodies, and compressed bodies (decoded with a limit on the
//! decompressed size, or refused when the encoding is unknown). Good events next to these
//! still arrive.

mod support;

use std::io::Write;
use std::time::{Duration, Instant};
use support::TestApp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A test app whose connection timeouts are short enough to watch.
async fn app() -> TestApp {
    TestApp::start_with(|c| {
        c.http.header_timeout_secs = 2;
        c.http.body_timeout_secs = 2;
    })
    .await
}

/// Reads until the server closes the connection (or `within` passes); what it said.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&answer).into()),
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
        }
    }
}

/// Reads the server's answer until it closes the connection and checks its status line.
async fn assert_answer(stream: &mut TcpStream, within: Duration, status: u16) {
    let answer = read_until_closed(stream, within)
        .await
        .unwrap_or_else(|| panic!("no answer and no close within {within:?}"));
    assert!(
        answer.starts_with(&format!("HTTP/1.1 {status}")),
        "expected {status}, got {:?}",
        answer.lines().next()
    );
}

fn events_json(prefix: &str, n: usize) -> String {
    let events: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            serde_json::json!({
                "event_id": format!("{prefix}-{i}"),
                "scenario_id": "home_feed",
                "user_id": format!("u{i}"),
                "item_id": format!("item-{i}"),
                "action_type": "click",
            })
        })
        .collect();
    serde_json::json!({ "events": events }).to_string()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

async fn post(app: &TestApp, encoding: Option<&str>, body: Vec<u8>) -> (u16, String) {
    let mut request = app
        .http
        .post(app.url("/api/v1/behaviors"))
        .header("X-Recoscope-Key", &app.key)
        .header("Content-Type", "text/plain");
    if let Some(encoding) = encoding {
        request = request.header("Content-Encoding", encoding);
    }
    let response = request.body(body).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_stall_in_their_headers_are_disconnected() {
    let app = app().await;
    // Many at once, as the attack did: each sends half its headers and then nothing.
    let mut stalled = Vec::new();
    for _ in 0..200 {
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        stream
            .write_all(b"POST /api/v1/behaviors HTTP/1.1\r\nHost: x\r\nContent-Ty")
            .await
            .unwrap();
        stalled.push(stream);
    }
    // Also one that connects and says nothing at all.
    stalled.push(TcpStream::connect(app.addr).await.unwrap());
    let started = Instant::now();
    for stream in &mut stalled {
        assert!(
            read_until_closed(stream, Duration::from_secs(15))
                .await
                .is_some(),
            "a stalled connection was kept open"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "disconnected only after {:?}",
        started.elapsed()
    );
    // Meanwhile and afterwards, honest clients are served.
    let (status, body) = post(&app, None, events_json("after-stall", 2).into_bytes()).await;
    assert_eq!(status, 200, "{body}");
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_headers_get_431() {
    let app = app().await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let huge = "a".repeat(200 * 1024);
    let request = format!(
        "POST /api/v1/behaviors HTTP/1.1\r\nHost: x\r\nX-Padding: {huge}\r\nContent-Length: 0\r\n\r\n"
    );
    // The server may answer and close before it read everything; a reset is fine then.
    let _ = stream.write_all(request.as_bytes()).await;
    assert_answer(&mut stream, Duration::from_secs(10), 431).await;
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_body_gets_408() {
    let app = app().await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let request = format!(
        "POST /api/v1/behaviors HTTP/1.1\r\nHost: x\r\nX-Recoscope-Key: {}\r\n\
         Content-Type: text/plain\r\nContent-Length: 1000\r\n\r\n{{\"events\": [",
        app.key
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    assert_answer(&mut stream, Duration::from_secs(15), 408).await;
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_bodies_are_decoded_with_a_limit_or_refused() {
    let app = app().await;
    // A gzip batch, as a tracker sends it: decoded and every event kept.
    let (status, body) = post(&app, Some("gzip"), gzip(events_json("gz", 5).as_bytes())).await;
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["accepted"], 5, "{answer}");
    // deflate too.
    let mut deflate = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    deflate.write_all(events_json("zl", 3).as_bytes()).unwrap();
    let (status, body) = post(&app, Some("deflate"), deflate.finish().unwrap()).await;
    assert_eq!(status, 200, "{body}");

    // A gzip bomb: 40 KB on the wire, 40 MB decoded; stopped at the 1 MB body limit.
    let bomb = gzip(&vec![b' '; 40 << 20]);
    assert!(bomb.len() < 100 << 10);
    let (status, body) = post(&app, Some("gzip"), bomb).await;
    assert_eq!(status, 413, "{body}");

    // Not gzip at all, though it says so: a clear 400, not a guess.
    let (status, body) = post(&app, Some("gzip"), events_json("plain", 1).into_bytes()).await;
    assert_eq!(status, 400, "{body}");

    // An encoding we do not decode is refused, never parsed as JSON.
    for encoding in ["br", "zstd", "compress", "x-unknown"] {
        let (status, body) = post(&app, Some(encoding), events_json("odd", 1).into_bytes()).await;
        assert_eq!(status, 415, "{encoding}: {body}");
    }

    // Exactly the events of the accepted batches reached ClickHouse.
    assert_eq!(app.wait_for_rows(8).await, 8);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let counts = app.event_counts().await.unwrap();
    assert_eq!((counts.rows, counts.distinct), (8, 8));
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_wait_until_one_is_free() {
    let app = TestApp::start_with(|c| {
        c.http.header_timeout_secs = 2;
        c.http.max_connections = 4;
    })
    .await;
    // Four connections that say nothing take every place...
    let mut silent = Vec::new();
    for _ in 0..4 {
        silent.push(TcpStream::connect(app.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // ...so a fifth client is served only once the header timeout has freed one.
    let started = Instant::now();
    let (status, body) = post(&app, None, events_json("capped", 1).into_bytes()).await;
    let waited = started.elapsed();
    assert_eq!(status, 200, "{body}");
    assert!(
        waited >= Duration::from_millis(1_200),
        "served after {waited:?}: the cap did not hold"
    );
    assert!(waited < Duration::from_secs(10), "waited {waited:?}");
    drop(silent);
    app.cleanup().await;
}
