//! Out-of-sequence segments told apart by evidence (docs/metrics.md, "Retransmissions
//! and reordering by evidence"), after Jaiswal et al., "Measurement and classification
//! of out-of-sequence packets in a tier-1 IP backbone" (IEEE/ACM ToN 2007) and Rewaskar,
//! Kaur and Smith, "A passive state-machine approach for accurate analysis of TCP
//! out-of-sequence segments" (CCR 2006).
//!
//! A segment below the sender's highest sequence number either fills a *hole* (sequence
//! space the capture never saw, then saw beyond) or repeats what the capture saw. A hole
//! is filled by a late original (reordering) or by a retransmission of a segment lost
//! before the capture point; which one, the evidence tells, in this order: the TSval (a
//! resent segment carries a newer one than the segment that jumped the hole; a late
//! original does not), the IPv4 ID (a sender that numbers its packets in order gives the
//! resent one a higher ID), and timing only when neither exists (filled within an RTT of
//! the hole opening: reordering). A repeat is a network duplicate when it carries the
//! IP ID and TSval of the segment it repeats, otherwise a retransmission of a segment
//! lost after the capture point, or a spurious one when the receiver already had it.
//!
//! Memory: most connections never send anything out of sequence, so what every segment
//! needs (the IP ID steps, the last segment, when it was sent) is inline and small, and
//! the rest — counts, holes, recent segments and retransmissions — is one allocation
//! (`Lapses`), made the first time a sender needs it and dropped with the connection.
//! All of it is fixed-size; what does not fit is forgotten (docs/metrics.md says what
//! that costs).

use std::time::Duration;

pub use crate::model::loss::{LossCounts, OrderingEvidence};
use crate::model::seq::Seq;
use crate::model::time::Timestamp;

/// Holes remembered per sender: real links leave up to 7 open at once (fixtures/truth/);
/// when a new one does not fit, the highest is forgotten, since a receiver's ACKs and a
/// sender's resends fill the lowest first.
pub const HOLES: usize = 16;
/// Recent segments remembered per sender, to recognise a network duplicate: a copy can
/// trail its original by 18 of the sender's segments (fixtures/truth/dup-ts).
pub const RECENT: usize = 32;
/// Recent retransmissions remembered per sender, for a D-SACK to call spurious.
pub const RESENT: usize = 8;
/// A connection quiet this long forgets its recent segments and IP IDs: a copy does not
/// trail its original by a second, and after a quiet second a host's IP ID has numbered
/// other packets. `crate::store` relies on it: a connection goes dormant only after a
/// longer quiet, so what is forgotten here is not kept there.
pub const RECENT_FOR: Duration = Duration::from_secs(1);

/// Linux's minimum retransmission timeout: a silence this long is RTO-sized whatever the
/// RTT (`timeout_silence`).
const RTO_MIN: Duration = Duration::from_millis(200);
/// The smallest minimum RTO among common stacks (FreeBSD's 30 ms).
const RTO_FLOOR: Duration = Duration::from_millis(30);

/// What a segment carries that orders it: its TSval and IPv4 ID (0: none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stamp {
    pub tsval: Option<u32>,
    pub ip_id: u16,
}

/// The verdict on one out-of-sequence segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Retransmission(RetransmissionKind),
    Reordering,
    NetworkDuplicate,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetransmissionKind {
    Fast,
    Timeout,
    TailLossProbe,
    Unclassified,
}

/// Which loss recovery the sender is in, as its retransmissions show: the ones that
/// follow the first in one episode are of its kind (Linux resends the rest of a window
/// after an RTO without a new silence, and the rest of a SACK recovery after ACKs that
/// move).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Recovery {
    #[default]
    None,
    Fast,
    Timeout,
}

/// Sequence space above which the capture saw data but not the space itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Hole {
    pub start: Seq,
    pub end: Seq,
    /// When the segment beyond it passed, and what that segment carried.
    pub opened: Timestamp,
    pub jumper: Stamp,
}

/// A segment seen (one that occupies sequence space): enough to recognise its copy.
/// 12 bytes: the TSval's presence is `Evidence::last_tsval` / `Lapses::tsvals`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    pub seq: Seq,
    pub tsval: u32,
    pub ip_id: u16,
    /// Sequence space it occupies (SYN and FIN count one), at most 65535.
    pub len: u16,
}

impl Seen {
    fn of(seq: Seq, seq_len: u32, stamp: Stamp) -> Seen {
        Seen {
            seq,
            tsval: stamp.tsval.unwrap_or(0),
            ip_id: stamp.ip_id,
            len: seq_len.min(u32::from(u16::MAX)) as u16,
        }
    }
}

/// A retransmission a D-SACK may later call spurious.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resent {
    pub start: Seq,
    pub end: Seq,
    /// Counted in `lost_after_capture` (taken back if it proves spurious).
    pub lost_after: bool,
}

