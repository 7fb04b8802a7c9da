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
//! inference is corrected. The tracker only updates facts and emits typed [`Event`]s;
//! it knows nothing of output.

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

/// Keep-alive figures for the probes one endpoint sent.
#[derive(Clone, Debug, Default)]
pub struct KeepaliveStats {
    pub probes: u64,
    /// Probes the peer answered with an ACK.
    pub acks: u64,
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

/// Probe intervals kept per endpoint for the median; more add nothing and could be
/// used to grow memory without bound.
const MAX_INTERVALS: usize = 64;

/// Wireshark's out-of-order window when the handshake RTT is unknown.
const OUT_OF_ORDER_DEFAULT: Duration = Duration::from_millis(3);
/// Wireshark's fast-retransmission window after the peer's duplicate ACKs.
const FAST_RETRANSMIT_WINDOW: Duration = Duration::from_millis(20);

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
    pub retransmissions: u64,
    /// Segments below the highest sequence that arrive within an RTT of it (Wireshark's
    /// tcp.analysis.out_of_order): a reordering, not a retransmission.
    pub out_of_order: u64,
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
        if PREDICT && self.predicted(sender, seg, wire_len, at) {
            return;
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

        if flags.rst() {
            // FIN+RST: the FIN was sent (it names the closer) but the RST aborts at once.
            if flags.fin() {
                self.note_fin(sender, seg, at, emit);
            }
            self.on_rst(sender, seg, at, emit);
            return;
        }
        if flags.syn() {
            self.on_syn(sender, seg, at, emit);
        } else if flags.ack() {
            self.on_ack_sent(sender, seg, at, emit);
            self.on_ack_received(sender.peer(), seg, at, emit);
        }
        if flags.fin() {
            self.on_fin(sender, seg, at, emit);
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
            0 => moves_ack && !peer.last_was_keepalive,
            1 => false,
            _ => true,
        };
        if !plain || seg.seq != next || me.packets == 0 {
            return false;
        }
        me.count_sent(seg, wire_len, at);
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
        me.syns += u64::from(flags.syn());
        me.fins += u64::from(flags.fin());
        me.rsts += u64::from(flags.rst());
        me.base_seq.get_or_insert(seg.seq);
        let peer_window_zero = peer.packets > 0 && peer.window == 0;
        let control = flags.syn() || flags.fin() || flags.rst();
        let end = seg.seq.wrapping_add(seg.seq_len());
        let Some(next) = me.next_seq else {
            me.next_seq = Some(end);
            me.next_seq_time = Some(at);
            me.last_was_keepalive = false;
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
        } else if seg.seq_len() > 0 && seg.seq.lt(next) {
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
                me.retransmissions += 1;
                emit(Event::Retransmission { by: sender });
            } else if since_highest < handshake.rtt().unwrap_or(OUT_OF_ORDER_DEFAULT) && next != end
            {
                // tcp.analysis.out_of_order: a hole filled soon after the highest segment.
                me.out_of_order += 1;
            } else {
                me.retransmissions += 1;
                emit(Event::Retransmission { by: sender });
            }
        }
        me.last_was_keepalive = keepalive;
        if !probe {
            me.reach(next, end, at);
        }
    }

    fn on_syn(
        &mut self,
        sender: Side,
        seg: &TcpSegment<'_>,
        at: Timestamp,
        emit: &mut impl FnMut(Event),
    ) {
        let receiver = sender.peer();
        let (me, _) = self.endpoints_mut(sender);
        me.isn.get_or_insert(seg.seq);
        if !seg.flags.ack() {
            // SYN: an active open (RFC 9293 §3.10.1).
            if sender == Side::Client {
                self.handshake.syn_count += 1;
            }
            if self.handshake.completed.is_none() {
                // Wireshark measures the handshake from the most recent SYN, whichever
                // side sent it (a split or simultaneous open has two).
                self.handshake.last_syn = Some(at);
                if sender == Side::Client {
                    self.handshake.first_syn.get_or_insert(at);
                }
            }
            match self.state(sender) {
                TcpState::Closed | TcpState::Listen => {
                    self.set_state(sender, TcpState::SynSent, at, emit)
                }
                _ => {}
            }
            // A SYN reaching an endpoint that sent its own SYN: simultaneous open (§3.5).
            if self.state(receiver) == TcpState::SynSent {
                self.handshake.simultaneous_open = true;
                self.set_state(receiver, TcpState::SynReceived, at, emit);
            }
            return;
        }
        // SYN/ACK.
        if sender == Side::Server {
            if self.handshake.synack.is_none() {
                self.handshake.synack = Some(at);
                if self.handshake.first_syn.is_none() && !self.midstream {
                    self.anomaly(Anomaly::HandshakeSynackBeforeSyn, emit);
                }
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
        match self.state(sender) {
            TcpState::Closed | TcpState::Listen | TcpState::SynSent => {
                self.set_state(sender, TcpState::SynReceived, at, emit)
            }
            _ => {}
        }
        // The receiver gets a SYN/ACK acknowledging its SYN: ESTABLISHED (§3.10.7.3).
        let receiver_ep = self.endpoint(receiver);
        let acks_receiver_syn = match receiver_ep.isn {
            Some(isn) => seg.ack.ge(isn.wrapping_add(1)),
            None => true,
        };
        if acks_receiver_syn
            && matches!(
                self.state(receiver),
                TcpState::SynSent | TcpState::SynReceived
            )
        {
            self.set_state(receiver, TcpState::Established, at, emit);
            self.check_handshake_complete(at, emit);
        }
    }

    /// An endpoint in SYN_SENT that sends a plain ACK has received the peer's SYN/ACK,
    /// even when the capture missed it or shows it out of order: it is ESTABLISHED, and
    /// the peer, which sent that SYN/ACK, is in SYN_RECEIVED until this ACK arrives.
    fn on_ack_sent(
        &mut self,
        sender: Side,
        seg: &TcpSegment<'_>,
        at: Timestamp,
        emit: &mut impl FnMut(Event),
    ) {
        if self.state(sender) != TcpState::SynSent {
            return;
        }
        let receiver = sender.peer();
        let acks_peer_syn = match self.endpoint(receiver).isn {
            Some(isn) => seg.ack.ge(isn.wrapping_add(1)),
            None => true,
        };
        if !acks_peer_syn {
            return;
        }
        self.set_state(sender, TcpState::Established, at, emit);
        if matches!(self.state(receiver), TcpState::Closed | TcpState::Listen) {
            self.set_state(receiver, TcpState::SynReceived, at, emit);
        }
    }

    /// RFC 9293 §3.10.7.4, fifth check: what the ACK field does to its receiver.
    fn on_ack_received(
        &mut self,
        receiver: Side,
        seg: &TcpSegment<'_>,
        at: Timestamp,
        emit: &mut impl FnMut(Event),
    ) {
        let state = self.state(receiver);
        let ep = self.endpoint(receiver);
        // Asked only in the states where they matter: most segments arrive in ESTABLISHED.
        let acks_syn = || match ep.isn {
            Some(isn) => seg.ack.ge(isn.wrapping_add(1)),
            None => true,
        };
        let acks_fin = || ep.fin_acked_by(seg);
        match state {
            TcpState::SynReceived if acks_syn() => {
                self.set_state(receiver, TcpState::Established, at, emit);
                self.check_handshake_complete(at, emit);
            }
            TcpState::FinWait1 if acks_fin() => {
                self.set_state(receiver, TcpState::FinWait2, at, emit)
            }
            TcpState::Closing if acks_fin() => {
                self.set_state(receiver, TcpState::TimeWait, at, emit)
            }
            TcpState::LastAck if acks_fin() => self.set_state(receiver, TcpState::Closed, at, emit),
            TcpState::Closed if self.midstream && self.reset.is_none() => {
                // First sight of a connection already under way: both sides are
                // synchronized, whatever came before the capture.
                self.set_state(receiver, TcpState::Established, at, emit);
                let sender = receiver.peer();
                if self.state(sender) == TcpState::Closed {
                    self.set_state(sender, TcpState::Established, at, emit);
                }
            }
            _ => {}
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

    fn on_fin(
        &mut self,
        sender: Side,
        seg: &TcpSegment<'_>,
        at: Timestamp,
        emit: &mut impl FnMut(Event),
    ) {
        if !self.note_fin(sender, seg, at, emit) {
            return;
        }
        let receiver = sender.peer();
        let peer_fin = self.endpoint(receiver).fin_seq;
        // The sender's own transition (§3.10.4 CLOSE call).
        match self.state(sender) {
            TcpState::CloseWait => {
                // It had received the peer's FIN — unless its ACK says it had not: then the
                // two FINs crossed, a simultaneous close (§3.6, both pass through CLOSING).
                let saw_peer_fin = match peer_fin {
                    Some(f) => seg.flags.ack() && seg.ack.ge(f.wrapping_add(1)),
                    None => true,
                };
                if saw_peer_fin {
                    self.set_state(sender, TcpState::LastAck, at, emit);
                } else {
                    self.closer = Some(Closer::Both);
                    self.set_state(sender, TcpState::FinWait1, at, emit);
                    self.set_state(sender, TcpState::Closing, at, emit);
                }
            }
            TcpState::Closed
            | TcpState::Listen
            | TcpState::SynSent
            | TcpState::SynReceived
            | TcpState::Established => self.set_state(sender, TcpState::FinWait1, at, emit),
            _ => {}
        }
        // The receiver's arrival processing: the ACK field was applied; now the FIN bit.
        match self.state(receiver) {
            TcpState::SynReceived | TcpState::Established | TcpState::Closed => {
                self.set_state(receiver, TcpState::CloseWait, at, emit)
            }
            TcpState::FinWait1 => {
                if self.endpoint(receiver).fin_acked_by(seg) {
                    self.set_state(receiver, TcpState::TimeWait, at, emit);
                } else {
                    self.closer = Some(Closer::Both);
                    self.set_state(receiver, TcpState::Closing, at, emit);
                }
            }
            TcpState::FinWait2 => self.set_state(receiver, TcpState::TimeWait, at, emit),
            _ => {}
        }
    }

    /// Records a FIN's facts; false when it is a repeat that changes nothing.
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

    fn on_rst(
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
        if sender_state != TcpState::TimeWait {
            self.set_state(sender, TcpState::Closed, at, emit);
        }
        // RFC 1337: an endpoint in TIME_WAIT ignores a RST.
        if self.state(receiver) != TcpState::TimeWait {
            self.set_state(receiver, TcpState::Closed, at, emit);
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
        } else if self.handshake.syn_count > 0 && self.server.syns == 0 {
            CloseKind::Unanswered
        } else if self.server.syns > 0 && self.handshake.completed.is_none() && !self.midstream {
            CloseKind::HandshakeIncomplete
        } else {
            CloseKind::Open
        }
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
        assert_eq!(s.t.client.retransmissions, 1);
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
        assert_eq!(s.t.server.retransmissions, 1);
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
        assert_eq!(s.t.client.retransmissions, 0);
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
        assert_eq!(s.t.client.retransmissions, 1);
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
        assert_eq!(s.t.client.retransmissions, 0);
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
        assert_eq!(s.t.client.retransmissions, 0);
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
        assert_eq!(s.t.client.retransmissions, 1);
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
}
