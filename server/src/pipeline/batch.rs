//! A batch bounded by rows and by the age of its first row, with the offsets it covers.

use std::collections::HashMap;
use std::time::{Duration, Instant};

pub struct Batch<T> {
    pub rows: Vec<T>,
    /// Highest offset seen per (topic, partition); committed as offset + 1 after delivery.
    pub offsets: HashMap<(String, i32), i64>,
    opened_at: Option<Instant>,
    max_rows: usize,
    max_wait: Duration,
}

impl<T> Batch<T> {
    pub fn new(max_rows: usize, max_wait: Duration) -> Self {
        Batch {
            rows: Vec::new(),
            offsets: HashMap::new(),
            opened_at: None,
            max_rows,
            max_wait,
        }
    }

    /// Records that a message was consumed; `row` is `None` for a message that produced no
    /// row (it still has to be committed past).
    pub fn push(&mut self, topic: &str, partition: i32, offset: i64, row: Option<T>) {
        self.opened_at.get_or_insert_with(Instant::now);
        let entry = self
            .offsets
            .entry((topic.to_string(), partition))
            .or_insert(offset);
        *entry = (*entry).max(offset);
        self.rows.extend(row);
    }

    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    pub fn is_full(&self) -> bool {
        self.rows.len() >= self.max_rows
    }

    /// When the batch must be written even if it is not full.
    pub fn deadline(&self) -> Option<Instant> {
        self.opened_at.map(|t| t + self.max_wait)
    }

    pub fn is_due(&self) -> bool {
        self.is_full() || self.deadline().is_some_and(|d| Instant::now() >= d)
    }

    /// Empties the batch, returning rows and offsets.
    pub fn take(&mut self) -> (Vec<T>, HashMap<(String, i32), i64>) {
        self.opened_at = None;
        (
            std::mem::take(&mut self.rows),
            std::mem::take(&mut self.offsets),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_due_when_full_or_old() {
        let mut b = Batch::new(2, Duration::from_secs(3600));
        assert!(b.is_empty() && !b.is_due());
        b.push("t", 0, 5, Some(1));
        b.push("t", 0, 4, None);
        assert!(!b.is_due());
        b.push("t", 1, 9, Some(2));
        assert!(b.is_due());
        let (rows, offsets) = b.take();
        assert_eq!(rows, vec![1, 2]);
        assert_eq!(offsets[&("t".to_string(), 0)], 5);
        assert_eq!(offsets[&("t".to_string(), 1)], 9);
        assert!(b.is_empty());

        let mut old = Batch::new(100, Duration::ZERO);
        old.push("t", 0, 1, Some(1));
        assert!(old.is_due());
    }
}
