//! Passive TCP state tracker: one state machine per endpoint, as an observer on the wire
//! infers it.
//!
//! Reading list: RFC 9293 (TCP; §3.3.2 states, §3.10.7 segment arrival), RFC 1982 (serial
//! number arithmetic), RFC 1337 (TIME_WAIT assassination), RFC 1122 §4.2.3.6 (keep-alive),
//! RFC 7413 (TCP Fast Open). Where a figure follows Wireshark's TCP analysis, the rule is
//! named in docs/metrics.md.
//!
//! Every segment is applied twice: once to its sender (what sending it means: SYN sent,
//! FIN sent, RST sent) and once to its receiver (the RFC 9293 arrival rules: the ACK field
//! first, then the FIN bit). The observer assumes a captured segment reaches its receiver;
//! where the receiver's own later segments prove otherwise (two FINs that cross), the
//! inference is corrected. Every state change is one arm of one match,
//! `TcpTracker::transition`, over (sender or receiver, that endpoint's state, kind of
//! segment); the facts a segment records (handshake times, anomalies, the close) are
//! noted before it, in `note_syn`, `note_fin` and `note_rst`. The tracker only updates
//! facts and emits typed [`Event`]s; it knows nothing of output.

use std::time::Duration;

use crate::decode::TcpSegment;
use crate::model::event::Event;
use crate::model::seq::Seq;
use crate::model::state::Anomaly;
use crate::model::state::CloseKind;
use crate::model::state::Closer;
use crate::model::state::Handshake;
use crate::model::state::ResetFacts;
use crate::model::state::Side;
use crate::model::state::TcpState;
use crate::model::time::Timestamp;
use crate::tcp::evidence::{Context, Evidence, Stamp, Verdict, RECENT_FOR};
use crate::tcp::rtt::Rtt;

/// Keep-alive figures for the probes one endpoint sent.
#[derive(Clone, Debug, Default)]
pub struct KeepaliveStats {
    pub probes: u64,
    /// Probes the peer answered with an ACK.
    pub acks: u64,
    /// Probes sent since the peer last sent anything: a live run takes the peer for dead
    /// at `PEER_DEAD_AFTER_PROBES` of them.
    pub unanswered_in_a_row: u64,
    pub first_probe: Option<Timestamp>,
    pub last_probe: Option<Timestamp>,
    /// Idle time of the connection before the first probe.
    pub idle_before_first: Option<Duration>,
    /// Intervals between consecutive probes (bounded: see `MAX_INTERVALS`).
    pub intervals: Vec<Duration>,
}

impl KeepaliveStats {
    pub fn unanswered(&self) -> u64 {
        self.probes - self.acks
    }
}

/// Keep-alive probes left unanswered after which a live run takes the peer for dead: a
/// prober gives up after its probe count (Linux 9, BSD 8, Windows 10) and resets, and
/// three unanswered in a row are no network hiccup.
pub const PEER_DEAD_AFTER_PROBES: u64 = 3;

/// What a live run may do with a connection that falls silent (docs/live.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quiet {
    /// Its close has played out: let go of after 2·MSL.
    Closed,
    /// Established or half-closed: silence is normal (a keep-alive waits two hours before
    /// its first probe), so it is kept for the long established timeout.
    Synchronized,
    /// Never synchronized (SYN unanswered, handshake incomplete): the short idle timeout.
    Opening,
    /// Its keep-alive probes go unanswered: the short idle timeout after the last of them,
    /// by which time the prober has given up (and reset).
    PeerDead,
}

/// Probe intervals kept per endpoint for the median; more add nothing and could be
/// used to grow memory without bound.
const MAX_INTERVALS: usize = 64;

/// Wireshark's out-of-order window when the handshake RTT is unknown.
const OUT_OF_ORDER_DEFAULT: Duration = Duration::from_millis(3);
/// Wireshark's fast-retransmission window after the peer's duplicate ACKs.
const FAST_RETRANSMIT_WINDOW: Duration = Duration::from_millis(20);

/// Which endpoint of a segment a transition applies to: every segment is applied to its
/// sender, then to its receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// The endpoint that sent the segment: what sending it means (RFC 9293 §3.10.1
    /// OPEN, §3.10.4 CLOSE, §3.10.5 ABORT, and the replies of §3.10.7).
    Sender,
    /// The endpoint it reaches: what its arrival does (RFC 9293 §3.10.7).
    Receiver,
}

/// What a segment does to the state machines, one control at a time. A segment with a
/// RST is a `Rst` alone (it aborts whatever else it carries). Otherwise it is a `Syn`,
/// a `SynAck` or an `Ack` (the ACK field, RFC 9293 §3.10.7.4 fifth check), then a `Fin`
/// if the FIN bit is set (the eighth check, after the ACK field): a FIN/ACK is an `Ack`
/// then a `Fin`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SegmentKind {
    Syn,
    SynAck,
    Ack,
    Fin,
    Rst,
}

/// What one endpoint has done, as seen on the wire: its state and its sequence space.
#[derive(Clone, Debug, Default)]
pub struct Endpoint {
    pub state: TcpState,
    /// Initial sequence number, from its SYN or SYN/ACK.
    pub isn: Option<Seq>,
    /// First sequence number seen from it (the ISN when its SYN was seen).
    pub base_seq: Option<Seq>,
    /// One past the highest sequence number it has sent (SYN and FIN count one).
    pub next_seq: Option<Seq>,
    /// Highest acknowledgment number it has sent.
    pub last_ack: Option<Seq>,
    /// Last window it advertised (unscaled field value).
    pub window: u16,
    /// The window-scale shift its SYN or SYN/ACK offered (RFC 7323 §2.2), if any.
    pub window_scale: Option<u8>,
    /// Sequence number its FIN occupies.
    pub fin_seq: Option<Seq>,
    pub packets: u64,
    /// Bytes on the wire (original frame length) it sent.
    pub bytes: u64,
    /// TCP payload bytes it sent (from IP lengths, retransmissions included).
    pub payload_bytes: u64,
    pub syns: u64,
    pub fins: u64,
    pub rsts: u64,
    /// Wireshark's tcp.analysis.retransmission (fast and spurious included): what tshark
    /// would count, kept beside the evidence's figures (`evidence`).
    pub tshark_retransmissions: u64,
    /// Segments below the highest sequence that arrive within an RTT of it (Wireshark's
    /// tcp.analysis.out_of_order), which on a lossy link are mostly fast retransmissions.
    pub tshark_out_of_order: u64,
    /// Its out-of-sequence segments classified by evidence (docs/metrics.md).
    pub evidence: Evidence,
    pub zero_window_probes: u64,
    pub keepalive: KeepaliveStats,
    /// When `next_seq` last advanced.
    pub(crate) next_seq_time: Option<Timestamp>,
    /// Consecutive duplicate ACKs it sent, and when its ACK last changed or repeated.
    pub(crate) dup_acks: u32,
    pub(crate) last_ack_time: Option<Timestamp>,
    /// Its latest segment was a keep-alive probe.
    pub(crate) last_was_keepalive: bool,
}

impl Endpoint {
    /// Retransmissions as the evidence tells them (spurious ones included).
    pub fn retransmissions(&self) -> u64 {
        self.evidence.counts().retransmissions()
    }

    /// Originals that arrived late, as the evidence tells them.
    pub fn out_of_order(&self) -> u64 {
        u64::from(self.evidence.counts().out_of_order)
    }

    /// What any segment it sends adds to its counts, and what its ACK field and window
    /// say (the general path and header prediction alike).
    #[inline]
    fn count_sent(&mut self, seg: &TcpSegment<'_>, wire_len: u32, at: Timestamp) {
        self.packets += 1;
        self.bytes += u64::from(wire_len);
        self.payload_bytes += u64::from(seg.payload_len);
        self.window = seg.window;
        if seg.flags.ack() {
            let prev_ack = self.last_ack;
            self.last_ack = Some(prev_ack.map_or(seg.ack, |prev| prev.max(seg.ack)));
            if prev_ack != Some(seg.ack) {
                self.dup_acks = 0;
                self.last_ack_time = Some(at);
            }
        }
    }

    /// Its sequence space reaches `end`, beyond `next` or not.
    #[inline]
    fn reach(&mut self, next: Seq, end: Seq, at: Timestamp) {
        if end.gt(next) {
            self.next_seq = Some(end);
            self.next_seq_time = Some(at);
        }
    }

    fn fin_acked_by(&self, seg: &TcpSegment<'_>) -> bool {
        match self.fin_seq {
            Some(fin) => seg.flags.ack() && seg.ack.ge(fin.wrapping_add(1)),
            None => false,
        }
    }
}

/// What orders a segment: its TSval (only data and SYN/FIN segments are ordered, so a
/// bare ACK's options are not read here) and IPv4 ID.
#[inline]
fn stamp_of(seg: &TcpSegment<'_>) -> Stamp {
    Stamp {
        tsval: if seg.seq_len() > 0 {
            seg.timestamps().map(|(tsval, _)| tsval)
        } else {
            None
        },
        ip_id: seg.ip_id,
    }
}

/// Options beyond the timestamps Linux and the BSDs put on every segment (NOP, NOP, TS):
/// SACK blocks, perhaps.
#[inline]
fn more_than_timestamps(options: &[u8]) -> bool {
    match options.len() {
        0 => false,
        12 => options[..4] != [1, 1, 8, 10],
        _ => true,
    }
}

/// One TCP connection's state machines and facts.
#[derive(Clone, Debug, Default)]
pub struct TcpTracker {
    pub client: Endpoint,
    pub server: Endpoint,
    pub handshake: Handshake,
    pub first_fin: Option<(Side, Timestamp)>,
    pub closer: Option<Closer>,
    pub reset: Option<ResetFacts>,
    /// RSTs sent in answer to a SYN (the peer was in SYN_SENT).
    pub rst_answering_syn: u64,
    /// The server answered the client's SYN with a RST before any SYN/ACK.
    pub refused: bool,
    /// The first segment was neither SYN nor SYN/ACK: the capture began mid-connection.
    pub midstream: bool,
    pub time_wait_entered: Option<Timestamp>,
    pub last_packet: Option<Timestamp>,
    pub(crate) anomalies: [u32; Anomaly::ALL.len()],
    /// The RTT through the connection, per side of the capture point (`crate::tcp::rtt`).
    pub rtt: Rtt,
}

impl TcpTracker {
    pub fn endpoint(&self, side: Side) -> &Endpoint {
        match side {
            Side::Client => &self.client,
            Side::Server => &self.server,
        }
    }

