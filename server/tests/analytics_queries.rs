//! The analytics queries on a deterministic generated dataset, each checked against numbers
//! computed here by plain Rust over the same events: daily trends in Europe/Berlin across the
//! end of daylight-saving time (a 25-hour day), hourly trends, the overview against its
//! previous period, distributions, the funnel with its conversion window, experiments, and
//! empty ranges.

mod support;

use chrono::TimeZone;
use chrono_tz::Europe::Berlin;
use recoscope_core::{ActionType, BehaviorRecord, Event, Label, UnixMillis};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use support::TestApp;

/// A small deterministic generator (xorshift64*), so the dataset is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// One generated event, as the test's own code sees it.
#[derive(Clone, Debug)]
struct Generated {
    user: String,
    scenario: &'static str,
    action: ActionType,
    /// Seconds since the epoch.
    at: i64,
    device: &'static str,
    position: Option<u32>,
    group: &'static str,
}

const DEVICES: [&str; 4] = ["mobile", "desktop", "tablet", ""];

/// Sessions of 80 users from 2026-10-23 20:00 UTC to 2026-10-27 04:00 UTC: each session an
/// impression, then maybe a click, a view, an add to cart and an order, each a few seconds to
/// 20 minutes after the step before (so some miss a 10-minute window). A user's events never
/// share a second.
fn dataset() -> Vec<Generated> {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let start = chrono::Utc
        .with_ymd_and_hms(2026, 10, 23, 20, 0, 0)
        .unwrap()
        .timestamp();
    let end = chrono::Utc
        .with_ymd_and_hms(2026, 10, 27, 4, 0, 0)
        .unwrap()
        .timestamp();
    let mut events = Vec::new();
    for u in 0..80 {
        let user = format!("user-{u}");
        let group = if u % 2 == 0 { "control" } else { "treatment" };
        let device = DEVICES[u % 4];
        let mut at = start + rng.below(3 * 3600) as i64;
        while at < end {
            let scenario = if rng.chance(70) { "home" } else { "search" };
            let position = (!rng.chance(10)).then(|| rng.below(8) as u32);
            let mut push = |action: ActionType, at: i64| {
                events.push(Generated {
                    user: user.clone(),
                    scenario,
                    action,
                    at,
                    device,
                    position,
                    group,
                })
            };
            push(ActionType::Impression, at);
            let click_rate = if group == "treatment" { 45 } else { 35 };
            for (action, percent) in [
                (ActionType::Click, click_rate),
                (ActionType::View, 70),
                (ActionType::AddCart, 50),
                (ActionType::Order, 60),
            ] {
                if !rng.chance(percent) {
                    break;
                }
                at += 5 + rng.below(1200) as i64;
                push(action, at);
            }
            at += 1800 + rng.below(5 * 3600) as i64;
        }
    }
    events
}

async fn load(app: &TestApp, events: &[Generated]) {
    let records = events
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let mut e = Event::new(
                g.scenario,
                g.user.as_str(),
                format!("item-{}", i % 13),
                g.action,
            )
            .unwrap();
            e.timestamp = UnixMillis::new(g.at * 1000).ok();
            e.position = g.position;
            e.experiment_id = Label::new("exp-1").ok();
            e.experiment_group = Label::new(g.group).ok();
            if !g.device.is_empty() {
                e.context = Some(recoscope_core::EventContext {
                    device_type: Label::new(g.device).ok(),
                    ..Default::default()
                });
            }
            BehaviorRecord::new(&app.tenant, e, g.at * 1000, || format!("ev-{i}"))
        })
        .collect();
    app.load_records(records).await;
}

/// `GET path` with the read key; must answer 200.
async fn get(app: &TestApp, path: &str) -> Value {
    let (status, body) = app.get_json(path, Some(&app.read_key)).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

/// Counts per action and distinct users of `events`.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Counts {
    events: u64,
    impressions: u64,
    clicks: u64,
    views: u64,
    add_carts: u64,
    orders: u64,
    users: u64,
}

