//! Every dashboard page in Chromium, checked by axe-core (from npm) against WCAG 2.1 A and AA
//! (labels, names, contrast, structure), in English and in Chinese, at desktop and at phone
//! width, where nothing may make the page scroll sideways; the sign-in form used by keyboard
//! alone; and the language: switched from the top bar, or the browser's own.
//!
//! Ignored in a bare `cargo test` (it needs the browser bundle and Chromium); `scripts/test`
//! runs it.

mod support;

use chromiumoxide::cdp::browser_protocol::emulation::SetDeviceMetricsOverrideParams;
use chromiumoxide::cdp::browser_protocol::network::{
    ClearBrowserCookiesParams, SetUserAgentOverrideParams,
};
use chromiumoxide::Page;

use support::page::{text, wait_for_text};
use support::{OPERATOR as ADMIN, OPERATOR_PASSWORD as PASSWORD};

/// axe-core's browser build, as npm installs it (`scripts/test` runs `npm ci`).
fn axe_source() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (scripts/test installs it)", path.display()))
}

/// Waits until `script` evaluates to `"true"`.
async fn wait_for(page: &Page, script: &str, _what: &str) {
    wait_for_text(page, script, "true").await;
}

/// Waits until the page is hydrated and nothing on it is still loading.
async fn settled(page: &Page) {
    wait_for(
        page,
        "String(document.documentElement.hasAttribute('data-hydrated') \
         && !document.querySelector('.loading'))",
        "hydrated, nothing loading",
    )
    .await;
}

/// axe-core's WCAG 2.1 A/AA violations on the page, one line per failing element.
async fn violations(page: &Page, axe: &str) -> Vec<String> {
    if text(page, "typeof axe").await != "object" {
        page.evaluate(axe).await.expect("axe-core loads");
    }
    let report = text(
        page,
        "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})\
         .then(r => JSON.stringify(r.violations.flatMap(v => v.nodes.map(n => \
            `${v.id} (${v.impact}): ${n.target.join(' ')}: ${n.failureSummary.replace(/\\s+/g, ' ')}`))))",
    )
    .await;
    serde_json::from_str(&report).unwrap_or_else(|_| vec![format!("axe did not run: {report:?}")])
}

/// With `RECOSCOPE_SCREENSHOTS=<dir>`, keeps a full-page picture of every page checked (for
/// people to look at; nothing is compared).
async fn keep_screenshot(page: &Page, path: &str, width: i64) {
    let Some(dir) = std::env::var_os("RECOSCOPE_SCREENSHOTS") else {
        return;
    };
    let name: String = path
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let file = std::path::Path::new(&dir).join(format!("{name}-{width}px.png"));
    std::fs::create_dir_all(&dir).unwrap();
    page.save_screenshot(
        chromiumoxide::page::ScreenshotParams::builder()
            .full_page(true)
            .build(),
        &file,
    )
    .await
    .unwrap();
}

/// Presses the top bar's button for the other language.
async fn click_switch(page: &Page) {
    page.find_element(".language-switch button")
        .await
        .expect("a language switch")
        .click()
        .await
        .unwrap();
}

