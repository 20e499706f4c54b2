//! What the dashboard's charts share: the two-axis layout (lines and bars), ranked bars, the
//! funnel, and the card that holds a chart. The server renders the card and an accessible summary; the chart itself is drawn in
//! the browser after hydration (charming's `WasmRenderer` over the ECharts bundle the app
//! serves from its own assets).

use charming::{
    component::{Axis, Grid, Legend},
    datatype::NumericValue,
    element::{AxisLabel, AxisType, Tooltip, Trigger},
    series::{Bar, Funnel, Line},
    Chart,
};
use leptos::prelude::*;

/// One line: its name, its y axis (0 left, 1 right) and its points. A `None` point is one
/// where the value is undefined (a rate with nothing to divide by): ECharts leaves a gap
/// there rather than drawing a zero that never happened.
pub struct LineSeries<'a> {
    pub name: &'a str,
    pub axis: u8,
    pub data: Vec<Option<NumericValue>>,
    /// Drawn as bars rather than a line (counts per category).
    pub bars: bool,
}

impl<'a> LineSeries<'a> {
    /// A line of counts, every point defined.
    pub fn counts(name: &'a str, axis: u8, counts: impl IntoIterator<Item = u64>) -> Self {
        let data = counts
            .into_iter()
            .map(|c| Some(NumericValue::Integer(c as i64)))
            .collect();
        LineSeries::line(name, axis, data)
    }

    /// A line of ratios (0.0342) drawn as percentages (3.42), to two decimals; undefined
    /// ratios stay gaps.
    pub fn percentages(
        name: &'a str,
        axis: u8,
        ratios: impl IntoIterator<Item = Option<f64>>,
    ) -> Self {
        let data = ratios
            .into_iter()
            .map(|r| r.map(|r| NumericValue::Float((r * 10_000.0).round() / 100.0)))
            .collect();
        LineSeries::line(name, axis, data)
    }

    fn line(name: &'a str, axis: u8, data: Vec<Option<NumericValue>>) -> Self {
        LineSeries {
            name,
            axis,
            data,
            bars: false,
        }
    }

    /// The same values as bars.
    pub fn as_bars(self) -> Self {
        LineSeries { bars: true, ..self }
    }
}

/// A value axis: its name, and whether its values are percentages (labelled "12.5 %").
#[derive(Clone, Copy)]
pub struct ValueAxis<'a> {
    pub name: &'a str,
    pub percent: bool,
}

impl<'a> ValueAxis<'a> {
    pub fn counts(name: &'a str) -> Self {
        ValueAxis {
            name,
            percent: false,
        }
    }

    pub fn percent(name: &'a str) -> Self {
        ValueAxis {
            name,
            percent: true,
        }
    }

    fn axis(self) -> Axis {
        let axis = Axis::new().type_(AxisType::Value).name(self.name);
        if self.percent {
            axis.axis_label(AxisLabel::new().formatter("{value} %"))
        } else {
            axis
        }
    }
}

/// Lines (or bars) over category labels, with two value axes: large counts on the left, the
/// smaller ones (clicks, conversions) or rates on the right so their shape stays visible.
pub fn two_axis_chart(
    labels: Vec<String>,
    (left, right): (ValueAxis<'_>, ValueAxis<'_>),
    smooth: bool,
    lines: Vec<LineSeries<'_>>,
) -> Chart {
    let mut chart = Chart::new()
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
        .y_axis(left.axis())
        .y_axis(right.axis());
    for line in lines {
        chart = if line.bars {
            chart.series(
                Bar::new()
                    .name(line.name)
                    .y_axis_index(line.axis)
                    .data(line.data),
            )
        } else {
            chart.series(
                Line::new()
                    .name(line.name)
                    .smooth(smooth)
                    .show_symbol(false)
                    .y_axis_index(line.axis)
                    .data(line.data),
            )
        };
    }
    chart
}

