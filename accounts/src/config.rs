//! How long sessions and invitations last, and when failed sign-ins lock an account.

use envconfig::Envconfig;
use recoscope_core::config::{ensure, ConfigError};
use std::collections::HashMap;
use std::time::Duration;

#[derive(Envconfig, Debug, Clone)]
pub struct AccountsConfig {
    /// A dashboard session ends this long after sign-in (then the operator signs in again).
    #[envconfig(from = "SESSION_TTL_HOURS", default = "168")]
    pub session_ttl_hours: u32,
    /// An invitation link works once, within this time.
    #[envconfig(from = "INVITATION_TTL_HOURS", default = "72")]
    pub invitation_ttl_hours: u32,
    /// Wrong passwords in a row that lock an account ...
    #[envconfig(from = "SIGN_IN_MAX_FAILURES", default = "5")]
    pub max_failures: u32,
    /// ... for this long.
    #[envconfig(from = "SIGN_IN_LOCK_MINUTES", default = "15")]
    pub lock_minutes: u32,
    /// Sign-in attempts per minute per email this process accepts at all (any email,
    /// known or not; each attempt costs an argon2 check).
    #[envconfig(from = "SIGN_IN_ATTEMPTS_PER_MINUTE", default = "10")]
    pub attempts_per_minute: u32,
}

impl Default for AccountsConfig {
    fn default() -> Self {
        AccountsConfig::init_from_hashmap(&HashMap::new()).expect("defaults parse")
    }
}

impl AccountsConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        ensure(
            self.session_ttl_hours > 0,
            "SESSION_TTL_HOURS",
            "must be positive",
        )?;
        ensure(
            self.invitation_ttl_hours > 0,
            "INVITATION_TTL_HOURS",
            "must be positive",
        )?;
        ensure(
            self.max_failures > 0,
            "SIGN_IN_MAX_FAILURES",
            "must be positive",
        )?;
        ensure(
            self.attempts_per_minute > 0,
            "SIGN_IN_ATTEMPTS_PER_MINUTE",
            "must be positive",
        )
    }

    pub fn session_ttl(&self) -> Duration {
        Duration::from_secs(u64::from(self.session_ttl_hours) * 3600)
    }

    pub(crate) fn ms(duration: Duration) -> i64 {
        duration.as_millis() as i64
    }

    pub(crate) fn invitation_ttl(&self) -> Duration {
        Duration::from_secs(u64::from(self.invitation_ttl_hours) * 3600)
    }

    pub(crate) fn lock(&self) -> Duration {
        Duration::from_secs(u64::from(self.lock_minutes) * 60)
    }
}
