//! The words of TCP that every stage shares: endpoint sides, RFC 9293 states, how a
//! connection ended, anomalies, handshake timing. The tracker (`crate::tcp`) sets them;
//! printers and checks read them. Strings appear only in `as_str`, for printers.

use std::fmt;
use std::time::Duration;

use crate::model::time::Timestamp;

/// RFC 9293 §3.3.2 connection states, printed with the RFC's spelling.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TcpState {
    #[default]
    Closed,
    Listen,
    SynSent,
    SynReceived,
    Established,
    FinWait1,
    FinWait2,
    CloseWait,
    Closing,
    LastAck,
    TimeWait,
}

impl TcpState {
    pub fn as_str(self) -> &'static str {
        match self {
            TcpState::Closed => "CLOSED",
            TcpState::Listen => "LISTEN",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynReceived => "SYN_RECEIVED",
            TcpState::Established => "ESTABLISHED",
            TcpState::FinWait1 => "FIN_WAIT_1",
            TcpState::FinWait2 => "FIN_WAIT_2",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::Closing => "CLOSING",
            TcpState::LastAck => "LAST_ACK",
            TcpState::TimeWait => "TIME_WAIT",
        }
    }
}

impl fmt::Display for TcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which endpoint of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    Client,
    Server,
}

impl Side {
    /// 0 for the client, 1 for the server: where per-side pairs keep each.
    pub fn index(self) -> usize {
        match self {
            Side::Client => 0,
            Side::Server => 1,
        }
    }

    pub fn peer(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Server => "server",
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a connection ended (or had not ended) when the capture stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CloseKind {
    /// Both sides sent FIN, with no RST before that.
    Fin,
    /// RST after the handshake, or mid-stream.
    Reset,
    /// The SYN was answered by RST.
    Refused,
    /// SYN(s) never answered.
    Unanswered,
    /// SYN/ACK seen, no completing ACK, no RST.
    HandshakeIncomplete,
    /// One FIN, then the capture ended.
    HalfClosed,
    /// No FIN or RST by the end of the capture.
    Open,
}

impl CloseKind {
    pub const ALL: [CloseKind; 7] = [
        CloseKind::Fin,
        CloseKind::Reset,
        CloseKind::Refused,
        CloseKind::Unanswered,
        CloseKind::HandshakeIncomplete,
        CloseKind::HalfClosed,
        CloseKind::Open,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CloseKind::Fin => "fin",
            CloseKind::Reset => "reset",
            CloseKind::Refused => "refused",
            CloseKind::Unanswered => "unanswered",
            CloseKind::HandshakeIncomplete => "handshake_incomplete",
            CloseKind::HalfClosed => "half_closed",
            CloseKind::Open => "open",
        }
    }

    pub fn is_abnormal(self) -> bool {
        matches!(
            self,
            CloseKind::Refused
                | CloseKind::Reset
                | CloseKind::Unanswered
                | CloseKind::HandshakeIncomplete
        )
    }
}

impl fmt::Display for CloseKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which side sent the first FIN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closer {
    Side(Side),
    /// A simultaneous close: the two FINs crossed.
    Both,
}

impl Closer {
    pub fn as_str(self) -> &'static str {
        match self {
            Closer::Side(s) => s.as_str(),
            Closer::Both => "both",
        }
    }
}

