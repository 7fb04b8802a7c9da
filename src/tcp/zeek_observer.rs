//! What Zeek would log for a connection: its TCP analyzer re-expressed as plain data, fed
//! every segment the tracker sees (`ZeekObserver::on_segment`), read out as
//! `crate::model::zeek::ZeekFacts` when the record is made.
//!
//! Zeek's rules, from its sources (zeek/zeek 9.1-dev): the endpoint states and their
//! transitions (`TCPSessionAdapter::UpdateStateMachine` and the `Update*State` functions),
//! the history letters (`update_history`, `TCP_Endpoint::CheckHistory`, the scaled entries
//! of `Connection::ScaledHistoryEntry`), the payload size from sequence numbers
//! (`TCP_Endpoint::Size`), the packet and IP-byte counts (the ConnSize analyzer, which
//! counts every packet that passes the checksum), who is the originator
//! (`TCPAnalyzer::WantConnection` and `likely_server_ports`), when Zeek lets go of a
//! connection (its timers) and when a SYN starts a new one (`TCPSessionAdapter::IsReuse`),
//! and `conn_state` (base/protocols/conn/main.zeek). docs/records.md says what differs.
//!
//! A Zeek connection can end before synack's does (Zeek's timers: an unanswered SYN is
//! let go of after 5 s, a closed connection 5 s after its close, an idle one after 5 min),
//! and the next packet then starts another Zeek connection on the same 4-tuple. The
//! observer then starts over: the facts are those of the last Zeek connection, and
//! `ZeekFacts::earlier_rows` counts the ones before it.

use crate::decode::TcpSegment;
use crate::model::time::Timestamp;
use crate::model::zeek::{ConnState, History, ZeekFacts, ZeekSide};

/// A Zeek endpoint state (`TCP_ENDPOINT_*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ZeekState {
    #[default]
    Inactive,
    SynSent,
    SynAckSent,
    Partial,
    Established,
    Closed,
    Reset,
}

impl ZeekState {
    /// In declaration order, so that `ALL[s as usize] == s`.
    pub const ALL: [ZeekState; 7] = [
        ZeekState::Inactive,
        ZeekState::SynSent,
        ZeekState::SynAckSent,
        ZeekState::Partial,
        ZeekState::Established,
        ZeekState::Closed,
        ZeekState::Reset,
    ];

    /// Still in the handshake: the connection's inactivity timeout is Zeek's UDP one
    /// (1 min) while both endpoints are.
    fn in_handshake(self) -> bool {
        matches!(
            self,
            ZeekState::Inactive | ZeekState::SynSent | ZeekState::SynAckSent
        )
    }

    /// Past the handshake and not closed: a segment without SYN, FIN or RST changes
    /// neither endpoint's state.
    fn synchronized(self) -> bool {
        matches!(self, ZeekState::Established | ZeekState::Partial)
    }

    /// "Inactive" for `conn_state`: nothing seen, or only midstream traffic.
    fn inactive(self) -> bool {
        matches!(self, ZeekState::Inactive | ZeekState::Partial)
    }
}

/// A logarithmic history letter (`c g t w`): written at the 1st, 10th, 100th... event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scaled {
    pub count: u32,
    pub threshold: u32,
}

impl Default for Scaled {
    fn default() -> Self {
        Scaled {
            count: 0,
            threshold: 1,
        }
    }
}

impl Scaled {
    /// Counts one event; true when it earns a letter.
    fn bump(&mut self) -> bool {
        self.count = self.count.wrapping_add(1);
        if self.count != self.threshold {
            return false;
        }
        match self.threshold.checked_mul(10) {
            Some(next) => self.threshold = next,
            // As Zeek: past the largest threshold the count starts over.
            None => self.count = 0,
        }
        true
    }
}

/// One Zeek endpoint (`TCP_Endpoint`), with what the ConnSize analyzer counts for it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ZeekEndpoint {
    pub state: ZeekState,
    pub prev_state: ZeekState,
    pub start_seq: u32,
    pub last_seq: u32,
    pub ack_seq: u32,
    pub seq_wraps: u32,
    pub ack_wraps: u32,
    /// A FIN was seen from it (Zeek's `FIN_cnt > 0`: `Size` leaves the FIN's octet out).
    pub fin_seen: bool,
    pub did_close: bool,
    /// Relative sequence numbers of the last SYN, FIN (its end) and RST, for the rule
    /// that repeats `s h f r` only when they change.
    pub hist_last_syn: u64,
    pub hist_last_fin: u64,
    pub hist_last_rst: u64,
    pub checksum_errors: Scaled,
    pub retransmits: Scaled,
    pub zero_windows: Scaled,
    pub gaps: Scaled,
    pub packets: u64,
    pub ip_bytes: u64,
}

impl ZeekEndpoint {
    fn set_state(&mut self, new: ZeekState) {
        if new != self.state {
            self.prev_state = self.state;
            self.state = new;
        }
    }

    fn full(seq: u32, wraps: u32) -> u64 {
        (u64::from(wraps) << 32) | u64::from(seq)
    }

    fn update_last_seq(&mut self, seq: u32) {
        if seq < self.last_seq {
            self.seq_wraps = self.seq_wraps.wrapping_add(1);
        }
        self.last_seq = seq;
    }

    fn update_ack_seq(&mut self, seq: u32) {
        if seq < self.ack_seq {
            self.ack_wraps = self.ack_wraps.wrapping_add(1);
        }
        self.ack_seq = seq;
    }

    fn init_seqs(&mut self, start: u32, last: u32) {
        self.start_seq = start;
        self.ack_seq = start;
        self.last_seq = last;
    }

    /// Zeek's relative sequence number of `seq` (`get_relative_seq`), and whether it lies
    /// before the start (an underflow). Against `last` and its wrap count.
    fn relative(&self, seq: u32, last: u32, wraps: u32) -> (u64, bool) {
        let mut wraps = wraps;
        let delta = seq_delta(seq, last);
        if delta < 0 {
            if wraps > 0 && seq > last {
                wraps -= 1;
            }
        } else if delta > 0 && seq < last {
            wraps = wraps.wrapping_add(1);
        }
        if wraps == 0 {
            let d = seq_delta(seq, self.start_seq);
            return (d as i64 as u64, d < 0);
        }
        (
            Self::full(seq, wraps).wrapping_sub(u64::from(self.start_seq)),
            false,
        )
    }

    /// Nothing past the SYN was acknowledged (`TCP_Endpoint::NoDataAcked`).
    fn no_data_acked(&self) -> bool {
        let ack = Self::full(self.ack_seq, self.ack_wraps);
        let start = u64::from(self.start_seq);
        ack == start || ack == start + 1
    }

    /// Payload bytes from sequence numbers (`TCP_Endpoint::Size`): from the start to the
    /// furthest of the last sequence number sent and the highest acknowledged, less the
    /// SYN's and FIN's octets.
    fn size(&self, peer: &ZeekEndpoint) -> u64 {
        if self.prev_state == ZeekState::SynSent
            && self.state == ZeekState::Reset
            && peer.state == ZeekState::Inactive
            && !self.no_data_acked()
        {
            return 0;
        }
        let last = Self::full(self.last_seq, self.seq_wraps);
        let ack = Self::full(self.ack_seq, self.ack_wraps);
        // Less the SYN's octet (faked for a connection seen midstream) and the FIN's.
        let size = last
            .max(ack)
            .wrapping_sub(u64::from(self.start_seq))
            .saturating_sub(1);
        if self.fin_seen {
            size.saturating_sub(1)
        } else {
            size
        }
    }
}