/// What a sender's lapses leave to remember: made on its first out-of-sequence segment,
/// hole, or SACK block (as a receiver), never per packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lapses {
    pub counts: LossCounts,
    /// Open holes, lowest first (each opens above the ones before, and a fill keeps the
    /// order); `holes[..open]`.
    pub holes: [Hole; HOLES],
    pub open: u8,
    /// Its segments since this was made, a ring: `recent[..recent_len]`, the next one
    /// written at `recent_next`.
    pub recent: [Seen; RECENT],
    pub recent_len: u8,
    pub recent_next: u8,
    /// Every byte at or above this was first sent after `recent` began (so its copy would
    /// be there); `None` until its first segment since.
    pub recent_from: Option<Seq>,
    /// The newest TSval among its segments since `recent` began, if any carried one.
    pub newest_tsval: Option<u32>,
    /// Its latest retransmissions not called spurious, oldest first: `resent[..resent_len]`.
    pub resent: [Resent; RESENT],
    pub resent_len: u8,
    /// Highest right edge of the SACK blocks it sent (as a receiver).
    pub sack_high: Option<Seq>,
    pub recovery: Recovery,
    /// The recovery lasts until the peer acknowledges this (the highest sequence when it
    /// began, as RFC 6582's `recover`); zero when there is none.
    pub recover: Seq,
}

impl Lapses {
    pub(crate) fn new(recent_from: Option<Seq>) -> Lapses {
        Lapses {
            counts: LossCounts::default(),
            holes: [Hole::default(); HOLES],
            open: 0,
            recent: [Seen::default(); RECENT],
            recent_len: 0,
            recent_next: 0,
            recent_from,
            newest_tsval: None,
            resent: [Resent::default(); RESENT],
            resent_len: 0,
            sack_high: None,
            recovery: Recovery::None,
            recover: Seq(0),
        }
    }

    pub fn holes(&self) -> &[Hole] {
        &self.holes[..usize::from(self.open)]
    }

    pub fn recent(&self) -> &[Seen] {
        &self.recent[..usize::from(self.recent_len)]
    }

    pub fn resent(&self) -> &[Resent] {
        &self.resent[..usize::from(self.resent_len)]
    }

    /// Puts `hole` in its place by sequence; when all are taken, the highest goes.
    fn insert_hole(&mut self, hole: Hole) {
        let open = usize::from(self.open);
        let at = self.holes[..open]
            .iter()
            .position(|h| hole.start.lt(h.start))
            .unwrap_or(open);
        if at == HOLES {
            return;
        }
        let last = open.min(HOLES - 1);
        self.holes.copy_within(at..last, at + 1);
        self.holes[at] = hole;
        self.open = (open + 1).min(HOLES) as u8;
    }

    fn remove_hole(&mut self, at: usize) {
        let open = usize::from(self.open);
        self.holes.copy_within(at + 1..open, at);
        // What is past the end stays at its default, so that equal states compare equal.
        self.holes[open - 1] = Hole::default();
        self.open -= 1;
    }

    /// The hole the segment [seq, end) falls in, if any, shrunk by what it fills (a
    /// segment inside it leaves two).
    fn fill(&mut self, seq: Seq, end: Seq) -> Option<Hole> {
        let i = self
            .holes()
            .iter()
            .position(|h| seq.lt(h.end) && end.gt(h.start))?;
        let h = self.holes[i];
        match (seq.le(h.start), end.ge(h.end)) {
            (true, true) => self.remove_hole(i),
            (true, false) => self.holes[i].start = end,
            (false, true) => self.holes[i].end = seq,
            (false, false) => {
                self.holes[i].end = seq;
                self.insert_hole(Hole { start: end, ..h });
            }
        }
        Some(h)
    }

    fn remember(&mut self, seen: Seen, tsval: Option<u32>) {
        let i = usize::from(self.recent_next);
        self.recent[i] = seen;
        self.recent_next = ((i + 1) % RECENT) as u8;
        self.recent_len = (usize::from(self.recent_len) + 1).min(RECENT) as u8;
        self.recent_from.get_or_insert(seen.seq);
        if let Some(ts) = tsval {
            if self
                .newest_tsval
                .is_none_or(|n| newer32(ts, n) == std::cmp::Ordering::Greater)
            {
                self.newest_tsval = Some(ts);
            }
        }
    }

    fn forget_recent(&mut self) {
        self.recent = [Seen::default(); RECENT];
        self.recent_len = 0;
        self.recent_next = 0;
        self.recent_from = None;
        self.newest_tsval = None;
    }

    /// Per retransmission, not per packet: shifting 8 entries is nothing.
    fn remember_resent(&mut self, r: Resent) {
        let mut n = usize::from(self.resent_len);
        if n == RESENT {
            self.resent.copy_within(1.., 0);
            n -= 1;
        }
        self.resent[n] = r;
        self.resent_len = (n + 1) as u8;
    }
}

/// One sender's evidence and what it made of its segments. Inline, what every segment
/// reads or writes (48 bytes); the rest in `lapses`, once needed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Evidence {
    pub lapses: Option<Box<Lapses>>,
    /// When it last sent a segment that occupies sequence space (new or resent): the
    /// start of a silence.
    pub last_sent_at: Option<Timestamp>,
    /// Its latest segment that occupies sequence space (since a quiet `RECENT_FOR`), and
    /// whether it carried a TSval.
    pub last: Seen,
    pub last_tsval: bool,
    /// Its data segments carried TSvals.
    pub timestamps: bool,
    /// The IP ID of its latest packet (0: none since a quiet `RECENT_FOR`).
    pub last_ip_id: u16,
    /// Consecutive packets whose IPv4 ID rose by a little, and the others (saturating):
    /// IDs are evidence only from a sender that numbers its packets in order.
    pub ip_id_rising: u16,
    pub ip_id_other: u16,
}

