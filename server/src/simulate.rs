//! `recoscope simulate`: realistic traffic through the real HTTP API, so a first run has true
//! data to show.
//!
//! The model: each tenant has scenarios (home feed, product page, cart upsell, search), an
//! item catalog with long-tailed popularity and a user base. A *session* is one user shown
//! one recommendation list of 10 items: impressions for every position, clicks that fall off
//! with rank and rise with item appeal, then views (with watch time), likes, shares,
//! add-to-carts and orders for a share of the clicks. Users are split into an A/B experiment
//! whose treatment ranks better. With `--backfill-hours` sessions are spread over the past
//! hours with a day/night rhythm before live traffic starts.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use recoscope_core::catalog::{CatalogItem, ItemFields, Scenario, ScenarioFields};
use recoscope_core::clock::now_ms;
use recoscope_core::{
    ActionType, Event, EventContext, ExtraData, Fraction, Label, Seconds, UnixMillis,
};
use serde_json::json;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, clap::Args)]
pub struct SimulateArgs {
    /// Base URL of the Recoscope server.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    pub target: String,
    /// Write keys to send with, one per simulated tenant.
    #[arg(long, value_delimiter = ',', default_value = "demo-key,shop-key")]
    pub keys: Vec<String>,
    /// Live sessions per second (each is about 10-15 events).
    #[arg(long, default_value_t = 5.0)]
    pub sessions_per_sec: f64,
    /// Stop after this many seconds of live traffic; 0 runs until interrupted.
    #[arg(long, default_value_t = 0)]
    pub duration_secs: u64,
    /// Before live traffic, send this many hours of history.
    #[arg(long, default_value_t = 0)]
    pub backfill_hours: u32,
    /// Sessions per hour of history.
    #[arg(long, default_value_t = 300)]
    pub backfill_sessions_per_hour: u32,
    /// Random seed, for reproducible traffic.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Instead of sending traffic, write the simulated shop's catalog to this directory
    /// (`items.csv`, `scenarios.json`) for `recoscope catalog import`.
    #[arg(long)]
    pub write_catalog: Option<std::path::PathBuf>,
}

const SCENARIOS: [&str; 4] = ["home_feed", "product_detail", "cart_upsell", "search"];
const LIST_LEN: u32 = 10;
const ITEMS: u32 = 400;
const USERS: u32 = 3000;
const DEVICES: [(&str, &str, u32); 5] = [
    ("mobile", "iOS", 35),
    ("mobile", "Android", 40),
    ("desktop", "Windows", 15),
    ("desktop", "macOS", 7),
    ("tablet", "iPadOS", 3),
];
const LOCATIONS: [&str; 8] = [
    "Berlin",
    "London",
    "Paris",
    "Madrid",
    "Warsaw",
    "Amsterdam",
    "Vienna",
    "Stockholm",
];

const CATEGORIES: [(&str, [&str; 4]); 5] = [
    ("Shoes", ["Runner", "Trail shoe", "Sneaker", "Boot"]),
    ("Jackets", ["Rain jacket", "Parka", "Fleece", "Windbreaker"]),
    ("Bags", ["Backpack", "Tote", "Duffel", "Sling bag"]),
    ("Kitchen", ["Kettle", "Pan", "Knife set", "Grinder"]),
    ("Books", ["Novel", "Cookbook", "Atlas", "Field guide"]),
];
const ADJECTIVES: [&str; 8] = [
    "Blue", "Classic", "Light", "Urban", "Nordic", "Compact", "Everyday", "Pro",
];

