//! The hourly trend as a charming (ECharts) line chart.
//!
//! The server renders the container and an accessible summary; the chart itself is drawn in
//! the browser after hydration (charming's `WasmRenderer` over the ECharts bundle that the
//! app serves from its own assets).

use super::format;
use crate::analytics::overview::TrendPoint;
use charming::{
    component::{Axis, Grid, Legend},
    element::{AxisType, Tooltip, Trigger},
    series::Line,
    Chart,
};
use leptos::prelude::*;

/// The chart for a trend: impressions per hour on the left axis; clicks and conversions,
/// one or two orders of magnitude fewer, on the right axis so their shape stays visible.
pub fn trend_chart(points: &[TrendPoint]) -> Chart {
    let labels: Vec<String> = points.iter().map(|p| format::hour_label(p.hour)).collect();
    let series = |name: &str, axis: u8, pick: fn(&TrendPoint) -> u64| {
        Line::new()
            .name(name)
            .smooth(true)
            .show_symbol(false)
            .y_axis_index(axis)
            .data(points.iter().map(|p| pick(p) as i64).collect::<Vec<i64>>())
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
        .y_axis(Axis::new().type_(AxisType::Value).name("Impressions"))
        .y_axis(
            Axis::new()
                .type_(AxisType::Value)
                .name("Clicks · conversions"),
        )
        .series(series("Impressions", 0, |p| p.impressions))
        .series(series("Clicks", 1, |p| p.clicks))
        .series(series("Conversions", 1, |p| p.conversions))
}

#[component]
pub fn TrendChart(points: Vec<TrendPoint>) -> impl IntoView {
    let id = "trend-chart";
    let total_impressions: u64 = points.iter().map(|p| p.impressions).sum();
    let summary = format!(
        "Hourly trend over {} hours (UTC): {} impressions in all.",
        points.len(),
        format::count(total_impressions)
    );

    #[cfg(feature = "hydrate")]
    {
        let chart = trend_chart(&points);
        // Effects run only in the browser, after the container exists.
        Effect::new(move |_| {
            if let Err(e) = charming::WasmRenderer::new_opt(None, None).render(id, &chart) {
                leptos::logging::error!("trend chart: {e:?}");
            }
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = &points;

    view! {
        <figure class="chart-card">
            <figcaption>"Hourly trend"</figcaption>
            <div id=id class="chart" role="img" aria-label=summary.clone()></div>
            <p class="chart-summary">{summary}</p>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clicks_and_conversions_use_the_second_axis() {
        let points = vec![TrendPoint {
            hour: 0,
            impressions: 1000,
            clicks: 50,
            conversions: 3,
            active_users: 20,
        }];
        let json = serde_json::to_value(trend_chart(&points)).unwrap();
        assert_eq!(json["yAxis"].as_array().unwrap().len(), 2);
        let series = json["series"].as_array().unwrap();
        let axes: Vec<f64> = series
            .iter()
            .map(|s| s["yAxisIndex"].as_f64().unwrap())
            .collect();
        assert_eq!(axes, vec![0.0, 1.0, 1.0]);
        assert_eq!(series[1]["data"], serde_json::json!([50]));
        assert!(
            json["xAxis"].to_string().contains("\"01-01 00:00\""),
            "{json}"
        );
    }
}