/// Serial-number difference (Zeek's `seq_delta`).
fn seq_delta(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

/// Zeek's `TOO_LARGE_SEQ_DELTA`: a SYN or RST this far off does not move the last
/// sequence number.
const TOO_LARGE_SEQ_DELTA: i32 = 1_048_576;

/// Zeek's TCP timers (init-bare.zeek defaults), in nanoseconds.
const SECOND: i64 = 1_000_000_000;
/// `tcp_attempt_delay`: an unanswered SYN is let go of after it.
const ATTEMPT_DELAY: i64 = 5 * SECOND;
/// `tcp_SYN_timeout`: the first expiry check after a connection starts.
const SYN_TIMEOUT: i64 = 5 * SECOND;
/// `tcp_session_timer`: the expiry check's period after that.
const SESSION_TIMER: i64 = 6 * SECOND;
/// `tcp_connection_linger`: quiet time before a closed connection expires.
const CONNECTION_LINGER: i64 = 5 * SECOND;
/// `tcp_close_delay`: a connection whose close completed goes this long after its last
/// packet.
const CLOSE_DELAY: i64 = 5 * SECOND;
/// `udp_inactivity_timeout`: the inactivity timeout until the handshake is over.
const HANDSHAKE_INACTIVITY: i64 = 60 * SECOND;
/// `tcp_inactivity_timeout`.
const TCP_INACTIVITY: i64 = 300 * SECOND;
/// `Conn::port_inactivity_timeouts` (base/protocols/conn/inactivity.zeek): 1 h for
/// FTP, SSH, Telnet and rlogin.
const LONG_INACTIVITY: i64 = 3600 * SECOND;
const LONG_INACTIVITY_PORTS: [u16; 4] = [21, 22, 23, 513];
const NEVER: i64 = i64::MAX;

/// Zeek's `likely_server_ports` for TCP as its default scripts (`zeek` without `-b`, which
/// loads every base/protocols script) fill it: each protocol script adds its ports.
/// Sorted, for a binary search. A connection first seen without a SYN is flipped when its
/// first packet comes from one of them (`IsLikelyServerPort`).
pub const LIKELY_SERVER_PORTS: [u16; 48] = [
    21,   // ftp
    22,   // ssh
    25,   // smtp
    53,   // dns
    79,   // finger
    80,   // http
    81,   // http
    88,   // krb
    110,  // pop3
    135,  // dce-rpc
    139,  // smb
    143,  // imap
    389,  // ldap
    443,  // ssl
    445,  // smb
    502,  // modbus
    563,  // ssl
    585,  // ssl
    587,  // smtp
    614,  // ssl
    631,  // http
    636,  // ssl
    750,  // krb
    989,  // ssl
    990,  // ssl
    992,  // ssl
    993,  // ssl
    995,  // ssl
    1080, // http, socks
    1434, // mysql
    1883, // mqtt
    2811, // gridftp
    3128, // http
    3268, // ldap
    3306, // mysql
    3389, // rdp
    5222, // xmpp
    5223, // ssl
    5269, // xmpp
    5432, // postgresql
    6379, // redis
    6666, // irc
    6667, // irc
    6668, // irc
    6669, // irc
    8000, // http
    8080, // http
    8888, // http
];

/// Zeek's `IsLikelyServerPort` with the default scripts' ports.
pub fn likely_server_port(port: u16) -> bool {
    LIKELY_SERVER_PORTS.binary_search(&port).is_ok()
}

/// History letters Zeek writes at most once per direction, and the ones that repeat on a
/// changed sequence number, as bits of `hist_seen` (the responder's shifted by 16).
const HIST_SYN: u32 = 0x1;
const HIST_FIN: u32 = 0x2;
const HIST_RST: u32 = 0x4;
const HIST_FIN_RST: u32 = 0x8;
const HIST_DATA: u32 = 0x10;
const HIST_ACK: u32 = 0x20;
const HIST_MULTI_FLAG: u32 = 0x40;

const ORIG: usize = 0;
const RESP: usize = 1;

/// Zeek's view of one connection, updated for every segment (plain data, no allocation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZeekObserver {
    /// A Zeek connection is open (false before the first packet and after Zeek let go).
    pub open: bool,
    /// Zeek's originator is synack's client.
    pub orig_is_client: bool,
    /// Zeek's `is_active`: the analyzer's own timers still run.
    pub active: bool,
    /// When the Zeek connection started (`ts`) and its last productive packet.
    pub start: Timestamp,
    pub last_time: Timestamp,
    /// `[originator, responder]`.
    pub ends: [ZeekEndpoint; 2],
    pub history: History,
    /// Letters already written once (`Connection::CheckHistory`).
    pub hist_seen: u32,
    /// Pending timers, nanoseconds since the epoch (`NEVER`: none).
    pub attempt_at: i64,
    pub expire_at: i64,
    pub delete_at: i64,
    /// The connection's inactivity timeout.
    pub inactivity: i64,
    pub missed_bytes: u64,
    /// Zeek connections on this 4-tuple that Zeek let go of before the current one.
    pub earlier_rows: u32,
    /// The tunnels its packets came out of (`TcpSegment::tunnel_parent`), the first two
    /// distinct ones; 0: none.
    pub tunnel_parents: [u32; 2],
}

impl Default for ZeekObserver {
    fn default() -> Self {
        ZeekObserver {
            open: false,
            orig_is_client: true,
            active: true,
            start: Timestamp::ZERO,
            last_time: Timestamp::ZERO,
            ends: [ZeekEndpoint::default(); 2],
            history: History::default(),
            hist_seen: 0,
            attempt_at: NEVER,
            expire_at: NEVER,
            delete_at: NEVER,
            inactivity: HANDSHAKE_INACTIVITY,
            missed_bytes: 0,
            earlier_rows: 0,
            tunnel_parents: [0; 2],
        }
    }
}

/// What the state machine decided about a segment.
#[derive(Default)]
struct Closing {
    /// Report the connection closed by this endpoint (`do_close`).
    close: bool,
    /// With an event (`gen_event`): a normal close, not a rejection.
    event: bool,
}

impl ZeekObserver {
    /// Applies one segment, sent by synack's client when `from_client`. With
    /// `verify_checksums` (Zeek without `-C`), a segment with a bad TCP checksum is left out
    /// of the state and the counts and writes `c`/`C`.
    pub fn on_segment(
        &mut self,
        from_client: bool,
        seg: &TcpSegment<'_>,
        at: Timestamp,
        verify_checksums: bool,
    ) {
        self.apply::<true>(from_client, seg, at, verify_checksums);
    }

    /// `on_segment` without header prediction: every segment takes the general path,
    /// which the prediction must match (the tests below, and tests/fast_path.rs).
    pub fn on_segment_unpredicted(
        &mut self,
        from_client: bool,
        seg: &TcpSegment<'_>,
        at: Timestamp,
        verify_checksums: bool,
    ) {
        self.apply::<false>(from_client, seg, at, verify_checksums);
    }

