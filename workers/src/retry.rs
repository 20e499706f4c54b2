//! Retrying transient failures: exponential backoff with jitter, capped, until shutdown.

use rand::Rng;
use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// An attempt's failure that is worth trying again (the service is down or busy). Bad data is
/// never retried: callers return it as a value instead.
pub enum Retry {
    Again(String),
}

/// Runs `attempt` until it succeeds; `Err(())` only when shutdown came first.
pub async fn retry<T, F, Fut>(
    shutdown: &CancellationToken,
    what: &str,
    mut attempt: F,
) -> Result<T, ()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Retry>>,
{
    let mut backoff = Duration::from_millis(100);
    loop {
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(Retry::Again(error)) => {
                let wait = backoff.mul_f64(rand::thread_rng().gen_range(0.5..1.5));
                tracing::warn!(%error, retry_in_ms = wait.as_millis() as u64, "{what} failed, retrying");
                metrics::counter!("recoscope_worker_retries_total", "what" => what.to_string())
                    .increment(1);
                tokio::select! {
                    _ = shutdown.cancelled() => return Err(()),
                    _ = tokio::time::sleep(wait) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}
