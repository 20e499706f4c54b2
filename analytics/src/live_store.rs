//! Reading the live view from Redis (the layout of `recoscope_core::realtime`), in three
//! pipelined round trips: the minute counters, the HyperLogLog counts, the hot items. A
//! tenant's keys share a hash tag, so each pipeline keeps to one slot of a Redis Cluster.

use super::live::{HotItem, Live, LiveMinute, LIVE_MINUTES};
use super::overview::Kpis;
use recoscope_core::realtime::{decay_factor, minute_of, Keys, MINUTE_FIELDS};
use recoscope_redis::{Limits, RedisConnection, RedisTarget};
use redis::AsyncCommands;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OnceCell;

/// Where the real-time state lives and how to read its scores.
#[derive(Clone)]
pub struct LiveStore {
    target: RedisTarget,
    /// Made at the first read and shared by every read after (it reconnects by itself); a
    /// failed first connection is tried again at the next read.
    connection: Arc<OnceCell<RedisConnection>>,
    keys: Keys,
    half_life_ms: i64,
}

impl std::fmt::Debug for LiveStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveStore")
            .field("target", &self.target)
            .field("keys", &self.keys)
            .finish()
    }
}

/// A dashboard read never waits long on Redis: a frozen server shows as an error in seconds.
const LIMITS: Limits = Limits {
    connect: Duration::from_secs(2),
    response: Duration::from_secs(2),
    retries: 0,
};

impl LiveStore {
    /// `target`'s URLs must parse (checked here, at boot); nothing connects until a read.
    pub fn new(
        target: RedisTarget,
        key_prefix: &str,
        half_life: Duration,
    ) -> redis::RedisResult<Self> {
        target.check()?;
        Ok(LiveStore {
            target,
            connection: Arc::new(OnceCell::new()),
            keys: Keys::new(key_prefix),
            half_life_ms: half_life.as_millis() as i64,
        })
    }

    async fn connection(&self) -> redis::RedisResult<RedisConnection> {
        self.connection
            .get_or_try_init(|| self.target.connect(LIMITS))
            .await
            .cloned()
    }

    /// The live view of `tenant` (and `scenario`, or all), without scenario names, and the
    /// scenarios that have real-time state.
    pub async fn read(
        &self,
        tenant: &str,
        scenario: Option<&str>,
        top: usize,
        now_ms: i64,
    ) -> redis::RedisResult<(Live, Vec<String>)> {
        let mut redis = self.connection().await?;
        let mut known: Vec<String> = redis.smembers(self.keys.scenarios(tenant)).await?;
        known.sort();
        let scenarios: Vec<String> = match scenario {
            Some(s) => vec![s.to_string()],
            None => known.clone(),
        };
        let last = minute_of(now_ms);
        let minutes: Vec<i64> = (0..LIVE_MINUTES).rev().map(|i| last - i * 60).collect();

        // Counters: one HMGET per minute and scenario.
        let mut pipe = redis::pipe();
        for &m in &minutes {
            for s in &scenarios {
                pipe.cmd("HMGET")
                    .arg(self.keys.minute(tenant, s, m))
                    .arg(&MINUTE_FIELDS[..]);
            }
        }
        let counters: Vec<Vec<Option<u64>>> = if scenarios.is_empty() {
            Vec::new()
        } else {
            pipe.query_async(&mut redis).await?
        };

        // Users: one PFCOUNT per minute (the union over scenarios), then one for the hour.
        let user_keys = |m: i64| -> Vec<String> {
            scenarios
                .iter()
                .map(|s| self.keys.minute_users(tenant, s, m))
                .collect()
        };
        let mut pipe = redis::pipe();
        for &m in &minutes {
            pipe.cmd("PFCOUNT").arg(user_keys(m));
        }
        pipe.cmd("PFCOUNT").arg(
            minutes
                .iter()
                .flat_map(|&m| user_keys(m))
                .collect::<Vec<_>>(),
        );
        let users: Vec<u64> = if scenarios.is_empty() {
            Vec::new()
        } else {
            pipe.query_async(&mut redis).await?
        };

        // Hot items: each scenario's set with its epoch, decayed to now and merged. One
        // scenario's best are its first `top`; across scenarios an item's score is the sum
        // of its scores in each, and one that is sixth in two sets can beat the first of
        // one, so every set is read whole (each holds at most REALTIME_HOT_MAX_ITEMS).
        let last = if scenarios.len() > 1 {
            -1
        } else {
            top as i64 - 1
        };
        let mut pipe = redis::pipe();
        for s in &scenarios {
            pipe.cmd("GET").arg(self.keys.hot_epoch(tenant, s));
            pipe.cmd("ZREVRANGE")
                .arg(self.keys.hot_items(tenant, s))
                .arg(0)
                .arg(last)
                .arg("WITHSCORES");
        }
        let hot: Vec<redis::Value> = if scenarios.is_empty() {
            Vec::new()
        } else {
            pipe.query_async(&mut redis).await?
        };

        let mut series = Vec::with_capacity(minutes.len());
        let per_minute = scenarios.len();
        for (i, &minute) in minutes.iter().enumerate() {
            let mut sums = [0u64; 4];
            for fields in counters.iter().skip(i * per_minute).take(per_minute) {
                for (sum, value) in sums.iter_mut().zip(fields) {
                    *sum += value.unwrap_or(0);
                }
            }
            series.push(LiveMinute {
                minute,
                events: sums[0],
                impressions: sums[1],
                clicks: sums[2],
                conversions: sums[3],
                active_users: users.get(i).copied().unwrap_or(0),
            });
        }
        let total = |pick: fn(&LiveMinute) -> u64| series.iter().map(pick).sum::<u64>();
        let events = total(|m| m.events);
        let totals = (events > 0).then(|| {
            Kpis::from_counts(
                events,
                total(|m| m.impressions),
                total(|m| m.clicks),
                total(|m| m.conversions),
                users.last().copied().unwrap_or(0),
            )
        });

        Ok((
            Live {
                tenant: tenant.to_string(),
                scenario: scenario.map(str::to_string),
                as_of: now_ms,
                minutes: series,
                totals,
                hot_items: merge_hot_items(&hot, top, now_ms, self.half_life_ms)?,
                scenarios: Vec::new(),
            },
            known,
        ))
    }
}

