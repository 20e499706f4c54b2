//! Driving a dashboard page in Chromium as a person does: reading what a script finds,
//! waiting for it, typing into fields and clicking.

use chromiumoxide::Page;

/// The value of a script on the page (empty when it throws or is not a string).
pub async fn text(page: &Page, script: &str) -> String {
    page.evaluate(script)
        .await
        .ok()
        .and_then(|v| v.into_value::<String>().ok())
        .unwrap_or_default()
}

/// Waits (up to 30 s) until `script` evaluates to `want`.
pub async fn wait_for_text(page: &Page, script: &str, want: &str) {
    super::wait_until(
        30,
        async || match text(page, script).await {
            seen if seen == want => Ok(()),
            seen => Err(format!("{script} = {seen:?}, want {want:?}")),
        },
        String::new,
    )
    .await;
}

/// Waits until the page is interactive (its forms post through server functions).
pub async fn hydrated(page: &Page) {
    wait_for_text(
        page,
        "String(document.documentElement.hasAttribute('data-hydrated'))",
        "true",
    )
    .await;
}

/// Types `value` into the field `selector`.
pub async fn fill(page: &Page, selector: &str, value: &str) {
    page.find_element(selector)
        .await
        .unwrap_or_else(|e| panic!("{selector}: {e}"))
        .click()
        .await
        .unwrap()
        .type_str(value)
        .await
        .unwrap();
}

pub async fn click(page: &Page, selector: &str) {
    page.find_element(selector)
        .await
        .unwrap_or_else(|e| panic!("{selector}: {e}"))
        .click()
        .await
        .unwrap();
}
