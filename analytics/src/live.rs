//! The live view: the last 60 minutes, minute by minute, and the hot items now. Read from the
//! real-time state in Redis (fed by the `redis-realtime` worker within a second of ingest),
//! not from ClickHouse.

use super::overview::Kpis;
use serde::{Deserialize, Serialize};

/// Minutes shown, ending with the current one.
pub const LIVE_MINUTES: i64 = 60;
/// Most hot items one request may ask for.
pub const MAX_HOT_ITEMS: u32 = 100;

/// One minute of event time. Minutes without events are present with zeros, so the chart's
/// axis is continuous.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveMinute {
    /// Start of the minute, epoch seconds (UTC).
    pub minute: i64,
    pub events: u64,
    pub impressions: u64,
    pub clicks: u64,
    /// Orders.
    pub conversions: u64,
    /// Distinct users in the minute (HyperLogLog estimate, about 1% error).
    pub active_users: u64,
}

/// An item and its engagement score now (decayed to the time of the request).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HotItem {
    pub item_id: String,
    pub score: f64,
    /// From the item catalog, when it has the item.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
}

impl HotItem {
    /// An item not (yet) looked up in the catalog.
    pub fn new(item_id: String, score: f64) -> Self {
        HotItem {
            item_id,
            score,
            name: None,
            url: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Live {
    pub tenant: String,
    /// `None`: all scenarios.
    pub scenario: Option<String>,
    /// When it was read, epoch milliseconds.
    pub as_of: i64,
    /// The last [`LIVE_MINUTES`] minutes, oldest first.
    pub minutes: Vec<LiveMinute>,
    /// Totals of those minutes (users: distinct over the hour); `None` when nothing happened.
    pub totals: Option<Kpis>,
    /// Best first.
    pub hot_items: Vec<HotItem>,
    /// Scenarios with real-time state for this tenant (`has_data`) and those the catalog
    /// names (for the filter).
    pub scenarios: Vec<super::scopes::ScenarioScope>,
}

/// The last 60 minutes and the `top` hot items of `tenant` (and `scenario`, or all), from
/// Redis, with catalog names where the catalog has them.
#[cfg(feature = "server")]
pub async fn live_for(
    db: &super::AnalyticsDb,
    tenant: &str,
    scenario: Option<String>,
    top: u32,
) -> Result<Live, super::AnalyticsError> {
    if top == 0 || top > MAX_HOT_ITEMS {
        return Err(super::AnalyticsError::BadRequest(format!(
            "top must be between 1 and {MAX_HOT_ITEMS}"
        )));
    }
    let scenario = scenario.filter(|s| !s.is_empty());
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let (live, named) = futures::join!(
        db.live
            .read(tenant, scenario.as_deref(), top as usize, now_ms),
        db.catalog.scenarios(tenant)
    );
    let (mut live, active) = live.map_err(|error| {
        tracing::error!(%error, "live query failed");
        super::AnalyticsError::Failed {
            message: "live view: the real-time store is unreachable or busy; try again shortly"
                .into(),
            retryable: true,
        }
    })?;
    live.scenarios = super::scopes::name_scenarios(active, named.as_deref().unwrap_or_default());
    // Names are a nicety here: without the catalog the live view still shows ids.
    let ids = live.hot_items.iter().map(|i| i.item_id.clone()).collect();
    if let Some(catalog) = db.catalog.items_by_id(tenant, ids).await {
        for item in &mut live.hot_items {
            if let Some(entry) = catalog.get(&item.item_id) {
                item.name = Some(entry.name().to_string());
                item.url = entry.url().map(str::to_string);
            }
        }
    }
    Ok(live)
}