    fn endpoints_mut(&mut self, sender: Side) -> (&mut Endpoint, &mut Endpoint) {
        match sender {
            Side::Client => (&mut self.client, &mut self.server),
            Side::Server => (&mut self.server, &mut self.client),
        }
    }

    pub fn anomalies(&self) -> impl Iterator<Item = (Anomaly, u32)> + '_ {
        Anomaly::ALL
            .iter()
            .zip(self.anomalies.iter())
            .filter(|(_, n)| **n > 0)
            .map(|(a, n)| (*a, *n))
    }

    fn anomaly(&mut self, a: Anomaly, emit: &mut impl FnMut(Event)) {
        self.anomalies[a.index()] += 1;
        emit(Event::Anomaly(a));
    }

    fn set_state(&mut self, side: Side, to: TcpState, at: Timestamp, emit: &mut impl FnMut(Event)) {
        let ep = match side {
            Side::Client => &mut self.client,
            Side::Server => &mut self.server,
        };
        let from = ep.state;
        if from == to {
            return;
        }
        ep.state = to;
        emit(Event::StateChanged { side, from, to });
        if to == TcpState::TimeWait {
            self.time_wait_entered.get_or_insert(at);
            emit(Event::TimeWaitEntered { side });
        }
    }

    fn state(&self, side: Side) -> TcpState {
        self.endpoint(side).state
    }

    /// Whether a SYN from `sender` with this sequence number starts a new connection on
    /// the same 4-tuple. Wireshark's rule for a new tcp.stream: a SYN (without ACK) whose
    /// sequence number differs from the first one seen from that side.
    pub fn is_new_connection_syn(&self, sender: Side, seg: &TcpSegment<'_>) -> bool {
        seg.flags.syn_only()
            && matches!(self.endpoint(sender).base_seq, Some(base) if base != seg.seq)
    }

    /// After a quiet `RECENT_FOR`, what both senders' evidence remembers of their recent
    /// segments is no evidence any more, nor is what waits for an RTT sample (an answer
    /// after the whole connection's silence would time the silence); a dormant connection
    /// keeps neither.
    pub(crate) fn forget_recent(&mut self) {
        self.client.evidence.forget_recent();
        self.server.evidence.forget_recent();
        self.rtt.forget_waits();
    }

    /// Applies one captured segment sent by `sender`.
    pub fn on_segment(
        &mut self,
        sender: Side,
        seg: &TcpSegment<'_>,
        wire_len: u32,
        at: Timestamp,
        emit: &mut impl FnMut(Event),
    ) {
        self.apply::<true>(sender, seg, wire_len, at, emit);
    }

    /// `on_segment` without header prediction: every segment takes the general path,
    /// which the prediction must match (tests/fast_path.rs).
    pub fn on_segment_unpredicted(
        &mut self,
        sender: Side,
        seg: &TcpSegment<'_>,
        wire_len: u32,
        at: Timestamp,
        emit: &mut impl FnMut(Event),
    ) {
        self.apply::<false>(sender, seg, wire_len, at, emit);
    }

    fn apply<const PREDICT: bool>(
        &mut self,
        sender: Side,
        seg: &TcpSegment<'_>,
        wire_len: u32,
        at: Timestamp,
        emit: &mut impl FnMut(Event),
    ) {
        let flags = seg.flags;
        emit(Event::Segment {
            by: sender,
            flags,
            seq: seg.seq,
            ack: seg.ack,
            window: seg.window,
            len: seg.payload_len,
        });
        if self.last_packet.is_some_and(|t| at.reached(t, RECENT_FOR)) {
            self.forget_recent();
        }
        let next = self.endpoint(sender).next_seq;
        self.rtt.on_segment(sender, seg, next, at);
        if PREDICT && self.predicted(sender, seg, wire_len, at) {
            return;
        }
        if flags.rst() && !flags.syn() && !flags.fin() {
            if let Some(why) = self.unacceptable_rst(sender, seg) {
                // Counted as sent, but it neither closes nor moves the sender's sequence
                // space: its sequence number is not the sender's own.
                let (me, _) = self.endpoints_mut(sender);
                me.count_sent(seg, wire_len, at);
                me.evidence
                    .on_sent(seg.seq, seg.seq_len(), seg.payload_len, stamp_of(seg), at);
                me.rsts += 1;
                self.last_packet = Some(at);
                self.anomaly(why, emit);
                return;
            }
        }
        let first_packet = self.last_packet.is_none();
        if first_packet && !flags.syn() {
            self.midstream = true;
        }
        let idle_since = self.last_packet;
        self.last_packet = Some(at);
        if flags.syn() && (flags.rst() || flags.fin()) {
            self.anomaly(Anomaly::SynWithRstOrFin, emit);
        }
        if self.client.state == TcpState::Closed
            && self.server.state == TcpState::Closed
            && !first_packet
            && !flags.rst()
            && !flags.syn()
            && (self.reset.is_some() || self.time_wait_entered.is_some())
        {
            self.anomaly(Anomaly::ClosedSegmentAfterClose, emit);
        }

        self.classify_sequence(sender, seg, wire_len, at, idle_since, emit);

        // The facts each control records come first, then the state machines move: the
        // sender's, then the receiver's (`transition`).
        if flags.rst() {
            // FIN+RST: the FIN was sent (it names the closer) but the RST aborts at once.
            if flags.fin() {
                self.note_fin(sender, seg, at, emit);
            }
            self.note_rst(sender, seg, at, emit);
            self.transitions(SegmentKind::Rst, sender, seg, at, emit);
            return;
        }
        if flags.syn() {
            self.note_syn(sender, seg, at, emit);
            let kind = if flags.ack() {
                SegmentKind::SynAck
            } else {
                SegmentKind::Syn
            };
            self.transitions(kind, sender, seg, at, emit);
        } else if flags.ack() {
            self.transitions(SegmentKind::Ack, sender, seg, at, emit);
        }
        if flags.fin() && self.note_fin(sender, seg, at, emit) {
            self.transitions(SegmentKind::Fin, sender, seg, at, emit);
        }
        if flags.syn() {
            // Last, so the segment's other events keep their order.
            self.note_syn_again(sender, flags.ack(), at, emit);
        }
    }

    /// Why a RST is not acceptable to its receiver, so that it changes no state (an
    /// observer cannot see every RST's fate, so only the two cases the RFCs name, with
    /// evidence on the wire):
    /// - RFC 9293 §3.10.7.3: an endpoint in SYN-SENT answers an ACK that does not
    ///   acknowledge its SYN with `<SEQ=SEG.ACK><CTL=RST>` and stays in SYN-SENT;
    /// - RFC 5961 §3.2: a RST whose sequence number is outside the receiver's window
    ///   (below what the receiver has acknowledged, or at or beyond the window's right
    ///   edge and beyond anything the sender was seen to send) is not acceptable.
    fn unacceptable_rst(&self, sender: Side, seg: &TcpSegment<'_>) -> Option<Anomaly> {
        use TcpState::*;
        let me = self.endpoint(sender);
        let receiver = self.endpoint(sender.peer());
        if me.state == SynSent {
            let (Some(isn), Some(next), Some(peer_ack)) = (me.isn, me.next_seq, receiver.last_ack)
            else {
                return None;
            };
            let acks_our_syn = peer_ack.gt(isn) && peer_ack.le(next);
            return (!seg.flags.ack() && !acks_our_syn && seg.seq == peer_ack)
                .then_some(Anomaly::RstForUnacceptableAck);
        }
        // Once reset, the connection has no window left to defend.
        if self.reset.is_some()
            || !matches!(
                receiver.state,
                Established | FinWait1 | FinWait2 | CloseWait | Closing | LastAck
            )
        {
            return None;
        }
        let rcv_nxt = receiver.last_ack?;
        let window = (u32::from(receiver.window) << self.window_shift(sender.peer())).max(1);
        let right_edge = rcv_nxt.wrapping_add(window);
        let beyond = seg.seq.ge(right_edge) && me.next_seq.is_none_or(|n| seg.seq.gt(n));
        (seg.seq.lt(rcv_nxt) || beyond).then_some(Anomaly::RstOutOfWindow)
    }

    /// The shift that scales `side`'s advertised window: its offer when both SYNs offered
    /// one (RFC 7323 §2.2), none when either SYN was seen without, and the largest
    /// (14) when a SYN was not captured.
    fn window_shift(&self, side: Side) -> u32 {
        let (me, peer) = (self.endpoint(side), self.endpoint(side.peer()));
        match (me.window_scale, peer.window_scale) {
            (Some(shift), Some(_)) => u32::from(shift.min(14)),
            _ if me.isn.is_some() && peer.isn.is_some() => 0,
            _ => 14,
        }
    }

    /// A SYN from the client, or a SYN/ACK from the server, that is not the first, while
    /// the handshake is not complete: says how many so far and how long after the first
    /// (live printers tell it as it happens).
    fn note_syn_again(&self, sender: Side, ack: bool, at: Timestamp, emit: &mut impl FnMut(Event)) {
        let h = &self.handshake;
        let (count, first) = match (sender, ack) {
            (Side::Client, false) => (h.syn_count, h.first_syn),
            (Side::Server, true) => (h.synack_count, h.synack),
            _ => return,
        };
        if h.completed.is_some() {
            return; // Not a handshake kept waiting.
        }
        if let (true, Some(first)) = (count > 1, first) {
            emit(Event::SynRetransmitted {
                by: sender,
                count,
                since_first: at.checked_since(first).unwrap_or_default(),
            });
        }
    }

    /// Header prediction (after Van Jacobson's in BSD's tcp_input): most segments are
    /// the next data of an ESTABLISHED connection, or an ACK that moves, and for those
    /// the general path's many checks all come out the same way. This applies what they
    /// amount to and returns true; any other segment changes nothing here and returns
    /// false. Why each condition, in the general path's terms: no SYN, FIN or RST, so
    /// no state change, no control anomaly, and ACK processing in ESTABLISHED changes no
    /// state; at the next sequence number, so neither a keep-alive (next − 1) nor a
    /// retransmission or reordering (below next); two bytes or more, so not a
    /// zero-window probe (one byte); an ACK without data that moves is no duplicate ACK,
    /// and with the peer's last segment not a keep-alive it answers none.
    #[inline]
    fn predicted(
        &mut self,
        sender: Side,
        seg: &TcpSegment<'_>,
        wire_len: u32,
        at: Timestamp,
    ) -> bool {
        let flags = seg.flags;
        if !flags.ack()
            || flags.syn()
            || flags.fin()
            || flags.rst()
            || self.client.state != TcpState::Established
            || self.server.state != TcpState::Established
            || self.last_packet.is_none()
        {
            return false;
        }
        let (me, peer) = match sender {
            Side::Client => (&mut self.client, &self.server),
            Side::Server => (&mut self.server, &self.client),
        };
        let Some(next) = me.next_seq else {
            return false;
        };
        let prev_ack = me.last_ack;
        let moves_ack = prev_ack != Some(seg.ack);
        let plain = match seg.payload_len {
            // An ACK with SACK blocks (more options than the timestamps) takes the general
            // path, which reads them (a D-SACK may come on an ACK that moves).
            0 => moves_ack && !peer.last_was_keepalive && !more_than_timestamps(seg.options),
            1 => false,
            _ => true,
        };
        // A segment that answers the peer's keep-alive probes takes the general path,
        // which counts the answer.
        if !plain || seg.seq != next || me.packets == 0 || peer.keepalive.unanswered_in_a_row != 0 {
            return false;
        }
        me.count_sent(seg, wire_len, at);
        me.evidence
            .on_sent(seg.seq, seg.seq_len(), seg.payload_len, stamp_of(seg), at);
        me.last_was_keepalive = false;
        me.reach(next, seg.seq.wrapping_add(seg.payload_len), at);
        self.last_packet = Some(at);
        true
    }

    /// Sequence-space bookkeeping for the sender, following Wireshark's TCP analysis
    /// (tcp.analysis.*) in its order: zero-window probe, keep-alive, keep-alive ACK,
    /// out-of-order, retransmission.
    fn classify_sequence(
        &mut self,
        sender: Side,
        seg: &TcpSegment<'_>,
        wire_len: u32,
        at: Timestamp,
        idle_since: Option<Timestamp>,
        emit: &mut impl FnMut(Event),
    ) {
        let flags = seg.flags;
        let TcpTracker {
            client,
            server,
            handshake,
            ..
        } = self;
        let (me, peer) = match sender {
            Side::Client => (client, server),
            Side::Server => (server, client),
        };
        let first_segment = me.packets == 0;
        let (prev_window, prev_ack) = (me.window, me.last_ack);
        me.count_sent(seg, wire_len, at);
        // Anything this side sends shows it alive: the peer's probes so far are answered.
        peer.keepalive.unanswered_in_a_row = 0;
        me.syns += u64::from(flags.syn());
        me.fins += u64::from(flags.fin());
        me.rsts += u64::from(flags.rst());
        if flags.syn() && me.isn.is_none() && !first_segment {
            // Its first SYN after segments of its own (a stale ACK on a reused port):
            // its sequence space starts at the ISN, not at what came before.
            me.base_seq = None;
            me.next_seq = None;
        }
        me.base_seq.get_or_insert(seg.seq);
        let peer_window_zero = peer.packets > 0 && peer.window == 0;
        let control = flags.syn() || flags.fin() || flags.rst();
        let end = seg.seq.wrapping_add(seg.seq_len());
        let stamp = stamp_of(seg);
        if flags.ack() && !seg.options.is_empty() {
            // Its SACK blocks, as the receiver of the peer's data: how far the peer's data
            // got, and whether the peer resent what it already had (D-SACK).
            let opts = seg.scale_and_sack();
            if let Some((start, end)) =
                me.evidence
                    .on_sack(seg.ack, opts.sack_blocks(), me.next_seq)
            {
                peer.evidence.on_dsack(start, end);
            }
        }
        let Some(next) = me.next_seq else {
            me.next_seq = Some(end);
            me.next_seq_time = Some(at);
            me.last_was_keepalive = false;
            me.evidence
                .on_sent(seg.seq, seg.seq_len(), seg.payload_len, stamp, at);
            return;
        };
        let mut probe = false;
        let mut keepalive = false;
        if !control && seg.payload_len == 1 && seg.seq == next && peer_window_zero {
            // tcp.analysis.zero_window_probe: the next byte, sent into a zero window.
            probe = true;
            me.zero_window_probes += 1;
            emit(Event::ZeroWindowProbe { by: sender });
        } else if !control && seg.payload_len <= 1 && seg.seq == next.wrapping_sub(1) {
            // tcp.analysis.keep_alive: 0 or 1 byte starting one before the next sequence
            // number. Sent into a zero window it is a zero-window probe instead (Linux
            // probes a zero window the same way); see docs/metrics.md.
            probe = true;
            if peer_window_zero {
                me.zero_window_probes += 1;
                emit(Event::ZeroWindowProbe { by: sender });
            } else {
                keepalive = true;
                let ka = &mut me.keepalive;
                ka.probes += 1;
                ka.unanswered_in_a_row += 1;
                match ka.last_probe {
                    Some(prev) => {
                        if let (true, Some(d)) =
                            (ka.intervals.len() < MAX_INTERVALS, at.checked_since(prev))
                        {
                            ka.intervals.push(d);
                        }
                    }
                    None => {
                        ka.first_probe = Some(at);
                        ka.idle_before_first = idle_since.and_then(|t| at.checked_since(t));
                    }
                }
                ka.last_probe = Some(at);
                emit(Event::KeepaliveProbe { by: sender });
            }
        } else if !control
            && seg.payload_len == 0
            && !first_segment
            && flags.ack()
            && peer.last_was_keepalive
            && peer.next_seq.is_some_and(|n| seg.ack.ge(n))
        {
            // The peer's answer to a keep-alive: a bare ACK of everything it sent, right
            // after the probe. Wireshark's keep_alive_ack also wants the window unchanged,
            // which misses the first answer after a window update (docs/metrics.md).
            peer.keepalive.acks += 1;
            peer.last_was_keepalive = false;
            emit(Event::KeepaliveAck { by: sender });
        } else if !control
            && seg.payload_len == 0
            && seg.window != 0
            && seg.window == prev_window
            && seg.seq == next
            && flags.ack()
            && prev_ack == Some(seg.ack)
        {
            // tcp.analysis.duplicate_ack: nothing new from this side but the same ACK.
            me.dup_acks += 1;
            me.last_ack_time = Some(at);
        } else if seg.payload_len > 1 && seg.seq == next.wrapping_sub(1) {
            // One byte already sent, then new data: not a keep-alive (it carries more
            // than one byte) and not a retransmission (tshark's exception).
        } else if seg.seq_len() > 0 && seg.seq.lt(next) {
            // Wireshark's figures first, as tshark would count them (docs/metrics.md).
            let since_highest = me
                .next_seq_time
                .and_then(|t| at.checked_since(t))
                .unwrap_or_default();
            let since_peer_dup_ack = peer
                .last_ack_time
                .and_then(|t| at.checked_since(t))
                .unwrap_or(Duration::MAX);
            if peer.dup_acks >= 2
                && peer.last_ack == Some(seg.seq)
                && since_peer_dup_ack < FAST_RETRANSMIT_WINDOW
            {
                // tcp.analysis.fast_retransmission (also a retransmission for tshark).
                me.tshark_retransmissions += 1;
            } else if seg.payload_len > 0
                && peer
                    .last_ack
                    .is_some_and(|acked| seg.seq.wrapping_add(seg.payload_len).le(acked))
            {
                // tcp.analysis.spurious_retransmission: data the receiver had already
                // acknowledged is resent, never a reordering however soon it comes
                // (tshark tests this before out-of-order).
                me.tshark_retransmissions += 1;
            } else if since_highest < handshake.rtt().unwrap_or(OUT_OF_ORDER_DEFAULT) && next != end
            {
                // tcp.analysis.out_of_order: a hole filled soon after the highest segment.
                me.tshark_out_of_order += 1;
            } else {
                me.tshark_retransmissions += 1;
            }
            // Then what the evidence says (`crate::tcp::evidence`).
            let cx = Context {
                next,
                next_at: me.next_seq_time,
                peer_ack: peer.last_ack,
                peer_dup_acks: peer.dup_acks,
                peer_sack_high: peer.evidence.sack_high(),
                rtt: handshake.rtt(),
                default_rtt: OUT_OF_ORDER_DEFAULT,
            };
            let verdict = me.evidence.classify(
                seg.seq,
                seg.seq_len(),
                seg.payload_len,
                flags.syn(),
                stamp,
                at,
                &cx,
            );
            if let Verdict::Retransmission(_) = verdict {
                emit(Event::Retransmission { by: sender });
            }
        } else if seg.seq_len() > 0 && seg.seq.gt(next) {
            // Beyond the highest sequence: the space between was not seen here.
            me.evidence.on_jump(next, seg.seq, at, stamp, peer.last_ack);
        }
        me.evidence
            .on_sent(seg.seq, seg.seq_len(), seg.payload_len, stamp, at);
        me.last_was_keepalive = keepalive;
        if !probe {
            me.reach(next, end, at);
        }
    }

    /// The handshake facts a SYN or SYN/ACK records (no state changes: see `transition`).
    fn note_syn(
        &mut self,
        sender: Side,
        seg: &TcpSegment<'_>,
        at: Timestamp,
        emit: &mut impl FnMut(Event),
    ) {
        let (me, _) = self.endpoints_mut(sender);
        me.isn.get_or_insert(seg.seq);
        if me.window_scale.is_none() {
            me.window_scale = seg.window_scale();
        }
        if !seg.flags.ack() {
            // SYN: an active open (RFC 9293 §3.10.1).
            if sender == Side::Client {
                self.handshake.syn_count += 1;
                if self.handshake.first_syn.is_none() && self.handshake.synack.is_some() {
                    // The SYN/ACK came first: the capture reordered them. (A capture that
                    // begins at the SYN/ACK, and never shows the SYN, is no anomaly.)
                    self.anomaly(Anomaly::HandshakeSynackBeforeSyn, emit);
                }
            }
            if self.handshake.completed.is_none() {
                // Wireshark measures the handshake from the most recent SYN, whichever
                // side sent it (a split or simultaneous open has two).
                self.handshake.last_syn = Some(at);
                if sender == Side::Client {
                    self.handshake.first_syn.get_or_insert(at);
                }
            }
            return;
        }
        // SYN/ACK.
        if sender == Side::Server {
            if self.handshake.synack.is_none() {
                self.handshake.synack = Some(at);
            }
            self.handshake.synack_count += 1;
            if self.handshake.completed.is_none() {
                self.handshake.last_synack = Some(at);
            }
            if let (Some(isn), Some(next)) = (self.client.isn, self.client.next_seq) {
                // It acknowledges the SYN, and at most the data the SYN carried (TCP Fast
                // Open, RFC 7413 §4.2.2, may acknowledge all, some or none of it).
                let wrong = seg.ack.lt(isn.wrapping_add(1)) || seg.ack.gt(next);
                if wrong && !self.handshake.simultaneous_open {
                    self.anomaly(Anomaly::HandshakeSynackWrongAck, emit);
                }
            }
        }
    }

    fn check_handshake_complete(&mut self, at: Timestamp, emit: &mut impl FnMut(Event)) {
        if self.handshake.completed.is_none()
            && self.client.state == TcpState::Established
            && self.server.state == TcpState::Established
        {
            self.handshake.completed = Some(at);
            emit(Event::HandshakeCompleted {
                rtt: self.handshake.rtt(),
            });
        }
    }

    /// Records a FIN's facts; false when it is a repeat that changes nothing (then no
    /// `Fin` transition is applied).
    fn note_fin(
        &mut self,
        sender: Side,
        seg: &TcpSegment<'_>,
        at: Timestamp,
        emit: &mut impl FnMut(Event),
    ) -> bool {
        let fin_seq = seg.seq.wrapping_add(seg.payload_len);
        let (me, _) = self.endpoints_mut(sender);
        match me.fin_seq {
            Some(prev) if prev == fin_seq => return false, // a retransmitted FIN
            Some(_) => {
                self.anomaly(Anomaly::FinSeqChanged, emit);
                return false;
            }
            None => me.fin_seq = Some(fin_seq),
        }
        emit(Event::FinSent { by: sender });
        if self.first_fin.is_none() {
            self.first_fin = Some((sender, at));
            self.closer = Some(Closer::Side(sender));
        }
        true
    }

    /// The facts a RST records, from the states before it (no state changes: see
    /// `transition`).
    fn note_rst(
        &mut self,
        sender: Side,
        seg: &TcpSegment<'_>,
        at: Timestamp,
        emit: &mut impl FnMut(Event),
    ) {
        let receiver = sender.peer();
        let sender_state = self.state(sender);
        if seg.payload_len > 0 {
            self.anomaly(Anomaly::RstWithData, emit);
        }
        let answers_syn = self.state(receiver) == TcpState::SynSent
            && matches!(sender_state, TcpState::Closed | TcpState::Listen);
        if answers_syn {
            self.rst_answering_syn += 1;
            if receiver == Side::Client && self.handshake.synack.is_none() && self.reset.is_none() {
                self.refused = true;
                emit(Event::Refused);
            }
        }
        let both_fins = self.client.fin_seq.is_some() && self.server.fin_seq.is_some();
        if self.reset.is_none() {
            self.reset = Some(ResetFacts {
                by: sender,
                sender_state,
                at,
                after_close: both_fins,
            });
            emit(Event::Reset {
                by: sender,
                in_state: sender_state,
            });
        }
    }

    /// Applies one control of a segment to both state machines: the sender's (what
    /// sending it means), then the receiver's (what its arrival does). Inlined, as
    /// `transition` is, so that at each call the role and kind are constants and the
    /// match folds to their arms: as cheap as a function per kind.
    #[inline(always)]
    fn transitions(
        &mut self,
        kind: SegmentKind,
        sender: Side,
        seg: &TcpSegment<'_>,
        at: Timestamp,
        emit: &mut impl FnMut(Event),
    ) {
        self.transition(Role::Sender, kind, sender, seg, at, emit);
        self.transition(Role::Receiver, kind, sender, seg, at, emit);
    }

    /// Whether the segment acknowledges the SYN of `side` (any ACK does when that SYN
    /// was not captured).
    #[inline]
    fn acks_syn_of(&self, side: Side, seg: &TcpSegment<'_>) -> bool {
        match self.endpoint(side).isn {
            Some(isn) => seg.ack.ge(isn.wrapping_add(1)),
            None => true,
        }
    }

    /// Whether the segment's sender had received the FIN of `side`: its ACK covers it,
    /// or no FIN of `side` was captured.
    #[inline]
    fn saw_fin_of(&self, side: Side, seg: &TcpSegment<'_>) -> bool {
        let ep = self.endpoint(side);
        ep.fin_seq.is_none() || ep.fin_acked_by(seg)
    }

    /// Every state transition of the tracker: what one control of a segment sent by
    /// `sender` does to the endpoint in `role`, as one match over (role, that endpoint's
    /// state, kind), after smoltcp's `process`. The guards ask about the ACK field only
    /// in the states where it matters: most segments arrive in ESTABLISHED, where no arm
    /// applies. An arm may move the other endpoint too where the segment proves what it
    /// did unseen (a SYN/ACK the capture missed, a connection begun before it).
    #[inline(always)]
    fn transition(
        &mut self,
        role: Role,
        kind: SegmentKind,
        sender: Side,
        seg: &TcpSegment<'_>,
        at: Timestamp,
        emit: &mut impl FnMut(Event),
    ) {
        use Role::{Receiver, Sender};
        use SegmentKind::{Ack, Fin, Rst, Syn, SynAck};
        use TcpState::*;
        let side = match role {
            Sender => sender,
            Receiver => sender.peer(),
        };
        let peer = side.peer();
        match (role, self.state(side), kind) {
            // ---- Opening (§3.5) ----

            // An active OPEN (§3.10.1): the SYN is sent from CLOSED (§3.3.2). LISTEN, which
            // the wire never shows, is taken as CLOSED throughout.
            // Test: `three_way_handshake_timing`.
            (Sender, Closed | Listen, Syn) => self.set_state(side, SynSent, at, emit),
            // A SYN reaching an endpoint that sent its own: simultaneous open (§3.5,
            // §3.10.7.3 fourth check: "Otherwise, enter SYN-RECEIVED").
            // Test: `simultaneous_open`.
            (Receiver, SynSent, Syn) => {
                self.handshake.simultaneous_open = true;
                self.set_state(side, SynReceived, at, emit);
            }
            // A SYN/ACK is sent in answer to a SYN: from LISTEN (§3.10.7.2, third check),
            // or from SYN-SENT when the SYNs crossed (§3.10.7.3 fourth check).
            // Tests: `three_way_handshake_timing`, `synack_sent_from_syn_sent`.
            (Sender, Closed | Listen | SynSent, SynAck) => {
                self.set_state(side, SynReceived, at, emit)
            }
            // A SYN/ACK that acknowledges the receiver's SYN: SYN-SENT enters ESTABLISHED
            // (§3.10.7.3 fourth check, "our SYN has been ACKed"), and so does SYN-RECEIVED
            // in a simultaneous open (§3.10.7.4 fifth check).
            // Tests: `three_way_handshake_timing`, `simultaneous_open`,
            // `ack_from_syn_sent_must_cover_the_peer_syn`.
            (Receiver, SynSent | SynReceived, SynAck) if self.acks_syn_of(side, seg) => {
                self.set_state(side, Established, at, emit);
                self.check_handshake_complete(at, emit);
            }
            // SYN-SENT sends the ACK of a SYN/ACK: it received one (§3.10.7.3 fourth
            // check), even if the capture missed it or shows it out of order. The peer,
            // which sent that SYN/ACK, is in SYN-RECEIVED (§3.10.7.2) until this ACK
            // arrives (the receiver's arm below).
            // Tests: `ack_from_syn_sent_proves_a_missed_synack`,
            // `ack_from_syn_sent_must_cover_the_peer_syn`.
            (Sender, SynSent, Ack) if self.acks_syn_of(peer, seg) => {
                self.set_state(side, Established, at, emit);
                if matches!(self.state(peer), Closed | Listen) {
                    self.set_state(peer, SynReceived, at, emit);
                }
            }
            // SYN-RECEIVED gets the ACK of its SYN: ESTABLISHED (§3.10.7.4 fifth check).
            // Test: `three_way_handshake_timing`.
            (Receiver, SynReceived, Ack) if self.acks_syn_of(side, seg) => {
                self.set_state(side, Established, at, emit);
                self.check_handshake_complete(at, emit);
            }
            // No RFC rule: the first ACK of a capture that began mid-connection (and saw no
            // RST). Both endpoints are synchronized (§3.3.2), whatever came before.
            // Tests: `midstream_data_then_close`, `midstream_after_a_rst_stays_closed`.
            // No RFC rule: a SYN/ACK reaching an endpoint the capture saw send no SYN (it
            // began after the SYN): it was in SYN-SENT, as a SYN/ACK proves, and enters
            // ESTABLISHED as SYN-SENT would (§3.10.7.3 fourth check).
            // Test: `capture_starting_at_the_synack`.
            (Receiver, Closed | Listen, SynAck) if !self.midstream && self.reset.is_none() => {
                self.set_state(side, SynSent, at, emit);
                self.set_state(side, Established, at, emit);
            }
            (Receiver, Closed, Ack) if self.midstream && self.reset.is_none() => {
                self.set_state(side, Established, at, emit);
                if self.state(peer) == Closed {
                    self.set_state(peer, Established, at, emit);
                }
            }

            // ---- Closing (§3.6: the normal and the simultaneous close) ----

            // The ACK of its FIN: FIN-WAIT-1 enters FIN-WAIT-2 (§3.10.7.4 fifth check).
            // Test: `client_closes_first`.
            (Receiver, FinWait1, Ack) if self.endpoint(side).fin_acked_by(seg) => {
                self.set_state(side, FinWait2, at, emit)
            }
            // The ACK of its FIN: CLOSING enters TIME-WAIT (§3.10.7.4 fifth check).
            // Test: `simultaneous_close_crossing_fins`.
            (Receiver, Closing, Ack) if self.endpoint(side).fin_acked_by(seg) => {
                self.set_state(side, TimeWait, at, emit)
            }
            // The ACK of its FIN: LAST-ACK enters CLOSED (§3.10.7.4 fifth check).
            // Test: `client_closes_first`.
            (Receiver, LastAck, Ack) if self.endpoint(side).fin_acked_by(seg) => {
                self.set_state(side, Closed, at, emit)
            }
            // A CLOSE in CLOSE-WAIT (§3.10.4): having received the peer's FIN, its own
            // FIN enters LAST-ACK (§3.6, the normal close).
            // Test: `client_closes_first`.
            (Sender, CloseWait, Fin) if self.saw_fin_of(peer, seg) => {
                self.set_state(side, LastAck, at, emit)
            }
            // CLOSE-WAIT was inferred, but its FIN's ACK does not cover the peer's FIN:
            // the two FINs crossed, a simultaneous close (§3.6). It passes
            // through FIN-WAIT-1 to CLOSING, as the peer does (below).
            // Test: `simultaneous_close_crossing_fins`.
            (Sender, CloseWait, Fin) => {
                self.closer = Some(Closer::Both);
                self.set_state(side, FinWait1, at, emit);
                self.set_state(side, Closing, at, emit);
            }
            // A CLOSE (§3.10.4): SYN-RECEIVED and ESTABLISHED send a FIN and enter
            // FIN-WAIT-1. From CLOSED or SYN-SENT, a FIN proves the sender had synchronized
            // beyond what the capture shows.
            // Test: `client_closes_first`.
            (Sender, Closed | Listen | SynSent | SynReceived | Established, Fin) => {
                self.set_state(side, FinWait1, at, emit)
            }
            // The FIN bit (§3.10.7.4 eighth check), the ACK field applied before it:
            // SYN-RECEIVED and ESTABLISHED enter CLOSE-WAIT. CLOSED too, unlike the RFC
            // (which ignores it there): to the observer CLOSED means nothing seen yet, so
            // the FIN ends a connection begun before the capture.
            // Test: `client_closes_first`.
            (Receiver, SynReceived | Established | Closed, Fin) => {
                self.set_state(side, CloseWait, at, emit)
            }
            // FIN-WAIT-1 whose FIN this segment acknowledges enters TIME-WAIT (§3.10.7.4
            // eighth check). Reached only by a SYN/ACK/FIN: a FIN/ACK's ACK field has
            // already moved it to FIN-WAIT-2.
            // Test: `syn_ack_fin_acknowledging_the_fin_in_fin_wait_1`.
            (Receiver, FinWait1, Fin) if self.endpoint(side).fin_acked_by(seg) => {
                self.set_state(side, TimeWait, at, emit)
            }
            // FIN-WAIT-1 whose FIN is not acknowledged: the FINs crossed, CLOSING
            // (§3.10.7.4 eighth check; §3.6 simultaneous close).
            // Test: `simultaneous_close_crossing_fins`.
            (Receiver, FinWait1, Fin) => {
                self.closer = Some(Closer::Both);
                self.set_state(side, Closing, at, emit);
            }
            // FIN-WAIT-2 gets the peer's FIN: TIME-WAIT (§3.10.7.4 eighth check).
            // Test: `client_closes_first`.
            (Receiver, FinWait2, Fin) => self.set_state(side, TimeWait, at, emit),

            // ---- Reset ----

            // A RST sent from TIME-WAIT (answering a stray segment) leaves it there, as a
            // RST arriving does (RFC 1337, next-but-one arm): the close had completed.
            // Test: `rst_sent_from_time_wait_leaves_it_there`.
            (Sender, TimeWait, Rst) => {}
            // A RST sent aborts: CLOSED (§3.10.5 ABORT call).
            // Test: `rst_in_established_by_server`.
            (Sender, _, Rst) => self.set_state(side, Closed, at, emit),
            // TIME-WAIT ignores a RST (RFC 1337, TIME-WAIT assassination, fix TW1).
            // Test: `rst_after_both_fins_leaves_a_fin_close_and_time_wait`.
            (Receiver, TimeWait, Rst) => {}
            // A RST arriving closes: §3.10.7.3 second check (SYN-SENT), §3.10.7.4 second
            // check (the other states). The observer takes every RST it saw as acceptable
            // (§3.5.3): its sequence number cannot be checked against a window it may not
            // know.
            // Tests: `rst_in_established_by_server`, `refused_by_rst_ack`.
            (Receiver, _, Rst) => self.set_state(side, Closed, at, emit),

            // Everything else changes no state: a retransmitted SYN or SYN/ACK, a SYN
            // reaching CLOSED (the receiver's answer will tell), an ACK that acknowledges
            // nothing new for the states above (in ESTABLISHED, the usual case), a FIN
            // reaching SYN-SENT (§3.10.7.4 eighth check: not processed) or an endpoint
            // that already has the peer's FIN (CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT
            // remain). A repeated FIN never gets here (`note_fin`).
            // Tests: `fin_reaching_syn_sent_is_not_processed`,
            // `retransmitted_fin_changes_nothing`.
            _ => {}
        }
    }

    /// How the connection ended, judged at the end of the capture.
    pub fn close_kind(&self) -> CloseKind {
        let both_fins = self.client.fin_seq.is_some() && self.server.fin_seq.is_some();
        match self.reset {
            Some(r) if !r.after_close => {
                return if self.refused {
                    CloseKind::Refused
                } else {
                    CloseKind::Reset
                };
            }
            _ => {}
        }
        if both_fins {
            CloseKind::Fin
        } else if self.first_fin.is_some() {
            CloseKind::HalfClosed
        } else if self.handshake.syn_count > 0
            && self.server.syns == 0
            && self.handshake.completed.is_none()
        {
            // A handshake completed without a captured SYN/ACK was answered.
            CloseKind::Unanswered
        } else if self.server.syns > 0 && self.handshake.completed.is_none() && !self.midstream {
            CloseKind::HandshakeIncomplete
        } else {
            CloseKind::Open
        }
    }

    /// What a live run may do with the connection while it is silent (docs/live.md).
    pub fn quiet(&self) -> Quiet {
        if self.is_closed() {
            return Quiet::Closed;
        }
        // RFC 9293 §3.3.2: from ESTABLISHED on, both ends are synchronized.
        let synchronized = |s: TcpState| {
            matches!(
                s,
                TcpState::Established
                    | TcpState::FinWait1
                    | TcpState::FinWait2
                    | TcpState::CloseWait
                    | TcpState::Closing
                    | TcpState::LastAck
            )
        };
        if !(synchronized(self.client.state) || synchronized(self.server.state)) {
            return Quiet::Opening;
        }
        let in_a_row = |e: &Endpoint| e.keepalive.unanswered_in_a_row;
        if in_a_row(&self.client).max(in_a_row(&self.server)) >= PEER_DEAD_AFTER_PROBES {
            return Quiet::PeerDead;
        }
        Quiet::Synchronized
    }

    /// Neither endpoint has anything left to do but wait out TIME_WAIT.
    pub fn is_closed(&self) -> bool {
        self.last_packet.is_some()
            && [self.client.state, self.server.state]
                .iter()
                .all(|s| matches!(s, TcpState::Closed | TcpState::TimeWait))
            && (self.reset.is_some() || self.first_fin.is_some())
    }

    /// Which endpoints end in TIME_WAIT: the active closer(s), once both FINs were
    /// exchanged with no RST before.
    pub fn time_wait_sides(&self) -> (bool, bool) {
        (
            self.client.state == TcpState::TimeWait,
            self.server.state == TcpState::TimeWait,
        )
    }
}

