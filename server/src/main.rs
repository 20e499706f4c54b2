//! `recoscope`: the command line. All logic lives in the library (`recoscope_server::cli`).

use clap::Parser;
use recoscope_server::cli::{self, Cli};

// The ingest path allocates many small, short-lived buffers across threads (JSON values,
// Kafka payloads, delivery futures); glibc's malloc spent a fifth of bench/ingest's CPU.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,rdkafka=warn".into()),
        )
        .init();
    cli::run(Cli::parse()).await
}
