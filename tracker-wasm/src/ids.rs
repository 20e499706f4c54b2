//! Event ids and the tracker's random numbers.
//!
//! An id is a 128-bit hash of what makes the event unique, written as 32 hex digits. For an
//! impression that is (page view, request, item, position), so a re-rendered list, a replayed
//! queue or a second tab adopting this tab's queue all name the same event, and the
//! pipeline's de-duplication by event id keeps one. Every other event hashes (page view,
//! sequence number): unique because the page view id is random.

use crate::json::hex_digit;
use alloc::string::String;

/// FNV-1a over the parts (each followed by a 0x1f separator so `("ab","c")` and `("a","bc")`
/// differ), finished with the splitmix64 mixer so that nearby inputs spread over all bits.
pub fn hash64(seed: u64, parts: &[&str]) -> u64 {
    let mut h = seed;
    for part in parts {
        for b in part.bytes().chain([0x1f]) {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    mix(h)
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The id of the event these parts describe.
pub fn event_id(parts: &[&str]) -> String {
    let mut id = String::with_capacity(32);
    for h in [
        hash64(0xcbf2_9ce4_8422_2325, parts),
        hash64(0x84222325_cbf29ce4, parts),
    ] {
        for shift in (0..16).rev() {
            id.push(hex_digit((h >> (shift * 4)) as u32 & 0xf));
        }
    }
    id
}

/// xorshift64*: jitter for retries needs no more than this, seeded by the page's
/// `crypto.getRandomValues`.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(mix(seed) | 1)
    }

    /// A number in [0, 1).
    pub fn next_unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_tell_parts_apart() {
        let a = event_id(&["pv1", "imp", "req", "i1", "0"]);
        assert_eq!(a, event_id(&["pv1", "imp", "req", "i1", "0"]));
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, event_id(&["pv2", "imp", "req", "i1", "0"]));
        assert_ne!(event_id(&["ab", "c"]), event_id(&["a", "bc"]));
        let distinct: std::collections::HashSet<String> = (0..10_000)
            .map(|n| event_id(&["pv", &n.to_string()]))
            .collect();
        assert_eq!(distinct.len(), 10_000);
    }

    #[test]
    fn random_numbers_stay_in_the_unit_interval() {
        let mut rng = Rng::new(42);
        let draws: Vec<f64> = (0..1000).map(|_| rng.next_unit()).collect();
        assert!(draws.iter().all(|x| (0.0..1.0).contains(x)));
        let mean = draws.iter().sum::<f64>() / 1000.0;
        assert!((0.4..0.6).contains(&mean), "mean {mean}");
    }
}
