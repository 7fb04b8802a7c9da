//! The flow key of a segment: its two endpoints in a fixed order, so that both
//! directions of a connection have one key.

use std::net::SocketAddr;

use crate::decode::{socket_addr, TcpSegment};

/// Bidirectional key: the two endpoints in a fixed order, as plain integers so that
/// hashing and comparing them is a few instructions (IPv4 addresses as IPv4-mapped).
/// Packed to 40 bytes, not padded to 48: the parallel reader hands one to a worker per
/// packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(C, packed(8))]
pub struct FlowKey {
    pub(crate) lo_ip: u128,
    pub(crate) hi_ip: u128,
    pub(crate) lo_port: u16,
    pub(crate) hi_port: u16,
}

impl FlowKey {
    pub(crate) const BYTES: usize = 36;

    pub(crate) fn to_bytes(self) -> [u8; Self::BYTES] {
        let mut b = [0; Self::BYTES];
        b[..16].copy_from_slice(&self.lo_ip.to_le_bytes());
        b[16..32].copy_from_slice(&self.hi_ip.to_le_bytes());
        b[32..34].copy_from_slice(&self.lo_port.to_le_bytes());
        b[34..].copy_from_slice(&self.hi_port.to_le_bytes());
        b
    }

    pub(crate) fn from_bytes(b: &[u8]) -> FlowKey {
        let mut ip = [0; 16];
        ip.copy_from_slice(&b[..16]);
        let lo_ip = u128::from_le_bytes(ip);
        ip.copy_from_slice(&b[16..32]);
        FlowKey {
            lo_ip,
            hi_ip: u128::from_le_bytes(ip),
            lo_port: u16::from_le_bytes([b[32], b[33]]),
            hi_port: u16::from_le_bytes([b[34], b[35]]),
        }
    }

    /// The key of the connection between `a` and `b` (either way round): the key its
    /// segments have (`of`), IPv4-mapped IPv6 addresses keyed as the IPv4 they are.
    pub fn between(a: SocketAddr, b: SocketAddr) -> FlowKey {
        let a = (crate::decode::ip_bits(a.ip()), a.port());
        let b = (crate::decode::ip_bits(b.ip()), b.port());
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        FlowKey {
            lo_ip: lo.0,
            hi_ip: hi.0,
            lo_port: lo.1,
            hi_port: hi.1,
        }
    }

    /// The key, and whether the segment's source is its first endpoint.
    pub fn of(seg: &TcpSegment<'_>) -> (FlowKey, bool) {
        let (s_ip, s_port) = (seg.src_ip, seg.src_port);
        let (d_ip, d_port) = (seg.dst_ip, seg.dst_port);
        // An IPv4 source and an IPv6 destination cannot share a packet, so the mapped
        // form never makes two real endpoints equal.
        if (s_ip, s_port) <= (d_ip, d_port) {
            (
                FlowKey {
                    lo_ip: s_ip,
                    hi_ip: d_ip,
                    lo_port: s_port,
                    hi_port: d_port,
                },
                true,
            )
        } else {
            (
                FlowKey {
                    lo_ip: d_ip,
                    hi_ip: s_ip,
                    lo_port: d_port,
                    hi_port: s_port,
                },
                false,
            )
        }
    }
}

pub(crate) fn is_v4_mapped(ip: u128) -> bool {
    ip >> 32 == 0xffff
}

impl FlowKey {
    /// The endpoints as (address bits, port), the one `first_is_lo` says first.
    pub fn ends(&self, first_is_lo: bool) -> [(u128, u16); 2] {
        let lo = (self.lo_ip, self.lo_port);
        let hi = (self.hi_ip, self.hi_port);
        if first_is_lo {
            [lo, hi]
        } else {
            [hi, lo]
        }
    }

    /// (client, server) as the key gives them back: the addresses `of` took it from, as
    /// decoding gives them (IPv6 ones with no flow label or scope), when `v4` says which
    /// family they were (an IPv4-mapped IPv6 address has the key of the IPv4 one).
    pub fn endpoints(&self, client_is_lo: bool, v4: bool) -> (SocketAddr, SocketAddr) {
        let [(c_ip, c_port), (s_ip, s_port)] = self.ends(client_is_lo);
        (
            socket_addr(c_ip, c_port, !v4),
            socket_addr(s_ip, s_port, !v4),
        )
    }
}
