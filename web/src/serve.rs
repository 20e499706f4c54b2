//! The accept loop: serves a router with limits that hostile clients cannot outwait.
//!
//! `axum::serve` gives hyper no timer, so hyper's header read timeout never fires: a client
//! that sent half its headers and then nothing kept its connection (and a file descriptor)
//! for good; 15,000 of them were held at once (issue 12). Here every connection gets:
//! - a **header read timeout** (`HTTP_HEADER_TIMEOUT_SECS`): the request line and headers must
//!   arrive in that time; hyper runs the same timer while a kept-alive connection waits for
//!   its next request, so it is also the idle timeout;
//! - a **header size cap** (`HTTP_MAX_HEADER_BYTES`): larger headers get 431;
//! - a **connection cap** (`HTTP_MAX_CONNECTIONS`, and never more than the file descriptors
//!   allow): at the cap, new connections wait in the kernel's backlog instead of failing the
//!   process's other files.
//!
//! Slow bodies are bounded by the routes (`HTTP_BODY_TIMEOUT_SECS`, the server's router).
//! Shutdown stops accepting, lets requests in progress finish (up to [`DRAIN`]), then returns.

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// How long shutdown waits for requests in progress.
pub const DRAIN: Duration = Duration::from_secs(20);

/// Descriptors kept free for everything else (Kafka, ClickHouse, Redis, stores, logs).
const RESERVED_FDS: u64 = 512;

/// Connection limits (from the configuration).
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub header_timeout: Duration,
    pub max_header_bytes: usize,
    pub max_connections: usize,
}

/// Raises the soft limit on open files to the hard one (as Go's runtime and nginx do), and
/// returns how many connections fit under it.
pub fn connections_that_fit(wanted: usize) -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    let soft = unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return wanted;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit.rlim_cur = limit.rlim_max;
            }
        }
        limit.rlim_cur
    };
    let fit = soft.saturating_sub(RESERVED_FDS).max(64);
    wanted.min(usize::try_from(fit).unwrap_or(usize::MAX))
}

/// Serves `app` on `listener` until `shutdown`, with `limits` on every connection.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    // HTTP/1.1 only: protocol detection (hyper-util's auto builder) waits for a client's first
    // bytes with no timeout, so a connection that never says anything was kept for good.
    // Browsers and trackers speak HTTP/1.1 to us; HTTP/2 belongs to a TLS proxy in front.
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192));
    let builder = Arc::new(builder);
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            permit = permits.clone().acquire_owned() => permit?,
        };
        let (stream, remote) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors or a reset before accept: wait, do not spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        metrics::gauge!("recoscope_http_connections").increment(1.0);
        let service = app
            .clone()
            .map_request(move |mut request: hyper::Request<Incoming>| {
                // What `into_make_service_with_connect_info` would give the handlers.
                request.extensions_mut().insert(ConnectInfo(remote));
                request
            });
        let connection =
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, %remote, "connection ended with an error");
            }
            metrics::gauge!("recoscope_http_connections").decrement(1.0);
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still running {DRAIN:?} after shutdown; closing them");
    }
    Ok(())
}
