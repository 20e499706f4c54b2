//! Insights: the effect metrics per local day, the user funnel, distributions by device and
//! list position, and the experiments, for the caller's tenant. Each section loads on its own
//! (its own resource, `Suspense` and `ErrorBoundary`), so one slow or failing query does not
//! hide the others.

use crate::analytics::distributions::{Dimension, Distribution};
use crate::analytics::experiments::{Experiment, Experiments};
use crate::analytics::funnel::Funnel;
use crate::analytics::top_items::{RankBy, TopItems};
use crate::analytics::trends::{Granularity, Trends};
use crate::analytics::{
    get_distribution, get_experiments, get_funnel, get_scopes, get_top_items, get_trends,
};
use crate::components::chart::{two_axis_lines, ChartCard, LineSeries};
use crate::components::format;
use crate::components::item_name::ItemName;
use crate::components::page::{LoadError, ScopeFilters};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

const RANGES: [(i64, &str); 3] = [
    (7, "Last 7 days"),
    (14, "Last 14 days"),
    (30, "Last 30 days"),
];
const ZONES: [&str; 6] = [
    "UTC",
    "Europe/Berlin",
    "Europe/London",
    "America/New_York",
    "Asia/Shanghai",
    "Asia/Kolkata",
];
const FUNNEL_WINDOW_SECS: u32 = 3600;

#[derive(Debug, Clone, PartialEq)]
struct Filters {
    scenario: Option<String>,
    days: i64,
    tz: String,
    /// The range, ending at the next whole hour (the same on the server and in the browser
    /// within an hour, so hydration reuses the server's data).
    from: i64,
    to: i64,
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

#[component]
pub fn InsightsPage() -> impl IntoView {
    let query = use_query_map();
    let filters = Memo::new(move |_| {
        let q = query.read();
        let days = q
            .get("days")
            .and_then(|d| d.parse().ok())
            .filter(|d| RANGES.iter().any(|(r, _)| r == d))
            .unwrap_or(7);
        let to = (now_secs() / 3600 + 1) * 3600;
        Filters {
            scenario: q.get("scenario").filter(|s| !s.is_empty()),
            days,
            tz: q
                .get("tz")
                .filter(|t| ZONES.contains(&t.as_str()))
                .unwrap_or_else(|| "UTC".into()),
            from: to - days * 86_400,
            to,
        }
    });
    let scopes = Resource::new(|| (), |_| get_scopes());
    let trends = Resource::new(
        move || filters.get(),
        |f| get_trends(f.scenario, f.from, f.to, Granularity::Day, f.tz),
    );
    let funnel = Resource::new(
        move || filters.get(),
        |f| get_funnel(f.scenario, f.from, f.to, FUNNEL_WINDOW_SECS),
    );
    let devices = Resource::new(
        move || filters.get(),
        |f| get_distribution(f.scenario, Dimension::Device, f.from, f.to),
    );
    let positions = Resource::new(
        move || filters.get(),
        |f| get_distribution(f.scenario, Dimension::Position, f.from, f.to),
    );
    let top_items = Resource::new(
        move || filters.get(),
        |f| get_top_items(f.scenario, f.from, f.to, RankBy::Clicks, 10),
    );
    let experiments = Resource::new(
        move || filters.get(),
        |f| get_experiments(f.scenario, None, f.from, f.to),
    );

    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            <ErrorBoundary fallback=|errors| view! { <LoadError what="the filters" errors /> }>
                {move || Suspend::new(async move {
                    let scopes = scopes.await?;
                    let f = filters.get();
                    let range_options = RANGES
                        .iter()
                        .map(|(d, label)| view! {
                            <option value=d.to_string() selected=*d == f.days>{*label}</option>
                        })
                        .collect_view();
                    let zone_options = ZONES
                        .iter()
                        .map(|z| view! { <option value=*z selected=*z == f.tz>{*z}</option> })
                        .collect_view();
                    let scope = scopes.scenario_label(f.scenario.as_deref());
                    Ok::<_, ServerFnError>(view! {
                        <ScopeFilters scenarios=scopes.scenarios
                            scenario=f.scenario.clone().unwrap_or_default()>
                            <label>"Range " <select name="days">{range_options}</select></label>
                            <label>"Time zone " <select name="tz">{zone_options}</select></label>
                        </ScopeFilters>
                        <p class="scope">{scopes.tenant} " · " {scope}</p>
                    })
                })}
            </ErrorBoundary>
        </Suspense>
        <Section title="Effect per day" testid="daily-effect">
            {move || Suspend::new(async move {
                trends.await.map(|t| view! { <DailyEffect trends=t /> })
            })}
        </Section>
        <Section title="Funnel (within an hour of the impression)" testid="funnel">
            {move || Suspend::new(async move { funnel.await.map(|f| view! { <FunnelView funnel=f /> }) })}
        </Section>
        <div class="two-columns">
            <Section title="By device" testid="by-device">
                {move || Suspend::new(async move {
                    devices.await.map(|d| view! { <DistributionTable distribution=d label="Device" /> })
                })}
            </Section>
            <Section title="By list position" testid="by-position">
                {move || Suspend::new(async move {
                    positions.await.map(|d| view! { <DistributionTable distribution=d label="Position" /> })
                })}
            </Section>
        </div>
        <Section title="Top items by clicks" testid="top-items">
            {move || Suspend::new(async move {
                top_items.await.map(|t| view! { <TopItemsTable top=t /> })
            })}
        </Section>
        <Section title="Experiments" testid="experiments">
            {move || Suspend::new(async move {
                experiments.await.map(|e| view! { <ExperimentsView experiments=e /> })
            })}
        </Section>
    }
}

