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
use crate::config::{Membership, RecentFeedConfig};
use futures::future::{BoxFuture, FutureExt};
use rdkafka::message::BorrowedMessage;
use recoscope_core::clock::now_ms;
use recoscope_core::BehaviorRecord;
use recoscope_stores::recent::RETENTION;
use recoscope_stores::{StoreError, Stores};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub struct RecentFeed {
    stores: Stores,
}

impl RecentFeed {
    /// Consumes until `shutdown`; purges expired behaviour every hour meanwhile.
    pub async fn run(
        membership: Membership,
        config: RecentFeedConfig,
        stores: Stores,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let consumer = consumer::join(&membership, &config.group_id)?;
        let purge = tokio::spawn(purge_every_hour(stores.clone(), shutdown.clone()));
        let limits = Limits {
            max_rows: 5_000,
            max_bytes: 8 << 20,
            max_wait: Duration::from_millis(config.max_wait_ms),
        };
        let result = consumer::run(consumer, RecentFeed { stores }, limits, shutdown).await;
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
                let records = records.clone();
                async move {
                    self.stores
                        .recent(move |store| store.record(&records))
                        .await
                        .map_err(|e: StoreError| Retry::Again(e.to_string()))
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

async fn purge_every_hour(stores: Stores, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        let cutoff = now_ms() - RETENTION.as_millis() as i64;
        match stores
            .recent::<_, StoreError>(move |store| store.purge_before(cutoff))
            .await
        {
            Ok(n) => tracing::debug!(removed = n, "recent behaviour purged"),
            Err(error) => tracing::warn!(%error, "recent-behaviour purge failed"),
        }
    }
}
