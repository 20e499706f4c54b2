//! Why a read failed, and the range checks every view shares.

/// Why an analytics call failed; the JSON API maps each kind to its HTTP status, server
/// functions carry the message.
#[derive(Debug, Clone, PartialEq)]
pub enum AnalyticsError {
    /// The parameters are out of range (400).
    BadRequest(String),
    /// No live read key (401).
    Unauthorized,
    /// A database or store failed (503 when retryable, else 500).
    Failed { message: String, retryable: bool },
}

impl std::fmt::Display for AnalyticsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AnalyticsError::BadRequest(message) => f.write_str(message),
            AnalyticsError::Unauthorized => write!(
                f,
                "{}: sign in with a read key (recoscope keys read --tenant <tenant>)",
                crate::read_keys::UNAUTHORIZED
            ),
            AnalyticsError::Failed { message, .. } => f.write_str(message),
        }
    }
}

/// Days a range of raw events may span (raw retention is 90 days, plus a day of slack).
pub(crate) const RAW_MAX_DAYS: i64 = 91;
/// Days a range over the rollups may span (they keep everything; this bounds the answer).
pub(crate) const ROLLUP_MAX_DAYS: i64 = 400;

/// Checks a range `[from, to)` in epoch seconds: ordered, and at most `max_days` long.
pub(crate) fn check_range(from: i64, to: i64, max_days: i64) -> Result<(), AnalyticsError> {
    if to <= from {
        return Err(AnalyticsError::BadRequest("to must be after from".into()));
    }
    if to - from > max_days * 86_400 {
        return Err(AnalyticsError::BadRequest(format!(
            "this range spans at most {max_days} days"
        )));
    }
    Ok(())
}

/// Logs the full error on the server and gives the caller a short, safe message.
pub(crate) fn query_failed(
    what: &str,
    error: recoscope_clickhouse::ClickHouseError,
) -> AnalyticsError {
    tracing::error!(%error, "{what} query failed");
    let retryable = error.is_retryable();
    let hint = if retryable {
        "the analytics database is unreachable or busy; try again shortly"
    } else {
        "the analytics query failed; see the server log"
    };
    AnalyticsError::Failed {
        message: format!("{what}: {hint}"),
        retryable,
    }
}
