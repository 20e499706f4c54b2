//! `/api/v1/analytics/*`: the dashboard's data as JSON, with the same types and the same code
//! as its server functions, for scripts and other tools.
//!
//! Every request needs `Authorization: Bearer <read key>` (or the dashboard's sign-in cookie);
//! the tenant is the key's, never a parameter. Errors are
//! `{"error": {"code", "message"}}` with 400 (bad parameters), 401 (no live read key), 503
//! (a database is unreachable or busy, retry) or 500.

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use recoscope_analytics::{
    distributions::{distribution_for, Dimension},
    experiments::experiments_for,
    funnel::funnel_for,
    live::live_for,
    overview::overview_for,
    recent::recent_for,
    scopes::scopes_for,
    top_items::{top_items_for, RankBy},
    trends::{trends_for, Granularity},
    AnalyticsDb, AnalyticsError,
};
use recoscope_web::ApiError;
use serde::{Deserialize, Serialize};

pub fn routes(db: AnalyticsDb) -> Router {
    Router::new()
        .route("/api/v1/analytics/scopes", get(scopes))
        .route("/api/v1/analytics/overview", get(overview))
        .route("/api/v1/analytics/live", get(live))
        .route("/api/v1/analytics/trends", get(trends))
        .route("/api/v1/analytics/distribution", get(distribution))
        .route("/api/v1/analytics/funnel", get(funnel))
        .route("/api/v1/analytics/experiments", get(experiments))
        .route("/api/v1/analytics/top_items", get(top_items))
        .route("/api/v1/analytics/users/{user}/recent", get(recent))
        .with_state(db)
}

fn error_response(error: AnalyticsError) -> Response {
    let (status, code) = match &error {
        AnalyticsError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
        AnalyticsError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
        AnalyticsError::Failed {
            retryable: true, ..
        } => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        AnalyticsError::Failed { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "failed"),
    };
    ApiError::new(status, code, error.to_string()).into_response()
}

fn respond<T: Serialize>(result: Result<T, AnalyticsError>) -> Response {
    result.map_or_else(error_response, |value| Json(value).into_response())
}

/// The tenant of the request's read key. Extracted before anything else, so a request
/// without a live key gets its 401 whatever its other parameters.
struct Caller(String);

impl FromRequestParts<AnalyticsDb> for Caller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, db: &AnalyticsDb) -> Result<Self, Response> {
        db.read_keys
            .caller(&parts.headers)
            .await
            .map(Caller)
            .map_err(error_response)
    }
}

async fn scopes(State(db): State<AnalyticsDb>, Caller(tenant): Caller) -> Response {
    respond(scopes_for(&db, &tenant).await)
}

#[derive(Deserialize)]
struct OverviewParams {
    scenario: Option<String>,
    hours: u32,
    until: Option<i64>,
}

async fn overview(
    State(db): State<AnalyticsDb>,
    Caller(tenant): Caller,
    Query(p): Query<OverviewParams>,
) -> Response {
    respond(overview_for(&db, &tenant, p.scenario, p.hours, p.until).await)
}

#[derive(Deserialize)]
struct LiveParams {
    scenario: Option<String>,
    top: Option<u32>,
}

async fn live(
    State(db): State<AnalyticsDb>,
    Caller(tenant): Caller,
    Query(p): Query<LiveParams>,
) -> Response {
    respond(live_for(&db, &tenant, p.scenario, p.top.unwrap_or(20)).await)
}

#[derive(Deserialize)]
struct TrendParams {
    scenario: Option<String>,
    from: i64,
    to: i64,
    granularity: Granularity,
    tz: Option<String>,
}

async fn trends(
    State(db): State<AnalyticsDb>,
    Caller(tenant): Caller,
    Query(p): Query<TrendParams>,
) -> Response {
    let tz = p.tz.unwrap_or_else(|| "UTC".into());
    respond(trends_for(&db, &tenant, p.scenario, p.from, p.to, p.granularity, &tz).await)
}

#[derive(Deserialize)]
struct DistributionParams {
    scenario: Option<String>,
    dimension: Dimension,
    from: i64,
    to: i64,
}

async fn distribution(
    State(db): State<AnalyticsDb>,
    Caller(tenant): Caller,
    Query(p): Query<DistributionParams>,
) -> Response {
    respond(distribution_for(&db, &tenant, p.scenario, p.dimension, p.from, p.to).await)
}

#[derive(Deserialize)]
struct FunnelParams {
    scenario: Option<String>,
    from: i64,
    to: i64,
    window_secs: u32,
}

async fn funnel(
    State(db): State<AnalyticsDb>,
    Caller(tenant): Caller,
    Query(p): Query<FunnelParams>,
) -> Response {
    respond(funnel_for(&db, &tenant, p.scenario, p.from, p.to, p.window_secs).await)
}

#[derive(Deserialize)]
struct ExperimentParams {
    scenario: Option<String>,
    experiment_id: Option<String>,
    from: i64,
    to: i64,
}

async fn experiments(
    State(db): State<AnalyticsDb>,
    Caller(tenant): Caller,
    Query(p): Query<ExperimentParams>,
) -> Response {
    respond(experiments_for(&db, &tenant, p.scenario, p.experiment_id, p.from, p.to).await)
}

#[derive(Deserialize)]
struct TopItemParams {
    scenario: Option<String>,
    from: i64,
    to: i64,
    rank_by: Option<RankBy>,
    limit: Option<u32>,
}

async fn top_items(
    State(db): State<AnalyticsDb>,
    Caller(tenant): Caller,
    Query(p): Query<TopItemParams>,
) -> Response {
    let rank_by = p.rank_by.unwrap_or(RankBy::Clicks);
    let limit = p.limit.unwrap_or(20);
    respond(top_items_for(&db, &tenant, p.scenario, p.from, p.to, rank_by, limit).await)
}

#[derive(Deserialize)]
struct RecentParams {
    limit: Option<u32>,
}

async fn recent(
    State(db): State<AnalyticsDb>,
    Caller(tenant): Caller,
    Path(user): Path<String>,
    Query(p): Query<RecentParams>,
) -> Response {
    respond(recent_for(&db, &tenant, &user, p.limit.unwrap_or(50)).await)
}