/// Protocol oddities, named `<context>_<object>_<problem>` so they can be counted and
/// grepped (after Suricata's stream events).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Anomaly {
    /// A segment with SYN and RST, or SYN and FIN, set together.
    SynWithRstOrFin,
    /// A SYN/ACK whose ACK does not acknowledge the client's SYN.
    HandshakeSynackWrongAck,
    /// A segment after both endpoints were CLOSED (other than a RST).
    ClosedSegmentAfterClose,
    /// A RST that carries payload (RFC 9293 §3.5.3 allows diagnostic text).
    RstWithData,
    /// A FIN whose sequence number differs from the side's earlier FIN.
    FinSeqChanged,
    /// A SYN/ACK seen before any SYN of the connection (capture reordering).
    HandshakeSynackBeforeSyn,
    /// A RST from an endpoint in SYN-SENT answering an ACK that does not acknowledge its
    /// SYN (RFC 9293 §3.10.7.3: `<SEQ=SEG.ACK><CTL=RST>`, a stale or challenge ACK on a
    /// reused port): the sender stays in SYN-SENT and usually resends its SYN.
    RstForUnacceptableAck,
    /// A RST whose sequence number is outside the receiver's window (RFC 5961 §3.2: not
    /// acceptable; stale, injected, or an evasion attempt): it closes nothing.
    RstOutOfWindow,
}

impl Anomaly {
    pub const ALL: [Anomaly; 8] = [
        Anomaly::SynWithRstOrFin,
        Anomaly::HandshakeSynackWrongAck,
        Anomaly::ClosedSegmentAfterClose,
        Anomaly::RstWithData,
        Anomaly::FinSeqChanged,
        Anomaly::HandshakeSynackBeforeSyn,
        Anomaly::RstForUnacceptableAck,
        Anomaly::RstOutOfWindow,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Anomaly::SynWithRstOrFin => "syn_with_rst_or_fin",
            Anomaly::HandshakeSynackWrongAck => "handshake_synack_wrong_ack",
            Anomaly::ClosedSegmentAfterClose => "closed_segment_after_close",
            Anomaly::RstWithData => "rst_with_data",
            Anomaly::FinSeqChanged => "fin_seq_changed",
            Anomaly::HandshakeSynackBeforeSyn => "handshake_synack_before_syn",
            Anomaly::RstForUnacceptableAck => "rst_for_unacceptable_ack",
            Anomaly::RstOutOfWindow => "rst_out_of_window",
        }
    }

    pub(crate) fn index(self) -> usize {
        Anomaly::ALL.iter().position(|a| *a == self).unwrap_or(0)
    }
}

/// Handshake timing facts.
#[derive(Clone, Debug, Default)]
pub struct Handshake {
    pub first_syn: Option<Timestamp>,
    /// The most recent SYN before the first SYN/ACK.
    pub last_syn: Option<Timestamp>,
    pub syn_count: u64,
    /// The first SYN/ACK.
    pub synack: Option<Timestamp>,
    /// The most recent SYN/ACK before the handshake completed.
    pub last_synack: Option<Timestamp>,
    pub synack_count: u64,
    /// The segment that moved the second endpoint to ESTABLISHED.
    pub completed: Option<Timestamp>,
    pub simultaneous_open: bool,
}

impl Handshake {
    pub fn syn_retransmits(&self) -> u64 {
        self.syn_count.saturating_sub(1)
    }
    pub fn synack_retransmits(&self) -> u64 {
        self.synack_count.saturating_sub(1)
    }
    pub fn syn_to_synack(&self) -> Option<Duration> {
        self.synack?.checked_since(self.last_syn?)
    }
    /// Last SYN/ACK → completing ACK: like the SYN leg, measured from the most recent
    /// transmission, so a lost ACK's retransmitted SYN/ACK does not inflate it.
    pub fn synack_to_ack(&self) -> Option<Duration> {
        self.completed?.checked_since(self.last_synack?)
    }
    /// Last SYN → completing ACK (Wireshark's tcp.analysis.initial_rtt).
    pub fn rtt(&self) -> Option<Duration> {
        self.completed?.checked_since(self.last_syn?)
    }
    pub fn first_syn_to_ack(&self) -> Option<Duration> {
        self.completed?.checked_since(self.first_syn?)
    }
}

/// The first RST that ended the connection.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ResetFacts {
    pub by: Side,
    pub sender_state: TcpState,
    pub at: Timestamp,
    /// Both FINs had been exchanged before it (a RST in TIME_WAIT).
    pub after_close: bool,
}
