//! The HTTP surface: ingest API, health endpoints, the Leptos dashboard (pages, server
//! functions, static files), all in one axum router.

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::{header, HeaderValue};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use recoscope_accounts::Accounts;
use recoscope_analytics::AnalyticsDb;
use recoscope_app::{shell, App, AssetRoot};
use recoscope_clickhouse::ClickHouse;
use recoscope_ingest::sink::EventSink;
use recoscope_ingest::{ingest_routes, IngestState};
use recoscope_stores::Stores;
use recoscope_workers::lag::LagBoard;
use serde_json::json;
use std::sync::Arc;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;
use tower_http::trace::TraceLayer;

/// The name cargo-leptos gives the hydrate bundle (`output-name` in Cargo.toml).
pub const OUTPUT_NAME: &str = "recoscope";

/// Leptos settings from cargo-leptos's environment (`LEPTOS_*`) when it runs us; otherwise
/// (tests, `cargo run`) the same defaults cargo-leptos would set for this workspace.
pub fn leptos_options() -> anyhow::Result<LeptosOptions> {
    if std::env::var_os("LEPTOS_OUTPUT_NAME").is_some() {
        return Ok(leptos::config::get_configuration(None)?.leptos_options);
    }
    let site_root = std::env::var("LEPTOS_SITE_ROOT").unwrap_or_else(|_| "target/site".into());
    Ok(LeptosOptions::builder()
        .output_name(OUTPUT_NAME)
        .site_root(site_root)
        .site_pkg_dir("pkg")
        .build())
}

/// What readiness checks.
#[derive(Clone)]
pub struct HealthState {
    pub sink: Arc<dyn EventSink>,
    pub clickhouse: ClickHouse,
    /// A partition further behind than this makes the process not ready.
    pub max_lag: i64,
    /// A partition with lag and no progress for this long is stalled (not ready).
    pub stall_after: std::time::Duration,
    /// The consumer lag of the groups this process runs (empty when it runs none).
    pub lag: Arc<LagBoard>,
    /// A background task that died makes the process not ready.
    pub background: Arc<crate::background::Background>,
}

async fn liveness() -> &'static str {
    "ok"
}

/// Prometheus text format.
async fn metrics_text() -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::telemetry::metrics_handle().render(),
    )
}

/// Ready when the event log and ClickHouse both answer, no partition of the groups this
/// process watches is more than `max_lag` messages behind or stalled, and no background task
/// died.
async fn readiness(State(state): State<HealthState>) -> impl IntoResponse {
    let broker = state.sink.ready().await;
    let clickhouse = state.clickhouse.ping().await;
    let lag = state.lag.snapshot();
    let behind = lag.iter().filter(|l| l.lag > state.max_lag).count();
    let stalled = lag.iter().filter(|l| l.stalled).count();
    let consumers_ok = behind == 0 && stalled == 0;
    let failed = state.background.failed();
    let ok = broker.is_ok() && clickhouse.is_ok() && consumers_ok && failed.is_empty();
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let describe = |r: Result<(), String>| match r {
        Ok(()) => json!({"ok": true}),
        Err(e) => json!({"ok": false, "error": e}),
    };
    (
        status,
        Json(json!({
            "ready": ok,
            "broker": describe(broker.map_err(|e| e.to_string())),
            "clickhouse": describe(clickhouse.map_err(|e| e.to_string())),
            "consumers": {
                "ok": consumers_ok,
                "max_lag": state.max_lag,
                "partitions_behind": behind,
                "stall_secs": state.stall_after.as_secs(),
                "partitions_stalled": stalled,
                "lag": lag,
            },
            "background": {"ok": failed.is_empty(), "failed": failed},
        })),
    )
}

/// Liveness, readiness and metrics: what every process serves (a worker-only process serves
/// only these, on `WORKER_LISTEN`).
pub fn health_routes(health: HealthState) -> Router {
    crate::telemetry::metrics_handle();
    Router::new()
        .route("/_liveness", get(liveness))
        .route("/_readiness", get(readiness))
        .route("/metrics", get(metrics_text))
        .with_state(health)
}

/// What the dashboard's server functions reach through the Leptos context.
#[derive(Clone, Debug)]
pub struct DashboardState {
    /// The read model (ClickHouse, Redis, read keys).
    pub db: AnalyticsDb,
    /// Operators, their sessions and roles.
    pub accounts: Accounts,
    /// The configuration store, for the admins' key management.
    pub stores: Stores,
}

