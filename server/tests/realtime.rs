//! Real-time state in Redis on the real stack: last-hour counters, active users and hot items
//! agree with the events sent (expected values computed here), keys expire, and a batch
//! applied twice counts once.

mod support;

use recoscope_core::realtime::Keys;
use recoscope_core::{ActionType, BehaviorRecord, Event, Label, UnixMillis};
use recoscope_server::roles::Roles;
use recoscope_workers::batch::Source;
use recoscope_workers::realtime::{weight, RealtimeWriter};
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};
use support::posting::{send, Client};
use support::processes::RecoscopeProcess;
use support::TestApp;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// (item, action, user) for one scenario, a few seconds apart.
fn plan() -> Vec<(&'static str, ActionType, &'static str)> {
    let mut plan = Vec::new();
    for user in ["ann", "bob", "cat", "dan", "eve"] {
        plan.push(("item-a", ActionType::Impression, user));
    }
    plan.push(("item-b", ActionType::Impression, "ann"));
    plan.push(("item-b", ActionType::Impression, "bob"));
    plan.push(("item-b", ActionType::Order, "bob"));
    plan.push(("item-c", ActionType::Click, "cat"));
    plan
}

fn events(plan: &[(&str, ActionType, &str)], at: i64) -> Vec<Event> {
    plan.iter()
        .enumerate()
        .map(|(i, (item, action, user))| {
            let mut e = Event::new("home", *user, *item, *action).unwrap();
            e.event_id = Label::new(format!("rt-{i}")).ok();
            e.timestamp = UnixMillis::new(at - i as i64 * 1000).ok();
            e
        })
        .collect()
}

#[derive(Debug, Default, PartialEq)]
struct Minute {
    events: i64,
    impressions: i64,
    clicks: i64,
    orders: i64,
}

async fn minutes(
    app: &TestApp,
    keys: &Keys,
    tenant: &str,
    minutes: &[i64],
) -> BTreeMap<i64, Minute> {
    let mut redis = app.redis().await;
    let mut out = BTreeMap::new();
    for minute in minutes {
        let fields: BTreeMap<String, i64> = redis::cmd("HGETALL")
            .arg(keys.minute(tenant, "home", *minute))
            .query_async(&mut redis)
            .await
            .unwrap();
        let get = |f: &str| fields.get(f).copied().unwrap_or(0);
        out.insert(
            *minute,
            Minute {
                events: get("events"),
                impressions: get("impressions"),
                clicks: get("clicks"),
                orders: get("orders"),
            },
        );
    }
    out
}

