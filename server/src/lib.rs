//! The Recoscope server: one binary, every role. It wires the crates that do the work (the
//! ingest API, the stream workers, the stores, the analytics read model, the dashboard) into
//! one process, and owns what only a whole process has.
//!
//! - [`config`]: every component's settings read from the environment in one place, checked
//!   part by part and across parts.
//! - [`roles`]: starting `serve`, `worker` or both in-process (the binary and tests), each
//!   component with only its part of the configuration.
//! - [`http`]: the axum router (ingest, health, the Leptos dashboard and server functions,
//!   the JSON APIs).
//! - [`same_origin`]: refuses cross-site state changes to the dashboard (CSRF).
//! - [`analytics_api`]: `/api/v1/analytics/*`, the read model as JSON (read keys).
//! - [`admin`]: the admin token of the `/api/v1/tenants/…` endpoints, and what a store's
//!   failure means to their callers.
//! - [`catalog_api`]: importing and listing a tenant's items and scenarios (admin token).
//! - [`background`]: long-running tasks whose death is logged and fails readiness.
//! - [`cli`]: the `recoscope` command line (the binary's `main` only parses and calls it).
//! - [`migrations`]: the `sql/` migrations, applied once each.
//! - [`shop`]: the demo storefront at `/shop`, its pages embedding the tracker.
//! - [`simulate`]: realistic demo traffic through the HTTP API.
//! - [`telemetry`]: the Prometheus recorder behind `/metrics`.
//!
//! `main.rs` only parses the command line and calls into these.

pub mod admin;
pub mod analytics_api;
pub mod background;
pub mod catalog_api;
pub mod cli;
pub mod config;
pub mod http;
pub mod migrations;
pub mod roles;
pub mod same_origin;
pub mod shop;
pub mod simulate;
pub mod telemetry;
