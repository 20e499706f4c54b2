//! The operator's own account: who they are, their tenants and roles, and a password change
//! (which signs them out everywhere else).

use crate::components::page::LoadError;
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
    use recoscope_accounts::AccountError;
    let (token, _) = operator().await?;
    if new != confirm {
        return Err(account_failed(AccountError::Invalid(
            "the two new passwords differ".into(),
        )));
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
            <h1>"Your account"</h1>
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                <ErrorBoundary fallback=|errors| view! { <LoadError what="your account" errors /> }>
                    {move || Suspend::new(async move {
                        let identity = who.await?;
                        Ok::<_, ServerFnError>(match identity {
                            Some(identity) if identity.email.is_some() => {
                                view! { <Account identity /> }.into_any()
                            }
                            Some(_) => view! {
                                <p>"You are signed in with a read key, which has no account. "
                                    <a href="/signin">"Sign in with email and password"</a>
                                    " to manage one."</p>
                            }.into_any(),
                            None => view! {
                                <p><a href="/signin?next=%2Faccount" data-testid="sign-in-link">
                                    "Sign in"</a> " to see your account."</p>
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
        .map(|t| view! { <tr><td>{t.tenant.clone()}</td><td>{t.role.as_str()}</td></tr> })
        .collect_view();
    view! {
        <p>"Signed in as " <strong>{identity.email.clone()}</strong> "."</p>
        <crate::components::page::ScrollTable label="Your tenants".to_string()>
            <table class="data">
                <caption>"Your tenants"</caption>
                <thead><tr><th scope="col">"Tenant"</th><th scope="col">"Role"</th></tr></thead>
                <tbody>{tenants}</tbody>
            </table>
        </crate::components::page::ScrollTable>
        <h2>"Change your password"</h2>
        <p>"Every other browser signed in as you is signed out."</p>
        <ActionForm action=change>
            <div class="field">
                <label for="current-password">"Current password"</label>
                <input id="current-password" type="password" name="current"
                    autocomplete="current-password" required=true />
            </div>
            <div class="field">
                <label for="new-password">"New password (at least 10 characters)"</label>
                <input id="new-password" type="password" name="new"
                    autocomplete="new-password" required=true />
            </div>
            <div class="field">
                <label for="confirm-password">"New password again"</label>
                <input id="confirm-password" type="password" name="confirm"
                    autocomplete="new-password" required=true />
            </div>
            <button type="submit">"Change password"</button>
        </ActionForm>
        {action_error(change.value())}
        <Show when=move || matches!(change.value().get(), Some(Ok(())))>
            <p class="notice" role="status">"Your password is changed."</p>
        </Show>
    }
}
