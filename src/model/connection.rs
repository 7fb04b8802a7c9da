//! A finished connection's compact result: every figure the report and the summary need,
//! none of the tracker's working state (sequence numbers, windows, per-ACK timers). The
//! flow table lets go of a connection once its close has played out and keeps only this,
//! so memory grows with concurrent connections, not with all those a trace ever had.

use std::cell::Cell;
use std::net::SocketAddr;
use std::time::Duration;

use crate::app::detector::AppDetector;
use crate::store::codec::{Reader, Writer};
use crate::flow::{Connection, RoleBasis};
use crate::model::time::Timestamp;
use crate::tcp::tracker::{
    decode_anomalies, encode_anomalies, Anomaly, CloseKind, Closer, Endpoint, Handshake,
    ResetFacts, TcpState,
};

/// One endpoint's figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SideFigures {
    pub packets: u64,
    pub bytes: u64,
    pub payload_bytes: u64,
    pub fins: u64,
    pub rsts: u64,
    pub retransmissions: u64,
    pub out_of_order: u64,
    pub zero_window_probes: u64,
    pub keepalive_probes: u64,
    pub keepalive_acks: u64,
}

impl SideFigures {
    fn of(e: &Endpoint) -> Self {
        SideFigures {
            packets: e.packets,
            bytes: e.bytes,
            payload_bytes: e.payload_bytes,
            fins: e.fins,
            rsts: e.rsts,
            retransmissions: e.retransmissions,
            out_of_order: e.out_of_order,
            zero_window_probes: e.zero_window_probes,
            keepalive_probes: e.keepalive.probes,
            keepalive_acks: e.keepalive.acks,
        }
    }

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
    /// What ran over it.
    pub app: AppDetector,
}