    #[inline]
    fn apply<const PREDICT: bool>(
        &mut self,
        from_client: bool,
        seg: &TcpSegment<'_>,
        at: Timestamp,
        verify_checksums: bool,
    ) {
        // With checksums verified, every segment takes the general path (it reads the
        // whole segment anyway).
        if PREDICT && !verify_checksums && self.predicted(from_client, seg, at) {
            return;
        }
        if verify_checksums && !seg.ip_checksum_ok {
            // Zeek's IP layer drops it before any connection sees it.
            return;
        }
        if self.open && (self.expired_by(at) || self.is_reuse(seg)) {
            self.start_over();
        }
        if !self.open {
            self.open_with(from_client, seg, at);
        }
        if seg.tunnel_parent != 0 {
            self.note_tunnel(seg.tunnel_parent);
        }
        if seg.options.len() < usize::from(seg.header_len).saturating_sub(20) {
            // Zeek's TCP analyzer drops a segment whose header the snaplen cut (after the
            // connection was made for it): it counts nowhere.
            return;
        }
        let mut is_orig = from_client == self.orig_is_client;
        if verify_checksums && seg.checksum_ok() == Some(false) {
            let e = if is_orig { ORIG } else { RESP };
            if self.ends[e].checksum_errors.bump() {
                self.add_history_from(is_orig, b'C');
            }
            return;
        }
        if self.ends[ORIG].state == ZeekState::SynAckSent
            && self.ends[RESP].state == ZeekState::Inactive
            && !is_orig
            && !seg.flags.syn()
            && !seg.flags.rst()
            && (seg.flags.ack() || seg.payload_len > 0)
        {
            // A connection seen from its SYN/ACK, which the ports did not flip: an ACK or
            // data from the other side shows the SYN/ACK's sender is the server (Zeek
            // #2191). Zeek logs the history as if flipped from the start.
            self.flip_after_synack();
            is_orig = true;
        }
        self.process(is_orig, seg, at);
        let e = &mut self.ends[if is_orig { ORIG } else { RESP }];
        e.packets += 1;
        e.ip_bytes += u64::from(seg.ip_len);
    }

    /// Header prediction, as the tracker's (`TcpTracker::predicted`): most segments are
    /// an ACK or the data of a connection whose two endpoints Zeek has synchronized
    /// (established or partial), and for those the general path changes only the counts,
    /// the sequence and acknowledgment numbers and the last time. This applies what it
    /// would and returns true; any other segment changes nothing and returns false. Why
    /// each condition, in the general path's terms: no timer due, so `expired_by` neither
    /// fires nor moves one; no SYN, so no reuse and no new sequence numbers; no SYN, FIN
    /// or RST, so no state change, no close and no `s h f r` letter; its `D` or `A`
    /// already written, so `update_history` writes nothing; a window other than zero, so
    /// no `W`; its header whole, so it counts. A retransmission (`T`) is noted here as
    /// there (`update_last_seq`).
    #[inline]
    fn predicted(&mut self, from_client: bool, seg: &TcpSegment<'_>, at: Timestamp) -> bool {
        let flags = seg.flags;
        if !self.open
            || !flags.ack()
            || flags.syn()
            || flags.fin()
            || flags.rst()
            || seg.window == 0
        {
            return false;
        }
        let is_orig = from_client == self.orig_is_client;
        let (e, p) = if is_orig { (ORIG, RESP) } else { (RESP, ORIG) };
        if !self.ends[e].state.synchronized() || !self.ends[p].state.synchronized() {
            return false;
        }
        let letter = if seg.payload_len > 0 {
            HIST_DATA
        } else {
            HIST_ACK
        };
        let letter = if is_orig { letter } else { letter << 16 };
        if self.hist_seen & letter == 0 {
            return false;
        }
        let now = at.as_nanos();
        let mut due = self
            .delete_at
            .min(self.last_time.as_nanos().saturating_add(self.inactivity));
        if self.active {
            due = due.min(self.attempt_at).min(self.expire_at);
        }
        if now >= due || seg.options.len() < usize::from(seg.header_len).saturating_sub(20) {
            return false;
        }
        if seg.tunnel_parent != 0 {
            self.note_tunnel(seg.tunnel_parent);
        }
        if !self.ends[ORIG].did_close || !self.ends[RESP].did_close {
            self.last_time = at;
        }
        self.note_ack(p, seg.ack.0, false);
        let len = seg.payload_len;
        self.update_last_seq(e, seg.seq.0.wrapping_add(len), flags, len);
        let ep = &mut self.ends[e];
        ep.packets += 1;
        ep.ip_bytes += u64::from(seg.ip_len);
        true
    }

    /// An acknowledgment number from the peer of `p`: moves `p`'s highest acknowledged
    /// sequence number forward (Zeek's ACK processing in `TCPSessionAdapter::Process`),
    /// unless it lies before `p`'s start or comes with a RST.
    #[inline]
    fn note_ack(&mut self, p: usize, ack_seq: u32, rst: bool) {
        let peer = &self.ends[p];
        let (_, underflow) = peer.relative(ack_seq, peer.ack_seq, peer.ack_wraps);
        if !underflow && !rst {
            let delta = seq_delta(ack_seq, peer.ack_seq);
            // An ACK of 0 far ahead is more likely broken than a wrap.
            if !(ack_seq == 0 && delta > TOO_LARGE_SEQ_DELTA) && delta > 0 {
                self.ends[p].update_ack_seq(ack_seq);
            }
        }
    }

    /// Zeek's `tunnel_parents` is the set of the innermost tunnels a connection's packets
    /// came through over its lifetime: usually one; two are kept.
    fn note_tunnel(&mut self, parent: u32) {
        if let Some(slot) = self
            .tunnel_parents
            .iter_mut()
            .find(|p| **p == 0 || **p == parent)
        {
            *slot = parent;
        }
    }

    /// The facts of the current Zeek connection.
    pub fn facts(&self) -> ZeekFacts {
        let [o, r] = &self.ends;
        let side = |e: &ZeekEndpoint, peer: &ZeekEndpoint| ZeekSide {
            packets: e.packets,
            ip_bytes: e.ip_bytes,
            bytes: e.size(peer),
        };
        ZeekFacts {
            orig_is_client: self.orig_is_client,
            conn_state: self.conn_state(),
            history: self.history,
            orig: side(o, r),
            resp: side(r, o),
            missed_bytes: self.missed_bytes,
            duration: self.last_time.saturating_since(self.start),
            ts: self.start,
            earlier_rows: self.earlier_rows,
            tunnel_parents: self.tunnel_parents,
        }
    }

    /// `conn_state` (base/protocols/conn/main.zeek).
    pub fn conn_state(&self) -> ConnState {
        use ZeekState::*;
        let (os, rs) = (self.ends[ORIG].state, self.ends[RESP].state);
        let (o_inactive, r_inactive) = (os.inactive(), rs.inactive());
        let sizes_zero = || {
            self.ends[ORIG].size(&self.ends[RESP]) == 0
                && self.ends[RESP].size(&self.ends[ORIG]) == 0
        };
        if rs == Reset {
            if os == SynSent || os == SynAckSent || (os == Reset && sizes_zero()) {
                ConnState::Rej
            } else if o_inactive {
                ConnState::Rstrh
            } else {
                ConnState::Rstr
            }
        } else if os == Reset {
            if r_inactive {
                if self.rst_after_syn_only() {
                    ConnState::Rstos0
                } else {
                    ConnState::Oth
                }
            } else {
                ConnState::Rsto
            }
        } else if rs == Closed && os == Closed {
            ConnState::SF
        } else if os == Closed {
            if r_inactive {
                ConnState::Sh
            } else {
                ConnState::S2
            }
        } else if rs == Closed {
            if o_inactive {
                ConnState::Shr
            } else {
                ConnState::S3
            }
        } else if os == SynSent && rs == Inactive {
            ConnState::S0
        } else if os == Established && rs == Established {
            ConnState::S1
        } else {
            ConnState::Oth
        }
    }

