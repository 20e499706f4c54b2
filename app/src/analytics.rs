//! The dashboard's server functions: each settles the caller's tenant (an operator's session,
//! or a read key; see [`crate::identity`]), then
//! calls the read model (`recoscope_analytics`), which the JSON API calls too. The types are
//! the read model's, re-exported here so pages import one place.

use leptos::prelude::*;

pub use recoscope_analytics::{
    distributions, experiments, funnel, live, overview, recent, scopes, stats, top_items, trends,
};

use distributions::{Dimension, Distribution};
use experiments::Experiments;
use funnel::Funnel;
use live::Live;
use overview::Overview;
use recent::RecentBehaviour;
use scopes::Scopes;
use top_items::{RankBy, TopItems};
use trends::{Granularity, Trends};

#[cfg(feature = "ssr")]
use recoscope_analytics::{
    distributions::distribution_for, experiments::experiments_for, funnel::funnel_for,
    live::live_for, overview::overview_for, recent::recent_for, scopes::scopes_for,
    top_items::top_items_for, trends::trends_for,
};
#[cfg(feature = "ssr")]
pub use server::{analytics_db, failed, reader};

/// The caller's events over `[from, to)` split by `dimension`.
#[server(endpoint = "distribution")]
pub async fn get_distribution(
    scenario: Option<String>,
    dimension: Dimension,
    from: i64,
    to: i64,
) -> Result<Distribution, ServerFnError> {
    let (db, tenant) = reader().await?;
    distribution_for(&db, &tenant, scenario, dimension, from, to)
        .await
        .map_err(failed)
}

/// The caller's experiments over `[from, to)` (one, with `experiment_id`).
#[server(endpoint = "experiments")]
pub async fn get_experiments(
    scenario: Option<String>,
    experiment_id: Option<String>,
    from: i64,
    to: i64,
) -> Result<Experiments, ServerFnError> {
    let (db, tenant) = reader().await?;
    experiments_for(&db, &tenant, scenario, experiment_id, from, to)
        .await
        .map_err(failed)
}

/// The caller's funnel over `[from, to)` with a conversion window of `window_secs`.
#[server(endpoint = "funnel")]
pub async fn get_funnel(
    scenario: Option<String>,
    from: i64,
    to: i64,
    window_secs: u32,
) -> Result<Funnel, ServerFnError> {
    let (db, tenant) = reader().await?;
    funnel_for(&db, &tenant, scenario, from, to, window_secs)
        .await
        .map_err(failed)
}

/// The last 60 minutes and the `top` hot items of the caller's tenant (and `scenario`, or
/// all).
#[server(endpoint = "live")]
pub async fn get_live(scenario: Option<String>, top: u32) -> Result<Live, ServerFnError> {
    let (db, tenant) = reader().await?;
    live_for(&db, &tenant, scenario, top).await.map_err(failed)
}

/// KPIs and hourly trend for the caller's tenant (and `scenario`, or all scenarios) over the
/// `hours` hours that end at `until` (epoch seconds; now when absent).
#[server(endpoint = "overview")]
pub async fn get_overview(
    scenario: Option<String>,
    hours: u32,
    until: Option<i64>,
) -> Result<Overview, ServerFnError> {
    let (db, tenant) = reader().await?;
    overview_for(&db, &tenant, scenario, hours, until)
        .await
        .map_err(failed)
}

/// The caller's user `user_id`: their last `limit` events of the last 7 days.
#[server(endpoint = "recent")]
pub async fn get_recent(user_id: String, limit: u32) -> Result<RecentBehaviour, ServerFnError> {
    let (db, tenant) = reader().await?;
    recent_for(&db, &tenant, &user_id, limit)
        .await
        .map_err(failed)
}

/// The caller's tenant and its scenarios.
#[server(endpoint = "scopes")]
pub async fn get_scopes() -> Result<Scopes, ServerFnError> {
    let (db, tenant) = reader().await?;
    scopes_for(&db, &tenant).await.map_err(failed)
}

/// The caller's `limit` best items over the UTC days that `[from, to)` touches.
#[server(endpoint = "top_items")]
pub async fn get_top_items(
    scenario: Option<String>,
    from: i64,
    to: i64,
    rank_by: RankBy,
    limit: u32,
) -> Result<TopItems, ServerFnError> {
    let (db, tenant) = reader().await?;
    top_items_for(&db, &tenant, scenario, from, to, rank_by, limit)
        .await
        .map_err(failed)
}

/// The local days `first` to `last` (`YYYY-MM-DD`, both included) in `tz` as `[from, to)`
/// epoch seconds: the server knows the zones' rules, the browser bundle does not.
#[server(endpoint = "day_range")]
pub async fn day_range(
    first: String,
    last: String,
    tz: String,
) -> Result<(i64, i64), ServerFnError> {
    recoscope_analytics::trends::local_days(&first, &last, &tz).map_err(failed)
}

/// The caller's trend over `[from, to)` (epoch seconds), bucketed by `granularity` in `tz`.
#[server(endpoint = "trends")]
pub async fn get_trends(
    scenario: Option<String>,
    from: i64,
    to: i64,
    granularity: Granularity,
    tz: String,
) -> Result<Trends, ServerFnError> {
    let (db, tenant) = reader().await?;
    trends_for(&db, &tenant, scenario, from, to, granularity, &tz)
        .await
        .map_err(failed)
}

#[cfg(feature = "ssr")]
mod server {
    use leptos::prelude::*;
    use recoscope_analytics::{AnalyticsDb, AnalyticsError};

    /// The read model's handles, which the server puts in the Leptos context.
    pub fn analytics_db() -> Result<AnalyticsDb, ServerFnError> {
        use_context::<AnalyticsDb>().ok_or_else(|| {
            ServerFnError::new("analytics database is not configured on this server")
        })
    }

    /// The read model's handles and the caller's tenant: what every read starts with.
    pub async fn reader() -> Result<(AnalyticsDb, String), ServerFnError> {
        let tenant = crate::identity::server::caller_tenant().await?;
        Ok((analytics_db()?, tenant))
    }

    /// A read that failed, as the server function's error; a refused key also sets the
    /// response's status to 401, so the page can offer to sign in.
    pub fn failed(error: AnalyticsError) -> ServerFnError {
        if error == AnalyticsError::Unauthorized {
            if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
                response.set_status(http::StatusCode::UNAUTHORIZED);
            }
        }
        ServerFnError::new(error.to_string())
    }
}