fn expected_minutes(plan: &[(&str, ActionType, &str)], at: i64) -> BTreeMap<i64, Minute> {
    let mut out: BTreeMap<i64, Minute> = BTreeMap::new();
    for (i, (_, action, _)) in plan.iter().enumerate() {
        let minute = (at - i as i64 * 1000) / 60_000 * 60;
        let m = out.entry(minute).or_default();
        m.events += 1;
        match action {
            ActionType::Impression => m.impressions += 1,
            ActionType::Click => m.clicks += 1,
            ActionType::Order => m.orders += 1,
            _ => {}
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_hour_counters_users_and_hot_items_follow_the_events() {
    let app = TestApp::start().await;
    let keys = Keys {
        prefix: app.config.redis.key_prefix.clone(),
    };
    let at = now_ms();
    let plan = plan();
    assert_eq!(app.post_events(&events(&plan, at)).await.status(), 200);

    let expected = expected_minutes(&plan, at);
    let wanted: Vec<i64> = expected.keys().copied().collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = minutes(&app, &keys, &app.tenant, &wanted).await;
        if got == expected {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "got {got:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut redis = app.redis().await;
    let user_keys: Vec<String> = wanted
        .iter()
        .map(|m| keys.minute_users(&app.tenant, "home", *m))
        .collect();
    let users: u64 = redis::cmd("PFCOUNT")
        .arg(&user_keys)
        .query_async(&mut redis)
        .await
        .unwrap();
    let distinct: HashSet<&str> = plan.iter().map(|(_, _, u)| *u).collect();
    assert_eq!(users as usize, distinct.len());

    // Hot items: order by summed weights; today's scores within the decay of a minute.
    let hot_key = keys.hot_items(&app.tenant, "home");
    let ranked: Vec<(String, f64)> = redis::cmd("ZREVRANGE")
        .arg(&hot_key)
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query_async(&mut redis)
        .await
        .unwrap();
    let epoch: i64 = redis::cmd("GET")
        .arg(keys.hot_epoch(&app.tenant, "home"))
        .query_async(&mut redis)
        .await
        .unwrap();
    let mut expected_scores: BTreeMap<&str, f64> = BTreeMap::new();
    for (item, action, _) in &plan {
        *expected_scores.entry(item).or_default() += weight(*action);
    }
    let decay_now = 2f64.powf(-((now_ms() - epoch) as f64) / 3_600_000.0);
    let names: Vec<&str> = ranked.iter().map(|(i, _)| i.as_str()).collect();
    assert_eq!(names, ["item-b", "item-a", "item-c"]);
    for (item, score) in &ranked {
        let want = expected_scores[item.as_str()];
        let today = score * decay_now;
        assert!(
            today <= want * 1.001 && today >= want * 0.98,
            "{item}: {today} vs {want}"
        );
    }

    // Every key expires: hot items after the configured TTL, minutes after two hours.
    let ttl = |key: String| {
        let mut redis = redis.clone();
        async move {
            redis::cmd("PTTL")
                .arg(key)
                .query_async::<i64>(&mut redis)
                .await
                .unwrap()
        }
    };
    let hot_ttl = ttl(hot_key).await;
    assert!(
        hot_ttl > 0 && hot_ttl <= app.config.realtime.hot_ttl_secs as i64 * 1000,
        "{hot_ttl}"
    );
    for minute in &wanted {
        let t = ttl(keys.minute(&app.tenant, "home", *minute)).await;
        assert!(t > 0 && t <= 2 * 3600 * 1000, "{t}");
    }
    app.cleanup().await;
}

/// The real-time writer on `app`'s Redis.
async fn writer(app: &TestApp) -> RealtimeWriter {
    RealtimeWriter::connect(
        &app.config.redis,
        &app.config.realtime,
        &tokio_util::sync::CancellationToken::new(),
    )
    .await
    .unwrap()
    .expect("connected")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_applied_twice_counts_once() {
    let app = TestApp::start().await;
    let writer = writer(&app).await;
    let keys = Keys {
        prefix: app.config.redis.key_prefix.clone(),
    };
    let at = now_ms();
    let plan = plan();
    let tenant = "replayed";
    let batch: Vec<(Source, Option<BehaviorRecord>)> = events(&plan, at)
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let source = Source {
                topic: "replay-topic".into(),
                partition: 0,
                offset: i as i64,
            };
            (
                source,
                Some(BehaviorRecord::new(tenant, e, at, || unreachable!())),
            )
        })
        .collect();

    // The first half, then everything (a redelivery after a crash), then everything again.
    writer.apply(&batch[..4]).await.unwrap();
    writer.apply(&batch).await.unwrap();
    writer.apply(&batch).await.unwrap();

    let expected = expected_minutes(&plan, at);
    let wanted: Vec<i64> = expected.keys().copied().collect();
    assert_eq!(minutes(&app, &keys, tenant, &wanted).await, expected);
    app.cleanup().await;
}

/// What the live view reads for `tenant`'s scenario `home`: the minutes with events.
async fn live_minutes(app: &TestApp, tenant: &str) -> BTreeMap<i64, Minute> {
    let (live, _) = app
        .analytics_db()
        .live
        .read(tenant, Some("home"), 5, now_ms())
        .await
        .expect("the live view reads");
    live.minutes
        .into_iter()
        .filter(|m| m.events > 0)
        .map(|m| {
            (
                m.minute,
                Minute {
                    events: m.events as i64,
                    impressions: m.impressions as i64,
                    clicks: m.clicks as i64,
                    orders: m.conversions as i64,
                },
            )
        })
        .collect()
}

/// The plan's events for each of `tenants`, interleaved over two partitions of one topic.
fn several_tenants(tenants: &[String], at: i64) -> Vec<(Source, Option<BehaviorRecord>)> {
    let plan = plan();
    let per_tenant: Vec<Vec<Event>> = tenants.iter().map(|_| events(&plan, at)).collect();
    let mut batch = Vec::new();
    for i in 0..plan.len() {
        for (k, (tenant, events)) in tenants.iter().zip(&per_tenant).enumerate() {
            let offset = (i * tenants.len() + k) as i64;
            let source = Source {
                topic: "replay-topic".into(),
                partition: (offset % 2) as i32,
                offset: offset / 2,
            };
            let record = BehaviorRecord::new(tenant, events[i].clone(), at, || unreachable!());
            batch.push((source, Some(record)));
        }
    }
    batch
}

/// A worker that applied some tenants' shares of a batch and crashed before the Kafka commit
/// gets the whole batch again: each tenant's own offsets say what it applied, so every
/// tenant counts each event once. Then on `app`'s Redis (a single server or a cluster).
async fn each_tenants_share_counts_once_across_a_crash(app: &TestApp) {
    let writer = writer(app).await;
    let tenants: Vec<String> = (0..8).map(|k| format!("{}_{k}", app.tenant)).collect();
    let at = now_ms();
    let batch = several_tenants(&tenants, at);
    // Before the crash: the first two tenants' shares (their transactions ran).
    let applied_before: Vec<(Source, Option<BehaviorRecord>)> = batch
        .iter()
        .filter(|(_, r)| {
            let tenant = &r.as_ref().unwrap().tenant_id;
            *tenant == tenants[0] || *tenant == tenants[1]
        })
        .cloned()
        .collect();
    writer.apply(&applied_before).await.unwrap();
    // The redelivery, and once more.
    writer.apply(&batch).await.unwrap();
    writer.apply(&batch).await.unwrap();
    let expected = expected_minutes(&plan(), at);
    for tenant in &tenants {
        assert_eq!(live_minutes(app, tenant).await, expected, "{tenant}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tenants_share_of_a_batch_counts_once_across_a_crash() {
    let app = TestApp::start().await;
    each_tenants_share_counts_once_across_a_crash(&app).await;
    app.cleanup().await;
}

/// The `recoscope all` binary on a Redis Cluster of three masters (`REDIS_CLUSTER=true`):
/// the workers' partition leases, the real-time writer's per-tenant transactions and the live
/// view's pipelines each keep to one slot; events sent to the process's API show in the live
/// view; tenants' keys spread over the nodes; a redelivered batch counts once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_time_state_works_on_a_redis_cluster() {
    let cluster = support::processes::PrivateRedisCluster::start().await;
    // The live view is read in the test; `recoscope all`, configured only by REDIS_URL (the
    // nodes) and REDIS_CLUSTER=true, takes the events and runs the workers.
    let app = TestApp::start_roles(
        Roles {
            serve: true,
            worker: false,
        },
        |c| {
            c.redis.url = cluster.urls();
            c.redis.cluster = true;
        },
    )
    .await;
    let process = RecoscopeProcess::start_role(&app.config, "all").await;

    // Through the process's API and workers (who found each other through leases in the
    // cluster).
    let sent = support::feed_events(40, 4);
    send(&Client::to_process(&app, &process), &sent).await;
    support::wait_until(
        60,
        async || {
            let (status, live) = app
                .get_json("/api/v1/analytics/live?top=5", Some(&app.read_key))
                .await;
            match (status, live["totals"]["events"].as_u64()) {
                (200, Some(40)) => Ok(()),
                _ => Err(format!("{status}: {live}")),
            }
        },
        || "the live view shows the 40 events sent".to_string(),
    )
    .await;

    each_tenants_share_counts_once_across_a_crash(&app).await;

    // Nine tenants' keys: not all on one node.
    let mut nodes_with_keys = 0;
    for port in &cluster.ports {
        let mut node = redis::Client::open(format!("redis://127.0.0.1:{port}"))
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", app.config.redis.key_prefix))
            .query_async(&mut node)
            .await
            .unwrap();
        nodes_with_keys += usize::from(!keys.is_empty());
    }
    assert!(nodes_with_keys >= 2, "every key on one node");
    app.cleanup().await;
}
