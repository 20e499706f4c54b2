//! What the dashboard shows, as types shared by server and browser, and the server
//! functions that fill them.
//!
//! - [`overview`]: KPIs and the hourly trend for a tenant, scenario and time range.
//! - [`catalog`]: which tenants and scenarios have data (for the filters).
//! - [`live`]: the last 60 minutes and the hot items now, from the real-time state in Redis.
//! - `queries` (ssr only): the ClickHouse SQL behind them, on the hourly rollup.
//! - `live_store` (ssr only): the Redis reads behind the live view.

pub mod catalog;
pub mod live;
pub mod overview;

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
}

#[cfg(feature = "ssr")]
pub(crate) fn analytics_db() -> Result<AnalyticsDb, leptos::prelude::ServerFnError> {
    leptos::prelude::use_context::<AnalyticsDb>().ok_or_else(|| {
        leptos::prelude::ServerFnError::new("analytics database is not configured on this server")
    })
}

/// Logs the full error on the server and gives the browser a short, safe message.
#[cfg(feature = "ssr")]
pub(crate) fn query_failed(
    what: &str,
    error: recoscope_clickhouse::ClickHouseError,
) -> leptos::prelude::ServerFnError {
    tracing::error!(%error, "{what} query failed");
    let hint = if error.is_retryable() {
        "the analytics database is unreachable or busy; try again shortly"
    } else {
        "the analytics query failed; see the server log"
    };
    leptos::prelude::ServerFnError::new(format!("{what}: {hint}"))
}
