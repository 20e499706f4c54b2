//! The overview dashboard: filters, KPI cards and the hourly trend for one tenant, scenario
//! and range, all from server functions.

use crate::analytics::{
    catalog::{get_scopes, Scopes},
    overview::{get_overview, Overview},
};
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

#[derive(Debug, Clone, PartialEq)]
struct Filters {
    tenant: String,
    scenario: String,
    hours: u32,
}

/// What the page loads in one go: the filter choices and, once a tenant is known, its data.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct PageData {
    scopes: Scopes,
    tenant: Option<String>,
    overview: Option<Overview>,
}

async fn load(filters: Filters) -> Result<PageData, ServerFnError> {
    let mut scopes = get_scopes(filters.tenant.clone()).await?;
    // No tenant chosen yet: show the first tenant that has data.
    let tenant = if filters.tenant.is_empty() {
        scopes.tenants.first().cloned()
    } else {
        Some(filters.tenant.clone())
    };
    let Some(tenant) = tenant else {
        return Ok(PageData {
            scopes,
            tenant: None,
            overview: None,
        });
    };
    if filters.tenant.is_empty() {
        scopes = get_scopes(tenant.clone()).await?;
    }
    let scenario = (!filters.scenario.is_empty()).then(|| filters.scenario.clone());
    let overview = get_overview(tenant.clone(), scenario, filters.hours, None).await?;
    Ok(PageData {
        scopes,
        tenant: Some(tenant),
        overview: Some(overview),
    })
}

#[component]
pub fn DashboardPage() -> impl IntoView {
    let query = use_query_map();
    let filters = move || {
        let q = query.read();
        Filters {
            tenant: q.get("tenant").unwrap_or_default(),
            scenario: q.get("scenario").unwrap_or_default(),
            hours: q
                .get("hours")
                .and_then(|h| h.parse().ok())
                .filter(|h| RANGES.iter().any(|(r, _)| r == h))
                .unwrap_or(DEFAULT_HOURS),
        }
    };
    let data = Resource::new(filters, load);

    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            <ErrorBoundary fallback=|errors| view! { <LoadError what="the dashboard" errors /> }>
                {move || Suspend::new(async move {
                    let page = data.await?;
                    let hours = filters().hours;
                    Ok::<_, ServerFnError>(view! {
                        <FilterBar
                            scopes=page.scopes.clone()
                            tenant=page.tenant.clone().unwrap_or_default()
                            scenario=filters().scenario
                            hours=hours
                        />
                        {match page.overview {
                            None => view! { <NoDataYet /> }.into_any(),
                            Some(overview) => view! { <OverviewView overview /> }.into_any(),
                        }}
                    })
                })}
            </ErrorBoundary>
        </Transition>
    }
}

#[component]
fn FilterBar(scopes: Scopes, tenant: String, scenario: String, hours: u32) -> impl IntoView {
    let range_options = RANGES
        .iter()
        .map(|(h, label)| {
            view! { <option value=h.to_string() selected=*h == hours>{*label}</option> }
        })
        .collect_view();
    view! {
        <ScopeFilters tenants=scopes.tenants tenant scenarios=scopes.scenarios scenario>
            <label>"Range " <select name="hours">{range_options}</select></label>
        </ScopeFilters>
    }
}

#[component]
fn OverviewView(overview: Overview) -> impl IntoView {
    let range = format!(
        "{} → {}",
        format::datetime(overview.from),
        format::datetime(overview.to)
    );
    let scope = format!(
        "{} · {}",
        overview.tenant,
        overview.scenario.as_deref().unwrap_or("all scenarios")
    );
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
                <KpiCards kpis />
                <TrendChart points=overview.trend />
            }.into_any(),
        }}
    }
}
