//! KPI cards: each metric of the range, and how it moved against the period of equal length
//! just before; then what the tenant has set up (catalog items, scenarios).

use super::format;
use crate::analytics::overview::{Kpis, Setup};
use crate::i18n::{t, use_locale, Msg};
use leptos::prelude::*;

#[component]
fn KpiCard(
    label: &'static str,
    value: String,
    hint: &'static str,
    #[prop(default = None)] change: Option<String>,
) -> impl IntoView {
    let trend = change.as_deref().map(|c| {
        if c.starts_with('+') || c == t(Msg::New) {
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
                <div class=trend.unwrap_or("kpi-change")>{c} <span class="muted">" " {t(Msg::VsBefore)}</span></div>
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
    let locale = use_locale();
    let before = |pick: fn(&Kpis) -> u64| previous.as_ref().map(pick);
    let rate_before = |pick: fn(&Kpis) -> Option<f64>| previous.as_ref().and_then(pick);
    let catalog = |n: Option<u64>| n.map_or_else(|| "—".to_string(), format::count);
    view! {
        <section class="kpis" aria-label=t(Msg::KeyMetrics)>
            <KpiCard label=t(Msg::Impressions) value=format::count(kpis.impressions)
                hint=t(Msg::ImpressionsHint)
                change=format::count_change(locale, kpis.impressions, before(|k| k.impressions)) />
            <KpiCard label=t(Msg::Clicks) value=format::count(kpis.clicks)
                hint=t(Msg::ClicksHint)
                change=format::count_change(locale, kpis.clicks, before(|k| k.clicks)) />
            <KpiCard label=t(Msg::Ctr) value=format::percent(kpis.ctr)
                hint=t(Msg::CtrHint)
                change=format::rate_change(locale, kpis.ctr, rate_before(|k| k.ctr)) />
            <KpiCard label=t(Msg::Conversions) value=format::count(kpis.conversions)
                hint=t(Msg::ConversionsHint)
                change=format::count_change(locale, kpis.conversions, before(|k| k.conversions)) />
            <KpiCard label=t(Msg::ConversionRate) value=format::percent(kpis.conversion_rate)
                hint=t(Msg::ConversionRateHint)
                change=format::rate_change(locale, kpis.conversion_rate, rate_before(|k| k.conversion_rate)) />
            <KpiCard label=t(Msg::ActiveUsers) value=format::count(kpis.active_users)
                hint=t(Msg::ActiveUsersHint)
                change=format::count_change(locale, kpis.active_users, before(|k| k.active_users)) />
        </section>
        {setup.map(|setup| view! {
            <section class="kpis setup" aria-label=t(Msg::SetUp)>
                <KpiCard label=t(Msg::CatalogItems) value=catalog(setup.catalog_items)
                    hint=t(Msg::CatalogItemsHint) />
                <KpiCard label=t(Msg::CatalogScenarios) value=catalog(setup.catalog_scenarios)
                    hint=t(Msg::CatalogScenariosHint) />
                <KpiCard label=t(Msg::ActiveScenarios) value=format::count(setup.active_scenarios)
                    hint=t(Msg::ActiveScenariosHint) />
            </section>
        })}
    }
}
