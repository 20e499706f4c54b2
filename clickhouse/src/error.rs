//! Errors from the ClickHouse boundary.

use thiserror::Error;

/// Server error codes worth retrying: overload, timeouts, too many parts, memory pressure.
/// Everything else the server rejects (syntax, unknown table, unparsable data) is permanent.
const RETRYABLE_CODES: &[u32] = &[
    159, // TIMEOUT_EXCEEDED
    164, // READONLY (replica temporarily read-only)
    202, // TOO_MANY_SIMULTANEOUS_QUERIES
    209, // SOCKET_TIMEOUT
    210, // NETWORK_ERROR
    241, // MEMORY_LIMIT_EXCEEDED
    242, // TABLE_IS_READ_ONLY
    252, // TOO_MANY_PARTS
    319, // UNKNOWN_STATUS_OF_INSERT
    425, // SYSTEM_ERROR
];

#[derive(Debug, Error)]
pub enum ClickHouseError {
    /// The server could not be reached or the connection broke: retryable.
    #[error("ClickHouse is unreachable: {0}")]
    Transport(#[from] reqwest::Error),
    /// The server answered with an exception.
    #[error("ClickHouse error (HTTP {status}, code {code:?}): {message}")]
    Server {
        status: u16,
        code: Option<u32>,
        message: String,
    },
    /// The answer did not have the shape the caller asked for: a bug, permanent.
    #[error("cannot decode ClickHouse's answer: {0}")]
    Decode(#[from] serde_json::Error),
    /// A query's placeholders and bound values do not match: a bug, permanent.
    #[error("bad query: {0}")]
    Bind(String),
}

impl ClickHouseError {
    /// Whether trying the same request again later can succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            ClickHouseError::Transport(_) => true,
            ClickHouseError::Server { status, code, .. } => match code {
                Some(code) => RETRYABLE_CODES.contains(code),
                // No exception code: a proxy or an overloaded server answered.
                None => *status >= 500,
            },
            ClickHouseError::Decode(_) | ClickHouseError::Bind(_) => false,
        }
    }

    /// The server's exception code, when it sent one.
    pub fn code(&self) -> Option<u32> {
        match self {
            ClickHouseError::Server { code, .. } => *code,
            _ => None,
        }
    }

    /// Builds the error from an HTTP error answer. Old servers put the code only in the body
    /// ("Code: 60, e.displayText() = ..."); newer ones also send `X-ClickHouse-Exception-Code`.
    pub(crate) fn from_answer(status: u16, header_code: Option<u32>, body: String) -> Self {
        let code = header_code.or_else(|| parse_code(&body));
        ClickHouseError::Server {
            status,
            code,
            message: body.trim().to_string(),
        }
    }
}

fn parse_code(body: &str) -> Option<u32> {
    let rest = body.trim_start().strip_prefix("Code: ")?;
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_read_from_old_style_bodies() {
        let e = ClickHouseError::from_answer(
            404,
            None,
            "Code: 60, e.displayText() = DB::Exception: Table x doesn't exist".into(),
        );
        assert_eq!(e.code(), Some(60));
        assert!(!e.is_retryable());
        let busy = ClickHouseError::from_answer(500, None, "Code: 252, Too many parts".into());
        assert!(busy.is_retryable());
        let proxy = ClickHouseError::from_answer(502, None, "Bad gateway".into());
        assert!(proxy.is_retryable());
        assert_eq!(proxy.code(), None);
    }
}
