//! The Recoscope server: one binary, every role.
//!
//! - [`admin`]: the admin token check of the `/api/v1/tenants/…` endpoints.
//! - [`api_error`]: the one `{"error": {code, message}}` body of every JSON API.
//! - [`analytics_api`]: `/api/v1/analytics/*`, the dashboard's data as JSON (read keys).
//! - [`background`]: long-running tasks whose death is logged and fails readiness.
//! - [`catalog_api`]: importing and listing a tenant's items and scenarios (admin token).
//! - [`catalog_import`]: JSON and CSV catalog files → checked records and a report.
//! - [`cli`]: the `recoscope` command line (the binary's `main` only parses and calls it).
//! - [`config`]: environment → one typed, validated `Config`.
//! - [`ingest`]: `POST /api/v1/behaviors`, validation, the `EventSink` trait.
//! - [`kafka`]: client settings, topic creation, the Kafka `EventSink`.
//! - [`pipeline`]: Kafka-fed workers (ClickHouse loader, Redis real-time state, recent
//!   behaviour), partition ownership, lag and stalls.
//! - [`migrations`]: the `sql/` migrations, applied once each.
//! - [`http`]: the axum router (ingest, health, Leptos dashboard and server functions).
//! - [`http_server`]: the accept loop: header timeout, header size and connection caps.
//! - [`openapi`]: the ingest API's OpenAPI document.
//! - [`retention`]: dropping raw events older than `RAW_RETENTION_DAYS`.
//! - [`roles`]: starting `serve`, `worker` or both in-process (the binary and tests).
//! - [`shop`]: the demo storefront at `/shop`, its pages embedding the tracker.
//! - [`simulate`]: realistic demo traffic through the HTTP API.
//! - [`telemetry`]: the Prometheus recorder behind `/metrics`.
//!
//! `main.rs` only parses the command line and calls into these.

pub mod admin;
pub mod analytics_api;
pub mod api_error;
pub mod background;
pub mod catalog_api;
pub mod catalog_import;
pub mod cli;
pub mod config;
pub mod http;
pub mod http_server;
pub mod ingest;
pub mod kafka;
pub mod migrations;
pub mod openapi;
pub mod pipeline;
pub mod retention;
pub mod roles;
pub mod shop;
pub mod simulate;
pub mod telemetry;
