//! `compose.yaml`, the single-host deployment, as a compose tool reads it (Debian's
//! `docker-compose`, which `scripts/test` installs): it is valid, it refuses to start without
//! the secrets it needs, the Recoscope services run the roles ops expect, and every setting
//! it gives them is one the binary actually reads (a typo there is silently ignored at run
//! time, so it is caught here).
//!
//! Then the same file runs: its images cannot be pulled on these machines, so
//! `deploy/standins/compose.yaml` swaps the four service images for stand-ins built from the
//! package registries (`scripts/compose-standins images`, which `scripts/test` runs) and
//! everything else is compose.yaml's own: the network and names, volumes, health-checked
//! start order, `migrate` before the app, two worker replicas, the image `scripts/image`
//! built.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use support::{unique, wait_until};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn compose_config(password: Option<&str>) -> Output {
    let mut command = Command::new("docker-compose");
    command
        .args(["--file", "compose.yaml", "config"])
        .current_dir(root())
        .env_remove("CLICKHOUSE_PASSWORD");
    if let Some(password) = password {
        command.env("CLICKHOUSE_PASSWORD", password);
    }
    command
        .output()
        .expect("docker-compose runs (scripts/test installs it)")
}

/// Each service's `command` and `environment` in the normalized config `docker-compose config`
/// prints (two-space indentation, one key per line).
fn services(config: &str) -> BTreeMap<String, (Vec<String>, BTreeMap<String, String>)> {
    let mut services = BTreeMap::new();
    let mut in_services = false;
    let (mut service, mut section) = (String::new(), String::new());
    for line in config.lines() {
        let indent = line.len() - line.trim_start().len();
        let text = line.trim();
        match indent {
            0 => in_services = text == "services:",
            2 if in_services => {
                service = text.trim_end_matches(':').to_string();
                services.insert(service.clone(), (Vec::new(), BTreeMap::new()));
            }
            4 if in_services && !text.starts_with("- ") => {
                section = text.trim_end_matches(':').to_string()
            }
            _ if in_services && !service.is_empty() => {
                let entry = services.get_mut(&service).unwrap();
                if section == "command" && indent == 4 && text.starts_with("- ") {
                    entry.0.push(text[2..].to_string());
                } else if section == "environment" && indent == 6 {
                    if let Some((key, value)) = text.split_once(':') {
                        let value = value.trim().trim_matches('\'').to_string();
                        entry.1.insert(key.to_string(), value);
                    }
                }
            }
            _ => {}
        }
    }
    services
}

/// Every variable the binary reads: the `envconfig` names in the crates' sources, and the
/// log filter.
fn variables_the_binary_reads() -> BTreeSet<String> {
    let mut names = BTreeSet::from(["RUST_LOG".to_string()]);
    let mut dirs = vec![root()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if !["target", "node_modules", ".git", ".stack", "tests"].contains(&name.as_str()) {
                    dirs.push(path);
                }
            } else if name.ends_with(".rs") {
                let source = std::fs::read_to_string(&path).unwrap();
                for part in source.split("from = \"").skip(1) {
                    if let Some(end) = part.find('"') {
                        names.insert(part[..end].to_string());
                    }
                }
            }
        }
    }
    names
}

