//! The overview's trend (hourly, or daily for long ranges) as a charming (ECharts) line chart.

use super::chart::{two_axis_chart, ChartCard, LineSeries, ValueAxis};
use super::format;
use crate::analytics::overview::TrendPoint;
use crate::i18n::{fill, t, use_locale, Locale, Msg};
use charming::Chart;
use leptos::prelude::*;

/// The chart for a trend: impressions per hour on the left axis; clicks and conversions,
/// one or two orders of magnitude fewer, on the right axis so their shape stays visible.
pub fn trend_chart(locale: Locale, points: &[TrendPoint], bucket_secs: i64) -> Chart {
    let label = |t: i64| {
        if bucket_secs >= 86_400 {
            format::day_label(t)
        } else {
            format::hour_label(t)
        }
    };
    let labels = points.iter().map(|p| label(p.hour)).collect();
    let line = |name, axis, pick: fn(&TrendPoint) -> u64| {
        LineSeries::counts(name, axis, points.iter().map(pick))
    };
    two_axis_chart(
        labels,
        (
            ValueAxis::counts(Msg::Impressions.text(locale)),
            ValueAxis::counts(Msg::ClicksConversionsAxis.text(locale)),
        ),
        true,
        vec![
            line(Msg::Impressions.text(locale), 0, |p| p.impressions),
            line(Msg::Clicks.text(locale), 1, |p| p.clicks),
            line(Msg::Conversions.text(locale), 1, |p| p.conversions),
        ],
    )
}

#[component]
pub fn TrendChart(points: Vec<TrendPoint>, bucket_secs: i64) -> impl IntoView {
    let total_impressions: u64 = points.iter().map(|p| p.impressions).sum();
    let (caption, unit) = if bucket_secs >= 86_400 {
        (t(Msg::DailyTrend), t(Msg::Days))
    } else {
        (t(Msg::HourlyTrend), t(Msg::Hours))
    };
    let summary = fill(
        Msg::TrendSummary,
        &[
            &caption,
            &points.len(),
            &unit,
            &format::count(total_impressions),
        ],
    );
    let locale = use_locale();
    view! {
        <ChartCard id="trend-chart" caption summary
            draw=move || trend_chart(locale, &points, bucket_secs) />
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
        let json = serde_json::to_value(trend_chart(Locale::En, &points, 3600)).unwrap();
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