/// Horizontal bars, the first label at the top: a ranking (the top items by clicks).
pub fn ranked_bars(labels: Vec<String>, name: &str, values: Vec<u64>) -> Chart {
    Chart::new()
        .tooltip(Tooltip::new().trigger(Trigger::Axis))
        .grid(
            Grid::new()
                .left("3%")
                .right("4%")
                .bottom("3%")
                .contain_label(true),
        )
        .x_axis(Axis::new().type_(AxisType::Value).name(name))
        .y_axis(
            Axis::new()
                .type_(AxisType::Category)
                .inverse(true)
                .data(labels),
        )
        .series(
            Bar::new()
                .name(name)
                .data(values.into_iter().map(|v| v as i64).collect()),
        )
}

/// A funnel of users per step, widths relative to the first step (ECharts' default scale
/// is 0–100, which would draw every step above 100 users at full width).
pub fn funnel(name: &str, steps: Vec<(String, u64)>) -> Chart {
    let first = steps.first().map_or(1, |(_, users)| (*users).max(1));
    Chart::new()
        .tooltip(Tooltip::new().trigger(Trigger::Item))
        .series(
            Funnel::new()
                .name(name)
                .min(0.0)
                .max(first as f64)
                .gap(2.0)
                .left("10%")
                .width("70%")
                .data(
                    steps
                        .into_iter()
                        .map(|(step, users)| (users as i64, step))
                        .collect(),
                ),
        )
}

/// A drawn chart, kept so it can follow its container's size.
#[cfg(feature = "hydrate")]
type Drawn = std::rc::Rc<std::cell::RefCell<Option<charming::renderer::wasm_renderer::Echarts>>>;

/// Draws `chart` into the element `id` once it is in the document, checking every 50 ms for
/// up to 10 s.
#[cfg(feature = "hydrate")]
fn draw_when_mounted(id: &'static str, chart: std::rc::Rc<Chart>, drawn: Drawn, attempt: u32) {
    let mounted = document().get_element_by_id(id).is_some();
    if mounted {
        match charming::WasmRenderer::new_opt(None, None).render(id, &chart) {
            Ok(echarts) => *drawn.borrow_mut() = Some(echarts),
            Err(e) => leptos::logging::error!("{id}: {e:?}"),
        }
    } else if attempt < 200 {
        set_timeout(
            move || draw_when_mounted(id, chart, drawn, attempt + 1),
            std::time::Duration::from_millis(50),
        );
    } else {
        leptos::logging::error!("{id}: the chart's container never appeared");
    }
}

/// A chart in its card. `draw` runs only in the browser, where the chart is drawn.
#[component]
pub fn ChartCard(
    id: &'static str,
    caption: &'static str,
    summary: String,
    draw: impl FnOnce() -> Chart + 'static,
) -> impl IntoView {
    #[cfg(feature = "hydrate")]
    {
        let chart = std::rc::Rc::new(draw());
        let drawn = Drawn::default();
        // Effects run only in the browser. After hydration the container is in the document
        // already; after a client-side navigation (e.g. from the sign-in page) or inside a
        // Suspense that mounts its children later, it is inserted after the effect runs, so
        // drawing waits until the container is there (the renderer looks it up by id).
        // Timers, not animation frames: headless and background tabs may not run frames.
        let first = drawn.clone();
        Effect::new(move |_| draw_when_mounted(id, chart.clone(), first.clone(), 0));
        // ECharts sizes its canvas once; a narrower window (a phone turned, a window resized)
        // would leave it overflowing, so it is fitted to its container again.
        let on_resize = drawn;
        let listener = window_event_listener(leptos::ev::resize, move |_| {
            if let Some(echarts) = on_resize.borrow().as_ref() {
                echarts.resize(wasm_bindgen::JsValue::UNDEFINED);
            }
        });
        on_cleanup(move || listener.remove());
    }
    #[cfg(not(feature = "hydrate"))]
    drop(draw);

    view! {
        <figure class="chart-card">
            <figcaption>{caption}</figcaption>
            <div id=id class="chart" role="img" aria-label=summary.clone()></div>
            <p class="chart-summary">{summary}</p>
        </figure>
    }
}
