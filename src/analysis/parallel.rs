//! The parallel back end. The reading thread reads: it hands each buffer of whole
//! records, with the place of every packet in it, to all the worker threads at once
//! (shared, not copied: classic pcap records are read in place). Every worker decodes
//! every packet and keeps the TCP ones whose connection hash falls in its shard, in its
//! own flow table. When the workers fall behind, the reader decodes a buffer itself and
//! sorts its TCP packets by shard, so that each worker reads only its own. Either way
//! every packet of a connection is tracked by the same worker, in capture order, exactly
//! as one table would track it; connections are then numbered by their first packet in
//! the whole input, as one table numbers them. The report is byte for byte the
//! single-threaded one (tests/parallel.rs).
//!
//! Buffers travel in a fixed pool over bounded channels: the last worker done with one
//! sends it back for reuse. No allocation per packet, and the reader never runs more than
//! the pool ahead.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::analysis::tracer::{Trace, Tracer};
use crate::capture::file::{BufferExchange, Packet};
use crate::decode::key::FlowKey;
use crate::decode::{decode, Decoded, TcpSegment};
use crate::flow::{FlowHasher, FlowTable};
use crate::model::connection_record::ConnectionRecord;
use crate::model::event::NoEvents;
use crate::model::flags::TcpFlags;
use crate::model::link::LinkType;
use crate::model::report::PacketCounts;
use crate::model::seq::Seq;
use crate::model::summary::SummaryBuilder;
use crate::model::time::Timestamp;
use crate::model::tunnel::Tunnel;
use crate::store::packed_records::PackedRecord;
use crate::tcp::connection::Connection;

/// Buffers in circulation: enough to ride out bursts of work on either side (with 6,
/// both threads waited a tenth of the run on full-size records), few enough to stay a
/// small part of the memory budget (16 MiB).
const POOL: usize = 16;
/// Size of the buffers the reader copies records into when it cannot lend its own
/// (pcapng), and the least it reads into when it can.
const CHUNK_BYTES: usize = 1 << 20;

/// How many packets ahead a worker asks for packet bytes.
const PREFETCH_AHEAD: usize = 4;

/// Where one packet is in a chunk.
#[derive(Clone, Copy)]
struct Place {
    ts: Timestamp,
    /// Place of the packet in the whole input (from 1).
    number: u64,
    /// Offset of the packet's bytes in the chunk; while the reader is still filling a
    /// lent buffer, their address (see `Shards::full`).
    start: usize,
    len: u32,
    orig_len: u32,
}

/// A packet every worker decodes.
#[derive(Clone, Copy)]
struct Meta {
    place: Place,
    link_type: LinkType,
}

/// A TCP packet the reader decoded, for the one worker whose shard has its connection:
/// when the workers fall behind, the reader takes that share of their work (see
/// `Shards::flush`).
#[derive(Clone, Copy)]
struct Routed {
    place: Place,
    seg: Detached,
}

/// A decoded TCP segment without its borrow, as small as it goes (the worker reads one
/// per packet, from the reader's core): the slices as offsets from the packet's first
/// byte, the addresses as the connection's key gives them.
#[derive(Clone, Copy)]
struct Detached {
    key: FlowKey,
    hash: u64,
    seq: Seq,
    ack: Seq,
    payload_len: u32,
    payload: (u32, u32),
    /// Apart, not a tuple: a `(u32, u8)` pads to 8 bytes.
    options_at: u32,
    options_len: u8,
    /// The TCP flags (9 bits) and, above them from bit 12, the tunnel (`TUNNELS`' index
    /// plus one, 0 for none): a byte saved for the IP ID.
    flags_and_tunnel: u16,
    window: u16,
    /// The IP length field as the header has it (IPv6: the payload length, 40 less than
    /// `TcpSegment::ip_len`): two bytes, where the whole length takes four.
    ip_len_field: u16,
    header_sum: u16,
    ip_id: u16,
    /// `IP_CHECKSUM_OK`, `SRC_IS_LO` (the source is the key's low end) and `V6` (IPv6
    /// addresses: an IPv4-mapped IPv6 address has the key of the IPv4 one), and from bit
    /// 4 the TCP header length in words (at most 15), in one byte so that a `Routed`
    /// keeps to 120 bytes.
    bits: u8,
    tunnel_parent: u32,
}

