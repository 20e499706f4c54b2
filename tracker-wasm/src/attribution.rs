//! Which recommendation led to an item: the placement of the last click on it, kept per tab
//! (the page stores [`Attribution::export`] in `sessionStorage`) for [`TTL_MS`], so the
//! `view`, `add_cart` and `order` on later pages carry the request id of that click.

use crate::event::Placement;
use alloc::string::String;
use alloc::vec::Vec;

/// How long a click attributes what follows (the common 30-minute session window).
pub const TTL_MS: f64 = 30.0 * 60.0 * 1000.0;
/// Clicks remembered at most; the oldest go first.
pub const MAX_ENTRIES: usize = 100;

#[derive(Default)]
pub struct Attribution {
    entries: Vec<(f64, Placement)>,
}

impl Attribution {
    /// A click on `placement` at `now`.
    pub fn clicked(&mut self, placement: &Placement, now: f64) {
        self.entries.retain(|(_, p)| p.item_id != placement.item_id);
        self.entries.push((now, placement.clone()));
        if self.entries.len() > MAX_ENTRIES {
            self.entries.remove(0);
        }
    }

    /// The placement whose click led to `item_id`, if recent enough.
    pub fn of(&self, item_id: &str, now: f64) -> Option<&Placement> {
        self.entries
            .iter()
            .rev()
            .find(|(at, p)| p.item_id == item_id && now - at < TTL_MS)
            .map(|(_, p)| p)
    }

    /// One line per click: time and the placement's fields, tab-separated.
    pub fn export(&self, now: f64) -> String {
        let mut out = String::new();
        for (at, p) in self.entries.iter().filter(|(at, _)| now - at < TTL_MS) {
            crate::json::uint(&mut out, *at as u64);
            for field in [
                &p.scenario,
                &p.request_id,
                &p.experiment_id,
                &p.experiment_group,
                &p.item_id,
            ] {
                out.push('\t');
                out.push_str(field);
            }
            out.push('\t');
            if let Some(position) = p.position {
                crate::json::uint(&mut out, position as u64);
            }
            out.push('\n');
        }
        out
    }

    /// Reads what [`Attribution::export`] wrote (on the tab's previous page).
    pub fn adopt(&mut self, lines: &str, now: f64) {
        for line in lines.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            let [at, scenario, request, experiment, group, item, position] = f[..] else {
                continue;
            };
            let Ok(at) = at.parse::<u64>() else { continue };
            let placement = Placement {
                scenario: scenario.into(),
                request_id: request.into(),
                experiment_id: experiment.into(),
                experiment_group: group.into(),
                item_id: item.into(),
                position: position.parse().ok(),
            };
            if now - (at as f64) < TTL_MS && !item.is_empty() {
                self.clicked(&placement, at as f64);
            }
        }
    }
}

/// Tabs and line breaks would break the stored lines; no real id has them.
pub fn storable(placement: &Placement) -> bool {
    [
        &placement.scenario,
        &placement.request_id,
        &placement.experiment_id,
        &placement.experiment_group,
        &placement.item_id,
    ]
    .iter()
    .all(|f| !f.contains(['\t', '\n', '\r']))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placement(item: &str, request: &str) -> Placement {
        Placement {
            scenario: "home".into(),
            request_id: request.into(),
            experiment_id: "exp".into(),
            experiment_group: "B".into(),
            item_id: item.into(),
            position: Some(4),
        }
    }

    #[test]
    fn the_last_click_attributes_until_it_expires() {
        let mut a = Attribution::default();
        a.clicked(&placement("i1", "r1"), 0.0);
        a.clicked(&placement("i1", "r2"), 10.0);
        assert_eq!(a.of("i1", 20.0).unwrap().request_id, "r2");
        assert!(a.of("i2", 20.0).is_none());
        assert!(a.of("i1", 10.0 + TTL_MS).is_none());
    }

    #[test]
    fn clicks_survive_the_next_page_through_their_export() {
        let mut a = Attribution::default();
        a.clicked(&placement("i1", "r1"), 0.0);
        a.clicked(
            &Placement {
                position: None,
                ..placement("i2", "r9")
            },
            5.0,
        );
        let saved = a.export(100.0);
        let mut next = Attribution::default();
        next.adopt(&saved, 200.0);
        next.adopt("nonsense\n1\t2\n", 200.0);
        assert_eq!(next.of("i1", 200.0), Some(&placement("i1", "r1")));
        assert_eq!(next.of("i2", 200.0).unwrap().position, None);
        let mut late = Attribution::default();
        late.adopt(&saved, TTL_MS + 1.0);
        assert!(late.of("i1", TTL_MS + 1.0).is_none());
    }

    #[test]
    fn memory_is_bounded() {
        let mut a = Attribution::default();
        for n in 0..MAX_ENTRIES + 5 {
            a.clicked(&placement(&format!("i{n}"), "r"), n as f64);
        }
        assert!(a.of("i0", 1000.0).is_none());
        assert!(a.of(&format!("i{}", MAX_ENTRIES + 4), 1000.0).is_some());
        assert!(!storable(&placement("a\tb", "r")));
    }
}