async fn set_width(page: &Page, width: i64, height: i64) {
    page.execute(
        SetDeviceMetricsOverrideParams::builder()
            .width(width)
            .height(height)
            .device_scale_factor(1.0)
            .mobile(width < 600)
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
}

/// The page's problems at desktop and at phone width: axe's violations, and any sideways
/// scrolling on a phone.
async fn problems(page: &Page, axe: &str, path: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (width, height) in [(1280, 900), (375, 740)] {
        set_width(page, width, height).await;
        settled(page).await;
        keep_screenshot(page, path, width).await;
        for v in violations(page, axe).await {
            found.push(format!("{path} at {width}px: {v}"));
        }
        let overflow = text(
            page,
            "String(document.documentElement.scrollWidth - document.documentElement.clientWidth)",
        )
        .await;
        if overflow.parse::<i64>().unwrap_or(0) > 0 {
            // The outermost elements that stick out, to say what to fix.
            let culprits = text(
                page,
                "[...document.querySelectorAll('body *')]\
                 .filter(e => e.getBoundingClientRect().right > innerWidth + 1 \
                    || (e.scrollWidth > e.clientWidth + 1 && e.clientWidth > 0 \
                        && getComputedStyle(e).overflowX === 'visible'))\
                 .filter(e => e.parentElement.getBoundingClientRect().right <= innerWidth + 1)\
                 .slice(0, 5).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') \
                    + (typeof e.className === 'string' && e.className ? '.' + e.className.trim().split(' ').join('.') : '') \
                    + ' (right edge ' + Math.round(e.getBoundingClientRect().right) + 'px)').join(', ')",
            )
            .await;
            // And a picture of it.
            let shot = std::env::temp_dir().join(format!(
                "recoscope-{}-{width}px.png",
                path.trim_matches('/').replace('/', "-")
            ));
            let _ = page
                .save_screenshot(
                    chromiumoxide::page::ScreenshotParams::builder()
                        .full_page(true)
                        .build(),
                    &shot,
                )
                .await;
            found.push(format!(
                "{path} at {width}px scrolls sideways by {overflow}px: {culprits} ({})",
                shot.display()
            ));
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the browser bundle and Chromium: run scripts/test"]
async fn every_page_passes_axe_at_desktop_and_phone_width_and_signs_in_by_keyboard() {
    let shop = support::shop::Shop::start().await;
    let app = &shop.app;
    app.feed(40, 40).await;
    support::add_operator(app, ADMIN, PASSWORD, &app.tenant, "admin");
    let axe = axe_source();
    let mut found = Vec::new();

    let page = shop.browser.new_page(app.url("/signin")).await.unwrap();
    // The check itself can fail: an image without a text alternative is found.
    settled(&page).await;
    page.evaluate("document.querySelector('main').insertAdjacentHTML('beforeend', '<img id=\"no-alt\" src=\"/favicon.svg\">')")
        .await
        .unwrap();
    let caught = violations(&page, &axe).await;
    assert!(
        caught
            .iter()
            .any(|v| v.starts_with("image-alt") && v.contains("#no-alt")),
        "axe missed an image without alt: {caught:?}"
    );
    page.evaluate("document.getElementById('no-alt').remove()")
        .await
        .unwrap();
    found.extend(problems(&page, &axe, "/signin").await);
    page.goto(app.url("/invite").as_str()).await.unwrap();
    found.extend(problems(&page, &axe, "/invite").await);

    // Keyboard only: Tab reaches the email field through the menu, Tab moves on to the
    // password, Enter signs in.
    page.goto(app.url("/signin").as_str()).await.unwrap();
    set_width(&page, 1280, 900).await;
    settled(&page).await;
    let focused = "(document.activeElement || {}).id || ''";
    let mut tabs = 0;
    while text(&page, focused).await != "sign-in-email" {
        tabs += 1;
        assert!(tabs <= 12, "Tab never reached the email field");
        page.find_element("body")
            .await
            .unwrap()
            .press_key("Tab")
            .await
            .unwrap();
    }
    let email = page.find_element("#sign-in-email").await.unwrap();
    email.type_str(ADMIN).await.unwrap();
    email.press_key("Tab").await.unwrap();
    assert_eq!(text(&page, focused).await, "sign-in-password");
    let password = page.find_element("#sign-in-password").await.unwrap();
    password.type_str(PASSWORD).await.unwrap();
    password.press_key("Enter").await.unwrap();
    wait_for(&page, "String(location.pathname === '/')", "signed in").await;

    const SIGNED_IN: [&str; 5] = ["/", "/insights", "/live", "/admin", "/account"];
    for path in SIGNED_IN {
        page.goto(app.url(path).as_str()).await.unwrap();
        found.extend(problems(&page, &axe, path).await);
    }

    // In Chinese: the switch in the top bar reloads the page in the other language (kept in
    // a cookie), and every page passes the same checks.
    set_width(&page, 1280, 900).await;
    settled(&page).await;
    click_switch(&page).await;
    wait_for(
        &page,
        "String(document.documentElement.lang === 'zh-CN' \
         && document.querySelector('nav a').textContent === '概览')",
        "the page in Chinese",
    )
    .await;
    for path in SIGNED_IN {
        page.goto(app.url(path).as_str()).await.unwrap();
        found.extend(problems(&page, &axe, &format!("{path} (zh-CN)")).await);
    }

    // The browser's own language decides when nothing was chosen: without the cookie, a
    // browser that asks for Chinese gets Chinese, and one that asks for English English.
    page.execute(ClearBrowserCookiesParams::default())
        .await
        .unwrap();
    let agent = page.user_agent().await.unwrap();
    for (accept, lang, heading) in [
        ("zh-CN,zh;q=0.9", "zh-CN", "登录"),
        ("en-GB,en", "en", "Sign in"),
    ] {
        page.set_user_agent(
            SetUserAgentOverrideParams::builder()
                .user_agent(agent.clone())
                .accept_language(accept)
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
        page.goto(app.url("/signin").as_str()).await.unwrap();
        wait_for(
            &page,
            &format!(
                "String(document.documentElement.lang === '{lang}' \
                 && document.querySelector('main h1').textContent === '{heading}')"
            ),
            accept,
        )
        .await;
    }
    found.extend(problems(&page, &axe, "/signin (en after zh)").await);
    assert!(
        found.is_empty(),
        "accessibility problems:\n{}",
        found.join("\n")
    );
    page.close().await.unwrap();
    shop.finish().await;
}
