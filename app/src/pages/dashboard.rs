//! The overview dashboard: filters, KPI cards and the hourly trend for one tenant, scenario
//! and range, all from server functions.

use crate::analytics::{get_overview, get_scopes, overview::Overview, scopes::Scopes};
use crate::components::page::{LoadError, NoDataYet, ScopeFilters};
use crate::components::{format, kpi::KpiCards, trend_chart::TrendChart};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// The ranges offered in the filter, in hours.
const RANGES: [(u32, &str); 5] = [
    (1, "Last hour"),
    (6, "Last 6 hours"),
    (24, "Last 24 hours"),
    (168, "Last 7 days"),
    (720, "Last 30 days"),
];
const DEFAULT_HOURS: u32 = 24;
/// How often the page reloads its numbers by itself, in seconds (0: never).
const REFRESH: [(u64, &str); 4] = [
    (0, "Off"),
    (30, "Every 30 s"),
    (60, "Every minute"),
    (300, "Every 5 minutes"),
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
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            <ErrorBoundary fallback=|errors| view! { <LoadError what="the dashboard" errors /> }>
                {move || Suspend::new(async move {
                    let page = data.await?;
                    let hours = filters().hours;
                    Ok::<_, ServerFnError>(view! {
                        <FilterBar scopes=page.scopes.clone() scenario=filters().scenario hours=hours
                            refresh=refresh() />
                        {if !page.scopes.has_data() {
                            view! { <NoDataYet /> }.into_any()
                        } else {
                            let scenario = page.scopes.scenario_label(page.overview.scenario.as_deref());
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
            view! { <option value=h.to_string() selected=*h == hours>{*label}</option> }
        })
        .collect_view();
    let refresh_options = REFRESH
        .iter()
        .map(|(secs, label)| {
            view! { <option value=secs.to_string() selected=*secs == refresh>{*label}</option> }
        })
        .collect_view();
    view! {
        <ScopeFilters scenarios=scopes.scenarios scenario>
            <label>"Range " <select name="hours">{range_options}</select></label>
            <label>"Refresh " <select name="refresh">{refresh_options}</select></label>
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
                    <h2>"No events in this range"</h2>
                    <p>"Nothing was recorded for this tenant and scenario between these times. \
                        Pick a longer range or another scenario."</p>
                </div>
            }.into_any(),
            Some(kpis) => view! {
                <KpiCards kpis previous=overview.previous setup=overview.setup />
                <TrendChart points=overview.trend bucket_secs=overview.bucket_secs />
            }.into_any(),
        }}
    }
}
