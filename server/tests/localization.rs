//! The dashboard in Simplified Chinese: chosen from the browser's `Accept-Language`, kept by
//! the language switch's cookie, and with no English word left in what a person reads or a
//! screen reader announces (text, `aria-label`, `title`, `placeholder`, `alt`) on any page.

mod support;

use support::TestApp;

use support::{OPERATOR as ADMIN, OPERATOR_PASSWORD as PASSWORD};

/// Words an English-free Chinese page may still hold: names and abbreviations that are the
/// same in Chinese text (the product, file formats, time zones, the switch back to English).
const ALLOWED: [&str; 17] = [
    "Recoscope",
    "ID",
    "CSV",
    "JSON",
    "API",
    "UTC",
    "English",
    "Europe",
    "Berlin",
    "London",
    "America",
    "New",
    "York",
    "Asia",
    "Shanghai",
    "Kolkata",
    "p",
];

/// What a person reads on `html` (text outside tags, scripts, styles and code) and what a
/// screen reader announces from attributes.
fn readable(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        out.push(rest[..open].to_string());
        let Some(close) = rest[open..].find('>') else {
            break;
        };
        let tag = &rest[open + 1..open + close];
        rest = &rest[open + close + 1..];
        // Code (a command to type, an attribute's name) reads the same in every language.
        for skipped in ["script", "style", "code"] {
            if tag.starts_with(skipped) {
                let end = format!("</{skipped}>");
                rest = rest.find(&end).map_or("", |i| &rest[i + end.len()..]);
            }
        }
        for attribute in ["aria-label", "title", "placeholder", "alt"] {
            let key = format!("{attribute}=\"");
            if let Some(start) = tag.find(&key) {
                let value = &tag[start + key.len()..];
                out.push(value[..value.find('"').unwrap_or(value.len())].to_string());
            }
        }
    }
    out.push(rest.to_string());
    out
}

/// The English words in what `html` shows: letter-only tokens not in [`ALLOWED`]; ids,
/// keys, emails and paths (with digits, `_`, `@`, `/`, `.` or `-` inside) are data, not words.
fn english_words(html: &str) -> Vec<String> {
    let mut words: Vec<String> = readable(html)
        .iter()
        .flat_map(|text| {
            text.split(|c: char| {
                c.is_whitespace() || "()（）,，:：;；·«»\"'“”!?。、…—–|[]{}".contains(c)
            })
            .map(str::to_string)
            .collect::<Vec<_>>()
        })
        .map(|w| w.trim_matches(|c: char| c == '.' || c == '-').to_string())
        .filter(|w| w.chars().any(|c| c.is_ascii_alphabetic()))
        .filter(|w| w.chars().all(|c| c.is_ascii_alphabetic()))
        .filter(|w| !ALLOWED.contains(&w.as_str()))
        .collect();
    words.sort();
    words.dedup();
    words
}

async fn page(app: &TestApp, path: &str, cookie: &str, accept_language: &str) -> String {
    app.http
        .get(app.url(path))
        .header("cookie", cookie)
        .header("accept-language", accept_language)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_reads_in_chinese_when_the_browser_asks_for_it() {
    let app = TestApp::start().await;
    app.feed(40, 40).await;
    support::add_operator(&app, ADMIN, PASSWORD, &app.tenant, "admin");
    let signed_in = app
        .http
        .post(app.url("/api/sign_in"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string([("email", ADMIN), ("password", PASSWORD)]).unwrap())
        .send()
        .await
        .unwrap();
    let session = support::set_cookie(&signed_in, "recoscope_session")
        .expect("a session")
        .split(';')
        .next()
        .unwrap()
        .to_string();

    let read_key = format!("recoscope_read_key={}", app.read_key);
    let chinese = "zh-CN,zh;q=0.9,en;q=0.8";
    let mut found = Vec::new();
    for (path, cookie) in [
        ("/signin", ""),
        ("/invite", ""),
        ("/", session.as_str()),
        ("/?hours=720", session.as_str()),
        ("/insights?days=30", session.as_str()),
        ("/live", session.as_str()),
        ("/admin", session.as_str()),
        ("/account", session.as_str()),
        // Signed in with a read key: the menu names that instead of an email.
        ("/live", read_key.as_str()),
    ] {
        let html = page(&app, path, cookie, chinese).await;
        assert!(html.contains("<html lang=\"zh-CN\">"), "{path}: {html}");
        assert!(!html.contains("Could not load"), "{path}: {html}");
        let words = english_words(&html);
        if !words.is_empty() {
            found.push(format!("{path}: {words:?}"));
        }
        // The same page in English has English words: the check can fail.
        let english = page(&app, path, cookie, "en-US,en;q=0.9").await;
        assert!(english.contains("<html lang=\"en\">"), "{path}");
        assert!(english_words(&english).len() > 3, "{path}: {english}");
    }
    assert!(
        found.is_empty(),
        "English left on Chinese pages:\n{}",
        found.join("\n")
    );

    // The switch's cookie wins over the browser's language, both ways.
    let switched = app
        .http
        .post(app.url("/api/set_locale"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("locale=zh-CN")
        .send()
        .await
        .unwrap();
    let cookie = switched
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(cookie.starts_with("recoscope_locale=zh-CN;"), "{cookie}");
    let chosen = format!("{session}; recoscope_locale=zh-CN");
    let html = page(&app, "/", &chosen, "en-US,en;q=0.9").await;
    assert!(html.contains("<html lang=\"zh-CN\">"));
    assert!(html.contains("概览"), "the menu is Chinese");
    let html = page(
        &app,
        "/",
        &format!("{session}; recoscope_locale=en"),
        chinese,
    )
    .await;
    assert!(html.contains("<html lang=\"en\">") && html.contains("Overview"));
    // A language we do not have is refused, and a browser asking for one gets English.
    let refused = app
        .http
        .post(app.url("/api/set_locale"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("locale=fr")
        .send()
        .await
        .unwrap();
    assert!(!refused.status().is_success());
    let html = page(&app, "/signin", "", "fr-FR,fr;q=0.9").await;
    assert!(html.contains("<html lang=\"en\">"));
    app.cleanup().await;
}
