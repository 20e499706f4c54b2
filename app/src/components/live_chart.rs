//! The last 60 minutes as a charming (ECharts) line chart.

use super::chart::{two_axis_chart, ChartCard, LineSeries, ValueAxis};
use super::format;
use crate::analytics::live::LiveMinute;
use crate::i18n::{fill, t, use_locale, Locale, Msg};
use charming::Chart;
use leptos::prelude::*;

/// Events and impressions per minute on the left axis; clicks and conversions, far fewer, on
/// the right one.
pub fn live_chart(locale: Locale, minutes: &[LiveMinute]) -> Chart {
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
            ValueAxis::counts(Msg::EventsImpressionsAxis.text(locale)),
            ValueAxis::counts(Msg::ClicksConversionsAxis.text(locale)),
        ),
        false,
        vec![
            line(Msg::Events.text(locale), 0, |m| m.events),
            line(Msg::Impressions.text(locale), 0, |m| m.impressions),
            line(Msg::Clicks.text(locale), 1, |m| m.clicks),
            line(Msg::Conversions.text(locale), 1, |m| m.conversions),
        ],
    )
}

#[component]
pub fn LiveChart(minutes: Vec<LiveMinute>) -> impl IntoView {
    let events: u64 = minutes.iter().map(|m| m.events).sum();
    let summary = fill(Msg::LiveSummary, &[&minutes.len(), &format::count(events)]);
    let locale = use_locale();
    view! {
        <ChartCard id="live-chart" caption=t(Msg::LastHourChart) summary
            draw=move || live_chart(locale, &minutes) />
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
        let json = serde_json::to_value(live_chart(Locale::En, &minutes)).unwrap();
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