/// The simulated shop's catalog: a name, category, price and page for each of the items
/// the traffic uses (`item-0` … `item-399`), and a name for each scenario. Derived from the
/// item number, so it matches the traffic of any seed.
pub fn demo_catalog() -> (Vec<CatalogItem>, Vec<Scenario>) {
    let items = (0..ITEMS)
        .map(|i| {
            let (category, nouns) = CATEGORIES[i as usize % CATEGORIES.len()];
            let noun = nouns[(i as usize / CATEGORIES.len()) % nouns.len()];
            let adjective = ADJECTIVES[(i as usize / 20) % ADJECTIVES.len()];
            CatalogItem::new(ItemFields {
                item_id: Some(format!("item-{i}")),
                name: Some(format!("{adjective} {} {i}", noun.to_lowercase())),
                category: Some(category.to_string()),
                price: Some(f64::from(500 + i * 37 % 20_000) / 100.0),
                url: Some(format!("https://shop.example/p/item-{i}")),
            })
            .expect("generated items are valid")
        })
        .collect();
    let scenarios = [
        (
            "home_feed",
            "Home feed",
            "Personalised picks on the first screen",
        ),
        (
            "product_detail",
            "Similar items",
            "Under the product on its page",
        ),
        ("cart_upsell", "Cart upsell", "Add-ons offered in the cart"),
        ("search", "Search ranking", "Re-ranked search results"),
    ]
    .into_iter()
    .map(|(id, name, description)| {
        Scenario::new(ScenarioFields {
            scenario_id: Some(id.into()),
            name: Some(name.into()),
            description: Some(description.into()),
        })
        .expect("generated scenarios are valid")
    })
    .collect();
    (items, scenarios)
}

/// Writes [`demo_catalog`] as `items.csv` and `scenarios.json` in `dir`.
pub fn write_demo_catalog(dir: &std::path::Path) -> anyhow::Result<()> {
    let (items, scenarios) = demo_catalog();
    std::fs::create_dir_all(dir)?;
    let mut csv = csv::Writer::from_path(dir.join("items.csv"))?;
    csv.write_record(["item_id", "name", "category", "price", "url"])?;
    for item in &items {
        csv.write_record([
            item.item_id(),
            item.name(),
            item.category().unwrap_or(""),
            &item.price().map(|p| format!("{p:.2}")).unwrap_or_default(),
            item.url().unwrap_or(""),
        ])?;
    }
    csv.flush()?;
    std::fs::write(
        dir.join("scenarios.json"),
        serde_json::to_string_pretty(&scenarios)?,
    )?;
    Ok(())
}

/// Generates sessions; separate from sending so it can be tested and benchmarked.
pub struct TrafficModel {
    rng: StdRng,
    next_request: u64,
}

impl TrafficModel {
    pub fn new(seed: u64) -> Self {
        TrafficModel {
            rng: StdRng::seed_from_u64(seed),
            next_request: 0,
        }
    }

