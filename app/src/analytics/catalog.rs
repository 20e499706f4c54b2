//! The caller's tenant and its scenarios, for the dashboard's header and filters.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scopes {
    /// The tenant the caller's read key reads.
    pub tenant: String,
    /// Its scenarios with data.
    pub scenarios: Vec<String>,
}

/// The caller's tenant and the scenarios it has data for.
#[server(endpoint = "scopes")]
pub async fn get_scopes() -> Result<Scopes, ServerFnError> {
    let tenant = crate::identity::caller_tenant().await?;
    Ok(scopes_for(&super::analytics_db()?, &tenant).await?)
}

/// [`get_scopes`] for `tenant`.
#[cfg(feature = "ssr")]
pub async fn scopes_for(
    db: &super::AnalyticsDb,
    tenant: &str,
) -> Result<Scopes, super::AnalyticsError> {
    super::queries::scopes(&db.clickhouse, tenant)
        .await
        .map_err(|e| super::query_failed("scopes", e))
}
