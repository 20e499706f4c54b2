//! What the dashboard shows, as types shared by server and browser, and the server
//! functions that fill them.
//!
//! - [`overview`]: KPIs and the hourly trend for a tenant, scenario and time range.
//! - [`distributions`]: by device, os, location and list position.
//! - [`funnel`]: impression → click → view → add_cart → order per user, within a window.
//! - [`experiments`]: groups against their control, with intervals and significance.
//! - [`scopes`]: the caller's tenant and its scenarios, with names (for the filters).
//! - [`trends`]: per hour or per day in the operator's time zone, with CTR and conversion rate.
//! - [`top_items`]: the best items over a range of days, from the daily item rollup.
//! - [`stats`]: Wilson intervals and the two-proportion z-test for experiments.
//! - [`recent`]: one user's behaviour of the last 7 days.
//! - [`live`]: the last 60 minutes and the hot items now, from the real-time state in Redis.
//! - `queries` (ssr only): the ClickHouse SQL behind them, on the hourly rollup.
//! - `live_store` (ssr only): the Redis reads behind the live view.
//! - `catalog` (ssr only): names for item and scenario ids, from the catalog store.

pub mod distributions;
pub mod experiments;
pub mod funnel;
pub mod live;
pub mod overview;
pub mod recent;
pub mod scopes;
pub mod stats;
pub mod top_items;
pub mod trends;

#[cfg(feature = "ssr")]
pub mod catalog;
#[cfg(feature = "ssr")]
pub mod live_store;
#[cfg(feature = "ssr")]
pub mod queries;

/// Server-side handles the server functions read from the Leptos context.
#[cfg(feature = "ssr")]
#[derive(Clone, Debug)]
pub struct AnalyticsDb {
    pub clickhouse: recoscope_clickhouse::ClickHouse,
    pub live: live_store::LiveStore,
    /// Who may read which tenant.
    pub read_keys: crate::identity::ReadKeys,
    /// The recent-behaviour store.
    pub recent: recent::RecentReader,
    /// Item and scenario names.
    pub catalog: catalog::Catalog,
}

#[cfg(feature = "ssr")]
pub(crate) fn analytics_db() -> Result<AnalyticsDb, leptos::prelude::ServerFnError> {
    leptos::prelude::use_context::<AnalyticsDb>().ok_or_else(|| {
        leptos::prelude::ServerFnError::new("analytics database is not configured on this server")
    })
}

/// Why an analytics call failed; the JSON API maps each kind to its HTTP status, server
/// functions carry the message.
#[cfg(feature = "ssr")]
#[derive(Debug, Clone, PartialEq)]
pub enum AnalyticsError {
    /// The parameters are out of range (400).
    BadRequest(String),
    /// No live read key (401).
    Unauthorized,
    /// A database or store failed (503 when retryable, else 500).
    Failed { message: String, retryable: bool },
}

#[cfg(feature = "ssr")]
impl std::fmt::Display for AnalyticsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AnalyticsError::BadRequest(message) => f.write_str(message),
            AnalyticsError::Unauthorized => write!(
                f,
                "{}: sign in with a read key (recoscope keys read --tenant <tenant>)",
                crate::identity::UNAUTHORIZED
            ),
            AnalyticsError::Failed { message, .. } => f.write_str(message),
        }
    }
}

#[cfg(feature = "ssr")]
impl From<AnalyticsError> for leptos::prelude::ServerFnError {
    fn from(error: AnalyticsError) -> Self {
        if error == AnalyticsError::Unauthorized {
            if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
                response.set_status(http::StatusCode::UNAUTHORIZED);
            }
        }
        leptos::prelude::ServerFnError::new(error.to_string())
    }
}

/// Days a range of raw events may span (raw retention is 90 days, plus a day of slack).
#[cfg(feature = "ssr")]
pub(crate) const RAW_MAX_DAYS: i64 = 91;
/// Days a range over the rollups may span (they keep everything; this bounds the answer).
#[cfg(feature = "ssr")]
pub(crate) const ROLLUP_MAX_DAYS: i64 = 400;

/// Checks a range `[from, to)` in epoch seconds: ordered, and at most `max_days` long.
#[cfg(feature = "ssr")]
pub(crate) fn check_range(from: i64, to: i64, max_days: i64) -> Result<(), AnalyticsError> {
    if to <= from {
        return Err(AnalyticsError::BadRequest("to must be after from".into()));
    }
    if to - from > max_days * 86_400 {
        return Err(AnalyticsError::BadRequest(format!(
            "this range spans at most {max_days} days"
        )));
    }
    Ok(())
}

/// Logs the full error on the server and gives the caller a short, safe message.
#[cfg(feature = "ssr")]
pub(crate) fn query_failed(
    what: &str,
    error: recoscope_clickhouse::ClickHouseError,
) -> AnalyticsError {
    tracing::error!(%error, "{what} query failed");
    let retryable = error.is_retryable();
    let hint = if retryable {
        "the analytics database is unreachable or busy; try again shortly"
    } else {
        "the analytics query failed; see the server log"
    };
    AnalyticsError::Failed {
        message: format!("{what}: {hint}"),
        retryable,
    }
}
