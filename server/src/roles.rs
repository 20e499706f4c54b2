//! The roles one binary can play, started in-process: `serve` (ingest API + dashboard),
//! `worker` (stream workers), or both. Tests start the same way the binary does.

use crate::background::Background;
use crate::catalog_api::{catalog_routes, CatalogApi};
use crate::config::Config;
use crate::http::{self, HealthState};
use crate::ingest::access::AccessView;
use crate::ingest::enrich::TrustedProxies;
use crate::ingest::rate_limit::KeyRateLimiter;
use crate::ingest::IngestState;
use crate::kafka::{ensure_topic, KafkaEventSink};
use crate::migrations::migrate;
use crate::pipeline::clickhouse_sink::ClickHouseSink;
use crate::pipeline::lag;
use crate::pipeline::realtime::RealtimeWorker;
use crate::pipeline::recent_feed::RecentFeed;
use anyhow::Context;
use recoscope_analytics::catalog::{Catalog, CatalogFuture, CatalogReader};
use recoscope_analytics::live_store::LiveStore;
use recoscope_analytics::read_keys::ReadKeys;
use recoscope_analytics::recent::RecentReader;
use recoscope_analytics::AnalyticsDb;
use recoscope_clickhouse::ClickHouse;
use recoscope_core::catalog::{CatalogItem, Scenario};
use recoscope_stores::{StoreError, Stores};
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    pub serve: bool,
    pub worker: bool,
}

impl Roles {
    pub const ALL: Roles = Roles {
        serve: true,
        worker: true,
    };
}

/// A started instance: its address (when serving) and how to stop it.
pub struct Running {
    pub addr: Option<SocketAddr>,
    pub shutdown: CancellationToken,
    tasks: Vec<JoinHandle<anyhow::Result<()>>>,
}

impl Running {
    /// Stops every role and waits for them (the sink drains its batch).
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.wait().await
    }

    /// Waits until every role has ended (after a signal or a failure).
    pub async fn wait(self) -> anyhow::Result<()> {
        for task in self.tasks {
            task.await??;
        }
        Ok(())
    }
}

/// The recent-behaviour store as the analytics API reads it.
fn recent_reader(stores: Stores) -> RecentReader {
    RecentReader::new(
        move |tenant: String, user: String, since: i64, limit: usize| {
            let stores = stores.clone();
            async move {
                stores
                    .recent(move |store| store.recent(&tenant, &user, since, limit))
                    .await
                    .map_err(|e: StoreError| e.to_string())
            }
        },
    )
}

/// The catalog store as the analytics views read it.
pub struct StoreCatalog(pub Stores);

impl CatalogReader for StoreCatalog {
    fn items(&self, tenant: String, ids: Vec<String>) -> CatalogFuture<Vec<CatalogItem>> {
        let stores = self.0.clone();
        Box::pin(async move {
            stores
                .catalog(move |store| store.items(&tenant, &ids))
                .await
                .map_err(|e: StoreError| e.to_string())
        })
    }

    fn scenarios(&self, tenant: String) -> CatalogFuture<Vec<Scenario>> {
        let stores = self.0.clone();
        Box::pin(async move {
            stores
                .catalog(move |store| store.scenarios(&tenant))
                .await
                .map_err(|e: StoreError| e.to_string())
        })
    }
}

/// Read keys resolved by the tenant store.
fn read_keys(stores: Stores) -> ReadKeys {
    ReadKeys::new(move |key: String| {
        let stores = stores.clone();
        async move {
            stores
                .tenants(move |store| Ok(store.tenant_for_read_key(&key)?.map(|t| t.id)))
                .await
                .map_err(|e: StoreError| e.to_string())
        }
    })
}

/// Opens the stores (blocking: SQLite files, or a MongoDB connection with its own runtime)
/// and registers the bootstrap keys.
pub async fn open_stores(config: &Config) -> anyhow::Result<Stores> {
    let store_config = config.stores.clone();
    Ok(tokio::task::spawn_blocking(move || Stores::open(&store_config)).await??)
}

/// Serves `app` until shutdown, with the configured connection limits.
fn spawn_server(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    config: &Config,
    shutdown: &CancellationToken,
) -> JoinHandle<anyhow::Result<()>> {
    let limits = config.connection_limits();
    tokio::spawn(crate::http_server::serve(
        listener,
        app,
        limits,
        shutdown.clone(),
    ))
}