    fn pick_weighted<'a, T>(&mut self, items: &'a [(T, u32)]) -> &'a T {
        let total: u32 = items.iter().map(|(_, w)| w).sum();
        let mut roll = self.rng.gen_range(0..total);
        for (item, weight) in items {
            if roll < *weight {
                return item;
            }
            roll -= weight;
        }
        &items[items.len() - 1].0
    }

    /// An item id with a long-tailed popularity (rank ~ u^3).
    fn item(&mut self) -> u32 {
        let u: f64 = self.rng.gen();
        ((u * u * u) * f64::from(ITEMS)) as u32
    }

    /// One user seeing one recommendation list at `at_ms`, and what follows.
    pub fn session(&mut self, at_ms: i64) -> Vec<Event> {
        let user = self.rng.gen_range(0..USERS);
        let scenario = SCENARIOS[self.rng.gen_range(0..SCENARIOS.len())];
        let device = *self.pick_weighted(&DEVICES.map(|(d, o, w)| ((d, o), w)));
        let location = LOCATIONS[(user as usize) % LOCATIONS.len()];
        let treatment = user % 2 == 1;
        self.next_request += 1;
        let request_id = format!("req-{:x}-{}", at_ms, self.next_request);
        let session_id = format!("s-{user}-{}", at_ms / 1_800_000);
        let context = EventContext {
            device_type: Some(label(device.0)),
            os: Some(label(device.1)),
            location: Some(label(location)),
            ip: None,
        };
        let request_id = label(request_id);
        let session_id = label(session_id);
        let group = label(if treatment { "treatment" } else { "control" });

        let mut events = Vec::new();
        let mut t = at_ms;
        let mut shown: Vec<u32> = Vec::new();
        while shown.len() < LIST_LEN as usize {
            let item = self.item();
            if !shown.contains(&item) {
                shown.push(item);
            }
        }
        let base = |action, item: u32, position: u32, t: i64| {
            let mut e = Event::new(scenario, format!("u{user}"), format!("item-{item}"), action)
                .expect("generated ids are never blank");
            e.context = Some(context.clone());
            e.request_id = Some(request_id.clone());
            e.session_id = Some(session_id.clone());
            e.position = Some(position);
            e.experiment_id = Some(label("ranker-v2"));
            e.experiment_group = Some(group.clone());
            e.timestamp = UnixMillis::new(t).ok();
            e
        };
        for (position, item) in shown.iter().enumerate() {
            events.push(base(ActionType::Impression, *item, position as u32, t));
        }
        for (position, item) in shown.iter().enumerate() {
            let appeal = 1.0 - f64::from(*item) / f64::from(ITEMS) * 0.6;
            let rank_decay = 1.0 / (1.0 + position as f64 * 0.35);
            let lift = if treatment { 1.15 } else { 1.0 };
            let p_click = 0.12 * appeal * rank_decay * lift;
            if !self.rng.gen_bool(p_click.min(1.0)) {
                continue;
            }
            let pos = position as u32;
            t += self.rng.gen_range(2_000..20_000);
            events.push(base(ActionType::Click, *item, pos, t));
            t += self.rng.gen_range(500..3_000);
            let mut view = base(ActionType::View, *item, pos, t);
            let completion: f64 = self.rng.gen_range(0.05..1.0);
            view.completion_rate = Fraction::new((completion * 100.0).round() / 100.0).ok();
            view.watch_duration = Seconds::new((completion * 120.0 * 10.0).round() / 10.0).ok();
            events.push(view);
            if self.rng.gen_bool(0.10) {
                events.push(base(ActionType::Like, *item, pos, t + 1_000));
            }
            if self.rng.gen_bool(0.03) {
                events.push(base(ActionType::Share, *item, pos, t + 1_500));
            }
            if self.rng.gen_bool(0.15) {
                t += self.rng.gen_range(5_000..60_000);
                let mut cart = base(ActionType::AddCart, *item, pos, t);
                cart.extra_data =
                    ExtraData::new(json!({"price_cents": 500 + item * 37 % 20_000})).ok();
                events.push(cart);
                if self.rng.gen_bool(0.35) {
                    t += self.rng.gen_range(10_000..120_000);
                    events.push(base(ActionType::Order, *item, pos, t));
                }
            }
        }
        events
    }

    /// Busier in the day than at night (UTC hour of `at_ms`).
    pub fn diurnal_weight(at_ms: i64) -> f64 {
        let hour = (at_ms / 3_600_000).rem_euclid(24) as f64;
        0.6 + 0.4 * ((hour - 8.0) / 24.0 * std::f64::consts::TAU).sin()
    }
}

struct Sender {
    http: reqwest::Client,
    url: String,
    sent: u64,
}

