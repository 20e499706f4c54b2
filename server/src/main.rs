//! `recoscope`: the command line. All logic lives in the library.

use clap::{Parser, Subcommand};
use recoscope_clickhouse::ClickHouse;
use recoscope_server::config::Config;
use recoscope_server::roles::{self, Roles};
use recoscope_server::{migrations, simulate};

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
        Command::All | Command::Simulate(_) => Roles::ALL,
    };
    let running = roles::start(config, roles).await?;
    if let Some(addr) = running.addr {
        tracing::info!("dashboard and API on http://{addr}");
    }
    let shutdown = running.shutdown.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
        shutdown.cancel();
    });
    running.wait().await
}
