//! The queue of events not yet delivered: bounded, persisted by the page, sent in batches.
//!
//! - **Bounds.** At most [`MAX_EVENTS`] events and [`MAX_BYTES`] of JSON; the oldest go
//!   first when full. An event older than [`MAX_AGE_MS`] is dropped: the API refuses events
//!   older than 7 days, and this leaves a day of margin for a wrong client clock.
//! - **Batches.** At most [`BATCH_EVENTS`] events and [`BATCH_BYTES`] bytes (under the 64 KiB
//!   that browsers allow a `keepalive` fetch or a beacon). A 413 halves the batch size; an
//!   event that alone is refused as too large is dropped.
//! - **Retries.** 429 and 503 wait what `Retry-After` says; other failures back off
//!   exponentially with ±50% jitter, up to [`MAX_BACKOFF_MS`]. The page does not ask for a
//!   batch while it is offline.
//! - **Persistence.** [`Outbox::export`] writes one line per event (`created\tid\tjson`), the
//!   page keeps it in `localStorage`; [`Outbox::adopt`] reads such lines back (its own after a
//!   reload, or another tab's that closed), skipping ids it holds already.

use crate::event::Written;
use crate::ids::Rng;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

pub const MAX_EVENTS: usize = 1000;
pub const MAX_BYTES: usize = 512 * 1024;
pub const MAX_AGE_MS: f64 = 6.0 * 24.0 * 3600.0 * 1000.0;
pub const BATCH_EVENTS: usize = 50;
pub const BATCH_BYTES: usize = 60 * 1024;
pub const MIN_BACKOFF_MS: f64 = 1000.0;
pub const MAX_BACKOFF_MS: f64 = 5.0 * 60.0 * 1000.0;

#[derive(Clone, Debug)]
struct Pending {
    created: f64,
    id: String,
    json: String,
    /// The batch it is travelling in; 0 when waiting.
    batch: u32,
}

/// What became of a sent batch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Outcome {
    /// The API answered 2xx (accepted, and any rejected events reported), or a beacon was
    /// queued by the browser: nothing of the batch is sent again.
    Delivered,
    /// 413: the batch was too large.
    TooLarge,
    /// 429 or 503 with the seconds of `Retry-After` (0 when absent).
    RetryAfter(f64),
    /// A network error or any other status: back off.
    Failed,
}

pub struct Outbox {
    queue: Vec<Pending>,
    bytes: usize,
    batch_limit: usize,
    last_batch: u32,
    retry_at: f64,
    failures: u32,
    rng: Rng,
    /// Events dropped by the bounds, expiry or as too large, for the page to report.
    pub dropped: u32,
}

