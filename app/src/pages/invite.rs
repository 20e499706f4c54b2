//! Accepting an invitation: the link an admin (or `recoscope users invite`) made carries a
//! one-time token in its `#token=` fragment. A new operator chooses a password; one who
//! already has an account enters theirs. Either way they are signed in to the tenant.

use crate::i18n::{t, Msg};
use crate::identity::Identity;
use crate::pages::sign_in::action_error;
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

/// Joins the invitation's tenant with its role, and signs in.
#[server(endpoint = "accept_invitation")]
pub async fn accept_invitation(
    token: String,
    password: String,
    confirm: String,
) -> Result<Identity, ServerFnError> {
    use crate::identity::server::{account_failed, accounts, start_session, Caller};
    if password != confirm {
        return Err(crate::identity::server::invalid(Msg::ErrPasswordsDiffer));
    }
    let opened = accounts()?
        .accept_invitation(&token, &password)
        .await
        .map_err(account_failed)?;
    start_session(&opened.token)?;
    Ok(Caller::operator(opened.token, opened.signed_in).identity())
}

#[component]
pub fn InvitePage() -> impl IntoView {
    let accept = ServerAction::<AcceptInvitation>::new();
    let token = RwSignal::new(String::new());
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if let Some(value) = crate::pages::sign_in::take_fragment("token") {
            token.set(value);
        }
    });
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(_)) = accept.value().get() {
            navigate("/", Default::default());
        }
    });
    view! {
        <section class="sign-in">
            <h1>{t(Msg::JoinTitle)}</h1>
            <p>{t(Msg::JoinExplained)}</p>
            <ActionForm action=accept>
                <input type="hidden" name="token" prop:value=move || token.get() />
                <div class="field">
                    <label for="invite-password">{t(Msg::Password)}</label>
                    <input id="invite-password" type="password" name="password"
                        autocomplete="new-password" required=true />
                </div>
                <div class="field">
                    <label for="invite-confirm">{t(Msg::PasswordAgain)}</label>
                    <input id="invite-confirm" type="password" name="confirm"
                        autocomplete="new-password" required=true />
                </div>
                <button type="submit">{t(Msg::Join)}</button>
            </ActionForm>
            {action_error(accept.value())}
        </section>
    }
}
