//! The operator's own account: who they are, their tenants and roles, and a password change
//! (which signs them out everywhere else).

use crate::components::nav::role_name;
use crate::components::page::LoadError;
use crate::i18n::{fill, t, Msg};
use crate::identity::{whoami, Identity};
use crate::pages::sign_in::action_error;
use leptos::prelude::*;

/// Replaces the caller's password after checking the current one.
#[server(endpoint = "change_password")]
pub async fn change_password(
    current: String,
    new: String,
    confirm: String,
) -> Result<(), ServerFnError> {
    use crate::identity::server::{account_failed, accounts, operator};
    let (token, _) = operator().await?;
    if new != confirm {
        return Err(crate::identity::server::invalid(Msg::ErrPasswordsDiffer));
    }
    accounts()?
        .change_password(&token, &current, &new)
        .await
        .map_err(account_failed)
}

#[component]
pub fn AccountPage() -> impl IntoView {
    let who = Resource::new(|| (), |_| whoami());
    view! {
        <section class="account">
            <h1>{t(Msg::YourAccount)}</h1>
            <Transition fallback=|| view! { <p class="loading">{t(Msg::Loading)}</p> }>
                <ErrorBoundary fallback=|errors| view! { <LoadError what=t(Msg::WhatAccount) errors /> }>
                    {move || Suspend::new(async move {
                        let identity = who.await?;
                        Ok::<_, ServerFnError>(match identity {
                            Some(identity) if identity.email.is_some() => {
                                view! { <Account identity /> }.into_any()
                            }
                            Some(_) => view! {
                                <p>{t(Msg::KeyHasNoAccount)} " "
                                    <a href="/signin">{t(Msg::SignInWithPassword)}</a></p>
                            }.into_any(),
                            None => view! {
                                <p><a href="/signin?next=%2Faccount" data-testid="sign-in-link">
                                    {t(Msg::SignInToSee)}</a></p>
                            }.into_any(),
                        })
                    })}
                </ErrorBoundary>
            </Transition>
        </section>
    }
}

#[component]
fn Account(identity: Identity) -> impl IntoView {
    let change = ServerAction::<ChangePassword>::new();
    let tenants = identity
        .tenants
        .iter()
        .map(|m| view! { <tr><td>{m.tenant.clone()}</td><td>{role_name(m.role)}</td></tr> })
        .collect_view();
    view! {
        <p>{fill(Msg::SignedInAs, &[&identity.email.clone().unwrap_or_default()])}</p>
        <crate::components::page::ScrollTable label=t(Msg::YourTenants).to_string()>
            <table class="data">
                <caption>{t(Msg::YourTenants)}</caption>
                <thead><tr><th scope="col">{t(Msg::Tenant)}</th><th scope="col">{t(Msg::Role)}</th></tr></thead>
                <tbody>{tenants}</tbody>
            </table>
        </crate::components::page::ScrollTable>
        <h2>{t(Msg::ChangePassword)}</h2>
        <p>{t(Msg::OthersSignedOut)}</p>
        <ActionForm action=change>
            <div class="field">
                <label for="current-password">{t(Msg::CurrentPassword)}</label>
                <input id="current-password" type="password" name="current"
                    autocomplete="current-password" required=true />
            </div>
            <div class="field">
                <label for="new-password">{t(Msg::NewPassword)}</label>
                <input id="new-password" type="password" name="new"
                    autocomplete="new-password" required=true />
            </div>
            <div class="field">
                <label for="confirm-password">{t(Msg::NewPasswordAgain)}</label>
                <input id="confirm-password" type="password" name="confirm"
                    autocomplete="new-password" required=true />
            </div>
            <button type="submit">{t(Msg::ChangePasswordButton)}</button>
        </ActionForm>
        {action_error(change.value())}
        <Show when=move || matches!(change.value().get(), Some(Ok(())))>
            <p class="notice" role="status">{t(Msg::PasswordChanged)}</p>
        </Show>
    }
}
