//! A batch bounded by rows, by bytes and by the age of its first message, with the offsets
//! it covers.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Where a message came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Source {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// Highest offset consumed per (topic, partition).
pub type Offsets = HashMap<(String, i32), i64>;

/// Batch limits (`SINK_MAX_ROWS`, `SINK_MAX_BYTES`, `SINK_MAX_WAIT_MS`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_rows: usize,
    pub max_bytes: usize,
    pub max_wait: Duration,
}

pub struct Batch<T> {
    /// Items with the message each came from.
    pub items: Vec<(Source, T)>,
    /// Highest offset seen per (topic, partition); committed as offset + 1 after delivery.
    pub offsets: Offsets,
    bytes: usize,
    opened_at: Option<Instant>,
    limits: Limits,
}

impl<T> Batch<T> {
    pub fn new(limits: Limits) -> Self {
        Batch {
            items: Vec::new(),
            offsets: HashMap::new(),
            bytes: 0,
            opened_at: None,
            limits,
        }
    }

    /// Records that a message of `bytes` was consumed, with what it became.
    pub fn push(&mut self, source: Source, bytes: usize, item: T) {
        self.opened_at.get_or_insert_with(Instant::now);
        let entry = self
            .offsets
            .entry((source.topic.clone(), source.partition))
            .or_insert(source.offset);
        *entry = (*entry).max(source.offset);
        self.bytes += bytes;
        self.items.push((source, item));
    }

    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    pub fn is_full(&self) -> bool {
        self.items.len() >= self.limits.max_rows || self.bytes >= self.limits.max_bytes
    }

    /// When the batch must be written even if it is not full.
    pub fn deadline(&self) -> Option<Instant> {
        self.opened_at.map(|t| t + self.limits.max_wait)
    }

    pub fn is_due(&self) -> bool {
        self.is_full() || self.deadline().is_some_and(|d| Instant::now() >= d)
    }

    /// Empties the batch, returning its items and offsets.
    pub fn take(&mut self) -> (Vec<(Source, T)>, Offsets) {
        self.opened_at = None;
        self.bytes = 0;
        (
            std::mem::take(&mut self.items),
            std::mem::take(&mut self.offsets),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(partition: i32, offset: i64) -> Source {
        Source {
            topic: "t".into(),
            partition,
            offset,
        }
    }

    fn limits(max_rows: usize, max_bytes: usize, max_wait: Duration) -> Limits {
        Limits {
            max_rows,
            max_bytes,
            max_wait,
        }
    }

    #[test]
    fn a_batch_is_due_when_full_or_old() {
        let mut b = Batch::new(limits(3, 1 << 20, Duration::from_secs(3600)));
        assert!(b.is_empty() && !b.is_due());
        b.push(at(0, 5), 10, 1);
        b.push(at(0, 4), 10, 2);
        assert!(!b.is_due());
        b.push(at(1, 9), 10, 3);
        assert!(b.is_due());
        let (items, offsets) = b.take();
        assert_eq!(items.len(), 3);
        assert_eq!(offsets[&("t".to_string(), 0)], 5);
        assert_eq!(offsets[&("t".to_string(), 1)], 9);
        assert!(b.is_empty());

        let mut old = Batch::new(limits(100, 1 << 20, Duration::ZERO));
        old.push(at(0, 1), 1, 1);
        assert!(old.is_due());
    }

    #[test]
    fn a_batch_is_full_by_bytes() {
        let mut b = Batch::new(limits(1000, 100, Duration::from_secs(3600)));
        b.push(at(0, 1), 60, ());
        assert!(!b.is_full());
        b.push(at(0, 2), 60, ());
        assert!(b.is_full());
    }
}
