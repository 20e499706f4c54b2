//! Prometheus metrics: one recorder per process, rendered at `GET /metrics`.
//!
//! Metric names (all prefixed `recoscope_`):
//! - `ingest_requests_total{status}`, `ingest_request_duration_seconds` (histogram)
//! - `ingest_events_accepted_total`, `ingest_events_rejected_total{code}`
//! - `ingest_unavailable_total` (503s), `ingest_rate_limited_total` (429s),
//!   `producer_queue_full_total`
//! - `sink_rows_inserted_total`, `sink_batches_total`, `sink_rows_rejected_total`,
//!   `sink_undecodable_messages_total`, `sink_dead_letters_total`,
//!   `sink_duplicates_skipped_total`
//! - `realtime_events_applied_total`, `recent_events_stored_total`
//! - `consumer_lag{group,topic,partition}` (gauge), `consumer_commit_failures_total`,
//!   `worker_retries_total{what}`

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

/// Latency buckets in seconds: sub-millisecond to the produce timeout.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process-wide recorder, installed on first use (a process may start several apps,
/// e.g. tests; they share it).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("duration_seconds".into()), LATENCY_BUCKETS)
                .expect("static buckets are valid")
                .install_recorder()
                .expect("no other metrics recorder is installed")
        })
        .clone()
}
