//! One module per page.

pub mod dashboard;
