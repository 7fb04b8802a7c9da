//! The compact form of the tracker's types: a dormant connection keeps the whole tracker,
//! a record some of its parts.

use crate::model::loss::{LossCounts, OrderingEvidence};
use crate::model::seq::Seq;
use crate::model::state::{Anomaly, CloseKind, Closer, Handshake, ResetFacts, Side, TcpState};
use crate::model::time::Timestamp;
use crate::store::codec::{Reader, Writer};
use crate::tcp::evidence::{Evidence, Hole, Lapses, Recovery, Resent, Stamp, HOLES, RESENT};
use crate::tcp::rtt::{PathStats, Rtt, Sketch, WINDOW};
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
    /// A group of its own (29 bits, and the evidence's 6), then the evidence's lapses.
    /// Its sequence numbers are written near related ones (the ISN, the first, the next):
    /// the last acknowledgment near `ack_near`, the peer's next sequence number when the
    /// reader knows it.
    fn encode(&self, ack_near: Option<Seq>, w: &mut Writer<'_>) {
        w.group(5);
        self.state.encode(w);
        w.seq(self.isn);
        w.seq_near(self.base_seq, self.isn);
        w.seq_near(self.next_seq, self.base_seq);
        w.seq_near(self.last_ack, ack_near);
        w.bytes(&self.window.to_le_bytes());
        w.byte(self.window_scale.unwrap_or(u8::MAX));
        w.seq_near(self.fin_seq, self.next_seq);
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
        w.opt_late_time(k.first_probe);
        w.opt_late_time(k.last_probe);
        w.opt_duration(k.idle_before_first);
        w.count(k.intervals.len() as u64);
        for d in &k.intervals {
            w.duration(*d);
        }
        w.opt_late_time(self.next_seq_time);
        w.count(u64::from(self.dup_acks));
        w.opt_late_time(self.last_ack_time);
        w.flag(self.last_was_keepalive);
        self.evidence.encode(self.next_seq_time, w);
        w.end();
        if let Some(l) = &self.evidence.lapses {
            l.encode(w);
        }
    }

    fn decode(ack_near: Option<Seq>, r: &mut Reader<'_>) -> Endpoint {
        r.group(5);
        let state = TcpState::decode(r);
        let isn = r.seq();
        let base_seq = r.seq_near(isn);
        let next_seq = r.seq_near(base_seq);
        let mut e = Endpoint {
            state,
            isn,
            base_seq,
            next_seq,
            last_ack: r.seq_near(ack_near),
            window: u16::from_le_bytes([r.byte(), r.byte()]),
            window_scale: Some(r.byte()).filter(|s| *s != u8::MAX),
            fin_seq: r.seq_near(next_seq),
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
                first_probe: r.opt_late_time(),
                last_probe: r.opt_late_time(),
                idle_before_first: r.opt_duration(),
                intervals: {
                    let n = r.count() as usize;
                    (0..n).map(|_| r.duration()).collect()
                },
            },
            next_seq_time: r.opt_late_time(),
            dup_acks: r.count() as u32,
            last_ack_time: r.opt_late_time(),
            last_was_keepalive: r.flag(),
            evidence: Evidence::default(),
        };
        let (evidence, has_lapses) = Evidence::decode(e.next_seq_time, r);
        e.evidence = evidence;
        if has_lapses {
            e.evidence.lapses = Some(Box::new(Lapses::decode(r)));
        }
        e
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
    /// Both endpoints' groups, then its own (30 bits). The server's last acknowledgment
    /// is written near the client's next sequence number.
    pub(crate) fn encode(&self, w: &mut Writer<'_>) {
        self.client.encode(None, w);
        self.server.encode(self.client.next_seq, w);
        w.group(4);
        self.handshake.encode(w);
        w.flag(self.first_fin.is_some());
        let (fin_side, fin_at) = self.first_fin.unwrap_or((Side::Client, Timestamp::ZERO));
        fin_side.encode(w);
        if self.first_fin.is_some() {
            w.late_time(fin_at);
        }
        Closer::encode(self.closer, w);
        ResetFacts::encode(self.reset, w);
        w.count(self.rst_answering_syn);
        w.flag(self.refused);
        w.flag(self.midstream);
        w.opt_late_time(self.time_wait_entered);
        w.opt_late_time(self.last_packet);
        encode_anomalies(&self.anomalies, w);
        w.end();
        self.rtt.encode(w);
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> TcpTracker {
        let client = Endpoint::decode(None, r);
        let server = Endpoint::decode(client.next_seq, r);
        r.group(4);
        TcpTracker {
            client,
            server,
            handshake: Handshake::decode(r),
            first_fin: {
                let some = r.flag();
                let side = Side::decode(r);
                some.then(|| (side, r.late_time()))
            },
            closer: Closer::decode(r),
            reset: ResetFacts::decode(r),
            rst_answering_syn: r.count(),
            refused: r.flag(),
            midstream: r.flag(),
            time_wait_entered: r.opt_late_time(),
            last_packet: r.opt_late_time(),
            anomalies: decode_anomalies(r),
            rtt: Rtt::decode(r),
        }
    }
}

impl Rtt {
    /// Outside any group: whether samples follow, and each side's. What waits for an
    /// answer is left out: a connection goes dormant only after a quiet longer than
    /// `RECENT_FOR`, so its next segment forgets it anyway (`TcpTracker::forget_recent`).
    fn encode(&self, w: &mut Writer<'_>) {
        w.byte(u8::from(self.paths.is_some()));
        for path in self.paths.iter().flat_map(|p| p.iter()) {
            w.varint(u64::from(path.samples));
            w.varint(u64::from(path.ts_samples));
            w.varint(path.min);
            w.varint(path.max - path.min);
            let s = &path.sketch;
            w.varint(u64::from(s.base));
            // The buckets from the first that holds a sample to the last.
            let first = s.counts.iter().position(|&c| c > 0).unwrap_or(WINDOW);
            let last = s
                .counts
                .iter()
                .rposition(|&c| c > 0)
                .map_or(first, |l| l + 1);
            w.varint(first as u64);
            w.varint((last - first) as u64);
            w.bytes(&s.counts[first..last]);
        }
    }

