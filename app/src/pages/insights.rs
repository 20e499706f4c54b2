//! Insights: the effect metrics per local day, the user funnel, distributions by device and
//! list position, and the experiments, for the caller's tenant. Each section loads on its own
//! (its own resource, `Suspense` and `ErrorBoundary`), so one slow or failing query does not
//! hide the others.

use crate::analytics::distributions::{Dimension, Distribution};
use crate::analytics::experiments::{Caveat, Experiment, Experiments};
use crate::analytics::funnel::Funnel;
use crate::analytics::top_items::{RankBy, TopItems};
use crate::analytics::trends::{Granularity, TrendBucket, Trends};
use crate::analytics::{
    get_distribution, get_experiments, get_funnel, get_scopes, get_top_items, get_trends,
};
use crate::components::chart::{
    funnel, ranked_bars, two_axis_chart, ChartCard, LineSeries, ValueAxis,
};
use crate::components::csv::{self, CsvDownload, CsvTable};
use crate::components::format;
use crate::components::item_name::ItemName;
use crate::components::page::{scenario_name, LoadError, ScopeFilters, ScrollTable};
use crate::i18n::{fill, t, use_locale, Locale, Msg};
use charming::Chart;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::analytics::day_range;

const RANGES: [(i64, Msg); 3] = [
    (7, Msg::Last7Days),
    (14, Msg::Last14Days),
    (30, Msg::Last30Days),
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

/// The days a page covers.
#[derive(Debug, Clone, PartialEq)]
enum Span {
    /// The last `n` days, ending at the next whole hour (the same on the server and in the
    /// browser within an hour, so hydration reuses the server's data).
    LastDays(i64),
    /// Whole local days in the page's time zone, both included (`YYYY-MM-DD`).
    Dates { first: String, last: String },
}

#[derive(Debug, Clone, PartialEq)]
struct Filters {
    scenario: Option<String>,
    span: Span,
    tz: String,
}

impl Filters {
    /// The span as `[from, to)` epoch seconds; dates are turned into instants by the server,
    /// which knows the time zones' rules (the browser bundle carries no zone database).
    async fn range(&self) -> Result<(i64, i64), ServerFnError> {
        match &self.span {
            Span::LastDays(days) => {
                let to = (now_secs() / 3600 + 1) * 3600;
                Ok((to - days * 86_400, to))
            }
            Span::Dates { first, last } => {
                day_range(first.clone(), last.clone(), self.tz.clone()).await
            }
        }
    }
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Loads one view for the filters' range.
async fn for_range<T, F>(
    f: Filters,
    load: impl FnOnce(Filters, i64, i64) -> F,
) -> Result<T, ServerFnError>
where
    F: std::future::Future<Output = Result<T, ServerFnError>>,
{
    let (from, to) = f.range().await?;
    load(f, from, to).await
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
        let date = |name| q.get(name).filter(|d| !d.trim().is_empty());
        let span = match (date("from"), date("to")) {
            (Some(first), Some(last)) => Span::Dates { first, last },
            _ => Span::LastDays(days),
        };
        Filters {
            scenario: q.get("scenario").filter(|s| !s.is_empty()),
            span,
            tz: q
                .get("tz")
                .filter(|t| ZONES.contains(&t.as_str()))
                .unwrap_or_else(|| "UTC".into()),
        }
    });
    let scopes = Resource::new(|| (), |_| get_scopes());
    let trends = Resource::new(
        move || filters.get(),
        |f| {
            for_range(f, |f, from, to| {
                get_trends(f.scenario, from, to, Granularity::Day, f.tz)
            })
        },
    );
    let funnel = Resource::new(
        move || filters.get(),
        |f| {
            for_range(f, |f, from, to| {
                get_funnel(f.scenario, from, to, FUNNEL_WINDOW_SECS)
            })
        },
    );
    let devices = Resource::new(
        move || filters.get(),
        |f| {
            for_range(f, |f, from, to| {
                get_distribution(f.scenario, Dimension::Device, from, to)
            })
        },
    );
    let positions = Resource::new(
        move || filters.get(),
        |f| {
            for_range(f, |f, from, to| {
                get_distribution(f.scenario, Dimension::Position, from, to)
            })
        },
    );
    let top_items = Resource::new(
        move || filters.get(),
        |f| {
            for_range(f, |f, from, to| {
                get_top_items(f.scenario, from, to, RankBy::Clicks, 10)
            })
        },
    );
    let experiments = Resource::new(
        move || filters.get(),
        |f| for_range(f, |f, from, to| get_experiments(f.scenario, None, from, to)),
    );

    view! {
        <Suspense fallback=|| view! { <p class="loading">{t(Msg::Loading)}</p> }>
            <ErrorBoundary fallback=|errors| view! { <LoadError what=t(Msg::WhatFilters) errors /> }>
                {move || Suspend::new(async move {
                    let scopes = scopes.await?;
                    let f = filters.get();
                    let (days, first, last) = match &f.span {
                        Span::LastDays(days) => (*days, String::new(), String::new()),
                        Span::Dates { first, last } => (0, first.clone(), last.clone()),
                    };
                    let range_options = RANGES
                        .iter()
                        .map(|(d, label)| view! {
                            <option value=d.to_string() selected=*d == days>{t(*label)}</option>
                        })
                        .collect_view();
                    let shown = match &f.span {
                        Span::LastDays(_) => String::new(),
                        Span::Dates { first, last } => format!(" · {first} → {last} ({})", f.tz),
                    };
                    let zone_options = ZONES
                        .iter()
                        .map(|z| view! { <option value=*z selected=*z == f.tz>{*z}</option> })
                        .collect_view();
                    let scope = scenario_name(&scopes.scenarios, f.scenario.as_deref());
                    Ok::<_, ServerFnError>(view! {
                        <ScopeFilters scenarios=scopes.scenarios
                            scenario=f.scenario.clone().unwrap_or_default()>
                            <label>{t(Msg::Range)} " " <select name="days">{range_options}</select></label>
                            <span class="dates">
                                <label>{t(Msg::OrFrom)} " " <input type="date" name="from" value=first /></label>
                                <label>" " {t(Msg::To)} " " <input type="date" name="to" value=last /></label>
                            </span>
                            <label>{t(Msg::TimeZone)} " " <select name="tz">{zone_options}</select></label>
                        </ScopeFilters>
                        <p class="scope">{scopes.tenant} " · " {scope} {shown}</p>
                    })
                })}
            </ErrorBoundary>
        </Suspense>
        <Section title=t(Msg::EffectPerDay) testid="daily-effect">
            {move || Suspend::new(async move {
                trends.await.map(|t| view! { <DailyEffect trends=t /> })
            })}
        </Section>
        <Section title=t(Msg::FunnelTitle) testid="funnel">
            {move || Suspend::new(async move { funnel.await.map(|f| view! { <FunnelView funnel=f /> }) })}
        </Section>
        <div class="two-columns">
            <Section title=t(Msg::ByDevice) testid="by-device">
                {move || Suspend::new(async move {
                    devices.await.map(|d| view! { <DistributionView distribution=d label=t(Msg::Device) chart_id="device-chart" /> })
                })}
            </Section>
            <Section title=t(Msg::ByPosition) testid="by-position">
                {move || Suspend::new(async move {
                    positions.await.map(|d| view! { <DistributionView distribution=d label=t(Msg::Position) chart_id="position-chart" /> })
                })}
            </Section>
        </div>
        <Section title=t(Msg::TopItemsByClicks) testid="top-items">
            {move || Suspend::new(async move {
                top_items.await.map(|t| view! { <TopItemsTable top=t /> })
            })}
        </Section>
        <Section title=t(Msg::Experiments) testid="experiments">
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
            <Suspense fallback=|| view! { <p class="loading">{t(Msg::Loading)}</p> }>
                <ErrorBoundary fallback=move |errors| view! { <LoadError what=title errors /> }>
                    {children()}
                </ErrorBoundary>
            </Suspense>
        </section>
    }
}

