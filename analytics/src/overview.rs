//! Overview KPIs and the hourly trend.

use serde::{Deserialize, Serialize};

/// The longest range one overview may span (90 days of raw retention).
pub const MAX_RANGE_HOURS: u32 = 90 * 24;

/// Headline numbers for a range. Ratios are `None` when their denominator is zero: "no
/// clicks yet" is not a 0% conversion rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kpis {
    pub events: u64,
    pub impressions: u64,
    pub clicks: u64,
    /// Orders.
    pub conversions: u64,
    /// clicks / impressions.
    pub ctr: Option<f64>,
    /// orders / clicks.
    pub conversion_rate: Option<f64>,
    /// Distinct users with any event in the range: a HyperLogLog estimate (about 1.6%
    /// standard error; exact up to 16 users).
    pub active_users: u64,
}

impl Kpis {
    pub fn from_counts(
        events: u64,
        impressions: u64,
        clicks: u64,
        conversions: u64,
        active_users: u64,
    ) -> Self {
        Kpis {
            events,
            impressions,
            clicks,
            conversions,
            ctr: ratio(clicks, impressions),
            conversion_rate: ratio(conversions, clicks),
            active_users,
        }
    }
}

/// `num / den`, or `None` when there is nothing to divide by.
pub fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

/// One bucket (hour or day) of the trend. Buckets without events are present with zero
/// counts, so the chart's x axis is continuous.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrendPoint {
    /// Start of the bucket, seconds since the Unix epoch (UTC).
    pub hour: i64,
    pub impressions: u64,
    pub clicks: u64,
    pub conversions: u64,
    pub active_users: u64,
}

/// What the overview page needs for one tenant, scenario and range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Overview {
    pub tenant: String,
    /// `None`: all scenarios.
    pub scenario: Option<String>,
    /// The range actually queried, aligned to whole hours: `[from, to)`, epoch seconds.
    pub from: i64,
    pub to: i64,
    /// The trend's bucket: 3,600 (hours) for ranges up to 7 days, 86,400 (UTC days) beyond.
    pub bucket_secs: i64,
    /// `None` when the range holds no events at all.
    pub kpis: Option<Kpis>,
    /// The same KPIs over the period of equal length just before `from`, for comparison;
    /// `None` when that period holds no events.
    pub previous: Option<Kpis>,
    pub trend: Vec<TrendPoint>,
    /// What the tenant has set up, beside what happened.
    #[serde(default)]
    pub setup: Setup,
}

/// The tenant's setup beside its events: what its catalog holds, and how many scenarios
/// served recommendations in the range.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Setup {
    /// Items in the catalog; `None` when the catalog could not be read.
    pub catalog_items: Option<u64>,
    /// Scenarios the catalog names; `None` when it could not be read.
    pub catalog_scenarios: Option<u64>,
    /// Scenarios with at least one impression in the range (within the chosen scenario).
    pub active_scenarios: u64,
}

/// The range `[until - hours, until)` with both ends moved out to whole hours.
pub fn hour_range(until: i64, hours: u32) -> (i64, i64) {
    let to = until.div_euclid(3600) * 3600 + if until.rem_euclid(3600) == 0 { 0 } else { 3600 };
    (to - i64::from(hours) * 3600, to)
}

/// KPIs and trend for `tenant` (and `scenario`, or all scenarios) over the `hours` hours that
/// end at `until` (epoch seconds; now when absent).
#[cfg(feature = "server")]
pub async fn overview_for(
    db: &super::AnalyticsDb,
    tenant: &str,
    scenario: Option<String>,
    hours: u32,
    until: Option<i64>,
) -> Result<Overview, super::AnalyticsError> {
    if hours == 0 || hours > MAX_RANGE_HOURS {
        return Err(super::AnalyticsError::BadRequest(format!(
            "hours must be between 1 and {MAX_RANGE_HOURS}"
        )));
    }
    let scenario = scenario.filter(|s| !s.is_empty());
    let until = until.unwrap_or_else(now_secs);
    let (from, to) = hour_range(until, hours);
    let (overview, active, items, scenarios) = futures::join!(
        query::overview(&db.clickhouse, tenant, scenario.as_deref(), from, to),
        query::active_scenarios(&db.clickhouse, tenant, scenario.as_deref(), from, to),
        db.catalog.count_items(tenant),
        db.catalog.scenarios(tenant),
    );
    let mut overview = overview.map_err(|e| super::query_failed("overview", e))?;
    overview.setup = Setup {
        catalog_items: items,
        catalog_scenarios: scenarios.map(|s| s.len() as u64),
        active_scenarios: active.map_err(|e| super::query_failed("overview", e))?,
    };
    Ok(overview)
}

#[cfg(feature = "server")]
fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The overview's SQL: one query over the rollup for both periods.
#[cfg(feature = "server")]
mod query {
    use super::{Kpis, Overview, Setup, TrendPoint};
    use crate::sql::{StateRows, SCENARIO, START, UTC_DAY};
    use recoscope_clickhouse::{ClickHouse, ClickHouseError};
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[derive(Debug, Deserialize)]
    struct HourRow {
        hour: i64,
        impressions: u64,
        clicks: u64,
        orders: u64,
        users: u64,
    }

    /// Ranges longer than this are drawn day by day (UTC days), shorter ones hour by hour.
    pub const HOURLY_TREND_MAX_SECS: i64 = 7 * 86_400;

    const CURRENT: u8 = 1;
    const PREVIOUS: u8 = 2;

