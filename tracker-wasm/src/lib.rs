//! The embeddable tracker's core, compiled to WASM. The page's side (`js/tracker.js`) watches
//! the DOM, the network and the page's lifecycle and tells this core what happened; the core
//! decides what each observation means and what to send.
//!
//! - [`event`]: placements (a list's context inherited by its items) and events as the API
//!   reads them; [`json`] writes them without `serde_json`; [`ids`] derives event ids.
//! - [`impressions`]: the MRC "seen" rule, once per page view, request, item and position.
//! - [`attribution`]: the click that led to an item, for `view`, `add_cart` and `order` on
//!   later pages of the tab.
//! - [`dwell`]: engaged time and media watched on an item's page, sent as increments.
//! - [`outbox`]: the bounded, persisted queue; batches, back-off, `Retry-After`, 413 splits.
//!
//! [`Tracker`] is the one type the page uses. Times are the page's `Date.now()`, passed in,
//! so every rule here runs (and is tested) without a browser.
//!
//! Built with the `bare` feature (as `scripts/tracker-build` does), the crate is `no_std`
//! with a small allocator and a panic handler that traps: no formatting machinery reaches
//! the download, which keeps the tracker inside its 20 KB budget.

#![cfg_attr(feature = "bare", no_std)]

extern crate alloc;

#[cfg(feature = "bare")]
mod bare {
    #[global_allocator]
    static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
        // SAFETY: a page's WASM instance runs on one thread.
        unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

    #[panic_handler]
    fn panic(_: &core::panic::PanicInfo) -> ! {
        core::arch::wasm32::unreachable()
    }
}

pub mod attribution;
pub mod dwell;
pub mod event;
pub mod ids;
pub mod impressions;
pub mod json;
pub mod outbox;

use alloc::string::{String, ToString};
use attribution::Attribution;
use dwell::Engagement;
use event::{Measures, Page, Placement};
use impressions::Impressions;
use outbox::{Outbox, Outcome};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
pub struct Tracker {
    page: Page,
    impressions: Impressions,
    attribution: Attribution,
    outbox: Outbox,
    /// The item page's item (its `view`'s placement) and the time spent on it.
    dwell: Option<(Placement, Engagement)>,
}

fn extra(extra_json: &str) -> Measures {
    Measures {
        extra_json: (!extra_json.is_empty()).then(|| extra_json.to_string()),
        ..Measures::default()
    }
}

#[wasm_bindgen]
impl Tracker {
    /// `seed` comes from `crypto.getRandomValues`; `active`: the page is visible and focused.
    #[wasm_bindgen(constructor)]
    pub fn new(
        user_id: String,
        session_id: String,
        page_view_id: String,
        seed: f64,
        active: bool,
    ) -> Tracker {
        Tracker {
            page: Page {
                user_id,
                session_id,
                page_view_id,
                sequence: 0,
            },
            impressions: Impressions::new(active),
            attribution: Attribution::default(),
            outbox: Outbox::new(seed as u64),
            dwell: None,
        }
    }

    /// The user is known now (`identify`): later events carry this id.
    pub fn identify(&mut self, user_id: String) {
        self.page.user_id = user_id;
    }

    /// A page restored from the back/forward cache is a new page view.
    pub fn new_page_view(&mut self, page_view_id: String, now: f64) {
        self.page.page_view_id = page_view_id;
        self.page.sequence = 0;
        self.impressions.restart(now);
    }

    /// An item element of a recommendation list, with what it inherits from its list.
    /// `position` < 0: none given.
    #[allow(clippy::too_many_arguments)]
    pub fn list_item(
        &mut self,
        handle: u32,
        scenario: String,
        request_id: String,
        experiment_id: String,
        experiment_group: String,
        item_id: String,
        position: i32,
    ) {
        self.impressions.track(
            handle,
            Placement {
                scenario,
                request_id,
                experiment_id,
                experiment_group,
                item_id,
                position: u32::try_from(position).ok(),
            },
        );
    }

    pub fn forget(&mut self, handle: u32) {
        self.impressions.forget(handle);
    }

