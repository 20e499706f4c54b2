//! The top bar's menu: the pages, and who is signed in: their email (or "read key"), the
//! tenant shown with a switch to their others, their account, admin for admins, sign-out.
//! Signed out, only "Sign in". It asks the server again on every navigation, so signing in
//! or out shows at once.

use crate::i18n::{t, Msg};
use crate::identity::{whoami, Identity, Role, SwitchTenant};
use crate::pages::sign_in::{action_error, SignOutButton};
use leptos::prelude::*;
use leptos_router::hooks::use_location;

#[component]
pub fn Nav() -> impl IntoView {
    let location = use_location();
    let who = Resource::new(move || location.pathname.get(), |_| whoami());
    view! {
        <nav class="nav" aria-label=t(Msg::NavMain)>
            <a href="/">{t(Msg::NavOverview)}</a>
            <a href="/insights">{t(Msg::NavInsights)}</a>
            <a href="/live">{t(Msg::NavLive)}</a>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match who.await {
                        Ok(Some(identity)) => view! { <SignedInMenu identity /> }.into_any(),
                        _ => view! { <a href="/signin" class="sign-in-nav">{t(Msg::NavSignIn)}</a> }
                            .into_any(),
                    }
                })}
            </Transition>
        </nav>
    }
}

#[component]
fn SignedInMenu(identity: Identity) -> impl IntoView {
    let admin = identity
        .is_admin()
        .then(|| view! { <a href="/admin">{t(Msg::NavAdmin)}</a> });
    let account = identity
        .email
        .is_some()
        .then(|| view! { <a href="/account">{t(Msg::NavAccount)}</a> });
    let who = identity
        .email
        .clone()
        .unwrap_or_else(|| t(Msg::ReadKeyUser).to_string());
    view! {
        {admin}
        {account}
        <span class="who" data-testid="who">
            {who} " · " <span data-testid="tenant">{identity.tenant.clone()}</span>
            " (" {role_name(identity.role)} ")"
        </span>
        {(identity.tenants.len() > 1).then(|| view! { <TenantSwitch identity /> })}
        <SignOutButton />
    }
}

/// Picks another of the operator's tenants; the page then loads again for it.
#[component]
fn TenantSwitch(identity: Identity) -> impl IntoView {
    let switch = ServerAction::<SwitchTenant>::new();
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if let Some(Ok(_)) = switch.value().get() {
            let _ = window().location().reload();
        }
    });
    let options = identity
        .tenants
        .iter()
        .map(|t| {
            let selected = t.tenant == identity.tenant;
            view! { <option value=t.tenant.clone() selected=selected>{t.tenant.clone()}</option> }
        })
        .collect_view();
    view! {
        <ActionForm action=switch attr:class="tenant-switch">
            <label for="tenant-switch">{t(Msg::Tenant)}</label>
            <select id="tenant-switch" name="tenant">{options}</select>
            <button type="submit">{t(Msg::Switch)}</button>
        </ActionForm>
        {action_error(switch.value())}
    }
}

/// A role as the page's language names it.
pub fn role_name(role: Role) -> &'static str {
    t(match role {
        Role::Viewer => Msg::RoleViewer,
        Role::Admin => Msg::RoleAdmin,
    })
}