/// Serial comparison of two TSvals (RFC 7323 §5.2) or IP IDs: which is newer.
fn newer32(a: u32, b: u32) -> std::cmp::Ordering {
    (a.wrapping_sub(b) as i32).cmp(&0)
}

fn newer16(a: u16, b: u16) -> std::cmp::Ordering {
    (a.wrapping_sub(b) as i16).cmp(&0)
}

fn bump(n: &mut u32) {
    *n = n.saturating_add(1);
}

/// What the classifier needs to know of the rest of the connection when a sender's
/// segment is out of sequence.
#[derive(Clone, Copy, Debug)]
pub struct Context {
    /// The sender's highest sequence number so far, and when it last advanced (the
    /// start of a silence when no segment was seen since).
    pub next: Seq,
    pub next_at: Option<Timestamp>,
    /// The peer's cumulative ACK and its duplicate ACKs in a row.
    pub peer_ack: Option<Seq>,
    pub peer_dup_acks: u32,
    /// The peer's highest SACK edge.
    pub peer_sack_high: Option<Seq>,
    /// The end-to-end RTT, if known.
    pub rtt: Option<Duration>,
    /// Timing's threshold without an RTT (Wireshark's 3 ms).
    pub default_rtt: Duration,
}

impl Evidence {
    /// What the evidence made of its out-of-sequence segments.
    pub fn counts(&self) -> LossCounts {
        self.lapses.as_ref().map(|l| l.counts).unwrap_or_default()
    }

    /// Highest right edge of the SACK blocks it sent (as a receiver).
    pub fn sack_high(&self) -> Option<Seq> {
        self.lapses.as_ref().and_then(|l| l.sack_high)
    }

    /// The evidence it had for ordering its segments.
    pub fn ordering(&self) -> OrderingEvidence {
        if self.timestamps {
            OrderingEvidence::Timestamps
        } else if self.ip_id_usable() {
            OrderingEvidence::IpId
        } else {
            OrderingEvidence::Timing
        }
    }

    /// IPv4 IDs order its packets: more than half rose by a little from the one before
    /// (a reordering makes one step back; random IDs rise by 1 to 1023 one time in 64).
    fn ip_id_usable(&self) -> bool {
        self.ip_id_rising >= 2 && self.ip_id_rising > self.ip_id_other
    }

    /// The lapses, made now if it has none: `next` is its highest sequence number, below
    /// which its recent segments are not known.
    fn lapses_mut(&mut self, next: Option<Seq>) -> &mut Lapses {
        self.lapses
            .get_or_insert_with(|| Box::new(Lapses::new(next)))
    }

    /// The connection was quiet for `RECENT_FOR`: its recent segments and IP IDs are no
    /// evidence any more.
    #[inline]
    pub fn forget_recent(&mut self) {
        self.last = Seen::default();
        self.last_tsval = false;
        self.last_ip_id = 0;
        if let Some(l) = &mut self.lapses {
            l.forget_recent();
        }
    }

    /// Any segment it sends: what orders it. On the per-packet path: no allocation, a few
    /// compares.
    #[inline]
    pub fn on_sent(
        &mut self,
        seq: Seq,
        seq_len: u32,
        payload_len: u32,
        stamp: Stamp,
        at: Timestamp,
    ) {
        if stamp.ip_id != 0 {
            let step = stamp.ip_id.wrapping_sub(self.last_ip_id);
            if self.last_ip_id != 0 {
                if (1..1024).contains(&step) {
                    self.ip_id_rising = self.ip_id_rising.saturating_add(1);
                } else {
                    self.ip_id_other = self.ip_id_other.saturating_add(1);
                }
            }
            self.last_ip_id = stamp.ip_id;
        }
        if payload_len > 0 {
            self.timestamps |= stamp.tsval.is_some();
        }
        if seq_len > 0 {
            self.last_sent_at = Some(at);
            self.last = Seen::of(seq, seq_len, stamp);
            self.last_tsval = stamp.tsval.is_some();
            if let Some(l) = &mut self.lapses {
                l.remember(self.last, stamp.tsval);
            }
        }
    }

    /// A segment beyond the sender's highest sequence number: the space between was not
    /// seen (lost before the capture point, or still to come).
    pub fn on_jump(
        &mut self,
        next: Seq,
        seq: Seq,
        at: Timestamp,
        stamp: Stamp,
        peer_ack: Option<Seq>,
    ) {
        let l = self.lapses_mut(Some(next));
        // Holes the receiver has acknowledged are filled (the capture missed it).
        if let Some(ack) = peer_ack {
            while l.open > 0 && l.holes[0].end.le(ack) {
                l.remove_hole(0);
            }
        }
        l.insert_hole(Hole {
            start: next,
            end: seq,
            opened: at,
            jumper: stamp,
        });
    }

