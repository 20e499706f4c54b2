//! `recoscope`: the command line. All logic lives in the library.

use anyhow::Context;
use clap::{Parser, Subcommand};
use recoscope_clickhouse::ClickHouse;
use recoscope_server::catalog_import::{self, Format};
use recoscope_server::config::Config;
use recoscope_server::roles::{self, Roles};
use recoscope_server::{migrations, simulate};
use std::path::PathBuf;

// The ingest path allocates many small, short-lived buffers across threads (JSON values,
// Kafka payloads, delivery futures); glibc's malloc spent a fifth of bench/ingest's CPU.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "recoscope",
    version,
    about = "Real-time analytics for recommendation systems"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Ingest API and dashboard, plus the workers (the default).
    All,
    /// Ingest API and dashboard only.
    Serve,
    /// Stream workers only.
    Worker,
    /// Apply ClickHouse migrations and exit.
    Migrate,
    /// Send realistic traffic through the HTTP API.
    Simulate(simulate::SimulateArgs),
    /// Manage tenants and their allowed origins.
    #[command(subcommand)]
    Tenants(TenantsCommand),
    /// Issue, list and revoke write keys (public, for sending events) and read keys (secret,
    /// for the dashboard and `/api/v1/analytics`).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Import, list and delete a tenant's item catalog and scenarios (names for the ids
    /// events carry).
    #[command(subcommand)]
    Catalog(CatalogCommand),
}

#[derive(Subcommand)]
enum CatalogCommand {
    /// Import items from a JSON (array or lines) or CSV file (columns item_id, name, and
    /// optionally category, price, url). Existing items are replaced; bad records are
    /// listed and the rest imported (exit status 1 when any was rejected).
    ImportItems {
        tenant: String,
        file: PathBuf,
        /// Default: from the file's extension.
        #[arg(long, value_enum)]
        format: Option<Format>,
    },
    /// Import scenarios (scenario_id, name, optional description) the same way.
    ImportScenarios {
        tenant: String,
        file: PathBuf,
        #[arg(long, value_enum)]
        format: Option<Format>,
    },
    /// List items in id order, a page at a time.
    Items {
        tenant: String,
        /// Start after this id (the last id of the previous page).
        #[arg(long)]
        after: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// List scenarios.
    Scenarios { tenant: String },
    /// Delete items by id.
    DeleteItems { tenant: String, ids: Vec<String> },
    /// Delete scenarios by id.
    DeleteScenarios { tenant: String, ids: Vec<String> },
}

/// Runs a catalog command; an import that rejected records fails after printing its report.
fn catalog(config: &Config, command: CatalogCommand) -> anyhow::Result<()> {
    let (tenants, catalog) = recoscope_server::roles::open_stores(config)?;
    let tenant_id = match &command {
        CatalogCommand::ImportItems { tenant, .. }
        | CatalogCommand::ImportScenarios { tenant, .. }
        | CatalogCommand::Items { tenant, .. }
        | CatalogCommand::Scenarios { tenant }
        | CatalogCommand::DeleteItems { tenant, .. }
        | CatalogCommand::DeleteScenarios { tenant, .. } => tenant.clone(),
    };
    anyhow::ensure!(
        tenants.tenant(&tenant_id)?.is_some(),
        "unknown tenant {tenant_id:?} (recoscope tenants list)"
    );
    let read = |file: &PathBuf, format: Option<Format>| -> anyhow::Result<(Vec<u8>, Format)> {
        let format = format
            .or_else(|| Format::from_path(file))
            .with_context(|| {
                format!(
                    "{}: cannot tell the format from the name; pass --format json or csv",
                    file.display()
                )
            })?;
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        Ok((bytes, format))
    };
    let report = match command {
        CatalogCommand::ImportItems { file, format, .. } => {
            let (bytes, format) = read(&file, format)?;
            catalog_import::import_items(catalog.as_ref(), &tenant_id, &bytes, format)?
        }
        CatalogCommand::ImportScenarios { file, format, .. } => {
            let (bytes, format) = read(&file, format)?;
            catalog_import::import_scenarios(catalog.as_ref(), &tenant_id, &bytes, format)?
        }
        CatalogCommand::Items { after, limit, .. } => {
            let items = catalog.list_items(&tenant_id, after.as_deref(), limit)?;
            println!("{}", serde_json::to_string_pretty(&items)?);
            return Ok(());
        }
        CatalogCommand::Scenarios { .. } => {
            println!(
                "{}",
                serde_json::to_string_pretty(&catalog.scenarios(&tenant_id)?)?
            );
            return Ok(());
        }
        CatalogCommand::DeleteItems { ids, .. } => {
            let deleted = catalog.delete_items(&tenant_id, &ids)?;
            println!("{}", serde_json::json!({ "deleted": deleted }));
            return Ok(());
        }
        CatalogCommand::DeleteScenarios { ids, .. } => {
            let deleted = catalog.delete_scenarios(&tenant_id, &ids)?;
            println!("{}", serde_json::json!({ "deleted": deleted }));
            return Ok(());
        }
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    anyhow::ensure!(
        report.rejected_count == 0,
        "{} of {} records rejected (listed above); the others were imported",
        report.rejected_count,
        report.records
    );
    Ok(())
}

#[derive(Subcommand)]
enum TenantsCommand {
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
enum KeysCommand {
    /// Issue a new write key for a tenant; prints the key.
    Issue { tenant: String },
    /// List a tenant's keys.
    List { tenant: String },
    /// Revoke a key; requests with it are refused at once.
    Revoke { key: String },
    /// Issue a read key for a tenant; prints it once (only its hash is stored) with a
    /// dashboard sign-in link.
    Read { tenant: String },
    /// Revoke a read key.
    RevokeRead { key: String },
}

/// Runs a configuration command against the store and prints the outcome as JSON.
fn admin(config: &Config, command: Command) -> anyhow::Result<()> {
    let store = recoscope_server::roles::open_store(config)?;
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,rdkafka=warn".into()),
        )
        .init();
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::All);
    if let Command::Simulate(args) = command {
        return simulate::run(args).await;
    }

    let config = Config::from_env().map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
    if matches!(command, Command::Tenants(_) | Command::Keys(_)) {
        return admin(&config, command);
    }
    if let Command::Catalog(command) = command {
        return catalog(&config, command);
    }
    let roles = match command {
        Command::Migrate => {
            let applied = migrations::migrate(&ClickHouse::new(config.clickhouse())?).await?;
            tracing::info!(?applied, "migrations done");
            return Ok(());
        }
        Command::Serve => Roles {
            serve: true,
            worker: false,
        },
        Command::Worker => Roles {
            serve: false,
            worker: true,
        },
        Command::All
        | Command::Simulate(_)
        | Command::Tenants(_)
        | Command::Keys(_)
        | Command::Catalog(_) => Roles::ALL,
    };
    let running = roles::start(config, roles).await?;
    match (running.addr, roles.serve) {
        (Some(addr), true) => tracing::info!("dashboard and API on http://{addr}"),
        (Some(addr), false) => tracing::info!("worker health and metrics on http://{addr}"),
        (None, _) => {}
    }
    let shutdown = running.shutdown.clone();
    tokio::spawn(async move {
        stop_requested().await;
        tracing::info!("shutting down: draining batches, releasing partitions");
        shutdown.cancel();
    });
    running.wait().await
}

/// Ctrl-C or SIGTERM (how orchestrators and `kill` stop a process): both drain gracefully.
async fn stop_requested() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
