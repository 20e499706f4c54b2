//! Overview KPIs and the hourly trend.

use leptos::prelude::*;
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
}

/// The range `[until - hours, until)` with both ends moved out to whole hours.
pub fn hour_range(until: i64, hours: u32) -> (i64, i64) {
    let to = until.div_euclid(3600) * 3600 + if until.rem_euclid(3600) == 0 { 0 } else { 3600 };
    (to - i64::from(hours) * 3600, to)
}

/// KPIs and hourly trend for the caller's tenant (and `scenario`, or all scenarios) over the
/// `hours` hours that end at `until` (epoch seconds; now when absent).
#[server(endpoint = "overview")]
pub async fn get_overview(
    scenario: Option<String>,
    hours: u32,
    until: Option<i64>,
) -> Result<Overview, ServerFnError> {
    let tenant = crate::identity::caller_tenant().await?;
    Ok(overview_for(&super::analytics_db()?, &tenant, scenario, hours, until).await?)
}

/// [`get_overview`] for `tenant` (the JSON API calls this too, after its own identity check).
#[cfg(feature = "ssr")]
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
    super::queries::overview(&db.clickhouse, tenant, scenario.as_deref(), from, to)
        .await
        .map_err(|e| super::query_failed("overview", e))
}

#[cfg(feature = "ssr")]
fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
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
