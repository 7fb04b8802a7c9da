//! The byte form of dormant connections and kept records (docs/design.md, "Memory").
//!
//! Hand-written rather than derived: every connection of a trace is encoded and decoded
//! at least twice (dormant, then as a record), so the encoding is on the per-connection
//! path. The rules keep it both small and quick to walk:
//!
//! - Fields come in a fixed order, the reader's the writer's.
//! - A struct opens a *group*: a few bytes of flags, one bit per optional or usually-zero
//!   field. An absent option, a zero counter or a `false` takes that bit and nothing else;
//!   small enums take a few bits there too.
//! - Integers are LEB128 varints; timestamps are zigzag varints relative to a base (the
//!   connection's first packet, so 2–5 bytes instead of 8), or to a late base (its last
//!   packet) for the times that fall near its end; sequence numbers are 4 fixed bytes
//!   (they are random: a varint would take 5), or a zigzag varint of their distance to a
//!   related one (the same side's initial sequence number, say) that the reader has
//!   already read.
//!
//! Reading trusts the bytes: they were written by this process, and a mismatch is a bug
//! that panics (out-of-range index), never a wrong figure read silently.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::time::Duration;

use crate::model::seq::Seq;
use crate::model::time::Timestamp;

/// Asks the CPU to start loading the cache lines of `bytes`. Walking many encoded
/// connections or records scattered over the heap is bound by those loads, not by the
/// decoding: asking for the next few while decoding one hides most of their latency.
#[inline]
pub fn prefetch(bytes: &[u8]) {
    prefetch_range(bytes.as_ptr(), bytes.len());
}

/// `prefetch` for any value (a connection about to be encoded).
#[inline]
pub fn prefetch_object<T>(value: &T) {
    prefetch_range(std::ptr::from_ref(value).cast(), size_of::<T>());
}