/// Everything the server role serves: ingest, health, the dashboard and the other JSON
/// `apis`.
pub fn router(
    ingest: IngestState,
    health: HealthState,
    dashboard: DashboardState,
    leptos_options: LeptosOptions,
    apis: Router,
) -> Router {
    let health = health_routes(health).route(
        "/api/v1/openapi.json",
        get(recoscope_ingest::openapi::openapi_json),
    );

    let site_root = leptos_options.site_root.to_string();
    let assets = AssetRoot(format!("/a/{}", asset_version(&site_root)));
    let routes = generate_route_list(App);
    let context = {
        let assets = assets.clone();
        move || {
            provide_context(dashboard.db.clone());
            provide_context(dashboard.accounts.clone());
            provide_context(dashboard.stores.clone());
            provide_context(assets.clone());
        }
    };
    let dashboard = Router::new()
        .leptos_routes_with_context(&leptos_options, routes, context.clone(), {
            let options = leptos_options.clone();
            move || shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context(
            context, shell,
        ))
        .with_state(leptos_options)
        .layer(axum::middleware::from_fn(crate::same_origin::guard));
    let versioned = versioned_assets(&site_root);

    // Every other body (catalog imports, server functions) may not pause longer than this
    // between its parts; ingest bounds its whole request instead (408).
    let body_idle = ingest.body_timeout;
    let rest = Router::new()
        .merge(health)
        .merge(dashboard)
        .merge(apis)
        .layer(RequestBodyTimeoutLayer::new(body_idle))
        // Pages, API answers and unversioned files are checked with the server on every
        // use: a page must never be served stale after a release.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache"),
        ));
    let tracker = tracker_assets(&site_root);
    Router::new()
        .merge(ingest_routes(ingest))
        .nest_service("/t", tracker)
        .nest_service(&assets.0, versioned)
        .merge(rest)
        .layer(TraceLayer::new_for_http())
}

/// A digest of the files the pages load (the hydrate bundle, styles, vendored scripts, icons):
/// the version in their URLs, so a release changes every URL whose content changed and a
/// browser may keep the rest for good. Read once at start (about 3 MB).
pub fn asset_version(site_root: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut files = Vec::new();
    let mut dirs = vec![std::path::PathBuf::from(site_root)];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    // FNV-1a over names and contents: stable across builds and platforms, unlike std's
    // hasher, so every replica of a release computes the same version.
    let mut hash = Fnv1a::default();
    for file in files {
        let name = file.strip_prefix(site_root).unwrap_or(&file);
        name.to_string_lossy().hash(&mut hash);
        if let Ok(bytes) = std::fs::read(&file) {
            bytes.hash(&mut hash);
        }
    }
    format!("{:016x}", hash.finish())
}

#[derive(Debug)]
struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for Fnv1a {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// The site's files under their versioned root: precompressed copies (`.br`, `.gz`, made at
/// build time) by `Accept-Encoding`, kept by browsers for a year.
fn versioned_assets(site_root: &str) -> Router {
    Router::new()
        .fallback_service(
            tower_http::services::ServeDir::new(site_root)
                .precompressed_br()
                .precompressed_gzip(),
        )
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=31536000, immutable"),
        ))
}

/// The tracker's files (`recoscope.js`, `recoscope.wasm`, the loader snippet), built into
/// the site's `t/` by scripts/tracker-build. Product pages on other origins load them, and a
/// module script or its WASM from another origin needs CORS; they change with a release, so
/// browsers may cache them for an hour and must check back after.
fn tracker_assets(site_root: &str) -> Router {
    Router::new()
        .fallback_service(
            tower_http::services::ServeDir::new(std::path::Path::new(site_root).join("t"))
                .precompressed_br()
                .precompressed_gzip(),
        )
        .layer(SetResponseHeaderLayer::overriding(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=3600, must-revalidate"),
        ))
}

#[cfg(test)]
mod tests {
    use super::asset_version;

    #[test]
    fn the_asset_version_follows_the_files_contents() {
        let dir = std::env::temp_dir().join(format!("recoscope-assets-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join("pkg")).unwrap();
        let site = dir.to_str().unwrap();
        std::fs::write(dir.join("pkg/app.js"), "one").unwrap();
        let first = asset_version(site);
        assert_eq!(first, asset_version(site), "same files, same version");
        std::fs::write(dir.join("pkg/app.js"), "two").unwrap();
        let second = asset_version(site);
        assert_ne!(first, second, "a changed file is a new version");
        std::fs::rename(dir.join("pkg/app.js"), dir.join("pkg/other.js")).unwrap();
        assert_ne!(
            second,
            asset_version(site),
            "a renamed file is a new version"
        );
        assert_eq!(first.len(), 16);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
