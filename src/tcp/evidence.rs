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
//! Everything here is fixed-size: a few holes, a few recent segments, a few resent
//! ranges per sender. What does not fit is forgotten, oldest first (docs/metrics.md says
//! what that costs).

use std::time::Duration;

pub use crate::model::loss::{LossCounts, OrderingEvidence};
use crate::model::seq::Seq;
use crate::model::time::Timestamp;

/// Holes remembered per sender: more are rare (a hole is forgotten once filled or
/// acknowledged), and the oldest is dropped when a new one does not fit.
pub const HOLES: usize = 3;
/// Recent data segments remembered per sender, to recognise a network duplicate.
pub const RECENT: usize = 4;
/// Recent retransmissions remembered per sender, for a D-SACK to call spurious.
pub const RESENT: usize = 2;

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

/// A data segment seen: enough to recognise its copy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    pub seq: Seq,
    pub len: u16,
    pub stamp: Stamp,
}

/// A retransmission a D-SACK may later call spurious.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resent {
    pub start: Seq,
    pub end: Seq,
    /// Counted in `lost_after_capture` (taken back if it proves spurious).
    pub lost_after: bool,
}

/// One sender's evidence and what it made of its segments.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Evidence {
    pub counts: LossCounts,
    pub holes: [Option<Hole>; HOLES],
    pub recent: [Seen; RECENT],
    pub recent_next: u8,
    pub resent: [Option<Resent>; RESENT],
    pub resent_next: u8,
    /// Highest right edge of the SACK blocks it sent (as a receiver).
    pub sack_high: Option<Seq>,
    /// When it last sent a segment that occupies sequence space (new or resent): the
    /// start of a silence.
    pub last_sent_at: Option<Timestamp>,
    pub recovery: Recovery,
    /// The recovery lasts until the peer acknowledges this (the highest sequence when it
    /// began, as RFC 6582's `recover`).
    pub recover: Seq,
    /// Its data segments carried TSvals.
    pub timestamps: bool,
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
        if seq_len > 0 {
            self.last_sent_at = Some(at);
        }
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
            let i = usize::from(self.recent_next) % RECENT;
            self.recent[i] = Seen {
                seq,
                len: payload_len.min(u32::from(u16::MAX)) as u16,
                stamp,
            };
            self.recent_next = ((i + 1) % RECENT) as u8;
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
        let hole = Hole {
            start: next,
            end: seq,
            opened: at,
            jumper: stamp,
        };
        // Holes the receiver has acknowledged are filled (the capture missed it).
        for slot in &mut self.holes {
            if let (Some(h), Some(ack)) = (*slot, peer_ack) {
                if h.end.le(ack) {
                    *slot = None;
                }
            }
        }
        // Kept oldest first: the ones left move up, the new one goes last, and when all
        // are taken the oldest goes.
        let mut kept = 0;
        for i in 0..HOLES {
            if let Some(h) = self.holes[i] {
                self.holes[i] = None;
                self.holes[kept] = Some(h);
                kept += 1;
            }
        }
        if kept == HOLES {
            self.holes.rotate_left(1);
            kept -= 1;
        }
        self.holes[kept] = Some(hole);
    }

    /// The hole the segment [seq, end) falls in, if any, shrunk by what it fills.
    fn fill(&mut self, seq: Seq, end: Seq) -> Option<Hole> {
        let i = self
            .holes
            .iter()
            .position(|h| h.is_some_and(|h| seq.lt(h.end) && end.gt(h.start)))?;
        let h = self.holes[i]?;
        self.holes[i] = match (seq.le(h.start), end.ge(h.end)) {
            (true, true) => None,
            (true, false) => Some(Hole { start: end, ..h }),
            // A segment inside the hole leaves two parts; the lower one (filled first
            // in order) is kept.
            (false, _) => Some(Hole { end: seq, ..h }),
        };
        Some(h)
    }

    /// A copy of a recent segment: the same sequence, length, IP ID and TSval, with at
    /// least one of those two present to say so.
    fn is_duplicate(&self, seq: Seq, payload_len: u32, stamp: Stamp) -> bool {
        if stamp.tsval.is_none() && stamp.ip_id == 0 {
            return false;
        }
        self.recent.iter().any(|s| {
            s.seq == seq
                && u32::from(s.len) == payload_len.min(u32::from(u16::MAX))
                && s.stamp == stamp
        })
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
        if payload_len > 0 && self.is_duplicate(seq, payload_len, stamp) {
            bump(&mut self.counts.network_duplicates);
            return Verdict::NetworkDuplicate;
        }
        let filled = self.fill(seq, end);
        if let Some(hole) = filled {
            if !self.resent_not_original(&hole, stamp, at, cx) {
                bump(&mut self.counts.out_of_order);
                return Verdict::Reordering;
            }
        }
        if self.recovery != Recovery::None && cx.peer_ack.is_some_and(|a| a.ge(self.recover)) {
            self.recovery = Recovery::None;
        }
        let kind = self.kind(seq, end, payload_len > 0 && !syn, at, cx);
        self.last_sent_at = Some(at);
        self.counts_kind(kind);
        let spurious =
            payload_len > 0 && filled.is_none() && cx.peer_ack.is_some_and(|a| end.le(a));
        if spurious {
            bump(&mut self.counts.spurious);
        } else if filled.is_some() {
            bump(&mut self.counts.lost_before_capture);
        } else {
            bump(&mut self.counts.lost_after_capture);
        }
        if !spurious {
            let i = usize::from(self.resent_next) % RESENT;
            self.resent[i] = Some(Resent {
                start: seq,
                end,
                lost_after: filled.is_none(),
            });
            self.resent_next = ((i + 1) % RESENT) as u8;
        }
        Verdict::Retransmission(kind)
    }

    /// Whether a segment that fills `hole` was sent after the segment that opened it (a
    /// retransmission) rather than before (a late original): TSval, then IP ID, then
    /// timing.
    fn resent_not_original(&self, hole: &Hole, stamp: Stamp, at: Timestamp, cx: &Context) -> bool {
        use std::cmp::Ordering::{Greater, Less};
        if let (Some(now), Some(then)) = (stamp.tsval, hole.jumper.tsval) {
            match newer32(now, then) {
                Greater => return true,
                Less => return false,
                // The same clock tick: the sender's clock is too coarse for this RTT.
                _ => {}
            }
        }
        if self.ip_id_usable() && stamp.ip_id != 0 && hole.jumper.ip_id != 0 {
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

    fn kind(
        &mut self,
        seq: Seq,
        end: Seq,
        data: bool,
        at: Timestamp,
        cx: &Context,
    ) -> RetransmissionKind {
        let dup_acked = cx.peer_dup_acks >= 2 && cx.peer_ack.is_some_and(|a| a.le(seq));
        let sacked_above = match (cx.peer_sack_high, cx.peer_ack) {
            (Some(high), Some(ack)) => high.gt(ack) && high.gt(seq),
            _ => false,
        };
        let silence = self
            .last_sent_at
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

    /// A D-SACK from the peer (RFC 2883) reports [start, end) received twice: the
    /// retransmission of it, if remembered, was spurious.
    pub fn on_dsack(&mut self, start: Seq, end: Seq) {
        for slot in &mut self.resent {
            let Some(r) = *slot else { continue };
            if r.start.lt(end) && r.end.gt(start) {
                bump(&mut self.counts.spurious);
                if r.lost_after {
                    self.counts.lost_after_capture =
                        self.counts.lost_after_capture.saturating_sub(1);
                }
                *slot = None;
                return;
            }
        }
    }

    /// The SACK blocks it sent with cumulative ACK `ack`: the highest edge, and whether
    /// the first block is a D-SACK (below the ACK, or inside the second block).
    pub fn on_sack(&mut self, ack: Seq, blocks: &[(Seq, Seq)]) -> Option<(Seq, Seq)> {
        let &(first_start, first_end) = blocks.first()?;
        for &(_, right) in blocks {
            if right.gt(ack) {
                self.sack_high = Some(self.sack_high.map_or(right, |h| h.max(right)));
            }
        }
        let inside_second = blocks
            .get(1)
            .is_some_and(|&(s, e)| first_start.ge(s) && first_end.le(e));
        (first_end.le(ack) || inside_second).then_some((first_start, first_end))
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

    #[test]
    fn a_late_original_by_tsval_is_a_reordering() {
        let mut e = with_hole(ts(50));
        let v = e.classify(Seq(1000), 100, 100, false, ts(49), ms(30), &cx(1200));
        assert_eq!(v, Verdict::Reordering);
        assert_eq!(e.counts.out_of_order, 1);
        assert_eq!(e.counts.retransmissions(), 0);
        assert!(e.holes.iter().all(Option::is_none), "the hole is filled");
    }

    #[test]
    fn a_newer_tsval_in_a_hole_is_a_loss_before_capture_even_within_an_rtt() {
        let mut e = with_hole(ts(50));
        // 1 ms after the hole opened: tshark would call this out-of-order.
        let v = e.classify(Seq(1000), 100, 100, false, ts(70), ms(1), &cx(1200));
        assert!(matches!(v, Verdict::Retransmission(_)));
        assert_eq!(e.counts.lost_before_capture, 1);
        assert_eq!(e.counts.lost_after_capture, 0);
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
        let stamp = Stamp {
            tsval: Some(5),
            ip_id: 77,
        };
        e.on_sent(Seq(1000), 100, 100, stamp, ms(0));
        let v = e.classify(Seq(1000), 100, 100, false, stamp, ms(1), &cx(1100));
        assert_eq!(v, Verdict::NetworkDuplicate);
        assert_eq!(e.counts.network_duplicates, 1);
        // A new IP ID: resent by the sender.
        let v = e.classify(
            Seq(1000),
            100,
            100,
            false,
            Stamp { ip_id: 78, ..stamp },
            ms(300),
            &cx(1100),
        );
        assert!(matches!(v, Verdict::Retransmission(_)));
        assert_eq!(e.counts.lost_after_capture, 1);
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
        assert_eq!(e.counts.timeout, 2);
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
        assert_eq!((e.counts.spurious, e.counts.lost_after_capture), (1, 0));
        // Above the ACK: taken for lost, until the receiver reports it twice.
        e.classify(Seq(1000), 100, 100, false, ts(9), ms(250), &cx(5000));
        assert_eq!((e.counts.spurious, e.counts.lost_after_capture), (1, 1));
        e.on_dsack(Seq(1000), Seq(1100));
        assert_eq!((e.counts.spurious, e.counts.lost_after_capture), (2, 0));
        // Reported once only.
        e.on_dsack(Seq(1000), Seq(1100));
        assert_eq!(e.counts.spurious, 2);
        assert_eq!(e.counts.retransmissions(), 2);
    }

    #[test]
    fn a_dsack_is_the_first_block_below_the_ack_or_inside_the_second() {
        let mut e = Evidence::default();
        assert_eq!(
            e.on_sack(Seq(2000), &[(Seq(1000), Seq(1100))]),
            Some((Seq(1000), Seq(1100)))
        );
        assert_eq!(
            e.on_sack(Seq(1000), &[(Seq(3000), Seq(3100)), (Seq(2000), Seq(4000))]),
            Some((Seq(3000), Seq(3100)))
        );
        assert_eq!(e.on_sack(Seq(1000), &[(Seq(3000), Seq(3100))]), None);
        assert_eq!(e.sack_high, Some(Seq(4000)));
    }

    #[test]
    fn holes_beyond_the_bound_forget_the_oldest_and_acknowledged_ones_go_first() {
        let mut e = Evidence::default();
        for i in 0..HOLES as u32 {
            e.on_jump(Seq(i * 200), Seq(i * 200 + 100), ms(0), ts(1), None);
        }
        e.on_jump(Seq(5000), Seq(5100), ms(0), ts(1), Some(Seq(100)));
        assert!(e.holes.iter().flatten().all(|h| h.start != Seq(0)));
        assert!(e.holes.iter().flatten().any(|h| h.start == Seq(200)));
        e.on_jump(Seq(6000), Seq(6100), ms(0), ts(1), None);
        assert!(e.holes.iter().flatten().all(|h| h.start != Seq(200)));
    }

    #[test]
    fn a_segment_inside_a_hole_keeps_the_lower_part() {
        let mut e = Evidence::default();
        e.on_jump(Seq(1000), Seq(1300), ms(0), ts(50), None);
        e.classify(Seq(1100), 100, 100, false, ts(40), ms(1), &cx(1400));
        assert_eq!(
            e.holes[0].map(|h| (h.start, h.end)),
            Some((Seq(1000), Seq(1100)))
        );
    }
}
