//! The compact form of the tracker's types: a dormant connection keeps the whole tracker,
//! a record some of its parts.

use crate::model::loss::{LossCounts, OrderingEvidence};
use crate::model::seq::Seq;
use crate::model::state::{Anomaly, CloseKind, Closer, Handshake, ResetFacts, Side, TcpState};
use crate::model::time::Timestamp;
use crate::store::codec::{Reader, Writer};
use crate::tcp::evidence::{Evidence, Hole, Recovery, Resent, Seen, Stamp};
use crate::tcp::tracker::{Endpoint, KeepaliveStats, TcpTracker};

impl TcpState {
    /// In declaration order, so that `ALL[s as usize] == s`.
    const ALL: [TcpState; 11] = [
        TcpState::Closed,
        TcpState::Listen,
        TcpState::SynSent,
        TcpState::SynReceived,
        TcpState::Established,
        TcpState::FinWait1,
        TcpState::FinWait2,
        TcpState::CloseWait,
        TcpState::Closing,
        TcpState::LastAck,
        TcpState::TimeWait,
    ];

    pub(crate) fn encode(self, w: &mut Writer<'_>) {
        w.bits(self as u32, 4);
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> TcpState {
        TcpState::ALL[r.bits(4) as usize]
    }
}

impl Side {
    pub(crate) fn encode(self, w: &mut Writer<'_>) {
        w.flag(self == Side::Server);
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Side {
        if r.flag() {
            Side::Server
        } else {
            Side::Client
        }
    }
}

impl CloseKind {
    pub(crate) fn encode(self, w: &mut Writer<'_>) {
        w.bits(self as u32, 3);
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> CloseKind {
        CloseKind::ALL[r.bits(3) as usize]
    }
}

impl Closer {
    /// Two bits, none included.
    pub(crate) fn encode(c: Option<Closer>, w: &mut Writer<'_>) {
        let v = match c {
            None => 0,
            Some(Closer::Side(Side::Client)) => 1,
            Some(Closer::Side(Side::Server)) => 2,
            Some(Closer::Both) => 3,
        };
        w.bits(v, 2);
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Option<Closer> {
        match r.bits(2) {
            0 => None,
            1 => Some(Closer::Side(Side::Client)),
            2 => Some(Closer::Side(Side::Server)),
            _ => Some(Closer::Both),
        }
    }
}

impl ResetFacts {
    /// Seven bits in the open group, and the time when there is one.
    pub(crate) fn encode(r: Option<ResetFacts>, w: &mut Writer<'_>) {
        w.flag(r.is_some());
        let f = r.unwrap_or(ResetFacts {
            by: Side::Client,
            sender_state: TcpState::Closed,
            at: Timestamp::ZERO,
            after_close: false,
        });
        f.by.encode(w);
        f.sender_state.encode(w);
        w.flag(f.after_close);
        if r.is_some() {
            w.time(f.at);
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Option<ResetFacts> {
        let some = r.flag();
        let by = Side::decode(r);
        let sender_state = TcpState::decode(r);
        let after_close = r.flag();
        some.then(|| ResetFacts {
            by,
            sender_state,
            at: r.time(),
            after_close,
        })
    }
}

impl Handshake {
    /// Eight bits in the open group, and the fields present.
    pub(crate) fn encode(&self, w: &mut Writer<'_>) {
        w.opt_time(self.first_syn);
        w.opt_time(self.last_syn);
        w.count(self.syn_count);
        w.opt_time(self.synack);
        w.opt_time(self.last_synack);
        w.count(self.synack_count);
        w.opt_time(self.completed);
        w.flag(self.simultaneous_open);
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Handshake {
        Handshake {
            first_syn: r.opt_time(),
            last_syn: r.opt_time(),
            syn_count: r.count(),
            synack: r.opt_time(),
            last_synack: r.opt_time(),
            synack_count: r.count(),
            completed: r.opt_time(),
            simultaneous_open: r.flag(),
        }
    }
}

impl Endpoint {
    /// A group of its own (28 bits).
    fn encode(&self, w: &mut Writer<'_>) {
        w.group(4);
        self.state.encode(w);
        w.seq(self.isn);
        w.seq(self.base_seq);
        w.seq(self.next_seq);
        w.seq(self.last_ack);
        w.bytes(&self.window.to_le_bytes());
        w.byte(self.window_scale.unwrap_or(u8::MAX));
        w.seq(self.fin_seq);
        w.count(self.packets);
        w.count(self.bytes);
        w.count(self.payload_bytes);
        w.count(self.syns);
        w.count(self.fins);
        w.count(self.rsts);
        w.count(self.tshark_retransmissions);
        w.count(self.tshark_out_of_order);
        w.count(self.zero_window_probes);
        let k = &self.keepalive;
        w.count(k.probes);
        w.count(k.acks);
        w.count(k.unanswered_in_a_row);
        w.opt_time(k.first_probe);
        w.opt_time(k.last_probe);
        w.opt_duration(k.idle_before_first);
        w.count(k.intervals.len() as u64);
        for d in &k.intervals {
            w.duration(*d);
        }
        w.opt_time(self.next_seq_time);
        w.count(u64::from(self.dup_acks));
        w.opt_time(self.last_ack_time);
        w.flag(self.last_was_keepalive);
        w.end();
        self.evidence.encode(w);
    }

    fn decode(r: &mut Reader<'_>) -> Endpoint {
        r.group(4);
        Endpoint {
            state: TcpState::decode(r),
            isn: r.seq(),
            base_seq: r.seq(),
            next_seq: r.seq(),
            last_ack: r.seq(),
            window: u16::from_le_bytes([r.byte(), r.byte()]),
            window_scale: Some(r.byte()).filter(|s| *s != u8::MAX),
            fin_seq: r.seq(),
            packets: r.count(),
            bytes: r.count(),
            payload_bytes: r.count(),
            syns: r.count(),
            fins: r.count(),
            rsts: r.count(),
            tshark_retransmissions: r.count(),
            tshark_out_of_order: r.count(),
            zero_window_probes: r.count(),
            keepalive: KeepaliveStats {
                probes: r.count(),
                acks: r.count(),
                unanswered_in_a_row: r.count(),
                first_probe: r.opt_time(),
                last_probe: r.opt_time(),
                idle_before_first: r.opt_duration(),
                intervals: {
                    let n = r.count() as usize;
                    (0..n).map(|_| r.duration()).collect()
                },
            },
            next_seq_time: r.opt_time(),
            dup_acks: r.count() as u32,
            last_ack_time: r.opt_time(),
            last_was_keepalive: r.flag(),
            evidence: Evidence::decode(r),
        }
    }
}

/// Anomaly counts: six bits in the open group, and the counts that are not zero.
pub(crate) fn encode_anomalies(a: &[u32; Anomaly::ALL.len()], w: &mut Writer<'_>) {
    for n in a {
        w.count(u64::from(*n));
    }
}

pub(crate) fn decode_anomalies(r: &mut Reader<'_>) -> [u32; Anomaly::ALL.len()] {
    std::array::from_fn(|_| r.count() as u32)
}

impl TcpTracker {
    /// Both endpoints' groups, then its own (30 bits).
    pub(crate) fn encode(&self, w: &mut Writer<'_>) {
        self.client.encode(w);
        self.server.encode(w);
        w.group(4);
        self.handshake.encode(w);
        w.flag(self.first_fin.is_some());
        let (fin_side, fin_at) = self.first_fin.unwrap_or((Side::Client, Timestamp::ZERO));
        fin_side.encode(w);
        if self.first_fin.is_some() {
            w.time(fin_at);
        }
        Closer::encode(self.closer, w);
        ResetFacts::encode(self.reset, w);
        w.count(self.rst_answering_syn);
        w.flag(self.refused);
        w.flag(self.midstream);
        w.opt_time(self.time_wait_entered);
        w.opt_time(self.last_packet);
        encode_anomalies(&self.anomalies, w);
        w.end();
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> TcpTracker {
        let client = Endpoint::decode(r);
        let server = Endpoint::decode(r);
        r.group(4);
        TcpTracker {
            client,
            server,
            handshake: Handshake::decode(r),
            first_fin: {
                let some = r.flag();
                let side = Side::decode(r);
                some.then(|| (side, r.time()))
            },
            closer: Closer::decode(r),
            reset: ResetFacts::decode(r),
            rst_answering_syn: r.count(),
            refused: r.flag(),
            midstream: r.flag(),
            time_wait_entered: r.opt_time(),
            last_packet: r.opt_time(),
            anomalies: decode_anomalies(r),
        }
    }
}

impl LossCounts {
    /// Nine counters inside the caller's group (9 bits).
    pub(crate) fn encode(&self, w: &mut Writer<'_>) {
        for n in [
            self.fast,
            self.timeout,
            self.tail_loss_probe,
            self.unclassified,
            self.spurious,
            self.network_duplicates,
            self.out_of_order,
            self.lost_before_capture,
            self.lost_after_capture,
        ] {
            w.count(u64::from(n));
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> LossCounts {
        let mut n = || r.count() as u32;
        LossCounts {
            fast: n(),
            timeout: n(),
            tail_loss_probe: n(),
            unclassified: n(),
            spurious: n(),
            network_duplicates: n(),
            out_of_order: n(),
            lost_before_capture: n(),
            lost_after_capture: n(),
        }
    }
}

impl OrderingEvidence {
    const ALL: [OrderingEvidence; 3] = [
        OrderingEvidence::Timestamps,
        OrderingEvidence::IpId,
        OrderingEvidence::Timing,
    ];

    /// Two bits.
    pub(crate) fn encode(self, w: &mut Writer<'_>) {
        w.bits(self as u32, 2);
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> OrderingEvidence {
        Self::ALL[r.bits(2) as usize]
    }
}

fn encode_stamp(s: Stamp, w: &mut Writer<'_>) {
    w.flag(s.tsval.is_some());
    if let Some(v) = s.tsval {
        w.bytes(&v.to_le_bytes());
    }
    w.count(u64::from(s.ip_id));
}

fn decode_stamp(r: &mut Reader<'_>) -> Stamp {
    let tsval = r
        .flag()
        .then(|| u32::from_le_bytes(r.take(4).try_into().unwrap()));
    Stamp {
        tsval,
        ip_id: r.count() as u16,
    }
}

impl Evidence {
    /// A group of its own (49 bits).
    fn encode(&self, w: &mut Writer<'_>) {
        w.group(7);
        self.counts.encode(w);
        for h in &self.holes {
            w.flag(h.is_some());
            if let Some(h) = h {
                w.bytes(&h.start.0.to_le_bytes());
                w.bytes(&h.end.0.to_le_bytes());
                w.time(h.opened);
                encode_stamp(h.jumper, w);
            }
        }
        for s in &self.recent {
            w.seq(Some(s.seq).filter(|q| q.0 != 0 || s.len != 0));
            w.count(u64::from(s.len));
            encode_stamp(s.stamp, w);
        }
        w.bits(u32::from(self.recent_next), 2);
        w.bits(u32::from(self.resent_next), 1);
        for r in &self.resent {
            w.flag(r.is_some());
            if let Some(r) = r {
                w.bytes(&r.start.0.to_le_bytes());
                w.bytes(&r.end.0.to_le_bytes());
                w.flag(r.lost_after);
            }
        }
        w.seq(self.sack_high);
        w.opt_time(self.last_sent_at);
        w.bits(self.recovery as u32, 2);
        w.bytes(&self.recover.0.to_le_bytes());
        w.flag(self.timestamps);
        w.count(u64::from(self.last_ip_id));
        w.count(u64::from(self.ip_id_rising));
        w.count(u64::from(self.ip_id_other));
        w.end();
    }

    fn decode(r: &mut Reader<'_>) -> Evidence {
        r.group(7);
        let seq = |r: &mut Reader<'_>| Seq(u32::from_le_bytes(r.take(4).try_into().unwrap()));
        let counts = LossCounts::decode(r);
        let holes = std::array::from_fn(|_| {
            r.flag().then(|| Hole {
                start: seq(r),
                end: seq(r),
                opened: r.time(),
                jumper: decode_stamp(r),
            })
        });
        let recent = std::array::from_fn(|_| Seen {
            seq: r.seq().unwrap_or_default(),
            len: r.count() as u16,
            stamp: decode_stamp(r),
        });
        let recent_next = r.bits(2) as u8;
        let resent_next = r.bits(1) as u8;
        let resent = std::array::from_fn(|_| {
            r.flag().then(|| Resent {
                start: seq(r),
                end: seq(r),
                lost_after: r.flag(),
            })
        });
        let sack_high = r.seq();
        let last_sent_at = r.opt_time();
        let recovery = [Recovery::None, Recovery::Fast, Recovery::Timeout][r.bits(2) as usize];
        Evidence {
            counts,
            holes,
            recent,
            recent_next,
            resent,
            resent_next,
            sack_high,
            last_sent_at,
            recovery,
            recover: seq(r),
            timestamps: r.flag(),
            last_ip_id: r.count() as u16,
            ip_id_rising: r.count() as u16,
            ip_id_other: r.count() as u16,
        }
    }
}
