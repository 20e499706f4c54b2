//! ClickHouse SQL behind the server functions. Reads the `metrics_hourly` rollup, whose
//! columns are aggregate states: counts are `sumMerge`d and users `uniqMerge`d at query time,
//! so a range spanning many hours never adds up unique counts or averages averages.

use super::overview::{Kpis, Overview, TrendPoint};
use recoscope_clickhouse::{ClickHouse, ClickHouseError, Query, SqlValue};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
struct TotalsRow {
    buckets: u64,
    events: u64,
    impressions: u64,
    clicks: u64,
    orders: u64,
    users: u64,
}

#[derive(Debug, Deserialize)]
struct HourRow {
    hour: i64,
    impressions: u64,
    clicks: u64,
    orders: u64,
    users: u64,
}

/// `WHERE` clause shared by the rollup queries: tenant, optional scenario, hour range.
pub(crate) fn scoped(sql: &str, tenant: &str, scenario: Option<&str>, from: i64, to: i64) -> Query {
    scoped_on("hour", sql, tenant, scenario, from, to)
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

const STATE_COLUMNS: &str = "events, impressions, clicks, views, add_carts, orders, users";

/// Aggregate-state rows covering `[from, to)` (whole hours): whole UTC days from
/// `metrics_daily`, the hours of the partial first and last days from `metrics_hourly`.
/// Columns: `bucket` (the UTC day's start, epoch seconds; not named `day`, which would hide
/// the daily table's column of that name) and the states. States of both tables
/// merge with each other, so the caller's `sumMerge`/`uniqMerge` are exact across the mix.
fn states_covering(tenant: &str, scenario: Option<&str>, from: i64, to: i64) -> Query {
    let day_start = (from + 86_399).div_euclid(86_400) * 86_400;
    let day_end = to.div_euclid(86_400) * 86_400;
    let scenario_filter = if scenario.is_some() {
        "AND scenario_id = ?"
    } else {
        ""
    };
    let hourly = format!(
        "SELECT toInt64(toUInt32(toStartOfDay(hour))) AS bucket, {STATE_COLUMNS} FROM metrics_hourly \
         WHERE tenant_id = ? {scenario_filter} AND hour >= ? AND hour < ? \
         AND NOT (hour >= ? AND hour < ?)"
    );
    let daily = format!(
        "SELECT toInt64(toUInt32(toDateTime(day, 'UTC'))) AS bucket, {STATE_COLUMNS} \
         FROM metrics_daily WHERE tenant_id = ? {scenario_filter} \
         AND day >= toDate(?) AND day < toDate(?)"
    );
    let mut query = Query::new(format!("{hourly} UNION ALL {daily}"));
    let (days_from, days_to) = if day_start < day_end {
        (day_start, day_end)
    } else {
        (from, from) // no whole day: every hour from the hourly rollup
    };
    for (range, exclude) in [
        ((from, to), Some((days_from, days_to))),
        ((days_from, days_to), None),
    ] {
        query = query.bind(tenant);
        if let Some(scenario) = scenario {
            query = query.bind(scenario);
        }
        query = query
            .bind(SqlValue::DateTime(range.0))
            .bind(SqlValue::DateTime(range.1));
        if let Some((a, b)) = exclude {
            query = query
                .bind(SqlValue::DateTime(a))
                .bind(SqlValue::DateTime(b));
        }
    }
    query
}

/// `SELECT {columns} FROM (states covering the range) {rest}`.
fn over_states(columns: &str, states: Query, rest: &str) -> Result<Query, ClickHouseError> {
    Ok(Query::new(format!(
        "SELECT {columns} FROM ({}) {rest}",
        states.render()?
    )))
}

/// The KPIs of `[from, to)`, `None` when it holds no events.
async fn kpis(
    ch: &ClickHouse,
    tenant: &str,
    scenario: Option<&str>,
    from: i64,
    to: i64,
) -> Result<Option<Kpis>, ClickHouseError> {
    let totals: TotalsRow = ch
        .fetch_one(over_states(
            "count() AS buckets, sumMerge(events) AS events, \
             sumMerge(impressions) AS impressions, sumMerge(clicks) AS clicks, \
             sumMerge(orders) AS orders, uniqMerge(users) AS users",
            states_covering(tenant, scenario, from, to),
            "",
        )?)
        .await?;
    Ok((totals.buckets > 0).then(|| {
        Kpis::from_counts(
            totals.events,
            totals.impressions,
            totals.clicks,
            totals.orders,
            totals.users,
        )
    }))
}

/// Ranges longer than this are drawn day by day (UTC days), shorter ones hour by hour.
pub const HOURLY_TREND_MAX_SECS: i64 = 7 * 86_400;

pub async fn overview(
    ch: &ClickHouse,
    tenant: &str,
    scenario: Option<&str>,
    from: i64,
    to: i64,
) -> Result<Overview, ClickHouseError> {
    let daily = to - from > HOURLY_TREND_MAX_SECS;
    let trend_query = if daily {
        over_states(
            "bucket AS hour, sumMerge(impressions) AS impressions, sumMerge(clicks) AS clicks, \
             sumMerge(orders) AS orders, uniqMerge(users) AS users",
            states_covering(tenant, scenario, from, to),
            "GROUP BY bucket ORDER BY bucket",
        )?
    } else {
        scoped(
            "SELECT toInt64(toUInt32(hour)) AS hour, sumMerge(impressions) AS impressions, \
             sumMerge(clicks) AS clicks, sumMerge(orders) AS orders, \
             uniqMerge(users) AS users \
             FROM metrics_hourly WHERE {scope} GROUP BY hour ORDER BY hour",
            tenant,
            scenario,
            from,
            to,
        )
    };
    // Three independent reads of the rollups, sent together: the page waits for the slowest,
    // not for their sum.
    let (kpis, previous, by_bucket) = futures::try_join!(
        kpis(ch, tenant, scenario, from, to),
        self::kpis(ch, tenant, scenario, from - (to - from), from),
        ch.fetch::<HourRow>(trend_query),
    )?;
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
    fn the_scenario_filter_is_bound_not_formatted() {
        let q = scoped("SELECT 1 WHERE {scope}", "t'", Some("s"), 0, 3600);
        let sql = q.render().unwrap();
        assert!(sql.contains(r"tenant_id = 't\''"));
        assert!(sql.contains("scenario_id = 's'"));
    }
}