/// Decays each scenario's scores from its own epoch to `now_ms`, adds up an item's scores
/// across scenarios, and keeps the best `top`. `replies` alternate GET epoch and
/// ZREVRANGE ... WITHSCORES, one pair per scenario.
fn merge_hot_items(
    replies: &[redis::Value],
    top: usize,
    now_ms: i64,
    half_life_ms: i64,
) -> redis::RedisResult<Vec<HotItem>> {
    let mut scores: HashMap<String, f64> = HashMap::new();
    for pair in replies.chunks(2) {
        let [epoch, items] = pair else { continue };
        let epoch: Option<i64> = redis::from_redis_value(epoch.clone())?;
        let items: Vec<(String, f64)> = redis::from_redis_value(items.clone())?;
        let Some(epoch) = epoch else { continue };
        let factor = decay_factor(now_ms, epoch, half_life_ms);
        for (item, stored) in items {
            *scores.entry(item).or_default() += stored * factor;
        }
    }
    let mut hot: Vec<HotItem> = scores
        .into_iter()
        .map(|(item_id, score)| HotItem::new(item_id, score))
        .collect();
    hot.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.item_id.cmp(&b.item_id))
    });
    hot.truncate(top);
    Ok(hot)
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis::Value;

    fn zrange(items: &[(&str, f64)]) -> Value {
        Value::Array(
            items
                .iter()
                .flat_map(|(i, s)| {
                    [
                        Value::BulkString(i.as_bytes().to_vec()),
                        Value::BulkString(s.to_string().into_bytes()),
                    ]
                })
                .collect(),
        )
    }

    #[test]
    fn scores_decay_from_each_scenarios_epoch_and_add_up() {
        let half_life = 1_000;
        let replies = vec![
            // Scenario 1, epoch one half-life ago: scores halve.
            Value::BulkString(b"9000".to_vec()),
            zrange(&[("a", 8.0), ("b", 4.0)]),
            // Scenario 2, epoch now: scores as stored.
            Value::BulkString(b"10000".to_vec()),
            zrange(&[("b", 3.0), ("c", 1.0)]),
            // Scenario 3 expired: no epoch.
            Value::Nil,
            zrange(&[]),
        ];
        let hot = merge_hot_items(&replies, 2, 10_000, half_life).unwrap();
        assert_eq!(
            hot,
            vec![HotItem::new("b".into(), 5.0), HotItem::new("a".into(), 4.0),]
        );
    }
}
