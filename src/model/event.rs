//! Connection events as the tracker emits them, and the sink that receives them: the
//! live printer, the ladder builder and the tests read these, never the tracker.

use std::net::SocketAddr;
use std::time::Duration;

use crate::model::flags::TcpFlags;
use crate::model::seq::Seq;
use crate::model::state::{Anomaly, Side, TcpState};
use crate::model::time::Timestamp;

/// What a segment meant, for live printers and CI checks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Event {
    /// The first packet of a connection; `reused_time_wait` when its SYN reused a
    /// 4-tuple whose previous connection was still in TIME_WAIT.
    ConnectionStarted {
        reused_time_wait: bool,
    },
    /// A segment as it was seen, before the events it caused (for verbose printers).
    Segment {
        by: Side,
        flags: TcpFlags,
        seq: Seq,
        ack: Seq,
        window: u16,
        len: u32,
    },
    StateChanged {
        side: Side,
        from: TcpState,
        to: TcpState,
    },
    HandshakeCompleted {
        /// Last SYN → completing ACK, when the SYN was seen.
        rtt: Option<Duration>,
    },
    Refused,
    Reset {
        by: Side,
        in_state: TcpState,
    },
    FinSent {
        by: Side,
    },
    TimeWaitEntered {
        side: Side,
    },
    KeepaliveProbe {
        by: Side,
    },
    KeepaliveAck {
        by: Side,
    },
    ZeroWindowProbe {
        by: Side,
    },
    Retransmission {
        by: Side,
    },
    Anomaly(Anomaly),
    /// The options of the segment before (only when it had a window scale or SACK
    /// blocks), for the time-sequence graph; sequence numbers absolute.
    Options(SegmentOptions),
    /// The client's SYN, or the server's SYN/ACK, sent again before the handshake
    /// completed (the last event of its segment): `count` such segments so far, the first
    /// `since_first` before this one.
    SynRetransmitted {
        by: Side,
        count: u64,
        since_first: Duration,
    },
}

/// A segment's window scale (a SYN's) and SACK blocks (RFC 2018: at most four).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SegmentOptions {
    pub window_scale: Option<u8>,
    /// `[left, right)` edges; the first `sack_len` are set.
    pub sack: [(Seq, Seq); 4],
    pub sack_len: u8,
}

impl SegmentOptions {
    pub fn sack_blocks(&self) -> &[(Seq, Seq)] {
        &self.sack[..usize::from(self.sack_len).min(4)]
    }

    pub fn is_empty(&self) -> bool {
        self.window_scale.is_none() && self.sack_len == 0
    }
}

/// What a printer of events may know of the connection an event belongs to, as it stands
/// after the segment that caused the event.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionView {
    pub id: u64,
    /// The number of its first packet in the whole input (from 1): what orders connections
    /// when tables tracked them apart (`crate::analysis::parallel`).
    pub first_packet: u64,
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub first_seen: Timestamp,
    /// The first sequence number seen from each side (client, server), which relative
    /// numbers count from.
    pub base_seq: [Option<Seq>; 2],
    /// The server answered the client's SYN with a RST.
    pub refused: bool,
    /// Who sent the first FIN.
    pub first_fin: Option<Side>,
    /// Each side's keep-alive probes so far (client, server).
    pub keepalive: [KeepaliveSoFar; 2],
}

/// One side's keep-alive probes up to an event.
#[derive(Clone, Copy, Debug, Default)]
pub struct KeepaliveSoFar {
    pub probes: u64,
    /// Probes the peer answered.
    pub acks: u64,
    /// Idle time of the connection before the first probe.
    pub idle_before_first: Option<Duration>,
}

impl KeepaliveSoFar {
    pub fn unanswered(&self) -> u64 {
        self.probes - self.acks
    }
}

impl ConnectionView {
    pub fn base_seq(&self, side: Side) -> Option<Seq> {
        self.base_seq[side.index()]
    }

    pub fn keepalive(&self, side: Side) -> &KeepaliveSoFar {
        &self.keepalive[side.index()]
    }
}

/// Where a run sends the events a segment causes, with their connection: any
/// `FnMut(&ConnectionView, Timestamp, Event)`, or `NoEvents`.
pub trait EventSink {
    /// False for a sink that drops every event: the table and tracker then make none (an
    /// event per segment, buffered and handed over, was 6% of an offline report's
    /// instructions).
    const WANTS_EVENTS: bool = true;
    fn event(&mut self, conn: &ConnectionView, at: Timestamp, e: Event);
    /// Whether events of connection `id` are still wanted: a sink that has let go of a
    /// connection (the HTML report's tracer lets most go after their handshake) spares
    /// the tracker making its view and options for every later segment.
    fn wants(&self, _id: u64) -> bool {
        true
    }
}

impl<F: FnMut(&ConnectionView, Timestamp, Event)> EventSink for F {
    fn event(&mut self, conn: &ConnectionView, at: Timestamp, e: Event) {
        self(conn, at, e)
    }
}

/// The sink of a run that wants only the report.
pub struct NoEvents;

impl EventSink for NoEvents {
    const WANTS_EVENTS: bool = false;
    fn event(&mut self, _: &ConnectionView, _: Timestamp, _: Event) {}
}
