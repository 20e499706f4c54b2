//! `compose.yaml`, the single-host deployment, as a compose tool reads it (Debian's
//! `docker-compose`, which `scripts/test` installs): it is valid, it refuses to start without
//! the secrets it needs, the Recoscope services run the roles ops expect, and every setting
//! it gives them is one the binary actually reads (a typo there is silently ignored at run
//! time, so it is caught here).
//!
//! The images cannot be pulled on these machines, so the stack itself is not started here;
//! the image is run against the local stack by `tests/image.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
