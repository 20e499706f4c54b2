//! ClickHouse SQL behind the server functions. Reads the `metrics_hourly` and
//! `metrics_daily` rollups, whose columns are aggregate states: counts are `sumMerge`d and
//! users `uniqHLL12Merge`d (HyperLogLog, about 1.6% error) at query time, so a range spanning
//! many hours never adds up unique counts or averages averages.

use super::overview::{Kpis, Overview, TrendPoint};
use recoscope_clickhouse::{ClickHouse, ClickHouseError, Query, SqlValue};
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

/// `{scope}` in `sql` becomes: this tenant, optionally this scenario, and `time_column` in
/// `[from, to)` (epoch seconds); every value bound.
pub(crate) fn scoped_on(
    time_column: &str,
    sql: &str,
    tenant: &str,
    scenario: Option<&str>,
    from: i64,
    to: i64,
) -> Query {
    let scenario_filter = if scenario.is_some() {
        "AND scenario_id = ?"
    } else {
        ""
    };
    let sql = sql.replace(
        "{scope}",
        &format!("tenant_id = ? {scenario_filter} AND {time_column} >= ? AND {time_column} < ?"),
    );
    let mut query = Query::new(sql).bind(tenant);
    if let Some(scenario) = scenario {
        query = query.bind(scenario);
    }
    query
        .bind(SqlValue::DateTime(from))
        .bind(SqlValue::DateTime(to))
}

/// An empty `sum` state and an empty `uniqHLL12` state: the columns one rollup does not
/// have, so rows of several rollups stack into one set that merges as one.
const NO_SUM: &str = "arrayReduce('sumState', emptyArrayUInt64())";
const NO_USERS: &str = "arrayReduce('uniqHLL12State', emptyArrayString())";
const SUM_COLUMNS: [&str; 6] = [
    "events",
    "impressions",
    "clicks",
    "views",
    "add_carts",
    "orders",
];

/// Aggregate-state rows covering periods of time, read from the rollups in one `UNION ALL`:
/// each row has `period` (a number the caller gives each range), `bucket` (epoch seconds:
/// the start of the row's day, or what the caller's expression makes of its hour) and the
/// states `events, impressions, clicks, views, add_carts, orders, users`. Sums and users
/// merge across any mix of rows (`sumMerge`, `uniqHLL12Merge`).
///
/// - Whole UTC days come from `metrics_daily` (one row a day: the cheap path for long
///   ranges), when the caller allows it;
/// - other hours come from `metrics_hourly` (their sums) and `users_hourly` (their users),
///   kept apart so that reading a few hours' users never reads the month's.
///
/// However many ranges, it is at most three `SELECT`s, one per table, each with its ranges
/// `OR`ed: on ClickHouse 18.16 every branch of a `UNION ALL` costs 1–2 ms of its own.
pub(crate) struct StateRows<'a> {
    tenant: &'a str,
    scenario: Option<&'a str>,
    hour_bucket: &'a str,
    hours: Vec<(u8, i64, i64)>,
    days: Vec<(u8, i64, i64)>,
}

/// The start of an hour row's UTC day, as a bucket.
pub(crate) const HOUR_TO_DAY: &str = "toInt64(toUInt32(toStartOfDay(hour)))";
/// The hour itself, as a bucket.
pub(crate) const HOUR: &str = "toInt64(toUInt32(hour))";

impl<'a> StateRows<'a> {
    /// Rows of `tenant` (and `scenario`, or all); hour rows bucketed by `hour_bucket`, an
    /// expression of the column `hour` giving epoch seconds (a constant of ours, never input).
    pub(crate) fn new(tenant: &'a str, scenario: Option<&'a str>, hour_bucket: &'a str) -> Self {
        StateRows {
            tenant,
            scenario,
            hour_bucket,
            hours: Vec::new(),
            days: Vec::new(),
        }
    }

    /// The hours `[from, to)` of `period`, from the hourly rollups.
    pub(crate) fn hours(mut self, period: u8, from: i64, to: i64) -> Self {
        if from < to {
            self.hours.push((period, from, to));
        }
        self
    }

    /// `[from, to)` of `period`: its whole UTC days from the daily rollup, the hours before
    /// and after them from the hourly ones.
    pub(crate) fn days_and_hours(mut self, period: u8, from: i64, to: i64) -> Self {
        let first_day = (from + 86_399).div_euclid(86_400) * 86_400;
        let end_day = to.div_euclid(86_400) * 86_400;
        if first_day >= end_day {
            return self.hours(period, from, to);
        }
        self.days.push((period, first_day, end_day));
        self.hours(period, from, first_day)
            .hours(period, end_day, to)
    }

    /// One table's `SELECT`: `period` is the number of the range a row falls in, and the
    /// rows are those of any range.
    fn branch(
        &self,
        binds: &mut Vec<SqlValue>,
        ranges: &[(u8, i64, i64)],
        range_sql: &str,
        select: &str,
    ) -> String {
        let range_values = |binds: &mut Vec<SqlValue>| {
            for (_, from, to) in ranges {
                binds.push(SqlValue::DateTime(*from));
                binds.push(SqlValue::DateTime(*to));
            }
        };
        let period = ranges
            .iter()
            .map(|(period, _, _)| format!("{range_sql}, {period}"))
            .collect::<Vec<_>>()
            .join(", ");
        range_values(binds);
        binds.push(self.tenant.into());
        let scenario = match self.scenario {
            Some(s) => {
                binds.push(s.into());
                "AND scenario_id = ?"
            }
            None => "",
        };
        range_values(binds);
        let any_range = vec![format!("({range_sql})"); ranges.len()].join(" OR ");
        select
            .replace("{period}", &format!("multiIf({period}, 0)"))
            .replace(
                "{where}",
                &format!("tenant_id = ? {scenario} AND ({any_range})"),
            )
    }