fn nothing(what: Msg) -> AnyView {
    view! { <p class="empty-inline">{fill(Msg::NothingIn, &[&t(what)])}</p> }.into_any()
}

#[component]
fn DailyEffect(trends: Trends) -> impl IntoView {
    if trends.buckets.is_empty() {
        return nothing(Msg::WhatEvents);
    }
    let summary = fill(Msg::DailySummary, &[&trends.tz, &trends.buckets.len()]);
    let locale = use_locale();
    let buckets = trends.buckets.clone();
    let mut export = CsvTable::new(vec![
        "day",
        "impressions",
        "clicks",
        "ctr_percent",
        "orders",
        "conversion_percent",
        "users",
    ]);
    for b in &trends.buckets {
        export.push(vec![
            b.label.clone(),
            csv::count(b.impressions),
            csv::count(b.clicks),
            csv::percent(b.ctr),
            csv::count(b.orders),
            csv::percent(b.conversion_rate),
            csv::count(b.active_users),
        ]);
    }
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
        <ChartCard id="daily-effect-chart" caption=t(Msg::CtrAndConversion) summary
            draw=move || daily_effect_chart(locale, &buckets) />
        <ScrollTable label=t(Msg::EffectPerDay).to_string()>
            <table class="data">
                <thead><tr><th>{t(Msg::Day)}</th><th>{t(Msg::Impressions)}</th><th>{t(Msg::Clicks)}</th>
                    <th>{t(Msg::Ctr)}</th><th>{t(Msg::Orders)}</th><th>{t(Msg::Conversion)}</th>
                    <th>{t(Msg::Users)}</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </ScrollTable>
        <CsvDownload table=export filename="effect-per-day.csv".to_string() />
    }
    .into_any()
}

