//! The analytics read model: what the dashboard and the JSON API show, and the code that reads
//! it from ClickHouse, Redis and the stores. The types compile everywhere (the browser bundle
//! deserialises them); reading needs the `server` feature.
//!
//! One module per view, each with its types, its checks and (with `server`) its query:
//! - [`overview`]: KPIs and the trend for a tenant, scenario and time range, against the
//!   period before.
//! - [`trends`]: per hour or per day in the operator's time zone, with CTR and conversion rate.
//! - [`distributions`]: by device, os, location and list position.
//! - [`funnel`]: impression → click → view → add_cart → order per user, within a window.
//! - [`experiments`]: groups against their control, with intervals and significance
//!   ([`stats`]: Wilson intervals and the two-proportion z-test).
//! - [`top_items`]: the best items over a range of days, from the daily item rollup.
//! - [`scopes`]: a tenant and its scenarios, with names (for the filters).
//! - [`recent`]: one user's behaviour of the last 7 days.
//! - [`live`]: the last 60 minutes and the hot items now, from the real-time state in Redis.
//!
//! With `server`:
//! - [`AnalyticsDb`]: the handles every read takes (ClickHouse, Redis, the stores).
//! - [`read_keys`]: who is reading: a read key → its tenant.
//! - [`AnalyticsError`]: bad request, unauthorized, or failed (retryable or not); the JSON
//!   API maps it to a status, the app's server functions to their error.
//! - `sql`: how queries are scoped and how the rollup is read; `live_store`: the Redis reads;
//!   [`catalog`]: names for item and scenario ids, from the catalog store.
//!
//! The app's server functions and `/api/v1/analytics/*` both call the `*_for` functions here,
//! after settling the caller's tenant from its read key.

pub mod distributions;
pub mod experiments;
pub mod funnel;
pub mod live;
pub mod overview;
pub mod read_keys;
pub mod recent;
pub mod scopes;
pub mod stats;
pub mod top_items;
pub mod trends;

#[cfg(feature = "server")]
pub mod catalog;
#[cfg(feature = "server")]
mod error;
#[cfg(feature = "server")]
pub mod live_store;
#[cfg(feature = "server")]
mod sql;

#[cfg(feature = "server")]
pub use error::AnalyticsError;
#[cfg(feature = "server")]
pub(crate) use error::{check_range, query_failed, RAW_MAX_DAYS, ROLLUP_MAX_DAYS};

/// The handles every read of the model takes.
#[cfg(feature = "server")]
#[derive(Clone, Debug)]
pub struct AnalyticsDb {
    pub clickhouse: recoscope_clickhouse::ClickHouse,
    pub live: live_store::LiveStore,
    /// Who may read which tenant.
    pub read_keys: read_keys::ReadKeys,
    /// The recent-behaviour store.
    pub recent: recent::RecentReader,
    /// Item and scenario names.
    pub catalog: catalog::Catalog,
    /// The funnel's events read at most before it samples users.
    pub funnel_sample_events: u64,
}