/// Asks for the cache lines of `len` bytes from `start` (which may run past an allocation:
/// nothing is read).
#[inline]
pub(crate) fn prefetch_range(start: *const u8, len: usize) {
    #[cfg(target_arch = "x86_64")]
    for at in (0..len).step_by(64).chain([len.saturating_sub(1)]) {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: a prefetch is only a hint: it reads nothing into the program and
        // faults on no address (and this one is in bounds).
        unsafe { _mm_prefetch::<_MM_HINT_T0>(start.wrapping_add(at).cast()) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (start, len);
}

/// Appends fields to a byte buffer.
pub struct Writer<'a> {
    out: &'a mut Vec<u8>,
    base: i64,
    /// See `late_base`.
    late: i64,
    /// The open group: where its flag bytes are, how many, and the bits so far.
    flags_at: usize,
    flags_len: usize,
    flags: u64,
    bit: u32,
}

impl<'a> Writer<'a> {
    /// Timestamps are written relative to `base`.
    pub fn new(out: &'a mut Vec<u8>, base: Timestamp) -> Self {
        Writer {
            out,
            base: base.as_nanos(),
            late: base.as_nanos(),
            flags_at: 0,
            flags_len: 0,
            flags: 0,
            bit: 0,
        }
    }

    /// Times written with `late_time` are relative to `late` (the base until this is
    /// called).
    pub fn late_base(&mut self, late: Timestamp) {
        self.late = late.as_nanos();
    }

    /// Opens a group of up to `bytes` × 8 flag bits (groups do not nest: a struct ends
    /// its own group before or after writing its parts).
    pub fn group(&mut self, bytes: usize) {
        debug_assert!(self.flags_len == 0, "a group is open");
        debug_assert!(bytes <= 8);
        self.flags_at = self.out.len();
        self.flags_len = bytes;
        self.out.extend_from_slice(&[0; 8][..bytes]);
        self.flags = 0;
        self.bit = 0;
    }

    /// Closes the group: its flags are known now.
    pub fn end(&mut self) {
        debug_assert!(self.bit as usize <= self.flags_len * 8, "too many flags");
        let n = self.flags_len;
        self.out[self.flags_at..self.flags_at + n].copy_from_slice(&self.flags.to_le_bytes()[..n]);
        self.flags_len = 0;
    }

    /// A value of `width` bits kept in the group's flags.
    pub fn bits(&mut self, value: u32, width: u32) {
        debug_assert!(u64::from(value) < 1 << width);
        self.flags |= u64::from(value) << self.bit;
        self.bit += width;
    }

    pub fn flag(&mut self, b: bool) {
        self.bits(u32::from(b), 1);
    }

    pub fn byte(&mut self, b: u8) {
        self.out.push(b);
    }

    pub fn bytes(&mut self, b: &[u8]) {
        self.out.extend_from_slice(b);
    }

    pub fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.out.push(v as u8 | 0x80);
            v >>= 7;
        }
        self.out.push(v as u8);
    }

    /// A counter: one flag, and a varint when it is not zero.
    pub fn count(&mut self, v: u64) {
        self.flag(v != 0);
        if v != 0 {
            self.varint(v);
        }
    }

    pub fn seq(&mut self, s: Option<Seq>) {
        self.flag(s.is_some());
        if let Some(s) = s {
            self.bytes(&s.0.to_le_bytes());
        }
    }

    /// A timestamp that is always there (no flag).
    pub fn time(&mut self, t: Timestamp) {
        let d = t.as_nanos().wrapping_sub(self.base);
        self.signed(d);
    }

    /// A zigzag varint: small either side of zero.
    fn signed(&mut self, d: i64) {
        self.varint(((d << 1) ^ (d >> 63)) as u64);
    }

    /// A timestamp near the late base (`late_base`).
    pub fn late_time(&mut self, t: Timestamp) {
        self.signed(t.as_nanos().wrapping_sub(self.late));
    }

    pub fn opt_late_time(&mut self, t: Option<Timestamp>) {
        self.flag(t.is_some());
        if let Some(t) = t {
            self.late_time(t);
        }
    }

    /// A 32-bit number as its distance (modulo 2³², either way) from `near`, which the
    /// reader knows already (no flag).
    pub fn u32_near(&mut self, v: u32, near: u32) {
        self.signed(i64::from(v.wrapping_sub(near) as i32));
    }

    /// `seq`, written as its distance from `near` when there is one.
    pub fn seq_near(&mut self, s: Option<Seq>, near: Option<Seq>) {
        self.flag(s.is_some());
        match (s, near) {
            (Some(s), Some(near)) => self.u32_near(s.0, near.0),
            (Some(s), None) => self.bytes(&s.0.to_le_bytes()),
            (None, _) => {}
        }
    }

    pub fn opt_time(&mut self, t: Option<Timestamp>) {
        self.flag(t.is_some());
        if let Some(t) = t {
            self.time(t);
        }
    }

    pub fn duration(&mut self, d: Duration) {
        // A Duration holds up to ~2^94 ns: the seconds and the nanoseconds apart.
        self.varint(d.as_secs());
        self.varint(u64::from(d.subsec_nanos()));
    }

    pub fn opt_duration(&mut self, d: Option<Duration>) {
        self.flag(d.is_some());
        if let Some(d) = d {
            self.duration(d);
        }
    }

    /// An address written whole (one flag: IPv6).
    pub fn addr(&mut self, a: SocketAddr) {
        match a {
            SocketAddr::V4(v4) => {
                self.flag(false);
                self.bytes(&v4.ip().octets());
                self.bytes(&v4.port().to_le_bytes());
            }
            SocketAddr::V6(v6) => {
                self.flag(true);
                self.bytes(&v6.ip().octets());
                self.bytes(&v6.port().to_le_bytes());
                self.varint(u64::from(v6.flowinfo()));
                self.varint(u64::from(v6.scope_id()));
            }
        }
    }
}

