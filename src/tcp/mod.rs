pub mod connection;
pub mod tracker;
pub mod zeek_observer;
