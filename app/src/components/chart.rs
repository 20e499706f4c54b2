//! What the dashboard's line charts share: the two-axis layout, and the card that holds a
//! chart. The server renders the card and an accessible summary; the chart itself is drawn in
//! the browser after hydration (charming's `WasmRenderer` over the ECharts bundle the app
//! serves from its own assets).

use charming::{
    component::{Axis, Grid, Legend},
    element::{AxisType, Tooltip, Trigger},
    series::Line,
    Chart,
};
use leptos::prelude::*;

/// One line: its name, its y axis (0 left, 1 right) and its points.
pub struct LineSeries<'a> {
    pub name: &'a str,
    pub axis: u8,
    pub data: Vec<i64>,
}

/// Lines over category labels, with two value axes: large counts on the left, the smaller
/// ones (clicks, conversions) on the right so their shape stays visible.
pub fn two_axis_lines(
    labels: Vec<String>,
    (left, right): (&str, &str),
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
        .y_axis(Axis::new().type_(AxisType::Value).name(left))
        .y_axis(Axis::new().type_(AxisType::Value).name(right));
    for line in lines {
        chart = chart.series(
            Line::new()
                .name(line.name)
                .smooth(smooth)
                .show_symbol(false)
                .y_axis_index(line.axis)
                .data(line.data),
        );
    }
    chart
}

/// Draws `chart` into the element `id` once it is in the document, checking every 50 ms for
/// up to 10 s.
#[cfg(feature = "hydrate")]
fn draw_when_mounted(id: &'static str, chart: std::rc::Rc<Chart>, attempt: u32) {
    let mounted = document().get_element_by_id(id).is_some();
    if mounted {
        if let Err(e) = charming::WasmRenderer::new_opt(None, None).render(id, &chart) {
            leptos::logging::error!("{id}: {e:?}");
        }
    } else if attempt < 200 {
        set_timeout(
            move || draw_when_mounted(id, chart, attempt + 1),
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
        // Effects run only in the browser. After hydration the container is in the document
        // already; after a client-side navigation (e.g. from the sign-in page) or inside a
        // Suspense that mounts its children later, it is inserted after the effect runs, so
        // drawing waits until the container is there (the renderer looks it up by id).
        // Timers, not animation frames: headless and background tabs may not run frames.
        Effect::new(move |_| draw_when_mounted(id, chart.clone(), 0));
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
