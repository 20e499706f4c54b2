//! Where the stores live: SQLite files by default, MongoDB when `MONGODB_URI` is set.

use envconfig::Envconfig;
use recoscope_core::config::{ensure, ConfigError};
use std::collections::HashMap;

#[derive(Envconfig, Debug, Clone)]
pub struct StoreConfig {
    /// The configuration store (tenants, keys, origins, catalogs): a SQLite file.
    #[envconfig(
        from = "RECOSCOPE_STORE_PATH",
        default = ".stack/recoscope/config.sqlite3"
    )]
    pub path: String,
    /// The recent-behaviour store (7 days per user): a SQLite file.
    #[envconfig(
        from = "RECOSCOPE_RECENT_PATH",
        default = ".stack/recoscope/recent.sqlite3"
    )]
    pub recent_path: String,
    /// MongoDB for every store instead of the SQLite files (the original design's
    /// deployment); empty keeps the embedded defaults.
    #[envconfig(from = "MONGODB_URI", default = "")]
    pub mongodb_uri: String,
    /// The database the MongoDB stores use.
    #[envconfig(from = "MONGODB_DATABASE", default = "recoscope")]
    pub mongodb_database: String,
    /// Write keys registered at boot, `key=tenant,key=tenant` (tenants are created as
    /// needed). For development and demos; in production issue keys with
    /// `recoscope keys issue` and set this empty.
    #[envconfig(from = "RECOSCOPE_WRITE_KEYS", default = "demo-key=demo,shop-key=shop")]
    pub write_keys: String,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig::init_from_hashmap(&HashMap::new()).expect("defaults parse")
    }
}

/// Why `MONGODB_URI` is refused by a build without the driver.
pub(crate) const NO_MONGODB: &str = "is set, but this binary was built without MongoDB \
     support (the `mongodb` feature; a plain `cargo build --release` includes it)";

impl StoreConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        ensure(
            !self.path.trim().is_empty(),
            "RECOSCOPE_STORE_PATH",
            "must name a file",
        )?;
        ensure(
            !self.recent_path.trim().is_empty(),
            "RECOSCOPE_RECENT_PATH",
            "must name a file",
        )?;
        let mongodb_scheme = ["mongodb://", "mongodb+srv://"]
            .iter()
            .any(|scheme| self.mongodb_uri.starts_with(scheme));
        ensure(
            self.mongodb_uri.is_empty() || mongodb_scheme,
            "MONGODB_URI",
            "must start with mongodb:// or mongodb+srv://",
        )?;
        ensure(
            self.mongodb_uri.is_empty() || cfg!(feature = "mongodb"),
            "MONGODB_URI",
            NO_MONGODB,
        )?;
        ensure(
            !self.mongodb_database.is_empty()
                && !self.mongodb_database.contains(['/', '.', ' ', '$']),
            "MONGODB_DATABASE",
            "must be a non-empty name without / . $ or spaces",
        )?;
        parse_write_keys(&self.write_keys)
            .map(drop)
            .map_err(|reason| ConfigError::invalid("RECOSCOPE_WRITE_KEYS", reason))
    }

    /// Bootstrap keys → tenant. Only call after `validate`.
    pub fn write_key_map(&self) -> HashMap<String, String> {
        parse_write_keys(&self.write_keys).unwrap_or_default()
    }
}

fn parse_write_keys(spec: &str) -> Result<HashMap<String, String>, String> {
    let mut keys = HashMap::new();
    for pair in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, tenant)) = pair.split_once('=') else {
            return Err(format!("{pair:?} is not key=tenant"));
        };
        let (key, tenant) = (key.trim(), tenant.trim());
        if key.len() < 6 {
            return Err(format!("key {key:?} is shorter than 6 characters"));
        }
        if !recoscope_core::names::is_identifier(tenant) {
            return Err(format!(
                "tenant {tenant:?}: use letters, digits and '_' only"
            ));
        }
        if keys.insert(key.to_string(), tenant.to_string()).is_some() {
            return Err(format!("key {key:?} is listed twice"));
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_bootstrap_keys_and_uris_name_their_variable() {
        let config = StoreConfig {
            write_keys: "short=t".into(),
            ..StoreConfig::default()
        };
        let e = config.validate().unwrap_err();
        assert!(e.to_string().contains("RECOSCOPE_WRITE_KEYS"), "{e}");
        let config = StoreConfig {
            mongodb_uri: "http://db".into(),
            ..StoreConfig::default()
        };
        assert!(config
            .validate()
            .unwrap_err()
            .to_string()
            .contains("MONGODB_URI"));
        let config = StoreConfig::default();
        config.validate().unwrap();
        assert_eq!(
            config.write_key_map().get("demo-key").map(String::as_str),
            Some("demo")
        );
    }

    #[test]
    fn a_mongodb_uri_needs_a_build_with_the_driver() {
        let config = StoreConfig {
            mongodb_uri: "mongodb://db:27017".into(),
            ..StoreConfig::default()
        };
        let result = config.validate();
        if cfg!(feature = "mongodb") {
            result.unwrap();
        } else {
            let e = result.unwrap_err().to_string();
            assert!(
                e.contains("MONGODB_URI") && e.contains("without MongoDB"),
                "{e}"
            );
        }
    }
}
