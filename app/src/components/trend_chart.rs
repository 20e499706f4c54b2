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

/// The chart for a trend: impressions, clicks and conversions per hour.
pub fn trend_chart(points: &[TrendPoint]) -> Chart {
    let labels: Vec<String> = points.iter().map(|p| format::hour_label(p.hour)).collect();
    let series = |name: &str, pick: fn(&TrendPoint) -> u64| {
        Line::new()
            .name(name)
            .smooth(true)
            .show_symbol(false)
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
        .y_axis(Axis::new().type_(AxisType::Value))
        .series(series("Impressions", |p| p.impressions))
        .series(series("Clicks", |p| p.clicks))
        .series(series("Conversions", |p| p.conversions))
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