    /// A copy of a segment seen: the same sequence, length, IP ID and TSval, with at
    /// least one of those two present to say so. Its recent segments tell; for what
    /// they cannot (sent before they began), the stamps do: a copy carries what its
    /// original did, so it is no newer than the newest seen, where a resend, sent after
    /// everything seen, is newer.
    fn is_copy(&self, seq: Seq, seq_len: u32, stamp: Stamp) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        if stamp.tsval.is_none() && stamp.ip_id == 0 {
            return false;
        }
        let seen = Seen::of(seq, seq_len, stamp);
        if seen == self.last && stamp.tsval.is_some() == self.last_tsval {
            return true;
        }
        let newest_tsval = match &self.lapses {
            Some(l) => {
                if l.recent().contains(&seen) {
                    return true;
                }
                if l.recent_from.is_some_and(|from| seq.ge(from)) {
                    return false;
                }
                l.newest_tsval
                    .or_else(|| self.last_tsval.then_some(self.last.tsval))
            }
            // Nothing out of sequence yet: its segments came in order, the latest newest.
            None => self.last_tsval.then_some(self.last.tsval),
        };
        if let (Some(ts), Some(newest)) = (stamp.tsval, newest_tsval) {
            match newer32(ts, newest) {
                Less => return true,
                Greater => return false,
                Equal => {}
            }
        }
        stamp.ip_id != 0
            && self.last_ip_id != 0
            && self.ip_id_usable()
            && newer16(stamp.ip_id, self.last_ip_id) == Less
    }

    /// Classifies one segment [seq, seq + seq_len) below the sender's highest sequence
    /// number, counts it, and returns the verdict. `data` says whether it carries
    /// payload (a SYN or a bare FIN is never a tail-loss probe).
    #[allow(clippy::too_many_arguments)]
    pub fn classify(
        &mut self,
        seq: Seq,
        seq_len: u32,
        payload_len: u32,
        syn: bool,
        stamp: Stamp,
        at: Timestamp,
        cx: &Context,
    ) -> Verdict {
        let end = seq.wrapping_add(seq_len);
        let copy = self.is_copy(seq, seq_len, stamp);
        let ip_id_usable = self.ip_id_usable();
        let last_sent_at = self.last_sent_at;
        let l = self.lapses_mut(Some(cx.next));
        if copy {
            bump(&mut l.counts.network_duplicates);
            return Verdict::NetworkDuplicate;
        }
        let filled = l.fill(seq, end);
        if let Some(hole) = filled {
            if !resent_not_original(&hole, stamp, ip_id_usable, at, cx) {
                bump(&mut l.counts.out_of_order);
                return Verdict::Reordering;
            }
        }
        if l.recovery != Recovery::None && cx.peer_ack.is_some_and(|a| a.ge(l.recover)) {
            l.recovery = Recovery::None;
            l.recover = Seq(0);
        }
        let kind = l.kind(seq, end, payload_len > 0 && !syn, last_sent_at, at, cx);
        l.counts_kind(kind);
        let spurious =
            payload_len > 0 && filled.is_none() && cx.peer_ack.is_some_and(|a| end.le(a));
        if spurious {
            bump(&mut l.counts.spurious);
        } else if filled.is_some() {
            bump(&mut l.counts.lost_before_capture);
        } else {
            bump(&mut l.counts.lost_after_capture);
        }
        // A D-SACK reports data, never a SYN.
        if !spurious && !syn {
            l.remember_resent(Resent {
                start: seq,
                end,
                lost_after: filled.is_none(),
            });
        }
        self.last_sent_at = Some(at);
        Verdict::Retransmission(kind)
    }

    /// A D-SACK from the peer (RFC 2883) reports [start, end) received twice: the
    /// retransmission of it, if remembered, was spurious.
    pub fn on_dsack(&mut self, start: Seq, end: Seq) {
        let Some(l) = &mut self.lapses else { return };
        let Some(i) = l
            .resent()
            .iter()
            .position(|r| r.start.lt(end) && r.end.gt(start))
        else {
            return;
        };
        let r = l.resent[i];
        bump(&mut l.counts.spurious);
        if r.lost_after {
            l.counts.lost_after_capture = l.counts.lost_after_capture.saturating_sub(1);
        }
        // Reported once: the entry goes.
        let n = usize::from(l.resent_len);
        l.resent.copy_within(i + 1..n, i);
        l.resent[n - 1] = Resent::default();
        l.resent_len -= 1;
    }

    /// The SACK blocks it sent with cumulative ACK `ack`: the highest edge, and whether
    /// the first block is a D-SACK (below the ACK, or inside the second block). `next`
    /// is its own highest sequence number.
    pub fn on_sack(
        &mut self,
        ack: Seq,
        blocks: &[(Seq, Seq)],
        next: Option<Seq>,
    ) -> Option<(Seq, Seq)> {
        let &(first_start, first_end) = blocks.first()?;
        for &(_, right) in blocks {
            if right.gt(ack) {
                let l = self.lapses_mut(next);
                l.sack_high = Some(l.sack_high.map_or(right, |h| h.max(right)));
            }
        }
        let inside_second = blocks
            .get(1)
            .is_some_and(|&(s, e)| first_start.ge(s) && first_end.le(e));
        (first_end.le(ack) || inside_second).then_some((first_start, first_end))
    }
}

