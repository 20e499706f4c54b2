//! `bench/decode`: reading a Kafka message back into a `BehaviorRecord`, which every worker
//! does for every message (the sink, the real-time writer, the recent-behaviour store).
//!
//! `BENCH_DECODE_EVENTS` (200000) simulator events are serialized as the API writes them.
//! Each round decodes all of them three ways, in turn, on one thread:
//! - the record's own reader (`serde_json::from_slice::<BehaviorRecord>`);
//! - the reader it replaced: serde's `flatten` around the event (kept here as the baseline);
//! - a generic `serde_json::Value`, the cost of the JSON alone with no types.
//!
//! `BENCH_DECODE_ROUNDS` (5) rounds; medians in ns per record. Last line:
//! `RESULT decode_ns=<n> flatten_ns=<n> value_ns=<n> ratio_vs_flatten=<decode/flatten>
//! ratio_vs_value=<decode/value>`.

use recoscope_bench::events::generate;
use recoscope_bench::setup::env_or;
use recoscope_bench::stats::median;
use recoscope_core::{BehaviorRecord, Event};
use std::hint::black_box;
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The reading before: the record's keys, and the rest buffered for the event.
#[derive(serde::Deserialize)]
struct Flattened {
    tenant_id: String,
    event_id: String,
    received_at: i64,
    #[serde(flatten)]
    event: Event,
}

fn ns_per_record(payloads: &[Vec<u8>], decode: impl Fn(&[u8]) -> usize) -> f64 {
    let started = Instant::now();
    let mut sum = 0usize;
    for payload in payloads {
        sum = sum.wrapping_add(decode(payload));
    }
    black_box(sum);
    started.elapsed().as_secs_f64() * 1e9 / payloads.len() as f64
}

fn main() -> anyhow::Result<()> {
    let n = env_or("BENCH_DECODE_EVENTS", 200_000);
    let rounds = env_or("BENCH_DECODE_ROUNDS", 5).max(1);
    let received_at = recoscope_core::clock::now_ms();
    let payloads = generate(n, "decode")
        .into_iter()
        .map(|event| {
            let record = BehaviorRecord::new("bench-tenant", event, received_at, String::new);
            serde_json::to_vec(&record)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let bytes: usize = payloads.iter().map(Vec::len).sum();
    println!(
        "{n} records, {:.0} bytes each on average",
        bytes as f64 / n as f64
    );

    // Every reader must give the same records, or the comparison means nothing.
    for payload in payloads.iter().take(1000) {
        let own: BehaviorRecord = serde_json::from_slice(payload)?;
        let old: Flattened = serde_json::from_slice(payload)?;
        anyhow::ensure!(
            (
                own.tenant_id.as_str(),
                own.event_id.as_str(),
                own.received_at,
                &own.event
            ) == (
                old.tenant_id.as_str(),
                old.event_id.as_str(),
                old.received_at,
                &old.event
            ),
            "the readers disagree on {}",
            String::from_utf8_lossy(payload)
        );
    }

    let (mut own, mut flattened, mut value) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        own.push(ns_per_record(&payloads, |p| {
            let record: BehaviorRecord = serde_json::from_slice(p).expect("a record");
            record.event_id.len()
        }));
        flattened.push(ns_per_record(&payloads, |p| {
            let record: Flattened = serde_json::from_slice(p).expect("a record");
            record.event_id.len()
        }));
        value.push(ns_per_record(&payloads, |p| {
            let record: serde_json::Value = serde_json::from_slice(p).expect("JSON");
            record.as_object().map_or(0, |o| o.len())
        }));
        println!(
            "round {round}: record {:.0} ns, flatten {:.0} ns, Value {:.0} ns",
            own[round], flattened[round], value[round]
        );
    }
    let (own, flattened, value) = (median(&own), median(&flattened), median(&value));
    println!(
        "RESULT decode_ns={own:.0} flatten_ns={flattened:.0} value_ns={value:.0} \
         ratio_vs_flatten={:.2} ratio_vs_value={:.2}",
        own / flattened,
        own / value
    );
    Ok(())
}