    /// What the `IntersectionObserver` saw of an item element.
    pub fn observed(&mut self, handle: u32, ratio: f64, area_px: f64, now: f64) {
        self.impressions.observed(handle, ratio, area_px, now);
    }

    /// The page became visible and focused, or stopped being either.
    pub fn page_active(&mut self, active: bool, now: f64) {
        self.impressions.page_active(active, now);
        if let Some((_, engagement)) = &mut self.dwell {
            engagement.page_active(active, now);
        }
    }

    /// The user moved, scrolled, typed or touched (for engaged time).
    pub fn input(&mut self, now: f64) {
        if let Some((_, engagement)) = &mut self.dwell {
            engagement.input(now);
        }
    }

    /// A media element on the item's page: playing or not, position and duration (s).
    pub fn media(&mut self, playing: bool, position: f64, duration: f64, now: f64) {
        if let Some((_, engagement)) = &mut self.dwell {
            engagement.media(playing, position, duration, now);
        }
    }

    /// The page is an item's page: its `view` (with the placement of the click that led
    /// here, if any) and, from now on, its engaged time.
    pub fn view(&mut self, item_id: String, scenario: String, now: f64) {
        let placement = self.placement_of(item_id, scenario, now);
        self.write("view", &placement, now, Measures::default());
        if self.dwell.is_none() {
            self.dwell = Some((placement, Engagement::new(self.impressions.active(), now)));
        }
    }

    /// Queues the engaged time gathered since the last `dwell` event, when the page is
    /// hidden or left (`force`) or enough has gathered; returns whether it did.
    pub fn dwell(&mut self, now: f64, force: bool) -> bool {
        let Some((placement, engagement)) = &mut self.dwell else {
            return false;
        };
        let Some(increment) = engagement.take(now, force) else {
            return false;
        };
        let placement = placement.clone();
        let mut extra = String::new();
        if increment.media_seconds > 0.0 {
            extra = json::Object::new()
                .decimal("media_seconds", increment.media_seconds)
                .finish();
        }
        let measures = Measures {
            watch_seconds: Some(increment.engaged_seconds),
            completion: increment.completion,
            extra_json: (!extra.is_empty()).then_some(extra),
        };
        self.write("dwell", &placement, now, measures);
        true
    }

    fn placement_of(&self, item_id: String, scenario: String, now: f64) -> Placement {
        match self.attribution.of(&item_id, now) {
            Some(p) => p.clone(),
            None => Placement {
                scenario,
                item_id,
                ..Placement::default()
            },
        }
    }

    /// Queues an event: an impression under the id its key derives, any other under the
    /// page view's next id.
    fn write(&mut self, action: &str, placement: &Placement, now: f64, measures: Measures) {
        let id = if action == "impression" {
            self.page.impression_id(placement)
        } else {
            self.page.next_id()
        };
        let written = self.page.write(id, action, placement, now, &measures);
        self.outbox.push(written, now);
    }

    /// Queues the impressions due by `now`; returns when to call again (-1: no clock runs).
    pub fn due(&mut self, now: f64) -> f64 {
        let (seen, next) = self.impressions.due(now);
        for placement in seen {
            self.impression(&placement, now);
        }
        next.unwrap_or(-1.0)
    }

    fn impression(&mut self, placement: &Placement, now: f64) {
        self.write("impression", placement, now, Measures::default());
    }

    /// A click in an item element; `action` is the button's (`like`, `add_cart`, ...) or
    /// `click`. An item not yet counted as seen is counted first. Returns false for an
    /// element the tracker does not know.
    pub fn click(&mut self, handle: u32, action: &str, extra_json: &str, now: f64) -> bool {
        let Some(placement) = self.impressions.placement(handle).cloned() else {
            return false;
        };
        if self.impressions.count(handle).is_some() {
            self.impression(&placement, now);
        }
        if attribution::storable(&placement) {
            self.attribution.clicked(&placement, now);
        }
        self.write(action, &placement, now, extra(extra_json));
        true
    }

    /// An action outside any list (`view` of an item page, `add_cart` on it, `order`, or
    /// the page's own): carries the placement of the click that led to the item, if any in
    /// this tab lately, else `scenario` without request id.
    pub fn track(
        &mut self,
        action: &str,
        item_id: String,
        scenario: String,
        extra_json: &str,
        now: f64,
    ) {
        let placement = self.placement_of(item_id, scenario, now);
        self.write(action, &placement, now, extra(extra_json));
    }