fn counts<'a>(events: impl Iterator<Item = &'a Generated>) -> Counts {
    let mut c = Counts::default();
    let mut users = HashSet::new();
    for e in events {
        c.events += 1;
        match e.action {
            ActionType::Impression => c.impressions += 1,
            ActionType::Click => c.clicks += 1,
            ActionType::View => c.views += 1,
            ActionType::AddCart => c.add_carts += 1,
            ActionType::Order => c.orders += 1,
            _ => {}
        }
        users.insert(e.user.as_str());
    }
    c.users = users.len() as u64;
    c
}

/// Distinct users from the rollups are HyperLogLog estimates (`uniqHLL12`): exact up to 16
/// users, else within 3% here (its standard error is 1.6%; the data is fixed, so the
/// estimate is too). Adding up hours' users instead of merging them is far outside this.
fn assert_users(actual: u64, expected: u64, what: &str) {
    let tolerance = if expected <= 16 {
        0.0
    } else {
        (expected as f64 * 0.03).max(1.0)
    };
    assert!(
        (actual as f64 - expected as f64).abs() <= tolerance,
        "{what}: {actual} users, expected {expected} (±{tolerance})"
    );
}

/// Counts from the rollups: exact, and users within [`assert_users`]' bound.
fn assert_rollup_counts(actual: Counts, expected: Counts, what: &str) {
    assert_users(actual.users, expected.users, what);
    assert_eq!(
        Counts { users: 0, ..actual },
        Counts {
            users: 0,
            ..expected
        },
        "{what}"
    );
}

fn bucket_counts(b: &Value) -> Counts {
    let n = |k: &str| b[k].as_u64().unwrap();
    Counts {
        events: n("events"),
        impressions: n("impressions"),
        clicks: n("clicks"),
        views: n("views"),
        add_carts: n("add_carts"),
        orders: n("orders"),
        users: n("active_users"),
    }
}

