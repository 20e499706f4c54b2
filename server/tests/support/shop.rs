//! The demo shop in a real browser: an app whose shop sends as the test's tenant, a catalog
//! for it, Debian's Chromium driven over the DevTools protocol, and the events as ClickHouse
//! stored them.

use super::{cli, TestApp};
use chromiumoxide::{Browser, BrowserConfig, Page};
use futures::StreamExt;
use std::time::Duration;

/// Items in the test catalog: enough for every list of the shop's pages.
pub const CATALOG_ITEMS: usize = 40;

pub struct Shop {
    pub app: TestApp,
    /// Between the browser and the app: can make the app unreachable while the browser
    /// stays online.
    pub gate: Gate,
    pub browser: Browser,
    handler: tokio::task::JoinHandle<()>,
    /// Removed when the shop goes, also when a test panics.
    _profile: ProfileDir,
}

/// A browser profile in a temporary directory, removed on drop (Chromium itself is killed
/// when its `Browser` drops).
struct ProfileDir(std::path::PathBuf);

impl Drop for ProfileDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One row of `user_behaviors`, with what the tracker fills in.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct Stored {
    pub event_id: String,
    pub action_type: String,
    pub scenario_id: String,
    pub item_id: String,
    pub user_id: String,
    pub session_id: String,
    pub request_id: String,
    pub position: Option<u32>,
    pub experiment_id: String,
    pub experiment_group: String,
    pub event_ts_ms: u64,
    pub watch_duration: Option<f64>,
    pub completion_rate: Option<f64>,
    pub extra_data: String,
}

impl Stored {
    /// What makes an impression one: (request, item, position).
    pub fn key(&self) -> (String, String, Option<u32>) {
        (self.request_id.clone(), self.item_id.clone(), self.position)
    }
}

impl Shop {
    /// The app (its shop selling the catalog of the test's tenant) and a fresh Chromium.
    pub async fn start() -> Shop {
        Shop::start_with_preferences(None).await
    }

    /// The same, with the browser's profile preferences set as a user would have set them in
    /// its settings (e.g. `{"enable_do_not_track": true}`).
    pub async fn start_with_preferences(preferences: Option<serde_json::Value>) -> Shop {
        let site =
            std::env::var("LEPTOS_SITE_ROOT").expect("LEPTOS_SITE_ROOT (set by scripts/test)");
        assert!(
            std::path::Path::new(&site)
                .join("t/recoscope.wasm")
                .exists(),
            "no tracker in {site}/t (scripts/test builds it)"
        );
        let app = TestApp::start_with(|config| {
            config.demo_shop_write_key = config
                .stores
                .write_keys
                .split('=')
                .next()
                .unwrap_or_default()
                .to_string();
        })
        .await;
        let items = app
            .config
            .stores
            .path
            .replace("config.sqlite3", "items.csv");
        let mut csv = String::from("item_id,name,category,price\n");
        for n in 0..CATALOG_ITEMS {
            csv.push_str(&format!("sku-{n},Item {n},cat-{},{}.50\n", n % 4, 10 + n));
        }
        std::fs::write(&items, csv).unwrap();
        let (ok, out, err) = cli(&app, &["catalog", "import-items", &app.tenant, &items]);
        assert!(ok, "catalog import failed: {out}{err}");

        let profile = ProfileDir(std::env::temp_dir().join(super::unique("recoscope-chromium-")));
        if let Some(preferences) = preferences {
            std::fs::create_dir_all(profile.0.join("Default")).unwrap();
            std::fs::write(
                profile.0.join("Default/Preferences"),
                preferences.to_string(),
            )
            .unwrap();
        }
        let chromium = std::env::var("CHROMIUM_BIN").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let config = BrowserConfig::builder()
            .chrome_executable(chromium)
            .new_headless_mode()
            .no_sandbox()
            .user_data_dir(&profile.0)
            .window_size(1000, 700)
            .viewport(None)
            .args(super::CHROMIUM_FLAGS)
            .build()
            .unwrap();
        let (browser, mut events) = Browser::launch(config).await.expect("Chromium starts");
        let handler = tokio::spawn(async move { while events.next().await.is_some() {} });
        let gate = Gate::start(app.addr).await;
        Shop {
            app,
            gate,
            browser,
            handler,
            _profile: profile,
        }
    }