    /// The history matches `^?S[^HAFGIQ]*R` (the RSTOS0 pattern).
    fn rst_after_syn_only(&self) -> bool {
        let h = self.history.as_str().as_bytes();
        let h = h.strip_prefix(b"^").unwrap_or(h);
        let Some(rest) = h.strip_prefix(b"S") else {
            return false;
        };
        for &c in rest {
            match c {
                b'R' => return true,
                b'H' | b'A' | b'F' | b'G' | b'I' | b'Q' => return false,
                _ => {}
            }
        }
        false
    }

    /// Zeek let go of the connection before `at` (a timer fired). The state cannot change
    /// between packets, so each timer is judged as of its due time.
    fn expired_by(&mut self, at: Timestamp) -> bool {
        let now = at.as_nanos();
        let last = self.last_time.as_nanos();
        if self.delete_at <= now {
            return true;
        }
        if now >= last.saturating_add(self.inactivity) {
            return true;
        }
        if self.active && self.attempt_at <= now {
            let o = self.ends[ORIG].state;
            if matches!(o, ZeekState::SynSent | ZeekState::SynAckSent)
                && self.ends[RESP].state == ZeekState::Inactive
            {
                return true;
            }
            self.attempt_at = NEVER;
        }
        if self.active && self.expire_at <= now {
            // The check runs every `SESSION_TIMER` from `expire_at`; it lets go once the
            // connection is `CONNECTION_LINGER` quiet and closed, reset or one-sided.
            let [o, r] = &self.ends;
            let done = ((o.did_close || r.did_close)
                && ((o.did_close && r.did_close)
                    || o.state == ZeekState::Reset
                    || r.state == ZeekState::Reset
                    || o.state == ZeekState::Inactive
                    || r.state == ZeekState::Inactive))
                || (o.state == ZeekState::Inactive && r.state == ZeekState::Inactive);
            let quiet_from = last.saturating_add(CONNECTION_LINGER);
            // The first check strictly after `quiet_from`.
            let due = if self.expire_at > quiet_from {
                self.expire_at
            } else {
                let periods = (quiet_from - self.expire_at) / SESSION_TIMER + 1;
                self.expire_at
                    .saturating_add(periods.saturating_mul(SESSION_TIMER))
            };
            if done && due <= now {
                return true;
            }
            let periods = (now - self.expire_at) / SESSION_TIMER + 1;
            self.expire_at = self
                .expire_at
                .saturating_add(periods.saturating_mul(SESSION_TIMER));
        }
        false
    }

    /// A SYN that Zeek takes for a new connection on this 4-tuple
    /// (`TCPSessionAdapter::IsReuse`).
    fn is_reuse(&self, seg: &TcpSegment<'_>) -> bool {
        if !seg.flags.syn() {
            return false;
        }
        let mut conn_orig = ORIG;
        if seg.flags.ack() {
            if self.ends[ORIG].state != ZeekState::Inactive {
                return false;
            }
            conn_orig = RESP;
        }
        let closed = self.ends[ORIG].did_close || self.ends[RESP].did_close;
        if closed {
            return true;
        }
        let seq = seg.seq.0;
        if seq == self.ends[conn_orig].start_seq {
            return false;
        }
        // A SYN/ACK seen before its SYN (two interfaces' packets interleaved): the SYN is
        // not a reuse; the state machine flips the roles.
        !(!seg.flags.ack()
            && self.ends[conn_orig].state == ZeekState::SynAckSent
            && self.ends[RESP].state == ZeekState::Inactive
            && seq == self.ends[RESP].start_seq)
    }

    /// Zeek let go of the connection: the next packet starts another.
    fn start_over(&mut self) {
        let earlier = self.earlier_rows.saturating_add(1);
        *self = ZeekObserver {
            earlier_rows: earlier,
            ..ZeekObserver::default()
        };
    }

    /// A new Zeek connection from its first packet (`IPBasedAnalyzer::NewConn`): the
    /// sender is the originator unless the packet is no SYN (or a SYN/ACK) and comes from
    /// a likely server port (`TCPAnalyzer::WantConnection`).
    fn open_with(&mut self, from_client: bool, seg: &TcpSegment<'_>, at: Timestamp) {
        let flags = seg.flags;
        let mut flip = false;
        if (!flags.syn() || flags.ack()) && likely_server_port(seg.src_port) {
            flip = if likely_server_port(seg.dst_port) {
                // Both plausible: flip only a non-SYN towards the higher port.
                !flags.syn() && seg.src_port < seg.dst_port
            } else {
                true
            };
        }
        self.open = true;
        self.orig_is_client = from_client;
        self.start = at;
        self.last_time = at;
        self.expire_at = at.as_nanos().saturating_add(SYN_TIMEOUT);
        if flip {
            self.flip_roles();
        }
    }

    /// `Connection::FlipRoles`: the endpoints swap roles and the history says so.
    fn flip_roles(&mut self) {
        self.ends.swap(ORIG, RESP);
        self.orig_is_client = !self.orig_is_client;
        self.history.push(b'^');
    }

    /// The flip of a connection seen from its SYN/ACK: Zeek's history reads as if the
    /// roles had been flipped before the first packet (`^` first, the SYN/ACK as `h`).
    fn flip_after_synack(&mut self) {
        self.ends.swap(ORIG, RESP);
        self.orig_is_client = !self.orig_is_client;
        let old = self.history;
        let mut h = History::default();
        h.push(b'^');
        for &c in old.as_str().as_bytes() {
            h.push(swap_case(c));
        }
        self.history = h;
        self.hist_seen = self.hist_seen.rotate_left(16);
    }

    fn add_history_from(&mut self, is_orig: bool, upper: u8) {
        self.history.push(if is_orig {
            upper
        } else {
            upper.to_ascii_lowercase()
        });
    }

    /// Writes `upper` (in the sender's case) the first time the sender shows `mask`;
    /// true when it had been seen before (`Connection::CheckHistory`).
    fn check_history(&mut self, is_orig: bool, mask: u32, upper: u8) -> bool {
        let mask = if is_orig { mask } else { mask << 16 };
        if self.hist_seen & mask == 0 {
            self.hist_seen |= mask;
            self.add_history_from(is_orig, upper);
            return false;
        }
        true
    }

    /// The history letters of one segment (`update_history`).
    fn update_history(&mut self, is_orig: bool, seg: &TcpSegment<'_>, rel_seq: u64) {
        let flags = seg.flags;
        let len = u64::from(seg.payload_len);
        let e = if is_orig { ORIG } else { RESP };
        let bits = u32::from(flags.syn()) + u32::from(flags.fin()) + u32::from(flags.rst());
        if bits > 1 {
            if flags.fin() && flags.rst() {
                self.check_history(is_orig, HIST_FIN_RST, b'I');
            } else {
                self.check_history(is_orig, HIST_MULTI_FLAG, b'Q');
            }
        } else if bits == 1 {
            if flags.syn() {
                let code = if flags.ack() { b'H' } else { b'S' };
                if self.check_history(is_orig, HIST_SYN, code)
                    && rel_seq != self.ends[e].hist_last_syn
                {
                    self.add_history_from(is_orig, code);
                }
                self.ends[e].hist_last_syn = rel_seq;
            }
            if flags.fin() {
                // A FIN's sequence number is at the end of its data.
                let end = rel_seq.wrapping_add(len);
                if self.check_history(is_orig, HIST_FIN, b'F') && end != self.ends[e].hist_last_fin
                {
                    self.add_history_from(is_orig, b'F');
                }
                self.ends[e].hist_last_fin = end;
            }
            if flags.rst() {
                if self.check_history(is_orig, HIST_RST, b'R')
                    && rel_seq != self.ends[e].hist_last_rst
                {
                    self.add_history_from(is_orig, b'R');
                }
                self.ends[e].hist_last_rst = rel_seq;
            }
        } else if len > 0 {
            self.check_history(is_orig, HIST_DATA, b'D');
        } else if flags.ack() {
            self.check_history(is_orig, HIST_ACK, b'A');
        }
    }

