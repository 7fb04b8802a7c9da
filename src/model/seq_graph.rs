//! The time-sequence graph of one connection (the tcptrace/Stevens graph), as data: for
//! each segment its time, sender, relative sequence range, the acknowledgment and the
//! receive window's right edge it advertises, its SACK blocks and what the tracker made of
//! it. `crate::analysis::seq_builder` builds it from the tracker's events;
//! `crate::output::seq_svg` draws it.

use std::time::Duration;

use crate::model::connection_record::ConnectionRecord;
use crate::model::flags::TcpFlags;
use crate::model::ladder::Marks;
use crate::model::state::Side;

/// Segments kept at most: beyond it they are counted, not drawn.
pub const MAX_POINTS: usize = 50_000;

/// One segment.
#[derive(Clone, Debug, PartialEq)]
pub struct SeqPoint {
    /// Since the connection's first packet.
    pub at: Duration,
    pub from: Side,
    pub flags: TcpFlags,
    /// Relative to the sender's first sequence number.
    pub seq: u32,
    /// Sequence space it takes (payload, plus one for SYN and FIN).
    pub len: u32,
    /// Relative to the receiver's first sequence number, with the ACK flag only.
    pub ack: Option<u32>,
    /// The right edge of the receive window it advertises (ack + scaled window),
    /// relative as `ack`.
    pub window_edge: Option<u32>,
    /// The window is zero.
    pub zero_window: bool,
    /// SACK blocks `[left, right)`, relative as `ack`.
    pub sack: Vec<(u32, u32)>,
    pub marks: Marks,
}

/// A finished graph, ready for a renderer.
#[derive(Debug)]
pub struct SeqGraph {
    pub conn: ConnectionRecord,
    pub points: Vec<SeqPoint>,
    /// Segments of the connection, drawn or not.
    pub segments: u64,
    /// Segments beyond the cap, not drawn.
    pub not_drawn: u64,
    /// Each side's window scale shift (client, server), when both SYNs offered one
    /// (RFC 7323); windows are drawn unscaled otherwise.
    pub window_scale: Option<[u8; 2]>,
}

impl SeqGraph {
    /// The points one side sent.
    pub fn sent_by(&self, side: Side) -> impl Iterator<Item = &SeqPoint> {
        self.points.iter().filter(move |p| p.from == side)
    }
}