    /// The next batch to send (see [`Outbox::take`]); `anyway`: the page is closing.
    pub fn take(&mut self, now: f64, anyway: bool) -> Option<String> {
        self.outbox.take(now, anyway)
    }

    /// The batch `take` returned last.
    pub fn batch(&self) -> u32 {
        self.outbox.batch()
    }

    /// How a batch ended: `status` 0 for a network error, or the HTTP status with the
    /// seconds of `Retry-After`. A beacon the browser queued is 202.
    pub fn settle(&mut self, batch: u32, status: u16, retry_after: f64, now: f64) {
        let outcome = match status {
            200..=299 => Outcome::Delivered,
            413 => Outcome::TooLarge,
            429 | 503 => Outcome::RetryAfter(retry_after),
            0 | 408 | 500..=599 => Outcome::Failed,
            // Any other 4xx is about the request itself (a key or origin the API refuses, a
            // body it cannot read): sending it again cannot help. The page warns.
            _ => Outcome::Delivered,
        };
        self.outbox.settle(batch, outcome, now);
    }

    /// When sending may resume after a failure (0: now).
    pub fn retry_at(&self) -> f64 {
        self.outbox.retry_at()
    }

    /// The last send went through and nothing asks to wait (a closing page beacons only
    /// then).
    pub fn healthy(&self, now: f64) -> bool {
        self.outbox.healthy(now)
    }

    pub fn pending(&self) -> u32 {
        self.outbox.len() as u32
    }

    /// Events dropped so far by the queue's bounds and expiry.
    pub fn dropped(&self) -> u32 {
        self.outbox.dropped
    }

    /// The queue as text for `localStorage`; `in_flight` false for a page being left (see
    /// [`Outbox::export`]).
    pub fn export(&mut self, now: f64, in_flight: bool) -> String {
        self.outbox.export(now, in_flight)
    }

    /// Takes in a queue saved by `export`; returns how many events were new.
    pub fn adopt(&mut self, saved: &str, now: f64) -> u32 {
        self.outbox.adopt(saved, now)
    }

    /// The tab's recent clicks as text for `sessionStorage`.
    pub fn export_clicks(&self, now: f64) -> String {
        self.attribution.export(now)
    }

    pub fn adopt_clicks(&mut self, saved: &str, now: f64) {
        self.attribution.adopt(saved, now);
    }

    /// Forgets every queued event (consent refused or withdrawn).
    pub fn clear(&mut self) {
        self.outbox.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use recoscope_core::validate::{parse_event, Limits};
    use recoscope_core::Event;

    const NOW: f64 = 1_800_000_000_000.0;

    fn events_of(body: &str) -> Vec<Event> {
        let value: serde_json::Value = serde_json::from_str(body).unwrap();
        assert!(value["sent_at"].as_u64().is_some());
        value["events"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, e)| parse_event(i, e.clone(), &Limits::default(), NOW as i64).unwrap())
            .collect()
    }

    fn tracker() -> Tracker {
        let mut t = Tracker::new("anon".into(), "s".into(), "pv1".into(), 9.0, true);
        t.list_item(
            1,
            "home".into(),
            "req-1".into(),
            "exp".into(),
            "B".into(),
            "sku-1".into(),
            2,
        );
        t
    }

    #[test]
    fn a_click_on_an_unseen_item_sends_its_impression_first_and_carries_the_placement() {
        let mut t = tracker();
        assert!(t.click(1, "like", "", NOW));
        assert!(!t.click(99, "click", "", NOW));
        let events = events_of(&t.take(NOW, false).unwrap());
        let actions: Vec<&str> = events.iter().map(|e| e.action_type.as_str()).collect();
        assert_eq!(actions, ["impression", "like"]);
        for e in &events {
            assert_eq!(e.request_id.as_deref(), Some("req-1"));
            assert_eq!(e.position, Some(2));
            assert_eq!(e.experiment_group.as_deref(), Some("B"));
            assert_eq!(e.user_id.as_str(), "anon");
        }
        t.observed(1, 1.0, 100.0, NOW);
        assert_eq!(
            t.due(NOW + 5000.0),
            -1.0,
            "the impression was counted already"
        );
    }