/// The furthest funnel step (1-5) each user reached in order within `window` seconds of an
/// impression; written from the definition, not from ClickHouse's algorithm: for every
/// impression, follow the steps in time order up to `window` seconds later.
fn funnel_levels(events: &[&Generated], window: i64) -> HashMap<String, usize> {
    let step = |a: ActionType| match a {
        ActionType::Impression => 0,
        ActionType::Click => 1,
        ActionType::View => 2,
        ActionType::AddCart => 3,
        ActionType::Order => 4,
        _ => usize::MAX,
    };
    let mut by_user: BTreeMap<&str, Vec<(i64, usize)>> = BTreeMap::new();
    for e in events {
        by_user
            .entry(e.user.as_str())
            .or_default()
            .push((e.at, step(e.action)));
    }
    let mut levels = HashMap::new();
    for (user, mut list) in by_user {
        list.sort();
        let mut best = 0;
        for (i, &(start, s)) in list.iter().enumerate() {
            if s != 0 {
                continue;
            }
            let mut next = 1;
            for &(at, s) in &list[i + 1..] {
                if at > start + window {
                    break;
                }
                if s == next {
                    next += 1;
                }
            }
            best = best.max(next);
        }
        if best > 0 {
            levels.insert(user.to_string(), best);
        }
    }
    levels
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_query_agrees_with_plain_rust_over_the_same_events() {
    let app = TestApp::start().await;
    let events = dataset();
    assert!(
        events.len() > 500,
        "a dataset worth testing: {}",
        events.len()
    );
    load(&app, &events).await;
    assert_eq!(app.event_counts().await.unwrap().rows, events.len() as u64);

    // Daily trend in Berlin over 24-26 October: the 25th has 25 hours.
    let day = |d: u32| {
        Berlin
            .with_ymd_and_hms(2026, 10, d, 0, 0, 0)
            .single()
            .unwrap()
            .timestamp()
    };
    let (from, to) = (day(24), day(27));
    let trend = get(
        &app,
        &format!("/api/v1/analytics/trends?from={from}&to={to}&granularity=day&tz=Europe/Berlin"),
    )
    .await;
    let buckets = trend["buckets"].as_array().unwrap();
    let labels: Vec<&str> = buckets
        .iter()
        .map(|b| b["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["2026-10-24", "2026-10-25", "2026-10-26"]);
    assert_eq!(
        buckets[2]["start"].as_i64().unwrap() - buckets[1]["start"].as_i64().unwrap(),
        25 * 3600
    );
    for (b, d) in buckets.iter().zip([24, 25, 26]) {
        let expected = counts(
            events
                .iter()
                .filter(|e| e.at >= day(d) && e.at < day(d + 1)),
        );
        assert_rollup_counts(bucket_counts(b), expected, b["label"].as_str().unwrap());
        let ctr = expected.clicks as f64 / expected.impressions as f64;
        assert!((b["ctr"].as_f64().unwrap() - ctr).abs() < 1e-12);
    }

    // UTC days come whole from the daily rollup (local days are made of hours).
    let utc_days = get(
        &app,
        &format!("/api/v1/analytics/trends?from={from}&to={to}&granularity=day&tz=UTC"),
    )
    .await;
    let utc_buckets = utc_days["buckets"].as_array().unwrap();
    assert!(!utc_buckets.is_empty());
    for b in utc_buckets {
        let start = b["start"].as_i64().unwrap();
        let expected = counts(
            events
                .iter()
                .filter(|e| e.at >= start && e.at < start + 86_400),
        );
        assert_rollup_counts(bucket_counts(b), expected, b["label"].as_str().unwrap());
    }

    // Hourly trend in UTC over six hours across the change (01:00 UTC on the 25th).
    let h0 = chrono::Utc
        .with_ymd_and_hms(2026, 10, 24, 22, 0, 0)
        .unwrap()
        .timestamp();
    let hourly = get(
        &app,
        &format!(
            "/api/v1/analytics/trends?from={h0}&to={}&granularity=hour",
            h0 + 6 * 3600
        ),
    )
    .await;
    let hours = hourly["buckets"].as_array().unwrap();
    assert_eq!(hours.len(), 6);
    for (i, b) in hours.iter().enumerate() {
        let start = h0 + i as i64 * 3600;
        let expected = counts(
            events
                .iter()
                .filter(|e| e.at >= start && e.at < start + 3600),
        );
        assert_rollup_counts(bucket_counts(b), expected, &format!("hour {i}"));
        if expected.impressions == 0 {
            assert_eq!(b["ctr"], Value::Null, "no impressions: no CTR, not 0%");
        }
    }

    // The overview of the 26th (UTC) against the 25th.
    let utc_day = |d: u32| {
        chrono::Utc
            .with_ymd_and_hms(2026, 10, d, 0, 0, 0)
            .unwrap()
            .timestamp()
    };
    let overview = get(
        &app,
        &format!("/api/v1/analytics/overview?hours=24&until={}", utc_day(27)),
    )
    .await;
    for (kpis, d) in [(&overview["kpis"], 26), (&overview["previous"], 25)] {
        let expected = counts(
            events
                .iter()
                .filter(|e| e.at >= utc_day(d) && e.at < utc_day(d + 1)),
        );
        assert_eq!(kpis["impressions"].as_u64().unwrap(), expected.impressions);
        assert_eq!(kpis["conversions"].as_u64().unwrap(), expected.orders);
        assert_users(
            kpis["active_users"].as_u64().unwrap(),
            expected.users,
            &format!("overview of day {d}"),
        );
    }

    // Eight days to 27 October 03:00 UTC: whole days come from the daily rollup, the partial
    // first and last days from the hourly one, and the trend is drawn day by day.
    let until = utc_day(27) + 3 * 3600;
    let long = get(
        &app,
        &format!("/api/v1/analytics/overview?hours=192&until={until}"),
    )
    .await;
    assert_eq!(long["bucket_secs"], 86_400);
    let in_range = |e: &&Generated| e.at >= until - 192 * 3600 && e.at < until;
    let expected = counts(events.iter().filter(in_range));
    assert_eq!(
        long["kpis"]["impressions"].as_u64().unwrap(),
        expected.impressions
    );
    assert_eq!(long["kpis"]["events"].as_u64().unwrap(), expected.events);
    assert_users(
        long["kpis"]["active_users"].as_u64().unwrap(),
        expected.users,
        "8-day overview",
    );
    for point in long["trend"].as_array().unwrap() {
        let day = point["hour"].as_i64().unwrap();
        let expected = counts(
            events
                .iter()
                .filter(in_range)
                .filter(|e| e.at >= day && e.at < day + 86_400),
        );
        assert_eq!(
            point["impressions"].as_u64().unwrap(),
            expected.impressions,
            "day {day}"
        );
        assert_users(
            point["active_users"].as_u64().unwrap(),
            expected.users,
            &format!("day {day}"),
        );
    }

    // Top items by clicks over the whole dataset (ties by id), from the daily item rollup.
    let top = get(
        &app,
        &format!(
            "/api/v1/analytics/top_items?from={}&to={}&limit=5",
            utc_day(23),
            utc_day(28)
        ),
    )
    .await;
    let mut per_item: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (i, e) in events.iter().enumerate() {
        let entry = per_item.entry(format!("item-{}", i % 13)).or_default();
        match e.action {
            ActionType::Click => entry.0 += 1,
            ActionType::Impression => entry.1 += 1,
            _ => {}
        }
    }
    let mut ranked: Vec<(String, (u64, u64))> = per_item.into_iter().collect();
    ranked.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(&b.0)));
    let got: Vec<(String, u64, u64)> = top["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["item_id"].as_str().unwrap().to_string(),
                i["clicks"].as_u64().unwrap(),
                i["impressions"].as_u64().unwrap(),
            )
        })
        .collect();
    let want: Vec<(String, u64, u64)> = ranked
        .into_iter()
        .take(5)
        .map(|(id, (clicks, impressions))| (id, clicks, impressions))
        .collect();
    assert_eq!(got, want);

    // Distributions over the whole dataset.
    let (all_from, all_to) = (utc_day(23), utc_day(28));
    let devices = get(
        &app,
        &format!("/api/v1/analytics/distribution?dimension=device&from={all_from}&to={all_to}"),
    )
    .await;
    let rows = devices["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    for row in rows {
        let value = row["value"].as_str().unwrap();
        let expected = counts(events.iter().filter(|e| e.device == value));
        assert_eq!(
            row["events"].as_u64().unwrap(),
            expected.events,
            "{value:?}"
        );
        assert_eq!(
            row["clicks"].as_u64().unwrap(),
            expected.clicks,
            "{value:?}"
        );
        assert_users(row["users"].as_u64().unwrap(), expected.users, value);
    }
    // A range of partial days (20:00 on the 23rd to 03:00 on the 26th): whole days from the
    // daily states, the hours around them from the hourly ones.
    let (part_from, part_to) = (utc_day(23) + 20 * 3600, utc_day(26) + 3 * 3600);
    let partial = get(
        &app,
        &format!("/api/v1/analytics/distribution?dimension=device&from={part_from}&to={part_to}"),
    )
    .await;
    assert_eq!(partial["rows"].as_array().unwrap().len(), 4, "{partial}");
    for row in partial["rows"].as_array().unwrap() {
        let value = row["value"].as_str().unwrap();
        let expected = counts(
            events
                .iter()
                .filter(|e| e.device == value && e.at >= part_from && e.at < part_to),
        );
        assert_rollup_counts(
            Counts {
                events: row["events"].as_u64().unwrap(),
                impressions: row["impressions"].as_u64().unwrap(),
                clicks: row["clicks"].as_u64().unwrap(),
                orders: row["orders"].as_u64().unwrap(),
                users: row["users"].as_u64().unwrap(),
                ..expected
            },
            expected,
            value,
        );
    }
    let positions = get(
        &app,
        &format!("/api/v1/analytics/distribution?dimension=position&from={all_from}&to={all_to}"),
    )
    .await;
    let values: Vec<&str> = positions["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["0", "1", "2", "3", "4", "5", "6", "7", ""]);
    for row in positions["rows"].as_array().unwrap() {
        let value = row["value"].as_str().unwrap();
        let expected = counts(
            events
                .iter()
                .filter(|e| e.position.map(|p| p.to_string()).unwrap_or_default() == value),
        );
        assert_eq!(row["impressions"].as_u64().unwrap(), expected.impressions);
    }

    // The funnel with a 10-minute window, and with a day (fewer users drop out).
    for window in [600, 86_400] {
        let funnel = get(
            &app,
            &format!("/api/v1/analytics/funnel?from={all_from}&to={all_to}&window_secs={window}"),
        )
        .await;
        let all: Vec<&Generated> = events.iter().collect();
        let levels = funnel_levels(&all, window);
        let steps = funnel["steps"].as_array().unwrap();
        assert_eq!(steps.len(), 5);
        for (i, step) in steps.iter().enumerate() {
            let expected = levels.values().filter(|l| **l > i).count() as u64;
            assert_eq!(
                step["users"].as_u64().unwrap(),
                expected,
                "window {window}, step {}",
                step["action"]
            );
        }
    }

    // Experiments: counts per group, and the z statistic from the textbook formula.
    let experiments = get(
        &app,
        &format!("/api/v1/analytics/experiments?from={all_from}&to={all_to}"),
    )
    .await;
    let experiment = &experiments["experiments"][0];
    assert_eq!(experiment["experiment_id"], "exp-1");
    assert_eq!(experiment["control"], "control");
    let mut by_group = HashMap::new();
    for g in experiment["groups"].as_array().unwrap() {
        let name = g["group"].as_str().unwrap();
        let expected = counts(events.iter().filter(|e| e.group == name));
        assert_eq!(g["impressions"].as_u64().unwrap(), expected.impressions);
        assert_eq!(g["clicks"].as_u64().unwrap(), expected.clicks);
        assert_eq!(g["orders"].as_u64().unwrap(), expected.orders);
        assert_users(g["users"].as_u64().unwrap(), expected.users, name);
        by_group.insert(
            name.to_string(),
            (expected.clicks as f64, expected.impressions as f64),
        );
    }
    let ((x1, n1), (x0, n0)) = (by_group["treatment"], by_group["control"]);
    let pooled = (x1 + x0) / (n1 + n0);
    let z = (x1 / n1 - x0 / n0) / (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n0)).sqrt();
    let treatment = experiment["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == "treatment")
        .unwrap();
    assert!((treatment["ctr_vs_control"]["z"].as_f64().unwrap() - z).abs() < 1e-9);

    // Empty ranges say "no data" rather than zeros.
    let (e_from, e_to) = (utc_day(10), utc_day(12));
    let range = format!("from={e_from}&to={e_to}");
    for (view, extra, list) in [
        ("trends", "&granularity=day&tz=Europe/Berlin", "buckets"),
        ("funnel", "&window_secs=600", "steps"),
        ("distribution", "&dimension=os", "rows"),
        ("top_items", "", "items"),
        ("experiments", "", "experiments"),
    ] {
        let answer = get(&app, &format!("/api/v1/analytics/{view}?{range}{extra}")).await;
        assert_eq!(answer[list], serde_json::json!([]), "{view}: {answer}");
    }
    app.cleanup().await;
}

