//! The live view end to end on the real stack: events through the API, the real-time worker
//! into Redis, the `live` server function and the `/live` page. Every number is compared with
//! what the events sent imply, computed here.

mod support;

use recoscope_analytics::live::Live;
use recoscope_core::{ActionType, Event, Label, UnixMillis};
use recoscope_workers::realtime::weight;
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};
use support::TestApp;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// 300 events over the last 20 minutes: two scenarios, 40 users, 12 items, every action.
fn events(now: i64) -> Vec<Event> {
    (0..300)
        .map(|i| {
            let scenario = if i % 4 == 0 { "search" } else { "home_feed" };
            let action = ActionType::ALL[(i * 7 + i / 3) % ActionType::ALL.len()];
            let mut e = Event::new(
                scenario,
                format!("user-{}", i % 40),
                format!("item-{}", (i * 5 + i / 7) % 12),
                action,
            )
            .unwrap();
            e.event_id = Label::new(format!("live-{i}")).ok();
            e.timestamp = UnixMillis::new(now - (i as i64 % 20) * 60_000).ok();
            e
        })
        .collect()
}

async fn live(app: &TestApp, scenario: Option<&str>, top: u32) -> Live {
    let mut form = vec![("top", top.to_string())];
    if let Some(s) = scenario {
        form.push(("scenario", s.to_string()));
    }
    app.server_fn("live", &form).await
}

/// What the live view must say about `events`: totals, distinct users, and each event's
/// weight and time (for the hot-item scores).
struct Expected {
    events: u64,
    impressions: u64,
    clicks: u64,
    orders: u64,
    users: usize,
    weights: Vec<(String, f64, i64)>,
}

impl Expected {
    /// Hot items at `at_ms`: every event's weight halved once per hour since it happened.
    fn hot_items(&self, at_ms: i64) -> Vec<(String, f64)> {
        let mut scores: BTreeMap<&str, f64> = BTreeMap::new();
        for (item, w, t) in &self.weights {
            *scores.entry(item).or_default() += w * 2f64.powf(-((at_ms - t) as f64) / 3.6e6);
        }
        let mut best: Vec<(String, f64)> = scores
            .into_iter()
            .map(|(i, s)| (i.to_string(), s))
            .collect();
        best.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        best
    }
}

fn expected<'a>(events: impl Iterator<Item = &'a Event>) -> Expected {
    let mut x = Expected {
        events: 0,
        impressions: 0,
        clicks: 0,
        orders: 0,
        users: 0,
        weights: Vec::new(),
    };
    let mut users = HashSet::new();
    for e in events {
        x.events += 1;
        match e.action_type {
            ActionType::Impression => x.impressions += 1,
            ActionType::Click => x.clicks += 1,
            ActionType::Order => x.orders += 1,
            _ => {}
        }
        users.insert(e.user_id.as_str().to_string());
        x.weights.push((
            e.item_id.as_str().to_string(),
            weight(e.action_type),
            e.timestamp.unwrap().get(),
        ));
    }
    x.users = users.len();
    x
}

/// Compares the live view with the expectation, the hot-item scores as of the view's own
/// `as_of` (half-life one hour, the default).
fn check(live: &Live, want: &Expected, events_by_minute: &BTreeMap<i64, u64>) {
    let totals = live.totals.as_ref().expect("there were events");
    assert_eq!(
        (
            totals.events,
            totals.impressions,
            totals.clicks,
            totals.conversions
        ),
        (want.events, want.impressions, want.clicks, want.orders)
    );
    // HyperLogLog: exact enough at this size to be within one.
    assert!(
        totals.active_users.abs_diff(want.users as u64) <= 1,
        "{} users, expected {}",
        totals.active_users,
        want.users
    );
    assert_eq!(live.minutes.len(), 60);
    let got: BTreeMap<i64, u64> = live
        .minutes
        .iter()
        .filter(|m| m.events > 0)
        .map(|m| (m.minute, m.events))
        .collect();
    assert_eq!(&got, events_by_minute);
    let best = want.hot_items(live.as_of);
    assert_eq!(live.hot_items.len(), 5);
    for (item, (want_item, want_score)) in live.hot_items.iter().zip(&best) {
        assert_eq!(&item.item_id, want_item, "{:?} vs {best:?}", live.hot_items);
        let error = (item.score - want_score).abs() / want_score;
        assert!(
            error < 1e-6,
            "{} scored {}, expected {want_score}",
            item.item_id,
            item.score
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_view_shows_the_last_hour_and_the_hot_items_now() {
    let app = TestApp::start().await;
    let now = now_ms();
    let events = events(now);
    for batch in events.chunks(100) {
        assert_eq!(app.post_events(batch).await.status(), 200);
    }

    // Within a few seconds the real-time worker has applied everything.
    let deadline = Instant::now() + Duration::from_secs(30);
    let all = loop {
        let all = live(&app, None, 5).await;
        if all.totals.as_ref().map(|t| t.events) == Some(events.len() as u64) {
            break all;
        }
        assert!(Instant::now() < deadline, "live view: {:?}", all.totals);
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let by_minute = |scenario: Option<&str>| {
        let mut m = BTreeMap::new();
        for e in events
            .iter()
            .filter(|e| scenario.is_none_or(|s| e.scenario_id == s))
        {
            *m.entry(e.timestamp.unwrap().get().div_euclid(60_000) * 60)
                .or_default() += 1;
        }
        m
    };
    check(&all, &expected(events.iter()), &by_minute(None));
    let ids: Vec<_> = all
        .scenarios
        .iter()
        .map(|s| (s.id.as_str(), s.has_data))
        .collect();
    assert_eq!(ids, [("home_feed", true), ("search", true)]);

    let search = live(&app, Some("search"), 5).await;
    check(
        &search,
        &expected(events.iter().filter(|e| e.scenario_id == "search")),
        &by_minute(Some("search")),
    );

    // A scenario with no events: an explicit empty state, not zeros posing as data.
    let none = live(&app, Some("nothing-here"), 5).await;
    assert!(none.totals.is_none() && none.hot_items.is_empty());

    // Bad requests are refused with a reason.
    let response = app
        .http
        .post(app.url("/api/live"))
        .bearer_auth(&app.read_key)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("top=0")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_server_error() || response.status().is_client_error());
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("top must be between"));

    // The page renders the same numbers on the server.
    let html = app.get_text("/live").await;
    assert!(html.contains("Hot items now"), "{html}");
    assert!(html.contains(&all.hot_items[0].item_id));
    assert!(html.contains("Last 60 minutes"));
    app.cleanup().await;
}
