//! CPU time, read from `/proc` (Linux): of this process, of the children it has waited for
//! (a `clickhouse-client` baseline), of a set of its threads picked by name (the server's
//! runtime and its Kafka client, apart from the load generator beside them in the same
//! process), and of the ClickHouse server's query threads (its `system.events`).
//!
//! Times in `/proc/*/stat` are in clock ticks of 1/100 s (`USER_HZ`, 100 on every Linux
//! architecture this runs on), so a phase is measured over seconds, not milliseconds.

use recoscope_clickhouse::{ClickHouse, Query};
use std::collections::HashMap;
use std::time::Duration;

const TICKS_PER_SECOND: u64 = 100;

/// The fields of a `/proc/.../stat` line after the command name (which may hold spaces and
/// parentheses, so the line is split after its last `)`), and the name.
fn stat_fields(text: &str) -> Option<(String, Vec<u64>)> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let name = text[open + 1..close].to_string();
    // Fields from the 3rd (state) on; the state is a letter, so it parses as 0.
    let fields = text[close + 1..]
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    Some((name, fields))
}

fn ticks(t: u64) -> Duration {
    Duration::from_millis(t * 1000 / TICKS_PER_SECOND)
}

/// utime + stime (fields 14 and 15; index 11 and 12 counted from field 3).
fn own_time(fields: &[u64]) -> Duration {
    ticks(fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0))
}

/// This process's CPU time (every thread, user and system).
pub fn process() -> Duration {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|t| stat_fields(&t))
        .map_or(Duration::ZERO, |(_, f)| own_time(&f))
}

/// CPU time of the children this process has waited for (cutime + cstime).
pub fn waited_children() -> Duration {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|t| stat_fields(&t))
        .map_or(Duration::ZERO, |(_, f)| {
            ticks(f.get(13).copied().unwrap_or(0) + f.get(14).copied().unwrap_or(0))
        })
}

/// CPU time of each live thread of this process whose name `pick` accepts, by thread id.
pub fn threads(pick: impl Fn(&str) -> bool) -> HashMap<u64, Duration> {
    let mut out = HashMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for task in tasks.flatten() {
        let Ok(tid) = task.file_name().to_string_lossy().parse::<u64>() else {
            continue;
        };
        let Some((name, fields)) = std::fs::read_to_string(task.path().join("stat"))
            .ok()
            .and_then(|t| stat_fields(&t))
        else {
            continue;
        };
        if pick(&name) {
            out.insert(tid, own_time(&fields));
        }
    }
    out
}

/// The CPU the picked threads spent between two [`threads`] readings: each thread's growth,
/// threads born in between counted whole. A thread that ended in between loses what it
/// spent since `before` (the server runtime keeps its threads alive, so none should).
pub fn spent(before: &HashMap<u64, Duration>, after: &HashMap<u64, Duration>) -> Duration {
    after
        .iter()
        .map(|(tid, now)| now.saturating_sub(before.get(tid).copied().unwrap_or_default()))
        .sum()
}

/// The server's threads: a runtime built with `thread_name("server")` and librdkafka's own
/// threads (`rdk:main`, `rdk:broker…`).
pub fn is_server_thread(name: &str) -> bool {
    name.starts_with("server") || name.starts_with("rdk:")
}

/// A runtime for the server alone, so that its threads can be told from the load
/// generator's. Its blocking threads stay alive for the run, so none ends (and takes its
/// CPU time along) in the middle of a measurement.
pub fn server_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("server")
        .thread_keep_alive(Duration::from_secs(24 * 3600))
        .enable_all()
        .build()
}

/// Runs `bench` on a runtime of the bench's own, handing it a [`server_runtime`] to start
/// the server on.
pub fn beside_a_server<Fut>(bench: impl FnOnce(tokio::runtime::Handle) -> Fut) -> anyhow::Result<()>
where
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let server = server_runtime()?;
    let outcome = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(bench(server.handle().clone()));
    server.shutdown_background();
    outcome
}

/// CPU time of the ClickHouse server's query threads so far (user + system, from
/// `system.events`; background merges are not in it).
pub async fn clickhouse_queries(ch: &ClickHouse) -> anyhow::Result<Duration> {
    #[derive(serde::Deserialize)]
    struct Micros {
        micros: u64,
    }
    let m: Micros = ch
        .fetch_one(Query::new(
            "SELECT toUInt64(sum(value)) AS micros FROM system.events \
             WHERE event IN ('UserTimeMicroseconds', 'SystemTimeMicroseconds')",
        ))
        .await?;
    Ok(Duration::from_micros(m.micros))
}

/// Seconds of CPU per million events.
pub fn per_million(cpu: Duration, events: usize) -> f64 {
    cpu.as_secs_f64() * 1e6 / events.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_with_spaces_and_parentheses_in_its_name_parses() {
        let line = "4242 (rdk:broker (1)) S 1 2 3 4 5 6 7 8 9 10 250 50 30 20 0 0";
        let (name, fields) = stat_fields(line).unwrap();
        assert_eq!(name, "rdk:broker (1)");
        assert_eq!(own_time(&fields), Duration::from_secs(3));
        assert!(is_server_thread(&name));
        assert!(!is_server_thread("tokio-runtime-w"));
    }

    #[test]
    fn this_process_spends_cpu_and_its_threads_are_listed() {
        let before = process();
        let mut x = 0u64;
        for i in 0..50_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        assert!(x != 1);
        assert!(
            process() > before,
            "a busy loop shows in the process's time"
        );
        assert!(!threads(|_| true).is_empty());
    }
}
