//! The live view: the last 60 minutes and the hot items now for one tenant and scenario,
//! refreshed every few seconds in the browser from the `live` server function.

use crate::analytics::{get_live, live::Live};
use crate::components::page::{scenario_name, LoadError, ScopeFilters};
use crate::components::{format, hot_items::HotItems, kpi::KpiCards, live_chart::LiveChart};
use crate::i18n::{fill, t, Msg};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// How often the browser asks again.
pub const REFRESH_SECS: u64 = 5;
const TOP_ITEMS: u32 = 20;

/// The caller's live data.
async fn load(scenario: String) -> Result<Live, ServerFnError> {
    let scenario = (!scenario.is_empty()).then_some(scenario);
    get_live(scenario, TOP_ITEMS).await
}

#[component]
pub fn LivePage() -> impl IntoView {
    let query = use_query_map();
    let filters = move || query.read().get("scenario").unwrap_or_default();
    // Bumped by a browser timer; each bump reads Redis again (the previous view stays up
    // meanwhile: Transition).
    let tick = RwSignal::new(0u64);
    let data = Resource::new(
        move || (filters(), tick.get()),
        |(scenario, _)| load(scenario),
    );
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        let every = std::time::Duration::from_secs(REFRESH_SECS);
        if let Ok(handle) = set_interval_with_handle(move || tick.update(|t| *t += 1), every) {
            on_cleanup(move || handle.clear());
        }
    });

    view! {
        <Transition fallback=|| view! { <p class="loading">{t(Msg::Loading)}</p> }>
            <ErrorBoundary fallback=|errors| view! { <LoadError what=t(Msg::WhatLive) errors /> }>
                {move || Suspend::new(async move {
                    let live = data.await?;
                    Ok::<_, ServerFnError>(view! {
                        <ScopeFilters scenarios=live.scenarios.clone() scenario=filters() />
                        <LiveView live />
                    })
                })}
            </ErrorBoundary>
        </Transition>
    }
}

#[component]
fn LiveView(live: Live) -> impl IntoView {
    let scope = fill(
        Msg::LiveScope,
        &[
            &live.tenant,
            &scenario_name(&live.scenarios, live.scenario.as_deref()),
            &format::clock(live.as_of),
            &REFRESH_SECS,
        ],
    );
    view! {
        <p class="scope" data-testid="live-scope">{scope}</p>
        {match live.totals {
            None => view! {
                <div class="empty" data-testid="live-empty">
                    <h2>{t(Msg::NothingLastHourTitle)}</h2>
                    <p>{t(Msg::NothingLastHourBody)}</p>
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
