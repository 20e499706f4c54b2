//! The user-level funnel impression → click → view → add to cart → order: how many users
//! went how far, in that order, within a conversion window of their impression
//! (ClickHouse's `windowFunnel` over raw events).

use serde::{Deserialize, Serialize};

/// The funnel's steps, in order.
pub const STEPS: [&str; 5] = ["impression", "click", "view", "add_cart", "order"];
/// The longest conversion window.
pub const MAX_WINDOW_SECS: u32 = 30 * 86_400;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunnelStep {
    /// The action (`impression`, `click`, ...).
    pub action: String,
    /// Users who reached this step (and every one before it, in order, within the window).
    pub users: u64,
    /// users / the previous step's users; `None` for the first step or after an empty one.
    pub from_previous: Option<f64>,
    /// users / the first step's users.
    pub from_first: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Funnel {
    pub tenant: String,
    pub scenario: Option<String>,
    /// `[from, to)`, epoch seconds: the events considered.
    pub from: i64,
    pub to: i64,
    pub window_secs: u32,
    /// All five steps, or none when no user had an impression in the range.
    pub steps: Vec<FunnelStep>,
}

/// `tenant`'s funnel over `[from, to)` with a conversion window of `window_secs`.
#[cfg(feature = "server")]
pub async fn funnel_for(
    db: &super::AnalyticsDb,
    tenant: &str,
    scenario: Option<String>,
    from: i64,
    to: i64,
    window_secs: u32,
) -> Result<Funnel, super::AnalyticsError> {
    use super::overview::ratio;
    use crate::sql::scoped_on;

    #[derive(Deserialize)]
    struct Row {
        level: u64,
        users: u64,
    }
    super::check_range(from, to, super::RAW_MAX_DAYS)?;
    if window_secs == 0 || window_secs > MAX_WINDOW_SECS {
        return Err(super::AnalyticsError::BadRequest(format!(
            "window_secs must be between 1 and {MAX_WINDOW_SECS}"
        )));
    }
    let scenario = scenario.filter(|s| !s.is_empty());
    let conditions = STEPS
        .iter()
        .map(|step| format!("action_type = '{step}'"))
        .collect::<Vec<_>>()
        .join(", ");
    // The window is a checked number; windowFunnel wants it as a constant.
    let sql = format!(
        "SELECT level, count() AS users FROM ( \
             SELECT user_id, windowFunnel({window_secs})(event_time, {conditions}) AS level \
             FROM user_behaviors WHERE {{scope}} GROUP BY user_id \
         ) WHERE level > 0 GROUP BY level ORDER BY level"
    );
    let query = scoped_on("event_time", &sql, tenant, scenario.as_deref(), from, to);
    let rows: Vec<Row> = db
        .clickhouse
        .fetch(query)
        .await
        .map_err(|e| super::query_failed("funnel", e))?;
    // Users whose furthest step is `level` → users who reached each step.
    let reached: Vec<u64> = (1..=STEPS.len() as u64)
        .map(|step| {
            rows.iter()
                .filter(|r| r.level >= step)
                .map(|r| r.users)
                .sum()
        })
        .collect();
    let steps = if reached[0] == 0 {
        Vec::new()
    } else {
        STEPS
            .iter()
            .enumerate()
            .map(|(i, action)| FunnelStep {
                action: action.to_string(),
                users: reached[i],
                from_previous: if i == 0 {
                    None
                } else {
                    ratio(reached[i], reached[i - 1])
                },
                from_first: ratio(reached[i], reached[0]),
            })
            .collect()
    };
    Ok(Funnel {
        tenant: tenant.to_string(),
        scenario,
        from,
        to,
        window_secs,
        steps,
    })
}
