//! Who consumes which partition: leases in Redis that this project owns, not the broker's
//! consumer-group coordinator.
//!
//! Why: tansu 0.6's coordinator left a group without owners for good when a member died
//! without leaving (a SIGKILLed `recoscope all` never loaded another row; issue 12). Progress
//! must not depend on a broker feature we cannot fix. So the workers only `assign()`
//! partitions to themselves (no JoinGroup/SyncGroup), read each partition's position from the
//! group's committed offsets (OffsetFetch needs no membership), and decide among themselves
//! who owns what through Redis, which every worker of a deployment shares already (the live
//! view needs one Redis).
//!
//! Per consumer group and topic, under `REDIS_KEY_PREFIX`:
//! - `own:{group}:{topic}:members` (ZSET): live worker processes, scored by when their
//!   heartbeat expires (Redis's clock). A process that stops renewing drops out after one
//!   lease.
//! - `own:{group}:{topic}:p:{partition}` (STRING, `PX` lease): the process that owns the
//!   partition.
//!   Taken only when free (`SET NX`), renewed and released only by its holder (Lua compares
//!   the value first), and expiring by itself when its holder dies.
//!
//! The braces make the group the Redis Cluster hash tag, so a script's keys share a slot.
//!
//! Every third of a lease ([`Keeper`]): heartbeat; spread the partitions round-robin over the
//! live members sorted by id (every member computes the same plan); renew what this process
//! holds, claim what the plan gives it and is free, release what the plan gave to another
//! once the consumer loop stopped reading it. The loop sees the partitions it should read on a
//! `watch` channel ([`Ownership`]) and reports back what it reads.
//!
//! Safety: a lease is given up locally at 80% of its length when it could not be renewed
//! (Redis away, the process frozen), before anyone else can take it; the loop then stops
//! retrying the delivery in flight. Destinations stay idempotent on their own (the sink's
//! fence, Redis offsets, keyed upserts), so the short overlap a frozen process could still
//! cause when it wakes in the middle of an insert is the only gap (docs/ARCHITECTURE.md).

use crate::config::Membership;
use rdkafka::consumer::{BaseConsumer, Consumer};
use recoscope_redis::{Limits as RedisLimits, RedisConnection, RedisTarget};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Heartbeat: drops expired members, (re)adds this one, returns the live ones.
/// KEYS: members. ARGV: me, lease_ms.
const HEARTBEAT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], 10 * tonumber(ARGV[2]))
return redis.call('ZRANGE', KEYS[1], 0, -1)
"#;

/// Renews the leases this process holds and takes the free ones; 1 per key it holds after.
/// KEYS: leases. ARGV: me, lease_ms.
const CLAIM: &str = r#"
local held = {}
for i, key in ipairs(KEYS) do
  local owner = redis.call('GET', key)
  if owner == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
    held[i] = 1
  elseif not owner then
    redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
    held[i] = 1
  else
    held[i] = 0
  end
end
return held
"#;

/// Releases the leases this process holds among KEYS; leaves the members set when ARGV[2]
/// is 1. KEYS: members, then leases. ARGV: me, leave.
const RELEASE: &str = r#"
for i = 2, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('DEL', KEYS[i])
  end
end
if ARGV[2] == '1' then
  redis.call('ZREM', KEYS[1], ARGV[1])
end
return 0
"#;

static HEARTBEAT_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(HEARTBEAT));
static CLAIM_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(CLAIM));
static RELEASE_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(RELEASE));

/// A lease given up locally this share of its length after its last renewal, before its key
/// expires in Redis and another process could take it.
const SAFE_SHARE: f64 = 0.8;

/// The partitions this process should read, as the keeper last decided.
pub type Partitions = BTreeSet<i32>;

/// The consumer loop's side: what to read, and what it reads now.
pub struct Ownership {
    pub group: String,
    pub member: String,
    assigned: watch::Receiver<Partitions>,
    reading: Arc<Mutex<Partitions>>,
    stop: CancellationToken,
    keeper: Option<tokio::task::JoinHandle<()>>,
}

