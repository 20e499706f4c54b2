//! The caller's tenant and its scenarios, for the dashboard's header and filters: every
//! scenario with data, and every scenario the catalog names (one without data yet still
//! shows, so an operator sees that a new placement reports nothing).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scopes {
    /// The tenant the caller's read key reads.
    pub tenant: String,
    /// Its scenarios, in id order.
    pub scenarios: Vec<ScenarioScope>,
    /// The scenario catalog could not be read: names are missing.
    #[serde(default)]
    pub catalog_unavailable: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioScope {
    pub id: String,
    /// From the scenario catalog, when it names this one.
    pub name: Option<String>,
    pub description: Option<String>,
    /// Whether any event was recorded for it.
    pub has_data: bool,
}

impl ScenarioScope {
    /// What a person reads: the name, else the id.
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }
}

impl Scopes {
    /// Whether any scenario has data.
    pub fn has_data(&self) -> bool {
        self.scenarios.iter().any(|s| s.has_data)
    }

    /// A chosen scenario (`None`: all) as a person reads it: its catalog name, else its id.
    pub fn scenario_label(&self, scenario: Option<&str>) -> String {
        scenario_label(&self.scenarios, scenario)
    }
}

/// A chosen scenario (`None`: all) among `scenarios`, as a person reads it.
pub fn scenario_label(scenarios: &[ScenarioScope], scenario: Option<&str>) -> String {
    match scenario {
        None => "all scenarios".to_string(),
        Some(id) => scenarios
            .iter()
            .find(|s| s.id == id)
            .map_or(id, |s| s.label())
            .to_string(),
    }
}

/// The caller's tenant and its scenarios.
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
    let (with_data, named) = futures::join!(
        super::queries::scenarios_with_data(&db.clickhouse, tenant),
        db.catalog.scenarios(tenant)
    );
    let with_data = with_data.map_err(|e| super::query_failed("scopes", e))?;
    Ok(merge(tenant, with_data, named))
}

/// Scenarios with data and named scenarios, as one list in id order.
#[cfg(feature = "ssr")]
fn merge(
    tenant: &str,
    with_data: Vec<String>,
    named: Option<Vec<recoscope_core::catalog::Scenario>>,
) -> Scopes {
    Scopes {
        tenant: tenant.to_string(),
        catalog_unavailable: named.is_none(),
        scenarios: name_scenarios(with_data, named.as_deref().unwrap_or_default()),
    }
}

/// The scenarios with data (`with_data`) and those the catalog names, in id order.
#[cfg(feature = "ssr")]
pub(crate) fn name_scenarios(
    with_data: Vec<String>,
    named: &[recoscope_core::catalog::Scenario],
) -> Vec<ScenarioScope> {
    use std::collections::BTreeMap;
    let mut scenarios: BTreeMap<String, ScenarioScope> = BTreeMap::new();
    for scenario in named {
        scenarios.insert(
            scenario.scenario_id().to_string(),
            ScenarioScope {
                id: scenario.scenario_id().to_string(),
                name: Some(scenario.name().to_string()),
                description: scenario.description().map(str::to_string),
                has_data: false,
            },
        );
    }
    for id in with_data {
        scenarios
            .entry(id.clone())
            .or_insert(ScenarioScope {
                id,
                name: None,
                description: None,
                has_data: false,
            })
            .has_data = true;
    }
    scenarios.into_values().collect()
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;
    use recoscope_core::catalog::{Scenario, ScenarioFields};

    #[test]
    fn named_scenarios_and_scenarios_with_data_merge() {
        let named = Scenario::new(ScenarioFields {
            scenario_id: Some("home".into()),
            name: Some("Home feed".into()),
            description: None,
        })
        .unwrap();
        let new = Scenario::new(ScenarioFields {
            scenario_id: Some("new".into()),
            name: Some("New placement".into()),
            description: None,
        })
        .unwrap();
        let scopes = merge(
            "t",
            vec!["cart".into(), "home".into()],
            Some(vec![named, new]),
        );
        let summary: Vec<_> = scopes
            .scenarios
            .iter()
            .map(|s| (s.id.as_str(), s.label(), s.has_data))
            .collect();
        assert_eq!(
            summary,
            [
                ("cart", "cart", true),
                ("home", "Home feed", true),
                ("new", "New placement", false)
            ]
        );
        assert!(!scopes.catalog_unavailable);
        assert!(merge("t", vec!["a".into()], None).catalog_unavailable);
    }
}