#[test]
#[ignore = "needs docker-compose: run scripts/test"]
fn the_compose_stack_is_valid_and_configures_only_what_the_binary_reads() {
    let refused = compose_config(None);
    assert!(
        !refused.status.success(),
        "it must not start without the password"
    );
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("CLICKHOUSE_PASSWORD"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    let output = compose_config(Some("a-secret"));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let config = String::from_utf8(output.stdout).unwrap();
    let services = services(&config);
    for name in [
        "kafka",
        "clickhouse",
        "redis",
        "mongo",
        "migrate",
        "serve",
        "worker",
    ] {
        assert!(services.contains_key(name), "no {name} service:\n{config}");
    }
    assert_eq!(services["serve"].0, ["serve"]);
    assert_eq!(services["worker"].0, ["worker"]);
    assert_eq!(services["migrate"].0, ["migrate"]);

    let known = variables_the_binary_reads();
    assert!(known.contains("KAFKA_BROKERS") && known.contains("WORKER_LISTEN"));
    for name in ["migrate", "serve", "worker"] {
        let env = &services[name].1;
        for key in env.keys() {
            assert!(
                known.contains(key),
                "{name} sets {key}, which nothing reads"
            );
        }
        // The production stores, and the services by their compose names.
        assert_eq!(env["MONGODB_URI"], "mongodb://mongo:27017", "{name}");
        assert_eq!(env["KAFKA_BROKERS"], "kafka:9092", "{name}");
        assert_eq!(env["CLICKHOUSE_PASSWORD"], "a-secret", "{name}");
    }
    assert!(config.contains("replicas: 2"), "workers scale:\n{config}");
}

/// One compose project of compose.yaml with the stand-in images, under a name of its own
/// (its network, containers and volumes are named after it), taken down with its volumes
/// when dropped, also when the test panics.
struct Project {
    name: String,
    env: Vec<(&'static str, String)>,
}

impl Project {
    fn compose(&self, args: &[&str]) -> Output {
        let mut command = Command::new("docker-compose");
        command
            .args(["--project-name", &self.name])
            .args(["--file", "compose.yaml"])
            .args(["--file", "deploy/standins/compose.yaml"])
            .args(args)
            .current_dir(root());
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command
            .output()
            .expect("docker-compose runs (scripts/test installs it)")
    }

    fn ok(&self, args: &[&str]) -> String {
        let output = self.compose(args);
        assert!(
            output.status.success(),
            "docker-compose {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The ids of a service's containers, stopped ones too.
    fn containers(&self, service: &str) -> Vec<String> {
        self.ok(&["ps", "--all", "-q", service])
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn logs(&self) -> String {
        let output = self.compose(&["logs", "--no-color", "--tail", "40"]);
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = self.compose(&["down", "--volumes", "--remove-orphans", "-t", "10"]);
    }
}

fn docker_inspect(container: &str, format: &str) -> String {
    let output = Command::new("docker")
        .args(["inspect", "--format", format, container])
        .output()
        .expect("docker runs");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn container_logs(container: &str) -> String {
    let output = Command::new("docker")
        .args(["logs", container])
        .output()
        .expect("docker runs");
    String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
}

/// How many partitions a worker reads in a group, by its last `partitions assigned` log line
/// (`… group="clickhouse-sink" … reading={0, 2, 4} …`, coloured: the escapes are dropped).
fn partitions_read(logs: &str, group: &str) -> usize {
    let plain: String = logs
        .split('\x1b')
        .enumerate()
        .map(|(i, part)| match (i, part.find('m')) {
            (0, _) | (_, None) => part,
            (_, Some(end)) => &part[end + 1..],
        })
        .collect();
    plain
        .lines()
        .rev()
        .find(|line| {
            line.contains("partitions assigned") && line.contains(&format!("group=\"{group}\""))
        })
        .and_then(|line| line.split("reading={").nth(1))
        .and_then(|rest| rest.split('}').next())
        .map_or(0, |set| {
            set.split(',').filter(|p| !p.trim().is_empty()).count()
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Docker and the stand-in images: run scripts/test"]
async fn the_compose_topology_starts_in_order_loads_events_and_stops_cleanly() {
    let image = std::env::var("RECOSCOPE_IMAGE").expect("RECOSCOPE_IMAGE (set by scripts/test)");
    let port = support::processes::free_port();
    let project = Project {
        // Short: it prefixes every container, network and volume name.
        name: unique("rct").chars().take(15).collect(),
        env: vec![
            ("RECOSCOPE_IMAGE", image),
            ("RECOSCOPE_PORT", port.to_string()),
            ("CLICKHOUSE_PASSWORD", unique("pw-")),
            ("RECOSCOPE_ADMIN_TOKEN", unique("admin-")),
        ],
    };

    // `up` returns once every container is started, which for the app means after its
    // services passed their health checks and `migrate` exited 0.
    project.ok(&["up", "-d"]);
    let migrate = project.containers("migrate");
    assert_eq!(migrate.len(), 1);
    assert_eq!(
        docker_inspect(&migrate[0], "{{.State.ExitCode}}"),
        "0",
        "{}",
        project.logs()
    );
    let workers = project.containers("worker");
    assert_eq!(workers.len(), 2, "compose.yaml runs two workers");

    // The API container turns healthy by its own health check (the image's `probe`).
    let serve = project.containers("serve").remove(0);
    wait_until(
        120,
        async || match docker_inspect(&serve, "{{.State.Health.Status}}") {
            status if status == "healthy" => Ok(()),
            status => Err(format!("serve is {status:?}")),
        },
        || project.logs(),
    )
    .await;

    // A tenant and a write key from the image's CLI, into the MongoDB-protocol store the
    // API reads its keys from.
    let tenant = "shop";
    project.ok(&[
        "exec",
        "-T",
        "serve",
        "/app/recoscope",
        "tenants",
        "create",
        tenant,
    ]);
    let issued = project.ok(&[
        "exec",
        "-T",
        "serve",
        "/app/recoscope",
        "keys",
        "issue",
        tenant,
    ]);
    let key = serde_json::from_str::<serde_json::Value>(&issued).unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();

    // Events through the published port; the API picks the new key up within
    // INGEST_KEYS_REFRESH_SECS (5 s).
    let events = support::feed_events(40, 4);
    let http = reqwest::Client::new();
    let api = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = support::post_behaviors(&http, &api, &key, &events).await;
        let status = response.status();
        if status == 200 {
            break;
        }
        assert!(
            status == 401 && Instant::now() < deadline,
            "{status}: {}",
            response.text().await.unwrap()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // The two workers load them into ClickHouse, each row once.
    wait_until(
        90,
        async || {
            let counted = project.compose(&[
                "exec",
                "-T",
                "clickhouse",
                "clickhouse-client",
                "--query",
                "SELECT count(), uniqExact(item_id) FROM recoscope.user_behaviors",
            ]);
            match String::from_utf8_lossy(&counted.stdout).trim() {
                "40\t40" => Ok(()),
                other => Err(format!(
                    "rows, items in ClickHouse: {other:?}, not 40 and 40"
                )),
            }
        },
        || project.logs(),
    )
    .await;

    // The two replicas share the topic's 6 partitions, 3 each, in the loader's group.
    wait_until(
        60,
        async || {
            let shares: Vec<usize> = workers
                .iter()
                .map(|worker| partitions_read(&container_logs(worker), "clickhouse-sink"))
                .collect();
            match shares[..] {
                [3, 3] => Ok(()),
                _ => Err(format!("partitions per worker: {shares:?}")),
            }
        },
        || project.logs(),
    )
    .await;

    // The dashboard answers on the published port.
    let page = http.get(format!("{api}/signin")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("/pkg/recoscope"));

    // SIGTERM (compose's stop): each worker delivers, commits, leaves its group and exits 0.
    project.ok(&["stop", "-t", "30", "worker"]);
    for worker in &workers {
        assert_eq!(
            docker_inspect(worker, "{{.State.ExitCode}}"),
            "0",
            "{}",
            project.logs()
        );
    }
}
