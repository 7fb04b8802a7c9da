//! Connection events as the tracker emits them, and the sink that receives them: the
//! live printer, the ladder builder and the tests read these, never the tracker.

use std::time::Duration;

use crate::model::flags::TcpFlags;
use crate::model::seq::Seq;
use crate::model::state::{Anomaly, Side, TcpState};

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
}
