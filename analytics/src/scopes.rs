//! The caller's tenant and its scenarios, for the dashboard's header and filters: every
//! scenario with data, and every scenario the catalog names (one without data yet still
//! shows, so an operator sees that a new placement reports nothing).

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

/// `tenant` and its scenarios: those with data and those the catalog names.
#[cfg(feature = "server")]
pub async fn scopes_for(
    db: &super::AnalyticsDb,
    tenant: &str,
) -> Result<Scopes, super::AnalyticsError> {
    let (with_data, named) = futures::join!(
        scenarios_with_data(&db.clickhouse, tenant),
        db.catalog.scenarios(tenant)
    );
    let with_data = with_data.map_err(|e| super::query_failed("scopes", e))?;
    Ok(merge(tenant, with_data, named))
}

/// Scenarios with data and named scenarios, as one list in id order.
#[cfg(feature = "server")]
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
#[cfg(feature = "server")]
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

#[cfg(feature = "server")]
#[derive(Debug, Deserialize)]
struct NameRow {
    name: String,
}

/// The scenarios the tenant has data for, in id order.
#[cfg(feature = "server")]
async fn scenarios_with_data(
    ch: &recoscope_clickhouse::ClickHouse,
    tenant: &str,
) -> Result<Vec<String>, recoscope_clickhouse::ClickHouseError> {
    let scenarios: Vec<NameRow> = ch
        .fetch(
            recoscope_clickhouse::Query::new(
                // Every event has a daily row: reading only those (the key's second column)
                // reads a 24th of the hourly ones.
                "SELECT DISTINCT scenario_id AS name FROM rollup_states \
                 WHERE tenant_id = ? AND grain = 'day' ORDER BY name LIMIT 1000",
            )
            .bind(tenant),
        )
        .await?;
    Ok(scenarios.into_iter().map(|r| r.name).collect())
}

#[cfg(all(test, feature = "server"))]
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
