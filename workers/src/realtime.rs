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
//! **Each message once, per tenant.** A batch is split by tenant, and each tenant's share is
//! applied in one `MULTI`/`EXEC` together with that tenant's applied offsets, after skipping
//! its messages at or below them; Redis runs a transaction entirely or not at all. All of a
//! tenant's keys share a hash tag, so the transaction keeps to one slot and works the same on
//! a Redis Cluster. A batch delivered again (a crash after some tenants' `EXEC`, before the
//! Kafka commit) or retried after Redis came back changes nothing twice: each tenant's offsets
//! say what of its share was applied. Counters converge on exactly the events in Kafka.
//!
//! **Each event once.** A client that got no answer sends its batch again with the same event
//! ids, and the API may have produced it before it died: the same event at a new offset. The
//! transaction also records the ids it applied per tenant and partition (two generations of
//! `REALTIME_RESEND_WINDOW` ids), and an id applied lately is skipped.

use super::batch::{Limits, Source};
use super::consumer::{self, BatchHandler};
use super::retry::{retry, Retry};
use crate::config::{Membership, RealtimeConfig, RedisConfig};
use futures::future::BoxFuture;
use futures::FutureExt;
use futures::StreamExt;
use rdkafka::message::BorrowedMessage;
use recoscope_core::clock::now_ms;
use recoscope_core::realtime::{minute_of, Keys};
use recoscope_core::{ActionType, BehaviorRecord};
use recoscope_redis::{Limits as RedisLimits, RedisConnection};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long per-minute buckets live: the live view shows the last hour.
pub const MINUTE_TTL: Duration = Duration::from_secs(2 * 3600);

/// How long the ids of applied events are kept when a partition sees no more traffic.
const RESEND_IDS_TTL: Duration = Duration::from_secs(24 * 3600);

/// A stable 64-bit digest of (tenant, event id): the first 8 bytes of SHA-256, the same in
/// every process and release (unlike `std`'s hasher), so ids written by one worker are
/// recognised by the next.
fn event_hash(record: &BehaviorRecord) -> [u8; 8] {
    use sha2::{Digest, Sha256};
    let mut digest = Sha256::new();
    digest.update(record.tenant_id.as_bytes());
    digest.update([0x1f]);
    digest.update(record.event_id.as_bytes());
    let mut id = [0u8; 8];
    id.copy_from_slice(&digest.finalize()[..8]);
    id
}

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
        // Engaged seconds say how long, not how many wanted the item; the view counted it.
        ActionType::Dwell => 0.0,
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

/// Tenants whose shares of a batch are applied at once (each its own transaction; in a
/// cluster, on its own node).
const TENANTS_AT_ONCE: usize = 16;

/// Applies batches of records to Redis, each message once.
pub struct RealtimeWriter {
    redis: RedisConnection,
    keys: Keys,
    group: String,
    hot: HotItems,
    /// Ids per partition in one generation of the resend memory (`REALTIME_RESEND_WINDOW`).
    resend_window: usize,
}

