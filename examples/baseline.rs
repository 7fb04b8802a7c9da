//! The benchmark's yardstick (issue 6): the least work that can count TCP flows in a
//! classic pcap file — read(2) into a 4 MiB buffer, Ethernet/VLAN/IPv4/IPv6/TCP parsed by
//! hand, one hash-map lookup per TCP packet. No state machine, no figures beyond counts.
//! `synack report` is measured against it in the same run by bench/run.sh.
//!
//!     cargo run --release --example baseline -- FILE

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;

const BUF: usize = 4 << 20;

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    lo: [u8; 18],
    hi: [u8; 18],
}

fn main() {
    let path = std::env::args().nth(1).expect("usage: baseline FILE");
    let mut file = File::open(&path).expect("open");
    let mut buf = vec![0u8; BUF];
    let mut filled = 0;
    let mut start = 0;
    let mut flows: HashMap<Key, u64, ahash::RandomState> = HashMap::default();
    let (mut packets, mut tcp) = (0u64, 0u64);
    let mut header_done = false;
    let mut swapped = false;
    loop {
        // Keep the unread tail, refill behind it.
        buf.copy_within(start..filled, 0);
        filled -= start;
        start = 0;
        let n = file.read(&mut buf[filled..]).expect("read");
        filled += n;
        if !header_done {
            assert!(filled >= 24, "not a pcap file");
            let magic = u32::from_le_bytes(buf[0..4].try_into().unwrap());
            swapped = matches!(magic, 0xd4c3_b2a1 | 0x4d3c_b2a1);
            assert!(
                swapped || matches!(magic, 0xa1b2_c3d4 | 0xa1b2_3c4d),
                "not a classic pcap file"
            );
            start = 24;
            header_done = true;
        }
        loop {
            let rest = &buf[start..filled];
            if rest.len() < 16 {
                break;
            }
            let word = |o: usize| {
                let b: [u8; 4] = rest[o..o + 4].try_into().unwrap();
                if swapped {
                    u32::from_be_bytes(b)
                } else {
                    u32::from_le_bytes(b)
                }
            };
            let caplen = word(8) as usize;
            if rest.len() < 16 + caplen {
                break;
            }
            packets += 1;
            if let Some(key) = tcp_key(&rest[16..16 + caplen]) {
                tcp += 1;
                *flows.entry(key).or_insert(0) += 1;
            }
            start += 16 + caplen;
        }
        if n == 0 {
            break;
        }
    }
    println!("packets {packets} tcp {tcp} flows {}", flows.len());
}

fn tcp_key(frame: &[u8]) -> Option<Key> {
    let mut off = 12;
    let mut ethertype = u16::from_be_bytes(frame.get(off..off + 2)?.try_into().ok()?);
    while ethertype == 0x8100 || ethertype == 0x88a8 {
        off += 4;
        ethertype = u16::from_be_bytes(frame.get(off..off + 2)?.try_into().ok()?);
    }
    let ip = frame.get(off + 2..)?;
    let (src, dst, l4): (&[u8], &[u8], &[u8]) = match ethertype {
        0x0800 => {
            let ihl = usize::from(ip.first()? & 0x0f) * 4;
            if *ip.get(9)? != 6 {
                return None;
            }
            (ip.get(12..16)?, ip.get(16..20)?, ip.get(ihl..)?)
        }
        0x86dd => {
            if *ip.get(6)? != 6 {
                return None;
            }
            (ip.get(8..24)?, ip.get(24..40)?, ip.get(40..)?)
        }
        _ => return None,
    };
    let mut a = [0u8; 18];
    let mut b = [0u8; 18];
    a[..src.len()].copy_from_slice(src);
    a[16..].copy_from_slice(l4.get(0..2)?);
    b[..dst.len()].copy_from_slice(dst);
    b[16..].copy_from_slice(l4.get(2..4)?);
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    Some(Key { lo, hi })
}