    /// `TCPSessionAdapter::Process`, for what the conn.log shows.
    fn process(&mut self, is_orig: bool, seg: &TcpSegment<'_>, at: Timestamp) {
        let flags = seg.flags;
        let (e, p) = if is_orig { (ORIG, RESP) } else { (RESP, ORIG) };
        let len = seg.payload_len;
        let base_seq = seg.seq.0;
        let ack_seq = seg.ack.0;
        let mut seg_len = len
            .wrapping_add(u32::from(flags.syn()))
            .wrapping_add(u32::from(flags.fin()));
        if flags.rst() {
            seg_len = seg_len.wrapping_sub(len);
        }
        let one_past = base_seq.wrapping_add(seg_len);
        self.init_endpoint(e, flags.syn(), base_seq, one_past);
        let ep = &self.ends[e];
        let (rel_seq, _underflow) = ep.relative(base_seq, ep.last_seq, ep.seq_wraps);
        self.update_history(is_orig, seg, rel_seq);
        // Zero windows are noted unless they come with or after a RST, or after the
        // peer's FIN (`update_window`).
        if seg.window == 0
            && !flags.rst()
            && self.ends[p].state != ZeekState::Closed
            && self.ends[e].state != ZeekState::Reset
            && self.ends[e].zero_windows.bump()
        {
            self.add_history_from(is_orig, b'W');
        }
        if !self.ends[ORIG].did_close || !self.ends[RESP].did_close {
            self.last_time = at;
        }
        if flags.fin() {
            self.ends[e].fin_seen = true;
        }
        if flags.ack() {
            if self.ends[p].state == ZeekState::Inactive {
                // Number the peer's bytes as if its SYN had been seen (`init_peer`).
                let start = ack_seq.wrapping_sub(1);
                self.ends[p].init_seqs(start, start);
            } else {
                self.note_ack(p, ack_seq, flags.rst());
            }
        }
        let delta_last = self.update_last_seq(e, one_past, flags, len);
        let closing = self.update_state_machine(at, e, p, seg, is_orig, delta_last);
        if closing.close {
            self.connection_closed(e, p, closing.event);
        }
    }

    /// `init_endpoint`: an endpoint's sequence numbers from its first segment, or from a
    /// SYN that restarts them.
    fn init_endpoint(&mut self, e: usize, syn: bool, first: u32, one_past: u32) {
        let ep = &mut self.ends[e];
        match ep.state {
            ZeekState::Inactive => {
                if syn {
                    ep.init_seqs(first, one_past);
                } else {
                    // Midstream: numbered as though a SYN came just before.
                    ep.init_seqs(first.wrapping_sub(1), first);
                }
            }
            ZeekState::SynSent | ZeekState::SynAckSent => {
                if syn && first != ep.start_seq {
                    ep.init_seqs(first, one_past);
                }
            }
            ZeekState::Established | ZeekState::Partial => {
                if syn {
                    ep.init_seqs(first, one_past);
                }
            }
            ZeekState::Reset => {
                if syn && ep.prev_state == ZeekState::Inactive {
                    ep.init_seqs(first, one_past);
                }
            }
            ZeekState::Closed => {}
        }
    }

    /// `update_last_seq`: moves the last sequence number forward, or notes a
    /// retransmission (`t`); returns how far the segment's end is past the old one.
    fn update_last_seq(
        &mut self,
        e: usize,
        last_seq: u32,
        flags: crate::model::flags::TcpFlags,
        len: u32,
    ) -> i32 {
        let ep = &mut self.ends[e];
        let delta = seq_delta(last_seq, ep.last_seq);
        if (flags.syn() || flags.rst())
            && !(-TOO_LARGE_SEQ_DELTA..=TOO_LARGE_SEQ_DELTA).contains(&delta)
        {
            // An outlandish SYN or RST does not move it.
        } else if flags.fin() && ep.last_seq == ep.start_seq.wrapping_add(1) {
            // Only the SYN and the FIN seen: trust the FIN even backwards (> 2 GB).
            ep.update_last_seq(last_seq);
        } else if ep.state == ZeekState::Reset {
            // Nothing after a RST is trusted.
        } else if delta > 0 {
            ep.update_last_seq(last_seq);
        } else if len > 0 && ep.retransmits.bump() {
            let is_orig = e == ORIG;
            self.add_history_from(is_orig, b'T');
        }
        delta
    }

    fn set_state(&mut self, e: usize, new: ZeekState) {
        let p = 1 - e;
        let (state, peer) = (self.ends[e].state, self.ends[p].state);
        if new != state && !new.in_handshake() && state.in_handshake() && peer.in_handshake() {
            // The handshake is over: Zeek's TCP inactivity timeout from now on.
            self.inactivity = self.inactivity.max(TCP_INACTIVITY);
        }
        self.ends[e].set_state(new);
    }

    /// `UpdateStateMachine` and the `Update*State` functions: the sender's state (and at
    /// times its peer's) after one segment.
    fn update_state_machine(
        &mut self,
        at: Timestamp,
        e: usize,
        p: usize,
        seg: &TcpSegment<'_>,
        is_orig: bool,
        delta_last: i32,
    ) -> Closing {
        use ZeekState::*;
        let flags = seg.flags;
        let mut out = Closing::default();
        let (mut e, mut p) = (e, p);
        match self.ends[e].state {
            Inactive => {
                if flags.syn() {
                    if is_orig {
                        self.set_state(e, if flags.ack() { SynAckSent } else { SynSent });
                        self.attempt_at = at.as_nanos().saturating_add(ATTEMPT_DELAY);
                    } else {
                        if !flags.ack()
                            && self.ends[p].state == SynAckSent
                            && seg.seq.0 == self.ends[e].start_seq
                        {
                            // A SYN after its SYN/ACK: the roles were the other way.
                            self.flip_roles();
                            (e, p) = (p, e);
                            self.set_state(p, Established);
                        }
                        if self.ends[p].state == SynSent {
                            self.set_state(p, Established);
                        }
                        self.set_state(e, Established);
                        if self.ends[p].state != Partial {
                            self.connection_established(seg);
                        }
                    }
                }
                if flags.fin() {
                    self.set_state(e, Closed);
                    out = Closing {
                        close: true,
                        event: true,
                    };
                }
                if flags.rst() {
                    self.set_state(e, Reset);
                    let reject = if is_orig {
                        self.ends[p].state == Established
                    } else {
                        matches!(self.ends[p].state, SynSent | SynAckSent)
                    };
                    out = Closing {
                        close: true,
                        event: !reject,
                    };
                }
                if self.ends[e].state == Inactive {
                    if !is_orig && seg.payload_len == 0 && self.ends[ORIG].state == SynSent {
                        // An ACK of the SYN before the SYN/ACK: not yet a partial side.
                    } else if flags.ack() && self.ends[p].state == Established {
                        // The SYN/ACK was seen, only the SYN missed.
                        self.set_state(e, Established);
                    } else {
                        self.set_state(e, Partial);
                    }
                }
            }
            SynSent | SynAckSent => {
                if flags.fin() {
                    self.set_state(e, Closed);
                    out = Closing {
                        close: true,
                        event: true,
                    };
                }
                if flags.rst() {
                    self.set_state(e, Reset);
                    self.active = false;
                    out.close = true;
                }
            }
            Established | Partial => {
                if flags.syn()
                    && self.ends[e].state == Partial
                    && self.ends[p].state == Inactive
                    && !flags.ack()
                {
                    self.set_state(e, SynSent);
                }
                if flags.fin() && !flags.rst() {
                    self.set_state(e, Closed);
                    if self.ends[p].state == Reset && self.ends[p].prev_state == Closed {
                        // A FIN then a RST from the peer was a normal close.
                        self.set_state(p, Closed);
                    }
                    out = Closing {
                        close: true,
                        event: true,
                    };
                }
                if flags.rst() {
                    self.set_state(e, Reset);
                    out.close = true;
                    let peer = self.ends[p];
                    if peer.state != Reset || peer.prev_state != Established {
                        self.active = false;
                    }
                }
            }
            Closed => {
                let _ = delta_last;
                if flags.rst() && self.ends[p].state != Closed {
                    self.set_state(e, Reset);
                    if !self.ends[e].did_close {
                        out.close = true;
                    }
                }
            }
            Reset => {}
        }
        out
    }

