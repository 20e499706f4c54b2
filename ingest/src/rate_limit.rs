//! A rate limit per write key, counted in events (a batch of 200 costs 200), so one noisy
//! page cannot starve the other tenants. GCRA from `governor`: a steady rate plus a burst.

use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota};
use std::num::NonZeroU32;
use std::time::Duration;

pub struct KeyRateLimiter {
    limiter: DefaultKeyedRateLimiter<String>,
}

impl KeyRateLimiter {
    /// `events_per_sec` steady, up to `burst` at once. Both must be positive.
    pub fn new(events_per_sec: NonZeroU32, burst: NonZeroU32) -> Self {
        let quota = Quota::per_second(events_per_sec).allow_burst(burst);
        KeyRateLimiter {
            limiter: DefaultKeyedRateLimiter::keyed(quota),
        }
    }

    /// Takes `events` from the key's allowance, or says how long to wait before retrying.
    pub fn check(&self, key: &str, events: usize) -> Result<(), Duration> {
        let Some(n) = u32::try_from(events).ok().and_then(NonZeroU32::new) else {
            return Ok(());
        };
        match self.limiter.check_key_n(&key.to_string(), n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(not_until.wait_time_from(self.limiter.clock().now())),
            // More events than the burst allows in one request: it can never pass as it is.
            // The batch limit keeps this from happening (burst >= max batch is validated).
            Err(_) => Err(Duration::from_secs(1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_burst_then_waits_while_other_keys_go_on() {
        let limiter =
            KeyRateLimiter::new(NonZeroU32::new(10).unwrap(), NonZeroU32::new(50).unwrap());
        assert!(limiter.check("a", 30).is_ok());
        assert!(limiter.check("a", 20).is_ok());
        let wait = limiter.check("a", 20).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(2),
            "{wait:?}"
        );
        assert!(limiter.check("b", 50).is_ok());
        assert!(limiter.check("a", 0).is_ok());
    }
}
