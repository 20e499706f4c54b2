//! `GET /api/v1/tenants/{tenant}/users/{user}/recent`: a user's behaviour of the last 7 days,
//! newest first, for operators and recommenders. Needs `Authorization: Bearer
//! <RECOSCOPE_ADMIN_TOKEN>` (write keys are public and never read data); without a configured
//! token the endpoint is off.

use crate::api_error::error;
use crate::clock::now_ms;
use crate::store::recent::{RecentStore, RETENTION};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

#[derive(Clone)]
pub struct RecentApi {
    pub store: Arc<dyn RecentStore>,
    pub admin_token: Option<String>,
}

#[derive(Deserialize)]
struct Params {
    limit: Option<usize>,
}

const MAX_LIMIT: usize = 500;

async fn recent(
    State(api): State<RecentApi>,
    Path((tenant, user)): Path<(String, String)>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = crate::admin::check(api.admin_token.as_deref(), &headers) {
        return refused.into_response();
    }
    let limit = params.limit.unwrap_or(50).clamp(1, MAX_LIMIT);
    let since = now_ms() - RETENTION.as_millis() as i64;
    let store = api.store.clone();
    let result =
        tokio::task::spawn_blocking(move || store.recent(&tenant, &user, since, limit)).await;
    match result {
        Ok(Ok(events)) => Json(json!({ "events": events })).into_response(),
        Ok(Err(e)) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            &e.to_string(),
        ),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            &e.to_string(),
        ),
    }
}

pub fn recent_routes(api: RecentApi) -> Router {
    Router::new()
        .route("/api/v1/tenants/{tenant}/users/{user}/recent", get(recent))
        .with_state(api)
}
