//! One module per page.

pub mod account;
pub mod admin;
pub mod admin_catalog;
pub mod dashboard;
pub mod insights;
pub mod invite;
pub mod live;
pub mod sign_in;
