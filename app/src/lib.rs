//! The Recoscope dashboard, rendered on the server (`ssr`) and hydrated in the browser
//! (`hydrate`).
//!
//! - [`shell`] / [`App`]: the HTML document and the routes.
//! - [`analytics`]: the server functions every page calls; each reads the caller's tenant from
//!   its read key and asks the read model (the `recoscope-analytics` crate) for the data.
//! - [`identity`]: signing in with a read key and out (the session cookie).
//! - [`pages`]: one module per page: the overview dashboard (ClickHouse) and the live view
//!   (Redis).
//! - [`components`]: reusable pieces (KPI cards, the charming trend chart, filters).
//!
//! Every number shown comes from a server function; an empty range shows an explicit empty
//! state, never zeros posing as data.

pub mod analytics;
pub mod components;
pub mod identity;
pub mod pages;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Link, MetaTags, Script, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path,
};

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
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
    view! {
        <Stylesheet id="leptos" href="/pkg/recoscope.css" />
        <Link rel="icon" href="/favicon.svg" />
        // ECharts comes from the app's own assets (npm `echarts`), never from a CDN.
        <Script src="/vendor/echarts.min.js" />
        <Title text="Recoscope" />
        <Router>
            <header class="topbar">
                <a class="brand" href="/">"Recoscope"</a>
                <nav class="nav">
                    <a href="/">"Overview"</a>
                    <a href="/insights">"Insights"</a>
                    <a href="/live">"Live"</a>
                    <a href="/signin">"Sign in"</a>
                </nav>
                <pages::sign_in::SignOutButton />
                <span class="tagline">"Real-time analytics for recommendations"</span>
            </header>
            <main>
                <Routes fallback=|| view! { <p class="empty">"Page not found."</p> }>
                    <Route path=path!("/") view=pages::dashboard::DashboardPage />
                    <Route path=path!("/insights") view=pages::insights::InsightsPage />
                    <Route path=path!("/live") view=pages::live::LivePage />
                    <Route path=path!("/signin") view=pages::sign_in::SignInPage />
                </Routes>
            </main>
        </Router>
    }
}

/// Entry point of the browser bundle (called by the `frontend` crate).
#[cfg(feature = "hydrate")]
pub fn hydrate() {
    leptos::mount::hydrate_body(App);
}
