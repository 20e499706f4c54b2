//! `recoscope tenants …` and `recoscope keys …`: the configuration store from the shell
//! (safe while the server runs).

use super::Command;
use crate::config::Config;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum TenantsCommand {
    /// Create a tenant, optionally with allowed origins.
    Create {
        id: String,
        #[arg(long = "origin")]
        origins: Vec<String>,
    },
    /// List tenants with their origins.
    List,
    /// Replace a tenant's allowed origins (none: browsers may not send for it).
    Origins { id: String, origins: Vec<String> },
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Issue a new write key for a tenant; prints the key.
    Issue { tenant: String },
    /// List a tenant's keys.
    List { tenant: String },
    /// Revoke a key; requests with it are refused within INGEST_KEYS_REFRESH_SECS.
    Revoke { key: String },
    /// Issue a read key for a tenant; prints it once (only its hash is stored) with a
    /// dashboard sign-in link.
    Read { tenant: String },
    /// Revoke a read key.
    RevokeRead { key: String },
}

/// Runs a configuration command against the store and prints the outcome as JSON.
pub fn run(config: &Config, command: Command) -> anyhow::Result<()> {
    let stores = recoscope_stores::Stores::open(&config.stores)?;
    let store = stores.tenant_store();
    let output = match command {
        Command::Tenants(TenantsCommand::Create { id, origins }) => {
            store.create_tenant(&id)?;
            serde_json::to_value(store.set_origins(&id, &origins)?)?
        }
        Command::Tenants(TenantsCommand::List) => serde_json::to_value(store.list_tenants()?)?,
        Command::Tenants(TenantsCommand::Origins { id, origins }) => {
            serde_json::to_value(store.set_origins(&id, &origins)?)?
        }
        Command::Keys(KeysCommand::Issue { tenant }) => {
            serde_json::to_value(store.issue_key(&tenant)?)?
        }
        Command::Keys(KeysCommand::List { tenant }) => serde_json::to_value(store.keys(&tenant)?)?,
        Command::Keys(KeysCommand::Revoke { key }) => {
            store.revoke_key(&key)?;
            serde_json::json!({"revoked": key})
        }
        Command::Keys(KeysCommand::Read { tenant }) => {
            let read = store.issue_read_key(&tenant)?;
            serde_json::json!({
                "key": read.key,
                "tenant_id": read.tenant_id,
                "created_at": read.created_at,
                // The key rides in the fragment, which browsers never send to a server.
                "sign_in_path": format!("/signin#key={}", read.key),
            })
        }
        Command::Keys(KeysCommand::RevokeRead { key }) => {
            store.revoke_read_key(&key)?;
            serde_json::json!({"revoked": "read key"})
        }
        _ => unreachable!("only configuration commands reach here"),
    };
    println!("{}", serde_json::to_string_pretty(&output)?);
    Ok(())
}