/// Whether a segment that fills `hole` was sent after the segment that opened it (a
/// retransmission) rather than before (a late original): TSval, then IP ID, then timing.
fn resent_not_original(
    hole: &Hole,
    stamp: Stamp,
    ip_id_usable: bool,
    at: Timestamp,
    cx: &Context,
) -> bool {
    use std::cmp::Ordering::{Greater, Less};
    if let (Some(now), Some(then)) = (stamp.tsval, hole.jumper.tsval) {
        match newer32(now, then) {
            Greater => return true,
            Less => return false,
            // The same clock tick: the sender's clock is too coarse for this RTT.
            _ => {}
        }
    }
    if ip_id_usable && stamp.ip_id != 0 && hole.jumper.ip_id != 0 {
        match newer16(stamp.ip_id, hole.jumper.ip_id) {
            Greater => return true,
            Less => return false,
            _ => {}
        }
    }
    // A resent segment comes at least a round trip after the hole opened (the
    // receiver's duplicate ACKs, or the sender's timer, come first).
    let since = at.checked_since(hole.opened).unwrap_or_default();
    since >= cx.rtt.unwrap_or(cx.default_rtt)
}

impl Lapses {
    fn kind(
        &mut self,
        seq: Seq,
        end: Seq,
        data: bool,
        last_sent_at: Option<Timestamp>,
        at: Timestamp,
        cx: &Context,
    ) -> RetransmissionKind {
        let dup_acked = cx.peer_dup_acks >= 2 && cx.peer_ack.is_some_and(|a| a.le(seq));
        let sacked_above = match (cx.peer_sack_high, cx.peer_ack) {
            (Some(high), Some(ack)) => high.gt(ack) && high.gt(seq),
            _ => false,
        };
        let silence = last_sent_at
            .or(cx.next_at)
            .and_then(|t| at.checked_since(t))
            .unwrap_or_default();
        let rto_sized = silence >= timeout_silence(cx.rtt);
        let in_fast_recovery = self.recovery == Recovery::Fast && !rto_sized;
        let kind = if dup_acked || sacked_above || in_fast_recovery {
            RetransmissionKind::Fast
        } else if self.recovery == Recovery::Timeout {
            RetransmissionKind::Timeout
        } else if data && end == cx.next && silence < RTO_MIN.max(timeout_silence(cx.rtt)) {
            // The last segment resent alone before an RTO could have fired (RFC 8985
            // §7: the probe timeout is about two RTTs).
            RetransmissionKind::TailLossProbe
        } else if rto_sized {
            RetransmissionKind::Timeout
        } else {
            RetransmissionKind::Unclassified
        };
        match kind {
            RetransmissionKind::Fast if self.recovery == Recovery::None => {
                self.recovery = Recovery::Fast;
                self.recover = cx.next;
            }
            RetransmissionKind::Timeout if self.recovery != Recovery::Timeout => {
                self.recovery = Recovery::Timeout;
                self.recover = cx.next;
            }
            _ => {}
        }
        kind
    }

    fn counts_kind(&mut self, kind: RetransmissionKind) {
        let c = &mut self.counts;
        bump(match kind {
            RetransmissionKind::Fast => &mut c.fast,
            RetransmissionKind::Timeout => &mut c.timeout,
            RetransmissionKind::TailLossProbe => &mut c.tail_loss_probe,
            RetransmissionKind::Unclassified => &mut c.unclassified,
        });
    }
}

