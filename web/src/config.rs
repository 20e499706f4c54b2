//! How long and how large a client may be: the limits of every HTTP connection and body.

use crate::serve::{connections_that_fit, ConnectionLimits};
use envconfig::Envconfig;
use recoscope_core::config::{ensure, ConfigError};
use std::collections::HashMap;
use std::time::Duration;

#[derive(Envconfig, Debug, Clone)]
pub struct HttpConfig {
    /// Request line and headers must arrive within this time; a client that stalls is
    /// disconnected. It is also how long a kept-alive connection may stay idle (hyper has one
    /// timer for both), so the default avoids the 10/15/30/60 s intervals pollers and scrapers
    /// use: a request sent just as the server closes the idle connection fails.
    #[envconfig(from = "HTTP_HEADER_TIMEOUT_SECS", default = "20")]
    pub header_timeout_secs: u64,
    /// A request body must arrive within this time (408 otherwise).
    #[envconfig(from = "HTTP_BODY_TIMEOUT_SECS", default = "30")]
    pub body_timeout_secs: u64,
    /// Request line and headers larger than this get 431.
    #[envconfig(from = "HTTP_MAX_HEADER_BYTES", default = "65536")]
    pub max_header_bytes: usize,
    /// Open HTTP connections at most (also bounded by the open-file limit); more wait.
    #[envconfig(from = "HTTP_MAX_CONNECTIONS", default = "10000")]
    pub max_connections: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig::init_from_hashmap(&HashMap::new()).expect("defaults parse")
    }
}

impl HttpConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        ensure(
            self.header_timeout_secs > 0 && self.body_timeout_secs > 0,
            "HTTP_HEADER_TIMEOUT_SECS/HTTP_BODY_TIMEOUT_SECS",
            "must be positive",
        )?;
        ensure(
            (8192..=1 << 20).contains(&self.max_header_bytes),
            "HTTP_MAX_HEADER_BYTES",
            "must be between 8192 and 1048576",
        )?;
        ensure(
            self.max_connections > 0,
            "HTTP_MAX_CONNECTIONS",
            "must be positive",
        )
    }

    /// The limits every connection gets (raising the open-file limit as far as allowed).
    pub fn connection_limits(&self) -> ConnectionLimits {
        ConnectionLimits {
            header_timeout: Duration::from_secs(self.header_timeout_secs),
            max_header_bytes: self.max_header_bytes,
            max_connections: connections_that_fit(self.max_connections),
        }
    }

    pub fn body_timeout(&self) -> Duration {
        Duration::from_secs(self.body_timeout_secs)
    }
}
