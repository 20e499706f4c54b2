//! Posting events through the API as a tracker does: in batches of [`BATCH`], each sent
//! again (same ids) until it is accepted whole, through a process that may be down or
//! answering 503 for a while.

use super::processes::RecoscopeProcess;
use super::TestApp;
use recoscope_core::Event;
use std::time::{Duration, Instant};

/// Events per request.
pub const BATCH: usize = 50;

/// Where and as whom to post (owned, so a test can post while it restarts a part of `app`).
pub struct Client {
    http: reqwest::Client,
    url: String,
    key: String,
}

impl Client {
    pub fn of(app: &TestApp) -> Client {
        Client {
            http: app.http.clone(),
            url: app.url("/api/v1/behaviors"),
            key: app.key.clone(),
        }
    }

    /// Posting to a `recoscope all` process of the test instead of the in-test API.
    pub fn to_process(app: &TestApp, process: &RecoscopeProcess) -> Client {
        Client {
            http: app.http.clone(),
            url: process.url("/api/v1/behaviors"),
            key: app.key.clone(),
        }
    }
}

/// Posts each batch until it is accepted whole: 503 (broker away) is retried like a tracker
/// does.
pub async fn send(client: &Client, events: &[Event]) {
    for batch in events.chunks(BATCH) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let sent = client
                .http
                .post(&client.url)
                .header("X-Recoscope-Key", &client.key)
                .json(&serde_json::json!({ "events": batch }))
                .send()
                .await;
            // A process that is down (killed, restarting) refuses the connection: the batch
            // is sent again, with the same ids, as the tracker does.
            let Ok(response) = sent else {
                assert!(Instant::now() < deadline, "the API never came back");
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            };
            let status = response.status();
            if status == 200 {
                let body: serde_json::Value = response.json().await.unwrap();
                assert_eq!(body["accepted"], batch.len(), "{body}");
                break;
            }
            assert_eq!(status, 503, "{}", response.text().await.unwrap());
            assert!(Instant::now() < deadline, "the API kept answering 503");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}
