//! Tunnels: GRE (with ERSPAN and PPTP's enhanced GRE) and the UDP ones (VXLAN, Geneve,
//! GRE-in-UDP, GTP-U, Teredo, AYIYA). IP-in-IP is `ip_by_version`'s. Each gives the
//! inner packet's `Decoded`, with the tunnel's kind passed down in `Nest`, so an
//! encapsulated TCP segment is a TCP segment of its inner connection.
//!
//! A tunnel header that is cut short or invalid once the packet is known to be that
//! tunnel is `BadTunnelHeader`: counted as undecodable. A UDP datagram on a tunnel's port
//! whose header is not that tunnel's (wrong version, flags or message type) stays UDP.

use super::{
    ethernet, ethertype_payload, ip_by_version, DecodeError, Decoded, Nest, ETHERTYPE_TEB,
};
use crate::model::tunnel::Tunnel;

const ETHERTYPE_ERSPAN_2: u16 = 0x88be;
const ETHERTYPE_ERSPAN_3: u16 = 0x22eb;
const ETHERTYPE_PPP: u16 = 0x880b;

const PORT_VXLAN: u16 = 4789;
const PORT_GENEVE: u16 = 6081;
const PORT_GRE_IN_UDP: u16 = 4754;
const PORT_GTP_U: u16 = 2152;
const PORT_TEREDO: u16 = 3544;
const PORT_AYIYA: u16 = 5072;

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

const BAD: Decoded<'static> = Decoded::Undecodable(DecodeError::BadTunnelHeader);

/// GRE (RFC 2784, 2890; version 0) and PPTP's enhanced GRE (RFC 2637; version 1), from
/// the GRE header on. `None`: a GRE this does not follow (source routing, another
/// version), counted as the packet that carried it.
pub(super) fn gre<const FAST: bool>(data: &[u8], nest: Nest, cut: u32) -> Option<Decoded<'_>> {
    let Some(h) = data.get(..4) else {
        return Some(BAD);
    };
    let (flags, version, protocol) = (h[0], h[1] & 0x07, be16(h, 2));
    let (checksum, routing, key, seq) = (
        flags & 0x80 != 0,
        flags & 0x40 != 0,
        flags & 0x20 != 0,
        flags & 0x10 != 0,
    );
    let nest = nest.into_tunnel(Tunnel::Gre);
    match version {
        0 if !routing => {
            // Checksum (with its reserved half), key, sequence number: 4 bytes each.
            let len = 4 + 4 * (usize::from(checksum) + usize::from(key) + usize::from(seq));
            let Some(inner) = data.get(len..) else {
                return Some(BAD);
            };
            Some(match protocol {
                ETHERTYPE_TEB => ethernet::<FAST>(inner, nest, cut),
                ETHERTYPE_ERSPAN_2 | ETHERTYPE_ERSPAN_3 => {
                    erspan::<FAST>(protocol, seq, inner, nest, cut)
                }
                // IPv4, IPv6, MPLS, VLAN...: what the ethertype says; NonIp otherwise.
                other => ethertype_payload::<FAST>(other, inner, nest, cut),
            })
        }
        1 if protocol == ETHERTYPE_PPP && key => {
            // Key (payload length, call id), then sequence and acknowledgment numbers
            // when flagged.
            let ack = h[1] & 0x80 != 0;
            let len = 8 + 4 * (usize::from(seq) + usize::from(ack));
            let Some(inner) = data.get(len..) else {
                return Some(BAD);
            };
            Some(ppp::<FAST>(inner, nest, cut))
        }
        _ => None,
    }
}

/// PPP as PPTP carries it: the address and control bytes (FF 03) may be left out, and
/// the protocol field compressed to one byte (an odd first byte).
fn ppp<const FAST: bool>(data: &[u8], nest: Nest, cut: u32) -> Decoded<'_> {
    let data = data.strip_prefix(&[0xff, 0x03]).unwrap_or(data);
    let (protocol, rest) = match data {
        [p, rest @ ..] if p & 1 == 1 => (u16::from(*p), rest),
        [p0, p1, rest @ ..] => (u16::from_be_bytes([*p0, *p1]), rest),
        _ => return BAD,
    };
    match protocol {
        0x0021 | 0x0057 => ip_by_version::<FAST>(rest, nest, cut),
        _ => Decoded::NonIp,
    }
}