/// Reads fields back in the order they were written.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: i64,
    late: i64,
    flags: u64,
    bit: u32,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8], base: Timestamp) -> Self {
        Reader {
            buf,
            pos: 0,
            base: base.as_nanos(),
            late: base.as_nanos(),
            flags: 0,
            bit: 0,
        }
    }

    /// `Writer::late_base`.
    pub fn late_base(&mut self, late: Timestamp) {
        self.late = late.as_nanos();
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn group(&mut self, bytes: usize) {
        let mut f = [0; 8];
        f[..bytes].copy_from_slice(self.take(bytes));
        self.flags = u64::from_le_bytes(f);
        self.bit = 0;
    }

    pub fn bits(&mut self, width: u32) -> u32 {
        let v = (self.flags >> self.bit) & ((1 << width) - 1);
        self.bit += width;
        v as u32
    }

    pub fn flag(&mut self) -> bool {
        self.bits(1) != 0
    }

    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let b = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        b
    }

    pub fn byte(&mut self) -> u8 {
        let b = self.buf[self.pos];
        self.pos += 1;
        b
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut a = [0; N];
        a.copy_from_slice(self.take(N));
        a
    }

    pub fn varint(&mut self) -> u64 {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let b = self.byte();
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return v;
            }
            shift += 7;
        }
    }

    pub fn count(&mut self) -> u64 {
        if self.flag() {
            self.varint()
        } else {
            0
        }
    }

    pub fn seq(&mut self) -> Option<Seq> {
        self.flag().then(|| Seq(u32::from_le_bytes(self.array())))
    }

    pub fn time(&mut self) -> Timestamp {
        Timestamp::from_nanos(self.signed().wrapping_add(self.base))
    }

    fn signed(&mut self) -> i64 {
        let z = self.varint();
        ((z >> 1) as i64) ^ -((z & 1) as i64)
    }

    pub fn late_time(&mut self) -> Timestamp {
        Timestamp::from_nanos(self.signed().wrapping_add(self.late))
    }

    pub fn opt_late_time(&mut self) -> Option<Timestamp> {
        self.flag().then(|| self.late_time())
    }

    pub fn u32_near(&mut self, near: u32) -> u32 {
        near.wrapping_add(self.signed() as i32 as u32)
    }

    pub fn seq_near(&mut self, near: Option<Seq>) -> Option<Seq> {
        if !self.flag() {
            return None;
        }
        Some(match near {
            Some(near) => Seq(self.u32_near(near.0)),
            None => Seq(u32::from_le_bytes(self.array())),
        })
    }

    pub fn opt_time(&mut self) -> Option<Timestamp> {
        self.flag().then(|| self.time())
    }

    pub fn duration(&mut self) -> Duration {
        let secs = self.varint();
        Duration::new(secs, self.varint() as u32)
    }

    pub fn opt_duration(&mut self) -> Option<Duration> {
        self.flag().then(|| self.duration())
    }

    pub fn addr(&mut self) -> SocketAddr {
        if self.flag() {
            let ip = Ipv6Addr::from(self.array::<16>());
            let port = u16::from_le_bytes(self.array());
            let flowinfo = self.varint() as u32;
            SocketAddr::V6(SocketAddrV6::new(ip, port, flowinfo, self.varint() as u32))
        } else {
            let ip = Ipv4Addr::from(self.array::<4>());
            SocketAddr::V4(SocketAddrV4::new(ip, u16::from_le_bytes(self.array())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug, PartialEq)]
    enum Field {
        Count(u64),
        Seq(Option<u32>),
        Time(Option<i64>),
        Duration(Option<(u64, u32)>),
        Bits(u32, u32),
        Bytes(Vec<u8>),
        LateTime(Option<i64>),
        /// A sequence number and the one it is written near.
        SeqNear(Option<u32>, Option<u32>),
    }

    fn field() -> impl Strategy<Value = Field> {
        prop_oneof![
            prop_oneof![Just(0u64), 0u64..300, any::<u64>()].prop_map(Field::Count),
            any::<Option<u32>>().prop_map(Field::Seq),
            any::<Option<i64>>().prop_map(Field::Time),
            any::<Option<(u64, u32)>>()
                .prop_map(|d| Field::Duration(d.map(|(s, n)| (s, n % 1_000_000_000)))),
            (1u32..=4)
                .prop_flat_map(|w| (0..1u32 << w, Just(w)).prop_map(|(v, w)| Field::Bits(v, w))),
            proptest::collection::vec(any::<u8>(), 0..20).prop_map(Field::Bytes),
            any::<Option<i64>>().prop_map(Field::LateTime),
            (any::<Option<u32>>(), any::<Option<u32>>()).prop_map(|(s, n)| Field::SeqNear(s, n)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any run of fields, in groups, reads back as written, to the last byte.
        #[test]
        fn fields_read_back(groups in proptest::collection::vec(
            proptest::collection::vec(field(), 0..12), 0..6), base in any::<i64>(),
            late in any::<i64>()) {
            let (base, late) = (Timestamp::from_nanos(base), Timestamp::from_nanos(late));
            let mut buf = Vec::new();
            let mut w = Writer::new(&mut buf, base);
            w.late_base(late);
            for g in &groups {
                w.group(6);
                for f in g {
                    match f {
                        Field::Count(v) => w.count(*v),
                        Field::Seq(s) => w.seq(s.map(Seq)),
                        Field::Time(t) => w.opt_time(t.map(Timestamp::from_nanos)),
                        Field::Duration(d) => w.opt_duration(d.map(|(s, n)| Duration::new(s, n))),
                        Field::Bits(v, width) => w.bits(*v, *width),
                        Field::Bytes(b) => {
                            w.varint(b.len() as u64);
                            w.bytes(b);
                        }
                        Field::LateTime(t) => w.opt_late_time(t.map(Timestamp::from_nanos)),
                        Field::SeqNear(s, near) => w.seq_near(s.map(Seq), near.map(Seq)),
                    }
                }
                w.end();
            }
            let mut r = Reader::new(&buf, base);
            r.late_base(late);
            for g in &groups {
                r.group(6);
                for f in g {
                    let back = match f {
                        Field::Count(_) => Field::Count(r.count()),
                        Field::Seq(_) => Field::Seq(r.seq().map(|s| s.0)),
                        Field::Time(_) => Field::Time(r.opt_time().map(Timestamp::as_nanos)),
                        Field::Duration(_) => Field::Duration(
                            r.opt_duration().map(|d| (d.as_secs(), d.subsec_nanos())),
                        ),
                        Field::Bits(_, width) => Field::Bits(r.bits(*width), *width),
                        Field::Bytes(_) => {
                            let n = r.varint() as usize;
                            Field::Bytes(r.take(n).to_vec())
                        }
                        Field::LateTime(_) => {
                            Field::LateTime(r.opt_late_time().map(Timestamp::as_nanos))
                        }
                        Field::SeqNear(_, near) => {
                            Field::SeqNear(r.seq_near(near.map(Seq)).map(|s| s.0), *near)
                        }
                    };
                    prop_assert_eq!(&back, f);
                }
            }
            prop_assert_eq!(r.remaining(), 0);
        }
    }

    #[test]
    fn extremes_read_back() {
        let base = Timestamp::from_nanos(1_767_225_600_000_000_000);
        let times = [
            base,
            Timestamp::from_nanos(i64::MIN),
            Timestamp::from_nanos(i64::MAX),
            Timestamp::from_nanos(-1),
            Timestamp::ZERO,
        ];
        let durations = [
            Duration::ZERO,
            Duration::MAX,
            Duration::new(75, 999_999_999),
        ];
        let addrs: [SocketAddr; 3] = [
            "10.0.0.1:80".parse().unwrap(),
            "[::ffff:10.0.0.1]:65535".parse().unwrap(),
            SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 1, u32::MAX, 7)),
        ];
        let mut buf = Vec::new();
        let mut w = Writer::new(&mut buf, base);
        w.group(3);
        for t in times {
            w.opt_time(Some(t));
        }
        for d in durations {
            w.opt_duration(Some(d));
        }
        w.count(u64::MAX);
        w.count(0);
        w.seq(Some(Seq(u32::MAX)));
        w.seq(None);
        for a in addrs {
            w.addr(a);
        }
        w.bits(10, 4);
        w.end();
        let mut r = Reader::new(&buf, base);
        r.group(3);
        for t in times {
            assert_eq!(r.opt_time(), Some(t));
        }
        for d in durations {
            assert_eq!(r.opt_duration(), Some(d));
        }
        assert_eq!((r.count(), r.count()), (u64::MAX, 0));
        assert_eq!((r.seq(), r.seq()), (Some(Seq(u32::MAX)), None));
        for a in addrs {
            assert_eq!(r.addr(), a);
        }
        assert_eq!(r.bits(4), 10);
        assert_eq!(r.remaining(), 0);
    }
}