/// A titled section that loads on its own.
#[component]
fn Section(title: &'static str, testid: &'static str, children: ChildrenFn) -> impl IntoView {
    view! {
        <section class="panel" data-testid=testid>
            <h2>{title}</h2>
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                <ErrorBoundary fallback=move |errors| view! { <LoadError what=title errors /> }>
                    {children()}
                </ErrorBoundary>
            </Suspense>
        </section>
    }
}

fn nothing(what: &'static str) -> AnyView {
    view! { <p class="empty-inline">"No " {what} " in this range."</p> }.into_any()
}

#[component]
fn DailyEffect(trends: Trends) -> impl IntoView {
    if trends.buckets.is_empty() {
        return nothing("events");
    }
    let summary = format!(
        "CTR and conversion rate per day ({}), {} days.",
        trends.tz,
        trends.buckets.len()
    );
    let buckets = trends.buckets.clone();
    let rows = trends
        .buckets
        .into_iter()
        .map(|b| {
            view! {
                <tr>
                    <td>{b.label}</td>
                    <td class="num">{format::count(b.impressions)}</td>
                    <td class="num">{format::count(b.clicks)}</td>
                    <td class="num">{format::percent(b.ctr)}</td>
                    <td class="num">{format::count(b.orders)}</td>
                    <td class="num">{format::percent(b.conversion_rate)}</td>
                    <td class="num">{format::count(b.active_users)}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <ChartCard id="daily-effect-chart" caption="CTR and conversion rate" summary
            draw=move || {
                // Percentages in hundredths of a percent, so the axes stay integers.
                let per = |r: Option<f64>| r.map(|r| (r * 10_000.0).round() as i64).unwrap_or(0);
                two_axis_lines(
                    buckets.iter().map(|b| b.label.clone()).collect(),
                    ("CTR (0.01%)", "Conversion (0.01%)"),
                    false,
                    vec![
                        LineSeries { name: "CTR", axis: 0, data: buckets.iter().map(|b| per(b.ctr)).collect() },
                        LineSeries { name: "Conversion rate", axis: 1, data: buckets.iter().map(|b| per(b.conversion_rate)).collect() },
                    ],
                )
            } />
        <table class="data">
            <thead><tr><th>"Day"</th><th>"Impressions"</th><th>"Clicks"</th><th>"CTR"</th>
                <th>"Orders"</th><th>"Conversion"</th><th>"Users"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}

#[component]
fn FunnelView(funnel: Funnel) -> impl IntoView {
    if funnel.steps.is_empty() {
        return nothing("impressions");
    }
    let first = funnel.steps[0].users.max(1) as f64;
    funnel
        .steps
        .into_iter()
        .map(|step| {
            let width = format!("width: {:.1}%", step.users as f64 / first * 100.0);
            view! {
                <div class="funnel-step">
                    <span class="funnel-name">{step.action}</span>
                    <span class="funnel-bar"><span class="bar" style=width></span></span>
                    <span class="num">{format::count(step.users)}</span>
                    <span class="num muted" title="from the step before">
                        {format::percent(step.from_previous)}</span>
                </div>
            }
        })
        .collect_view()
        .into_any()
}

#[component]
fn DistributionTable(distribution: Distribution, label: &'static str) -> impl IntoView {
    if distribution.rows.is_empty() {
        return nothing("events");
    }
    let rows = distribution
        .rows
        .into_iter()
        .map(|r| {
            let value = if r.value.is_empty() {
                "(unknown)".to_string()
            } else {
                r.value
            };
            view! {
                <tr>
                    <td>{value}</td>
                    <td class="num">{format::count(r.impressions)}</td>
                    <td class="num">{format::percent(r.ctr)}</td>
                    <td class="num">{format::percent(r.conversion_rate)}</td>
                    <td class="num">{format::count(r.users)}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="data">
            <thead><tr><th>{label}</th><th>"Impressions"</th><th>"CTR"</th>
                <th>"Conversion"</th><th>"Users"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}

#[component]
fn TopItemsTable(top: TopItems) -> impl IntoView {
    if top.items.is_empty() {
        return nothing("items");
    }
    let rows = top
        .items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            view! {
                <tr>
                    <td class="num muted">{i + 1}</td>
                    <td><ItemName id=item.item_id name=item.name url=item.url /></td>
                    <td>{item.category.unwrap_or_default()}</td>
                    <td class="num">{format::count(item.impressions)}</td>
                    <td class="num">{format::count(item.clicks)}</td>
                    <td class="num">{format::percent(item.ctr)}</td>
                    <td class="num">{format::count(item.orders)}</td>
                </tr>
            }
        })
        .collect_view();
    let notice = top.catalog_unavailable.then(|| {
        view! { <p class="muted">"The item catalog is unavailable: items show by id."</p> }
    });
    view! {
        {notice}
        <table class="data">
            <thead><tr><th>"#"</th><th>"Item"</th><th>"Category"</th><th>"Impressions"</th>
                <th>"Clicks"</th><th>"CTR"</th><th>"Orders"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}

#[component]
fn ExperimentsView(experiments: Experiments) -> impl IntoView {
    if experiments.experiments.is_empty() {
        return nothing("experiments");
    }
    experiments
        .experiments
        .into_iter()
        .map(|e| view! { <ExperimentTable experiment=e /> })
        .collect_view()
        .into_any()
}

#[component]
fn ExperimentTable(experiment: Experiment) -> impl IntoView {
    let interval = |i: Option<crate::analytics::stats::Interval>| {
        i.map(|i| {
            format!(
                "{} – {}",
                format::percent(Some(i.low)),
                format::percent(Some(i.high))
            )
        })
        .unwrap_or_else(|| "—".into())
    };
    let rows = experiment
        .groups
        .into_iter()
        .map(|g| {
            let versus = match (&g.ctr_vs_control, g.is_control) {
                (_, true) => "control".to_string(),
                (Some(c), _) => format!(
                    "{}{:.2} pts, p = {:.4}{}",
                    if c.difference >= 0.0 { "+" } else { "" },
                    c.difference * 100.0,
                    c.p_value,
                    if c.significant {
                        " ✔ significant"
                    } else {
                        ""
                    }
                ),
                (None, _) => "not testable".to_string(),
            };
            view! {
                <tr>
                    <td>{g.group}</td>
                    <td class="num">{format::count(g.impressions)}</td>
                    <td class="num">{format::percent(g.ctr)}</td>
                    <td class="num muted">{interval(g.ctr_interval)}</td>
                    <td>{versus}</td>
                    <td class="num">{format::percent(g.conversion_rate)}</td>
                    <td class="num">{format::count(g.users)}</td>
                </tr>
            }
        })
        .collect_view();
    let warnings = experiment
        .warnings
        .into_iter()
        .map(|w| view! { <li>{w}</li> })
        .collect_view();
    view! {
        <h3>{experiment.experiment_id}</h3>
        <table class="data">
            <thead><tr><th>"Group"</th><th>"Impressions"</th><th>"CTR"</th><th>"95% interval"</th>
                <th>"CTR vs control"</th><th>"Conversion"</th><th>"Users"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
        <ul class="warnings">{warnings}</ul>
    }
}
