//! What every component's configuration reports when a value is wrong: the variable's name
//! and why, so the process stops at boot with a message an operator can act on.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum ConfigError {
    /// The environment could not be read into the types (a number that is not one, ...).
    Env(String),
    /// A value parsed but is out of range or inconsistent with another.
    Invalid { var: &'static str, reason: String },
}

impl ConfigError {
    pub fn invalid(var: &'static str, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            var,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Env(message) => f.write_str(message),
            ConfigError::Invalid { var, reason } => write!(f, "invalid {var}: {reason}"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// `Err(invalid(var, reason))` unless `ok`: one line per rule in a `validate`.
pub fn ensure(ok: bool, var: &'static str, reason: &str) -> Result<(), ConfigError> {
    if ok {
        Ok(())
    } else {
        Err(ConfigError::invalid(var, reason))
    }
}