    #[derive(Debug, Deserialize)]
    struct OverviewRow {
        period: u8,
        bucket: i64,
        rows: u64,
        events: u64,
        impressions: u64,
        clicks: u64,
        orders: u64,
        users: u64,
    }

    /// The overview of `[from, to)` in one query: the range and the one of equal length before
    /// it, each merged whole (its KPIs) and by trend bucket (`WITH ROLLUP` gives both; its
    /// subtotal rows have bucket 0, and the grand total period 0).
    pub async fn overview(
        ch: &ClickHouse,
        tenant: &str,
        scenario: Option<&str>,
        from: i64,
        to: i64,
    ) -> Result<Overview, ClickHouseError> {
        let daily = to - from > HOURLY_TREND_MAX_SECS;
        // An hourly trend needs every hour of the range on its own; a daily one takes days.
        // The previous period only gives its KPIs, so it takes days either way.
        let rows = StateRows::new(tenant, scenario, if daily { UTC_DAY } else { START })
            .days_and_hours(PREVIOUS, from - (to - from), from);
        let rows = if daily {
            rows.days_and_hours(CURRENT, from, to)
        } else {
            rows.hours(CURRENT, from, to)
        };
        let query = rows.select(
            "period, bucket, count() AS rows, sumMerge(events) AS events, \
             sumMerge(impressions) AS impressions, sumMerge(clicks) AS clicks, \
             sumMerge(orders) AS orders, uniqHLL12Merge(users) AS users",
            "GROUP BY period, bucket WITH ROLLUP",
        );
        let mut kpis = None;
        let mut previous = None;
        let mut by_bucket = Vec::new();
        for row in ch.fetch::<OverviewRow>(query).await? {
            let period_kpis = || {
                (row.rows > 0).then(|| {
                    Kpis::from_counts(
                        row.events,
                        row.impressions,
                        row.clicks,
                        row.orders,
                        row.users,
                    )
                })
            };
            match (row.period, row.bucket) {
                (CURRENT, 0) => kpis = period_kpis(),
                (PREVIOUS, 0) => previous = period_kpis(),
                (CURRENT, bucket) => by_bucket.push(HourRow {
                    hour: bucket,
                    impressions: row.impressions,
                    clicks: row.clicks,
                    orders: row.orders,
                    users: row.users,
                }),
                _ => {}
            }
        }
        let bucket_secs = if daily { 86_400 } else { 3_600 };
        Ok(Overview {
            tenant: tenant.to_string(),
            scenario: scenario.map(str::to_string),
            from,
            to,
            bucket_secs,
            trend: if kpis.is_some() {
                fill_buckets(from, to, bucket_secs, by_bucket)
            } else {
                Vec::new()
            },
            kpis,
            previous,
            setup: Setup::default(),
        })
    }

    #[derive(Debug, Deserialize)]
    struct ScenarioRow {
        impressions: u64,
    }

    /// How many scenarios (of `scenario`, or all) had impressions in `[from, to)`.
    pub async fn active_scenarios(
        ch: &ClickHouse,
        tenant: &str,
        scenario: Option<&str>,
        from: i64,
        to: i64,
    ) -> Result<u64, ClickHouseError> {
        let query = StateRows::new(tenant, scenario, SCENARIO)
            .days_and_hours(CURRENT, from, to)
            .select(
                "bucket, sumMerge(impressions) AS impressions",
                "GROUP BY bucket",
            );
        let rows = ch.fetch::<ScenarioRow>(query).await?;
        Ok(rows.iter().filter(|r| r.impressions > 0).count() as u64)
    }

    /// Every bucket of `[from, to)` (`step` seconds, starting at `from` aligned down to a whole
    /// step), with zeros where the rollup has no row (ClickHouse 18.16 has no `WITH FILL`).
    fn fill_buckets(from: i64, to: i64, step: i64, rows: Vec<HourRow>) -> Vec<TrendPoint> {
        let mut by_hour: BTreeMap<i64, HourRow> = rows.into_iter().map(|r| (r.hour, r)).collect();
        let first = from.div_euclid(step) * step;
        (0..)
            .map(|i| first + i * step)
            .take_while(|hour| *hour < to)
            .map(|hour| match by_hour.remove(&hour) {
                Some(r) => TrendPoint {
                    hour,
                    impressions: r.impressions,
                    clicks: r.clicks,
                    conversions: r.orders,
                    active_users: r.users,
                },
                None => TrendPoint {
                    hour,
                    impressions: 0,
                    clicks: 0,
                    conversions: 0,
                    active_users: 0,
                },
            })
            .collect()
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn missing_hours_are_filled_with_zeros() {
            let rows = vec![HourRow {
                hour: 3600,
                impressions: 5,
                clicks: 1,
                orders: 0,
                users: 2,
            }];
            let points = fill_buckets(0, 3 * 3600, 3600, rows);
            assert_eq!(points.len(), 3);
            assert_eq!(points[0].impressions, 0);
            assert_eq!(points[1].impressions, 5);
            assert_eq!(points[2].hour, 7200);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_widen_to_whole_hours() {
        assert_eq!(hour_range(7200, 2), (0, 7200));
        assert_eq!(hour_range(7201, 2), (3600, 10800));
        assert_eq!(hour_range(10799, 1), (7200, 10800));
    }

    #[test]
    fn ratios_need_a_denominator() {
        assert_eq!(ratio(1, 0), None);
        assert_eq!(ratio(0, 4), Some(0.0));
        let k = Kpis::from_counts(10, 8, 2, 1, 3);
        assert_eq!(k.ctr, Some(0.25));
        assert_eq!(k.conversion_rate, Some(0.5));
    }
}
