//! Trends per hour or per day in the operator's time zone, with each bucket's effect metrics
//! (CTR and conversion rate), from the hourly rollup.
//!
//! Days are the operator's local days: a day with a daylight-saving change has 23 or 25
//! hours, and its users are counted once across them (the rollup's HyperLogLog states merge).
//! The rollup is by UTC hour, so in zones whose offset is not a whole number of hours
//! (India, Nepal, parts of Australia) an hour is attributed to the local day it starts in.

use serde::{Deserialize, Serialize};

/// Hourly buckets are for ranges up to this many days (daily ones up to the rollups' bound).
pub const MAX_HOURLY_DAYS: i64 = 31;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    Hour,
    Day,
}

/// One bucket. Ratios are `None` when their denominator is zero.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrendBucket {
    /// The bucket's first instant, epoch seconds.
    pub start: i64,
    /// `YYYY-MM-DD` (days) or `YYYY-MM-DD HH:MM` (hours), in the trend's time zone.
    pub label: String,
    pub events: u64,
    pub impressions: u64,
    pub clicks: u64,
    pub views: u64,
    pub add_carts: u64,
    pub orders: u64,
    pub active_users: u64,
    /// clicks / impressions.
    pub ctr: Option<f64>,
    /// orders / clicks.
    pub conversion_rate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trends {
    pub tenant: String,
    pub scenario: Option<String>,
    /// IANA time zone, e.g. `Europe/Berlin`.
    pub tz: String,
    pub granularity: Granularity,
    /// The range queried, widened to whole buckets: `[from, to)`, epoch seconds.
    pub from: i64,
    pub to: i64,
    /// Every bucket of the range (zeros where nothing happened), or none at all when the
    /// range holds no events: "no data", not a flat line of zeros.
    pub buckets: Vec<TrendBucket>,
}

#[cfg(feature = "server")]
pub use server::{local_days, trends_for};

#[cfg(feature = "server")]
mod server {
    use super::*;
    use crate::overview::ratio;
    use crate::sql::StateRows;
    use crate::{query_failed, AnalyticsDb, AnalyticsError};
    use chrono::{DateTime, Duration, NaiveDate, TimeZone};
    use chrono_tz::Tz;
    use std::collections::HashMap;

    #[derive(Deserialize)]
    struct Row {
        bucket: i64,
        events: u64,
        impressions: u64,
        clicks: u64,
        views: u64,
        add_carts: u64,
        orders: u64,
        users: u64,
    }

    /// `tenant`'s trend over `[from, to)` (epoch seconds), bucketed by `granularity` in `tz`.
    pub async fn trends_for(
        db: &AnalyticsDb,
        tenant: &str,
        scenario: Option<String>,
        from: i64,
        to: i64,
        granularity: Granularity,
        tz: &str,
    ) -> Result<Trends, AnalyticsError> {
        let zone: Tz = tz
            .parse()
            .map_err(|_| AnalyticsError::BadRequest(format!("unknown time zone {tz:?}")))?;
        let max_days = match granularity {
            Granularity::Hour => MAX_HOURLY_DAYS,
            Granularity::Day => crate::ROLLUP_MAX_DAYS,
        };
        crate::check_range(from, to, max_days)?;
        let scenario = scenario.filter(|s| !s.is_empty());
        let starts = bucket_starts(zone, granularity, from, to);
        let (first, end) = (starts[0], *starts.last().expect("at least two bounds"));
        let bucket = match granularity {
            Granularity::Hour => "toInt64(toUInt32(t))".to_string(),
            // ClickHouse wants the zone as a constant. It is the canonical name of a zone
            // chrono-tz knows (letters, digits, `/_+-` only), never the caller's text.
            Granularity::Day => format!(
                "toInt64(toUInt32(toStartOfDay(t, {})))",
                quoted(zone.name())
            ),
        };
        let rows = StateRows::new(tenant, scenario.as_deref(), &bucket);
        // UTC days are whole rows of the daily rollup; local days are made of hours.
        let rows = if granularity == Granularity::Day && zone == chrono_tz::UTC {
            rows.days_and_hours(1, first, end)
        } else {
            rows.hours(1, first, end)
        };
        let query = rows.select(
            "bucket, sumMerge(events) AS events, sumMerge(impressions) AS impressions, \
             sumMerge(clicks) AS clicks, sumMerge(views) AS views, \
             sumMerge(add_carts) AS add_carts, sumMerge(orders) AS orders, \
             uniqHLL12Merge(users) AS users",
            "GROUP BY bucket ORDER BY bucket",
        );
        let rows: Vec<Row> = db
            .clickhouse
            .fetch(query)
            .await
            .map_err(|e| query_failed("trends", e))?;
        let buckets = if rows.is_empty() {
            Vec::new()
        } else {
            let mut by_start: HashMap<i64, Row> = rows.into_iter().map(|r| (r.bucket, r)).collect();
            starts
                .windows(2)
                .map(|pair| {
                    let start = pair[0];
                    let row = by_start.remove(&start);
                    let n = |f: fn(&Row) -> u64| row.as_ref().map(f).unwrap_or(0);
                    let (impressions, clicks, orders) =
                        (n(|r| r.impressions), n(|r| r.clicks), n(|r| r.orders));
                    TrendBucket {
                        start,
                        label: label(zone, granularity, start),
                        events: n(|r| r.events),
                        impressions,
                        clicks,
                        views: n(|r| r.views),
                        add_carts: n(|r| r.add_carts),
                        orders,
                        active_users: n(|r| r.users),
                        ctr: ratio(clicks, impressions),
                        conversion_rate: ratio(orders, clicks),
                    }
                })
                .collect()
        };
        Ok(Trends {
            tenant: tenant.to_string(),
            scenario,
            tz: zone.name().to_string(),
            granularity,
            from: first,
            to: end,
            buckets,
        })
    }