    /// The address of `path` as the browser reaches it (through the gate).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.gate.addr, path)
    }

    /// Opens `path` of the app in a new tab (in front) and waits for the tracker.
    pub async fn open(&self, path: &str) -> Page {
        let page = self.browser.new_page(self.url(path)).await.unwrap();
        wait_for_tracker(&page).await;
        page
    }

    /// The tenant's events, oldest first (an impression counted by a click has the click's
    /// time, and comes first).
    pub async fn stored(&self) -> Vec<Stored> {
        self.app
            .clickhouse
            .fetch(
                recoscope_clickhouse::Query::new(
                    "SELECT event_id, toString(action_type) AS action_type, scenario_id, item_id, \
                     user_id, session_id, request_id, position, experiment_id, experiment_group, \
                     event_ts_ms, watch_duration, completion_rate, extra_data \
                     FROM user_behaviors WHERE tenant_id = ? \
                     ORDER BY event_ts_ms, action_type, event_id",
                )
                .bind(&self.app.tenant),
            )
            .await
            .unwrap()
    }

    /// Waits until `done` holds for the stored events, then two more seconds to see that no
    /// more (a duplicate, a late impression) arrive after it; returns the events.
    pub async fn settled(&self, what: &str, done: impl Fn(&[Stored]) -> bool) -> Vec<Stored> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let events = self.stored().await;
            if done(&events) {
                tokio::time::sleep(Duration::from_secs(2)).await;
                return self.stored().await;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}; stored: {events:#?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn finish(mut self) {
        let _ = self.browser.close().await;
        let _ = self.browser.wait().await;
        self.handler.abort();
        self.app.cleanup().await;
    }
}

pub async fn wait_for_tracker(page: &Page) {
    for _ in 0..100 {
        let loaded: bool = page
            .evaluate("!!(window.recoscope && window.recoscope.loaded)")
            .await
            .ok()
            .and_then(|v| v.into_value().ok())
            .unwrap_or(false);
        if loaded {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the tracker did not load");
}

/// Runs `script` in the page and returns its value.
pub async fn eval<T: serde::de::DeserializeOwned>(page: &Page, script: &str) -> T {
    page.evaluate(script)
        .await
        .unwrap_or_else(|e| panic!("{script}: {e}"))
        .into_value()
        .unwrap_or_else(|e| panic!("{script}: {e}"))
}

/// Runs `script` in the page for what it does.
pub async fn run(page: &Page, script: &str) {
    page.evaluate(script)
        .await
        .unwrap_or_else(|e| panic!("{script}: {e}"));
}

/// The items of recommendation lists by how much of each is in the viewport now:
/// `(request, item, position, ratio)`.
pub async fn visible_items(page: &Page) -> Vec<(String, String, Option<u32>, f64)> {
    eval(
        page,
        "[...document.querySelectorAll('[data-reco-list] [data-reco-item]')].map(el => {
           const r = el.getBoundingClientRect();
           const w = Math.max(0, Math.min(r.right, innerWidth) - Math.max(r.left, 0));
           const h = Math.max(0, Math.min(r.bottom, innerHeight) - Math.max(r.top, 0));
           const list = el.closest('[data-reco-list]');
           const pos = el.getAttribute('data-reco-position');
           return [list.getAttribute('data-reco-request'), el.getAttribute('data-reco-item'),
                   pos === null ? null : Number(pos), (w * h) / (r.width * r.height)];
         })",
    )
    .await
}

/// Turns the page's network off or on (as `navigator.onLine` sees it too).
pub async fn set_offline(page: &Page, offline: bool) {
    // The requests fail (every URL matches the empty pattern), and the page is told
    // (`navigator.onLine`, the online/offline events).
    use chromiumoxide::cdp::browser_protocol::network::{
        EmulateNetworkConditionsByRuleParams, NetworkConditions, OverrideNetworkStateParams,
    };
    let all = vec![NetworkConditions::new("", 0., -1., -1.)];
    page.execute(EmulateNetworkConditionsByRuleParams::new(offline, all))
        .await
        .unwrap();
    page.execute(OverrideNetworkStateParams::new(offline, 0., -1., -1.))
        .await
        .unwrap();
}

/// Waits until the page's location path starts with `prefix` (after a click that navigates).
pub async fn wait_for_path(page: &Page, prefix: &str) {
    for _ in 0..100 {
        let path: String = page
            .evaluate("location.pathname")
            .await
            .ok()
            .and_then(|v| v.into_value().ok())
            .unwrap_or_default();
        if path.starts_with(prefix) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the page did not reach {prefix}");
}

/// A TCP relay in front of the app. Closed, it cuts the connections it relays and drops new
/// ones at once: the browser sees the API unreachable (a network error), while
/// `navigator.onLine` stays true.
pub struct Gate {
    pub addr: std::net::SocketAddr,
    open: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Gate {
    async fn start(app: std::net::SocketAddr) -> Gate {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (open, watch) = tokio::sync::watch::channel(true);
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !*watch.borrow() {
                    drop(client);
                    continue;
                }
                let mut closed = watch.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(app).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = closed.wait_for(|open| !*open) => {}
                    }
                });
            }
        });
        Gate { addr, open, task }
    }

    /// Opens the gate, or closes it (cutting what it relays).
    pub fn set_open(&self, open: bool) {
        self.open.send_replace(open);
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Clicks the element `selector` names as a user would (scrolled into view, a real mouse
/// click). Right after a navigation the document may still be replaced under the driver
/// ("could not find node"): it tries again for a few seconds.
pub async fn click(page: &Page, selector: &str) {
    let mut last_error = String::new();
    for _ in 0..50 {
        match page.find_element(selector).await {
            Ok(element) => match element.click().await {
                Ok(_) => return,
                Err(e) => last_error = e.to_string(),
            },
            Err(e) => last_error = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("could not click {selector}: {last_error}");
}
