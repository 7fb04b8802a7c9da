pub mod connection;
pub mod evidence;
pub mod rtt;
pub mod tracker;
pub mod zeek_observer;