    /// The local days `from` to `to` (both `YYYY-MM-DD`, both included) in `tz`, as
    /// `[start, end)` epoch seconds: from the first instant of `from` to the first of the day
    /// after `to` (a day may have 23 or 25 hours).
    pub fn local_days(from: &str, to: &str, tz: &str) -> Result<(i64, i64), AnalyticsError> {
        let zone: Tz = tz
            .parse()
            .map_err(|_| AnalyticsError::BadRequest(format!("unknown time zone {tz:?}")))?;
        let date = |text: &str, which: &str| {
            NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| {
                AnalyticsError::BadRequest(format!("{which} date {text:?}: expected YYYY-MM-DD"))
            })
        };
        let (first, last) = (date(from, "first")?, date(to, "last")?);
        if last < first {
            return Err(AnalyticsError::BadRequest(
                "the last date is before the first".into(),
            ));
        }
        let after = last
            .succ_opt()
            .ok_or_else(|| AnalyticsError::BadRequest("the last date is too late".into()))?;
        Ok((day_start(zone, first), day_start(zone, after)))
    }

    /// A zone name as a ClickHouse string literal.
    fn quoted(zone: &str) -> String {
        assert!(
            zone.chars()
                .all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c)),
            "zone names are plain"
        );
        format!("'{zone}'")
    }

    /// The first instant of the local day `date` in `zone` (midnight, or the first instant
    /// after a gap at midnight).
    fn day_start(zone: Tz, date: NaiveDate) -> i64 {
        let midnight = date.and_hms_opt(0, 0, 0).expect("midnight exists");
        (0..4)
            .find_map(|h| {
                zone.from_local_datetime(&(midnight + Duration::hours(h)))
                    .earliest()
            })
            .map(|t| t.timestamp())
            .unwrap_or_else(|| midnight.and_utc().timestamp())
    }

    /// The bucket boundaries covering `[from, to)`: every bucket's start, then the end.
    pub(crate) fn bucket_starts(
        zone: Tz,
        granularity: Granularity,
        from: i64,
        to: i64,
    ) -> Vec<i64> {
        match granularity {
            Granularity::Hour => {
                let first = from.div_euclid(3600) * 3600;
                let end = (to + 3599).div_euclid(3600) * 3600;
                (0..)
                    .map(|i| first + i * 3600)
                    .take_while(|t| *t <= end)
                    .collect()
            }
            Granularity::Day => {
                let local = |t: i64| {
                    DateTime::from_timestamp(t, 0)
                        .expect("in range")
                        .with_timezone(&zone)
                        .date_naive()
                };
                let (first, last) = (local(from), local(to - 1));
                first
                    .iter_days()
                    .take_while(|d| *d <= last.succ_opt().expect("in range"))
                    .map(|d| day_start(zone, d))
                    .collect()
            }
        }
    }

    fn label(zone: Tz, granularity: Granularity, start: i64) -> String {
        let local = DateTime::from_timestamp(start, 0)
            .expect("in range")
            .with_timezone(&zone);
        match granularity {
            Granularity::Hour => local.format("%Y-%m-%d %H:%M").to_string(),
            Granularity::Day => local.format("%Y-%m-%d").to_string(),
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn local_days_around_a_dst_change_have_23_or_25_hours() {
            let berlin: Tz = "Europe/Berlin".parse().unwrap();
            // 2026-10-24 00:00 local (UTC+2) to the end of 2026-10-26 (UTC+1).
            let from = 1_792_792_800; // 2026-10-23T22:00:00Z
            let starts = bucket_starts(berlin, Granularity::Day, from, from + 3 * 86_400);
            let hours: Vec<i64> = starts.windows(2).map(|w| (w[1] - w[0]) / 3600).collect();
            assert_eq!(hours, vec![24, 25, 24]);
            assert_eq!(label(berlin, Granularity::Day, starts[1]), "2026-10-25");
        }

        #[test]
        fn a_date_range_is_whole_local_days() {
            // Berlin's autumn change: 24 + 25 hours.
            let (from, to) = local_days("2026-10-24", "2026-10-25", "Europe/Berlin").unwrap();
            assert_eq!((from, (to - from) / 3600), (1_792_792_800, 49));
            assert_eq!(
                local_days("2026-11-01", "2026-11-01", "Asia/Shanghai").unwrap(),
                (1_793_462_400, 1_793_548_800)
            );
            for (a, b) in [("2026-11-02", "2026-11-01"), ("01.11.2026", "2026-11-02")] {
                assert!(local_days(a, b, "UTC").is_err(), "{a} {b}");
            }
            assert!(local_days("2026-11-01", "2026-11-02", "Mars/Olympus").is_err());
        }

        #[test]
        fn hours_are_whole_utc_hours() {
            let utc: Tz = "UTC".parse().unwrap();
            assert_eq!(
                bucket_starts(utc, Granularity::Hour, 3601, 7201),
                vec![3600, 7200, 10800]
            );
        }
    }
}