impl Detached {
    fn of(seg: &TcpSegment<'_>, data: &[u8], key: (FlowKey, bool), hash: u64) -> Detached {
        let from = |part: &[u8]| match part {
            [] => 0,
            _ => part.as_ptr() as usize - data.as_ptr() as usize,
        };
        Detached {
            key: key.0,
            bits: (u8::from(seg.ip_checksum_ok) * Detached::IP_CHECKSUM_OK)
                | (u8::from(key.1) * Detached::SRC_IS_LO)
                | (u8::from(seg.v6) * Detached::V6)
                // A multiple of 4 up to 60 (the data offset's 4 bits × 4).
                | (((seg.header_len.min(60) / 4) as u8) << 4),
            tunnel_parent: seg.tunnel_parent,
            hash,
            seq: seg.seq,
            ack: seg.ack,
            flags_and_tunnel: seg.flags.0 | (seg.tunnel.map_or(0, tunnel_code) << 12),
            window: seg.window,
            ip_len_field: if seg.v6 {
                seg.ip_len.saturating_sub(40) as u16
            } else {
                seg.ip_len as u16
            },
            header_sum: seg.header_sum,
            ip_id: seg.ip_id,
            payload_len: seg.payload_len,
            // TCP options are at most 40 bytes.
            options_at: from(seg.options) as u32,
            options_len: seg.options.len() as u8,
            payload: (from(seg.payload) as u32, seg.payload.len() as u32),
        }
    }

    const IP_CHECKSUM_OK: u8 = 1;
    const SRC_IS_LO: u8 = 2;
    const V6: u8 = 4;

    fn src_is_lo(&self) -> bool {
        self.bits & Detached::SRC_IS_LO != 0
    }

    fn attach<'a>(&self, data: &'a [u8]) -> TcpSegment<'a> {
        let part = |from: usize, len: usize| &data[from..from + len];
        let v6 = self.bits & Detached::V6 != 0;
        let [(src_ip, src_port), (dst_ip, dst_port)] = self.key.ends(self.src_is_lo());
        TcpSegment {
            src_ip,
            dst_ip,
            src_port,
            dst_port,
            v6,
            seq: self.seq,
            ack: self.ack,
            flags: TcpFlags(self.flags_and_tunnel & 0x0fff),
            window: self.window,
            header_len: u16::from(self.bits >> 4) * 4,
            payload_len: self.payload_len,
            options: part(self.options_at as usize, usize::from(self.options_len)),
            payload: part(self.payload.0 as usize, self.payload.1 as usize),
            ip_len: u32::from(self.ip_len_field) + if v6 { 40 } else { 0 },
            header_sum: self.header_sum,
            ip_checksum_ok: self.bits & Detached::IP_CHECKSUM_OK != 0,
            ip_id: self.ip_id,
            tunnel: match self.flags_and_tunnel >> 12 {
                0 => None,
                i => TUNNELS.get(usize::from(i) - 1).copied(),
            },
            tunnel_parent: self.tunnel_parent,
        }
    }
}

/// A tunnel's index in `TUNNELS` plus one (the match makes a new tunnel a compile error
/// here rather than one lost in `Detached`).
fn tunnel_code(t: Tunnel) -> u16 {
    let i = match t {
        Tunnel::Gre => 0,
        Tunnel::Erspan => 1,
        Tunnel::IpInIp => 2,
        Tunnel::Vxlan => 3,
        Tunnel::Geneve => 4,
        Tunnel::Teredo => 5,
        Tunnel::GtpU => 6,
        Tunnel::Ayiya => 7,
    };
    debug_assert_eq!(TUNNELS[i], t);
    i as u16 + 1
}

/// Every tunnel, for the four bits `Detached` keeps one in.
const TUNNELS: [Tunnel; 8] = [
    Tunnel::Gre,
    Tunnel::Erspan,
    Tunnel::IpInIp,
    Tunnel::Vxlan,
    Tunnel::Geneve,
    Tunnel::Teredo,
    Tunnel::GtpU,
    Tunnel::Ayiya,
];

/// A sweep of the flow tables (`FlowTable::retire`) as of capture time `at`, before the
/// packet numbered `before`: where one table would sweep (`analyzer::sweep_due`).
#[derive(Clone, Copy)]
struct Sweep {
    before: u64,
    at: Timestamp,
}

