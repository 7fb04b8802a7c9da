pub mod connection;
pub mod tracker;
