//! The overview dashboard: filters, KPI cards and the hourly trend for one tenant, scenario
//! and range, all from server functions.

use crate::analytics::{get_overview, get_scopes, overview::Overview, scopes::Scopes};
use crate::components::page::{scenario_name, LoadError, NoDataYet, ScopeFilters};
use crate::components::{format, kpi::KpiCards, trend_chart::TrendChart};
use crate::i18n::{t, Msg};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// The ranges offered in the filter, in hours.
const RANGES: [(u32, Msg); 5] = [
    (1, Msg::LastHour),
    (6, Msg::Last6Hours),
    (24, Msg::Last24Hours),
    (168, Msg::Last7Days),
    (720, Msg::Last30Days),
];
const DEFAULT_HOURS: u32 = 24;
/// How often the page reloads its numbers by itself, in seconds (0: never).
const REFRESH: [(u64, Msg); 4] = [
    (0, Msg::RefreshOff),
    (30, Msg::Every30s),
    (60, Msg::EveryMinute),
    (300, Msg::Every5Minutes),
];

#[derive(Debug, Clone, PartialEq)]
struct Filters {
    scenario: String,
    hours: u32,
}

/// What the page loads in one go: the caller's tenant and scenarios, and the overview.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct PageData {
    scopes: Scopes,
    overview: Overview,
}

async fn load(filters: Filters) -> Result<PageData, ServerFnError> {
    let scopes = get_scopes().await?;
    let scenario = (!filters.scenario.is_empty()).then(|| filters.scenario.clone());
    let overview = get_overview(scenario, filters.hours, None).await?;
    Ok(PageData { scopes, overview })
}

#[component]
pub fn DashboardPage() -> impl IntoView {
    let query = use_query_map();
    let filters = move || {
        let q = query.read();
        Filters {
            scenario: q.get("scenario").unwrap_or_default(),
            hours: q
                .get("hours")
                .and_then(|h| h.parse().ok())
                .filter(|h| RANGES.iter().any(|(r, _)| r == h))
                .unwrap_or(DEFAULT_HOURS),
        }
    };
    let data = Resource::new(filters, load);
    let refresh = move || {
        query
            .read()
            .get("refresh")
            .and_then(|r| r.parse::<u64>().ok())
            .filter(|r| REFRESH.iter().any(|(s, _)| s == r))
            .unwrap_or(0)
    };
    // In the browser only: reload the numbers every `refresh` seconds. The Transition keeps
    // the current numbers on screen while the new ones load; the interval is cleared when the
    // choice changes or the page is left.
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        let secs = refresh();
        if secs > 0 {
            if let Ok(handle) = set_interval_with_handle(
                move || data.refetch(),
                std::time::Duration::from_secs(secs),
            ) {
                on_cleanup(move || handle.clear());
            }
        }
    });

    view! {
        <Transition fallback=|| view! { <p class="loading">{t(Msg::Loading)}</p> }>
            <ErrorBoundary fallback=|errors| view! { <LoadError what=t(Msg::WhatDashboard) errors /> }>
                {move || Suspend::new(async move {
                    let page = data.await?;
                    let hours = filters().hours;
                    Ok::<_, ServerFnError>(view! {
                        <FilterBar scopes=page.scopes.clone() scenario=filters().scenario hours=hours
                            refresh=refresh() />
                        {if !page.scopes.has_data() {
                            view! { <NoDataYet /> }.into_any()
                        } else {
                            let scenario = scenario_name(&page.scopes.scenarios, page.overview.scenario.as_deref());
                            view! { <OverviewView overview=page.overview scenario /> }.into_any()
                        }}
                    })
                })}
            </ErrorBoundary>
        </Transition>
    }
}

#[component]
fn FilterBar(scopes: Scopes, scenario: String, hours: u32, refresh: u64) -> impl IntoView {
    let range_options = RANGES
        .iter()
        .map(|(h, label)| {
            view! { <option value=h.to_string() selected=*h == hours>{t(*label)}</option> }
        })
        .collect_view();
    let refresh_options = REFRESH
        .iter()
        .map(|(secs, label)| {
            view! { <option value=secs.to_string() selected=*secs == refresh>{t(*label)}</option> }
        })
        .collect_view();
    view! {
        <ScopeFilters scenarios=scopes.scenarios scenario>
            <label>{t(Msg::Range)} " " <select name="hours">{range_options}</select></label>
            <label>{t(Msg::Refresh)} " " <select name="refresh">{refresh_options}</select></label>
        </ScopeFilters>
    }
}

#[component]
fn OverviewView(overview: Overview, scenario: String) -> impl IntoView {
    let range = format!(
        "{} → {}",
        format::datetime(overview.from),
        format::datetime(overview.to)
    );
    let scope = format!("{} · {scenario}", overview.tenant);
    view! {
        <p class="scope">{scope} " · " {range}</p>
        {match overview.kpis {
            None => view! {
                <div class="empty" data-testid="empty-range">
                    <h2>{t(Msg::NoEventsInRangeTitle)}</h2>
                    <p>{t(Msg::NoEventsInRangeBody)}</p>
                </div>
            }.into_any(),
            Some(kpis) => view! {
                <KpiCards kpis previous=overview.previous setup=overview.setup />
                <TrendChart points=overview.trend bucket_secs=overview.bucket_secs />
            }.into_any(),
        }}
    }
}
