//! `POST /api/v1/behaviors`: key → events → sink → answer.

use super::access::AccessView;
use super::enrich::{parse_user_agent, RequestInfo, TrustedProxies};
use super::error::IngestError;
use super::rate_limit::KeyRateLimiter;
use super::sink::{EventSink, SinkError};
use crate::config::IngestConfig;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use recoscope_core::clock::now_ms;
use recoscope_core::validate::{parse_batch, split_body, BodyError, Limits, Rejection};
use recoscope_core::{BehaviorRecord, UnixMillis};
use recoscope_web::ErrorBody;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;
use tower_http::timeout::TimeoutLayer;

/// What the ingest routes need.
#[derive(Clone)]
pub struct IngestState {
    pub sink: Arc<dyn EventSink>,
    /// Write key → tenant, and the origins of each, in memory.
    pub access: Arc<AccessView>,
    pub max_batch: usize,
    pub max_body_bytes: usize,
    /// The whole request, body included, must arrive within this time (408).
    pub body_timeout: std::time::Duration,
    pub rate_limiter: Arc<KeyRateLimiter>,
    pub trusted_proxies: Arc<TrustedProxies>,
    pub limits: Limits,
}

impl IngestState {
    /// The routes' state from the ingest configuration (validated), where events go, and
    /// who may send them.
    pub fn new(
        config: &IngestConfig,
        body_timeout: std::time::Duration,
        sink: Arc<dyn EventSink>,
        access: Arc<AccessView>,
    ) -> Result<IngestState, String> {
        let positive = |n: u32, var: &str| {
            std::num::NonZeroU32::new(n).ok_or_else(|| format!("{var} must be positive"))
        };
        Ok(IngestState {
            sink,
            access,
            max_batch: config.max_batch,
            max_body_bytes: config.max_body_bytes,
            body_timeout,
            limits: config.limits(),
            trusted_proxies: Arc::new(
                TrustedProxies::parse(&config.trusted_proxies)
                    .map_err(|e| format!("INGEST_TRUSTED_PROXIES: {e}"))?,
            ),
            rate_limiter: Arc::new(KeyRateLimiter::new(
                positive(config.rate_events_per_sec, "INGEST_RATE_EVENTS_PER_SEC")?,
                positive(config.rate_burst, "INGEST_RATE_BURST")?,
            )),
        })
    }
}

/// The answer to an accepted request (some events may still be rejected).
#[derive(Debug, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct IngestResponse {
    pub accepted: usize,
    pub rejected: Vec<RejectionView>,
}

/// A rejection as the client sees it.
#[derive(Debug, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct RejectionView {
    pub index: usize,
    pub code: String,
    #[serde(default)]
    pub field: Option<String>,
    pub message: String,
}

impl From<Rejection> for RejectionView {
    fn from(r: Rejection) -> Self {
        RejectionView {
            index: r.index,
            code: r.code.to_string(),
            field: r.field.map(str::to_string),
            message: r.message,
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct KeyQuery {
    key: Option<String>,
}

pub fn ingest_routes<S>(state: IngestState) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    // The limit sits a little above the configured one so that an over-size body gets our
    // JSON 413 from the handler rather than a bare one from the extractor.
    let limit = state.max_body_bytes;
    let cors = super::cors::cors_layer(state.access.clone());
    let body_timeout = state.body_timeout;
    Router::new()
        .route("/api/v1/behaviors", post(ingest))
        // The limit counts the bytes on the wire here; a compressed body is decoded in the
        // handler with the same limit on what it decodes to (`decode_body`).
        .layer(DefaultBodyLimit::max(limit))
        // A client that trickles its body (or never finishes it) is answered 408.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            body_timeout,
        ))
        .layer(cors)
        .with_state(state)
}