impl Outbox {
    pub fn new(seed: u64) -> Outbox {
        Outbox {
            queue: Vec::new(),
            bytes: 0,
            batch_limit: BATCH_EVENTS,
            last_batch: 0,
            retry_at: 0.0,
            failures: 0,
            rng: Rng::new(seed),
            dropped: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub fn push(&mut self, event: Written, now: f64) {
        self.insert(now, event.id, event.json);
    }

    fn insert(&mut self, created: f64, id: String, json: String) {
        if json.len() + 64 > BATCH_BYTES {
            // No request could carry it.
            self.dropped += 1;
            return;
        }
        self.bytes += json.len();
        self.queue.push(Pending {
            created,
            id,
            json,
            batch: 0,
        });
        while self.queue.len() > MAX_EVENTS || self.bytes > MAX_BYTES {
            self.drop_front();
        }
    }

    fn drop_front(&mut self) {
        if !self.queue.is_empty() {
            let p = self.queue.remove(0);
            self.bytes -= p.json.len();
            self.dropped += 1;
        }
    }

    fn expire(&mut self, now: f64) {
        let before = self.queue.len();
        self.queue.retain(|p| now - p.created < MAX_AGE_MS);
        self.dropped += (before - self.queue.len()) as u32;
        self.bytes = self.queue.iter().map(|p| p.json.len()).sum();
    }

    /// When the next batch may go (0: now).
    pub fn retry_at(&self) -> f64 {
        self.retry_at
    }

    /// Whether the last send went through and nothing asks to wait: only then may a closing
    /// page trust a beacon, whose fate it never learns.
    pub fn healthy(&self, now: f64) -> bool {
        self.failures == 0 && now >= self.retry_at
    }

    /// The next batch's body, unless nothing waits or a back-off runs (`anyway` ignores the
    /// back-off: the page is closing and a beacon is its last chance). [`Outbox::batch`]
    /// names it for [`Outbox::settle`].
    pub fn take(&mut self, now: f64, anyway: bool) -> Option<String> {
        if !anyway && now < self.retry_at {
            return None;
        }
        self.expire(now);
        self.last_batch = self.last_batch.wrapping_add(1).max(1);
        let batch = self.last_batch;
        let mut body = String::from("{\"sent_at\":");
        crate::json::uint(&mut body, now.max(0.0) as u64);
        body.push_str(",\"events\":[");
        let mut count = 0;
        for p in self.queue.iter_mut().filter(|p| p.batch == 0) {
            if count == self.batch_limit || body.len() + p.json.len() + 2 > BATCH_BYTES {
                break;
            }
            if count > 0 {
                body.push(',');
            }
            body.push_str(&p.json);
            p.batch = batch;
            count += 1;
        }
        body.push_str("]}");
        (count > 0).then_some(body)
    }

    /// The batch [`Outbox::take`] returned last.
    pub fn batch(&self) -> u32 {
        self.last_batch
    }

    /// What became of batch `batch`.
    pub fn settle(&mut self, batch: u32, outcome: Outcome, now: f64) {
        if outcome == Outcome::Delivered {
            self.queue.retain(|p| p.batch != batch);
            self.bytes = self.queue.iter().map(|p| p.json.len()).sum();
            self.failures = 0;
            self.retry_at = 0.0;
            return;
        }
        let size = self.queue.iter().filter(|p| p.batch == batch).count();
        if outcome == Outcome::TooLarge && size <= 1 {
            // Refused on its own: it can never be delivered.
            if let Some(i) = self.queue.iter().position(|p| p.batch == batch) {
                let p = self.queue.remove(i);
                self.bytes -= p.json.len();
                self.dropped += 1;
            }
            return;
        }
        for p in self.queue.iter_mut().filter(|p| p.batch == batch) {
            p.batch = 0;
        }
        match outcome {
            Outcome::TooLarge => self.batch_limit = (size / 2).max(1),
            Outcome::RetryAfter(seconds) if seconds > 0.0 => {
                self.retry_at = now + seconds * 1000.0;
            }
            _ => {
                let base =
                    (MIN_BACKOFF_MS * (1u32 << self.failures.min(16)) as f64).min(MAX_BACKOFF_MS);
                self.failures += 1;
                self.retry_at = now + base * (0.5 + self.rng.next_unit());
            }
        }
    }

    /// The events as lines for `localStorage`. A living page saves those in flight too (if
    /// it crashes, whoever adopts them resends; the API drops a repeat by its id). A page
    /// being left does not (`in_flight` false): its keepalive requests outlive it, as
    /// beacons do, and a copy adopted by the next page would be sent twice.
    pub fn export(&mut self, now: f64, in_flight: bool) -> String {
        self.expire(now);
        let mut out = String::new();
        for p in self.queue.iter().filter(|p| in_flight || p.batch == 0) {
            crate::json::uint(&mut out, p.created as u64);
            out.push('\t');
            out.push_str(&p.id);
            out.push('\t');
            out.push_str(&p.json);
            out.push('\n');
        }
        out
    }

    /// Takes in events exported by [`Outbox::export`] (by this page before a reload, or by a
    /// tab that is gone), skipping those it holds and those expired; returns how many it took.
    pub fn adopt(&mut self, lines: &str, now: f64) -> u32 {
        let mut taken = 0;
        for line in lines.lines() {
            let mut fields = line.splitn(3, '\t');
            let (Some(created), Some(id), Some(json)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let Ok(created) = created.parse::<u64>() else {
                continue;
            };
            let created = created as f64;
            if now - created >= MAX_AGE_MS || self.queue.iter().any(|p| p.id == id) {
                continue;
            }
            self.insert(created, id.to_string(), json.to_string());
            taken += 1;
        }
        taken
    }

    /// Forgets everything (consent withdrawn).
    pub fn clear(&mut self) {
        self.queue.clear();
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: usize) -> Written {
        Written {
            id: format!("id{n}"),
            json: format!(r#"{{"event_id":"id{n}"}}"#),
        }
    }

    fn ids_in(body: &str) -> Vec<String> {
        let value: serde_json::Value = serde_json::from_str(body).unwrap();
        value["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event_id"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn batches_are_bounded_and_delivered_ones_are_gone() {
        let mut outbox = Outbox::new(1);
        for n in 0..120 {
            outbox.push(event(n), 0.0);
        }
        let first = outbox.take(10.0, false).unwrap();
        let value: serde_json::Value = serde_json::from_str(&first).unwrap();
        assert_eq!(value["sent_at"], 10);
        assert_eq!(ids_in(&first).len(), BATCH_EVENTS);
        let b1 = outbox.batch();
        let second = outbox.take(10.0, false).unwrap();
        assert_eq!(
            ids_in(&second)[0],
            "id50",
            "batches in flight are not taken twice"
        );
        let b2 = outbox.batch();
        outbox.settle(b1, Outcome::Delivered, 20.0);
        outbox.settle(b2, Outcome::Failed, 20.0);
        assert_eq!(outbox.len(), 70);
        assert!(outbox.take(21.0, false).is_none(), "backing off");
        let again = outbox.take(outbox.retry_at(), false).unwrap();
        assert_eq!(
            ids_in(&again)[0],
            "id50",
            "the failed batch is sent again in order"
        );
    }

    #[test]
    fn big_events_fill_a_batch_by_bytes() {
        let mut outbox = Outbox::new(1);
        let big = "x".repeat(25_000);
        for n in 0..5 {
            outbox.push(
                Written {
                    id: format!("id{n}"),
                    json: format!(r#"{{"event_id":"id{n}","pad":"{big}"}}"#),
                },
                0.0,
            );
        }
        let body = outbox.take(0.0, false).unwrap();
        assert!(body.len() <= BATCH_BYTES);
        assert_eq!(ids_in(&body).len(), 2);
        // One that no request could carry is dropped at once.
        outbox.push(
            Written {
                id: "huge".into(),
                json: "y".repeat(BATCH_BYTES),
            },
            0.0,
        );
        assert_eq!((outbox.len(), outbox.dropped), (5, 1));
    }

    #[test]
    fn retry_after_is_honoured_and_other_failures_back_off_with_jitter() {
        let mut outbox = Outbox::new(7);
        outbox.push(event(1), 0.0);
        outbox.take(0.0, false).unwrap();
        outbox.settle(outbox.batch(), Outcome::RetryAfter(3.0), 1000.0);
        assert_eq!(outbox.retry_at(), 4000.0);
        assert!(outbox.take(3999.0, false).is_none());
        assert!(
            outbox.take(3999.0, true).is_some(),
            "a closing page tries anyway"
        );
        let mut waits = Vec::new();
        let mut now = 5000.0;
        for _ in 0..12 {
            outbox.settle(outbox.batch(), Outcome::Failed, now);
            waits.push(outbox.retry_at() - now);
            now = outbox.retry_at();
            outbox.take(now, false).unwrap();
        }
        assert!(waits[0] >= 500.0 && waits[0] < 1500.0, "{waits:?}");
        assert!(waits[3] >= 4000.0 && waits[3] < 12_000.0, "{waits:?}");
        assert!(
            waits.iter().all(|w| *w <= MAX_BACKOFF_MS * 1.5),
            "{waits:?}"
        );
        outbox.settle(outbox.batch(), Outcome::Delivered, now);
        assert!(outbox.is_empty());
        assert_eq!(outbox.retry_at(), 0.0);
    }

    #[test]
    fn too_large_halves_the_batch_and_drops_a_lone_event() {
        let mut outbox = Outbox::new(1);
        for n in 0..40 {
            outbox.push(event(n), 0.0);
        }
        outbox.take(0.0, false).unwrap();
        outbox.settle(outbox.batch(), Outcome::TooLarge, 0.0);
        assert_eq!(ids_in(&outbox.take(0.0, false).unwrap()).len(), 20);
        let mut lone = Outbox::new(1);
        lone.push(event(1), 0.0);
        lone.push(event(2), 0.0);
        lone.batch_limit = 1;
        lone.take(0.0, false).unwrap();
        lone.settle(lone.batch(), Outcome::TooLarge, 0.0);
        assert_eq!((lone.len(), lone.dropped), (1, 1));
        assert_eq!(ids_in(&lone.take(0.0, false).unwrap()), vec!["id2"]);
    }

    #[test]
    fn the_queue_is_bounded_and_old_events_expire() {
        let mut outbox = Outbox::new(1);
        for n in 0..MAX_EVENTS + 10 {
            outbox.push(event(n), 0.0);
        }
        assert_eq!((outbox.len(), outbox.dropped), (MAX_EVENTS, 10));
        assert!(outbox.take(MAX_AGE_MS, false).is_none());
        assert_eq!(outbox.len(), 0);
        assert_eq!(outbox.dropped as usize, MAX_EVENTS + 10);
    }

    #[test]
    fn exported_events_are_adopted_once_and_expired_ones_never() {
        let mut tab = Outbox::new(1);
        tab.push(event(1), 1000.0);
        tab.push(event(2), 2000.0);
        tab.take(2000.0, false).unwrap();
        let saved = tab.export(3000.0, true);
        assert_eq!(saved.lines().count(), 2, "in flight is saved too");
        assert_eq!(
            tab.export(3000.0, false).lines().count(),
            0,
            "a page being left leaves what is in flight to the browser"
        );

        let mut other = Outbox::new(2);
        other.push(event(2), 2500.0);
        assert_eq!(other.adopt(&saved, 4000.0), 1, "id2 is held already");
        assert_eq!(other.adopt(&saved, 4000.0), 0);
        assert_eq!(other.adopt("garbage\nmore\tgarbage\n", 4000.0), 0);
        assert_eq!(
            ids_in(&other.take(4000.0, false).unwrap()),
            vec!["id2", "id1"]
        );
        let mut late = Outbox::new(3);
        assert_eq!(
            late.adopt(&saved, 1000.0 + MAX_AGE_MS),
            1,
            "only id2 is young enough"
        );
    }
}
