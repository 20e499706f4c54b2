//! A private in-memory tansu broker for a benchmark run.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Broker {
    pub address: String,
    child: Child,
}

impl Broker {
    pub async fn start() -> anyhow::Result<Broker> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let url = format!("tcp://127.0.0.1:{port}");
        let bin = std::env::var("TANSU_BIN").unwrap_or_else(|_| "tansu".into());
        let child = Command::new(bin)
            .args(["broker", "--storage-engine", "memory://tansu/"])
            .args(["--listener-url", &url, "--advertised-listener-url", &url])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let address = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(&address).await.is_err() {
            anyhow::ensure!(Instant::now() < deadline, "tansu did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Broker { address, child })
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
