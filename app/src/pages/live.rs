//! The live view: the last 60 minutes and the hot items now for one tenant and scenario,
//! refreshed every few seconds in the browser from the `live` server function.

use crate::analytics::{
    catalog::get_scopes,
    live::{get_live, Live},
};
use crate::components::page::{LoadError, NoDataYet, ScopeFilters};
use crate::components::{format, hot_items::HotItems, kpi::KpiCards, live_chart::LiveChart};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// How often the browser asks again.
pub const REFRESH_SECS: u64 = 5;
const TOP_ITEMS: u32 = 20;

/// The live data, or `None` when no tenant has data yet.
async fn load(
    tenant: String,
    scenario: String,
) -> Result<Option<(Vec<String>, Live)>, ServerFnError> {
    let tenants = get_scopes(tenant.clone()).await?.tenants;
    let tenant = if tenant.is_empty() {
        match tenants.first() {
            Some(first) => first.clone(),
            None => return Ok(None),
        }
    } else {
        tenant
    };
    let scenario = (!scenario.is_empty()).then_some(scenario);
    let live = get_live(tenant, scenario, TOP_ITEMS).await?;
    Ok(Some((tenants, live)))
}

#[component]
pub fn LivePage() -> impl IntoView {
    let query = use_query_map();
    let filters = move || {
        let q = query.read();
        (
            q.get("tenant").unwrap_or_default(),
            q.get("scenario").unwrap_or_default(),
        )
    };
    // Bumped by a browser timer; each bump reads Redis again (the previous view stays up
    // meanwhile: Transition).
    let tick = RwSignal::new(0u64);
    let data = Resource::new(
        move || (filters(), tick.get()),
        |((tenant, scenario), _)| load(tenant, scenario),
    );
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        let every = std::time::Duration::from_secs(REFRESH_SECS);
        if let Ok(handle) = set_interval_with_handle(move || tick.update(|t| *t += 1), every) {
            on_cleanup(move || handle.clear());
        }
    });

    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            <ErrorBoundary fallback=|errors| view! { <LoadError what="the live view" errors /> }>
                {move || Suspend::new(async move {
                    let page = data.await?;
                    let (_, scenario) = filters();
                    Ok::<_, ServerFnError>(match page {
                        None => view! { <NoDataYet /> }.into_any(),
                        Some((tenants, live)) => view! {
                            <ScopeFilters
                                tenants
                                tenant=live.tenant.clone()
                                scenarios=live.scenarios.clone()
                                scenario
                            />
                            <LiveView live />
                        }.into_any(),
                    })
                })}
            </ErrorBoundary>
        </Transition>
    }
}

#[component]
fn LiveView(live: Live) -> impl IntoView {
    let scope = format!(
        "{} · {} · as of {} · refreshes every {REFRESH_SECS} s",
        live.tenant,
        live.scenario.as_deref().unwrap_or("all scenarios"),
        format::clock(live.as_of)
    );
    view! {
        <p class="scope" data-testid="live-scope">{scope}</p>
        {match live.totals {
            None => view! {
                <div class="empty" data-testid="live-empty">
                    <h2>"Nothing in the last 60 minutes"</h2>
                    <p>"No events arrived for this tenant and scenario in the last hour."</p>
                </div>
            }.into_any(),
            Some(kpis) => view! {
                <KpiCards kpis />
                <LiveChart minutes=live.minutes />
            }.into_any(),
        }}
        <HotItems items=live.hot_items />
    }
}