    /// `SELECT {columns} FROM (the rows) {rest}`, every value bound.
    pub(crate) fn select(self, columns: &str, rest: &str) -> Query {
        let sums = SUM_COLUMNS.join(", ");
        let no_sums = SUM_COLUMNS.map(|c| format!("{NO_SUM} AS {c}")).join(", ");
        let mut binds = Vec::new();
        let mut parts = Vec::new();
        if !self.days.is_empty() {
            parts.push(self.branch(
                &mut binds,
                &self.days,
                "day >= toDate(?) AND day < toDate(?)",
                &format!(
                    "SELECT {{period}} AS period, toInt64(toUInt32(toDateTime(day, 'UTC'))) \
                     AS bucket, {sums}, users_hll AS users FROM metrics_daily WHERE {{where}}"
                ),
            ));
        }
        if !self.hours.is_empty() {
            let bucket = self.hour_bucket;
            parts.push(self.branch(
                &mut binds,
                &self.hours,
                "hour >= ? AND hour < ?",
                &format!(
                    "SELECT {{period}} AS period, {bucket} AS bucket, {sums}, \
                     {NO_USERS} AS users FROM metrics_hourly WHERE {{where}}"
                ),
            ));
            parts.push(self.branch(
                &mut binds,
                &self.hours,
                "hour >= ? AND hour < ?",
                &format!(
                    "SELECT {{period}} AS period, {bucket} AS bucket, {no_sums}, users \
                     FROM users_hourly WHERE {{where}}"
                ),
            ));
        }
        if parts.is_empty() {
            // Nothing to read: no rows, in a well-formed query.
            parts.push(format!(
                "SELECT 0 AS period, 0 AS bucket, {no_sums}, {NO_USERS} AS users LIMIT 0"
            ));
        }
        binds.into_iter().fold(
            Query::new(format!(
                "SELECT {columns} FROM ({}) {rest}",
                parts.join(" UNION ALL ")
            )),
            Query::bind,
        )
    }
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
    let rows = StateRows::new(tenant, scenario, if daily { HOUR_TO_DAY } else { HOUR })
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
    })
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

#[derive(Debug, Deserialize)]
struct NameRow {
    name: String,
}

/// The scenarios the tenant has data for, in id order.
pub async fn scenarios_with_data(
    ch: &ClickHouse,
    tenant: &str,
) -> Result<Vec<String>, ClickHouseError> {
    let scenarios: Vec<NameRow> = ch
        .fetch(
            Query::new(
                "SELECT DISTINCT scenario_id AS name FROM metrics_hourly \
                 WHERE tenant_id = ? ORDER BY name LIMIT 1000",
            )
            .bind(tenant),
        )
        .await?;
    Ok(scenarios.into_iter().map(|r| r.name).collect())
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

    #[test]
    fn ranges_read_whole_days_from_the_daily_rollup_and_the_rest_by_hour() {
        let day = 86_400;
        // 06:00 on day 10 to 03:00 on day 13: days 11 and 12 whole, 18 + 3 hours around them.
        let (from, to) = (10 * day + 6 * 3600, 13 * day + 3 * 3600);
        let sql = StateRows::new("t", None, HOUR_TO_DAY)
            .days_and_hours(1, from, to)
            .select("count()", "")
            .render()
            .unwrap();
        assert_eq!(sql.matches("FROM metrics_daily").count(), 1, "{sql}");
        assert_eq!(sql.matches("FROM metrics_hourly").count(), 1, "{sql}");
        assert_eq!(sql.matches("FROM users_hourly").count(), 1, "{sql}");
        for bound in [from, 11 * day, 13 * day, to] {
            assert!(
                sql.contains(&format!("toDateTime({bound}, 'UTC')")),
                "{bound}: {sql}"
            );
        }
        // Within one day: hours only; an empty range: no rows at all, still valid SQL.
        let sql = StateRows::new("t", Some("s"), HOUR)
            .days_and_hours(1, from, from + 7200)
            .select("count()", "")
            .render()
            .unwrap();
        assert!(!sql.contains("metrics_daily") && sql.contains("scenario_id = 's'"));
        let sql = StateRows::new("t", None, HOUR)
            .select("count()", "")
            .render()
            .unwrap();
        assert!(sql.contains("LIMIT 0"), "{sql}");
    }

    #[test]
    fn the_scenario_filter_is_bound_not_formatted() {
        let q = scoped_on("hour", "SELECT 1 WHERE {scope}", "t'", Some("s"), 0, 3600);
        let sql = q.render().unwrap();
        assert!(sql.contains(r"tenant_id = 't\''"));
        assert!(sql.contains("scenario_id = 's'"));
    }
}