    /// Zeek's `connection_established` event: the port's inactivity timeout
    /// (base/protocols/conn/inactivity.zeek).
    fn connection_established(&mut self, seg: &TcpSegment<'_>) {
        // The segment is the responder's SYN/ACK: its source port is the responder's.
        let (resp_p, orig_p) = (seg.src_port, seg.dst_port);
        let mut service = resp_p;
        if self.ends[ORIG].state == ZeekState::Inactive
            && !likely_server_port(resp_p)
            && likely_server_port(orig_p)
        {
            service = orig_p;
        }
        if LONG_INACTIVITY_PORTS.contains(&service) {
            self.inactivity = LONG_INACTIVITY;
        }
    }

    /// `ConnectionClosed`: the endpoint's close is noted; once the close is complete the
    /// connection goes `CLOSE_DELAY` after its last packet, else an expiry check waits.
    fn connection_closed(&mut self, e: usize, p: usize, event: bool) {
        if self.ends[e].did_close {
            return;
        }
        self.ends[e].did_close = true;
        let (ep, peer) = (self.ends[e], self.ends[p]);
        let complete =
            ep.state == ZeekState::Reset || peer.did_close || peer.state == ZeekState::Inactive;
        let last = self.last_time.as_nanos();
        if complete {
            if event && (ep.prev_state != ZeekState::Inactive || peer.state != ZeekState::Inactive)
            {
                self.active = false;
            }
            self.attempt_at = NEVER;
            self.expire_at = NEVER;
            self.delete_at = last.saturating_add(CLOSE_DELAY);
        } else if ep.prev_state != ZeekState::Inactive {
            self.expire_at = self.expire_at.min(last.saturating_add(SESSION_TIMER));
        }
    }
}

