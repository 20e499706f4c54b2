//! Real-time state in Redis, fed by consumer group `redis-realtime` (configurable): what the
//! dashboard's live view reads within a second of an event.
//!
//! The keys (after `REDIS_KEY_PREFIX`) are laid out in [`recoscope_core::realtime`], which
//! the dashboard's live view reads with:
//! - hot items: engagement-weighted item scores that halve every
//!   `REALTIME_HOT_HALF_LIFE_SECS`, kept to the `REALTIME_HOT_MAX_ITEMS` best (see
//!   [`HOT_ITEMS_SCRIPT`] for the decay arithmetic);
//! - per minute of event time: events, impressions, clicks, orders, and a HyperLogLog of users;
//! - the scenarios seen lately, so "all scenarios" can be read;
//! - the last Kafka offset applied per partition.
//!
//! Every key but the offsets has a TTL: minutes live two hours, hot items
//! `REALTIME_HOT_TTL_SECS` after their last event.
//!
//! **Each message once.** A batch is applied in one `MULTI`/`EXEC` together with the new
//! applied offsets, after skipping messages at or below the offsets already applied; Redis
//! runs a transaction entirely or not at all. So a batch delivered again (a crash after
//! `EXEC`, before the Kafka commit) or retried after Redis came back changes nothing twice,
//! and counters converge on exactly the events in Kafka.

use super::batch::{Limits, Source};
use super::consumer::{self, BatchHandler};
use super::retry::{retry, Retry};
use crate::clock::now_ms;
use crate::config::Config;
use futures::future::BoxFuture;
use futures::FutureExt;
use rdkafka::message::BorrowedMessage;
use recoscope_core::realtime::{minute_of, Keys};
use recoscope_core::{ActionType, BehaviorRecord};
use redis::aio::ConnectionManager;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long per-minute buckets live: the live view shows the last hour.
pub const MINUTE_TTL: Duration = Duration::from_secs(2 * 3600);

/// How much each action says about an item's appeal right now.
pub fn weight(action: ActionType) -> f64 {
    match action {
        ActionType::Impression => 1.0,
        ActionType::View => 2.0,
        ActionType::Click => 3.0,
        ActionType::Like => 4.0,
        ActionType::Share => 5.0,
        ActionType::AddCart => 6.0,
        ActionType::Order => 10.0,
    }
}

/// Adds decayed weights to one hot-items ZSET, atomically.
///
/// A score is kept relative to an epoch: an event of weight `w` at time `t` adds
/// `w * 2^((t - epoch) / half_life)`, so today's score of an item is its stored score times
/// `2^(-(now - epoch) / half_life)`, the same factor for every item, so the order needs no
/// rewriting as time passes. When the epoch grows old (32 half-lives) the whole set is
/// rescaled by that factor in one `ZUNIONSTORE` and the epoch moves to now, keeping numbers
/// small. Then the set is cut to its best `max_items` and both keys get their TTL.
///
/// KEYS: zset, epoch. ARGV: now_ms, half_life_ms, max_items, ttl_ms, then
/// (item, weight, event_ms) triples.
pub const HOT_ITEMS_SCRIPT: &str = r#"
local now = tonumber(ARGV[1])
local half_life = tonumber(ARGV[2])
local epoch = tonumber(redis.call('GET', KEYS[2]) or ARGV[1])
if now - epoch > 32 * half_life then
  redis.call('ZUNIONSTORE', KEYS[1], 1, KEYS[1], 'WEIGHTS', 2 ^ (-(now - epoch) / half_life))
  epoch = now
end
redis.call('SET', KEYS[2], string.format('%.0f', epoch))
for i = 5, #ARGV, 3 do
  local added = tonumber(ARGV[i + 1]) * 2 ^ ((tonumber(ARGV[i + 2]) - epoch) / half_life)
  redis.call('ZINCRBY', KEYS[1], added, ARGV[i])
end
local size = redis.call('ZCARD', KEYS[1])
local keep = tonumber(ARGV[3])
if size > keep then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, size - keep - 1)
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return size
"#;

/// One item's weight at one event time.
type HotAdd<'a> = (&'a str, f64, i64);

