//! Reusable dashboard pieces.
//!
//! - [`kpi`]: the KPI cards.
//! - [`trend_chart`]: the hourly trend as a charming (ECharts) line chart.
//! - [`format`]: number, ratio and time formatting shared by the views.

pub mod format;
pub mod kpi;
pub mod trend_chart;