/// ERSPAN, from after the GRE header. Type I (0x88BE without a GRE sequence number) has
/// no header of its own; type II (0x88BE, version 1) 8 bytes; type III (0x22EB, version
/// 2) 12, and 8 more of platform-specific subheader when its O bit is set. Then the
/// mirrored Ethernet frame.
fn erspan<const FAST: bool>(
    protocol: u16,
    gre_seq: bool,
    data: &[u8],
    nest: Nest,
    cut: u32,
) -> Decoded<'_> {
    let nest = Nest {
        via: Some(Tunnel::Erspan),
        ..nest
    };
    let (version, len) = match protocol {
        ETHERTYPE_ERSPAN_2 if !gre_seq => return ethernet::<FAST>(data, nest, cut),
        ETHERTYPE_ERSPAN_2 => (1, 8),
        _ => match data.get(11) {
            Some(last) => (2, if last & 1 != 0 { 20 } else { 12 }),
            None => return BAD,
        },
    };
    match data.get(len..) {
        Some(frame) if data[0] >> 4 == version => ethernet::<FAST>(frame, nest, cut),
        _ => BAD,
    }
}

/// A UDP datagram, from its header on: the tunnel its port names (the destination's
/// first, then the source's), Teredo on another port when the datagram is plainly
/// Teredo (`teredo_elsewhere`), or plain UDP.
pub(super) fn udp<const FAST: bool>(data: &[u8], nest: Nest, cut: u32) -> Decoded<'_> {
    let Some(h) = data.get(..8) else {
        return Decoded::Udp;
    };
    let (src, dst) = (be16(h, 0), be16(h, 2));
    let payload = &data[8..];
    by_port::<FAST>(dst, payload, nest, cut)
        .or_else(|| by_port::<FAST>(src, payload, nest, cut))
        .or_else(|| teredo_elsewhere::<FAST>(payload, nest, cut))
        .unwrap_or(Decoded::Udp)
}

fn by_port<const FAST: bool>(
    port: u16,
    payload: &[u8],
    nest: Nest,
    cut: u32,
) -> Option<Decoded<'_>> {
    match port {
        PORT_VXLAN => vxlan::<FAST>(payload, nest, cut),
        PORT_GENEVE => geneve::<FAST>(payload, nest, cut),
        PORT_GRE_IN_UDP => gre::<FAST>(payload, nest, cut),
        PORT_GTP_U => gtp_u::<FAST>(payload, nest, cut),
        PORT_TEREDO => teredo::<FAST>(payload, nest, cut),
        PORT_AYIYA => ayiya::<FAST>(payload, nest, cut),
        _ => None,
    }
}

/// VXLAN (RFC 7348): 8 bytes with the I flag (a valid VNI) set, then Ethernet.
fn vxlan<const FAST: bool>(data: &[u8], nest: Nest, cut: u32) -> Option<Decoded<'_>> {
    let Some(h) = data.get(..8) else {
        return Some(BAD);
    };
    if h[0] & 0x08 == 0 {
        return None;
    }
    Some(ethernet::<FAST>(
        &data[8..],
        nest.into_tunnel(Tunnel::Vxlan),
        cut,
    ))
}

/// Geneve (RFC 8926): version 0, 8 bytes and the options' length, then what the
/// protocol type names (Ethernet, IPv4, IPv6).
fn geneve<const FAST: bool>(data: &[u8], nest: Nest, cut: u32) -> Option<Decoded<'_>> {
    let Some(h) = data.get(..8) else {
        return Some(BAD);
    };
    if h[0] >> 6 != 0 {
        return None;
    }
    let len = 8 + usize::from(h[0] & 0x3f) * 4;
    let Some(inner) = data.get(len..) else {
        return Some(BAD);
    };
    let nest = nest.into_tunnel(Tunnel::Geneve);
    Some(match be16(h, 2) {
        ETHERTYPE_TEB => ethernet::<FAST>(inner, nest, cut),
        protocol => ethertype_payload::<FAST>(protocol, inner, nest, cut),
    })
}

