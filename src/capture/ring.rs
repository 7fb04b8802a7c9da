//! A bounded ring of packet batches between the thread that reads an interface and the
//! thread that analyses the packets (docs/live.md, "The capture ring").
//!
//! The reader copies each packet into a batch taken from a fixed set made once; the
//! analysis takes filled batches in order and gives them back emptied. Nothing is
//! allocated after `ring()`: a stall of the analysis (an eviction, a records file
//! completed) fills batches instead of libpcap's kernel buffer. When every batch waits for
//! the analysis, packets are dropped and counted, as the kernel counts its own drops.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use crate::capture::file::Packet;
use crate::model::link::LinkType;
use crate::model::time::Timestamp;

/// One packet's place in a batch: its bytes end at `end` of the batch's data.
#[derive(Clone, Copy, Debug)]
struct Slot {
    ts: Timestamp,
    orig_len: u32,
    end: u32,
}

/// Packets copied one after the other into buffers allocated once.
pub struct Batch {
    data: Vec<u8>,
    slots: Vec<Slot>,
    max_bytes: usize,
    max_packets: usize,
}

impl Batch {
    fn new(max_bytes: usize, max_packets: usize) -> Batch {
        Batch {
            data: Vec::with_capacity(max_bytes),
            slots: Vec::with_capacity(max_packets),
            max_bytes,
            max_packets,
        }
    }

    fn fits(&self, bytes: usize) -> bool {
        self.slots.len() < self.max_packets && self.data.len() + bytes <= self.max_bytes
    }

    /// Within the capacity reserved by `new` (the caller checked `fits`, or the batch is
    /// empty and the bytes are cut to it): no allocation.
    fn push(&mut self, ts: Timestamp, orig_len: u32, bytes: &[u8]) {
        let room = self.max_bytes - self.data.len();
        self.data.extend_from_slice(&bytes[..bytes.len().min(room)]);
        self.slots.push(Slot {
            ts,
            orig_len,
            end: self.data.len() as u32,
        });
    }

    fn clear(&mut self) {
        self.data.clear();
        self.slots.clear();
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The packets in the order they were read.
    pub fn packets(&self, link_type: LinkType) -> impl Iterator<Item = Packet<'_>> {
        let mut start = 0;
        self.slots.iter().map(move |s| {
            let end = s.end as usize;
            let data = &self.data[start..end];
            start = end;
            Packet {
                ts: s.ts,
                link_type,
                data,
                orig_len: s.orig_len,
            }
        })
    }
}

struct State {
    /// Emptied batches, the last given back on top: a batch used a moment ago is still
    /// in the cache, and a ring that never fills touches only the few batches it needs.
    free: Vec<Batch>,
    /// Filled batches, oldest first.
    filled: VecDeque<Batch>,
    /// The reader has handed over its last batch.
    closed: bool,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when a batch is filled or the ring closed.
    ready: Condvar,
    /// The analysis asks the reader to stop (and hand over what it holds).
    stop: AtomicBool,
    /// The analysis found no batch waiting and waits for one: the reader hands over the
    /// one it is filling at once, however few packets it holds.
    hungry: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic on the other side leaves the batches as they were: still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A ring of `batches` batches of at most `batch_bytes` bytes and `batch_packets` packets
/// each: the reader's end and the analysis's end.
pub fn ring(batches: usize, batch_bytes: usize, batch_packets: usize) -> (RingWriter, RingReader) {
    let batches = batches.max(1);
    let free = (0..batches)
        .map(|_| Batch::new(batch_bytes.max(1), batch_packets.max(1)))
        .collect();
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            free,
            filled: VecDeque::with_capacity(batches),
            closed: false,
        }),
        ready: Condvar::new(),
        stop: AtomicBool::new(false),
        hungry: AtomicBool::new(false),
    });
    (
        RingWriter {
            shared: shared.clone(),
            current: None,
            dropped: 0,
        },
        RingReader { shared },
    )
}

/// The reading thread's end.
pub struct RingWriter {
    shared: Arc<Shared>,
    /// The batch being filled.
    current: Option<Batch>,
    /// Packets dropped because every batch was waiting for the analysis.
    dropped: u64,
}

impl RingWriter {
    /// Copies a packet into the ring; false, and counted as dropped, when every batch is
    /// full and waiting for the analysis.
    pub fn push(&mut self, ts: Timestamp, orig_len: u32, bytes: &[u8]) -> bool {
        if self.current.as_ref().is_some_and(|b| !b.fits(bytes.len())) {
            self.publish();
        }
        if self.current.is_none() {
            self.current = self.shared.lock().free.pop();
        }
        match &mut self.current {
            Some(batch) => {
                batch.push(ts, orig_len, bytes);
                if self.shared.hungry.load(Ordering::Relaxed) {
                    self.publish();
                }
                true
            }
            None => {
                self.dropped += 1;
                false
            }
        }
    }