    fn decode(r: &mut Reader<'_>) -> Rtt {
        let mut rtt = Rtt::default();
        if r.byte() != 0 {
            let mut path = || {
                let (samples, ts_samples, min) = (r.varint() as u32, r.varint() as u32, r.varint());
                let mut p = PathStats {
                    samples,
                    ts_samples,
                    min,
                    max: min + r.varint(),
                    sketch: Sketch {
                        base: r.varint() as u16,
                        ..Sketch::default()
                    },
                };
                let first = (r.varint() as usize).min(WINDOW);
                let n = (r.varint() as usize).min(WINDOW - first);
                p.sketch.counts[first..first + n].copy_from_slice(r.take(n));
                p.sketch.total = p.sketch.counts.iter().map(|&c| u32::from(c)).sum();
                p
            };
            let (client, server) = (path(), path());
            rtt.paths = Some(Box::new([client, server]));
        }
        rtt
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

/// Outside any group's flags (a hole's stamp: there can be 16 of them).
fn encode_stamp(s: Stamp, w: &mut Writer<'_>) {
    w.byte(u8::from(s.tsval.is_some()));
    if let Some(v) = s.tsval {
        w.bytes(&v.to_le_bytes());
    }
    w.varint(u64::from(s.ip_id));
}

fn decode_stamp(r: &mut Reader<'_>) -> Stamp {
    let tsval = (r.byte() != 0).then(|| u32::from_le_bytes(r.take(4).try_into().unwrap()));
    Stamp {
        tsval,
        ip_id: r.varint() as u16,
    }
}

fn read_seq(r: &mut Reader<'_>) -> Seq {
    Seq(u32::from_le_bytes(r.take(4).try_into().unwrap()))
}

impl Evidence {
    /// Six bits in the endpoint's group, and their values: what every connection has.
    /// What it forgets after a quiet `RECENT_FOR` (its latest segment and IP ID, its recent
    /// segments) is left out: a connection goes dormant only after a longer quiet, so its
    /// next segment forgets them anyway (`TcpTracker::forget_recent`).
    fn encode(&self, next_seq_time: Option<Timestamp>, w: &mut Writer<'_>) {
        w.flag(self.timestamps);
        // When it last sent: most often when its sequence space last grew.
        let sent = match self.last_sent_at {
            None => 0,
            Some(t) if Some(t) == next_seq_time => 1,
            Some(_) => 2,
        };
        w.bits(sent, 2);
        if let (2, Some(t)) = (sent, self.last_sent_at) {
            w.late_time(t);
        }
        w.count(u64::from(self.ip_id_rising));
        w.count(u64::from(self.ip_id_other));
        w.flag(self.lapses.is_some());
    }

    /// And whether its lapses follow.
    fn decode(next_seq_time: Option<Timestamp>, r: &mut Reader<'_>) -> (Evidence, bool) {
        let timestamps = r.flag();
        let last_sent_at = match r.bits(2) {
            0 => None,
            1 => next_seq_time,
            _ => Some(r.late_time()),
        };
        let e = Evidence {
            timestamps,
            last_sent_at,
            ip_id_rising: r.count() as u16,
            ip_id_other: r.count() as u16,
            ..Evidence::default()
        };
        (e, r.flag())
    }
}

impl Lapses {
    /// A group of its own (14 bits), then the holes and retransmissions remembered.
    fn encode(&self, w: &mut Writer<'_>) {
        w.group(2);
        self.counts.encode(w);
        w.seq(self.sack_high);
        w.bits(self.recovery as u32, 2);
        w.count(self.holes().len() as u64);
        w.count(self.resent().len() as u64);
        if self.recovery != Recovery::None {
            w.bytes(&self.recover.0.to_le_bytes());
        }
        for h in self.holes() {
            w.bytes(&h.start.0.to_le_bytes());
            w.bytes(&h.end.0.to_le_bytes());
            w.time(h.opened);
            encode_stamp(h.jumper, w);
        }
        for r in self.resent() {
            w.bytes(&r.start.0.to_le_bytes());
            w.bytes(&r.end.0.to_le_bytes());
            w.byte(u8::from(r.lost_after));
        }
        w.end();
    }

    fn decode(r: &mut Reader<'_>) -> Lapses {
        r.group(2);
        let mut l = Lapses::new(None);
        l.counts = LossCounts::decode(r);
        l.sack_high = r.seq();
        l.recovery = [Recovery::None, Recovery::Fast, Recovery::Timeout][r.bits(2) as usize];
        let holes = (r.count() as usize).min(HOLES);
        let resent = (r.count() as usize).min(RESENT);
        if l.recovery != Recovery::None {
            l.recover = read_seq(r);
        }
        for h in &mut l.holes[..holes] {
            *h = Hole {
                start: read_seq(r),
                end: read_seq(r),
                opened: r.time(),
                jumper: decode_stamp(r),
            };
        }
        l.open = holes as u8;
        for x in &mut l.resent[..resent] {
            *x = Resent {
                start: read_seq(r),
                end: read_seq(r),
                lost_after: r.byte() != 0,
            };
        }
        l.resent_len = resent as u8;
        l
    }
}