#[cfg(test)]
mod tests {
    //! Segment templates, as smoltcp's tests do: a client with an ISN near 2^32 so
    //! wraparound is exercised by default.
    use super::*;
    use crate::model::flags::TcpFlags;

    const C_ISN: u32 = 0xFFFF_FF00;
    const S_ISN: u32 = 0x1000_0000;

    struct Script {
        t: TcpTracker,
        now: i64,
        events: Vec<Event>,
    }

    fn seg(flags: u16, seq: u32, ack: u32, len: u32, window: u16) -> TcpSegment<'static> {
        TcpSegment {
            seq: Seq(seq),
            ack: Seq(ack),
            flags: TcpFlags(flags),
            window,
            payload_len: len,
            ..TcpSegment::between(
                "10.0.0.2:40000".parse().unwrap(),
                "10.0.0.1:80".parse().unwrap(),
            )
        }
    }

    const S: u16 = TcpFlags::SYN;
    const A: u16 = TcpFlags::ACK;
    const F: u16 = TcpFlags::FIN;
    const R: u16 = TcpFlags::RST;
    const P: u16 = TcpFlags::PSH;

    impl Script {
        fn new() -> Self {
            Script {
                t: TcpTracker::default(),
                now: 1_000_000_000,
                events: Vec::new(),
            }
        }
        /// Sends a segment `ms` milliseconds after the previous one; seq/ack relative to
        /// the client's and server's ISNs.
        fn send(&mut self, by: Side, ms: i64, flags: u16, rel_seq: u32, rel_ack: u32, len: u32) {
            self.send_win(by, ms, flags, rel_seq, rel_ack, len, 64000)
        }
        #[allow(clippy::too_many_arguments)]
        fn send_win(
            &mut self,
            by: Side,
            ms: i64,
            flags: u16,
            rel_seq: u32,
            rel_ack: u32,
            len: u32,
            window: u16,
        ) {
            self.now += ms * 1_000_000;
            let (my_isn, peer_isn) = match by {
                Side::Client => (C_ISN, S_ISN),
                Side::Server => (S_ISN, C_ISN),
            };
            let s = seg(
                flags,
                my_isn.wrapping_add(rel_seq),
                peer_isn.wrapping_add(rel_ack),
                len,
                window,
            );
            let events = &mut self.events;
            self.t.on_segment(
                by,
                &s,
                54 + len,
                Timestamp::from_nanos(self.now),
                &mut |e| events.push(e),
            );
        }
        fn states(&self) -> (TcpState, TcpState) {
            (self.t.client.state, self.t.server.state)
        }
        /// The events since the last call, without the `Segment` events.
        fn take(&mut self) -> Vec<Event> {
            let mut events = std::mem::take(&mut self.events);
            events.retain(|e| !matches!(e, Event::Segment { .. }));
            events
        }
        fn handshake(&mut self) {
            self.send(Side::Client, 0, S, 0, 0, 0);
            self.send(Side::Server, 10, S | A, 0, 1, 0);
            self.send(Side::Client, 10, A, 1, 1, 0);
        }
    }

    use Side::{Client, Server};
    use TcpState::*;

    // ---- Header prediction ----

    /// Whether the tracker, in the script's state, takes this client segment on the
    /// predicted path (the state is left as it was).
    fn would_predict(s: &Script, flags: u16, rel_seq: u32, rel_ack: u32, len: u32) -> bool {
        let seg = seg(
            flags,
            C_ISN.wrapping_add(rel_seq),
            S_ISN.wrapping_add(rel_ack),
            len,
            64000,
        );
        let mut t = s.t.clone();
        t.predicted(Client, &seg, 54 + len, Timestamp::from_nanos(s.now + 1))
    }

    #[test]
    fn in_order_data_and_moving_acks_are_predicted_and_nothing_else() {
        let mut s = Script::new();
        s.send(Client, 0, S, 0, 0, 0);
        // Not ESTABLISHED on both sides yet.
        assert!(!would_predict(&s, A, 1, 1, 100));
        s.send(Server, 10, S | A, 0, 1, 0);
        s.send(Client, 10, A, 1, 1, 0);
        s.send(Server, 10, A | P, 1, 1, 50);
        assert!(would_predict(&s, A | P, 1, 51, 100), "next data");
        assert!(would_predict(&s, A, 1, 51, 0), "an ACK that moves");
        assert!(!would_predict(&s, A, 1, 1, 0), "a duplicate ACK");
        assert!(!would_predict(&s, A, 1, 51, 1), "one byte: a probe?");
        assert!(!would_predict(&s, A, 0, 51, 0), "next - 1: a keep-alive");
        assert!(
            !would_predict(&s, A, 0, 51, 100),
            "below next: retransmission"
        );
        assert!(!would_predict(&s, A, 30, 51, 100), "beyond next: a hole");
        assert!(!would_predict(&s, A | F, 1, 51, 100), "FIN");
        assert!(!would_predict(&s, A | R, 1, 51, 0), "RST");
        assert!(!would_predict(&s, P, 1, 51, 100), "no ACK");
        // A keep-alive from the server: the client's next bare ACK answers it.
        s.send(Client, 10, A, 1, 51, 0);
        s.send(Server, 7_200_000, A, 50, 1, 0);
        assert!(!would_predict(&s, A, 1, 52, 0), "keep-alive ACK");
    }

    // ---- Tests for the handshake ----

    #[test]
    fn three_way_handshake_timing() {
        let mut s = Script::new();
        s.send(Client, 0, S, 0, 0, 0);
        assert_eq!(s.states(), (SynSent, Closed));
        s.send(Server, 10, S | A, 0, 1, 0);
        assert_eq!(s.states(), (Established, SynReceived));
        s.send(Client, 5, A, 1, 1, 0);
        assert_eq!(s.states(), (Established, Established));
        let h = &s.t.handshake;
        assert_eq!(h.syn_to_synack(), Some(Duration::from_millis(10)));
        assert_eq!(h.synack_to_ack(), Some(Duration::from_millis(5)));
        assert_eq!(h.rtt(), Some(Duration::from_millis(15)));
        assert!(s.events.contains(&Event::HandshakeCompleted {
            rtt: Some(Duration::from_millis(15))
        }));
        assert_eq!(s.t.close_kind(), CloseKind::Open);
        assert!(!s.t.midstream);
        assert_eq!(anomaly_count(&s, Anomaly::HandshakeSynackBeforeSyn), 0);
    }

    #[test]
    fn syn_retransmission_times_from_last_syn() {
        let mut s = Script::new();
        s.send(Client, 0, S, 0, 0, 0);
        s.send(Client, 1000, S, 0, 0, 0);
        s.send(Server, 20, S | A, 0, 1, 0);
        s.send(Client, 20, A, 1, 1, 0);
        let h = &s.t.handshake;
        assert_eq!(h.syn_retransmits(), 1);
        assert_eq!(h.rtt(), Some(Duration::from_millis(40)));
        assert_eq!(h.first_syn_to_ack(), Some(Duration::from_millis(1040)));
        assert_eq!(s.t.client.retransmissions(), 1);
    }

    #[test]
    fn synack_retransmission() {
        let mut s = Script::new();
        s.send(Client, 0, S, 0, 0, 0);
        s.send(Server, 10, S | A, 0, 1, 0);
        s.send(Server, 1000, S | A, 0, 1, 0);
        s.send(Client, 10, A, 1, 1, 0);
        assert_eq!(s.t.handshake.synack_retransmits(), 1);
        // Measured from the retransmitted SYN/ACK; the RTT still spans the loss.
        assert_eq!(
            s.t.handshake.synack_to_ack(),
            Some(Duration::from_millis(10))
        );
        assert_eq!(s.t.handshake.rtt(), Some(Duration::from_millis(1020)));
        assert_eq!(s.t.server.retransmissions(), 1);
        assert_eq!(s.states(), (Established, Established));
    }

    #[test]
    fn refused_by_rst_ack() {
        let mut s = Script::new();
        s.send(Client, 0, S, 0, 0, 0);
        s.send(Server, 1, R | A, 0, 1, 0);
        assert_eq!(s.t.close_kind(), CloseKind::Refused);
        assert_eq!(s.t.rst_answering_syn, 1);
        assert_eq!(s.states(), (Closed, Closed));
        assert!(s.events.contains(&Event::Refused));
        assert!(s.t.close_kind().is_abnormal());
    }

    #[test]
    fn unanswered_syn() {
        let mut s = Script::new();
        for gap in [0, 1000, 2000, 4000] {
            s.send(Client, gap, S, 0, 0, 0);
        }
        assert_eq!(s.t.close_kind(), CloseKind::Unanswered);
        assert_eq!(s.t.handshake.syn_retransmits(), 3);
        assert_eq!(s.states(), (SynSent, Closed));
    }

    #[test]
    fn handshake_incomplete_without_final_ack() {
        let mut s = Script::new();
        s.send(Client, 0, S, 0, 0, 0);
        s.send(Server, 10, S | A, 0, 1, 0);
        assert_eq!(s.t.close_kind(), CloseKind::HandshakeIncomplete);
    }

    #[test]
    fn simultaneous_open() {
        let mut s = Script::new();
        s.send(Client, 0, S, 0, 0, 0);
        s.send(Server, 1, S, 0, 0, 0);
        assert_eq!(s.states(), (SynReceived, SynSent));
        s.send(Client, 1, S | A, 0, 1, 0);
        s.send(Server, 1, S | A, 0, 1, 0);
        assert_eq!(s.states(), (Established, Established));
        assert!(s.t.handshake.simultaneous_open);
        assert!(s.t.handshake.completed.is_some());
    }

    #[test]
    fn fast_open_data_on_syn() {
        let mut s = Script::new();
        s.send(Client, 0, S, 0, 0, 100);
        s.send(Server, 10, S | A, 0, 101, 0);
        s.send(Client, 10, A, 101, 1, 0);
        assert_eq!(s.states(), (Established, Established));
        assert_eq!(s.t.anomalies().count(), 0);
        assert_eq!(s.t.client.payload_bytes, 100);
        assert_eq!(s.t.client.retransmissions(), 0);
    }

    // ---- Tests for a capture that starts mid-connection ----

    #[test]
    fn midstream_data_then_close() {
        let mut s = Script::new();
        s.send(Client, 0, P | A, 100, 200, 10);
        assert!(s.t.midstream);
        assert_eq!(s.states(), (Established, Established));
        s.send(Server, 1, A, 200, 110, 0);
        s.send(Client, 1, F | A, 110, 200, 0);
        s.send(Server, 1, F | A, 200, 111, 0);
        s.send(Client, 1, A, 111, 201, 0);
        assert_eq!(s.t.close_kind(), CloseKind::Fin);
        assert_eq!(s.states(), (TimeWait, Closed));
    }

    // ---- Tests for the close ----

    #[test]
    fn client_closes_first() {
        let mut s = Script::new();
        s.handshake();
        s.send(Client, 1, F | A, 1, 1, 0);
        assert_eq!(s.states(), (FinWait1, CloseWait));
        s.send(Server, 1, A, 1, 2, 0);
        assert_eq!(s.states(), (FinWait2, CloseWait));
        s.send(Server, 1, F | A, 1, 2, 0);
        assert_eq!(s.states(), (TimeWait, LastAck));
        s.send(Client, 1, A, 2, 2, 0);
        assert_eq!(s.states(), (TimeWait, Closed));
        assert_eq!(s.t.close_kind(), CloseKind::Fin);
        assert_eq!(s.t.closer, Some(Closer::Side(Client)));
        assert_eq!(s.t.time_wait_sides(), (true, false));
    }

    #[test]
    fn server_closes_first_with_fin_ack_combined() {
        let mut s = Script::new();
        s.handshake();
        s.send(Server, 1, F | A, 1, 1, 0);
        s.send(Client, 1, F | A, 1, 2, 0);
        assert_eq!(s.states(), (LastAck, TimeWait));
        s.send(Server, 1, A, 2, 2, 0);
        assert_eq!(s.states(), (Closed, TimeWait));
        assert_eq!(s.t.closer, Some(Closer::Side(Server)));
    }

    #[test]
    fn simultaneous_close_crossing_fins() {
        let mut s = Script::new();
        s.handshake();
        s.send(Client, 1, F | A, 1, 1, 0);
        // The server's FIN does not acknowledge the client's: they crossed.
        s.send(Server, 0, F | A, 1, 1, 0);
        assert_eq!(s.states(), (Closing, Closing));
        s.send(Client, 1, A, 2, 2, 0);
        s.send(Server, 0, A, 2, 2, 0);
        assert_eq!(s.states(), (TimeWait, TimeWait));
        assert_eq!(s.t.closer, Some(Closer::Both));
        assert_eq!(s.t.time_wait_sides(), (true, true));
    }

    #[test]
    fn half_close_with_data_after_first_fin() {
        let mut s = Script::new();
        s.handshake();
        s.send(Client, 1, F | A, 1, 1, 0);
        s.send(Server, 1, A, 1, 2, 0);
        s.send(Server, 1, P | A, 1, 2, 100);
        s.send(Client, 1, A, 2, 101, 0);
        assert_eq!(s.states(), (FinWait2, CloseWait));
        assert_eq!(s.t.close_kind(), CloseKind::HalfClosed);
        s.send(Server, 1, F | A, 101, 2, 0);
        s.send(Client, 1, A, 2, 102, 0);
        assert_eq!(s.states(), (TimeWait, Closed));
        assert_eq!(s.t.close_kind(), CloseKind::Fin);
    }

    #[test]
    fn retransmitted_fin_changes_nothing() {
        let mut s = Script::new();
        s.handshake();
        s.send(Client, 1, F | A, 1, 1, 0);
        s.send(Client, 200, F | A, 1, 1, 0);
        assert_eq!(s.t.client.retransmissions(), 1);
        assert_eq!(s.t.client.fins, 2);
        assert_eq!(s.states(), (FinWait1, CloseWait));
    }

    // ---- Tests for RST ----

    #[test]
    fn rst_in_established_by_server() {
        let mut s = Script::new();
        s.handshake();
        s.send(Client, 1, P | A, 1, 1, 10);
        s.send(Server, 1, R | A, 1, 11, 0);
        assert_eq!(s.t.close_kind(), CloseKind::Reset);
        let r = s.t.reset.unwrap();
        assert_eq!((r.by, r.sender_state), (Server, Established));
        assert_eq!(s.states(), (Closed, Closed));
    }

    #[test]
    fn rst_after_one_fin_is_a_reset() {
        let mut s = Script::new();
        s.handshake();
        s.send(Client, 1, F | A, 1, 1, 0);
        s.send(Server, 1, A, 1, 2, 0);
        s.send(Server, 1, R | A, 1, 2, 0);
        assert_eq!(s.t.close_kind(), CloseKind::Reset);
        assert_eq!(s.t.reset.unwrap().sender_state, CloseWait);
        assert_eq!(s.t.closer, Some(Closer::Side(Client)));
    }

    #[test]
    fn rst_after_both_fins_leaves_a_fin_close_and_time_wait() {
        let mut s = Script::new();
        s.handshake();
        s.send(Client, 1, F | A, 1, 1, 0);
        s.send(Server, 1, F | A, 1, 2, 0);
        s.send(Client, 1, A, 2, 2, 0);
        s.send(Server, 10, R, 2, 0, 0);
        assert_eq!(s.t.close_kind(), CloseKind::Fin);
        assert!(s.t.reset.unwrap().after_close);
        assert_eq!(s.states(), (TimeWait, Closed));
        assert_eq!(s.t.server.rsts, 1);
    }

    #[test]
    fn fin_and_rst_in_one_segment() {
        let mut s = Script::new();
        s.handshake();
        s.send(Client, 1, F | R | A, 1, 1, 0);
        assert_eq!(s.t.close_kind(), CloseKind::Reset);
        assert_eq!(s.t.closer, Some(Closer::Side(Client)));
        assert_eq!(s.t.client.fins, 1);
        assert_eq!(s.t.client.rsts, 1);
        assert_eq!(s.states(), (Closed, Closed));
    }

    #[test]
    fn client_rst_in_syn_sent_is_a_reset_not_refused() {
        let mut s = Script::new();
        s.send(Client, 0, S, 0, 0, 0);
        s.send(Client, 5, R, 1, 0, 0);
        assert_eq!(s.t.close_kind(), CloseKind::Reset);
        assert_eq!(s.t.reset.unwrap().sender_state, SynSent);
    }

    // ---- One test per arm of `transition` that the scenarios above do not reach ----

    fn changed(side: Side, from: TcpState, to: TcpState) -> Event {
        Event::StateChanged { side, from, to }
    }

    #[test]
    fn events_of_an_ordinary_connection_in_order() {
        let mut s = Script::new();
        s.handshake();
        assert_eq!(
            s.take(),
            vec![
                changed(Client, Closed, SynSent),
                changed(Server, Closed, SynReceived),
                changed(Client, SynSent, Established),
                changed(Server, SynReceived, Established),
                Event::HandshakeCompleted {
                    rtt: Some(Duration::from_millis(20))
                },
            ]
        );
        s.send(Client, 1, F | A, 1, 1, 0);
        s.send(Server, 1, A, 1, 2, 0);
        s.send(Server, 1, F | A, 1, 2, 0);
        s.send(Client, 1, A, 2, 2, 0);
        assert_eq!(
            s.take(),
            vec![
                Event::FinSent { by: Client },
                changed(Client, Established, FinWait1),
                changed(Server, Established, CloseWait),
                changed(Client, FinWait1, FinWait2),
                Event::FinSent { by: Server },
                changed(Server, CloseWait, LastAck),
                changed(Client, FinWait2, TimeWait),
                Event::TimeWaitEntered { side: Client },
                changed(Server, LastAck, Closed),
            ]
        );
    }

    #[test]
    fn synack_sent_from_syn_sent() {
        // (Sender, SynSent, SynAck): the server's own SYN, then its SYN/ACK (the
        // client's SYN, which it answers, is not in the capture).
        let mut s = Script::new();
        s.send(Server, 0, S, 0, 0, 0);
        s.send(Server, 10, S | A, 0, 1, 0);
        assert_eq!(s.states(), (Established, SynReceived));
        assert_eq!(
            s.take(),
            vec![
                changed(Server, Closed, SynSent),
                // Same sequence number as its SYN.
                Event::Retransmission { by: Server },
                changed(Server, SynSent, SynReceived),
                // The SYN/ACK proves the client's SYN (`capture_starting_at_the_synack`).
                changed(Client, Closed, SynSent),
                changed(Client, SynSent, Established),
            ]
        );
    }

    #[test]
    fn ack_from_syn_sent_proves_a_missed_synack() {
        // (Sender, SynSent, Ack): the client acknowledges a SYN/ACK the capture missed;
        // the server passes through SYN_RECEIVED as that ACK reaches it.
        let mut s = Script::new();
        s.send(Client, 0, S, 0, 0, 0);
        s.take();
        s.send(Client, 10, A, 1, 1, 0);
        assert_eq!(s.states(), (Established, Established));
        assert_eq!(
            s.take(),
            vec![
                changed(Client, SynSent, Established),
                changed(Server, Closed, SynReceived),
                changed(Server, SynReceived, Established),
                Event::HandshakeCompleted {
                    rtt: Some(Duration::from_millis(10))
                },
            ]
        );
    }

    #[test]
    fn ack_from_syn_sent_must_cover_the_peer_syn() {
        // The guards of (Receiver, SynSent, SynAck) and (Sender, SynSent, Ack): an ACK
        // that does not cover the SYN leaves SYN_SENT.
        let mut s = Script::new();
        s.send(Client, 0, S, 0, 0, 0);
        s.send(Server, 10, S | A, 0, 0, 0);
        assert_eq!(s.states(), (SynSent, SynReceived));
        s.send(Client, 10, A, 1, 0, 0);
        assert_eq!(s.states(), (SynSent, SynReceived));
        s.send(Client, 10, A, 1, 1, 0);
        assert_eq!(s.states(), (Established, Established));
        assert_eq!(
            s.take(),
            vec![
                changed(Client, Closed, SynSent),
                Event::Anomaly(Anomaly::HandshakeSynackWrongAck),
                changed(Server, Closed, SynReceived),
                changed(Client, SynSent, Established),
                changed(Server, SynReceived, Established),
                Event::HandshakeCompleted {
                    rtt: Some(Duration::from_millis(30))
                },
            ]
        );
    }

    #[test]
    fn midstream_after_a_rst_stays_closed() {
        // The guard of (Receiver, Closed, Ack): a capture that begins with a RST does not
        // take the next ACK as a connection under way.
        let mut s = Script::new();
        s.send(Client, 0, R | A, 100, 200, 0);
        assert!(s.t.midstream);
        s.take();
        s.send(Client, 1, P | A, 100, 200, 10);
        assert_eq!(s.states(), (Closed, Closed));
        assert_eq!(
            s.take(),
            vec![Event::Anomaly(Anomaly::ClosedSegmentAfterClose)]
        );
    }

    #[test]
    fn syn_ack_fin_acknowledging_the_fin_in_fin_wait_1() {
        // (Receiver, FinWait1, Fin) when the segment acknowledges its FIN: only a SYN/ACK
        // with FIN gets there (a FIN/ACK's ACK field moves FIN_WAIT_1 first).
        let mut s = Script::new();
        s.handshake();
        s.send(Client, 1, F | A, 1, 1, 0);
        assert_eq!(s.states(), (FinWait1, CloseWait));
        s.take();
        s.send(Server, 1, S | A | F, 1, 2, 0);
        assert_eq!(s.states(), (TimeWait, LastAck));
        assert_eq!(
            s.take(),
            vec![
                Event::Anomaly(Anomaly::SynWithRstOrFin),
                Event::FinSent { by: Server },
                changed(Server, CloseWait, LastAck),
                changed(Client, FinWait1, TimeWait),
                Event::TimeWaitEntered { side: Client },
            ]
        );
    }

    #[test]
    fn rst_sent_from_time_wait_leaves_it_there() {
        // (Sender, TimeWait, Rst).
        let mut s = Script::new();
        s.handshake();
        s.send(Client, 1, F | A, 1, 1, 0);
        s.send(Server, 1, F | A, 1, 2, 0);
        s.send(Client, 1, A, 2, 2, 0);
        assert_eq!(s.states(), (TimeWait, Closed));
        s.take();
        s.send(Client, 10, R, 2, 0, 0);
        assert_eq!(s.states(), (TimeWait, Closed));
        assert_eq!(
            s.take(),
            vec![Event::Reset {
                by: Client,
                in_state: TimeWait
            }]
        );
        assert_eq!(s.t.close_kind(), CloseKind::Fin);
    }

    #[test]
    fn fin_reaching_syn_sent_is_not_processed() {
        // The catch-all: §3.10.7.4's eighth check ignores a FIN in SYN_SENT; the sender's
        // FIN from CLOSED still enters FIN_WAIT_1.
        let mut s = Script::new();
        s.send(Client, 0, S, 0, 0, 0);
        s.take();
        s.send(Server, 10, F, 0, 0, 0);
        assert_eq!(s.states(), (SynSent, FinWait1));
        assert_eq!(
            s.take(),
            vec![
                Event::FinSent { by: Server },
                changed(Server, Closed, FinWait1)
            ]
        );
    }

    // ---- Tests for keep-alive and zero-window probes ----

    #[test]
    fn linux_keepalive_answered() {
        let mut s = Script::new();
        s.handshake();
        s.send(Client, 1, P | A, 1, 1, 10);
        s.send(Server, 1, A, 1, 11, 0);
        for _ in 0..3 {
            s.send(Client, 75_000, A, 10, 1, 0);
            s.send(Server, 1, A, 1, 11, 0);
        }
        let ka = &s.t.client.keepalive;
        assert_eq!((ka.probes, ka.acks, ka.unanswered()), (3, 3, 0));
        assert_eq!(ka.idle_before_first, Some(Duration::from_secs(75)));
        assert_eq!(ka.intervals, vec![Duration::from_millis(75_001); 2]);
        assert_eq!(s.t.client.retransmissions(), 0);
    }

    #[test]
    fn windows_keepalive_one_garbage_byte() {
        let mut s = Script::new();
        s.handshake();
        s.send(Client, 1, P | A, 1, 1, 10);
        s.send(Server, 1, A, 1, 11, 0);
        s.send(Client, 7_200_000, A, 10, 1, 1);
        s.send(Server, 1, A, 1, 11, 0);
        assert_eq!(s.t.client.keepalive.probes, 1);
        assert_eq!(s.t.client.keepalive.acks, 1);
        assert_eq!(s.t.client.retransmissions(), 0);
    }

    #[test]
    fn keepalive_unanswered() {
        let mut s = Script::new();
        s.handshake();
        s.send(Client, 1, P | A, 1, 1, 10);
        s.send(Server, 1, A, 1, 11, 0);
        for _ in 0..9 {
            s.send(Client, 75_000, A, 10, 1, 0);
        }
        s.send(Client, 75_000, R | A, 11, 1, 0);
        let ka = &s.t.client.keepalive;
        assert_eq!((ka.probes, ka.acks, ka.unanswered()), (9, 0, 9));
        assert_eq!(s.t.close_kind(), CloseKind::Reset);
    }

    /// A live run takes the peer for dead at three probes in a row that nothing from the
    /// peer followed (`Quiet::PeerDead`), not at three lost over the connection's life.
    #[test]
    fn a_peer_is_dead_after_three_probes_in_a_row_unanswered() {
        let mut s = Script::new();
        s.handshake();
        s.send(Client, 1, P | A, 1, 1, 10);
        s.send(Server, 1, A, 1, 11, 0);
        for _ in 0..2 {
            s.send(Client, 75_000, A, 10, 1, 0);
        }
        assert_eq!(s.t.quiet(), Quiet::Synchronized);
        // The server speaks (data, not an answer to a probe): the run starts over.
        s.send(Server, 1_000, P | A, 1, 11, 5);
        assert_eq!(s.t.client.keepalive.unanswered_in_a_row, 0);
        s.send(Client, 1, A, 11, 6, 0);
        for n in 1..=3 {
            s.send(Client, 75_000, A, 10, 6, 0);
            let want = if n < 3 {
                Quiet::Synchronized
            } else {
                Quiet::PeerDead
            };
            assert_eq!(s.t.quiet(), want, "{n} probes in a row");
        }
        let ka = &s.t.client.keepalive;
        assert_eq!(
            (ka.probes, ka.unanswered(), ka.unanswered_in_a_row),
            (5, 5, 3)
        );
    }

    #[test]
    fn zero_window_probes_are_not_keepalives() {
        let mut s = Script::new();
        s.handshake();
        s.send(Client, 1, P | A, 1, 1, 1000);
        s.send_win(Server, 1, A, 1, 1001, 0, 0);
        // Wireshark's shape: the next byte into the zero window.
        s.send(Client, 200, A, 1001, 1, 1);
        // Linux's shape: one before the next byte, no data.
        s.send(Client, 400, A, 1000, 1, 0);
        assert_eq!(s.t.client.zero_window_probes, 2);
        assert_eq!(s.t.client.keepalive.probes, 0);
    }

    // ---- Tests for retransmissions and sequence wraparound ----

    #[test]
    fn retransmission_across_wraparound() {
        let mut s = Script::new();
        s.handshake();
        // The client's ISN is 2^32 - 256: these segments cross zero.
        s.send(Client, 1, P | A, 1, 1, 200);
        s.send(Client, 1, P | A, 201, 1, 200);
        s.send(Client, 1, P | A, 201, 1, 200);
        s.send(Client, 1, P | A, 401, 1, 200);
        assert_eq!(s.t.client.retransmissions(), 1);
        assert_eq!(s.t.client.next_seq, Some(Seq(C_ISN.wrapping_add(601))));
    }

    #[test]
    fn new_syn_with_other_isn_is_a_new_connection() {
        let mut s = Script::new();
        s.send(Client, 0, S, 0, 0, 0);
        assert!(!s.t.is_new_connection_syn(Client, &seg(S, C_ISN, 0, 0, 0)));
        assert!(s.t.is_new_connection_syn(Client, &seg(S, 5, 0, 0, 0)));
        assert!(!s.t.is_new_connection_syn(Server, &seg(S, 5, 0, 0, 0)));
    }

    // ---- Cases real captures hold (issue 20) ----

    fn anomaly_count(s: &Script, a: Anomaly) -> u32 {
        s.t.anomalies[a.index()]
    }

    #[test]
    fn rst_answering_an_unacceptable_ack_leaves_syn_sent() {
        // RFC 9293 §3.10.7.3: the server answers the SYN with a stale ACK (a previous
        // connection's sequence space); the client resets it with <SEQ=SEG.ACK>, stays in
        // SYN-SENT and resends its SYN, which is then answered.
        let mut s = Script::new();
        s.send(Client, 0, S, 0, 0, 0);
        s.send(Server, 1, A, 50_000, 777, 0);
        s.send(Client, 1, R, 777, 0, 0);
        assert_eq!(s.states(), (SynSent, Closed));
        assert!(s.t.reset.is_none());
        assert_eq!(anomaly_count(&s, Anomaly::RstForUnacceptableAck), 1);
        assert_eq!(s.t.client.rsts, 1, "the RST is still counted as sent");
        s.send(Client, 1000, S, 0, 0, 0);
        s.send(Server, 10, S | A, 0, 1, 0);
        s.send(Client, 10, A, 1, 1, 0);
        s.send(Client, 1, A | P, 1, 1, 100);
        s.send(Server, 1, A | P, 1, 101, 100);
        assert_eq!(s.states(), (Established, Established));
        assert!(s.t.handshake.completed.is_some());
        assert_eq!(s.t.close_kind(), CloseKind::Open);
        // The resent SYN, and nothing after: the RST's seq is not the client's.
        assert_eq!(s.t.client.retransmissions(), 1);
        assert_eq!(s.t.client.next_seq, Some(Seq(C_ISN.wrapping_add(101))));
        assert_eq!(
            s.t.server.retransmissions(),
            0,
            "the SYN/ACK starts the server's space"
        );
        assert_eq!(s.t.server.base_seq, Some(Seq(S_ISN)));
    }

    #[test]
    fn a_rst_acknowledging_the_syn_still_refuses() {
        // The guard of the case above: a RST/ACK answering a SYN is a refusal.
        let mut s = Script::new();
        s.send(Client, 0, S, 0, 0, 0);
        s.send(Server, 1, R | A, 0, 1, 0);
        assert!(s.t.refused);
        assert_eq!(anomaly_count(&s, Anomaly::RstForUnacceptableAck), 0);
    }

    #[test]
    fn rst_outside_the_window_closes_nothing() {
        // RFC 5961 §3.2. Neither SYN offered window scaling: the window is 64000 bytes.
        let mut s = Script::new();
        s.handshake();
        s.send(Client, 1, A | P, 1, 1, 100);
        s.send(Server, 1, A, 1, 101, 0);
        // Far beyond the server's window, and beyond anything the client sent.
        s.send(Client, 1, R, 1_000_000, 0, 0);
        // Below what the server has acknowledged.
        s.send(Client, 1, R, 50, 0, 0);
        assert_eq!(s.states(), (Established, Established));
        assert!(s.t.reset.is_none());
        assert_eq!(anomaly_count(&s, Anomaly::RstOutOfWindow), 2);
        assert_eq!(s.t.client.rsts, 2);
        // In the window: an abort.
        s.send(Client, 1, R, 101, 0, 0);
        assert_eq!(s.states(), (Closed, Closed));
        assert_eq!(s.t.close_kind(), CloseKind::Reset);
    }

    #[test]
    fn window_scaling_widens_the_rst_window() {
        let mut s = Script::new();
        s.handshake();
        s.t.client.window_scale = Some(7);
        s.t.server.window_scale = Some(7);
        s.send(Client, 1, A | P, 1, 1, 100);
        s.send_win(Server, 1, A, 1, 101, 0, 1000);
        // 1000 << 7 = 128,000 bytes: in the window.
        s.send(Client, 1, R, 101 + 100_000, 0, 0);
        assert_eq!(anomaly_count(&s, Anomaly::RstOutOfWindow), 0);
        assert_eq!(s.t.close_kind(), CloseKind::Reset);
    }

    #[test]
    fn data_below_the_peers_ack_is_a_retransmission_however_soon() {
        // A 2-second handshake RTT: tshark's out-of-order window is that long, yet data
        // the receiver has acknowledged is resent, never reordered (spurious).
        let mut s = Script::new();
        s.send(Client, 0, S, 0, 0, 0);
        s.send(Server, 1000, S | A, 0, 1, 0);
        s.send(Client, 1000, A, 1, 1, 0);
        s.send(Client, 1, A | P, 1, 1, 100);
        s.send(Client, 1, A | P, 101, 1, 100);
        s.send(Server, 1, A, 1, 201, 0);
        s.send(Client, 5, A | P, 1, 1, 100);
        assert_eq!(s.t.client.retransmissions(), 1);
        assert_eq!(s.t.client.out_of_order(), 0);
    }

    #[test]
    fn a_hole_filled_soon_is_still_out_of_order() {
        // The guard of the case above: not yet acknowledged, within the RTT.
        let mut s = Script::new();
        s.send(Client, 0, S, 0, 0, 0);
        s.send(Server, 1000, S | A, 0, 1, 0);
        s.send(Client, 1000, A, 1, 1, 0);
        s.send(Client, 1, A | P, 101, 1, 100);
        s.send(Client, 1, A | P, 1, 1, 100);
        assert_eq!(s.t.client.out_of_order(), 1);
        assert_eq!(s.t.client.retransmissions(), 0);
    }

    #[test]
    fn one_byte_resent_with_new_data_is_new_data() {
        let mut s = Script::new();
        s.handshake();
        s.send(Client, 1, A | P, 1, 1, 100);
        s.send(Client, 500, A | P, 100, 1, 50);
        assert_eq!(s.t.client.retransmissions(), 0);
        assert_eq!(s.t.client.out_of_order(), 0);
        assert_eq!(s.t.client.keepalive.probes, 0);
        assert_eq!(s.t.client.next_seq, Some(Seq(C_ISN.wrapping_add(150))));
    }

    #[test]
    fn handshake_completed_without_a_captured_synack_is_answered() {
        let mut s = Script::new();
        s.send(Client, 0, S, 0, 0, 0);
        s.send(Client, 10, A, 1, 1, 0);
        s.send(Client, 1, A | P, 1, 1, 100);
        s.send(Server, 1, A | P, 1, 101, 100);
        assert_eq!(s.states(), (Established, Established));
        assert!(s.t.handshake.completed.is_some());
        assert_eq!(s.t.close_kind(), CloseKind::Open);
    }

    #[test]
    fn capture_starting_at_the_synack() {
        let mut s = Script::new();
        s.send(Server, 0, S | A, 0, 1, 0);
        assert_eq!(s.states(), (Established, SynReceived));
        s.send(Client, 10, A, 1, 1, 0);
        s.send(Client, 1, A | P, 1, 1, 100);
        assert_eq!(s.states(), (Established, Established));
        assert!(s.t.handshake.completed.is_some());
        assert_eq!(s.t.close_kind(), CloseKind::Open);
        assert!(!s.t.midstream);
        assert_eq!(anomaly_count(&s, Anomaly::HandshakeSynackBeforeSyn), 0);
        // A SYN/ACK alone is still an incomplete handshake.
        let mut alone = Script::new();
        alone.send(Server, 0, S | A, 0, 1, 0);
        assert_eq!(alone.t.close_kind(), CloseKind::HandshakeIncomplete);
    }

    #[test]
    fn a_syn_after_its_synack_is_a_reordering() {
        let mut s = Script::new();
        s.send(Server, 0, S | A, 0, 1, 0);
        s.send(Client, 0, S, 0, 0, 0);
        s.send(Client, 20, A, 1, 1, 0);
        assert_eq!(anomaly_count(&s, Anomaly::HandshakeSynackBeforeSyn), 1);
        assert_eq!(s.states(), (Established, Established));
    }
}
