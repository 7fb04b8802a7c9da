//! Finished connections' records as kept until printed: each in its compact encoding, a
//! sixth of its size in memory, as most counters are small or zero.

use std::alloc::Layout;
use std::cell::Cell;
use std::ptr::NonNull;

use crate::model::app_label::AppLabel;
use crate::model::connection_record::{ConnectionRecord, RecordList, RoleBasis, SideFigures};
use crate::model::loss::{LossCounts, OrderingEvidence};
use crate::model::rtt::{ConnectionRtt, PathRtt, RttSource};
use crate::model::state::{CloseKind, Closer, Handshake, ResetFacts, TcpState};
use crate::model::time::Timestamp;
use crate::model::zeek::{ConnState, History, ZeekFacts, ZeekSide};
use crate::store::codec::{Reader, Writer};
use crate::store::tracker_form::{decode_anomalies, encode_anomalies};

/// A record as kept until printed: its compact encoding (`crate::store::codec`; about a sixth
/// of its size in memory, as most counters are small or zero), with the keys that order
/// and select records. The id, first packet number and first packet time are kept here
/// and not in the bytes. 32 bytes: the encoding's length and whether the connection closed
/// abnormally are at the start of its allocation (`Packed`), not beside its address.
#[derive(Clone, Debug, Default)]
pub struct PackedRecord {
    pub id: u64,
    pub first_packet: u64,
    first_seen: Timestamp,
    bytes: Packed,
}

/// One allocation: a varint head (the encoding's length times four, plus two if the bytes
/// are in a `PackedRecords` arena and not an allocation of their own, plus one if the
/// connection closed abnormally), then the encoding. One pointer wide (a `Box<[u8]>` is
/// two) and the same one allocation, so that records still fill the places of the dormant
/// connections freed as they wake.
#[derive(Debug, Default)]
struct Packed(Option<NonNull<u8>>);

// SAFETY: `Packed` owns its allocation as a `Box<[u8]>` would, and never writes it after
// making it.
unsafe impl Send for Packed {}
// SAFETY: as for `Send`: shared, it is only read.
unsafe impl Sync for Packed {}

impl Packed {
    /// The head of an encoding of `len` bytes, and its length.
    fn make_head(len: usize, in_arena: bool, abnormal: bool) -> ([u8; 10], usize) {
        let mut head = [0; 10];
        let mut n = 0;
        let mut v = ((len as u64) << 2) | (u64::from(in_arena) << 1) | u64::from(abnormal);
        loop {
            head[n] = (v & 0x7f) as u8 | if v >= 0x80 { 0x80 } else { 0 };
            n += 1;
            v >>= 7;
            if v == 0 {
                return (head, n);
            }
        }
    }

    fn new(bytes: &[u8], abnormal: bool) -> Packed {
        let (head, n) = Self::make_head(bytes.len(), false, abnormal);
        let layout = Self::layout(n + bytes.len());
        // SAFETY: the layout is at least one byte (the head).
        let start = unsafe { std::alloc::alloc(layout) };
        let start = NonNull::new(start).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        // SAFETY: the allocation is `n + bytes.len()` bytes, new, written only here.
        unsafe {
            std::ptr::copy_nonoverlapping(head.as_ptr(), start.as_ptr(), n);
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), start.as_ptr().add(n), bytes.len());
        }
        Packed(Some(start))
    }

    fn layout(size: usize) -> Layout {
        Layout::array::<u8>(size).expect("a record's size fits")
    }

    /// The head's value and its length.
    fn head(start: NonNull<u8>) -> (u64, usize) {
        let (mut v, mut n) = (0u64, 0);
        loop {
            // SAFETY: the head was written whole by `new` and ends at a byte under 0x80.
            let b = unsafe { *start.as_ptr().add(n) };
            v |= u64::from(b & 0x7f) << (7 * n);
            n += 1;
            if b < 0x80 {
                return (v, n);
            }
        }
    }

    fn abnormal(&self) -> bool {
        self.0.is_some_and(|start| Self::head(start).0 & 1 == 1)
    }

    fn bytes(&self) -> &[u8] {
        match self.0 {
            None => &[],
            Some(start) => {
                let (v, n) = Self::head(start);
                // SAFETY: `new` (or `PackedRecords::compact`) wrote `v >> 2` bytes after the
                // head's `n`; they live as long as `self`.
                unsafe { std::slice::from_raw_parts(start.as_ptr().add(n), (v >> 2) as usize) }
            }
        }
    }
}