    #[test]
    fn a_view_and_an_order_on_later_pages_carry_the_clicked_request() {
        let mut t = tracker();
        t.click(1, "click", "", NOW);
        let clicks = t.export_clicks(NOW);

        let mut item_page = Tracker::new("anon".into(), "s".into(), "pv2".into(), 1.0, true);
        item_page.adopt_clicks(&clicks, NOW + 1000.0);
        item_page.track("view", "sku-1".into(), "item_page".into(), "", NOW + 1000.0);
        item_page.track("view", "sku-9".into(), "item_page".into(), "", NOW + 1000.0);
        item_page.track(
            "order",
            "sku-1".into(),
            "checkout".into(),
            r#"{"order_id":"o1"}"#,
            NOW + 2000.0,
        );
        let events = events_of(&item_page.take(NOW + 2000.0, false).unwrap());
        assert_eq!(events[0].request_id.as_deref(), Some("req-1"));
        assert_eq!(events[0].scenario_id.as_str(), "home");
        assert_eq!(events[1].request_id, None, "nothing led to sku-9");
        assert_eq!(events[1].scenario_id.as_str(), "item_page");
        assert_eq!(events[2].action_type.as_str(), "order");
        assert_eq!(events[2].request_id.as_deref(), Some("req-1"));
        assert_eq!(events[2].position, Some(2));
    }

    #[test]
    fn statuses_map_to_delivered_retried_or_dropped() {
        let mut t = tracker();
        t.track("view", "a".into(), "s".into(), "", NOW);
        t.take(NOW, false).unwrap();
        t.settle(t.batch(), 503, 2.0, NOW);
        assert_eq!(t.retry_at(), NOW + 2000.0);
        t.take(NOW + 2000.0, false).unwrap();
        t.settle(t.batch(), 0, 0.0, NOW + 2000.0);
        assert_eq!(t.pending(), 1, "a network error keeps the events");
        t.take(t.retry_at(), false).unwrap();
        t.settle(t.batch(), 401, 0.0, t.retry_at());
        assert_eq!(
            t.pending(),
            0,
            "a refused key cannot get better by resending"
        );
    }

    #[test]
    fn an_item_page_sends_its_view_then_its_engaged_time_in_increments() {
        let mut t = tracker();
        t.click(1, "click", "", NOW);
        let clicks = t.export_clicks(NOW);
        let mut page = Tracker::new("anon".into(), "s".into(), "pv2".into(), 1.0, true);
        page.adopt_clicks(&clicks, NOW);
        page.view("sku-1".into(), "item_page".into(), NOW);
        page.page_active(false, NOW + 5000.0);
        assert!(page.dwell(NOW + 10_000.0, true));
        assert!(!page.dwell(NOW + 10_000.0, true), "nothing more to send");
        let events = events_of(&page.take(NOW + 10_000.0, false).unwrap());
        let actions: Vec<&str> = events.iter().map(|e| e.action_type.as_str()).collect();
        assert_eq!(actions, ["view", "dwell"]);
        assert_eq!(events[1].watch_duration.map(|s| s.get()), Some(5.0));
        assert_eq!(events[1].request_id.as_deref(), Some("req-1"));
        assert_eq!(events[1].position, Some(2));
    }

    #[test]
    fn a_restored_page_is_a_new_page_view_with_new_ids() {
        let mut t = tracker();
        t.observed(1, 1.0, 100.0, NOW);
        t.due(NOW + 1000.0);
        let first = events_of(&t.take(NOW + 1000.0, false).unwrap());
        t.settle(t.batch(), 200, 0.0, NOW + 1000.0);
        t.new_page_view("pv-restored".into(), NOW + 9000.0);
        t.due(NOW + 10_000.0);
        let second = events_of(&t.take(NOW + 10_000.0, false).unwrap());
        assert_eq!((first.len(), second.len()), (1, 1));
        assert_ne!(first[0].event_id, second[0].event_id);
    }
}