/// GTP-U (3GPP TS 29.281): version 1, protocol type GTP, message type 255 (T-PDU: user
/// data; echo and the others are signalling, left as UDP). 8 bytes, 4 more when any of
/// the E, S, PN flags is set, then the extension headers' chain (each a length in
/// 4-byte units, its content, and the next one's type), then IP.
fn gtp_u<const FAST: bool>(data: &[u8], nest: Nest, cut: u32) -> Option<Decoded<'_>> {
    let Some(h) = data.get(..8) else {
        return Some(BAD);
    };
    if h[0] >> 5 != 1 || h[0] & 0x10 == 0 || h[1] != 0xff {
        return None;
    }
    let mut at = 8;
    if h[0] & 0x07 != 0 {
        let Some(&next) = data.get(11) else {
            return Some(BAD);
        };
        at = 12;
        let mut next = if h[0] & 0x04 != 0 { next } else { 0 };
        while next != 0 {
            // Each header is at least 4 bytes, so the walk ends within the packet.
            let len = match data.get(at) {
                Some(&words) if words > 0 => usize::from(words) * 4,
                _ => return Some(BAD),
            };
            let Some(&following) = data.get(at + len - 1) else {
                return Some(BAD);
            };
            next = following;
            at += len;
        }
    }
    Some(ip_by_version::<FAST>(
        &data[at..],
        nest.into_tunnel(Tunnel::GtpU),
        cut,
    ))
}

/// Teredo (RFC 4380): an optional authentication indicator (00 01, lengths, client id,
/// authentication value, nonce, confirmation) and an optional origin indication (00 00,
/// port, address), then IPv6. A datagram on the Teredo port that is none of these stays
/// UDP.
fn teredo<const FAST: bool>(data: &[u8], nest: Nest, cut: u32) -> Option<Decoded<'_>> {
    let ipv6 = teredo_ipv6(data)?;
    if ipv6.first()? >> 4 != 6 {
        return None;
    }
    Some(ip_by_version::<FAST>(
        ipv6,
        nest.into_tunnel(Tunnel::Teredo),
        cut,
    ))
}

/// The bytes after Teredo's indicators, if they are well formed.
fn teredo_ipv6(data: &[u8]) -> Option<&[u8]> {
    let mut rest = data;
    if let [0x00, 0x01, id_len, auth_len, ..] = rest {
        let len = 4 + usize::from(*id_len) + usize::from(*auth_len) + 8 + 1;
        rest = rest.get(len..)?;
    }
    if let [0x00, 0x00, ..] = rest {
        rest = rest.get(8..)?;
    }
    Some(rest)
}

/// Teredo away from port 3544: relays and clients use any port (the server's is the only
/// fixed one), so Zeek finds Teredo by its content, and so does tshark with its Teredo
/// heuristic enabled. Taken for Teredo only when unmistakable: an IPv6 header whose payload
/// length is exactly the rest of the datagram, a next header of TCP, UDP, ICMPv6, hop-by-hop
/// or none (a bubble), and a source or destination address in the Teredo prefix
/// 2001:0::/32.
fn teredo_elsewhere<const FAST: bool>(data: &[u8], nest: Nest, cut: u32) -> Option<Decoded<'_>> {
    if data.first()? & 0xf0 != 0x60 && data.first()? & 0xfe != 0 {
        return None;
    }
    let ipv6 = teredo_ipv6(data)?;
    let h = ipv6.get(..40)?;
    let exact = 40 + usize::from(be16(h, 4)) == ipv6.len() + cut as usize;
    let teredo_prefix = |at: usize| h[at..at + 4] == [0x20, 0x01, 0x00, 0x00];
    if h[0] >> 4 != 6
        || !exact
        || !matches!(h[6], 0 | 6 | 17 | 58 | 59)
        || !(teredo_prefix(8) || teredo_prefix(24))
    {
        return None;
    }
    Some(ip_by_version::<FAST>(
        ipv6,
        nest.into_tunnel(Tunnel::Teredo),
        cut,
    ))
}

/// AYIYA ("anything in anything", as SixXS used it): identity length (a power of two)
/// and type, signature length (in 4-byte words) and hash, authentication and operation,
/// the next header, a 4-byte epoch, then the identity and signature. Only the
/// "forward" operation (1) carries a packet, and only IPv4 or IPv6 is followed.
fn ayiya<const FAST: bool>(data: &[u8], nest: Nest, cut: u32) -> Option<Decoded<'_>> {
    let Some(h) = data.get(..8) else {
        return Some(BAD);
    };
    if h[2] & 0x0f != 1 || !matches!(h[3], 4 | 41) {
        return None;
    }
    let len = 8 + (1usize << (h[0] >> 4)) + usize::from(h[1] >> 4) * 4;
    let Some(inner) = data.get(len..) else {
        return Some(BAD);
    };
    Some(ip_by_version::<FAST>(
        inner,
        nest.into_tunnel(Tunnel::Ayiya),
        cut,
    ))
}
