//! Pieces every page uses: the error panel inside each data view's `ErrorBoundary`, the
//! "no data yet" state, and the scenario filter form.

use crate::analytics::scopes::ScenarioScope;
use crate::i18n::{fill, t, with_code, Msg};
use leptos::prelude::*;
use leptos_router::components::Form;

/// What an `ErrorBoundary` shows when `what` could not be loaded: every error's message, and
/// a way to sign in when the caller has no valid read key.
#[component]
pub fn LoadError(what: &'static str, errors: ArcRwSignal<Errors>) -> impl IntoView {
    let message = {
        let errors = errors.clone();
        move || {
            errors
                .get()
                .into_iter()
                .map(|(_, e)| e.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        }
    };
    let needs_sign_in = move || {
        errors
            .get()
            .into_iter()
            .any(|(_, e)| e.to_string().contains(crate::identity::UNAUTHORIZED))
    };
    view! {
        <div class="error" role="alert">
            <strong>{fill(Msg::CouldNotLoad, &[&what])} " "</strong>
            {message}
            <Show when=needs_sign_in>
                " " <a href="/signin" data-testid="sign-in-link">{t(Msg::NavSignIn)}</a>
            </Show>
        </div>
    }
}

/// The caller's tenant has not sent anything yet.
#[component]
pub fn NoDataYet() -> impl IntoView {
    view! {
        <div class="empty">
            <h2>{t(Msg::NoDataYetTitle)}</h2>
            <p>{with_code(Msg::NoDataYetBody, "recoscope simulate")}</p>
        </div>
    }
}

/// One option per scenario, labelled with its catalog name when it has one; a scenario
/// without data says so.
fn options(scenarios: Vec<ScenarioScope>, selected: &str) -> impl IntoView {
    scenarios
        .into_iter()
        .map(|s| {
            let is_selected = s.id == selected;
            let label = if s.has_data {
                s.label().to_string()
            } else {
                format!("{} {}", s.label(), t(Msg::NoDataSuffix))
            };
            view! { <option value=s.id selected=is_selected>{label}</option> }
        })
        .collect_view()
}

/// The GET form choosing the scenario ("all scenarios" is the empty value); a page adds its
/// own controls as children, before the button. The tenant is the caller's, never a choice.
#[component]
pub fn ScopeFilters(
    scenarios: Vec<ScenarioScope>,
    scenario: String,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    let all = scenario.is_empty();
    view! {
        <Form method="GET" action="">
            <div class="filters">
                <label>{t(Msg::Scenario)} " "
                    <select name="scenario">
                        <option value="" selected=all>{t(Msg::AllScenarios)}</option>
                        {options(scenarios, &scenario)}
                    </select>
                </label>
                {children.map(|c| c())}
                <button type="submit">{t(Msg::Apply)}</button>
            </div>
        </Form>
    }
}

/// A table that may be wider than a phone's screen: it scrolls sideways inside its own box
/// (not the page), which keyboard users can focus and scroll, named by `label`.
#[component]
pub fn ScrollTable(label: String, children: Children) -> impl IntoView {
    view! {
        <div class="table-wrap" tabindex="0" role="region" aria-label=label>
            {children()}
        </div>
    }
}

/// The chosen scenario (`None`: all of them) as a person reads it, in the page's language.
pub fn scenario_name(scenarios: &[ScenarioScope], scenario: Option<&str>) -> String {
    match scenario {
        None => t(Msg::AllScenariosLower).to_string(),
        Some(_) => crate::analytics::scopes::scenario_label(scenarios, scenario),
    }
}
