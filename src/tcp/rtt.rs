//! The round-trip time through a connection, per side of the capture point
//! (docs/metrics.md, "Path RTT").
//!
//! A segment the capture saw going towards one endpoint, and that endpoint's answer seen
//! coming back, time the path between the capture point and that endpoint: the
//! *client side* from server segments and the client's answers, the *server side* from
//! client segments and the server's answers. Their sum is the end-to-end RTT. Two kinds
//! of answer, as passive tools take them:
//!
//! - TCP timestamps, as Kathleen Nichols' pping does: a TSval seen from one side waits
//!   for the first segment from the other whose TSecr echoes it. Each TSval counts once
//!   (the first segment that carries it) and only its first echo counts. Only segments
//!   that occupy sequence space (data, SYN, FIN) start a sample, as in ePPing: a pure
//!   ACK elicits no prompt answer.
//! - Without timestamps, a data segment (or SYN, FIN) waits for the ACK that covers it
//!   exactly (tcptrace's rule), under Karn's rule: a segment whose range is sent again
//!   gives no sample (its ACK could answer either copy).
//!
//! Per direction, `PENDING` segments wait at most (the first ones not yet answered: a
//! cumulative answer clears every one it covers), and none after a second's silence of
//! the whole connection (an answer then would time the silence, as pping's entries
//! expire); the samples go into a log-scale
//! sketch (`Sketch`: 8 buckets per octave, within 6.25 %) beside the exact count, min
//! and max. Nothing here allocates per packet: the waiting segments are inline, and the
//! figures one allocation made at a connection's first sample.

use std::cmp::Ordering;

use crate::decode::TcpSegment;
use crate::model::rtt::{ConnectionRtt, PathRtt, RttSource};
use crate::model::seq::Seq;
use crate::model::state::Side;
use crate::model::time::Timestamp;

/// Segments that may wait for an answer per direction.
pub const PENDING: usize = 4;
/// Buckets per octave in the sketch: `SUB_BITS` mantissa bits.
const SUB_BITS: u32 = 3;
const SUB: u64 = 1 << SUB_BITS;
/// Buckets the sketch keeps: 8 octaves (a factor of 256 between its lowest and highest
/// bucket); a sample beyond folds the lowest buckets into one.
pub const WINDOW: usize = 64;

/// Serial comparison of 32-bit TSvals or sequence numbers (RFC 7323 §5.2, RFC 1982).
fn serial(a: u32, b: u32) -> Ordering {
    (a.wrapping_sub(b) as i32).cmp(&0)
}

/// The sketch's bucket for `ns`: exact below 8 ns, then the octave and the next three
/// bits (log-linear, as HdrHistogram): a bucket is at most 1/8 of its lower bound wide.
pub fn bucket(ns: u64) -> u16 {
    if ns < SUB {
        return ns as u16;
    }
    let e = 63 - ns.leading_zeros(); // >= SUB_BITS
    let m = (ns >> (e - SUB_BITS)) & (SUB - 1);
    (SUB as u32 * (e - SUB_BITS + 1) + m as u32) as u16
}

/// The value a bucket stands for: the middle of its range (within 1/16 = 6.25 % of any
/// value in it).
pub fn bucket_value(i: u16) -> u64 {
    let i = u64::from(i);
    if i < SUB {
        return i;
    }
    let e = i / SUB + u64::from(SUB_BITS) - 1;
    let m = i % SUB;
    let width = 1u64 << (e - u64::from(SUB_BITS));
    (SUB + m) * width + width / 2
}

/// Counts of samples by bucket, over `WINDOW` buckets from `base`. The lowest bucket
/// also holds what fell below the window (after it moved up for a larger sample); a
/// bucket about to overflow (255) halves every count, which keeps their proportions
/// (the percentiles) and the memory small.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sketch {
    pub base: u16,
    /// Sum of `counts`.
    pub total: u32,
    pub counts: [u8; WINDOW],
}

