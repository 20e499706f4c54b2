//! Sign-in: an operator enters the tenant's read key (or opens a link whose `#key=` fragment
//! holds it: fragments never reach a server or its logs), the server checks it and keeps it
//! in an HttpOnly cookie, and the dashboard opens.

use crate::identity::{SignIn, SignOut};
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

#[component]
pub fn SignInPage() -> impl IntoView {
    let sign_in = ServerAction::<SignIn>::new();
    let navigate = use_navigate();
    let query = use_query_map();
    // Signed in: open the page asked for.
    Effect::new(move |_| {
        if let Some(Ok(_)) = sign_in.value().get() {
            let next = after_sign_in(query.read_untracked().get("next").as_deref());
            navigate(&next, Default::default());
        }
    });
    // A sign-in link: the key in the fragment, read only in the browser.
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        let Ok(hash) = window().location().hash() else {
            return;
        };
        if let Some(key) = hash.strip_prefix("#key=") {
            // Take the key out of the address bar and history.
            let search = window().location().search().unwrap_or_default();
            let _ = window().history().map(|h| {
                h.replace_state_with_url(
                    &wasm_bindgen::JsValue::NULL,
                    "",
                    Some(&format!("/signin{search}")),
                )
            });
            sign_in.dispatch(SignIn {
                key: key.to_string(),
            });
        }
    });
    let error = move || match sign_in.value().get() {
        Some(Err(e)) => Some(view! { <p class="error" role="alert">{e.to_string()}</p> }),
        _ => None,
    };
    view! {
        <section class="sign-in">
            <h2>"Sign in"</h2>
            <p>"Enter your tenant's read key. Create one with "
                <code>"recoscope keys read --tenant <tenant>"</code> "."</p>
            <ActionForm action=sign_in>
                <label>"Read key "
                    <input type="password" name="key" autocomplete="off" required=true />
                </label>
                <button type="submit">"Sign in"</button>
            </ActionForm>
            {error}
            <Show when=move || sign_in.pending().get()>
                <p class="loading">"Checking…"</p>
            </Show>
        </section>
    }
}

/// A button that forgets the session and goes back to the sign-in page.
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
            <button type="submit">"Sign out"</button>
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
