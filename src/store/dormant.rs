//! Dormant connections: a connection quiet for a while, kept as one allocation in its
//! compact form, which the flow table reads without decoding.

use crate::app::detector::AppDetector;
use crate::decode::key::{is_v4_mapped, FlowKey};
use crate::decode::V4_MAPPED;
use crate::model::connection_record::RoleBasis;
use crate::model::time::Timestamp;
use crate::store::codec::{Reader, Writer};
use crate::tcp::connection::Connection;
use crate::tcp::tracker::{Quiet, TcpTracker};
use crate::tcp::zeek_observer::ZeekObserver;

/// A connection that has been quiet for a while, kept as one allocation: a fixed header
/// that the table reads without decoding, then the connection's compact encoding
/// (`crate::store::codec`) — a few hundred bytes instead of the tracker's working size. A
/// segment that arrives for it brings it back whole, so dormancy changes memory, never a
/// figure.
///
/// Header: a flags byte, last packet time, id, first packet time (8 bytes each), then the
/// key — 12 bytes when both endpoints are IPv4 (the mapped prefix is implied), else 36.
/// The body leaves out what the header says: id, times, and the addresses, which the key
/// gives back unless they carry more than it (an IPv6 flow label or scope, say).
///
/// The key's hash is kept beside the bytes: growing the table rehashes every entry, and
/// reading each one's key from the heap for it cost more than the 8 bytes.
#[derive(Debug)]
pub(crate) struct Dormant {
    bytes: Box<[u8]>,
    pub(crate) hash: u64,
}

/// Header flag: the connection is closed (`TcpTracker::is_closed`).
const CLOSED: u8 = 1;
/// Header flag: the connection is synchronized and its peer answers (`Quiet::Synchronized`).
const SYNCHRONIZED: u8 = 4;

/// Header flag: the key is in its IPv4 form.
const V4_KEY: u8 = 2;

const KEY_AT: usize = 1 + 3 * 8;

impl Dormant {
    /// Encodes `conn` in `scratch` (reused, so that the only allocation is the exact-size
    /// one kept).
    pub(crate) fn of(conn: &Connection, hash: u64, scratch: &mut Vec<u8>) -> Dormant {
        let key = conn.key;
        let v4 = is_v4_mapped(key.lo_ip) && is_v4_mapped(key.hi_ip);
        scratch.clear();
        let quiet = match conn.tcp.quiet() {
            Quiet::Closed => CLOSED,
            Quiet::Synchronized => SYNCHRONIZED,
            Quiet::Opening | Quiet::PeerDead => 0,
        };
        scratch.push(quiet | (u8::from(v4) * V4_KEY));
        scratch.extend_from_slice(&conn.last_seen.as_nanos().to_le_bytes());
        scratch.extend_from_slice(&conn.id.to_le_bytes());
        scratch.extend_from_slice(&conn.first_seen.as_nanos().to_le_bytes());
        if v4 {
            scratch.extend_from_slice(&(key.lo_ip as u32).to_le_bytes());
            scratch.extend_from_slice(&(key.hi_ip as u32).to_le_bytes());
            scratch.extend_from_slice(&key.lo_port.to_le_bytes());
            scratch.extend_from_slice(&key.hi_port.to_le_bytes());
        } else {
            scratch.extend_from_slice(&key.to_bytes());
        }
        let mut w = Writer::new(scratch, conn.first_seen);
        // Most of the tracker's times are of its last packets.
        w.late_base(conn.last_seen);
        w.group(1);
        w.flag(conn.client_is_lo);
        conn.roles.encode(&mut w);
        w.flag(conn.reused_time_wait);
        let explicit = key.endpoints(conn.client_is_lo, v4) != (conn.client, conn.server);
        w.flag(explicit);
        if explicit {
            w.addr(conn.client);
            w.addr(conn.server);
        }
        w.end();
        w.varint(conn.first_packet);
        conn.tcp.encode(&mut w);
        conn.app.encode(&mut w);
        conn.zeek.encode(&mut w);
        Dormant {
            bytes: Box::from(&scratch[..]),
            hash,
        }
    }

    fn flags(&self) -> u8 {
        self.bytes[0]
    }

    fn key_len(&self) -> usize {
        if self.flags() & V4_KEY != 0 {
            12
        } else {
            FlowKey::BYTES
        }
    }

    /// Starts loading the bytes, for a loop that wakes this one soon.
    pub(crate) fn prefetch(&self) {
        crate::store::codec::prefetch(&self.bytes);
    }

    /// Starts loading the header only (last packet time, id), for a loop that reads
    /// only that soon.
    pub(crate) fn prefetch_header(&self) {
        crate::store::codec::prefetch(&self.bytes[..KEY_AT]);
    }

    pub(crate) fn key(&self) -> FlowKey {
        let b = &self.bytes[KEY_AT..];
        if self.flags() & V4_KEY != 0 {
            let ip = |at: usize| {
                V4_MAPPED | u128::from(u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]))
            };
            FlowKey {
                lo_ip: ip(0),
                hi_ip: ip(4),
                lo_port: u16::from_le_bytes([b[8], b[9]]),
                hi_port: u16::from_le_bytes([b[10], b[11]]),
            }
        } else {
            FlowKey::from_bytes(b)
        }
    }

    fn word(&self, at: usize) -> [u8; 8] {
        let mut w = [0; 8];
        w.copy_from_slice(&self.bytes[at..at + 8]);
        w
    }

    pub(crate) fn last_seen(&self) -> Timestamp {
        Timestamp::from_nanos(i64::from_le_bytes(self.word(1)))
    }

    pub(crate) fn id(&self) -> u64 {
        u64::from_le_bytes(self.word(9))
    }

    pub(crate) fn first_seen(&self) -> Timestamp {
        Timestamp::from_nanos(i64::from_le_bytes(self.word(17)))
    }

    /// What the connection's silence may lead to, from the header alone (a dormant
    /// connection gets no packet, so it cannot change while asleep).
    pub(crate) fn quiet(&self) -> Quiet {
        match self.flags() {
            f if f & CLOSED != 0 => Quiet::Closed,
            f if f & SYNCHRONIZED != 0 => Quiet::Synchronized,
            // The short timeout covers both; which one does not matter here.
            _ => Quiet::Opening,
        }
    }

    pub(crate) fn wake(&self) -> Connection {
        let key = self.key();
        let v4 = self.flags() & V4_KEY != 0;
        let first_seen = self.first_seen();
        let mut r = Reader::new(&self.bytes[KEY_AT + self.key_len()..], first_seen);
        r.late_base(self.last_seen());
        r.group(1);
        let client_is_lo = r.flag();
        let roles = RoleBasis::decode(&mut r);
        let reused_time_wait = r.flag();
        let (client, server) = if r.flag() {
            (r.addr(), r.addr())
        } else {
            key.endpoints(client_is_lo, v4)
        };
        let conn = Connection {
            id: self.id(),
            first_packet: r.varint(),
            client,
            server,
            roles,
            first_seen,
            last_seen: self.last_seen(),
            reused_time_wait,
            tcp: TcpTracker::decode(&mut r),
            key,
            client_is_lo,
            app: AppDetector::decode(&mut r),
            zeek: ZeekObserver::decode(&mut r),
        };
        debug_assert_eq!(
            r.remaining(),
            0,
            "a connection decodes from its own encoding"
        );
        conn
    }
}
