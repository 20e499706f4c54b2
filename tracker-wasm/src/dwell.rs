//! Engaged time on an item's page, and media watched on it.
//!
//! The page is engaged while it is visible and focused and the user did something in the
//! last [`IDLE_MS`] (a playing video counts as doing something); a page left open in a
//! background tab or behind another window adds nothing. Media time is what the position of
//! a playing element advanced (a seek forward is not watching), and completion the furthest
//! share of it reached.
//!
//! The time is sent as increments ([`Engagement::take`]): each `dwell` event carries the
//! seconds since the previous one, so they add up to the whole whatever the page does
//! (hidden and shown again, restored from the back/forward cache, closed).

/// No input for this long and the user is taken to be away.
pub const IDLE_MS: f64 = 30_000.0;
/// Unsent engaged time that makes a `dwell` event even while the page stays open (what a
/// crash or a killed browser can lose).
pub const FLUSH_AFTER_MS: f64 = 60_000.0;
/// Smaller increments wait for the next one.
pub const MIN_SEND_MS: f64 = 500.0;

/// An increment to send.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Increment {
    pub engaged_seconds: f64,
    pub media_seconds: f64,
    pub completion: Option<f64>,
}

#[derive(Default)]
pub struct Engagement {
    active: bool,
    last_input: f64,
    checkpoint: f64,
    engaged_ms: f64,
    sent_ms: f64,
    playing: bool,
    media_position: Option<f64>,
    media_at: f64,
    media_seconds: f64,
    media_sent: f64,
    completion: Option<f64>,
}

impl Engagement {
    /// Starts counting at `now` (the page's load counts as input).
    pub fn new(active: bool, now: f64) -> Engagement {
        Engagement {
            active,
            last_input: now,
            checkpoint: now,
            ..Engagement::default()
        }
    }

    fn advance(&mut self, now: f64) {
        if self.active {
            let until = if self.playing {
                now
            } else {
                now.min(self.last_input + IDLE_MS)
            };
            if until > self.checkpoint {
                self.engaged_ms += until - self.checkpoint;
            }
        }
        if now > self.checkpoint {
            self.checkpoint = now;
        }
    }

    /// The page became visible and focused, or stopped being either; coming back is input.
    pub fn page_active(&mut self, active: bool, now: f64) {
        self.advance(now);
        if active && !self.active {
            self.last_input = now;
        }
        self.active = active;
    }

    /// The user moved, scrolled, typed or touched.
    pub fn input(&mut self, now: f64) {
        self.advance(now);
        self.last_input = now;
    }

    /// A media element's state: playing or not, its position and duration in seconds.
    pub fn media(&mut self, playing: bool, position: f64, duration: f64, now: f64) {
        self.advance(now);
        if let (true, Some(before)) = (self.playing, self.media_position) {
            let advanced = position - before;
            // Up to double speed (and a second of timer slack); more is a seek.
            let wall = (now - self.media_at) / 1000.0;
            if advanced > 0.0 && advanced <= wall * 2.0 + 1.0 {
                self.media_seconds += advanced;
            }
        }
        if position.is_finite() && position >= 0.0 {
            self.media_position = Some(position);
        }
        self.media_at = now;
        self.playing = playing;
        if playing {
            self.last_input = now;
        }
        if duration.is_finite() && duration > 0.0 && position.is_finite() {
            let share = (position / duration).clamp(0.0, 1.0);
            self.completion = Some(self.completion.map_or(share, |c| c.max(share)));
        }
    }

    /// The increment to send now, if any: when the page is hidden or left (`force`), or
    /// when enough has gathered.
    pub fn take(&mut self, now: f64, force: bool) -> Option<Increment> {
        self.advance(now);
        let engaged = self.engaged_ms - self.sent_ms;
        let media = self.media_seconds - self.media_sent;
        let enough = engaged >= MIN_SEND_MS || media >= MIN_SEND_MS / 1000.0;
        if !enough || (!force && engaged < FLUSH_AFTER_MS) {
            return None;
        }
        self.sent_ms = self.engaged_ms;
        self.media_sent = self.media_seconds;
        Some(Increment {
            engaged_seconds: engaged / 1000.0,
            media_seconds: media,
            completion: self.completion,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seconds(increment: Option<Increment>) -> f64 {
        increment.map_or(0.0, |i| i.engaged_seconds)
    }

    #[test]
    fn only_visible_focused_recent_time_counts_and_increments_add_up() {
        let mut e = Engagement::new(true, 0.0);
        assert_eq!(seconds(e.take(5000.0, true)), 5.0);
        e.page_active(false, 5000.0);
        assert_eq!(e.take(10_000.0, true), None, "hidden time adds nothing");
        e.page_active(true, 10_000.0);
        // Away from the keyboard: 30 s count, the rest not.
        assert_eq!(seconds(e.take(100_000.0, true)), 30.0);
        e.input(100_000.0);
        assert_eq!(e.take(100_300.0, true), None, "under half a second waits");
        assert_eq!(seconds(e.take(101_000.0, true)), 1.0);
    }

    #[test]
    fn a_long_visit_sends_without_waiting_for_the_page_to_close() {
        let mut e = Engagement::new(true, 0.0);
        let mut sent = 0.0;
        let mut now = 0.0;
        while now < 300_000.0 {
            now += 5000.0;
            e.input(now);
            sent += seconds(e.take(now, false));
        }
        assert!(sent >= 240.0, "{sent}");
        sent += seconds(e.take(now, true));
        assert_eq!(sent, 300.0);
    }

    #[test]
    fn playing_media_keeps_the_user_engaged_and_counts_what_was_watched() {
        let mut e = Engagement::new(true, 0.0);
        e.media(true, 0.0, 100.0, 0.0);
        let mut now = 0.0;
        for _ in 0..90 {
            now += 1000.0;
            e.media(true, now / 1000.0, 100.0, now);
        }
        // A seek to 95 s is not watching; then it plays to the end.
        e.media(true, 95.0, 100.0, now + 10.0);
        e.media(false, 100.0, 100.0, now + 5010.0);
        let increment = e.take(now + 5010.0, true).unwrap();
        assert_eq!(increment.engaged_seconds, 95.01);
        assert!(
            (increment.media_seconds - 95.0).abs() < 1e-9,
            "{increment:?}"
        );
        assert_eq!(increment.completion, Some(1.0));
    }
}
