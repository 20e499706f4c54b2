//! A page as Chromium leaves it after loading its bundle, hydrating and drawing: the DOM and
//! the console, for the browser tests of the dashboard (in-process and in the image).

use std::process::Command;

/// Chromium's DOM of `url` after the page loaded its bundle, hydrated and drew (virtual time),
/// and its console output.
pub async fn dump_dom(url: String) -> (String, String) {
    let chromium = std::env::var("CHROMIUM_BIN").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let profile = tempdir();
    let profile_dir = profile.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(chromium)
            .args(["--headless", "--no-sandbox"])
            .args(super::CHROMIUM_FLAGS)
            .args([
                "--enable-logging=stderr",
                "--v=0",
                "--window-size=1280,900",
                // Lets the page load the bundle, hydrate and draw before the DOM is dumped
                // (the insights page makes seven server calls; 15 s was tight under load).
                "--virtual-time-budget=30000",
                &format!("--user-data-dir={profile}"),
                "--dump-dom",
                &url,
            ])
            .output()
            .expect("chromium runs")
    })
    .await
    .unwrap();
    let _ = std::fs::remove_dir_all(&profile_dir);
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The markup of the chart container `id` up to the end of its figure.
pub fn chart_markup<'a>(dom: &'a str, id: &str) -> &'a str {
    let chart = dom
        .split(&format!("id=\"{id}\""))
        .nth(1)
        .expect("the chart container is on the page");
    &chart[..chart.find("</figure>").unwrap_or(chart.len())]
}

/// The sign-in link `recoscope keys read` prints for `read_key` on the server at `base`,
/// going on to `next`.
pub fn sign_in_url(base: &str, read_key: &str, next: &str) -> String {
    format!("{base}/signin?next={}#key={read_key}", url_escape(next))
}

fn url_escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn tempdir() -> String {
    let dir = std::env::temp_dir().join(format!("recoscope-chromium-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.to_string_lossy().into_owned()
}
