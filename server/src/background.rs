//! Background tasks that run for the life of the process (retention, lag watchers, the
//! write-key reload) and must not die unnoticed: one that ends or panics before shutdown is
//! logged as an error and turns readiness red (`/_readiness`, `background.failed`), so an
//! orchestrator restarts the process.

use futures::FutureExt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

pub struct Background {
    shutdown: CancellationToken,
    failed: Mutex<Vec<&'static str>>,
}

impl Background {
    pub fn new(shutdown: CancellationToken) -> Arc<Background> {
        Arc::new(Background {
            shutdown,
            failed: Mutex::new(Vec::new()),
        })
    }

    /// Runs `task` until shutdown; its end before then is a failure.
    pub fn spawn<F>(self: &Arc<Self>, name: &'static str, task: F) -> tokio::task::JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let board = self.clone();
        tokio::spawn(async move {
            let ended = AssertUnwindSafe(task).catch_unwind().await;
            if board.shutdown.is_cancelled() {
                return;
            }
            match ended {
                Ok(()) => tracing::error!(task = name, "background task ended before shutdown"),
                Err(_) => tracing::error!(task = name, "background task panicked"),
            }
            board.failed.lock().expect("not poisoned").push(name);
        })
    }

    /// The tasks that ended or panicked before shutdown.
    pub fn failed(&self) -> Vec<&'static str> {
        self.failed.lock().expect("not poisoned").clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_task_that_dies_is_reported_one_stopped_by_shutdown_is_not() {
        let shutdown = CancellationToken::new();
        let board = Background::new(shutdown.clone());
        board.spawn("returns", async {}).await.unwrap();
        board
            .spawn("panics", async { panic!("boom") })
            .await
            .unwrap();
        let waits = {
            let token = shutdown.clone();
            board.spawn("waits", async move { token.cancelled().await })
        };
        assert_eq!(board.failed(), ["returns", "panics"]);
        shutdown.cancel();
        waits.await.unwrap();
        assert_eq!(board.failed(), ["returns", "panics"]);
    }
}