    /// libpcap has nothing more for now: the batch being filled goes to the analysis if
    /// nothing else waits for it (so that packets do not wait for a batch to fill). While
    /// batches wait, the analysis is behind and the batch goes on filling: a stall then
    /// fills whole batches, not one a packet.
    pub fn idle(&mut self) {
        if self.current.as_ref().is_none_or(Batch::is_empty) {
            return;
        }
        let mut state = self.shared.lock();
        if state.filled.is_empty() {
            if let Some(batch) = self.current.take() {
                state.filled.push_back(batch);
                self.shared.hungry.store(false, Ordering::Relaxed);
                self.shared.ready.notify_one();
            }
        }
    }

    /// Hands the batch being filled to the analysis, if it holds a packet.
    pub fn publish(&mut self) {
        if self.current.as_ref().is_none_or(Batch::is_empty) {
            return;
        }
        if let Some(batch) = self.current.take() {
            self.shared.lock().filled.push_back(batch);
            self.shared.hungry.store(false, Ordering::Relaxed);
            self.shared.ready.notify_one();
        }
    }

    /// Packets dropped so far because the ring was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The analysis asked the reading to stop.
    pub fn stop_requested(&self) -> bool {
        self.shared.stop.load(Ordering::Relaxed)
    }
}

impl Drop for RingWriter {
    /// Hands over what was read and closes the ring: the analysis sees every packet read,
    /// then the end, however the reading stopped.
    fn drop(&mut self) {
        self.publish();
        self.shared.lock().closed = true;
        self.shared.ready.notify_one();
    }
}

/// What the analysis's end found.
pub enum Next {
    /// The oldest filled batch: give it back with `recycle` once read.
    Batch(Batch),
    /// Nothing filled within the wait.
    Idle,
    /// The reader stopped, and every batch it filled has been taken.
    Closed,
}

/// The analysis thread's end.
pub struct RingReader {
    shared: Arc<Shared>,
}

impl RingReader {
    /// The oldest filled batch, waiting up to `wait` for one.
    pub fn next(&self, wait: Duration) -> Next {
        let mut state = self.shared.lock();
        if state.filled.is_empty() && !state.closed {
            self.shared.hungry.store(true, Ordering::Relaxed);
            state = match self.shared.ready.wait_timeout(state, wait) {
                Ok((state, _)) => state,
                Err(e) => e.into_inner().0,
            };
        }
        match state.filled.pop_front() {
            Some(batch) => Next::Batch(batch),
            None if state.closed => Next::Closed,
            None => Next::Idle,
        }
    }

    /// Gives an emptied batch back to the reader.
    pub fn recycle(&self, mut batch: Batch) {
        batch.clear();
        self.shared.lock().free.push(batch);
    }

    /// Asks the reader to stop; it hands over what it read, then the ring closes.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

impl Drop for RingReader {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(n: u32) -> Timestamp {
        Timestamp::from_secs_nanos(1_700_000_000, i64::from(n))
    }

    /// Every packet of every batch until the ring is idle or closed: (ts nanos, bytes).
    fn drain(reader: &RingReader) -> (Vec<(u32, Vec<u8>)>, bool) {
        let mut got = Vec::new();
        loop {
            match reader.next(Duration::from_millis(1)) {
                Next::Batch(b) => {
                    for p in b.packets(LinkType::ETHERNET) {
                        got.push((p.ts.subsec_nanos(), p.data.to_vec()));
                    }
                    reader.recycle(b);
                }
                Next::Idle => return (got, false),
                Next::Closed => return (got, true),
            }
        }
    }

    #[test]
    fn an_empty_ring_is_idle_until_the_writer_closes_it() {
        let (writer, reader) = ring(2, 64, 4);
        assert!(matches!(reader.next(Duration::from_millis(1)), Next::Idle));
        drop(writer);
        assert!(matches!(
            reader.next(Duration::from_millis(1)),
            Next::Closed
        ));
    }

    #[test]
    fn packets_come_out_in_order_with_their_times_and_lengths() {
        let (mut writer, reader) = ring(4, 64, 4);
        for n in 0..3u8 {
            assert!(writer.push(ts(n.into()), 1000 + u32::from(n), &[n; 10]));
        }
        // Not handed over until published: a batch may still grow.
        assert!(matches!(reader.next(Duration::from_millis(1)), Next::Idle));
        writer.publish();
        let Next::Batch(b) = reader.next(Duration::from_millis(1)) else {
            panic!("no batch");
        };
        let got: Vec<(u32, Vec<u8>)> = b
            .packets(LinkType::ETHERNET)
            .map(|p| (p.orig_len, p.data.to_vec()))
            .collect();
        assert_eq!(
            got,
            vec![
                (1000, vec![0; 10]),
                (1001, vec![1; 10]),
                (1002, vec![2; 10])
            ]
        );
        reader.recycle(b);
    }