/// How long a silence must be to be taken for an RTO: twice the RTT, and at least the
/// smallest common minimum RTO; without an RTT, Linux's minimum RTO.
fn timeout_silence(rtt: Option<Duration>) -> Duration {
    match rtt {
        Some(rtt) => (rtt * 2).max(RTO_FLOOR),
        None => RTO_MIN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: i64) -> Timestamp {
        Timestamp::from_nanos(1_000_000_000 + n * 1_000_000)
    }

    fn cx(next: u32) -> Context {
        Context {
            next: Seq(next),
            next_at: Some(ms(0)),
            peer_ack: Some(Seq(1000)),
            peer_dup_acks: 0,
            peer_sack_high: None,
            rtt: Some(Duration::from_millis(20)),
            default_rtt: Duration::from_millis(3),
        }
    }

    fn ts(v: u32) -> Stamp {
        Stamp {
            tsval: Some(v),
            ip_id: 0,
        }
    }

    fn id(v: u16) -> Stamp {
        Stamp {
            tsval: None,
            ip_id: v,
        }
    }

    fn both(tsval: u32, ip_id: u16) -> Stamp {
        Stamp {
            tsval: Some(tsval),
            ip_id,
        }
    }

    fn holes(e: &Evidence) -> Vec<(u32, u32)> {
        e.lapses
            .as_ref()
            .map(|l| l.holes().iter().map(|h| (h.start.0, h.end.0)).collect())
            .unwrap_or_default()
    }

    /// A sender whose segments 1000..1100 were not seen, then 1100..1200 was, with the
    /// given stamp on the segment beyond the hole.
    fn with_hole(jumper: Stamp) -> Evidence {
        let mut e = Evidence::default();
        for i in 1..=8u16 {
            e.on_sent(Seq(0), 0, 0, Stamp { ip_id: i, ..jumper }, ms(0));
        }
        e.on_jump(Seq(1000), Seq(1100), ms(0), jumper, Some(Seq(1000)));
        e
    }

    /// `n` in-sequence data segments of 100 bytes from `seq`, the i-th with TSval `tsval`
    /// and IP ID `first_id + i`, as the tracker reports them.
    fn send_run(e: &mut Evidence, seq: u32, n: u32, tsval: Option<u32>, first_id: u16) {
        for i in 0..n {
            let stamp = Stamp {
                tsval,
                ip_id: first_id + i as u16,
            };
            e.on_sent(Seq(seq + i * 100), 100, 100, stamp, ms(0));
        }
    }

    #[test]
    fn a_sender_that_never_lapses_allocates_nothing() {
        let mut e = Evidence::default();
        send_run(&mut e, 1000, 50, Some(7), 1);
        assert!(e.lapses.is_none());
        assert_eq!(e.counts(), LossCounts::default());
        assert_eq!(e.ordering(), OrderingEvidence::Timestamps);
        assert!(size_of::<Evidence>() <= 48, "{}", size_of::<Evidence>());
    }

    #[test]
    fn a_late_original_by_tsval_is_a_reordering() {
        let mut e = with_hole(ts(50));
        let v = e.classify(Seq(1000), 100, 100, false, ts(49), ms(30), &cx(1200));
        assert_eq!(v, Verdict::Reordering);
        assert_eq!(e.counts().out_of_order, 1);
        assert_eq!(e.counts().retransmissions(), 0);
        assert!(holes(&e).is_empty(), "the hole is filled");
    }

    #[test]
    fn a_newer_tsval_in_a_hole_is_a_loss_before_capture_even_within_an_rtt() {
        let mut e = with_hole(ts(50));
        // 1 ms after the hole opened: tshark would call this out-of-order.
        let v = e.classify(Seq(1000), 100, 100, false, ts(70), ms(1), &cx(1200));
        assert!(matches!(v, Verdict::Retransmission(_)));
        assert_eq!(e.counts().lost_before_capture, 1);
        assert_eq!(e.counts().lost_after_capture, 0);
    }

    #[test]
    fn ip_id_orders_when_there_are_no_timestamps() {
        let mut e = with_hole(id(9));
        assert_eq!(e.ordering(), OrderingEvidence::IpId);
        let v = e.classify(Seq(1000), 50, 50, false, id(8), ms(30), &cx(1200));
        assert_eq!(v, Verdict::Reordering);
        let v = e.classify(Seq(1050), 50, 50, false, id(12), ms(1), &cx(1200));
        assert!(matches!(v, Verdict::Retransmission(_)));
    }

    #[test]
    fn random_ip_ids_are_no_evidence_and_timing_decides() {
        let mut e = Evidence::default();
        for id in [100u16, 40_000, 7, 20_000, 55_000, 3] {
            e.on_sent(
                Seq(0),
                0,
                0,
                Stamp {
                    tsval: None,
                    ip_id: id,
                },
                ms(0),
            );
        }
        assert_eq!(e.ordering(), OrderingEvidence::Timing);
        e.on_jump(Seq(1000), Seq(1100), ms(0), id(9), None);
        // Within the RTT (20 ms): reordering, whatever the IDs say.
        let v = e.classify(Seq(1000), 50, 50, false, id(60_000), ms(5), &cx(1200));
        assert_eq!(v, Verdict::Reordering);
        // Later: a retransmission.
        let v = e.classify(Seq(1050), 50, 50, false, id(1), ms(25), &cx(1200));
        assert!(matches!(v, Verdict::Retransmission(_)));
    }

    #[test]
    fn a_copy_with_the_same_ip_id_and_tsval_is_a_network_duplicate() {
        let mut e = Evidence::default();
        let stamp = both(5, 77);
        e.on_sent(Seq(1000), 100, 100, stamp, ms(0));
        let v = e.classify(Seq(1000), 100, 100, false, stamp, ms(1), &cx(1100));
        assert_eq!(v, Verdict::NetworkDuplicate);
        assert_eq!(e.counts().network_duplicates, 1);
        // A new IP ID: resent by the sender.
        let v = e.classify(Seq(1000), 100, 100, false, both(5, 78), ms(300), &cx(1100));
        assert!(matches!(v, Verdict::Retransmission(_)));
        assert_eq!(e.counts().lost_after_capture, 1);
    }

    #[test]
    fn a_copy_of_a_syn_ack_is_a_duplicate_by_its_tsval_alone() {
        // Linux sends its SYN/ACK with IP ID 0: the TSval says it is the same packet.
        let mut e = Evidence::default();
        e.on_sent(Seq(5000), 1, 0, ts(300), ms(0));
        let v = e.classify(Seq(5000), 1, 0, true, ts(300), ms(1), &cx(5001));
        assert_eq!(v, Verdict::NetworkDuplicate);
        // Resent a second later, with a newer TSval: a retransmission.
        let v = e.classify(Seq(5000), 1, 0, true, ts(1300), ms(1000), &cx(5001));
        assert!(matches!(v, Verdict::Retransmission(_)));
        assert_eq!(e.counts().retransmissions(), 1);
    }

    #[test]
    fn a_copy_trailing_its_original_by_many_segments_is_a_duplicate() {
        // Lapses made earlier (a hole, since filled), then a burst in one clock tick:
        // the copy of its 3rd segment comes after 18 more.
        let mut e = Evidence::default();
        e.on_jump(Seq(900), Seq(1000), ms(0), both(7, 1), None);
        send_run(&mut e, 1000, 21, Some(7), 10);
        let v = e.classify(Seq(1200), 100, 100, false, both(7, 12), ms(1), &cx(3100));
        assert_eq!(v, Verdict::NetworkDuplicate);
        // The same bytes resent in that tick with a new IP ID: not a copy.
        let v = e.classify(Seq(1300), 100, 100, false, both(7, 40), ms(1), &cx(3100));
        assert!(matches!(v, Verdict::Retransmission(_)));
    }

    #[test]
    fn before_any_lapse_a_copy_is_told_by_stamps_no_newer_than_the_newest() {
        // Nothing out of sequence yet, so no segments remembered: the copy of the 3rd of
        // 10 segments sent in one clock tick carries an IP ID older than the latest.
        let mut e = Evidence::default();
        send_run(&mut e, 1000, 10, Some(7), 100);
        assert!(e.lapses.is_none());
        let v = e.classify(Seq(1200), 100, 100, false, both(7, 102), ms(1), &cx(2000));
        assert_eq!(v, Verdict::NetworkDuplicate);
        // A resend in the same tick is newer than everything seen: its IP ID says so.
        let v = e.classify(Seq(1300), 100, 100, false, both(7, 110), ms(1), &cx(2000));
        assert!(matches!(v, Verdict::Retransmission(_)));
        // An older TSval than the newest is a copy too.
        let mut e = Evidence::default();
        send_run(&mut e, 1000, 3, Some(7), 100);
        send_run(&mut e, 1300, 3, Some(8), 103);
        let v = e.classify(Seq(1000), 100, 100, false, both(7, 100), ms(1), &cx(1600));
        assert_eq!(v, Verdict::NetworkDuplicate);
    }

    #[test]
    fn after_a_quiet_second_nothing_recent_is_remembered() {
        let mut e = Evidence::default();
        let stamp = both(5, 77);
        e.on_sent(Seq(1000), 100, 100, stamp, ms(0));
        e.forget_recent();
        assert_eq!(e.last_ip_id, 0, "no step is counted across the quiet");
        let v = e.classify(Seq(1000), 100, 100, false, stamp, ms(1500), &cx(1100));
        assert!(matches!(v, Verdict::Retransmission(_)));
        // With lapses too.
        e.on_sent(Seq(1100), 100, 100, stamp, ms(1600));
        e.forget_recent();
        let v = e.classify(Seq(1100), 100, 100, false, stamp, ms(3000), &cx(1200));
        assert!(matches!(v, Verdict::Retransmission(_)));
    }

    #[test]
    fn after_two_duplicate_acks_a_resend_is_fast_and_so_is_the_rest_of_the_recovery() {
        let mut e = Evidence::default();
        let c = Context {
            peer_dup_acks: 3,
            ..cx(5000)
        };
        let v = e.classify(Seq(1000), 100, 100, false, ts(9), ms(40), &c);
        assert_eq!(v, Verdict::Retransmission(RetransmissionKind::Fast));
        // A partial ACK moves the peer's ACK: no duplicates, but still the same recovery.
        let c = Context {
            peer_ack: Some(Seq(1100)),
            ..cx(5000)
        };
        let v = e.classify(Seq(2000), 100, 100, false, ts(10), ms(45), &c);
        assert_eq!(v, Verdict::Retransmission(RetransmissionKind::Fast));
        // The recovery ends once everything sent when it began is acknowledged.
        let c = Context {
            peer_ack: Some(Seq(5000)),
            next: Seq(9000),
            ..cx(5000)
        };
        let v = e.classify(Seq(6000), 100, 100, false, ts(11), ms(46), &c);
        assert_ne!(v, Verdict::Retransmission(RetransmissionKind::Fast));
    }

    #[test]
    fn sack_above_the_segment_makes_it_fast() {
        let mut e = Evidence::default();
        let c = Context {
            peer_sack_high: Some(Seq(1500)),
            peer_dup_acks: 1,
            ..cx(5000)
        };
        let v = e.classify(Seq(1000), 100, 100, false, ts(9), ms(40), &c);
        assert_eq!(v, Verdict::Retransmission(RetransmissionKind::Fast));
    }

    #[test]
    fn after_an_rto_sized_silence_a_resend_is_a_timeout() {
        let mut e = Evidence::default();
        // The first unacknowledged segment, 250 ms after the last new data.
        let v = e.classify(Seq(1000), 100, 100, false, ts(9), ms(250), &cx(5000));
        assert_eq!(v, Verdict::Retransmission(RetransmissionKind::Timeout));
        // The rest of the window follows at once: the same timeout recovery.
        let v = e.classify(Seq(1100), 100, 100, false, ts(9), ms(251), &cx(5000));
        assert_eq!(v, Verdict::Retransmission(RetransmissionKind::Timeout));
        assert_eq!(e.counts().timeout, 2);
    }

    #[test]
    fn the_last_segment_resent_alone_before_an_rto_is_a_tail_loss_probe() {
        let mut e = Evidence::default();
        let v = e.classify(Seq(4900), 100, 100, false, ts(9), ms(45), &cx(5000));
        assert_eq!(
            v,
            Verdict::Retransmission(RetransmissionKind::TailLossProbe)
        );
        // A SYN is never one.
        let mut e = Evidence::default();
        let v = e.classify(Seq(4999), 1, 0, true, ts(9), ms(1000), &cx(5000));
        assert_eq!(v, Verdict::Retransmission(RetransmissionKind::Timeout));
    }

    #[test]
    fn a_resend_below_the_peers_ack_is_spurious_and_a_dsack_says_so_later() {
        let mut e = Evidence::default();
        let v = e.classify(Seq(900), 100, 100, false, ts(9), ms(250), &cx(5000));
        assert!(matches!(v, Verdict::Retransmission(_)));
        assert_eq!((e.counts().spurious, e.counts().lost_after_capture), (1, 0));
        // Above the ACK: taken for lost, until the receiver reports it twice.
        e.classify(Seq(1000), 100, 100, false, ts(9), ms(250), &cx(5000));
        assert_eq!((e.counts().spurious, e.counts().lost_after_capture), (1, 1));
        e.on_dsack(Seq(1000), Seq(1100));
        assert_eq!((e.counts().spurious, e.counts().lost_after_capture), (2, 0));
        // Reported once only.
        e.on_dsack(Seq(1000), Seq(1100));
        assert_eq!(e.counts().spurious, 2);
        assert_eq!(e.counts().retransmissions(), 2);
    }

    #[test]
    fn the_latest_retransmissions_are_kept_for_a_dsack_and_the_oldest_go() {
        let mut e = Evidence::default();
        for i in 0..RESENT as u32 + 2 {
            let seq = 2000 + i * 100;
            e.classify(Seq(seq), 100, 100, false, ts(9), ms(250), &cx(9000));
        }
        // The first two were forgotten: a D-SACK of them says nothing.
        e.on_dsack(Seq(2000), Seq(2100));
        assert_eq!(e.counts().spurious, 0);
        e.on_dsack(Seq(2200), Seq(2300));
        assert_eq!(e.counts().spurious, 1);
        assert_eq!(e.lapses.as_ref().unwrap().resent().len(), RESENT - 1);
    }

    #[test]
    fn a_dsack_is_the_first_block_below_the_ack_or_inside_the_second() {
        let mut e = Evidence::default();
        assert_eq!(
            e.on_sack(Seq(2000), &[(Seq(1000), Seq(1100))], None),
            Some((Seq(1000), Seq(1100)))
        );
        assert!(e.lapses.is_none(), "no edge above the ACK: nothing to keep");
        assert_eq!(
            e.on_sack(
                Seq(1000),
                &[(Seq(3000), Seq(3100)), (Seq(2000), Seq(4000))],
                None
            ),
            Some((Seq(3000), Seq(3100)))
        );
        assert_eq!(e.on_sack(Seq(1000), &[(Seq(3000), Seq(3100))], None), None);
        assert_eq!(e.sack_high(), Some(Seq(4000)));
    }

    #[test]
    fn seven_open_holes_are_all_remembered_and_the_lowest_filled_first() {
        // loss3-ts-sack at the server: up to 7 gaps open at once, each resend filling the
        // lowest.
        let mut e = Evidence::default();
        for i in 0..7u32 {
            e.on_jump(Seq(i * 200), Seq(i * 200 + 100), ms(0), ts(1), None);
        }
        assert_eq!(holes(&e).len(), 7);
        for i in 0..7u32 {
            let v = e.classify(Seq(i * 200), 100, 100, false, ts(50), ms(30), &cx(1500));
            assert!(matches!(v, Verdict::Retransmission(_)));
        }
        assert_eq!(e.counts().lost_before_capture, 7);
        assert_eq!(e.counts().lost_after_capture, 0);
        assert!(holes(&e).is_empty());
    }

    #[test]
    fn beyond_the_bound_the_highest_hole_is_forgotten_and_acknowledged_ones_go_first() {
        let mut e = Evidence::default();
        for i in 0..HOLES as u32 + 1 {
            e.on_jump(Seq(i * 200), Seq(i * 200 + 100), ms(0), ts(1), None);
        }
        let h = holes(&e);
        assert_eq!(h.len(), HOLES);
        assert_eq!(h[0], (0, 100), "the lowest is kept");
        assert!(
            h.iter().all(|&(s, _)| s != HOLES as u32 * 200),
            "the newest went"
        );
        // The receiver acknowledges the first two: they go, and the new one fits.
        e.on_jump(Seq(9000), Seq(9100), ms(0), ts(1), Some(Seq(300)));
        let h = holes(&e);
        assert_eq!(h.len(), HOLES - 1);
        assert_eq!(h[0], (400, 500));
        assert_eq!(h[HOLES - 2], (9000, 9100));
    }

    #[test]
    fn a_segment_inside_a_hole_leaves_two() {
        let mut e = Evidence::default();
        e.on_jump(Seq(1000), Seq(1300), ms(0), ts(50), None);
        e.classify(Seq(1100), 100, 100, false, ts(40), ms(1), &cx(1400));
        assert_eq!(holes(&e), [(1000, 1100), (1200, 1300)]);
        // The upper part is still a hole: its late original is a reordering.
        let v = e.classify(Seq(1200), 100, 100, false, ts(41), ms(2), &cx(1400));
        assert_eq!(v, Verdict::Reordering);
        assert_eq!(holes(&e), [(1000, 1100)]);
    }
}
