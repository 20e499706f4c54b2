//! Tenants and keys managed with the CLI while the server runs: an issued key is accepted at
//! once, a revoked one refused within `INGEST_KEYS_REFRESH_SECS` (the API reads keys from
//! memory), bad input refused with a clear message.

mod support;

use recoscope_core::{ActionType, Event};
use support::{cli, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_issued_by_the_cli_work_at_once_and_revoked_ones_stop_within_the_refresh() {
    let app = TestApp::start().await;
    let (ok, out, err) = cli(
        &app,
        &[
            "tenants",
            "create",
            "shop2",
            "--origin",
            "https://shop.example",
        ],
    );
    assert!(ok, "{err}");
    let tenant: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        tenant["origins"],
        serde_json::json!(["https://shop.example"])
    );

    let (ok, out, err) = cli(&app, &["keys", "issue", "shop2"]);
    assert!(ok, "{err}");
    let key: serde_json::Value = serde_json::from_str(&out).unwrap();
    let key = key["key"].as_str().unwrap().to_string();

    let send = |key: String| {
        let http = app.http.clone();
        let url = app.url("/api/v1/behaviors");
        async move {
            http.post(url)
                .header("X-Recoscope-Key", key)
                .json(&Event::new("home", "u", "i", ActionType::Click).unwrap())
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(send(key.clone()).await, 200);

    // CORS from the tenant's origins: a preflight from its page is allowed, others are not.
    let preflight = |origin: &'static str| {
        app.http
            .request(reqwest::Method::OPTIONS, app.url("/api/v1/behaviors"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "content-type,x-recoscope-key",
            )
            .send()
    };
    let ok_preflight = preflight("https://shop.example").await.unwrap();
    assert_eq!(
        ok_preflight.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
    let evil_preflight = preflight("https://evil.example").await.unwrap();
    assert!(!evil_preflight
        .headers()
        .contains_key("access-control-allow-origin"));
    let from = |origin: &'static str| {
        app.http
            .post(app.url("/api/v1/behaviors"))
            .header("Origin", origin)
            .header("X-Recoscope-Key", &key)
            .json(&Event::new("home", "u", "i", ActionType::View).unwrap())
            .send()
    };
    let allowed = from("https://shop.example").await.unwrap();
    assert_eq!(allowed.status(), 200);
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
    let refused = from("https://evil.example").await.unwrap();
    assert_eq!(refused.status(), 403);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "origin_not_allowed");

    let (ok, _, err) = cli(&app, &["keys", "revoke", &key]);
    assert!(ok, "{err}");
    let revoked = std::time::Instant::now();
    // The default refresh (the API reads keys from memory and reloads them).
    let bound = std::time::Duration::from_secs(app.config.ingest.keys_refresh_secs + 1);
    loop {
        let status = send(key.clone()).await;
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            revoked.elapsed() < bound,
            "a revoked key still accepted after {:?}",
            revoked.elapsed()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    let (ok, _, err) = cli(
        &app,
        &["tenants", "origins", "shop2", "https://shop.example/path"],
    );
    assert!(!ok);
    assert!(err.contains("origin"), "{err}");
    let (ok, _, err) = cli(&app, &["keys", "issue", "nobody"]);
    assert!(!ok);
    assert!(err.contains("not found"), "{err}");
    app.cleanup().await;
}
