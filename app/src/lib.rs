//! The Recoscope dashboard, rendered on the server (`ssr`) and hydrated in the browser
//! (`hydrate`).
//!
//! - [`shell`] / [`App`]: the HTML document and the routes.
//! - [`analytics`]: the server functions every page calls; each reads the caller's tenant from
//!   its read key and asks the read model (the `recoscope-analytics` crate) for the data.
//! - [`identity`]: who is calling (an operator's session or a read key), signing in and out,
//!   switching tenants.
//! - [`pages`]: one module per page: the overview, insights and live views, sign-in, an
//!   invitation, the operator's account, and the tenant's admin page (members, keys).
//! - [`i18n`]: English and Simplified Chinese: the request's language, every message in both.
//! - [`components`]: reusable pieces (KPI cards, the charming trend chart, filters).
//!
//! Every number shown comes from a server function; an empty range shows an explicit empty
//! state, never zeros posing as data.

pub mod analytics;
pub mod components;
pub mod i18n;
pub mod identity;
pub mod pages;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path,
};

/// Where the site's static files are served from: `/a/<version>`, where the version is a
/// digest of their contents, so browsers may keep them for a year and a new release is a new
/// URL. Empty (the site root itself) when the server provides none.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AssetRoot(pub String);

/// The HTML document around the app, rendered on the server. Its asset links carry the
/// [`AssetRoot`] from the context; they live here, not in [`App`], because only the server
/// knows the version.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    let root = use_context::<AssetRoot>().unwrap_or_default().0;
    let pkg = options.site_pkg_dir.clone();
    // The browser reads the language back from here when it hydrates.
    let lang = i18n::current_locale().tag();
    view! {
        <!DOCTYPE html>
        <html lang=lang>
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <link id="leptos" rel="stylesheet" href=format!("{root}/{pkg}/recoscope.css") />
                <link rel="icon" href=format!("{root}/favicon.svg") />
                // ECharts comes from the app's own assets (npm `echarts`), never from a CDN.
                <script src=format!("{root}/vendor/echarts.min.js")></script>
                <AutoReload options=options.clone() />
                <HydrationScripts options root />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    i18n::provide_locale();
    use i18n::{t, Msg};
    view! {
        <Title text="Recoscope" />
        <Router>
            <header class="topbar">
                <a class="brand" href="/">"Recoscope"</a>
                <components::nav::Nav />
                <span class="tagline">{t(Msg::Tagline)}</span>
                <i18n::LanguageSwitch />
            </header>
            <main>
                <Routes fallback=|| view! { <p class="empty">{t(Msg::PageNotFound)}</p> }>
                    <Route path=path!("/") view=pages::dashboard::DashboardPage />
                    <Route path=path!("/insights") view=pages::insights::InsightsPage />
                    <Route path=path!("/live") view=pages::live::LivePage />
                    <Route path=path!("/signin") view=pages::sign_in::SignInPage />
                    <Route path=path!("/invite") view=pages::invite::InvitePage />
                    <Route path=path!("/account") view=pages::account::AccountPage />
                    <Route path=path!("/admin") view=pages::admin::AdminPage />
                </Routes>
            </main>
        </Router>
    }
}

/// Entry point of the browser bundle (called by the `frontend` crate).
#[cfg(feature = "hydrate")]
pub fn hydrate() {
    leptos::mount::hydrate_body(App);
    // Says the page is interactive (forms post through their server functions, not as plain
    // HTML forms): what browser tests wait for before typing.
    if let Some(root) = document().document_element() {
        let _ = root.set_attribute("data-hydrated", "");
    }
}
