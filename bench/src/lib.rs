//! Shared pieces of the benchmarks.
//!
//! - [`broker`]: a private tansu broker (in-memory) on a free port, stopped on drop.
//! - [`events`]: realistic events with unique ids.
//! - [`stats`]: percentiles, medians and peak RSS.
//!
//! Benchmarks live in `src/bin/`; each prints a last line `RESULT key=value ...`.

pub mod broker;
pub mod events;
pub mod stats;
