//! The user-level funnel impression → click → view → add to cart → order: how many users
//! went how far, in that order, within a conversion window of their impression
//! (ClickHouse's `windowFunnel`).
//!
//! It reads `funnel_events`, the funnel's actions ordered by a hash bucket of the user (1,024
//! buckets). When the range holds more of them than a budget ([`SAMPLE_EVENTS`]), it reads
//! the users of the first buckets only: a uniform sample of users whose size is bounded
//! whatever the traffic. The answer then says so: the fraction sampled, user counts scaled
//! up with their margin of error, and 95% intervals for the step rates. Below the budget
//! every user is read and the answer is exact.

use crate::stats::Interval;
use serde::{Deserialize, Serialize};

/// The funnel's steps, in order.
pub const STEPS: [&str; 5] = ["impression", "click", "view", "add_cart", "order"];
/// The longest conversion window.
pub const MAX_WINDOW_SECS: u32 = 30 * 86_400;
/// The funnel's events read at most (about): above this, a sample of users. At 1M the
/// windowFunnel takes about 50 ms on this project's 2-core machines (`bench/queries`).
pub const SAMPLE_EVENTS: u64 = 1_000_000;
/// Hash buckets of users in `funnel_events` (`cityHash64(user_id) % 1024`).
pub const SAMPLE_BUCKETS: u64 = 1024;

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
    /// When sampled: the 95% intervals of those two rates.
    #[serde(default)]
    pub from_previous_interval: Option<Interval>,
    #[serde(default)]
    pub from_first_interval: Option<Interval>,
}

/// How a sampled funnel was estimated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunnelSample {
    /// The share of users read (0 < fraction < 1).
    pub fraction: f64,
    /// Users in the sample who had an impression.
    pub users: u64,
    /// The 95% margin of the scaled user counts, relative (0.05: ±5%).
    pub users_margin: f64,
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
    /// `None`: every user was read, the counts are exact. Otherwise the counts are estimates
    /// from a sample of users.
    #[serde(default)]
    pub sample: Option<FunnelSample>,
}

/// `tenant`'s funnel over `[from, to)` with a conversion window of `window_secs`, from a
/// sample of users when the range has more of the funnel's events than the budget
/// (`db.funnel_sample_events`, by default [`SAMPLE_EVENTS`]).
#[cfg(feature = "server")]
pub async fn funnel_for(
    db: &super::AnalyticsDb,
    tenant: &str,
    scenario: Option<String>,
    from: i64,
    to: i64,
    window_secs: u32,
) -> Result<Funnel, super::AnalyticsError> {
    let budget = db.funnel_sample_events;
    sampled_funnel(db, tenant, scenario, from, to, window_secs, budget).await
}