/// The body as sent, or decoded from gzip or deflate (zlib) with at most `max` bytes out: a
/// small gzip bomb stops at the limit with 413. Any other `Content-Encoding` is refused
/// with 415 rather than parsed as if it were JSON.
///
/// The whole body on the wire is read before anything is answered (a streaming decoder
/// answered a bomb's 413 while the client was still sending, and closing a socket with
/// unread data resets it: the client saw a broken pipe instead of the 413).
fn decode_body(headers: &HeaderMap, body: Bytes, max: usize) -> Result<Bytes, IngestError> {
    use std::io::Read;
    let encoding = headers
        .get(axum::http::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let reader: Box<dyn Read + '_> = match encoding.as_str() {
        "" | "identity" => return Ok(body),
        "gzip" | "x-gzip" => Box::new(flate2::read::GzDecoder::new(&body[..])),
        "deflate" => Box::new(flate2::read::ZlibDecoder::new(&body[..])),
        other => return Err(IngestError::UnsupportedEncoding(other.to_string())),
    };
    let mut decoded = Vec::new();
    reader
        .take(max as u64 + 1)
        .read_to_end(&mut decoded)
        .map_err(|e| IngestError::BadBody(format!("the {encoding} body cannot be decoded: {e}")))?;
    if decoded.len() > max {
        return Err(IngestError::BodyTooLarge { max });
    }
    Ok(Bytes::from(decoded))
}

/// Whether a browser's `Origin` is this server itself (its host and port are the request's
/// `Host`): the page was served by us. The check guards against other sites' pages using a
/// key, and their browsers name their own origin.
fn same_origin(origin: &str, headers: &HeaderMap) -> bool {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok());
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    matches!((host, origin_host), (Some(h), Some(o)) if h.eq_ignore_ascii_case(o))
}

/// The write key from, in order: `X-Recoscope-Key`, `Authorization: Bearer`, `?key=`, or the
/// body's `write_key` (for `navigator.sendBeacon`, which cannot set headers).
fn find_key(headers: &HeaderMap, query: &KeyQuery, body_key: Option<&str>) -> Option<String> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    header("x-recoscope-key")
        .map(str::to_string)
        .or_else(|| {
            header("authorization")
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::to_string)
        })
        .or_else(|| query.key.clone())
        .or_else(|| body_key.map(str::to_string))
        .filter(|k| !k.is_empty())
}

/// A request body as documented: one event, or a batch (the write key may ride along for
/// `navigator.sendBeacon`). Parsing itself goes through `split_body` so that bad events can be
/// rejected one by one.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum IngestRequestDoc {
    Batch {
        events: Vec<recoscope_core::Event>,
        write_key: Option<String>,
        /// The client's clock when it sent the batch (ms since the Unix epoch). The events'
        /// timestamps are checked against it and moved by its difference to the server's
        /// clock, which corrects a client clock that is off.
        sent_at: Option<i64>,
    },
    Single(Box<recoscope_core::Event>),
}

/// Ingest behaviour events.
///
/// Any Content-Type is read as JSON (sendBeacon sends text/plain). Each invalid event is
/// rejected on its own with its index, code, field and message; the valid ones are accepted.
/// 200 only after Kafka acknowledged every accepted event.
#[utoipa::path(
    post,
    path = "/api/v1/behaviors",
    tag = "ingest",
    request_body(content = IngestRequestDoc, content_type = "application/json"),
    params(("key" = Option<String>, Query, description = "Write key, when no header can be set")),
    security((), ("write_key" = [])),
    responses(
        (status = 200, description = "Accepted (some events may be rejected)", body = IngestResponse),
        (status = 400, description = "Malformed body, or every event rejected", body = ErrorBody),
        (status = 401, description = "Missing or unknown write key", body = ErrorBody),
        (status = 403, description = "Origin not allowed for the key's tenant", body = ErrorBody),
        (status = 413, description = "Body or batch too large", body = ErrorBody),
        (status = 422, description = "The event log refused the events", body = ErrorBody),
        (status = 429, description = "Rate limit of the key exceeded; see Retry-After", body = ErrorBody),
        (status = 503, description = "Event log unavailable; retry after Retry-After", body = ErrorBody),
    )
)]
pub(crate) async fn ingest(
    state: State<IngestState>,
    query: Query<KeyQuery>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = std::time::Instant::now();
    let response = match ingest_request(state, query, peer, headers, body).await {
        Ok(response) => response,
        Err(error) => {
            match error {
                IngestError::Unavailable(_) => {
                    metrics::counter!("recoscope_ingest_unavailable_total").increment(1)
                }
                IngestError::RateLimited { .. } => {
                    metrics::counter!("recoscope_ingest_rate_limited_total").increment(1)
                }
                _ => {}
            }
            error.into_response()
        }
    };
    metrics::counter!("recoscope_ingest_requests_total", "status" => response.status().as_str().to_string())
        .increment(1);
    metrics::histogram!("recoscope_ingest_request_duration_seconds")
        .record(started.elapsed().as_secs_f64());
    response
}

