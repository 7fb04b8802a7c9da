//! The capture ring's per-packet path allocates nothing: once the ring is made, copying
//! packets in, handing batches over, reading them and giving them back (and dropping
//! packets when it is full) never calls the allocator. Counted by a global allocator of
//! this test binary's own, on this thread only.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use synack::capture::ring::{ring, Next};
use synack::model::link::LinkType;
use synack::model::time::Timestamp;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is passed to the system allocator unchanged; only counted.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn packets_through_the_ring_allocate_nothing() {
    let (mut writer, reader) = ring(4, 4096, 32);
    let frame = [0x45u8; 96];
    let before = allocations();
    let mut read = 0u64;
    let mut bytes = 0usize;
    for round in 0..50u32 {
        // Fill every batch and past it (those packets are dropped and counted), then
        // read everything back.
        for n in 0..200u32 {
            let ts = Timestamp::from_secs_nanos(i64::from(round), i64::from(n));
            writer.push(ts, 1500, &frame[..(n as usize % 96) + 1]);
        }
        writer.publish();
        while let Next::Batch(batch) = reader.next(Duration::ZERO) {
            for p in batch.packets(LinkType::ETHERNET) {
                read += 1;
                bytes += p.data.len();
            }
            reader.recycle(batch);
        }
    }
    let during = allocations() - before;
    assert_eq!(during, 0, "{during} allocations for {read} packets");
    assert!(read > 0 && bytes > 0);
    assert!(writer.dropped() > 0, "the ring was never full");
    assert_eq!(read + writer.dropped(), 50 * 200);
}