impl RealtimeWriter {
    /// Connects, retrying while Redis is unreachable (a worker may start before Redis);
    /// `None` when shutdown came first. A malformed `REDIS_URL` fails at once.
    pub async fn connect(
        redis: &RedisConfig,
        config: &RealtimeConfig,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<Option<RealtimeWriter>> {
        let target = redis.target();
        target.check()?;
        let limits = RedisLimits {
            connect: Duration::from_secs(5),
            response: Duration::from_secs(10),
            retries: 3,
        };
        let connected = retry(shutdown, "redis connect", || {
            let target = target.clone();
            async move {
                target
                    .connect(limits)
                    .await
                    .map_err(|e| Retry::Again(e.to_string()))
            }
        })
        .await;
        let Ok(connection) = connected else {
            return Ok(None);
        };
        Ok(Some(RealtimeWriter {
            redis: connection,
            keys: Keys {
                prefix: redis.key_prefix.clone(),
            },
            group: config.group_id.clone(),
            hot: HotItems {
                half_life: config.hot_half_life(),
                max_items: config.hot_max_items,
                ttl: Duration::from_secs(config.hot_ttl_secs),
            },
            resend_window: config.resend_window,
        }))
    }

    /// Applies the records not applied before, each tenant's share in one transaction with
    /// that tenant's new offsets and the ids of what was applied. Tenants are independent:
    /// when one fails, the others' shares stand, and the retry of the whole batch skips them.
    pub async fn apply(
        &self,
        items: &[(Source, Option<BehaviorRecord>)],
    ) -> redis::RedisResult<()> {
        // A message that did not decode has no tenant and nothing to count.
        let mut by_tenant: BTreeMap<&str, Vec<(&Source, &BehaviorRecord)>> = BTreeMap::new();
        for (source, record) in items {
            if let Some(record) = record {
                by_tenant
                    .entry(record.tenant_id.as_str())
                    .or_default()
                    .push((source, record));
            }
        }
        // Boxed: an unboxed future made in a closure trips the compiler's `Send` check of the
        // caller's future (a known higher-ranked lifetime limitation).
        let shares: Vec<BoxFuture<'_, redis::RedisResult<()>>> = by_tenant
            .iter()
            .map(|(tenant, share)| self.apply_tenant(tenant, share).boxed())
            .collect();
        let outcomes: Vec<redis::RedisResult<()>> = futures::stream::iter(shares)
            .buffer_unordered(TENANTS_AT_ONCE)
            .collect()
            .await;
        outcomes.into_iter().collect()
    }

    /// One tenant's share of a batch, in one transaction on the tenant's slot.
    ///
    /// Two checks keep a message from counting twice: its offset (a redelivery after a crash
    /// or a handover is at or below the tenant's applied offset for the partition) and its
    /// event id (a client's resend, same id at a new offset, e.g. after the API died between
    /// the broker's ack and its answer: the id was applied lately from the same partition,
    /// since events of one user share a partition). Both live in Redis beside the counters,
    /// so a restarted or new owner sees what its predecessor applied.
    async fn apply_tenant(
        &self,
        tenant: &str,
        items: &[(&Source, &BehaviorRecord)],
    ) -> redis::RedisResult<()> {
        let mut redis = self.redis.clone();
        let offsets_key = self.keys.offsets(tenant, &self.group);
        let ids_key =
            |field: &str, current: bool| self.keys.applied_ids(tenant, &self.group, field, current);
        let partition_field = |s: &Source| format!("{}/{}", s.topic, s.partition);
        let item_fields: Vec<String> = items.iter().map(|(s, _)| partition_field(s)).collect();
        let ids: Vec<[u8; 8]> = items.iter().map(|(_, r)| event_hash(r)).collect();

        // What was applied before, per partition in this share: the offset, and which of its
        // event ids (two generations of lately applied ids, and how full the current one
        // is). One round trip (this runs every 200 ms).
        let mut fields: Vec<String> = item_fields.clone();
        fields.sort();
        fields.dedup();
        let mut read = redis::pipe();
        read.cmd("HMGET").arg(&offsets_key).arg(&fields);
        for field in &fields {
            read.cmd("SCARD").arg(ids_key(field, true));
        }
        let mut asked_for: Vec<Vec<usize>> = Vec::new();
        for field in &fields {
            let batch: Vec<usize> = (0..items.len())
                .filter(|&i| item_fields[i] == *field)
                .collect();
            for current in [true, false] {
                let cmd = read.cmd("SMISMEMBER").arg(ids_key(field, current));
                for i in &batch {
                    cmd.arg(&ids[*i][..]);
                }
            }
            asked_for.push(batch);
        }
        let mut answers = read
            .query_async::<Vec<redis::Value>>(&mut redis)
            .await?
            .into_iter();
        let mut next = || answers.next().unwrap_or(redis::Value::Nil);
        let applied: Vec<Option<i64>> = redis::from_redis_value(next())?;
        let applied: HashMap<&str, i64> = fields
            .iter()
            .zip(applied)
            .filter_map(|(f, o)| Some((f.as_str(), o?)))
            .collect();
        let mut sizes: HashMap<&str, usize> = HashMap::new();
        for field in &fields {
            sizes.insert(field.as_str(), redis::from_redis_value(next())?);
        }
        let mut known_lately: HashSet<usize> = HashSet::new();
        for batch in &asked_for {
            let in_current: Vec<bool> = redis::from_redis_value(next())?;
            let in_previous: Vec<bool> = redis::from_redis_value(next())?;
            for (k, i) in batch.iter().enumerate() {
                if in_current.get(k) == Some(&true) || in_previous.get(k) == Some(&true) {
                    known_lately.insert(*i);
                }
            }
        }

        let mut newest: BTreeMap<String, i64> = BTreeMap::new();
        let mut fresh = Vec::new();
        let mut fresh_ids: BTreeMap<&str, Vec<[u8; 8]>> = BTreeMap::new();
        let mut in_batch: HashSet<[u8; 8]> = HashSet::new();
        let mut resends = 0usize;
        for (i, (source, record)) in items.iter().enumerate() {
            let field = item_fields[i].as_str();
            if applied.get(field).is_some_and(|&o| source.offset <= o) {
                continue;
            }
            let entry = newest.entry(field.to_string()).or_insert(source.offset);
            *entry = (*entry).max(source.offset);
            if known_lately.contains(&i) || !in_batch.insert(ids[i]) {
                resends += 1;
                continue;
            }
            fresh_ids.entry(field).or_default().push(ids[i]);
            fresh.push(*record);
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
        let ids_ttl = RESEND_IDS_TTL.as_millis() as i64;
        for (field, new_ids) in &fresh_ids {
            let (current, previous) = (ids_key(field, true), ids_key(field, false));
            // The current generation full: it becomes the previous one (the older ids go).
            if sizes.get(field).copied().unwrap_or(0) >= self.resend_window {
                pipe.cmd("RENAME").arg(&current).arg(&previous).ignore();
            }
            let cmd = pipe.cmd("SADD").arg(&current);
            for id in new_ids {
                cmd.arg(&id[..]);
            }
            cmd.ignore();
            pipe.cmd("PEXPIRE").arg(&current).arg(ids_ttl).ignore();
            pipe.cmd("PEXPIRE").arg(&previous).arg(ids_ttl).ignore();
        }
        pipe.query_async::<()>(&mut redis).await?;
        metrics::counter!("recoscope_realtime_events_applied_total").increment(fresh.len() as u64);
        if resends > 0 {
            metrics::counter!("recoscope_realtime_resends_skipped_total").increment(resends as u64);
        }
        if skipped > 0 {
            tracing::debug!(
                tenant,
                skipped,
                resends,
                "messages applied before were skipped"
            );
        }
        Ok(())
    }

    /// The transaction's commands for these records (of one tenant: the keys share its slot).
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
            let w = weight(r.event.action_type);
            if w > 0.0 {
                hot.entry((tenant, scenario))
                    .or_default()
                    .push((r.event.item_id.as_str(), w, at));
            }
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
    pub async fn run(
        membership: Membership,
        config: RealtimeConfig,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let Some(writer) = RealtimeWriter::connect(&membership.redis, &config, &shutdown).await?
        else {
            return Ok(());
        };
        let consumer = consumer::join(&membership, &config.group_id)?;
        let worker = RealtimeWorker { writer };
        let limits = Limits {
            max_rows: 5_000,
            max_bytes: 4 << 20,
            max_wait: Duration::from_millis(config.max_wait_ms),
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
