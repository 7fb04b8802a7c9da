//! The decode fuzz target's input format and checks, shared with the regression test
//! that replays committed inputs (tests/fuzz_regressions.rs includes this file).
//!
//! Arbitrary frames for each link type synack decodes (and some it does not), with an
//! arbitrary number of bytes cut by the snaplen. Beyond "no panic": a TCP segment's
//! slices lie inside the frame, its header length is a valid data offset, it never
//! claims fewer payload bytes than were captured nor more than the frame had on the
//! wire, and only a supported link type yields anything but `UnsupportedLink`.

use synack::decode::{decode, Decoded};
use synack::model::link::LinkType;

/// Every link type `decode` handles, and one it does not.
const LINKS: [u16; 11] = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 147];

/// The input, read by hand (not with `arbitrary`) so that seeds are a plain prefix and a
/// frame: a link byte (an index into `LINKS`, or from 0xf0 on, a raw link type in the
/// next two bytes), a cut byte (below 0x80 nothing cut, below 0xc0 the next byte, else
/// the next four bytes little-endian), then the frame.
pub fn parse(data: &[u8]) -> Option<(LinkType, u32, &[u8])> {
    let (&l, rest) = data.split_first()?;
    let (link, rest) = if l < 0xf0 {
        (LINKS[usize::from(l) % LINKS.len()], rest)
    } else {
        let (raw, rest) = rest.split_at_checked(2)?;
        (u16::from_le_bytes([raw[0], raw[1]]), rest)
    };
    let (&c, rest) = rest.split_first()?;
    let (cut, frame) = match c {
        0..0x80 => (0, rest),
        0x80..0xc0 => {
            let (&n, rest) = rest.split_first()?;
            (u32::from(n), rest)
        }
        _ => {
            let (n, rest) = rest.split_at_checked(4)?;
            (u32::from_le_bytes([n[0], n[1], n[2], n[3]]), rest)
        }
    };
    Some((LinkType(link), cut, frame))
}

fn inside(outer: &[u8], inner: &[u8]) -> bool {
    let (o, i) = (outer.as_ptr() as usize, inner.as_ptr() as usize);
    inner.is_empty() || (i >= o && i + inner.len() <= o + outer.len())
}

/// Decodes the frame `data` describes (nothing when it is too short to describe one) and
/// checks the invariants; returns what it decoded to, for regression tests to pin.
pub fn check(data: &[u8]) -> Option<Decoded<'_>> {
    let (link, cut, frame) = parse(data)?;
    let decoded = decode(link, frame, cut);
    match decoded {
        Decoded::Tcp(seg) => {
            assert!(link.is_supported());
            assert!(inside(frame, seg.payload), "payload outside the frame");
            assert!(inside(frame, seg.options), "options outside the frame");
            let hl = usize::from(seg.header_len);
            assert!((20..=60).contains(&hl) && hl % 4 == 0, "header length {hl}");
            assert!(seg.options.len() <= hl - 20);
            assert!(
                seg.payload.len() as u64 <= u64::from(seg.payload_len),
                "captured {} payload bytes, but the segment claims {}",
                seg.payload.len(),
                seg.payload_len
            );
            let on_wire = frame.len() as u64 + u64::from(cut);
            assert!(
                u64::from(seg.payload_len) + hl as u64 <= on_wire,
                "segment of {} bytes in a frame of {on_wire} on the wire",
                u64::from(seg.payload_len) + hl as u64
            );
            // Sequence space: payload plus SYN and FIN, computed without overflow.
            let _ = seg.seq_len();
            assert!(seg.window_scale().is_none_or(|s| s <= 14));
            let _ = seg.flags.to_string();
        }
        Decoded::UnsupportedLink => assert!(!link.is_supported()),
        Decoded::Undecodable(e) => {
            assert!(link.is_supported());
            let _ = e.to_string();
        }
        _ => assert!(link.is_supported()),
    }
    Some(decoded)
}