/// A buffer of records and the packets in it.
struct Chunk {
    bytes: Box<[u8]>,
    /// Bytes of `bytes` in use, when the reader copies packets in.
    used: usize,
    /// The reader decoded this chunk's packets and sorted the TCP ones by shard
    /// (`by_shard`); otherwise every worker decodes all of `packets`.
    routed: bool,
    packets: Vec<Meta>,
    /// Each worker's packets, when `routed`: a worker reads only its own from the other
    /// core, and none of the packets no worker wants.
    by_shard: Vec<Vec<Routed>>,
    /// The sweeps due among (or just before) these packets, in order.
    sweeps: Vec<Sweep>,
}

impl Chunk {
    fn new() -> Chunk {
        Chunk {
            bytes: Box::default(),
            used: 0,
            routed: false,
            packets: Vec::new(),
            by_shard: Vec::new(),
            sweeps: Vec::new(),
        }
    }

    /// No packet queued in it.
    fn is_empty(&self) -> bool {
        self.packets.is_empty() && self.by_shard.iter().all(Vec::is_empty)
    }

    /// Nothing in it for any worker: no packet, no sweep.
    fn is_idle(&self) -> bool {
        self.is_empty() && self.sweeps.is_empty()
    }

    fn clear(&mut self) {
        self.used = 0;
        self.packets.clear();
        self.by_shard.iter_mut().for_each(Vec::clear);
        self.sweeps.clear();
    }

    /// Every packet queued, in whichever list.
    fn places_mut(&mut self) -> impl Iterator<Item = &mut Place> {
        let shared = self.packets.iter_mut().map(|m| &mut m.place);
        let routed = self.by_shard.iter_mut().flatten().map(|r| &mut r.place);
        shared.chain(routed)
    }

    fn data(&self, place: &Place) -> &[u8] {
        &self.bytes[place.start..place.start + place.len as usize]
    }
}

/// What a worker hands back at the end.
struct WorkerResult {
    records: Vec<PackedRecord>,
    /// Their share of the summary.
    summary: SummaryBuilder,
    retired: u64,
    evicted: u64,
    /// Packets by layer, of the chunks the reader left undecoded (from the first worker
    /// only: every worker decodes every packet of those; the reader counts the rest).
    counts: PacketCounts,
    /// The worker's tracer (`Shards::new`'s `trace`), its traces by local id.
    tracer: Option<Tracer>,
}

struct Worker {
    to_worker: SyncSender<Arc<Chunk>>,
    handle: JoinHandle<WorkerResult>,
}

/// Worker threads, each with a flow table for its shard of the connections.
pub struct Shards {
    workers: Vec<Worker>,
    pool: Receiver<Chunk>,
    /// For a chunk the reader is done with before any worker saw it.
    to_pool: SyncSender<Chunk>,
    /// The chunk being filled.
    current: Chunk,
    /// The chunk whose bytes were lent to the reader, to be filled next.
    next: Option<Chunk>,
    /// Chunks sent and not yet done by every worker.
    in_flight: Arc<AtomicUsize>,
    /// Decode on this thread the packets of the chunk being filled (the workers are behind).
    predecode: bool,
    /// Overrides the choice, for tests: always or never decode here.
    #[cfg(test)]
    force_predecode: Option<bool>,
    hasher: FlowHasher,
    /// Packets by layer of those decoded here.
    layers: PacketCounts,
    /// Capture time of the last sweep (`passing`).
    last_sweep: Option<Timestamp>,
}

impl Shards {
    /// `zeek_checksums`: `FlowTable::set_zeek_checksums` for every worker's table.
    /// `trace`: each worker keeps the events of its candidates for the worst connections
    /// in a `Tracer` of its own (the HTML report), as one tracker on one thread would.
    pub fn new(workers: usize, msl: Duration, zeek_checksums: bool, trace: bool) -> Shards {
        let workers = workers.max(1);
        let (give_back, pool) = sync_channel::<Chunk>(POOL);
        for _ in 0..POOL - 1 {
            let _ = give_back.try_send(Chunk::new());
        }
        // One hasher for all: the hash that picks a packet's shard is the one its table
        // looks it up with (random keys: crafted 4-tuples cannot aim at one worker).
        let hasher = FlowHasher::new();
        let in_flight = Arc::new(AtomicUsize::new(0));
        let workers = (0..workers)
            .map(|me| {
                let (to_worker, inbox) = sync_channel::<Arc<Chunk>>(POOL);
                let give_back = give_back.clone();
                let hasher = hasher.clone();
                let in_flight = Arc::clone(&in_flight);
                let handle = std::thread::spawn(move || {
                    let shard = Shard { me, of: workers };
                    let channels = WorkerChannels { inbox, give_back };
                    let settings = (msl, zeek_checksums, trace);
                    work(channels, in_flight, shard, hasher, settings)
                });
                Worker { to_worker, handle }
            })
            .collect();
        Shards {
            workers,
            pool,
            to_pool: give_back,
            current: Chunk::new(),
            next: None,
            in_flight,
            predecode: false,
            #[cfg(test)]
            force_predecode: None,
            hasher,
            layers: PacketCounts::default(),
            last_sweep: None,
        }
    }

