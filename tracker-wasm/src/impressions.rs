//! Impressions that mean "seen", by the MRC display rule: at least half of the item's pixels
//! in the viewport (30% for items over 242,500 px², which a screen may not fit half of) for
//! one second without a break, while the page is visible and focused.
//!
//! The page reports what its `IntersectionObserver` saw per element (a handle it chose) and
//! when the page's visibility or focus changed; [`Impressions::due`] says which items have
//! now been seen and when to ask again. Each (request, item, position) is counted once per
//! page view however often the DOM re-renders it.

use crate::event::Placement;
use alloc::vec::Vec;

/// Continuous time in view before an item counts as seen.
pub const DWELL_MS: f64 = 1000.0;
/// Share of the item that must be in view.
pub const RATIO: f64 = 0.5;
/// Share for large items (MRC: over 242,500 pixels).
pub const LARGE_RATIO: f64 = 0.3;
pub const LARGE_AREA_PX: f64 = 242_500.0;

struct Slot {
    placement: Placement,
    in_view: bool,
    /// Since when the item has been in view on an active page.
    since: Option<f64>,
}

#[derive(Default)]
pub struct Impressions {
    /// By handle, in the order the page registered them (a page has tens to hundreds).
    slots: Vec<(u32, Slot)>,
    /// Hashes of the keys counted, sorted.
    counted: Vec<u64>,
    active: bool,
}

impl Impressions {
    pub fn new(active: bool) -> Impressions {
        Impressions {
            active,
            ..Impressions::default()
        }
    }

    /// An element of a recommendation list (new, or its attributes changed).
    pub fn track(&mut self, handle: u32, placement: Placement) {
        let Some(slot) = self.slot(handle) else {
            self.slots.push((
                handle,
                Slot {
                    placement,
                    in_view: false,
                    since: None,
                },
            ));
            return;
        };
        if slot.placement != placement {
            // Another item rendered into the same element: its time starts over.
            slot.placement = placement;
            slot.since = None;
            slot.in_view = false;
        }
    }

    /// The element left the document.
    pub fn forget(&mut self, handle: u32) {
        self.slots.retain(|(h, _)| *h != handle);
    }

    fn slot(&mut self, handle: u32) -> Option<&mut Slot> {
        self.slots
            .iter_mut()
            .find(|(h, _)| *h == handle)
            .map(|(_, s)| s)
    }

    pub fn placement(&self, handle: u32) -> Option<&Placement> {
        self.slots
            .iter()
            .find(|(h, _)| *h == handle)
            .map(|(_, s)| &s.placement)
    }

    /// Records `key` as counted; false when it was already.
    fn first_time(&mut self, key: u64) -> bool {
        match self.counted.binary_search(&key) {
            Ok(_) => false,
            Err(at) => {
                self.counted.insert(at, key);
                true
            }
        }
    }

    /// What the observer saw: the visible share of the element and its area in px².
    pub fn observed(&mut self, handle: u32, ratio: f64, area_px: f64, now: f64) {
        let active = self.active;
        if let Some(slot) = self.slot(handle) {
            let needed = if area_px > LARGE_AREA_PX {
                LARGE_RATIO
            } else {
                RATIO
            };
            // The observer reports 0.4999 for "half": allow for its rounding.
            slot.in_view = ratio + 1e-3 >= needed;
            slot.since = match (slot.in_view && active, slot.since) {
                (true, Some(since)) => Some(since),
                (true, None) => Some(now),
                (false, _) => None,
            };
        }
    }

    /// Whether the page is visible and focused (as last told).
    pub fn active(&self) -> bool {
        self.active
    }

    /// The page became visible and focused (`true`) or not: a break restarts every clock.
    pub fn page_active(&mut self, active: bool, now: f64) {
        self.active = active;
        for (_, slot) in &mut self.slots {
            slot.since = (active && slot.in_view).then_some(now);
        }
    }

    /// Marks the item behind `handle` as seen now (a click on an item proves it was seen);
    /// returns its placement when this is its first impression.
    pub fn count(&mut self, handle: u32) -> Option<Placement> {
        let placement = self.placement(handle)?.clone();
        self.first_time(placement.impression_key())
            .then_some(placement)
    }

