//! The typed model every consumer reads: connection records, their summary, the report,
//! live events, the ladder diagram; and the value types all stages share (time, sequence
//! numbers, flags, TCP states). It imports no other stage.

pub mod app_label;
pub mod connection_record;
pub mod event;
pub mod figures;
pub mod flags;
pub mod ladder;
pub mod link;
pub mod loss;
pub mod report;
pub mod rtt;
pub mod seq;
pub mod seq_graph;
pub mod state;
pub mod summary;
pub mod time;
pub mod top;
pub mod tunnel;
pub mod units;
pub mod visuals;
pub mod zeek;
