//! The ladder diagram of one connection, as data: one row per segment (who sent it, flags,
//! relative sequence and acknowledgment numbers, length, window, what the tracker made of
//! it and the states each endpoint entered), with long runs of plain data folded.
//! `crate::analysis::ladder_builder` builds it from the tracker's events; the text and SVG
//! printers draw it.

use std::time::Duration;

use crate::model::connection_record::ConnectionRecord;
use crate::model::flags::TcpFlags;
use crate::model::state::Anomaly;
use crate::model::state::{Side, TcpState};
use crate::model::time::Timestamp;

/// Rows kept at most (with `--full` too): beyond it segments are counted, not drawn, so a
/// connection of millions of segments cannot exhaust memory.
pub const MAX_ROWS: usize = 100_000;

/// What the tracker made of a segment, beyond its flags and states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    HandshakeDone,
    Refused,
    Reset,
    Retransmission,
    KeepaliveProbe,
    KeepaliveAck,
    ZeroWindowProbe,
    /// The sender advertises a zero receive window.
    ZeroWindow,
    Anomaly,
}

impl Mark {
    const ALL: [Mark; 9] = [
        Mark::HandshakeDone,
        Mark::Refused,
        Mark::Reset,
        Mark::Retransmission,
        Mark::KeepaliveProbe,
        Mark::KeepaliveAck,
        Mark::ZeroWindowProbe,
        Mark::ZeroWindow,
        Mark::Anomaly,
    ];

    pub(crate) fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of [`Mark`]s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Marks(u16);

impl Marks {
    pub fn insert(&mut self, m: Mark) {
        self.0 |= m.bit();
    }
    pub fn contains(self, m: Mark) -> bool {
        self.0 & m.bit() != 0
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn iter(self) -> impl Iterator<Item = Mark> {
        Mark::ALL.into_iter().filter(move |m| self.contains(*m))
    }
}

/// States one endpoint entered on one segment, in order (a crossing FIN moves an
/// endpoint through FIN_WAIT_1 to CLOSING at once). More than three keep the last.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Entered([Option<TcpState>; 3]);

impl Entered {
    pub(crate) fn push(&mut self, s: TcpState) {
        match self.0.iter_mut().find(|x| x.is_none()) {
            Some(slot) => *slot = Some(s),
            None => self.0[2] = Some(s),
        }
    }
    pub fn iter(&self) -> impl Iterator<Item = TcpState> + '_ {
        self.0.iter().flatten().copied()
    }
    pub fn is_empty(&self) -> bool {
        self.0[0].is_none()
    }
}

/// One segment.
#[derive(Clone, Debug, PartialEq)]
pub struct SegmentRow {
    /// Since the connection's first packet.
    pub at: Duration,
    /// Since the connection's previous segment (folded or not); none for the first.
    pub delta: Option<Duration>,
    pub from: Side,
    pub flags: TcpFlags,
    /// Relative to the sender's first sequence number (its ISN when the SYN was seen);
    /// absolute while the ladder is being built.
    pub seq: u32,
    /// Relative to the receiver's first sequence number; `None` without the ACK flag.
    pub ack: Option<u32>,
    pub len: u32,
    /// The window field as sent (unscaled).
    pub window: u16,
    pub marks: Marks,
    /// The sender's state before its RST, for a RST that reset the connection.
    pub reset_in: Option<TcpState>,
    pub anomaly: Option<Anomaly>,
    /// States entered by the client and the server.
    pub entered: [Entered; 2],
}

impl SegmentRow {
    /// Nothing but data or an ACK: the kind of segment a fold may hide.
    pub(crate) fn is_plain(&self) -> bool {
        let f = self.flags;
        !(f.syn() || f.fin() || f.rst())
            && self.marks.is_empty()
            && self.entered.iter().all(Entered::is_empty)
    }

    /// Flag names in Wireshark's order: `SYN, ACK`, `FIN, PSH, ACK`.
    pub fn flag_names(&self) -> String {
        const NAMES: [(u16, &str); 9] = [
            (TcpFlags::FIN, "FIN"),
            (TcpFlags::SYN, "SYN"),
            (TcpFlags::RST, "RST"),
            (TcpFlags::PSH, "PSH"),
            (TcpFlags::ACK, "ACK"),
            (TcpFlags::URG, "URG"),
            (TcpFlags::ECE, "ECE"),
            (TcpFlags::CWR, "CWR"),
            (TcpFlags::AE, "AE"),
        ];
        let names: Vec<&str> = NAMES
            .iter()
            .filter(|(bit, _)| self.flags.has(*bit))
            .map(|(_, n)| *n)
            .collect();
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    }
}

/// Plain segments left out of the diagram.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Fold {
    pub segments: u64,
    /// Payload bytes client→server and server→client.
    pub bytes: [u64; 2],
    /// Time of the first and the last hidden segment, since the connection's start.
    pub first: Duration,
    pub last: Duration,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Row {
    Segment(SegmentRow),
    Fold(Fold),
}

/// A finished ladder, ready for a renderer.
#[derive(Debug)]
pub struct Ladder {
    /// The connection's figures, as `synack report` gives them.
    pub conn: ConnectionRecord,
    pub first_seen: Timestamp,
    pub rows: Vec<Row>,
    /// Segments of the connection, drawn, folded or not drawn.
    pub segments: u64,
    /// Segments beyond [`MAX_ROWS`], not drawn.
    pub not_drawn: u64,
}
