//! The catalog admin API (admin token, like every `/api/v1/tenants/…` endpoint):
//!
//! - `POST /api/v1/tenants/{tenant}/catalog/items` and `…/catalog/scenarios`: import a file
//!   sent as the body, `text/csv` or `application/json` (an array, or JSON Lines). Answers the
//!   import report: 200 when some record was written (rejected ones are listed with their
//!   position and reason), 400 when none could be, with the same report.
//! - `GET …/catalog/items?after=&limit=`: the catalog in id order, a page at a time.
//! - `GET …/catalog/scenarios`: every scenario.
//!
//! The CLI (`recoscope catalog …`) does the same through `recoscope_stores::catalog_import`.

use crate::admin::store_error;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use recoscope_stores::catalog::CatalogStore;
use recoscope_stores::catalog_import::{self, Format, ImportError, ImportReport};
use recoscope_stores::{StoreError, Stores};
use recoscope_web::ApiError;
use serde::Deserialize;
use serde_json::json;

/// Largest file the import endpoints take (about 200,000 items); bigger catalogs go in
/// several requests or through the CLI.
pub const MAX_IMPORT_BYTES: usize = 64 * 1024 * 1024;
/// Largest page of `GET …/catalog/items`.
pub const MAX_PAGE: usize = 1000;

#[derive(Clone)]
pub struct CatalogApi {
    pub stores: Stores,
    pub admin_token: Option<String>,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Items,
    Scenarios,
}

/// Runs `f` on the catalog store (off the async threads), after checking that `tenant`
/// exists.
async fn for_tenant<T: Send + 'static>(
    api: &CatalogApi,
    tenant: String,
    f: impl FnOnce(&dyn CatalogStore, &str) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let asked = tenant.clone();
    let known = api.stores.tenants(move |store| store.tenant(&asked)).await;
    if known.map_err(store_error)?.is_none() {
        return Err(store_error(StoreError::NotFound(format!(
            "tenant {tenant:?}"
        ))));
    }
    // The call's own answer (an import report, or its error) passes through; only the store
    // failing to run it is mapped here.
    api.stores
        .catalog(move |catalog| Ok(f(catalog, &tenant)))
        .await
        .map_err(store_error)?
}

async fn import(
    api: CatalogApi,
    tenant: String,
    headers: HeaderMap,
    body: Bytes,
    kind: Kind,
) -> Response {
    if let Err(refused) = crate::admin::check(api.admin_token.as_deref(), &headers) {
        return refused.into_response();
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(format) = Format::from_content_type(content_type) else {
        return ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the file as text/csv, application/json or application/x-ndjson",
        )
        .into_response();
    };
    let result = for_tenant(&api, tenant, move |catalog, tenant| {
        let imported = match kind {
            Kind::Items => catalog_import::import_items(catalog, tenant, &body, format),
            Kind::Scenarios => catalog_import::import_scenarios(catalog, tenant, &body, format),
        };
        imported.map_err(|e| match e {
            ImportError::File(e) => {
                ApiError::new(StatusCode::BAD_REQUEST, "unreadable_file", e.to_string())
            }
            ImportError::Write(e) => {
                tracing::error!(error = %e, "catalog import failed while writing");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    e.to_string(),
                )
            }
        })
    })
    .await;
    match result {
        Ok(report) => report_response(report),
        Err(refused) => refused.into_response(),
    }
}

fn report_response(report: ImportReport) -> Response {
    let written = report.inserted + report.updated;
    let status = if written == 0 && report.records > 0 {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    (status, Json(report)).into_response()
}

#[derive(Deserialize)]
struct Page {
    after: Option<String>,
    limit: Option<usize>,
}

async fn list_items(
    State(api): State<CatalogApi>,
    Path(tenant): Path<String>,
    Query(page): Query<Page>,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = crate::admin::check(api.admin_token.as_deref(), &headers) {
        return refused.into_response();
    }
    let limit = page.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_PAGE {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid",
            format!("limit must be between 1 and {MAX_PAGE}"),
        )
        .into_response();
    }
    let result = for_tenant(&api, tenant, move |catalog, tenant| {
        let items = catalog
            .list_items(tenant, page.after.as_deref(), limit)
            .map_err(store_error)?;
        let total = catalog.count_items(tenant).map_err(store_error)?;
        Ok((items, total))
    })
    .await;
    match result {
        Ok((items, total)) => {
            // The next page starts after the last id, when this page was full.
            let next_after = (items.len() == limit)
                .then(|| items.last().map(|i| i.item_id().to_string()))
                .flatten();
            Json(json!({"items": items, "total": total, "next_after": next_after})).into_response()
        }
        Err(refused) => refused.into_response(),
    }
}

async fn list_scenarios(
    State(api): State<CatalogApi>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = crate::admin::check(api.admin_token.as_deref(), &headers) {
        return refused.into_response();
    }
    match for_tenant(&api, tenant, |catalog, tenant| {
        catalog.scenarios(tenant).map_err(store_error)
    })
    .await
    {
        Ok(scenarios) => Json(json!({ "scenarios": scenarios })).into_response(),
        Err(refused) => refused.into_response(),
    }
}

pub fn catalog_routes(api: CatalogApi) -> Router {
    Router::new()
        .route(
            "/api/v1/tenants/{tenant}/catalog/items",
            get(list_items).post(
                |State(api): State<CatalogApi>, Path(tenant): Path<String>, headers, body| {
                    import(api, tenant, headers, body, Kind::Items)
                },
            ),
        )
        .route(
            "/api/v1/tenants/{tenant}/catalog/scenarios",
            get(list_scenarios).post(
                |State(api): State<CatalogApi>, Path(tenant): Path<String>, headers, body| {
                    import(api, tenant, headers, body, Kind::Scenarios)
                },
            ),
        )
        .layer(DefaultBodyLimit::max(MAX_IMPORT_BYTES))
        .with_state(api)
}
