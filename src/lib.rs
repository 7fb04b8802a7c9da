//! synack: passive TCP connection analysis of captures and live interfaces.
//!
//! Data flows one way: [`source`] → [`decode`] → [`flow`] → [`tracker`] → [`report`] →
//! [`output`]. [`analyze`] wires the first four together. [`app`] labels what ran over a
//! connection; [`ladder`] turns one connection's events into a ladder diagram model.

pub mod analyze;
pub mod app;
pub mod check;
pub mod compact;
pub mod decode;
pub mod flow;
pub mod ladder;
pub mod live;
pub mod output;
pub mod record;
pub mod report;
pub mod seq;
pub mod shard;
pub mod source;
pub mod time;
pub mod tracker;