impl Clone for Packed {
    fn clone(&self) -> Packed {
        match self.0 {
            None => Packed(None),
            Some(_) => Packed::new(self.bytes(), self.abnormal()),
        }
    }
}

impl Drop for Packed {
    fn drop(&mut self) {
        if let Some(start) = self.0 {
            let (v, n) = Self::head(start);
            if v & 2 == 0 {
                // SAFETY: allocated in `new` with this layout (the head and the encoding).
                unsafe { std::alloc::dealloc(start.as_ptr(), Self::layout(n + (v >> 2) as usize)) }
            }
        }
    }
}

/// How many bytes of a record `prefetch` asks for: most encodings are shorter.
const PREFETCH_BYTES: usize = 192;

thread_local! {
    /// Reused to encode records, so that the only allocation is the exact-size one kept.
    static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

impl PackedRecord {
    pub fn pack(r: &ConnectionRecord) -> Self {
        let mut scratch = SCRATCH.take();
        scratch.clear();
        r.encode(&mut Writer::new(&mut scratch, r.first_seen));
        let bytes = Packed::new(&scratch, r.close.is_abnormal());
        SCRATCH.set(scratch);
        PackedRecord {
            id: r.id,
            first_packet: r.first_packet,
            first_seen: r.first_seen,
            bytes,
        }
    }

    /// Whether the connection closed abnormally (refused, reset, unanswered, half open).
    pub fn abnormal(&self) -> bool {
        self.bytes.abnormal()
    }

    /// Starts loading the encoding, for a loop that will unpack this record soon.
    pub fn prefetch(&self) {
        // Its length is in its head, not yet loaded: ask for as many lines as most records
        // take (a prefetch reads nothing and faults on no address).
        if let Some(start) = self.bytes.0 {
            crate::store::codec::prefetch_range(start.as_ptr(), PREFETCH_BYTES);
        }
    }

    pub fn unpack(&self) -> ConnectionRecord {
        // The id may have been given after packing (connections numbered across shards).
        ConnectionRecord::decode(
            &mut Reader::new(self.bytes.bytes(), self.first_seen),
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
        w.count(self.tshark_retransmissions);
        w.count(self.tshark_out_of_order);
        w.count(self.zero_window_probes);
        w.count(self.keepalive_probes);
        w.count(self.keepalive_acks);
        w.end();
        // The true counts are the evidence's (`LossCounts`), not written twice.
        w.group(2);
        self.loss.encode(w);
        self.ordering_evidence.encode(w);
        w.end();
    }

    fn decode(r: &mut Reader<'_>) -> SideFigures {
        r.group(2);
        let mut f = SideFigures {
            packets: r.count(),
            bytes: r.count(),
            payload_bytes: r.count(),
            fins: r.count(),
            rsts: r.count(),
            tshark_retransmissions: r.count(),
            tshark_out_of_order: r.count(),
            zero_window_probes: r.count(),
            keepalive_probes: r.count(),
            keepalive_acks: r.count(),
            ..SideFigures::default()
        };
        r.group(2);
        f.loss = LossCounts::decode(r);
        f.ordering_evidence = OrderingEvidence::decode(r);
        f.retransmissions = f.loss.retransmissions();
        f.out_of_order = u64::from(f.loss.out_of_order);
        f
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
        encode_rtt(&self.rtt, w);
        self.app.encode(w);
        encode_zeek(&self.zeek, w);
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
            rtt: decode_rtt(r),
            app: AppLabel::decode(r),
            zeek: decode_zeek(r),
        };
        debug_assert_eq!(r.remaining(), 0, "a record decodes from its own encoding");
        record
    }
}

/// A byte per side (none, timestamps, data/ACK), and its figures when there are samples:
/// min, median, p99 and max, each as its difference from the one before (they ascend).
fn encode_rtt(rtt: &ConnectionRtt, w: &mut Writer<'_>) {
    for side in [&rtt.client_side, &rtt.server_side] {
        match side {
            None => w.byte(0),
            Some(p) => {
                w.byte(1 + u8::from(p.source == RttSource::DataAck));
                w.varint(p.samples);
                // Each from the one before: smaller numbers, fewer bytes.
                let mut before = 0;
                for d in [p.min, p.median, p.p99, p.max] {
                    let ns = d.as_nanos() as u64;
                    w.varint(ns - before);
                    before = ns;
                }
            }
        }
    }
}

fn decode_rtt(r: &mut Reader<'_>) -> ConnectionRtt {
    let mut side = || {
        let kind = r.byte();
        (kind != 0).then(|| {
            let samples = r.varint();
            let mut before = 0;
            let mut d = || {
                before += r.varint();
                std::time::Duration::from_nanos(before)
            };
            PathRtt {
                samples,
                min: d(),
                median: d(),
                p99: d(),
                max: d(),
                source: if kind == 2 {
                    RttSource::DataAck
                } else {
                    RttSource::Timestamps
                },
            }
        })
    };
    ConnectionRtt {
        client_side: side(),
        server_side: side(),
    }
}

/// Zeek's view: a group of its own (16 bits: full), the history's letters, the counts.
fn encode_zeek(z: &ZeekFacts, w: &mut Writer<'_>) {
    w.group(2);
    w.bits(z.conn_state as u32, 4);
    w.flag(z.orig_is_client);
    w.flag(z.history.truncated());
    let letters = z.history.as_str().as_bytes();
    w.varint(letters.len() as u64);
    w.bytes(letters);
    for side in [&z.orig, &z.resp] {
        w.count(side.packets);
        w.count(side.ip_bytes);
        w.count(side.bytes);
    }
    w.count(z.missed_bytes);
    w.count(u64::from(z.earlier_rows));
    for parent in z.tunnel_parents {
        w.count(u64::from(parent));
    }
    w.end();
    w.duration(z.duration);
    w.time(z.ts);
}

fn decode_zeek(r: &mut Reader<'_>) -> ZeekFacts {
    r.group(2);
    let conn_state = ConnState::ALL[(r.bits(4) as usize).min(ConnState::ALL.len() - 1)];
    let orig_is_client = r.flag();
    let truncated = r.flag();
    let len = r.varint() as usize;
    let history = History::from_parts(r.take(len), truncated);
    let mut side = || ZeekSide {
        packets: r.count(),
        ip_bytes: r.count(),
        bytes: r.count(),
    };
    let (orig, resp) = (side(), side());
    let missed_bytes = r.count();
    let earlier_rows = u32::try_from(r.count()).unwrap_or(u32::MAX);
    let tunnel_parents = [r.count() as u32, r.count() as u32];
    ZeekFacts {
        orig_is_client,
        conn_state,
        history,
        orig,
        resp,
        missed_bytes,
        duration: r.duration(),
        ts: r.time(),
        earlier_rows,
        tunnel_parents,
    }
}

impl RoleBasis {
    /// In declaration order, so that `ALL[r as usize] == r`.
    const ALL: [RoleBasis; 3] = [RoleBasis::Syn, RoleBasis::SynAck, RoleBasis::Port];

    /// Two bits in the open group (`crate::store::codec`).
    pub(crate) fn encode(self, w: &mut Writer<'_>) {
        w.bits(self as u32, 2);
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> RoleBasis {
        RoleBasis::ALL[r.bits(2) as usize]
    }
}

/// A report's records, packed, in order of id.
#[derive(Debug, Default)]
pub struct PackedRecords {
    // Dropped before `arena`, which the records' bytes may be in.
    records: Vec<PackedRecord>,
    /// The encodings of the records moved together by `compact`, in blocks.
    arena: Vec<Vec<u8>>,
}

impl From<Vec<PackedRecord>> for PackedRecords {
    fn from(records: Vec<PackedRecord>) -> Self {
        PackedRecords {
            records,
            arena: Vec::new(),
        }
    }
}

/// Size of the blocks `compact` moves records' bytes into.
const ARENA_BLOCK: usize = 64 << 10;

/// How many bytes `compact` moves between two returns of free pages to the system.
const COMPACT_STEP: usize = 2 << 20;

impl PackedRecords {
    /// Moves every record's bytes into a few blocks and frees theirs. Made while the flow
    /// tables were alive, records are spread over nearly every page of the heap (one in
    /// about every 500 bytes); moved together, the pages the tables held become wholly
    /// free and go back to the system before an output that allocates much of its own.
    /// Records are moved in order of address and the free pages handed back every
    /// `COMPACT_STEP` bytes, so that the blocks never add more than that at once.
    pub fn compact(&mut self) {
        if !self.arena.is_empty() {
            return;
        }
        let mut order: Vec<u32> = (0..self.records.len() as u32)
            .filter(|&i| self.records[i as usize].bytes.0.is_some())
            .collect();
        order.sort_unstable_by_key(|&i| self.records[i as usize].bytes.0.map(NonNull::as_ptr));
        let mut arena: Vec<Vec<u8>> = Vec::new();
        let mut since_trim = 0;
        for i in order {
            let r = &mut self.records[i as usize];
            let bytes = r.bytes.bytes();
            let (head, n) = Packed::make_head(bytes.len(), true, r.bytes.abnormal());
            let size = n + bytes.len();
            if arena.last().is_none_or(|b| b.capacity() - b.len() < size) {
                arena.push(Vec::with_capacity(ARENA_BLOCK.max(size)));
            }
            let block = arena.last_mut().expect("a block was just made");
            let offset = block.len();
            block.extend_from_slice(&head[..n]);
            block.extend_from_slice(bytes);
            // SAFETY: in bounds of a block that is never written again past this record,
            // never reallocated (it had room), and that outlives the records (field order).
            let start = unsafe { NonNull::new_unchecked(block.as_mut_ptr().add(offset)) };
            // The old `Packed` frees its own allocation as it is replaced.
            r.bytes = Packed(Some(start));
            since_trim += size;
            if since_trim >= COMPACT_STEP {
                since_trim = 0;
                give_back_free_pages();
            }
        }
        self.arena = arena;
    }
}

/// Hands the pages no allocation uses back to the system.
pub fn give_back_free_pages() {
    // SAFETY: malloc_trim only hands free pages back; it touches no live allocation.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        libc::malloc_trim(0);
    }
}

/// How many records ahead a loop over them asks for the next ones' bytes (a record's
/// decoding takes about as long as a load from memory).
const PREFETCH_AHEAD: usize = 4;

impl RecordList for PackedRecords {
    fn len(&self) -> usize {
        self.records.len()
    }

    fn is_abnormal(&self, index: usize) -> bool {
        self.records[index].abnormal()
    }

    fn first_seen(&self, index: usize) -> Timestamp {
        self.records[index].first_seen
    }

    fn record(&self, index: usize) -> ConnectionRecord {
        // Records are read in order: start loading the ones a few ahead.
        if let Some(ahead) = self.records.get(index + PREFETCH_AHEAD) {
            ahead.prefetch();
        }
        self.records[index].unpack()
    }

    fn compact(&mut self) {
        PackedRecords::compact(self);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::flow::FlowTable;
    use crate::model::event::NoEvents;

    /// The records of every connection in the fixtures of `dir`, packed.
    fn packed_fixture_records(dir: &str) -> Vec<PackedRecord> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        let mut packed = Vec::new();
        for file in std::fs::read_dir(dir).unwrap() {
            let mut t = FlowTable::new(Duration::from_secs(60));
            crate::flow::each_test_segment(&file.unwrap().path(), |seg, orig_len, ts| {
                t.on_segment(seg, orig_len, ts, &mut NoEvents);
            });
            t.finish(|c| packed.push(PackedRecord::pack(&ConnectionRecord::of(&c))));
        }
        packed
    }

    #[test]
    fn compacted_records_read_as_they_were_packed() {
        let mut packed = packed_fixture_records("fixtures/tcp");
        packed.extend(packed_fixture_records("fixtures/app"));
        let n = packed.len();
        assert!(n > 30, "{n}");
        let mut list = PackedRecords::from(packed);
        let before: Vec<_> = (0..n)
            .map(|i| (format!("{:?}", list.record(i)), list.is_abnormal(i)))
            .collect();
        assert!(before.iter().any(|b| b.1) && before.iter().any(|b| !b.1));
        list.compact();
        assert!(!list.arena.is_empty());
        let in_arena = |r: &PackedRecord| r.bytes.0.is_some_and(|s| Packed::head(s).0 & 2 == 2);
        assert_eq!(list.records.iter().filter(|r| in_arena(r)).count(), n);
        let after: Vec<_> = (0..n)
            .map(|i| (format!("{:?}", list.record(i)), list.is_abnormal(i)))
            .collect();
        assert_eq!(before, after);
        // A copy owns its bytes again, and outlives the list.
        let copy = list.records[0].clone();
        assert!(!in_arena(&copy));
        drop(list);
        assert_eq!(format!("{:?}", copy.unpack()), before[0].0);
    }
}