/// Tuning of the hot-items sets.
#[derive(Debug, Clone, Copy)]
pub struct HotItems {
    pub half_life: Duration,
    pub max_items: usize,
    pub ttl: Duration,
}

/// Applies batches of records to Redis, each message once.
pub struct RealtimeWriter {
    redis: ConnectionManager,
    keys: Keys,
    group: String,
    hot: HotItems,
}

impl RealtimeWriter {
    /// Connects, retrying while Redis is unreachable (a worker may start before Redis);
    /// `None` when shutdown came first. A malformed `REDIS_URL` fails at once.
    pub async fn connect(
        config: &Config,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<Option<RealtimeWriter>> {
        let client = redis::Client::open(config.redis_url.as_str())?;
        let connected = retry(shutdown, "redis connect", || {
            let client = client.clone();
            async move {
                ConnectionManager::new(client)
                    .await
                    .map_err(|e| Retry::Again(e.to_string()))
            }
        })
        .await;
        let Ok(redis) = connected else {
            return Ok(None);
        };
        Ok(Some(RealtimeWriter {
            redis,
            keys: Keys {
                prefix: config.redis_key_prefix.clone(),
            },
            group: config.realtime_group_id.clone(),
            hot: HotItems {
                half_life: Duration::from_secs(config.realtime_hot_half_life_secs),
                max_items: config.realtime_hot_max_items,
                ttl: Duration::from_secs(config.realtime_hot_ttl_secs),
            },
        }))
    }

    /// Applies the records not applied before, with the new offsets, in one transaction.
    pub async fn apply(
        &self,
        items: &[(Source, Option<BehaviorRecord>)],
    ) -> redis::RedisResult<()> {
        let mut redis = self.redis.clone();
        let offsets_key = self.keys.offsets(&self.group);
        let partition_field = |s: &Source| format!("{}/{}", s.topic, s.partition);

        // What was applied before, per partition in this batch.
        let mut fields: Vec<String> = items.iter().map(|(s, _)| partition_field(s)).collect();
        fields.sort();
        fields.dedup();
        let applied: Vec<Option<i64>> = redis::cmd("HMGET")
            .arg(&offsets_key)
            .arg(&fields)
            .query_async(&mut redis)
            .await?;
        let applied: HashMap<&str, i64> = fields
            .iter()
            .zip(applied)
            .filter_map(|(f, o)| Some((f.as_str(), o?)))
            .collect();

        let mut newest: BTreeMap<String, i64> = BTreeMap::new();
        let mut fresh = Vec::new();
        for (source, record) in items {
            let field = partition_field(source);
            if applied
                .get(field.as_str())
                .is_some_and(|&o| source.offset <= o)
            {
                continue;
            }
            let entry = newest.entry(field).or_insert(source.offset);
            *entry = (*entry).max(source.offset);
            fresh.extend(record.as_ref());
        }
        if newest.is_empty() {
            return Ok(());
        }
        let skipped = items.len() - fresh.len();
        let mut pipe = self.updates(&fresh, now_ms());
        pipe.cmd("HSET").arg(&offsets_key);
        for (field, offset) in &newest {
            pipe.arg(field).arg(offset);
        }
        pipe.ignore();
        pipe.query_async::<()>(&mut redis).await?;
        metrics::counter!("recoscope_realtime_events_applied_total").increment(fresh.len() as u64);
        if skipped > 0 {
            tracing::debug!(skipped, "messages applied before were skipped");
        }
        Ok(())
    }

    /// The transaction's commands for these records.
    fn updates(&self, records: &[&BehaviorRecord], now: i64) -> redis::Pipeline {
        let mut pipe = redis::pipe();
        pipe.atomic();
        let minute_ttl = MINUTE_TTL.as_millis() as i64;
        let oldest_minute = minute_of(now - minute_ttl);
        let mut hot: BTreeMap<(&str, &str), Vec<HotAdd>> = BTreeMap::new();
        let mut minutes: BTreeMap<(&str, &str, i64), [i64; 4]> = BTreeMap::new();
        let mut users: BTreeMap<(&str, &str, i64), Vec<&str>> = BTreeMap::new();
        for r in records {
            let (tenant, scenario) = (r.tenant_id.as_str(), r.event.scenario_id.as_str());
            let at = r.event_time_ms();
            hot.entry((tenant, scenario)).or_default().push((
                r.event.item_id.as_str(),
                weight(r.event.action_type),
                at,
            ));
            let minute = minute_of(at);
            if minute < oldest_minute {
                continue; // too old for the live view; its key would expire at once
            }
            let counts = minutes.entry((tenant, scenario, minute)).or_default();
            counts[0] += 1;
            match r.event.action_type {
                ActionType::Impression => counts[1] += 1,
                ActionType::Click => counts[2] += 1,
                ActionType::Order => counts[3] += 1,
                _ => {}
            }
            users
                .entry((tenant, scenario, minute))
                .or_default()
                .push(r.event.user_id.as_str());
        }
        let hot_ttl = self.hot.ttl.as_millis() as i64;
        for ((tenant, scenario), adds) in &hot {
            let cmd = pipe
                .cmd("EVAL")
                .arg(HOT_ITEMS_SCRIPT)
                .arg(2)
                .arg(self.keys.hot_items(tenant, scenario))
                .arg(self.keys.hot_epoch(tenant, scenario))
                .arg(now)
                .arg(self.hot.half_life.as_millis() as i64)
                .arg(self.hot.max_items)
                .arg(hot_ttl);
            for (item, weight, at) in adds {
                cmd.arg(*item).arg(*weight).arg(*at);
            }
            cmd.ignore();
            pipe.cmd("SADD")
                .arg(self.keys.scenarios(tenant))
                .arg(*scenario)
                .ignore();
            pipe.cmd("PEXPIRE")
                .arg(self.keys.scenarios(tenant))
                .arg(hot_ttl)
                .ignore();
        }
        for ((tenant, scenario, minute), [events, impressions, clicks, orders]) in &minutes {
            let key = self.keys.minute(tenant, scenario, *minute);
            for (field, n) in [
                ("events", events),
                ("impressions", impressions),
                ("clicks", clicks),
                ("orders", orders),
            ] {
                if *n > 0 {
                    pipe.cmd("HINCRBY").arg(&key).arg(field).arg(*n).ignore();
                }
            }
            pipe.cmd("PEXPIRE").arg(&key).arg(minute_ttl).ignore();
        }
        for ((tenant, scenario, minute), ids) in &users {
            let key = self.keys.minute_users(tenant, scenario, *minute);
            pipe.cmd("PFADD").arg(&key).arg(ids).ignore();
            pipe.cmd("PEXPIRE").arg(&key).arg(minute_ttl).ignore();
        }
        pipe
    }
}

/// The consumer-group worker around [`RealtimeWriter`].
pub struct RealtimeWorker {
    writer: RealtimeWriter,
}

impl RealtimeWorker {
    pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Some(writer) = RealtimeWriter::connect(&config, &shutdown).await? else {
            return Ok(());
        };
        let consumer = consumer::join(&config, &config.realtime_group_id, &config.kafka_topic)?;
        let worker = RealtimeWorker { writer };
        let limits = Limits {
            max_rows: 5_000,
            max_bytes: 4 << 20,
            max_wait: Duration::from_millis(config.realtime_max_wait_ms),
        };
        consumer::run(consumer, worker, limits, shutdown).await
    }
}

impl BatchHandler for RealtimeWorker {
    /// `None` for a message that does not decode ([`consumer::record_of`]).
    type Item = Option<BehaviorRecord>;

    fn decode(&self, message: &BorrowedMessage<'_>) -> Option<BehaviorRecord> {
        consumer::record_of(message)
    }

    fn deliver<'a>(
        &'a self,
        items: Vec<(Source, Option<BehaviorRecord>)>,
        shutdown: &'a CancellationToken,
    ) -> BoxFuture<'a, bool> {
        async move {
            retry(shutdown, "redis update", || async {
                self.writer
                    .apply(&items)
                    .await
                    .map_err(|e| Retry::Again(e.to_string()))
            })
            .await
            .is_ok()
        }
        .boxed()
    }
}