/// The funnel over a range with more events than its budget reads a sample of users: the
/// answer says what share, scales the counts up and states their error, and the counts of
/// every user (plain Rust over the same events) fall within it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_funnel_beyond_its_budget_is_estimated_from_a_sample_of_users_within_its_error() {
    use recoscope_analytics::funnel::{buckets_to_read, sampled_funnel, Funnel, SAMPLE_BUCKETS};

    let budget = 2_000;
    let app = TestApp::start_with(|c| c.analytics.funnel_sample_events = budget).await;
    let mut rng = Rng(0x5eed_f00d_0000_0017);
    let start = chrono::Utc
        .with_ymd_and_hms(2026, 11, 2, 8, 0, 0)
        .unwrap()
        .timestamp();
    // 3,000 users, one session each: an impression, then each next step with a chance.
    let mut events = Vec::new();
    for u in 0..3000 {
        let user = format!("sampled-{u}");
        let mut at = start + rng.below(6 * 3600) as i64;
        let mut push = |action, at| {
            events.push(Generated {
                user: user.clone(),
                scenario: "home",
                action,
                at,
                device: "",
                position: Some(0),
                group: "control",
            })
        };
        push(ActionType::Impression, at);
        for (action, percent) in [
            (ActionType::Click, 40),
            (ActionType::View, 70),
            (ActionType::AddCart, 40),
            (ActionType::Order, 50),
        ] {
            if !rng.chance(percent) {
                break;
            }
            at += 5 + rng.below(300) as i64;
            push(action, at);
        }
    }
    load(&app, &events).await;
    let (from, to) = (start, start + 8 * 3600);
    let window = 3600;
    let all: Vec<&Generated> = events.iter().collect();
    let levels = funnel_levels(&all, window);
    let truth: Vec<u64> = (0..5)
        .map(|i| levels.values().filter(|l| **l > i).count() as u64)
        .collect();

    // The API (and the page) sample with the configured budget.
    let funnel: Funnel = serde_json::from_value(
        get(
            &app,
            &format!("/api/v1/analytics/funnel?from={from}&to={to}&window_secs={window}"),
        )
        .await,
    )
    .unwrap();
    let sample = funnel.sample.clone().expect("beyond the budget: sampled");
    let buckets = buckets_to_read(events.len() as u64, budget);
    assert_eq!(sample.fraction, buckets as f64 / SAMPLE_BUCKETS as f64);
    // About budget / events of the users (buckets are whole 1,024ths).
    let share = budget as f64 / events.len() as f64;
    assert!(
        sample.fraction >= share && sample.fraction - share <= 1.0 / 1024.0,
        "{sample:?}, {share}"
    );
    assert!(
        sample.users < truth[0] / 2,
        "a sample, not everyone: {sample:?}"
    );
    // Each count within the stated 95% margin, widened to 99% (z 2.58 / 1.96): the data is
    // fixed, so this is not a coin toss from run to run.
    for (step, expected) in funnel.steps.iter().zip(&truth) {
        let error = (step.users as f64 - *expected as f64).abs() / *expected as f64;
        assert!(
            error
                <= sample.users_margin * 2.58 / 1.96 * (truth[0] as f64 / *expected as f64).sqrt(),
            "{}: estimated {}, every user says {expected} ({sample:?})",
            step.action,
            step.users
        );
    }
    // The rates' intervals hold every user's rate.
    for (i, step) in funnel.steps.iter().enumerate().skip(1) {
        let rate = truth[i] as f64 / truth[0] as f64;
        let interval = step.from_first_interval.expect("sampled: an interval");
        assert!(
            interval.low <= rate && rate <= interval.high,
            "{}: {rate} outside {interval:?}",
            step.action
        );
    }
    // With a budget above the range's events, every user is read: exact, no intervals.
    let exact = sampled_funnel(
        &app.analytics_db(),
        &app.tenant,
        None,
        from,
        to,
        window as u32,
        events.len() as u64,
    )
    .await
    .unwrap();
    assert!(exact.sample.is_none());
    let counted: Vec<u64> = exact.steps.iter().map(|s| s.users).collect();
    assert_eq!(counted, truth);

    // The insights page says the funnel is an estimate, and of what.
    let html = app
        .get_text("/insights?from=2026-11-02&to=2026-11-02&tz=UTC")
        .await;
    assert!(html.contains("class=\"muted funnel-sample\""), "{html}");
    assert!(html.contains("Estimated from a random"), "{html}");
    assert!(html.contains("≈ "), "{html}");
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_parameters_get_400_with_the_reason() {
    let app = TestApp::start().await;
    for (path, reason) in [
        (
            "/api/v1/analytics/trends?from=0&to=100&granularity=day&tz=Mars/Olympus",
            "unknown time zone",
        ),
        (
            "/api/v1/analytics/trends?from=100&to=0&granularity=day",
            "to must be after from",
        ),
        (
            "/api/v1/analytics/trends?from=0&to=86400000&granularity=hour",
            "spans at most",
        ),
        (
            "/api/v1/analytics/funnel?from=0&to=100&window_secs=0",
            "window_secs must be between",
        ),
        (
            "/api/v1/analytics/distribution?dimension=device&from=0&to=99999999",
            "spans at most 400 days",
        ),
        (
            "/api/v1/analytics/funnel?from=0&to=99999999&window_secs=60",
            "spans at most 91 days",
        ),
    ] {
        let (status, body) = app.get_json(path, Some(&app.read_key)).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(reason),
            "{path}: {body}"
        );
    }
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_insights_page_renders_every_section_from_the_queries() {
    let app = TestApp::start().await;
    let now_ms = chrono::Utc::now().timestamp_millis();
    let mut events = Vec::new();
    for u in 0..6 {
        let group = if u % 2 == 0 { "control" } else { "treatment" };
        for (i, action) in [ActionType::Impression, ActionType::Click, ActionType::View]
            .into_iter()
            .enumerate()
        {
            if u % 3 == 2 && action != ActionType::Impression {
                continue;
            }
            let mut e = Event::new("home", format!("u{u}"), "item-1", action).unwrap();
            e.timestamp = UnixMillis::new(now_ms - 600_000 + i as i64 * 10_000).ok();
            e.position = Some(u as u32 % 3);
            e.experiment_id = Label::new("exp-page").ok();
            e.experiment_group = Label::new(group).ok();
            e.context = Some(recoscope_core::EventContext {
                device_type: Label::new("tablet").ok(),
                ..Default::default()
            });
            events.push(e);
        }
    }
    assert_eq!(app.post_events(&events).await.status(), 200);
    assert_eq!(
        app.wait_for_rows(events.len() as u64).await,
        events.len() as u64
    );

    let html = app.get_text("/insights?days=7&tz=Europe/Berlin").await;
    for section in [
        "daily-effect",
        "funnel",
        "by-device",
        "by-position",
        "experiments",
    ] {
        assert!(
            html.contains(&format!("data-testid=\"{section}\"")),
            "{section}"
        );
    }
    // 6 users saw an impression, 4 clicked and viewed: the funnel and the tables say so.
    assert!(html.contains("<td>impression</td>"), "{html}");
    assert!(html.contains("tablet"), "{html}");
    assert!(html.contains("exp-page"), "{html}");
    assert!(
        html.contains("<span class=\"item-id\">item-1</span>"),
        "the top item is listed: {html}"
    );
    // Every view has its chart beside its table.
    for chart in [
        "daily-effect-chart",
        "funnel-chart",
        "device-chart",
        "position-chart",
        "top-items-chart",
    ] {
        assert!(html.contains(&format!("id=\"{chart}\"")), "{chart}");
    }
    assert!(!html.contains("Could not load"), "{html}");

    // Each table's CSV holds the table: the same rows and cells, counts without grouping
    // commas, rates without the % sign, an undefined rate empty.
    for (section, file) in [
        ("daily-effect", "effect-per-day.csv"),
        ("funnel", "funnel.csv"),
        ("by-device", "by-device.csv"),
        ("by-position", "by-position.csv"),
        ("top-items", "top-items.csv"),
        ("experiments", "experiment-exp-page.csv"),
    ] {
        let part = streamed_part(&html, file);
        let csv = csv_download(part, file);
        let mut lines = csv.split("\r\n").filter(|l| !l.is_empty());
        let header = lines.next().unwrap();
        let rows: Vec<Vec<String>> = lines
            .map(|l| l.split(',').map(str::to_string).collect())
            .collect();
        let table: Vec<Vec<String>> = table_rows(part)
            .into_iter()
            .map(|cells| cells.into_iter().map(|c| as_csv(&c)).collect())
            .collect();
        assert!(!rows.is_empty(), "{section}: an empty CSV");
        assert_eq!(rows.len(), table.len(), "{section}: {csv}");
        for (row, cells) in rows.iter().zip(&table) {
            // The experiments' CSV splits the interval and the comparison into fields of
            // their own: compare the columns both have.
            if section == "experiments" {
                assert_eq!(row[0], cells[0], "{section}");
                assert_eq!(row[1], cells[1], "{section}");
                assert_eq!(row[2], cells[2], "{section}");
                assert_eq!(row[8..], cells[5..], "{section}");
            } else if section == "funnel" {
                // The CSV adds the rate's interval and the share sampled.
                assert_eq!(row[..4], cells[..], "{section}");
                assert_eq!(row[6], "100.00", "{section}: every user");
            } else if section == "top-items" {
                // The table shows the item by name (or id): the CSV has both.
                assert_eq!(row[0], cells[0], "{section}");
                assert!(cells[1].contains(&row[1]), "{section}: {row:?} {cells:?}");
                assert_eq!(row[3..], cells[2..], "{section}");
            } else {
                assert_eq!(row, cells, "{section} ({header})");
            }
        }
    }

    // A custom date range: whole days of the chosen zone, both included. Yesterday and
    // today hold the events; a week in 2020 holds none; a range that ends before it starts
    // is refused with a reason.
    let today = chrono::Utc::now().date_naive();
    let yesterday = today.pred_opt().unwrap();
    let html = app
        .get_text(&format!("/insights?from={yesterday}&to={today}&tz=UTC"))
        .await;
    assert!(
        html.contains(&format!("{yesterday} → {today} (UTC)")),
        "the range is shown: {html}"
    );
    assert!(html.contains(&format!("value=\"{yesterday}\"")), "{html}");
    assert!(html.contains("<td>impression</td>"), "{html}");
    assert!(!html.contains("Could not load"), "{html}");
    let (from, to): (i64, i64) = app
        .server_fn(
            "day_range",
            &[
                ("first", yesterday.to_string()),
                ("last", today.to_string()),
                ("tz", "Asia/Shanghai".into()),
            ],
        )
        .await;
    assert_eq!(to - from, 2 * 86_400);
    assert_eq!(
        from,
        yesterday
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp()
            - 8 * 3600
    );
    let html = app
        .get_text("/insights?from=2020-03-01&to=2020-03-07&tz=UTC")
        .await;
    // (Without the hydration markers between a text's parts.)
    assert!(
        html.replace("<!>", "").contains("No events in this range."),
        "{html}"
    );
    let html = app
        .get_text("/insights?from=2020-03-07&to=2020-03-01&tz=UTC")
        .await;
    assert!(html.contains("the last date is before the first"), "{html}");
    app.cleanup().await;
}