impl Default for Sketch {
    fn default() -> Self {
        Sketch {
            base: 0,
            total: 0,
            counts: [0; WINDOW],
        }
    }
}

impl Sketch {
    pub fn add(&mut self, ns: u64) {
        let i = bucket(ns);
        if self.total == 0 {
            // Room for an octave below the first sample, seven above.
            self.base = i.saturating_sub(SUB as u16);
        }
        let top = self.base + WINDOW as u16;
        if i >= top {
            // Move up: the buckets below the new base fold into its lowest.
            let base = i + 1 - WINDOW as u16;
            let shift = usize::from(base - self.base);
            let mut folded: u32 = 0;
            for k in 0..shift.min(WINDOW) {
                folded += u32::from(self.counts[k]);
            }
            if shift < WINDOW {
                self.counts.copy_within(shift.., 0);
            }
            self.counts[WINDOW.saturating_sub(shift)..].fill(0);
            self.base = base;
            self.total -= folded;
            self.put(0, folded);
        } else if i < self.base {
            // Move down if the highest sample still fits, else count it in the lowest.
            let high = self.counts.iter().rposition(|&c| c > 0).unwrap_or(0) as u16 + self.base;
            let lowest_possible = (high + 1).saturating_sub(WINDOW as u16);
            if i >= lowest_possible {
                let base = lowest_possible.max(i.saturating_sub(SUB as u16)).min(i);
                let shift = usize::from(self.base - base);
                self.counts.copy_within(..WINDOW - shift, shift);
                self.counts[..shift].fill(0);
                self.base = base;
            } else {
                self.put(0, 1);
                return;
            }
        }
        self.put(usize::from(i - self.base), 1);
    }

    /// Adds `n` to a bucket, halving every count (and `n`) first while it would overflow.
    fn put(&mut self, k: usize, mut n: u32) {
        while u32::from(self.counts[k]) + n > u32::from(u8::MAX) {
            self.total = 0;
            for c in &mut self.counts {
                *c = c.div_ceil(2);
                self.total += u32::from(*c);
            }
            n = n.div_ceil(2);
        }
        self.counts[k] += n as u8;
        self.total += n;
    }

    /// Nearest rank, as the summary's percentiles (`crate::model::summary::Distribution`):
    /// for each of `ps` (ascending), the middle of the bucket holding the smallest value
    /// with at least that percentage of the samples at or below it. `None` when empty.
    pub fn percentiles<const N: usize>(&self, ps: [u64; N]) -> Option<[u64; N]> {
        let n = u64::from(self.total);
        if n == 0 {
            return None;
        }
        let mut out = [0; N];
        let mut j = 0;
        let mut seen = 0;
        for (k, &c) in self.counts.iter().enumerate() {
            seen += u64::from(c);
            while j < N && seen >= (ps[j] * n).div_ceil(100).clamp(1, n) {
                out[j] = bucket_value(self.base + k as u16);
                j += 1;
            }
            if j == N {
                return Some(out);
            }
        }
        None
    }

    pub fn percentile(&self, p: u64) -> Option<u64> {
        self.percentiles([p]).map(|[v]| v)
    }
}

/// The samples of one side's path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PathStats {
    pub samples: u32,
    /// Of those, from timestamps.
    pub ts_samples: u32,
    /// Exact, in nanoseconds.
    pub min: u64,
    pub max: u64,
    pub sketch: Sketch,
}

impl PathStats {
    fn add(&mut self, ns: u64, timestamps: bool) {
        if self.samples == 0 || ns < self.min {
            self.min = ns;
        }
        self.max = self.max.max(ns);
        self.samples = self.samples.saturating_add(1);
        self.ts_samples = self.ts_samples.saturating_add(u32::from(timestamps));
        self.sketch.add(ns);
    }

