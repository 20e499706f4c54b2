//! A/B experiments: per experiment and group, impressions, clicks, orders, CTR and conversion
//! rate with 95% Wilson intervals, and each group against the control (pooled two-proportion
//! z-test), with a warning wherever the sample is too small for the test to mean much.

use super::stats::{Comparison, Interval};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentGroup {
    pub group: String,
    pub is_control: bool,
    /// Distinct users (HyperLogLog states merged over the range: exact up to 16, about
    /// 1.6% standard error beyond).
    pub users: u64,
    pub impressions: u64,
    pub clicks: u64,
    pub orders: u64,
    /// clicks / impressions, with its 95% interval.
    pub ctr: Option<f64>,
    pub ctr_interval: Option<Interval>,
    /// orders / clicks, with its 95% interval.
    pub conversion_rate: Option<f64>,
    pub conversion_interval: Option<Interval>,
    /// Against the control; `None` for the control itself or when untestable.
    pub ctr_vs_control: Option<Comparison>,
    pub conversion_vs_control: Option<Comparison>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Experiment {
    pub experiment_id: String,
    /// The group named `control` (any case), else the first by name.
    pub control: String,
    pub groups: Vec<ExperimentGroup>,
    /// Why the numbers may not be trusted yet, in words.
    pub warnings: Vec<String>,
    /// The same, as data (a page says them in its own language).
    #[serde(default)]
    pub caveats: Vec<Caveat>,
}

/// Why an experiment's numbers may not be trusted yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Caveat {
    /// Only one group has events.
    OneGroup,
    /// No group is named `control`; the others are compared with this one.
    NoControlGroup { compared_with: String },
    /// Too few impressions or clicks in `group` for a reliable CTR test.
    FewForCtr { group: String },
    /// More orders than clicks in `group`: its conversion rate is not a proportion.
    OrdersExceedClicks { group: String },
    /// Too few clicks or orders in `group` for a reliable conversion test.
    FewForConversion { group: String },
}

