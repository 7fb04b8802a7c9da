//! The typed connection record: every figure of a finished connection that the report,
//! the summary, checks and printers read, none of the tracker's working state (sequence
//! numbers, windows, per-ACK timers). Made by the flow table (`crate::flow::make_record`) once a
//! connection's close has played out; kept compactly by `crate::store::packed_records`.

use std::net::SocketAddr;
use std::time::Duration;

use crate::model::app_label::AppLabel;
use crate::model::loss::{LossCounts, OrderingEvidence};
use crate::model::rtt::ConnectionRtt;
use crate::model::state::{Anomaly, CloseKind, Closer, Handshake, ResetFacts, TcpState};
use crate::model::time::Timestamp;
use crate::model::zeek::ZeekFacts;

/// One endpoint's figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SideFigures {
    pub packets: u64,
    pub bytes: u64,
    pub payload_bytes: u64,
    pub fins: u64,
    pub rsts: u64,
    /// Retransmissions as the evidence tells them (`loss`'s four kinds).
    pub retransmissions: u64,
    /// Originals that arrived late, as the evidence tells them.
    pub out_of_order: u64,
    /// The evidence's split of its out-of-sequence segments.
    pub loss: LossCounts,
    pub ordering_evidence: OrderingEvidence,
    /// What tshark's heuristic counts (docs/metrics.md).
    pub tshark_retransmissions: u64,
    pub tshark_out_of_order: u64,
    pub zero_window_probes: u64,
    pub keepalive_probes: u64,
    pub keepalive_acks: u64,
}

impl SideFigures {
    pub fn keepalive_unanswered(&self) -> u64 {
        self.keepalive_probes - self.keepalive_acks
    }
}

#[derive(Clone, Debug)]
pub struct ConnectionRecord {
    /// The report's id: connections numbered from 1 in order of first packet.
    pub id: u64,
    /// Number of the connection's first packet in the whole input (ids follow it).
    pub first_packet: u64,
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub roles: RoleBasis,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub reused_time_wait: bool,
    pub handshake: Handshake,
    pub client_state: TcpState,
    pub server_state: TcpState,
    pub close: CloseKind,
    pub closer: Option<Closer>,
    pub reset: Option<ResetFacts>,
    pub midstream: bool,
    /// (client, server) end in TIME_WAIT.
    pub time_wait: (bool, bool),
    pub rst_answering_syn: u64,
    pub client_figures: SideFigures,
    pub server_figures: SideFigures,
    /// Idle time before the connection's first keep-alive probe (either side).
    pub keepalive_idle: Option<Duration>,
    /// Median interval between consecutive probes of either side.
    pub keepalive_interval: Option<Duration>,
    pub anomalies: [u32; Anomaly::ALL.len()],
    /// The RTT through it, per side of the capture point.
    pub rtt: ConnectionRtt,
    /// What ran over it.
    pub app: AppLabel,
    /// The connection as Zeek's conn.log sees it.
    pub zeek: ZeekFacts,
}

impl ConnectionRecord {
    /// A SYN or SYN/ACK was seen: the connection has handshake figures.
    pub fn handshake_seen(&self) -> bool {
        self.handshake.syn_count > 0 || self.handshake.synack_count > 0
    }

    /// The handshake RTT (`figures::handshake_rtt`) as printers show it: only for a
    /// connection whose handshake was seen, as the JSON's `handshake` object.
    pub fn handshake_rtt(&self) -> Option<Duration> {
        self.handshake_seen()
            .then(|| crate::model::figures::handshake_rtt(self))
            .flatten()
    }

    pub fn duration(&self) -> Duration {
        self.last_seen.saturating_since(self.first_seen)
    }

    pub fn anomalies(&self) -> impl Iterator<Item = (Anomaly, u32)> + '_ {
        Anomaly::ALL
            .iter()
            .zip(self.anomalies.iter())
            .filter(|(_, n)| **n > 0)
            .map(|(a, n)| (*a, *n))
    }

    /// Both sides' figure, summed.
    pub fn total(&self, f: impl Fn(&SideFigures) -> u64) -> u64 {
        f(&self.client_figures) + f(&self.server_figures)
    }
}

/// How the client/server roles of a connection were decided (docs/inputs.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoleBasis {
    /// The client sent a SYN without ACK.
    Syn,
    /// The client received a SYN/ACK (its SYN was not captured).
    SynAck,
    /// Mid-stream: the server is the side with the lower (service) port.
    Port,
}

impl RoleBasis {
    pub fn as_str(self) -> &'static str {
        match self {
            RoleBasis::Syn => "syn",
            RoleBasis::SynAck => "synack",
            RoleBasis::Port => "port",
        }
    }
}

/// Finished connections in order of id, however they are kept (`crate::store` keeps them
/// encoded, a sixth of their size): printers read them one record at a time.
pub trait RecordList: Send + Sync + std::fmt::Debug {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Whether the connection at `index` ended abnormally, without making its record.
    fn is_abnormal(&self, index: usize) -> bool;
    /// The first packet's time of the connection at `index`, without making its record.
    fn first_seen(&self, index: usize) -> Timestamp;
    fn record(&self, index: usize) -> ConnectionRecord;
    /// Puts the records' memory together (a hint, before a long read of them).
    fn compact(&mut self) {}
}

impl RecordList for Vec<ConnectionRecord> {
    fn len(&self) -> usize {
        self.as_slice().len()
    }
    fn is_abnormal(&self, index: usize) -> bool {
        self[index].close.is_abnormal()
    }
    fn first_seen(&self, index: usize) -> Timestamp {
        self[index].first_seen
    }
    fn record(&self, index: usize) -> ConnectionRecord {
        self[index].clone()
    }
}
