//! Which tenants and scenarios have data, for the dashboard's filters.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scopes {
    pub tenants: Vec<String>,
    /// Scenarios of the selected tenant.
    pub scenarios: Vec<String>,
}

/// Tenants with data in the rollup and the scenarios of `tenant`.
#[server(endpoint = "scopes")]
pub async fn get_scopes(tenant: String) -> Result<Scopes, ServerFnError> {
    let db = super::analytics_db()?;
    super::queries::scopes(&db.clickhouse, &tenant)
        .await
        .map_err(|e| super::query_failed("scopes", e))
}