/// [`funnel_for`] with its own budget of events.
#[cfg(feature = "server")]
pub async fn sampled_funnel(
    db: &super::AnalyticsDb,
    tenant: &str,
    scenario: Option<String>,
    from: i64,
    to: i64,
    window_secs: u32,
    max_events: u64,
) -> Result<Funnel, super::AnalyticsError> {
    use crate::sql::{scoped_on, StateRows, START};

    #[derive(Deserialize)]
    struct Row {
        level: u64,
        users: u64,
    }
    #[derive(Deserialize)]
    struct Total {
        events: u64,
    }
    super::check_range(from, to, super::RAW_MAX_DAYS)?;
    if window_secs == 0 || window_secs > MAX_WINDOW_SECS {
        return Err(super::AnalyticsError::BadRequest(format!(
            "window_secs must be between 1 and {MAX_WINDOW_SECS}"
        )));
    }
    let scenario = scenario.filter(|s| !s.is_empty());
    // How many of the funnel's events the range holds, from the rollup (milliseconds,
    // whatever the traffic), decides how many buckets of users to read.
    let total: Total = db
        .clickhouse
        .fetch_one(
            StateRows::new(tenant, scenario.as_deref(), START)
                .days_and_hours(1, from, to)
                .select(
                    "toUInt64(sumMerge(impressions) + sumMerge(clicks) + sumMerge(views) \
                     + sumMerge(add_carts) + sumMerge(orders)) AS events",
                    "",
                ),
        )
        .await
        .map_err(|e| super::query_failed("funnel", e))?;
    let buckets = buckets_to_read(total.events, max_events);
    let conditions = STEPS
        .iter()
        .map(|step| format!("action_type = '{step}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let sample = if buckets < SAMPLE_BUCKETS {
        "AND sample < ?"
    } else {
        ""
    };
    // The window is a checked number; windowFunnel wants it as a constant.
    let sql = format!(
        "SELECT level, count() AS users FROM ( \
             SELECT user_id, windowFunnel({window_secs})(event_time, {conditions}) AS level \
             FROM funnel_events WHERE {{scope}} {sample} GROUP BY user_id \
         ) WHERE level > 0 GROUP BY level ORDER BY level"
    );
    let mut query = scoped_on("event_time", &sql, tenant, scenario.as_deref(), from, to);
    if buckets < SAMPLE_BUCKETS {
        query = query.bind(buckets);
    }
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
    let fraction = buckets as f64 / SAMPLE_BUCKETS as f64;
    let (steps, sample) = estimate(&reached, (buckets < SAMPLE_BUCKETS).then_some(fraction));
    Ok(Funnel {
        tenant: tenant.to_string(),
        scenario,
        from,
        to,
        window_secs,
        steps,
        sample,
    })
}

/// How many of the [`SAMPLE_BUCKETS`] buckets of users to read so that about `max_events` of
/// `events` are read: all of them when the range holds no more than that, at least one.
pub fn buckets_to_read(events: u64, max_events: u64) -> u64 {
    if events <= max_events {
        return SAMPLE_BUCKETS;
    }
    (SAMPLE_BUCKETS * max_events)
        .div_ceil(events)
        .clamp(1, SAMPLE_BUCKETS)
}

/// The steps from the users of a sample who reached each step (`reached`, in order), read
/// from `fraction` of all users (`None`: all of them, exact). Sampled counts are scaled up by
/// 1 / fraction; the rates, being ratios of the sample's counts, get Wilson intervals, and
/// the counts the margin of a binomial sample of users (each user is in the sample with
/// probability `fraction`).
pub fn estimate(reached: &[u64], fraction: Option<f64>) -> (Vec<FunnelStep>, Option<FunnelSample>) {
    use super::overview::ratio;
    use super::stats::{wilson, Z_95};

    if reached.first().copied().unwrap_or(0) == 0 {
        return (Vec::new(), None);
    }
    let scale = |n: u64| match fraction {
        Some(f) => (n as f64 / f).round() as u64,
        None => n,
    };
    let steps = STEPS
        .iter()
        .zip(reached)
        .enumerate()
        .map(|(i, (action, &users))| {
            let previous = if i == 0 { None } else { Some(reached[i - 1]) };
            FunnelStep {
                action: action.to_string(),
                users: scale(users),
                from_previous: previous.and_then(|p| ratio(users, p)),
                from_first: ratio(users, reached[0]),
                from_previous_interval: fraction.and(previous).and_then(|p| wilson(users, p)),
                from_first_interval: fraction
                    .filter(|_| i > 0)
                    .and_then(|_| wilson(users, reached[0])),
            }
        })
        .collect();
    let sample = fraction.map(|f| FunnelSample {
        fraction: f,
        users: reached[0],
        users_margin: Z_95 * ((1.0 - f) / reached[0] as f64).sqrt(),
    });
    (steps, sample)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_decides_the_buckets_read() {
        assert_eq!(buckets_to_read(0, 1_000_000), SAMPLE_BUCKETS);
        assert_eq!(buckets_to_read(1_000_000, 1_000_000), SAMPLE_BUCKETS);
        // 10M events, a 1M budget: a tenth of the buckets, rounded up.
        assert_eq!(buckets_to_read(10_000_000, 1_000_000), 103);
        // Far beyond the budget: never less than one bucket.
        assert_eq!(buckets_to_read(u64::MAX / 2048, 1), 1);
    }

    #[test]
    fn exact_answers_have_no_intervals_and_samples_are_scaled_with_their_error() {
        let (steps, sample) = estimate(&[100, 50, 40, 10, 5], None);
        assert!(sample.is_none());
        assert_eq!(steps[1].users, 50);
        assert_eq!(steps[1].from_previous, Some(0.5));
        assert!(steps.iter().all(|s| s.from_first_interval.is_none()));

        let (steps, sample) = estimate(&[400, 100, 80, 20, 10], Some(0.25));
        let sample = sample.unwrap();
        assert_eq!(sample.users, 400);
        // sqrt(0.75 / 400) * 1.96 = 0.0849
        assert!((sample.users_margin - 0.084_87).abs() < 1e-4, "{sample:?}");
        assert_eq!(steps[0].users, 1600);
        assert_eq!(steps[4].users, 40);
        assert_eq!(steps[1].from_first, Some(0.25));
        let interval = steps[1].from_first_interval.unwrap();
        assert!(interval.low < 0.25 && 0.25 < interval.high, "{interval:?}");
        assert!(steps[0].from_first_interval.is_none());
        assert!(steps[2].from_previous_interval.is_some());

        assert_eq!(estimate(&[0, 0, 0, 0, 0], Some(0.5)), (Vec::new(), None));
    }
}