    /// Notes a packet of the input going by, queued or not (filtered out), before it is
    /// queued: when one table would sweep before it, every worker sweeps its table at the
    /// same place, as of the same time. A worker that swept on the times of its own
    /// packets only would sweep elsewhere, and a connection put to sleep at another time
    /// can come out different when capture time runs backwards (merged captures).
    pub fn passing(&mut self, ts: Timestamp, number: u64) {
        if crate::analysis::analyzer::sweep_due(self.last_sweep, ts) {
            self.last_sweep = Some(ts);
            self.current.sweeps.push(Sweep {
                before: number,
                at: ts,
            });
        }
    }

    /// Queues a packet whose bytes were copied into no shared buffer: copies them.
    pub fn copy(&mut self, packet: &Packet<'_>, number: u64) {
        let len = packet.data.len();
        if self.current.used + len > self.current.bytes.len() {
            self.flush();
            self.current = self.take_spare();
            if self.current.bytes.len() < len {
                self.current.bytes = vec![0; len.max(CHUNK_BYTES)].into_boxed_slice();
            }
        }
        let start = self.current.used;
        self.current.bytes[start..start + len].copy_from_slice(packet.data);
        self.current.used += len;
        self.push(packet, number, start);
    }

    /// Queues a packet that lies in a buffer lent by the reader (see `BufferExchange`).
    pub fn lent(&mut self, packet: &Packet<'_>, number: u64) {
        if self.current.used > 0 {
            // Copies of an earlier input's packets (pcapng) go first: a chunk holds one or
            // the other.
            self.flush();
        }
        self.push(packet, number, packet.data.as_ptr() as usize);
    }

    fn push(&mut self, packet: &Packet<'_>, number: u64, start: usize) {
        if self.current.is_empty() {
            // A chunk is decoded here whole or not at all: a worker reads one list of it.
            self.current.routed = self.predecode;
        }
        let place = Place {
            ts: packet.ts,
            number,
            start,
            len: packet.data.len() as u32,
            orig_len: packet.orig_len,
        };
        if !self.current.routed {
            self.current.packets.push(Meta {
                place,
                link_type: packet.link_type,
            });
            return;
        }
        let cut = packet.orig_len.saturating_sub(packet.data.len() as u32);
        let decoded = decode(packet.link_type, packet.data, cut);
        self.layers.count(&decoded);
        if let Decoded::Tcp(seg) = decoded {
            let key = FlowKey::of(&seg);
            let hash = key.0.hash_with(&self.hasher);
            let seg = Detached::of(&seg, packet.data, key, hash);
            let shards = self.workers.len();
            let by_shard = &mut self.current.by_shard;
            if by_shard.len() < shards {
                by_shard.resize_with(shards, Vec::new);
            }
            by_shard[Shard::of(hash, shards)].push(Routed { place, seg });
        }
    }

    fn take_spare(&mut self) -> Chunk {
        // When every buffer is out, the workers are behind: wait for one (but not for a
        // worker that has stopped: it panicked, and `finish` will say so).
        let mut chunk = loop {
            match self.pool.recv_timeout(Duration::from_millis(100)) {
                Ok(chunk) => break chunk,
                Err(_) if self.workers.iter().any(|w| w.handle.is_finished()) => {
                    break Chunk::new()
                }
                Err(_) => {}
            }
        };
        chunk.clear();
        chunk
    }

