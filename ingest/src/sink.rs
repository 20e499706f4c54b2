//! Where accepted events go. The API depends on this trait, not on Kafka, so the contract
//! ("2xx only after the sink took every event") is stated once.

use futures::future::BoxFuture;
use recoscope_core::BehaviorRecord;
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum SinkError {
    /// Broker down, queue full, timeout: the client should retry the same events later.
    #[error("temporarily unavailable: {0}")]
    Retryable(String),
    /// The events can never be written as they are (too large, unencodable).
    #[error("rejected by the event log: {0}")]
    Permanent(String),
}

pub trait EventSink: Send + Sync + 'static {
    /// Resolves once every record is durably acknowledged, or with the first failure.
    fn send_batch<'a>(
        &'a self,
        records: &'a [BehaviorRecord],
    ) -> BoxFuture<'a, Result<(), SinkError>>;
    /// Whether the sink can take events now (readiness).
    fn ready(&self) -> BoxFuture<'_, Result<(), SinkError>>;
}