impl Ownership {
    /// Starts the keeper of `group`'s leases on `topic` for this process.
    pub fn start(membership: &Membership, group: &str, topic: &str) -> anyhow::Result<Ownership> {
        let member = member_id(&membership.worker.instance_id);
        let lease = Duration::from_secs(membership.worker.lease_secs);
        let keys = LeaseKeys {
            prefix: membership.redis.key_prefix.clone(),
            group: group.to_string(),
            topic: topic.to_string(),
        };
        let metadata: BaseConsumer = membership.kafka.client().create()?;
        let redis = membership.redis.target();
        redis.check()?;
        let (tx, rx) = watch::channel(Partitions::new());
        let reading = Arc::new(Mutex::new(Partitions::new()));
        let stop = CancellationToken::new();
        let keeper = Keeper {
            member: member.clone(),
            group: group.to_string(),
            topic: topic.to_string(),
            lease,
            keys,
            redis,
            connection: None,
            metadata: Arc::new(metadata),
            partitions: None,
            held: BTreeMap::new(),
            target: Partitions::new(),
            reading: reading.clone(),
            assigned: tx,
        };
        tracing::info!(
            group,
            member,
            "joining: partitions are shared through Redis leases"
        );
        let keeper = tokio::spawn(keeper.run(stop.clone()));
        Ok(Ownership {
            group: group.to_string(),
            member,
            assigned: rx,
            reading,
            stop,
            keeper: Some(keeper),
        })
    }

    /// Waits until the partitions to read change; `None` once the keeper has stopped.
    pub async fn changed(&mut self) -> Option<Partitions> {
        self.assigned.changed().await.ok()?;
        Some(self.assigned.borrow_and_update().clone())
    }

    /// What the loop reads from now on (the keeper releases only what is no longer read).
    pub fn reading(&self, partitions: &Partitions) {
        *self.reading.lock().unwrap_or_else(|e| e.into_inner()) = partitions.clone();
    }

    /// After the loop ended: releases every lease and leaves the group, so another process
    /// takes over at once rather than after a lease.
    pub async fn finish(mut self) {
        self.reading(&Partitions::new());
        self.stop.cancel();
        if let Some(keeper) = self.keeper.take() {
            let _ = keeper.await;
        }
    }
}

impl Drop for Ownership {
    /// A loop that ended without [`Ownership::finish`] (a failure) still lets go: the keeper
    /// releases what it holds and leaves.
    fn drop(&mut self) {
        self.reading(&Partitions::new());
        self.stop.cancel();
    }
}

/// This process's id among the members: the configured label (or the host name) and the
/// process id, plus a random part so that two processes never share an id, even when given
/// the same label by mistake.
fn member_id(label: &str) -> String {
    let label = if label.is_empty() {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "worker".into())
    } else {
        label.to_string()
    };
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{label}-{}-{}", std::process::id(), &random[..8])
}

/// The keys of one group's work on one topic (a group may read several topics, as in Kafka,
/// and deployments sharing a Redis may reuse group names for different topics).
struct LeaseKeys {
    prefix: String,
    group: String,
    topic: String,
}

impl LeaseKeys {
    fn members(&self) -> String {
        format!(
            "{}own:{{{}}}:{}:members",
            self.prefix, self.group, self.topic
        )
    }
    fn partition(&self, partition: i32) -> String {
        format!(
            "{}own:{{{}}}:{}:p:{partition}",
            self.prefix, self.group, self.topic
        )
    }
}

/// Which partitions the plan gives `me`: round-robin over the live members in id order.
pub fn plan(members: &[String], me: &str, partitions: i32) -> Partitions {
    let mut sorted: Vec<&String> = members.iter().collect();
    sorted.sort();
    sorted.dedup();
    let Some(index) = sorted.iter().position(|m| *m == me) else {
        return Partitions::new();
    };
    (0..partitions)
        .filter(|p| *p as usize % sorted.len() == index)
        .collect()
}

struct Keeper {
    member: String,
    group: String,
    topic: String,
    lease: Duration,
    keys: LeaseKeys,
    redis: RedisTarget,
    connection: Option<RedisConnection>,
    metadata: Arc<BaseConsumer>,
    /// The topic's partition count, last read.
    partitions: Option<i32>,
    /// Leases held, with the moment each must be given up unless renewed.
    held: BTreeMap<i32, Instant>,
    /// The partitions the last plan gave this process.
    target: Partitions,
    reading: Arc<Mutex<Partitions>>,
    assigned: watch::Sender<Partitions>,
}