    /// Sends the chunk being filled to every worker.
    fn flush(&mut self) {
        if self.current.is_idle() {
            // Nothing for any worker (a decoded buffer may hold only packets no worker
            // wants): its buffer goes straight back to the pool, not out of circulation.
            let empty = std::mem::replace(&mut self.current, Chunk::new());
            let _ = self.to_pool.try_send(empty);
            return;
        }
        // Two chunks waiting beside the one being worked on: the workers are the
        // bottleneck, so this thread decodes the next chunk for them. Taking work only
        // when they are behind keeps the reader from becoming the bottleneck itself
        // (full-size records, where reading is most of its time).
        let waiting = self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.predecode = waiting >= 2;
        #[cfg(test)]
        if let Some(force) = self.force_predecode {
            self.predecode = force;
        }
        let full = Arc::new(std::mem::replace(&mut self.current, Chunk::new()));
        // Only workers hold it, so the last one done sends it back (`Arc::into_inner`).
        let mut held = Some(full);
        for (i, w) in self.workers.iter().enumerate() {
            let share = if i + 1 == self.workers.len() {
                held.take()
            } else {
                held.clone()
            };
            if let Some(share) = share {
                // A worker gone has panicked, and `finish` will say so.
                let _ = w.to_worker.send(share);
            }
        }
    }

    /// Waits for the workers and returns what they found.
    pub fn finish(mut self) -> Sharded {
        self.flush();
        let handles: Vec<_> = self
            .workers
            .into_iter()
            .map(|w| {
                drop(w.to_worker);
                w.handle
            })
            .collect();
        // The buffers are idle from here: their memory goes to the records. Each worker
        // makes the records of its own connections: in its own malloc arena, they take
        // the places its dormant connections leave as they wake. (This thread took a
        // share once, a few hundredths of a second sooner on the 10 M-packet trace, but
        // its records went to new pages of its own arena: 16 MiB more at the peak.)
        self.current = Chunk::new();
        self.next = None;
        // The buffers given back go with the pool; those still with a worker are freed as
        // it gives them back (into no pool).
        drop(std::mem::replace(&mut self.pool, sync_channel(0).1));
        let mut outcome = Sharded {
            records: Vec::new(),
            summary: SummaryBuilder::default(),
            retired: 0,
            evicted: 0,
            counts: PacketCounts::default(),
            traces: None,
        };
        for (i, handle) in handles.into_iter().enumerate() {
            let result = handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            merge_sorted(&mut outcome.records, result.records);
            outcome.summary.merge(&result.summary);
            outcome.retired += result.retired;
            outcome.evicted += result.evicted;
            if i == 0 {
                outcome.counts = result.counts;
            }
            if let Some(tracer) = result.tracer {
                let (traces, untraced) = tracer.finish();
                let (all, all_untraced) = outcome.traces.get_or_insert_default();
                // Local ids mean nothing outside the worker: the first packet names it.
                all.extend(traces.into_values().map(|t| (t.view.first_packet, t)));
                *all_untraced += untraced;
            }
        }
        outcome.counts.add_layers(&self.layers);
        outcome
    }
}

/// Merges `run` into `into`, both in order of first packet, from the back: `into` grows
/// once to its final length and no third list is made (the records' lists are the largest
/// allocations at the end of a run).
fn merge_sorted(into: &mut Vec<PackedRecord>, mut run: Vec<PackedRecord>) {
    let mut i = into.len();
    into.reserve_exact(run.len());
    // Empty places (no allocation) for the merge to fill from the back.
    into.resize_with(i + run.len(), PackedRecord::default);
    let mut k = into.len();
    while let Some(last) = run.last() {
        k -= 1;
        if i > 0 && into[i - 1].first_packet > last.first_packet {
            into.swap(i - 1, k);
            i -= 1;
        } else {
            into[k] = run.pop().expect("a last one");
        }
    }
}

/// What the workers found.
pub struct Sharded {
    /// Every connection's record, in order of first packet, with the ids of no table yet.
    pub records: Vec<PackedRecord>,
    /// With `trace`: the workers' traces by their connection's first packet, and how many
    /// connections were not traced.
    pub traces: Option<(HashMap<u64, Trace>, u64)>,
    pub summary: SummaryBuilder,
    pub retired: u64,
    pub evicted: u64,
    /// Packets by layer.
    pub counts: PacketCounts,
}

impl BufferExchange for Shards {
    fn fresh(&mut self, min: usize) -> Box<[u8]> {
        let mut chunk = self.take_spare();
        let mut bytes = std::mem::take(&mut chunk.bytes);
        if bytes.len() < min {
            bytes = vec![0; min.max(CHUNK_BYTES)].into_boxed_slice();
        }
        self.next = Some(chunk);
        bytes
    }

