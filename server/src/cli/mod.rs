//! The `recoscope` command line, behind a thin `main`: what each command does.
//!
//! - this module: the commands, and running the roles until Ctrl-C or SIGTERM;
//! - [`catalog`]: importing, listing and deleting a tenant's items and scenarios;
//! - [`config_store`]: tenants, origins, write keys and read keys.
//! - [`users`]: the dashboard's operators (the first admin, roles, unlocking).

mod catalog;
mod config_store;
mod users;

use crate::config::Config;
use crate::roles::{self, Roles};
use crate::{migrations, simulate};
use catalog::CatalogCommand;
use clap::{Parser, Subcommand};
use config_store::{KeysCommand, TenantsCommand};
use users::UsersCommand;

#[derive(Parser)]
#[command(
    name = "recoscope",
    version,
    about = "Real-time analytics for recommendation systems"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
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
    /// Add, invite and list the dashboard's operators, change their roles, unlock them.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Exit 0 when this host's process answers liveness (`RECOSCOPE_LISTEN`, else
    /// `WORKER_LISTEN`): the container's health check, which needs no curl in the image.
    Probe,
}

/// Runs the command line: a configuration command, the simulator, migrations, or the
/// roles until Ctrl-C or SIGTERM.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let command = cli.command.unwrap_or(Command::All);
    if let Command::Simulate(args) = command {
        return simulate::run(args).await;
    }
    if let Command::Probe = command {
        return probe().await;
    }

    let config = Config::from_env().map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
    if matches!(command, Command::Tenants(_) | Command::Keys(_)) {
        return config_store::run(&config, command);
    }
    if let Command::Catalog(command) = command {
        return catalog::run(&config, command);
    }
    if let Command::Users(command) = command {
        return users::run(&config, command).await;
    }
    let roles = match command {
        Command::Migrate => {
            let applied = migrations::migrate_configured(&config).await?;
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
        | Command::Catalog(_)
        | Command::Users(_)
        | Command::Probe => Roles::ALL,
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

/// Asks the liveness endpoint of the server role, then of a worker-only process, on this
/// host; fails when neither answers 200 within two seconds.
async fn probe() -> anyhow::Result<()> {
    let config = Config::from_env().map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(2))
        .build()?;
    let mut failures = Vec::new();
    for listen in [config.listen, config.worker.listen] {
        // A process listening on every interface answers on loopback.
        let host = if listen.ip().is_unspecified() {
            std::net::IpAddr::from([127, 0, 0, 1])
        } else {
            listen.ip()
        };
        let url = format!(
            "http://{}/_liveness",
            std::net::SocketAddr::new(host, listen.port())
        );
        match http.get(&url).send().await {
            Ok(response) if response.status().is_success() => return Ok(()),
            Ok(response) => failures.push(format!("{url}: {}", response.status())),
            Err(error) => failures.push(format!("{url}: {error}")),
        }
    }
    anyhow::bail!("not live: {}", failures.join("; "))
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
