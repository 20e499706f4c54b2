//! Who may read what: every analytics call acts for the tenant of its read key, through the
//! server functions and through `/api/v1/analytics/*` alike.

mod support;

use recoscope_core::{ActionType, Event};
use serde_json::Value;
use support::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_read_key_sees_its_own_tenant_only() {
    let app = TestApp::start().await;
    let events: Vec<Event> = (0..12)
        .map(|i| Event::new("home", format!("u{i}"), "i1", ActionType::Impression).unwrap())
        .collect();
    assert_eq!(app.post_events(&events).await.status(), 200);
    assert_eq!(app.wait_for_rows(12).await, 12);

    // The JSON API and the server function give the same answer for the same key.
    let until = chrono::Utc::now().timestamp() + 3600;
    let path = format!("/api/v1/analytics/overview?hours=24&until={until}");
    let (status, json) = app.get_json(&path, Some(&app.read_key)).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["tenant"], app.tenant.as_str());
    assert_eq!(json["kpis"]["impressions"], 12);
    let from_server_fn: Value = app
        .server_fn(
            "overview",
            &[("hours", "24".into()), ("until", until.to_string())],
        )
        .await;
    assert_eq!(json, from_server_fn);
    let (_, scopes) = app
        .get_json("/api/v1/analytics/scopes", Some(&app.read_key))
        .await;
    assert_eq!(
        scopes["scenarios"],
        serde_json::json!([{"id": "home", "name": null, "description": null, "has_data": true}])
    );

    // Another tenant's key reads that tenant, which has nothing: no way to name ours.
    let store = app.tenant_store();
    store.create_tenant("other_tenant").unwrap();
    let other = store.issue_read_key("other_tenant").unwrap().key;
    let (status, json) = app
        .get_json(&format!("{path}&tenant={}", app.tenant), Some(&other))
        .await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["tenant"], "other_tenant");
    assert_eq!(json["kpis"], Value::Null);
    let (_, scopes) = app.get_json("/api/v1/analytics/scopes", Some(&other)).await;
    assert_eq!(scopes["scenarios"], serde_json::json!([]));

    // No key, a write key, an unknown or a revoked key: 401 with a reason.
    store.revoke_read_key(&other).unwrap();
    for key in [
        None,
        Some(app.key.as_str()),
        Some("rr_unknown"),
        Some(other.as_str()),
    ] {
        let (status, json) = app.get_json(&path, key).await;
        assert_eq!(status, 401, "{key:?}: {json}");
        assert_eq!(json["error"]["code"], "unauthorized");
    }
    let response = app
        .http
        .post(app.url("/api/overview"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("hours=24")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.text().await.unwrap().contains("unauthorized"));

    // Parameters out of range: 400 naming the parameter.
    let (status, json) = app
        .get_json("/api/v1/analytics/overview?hours=0", Some(&app.read_key))
        .await;
    assert_eq!(status, 400, "{json}");
    assert!(json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("hours must be between"));
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_keeps_the_read_key_in_a_strict_http_only_cookie() {
    let app = TestApp::start().await;
    let sign_in = |key: String| {
        app.http
            .post(app.url("/api/sign_in_with_key"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("key={key}"))
            .send()
    };
    let response = sign_in(app.read_key.clone()).await.unwrap();
    assert_eq!(response.status(), 200);
    let cookie = support::set_cookie(&response, "recoscope_read_key").expect("a read-key cookie");
    assert!(cookie.starts_with(&format!("recoscope_read_key={}", app.read_key)));
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    assert_eq!(response.json::<String>().await.unwrap(), app.tenant);

    // With the cookie the page shows the tenant's dashboard; without, a way to sign in.
    assert!(app.get_text("/").await.contains(&app.tenant));
    let anonymous = app
        .http
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(anonymous.contains("sign-in-link"), "{anonymous}");

    // A wrong key is refused and sets nothing.
    let response = sign_in("rr_wrong".into()).await.unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.headers().get("set-cookie").is_none());
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_recent_behaviour_is_read_with_the_tenants_read_key() {
    let app = TestApp::start().await;
    let now = chrono::Utc::now().timestamp_millis();
    let events: Vec<Event> = (0..5)
        .map(|i| {
            let user = if i < 3 { "alice" } else { "bob" };
            let mut e = Event::new("home", user, format!("item-{i}"), ActionType::Click).unwrap();
            e.timestamp = recoscope_core::UnixMillis::new(now - 60_000 + i * 1000).ok();
            e.event_id = recoscope_core::Label::new(format!("r-{i}")).ok();
            e
        })
        .collect();
    assert_eq!(app.post_events(&events).await.status(), 200);

    // The recent-behaviour worker feeds the store from Kafka: wait for alice's three.
    let path = "/api/v1/analytics/users/alice/recent?limit=10";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let recent = loop {
        let (status, json) = app.get_json(path, Some(&app.read_key)).await;
        assert_eq!(status, 200, "{json}");
        if json["events"].as_array().unwrap().len() == 3 {
            break json;
        }
        assert!(std::time::Instant::now() < deadline, "{json}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let ids: Vec<&str> = recent["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["r-2", "r-1", "r-0"], "newest first, alice's only");
    let from_server_fn: Value = app
        .server_fn(
            "recent",
            &[("user_id", "alice".into()), ("limit", "10".into())],
        )
        .await;
    assert_eq!(recent, from_server_fn);

    // Another tenant's key finds no alice; bad limits are refused.
    let store = app.tenant_store();
    store.create_tenant("elsewhere").unwrap();
    let other = store.issue_read_key("elsewhere").unwrap().key;
    let (_, json) = app.get_json(path, Some(&other)).await;
    assert_eq!(json["events"], serde_json::json!([]));
    let (status, _) = app
        .get_json(
            "/api/v1/analytics/users/alice/recent?limit=0",
            Some(&app.read_key),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = app.get_json(path, None).await;
    assert_eq!(status, 401);
    app.cleanup().await;
}