impl ConnectionRecord {
    pub fn of(c: &Connection) -> Self {
        let t = &c.tcp;
        let (kc, ks) = (&t.client.keepalive, &t.server.keepalive);
        let keepalive_idle = match (kc.first_probe, ks.first_probe) {
            (Some(a), Some(b)) if b < a => ks.idle_before_first,
            (Some(_), _) => kc.idle_before_first,
            (None, Some(_)) => ks.idle_before_first,
            (None, None) => None,
        };
        let mut anomalies = [0; Anomaly::ALL.len()];
        for (a, n) in t.anomalies() {
            anomalies[a.index()] = n;
        }
        ConnectionRecord {
            id: c.id,
            first_packet: c.first_packet,
            client: c.client,
            server: c.server,
            roles: c.roles,
            first_seen: c.first_seen,
            last_seen: c.last_seen,
            reused_time_wait: c.reused_time_wait,
            handshake: t.handshake.clone(),
            client_state: t.client.state,
            server_state: t.server.state,
            close: t.close_kind(),
            closer: t.closer,
            reset: t.reset,
            midstream: t.midstream,
            time_wait: t.time_wait_sides(),
            rst_answering_syn: t.rst_answering_syn,
            client_figures: SideFigures::of(&t.client),
            server_figures: SideFigures::of(&t.server),
            keepalive_idle,
            keepalive_interval: median(kc.intervals.iter().chain(&ks.intervals).copied()),
            anomalies,
            app: c.app.clone(),
        }
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

fn median(values: impl Iterator<Item = Duration>) -> Option<Duration> {
    let mut v: Vec<Duration> = values.collect();
    v.sort_unstable();
    match v.len() {
        0 => None,
        n if n % 2 == 1 => Some(v[n / 2]),
        n => Some((v[n / 2 - 1] + v[n / 2]) / 2),
    }
}

/// A record as kept until printed: its compact encoding (`crate::store::codec`; about a sixth
/// of its size in memory, as most counters are small or zero), with the keys that order
/// and select records. The id, first packet number and first packet time are kept here
/// and not in the bytes.
#[derive(Clone, Debug)]
pub struct PackedRecord {
    pub id: u64,
    pub first_packet: u64,
    pub abnormal: bool,
    first_seen: Timestamp,
    bytes: Box<[u8]>,
}

thread_local! {
    /// Reused to encode records, so that the only allocation is the exact-size one kept.
    static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

impl PackedRecord {
    pub fn pack(r: &ConnectionRecord) -> Self {
        let mut scratch = SCRATCH.take();
        scratch.clear();
        r.encode(&mut Writer::new(&mut scratch, r.first_seen));
        let bytes = Box::from(&scratch[..]);
        SCRATCH.set(scratch);
        PackedRecord {
            id: r.id,
            first_packet: r.first_packet,
            abnormal: r.close.is_abnormal(),
            first_seen: r.first_seen,
            bytes,
        }
    }

    /// Starts loading the encoding, for a loop that will unpack this record soon.
    pub fn prefetch(&self) {
        crate::store::codec::prefetch(&self.bytes);
    }

    pub fn unpack(&self) -> ConnectionRecord {
        // The id may have been given after packing (connections numbered across shards).
        ConnectionRecord::decode(
            &mut Reader::new(&self.bytes, self.first_seen),
            self.id,
            self.first_packet,
            self.first_seen,
        )
    }
}

impl SideFigures {
    /// A group of its own (10 bits).
    fn encode(&self, w: &mut Writer<'_>) {
        w.group(2);
        w.count(self.packets);
        w.count(self.bytes);
        w.count(self.payload_bytes);
        w.count(self.fins);
        w.count(self.rsts);
        w.count(self.retransmissions);
        w.count(self.out_of_order);
        w.count(self.zero_window_probes);
        w.count(self.keepalive_probes);
        w.count(self.keepalive_acks);
        w.end();
    }

    fn decode(r: &mut Reader<'_>) -> SideFigures {
        r.group(2);
        SideFigures {
            packets: r.count(),
            bytes: r.count(),
            payload_bytes: r.count(),
            fins: r.count(),
            rsts: r.count(),
            retransmissions: r.count(),
            out_of_order: r.count(),
            zero_window_probes: r.count(),
            keepalive_probes: r.count(),
            keepalive_acks: r.count(),
        }
    }
}

impl ConnectionRecord {
    /// All but the id, first packet number and first packet time: a group (45 bits), each
    /// side's figures, what ran over it.
    fn encode(&self, w: &mut Writer<'_>) {
        w.group(6);
        w.addr(self.client);
        w.addr(self.server);
        self.roles.encode(w);
        w.time(self.last_seen);
        w.flag(self.reused_time_wait);
        self.handshake.encode(w);
        self.client_state.encode(w);
        self.server_state.encode(w);
        self.close.encode(w);
        Closer::encode(self.closer, w);
        ResetFacts::encode(self.reset, w);
        w.flag(self.midstream);
        w.flag(self.time_wait.0);
        w.flag(self.time_wait.1);
        w.count(self.rst_answering_syn);
        w.opt_duration(self.keepalive_idle);
        w.opt_duration(self.keepalive_interval);
        encode_anomalies(&self.anomalies, w);
        w.end();
        self.client_figures.encode(w);
        self.server_figures.encode(w);
        self.app.encode(w);
    }

    fn decode(r: &mut Reader<'_>, id: u64, first_packet: u64, first_seen: Timestamp) -> Self {
        r.group(6);
        let record = ConnectionRecord {
            id,
            first_packet,
            client: r.addr(),
            server: r.addr(),
            roles: RoleBasis::decode(r),
            first_seen,
            last_seen: r.time(),
            reused_time_wait: r.flag(),
            handshake: Handshake::decode(r),
            client_state: TcpState::decode(r),
            server_state: TcpState::decode(r),
            close: CloseKind::decode(r),
            closer: Closer::decode(r),
            reset: ResetFacts::decode(r),
            midstream: r.flag(),
            time_wait: (r.flag(), r.flag()),
            rst_answering_syn: r.count(),
            keepalive_idle: r.opt_duration(),
            keepalive_interval: r.opt_duration(),
            anomalies: decode_anomalies(r),
            client_figures: SideFigures::decode(r),
            server_figures: SideFigures::decode(r),
            app: AppDetector::decode(r),
        };
        debug_assert_eq!(r.remaining(), 0, "a record decodes from its own encoding");
        record
    }
}
