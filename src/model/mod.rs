pub mod app_report;
pub mod connection;
pub mod report;
pub mod seq;
pub mod time;
