//! The shared pieces of the read model's SQL. Each view's own query lives in its module; here
//! are how a query is scoped (tenant, optional scenario, time range; every value bound) and
//! how the `rollup_states` rollup is read by period. Its columns are aggregate states: counts
//! are `sumMerge`d and users `uniqHLL12Merge`d (HyperLogLog, about 1.6% error) at query time,
//! so a range spanning many hours never adds up unique counts or averages averages.

use recoscope_clickhouse::{Query, SqlValue};

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
const BREAKDOWN_COLUMNS: &str = "value, variant, events, impressions, clicks, orders, users";

/// Aggregate-state rows of `rollup_states` covering periods of time: each row has `period`
/// (the number the caller gives the range it falls in), `bucket` (epoch seconds, what the
/// caller's expression makes of the row's start `t`) and the states `events, impressions,
/// clicks, views, add_carts, orders, users`. Sums and users merge across any mix of rows
/// (`sumMerge`, `uniqHLL12Merge`).
///
/// Whole UTC days are read as daily rows (one a day: the cheap path for long ranges) where
/// the caller allows it, the other hours as hourly rows. However many ranges, it is one
/// `SELECT` with the ranges `OR`ed: on ClickHouse 18.16 each branch of a `UNION ALL` would
/// cost 1–2 ms of its own.
pub(crate) struct StateRows<'a> {
    table: &'static str,
    columns: &'static str,
    tenant: &'a str,
    scenario: Option<&'a str>,
    /// More conditions on the rows, each `column = ?` with its value.
    filters: Vec<(&'static str, SqlValue)>,
    bucket: &'a str,
    /// (grain, period, from, to)
    ranges: Vec<(&'static str, u8, i64, i64)>,
}

/// The start of a row's UTC day, as a bucket.
pub(crate) const UTC_DAY: &str = "toInt64(toUInt32(toStartOfDay(t)))";
/// The row's own start (its hour, for hourly rows), as a bucket.
pub(crate) const START: &str = "toInt64(toUInt32(t))";
/// Not a time bucket: rows grouped by scenario (`bucket` is then the scenario id).
pub(crate) const SCENARIO: &str = "scenario_id";

impl<'a> StateRows<'a> {
    /// Rows of `tenant` (and `scenario`, or all), bucketed by `bucket`: an expression of the
    /// column `t` giving epoch seconds (a constant of ours, never input).
    pub(crate) fn new(tenant: &'a str, scenario: Option<&'a str>, bucket: &'a str) -> Self {
        StateRows {
            table: "rollup_states",
            columns: STATE_COLUMNS,
            tenant,
            scenario,
            filters: Vec::new(),
            bucket,
            ranges: Vec::new(),
        }
    }

    /// The rows of `breakdown_states` for `dimension` (`device`, ..., `experiment`): each
    /// with its `value` and `variant` and the states `events, impressions, clicks, orders,
    /// users`.
    pub(crate) fn breakdown(mut self, dimension: &'static str) -> Self {
        self.table = "breakdown_states";
        self.columns = BREAKDOWN_COLUMNS;
        self.filters.push(("dimension", dimension.into()));
        self
    }

    /// Only rows whose `column` (one of ours, never input) is `value`.
    pub(crate) fn only(mut self, column: &'static str, value: impl Into<SqlValue>) -> Self {
        self.filters.push((column, value.into()));
        self
    }

    /// The hours `[from, to)` of `period`, as hourly rows.
    pub(crate) fn hours(mut self, period: u8, from: i64, to: i64) -> Self {
        if from < to {
            self.ranges.push(("hour", period, from, to));
        }
        self
    }

    /// `[from, to)` of `period`: its whole UTC days as daily rows, the hours before and after
    /// them as hourly rows.
    pub(crate) fn days_and_hours(mut self, period: u8, from: i64, to: i64) -> Self {
        let first_day = (from + 86_399).div_euclid(86_400) * 86_400;
        let end_day = to.div_euclid(86_400) * 86_400;
        if first_day >= end_day {
            return self.hours(period, from, to);
        }
        self.ranges.push(("day", period, first_day, end_day));
        self.hours(period, from, first_day)
            .hours(period, end_day, to)
    }

    /// `SELECT {columns} FROM (the rows) {rest}`, every value bound.
    pub(crate) fn select(self, columns: &str, rest: &str) -> Query {
        let range_sql = |grain: &str| format!("(grain = '{grain}' AND t >= ? AND t < ?)");
        let mut binds: Vec<SqlValue> = Vec::new();
        let range_values = |binds: &mut Vec<SqlValue>| {
            for (_, _, from, to) in &self.ranges {
                binds.push(SqlValue::DateTime(*from));
                binds.push(SqlValue::DateTime(*to));
            }
        };
        // A row's period: the number of the range it falls in.
        let period = self
            .ranges
            .iter()
            .map(|(grain, period, _, _)| format!("{}, {period}", range_sql(grain)))
            .chain(std::iter::once("0".to_string()))
            .collect::<Vec<_>>()
            .join(", ");
        range_values(&mut binds);
        binds.push(self.tenant.into());
        let scenario = match self.scenario {
            Some(s) => {
                binds.push(s.into());
                "AND scenario_id = ?"
            }
            None => "",
        };
        let mut filters = String::new();
        for (column, value) in &self.filters {
            filters.push_str(&format!(" AND {column} = ?"));
            binds.push(value.clone());
        }
        range_values(&mut binds);
        let any_range = if self.ranges.is_empty() {
            "0".to_string() // nothing to read: no rows, in a well-formed query
        } else {
            self.ranges
                .iter()
                .map(|(grain, ..)| range_sql(grain))
                .collect::<Vec<_>>()
                .join(" OR ")
        };
        let rows = format!(
            "SELECT multiIf({period}) AS period, {} AS bucket, {} \
             FROM {} WHERE tenant_id = ? {scenario}{filters} AND ({any_range})",
            self.bucket, self.columns, self.table
        );
        binds.into_iter().fold(
            Query::new(format!("SELECT {columns} FROM ({rows}) {rest}")),
            Query::bind,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_read_whole_days_as_daily_rows_and_the_rest_by_hour() {
        let day = 86_400;
        // 06:00 on day 10 to 03:00 on day 13: days 11 and 12 whole, 18 + 3 hours around them.
        let (from, to) = (10 * day + 6 * 3600, 13 * day + 3 * 3600);
        let sql = StateRows::new("t", None, UTC_DAY)
            .days_and_hours(1, from, to)
            .select("count()", "")
            .render()
            .unwrap();
        assert_eq!(sql.matches("FROM rollup_states").count(), 1, "{sql}");
        let range = |grain: &str, a: i64, b: i64| {
            format!("(grain = '{grain}' AND t >= toDateTime({a}, 'UTC') AND t < toDateTime({b}, 'UTC'))")
        };
        for part in [
            range("day", 11 * day, 13 * day),
            range("hour", from, 11 * day),
            range("hour", 13 * day, to),
        ] {
            // Once for the period, once for the filter.
            assert_eq!(sql.matches(&part).count(), 2, "{part}: {sql}");
        }
        // Within one day: hours only; an empty range: no rows, still valid SQL.
        let sql = StateRows::new("t", Some("s"), START)
            .days_and_hours(1, from, from + 7200)
            .select("count()", "")
            .render()
            .unwrap();
        assert!(!sql.contains("grain = 'day'") && sql.contains("scenario_id = 's'"));
        let sql = StateRows::new("t", None, START)
            .select("count()", "")
            .render()
            .unwrap();
        assert!(sql.contains("AND (0)"), "{sql}");
    }

    #[test]
    fn the_scenario_filter_is_bound_not_formatted() {
        let q = scoped_on("hour", "SELECT 1 WHERE {scope}", "t'", Some("s"), 0, 3600);
        let sql = q.render().unwrap();
        assert!(sql.contains(r"tenant_id = 't\''"));
        assert!(sql.contains("scenario_id = 's'"));
    }
}
