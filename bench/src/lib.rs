//! Shared pieces of the benchmarks.
//!
//! - [`broker`]: a private tansu broker (in-memory) on a free port, stopped on drop.
//! - [`cpu`]: CPU time of this process, its children, its server threads and ClickHouse.
//! - [`events`]: realistic events with unique ids.
//! - [`setup`]: environment knobs, unique names and a configuration isolated to one run.
//! - [`stats`]: percentiles, medians and peak RSS.
//!
//! Benchmarks live in `src/bin/`; each prints a last line `RESULT key=value ...`.

pub mod broker;
pub mod cpu;
pub mod events;
pub mod setup;
pub mod stats;
