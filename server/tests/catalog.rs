//! The item catalog and scenarios, imported from files by the CLI and by the admin API, and
//! read back by the analytics views: top items, hot items and the scenario filter carry
//! names; bad records are reported and never cost the good ones next to them.

mod support;

use recoscope_core::{ActionType, Event};
use serde_json::{json, Value};
use support::{cli, TestApp};

const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

async fn post_file(
    app: &TestApp,
    path: &str,
    content_type: &str,
    body: &str,
    token: Option<&str>,
) -> (u16, Value) {
    let mut request = app
        .http
        .post(app.url(path))
        .header("content-type", content_type)
        .body(body.to_string());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// Clicks on items 1-3 of scenario `home`, item-3 the most.
async fn some_clicks(app: &TestApp) {
    let mut events = Vec::new();
    for (item, clicks) in [("item-1", 2), ("item-2", 1), ("item-3", 3)] {
        for u in 0..clicks {
            events.push(Event::new("home", format!("u{u}"), item, ActionType::Click).unwrap());
        }
    }
    assert_eq!(app.post_events(&events).await.status(), 200);
    assert_eq!(app.wait_for_rows(6).await, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_imported_by_the_cli_names_top_items_hot_items_and_scenarios() {
    let app = TestApp::start().await;
    some_clicks(&app).await;
    let dir = app.broker.dir.join("catalog-files");
    std::fs::create_dir_all(&dir).unwrap();
    let items = dir.join("items.csv");
    std::fs::write(
        &items,
        "item_id,name,category,price,url,stock\n\
         item-1,Blue runner,Shoes,59.90,https://shop.example/p/1,4\n\
         item-2,,Shoes,10,,1\n\
         item-3,Rain jacket,Jackets,,,0\n",
    )
    .unwrap();

    // One bad row: reported with its line, the two good ones imported, exit status 1.
    let (ok, out, err) = cli(
        &app,
        &[
            "catalog",
            "import-items",
            &app.tenant,
            items.to_str().unwrap(),
        ],
    );
    assert!(!ok, "a rejected record fails the command");
    assert!(err.contains("1 of 3 records rejected"), "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["inserted"], 2, "{report}");
    assert_eq!(report["rejected"][0]["line"], 3);
    assert_eq!(report["rejected"][0]["id"], "item-2");
    assert_eq!(report["rejected"][0]["code"], "missing_field");
    assert_eq!(report["ignored_fields"], json!(["stock"]));

    let scenarios = dir.join("scenarios.json");
    std::fs::write(
        &scenarios,
        r#"[{"scenario_id": "home", "name": "Home feed"},
            {"scenario_id": "new_slot", "name": "New placement", "description": "Not live yet"}]"#,
    )
    .unwrap();
    let (ok, out, err) = cli(
        &app,
        &[
            "catalog",
            "import-scenarios",
            &app.tenant,
            scenarios.to_str().unwrap(),
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["inserted"], 2);

    // Top items: names, categories and links from the catalog; the unknown item by id only.
    let now = chrono::Utc::now().timestamp();
    let path = format!(
        "/api/v1/analytics/top_items?from={}&to={}&rank_by=clicks&limit=10",
        now - 86_400,
        now + 3600
    );
    let (status, top) = app.get_json(&path, Some(&app.read_key)).await;
    assert_eq!(status, 200, "{top}");
    let rows: Vec<(Value, Value, Value, Value)> = top["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["item_id"].clone(),
                i["name"].clone(),
                i["category"].clone(),
                i["clicks"].clone(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                json!("item-3"),
                json!("Rain jacket"),
                json!("Jackets"),
                json!(3)
            ),
            (
                json!("item-1"),
                json!("Blue runner"),
                json!("Shoes"),
                json!(2)
            ),
            (json!("item-2"), Value::Null, Value::Null, json!(1)),
        ]
    );
    assert_eq!(top["items"][1]["url"], "https://shop.example/p/1");
    assert_eq!(top["catalog_unavailable"], false);

    // The scenario filter: named scenarios, with or without data.
    let (_, scopes) = app
        .get_json("/api/v1/analytics/scopes", Some(&app.read_key))
        .await;
    assert_eq!(
        scopes["scenarios"],
        json!([
            {"id": "home", "name": "Home feed", "description": null, "has_data": true},
            {"id": "new_slot", "name": "New placement", "description": "Not live yet",
             "has_data": false},
        ])
    );

    // The live view's hot items carry names too (once the real-time worker has them).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (status, live) = app
            .get_json("/api/v1/analytics/live?top=5", Some(&app.read_key))
            .await;
        assert_eq!(status, 200, "{live}");
        let named = live["hot_items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["item_id"] == "item-3")
            .map(|i| i["name"].clone());
        if let Some(name) = named {
            assert_eq!(name, "Rain jacket");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no hot items: {live}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    // The insights page shows the names, linked.
    let html = app.get_text("/insights?days=7&tz=UTC").await;
    assert!(html.contains("Rain jacket"), "{html}");
    assert!(html.contains("href=\"https://shop.example/p/1\""), "{html}");

    // Importing again replaces: the fixed file updates two items and adds one.
    std::fs::write(
        &items,
        "item_id,name\nitem-1,Blue runner v2\nitem-2,Trail shoe\nitem-3,Rain jacket\n",
    )
    .unwrap();
    let (ok, out, err) = cli(
        &app,
        &[
            "catalog",
            "import-items",
            &app.tenant,
            items.to_str().unwrap(),
        ],
    );
    assert!(ok, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (report["inserted"].clone(), report["updated"].clone()),
        (json!(1), json!(2))
    );
    let (ok, out, _) = cli(&app, &["catalog", "items", &app.tenant, "--limit", "2"]);
    assert!(ok);
    let listed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed[0]["name"], "Blue runner v2");
    assert_eq!(listed.as_array().unwrap().len(), 2);

    // An unknown tenant or an unknown format is refused before anything is read.
    let (ok, _, err) = cli(
        &app,
        &["catalog", "import-items", "nobody", items.to_str().unwrap()],
    );
    assert!(!ok && err.contains("unknown tenant"), "{err}");
    let odd = dir.join("items.xlsx");
    std::fs::write(&odd, "x").unwrap();
    let (ok, _, err) = cli(
        &app,
        &[
            "catalog",
            "import-items",
            &app.tenant,
            odd.to_str().unwrap(),
        ],
    );
    assert!(!ok && err.contains("--format"), "{err}");

    // The overview puts the set-up beside the events: 3 items (item-2 came with the second
    // import) and 2 scenarios in the catalog; the scenarios that served impressions in the range, in the catalog or not
    // (`home` and `side`; `new_slot` had none, and clicks alone do not make one active).
    let impressions: Vec<Event> = [("home", "u1"), ("home", "u2"), ("side", "u1")]
        .into_iter()
        .map(|(scenario, user)| Event::new(scenario, user, "item-1", ActionType::Impression))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(app.post_events(&impressions).await.status(), 200);
    assert_eq!(app.wait_for_rows(9).await, 9);
    let (status, overview) = app
        .get_json("/api/v1/analytics/overview?hours=24", Some(&app.read_key))
        .await;
    assert_eq!(status, 200, "{overview}");
    assert_eq!(
        overview["setup"],
        json!({"catalog_items": 3, "catalog_scenarios": 2, "active_scenarios": 2}),
        "{overview}"
    );
    let (_, home) = app
        .get_json(
            "/api/v1/analytics/overview?hours=24&scenario=new_slot",
            Some(&app.read_key),
        )
        .await;
    assert_eq!(home["setup"]["active_scenarios"], 0, "{home}");
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_imports_and_pages_the_catalog() {
    let app = TestApp::start_with(|c| c.admin_token = ADMIN_TOKEN.into()).await;
    let items = format!("/api/v1/tenants/{}/catalog/items", app.tenant);
    let csv = "item_id,name,price\na,Ant,1\nb,Bee,oops\nc,Cat,3\n";
    // An import with the admin token.
    let import = |content_type: &'static str, body: &'static str| {
        post_file(&app, &items, content_type, body, Some(ADMIN_TOKEN))
    };

    // Without the admin token (a read key is not one): 401, nothing written.
    for token in [None, Some(app.read_key.as_str())] {
        let (status, body) = post_file(&app, &items, "text/csv", csv, token).await;
        assert_eq!(status, 401, "{body}");
    }
    let (status, body) = import("application/xml", csv).await;
    assert_eq!(status, 415, "{body}");
    let nobody = "/api/v1/tenants/nobody/catalog/items";
    let (status, body) = post_file(&app, nobody, "text/csv", csv, Some(ADMIN_TOKEN)).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (404, json!("not_found"))
    );

    // Good rows in, the bad one reported.
    let (status, report) = import("text/csv", csv).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["inserted"], 2);
    assert_eq!(report["rejected_count"], 1);
    assert_eq!(report["rejected"][0]["code"], "wrong_type");
    assert_eq!(report["rejected"][0]["line"], 3);

    // JSON Lines; a file where nothing is usable is a 400 with the same report.
    let lines = "{\"item_id\": \"d\", \"name\": \"Dog\"}\n{\"item_id\": \"e\"}\n";
    let (status, report) = import("application/x-ndjson", lines).await;
    assert_eq!(
        (status, report["inserted"].clone()),
        (200, json!(1)),
        "{report}"
    );
    let (status, report) = import("application/json", r#"[{"name": "no id"}]"#).await;
    assert_eq!(
        (status, report["rejected_count"].clone()),
        (400, json!(1)),
        "{report}"
    );
    let (status, body) = import("application/json", "[{\"item_id\":").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "unreadable_file");

    // Paging in id order: a, c, d.
    let (status, page) = app
        .get_json(&format!("{items}?limit=2"), Some(ADMIN_TOKEN))
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 3);
    assert_eq!(page["items"][0]["name"], "Ant");
    assert_eq!(page["next_after"], "c");
    let (_, page) = app
        .get_json(&format!("{items}?limit=2&after=c"), Some(ADMIN_TOKEN))
        .await;
    assert_eq!(page["items"][0]["item_id"], "d");
    assert_eq!(page["next_after"], Value::Null);
    let (status, _) = app
        .get_json(&format!("{items}?limit=0"), Some(ADMIN_TOKEN))
        .await;
    assert_eq!(status, 400);

    let scenarios = format!("/api/v1/tenants/{}/catalog/scenarios", app.tenant);
    let (status, report) = post_file(
        &app,
        &scenarios,
        "text/csv",
        "scenario_id;name\nhome;Home feed\n",
        Some(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(
        (status, report["inserted"].clone()),
        (200, json!(1)),
        "{report}"
    );
    let (_, listed) = app.get_json(&scenarios, Some(ADMIN_TOKEN)).await;
    assert_eq!(
        listed["scenarios"],
        json!([{"scenario_id": "home", "name": "Home feed"}])
    );
    app.cleanup().await;
}
