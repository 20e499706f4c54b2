//! The real-time state's layout in Redis, shared by its writer (the `redis-realtime` worker)
//! and its reader (the dashboard's live view), so both agree on every key and on the decay
//! arithmetic.
//!
//! Keys, after a configurable prefix. Every key of a tenant carries the tenant as its Redis
//! Cluster hash tag (`{tenant}`, braces included), so all of them live in one slot: one
//! transaction applies a tenant's share of a batch with its own offsets, and one pipeline
//! reads a tenant's live view, on a single server or a cluster alike. (A tenant is therefore
//! served by one cluster node; tenants spread over the nodes.)
//! - `hot:items:{tenant}:scenario` (ZSET) and `hot:epoch:{tenant}:scenario`: item scores
//!   stored relative to the epoch (see [`decay_factor`]);
//! - `rt:m:{tenant}:scenario:minute` (HASH of [`MINUTE_FIELDS`]) and
//!   `rt:u:{tenant}:scenario:minute` (HyperLogLog of users), `minute` being the epoch
//!   second a minute of event time starts at;
//! - `rt:scenarios:{tenant}` (SET): scenarios seen lately;
//! - `rt:offsets:{tenant}:group` (HASH): per partition, the last Kafka offset whose event of
//!   this tenant was applied;
//! - `rt:ids:{tenant}:group:partition:cur|prev` (SETs): hashes of this tenant's events
//!   applied lately from a partition, so a client's resend (same event id, new offset) is
//!   not counted again.

/// The counters of one minute, in this order.
pub const MINUTE_FIELDS: [&str; 4] = ["events", "impressions", "clicks", "orders"];

/// Key names, after the configured prefix.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Keys {
    pub prefix: String,
}

impl Keys {
    pub fn new(prefix: impl Into<String>) -> Keys {
        Keys {
            prefix: prefix.into(),
        }
    }
    pub fn hot_items(&self, tenant: &str, scenario: &str) -> String {
        format!("{}hot:items:{{{tenant}}}:{scenario}", self.prefix)
    }
    pub fn hot_epoch(&self, tenant: &str, scenario: &str) -> String {
        format!("{}hot:epoch:{{{tenant}}}:{scenario}", self.prefix)
    }
    pub fn minute(&self, tenant: &str, scenario: &str, minute: i64) -> String {
        format!("{}rt:m:{{{tenant}}}:{scenario}:{minute}", self.prefix)
    }
    pub fn minute_users(&self, tenant: &str, scenario: &str, minute: i64) -> String {
        format!("{}rt:u:{{{tenant}}}:{scenario}:{minute}", self.prefix)
    }
    pub fn scenarios(&self, tenant: &str) -> String {
        format!("{}rt:scenarios:{{{tenant}}}", self.prefix)
    }
    /// The offsets of `tenant`'s events applied by `group`, per partition.
    pub fn offsets(&self, tenant: &str, group: &str) -> String {
        format!("{}rt:offsets:{{{tenant}}}:{group}", self.prefix)
    }
    /// Hashes of `tenant`'s events applied lately from one partition (`partition` as in the
    /// offsets hash), in two generations: `current` fills up, then becomes the previous one.
    pub fn applied_ids(&self, tenant: &str, group: &str, partition: &str, current: bool) -> String {
        let generation = if current { "cur" } else { "prev" };
        format!(
            "{}rt:ids:{{{tenant}}}:{group}:{partition}:{generation}",
            self.prefix
        )
    }
}

/// The epoch second the minute holding `ms` starts at.
pub fn minute_of(ms: i64) -> i64 {
    ms.div_euclid(60_000) * 60
}

/// What a stored hot-item score is multiplied by to read it at `now_ms`: an event of weight
/// `w` at time `t` is stored as `w * 2^((t - epoch) / half_life)`, so its weight now is that
/// times `2^(-(now - epoch) / half_life)`.
pub fn decay_factor(now_ms: i64, epoch_ms: i64, half_life_ms: i64) -> f64 {
    2f64.powf(-((now_ms - epoch_ms) as f64) / half_life_ms.max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The part of a key Redis Cluster hashes: the first `{...}` with something inside.
    fn hash_tag(key: &str) -> &str {
        match key.find('{') {
            Some(open) => match key[open + 1..].find('}') {
                Some(len) if len > 0 => &key[open + 1..open + 1 + len],
                _ => key,
            },
            None => key,
        }
    }

    #[test]
    fn every_key_of_a_tenant_shares_its_hash_tag() {
        let keys = Keys::new("p:");
        let all = [
            keys.hot_items("shop-1", "home"),
            keys.hot_epoch("shop-1", "home"),
            keys.minute("shop-1", "search", 60),
            keys.minute_users("shop-1", "home", 120),
            keys.scenarios("shop-1"),
            keys.offsets("shop-1", "redis-realtime"),
            keys.applied_ids("shop-1", "redis-realtime", "topic/0", true),
            keys.applied_ids("shop-1", "redis-realtime", "topic/2", false),
        ];
        for key in &all {
            assert_eq!(hash_tag(key), "shop-1", "{key}");
        }
        assert_ne!(hash_tag(&keys.scenarios("shop-2")), "shop-1");
    }

    #[test]
    fn a_score_halves_every_half_life() {
        assert_eq!(decay_factor(1_000, 1_000, 500), 1.0);
        assert_eq!(decay_factor(2_000, 1_000, 500), 0.25);
        // Weight 1 at t = epoch + half_life is stored as 2; one half-life later it reads 0.5.
        let stored = 2f64.powf((1_500 - 1_000) as f64 / 500.0);
        assert_eq!(stored * decay_factor(2_000, 1_000, 500), 0.5);
    }

    #[test]
    fn minutes_start_on_whole_minutes() {
        assert_eq!(minute_of(59_999), 0);
        assert_eq!(minute_of(60_000), 60);
        assert_eq!(minute_of(-1), -60);
    }

    #[test]
    fn keys_carry_the_prefix() {
        let k = Keys::new("p:");
        assert_eq!(k.minute("t", "s", 60), "p:rt:m:{t}:s:60");
        assert_eq!(k.hot_items("t", "s"), "p:hot:items:{t}:s");
    }
}