/// Prepares the shared resources (database schema, topic) and starts the roles.
pub async fn start(config: Config, roles: Roles) -> anyhow::Result<Running> {
    let clickhouse = ClickHouse::new(config.clickhouse())?;
    migrate(&clickhouse).await?;
    let hours = |h: u64| Duration::from_secs(h * 3600);
    ensure_topic(
        &config.kafka_brokers,
        &config.kafka_topic,
        config.kafka_topic_partitions,
        hours(config.kafka_topic_retention_hours),
    )
    .await?;
    ensure_topic(
        &config.kafka_brokers,
        &config.sink_dead_letter_topic,
        config.kafka_topic_partitions,
        hours(config.sink_dead_letter_retention_hours),
    )
    .await?;
    let shutdown = CancellationToken::new();
    let background = Background::new(shutdown.clone());
    let health = HealthState {
        sink: Arc::new(KafkaEventSink::new(&config)?),
        clickhouse: clickhouse.clone(),
        max_lag: config.worker_ready_max_lag,
        stall_after: Duration::from_secs(config.worker_stall_secs),
        background: background.clone(),
    };

    let mut tasks = Vec::new();
    let mut addr = None;
    let stores = open_stores(&config).await?;

    if roles.worker {
        let token = shutdown.clone();
        tasks.push(tokio::spawn(ClickHouseSink::run(
            config.clone(),
            clickhouse.clone(),
            token,
        )));
        tasks.push(tokio::spawn(RealtimeWorker::run(
            config.clone(),
            shutdown.clone(),
        )));
        tasks.push(tokio::spawn(RecentFeed::run(
            config.clone(),
            stores.clone(),
            shutdown.clone(),
        )));
        background.spawn(
            "retention",
            crate::retention::run(
                clickhouse.clone(),
                config.raw_retention_days,
                shutdown.clone(),
            ),
        );
        for group in [
            &config.sink_group_id,
            &config.realtime_group_id,
            &config.recent_group_id,
        ] {
            background.spawn(
                "lag watcher",
                lag::watch(
                    config.clone(),
                    group.clone(),
                    config.kafka_topic.clone(),
                    shutdown.clone(),
                ),
            );
        }
    }

    if roles.serve {
        let admin_token = Some(config.admin_token.clone()).filter(|t| !t.is_empty());
        let access = AccessView::load(stores.clone()).await;
        background.spawn(
            "write key reload",
            access.clone().refresh(
                Duration::from_secs(config.ingest_keys_refresh_secs),
                shutdown.clone(),
            ),
        );
        let ingest = IngestState {
            sink: health.sink.clone(),
            access,
            max_batch: config.ingest_max_batch,
            max_body_bytes: config.ingest_max_body_bytes,
            body_timeout: Duration::from_secs(config.http_body_timeout_secs),
            limits: config.limits(),
            trusted_proxies: Arc::new(
                TrustedProxies::parse(&config.ingest_trusted_proxies)
                    .map_err(|e| anyhow::anyhow!("INGEST_TRUSTED_PROXIES: {e}"))?,
            ),
            rate_limiter: Arc::new(KeyRateLimiter::new(
                NonZeroU32::new(config.ingest_rate_events_per_sec).context("validated")?,
                NonZeroU32::new(config.ingest_rate_burst).context("validated")?,
            )),
        };
        let db = AnalyticsDb {
            clickhouse: clickhouse.clone(),
            live: LiveStore::new(
                &config.redis_url,
                &config.redis_key_prefix,
                Duration::from_secs(config.realtime_hot_half_life_secs),
            )
            .context("REDIS_URL")?,
            read_keys: read_keys(stores.clone()),
            recent: recent_reader(stores.clone()),
            catalog: Catalog::new(StoreCatalog(stores.clone())),
        };
        let shop = crate::shop::ShopState {
            stores: stores.clone(),
            write_key: config.demo_shop_write_key.clone(),
        };
        let catalog_api = CatalogApi {
            stores: stores.clone(),
            admin_token,
        };
        let apis = catalog_routes(catalog_api)
            .merge(crate::shop::shop_routes(shop))
            .merge(crate::analytics_api::routes(db.clone()));
        let app = http::router(ingest, health.clone(), db, http::leptos_options()?, apis);
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        addr = Some(listener.local_addr()?);
        tasks.push(spawn_server(listener, app, &config, &shutdown));
    }

    if roles.worker && !roles.serve {
        // A worker-only process still answers liveness, readiness (with its lag) and metrics.
        let listener = tokio::net::TcpListener::bind(config.worker_listen)
            .await
            .with_context(|| format!("WORKER_LISTEN {}", config.worker_listen))?;
        addr = Some(listener.local_addr()?);
        tasks.push(spawn_server(
            listener,
            http::health_routes(health),
            &config,
            &shutdown,
        ));
    }

    Ok(Running {
        addr,
        shutdown,
        tasks,
    })
}