impl std::fmt::Display for Caveat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::stats::{MIN_OUTCOMES, MIN_TRIALS};
        match self {
            Caveat::OneGroup => f.write_str("only one group has events: nothing to compare"),
            Caveat::NoControlGroup { compared_with } => write!(
                f,
                "no group is named \"control\"; comparing against {compared_with:?}"
            ),
            Caveat::FewForCtr { group } => write!(
                f,
                "group {group:?}: too few impressions or clicks for a reliable CTR test \
                 (needs {MIN_TRIALS} impressions and {MIN_OUTCOMES} clicks and non-clicks)"
            ),
            Caveat::OrdersExceedClicks { group } => write!(
                f,
                "group {group:?}: more orders than clicks; its conversion rate is not a \
                 proportion and is not tested"
            ),
            Caveat::FewForConversion { group } => write!(
                f,
                "group {group:?}: too few clicks or orders for a reliable conversion test"
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Experiments {
    pub tenant: String,
    pub scenario: Option<String>,
    pub from: i64,
    pub to: i64,
    /// Experiments with events in the range (empty: none).
    pub experiments: Vec<Experiment>,
}

/// Counts of one group, as the query returns them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GroupCounts {
    pub experiment_id: String,
    pub experiment_group: String,
    pub users: u64,
    pub impressions: u64,
    pub clicks: u64,
    pub orders: u64,
}

/// Groups' counts → experiments with their statistics (pure, so it is tested on its own).
pub fn compare(counts: Vec<GroupCounts>) -> Vec<Experiment> {
    use super::overview::ratio;
    use super::stats::{large_enough, two_proportion_test, wilson};

    let mut by_experiment: std::collections::BTreeMap<String, Vec<GroupCounts>> =
        Default::default();
    for c in counts {
        by_experiment
            .entry(c.experiment_id.clone())
            .or_default()
            .push(c);
    }
    by_experiment
        .into_iter()
        .map(|(experiment_id, mut groups)| {
            groups.sort_by(|a, b| a.experiment_group.cmp(&b.experiment_group));
            let control_index = groups
                .iter()
                .position(|g| g.experiment_group.eq_ignore_ascii_case("control"))
                .unwrap_or(0);
            let control = groups[control_index].clone();
            let mut caveats = Vec::new();
            if groups.len() < 2 {
                caveats.push(Caveat::OneGroup);
            }
            if !control.experiment_group.eq_ignore_ascii_case("control") && groups.len() > 1 {
                caveats.push(Caveat::NoControlGroup {
                    compared_with: control.experiment_group.clone(),
                });
            }
            for g in &groups {
                let group = g.experiment_group.clone();
                if !large_enough(g.clicks, g.impressions) {
                    caveats.push(Caveat::FewForCtr {
                        group: group.clone(),
                    });
                }
                if g.orders > g.clicks {
                    caveats.push(Caveat::OrdersExceedClicks { group });
                } else if !large_enough(g.orders, g.clicks) {
                    caveats.push(Caveat::FewForConversion { group });
                }
            }
            let warnings = caveats.iter().map(ToString::to_string).collect();
            let groups = groups
                .into_iter()
                .enumerate()
                .map(|(i, g)| {
                    let is_control = i == control_index;
                    ExperimentGroup {
                        ctr: ratio(g.clicks, g.impressions),
                        ctr_interval: wilson(g.clicks, g.impressions),
                        conversion_rate: ratio(g.orders, g.clicks),
                        conversion_interval: wilson(g.orders, g.clicks),
                        ctr_vs_control: (!is_control)
                            .then(|| {
                                two_proportion_test(
                                    g.clicks,
                                    g.impressions,
                                    control.clicks,
                                    control.impressions,
                                )
                            })
                            .flatten(),
                        conversion_vs_control: (!is_control)
                            .then(|| {
                                two_proportion_test(
                                    g.orders,
                                    g.clicks,
                                    control.orders,
                                    control.clicks,
                                )
                            })
                            .flatten(),
                        is_control,
                        group: g.experiment_group,
                        users: g.users,
                        impressions: g.impressions,
                        clicks: g.clicks,
                        orders: g.orders,
                    }
                })
                .collect();
            Experiment {
                experiment_id,
                control: control.experiment_group,
                groups,
                warnings,
                caveats,
            }
        })
        .collect()
}

/// `tenant`'s experiments over `[from, to)` (one, with `experiment_id`), each group against
/// its control.
#[cfg(feature = "server")]
pub async fn experiments_for(
    db: &super::AnalyticsDb,
    tenant: &str,
    scenario: Option<String>,
    experiment_id: Option<String>,
    from: i64,
    to: i64,
) -> Result<Experiments, super::AnalyticsError> {
    use crate::sql::{StateRows, START};

    super::check_range(from, to, super::ROLLUP_MAX_DAYS)?;
    let scenario = scenario.filter(|s| !s.is_empty());
    let experiment_id = experiment_id.filter(|s| !s.is_empty());
    // The groups' states in `breakdown_states`: `value` is the experiment, `variant` the
    // group.
    let mut rows = StateRows::new(tenant, scenario.as_deref(), START).breakdown("experiment");
    if let Some(id) = &experiment_id {
        rows = rows.only("value", id.as_str());
    }
    let query = rows.days_and_hours(1, from, to).select(
        "value AS experiment_id, variant AS experiment_group, \
         uniqHLL12Merge(users) AS users, sumMerge(impressions) AS impressions, \
         sumMerge(clicks) AS clicks, sumMerge(orders) AS orders",
        "GROUP BY experiment_id, experiment_group ORDER BY experiment_id, experiment_group",
    );
    let counts: Vec<GroupCounts> = db
        .clickhouse
        .fetch(query)
        .await
        .map_err(|e| super::query_failed("experiments", e))?;
    Ok(Experiments {
        tenant: tenant.to_string(),
        scenario,
        from,
        to,
        experiments: compare(counts),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(group: &str, impressions: u64, clicks: u64, orders: u64) -> GroupCounts {
        GroupCounts {
            experiment_id: "exp".into(),
            experiment_group: group.into(),
            users: impressions / 2,
            impressions,
            clicks,
            orders,
        }
    }

    #[test]
    fn groups_are_compared_with_the_control() {
        let e = &compare(vec![
            counts("treatment", 1000, 250, 30),
            counts("control", 1000, 200, 20),
        ])[0];
        assert_eq!(e.control, "control");
        let treatment = e.groups.iter().find(|g| g.group == "treatment").unwrap();
        let ctr = treatment.ctr_vs_control.unwrap();
        assert!((ctr.z - 2.677_397_763_008_329).abs() < 1e-9);
        assert!(ctr.significant);
        assert!(e
            .groups
            .iter()
            .find(|g| g.is_control)
            .unwrap()
            .ctr_vs_control
            .is_none());
        assert!(e.warnings.is_empty(), "{:?}", e.warnings);
    }

    #[test]
    fn small_or_odd_samples_are_warned_about() {
        let e = &compare(vec![counts("a", 50, 5, 9), counts("b", 1000, 100, 10)])[0];
        assert_eq!(e.control, "a");
        let text = e.warnings.join("\n");
        assert!(text.contains("no group is named \"control\""), "{text}");
        assert!(text.contains("group \"a\": too few impressions"), "{text}");
        assert!(
            text.contains("group \"a\": more orders than clicks"),
            "{text}"
        );
        let b = &e.groups[1];
        assert!(
            b.conversion_vs_control.is_none(),
            "untestable against 9 of 5"
        );
    }
}
