//! KPI cards.

use super::format;
use crate::analytics::overview::Kpis;
use leptos::prelude::*;

#[component]
fn KpiCard(label: &'static str, value: String, hint: &'static str) -> impl IntoView {
    view! {
        <div class="kpi" title=hint>
            <div class="kpi-label">{label}</div>
            <div class="kpi-value">{value}</div>
        </div>
    }
}

#[component]
pub fn KpiCards(kpis: Kpis) -> impl IntoView {
    view! {
        <section class="kpis" aria-label="Key metrics">
            <KpiCard label="Impressions" value=format::count(kpis.impressions)
                hint="Recommendations really seen" />
            <KpiCard label="Clicks" value=format::count(kpis.clicks)
                hint="Clicks on recommended items" />
            <KpiCard label="CTR" value=format::percent(kpis.ctr)
                hint="Clicks / impressions; — when there were no impressions" />
            <KpiCard label="Conversions" value=format::count(kpis.conversions)
                hint="Orders" />
            <KpiCard label="Conversion rate" value=format::percent(kpis.conversion_rate)
                hint="Orders / clicks; — when there were no clicks" />
            <KpiCard label="Active users" value=format::count(kpis.active_users)
                hint="Distinct users with any event in the range" />
        </section>
    }
}
