//! The roles one binary can play, started in-process: `serve` (ingest API + dashboard),
//! `worker` (stream workers), or both. Tests start the same way the binary does.

use crate::background::Background;
use crate::catalog_api::{catalog_routes, CatalogApi};
use crate::config::Config;
use crate::http::{self, HealthState};
use crate::migrations::migrate_configured;
use anyhow::Context;
use recoscope_analytics::catalog::{Catalog, CatalogFuture, CatalogReader};
use recoscope_analytics::live_store::LiveStore;
use recoscope_analytics::read_keys::ReadKeys;
use recoscope_analytics::recent::RecentReader;
use recoscope_analytics::AnalyticsDb;
use recoscope_clickhouse::ClickHouse;
use recoscope_core::catalog::{CatalogItem, Scenario};
use recoscope_ingest::access::AccessView;
use recoscope_ingest::kafka_sink::KafkaEventSink;
use recoscope_ingest::IngestState;
use recoscope_kafka::ensure_topics;
use recoscope_stores::{StoreError, Stores};
use recoscope_web::serve::serve;
use recoscope_web::HttpConfig;
use recoscope_workers::clickhouse_sink::{ClickHouseSink, ClickHouseTarget};
use recoscope_workers::lag::{self, LagBoard};
use recoscope_workers::realtime::RealtimeWorker;
use recoscope_workers::recent_feed::RecentFeed;
use recoscope_workers::retention::{self, RawTables};
use std::net::SocketAddr;
use std::sync::Arc;
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
    /// The read model the API serves from (with the API role).
    pub analytics: Option<AnalyticsDb>,
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

    fn count_items(&self, tenant: String) -> CatalogFuture<u64> {
        let stores = self.0.clone();
        Box::pin(async move {
            stores
                .catalog(move |store| store.count_items(&tenant))
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
    http: &HttpConfig,
    shutdown: &CancellationToken,
) -> JoinHandle<anyhow::Result<()>> {
    tokio::spawn(serve(
        listener,
        app,
        http.connection_limits(),
        shutdown.clone(),
    ))
}

/// Where the ClickHouse loader writes: the one server, or each shard of the cluster.
fn clickhouse_target(config: &Config, clickhouse: &ClickHouse) -> anyhow::Result<ClickHouseTarget> {
    let shards = config.clickhouse_shards();
    if shards.is_empty() {
        return Ok(ClickHouseTarget::Single(clickhouse.clone()));
    }
    Ok(ClickHouseTarget::Sharded(
        shards
            .into_iter()
            .map(ClickHouse::new)
            .collect::<Result<_, _>>()?,
    ))
}

/// Where raw events expire: the one server, or every node of the cluster.
fn retention_targets(config: &Config, clickhouse: &ClickHouse) -> anyhow::Result<Vec<RawTables>> {
    let nodes = config.clickhouse_nodes();
    if nodes.is_empty() {
        return Ok(vec![RawTables::single(clickhouse.clone())]);
    }
    nodes
        .into_iter()
        .flatten()
        .map(|node| Ok(RawTables::cluster_node(ClickHouse::new(node)?)))
        .collect()
}

/// Prepares the shared resources (database schema, topics) and starts the roles. Each
/// component gets its own part of `config`.
pub async fn start(config: Config, roles: Roles) -> anyhow::Result<Running> {
    let clickhouse = ClickHouse::new(config.clickhouse())?;
    migrate_configured(&config).await?;
    ensure_topics(&config.kafka).await?;
    let shutdown = CancellationToken::new();
    let background = Background::new(shutdown.clone());
    let health = HealthState {
        sink: Arc::new(KafkaEventSink::new(&config.kafka, &config.ingest)?),
        clickhouse: clickhouse.clone(),
        max_lag: config.worker.ready_max_lag,
        stall_after: config.worker.stall_after(),
        lag: Arc::new(LagBoard::default()),
        background: background.clone(),
    };

    let mut tasks = Vec::new();
    let mut addr = None;
    let mut analytics = None;
    let stores = open_stores(&config).await?;

    if roles.worker {
        let membership = config.membership();
        tasks.push(tokio::spawn(ClickHouseSink::run(
            membership.clone(),
            config.sink.clone(),
            clickhouse_target(&config, &clickhouse)?,
            shutdown.clone(),
        )));
        tasks.push(tokio::spawn(RealtimeWorker::run(
            membership.clone(),
            config.realtime.clone(),
            shutdown.clone(),
        )));
        tasks.push(tokio::spawn(RecentFeed::run(
            membership,
            config.recent.clone(),
            stores.clone(),
            shutdown.clone(),
        )));
        background.spawn(
            "retention",
            retention::run(
                retention_targets(&config, &clickhouse)?,
                config.sink.raw_retention_days,
                shutdown.clone(),
            ),
        );
        for group in [
            &config.sink.group_id,
            &config.realtime.group_id,
            &config.recent.group_id,
        ] {
            background.spawn(
                "lag watcher",
                lag::watch(
                    config.kafka.clone(),
                    group.clone(),
                    config.worker.stall_after(),
                    health.lag.clone(),
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
            access
                .clone()
                .refresh(config.ingest.keys_refresh(), shutdown.clone()),
        );
        let ingest = IngestState::new(
            &config.ingest,
            config.http.body_timeout(),
            health.sink.clone(),
            access,
        )
        .map_err(anyhow::Error::msg)?;
        let db = AnalyticsDb {
            clickhouse: clickhouse.clone(),
            live: LiveStore::new(
                config.redis.target(),
                &config.redis.key_prefix,
                config.realtime.hot_half_life(),
            )
            .context("REDIS_URL")?,
            read_keys: read_keys(stores.clone()),
            recent: recent_reader(stores.clone()),
            catalog: Catalog::new(StoreCatalog(stores.clone())),
            funnel_sample_events: config.analytics.funnel_sample_events,
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
        analytics = Some(db.clone());
        let dashboard = http::DashboardState {
            db,
            accounts: recoscope_accounts::Accounts::new(stores.clone(), config.accounts.clone()),
            stores: stores.clone(),
        };
        let app = http::router(
            ingest,
            health.clone(),
            dashboard,
            http::leptos_options()?,
            apis,
        );
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        addr = Some(listener.local_addr()?);
        tasks.push(spawn_server(listener, app, &config.http, &shutdown));
    }

    if roles.worker && !roles.serve {
        // A worker-only process still answers liveness, readiness (with its lag) and metrics.
        let listener = tokio::net::TcpListener::bind(config.worker.listen)
            .await
            .with_context(|| format!("WORKER_LISTEN {}", config.worker.listen))?;
        addr = Some(listener.local_addr()?);
        tasks.push(spawn_server(
            listener,
            http::health_routes(health),
            &config.http,
            &shutdown,
        ));
    }

    Ok(Running {
        addr,
        analytics,
        shutdown,
        tasks,
    })
}