    /// The record's figures (`None`: no sample). Median and p99 are kept within the
    /// exact min and max.
    pub fn figures(&self) -> Option<PathRtt> {
        use std::time::Duration;
        if self.samples == 0 {
            return None;
        }
        let clamp =
            |v: Option<u64>| Duration::from_nanos(v.unwrap_or(self.min).clamp(self.min, self.max));
        Some(PathRtt {
            samples: u64::from(self.samples),
            min: Duration::from_nanos(self.min),
            median: clamp(self.sketch.percentile(50)),
            p99: clamp(self.sketch.percentile(99)),
            max: Duration::from_nanos(self.max),
            source: if self.ts_samples > 0 {
                RttSource::Timestamps
            } else {
                RttSource::DataAck
            },
        })
    }
}

/// Segments from one side waiting for the other's answer, oldest first: keyed by TSval
/// (`timestamps`) or by the sequence number just past them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pending {
    pub keys: [u32; PENDING],
    pub at: [Timestamp; PENDING],
    /// The newest TSval that started a wait (each counts once), if `has_last`.
    pub last_tsval: u32,
    pub len: u8,
    pub timestamps: bool,
    pub has_last: bool,
}

impl Pending {
    fn push(&mut self, key: u32, at: Timestamp) {
        let n = usize::from(self.len);
        if n < PENDING {
            self.keys[n] = key;
            self.at[n] = at;
            self.len += 1;
        }
    }

    /// Drops the first `k` waits.
    fn drop_front(&mut self, k: usize) {
        let n = usize::from(self.len);
        self.keys.copy_within(k..n, 0);
        self.at.copy_within(k..n, 0);
        self.len = (n - k) as u8;
        // What is past the end goes back to its default, so that equal states compare equal.
        self.keys[n - k..].fill(0);
        self.at[n - k..].fill(Timestamp::ZERO);
    }

    /// An answer covering `key`: the sample of the wait it matches exactly, if any, and
    /// every wait it covers ends.
    fn answer(&mut self, key: u32, at: Timestamp) -> Option<u64> {
        if serial(self.keys[0], key) == Ordering::Greater {
            return None; // Covers none of them (the usual duplicate or older echo).
        }
        let n = usize::from(self.len);
        let covered = self.keys[..n]
            .iter()
            .take_while(|&&k| serial(k, key) != Ordering::Greater)
            .count();
        if covered == 0 {
            return None;
        }
        let (last, sent) = (self.keys[covered - 1], self.at[covered - 1]);
        self.drop_front(covered);
        (last == key)
            .then(|| at.checked_since(sent))
            .flatten()
            .map(|d| d.as_nanos() as u64)
    }

    /// Karn's rule: `seq` is sent again, so no wait ending beyond it gives a sample
    /// (keys are in order: those waits are the last ones).
    fn resent(&mut self, seq: Seq) {
        let n = usize::from(self.len);
        if let Some(k) = self.keys[..n].iter().position(|&k| Seq(k).gt(seq)) {
            self.len = k as u8;
            self.keys[k..].fill(0);
            self.at[k..].fill(Timestamp::ZERO);
        }
    }
}

/// One connection's RTT state: what waits for an answer from each side (indexed by the
/// side that will answer: `pending[0]` holds server segments), and each side's samples
/// once there is one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rtt {
    pub pending: [Pending; 2],
    /// `paths[0]`: the client side, `paths[1]`: the server side.
    pub paths: Option<Box<[PathStats; 2]>>,
}

impl Rtt {
    /// One segment from `sender`, whose highest sequence number before it was `next`.
    /// Inline, what most segments need: a pure ACK when nothing waits for its sender's
    /// answer is nothing here.
    #[inline(always)]
    pub fn on_segment(
        &mut self,
        sender: Side,
        seg: &TcpSegment<'_>,
        next: Option<Seq>,
        at: Timestamp,
    ) {
        if seg.seq_len() != 0 || self.pending[sender.index()].len != 0 {
            self.timed(sender, seg, next, at);
        }
    }