    fn full(&mut self, bytes: Box<[u8]>) {
        // The packets were queued by address in this buffer: make them offsets.
        let base = bytes.as_ptr() as usize;
        for place in self.current.places_mut() {
            place.start -= base;
        }
        self.current.bytes = bytes;
        if self.current.is_idle() {
            // No whole record in it (one was longer than the read so far): keep it in
            // circulation.
            let empty = std::mem::replace(&mut self.current, Chunk::new());
            let _ = self.to_pool.try_send(empty);
        } else {
            self.flush();
        }
        if let Some(next) = self.next.take() {
            self.current = next;
        }
    }
}

/// Lends a reader's buffers to the shards through the same `RefCell` its packet callback
/// queues packets through (never both at once: the reader calls one, then the other).
pub struct Lending<'a, 'b>(pub &'a std::cell::RefCell<&'b mut Shards>);

impl BufferExchange for Lending<'_, '_> {
    fn fresh(&mut self, min: usize) -> Box<[u8]> {
        self.0.borrow_mut().fresh(min)
    }
    fn full(&mut self, buf: Box<[u8]>) {
        self.0.borrow_mut().full(buf)
    }
}

/// Which connections a worker keeps.
#[derive(Clone, Copy)]
struct Shard {
    me: usize,
    of: usize,
}

impl Shard {
    /// The shard of `shards` that keeps the connection with this hash.
    fn of(hash: u64, shards: usize) -> usize {
        // Bits the table does not use to place entries (it takes the low bits for the
        // bucket and the top seven for its tags), so each shard's table stays well spread.
        // Scaled by a multiply: a division here was a tenth of the worker's own time.
        ((((hash >> 32) & 0x00ff_ffff) * shards as u64) >> 24) as usize
    }

    fn keeps(self, hash: u64) -> bool {
        Shard::of(hash, self.of) == self.me
    }
}

/// Records made from finished connections, with their share of the summary.
#[derive(Default)]
struct RecordRun {
    records: Vec<PackedRecord>,
    summary: SummaryBuilder,
}

impl RecordRun {
    fn add(&mut self, c: &Connection) {
        let record = ConnectionRecord::of(c);
        self.summary.add(&record);
        self.records.push(PackedRecord::pack(&record));
    }

    /// In order of first packet, on the core that made them: the reader then only merges
    /// sorted runs.
    fn sorted(mut self) -> RecordRun {
        self.records.sort_unstable_by_key(|r| r.first_packet);
        self
    }
}

/// How a worker gets chunks and gives them back, and hands over dormant connections at
/// the end.
struct WorkerChannels {
    inbox: Receiver<Arc<Chunk>>,
    give_back: SyncSender<Chunk>,
}