    #[test]
    fn a_busy_analysis_gets_whole_batches_and_a_waiting_one_the_next_packet() {
        let (mut writer, reader) = ring(4, 1024, 100);
        let numbers = |b: &Batch| {
            b.packets(LinkType::ETHERNET)
                .map(|p| p.ts.subsec_nanos())
                .collect::<Vec<_>>()
        };
        // Nothing waits: the batch is handed over when libpcap has nothing more.
        assert!(writer.push(ts(0), 60, &[0; 8]));
        writer.idle();
        // A batch waits (the analysis is busy): the next one goes on filling.
        for n in 1..3 {
            assert!(writer.push(ts(n), 60, &[0; 8]));
            writer.idle();
        }
        let Next::Batch(first) = reader.next(Duration::ZERO) else {
            panic!("the first packet was not handed over");
        };
        assert_eq!(numbers(&first), [0]);
        reader.recycle(first);
        // The analysis finds nothing and waits: the next packet brings the batch along.
        assert!(matches!(reader.next(Duration::ZERO), Next::Idle));
        assert!(writer.push(ts(3), 60, &[0; 8]));
        let Next::Batch(second) = reader.next(Duration::ZERO) else {
            panic!("a waiting analysis did not get the batch");
        };
        assert_eq!(numbers(&second), [1, 2, 3]);
    }

    #[test]
    fn a_full_ring_drops_and_counts_then_takes_packets_again_once_read() {
        // Two batches of two packets: the fifth packet finds no batch.
        let (mut writer, reader) = ring(2, 64, 2);
        for n in 0..4 {
            assert!(writer.push(ts(n), 60, &[1; 8]), "packet {n}");
        }
        assert!(!writer.push(ts(4), 60, &[1; 8]));
        assert!(!writer.push(ts(5), 60, &[1; 8]));
        assert_eq!(writer.dropped(), 2);
        let (got, closed) = drain(&reader);
        assert!(!closed);
        // Both batches were handed over, each when the next packet did not fit it.
        assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), [0, 1, 2, 3]);
        assert!(writer.push(ts(6), 60, &[1; 8]), "a batch came back");
        assert_eq!(writer.dropped(), 2);
        drop(writer);
        let (got, closed) = drain(&reader);
        assert!(closed);
        assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), [6]);
    }

    #[test]
    fn a_batch_is_handed_over_when_its_bytes_run_out() {
        let (mut writer, reader) = ring(3, 25, 100);
        for n in 0..5 {
            assert!(writer.push(ts(n), 10, &[n as u8; 10]));
        }
        drop(writer);
        let mut sizes = Vec::new();
        loop {
            match reader.next(Duration::from_millis(1)) {
                Next::Batch(b) => {
                    sizes.push(b.len());
                    reader.recycle(b);
                }
                Next::Idle => panic!("closed ring idle"),
                Next::Closed => break,
            }
        }
        assert_eq!(sizes, [2, 2, 1]);
    }

    #[test]
    fn a_packet_larger_than_a_batch_is_cut_to_it() {
        let (mut writer, reader) = ring(1, 16, 4);
        assert!(writer.push(ts(0), 40, &[7; 40]));
        drop(writer);
        let (got, _) = drain(&reader);
        assert_eq!(got, vec![(0, vec![7; 16])]);
    }

    #[test]
    fn the_ring_wraps_many_times_over_its_batches_without_losing_order() {
        let (mut writer, reader) = ring(3, 64, 2);
        let mut expected = Vec::new();
        let mut got = Vec::new();
        for n in 0..1000u32 {
            assert!(writer.push(ts(n), 60, &n.to_le_bytes()));
            expected.push(n);
            // Read whenever two batches wait: never full.
            if n % 4 == 3 {
                got.extend(
                    drain(&reader)
                        .0
                        .into_iter()
                        .map(|(_, d)| u32::from_le_bytes(d.try_into().expect("4 bytes"))),
                );
            }
        }
        assert_eq!(writer.dropped(), 0);
        drop(writer);
        got.extend(
            drain(&reader)
                .0
                .into_iter()
                .map(|(_, d)| u32::from_le_bytes(d.try_into().expect("4 bytes"))),
        );
        assert_eq!(got, expected);
    }

    #[test]
    fn a_stop_asked_for_is_seen_and_everything_read_is_delivered() {
        // The reading thread as the live capture runs it: read until asked to stop, then
        // hand over what it holds and close. Everything it read reaches the analysis.
        let (mut writer, reader) = ring(64, 4096, 64);
        let thread = std::thread::spawn(move || {
            let mut n = 0u32;
            while !writer.stop_requested() {
                assert!(writer.push(ts(n), 60, &n.to_le_bytes()), "never full here");
                n += 1;
                if n.is_multiple_of(16) {
                    writer.publish();
                }
                if n.is_multiple_of(1000) {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            n
        });
        let mut got = Vec::new();
        let mut stopped = false;
        loop {
            match reader.next(Duration::from_millis(10)) {
                Next::Batch(b) => {
                    got.extend(
                        b.packets(LinkType::ETHERNET)
                            .map(|p| u32::from_le_bytes(p.data.try_into().expect("4 bytes"))),
                    );
                    reader.recycle(b);
                }
                Next::Idle => {}
                Next::Closed => break,
            }
            if !stopped && got.len() > 5000 {
                reader.stop();
                stopped = true;
            }
        }
        let read = thread.join().expect("reader thread");
        assert!(read > 5000);
        assert_eq!(got, (0..read).collect::<Vec<_>>());
    }
}