/// The part of the streamed page that holds the link to `file`: sections load on their own,
/// so each arrives as a `<template>` after the page's frame.
fn streamed_part<'a>(html: &'a str, file: &str) -> &'a str {
    let link = html
        .find(&format!("download=\"{file}\""))
        .unwrap_or_else(|| panic!("no link to {file}"));
    let start = html[..link].rfind("<template").unwrap_or(0);
    let end = link
        + html[link..]
            .find("</template>")
            .unwrap_or(html.len() - link);
    &html[start..end]
}

/// The decoded file behind the `download="{file}"` link in `html`.
fn csv_download(html: &str, file: &str) -> String {
    let link = html
        .split("<a ")
        .find(|a| a.contains(&format!("download=\"{file}\"")))
        .unwrap_or_else(|| panic!("no link to {file}"));
    let href = link
        .split("href=\"data:text/csv;charset=utf-8,")
        .nth(1)
        .and_then(|h| h.split('"').next())
        .expect("a data: URL");
    let bytes = href.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&href[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// The text of each cell of each body row of the tables in `html`.
fn table_rows(html: &str) -> Vec<Vec<String>> {
    html.split("<tbody>")
        .skip(1)
        .flat_map(|body| {
            let body = &body[..body.find("</tbody>").unwrap()];
            body.split("<tr").skip(1).map(|row| {
                row.split("<td")
                    .skip(1)
                    .map(|cell| {
                        let cell = &cell[cell.find('>').unwrap() + 1..];
                        let cell = &cell[..cell.find("</td>").unwrap()];
                        strip_tags(cell).trim().to_string()
                    })
                    .collect()
            })
        })
        .collect()
}

fn strip_tags(html: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.replace("&amp;", "&")
}

/// A table cell as the CSV writes it: `1,234` → `1234`, `5.12%` → `5.12`, `—` → empty.
fn as_csv(cell: &str) -> String {
    if cell == "—" {
        return String::new();
    }
    let number = cell.trim_end_matches('%').replace(',', "");
    if number.parse::<f64>().is_ok() {
        number
    } else {
        cell.to_string()
    }
}