async fn ingest_request(
    State(state): State<IngestState>,
    Query(query): Query<KeyQuery>,
    peer: SocketAddr,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, IngestError> {
    // Any Content-Type is read as JSON: sendBeacon sends text/plain.
    let body = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => IngestError::BodyTooLarge {
            max: state.max_body_bytes,
        },
        _ => IngestError::BadBody(e.body_text()),
    })?;
    let body = decode_body(&headers, body, state.max_body_bytes)?;
    let text = std::str::from_utf8(&body).map_err(|e| IngestError::InvalidUtf8(e.to_string()))?;
    let batch = split_body(text).map_err(|e| match e {
        BodyError::Malformed(message) => IngestError::MalformedJson(message),
        BodyError::Shape(message) => IngestError::BadBody(message.into()),
    })?;
    let key =
        find_key(&headers, &query, batch.write_key.as_deref()).ok_or(IngestError::MissingKey)?;
    let tenant = state
        .access
        .tenant_for_key(&key)
        .await
        .map_err(|e| IngestError::Unavailable(e.to_string()))?
        .ok_or(IngestError::UnknownKey)?;
    // A browser names its page's origin; only the tenant's own origins may send for it, and
    // pages this server serves itself (the demo shop).
    if let Some(origin) = headers.get(axum::http::header::ORIGIN) {
        let origin = origin.to_str().unwrap_or_default();
        if !tenant.origins.iter().any(|o| o == origin) && !same_origin(origin, &headers) {
            return Err(IngestError::OriginNotAllowed(origin.to_string()));
        }
    }
    let tenant = tenant.id.as_str();
    if batch.events.len() > state.max_batch {
        return Err(IngestError::TooManyEvents {
            got: batch.events.len(),
            max: state.max_batch,
        });
    }
    if batch.events.is_empty() {
        return Err(IngestError::BadBody("no events in the request".into()));
    }
    state
        .rate_limiter
        .check(&key, batch.events.len())
        .map_err(|wait| IngestError::RateLimited {
            retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
        })?;

    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let request_info = RequestInfo::new(
        state
            .trusted_proxies
            .client_ip(peer.ip(), header("x-forwarded-for")),
        header("user-agent").and_then(parse_user_agent),
    );
    let received_at = now_ms();
    // A client that says when it sent the batch (the tracker does) has its timestamps
    // checked on its own clock and, when that is off, moved onto ours: a phone whose clock
    // is an hour off still gets its events at the right time, and within the API's limits.
    let client_clock = batch.client_clock(received_at);
    let offset = batch.clock_offset(received_at, state.limits.clock_tolerance_ms);
    let (mut events, rejected) = parse_batch(batch.events, &state.limits, client_clock);
    if offset != 0 {
        for event in &mut events {
            event.timestamp = event
                .timestamp
                .and_then(|t| UnixMillis::new(t.get().saturating_add(offset)).ok());
        }
    }
    let rejected: Vec<RejectionView> = rejected.into_iter().map(RejectionView::from).collect();
    let records: Vec<BehaviorRecord> = events
        .into_iter()
        .map(|mut event| {
            request_info.apply(&mut event);
            BehaviorRecord::new(tenant, event, received_at, || {
                uuid::Uuid::now_v7().to_string()
            })
        })
        .collect();
    let accepted = records.len();
    if accepted > 0 {
        state.sink.send_batch(&records).await.map_err(|e| match e {
            SinkError::Retryable(m) => IngestError::Unavailable(m),
            SinkError::Permanent(m) => IngestError::Refused(m),
        })?;
    }
    metrics::counter!("recoscope_ingest_events_accepted_total").increment(accepted as u64);
    for rejection in &rejected {
        metrics::counter!("recoscope_ingest_events_rejected_total", "code" => rejection.code.clone())
            .increment(1);
    }
    let status = if accepted == 0 {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok((status, Json(IngestResponse { accepted, rejected })).into_response())
}