/// CTR and conversion rate per day, as percentages on percentage axes. A day without
/// impressions has no CTR (and one without clicks no conversion rate): a gap, not a 0 %.
fn daily_effect_chart(locale: Locale, buckets: &[TrendBucket]) -> Chart {
    let ctr = Msg::Ctr.text(locale);
    two_axis_chart(
        buckets.iter().map(|b| b.label.clone()).collect(),
        (
            ValueAxis::percent(ctr),
            ValueAxis::percent(Msg::Conversion.text(locale)),
        ),
        false,
        vec![
            LineSeries::percentages(ctr, 0, buckets.iter().map(|b| b.ctr)),
            LineSeries::percentages(
                Msg::ConversionRate.text(locale),
                1,
                buckets.iter().map(|b| b.conversion_rate),
            ),
        ],
    )
}

#[component]
fn FunnelView(funnel: Funnel) -> impl IntoView {
    if funnel.steps.is_empty() {
        return nothing(Msg::WhatImpressions);
    }
    let first = &funnel.steps[0];
    let summary = fill(
        Msg::FunnelSummary,
        &[
            &(funnel.window_secs / 60),
            &format::count(first.users),
            &format::count(funnel.steps.last().map_or(0, |s| s.users)),
        ],
    );
    let locale = use_locale();
    // A sampled funnel says so, with its error, above its numbers.
    let sampled = funnel.sample.as_ref().map(|sample| {
        let note = fill(
            Msg::FunnelSampled,
            &[
                &format::percent(Some(sample.fraction)),
                &format::count(sample.users),
                &format::percent(Some(sample.users_margin)),
            ],
        );
        view! { <p class="muted funnel-sample">{note}</p> }
    });
    let estimated = if funnel.sample.is_some() { "≈ " } else { "" };
    let steps: Vec<(String, u64)> = funnel
        .steps
        .iter()
        .map(|s| (step_name(locale, &s.action), s.users))
        .collect();
    let mut export = CsvTable::new(vec![
        "step",
        "users",
        "from_previous_percent",
        "from_first_percent",
        "from_first_low_percent",
        "from_first_high_percent",
        "sampled_users_percent",
    ]);
    for step in &funnel.steps {
        export.push(vec![
            step.action.clone(),
            csv::count(step.users),
            csv::percent(step.from_previous),
            csv::percent(step.from_first),
            csv::percent(step.from_first_interval.map(|i| i.low)),
            csv::percent(step.from_first_interval.map(|i| i.high)),
            csv::percent(Some(funnel.sample.as_ref().map_or(1.0, |s| s.fraction))),
        ]);
    }
    let rows = funnel
        .steps
        .into_iter()
        .map(|step| {
            view! {
                <tr class="funnel-step">
                    <td>{step_name(locale, &step.action)}</td>
                    <td class="num">{estimated}{format::count(step.users)}</td>
                    <td class="num">{format::percent(step.from_previous)}</td>
                    <td class="num">{format::percent(step.from_first)}
                        {step.from_first_interval.map(|i| view! {
                            <span class="muted">" ("{format::percent(Some(i.low))}" – "
                                {format::percent(Some(i.high))}")"</span>
                        })}
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        {sampled}
        <ChartCard id="funnel-chart" caption=t(Msg::UsersPerStep) summary
            draw=move || funnel_chart(locale, steps) />
        <ScrollTable label=t(Msg::Funnel).to_string()>
            <table class="data">
                <thead><tr><th>{t(Msg::Step)}</th><th>{t(Msg::Users)}</th>
                    <th>{t(Msg::FromStepBefore)}</th><th>{t(Msg::FromImpressions)}</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </ScrollTable>
        <CsvDownload table=export filename="funnel.csv".to_string() />
    }
    .into_any()
}

fn funnel_chart(locale: Locale, steps: Vec<(String, u64)>) -> Chart {
    funnel(Msg::Users.text(locale), steps)
}

/// A funnel step (an action type) as the page's language names it.
fn step_name(locale: Locale, action: &str) -> String {
    let msg = match action {
        "impression" => Msg::StepImpression,
        "click" => Msg::StepClick,
        "view" => Msg::StepView,
        "add_cart" => Msg::StepAddCart,
        "order" => Msg::StepOrder,
        other => return other.to_string(),
    };
    msg.text(locale).to_string()
}

/// Impressions per value as bars, CTR as a line of percentages (a gap where a value had no
/// impressions).
fn distribution_chart(locale: Locale, distribution: &Distribution) -> Chart {
    let (impressions, ctr) = (Msg::Impressions.text(locale), Msg::Ctr.text(locale));
    two_axis_chart(
        distribution
            .rows
            .iter()
            .map(|r| value_label(locale, &r.value))
            .collect(),
        (ValueAxis::counts(impressions), ValueAxis::percent(ctr)),
        false,
        vec![
            LineSeries::counts(
                impressions,
                0,
                distribution.rows.iter().map(|r| r.impressions),
            )
            .as_bars(),
            LineSeries::percentages(ctr, 1, distribution.rows.iter().map(|r| r.ctr)),
        ],
    )
}

fn value_label(locale: Locale, value: &str) -> String {
    if value.is_empty() {
        Msg::Unknown.text(locale).to_string()
    } else {
        value.to_string()
    }
}

#[component]
fn DistributionView(
    distribution: Distribution,
    label: &'static str,
    chart_id: &'static str,
) -> impl IntoView {
    if distribution.rows.is_empty() {
        return nothing(Msg::WhatEvents);
    }
    let summary = fill(
        Msg::DistributionSummary,
        &[&label.to_lowercase(), &distribution.rows.len()],
    );
    let locale = use_locale();
    let chart = distribution_chart(locale, &distribution);
    let mut export = CsvTable::new(vec![
        "value",
        "impressions",
        "ctr_percent",
        "conversion_percent",
        "users",
    ]);
    for r in &distribution.rows {
        export.push(vec![
            csv::text(&value_label(locale, &r.value)),
            csv::count(r.impressions),
            csv::percent(r.ctr),
            csv::percent(r.conversion_rate),
            csv::count(r.users),
        ]);
    }
    // From the chart's id, not the label: file names stay the same in every language.
    let filename = format!("by-{}.csv", chart_id.trim_end_matches("-chart"));
    let rows = distribution
        .rows
        .into_iter()
        .map(|r| {
            view! {
                <tr>
                    <td>{value_label(locale, &r.value)}</td>
                    <td class="num">{format::count(r.impressions)}</td>
                    <td class="num">{format::percent(r.ctr)}</td>
                    <td class="num">{format::percent(r.conversion_rate)}</td>
                    <td class="num">{format::count(r.users)}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <ChartCard id=chart_id caption=label summary draw=move || chart />
        <ScrollTable label=label.to_string()>
            <table class="data">
                <thead><tr><th>{label}</th><th>{t(Msg::Impressions)}</th><th>{t(Msg::Ctr)}</th>
                    <th>{t(Msg::Conversion)}</th><th>{t(Msg::Users)}</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </ScrollTable>
        <CsvDownload table=export filename />
    }
    .into_any()
}

#[component]
fn TopItemsTable(top: TopItems) -> impl IntoView {
    if top.items.is_empty() {
        return nothing(Msg::WhatItems);
    }
    let summary = fill(Msg::TopItemsSummary, &[&top.items.len()]);
    let chart = top_items_chart(use_locale(), &top);
    let mut export = CsvTable::new(vec![
        "rank",
        "item_id",
        "name",
        "category",
        "impressions",
        "clicks",
        "ctr_percent",
        "orders",
    ]);
    for (i, item) in top.items.iter().enumerate() {
        export.push(vec![
            csv::count(i as u64 + 1),
            csv::text(&item.item_id),
            csv::text(item.name.as_deref().unwrap_or_default()),
            csv::text(item.category.as_deref().unwrap_or_default()),
            csv::count(item.impressions),
            csv::count(item.clicks),
            csv::percent(item.ctr),
            csv::count(item.orders),
        ]);
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
        view! { <p class="muted">{t(Msg::CatalogUnavailable)}</p> }
    });
    view! {
        {notice}
        <ChartCard id="top-items-chart" caption=t(Msg::ClicksPerItem) summary draw=move || chart />
        <ScrollTable label=t(Msg::TopItemsByClicks).to_string()>
            <table class="data">
                <thead><tr><th>"#"</th><th>{t(Msg::Item)}</th><th>{t(Msg::Category)}</th>
                    <th>{t(Msg::Impressions)}</th><th>{t(Msg::Clicks)}</th><th>{t(Msg::Ctr)}</th>
                    <th>{t(Msg::Orders)}</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </ScrollTable>
        <CsvDownload table=export filename="top-items.csv".to_string() />
    }
    .into_any()
}

/// Clicks per item, best at the top, named from the catalog where it has the item.
fn top_items_chart(locale: Locale, top: &TopItems) -> Chart {
    ranked_bars(
        top.items
            .iter()
            .map(|item| {
                let name = item.name.as_deref().unwrap_or(&item.item_id);
                // Long names would squeeze the bars: the table has them whole.
                match name.char_indices().nth(28) {
                    Some((cut, _)) => format!("{}…", &name[..cut]),
                    None => name.to_string(),
                }
            })
            .collect(),
        Msg::Clicks.text(locale),
        top.items.iter().map(|item| item.clicks).collect(),
    )
}

/// Why an experiment's numbers may not be trusted yet, in the page's language.
fn caveat(caveat: &Caveat) -> String {
    use crate::analytics::stats::{MIN_OUTCOMES, MIN_TRIALS};
    match caveat {
        Caveat::OneGroup => t(Msg::CaveatOneGroup).to_string(),
        Caveat::NoControlGroup { compared_with } => {
            fill(Msg::CaveatNoControl, &[&format!("{compared_with:?}")])
        }
        Caveat::FewForCtr { group } => fill(
            Msg::CaveatFewForCtr,
            &[&format!("{group:?}"), &MIN_TRIALS, &MIN_OUTCOMES],
        ),
        Caveat::OrdersExceedClicks { group } => {
            fill(Msg::CaveatOrdersExceedClicks, &[&format!("{group:?}")])
        }
        Caveat::FewForConversion { group } => {
            fill(Msg::CaveatFewForConversion, &[&format!("{group:?}")])
        }
    }
}

#[component]
fn ExperimentsView(experiments: Experiments) -> impl IntoView {
    if experiments.experiments.is_empty() {
        return nothing(Msg::WhatExperiments);
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
    let mut export = CsvTable::new(vec![
        "group",
        "impressions",
        "ctr_percent",
        "ctr_low_percent",
        "ctr_high_percent",
        "ctr_difference_points",
        "p_value",
        "significant",
        "conversion_percent",
        "users",
    ]);
    for g in &experiment.groups {
        let comparison = g.ctr_vs_control.as_ref().filter(|_| !g.is_control);
        export.push(vec![
            csv::text(&g.group),
            csv::count(g.impressions),
            csv::percent(g.ctr),
            csv::percent(g.ctr_interval.as_ref().map(|i| i.low)),
            csv::percent(g.ctr_interval.as_ref().map(|i| i.high)),
            csv::percent(comparison.map(|c| c.difference)),
            comparison.map_or_else(String::new, |c| format!("{:.4}", c.p_value)),
            comparison.map_or_else(String::new, |c| c.significant.to_string()),
            csv::percent(g.conversion_rate),
            csv::count(g.users),
        ]);
    }
    let filename = format!("experiment-{}.csv", experiment.experiment_id);
    let rows = experiment
        .groups
        .into_iter()
        .map(|g| {
            let versus = match (&g.ctr_vs_control, g.is_control) {
                (_, true) => t(Msg::Control).to_string(),
                (Some(c), _) => format!(
                    "{}{}",
                    fill(
                        Msg::Points,
                        &[
                            &format!(
                                "{}{:.2}",
                                if c.difference >= 0.0 { "+" } else { "" },
                                c.difference * 100.0
                            ),
                            &format!("{:.4}", c.p_value),
                        ],
                    ),
                    if c.significant {
                        t(Msg::Significant)
                    } else {
                        ""
                    }
                ),
                (None, _) => t(Msg::NotTestable).to_string(),
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
        .caveats
        .iter()
        .map(|c| view! { <li>{caveat(c)}</li> })
        .collect_view();
    let table_label = fill(Msg::ExperimentTable, &[&experiment.experiment_id]);
    view! {
        <h3>{experiment.experiment_id}</h3>
        <ScrollTable label=table_label>
            <table class="data">
                <thead><tr><th>{t(Msg::Group)}</th><th>{t(Msg::Impressions)}</th>
                    <th>{t(Msg::Ctr)}</th><th>{t(Msg::Interval95)}</th><th>{t(Msg::CtrVsControl)}</th>
                    <th>{t(Msg::Conversion)}</th><th>{t(Msg::Users)}</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </ScrollTable>
        <CsvDownload table=export filename />
        <ul class="warnings">{warnings}</ul>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(label: &str, impressions: u64, clicks: u64, orders: u64) -> TrendBucket {
        let ratio = |part: u64, whole: u64| (whole > 0).then(|| part as f64 / whole as f64);
        TrendBucket {
            start: 0,
            label: label.into(),
            events: impressions + clicks + orders,
            impressions,
            clicks,
            views: 0,
            add_carts: 0,
            orders,
            active_users: 1,
            ctr: ratio(clicks, impressions),
            conversion_rate: ratio(orders, clicks),
        }
    }

    #[test]
    fn a_distribution_is_bars_of_impressions_and_a_ctr_line_with_gaps() {
        use crate::analytics::distributions::DistributionRow;
        let row = |value: &str, impressions: u64, ctr: Option<f64>| DistributionRow {
            value: value.into(),
            impressions,
            ctr,
            ..Default::default()
        };
        let distribution = Distribution {
            tenant: "t".into(),
            scenario: None,
            dimension: Dimension::Device,
            from: 0,
            to: 1,
            rows: vec![row("mobile", 300, Some(0.05)), row("", 0, None)],
        };
        let json = serde_json::to_value(distribution_chart(Locale::En, &distribution)).unwrap();
        assert_eq!(
            json["xAxis"]["data"],
            serde_json::json!(["mobile", "(unknown)"])
        );
        let series = json["series"].as_array().unwrap();
        assert_eq!(series[0]["type"], "bar");
        assert_eq!(series[0]["data"], serde_json::json!([300, 0]));
        assert_eq!(series[1]["type"], "line");
        assert_eq!(series[1]["data"], serde_json::json!([5.0, null]));
        assert_eq!(json["yAxis"][1]["axisLabel"]["formatter"], "{value} %");
    }

    #[test]
    fn top_items_rank_from_the_top_by_name_or_id() {
        use crate::analytics::top_items::TopItem;
        let item = |id: &str, name: Option<&str>, clicks: u64| TopItem {
            item_id: id.into(),
            name: name.map(Into::into),
            clicks,
            ..Default::default()
        };
        let top = TopItems {
            tenant: "t".into(),
            scenario: None,
            rank_by: RankBy::Clicks,
            from: 0,
            to: 1,
            items: vec![
                item("i1", Some("A rather long product name for a lamp"), 9),
                item("i2", None, 4),
            ],
            catalog_unavailable: false,
        };
        let json = serde_json::to_value(top_items_chart(Locale::En, &top)).unwrap();
        assert_eq!(json["yAxis"]["inverse"], true);
        assert_eq!(
            json["yAxis"]["data"],
            serde_json::json!(["A rather long product name f…", "i2"])
        );
        assert_eq!(json["series"][0]["data"], serde_json::json!([9, 4]));
    }

    #[test]
    fn the_funnel_scales_to_its_first_step() {
        let json = serde_json::to_value(funnel_chart(
            Locale::En,
            vec![("impression".into(), 400), ("click".into(), 40)],
        ))
        .unwrap();
        let series = &json["series"][0];
        assert_eq!(series["type"], "funnel");
        assert_eq!(series["max"], 400.0);
        assert_eq!(series["data"][1]["name"], "click");
        assert_eq!(series["data"][1]["value"], 40);
    }

    #[test]
    fn rates_are_percentages_and_undefined_days_are_gaps() {
        let days = [
            day("2026-11-29", 2000, 57, 3),
            day("2026-11-30", 0, 0, 0),
            day("2026-12-01", 400, 0, 0),
        ];
        let json = serde_json::to_value(daily_effect_chart(Locale::En, &days)).unwrap();
        for axis in json["yAxis"].as_array().unwrap() {
            assert_eq!(axis["axisLabel"]["formatter"], "{value} %", "{json}");
        }
        let series = json["series"].as_array().unwrap();
        // 57 / 2000 = 2.85 %; no impressions: no CTR; impressions without clicks: 0 %.
        assert_eq!(series[0]["data"], serde_json::json!([2.85, null, 0.0]));
        // 3 / 57 = 5.26 %; no clicks on either later day: no conversion rate.
        assert_eq!(series[1]["data"], serde_json::json!([5.26, null, null]));
    }
}