fn swap_case(c: u8) -> u8 {
    if c.is_ascii_uppercase() {
        c.to_ascii_lowercase()
    } else {
        c.to_ascii_uppercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::flags::TcpFlags;
    use crate::model::seq::Seq;

    const S: u16 = TcpFlags::SYN;
    const A: u16 = TcpFlags::ACK;
    const F: u16 = TcpFlags::FIN;
    const R: u16 = TcpFlags::RST;
    const C_ISN: u32 = 1000;
    const S_ISN: u32 = 5000;

    /// A connection between a client (10.0.0.2:40000) and a server (10.0.0.1:80), fed
    /// segment by segment, a millisecond apart unless told. A second observer is fed the
    /// same segments without header prediction, and must end each one in the same state.
    struct Run {
        z: ZeekObserver,
        general: ZeekObserver,
        /// Segments that header prediction took.
        predicted: u32,
        ms: i64,
        client: &'static str,
        server: &'static str,
        verify: bool,
    }

    impl Run {
        fn new() -> Run {
            Run::between("10.0.0.2:40000", "10.0.0.1:80")
        }

        fn between(client: &'static str, server: &'static str) -> Run {
            Run {
                z: ZeekObserver::default(),
                general: ZeekObserver::default(),
                predicted: 0,
                ms: 0,
                client,
                server,
                verify: false,
            }
        }

        fn seg(
            &self,
            from_client: bool,
            flags: u16,
            seq: u32,
            ack: u32,
            len: u32,
        ) -> TcpSegment<'static> {
            let (src, dst) = if from_client {
                (self.client, self.server)
            } else {
                (self.server, self.client)
            };
            TcpSegment {
                seq: Seq(seq),
                ack: Seq(ack),
                flags: TcpFlags(flags),
                window: 1000,
                payload_len: len,
                ip_len: 40 + len,
                ..TcpSegment::between(src.parse().unwrap(), dst.parse().unwrap())
            }
        }

        fn feed(&mut self, seg: TcpSegment<'_>) -> &mut Self {
            self.ms += 1;
            let at = Timestamp::from_nanos(self.ms * 1_000_000);
            let from_client = seg.src().to_string() == self.client;
            let mut probe = self.z.clone();
            if !self.verify && probe.predicted(from_client, &seg, at) {
                self.predicted += 1;
            }
            self.z.on_segment(from_client, &seg, at, self.verify);
            self.general
                .on_segment_unpredicted(from_client, &seg, at, self.verify);
            assert_eq!(self.z, self.general, "predicted and general paths differ");
            self
        }

        fn c(&mut self, flags: u16, seq: u32, ack: u32, len: u32) -> &mut Self {
            let seg = self.seg(true, flags, seq, ack, len);
            self.feed(seg)
        }

        fn s(&mut self, flags: u16, seq: u32, ack: u32, len: u32) -> &mut Self {
            let seg = self.seg(false, flags, seq, ack, len);
            self.feed(seg)
        }

        /// After `secs` of silence.
        fn wait(&mut self, secs: i64) -> &mut Self {
            self.ms += secs * 1000;
            self
        }

        fn handshake(&mut self) -> &mut Self {
            self.c(S, C_ISN, 0, 0)
                .s(S | A, S_ISN, C_ISN + 1, 0)
                .c(A, C_ISN + 1, S_ISN + 1, 0)
        }

        fn state(&self) -> &'static str {
            self.z.facts().conn_state.as_str()
        }

        fn history(&self) -> String {
            self.z.facts().history.as_str().to_string()
        }
    }

    #[test]
    fn header_prediction_takes_the_next_data_and_acks_and_leaves_the_rest() {
        let mut r = Run::new();
        r.handshake().c(A, C_ISN + 1, S_ISN + 1, 100);
        // The handshake and the first data (its `D` not yet written) take the general path.
        assert_eq!(r.predicted, 0);
        r.c(A, C_ISN + 101, S_ISN + 1, 100)
            .s(A, S_ISN + 1, C_ISN + 201, 0)
            .c(A, C_ISN + 201, S_ISN + 1, 100);
        // The server's first ACK writes its `a`; the client's next data is predicted.
        assert_eq!(r.predicted, 2);
        // A retransmission is predicted too, and writes its `T` as the general path does.
        r.c(A, C_ISN + 201, S_ISN + 1, 100);
        assert_eq!(r.predicted, 3);
        assert_eq!(r.history(), "ShADaT");
        // A zero window, a FIN, and a segment after the inactivity timeout are not.
        r.s(A, S_ISN + 1, C_ISN + 301, 0);
        let before = r.predicted;
        let zero = TcpSegment {
            window: 0,
            ..r.seg(false, A, S_ISN + 1, C_ISN + 301, 0)
        };
        r.feed(zero);
        r.wait(301).c(A, C_ISN + 301, S_ISN + 1, 100);
        r.c(F | A, C_ISN + 401, S_ISN + 1, 0);
        assert_eq!(r.predicted, before);
        assert_eq!(
            r.z.earlier_rows, 1,
            "the timeout started a new Zeek connection"
        );
    }

    #[test]
    fn header_prediction_follows_acks_and_sequence_numbers_across_the_wrap() {
        let mut r = Run::new();
        let (c_isn, s_isn) = (u32::MAX - 150, u32::MAX - 50);
        r.c(S, c_isn, 0, 0)
            .s(S | A, s_isn, c_isn.wrapping_add(1), 0)
            .c(A, c_isn.wrapping_add(1), s_isn.wrapping_add(1), 0);
        let mut seq = c_isn.wrapping_add(1);
        for _ in 0..5 {
            r.c(A, seq, s_isn.wrapping_add(1), 100);
            seq = seq.wrapping_add(100);
            r.s(A, s_isn.wrapping_add(1), seq, 0);
        }
        assert!(r.predicted >= 6, "predicted: {}", r.predicted);
        let f = r.z.facts();
        assert_eq!(f.orig.bytes, 500);
        assert_eq!(r.z.ends[ORIG].seq_wraps, 1);
        assert_eq!(r.z.ends[ORIG].ack_wraps, 1);
    }

    #[test]
    fn normal_close_is_sf_with_the_usual_history_and_counts() {
        let mut r = Run::new();
        r.handshake()
            .c(A, C_ISN + 1, S_ISN + 1, 100)
            .s(A, S_ISN + 1, C_ISN + 101, 300)
            .c(F | A, C_ISN + 101, S_ISN + 301, 0)
            .s(F | A, S_ISN + 301, C_ISN + 102, 0)
            .c(A, C_ISN + 102, S_ISN + 302, 0);
        let f = r.z.facts();
        assert_eq!(r.state(), "SF");
        // The server's first segment after the handshake carries data: no `a`.
        assert_eq!(r.history(), "ShADdFf");
        assert!(f.orig_is_client);
        assert_eq!(
            (f.orig.packets, f.orig.ip_bytes, f.orig.bytes),
            (5, 300, 100)
        );
        assert_eq!(
            (f.resp.packets, f.resp.ip_bytes, f.resp.bytes),
            (3, 420, 300)
        );
        // The last ACK comes after both FINs: it is not productive.
        assert_eq!(f.duration, std::time::Duration::from_millis(6));
        assert_eq!(f.earlier_rows, 0);
    }

    #[test]
    fn each_conn_state() {
        let mut r = Run::new();
        r.c(S, C_ISN, 0, 0);
        assert_eq!((r.state(), r.history().as_str()), ("S0", "S"));

        let mut r = Run::new();
        r.handshake();
        assert_eq!((r.state(), r.history().as_str()), ("S1", "ShA"));

        let mut r = Run::new();
        r.c(S, C_ISN, 0, 0).s(R | A, 0, C_ISN + 1, 0);
        assert_eq!((r.state(), r.history().as_str()), ("REJ", "Sr"));

        let mut r = Run::new();
        r.handshake().c(F | A, C_ISN + 1, S_ISN + 1, 0);
        assert_eq!(r.state(), "S2");

        let mut r = Run::new();
        r.handshake().s(F | A, S_ISN + 1, C_ISN + 1, 0);
        assert_eq!(r.state(), "S3");

        let mut r = Run::new();
        r.handshake().c(R | A, C_ISN + 1, S_ISN + 1, 0);
        assert_eq!((r.state(), r.history().as_str()), ("RSTO", "ShAR"));

        let mut r = Run::new();
        r.handshake().s(R | A, S_ISN + 1, C_ISN + 1, 0);
        assert_eq!((r.state(), r.history().as_str()), ("RSTR", "ShAr"));

        let mut r = Run::new();
        r.c(S, C_ISN, 0, 0).c(R, C_ISN + 1, 0, 0);
        assert_eq!((r.state(), r.history().as_str()), ("RSTOS0", "SR"));

        // Only the server seen: its SYN/ACK from port 80 makes it the responder.
        let mut r = Run::new();
        r.s(S | A, S_ISN, C_ISN + 1, 0).s(R, S_ISN + 1, 0, 0);
        assert_eq!((r.state(), r.history().as_str()), ("RSTRH", "^hr"));

        let mut r = Run::new();
        r.c(S, C_ISN, 0, 0).c(F, C_ISN + 1, 0, 0);
        assert_eq!((r.state(), r.history().as_str()), ("SH", "SF"));

        let mut r = Run::new();
        r.s(S | A, S_ISN, C_ISN + 1, 0)
            .s(F | A, S_ISN + 1, C_ISN + 1, 0);
        assert_eq!((r.state(), r.history().as_str()), ("SHR", "^hf"));

        let mut r = Run::new();
        r.c(A, C_ISN + 1, S_ISN + 1, 10)
            .s(A, S_ISN + 1, C_ISN + 11, 20);
        assert_eq!((r.state(), r.history().as_str()), ("OTH", "Dd"));
    }

    #[test]
    fn a_d_i_q_are_written_once_per_direction() {
        let mut r = Run::new();
        r.handshake();
        for i in 0..5 {
            r.c(A, C_ISN + 1 + i * 10, S_ISN + 1, 10);
            r.s(A, S_ISN + 1, C_ISN + 11 + i * 10, 0);
        }
        assert_eq!(r.history(), "ShADa");

        let mut r = Run::new();
        r.handshake()
            .c(F | R | A, C_ISN + 1, S_ISN + 1, 0)
            .c(F | R | A, C_ISN + 2, S_ISN + 1, 0);
        assert_eq!(r.history(), "ShAI");
        let mut r = Run::new();
        r.c(S | F, C_ISN, 0, 0)
            .c(S | F, C_ISN, 0, 0)
            .s(S | R | A, S_ISN, C_ISN + 1, 0);
        assert_eq!(r.history(), "Qq");
    }

    #[test]
    fn f_h_r_s_repeat_only_on_a_new_sequence_number() {
        // A retransmitted SYN/ACK is one h. A SYN/ACK with another ISN restarts the
        // server's numbering (relative 0 again: no new h), unless the server reset, whose
        // numbers Zeek no longer moves: then it is 401 past the last and written again.
        let mut r = Run::new();
        r.c(S, C_ISN, 0, 0)
            .s(S | A, S_ISN, C_ISN + 1, 0)
            .s(S | A, S_ISN, C_ISN + 1, 0)
            .s(S | A, S_ISN + 99, C_ISN + 1, 0);
        assert_eq!(r.history(), "Sh");
        r.s(R, S_ISN + 100, 0, 0)
            .s(S | A, S_ISN + 500, C_ISN + 1, 0);
        assert_eq!(r.history(), "Shrh");
        // The same SYN again is one S (a new ISN would be a new connection: `is_reuse`).
        let mut r = Run::new();
        r.c(S, C_ISN, 0, 0).c(S, C_ISN, 0, 0);
        assert_eq!(r.history(), "S");
        // A FIN retransmitted is one F; a FIN after more data is another.
        let mut r = Run::new();
        r.handshake()
            .c(F | A, C_ISN + 1, S_ISN + 1, 0)
            .c(F | A, C_ISN + 1, S_ISN + 1, 0)
            .c(F | A, C_ISN + 1, S_ISN + 1, 5);
        assert_eq!(r.history(), "ShAFF");
        // Two RSTs at one sequence number are one R.
        let mut r = Run::new();
        r.handshake()
            .s(R, S_ISN + 1, 0, 0)
            .s(R, S_ISN + 1, 0, 0)
            .s(R, S_ISN + 50, 0, 0);
        assert_eq!(r.history(), "ShArr");
    }

    #[test]
    fn c_g_t_w_are_logarithmic() {
        // Retransmissions: the 1st, the 10th and the 100th write a letter.
        let mut r = Run::new();
        r.handshake().c(A, C_ISN + 1, S_ISN + 1, 10);
        r.c(A, C_ISN + 1, S_ISN + 1, 10);
        assert_eq!(r.history(), "ShADT");
        for _ in 0..9 {
            r.c(A, C_ISN + 1, S_ISN + 1, 10);
        }
        assert_eq!(r.history(), "ShADTT");
        for _ in 0..90 {
            r.c(A, C_ISN + 1, S_ISN + 1, 10);
        }
        assert_eq!(r.history(), "ShADTTT");
        assert_eq!(r.z.facts().orig.bytes, 10, "retransmissions add no bytes");

        // Zero windows from the server.
        let mut r = Run::new();
        r.handshake();
        for _ in 0..10 {
            let mut seg = r.seg(false, A, S_ISN + 1, C_ISN + 1, 0);
            seg.window = 0;
            r.feed(seg);
        }
        // The letters of a segment come before its window's.
        assert_eq!(r.history(), "ShAaww");

        // Bad checksums, when verified: left out of the state and the counts. (Not SYNs:
        // one with a bad checksum never sets the ISN, so the next looks like a new ISN,
        // which Zeek takes for a new connection.)
        let mut r = Run::between("10.0.0.2:40000", "10.0.0.1:4000");
        r.verify = true;
        for _ in 0..10 {
            let mut seg = r.seg(true, A, C_ISN, 1, 5);
            seg.payload = b"hello";
            seg.header_sum = 0x1234;
            assert_eq!(seg.checksum_ok(), Some(false));
            r.feed(seg);
        }
        let f = r.z.facts();
        assert_eq!((f.history.as_str(), f.orig.packets), ("CC", 0));
        assert_eq!(r.state(), "OTH");
    }

    #[test]
    fn midstream_from_a_likely_server_port_is_flipped() {
        let mut r = Run::new();
        r.s(A, S_ISN + 1, C_ISN + 1, 100)
            .c(A, C_ISN + 1, S_ISN + 101, 0);
        let f = r.z.facts();
        assert!(f.orig_is_client, "the client is the originator");
        assert_eq!(r.history(), "^dA");
        assert_eq!((f.orig.packets, f.resp.packets), (1, 1));
        assert_eq!(f.resp.bytes, 100);

        // From neither likely port: the first sender is the originator.
        let mut r = Run::between("10.0.0.2:40000", "10.0.0.1:4000");
        r.s(A, S_ISN + 1, C_ISN + 1, 100);
        assert!(!r.z.facts().orig_is_client);
        assert_eq!(r.history(), "D");

        // Both likely: a non-SYN is flipped towards the higher port only.
        let mut r = Run::between("10.0.0.2:8080", "10.0.0.1:80");
        r.s(A, S_ISN + 1, C_ISN + 1, 100);
        assert!(r.z.facts().orig_is_client);
        assert_eq!(r.history(), "^d");
    }

    #[test]
    fn a_synack_first_is_flipped_when_the_other_side_answers() {
        // 8000 and 1080 are both likely: the SYN/ACK alone is not flipped...
        let mut r = Run::between("127.0.0.1:1080", "44.1.1.1:8000");
        r.s(S | A, S_ISN, C_ISN + 1, 0);
        assert_eq!(r.history(), "H");
        assert!(!r.z.facts().orig_is_client);
        // ...the client's ACK shows who is who, and Zeek logs it flipped from the start.
        r.c(A, C_ISN + 1, S_ISN + 1, 0)
            .c(A, C_ISN + 1, S_ISN + 1, 50)
            .s(A, S_ISN + 1, C_ISN + 51, 0);
        let f = r.z.facts();
        assert!(f.orig_is_client);
        assert_eq!(r.history(), "^hADa");
        assert_eq!((f.orig.packets, f.resp.packets), (2, 2));
        assert_eq!(f.orig.bytes, 50);
    }

    #[test]
    fn a_synack_before_its_syn_flips_the_roles() {
        let mut r = Run::between("10.0.0.2:40000", "10.0.0.1:4000");
        r.s(S | A, S_ISN, C_ISN + 1, 0).c(S, C_ISN, 0, 0);
        let f = r.z.facts();
        assert!(f.orig_is_client);
        assert_eq!(r.history(), "Hs^");
    }

    #[test]
    fn zeek_timers_start_another_connection() {
        // An unanswered SYN is let go of after 5 s: the data after it is another row.
        let mut r = Run::new();
        r.c(S, C_ISN, 0, 0)
            .c(A, C_ISN + 1, S_ISN + 1, 10)
            .wait(6)
            .c(A, C_ISN + 11, S_ISN + 1, 10);
        let f = r.z.facts();
        assert_eq!(f.earlier_rows, 1);
        assert_eq!((f.conn_state.as_str(), f.history.as_str()), ("OTH", "D"));
        assert_eq!(f.orig.packets, 1);

        // A closed connection goes 5 s after its close; a late segment is another row.
        let mut r = Run::new();
        r.handshake()
            .c(F | A, C_ISN + 1, S_ISN + 1, 0)
            .s(F | A, S_ISN + 1, C_ISN + 2, 0)
            .wait(4)
            .c(A, C_ISN + 2, S_ISN + 2, 0);
        assert_eq!(r.z.facts().earlier_rows, 0);
        r.wait(2).c(A, C_ISN + 2, S_ISN + 2, 0);
        assert_eq!(r.z.facts().earlier_rows, 1);

        // An established connection idle for 5 min is let go of; SSH's port keeps it 1 h.
        let mut r = Run::new();
        r.handshake().wait(301).c(A, C_ISN + 1, S_ISN + 1, 5);
        assert_eq!(r.z.facts().earlier_rows, 1);
        let mut r = Run::between("10.0.0.2:40000", "10.0.0.1:22");
        r.handshake().wait(301).c(A, C_ISN + 1, S_ISN + 1, 5);
        assert_eq!(r.z.facts().earlier_rows, 0);
        assert_eq!(r.history(), "ShAD");
    }

    #[test]
    fn a_syn_after_a_close_is_a_new_connection() {
        let mut r = Run::new();
        r.c(S, C_ISN, 0, 0)
            .s(R | A, 0, C_ISN + 1, 0)
            .c(S, C_ISN, 0, 0);
        let f = r.z.facts();
        assert_eq!(f.earlier_rows, 1);
        assert_eq!((f.conn_state.as_str(), f.history.as_str()), ("S0", "S"));
    }

    #[test]
    fn a_segment_whose_header_was_cut_counts_nowhere() {
        let mut r = Run::new();
        let mut seg = r.seg(true, S, C_ISN, 0, 0);
        seg.header_len = 40;
        r.feed(seg);
        let f = r.z.facts();
        assert_eq!((f.history.as_str(), f.orig.packets), ("", 0));
        assert_eq!(f.conn_state.as_str(), "OTH");
    }
}
