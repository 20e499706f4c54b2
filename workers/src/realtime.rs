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
//!
//! **Each event once.** A client that got no answer sends its batch again with the same event
//! ids, and the API may have produced it before it died: the same event at a new offset. The
//! transaction also records the ids it applied per partition (two generations of
//! `REALTIME_RESEND_WINDOW` ids), and an id applied lately is skipped.

use super::batch::{Limits, Source};
use super::consumer::{self, BatchHandler};
use super::retry::{retry, Retry};
use crate::config::{Membership, RealtimeConfig, RedisConfig};
use futures::future::BoxFuture;
use futures::FutureExt;
use rdkafka::message::BorrowedMessage;
use recoscope_core::clock::now_ms;
use recoscope_core::realtime::{minute_of, Keys};
use recoscope_core::{ActionType, BehaviorRecord};
use redis::aio::ConnectionManager;
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

/// Applies batches of records to Redis, each message once.
pub struct RealtimeWriter {
    redis: ConnectionManager,
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
        let client = redis::Client::open(redis.url.as_str())?;
        let connected = retry(shutdown, "redis connect", || {
            let client = client.clone();
            async move {
                ConnectionManager::new(client)
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

    /// Applies the records not applied before, with the new offsets and the ids of what was
    /// applied, in one transaction.
    ///
    /// Two checks keep a message from counting twice: its offset (a redelivery after a crash
    /// or a handover is at or below the partition's applied offset) and its event id (a
    /// client's resend, same id at a new offset, e.g. after the API died between the broker's
    /// ack and its answer: the id was applied lately from the same partition, since events
    /// of one user share a partition). The ids live in Redis beside the counters, so a
    /// restarted or new owner sees what its predecessor applied.
    pub async fn apply(
        &self,
        items: &[(Source, Option<BehaviorRecord>)],
    ) -> redis::RedisResult<()> {
        let mut redis = self.redis.clone();
        let offsets_key = self.keys.offsets(&self.group);
        let partition_field = |s: &Source| format!("{}/{}", s.topic, s.partition);
        let item_fields: Vec<String> = items.iter().map(|(s, _)| partition_field(s)).collect();
        let ids: Vec<Option<[u8; 8]>> = items
            .iter()
            .map(|(_, r)| r.as_ref().map(event_hash))
            .collect();

        // What was applied before, per partition in this batch: the offset, and which of the
        // batch's event ids (two generations of lately applied ids, and how full the current
        // one is).
        let mut fields: Vec<String> = item_fields.clone();
        fields.sort();
        fields.dedup();
        // One round trip (this runs every 200 ms): the applied offsets, the size of each
        // partition's current id generation, and which of the batch's ids either holds.
        let mut read = redis::pipe();
        read.cmd("HMGET").arg(&offsets_key).arg(&fields);
        for field in &fields {
            read.cmd("SCARD")
                .arg(self.keys.applied_ids(&self.group, field, true));
        }
        let mut asked_for: Vec<Vec<usize>> = Vec::new();
        for field in &fields {
            let batch: Vec<usize> = (0..items.len())
                .filter(|&i| item_fields[i] == *field && ids[i].is_some())
                .collect();
            if batch.is_empty() {
                continue;
            }
            for current in [true, false] {
                let cmd =
                    read.cmd("SMISMEMBER")
                        .arg(self.keys.applied_ids(&self.group, field, current));
                for i in &batch {
                    cmd.arg(ids[*i].as_ref().map(|id| &id[..]));
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
            if let Some(id) = ids[i] {
                if known_lately.contains(&i) || !in_batch.insert(id) {
                    resends += 1;
                    continue;
                }
                fresh_ids.entry(field).or_default().push(id);
            }
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
        let ids_ttl = RESEND_IDS_TTL.as_millis() as i64;
        for (field, new_ids) in &fresh_ids {
            let (current, previous) = (
                self.keys.applied_ids(&self.group, field, true),
                self.keys.applied_ids(&self.group, field, false),
            );
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
            tracing::debug!(skipped, resends, "messages applied before were skipped");
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