impl Sender {
    /// Posts a batch; retries while the server says "later" (503) or is not up yet.
    async fn send(&mut self, key: &str, events: &[Event]) -> anyhow::Result<()> {
        for chunk in events.chunks(200) {
            let body = json!({ "events": chunk });
            let mut wait = Duration::from_millis(200);
            loop {
                let result = self
                    .http
                    .post(&self.url)
                    .header("X-Recoscope-Key", key)
                    .json(&body)
                    .send()
                    .await;
                match result {
                    Ok(r) if r.status().is_success() => break,
                    Ok(r) if r.status().as_u16() == 503 || r.status().as_u16() == 429 => {}
                    Ok(r) => {
                        let status = r.status();
                        let text = r.text().await.unwrap_or_default();
                        anyhow::bail!("the server refused the batch ({status}): {text}");
                    }
                    Err(e) if e.is_connect() || e.is_timeout() => {}
                    Err(e) => return Err(e.into()),
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
            self.sent += chunk.len() as u64;
        }
        Ok(())
    }
}

pub async fn run(args: SimulateArgs) -> anyhow::Result<()> {
    if let Some(dir) = &args.write_catalog {
        write_demo_catalog(dir)?;
        println!("wrote {}/items.csv and scenarios.json", dir.display());
        return Ok(());
    }
    anyhow::ensure!(!args.keys.is_empty(), "at least one --keys entry is needed");
    anyhow::ensure!(
        args.sessions_per_sec > 0.0,
        "--sessions-per-sec must be positive"
    );
    let seed = args.seed.unwrap_or_else(|| now_ms() as u64);
    let mut model = TrafficModel::new(seed);
    let mut sender = Sender {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?,
        url: format!("{}/api/v1/behaviors", args.target.trim_end_matches('/')),
        sent: 0,
    };

    if args.backfill_hours > 0 {
        let start = now_ms() - i64::from(args.backfill_hours) * 3_600_000;
        for hour in 0..args.backfill_hours {
            let hour_start = start + i64::from(hour) * 3_600_000;
            let sessions = (f64::from(args.backfill_sessions_per_hour)
                * TrafficModel::diurnal_weight(hour_start)) as u32;
            for (k, key) in args.keys.iter().enumerate() {
                // The second tenant is smaller, so the two look different.
                let share = if k == 0 { sessions } else { sessions / 2 };
                let mut events = Vec::new();
                for _ in 0..share {
                    let at = hour_start + model.rng.gen_range(0..3_300_000);
                    events.extend(model.session(at));
                }
                sender.send(key, &events).await?;
            }
        }
        tracing::info!(
            events = sender.sent,
            hours = args.backfill_hours,
            "history sent"
        );
    }

    let started = Instant::now();
    let tick = Duration::from_millis(500);
    let mut carry = 0.0;
    loop {
        if args.duration_secs > 0 && started.elapsed() >= Duration::from_secs(args.duration_secs) {
            break;
        }
        carry += args.sessions_per_sec * tick.as_secs_f64();
        let sessions = carry as u32;
        carry -= f64::from(sessions);
        for s in 0..sessions {
            let key = &args.keys[s as usize % args.keys.len()];
            let events = model.session(now_ms());
            sender.send(key, &events).await?;
        }
        tokio::time::sleep(tick).await;
    }
    tracing::info!(events = sender.sent, "simulation finished");
    Ok(())
}

/// A label from the model's own names and counters, which are never blank or long.
fn label(text: impl Into<String>) -> Label {
    Label::new(text).expect("the model's labels are short and never blank")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_follow_the_funnel() {
        let mut model = TrafficModel::new(7);
        let mut counts = std::collections::HashMap::new();
        for i in 0..2000 {
            for e in model.session(1_700_000_000_000 + i * 1000) {
                *counts.entry(e.action_type).or_insert(0u32) += 1;
            }
        }
        let n = |a| counts.get(&a).copied().unwrap_or(0);
        assert_eq!(n(ActionType::Impression), 2000 * LIST_LEN);
        assert!(n(ActionType::Click) > 0 && n(ActionType::Click) < n(ActionType::Impression) / 5);
        assert_eq!(n(ActionType::View), n(ActionType::Click));
        assert!(n(ActionType::AddCart) < n(ActionType::Click));
        assert!(n(ActionType::Order) > 0 && n(ActionType::Order) < n(ActionType::AddCart));
    }

    #[test]
    fn the_same_seed_gives_the_same_traffic() {
        let a = TrafficModel::new(1).session(1_000);
        let b = TrafficModel::new(1).session(1_000);
        assert_eq!(a, b);
    }
}