impl Keeper {
    async fn run(mut self, stop: CancellationToken) {
        // Off the path of the first claim, which decides how soon a restart resumes.
        tokio::spawn(warn_about_subscribers(
            self.metadata.clone(),
            self.group.clone(),
        ));
        let tick = self.lease / 3;
        loop {
            self.round().await;
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(tick) => {}
            }
        }
        self.leave().await;
    }

    fn reading(&self) -> Partitions {
        self.reading
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// One round: heartbeat, plan, renew/claim/release, publish.
    async fn round(&mut self) {
        let started = Instant::now();
        if let Err(error) = self.exchange(started).await {
            tracing::warn!(group = self.group, %error, "partition leases not renewed");
        }
        // Leases not renewed in time are given up, whatever Redis says later.
        let expired: Vec<i32> = self
            .held
            .iter()
            .filter(|(_, until)| **until <= Instant::now())
            .map(|(p, _)| *p)
            .collect();
        for partition in expired {
            self.held.remove(&partition);
            tracing::warn!(
                group = self.group,
                partition,
                "lease lapsed without renewal; stopping this partition"
            );
        }
        metrics::gauge!("recoscope_partitions_owned", "group" => self.group.clone())
            .set(self.held.len() as f64);
        // The loop reads what is held and planned for us; what is held but planned for
        // another is still renewed until the loop let go of it, then released.
        let assigned: Partitions = self
            .held
            .keys()
            .filter(|p| self.target.contains(p))
            .copied()
            .collect();
        self.assigned.send_if_modified(|current| {
            let changed = *current != assigned;
            *current = assigned;
            changed
        });
    }

    async fn connection(&mut self) -> anyhow::Result<RedisConnection> {
        if let Some(connection) = &self.connection {
            return Ok(connection.clone());
        }
        let limits = RedisLimits {
            connect: self.lease / 3,
            response: self.lease / 3,
            retries: 1,
        };
        let connection = self.redis.connect(limits).await?;
        self.connection = Some(connection.clone());
        Ok(connection)
    }

    async fn partition_count(&mut self) -> anyhow::Result<i32> {
        let (metadata, topic) = (self.metadata.clone(), self.topic.clone());
        let read = tokio::task::spawn_blocking(move || {
            metadata
                .fetch_metadata(Some(&topic), Duration::from_secs(3))
                .map(|m| {
                    m.topics()
                        .iter()
                        .map(|t| t.partitions().len() as i32)
                        .sum::<i32>()
                })
        })
        .await?;
        match read {
            Ok(count) if count > 0 => {
                self.partitions = Some(count);
                Ok(count)
            }
            // The broker being away does not change what we hold: keep the last count.
            Ok(_) | Err(_) if self.partitions.is_some() => Ok(self.partitions.unwrap_or(0)),
            Ok(_) => anyhow::bail!("topic {} has no partitions yet", self.topic),
            Err(e) => Err(e.into()),
        }
    }

    async fn exchange(&mut self, started: Instant) -> anyhow::Result<()> {
        let count = self.partition_count().await?;
        let mut redis = self.connection().await?;
        let lease_ms = self.lease.as_millis() as u64;
        let members: Vec<String> = HEARTBEAT_SCRIPT
            .key(self.keys.members())
            .arg(&self.member)
            .arg(lease_ms)
            .invoke_async(&mut redis)
            .await?;
        let target = plan(&members, &self.member, count);
        self.target = target.clone();
        let reading = self.reading();

        // Release what the plan gave away once the loop no longer reads it.
        let release: Vec<i32> = self
            .held
            .keys()
            .filter(|p| !target.contains(p) && !reading.contains(p))
            .copied()
            .collect();
        if !release.is_empty() {
            self.release(&mut redis, &release, false).await?;
            for p in &release {
                self.held.remove(p);
            }
            tracing::info!(group = self.group, partitions = ?release, "released to another worker");
        }

        // Renew what is held (also what is still being handed over), claim what is ours.
        let wanted: Vec<i32> = self
            .held
            .keys()
            .copied()
            .chain(target.iter().copied())
            .collect::<BTreeSet<i32>>()
            .into_iter()
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let mut claim = CLAIM_SCRIPT.prepare_invoke();
        for p in &wanted {
            claim.key(self.keys.partition(*p));
        }
        let result: Vec<i64> = claim
            .arg(&self.member)
            .arg(lease_ms)
            .invoke_async(&mut redis)
            .await?;
        let until = started + self.lease.mul_f64(SAFE_SHARE);
        for (partition, held) in wanted.iter().zip(result) {
            let had = self.held.contains_key(partition);
            if held == 1 {
                // Handed-over partitions are kept only until the loop lets go of them.
                if target.contains(partition) || had {
                    self.held.insert(*partition, until);
                }
                if !had {
                    tracing::info!(
                        group = self.group,
                        partition,
                        member = self.member,
                        "claimed"
                    );
                }
            } else if had {
                self.held.remove(partition);
                tracing::warn!(
                    group = self.group,
                    partition,
                    "lease taken by another worker"
                );
            }
        }
        Ok(())
    }

    async fn release(
        &self,
        redis: &mut RedisConnection,
        partitions: &[i32],
        leave: bool,
    ) -> redis::RedisResult<()> {
        let mut release = RELEASE_SCRIPT.prepare_invoke();
        release.key(self.keys.members());
        for p in partitions {
            release.key(self.keys.partition(*p));
        }
        release
            .arg(&self.member)
            .arg(if leave { "1" } else { "0" })
            .invoke_async(redis)
            .await
    }

    /// Gives everything back and leaves the members, so others take over without waiting.
    async fn leave(&mut self) {
        let partitions: Vec<i32> = self.held.keys().copied().collect();
        self.held.clear();
        let _ = self.assigned.send(Partitions::new());
        metrics::gauge!("recoscope_partitions_owned", "group" => self.group.clone()).set(0.0);
        let Ok(mut redis) = self.connection().await else {
            return; // the leases expire by themselves
        };
        match self.release(&mut redis, &partitions, true).await {
            Ok(()) => {
                tracing::info!(group = self.group, partitions = ?partitions, "left the group")
            }
            Err(error) => {
                tracing::warn!(group = self.group, %error, "leases not released; they expire")
            }
        }
    }
}