fn work(
    channels: WorkerChannels,
    in_flight: Arc<AtomicUsize>,
    shard: Shard,
    hasher: FlowHasher,
    (msl, zeek_checksums, trace): (Duration, bool, bool),
) -> WorkerResult {
    let WorkerChannels { inbox, give_back } = channels;
    let mut flows = FlowTable::with_hasher(msl, hasher.clone());
    flows.set_zeek_checksums(zeek_checksums);
    let mut counts = PacketCounts::default();
    let count_layers = shard.me == 0;
    let mut tracer = trace.then(Tracer::default);
    // Every packet of the shard's connections, in capture order, each after the sweeps
    // due before it (`sweeps`, from the next one on): the table swept where one table
    // for all would be, as of the same times. No packet: every sweep left (the end of a
    // chunk).
    let mut track =
        |sweeps: &mut std::slice::Iter<'_, Sweep>,
         packet: Option<(&Place, &TcpSegment<'_>, (FlowKey, bool, u64))>| {
            let number = packet.map_or(u64::MAX, |p| p.0.number);
            while let Some(sweep) = sweeps.as_slice().first().filter(|s| s.before <= number) {
                flows.retire(sweep.at);
                sweeps.next();
            }
            let Some((place, seg, keyed)) = packet else {
                return;
            };
            let (number, at) = (place.number, place.ts);
            match tracer.as_mut() {
                Some(t) => flows.on_hashed_segment(seg, keyed, number, place.orig_len, at, t),
                None => {
                    flows.on_hashed_segment(seg, keyed, number, place.orig_len, at, &mut NoEvents)
                }
            }
        };
    for chunk in inbox {
        let mut sweeps = chunk.sweeps.iter();
        if chunk.routed {
            for r in chunk.by_shard.get(shard.me).map_or(&[][..], Vec::as_slice) {
                let seg = r.seg.attach(chunk.data(&r.place));
                let keyed = (r.seg.key, r.seg.src_is_lo(), r.seg.hash);
                track(&mut sweeps, Some((&r.place, &seg, keyed)));
            }
        } else {
            for (i, m) in chunk.packets.iter().enumerate() {
                // The reader's core read these bytes last: ask for the headers a few
                // packets ahead, so this core does not wait for each in turn.
                if let Some(ahead) = chunk.packets.get(i + PREFETCH_AHEAD) {
                    let end = ahead.place.start + (ahead.place.len as usize).min(128);
                    crate::store::codec::prefetch(&chunk.bytes[ahead.place.start..end]);
                }
                let data = chunk.data(&m.place);
                let cut = m.place.orig_len.saturating_sub(m.place.len);
                let decoded = decode(m.link_type, data, cut);
                if count_layers {
                    counts.count(&decoded);
                }
                let Decoded::Tcp(seg) = decoded else {
                    continue;
                };
                let (key, src_is_lo) = FlowKey::of(&seg);
                let hash = key.hash_with(&hasher);
                if shard.keeps(hash) {
                    track(&mut sweeps, Some((&m.place, &seg, (key, src_is_lo, hash))));
                }
            }
        }
        // The sweeps after this shard's last packet in the chunk.
        track(&mut sweeps, None);
        if let Some(chunk) = Arc::into_inner(chunk) {
            // The last worker done with it.
            in_flight.fetch_sub(1, Ordering::Relaxed);
            let _ = give_back.try_send(chunk);
        }
    }
    let (retired, evicted) = (flows.retired, flows.evicted);
    let mut run = RecordRun::default();
    run.records.reserve_exact(flows.held_len());
    flows.finish(|c| run.add(&c));
    let RecordRun { records, summary } = run.sorted();
    WorkerResult {
        records,
        summary,
        retired,
        evicted,
        counts,
        tracer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::capture::file::CaptureReader;

    /// Records (as text) and packet counts of every fixture, its packets queued by copy
    /// or in lent buffers, decoded by the reader or by the workers.
    fn shard_fixtures(workers: usize, predecode: bool) -> (Vec<String>, PacketCounts) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tcp");
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        files.push(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample.pcap"));
        let mut shards = Shards::new(workers, Duration::from_secs(60), false, false);
        shards.force_predecode = Some(predecode);
        // The first chunk is filled before any choice: decide for it too.
        shards.predecode = predecode;
        let mut number = 0;
        for (i, f) in files.iter().enumerate() {
            let mut reader = CaptureReader::open(f).unwrap();
            if i % 2 == 0 {
                reader
                    .for_each_packet(|p| {
                        number += 1;
                        shards.copy(p, number);
                    })
                    .unwrap();
            } else {
                let cell = std::cell::RefCell::new(&mut shards);
                reader
                    .for_each_packet_lending(
                        |p| {
                            number += 1;
                            cell.borrow_mut().lent(p, number);
                        },
                        &mut Lending(&cell),
                    )
                    .unwrap();
            }
        }
        let Sharded {
            mut records,
            counts,
            ..
        } = shards.finish();
        records.sort_unstable_by_key(|r| r.first_packet);
        let text = records
            .iter()
            .map(|r| {
                // Ids are given after the shards are merged (by first packet).
                let mut record = r.unpack();
                record.id = 0;
                format!("{record:?}")
            })
            .collect();
        (text, counts)
    }

    /// Records (as text) of a capture given as bytes, its packets queued by copy and swept
    /// as the analyzer has them swept.
    fn shard_bytes(capture: &[u8], workers: usize, predecode: bool) -> Vec<String> {
        let mut shards = Shards::new(workers, Duration::from_secs(60), false, false);
        shards.force_predecode = Some(predecode);
        shards.predecode = predecode;
        let mut number = 0;
        let mut reader =
            CaptureReader::from_read(Box::new(std::io::Cursor::new(capture.to_vec()))).unwrap();
        reader
            .for_each_packet(|p| {
                number += 1;
                shards.passing(p.ts, number);
                shards.copy(p, number);
            })
            .unwrap();
        let Sharded { mut records, .. } = shards.finish();
        records.sort_unstable_by_key(|r| r.first_packet);
        records
            .iter()
            .map(|r| {
                let mut record = r.unpack();
                record.id = 0;
                format!("{record:?}")
            })
            .collect()
    }

    #[test]
    fn workers_sweep_where_one_table_would_when_time_runs_backwards() {
        // A capture's records over and over: time runs back 1.4 s at each repeat. A
        // connection put to sleep forgets its recent segments, and a sweep on one
        // worker's packets alone put them to sleep elsewhere than one table did (its
        // retransmission counts then depended on which connections shared its worker,
        // which the hash's random keys decide anew each run).
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let one =
            std::fs::read(dir.join("fixtures/archive/sensor-a/2026-01-01/trace.pcap")).unwrap();
        let (header, records) = one.split_at(24);
        let mut capture = header.to_vec();
        for _ in 0..700 {
            capture.extend_from_slice(records);
        }
        let want = shard_bytes(&capture, 1, false);
        assert_eq!(want.len(), 4);
        for workers in [2, 3, 4] {
            for predecode in [false, true] {
                // Each run hashes with new keys: the connections fall to other workers.
                for _ in 0..4 {
                    let got = shard_bytes(&capture, workers, predecode);
                    assert!(got == want, "{workers} workers, predecode {predecode}");
                }
            }
        }
    }

    #[test]
    fn buffers_of_packets_no_worker_wants_go_back_to_the_pool() {
        // Decoded by the reader, a buffer of UDP only holds nothing for any worker. It
        // must still go back to the pool: lost, more than the pool's worth of them would
        // leave the reader waiting for a buffer forever.
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut frame = vec![0u8; 1400];
            frame[12..14].copy_from_slice(&[0x08, 0x00]); // IPv4
            frame[14] = 0x45;
            frame[16..18].copy_from_slice(&(1400u16 - 14).to_be_bytes());
            frame[22] = 64;
            frame[23] = 17; // UDP
            frame[26..34].copy_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
            frame[38..40].copy_from_slice(&(1400u16 - 34).to_be_bytes());
            let mut shards = Shards::new(1, Duration::from_secs(60), false, false);
            shards.force_predecode = Some(true);
            shards.predecode = true;
            let packets = (POOL + 4) * CHUNK_BYTES / frame.len();
            for number in 1..=packets as u64 {
                let packet = Packet {
                    ts: Timestamp::from_secs_nanos(number as i64, 0),
                    link_type: LinkType::ETHERNET,
                    data: &frame,
                    orig_len: frame.len() as u32,
                };
                shards.copy(&packet, number);
            }
            let Sharded {
                records, counts, ..
            } = shards.finish();
            let _ = done.send((records.len(), counts.udp, packets as u64));
        });
        let (records, udp, packets) = finished
            .recv_timeout(Duration::from_secs(30))
            .expect("the reader waited for a buffer that never came back");
        assert_eq!((records, udp), (0, packets));
    }

    #[test]
    fn sorted_runs_merge_in_place() {
        let record = |first_packet| {
            let mut r = PackedRecord::default();
            r.first_packet = first_packet;
            r
        };
        for (a, b) in [
            (vec![1, 4, 5, 9], vec![2, 3, 6, 10, 11]),
            (vec![], vec![1, 2]),
            (vec![1, 2], vec![]),
            (vec![5, 6], vec![1, 2]),
            (vec![1, 2], vec![5, 6]),
        ] {
            let mut into: Vec<_> = a.iter().map(|&n| record(n)).collect();
            merge_sorted(&mut into, b.iter().map(|&n| record(n)).collect());
            let mut want = [a, b].concat();
            want.sort_unstable();
            let got: Vec<u64> = into.iter().map(|r| r.first_packet).collect();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn a_decoded_packet_stays_small() {
        // The worker reads one per packet from the other core (docs/design.md).
        assert!(size_of::<Routed>() <= 120, "{}", size_of::<Routed>());
    }

    #[test]
    fn reader_decoding_changes_nothing() {
        let (records, counts) = shard_fixtures(1, false);
        assert!(records.len() > 20 && counts.tcp > 100, "{counts:?}");
        for (workers, predecode) in [(1, true), (3, false), (3, true)] {
            let (r, c) = shard_fixtures(workers, predecode);
            assert_eq!(r, records, "{workers} workers, predecode {predecode}");
            assert_eq!(c, counts, "{workers} workers, predecode {predecode}");
        }
    }
}
