//! The last 60 minutes as a charming (ECharts) line chart, drawn in the browser like the
//! hourly trend.

use super::format;
use crate::analytics::live::LiveMinute;
use charming::{
    component::{Axis, Grid, Legend},
    element::{AxisType, Tooltip, Trigger},
    series::Line,
    Chart,
};
use leptos::prelude::*;

/// Events and impressions per minute on the left axis; clicks and conversions, far fewer, on
/// the right one.
pub fn live_chart(minutes: &[LiveMinute]) -> Chart {
    let labels: Vec<String> = minutes
        .iter()
        .map(|m| format::minute_label(m.minute))
        .collect();
    let series = |name: &str, axis: u8, pick: fn(&LiveMinute) -> u64| {
        Line::new()
            .name(name)
            .show_symbol(false)
            .y_axis_index(axis)
            .data(minutes.iter().map(|m| pick(m) as i64).collect::<Vec<i64>>())
    };
    Chart::new()
        .tooltip(Tooltip::new().trigger(Trigger::Axis))
        .legend(Legend::new().top("0"))
        .grid(
            Grid::new()
                .left("3%")
                .right("3%")
                .bottom("3%")
                .contain_label(true),
        )
        .x_axis(Axis::new().type_(AxisType::Category).data(labels))
        .y_axis(
            Axis::new()
                .type_(AxisType::Value)
                .name("Events · impressions"),
        )
        .y_axis(
            Axis::new()
                .type_(AxisType::Value)
                .name("Clicks · conversions"),
        )
        .series(series("Events", 0, |m| m.events))
        .series(series("Impressions", 0, |m| m.impressions))
        .series(series("Clicks", 1, |m| m.clicks))
        .series(series("Conversions", 1, |m| m.conversions))
}

#[component]
pub fn LiveChart(minutes: Vec<LiveMinute>) -> impl IntoView {
    let id = "live-chart";
    let events: u64 = minutes.iter().map(|m| m.events).sum();
    let summary = format!(
        "Events per minute over the last {} minutes (UTC): {} in all.",
        minutes.len(),
        format::count(events)
    );

    #[cfg(feature = "hydrate")]
    {
        let chart = live_chart(&minutes);
        Effect::new(move |_| {
            if let Err(e) = charming::WasmRenderer::new_opt(None, None).render(id, &chart) {
                leptos::logging::error!("live chart: {e:?}");
            }
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = &minutes;

    view! {
        <figure class="chart-card">
            <figcaption>"Last 60 minutes"</figcaption>
            <div id=id class="chart" role="img" aria-label=summary.clone()></div>
            <p class="chart-summary">{summary}</p>
        </figure>
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