    #[inline(never)]
    fn timed(&mut self, sender: Side, seg: &TcpSegment<'_>, next: Option<Seq>, at: Timestamp) {
        if seg.flags.rst() {
            return;
        }
        // Read once, when needed.
        let mut ts_read = None;
        let mut ts = || {
            *ts_read.get_or_insert_with(|| {
                if seg.options.is_empty() {
                    None
                } else {
                    seg.timestamps()
                }
            })
        };
        // As an answer to what the peer sent.
        let mine = &mut self.pending[sender.index()];
        if mine.len > 0 && seg.flags.ack() {
            let key = if mine.timestamps {
                ts().map(|(_, tsecr)| tsecr)
            } else {
                Some(seg.ack.0)
            };
            if let Some(ns) = key.and_then(|k| mine.answer(k, at)) {
                let timestamps = mine.timestamps;
                self.paths.get_or_insert_with(Default::default)[sender.index()].add(ns, timestamps);
            }
        }
        // As a segment to be answered.
        let seq_len = seg.seq_len();
        if seq_len == 0 {
            return;
        }
        let ts = ts();
        let waits = &mut self.pending[sender.peer().index()];
        if waits.timestamps != ts.is_some() {
            // The other kind of answer from now on (a side that stops sending timestamps).
            *waits = Pending {
                timestamps: ts.is_some(),
                ..Pending::default()
            };
        }
        match ts {
            Some((tsval, _)) => {
                if !waits.has_last || serial(tsval, waits.last_tsval) == Ordering::Greater {
                    waits.last_tsval = tsval;
                    waits.has_last = true;
                    waits.push(tsval, at);
                }
            }
            None => {
                let end = seg.seq.wrapping_add(seq_len);
                match next {
                    Some(n) if seg.seq.lt(n) => waits.resent(seg.seq),
                    Some(n) if end.le(n) => {}
                    _ => waits.push(end.0, at),
                }
            }
        }
    }

    /// The connection was quiet for a second (`crate::tcp::evidence::RECENT_FOR`): what
    /// waits would time the silence, not the path.
    #[inline]
    pub fn forget_waits(&mut self) {
        self.pending = Default::default();
    }