/// Workers of releases before the leases joined the broker's consumer group. While one
/// of them still runs it reads the same partitions as the leaseholders, so an upgrade
/// must stop the old workers first; say so when the broker still lists members.
async fn warn_about_subscribers(metadata: Arc<BaseConsumer>, group: String) {
    let name = group.clone();
    // The list is read on the blocking pool; only plain numbers and names come back.
    let listed = tokio::task::spawn_blocking(move || {
        metadata
            .fetch_group_list(Some(&name), Duration::from_secs(3))
            .map(|list| {
                list.groups()
                    .iter()
                    .filter(|g| g.name() == name && !g.members().is_empty())
                    .map(|g| (g.members().len(), g.state().to_string()))
                    .collect::<Vec<_>>()
            })
    })
    .await;
    let Ok(Ok(subscribed)) = listed else { return };
    for (members, state) in subscribed {
        tracing::warn!(
            group,
            members,
            state,
            "the broker lists members of this consumer group: workers of an older release \
             subscribe to it and read the same partitions; stop them (a dead group left by a \
             crash on tansu is listed too and is harmless)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn every_partition_has_exactly_one_planned_owner() {
        let members = ids(&["c", "a", "b"]);
        for partitions in [1, 2, 3, 7, 12] {
            let mut all = Vec::new();
            for m in &members {
                all.extend(plan(&members, m, partitions));
            }
            all.sort();
            assert_eq!(all, (0..partitions).collect::<Vec<_>>());
        }
        // Everyone computes the same plan whatever order Redis listed the members in.
        assert_eq!(
            plan(&ids(&["b", "a"]), "a", 4),
            plan(&ids(&["a", "b"]), "a", 4)
        );
        assert_eq!(plan(&ids(&["a"]), "a", 3), Partitions::from([0, 1, 2]));
        assert!(plan(&ids(&["a"]), "z", 3).is_empty());
    }

    #[test]
    fn two_processes_with_one_label_get_different_ids() {
        assert_ne!(member_id("pod-0"), member_id("pod-0"));
        assert!(member_id("pod-0").starts_with("pod-0-"));
    }
}