    /// The items seen by `now`, each once, and the time of the next deadline (if any).
    pub fn due(&mut self, now: f64) -> (Vec<Placement>, Option<f64>) {
        let mut seen = Vec::new();
        let mut next: Option<f64> = None;
        for (_, slot) in &self.slots {
            let Some(since) = slot.since else { continue };
            let key = slot.placement.impression_key();
            if self.counted.binary_search(&key).is_ok() {
                continue;
            }
            if now - since >= DWELL_MS {
                seen.push(slot.placement.clone());
            } else {
                let at = since + DWELL_MS;
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
        for placement in &seen {
            self.first_time(placement.impression_key());
        }
        (seen, next)
    }

    /// A new page view (restored from the back/forward cache): everything may be seen anew.
    pub fn restart(&mut self, now: f64) {
        self.counted.clear();
        let active = self.active;
        self.page_active(active, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(request: &str, item: &str, position: u32) -> Placement {
        Placement {
            scenario: "home".into(),
            request_id: request.into(),
            item_id: item.into(),
            position: Some(position),
            ..Placement::default()
        }
    }

    const SMALL: f64 = 300.0 * 200.0;

    #[test]
    fn half_visible_for_a_second_is_one_impression() {
        let mut imp = Impressions::new(true);
        imp.track(1, item("r", "a", 0));
        imp.observed(1, 0.6, SMALL, 0.0);
        assert_eq!(imp.due(999.0), (vec![], Some(1000.0)));
        assert_eq!(imp.due(1000.0).0, vec![item("r", "a", 0)]);
        assert_eq!(imp.due(5000.0), (vec![], None), "counted once");
    }

    #[test]
    fn scrolled_past_quickly_or_under_half_is_no_impression() {
        let mut imp = Impressions::new(true);
        imp.track(1, item("r", "a", 0));
        imp.track(2, item("r", "b", 1));
        imp.observed(1, 0.9, SMALL, 0.0);
        imp.observed(1, 0.0, SMALL, 600.0);
        imp.observed(1, 1.0, SMALL, 700.0);
        assert!(
            imp.due(1500.0).0.is_empty(),
            "the break restarted the clock"
        );
        imp.observed(2, 0.45, SMALL, 0.0);
        assert_eq!(imp.due(10_000.0).0, vec![item("r", "a", 0)]);
        // 30% is enough for a large item.
        imp.track(3, item("r", "c", 2));
        imp.observed(3, 0.31, 800.0 * 600.0, 10_000.0);
        assert_eq!(imp.due(11_000.0).0, vec![item("r", "c", 2)]);
        // The observer's rounding of "half" still counts.
        imp.track(4, item("r", "d", 3));
        imp.observed(4, 0.4999, SMALL, 0.0);
        assert_eq!(imp.due(1000.0).0, vec![item("r", "d", 3)]);
    }

    #[test]
    fn a_hidden_or_unfocused_page_stops_the_clock() {
        let mut imp = Impressions::new(true);
        imp.track(1, item("r", "a", 0));
        imp.observed(1, 1.0, SMALL, 0.0);
        imp.page_active(false, 500.0);
        assert!(imp.due(5000.0).0.is_empty());
        imp.page_active(true, 5000.0);
        assert_eq!(imp.due(5999.0), (vec![], Some(6000.0)));
        assert_eq!(imp.due(6000.0).0.len(), 1);
        // In view while the page is inactive does not start it either.
        let mut imp = Impressions::new(false);
        imp.track(1, item("r", "a", 0));
        imp.observed(1, 1.0, SMALL, 0.0);
        assert_eq!(imp.due(3000.0), (vec![], None));
    }

    #[test]
    fn a_re_rendered_list_is_not_counted_again_but_a_new_answer_is() {
        let mut imp = Impressions::new(true);
        imp.track(1, item("r1", "a", 0));
        imp.observed(1, 1.0, SMALL, 0.0);
        assert_eq!(imp.due(1000.0).0.len(), 1);
        // The framework threw the element away and drew a new one.
        imp.forget(1);
        imp.track(7, item("r1", "a", 0));
        imp.observed(7, 1.0, SMALL, 2000.0);
        assert!(imp.due(9000.0).0.is_empty());
        // The same element now shows another answer's item.
        imp.track(7, item("r2", "a", 0));
        imp.observed(7, 1.0, SMALL, 9000.0);
        assert_eq!(imp.due(10_000.0).0, vec![item("r2", "a", 0)]);
    }

    #[test]
    fn a_click_counts_the_impression_first_once() {
        let mut imp = Impressions::new(true);
        imp.track(1, item("r", "a", 0));
        assert_eq!(imp.count(1), Some(item("r", "a", 0)));
        assert_eq!(imp.count(1), None);
        imp.observed(1, 1.0, SMALL, 0.0);
        assert!(imp.due(2000.0).0.is_empty());
        assert_eq!(imp.count(99), None, "unknown element");
    }

    #[test]
    fn a_restored_page_counts_again() {
        let mut imp = Impressions::new(true);
        imp.track(1, item("r", "a", 0));
        imp.observed(1, 1.0, SMALL, 0.0);
        assert_eq!(imp.due(1000.0).0.len(), 1);
        imp.restart(50_000.0);
        assert_eq!(imp.due(50_999.0).0.len(), 0);
        assert_eq!(imp.due(51_000.0).0.len(), 1);
    }
}
