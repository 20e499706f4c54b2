//! Sign-in: an operator enters email and password; a script's or demo's read key signs in
//! as a viewer of its tenant (typed, or from a link whose `#key=` fragment holds it:
//! fragments never reach a server or its logs). Either way the dashboard opens on the page
//! asked for.

use crate::i18n::{t, with_code, Msg};
use crate::identity::{SignIn, SignInWithKey, SignOut};
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};

/// Where to go after signing in: `next` when it is a path of this site, else the overview
/// (never another site: `//host` and `https://` are refused).
pub fn after_sign_in(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path.to_string()
        }
        _ => "/".to_string(),
    }
}

/// Reads `#<name>=<value>` from the address bar once, in the browser, and takes it out of the
/// address bar and history (a secret must not stay there).
#[cfg(feature = "hydrate")]
pub fn take_fragment(name: &str) -> Option<String> {
    let hash = window().location().hash().ok()?;
    let value = hash.strip_prefix(&format!("#{name}="))?.to_string();
    let location = window().location();
    let path = location.pathname().unwrap_or_default();
    let search = location.search().unwrap_or_default();
    let _ = window().history().map(|h| {
        h.replace_state_with_url(
            &wasm_bindgen::JsValue::NULL,
            "",
            Some(&format!("{path}{search}")),
        )
    });
    Some(value)
}

/// The error of the last attempt, as an alert.
pub fn action_error<T: Clone + Send + Sync + 'static>(
    value: impl Get<Value = Option<Result<T, ServerFnError>>> + Send + Sync + 'static,
) -> impl IntoView {
    move || match value.get() {
        Some(Err(e)) => Some(view! { <p class="error" role="alert">{clean_error(&e)}</p> }),
        _ => None,
    }
}

/// A server function's error as a sentence for the page (without the transport's prefix).
pub fn clean_error(error: &ServerFnError) -> String {
    let text = error.to_string();
    text.strip_prefix("error running server function: ")
        .unwrap_or(&text)
        .to_string()
}

#[component]
pub fn SignInPage() -> impl IntoView {
    let sign_in = ServerAction::<SignIn>::new();
    let with_key = ServerAction::<SignInWithKey>::new();
    let navigate = use_navigate();
    let query = use_query_map();
    // Signed in either way: open the page asked for.
    Effect::new(move |_| {
        let done = matches!(sign_in.value().get(), Some(Ok(_)))
            || matches!(with_key.value().get(), Some(Ok(_)));
        if done {
            let next = after_sign_in(query.read_untracked().get("next").as_deref());
            navigate(&next, Default::default());
        }
    });
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if let Some(key) = take_fragment("key") {
            with_key.dispatch(SignInWithKey { key });
        }
    });
    let pending = move || sign_in.pending().get() || with_key.pending().get();
    view! {
        <section class="sign-in">
            <h1>{t(Msg::SignInTitle)}</h1>
            <ActionForm action=sign_in>
                <div class="field">
                    <label for="sign-in-email">{t(Msg::Email)}</label>
                    <input id="sign-in-email" type="email" name="email" autocomplete="username"
                        required=true />
                </div>
                <div class="field">
                    <label for="sign-in-password">{t(Msg::Password)}</label>
                    <input id="sign-in-password" type="password" name="password"
                        autocomplete="current-password" required=true />
                </div>
                <button type="submit">{t(Msg::SignInButton)}</button>
            </ActionForm>
            {action_error(sign_in.value())}
            <details class="read-key">
                <summary>{t(Msg::WithReadKey)}</summary>
                <p>{with_code(Msg::ReadKeyExplained, "recoscope keys read --tenant <tenant>")}</p>
                <ActionForm action=with_key>
                    <div class="field">
                        <label for="sign-in-key">{t(Msg::ReadKey)}</label>
                        <input id="sign-in-key" type="password" name="key" autocomplete="off"
                            required=true />
                    </div>
                    <button type="submit">{t(Msg::SignInWithKey)}</button>
                </ActionForm>
            </details>
            {action_error(with_key.value())}
            <Show when=pending>
                <p class="loading" role="status">{t(Msg::Checking)}</p>
            </Show>
        </section>
    }
}

/// A button that ends the session and goes back to the sign-in page.
#[component]
pub fn SignOutButton() -> impl IntoView {
    let sign_out = ServerAction::<SignOut>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(())) = sign_out.value().get() {
            navigate("/signin", Default::default());
        }
    });
    view! {
        <ActionForm action=sign_out attr:class="sign-out">
            <button type="submit">{t(Msg::SignOut)}</button>
        </ActionForm>
    }
}

#[cfg(test)]
mod tests {
    use super::after_sign_in;

    #[test]
    fn only_paths_of_this_site_are_followed() {
        assert_eq!(
            after_sign_in(Some("/live?scenario=home")),
            "/live?scenario=home"
        );
        assert_eq!(after_sign_in(Some("//evil.example")), "/");
        assert_eq!(after_sign_in(Some("https://evil.example")), "/");
        assert_eq!(after_sign_in(Some("/\\evil.example")), "/");
        assert_eq!(after_sign_in(None), "/");
    }
}
