//! What an event says and how it is written for the API.

use crate::ids;
use crate::json::Object;
use alloc::string::String;

/// Where an item was recommended: the list's context, inherited by its items.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Placement {
    pub scenario: String,
    pub request_id: String,
    pub experiment_id: String,
    pub experiment_group: String,
    pub item_id: String,
    /// 0-based rank in the list, when the page gave one.
    pub position: Option<u32>,
}

impl Placement {
    /// The key of "this item in this answer at this rank": at most one impression each.
    pub fn impression_key(&self) -> u64 {
        ids::hash64(0, &[&self.request_id, &self.item_id, &self.position_text()])
    }

    pub fn position_text(&self) -> String {
        let mut text = String::new();
        if let Some(position) = self.position {
            crate::json::uint(&mut text, position as u64);
        }
        text
    }
}

/// Who and which page view: the same for every event of a page.
#[derive(Clone, Debug)]
pub struct Page {
    pub user_id: String,
    pub session_id: String,
    pub page_view_id: String,
    /// Events written so far; the next event's id hashes it.
    pub sequence: u64,
}

/// Measures an event may carry beside its placement.
#[derive(Clone, Debug, Default)]
pub struct Measures {
    pub watch_seconds: Option<f64>,
    pub completion: Option<f64>,
    /// JSON encoded by the page's own `JSON.stringify`.
    pub extra_json: Option<String>,
}

/// One event ready for the queue: its id and its JSON.
#[derive(Clone, Debug, PartialEq)]
pub struct Written {
    pub id: String,
    pub json: String,
}

impl Page {
    /// The id of an impression, derived from its key (see [`crate::ids`]).
    pub fn impression_id(&self, placement: &Placement) -> String {
        ids::event_id(&[
            &self.page_view_id,
            "impression",
            &placement.request_id,
            &placement.item_id,
            &placement.position_text(),
        ])
    }

    /// A fresh id for any other event of this page view.
    pub fn next_id(&mut self) -> String {
        self.sequence += 1;
        let mut n = String::new();
        crate::json::uint(&mut n, self.sequence);
        ids::event_id(&[&self.page_view_id, &n])
    }

    /// Writes an event as the API reads it.
    pub fn write(
        &self,
        id: String,
        action: &str,
        placement: &Placement,
        now_ms: f64,
        measures: &Measures,
    ) -> Written {
        let mut object = Object::new();
        object
            .str("event_id", &id)
            .str("action_type", action)
            .str("scenario_id", &placement.scenario)
            .str("item_id", &placement.item_id)
            .str("user_id", &self.user_id)
            .opt_str("session_id", &self.session_id)
            .opt_str("request_id", &placement.request_id)
            .opt_str("experiment_id", &placement.experiment_id)
            .opt_str("experiment_group", &placement.experiment_group)
            .uint("timestamp", now_ms.max(0.0) as u64);
        if let Some(position) = placement.position {
            object.uint("position", position as u64);
        }
        if let Some(seconds) = measures.watch_seconds {
            object.decimal("watch_duration", seconds);
        }
        if let Some(completion) = measures.completion {
            object.decimal("completion_rate", completion.clamp(0.0, 1.0));
        }
        if let Some(extra) = &measures.extra_json {
            object.raw("extra_data", extra);
        }
        Written {
            id,
            json: object.finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use recoscope_core::validate::{parse_event, Limits};

    #[test]
    fn written_events_pass_the_api_parser_with_every_field() {
        let mut page = Page {
            user_id: "anon-1".into(),
            session_id: "s1".into(),
            page_view_id: "pv".into(),
            sequence: 0,
        };
        let placement = Placement {
            scenario: "home_feed".into(),
            request_id: "req-\"7\"".into(),
            experiment_id: "exp".into(),
            experiment_group: "B".into(),
            item_id: "sku 1".into(),
            position: Some(3),
        };
        let now = 1_800_000_000_123.0;
        let id = page.next_id();
        let written = page.write(
            id.clone(),
            "view",
            &placement,
            now,
            &Measures {
                watch_seconds: Some(4.25),
                completion: Some(1.5),
                extra_json: Some(r#"{"source":"test"}"#.into()),
            },
        );
        let raw: serde_json::Value = serde_json::from_str(&written.json).unwrap();
        let event = parse_event(0, raw, &Limits::default(), now as i64).unwrap();
        assert_eq!(event.event_id.as_deref(), Some(id.as_str()));
        assert_eq!(event.request_id.as_deref(), Some("req-\"7\""));
        assert_eq!(event.item_id.as_str(), "sku 1");
        assert_eq!(event.position, Some(3));
        assert_eq!(event.experiment_group.as_deref(), Some("B"));
        assert_eq!(event.watch_duration.map(|s| s.get()), Some(4.25));
        assert_eq!(event.completion_rate.map(|f| f.get()), Some(1.0));
        assert_eq!(event.timestamp.map(|t| t.get()), Some(now as i64));
        assert_ne!(page.next_id(), id, "every event has an id of its own");
    }

    #[test]
    fn an_impression_id_depends_on_its_key_only() {
        let page = |pv: &str| Page {
            user_id: "u".into(),
            session_id: String::new(),
            page_view_id: pv.into(),
            sequence: 0,
        };
        let placement = Placement {
            scenario: "home".into(),
            request_id: "r1".into(),
            item_id: "i1".into(),
            position: Some(0),
            ..Placement::default()
        };
        let moved = Placement {
            position: Some(1),
            ..placement.clone()
        };
        assert_eq!(
            page("pv1").impression_id(&placement),
            page("pv1").impression_id(&placement)
        );
        assert_ne!(
            page("pv1").impression_id(&placement),
            page("pv1").impression_id(&moved)
        );
        assert_ne!(
            page("pv1").impression_id(&placement),
            page("pv2").impression_id(&placement)
        );
    }
}
