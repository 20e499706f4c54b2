//! What a browser downloads to open the dashboard: pages that are never served stale, and
//! the hydrate bundle, styles and ECharts under a versioned root, precompressed (brotli or
//! gzip by `Accept-Encoding`) and cacheable for a year.
//!
//! Needs the site laid out and precompressed by `scripts/test` (`LEPTOS_SITE_ROOT`), so it is
//! ignored in a bare `cargo test`; `scripts/test` runs it with `--run-ignored all`.

mod support;

use reqwest::header::{ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING};
use std::path::PathBuf;
use support::TestApp;

fn site() -> PathBuf {
    PathBuf::from(
        std::env::var("LEPTOS_SITE_ROOT").expect("LEPTOS_SITE_ROOT (set by scripts/test)"),
    )
}

/// The versioned asset root the page's links use, e.g. `/a/0123abcd…`.
fn asset_root(html: &str) -> String {
    let start = html
        .find("href=\"/a/")
        .map(|i| i + "href=\"".len())
        .unwrap_or_else(|| panic!("no versioned asset link in the page:\n{html}"));
    let rest = &html[start..];
    let end = rest["/a/".len()..].find('/').unwrap() + "/a/".len();
    rest[..end].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the precompressed site bundle: run scripts/test"]
async fn pages_load_versioned_precompressed_assets_and_are_never_cached_stale() {
    let site = site();
    let app = TestApp::start().await;

    // The page: checked with the server on every use.
    let page = app.http.get(app.url("/signin")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()[CACHE_CONTROL], "no-cache");
    let html = page.text().await.unwrap();
    let root = asset_root(&html);
    for link in [
        format!("{root}/pkg/recoscope.css"),
        format!("{root}/vendor/echarts.min.js"),
        format!("{root}/pkg/recoscope.js"),
        format!("{root}/pkg/recoscope_bg.wasm"),
    ] {
        assert!(
            html.contains(&link),
            "the page does not load {link}:\n{html}"
        );
    }

    // Each file as a browser asks for it: the precompressed copy, kept for a year.
    for (path, encoding, suffix) in [
        ("pkg/recoscope_bg.wasm", "br", "br"),
        ("vendor/echarts.min.js", "br", "br"),
        ("vendor/echarts.min.js", "gzip", "gz"),
        ("pkg/recoscope.css", "gzip, deflate, br", "br"),
    ] {
        let response = app
            .http
            .get(app.url(&format!("{root}/{path}")))
            .header(ACCEPT_ENCODING, encoding)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            response.headers()[CONTENT_ENCODING],
            suffix.replace("gz", "gzip")
        );
        let cache = response.headers()[CACHE_CONTROL]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            cache.contains("max-age=31536000") && cache.contains("immutable"),
            "{cache}"
        );
        let body = response.bytes().await.unwrap();
        let compressed = std::fs::read(site.join(format!("{path}.{suffix}"))).unwrap();
        let plain = std::fs::metadata(site.join(path)).unwrap().len();
        assert_eq!(body.as_ref(), compressed.as_slice(), "{path} as {encoding}");
        assert!(
            (body.len() as u64) < plain / 2,
            "{path}: {} of {plain} bytes",
            body.len()
        );
    }

    // A client that takes no encoding gets the file itself.
    let plain = app
        .http
        .get(app.url(&format!("{root}/pkg/recoscope.css")))
        .send()
        .await
        .unwrap();
    assert!(plain.headers().get(CONTENT_ENCODING).is_none());
    assert_eq!(
        plain.bytes().await.unwrap().as_ref(),
        std::fs::read(site.join("pkg/recoscope.css"))
            .unwrap()
            .as_slice()
    );

    // Another release's version is not this one's files (a cached page of the old release
    // must not get new files under the old, year-long URL).
    let stale = app
        .http
        .get(app.url("/a/0000000000000000/pkg/recoscope.css"))
        .send()
        .await
        .unwrap();
    assert_ne!(
        stale
            .headers()
            .get(CACHE_CONTROL)
            .map(|v| v.to_str().unwrap()),
        Some("public, max-age=31536000, immutable")
    );
    assert!(!stale
        .headers()
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap().starts_with("text/css")));
    app.cleanup().await;
}
