//! Distributions of behaviour by device, operating system, location and list position, each
//! value with its counts, distinct users, CTR and conversion rate. They are read from the
//! `breakdown_states` rollup (hourly and daily states per value), so their cost follows the
//! number of values and hours, not of events.

use serde::{Deserialize, Serialize};

/// Values shown per dimension (the most frequent; positions are listed in order).
pub const MAX_VALUES: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    Device,
    Os,
    Location,
    Position,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DistributionRow {
    /// The value; empty when the events did not say (no device, no position).
    pub value: String,
    pub events: u64,
    pub impressions: u64,
    pub clicks: u64,
    pub orders: u64,
    /// Distinct users (HyperLogLog states merged over the range: exact up to 16, about
    /// 1.6% standard error beyond).
    pub users: u64,
    pub ctr: Option<f64>,
    pub conversion_rate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    pub tenant: String,
    pub scenario: Option<String>,
    pub dimension: Dimension,
    /// `[from, to)`, epoch seconds.
    pub from: i64,
    pub to: i64,
    /// Most events first, except positions, which are in list order (then "no position").
    /// Empty: no events in the range.
    pub rows: Vec<DistributionRow>,
}

/// `tenant`'s events over `[from, to)` split by `dimension`.
#[cfg(feature = "server")]
pub async fn distribution_for(
    db: &super::AnalyticsDb,
    tenant: &str,
    scenario: Option<String>,
    dimension: Dimension,
    from: i64,
    to: i64,
) -> Result<Distribution, super::AnalyticsError> {
    use super::overview::ratio;
    use crate::sql::{StateRows, START};

    #[derive(Deserialize)]
    struct Row {
        value: String,
        events: u64,
        impressions: u64,
        clicks: u64,
        orders: u64,
        users: u64,
    }
    super::check_range(from, to, super::ROLLUP_MAX_DAYS)?;
    let scenario = scenario.filter(|s| !s.is_empty());
    let dimension_name = match dimension {
        Dimension::Device => "device",
        Dimension::Os => "os",
        Dimension::Location => "location",
        Dimension::Position => "position",
    };
    let query = StateRows::new(tenant, scenario.as_deref(), START)
        .breakdown(dimension_name)
        .days_and_hours(1, from, to)
        .select(
            "value, sumMerge(events) AS events, sumMerge(impressions) AS impressions, \
             sumMerge(clicks) AS clicks, sumMerge(orders) AS orders, \
             uniqHLL12Merge(users) AS users",
            &format!("GROUP BY value ORDER BY events DESC, value LIMIT {MAX_VALUES}"),
        );
    let rows: Vec<Row> = db
        .clickhouse
        .fetch(query)
        .await
        .map_err(|e| super::query_failed("distribution", e))?;
    let mut rows: Vec<DistributionRow> = rows
        .into_iter()
        .map(|r| DistributionRow {
            ctr: ratio(r.clicks, r.impressions),
            conversion_rate: ratio(r.orders, r.clicks),
            value: r.value,
            events: r.events,
            impressions: r.impressions,
            clicks: r.clicks,
            orders: r.orders,
            users: r.users,
        })
        .collect();
    if dimension == Dimension::Position {
        rows.sort_by_key(|r| r.value.parse::<u32>().unwrap_or(u32::MAX));
    }
    Ok(Distribution {
        tenant: tenant.to_string(),
        scenario,
        dimension,
        from,
        to,
        rows,
    })
}
