//! The parallel back end: the reading thread decodes each packet and hands the TCP ones
//! to worker threads, each with its own flow table, chosen by a hash of the connection's
//! 4-tuple. Every packet of a connection goes to the same worker, in capture order, so
//! each connection is tracked exactly as one table would track it; connections are then
//! numbered by their first packet in the whole input, as one table numbers them. The
//! report is byte-for-byte the single-threaded one (tests/parallel.rs).
//!
//! Packets travel in batches (frames copied into a reused byte buffer) over bounded
//! channels, and emptied batches come back for reuse: no allocation per packet, and the
//! reader never runs more than a few batches ahead.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::decode::{decode, Decoded, LinkType};
use crate::flow::{FlowKey, FlowTable};
use crate::record::{ConnectionRecord, PackedRecord};
use crate::source::Packet;
use crate::time::Timestamp;

/// Small enough that the batches in flight (a few MiB of full-size frames) stay a small
/// part of the memory budget, large enough that handing one over is rare.
const BATCH_PACKETS: usize = 512;
/// Batches in flight per worker (queued, being filled, being worked on).
const BATCHES_PER_WORKER: usize = 4;

#[derive(Clone, Copy)]
struct Meta {
    ts: Timestamp,
    link_type: LinkType,
    orig_len: u32,
    /// Place of the packet in the whole input (from 1).
    number: u64,
    start: usize,
    len: usize,
}

#[derive(Default)]
struct Batch {
    packets: Vec<Meta>,
    bytes: Vec<u8>,
}

impl Batch {
    fn with_capacity() -> Batch {
        Batch {
            packets: Vec::with_capacity(BATCH_PACKETS),
            bytes: Vec::with_capacity(BATCH_PACKETS * 1600),
        }
    }
}

/// What a worker hands back at the end.
struct WorkerResult {
    records: Vec<PackedRecord>,
    retired: u64,
    evicted: u64,
}

struct Worker {
    batch: Batch,
    to_worker: SyncSender<Batch>,
    /// Emptied batches coming back.
    spare: Receiver<Batch>,
    handle: JoinHandle<WorkerResult>,
}

/// Worker threads, each with a flow table.
pub struct Shards {
    workers: Vec<Worker>,
    shard_hasher: ahash::RandomState,
}

impl Shards {
    pub fn new(workers: usize, msl: Duration) -> Shards {
        let workers = (0..workers.max(1))
            .map(|_| {
                let (to_worker, inbox) = sync_channel::<Batch>(BATCHES_PER_WORKER);
                let (give_back, spare) = sync_channel::<Batch>(BATCHES_PER_WORKER + 1);
                for _ in 0..BATCHES_PER_WORKER - 1 {
                    // Filled up front, so the reader rarely waits for a batch.
                    let _ = give_back.try_send(Batch::with_capacity());
                }
                let handle = std::thread::spawn(move || work(inbox, give_back, msl));
                Worker {
                    batch: Batch::with_capacity(),
                    to_worker,
                    spare,
                    handle,
                }
            })
            .collect();
        Shards {
            workers,
            // Random keys: crafted 4-tuples cannot aim at one bucket (or one worker).
            shard_hasher: ahash::RandomState::new(),
        }
    }

    /// Queues a TCP packet (already decoded once to pick its worker).
    pub fn send(&mut self, packet: &Packet<'_>, key: FlowKey, number: u64) {
        let n = self.workers.len();
        let w = &mut self.workers[(key.hash_with(&self.shard_hasher) % n as u64) as usize];
        let start = w.batch.bytes.len();
        w.batch.bytes.extend_from_slice(packet.data);
        w.batch.packets.push(Meta {
            ts: packet.ts,
            link_type: packet.link_type,
            orig_len: packet.orig_len,
            number,
            start,
            len: packet.data.len(),
        });
        if w.batch.packets.len() >= BATCH_PACKETS {
            flush(w);
        }
    }

    /// Waits for the workers and returns every connection's record (in no particular
    /// order, with the ids of no table yet) and the retired and evicted counts.
    pub fn finish(mut self) -> (Vec<PackedRecord>, u64, u64) {
        for w in &mut self.workers {
            flush(w);
        }
        let mut records = Vec::new();
        let (mut retired, mut evicted) = (0, 0);
        for w in self.workers {
            drop(w.to_worker);
            let result = w
                .handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            records.extend(result.records);
            retired += result.retired;
            evicted += result.evicted;
        }
        (records, retired, evicted)
    }
}

fn flush(w: &mut Worker) {
    if w.batch.packets.is_empty() {
        return;
    }
    // A spare batch, or (when the worker is behind) wait for one to come back.
    let next = match w.spare.try_recv() {
        Ok(b) => b,
        Err(_) => w.spare.recv().unwrap_or_else(|_| Batch::with_capacity()),
    };
    let full = std::mem::replace(&mut w.batch, next);
    if w.to_worker.send(full).is_err() {
        // The worker is gone: it panicked, and `finish` will say so.
    }
}

fn work(inbox: Receiver<Batch>, give_back: SyncSender<Batch>, msl: Duration) -> WorkerResult {
    let mut flows = FlowTable::new(msl);
    let mut last_sweep: Option<Timestamp> = None;
    for mut batch in inbox {
        for m in &batch.packets {
            let data = &batch.bytes[m.start..m.start + m.len];
            let cut = m.orig_len.saturating_sub(m.len as u32);
            if last_sweep.is_none_or(|t| m.ts.saturating_since(t) >= crate::analyze::SWEEP_EVERY) {
                flows.retire(m.ts);
                last_sweep = Some(m.ts);
            }
            if let Decoded::Tcp(seg) = decode(m.link_type, data, cut) {
                flows.on_numbered_segment(&seg, m.number, m.orig_len, m.ts, &mut |_, _, _| {});
            }
        }
        batch.packets.clear();
        batch.bytes.clear();
        let _ = give_back.try_send(batch);
    }
    let (retired, evicted) = (flows.retired, flows.evicted);
    let mut records = Vec::new();
    flows.finish(|c| records.push(PackedRecord::pack(&ConnectionRecord::of(&c))));
    WorkerResult {
        records,
        retired,
        evicted,
    }
}
