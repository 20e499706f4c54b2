//! The last 60 minutes as a charming (ECharts) line chart.

use super::chart::{two_axis_chart, ChartCard, LineSeries, ValueAxis};
use super::format;
use crate::analytics::live::LiveMinute;
use charming::Chart;
use leptos::prelude::*;

/// Events and impressions per minute on the left axis; clicks and conversions, far fewer, on
/// the right one.
pub fn live_chart(minutes: &[LiveMinute]) -> Chart {
    let labels = minutes
        .iter()
        .map(|m| format::minute_label(m.minute))
        .collect();
    let line = |name, axis, pick: fn(&LiveMinute) -> u64| {
        LineSeries::counts(name, axis, minutes.iter().map(pick))
    };
    two_axis_chart(
        labels,
        (
            ValueAxis::counts("Events · impressions"),
            ValueAxis::counts("Clicks · conversions"),
        ),
        false,
        vec![
            line("Events", 0, |m| m.events),
            line("Impressions", 0, |m| m.impressions),
            line("Clicks", 1, |m| m.clicks),
            line("Conversions", 1, |m| m.conversions),
        ],
    )
}

#[component]
pub fn LiveChart(minutes: Vec<LiveMinute>) -> impl IntoView {
    let events: u64 = minutes.iter().map(|m| m.events).sum();
    let summary = format!(
        "Events per minute over the last {} minutes (UTC): {} in all.",
        minutes.len(),
        format::count(events)
    );
    view! {
        <ChartCard id="live-chart" caption="Last 60 minutes" summary
            draw=move || live_chart(&minutes) />
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_point_per_minute_with_clicks_on_the_second_axis() {
        let minutes: Vec<LiveMinute> = (0..3)
            .map(|i| LiveMinute {
                minute: 60 * i,
                events: 10 * i as u64,
                impressions: 8,
                clicks: 2,
                conversions: 1,
                active_users: 3,
            })
            .collect();
        let json = serde_json::to_value(live_chart(&minutes)).unwrap();
        let series = json["series"].as_array().unwrap();
        assert_eq!(series[0]["data"], serde_json::json!([0, 10, 20]));
        let axes: Vec<f64> = series
            .iter()
            .map(|s| s["yAxisIndex"].as_f64().unwrap())
            .collect();
        assert_eq!(axes, vec![0.0, 0.0, 1.0, 1.0]);
        assert!(json["xAxis"].to_string().contains("\"00:02\""), "{json}");
    }
}
