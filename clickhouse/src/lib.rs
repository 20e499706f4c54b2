//! A small ClickHouse client over the HTTP interface.
//!
//! Why not the `clickhouse` crate: its fetch path relies on formats and settings that
//! ClickHouse 18.16 (Debian's package, used in tests) does not have. This client speaks only
//! what every release since 18.x understands: SQL over HTTP POST, `JSONEachRow` out,
//! `RowBinary` in.
//!
//! - [`client`]: `ClickHouse`, the connection settings, queries, inserts, DDL.
//! - [`query`]: `Query`, SQL with `?` placeholders and values bound as escaped literals (18.16
//!   has no server-side query parameters, so binding happens here, never by formatting user
//!   input into SQL by hand).
//! - [`row_binary`]: the `RowBinary` trait and writer inserts use.
//! - [`error`]: `ClickHouseError`, with retryable and permanent failures kept apart.

pub mod client;
pub mod error;
pub mod query;
pub mod row_binary;

pub use client::{ClickHouse, ClickHouseConfig};
pub use error::ClickHouseError;
pub use query::{ExternalTable, Query, SqlValue};
pub use row_binary::{RowBinary, RowBinaryWriter};
