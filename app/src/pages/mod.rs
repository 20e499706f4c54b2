//! One module per page.

pub mod dashboard;
pub mod insights;
pub mod live;
pub mod sign_in;
