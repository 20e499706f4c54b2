//! Which events of a batch ClickHouse holds already: looked up by id (below the fence, or in a
//! partition's resend grace), and the memory of the events this loader inserted lately.

use super::Shard;
use crate::row::{datetime_text, BehaviorRow};
use recoscope_clickhouse::{ClickHouseError, ExternalTable, Query};
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};

/// Which of these events ClickHouse already holds, as (tenant, event id).
///
/// The batch's keys travel as an external table (TSV data beside the query), not as SQL
/// literals: a whole batch of key tuples in the statement went past ClickHouse's 50,000
/// syntax-tree elements and stalled the sink on its first full batch (found by
/// `bench/sink`), and parsing such statements cost more than the insert. The lookup names
/// the batch's (tenant, scenario, hour) prefixes, so only those granules are read.
pub(super) async fn present(
    shard: &Shard,
    rows: &[&BehaviorRow],
) -> Result<PresentEvents, ClickHouseError> {
    #[derive(serde::Deserialize)]
    struct Key {
        tenant_id: String,
        event_id: String,
    }
    let mut keys = ExternalTable::new(
        "batch_keys",
        "tenant_id String, scenario_id String, hour DateTime('UTC'), event_id String",
    );
    for row in rows {
        let hour = datetime_text(i64::from(row.event_time / 3600 * 3600) * 1000);
        keys.row([
            row.tenant_id.as_str(),
            row.scenario_id.as_str(),
            hour.as_str(),
            row.event_id.as_str(),
        ]);
    }
    let query = Query::new(format!(
        "SELECT tenant_id, event_id FROM {} \
         WHERE (tenant_id, scenario_id, toStartOfHour(event_time)) IN \
             (SELECT DISTINCT tenant_id, scenario_id, hour FROM batch_keys) \
         AND (tenant_id, event_id) IN (SELECT tenant_id, event_id FROM batch_keys)",
        shard.raw_table
    ))
    .with_table(keys);
    let mut present = PresentEvents::default();
    for key in shard.clickhouse.fetch::<Key>(query).await? {
        present
            .0
            .entry(key.tenant_id)
            .or_default()
            .insert(key.event_id);
    }
    Ok(present)
}
/// Event ids ClickHouse holds, per tenant (looked up with borrowed keys).
#[derive(Default)]
pub(super) struct PresentEvents(HashMap<String, HashSet<String>>);

impl PresentEvents {
    pub(super) fn contains(&self, (tenant, event_id): &(&str, &str)) -> bool {
        self.0
            .get(*tenant)
            .is_some_and(|ids| ids.contains(*event_id))
    }
}

/// A 64-bit hash of (tenant, event id). Two different events share one with a probability
/// of about n / 2^64 for n remembered events (≈ 5e-14 per event for a million): negligible.
pub(super) fn event_key(row: &BehaviorRow) -> u64 {
    let mut hasher = DefaultHasher::new();
    (&row.tenant_id, &row.event_id).hash(&mut hasher);
    hasher.finish()
}

/// The last `capacity` events this loader inserted, oldest forgotten first. Catches a
/// client's resend of an event (same id, later offset) while the loader owns its partition;
/// a resend of an event inserted before a restart is not caught (see docs/ARCHITECTURE.md).
pub(super) struct RecentEvents {
    keys: HashSet<u64>,
    order: VecDeque<u64>,
    capacity: usize,
}

impl RecentEvents {
    pub(super) fn new(capacity: usize) -> Self {
        RecentEvents {
            keys: HashSet::new(),
            order: VecDeque::new(),
            capacity,
        }
    }

    pub(super) fn contains(&self, key: u64) -> bool {
        self.capacity > 0 && self.keys.contains(&key)
    }

    pub(super) fn extend(&mut self, keys: impl Iterator<Item = u64>) {
        if self.capacity == 0 {
            return;
        }
        for key in keys {
            if self.keys.insert(key) {
                self.order.push_back(key);
            }
            if self.order.len() > self.capacity {
                if let Some(old) = self.order.pop_front() {
                    self.keys.remove(&old);
                }
            }
        }
    }
}