    /// The record's figures.
    pub fn figures(&self) -> ConnectionRtt {
        match &self.paths {
            None => ConnectionRtt::default(),
            Some(p) => ConnectionRtt {
                client_side: p[0].figures(),
                server_side: p[1].figures(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::flags::TcpFlags;
    use std::time::Duration;

    const ACK: u16 = 0x10;
    const SYN: u16 = 0x02;

    fn seg(
        flags: u16,
        seq: u32,
        ack: u32,
        len: u32,
        ts: Option<(u32, u32)>,
    ) -> TcpSegment<'static> {
        let options: &'static [u8] = match ts {
            None => &[],
            Some((v, e)) => {
                let mut o = vec![1, 1, 8, 10];
                o.extend_from_slice(&v.to_be_bytes());
                o.extend_from_slice(&e.to_be_bytes());
                Box::leak(o.into_boxed_slice())
            }
        };
        TcpSegment {
            seq: Seq(seq),
            ack: Seq(ack),
            flags: TcpFlags(flags),
            payload_len: len,
            options,
            ..TcpSegment::between(
                "10.0.0.2:40000".parse().unwrap(),
                "10.0.0.1:80".parse().unwrap(),
            )
        }
    }

    fn ms(n: i64) -> Timestamp {
        Timestamp::from_nanos(n * 1_000_000)
    }

    /// Segments sent one after another, each sender's highest sequence number kept as
    /// the tracker keeps it.
    #[derive(Default)]
    struct Wire {
        r: Rtt,
        next: [Option<Seq>; 2],
    }

    impl Wire {
        #[allow(clippy::too_many_arguments)]
        fn send(
            &mut self,
            by: Side,
            at_ms: i64,
            flags: u16,
            seq: u32,
            ack: u32,
            len: u32,
            ts: Option<(u32, u32)>,
        ) {
            let s = seg(flags, seq, ack, len, ts);
            let next = self.next[by.index()];
            self.r.on_segment(by, &s, next, ms(at_ms));
            let end = s.seq.wrapping_add(s.seq_len());
            if next.is_none_or(|n| end.gt(n)) {
                self.next[by.index()] = Some(end);
            }
        }

        fn figures(&self) -> ConnectionRtt {
            self.r.figures()
        }
    }

    use Side::{Client, Server};

    #[test]
    fn a_tsval_is_timed_to_its_first_echo() {
        let mut w = Wire::default();
        // Server data at 0 ms (TSval 100), twice with the same TSval: counted once.
        w.send(Server, 0, ACK, 1000, 1, 100, Some((100, 7)));
        w.send(Server, 1, ACK, 1100, 1, 100, Some((100, 7)));
        // The client echoes it 5 ms later, then again: only the first echo counts.
        w.send(Client, 5, ACK, 1, 1200, 0, Some((50, 100)));
        w.send(Client, 9, ACK, 1, 1200, 0, Some((51, 100)));
        let f = w.figures();
        let c = f.client_side.expect("client side");
        let five = Duration::from_millis(5);
        assert_eq!((c.samples, c.min, c.max), (1, five, five));
        assert_eq!(c.source, RttSource::Timestamps);
        assert!(f.server_side.is_none());
    }

    #[test]
    fn a_pure_ack_starts_no_sample_and_an_echo_of_a_newer_tsval_ends_older_waits() {
        let mut w = Wire::default();
        w.send(Client, 0, ACK, 1, 1, 0, Some((10, 0)));
        assert_eq!(w.r.pending[1].len, 0, "a pure ACK waits for nothing");
        w.send(Client, 0, ACK, 1, 1, 10, Some((11, 0)));
        w.send(Client, 1, ACK, 11, 1, 10, Some((12, 0)));
        // The server echoes 12 (say 11's segment was not the latest in order): 11 ends
        // without a sample, 12 gives one.
        w.send(Server, 21, ACK, 1, 21, 0, Some((90, 12)));
        let s = w.figures().server_side.unwrap();
        assert_eq!((s.samples, s.min), (1, Duration::from_millis(20)));
        assert_eq!(w.r.pending[1].len, 0);
    }

    #[test]
    fn data_is_timed_to_the_ack_that_covers_it_exactly() {
        let mut w = Wire::default();
        // A SYN, its SYN/ACK 30 ms later: the server side's first sample.
        w.send(Client, 0, SYN, 99, 0, 0, None);
        w.send(Server, 30, SYN | ACK, 499, 100, 0, None);
        // The client's ACK of the SYN/ACK, 2 ms on: the client side.
        w.send(Client, 32, ACK, 100, 500, 0, None);
        // Two segments, acknowledged together: the second is timed.
        w.send(Client, 40, ACK, 100, 500, 100, None);
        w.send(Client, 41, ACK, 200, 500, 100, None);
        w.send(Server, 71, ACK, 500, 300, 0, None);
        // An ACK inside a segment times nothing and keeps it waiting.
        w.send(Client, 80, ACK, 300, 500, 100, None);
        w.send(Server, 90, ACK, 500, 350, 0, None);
        assert_eq!(w.r.pending[1].len, 1);
        let f = w.figures();
        let s = f.server_side.unwrap();
        let thirty = Duration::from_millis(30);
        assert_eq!((s.samples, s.min, s.max), (2, thirty, thirty));
        assert_eq!(s.source, RttSource::DataAck);
        assert_eq!(f.client_side.unwrap().min, Duration::from_millis(2));
    }

    #[test]
    fn karn_no_sample_from_a_resent_segment() {
        for (resent_at, ack, want) in [
            // 200..300 is sent again: neither its ACK nor one above it times anything.
            (200, 300, None),
            // The segment below it still does.
            (2, 200, Some(Duration::from_millis(22))),
        ] {
            let mut w = Wire::default();
            w.send(Client, 0, ACK, 100, 1, 100, None);
            w.send(Client, 1, ACK, 200, 1, 100, None);
            w.send(Client, resent_at, ACK, 200, 1, 100, None);
            assert_eq!(w.r.pending[1].len, 1);
            w.send(Server, resent_at + 20, ACK, 1, ack, 0, None);
            let got = w.figures().server_side.map(|s| s.min);
            assert_eq!(got, want, "ACK {ack}");
        }
    }

    #[test]
    fn at_most_pending_segments_wait() {
        let mut w = Wire::default();
        for k in 0..10u32 {
            w.send(Client, i64::from(k), ACK, 100 * k, 1, 100, None);
        }
        assert_eq!(usize::from(w.r.pending[1].len), PENDING);
        // The ACK of the 10th finds no wait for it (they were not kept), and clears all.
        w.send(Server, 30, ACK, 1, 1000, 0, None);
        assert!(w.figures().server_side.is_none());
        assert_eq!(w.r.pending[1].len, 0);
    }

    #[test]
    fn a_quiet_second_forgets_what_waits() {
        let mut w = Wire::default();
        w.send(Client, 0, ACK, 100, 1, 100, None);
        w.r.forget_waits();
        w.send(Server, 5000, ACK, 1, 200, 0, None);
        assert!(w.figures().server_side.is_none());
    }

    #[test]
    fn the_sketch_is_within_its_error() {
        // Every bucket's value is within 1/16 of every value it holds.
        for ns in (1u64..200_000).chain((0..40).map(|s| 3u64 << s)) {
            let v = bucket_value(bucket(ns)) as f64;
            assert!((v - ns as f64).abs() <= ns as f64 / 16.0, "{ns} -> {v}");
        }
        // And buckets are ordered as values are.
        for ns in 1u64..100_000 {
            assert!(bucket(ns) <= bucket(ns + 1));
        }
        // A median and p99 of a spread of samples, against the exact ones.
        let mut s = Sketch::default();
        let values: Vec<u64> = (1..=1000u64).map(|k| 1_000_000 + k * k * 37).collect();
        values.iter().for_each(|&v| s.add(v));
        for p in [50u64, 99] {
            let exact = values[(p as usize * values.len()).div_ceil(100) - 1] as f64;
            let got = s.percentile(p).unwrap() as f64;
            assert!(
                (got - exact).abs() <= exact / 16.0,
                "p{p}: {got} vs {exact}"
            );
        }
    }

    #[test]
    fn the_sketch_window_moves_and_folds() {
        let mut s = Sketch::default();
        s.add(1_000_000);
        s.add(10_000);
        // A hundred times less still fits (10 octaves would not): the window moved down.
        assert_eq!(s.percentile(1), Some(bucket_value(bucket(10_000))));
        s.add(1_000_000_000);
        // Twenty octaves apart: the lowest folds up; the highest is right.
        assert_eq!(s.percentile(100), Some(bucket_value(bucket(1_000_000_000))));
        assert_eq!(s.total, 3);
        assert_eq!(s.counts.iter().map(|&c| u32::from(c)).sum::<u32>(), 3);
        assert_eq!(
            s.percentile(50),
            Some(bucket_value(s.base)),
            "the folded ones"
        );
        let mut s = Sketch::default();
        for _ in 0..200_000 {
            s.add(5_000);
        }
        s.add(9_000);
        assert_eq!(s.percentile(50), Some(bucket_value(bucket(5_000))));
        assert!(s.total < 200_001, "counts halved, not overflowed");
    }
}
