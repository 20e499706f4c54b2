//! The consumer group that keeps the recent-behaviour store (7 days per user) fed from the
//! topic, and purges what is older.
//!
//! Why a consumer and not the API: Kafka is the source of truth. When the store is slow or
//! down, this worker retries with backoff and catches up afterwards (its offsets only move
//! after the store took the batch), while ingest never notices. Writes are keyed by
//! (tenant, user, event id), so a batch read twice is stored once.

use super::batch::{Limits, Source};
use super::consumer::{self, BatchHandler};
use super::retry::{retry, Retry};
use crate::clock::now_ms;
use crate::config::Config;
use crate::store::recent::{RecentStore, RETENTION};
use futures::future::{BoxFuture, FutureExt};
use rdkafka::message::BorrowedMessage;
use recoscope_core::BehaviorRecord;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub struct RecentFeed {
    store: Arc<dyn RecentStore>,
}

impl RecentFeed {
    /// Consumes until `shutdown`; purges expired behaviour every hour meanwhile.
    pub async fn run(
        config: Config,
        store: Arc<dyn RecentStore>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let consumer = consumer::join(&config, &config.recent_group_id, &config.kafka_topic)?;
        let purge = tokio::spawn(purge_every_hour(store.clone(), shutdown.clone()));
        let limits = Limits {
            max_rows: 5_000,
            max_bytes: 8 << 20,
            max_wait: Duration::from_millis(config.realtime_max_wait_ms),
        };
        let result = consumer::run(consumer, RecentFeed { store }, limits, shutdown).await;
        purge.abort();
        result
    }
}

impl BatchHandler for RecentFeed {
    /// `None` for a message that does not decode ([`consumer::record_of`]).
    type Item = Option<BehaviorRecord>;

    fn decode(&self, message: &BorrowedMessage<'_>) -> Option<BehaviorRecord> {
        consumer::record_of(message)
    }

    fn deliver<'a>(
        &'a self,
        items: Vec<(Source, Option<BehaviorRecord>)>,
        shutdown: &'a CancellationToken,
    ) -> BoxFuture<'a, bool> {
        async move {
            let records: Arc<Vec<BehaviorRecord>> =
                Arc::new(items.into_iter().filter_map(|(_, r)| r).collect());
            if records.is_empty() {
                return true;
            }
            let delivered = retry(shutdown, "recent-behaviour write", || {
                let store = self.store.clone();
                let records = records.clone();
                async move {
                    tokio::task::spawn_blocking(move || store.record(&records))
                        .await
                        .map_err(|e| Retry::Again(e.to_string()))?
                        .map_err(|e| Retry::Again(e.to_string()))
                }
            })
            .await
            .is_ok();
            if delivered {
                metrics::counter!("recoscope_recent_events_stored_total")
                    .increment(records.len() as u64);
            }
            delivered
        }
        .boxed()
    }
}

async fn purge_every_hour(store: Arc<dyn RecentStore>, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        let store = store.clone();
        let cutoff = now_ms() - RETENTION.as_millis() as i64;
        match tokio::task::spawn_blocking(move || store.purge_before(cutoff)).await {
            Ok(Ok(n)) => tracing::debug!(removed = n, "recent behaviour purged"),
            Ok(Err(error)) => tracing::warn!(%error, "recent-behaviour purge failed"),
            Err(error) => tracing::warn!(%error, "recent-behaviour purge task failed"),
        }
    }
}
