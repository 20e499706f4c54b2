//! Reusable dashboard pieces.
//!
//! - [`chart`]: the two-axis line layout and the card every chart is drawn in.
//! - [`kpi`]: the KPI cards.
//! - [`trend_chart`]: the hourly trend as a charming (ECharts) line chart.
//! - [`live_chart`]: the last 60 minutes, minute by minute.
//! - [`hot_items`]: the hot items table.
//! - [`item_name`]: an item as a person reads it (catalog name, link, id).
//! - [`nav`]: the top bar's menu (pages, who is signed in, tenant switch, sign-out).
//! - [`page`]: the error panel, the empty state and the filter form every page uses.
//! - [`format`]: number, ratio and time formatting shared by the views.
//! - [`csv`]: a table as a CSV file, and its download link.

pub mod chart;
pub mod csv;
pub mod format;
pub mod hot_items;
pub mod item_name;
pub mod kpi;
pub mod live_chart;
pub mod nav;
pub mod page;
pub mod trend_chart;
