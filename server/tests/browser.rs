//! The dashboard in a real browser: server-rendered, hydrated by the wasm bundle, and the
//! charts drawn by ECharts from the app's own assets (the overview's trend and the live
//! view's minute chart).
//!
//! Needs the browser bundle laid out by `scripts/test` (`LEPTOS_SITE_ROOT`) and Chromium, so
//! it is ignored in a bare `cargo test`; `scripts/test` runs it with `--run-ignored all`.

mod support;

use recoscope_app::components::format;
use recoscope_core::{ActionType, Event, UnixMillis};
use support::dom::{chart_markup, dump_dom, sign_in_url};
use support::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the browser bundle and Chromium: run scripts/test"]
async fn the_dashboard_hydrates_and_draws_the_trend_chart() {
    let site = std::env::var("LEPTOS_SITE_ROOT").expect("LEPTOS_SITE_ROOT (set by scripts/test)");
    assert!(
        std::path::Path::new(&site)
            .join("pkg/recoscope_bg.wasm")
            .exists(),
        "no browser bundle in {site}"
    );
    let app = TestApp::start().await;

    app.feed(40, 40).await;

    // Signed in the way an operator is: a sign-in link (the key in the fragment), then the
    // page asked for.
    let (dom, console) = dump_dom(sign_in_link(&app, "/?hours=6")).await;

    // Server-rendered numbers are there...
    let impressions = format!("<div class=\"kpi-value\">{}</div>", format::count(35));
    assert!(
        dom.contains(&impressions),
        "impressions KPI missing:\n{dom}"
    );
    // ...the bundle hydrated without a panic...
    assert!(
        !console.contains("panicked at"),
        "the wasm bundle panicked:\n{console}"
    );
    // ...and ECharts drew into the chart container (it adds a canvas after hydration).
    let chart = chart_markup(&dom, "trend-chart");
    assert!(
        chart.contains("<canvas"),
        "no chart was drawn; chart markup:\n{chart}\nconsole:\n{console}"
    );
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the browser bundle and Chromium: run scripts/test"]
async fn the_live_view_hydrates_and_draws_the_minute_chart() {
    let app = TestApp::start().await;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let events: Vec<Event> = (0..30)
        .map(|i| {
            let action = [ActionType::Impression, ActionType::Click, ActionType::Order][i % 3];
            let mut e = Event::new(
                "home_feed",
                format!("u{i}"),
                format!("hot-{}", i % 4),
                action,
            )
            .unwrap();
            e.timestamp = UnixMillis::new(now_ms - i as i64 * 20_000).ok();
            e
        })
        .collect();
    assert_eq!(app.post_events(&events).await.status(), 200);
    // The real-time worker applies within a second or so; wait on the server function.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let live: serde_json::Value = app.server_fn("live", &[("top", "10".into())]).await;
        if live["totals"]["events"] == 30 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "live: {live}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    let (dom, console) = dump_dom(sign_in_link(&app, "/live")).await;
    assert!(
        !console.contains("panicked at"),
        "the wasm bundle panicked:\n{console}"
    );
    assert!(
        dom.contains("data-testid=\"hot-items\""),
        "no hot items:\n{dom}"
    );
    for item in ["hot-0", "hot-1", "hot-2", "hot-3"] {
        assert!(
            dom.contains(&format!("<span class=\"item-id\">{item}</span>")),
            "{item} missing"
        );
    }
    let chart = chart_markup(&dom, "live-chart");
    assert!(
        chart.contains("<canvas"),
        "no live chart was drawn; chart markup:\n{chart}\nconsole:\n{console}"
    );
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the browser bundle and Chromium: run scripts/test"]
async fn the_insights_page_hydrates_and_draws_every_chart() {
    let app = TestApp::start().await;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let events: Vec<Event> = (0..24)
        .map(|i| {
            let action = [ActionType::Impression, ActionType::Click, ActionType::Order][i % 3];
            let mut e = Event::new("home_feed", format!("u{}", i % 5), "i1", action).unwrap();
            e.timestamp = UnixMillis::new(now_ms - 120_000 + i as i64 * 1000).ok();
            e
        })
        .collect();
    assert_eq!(app.post_events(&events).await.status(), 200);
    assert_eq!(app.wait_for_rows(24).await, 24);

    let (dom, console) = dump_dom(sign_in_link(&app, "/insights?days=7")).await;
    assert!(
        !console.contains("panicked at"),
        "the wasm bundle panicked:\n{console}"
    );
    assert!(dom.contains("funnel-step"), "no funnel table:\n{dom}");
    // Every view draws its chart (the tables beside them are the accessible view).
    for id in [
        "daily-effect-chart",
        "funnel-chart",
        "device-chart",
        "position-chart",
        "top-items-chart",
    ] {
        let chart = chart_markup(&dom, id);
        assert!(
            chart.contains("<canvas"),
            "{id} was not drawn; chart markup:\n{chart}\nconsole:\n{console}"
        );
    }
    app.cleanup().await;
}

/// The sign-in link `recoscope keys read` prints, going on to `next`.
fn sign_in_link(app: &TestApp, next: &str) -> String {
    sign_in_url(&app.url(""), &app.read_key, next)
}

/// The overview set to refresh every 30 s reloads its numbers by itself: events that arrive
/// after the page was drawn show up without a reload, and the cards compare with the period
/// before and show the tenant's set-up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the browser bundle and Chromium: run scripts/test"]
async fn the_overview_refreshes_itself_at_the_chosen_interval() {
    let shop = support::shop::Shop::start().await;
    let app = &shop.app;
    app.feed(40, 40).await;

    let page = shop
        .browser
        .new_page(sign_in_url(
            &app.url(""),
            &app.read_key,
            "/?hours=6&refresh=30",
        ))
        .await
        .unwrap();
    // The text a script finds on the page (empty while it finds nothing).
    let text = async |script: &str| -> String {
        page.evaluate(script)
            .await
            .ok()
            .and_then(|v| v.into_value::<String>().ok())
            .unwrap_or_default()
    };
    let impressions = async || {
        text("(document.querySelector('.kpi .kpi-value') || {textContent: ''}).textContent").await
    };
    // 35 impressions among the 40 events, then 40 more events: 70.
    support::wait_until(
        30,
        async || match impressions().await.as_str() {
            "35" => Ok(()),
            other => Err(format!("impressions card: {other:?}")),
        },
        String::new,
    )
    .await;
    let select = text("document.querySelector('select[name=refresh]').value").await;
    assert_eq!(select, "30", "the choice is shown");
    let setup = text("document.querySelector('.kpis.setup').textContent").await;
    assert!(setup.contains("Active scenarios1"), "{setup}");
    assert!(setup.contains("Items in the catalog"), "{setup}");

    app.feed(40, 80).await;
    support::wait_until(
        45,
        async || match impressions().await.as_str() {
            "70" => Ok(()),
            other => Err(format!("impressions card after new events: {other:?}")),
        },
        String::new,
    )
    .await;
    page.close().await.unwrap();
    shop.finish().await;
}
