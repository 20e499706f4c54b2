//! Realistic events for the benchmarks: the simulator's sessions, stamped a minute ago so
//! validation accepts them, with unique ids.

use recoscope_core::clock::now_ms;
use recoscope_core::{Event, Label, UnixMillis};
use recoscope_server::simulate::TrafficModel;

/// `n` events with ids `{prefix}-{i}`.
pub fn generate(n: usize, prefix: &str) -> Vec<Event> {
    let mut model = TrafficModel::new(42);
    let mut events = Vec::with_capacity(n + 64);
    let now = now_ms();
    while events.len() < n {
        events.extend(model.session(now - 60_000).into_iter().map(|mut e| {
            e.timestamp = UnixMillis::new(now - 60_000).ok();
            e
        }));
    }
    events.truncate(n);
    for (i, e) in events.iter_mut().enumerate() {
        e.event_id = Label::new(format!("{prefix}-{i}")).ok();
    }
    events
}
