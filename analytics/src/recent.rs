//! A user's recent behaviour (the last 7 days, newest first) from the recent-behaviour store,
//! for operators looking at one user and for recommenders.

use recoscope_core::BehaviorRecord;
use serde::{Deserialize, Serialize};

pub const MAX_LIMIT: u32 = 500;
/// How far back the store keeps behaviour.
pub const WINDOW_MS: i64 = 7 * 24 * 3600 * 1000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecentBehaviour {
    pub tenant: String,
    pub user_id: String,
    /// Newest first; empty when the user did nothing in the last 7 days.
    pub events: Vec<BehaviorRecord>,
}

#[cfg(feature = "server")]
pub use server::{recent_for, RecentReader};

#[cfg(feature = "server")]
mod server {
    use super::*;
    use crate::{AnalyticsDb, AnalyticsError};
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Arc;

    type Read = dyn Fn(
            String,
            String,
            i64,
            usize,
        ) -> Pin<Box<dyn Future<Output = Result<Vec<BehaviorRecord>, String>> + Send>>
        + Send
        + Sync;

    /// Reads the recent-behaviour store: (tenant, user, since_ms, limit) → newest first.
    #[derive(Clone)]
    pub struct RecentReader(Arc<Read>);

    impl std::fmt::Debug for RecentReader {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("RecentReader")
        }
    }

    impl RecentReader {
        pub fn new<F, Fut>(read: F) -> Self
        where
            F: Fn(String, String, i64, usize) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = Result<Vec<BehaviorRecord>, String>> + Send + 'static,
        {
            RecentReader(Arc::new(move |t, u, s, l| Box::pin(read(t, u, s, l))))
        }
    }

    /// `tenant`'s user `user_id`: their last `limit` events of the last 7 days, newest first.
    pub async fn recent_for(
        db: &AnalyticsDb,
        tenant: &str,
        user_id: &str,
        limit: u32,
    ) -> Result<RecentBehaviour, AnalyticsError> {
        if limit == 0 || limit > MAX_LIMIT {
            return Err(AnalyticsError::BadRequest(format!(
                "limit must be between 1 and {MAX_LIMIT}"
            )));
        }
        if user_id.trim().is_empty() || user_id.len() > 256 {
            return Err(AnalyticsError::BadRequest(
                "user_id must be 1 to 256 bytes".into(),
            ));
        }
        let since = chrono::Utc::now().timestamp_millis() - WINDOW_MS;
        let events = (db.recent.0)(
            tenant.to_string(),
            user_id.to_string(),
            since,
            limit as usize,
        )
        .await
        .map_err(|error| {
            tracing::error!(%error, "recent behaviour read failed");
            AnalyticsError::Failed {
                message: "recent behaviour: the store is unavailable; try again shortly".into(),
                retryable: true,
            }
        })?;
        Ok(RecentBehaviour {
            tenant: tenant.to_string(),
            user_id: user_id.to_string(),
            events,
        })
    }
}
