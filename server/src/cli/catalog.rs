//! `recoscope catalog …`: a tenant's item catalog and scenarios, from files or by id.

use crate::config::Config;
use anyhow::Context;
use clap::Subcommand;
use recoscope_stores::catalog_import::{self, Format};
use std::path::PathBuf;

/// A catalog file's format, as `--format` names it.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum FileFormat {
    /// A JSON array of objects, or JSON Lines (one object per line).
    Json,
    /// A header row, then one record per row.
    Csv,
}

impl From<FileFormat> for Format {
    fn from(format: FileFormat) -> Format {
        match format {
            FileFormat::Json => Format::Json,
            FileFormat::Csv => Format::Csv,
        }
    }
}

#[derive(Subcommand)]
pub enum CatalogCommand {
    /// Import items from a JSON (array or lines) or CSV file (columns item_id, name, and
    /// optionally category, price, url). Existing items are replaced; bad records are
    /// listed and the rest imported (exit status 1 when any was rejected).
    ImportItems {
        tenant: String,
        file: PathBuf,
        /// Default: from the file's extension.
        #[arg(long, value_enum)]
        format: Option<FileFormat>,
    },
    /// Import scenarios (scenario_id, name, optional description) the same way.
    ImportScenarios {
        tenant: String,
        file: PathBuf,
        #[arg(long, value_enum)]
        format: Option<FileFormat>,
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
pub fn run(config: &Config, command: CatalogCommand) -> anyhow::Result<()> {
    let stores = recoscope_stores::Stores::open(&config.stores)?;
    let (tenants, catalog) = (stores.tenant_store(), stores.catalog_store());
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
    let read = |file: &PathBuf, format: Option<FileFormat>| -> anyhow::Result<(Vec<u8>, Format)> {
        let format = format
            .map(Format::from)
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
