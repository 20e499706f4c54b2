//! KPI cards: each metric of the range, and how it moved against the period of equal length
//! just before; then what the tenant has set up (catalog items, scenarios).

use super::format;
use crate::analytics::overview::{Kpis, Setup};
use leptos::prelude::*;

#[component]
fn KpiCard(
    label: &'static str,
    value: String,
    hint: &'static str,
    #[prop(default = None)] change: Option<String>,
) -> impl IntoView {
    let trend = change.as_deref().map(|c| {
        if c.starts_with('+') || c == "new" {
            "kpi-change up"
        } else if c.starts_with('−') {
            "kpi-change down"
        } else {
            "kpi-change"
        }
    });
    view! {
        <div class="kpi" title=hint>
            <div class="kpi-label">{label}</div>
            <div class="kpi-value">{value}</div>
            {change.map(|c| view! {
                <div class=trend.unwrap_or("kpi-change")>{c} <span class="muted">" vs before"</span></div>
            })}
        </div>
    }
}

#[component]
pub fn KpiCards(
    kpis: Kpis,
    /// The same KPIs for the period before (`None`: it had no events): each card then
    /// shows its change.
    #[prop(default = None)]
    previous: Option<Kpis>,
    /// The tenant's set-up, shown in a row of its own (the overview has it).
    #[prop(optional)]
    setup: Option<Setup>,
) -> impl IntoView {
    let before = |pick: fn(&Kpis) -> u64| previous.as_ref().map(pick);
    let rate_before = |pick: fn(&Kpis) -> Option<f64>| previous.as_ref().and_then(pick);
    let catalog = |n: Option<u64>| n.map_or_else(|| "—".to_string(), format::count);
    view! {
        <section class="kpis" aria-label="Key metrics">
            <KpiCard label="Impressions" value=format::count(kpis.impressions)
                hint="Recommendations really seen"
                change=format::count_change(kpis.impressions, before(|k| k.impressions)) />
            <KpiCard label="Clicks" value=format::count(kpis.clicks)
                hint="Clicks on recommended items"
                change=format::count_change(kpis.clicks, before(|k| k.clicks)) />
            <KpiCard label="CTR" value=format::percent(kpis.ctr)
                hint="Clicks / impressions; — when there were no impressions"
                change=format::rate_change(kpis.ctr, rate_before(|k| k.ctr)) />
            <KpiCard label="Conversions" value=format::count(kpis.conversions)
                hint="Orders"
                change=format::count_change(kpis.conversions, before(|k| k.conversions)) />
            <KpiCard label="Conversion rate" value=format::percent(kpis.conversion_rate)
                hint="Orders / clicks; — when there were no clicks"
                change=format::rate_change(kpis.conversion_rate, rate_before(|k| k.conversion_rate)) />
            <KpiCard label="Active users" value=format::count(kpis.active_users)
                hint="Distinct users with any event in the range"
                change=format::count_change(kpis.active_users, before(|k| k.active_users)) />
        </section>
        {setup.map(|setup| view! {
            <section class="kpis setup" aria-label="Set-up">
                <KpiCard label="Items in the catalog" value=catalog(setup.catalog_items)
                    hint="Items imported into the catalog; — when the catalog could not be read" />
                <KpiCard label="Scenarios in the catalog" value=catalog(setup.catalog_scenarios)
                    hint="Scenarios the catalog names; — when the catalog could not be read" />
                <KpiCard label="Active scenarios" value=format::count(setup.active_scenarios)
                    hint="Scenarios with impressions in this range" />
            </section>
        })}
    }
}
