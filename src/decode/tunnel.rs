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

#[cfg(test)]
mod tests {
    use super::super::{decode, decode_without_fast_path, TcpSegment};
    use super::*;
    use crate::model::link::LinkType;
    use etherparse::PacketBuilder;

    /// An IPv4 TCP segment from 10.0.0.1:40000 to 10.0.0.2:80 with a 5-byte payload.
    fn inner_v4() -> Vec<u8> {
        let mut out = Vec::new();
        PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40000, 80, 1000, 65535)
            .syn()
            .write(&mut out, b"hello")
            .unwrap();
        out
    }

    fn inner_v6() -> Vec<u8> {
        let mut out = Vec::new();
        PacketBuilder::ipv6(
            [0x20, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
            64,
        )
        .tcp(40000, 80, 1000, 65535)
        .syn()
        .write(&mut out, b"hello")
        .unwrap();
        out
    }

    fn ethernet_of(ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
        out.extend_from_slice(&ethertype.to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    /// An IPv4 header (no options, checksum left 0: synack does not check it) around
    /// `payload`.
    fn ipv4_of(protocol: u8, payload: &[u8]) -> Vec<u8> {
        let total = (20 + payload.len()) as u16;
        let mut out = vec![0x45, 0];
        out.extend_from_slice(&total.to_be_bytes());
        out.extend_from_slice(&[0, 1, 0, 0, 64, protocol, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2]);
        out.extend_from_slice(payload);
        out
    }

    fn ipv6_of(next: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0x60, 0, 0, 0];
        out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        out.extend_from_slice(&[next, 64]);
        out.extend_from_slice(&[0xfd; 32]);
        out.extend_from_slice(payload);
        out
    }

    fn udp_of(src: u16, dst: u16, payload: &[u8]) -> Vec<u8> {
        let mut out = src.to_be_bytes().to_vec();
        out.extend_from_slice(&dst.to_be_bytes());
        out.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(payload);
        out
    }

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    /// An Ethernet frame whose IPv4 packet carries `payload` as UDP to `dst`.
    fn over_udp(dst: u16, payload: &[u8]) -> Vec<u8> {
        ethernet_of(0x0800, &ipv4_of(17, &udp_of(50000, dst, payload)))
    }

    fn over_gre(gre: &[u8]) -> Vec<u8> {
        ethernet_of(0x0800, &ipv4_of(47, gre))
    }

    /// Decodes `frame` both ways (with and without the fast path), which must agree.
    fn decoded(frame: &[u8]) -> Decoded<'_> {
        let d = decode(LinkType::ETHERNET, frame, 0);
        let slow = decode_without_fast_path(LinkType::ETHERNET, frame, 0);
        assert_eq!(format!("{d:?}"), format!("{slow:?}"));
        d
    }

    fn inner_tcp(frame: &[u8], kind: Tunnel) -> TcpSegment<'_> {
        match decoded(frame) {
            Decoded::Tcp(seg) => {
                assert_eq!(seg.tunnel, Some(kind), "{frame:02x?}");
                assert_eq!(seg.dst_port, 80);
                assert_eq!(seg.payload_len, 5);
                assert_eq!(seg.payload, b"hello");
                seg
            }
            other => panic!("expected TCP out of {kind:?}, got {other:?}"),
        }
    }

    /// Every prefix of `frame` decodes without panicking, and none past the outer
    /// headers is TCP (the inner header is what is cut).
    fn every_cut_is_counted(frame: &[u8], outer: usize) {
        for len in outer..frame.len() {
            match decoded(&frame[..len]) {
                Decoded::Tcp(seg) => assert!(
                    len >= frame.len() - 5,
                    "{len}: TCP from a frame cut before its payload: {seg:?}"
                ),
                Decoded::Undecodable(_) | Decoded::Udp | Decoded::OtherIp(_) | Decoded::NonIp => {}
                other => panic!("{len}: {other:?}"),
            }
        }
    }

    const ETH_IP: usize = 14 + 20;

    #[test]
    fn gre_with_every_optional_field() {
        for flags in [0x00u8, 0x80, 0x20, 0x10, 0xb0] {
            let words = (flags.count_ones() * 4) as usize;
            let mut gre = vec![flags, 0, 0x08, 0x00];
            gre.extend(std::iter::repeat_n(0u8, words));
            let frame = over_gre(&cat(&[&gre, &inner_v4()]));
            inner_tcp(&frame, Tunnel::Gre);
            every_cut_is_counted(&frame, ETH_IP);
        }
        // IPv6 inside; Ethernet inside (transparent bridging).
        inner_tcp(
            &over_gre(&cat(&[&[0, 0, 0x86, 0xdd], &inner_v6()])),
            Tunnel::Gre,
        );
        let bridged = ethernet_of(0x0800, &inner_v4());
        inner_tcp(
            &over_gre(&cat(&[&[0, 0, 0x65, 0x58], &bridged])),
            Tunnel::Gre,
        );
    }

    #[test]
    fn gre_not_followed_stays_gre() {
        // Source routing (RFC 1701), version 2, an unknown protocol type.
        for gre in [[0x40u8, 0, 0x08, 0x00], [0, 2, 0x08, 0x00]] {
            let frame = over_gre(&cat(&[&gre, &inner_v4()]));
            assert!(matches!(decoded(&frame), Decoded::OtherIp(47)));
        }
        let frame = over_gre(&cat(&[&[0, 0, 0x12, 0x34], &inner_v4()]));
        assert!(matches!(decoded(&frame), Decoded::NonIp));
        assert!(matches!(
            decoded(&over_gre(&[0, 0])),
            Decoded::Undecodable(DecodeError::BadTunnelHeader)
        ));
    }

    #[test]
    fn erspan_types() {
        let mirrored = ethernet_of(0x0800, &inner_v4());
        // Type I: no GRE sequence number, no ERSPAN header.
        let one = over_gre(&cat(&[&[0, 0, 0x88, 0xbe], &mirrored]));
        inner_tcp(&one, Tunnel::Erspan);
        // Type II: sequence number, 8-byte header of version 1.
        let two_hdr = [0x10, 0x01, 0, 0x05, 0, 0, 0, 0];
        let two = over_gre(&cat(&[
            &[0x10, 0, 0x88, 0xbe, 0, 0, 0, 7],
            &two_hdr,
            &mirrored,
        ]));
        inner_tcp(&two, Tunnel::Erspan);
        every_cut_is_counted(&two, ETH_IP);
        // Type III, with and without the platform-specific subheader.
        let mut three_hdr = [0x20, 0x01, 0, 0x05, 0, 0, 0, 0, 0, 0, 0, 0];
        let three = over_gre(&cat(&[
            &[0x10, 0, 0x22, 0xeb, 0, 0, 0, 7],
            &three_hdr,
            &mirrored,
        ]));
        inner_tcp(&three, Tunnel::Erspan);
        three_hdr[11] = 1;
        let platform = [0u8; 8];
        let three_o = over_gre(&cat(&[
            &[0x10, 0, 0x22, 0xeb, 0, 0, 0, 7],
            &three_hdr,
            &platform,
            &mirrored,
        ]));
        inner_tcp(&three_o, Tunnel::Erspan);
        every_cut_is_counted(&three_o, ETH_IP);
        // A type II header of the wrong version is invalid.
        let bad = over_gre(&cat(&[
            &[0x10, 0, 0x88, 0xbe, 0, 0, 0, 7],
            &[0x20; 8],
            &mirrored,
        ]));
        assert!(matches!(
            decoded(&bad),
            Decoded::Undecodable(DecodeError::BadTunnelHeader)
        ));
    }

    #[test]
    fn pptp_enhanced_gre() {
        // Key present, sequence number present, acknowledgment present.
        let gre = [0x30, 0x81, 0x88, 0x0b, 0, 45, 0, 1, 0, 0, 0, 3, 0, 0, 0, 2];
        for ppp in [&[0xff, 0x03, 0x00, 0x21][..], &[0x00, 0x21], &[0x21]] {
            let frame = over_gre(&cat(&[&gre, ppp, &inner_v4()]));
            inner_tcp(&frame, Tunnel::Gre);
            every_cut_is_counted(&frame, ETH_IP);
        }
        // LCP is not IP.
        let lcp = over_gre(&cat(&[&gre, &[0xc0, 0x21, 1, 1, 0, 4]]));
        assert!(matches!(decoded(&lcp), Decoded::NonIp));
    }

    /// `frame` (Ethernet, IPv4, UDP) sent the other way: addresses and ports swapped.
    fn reversed(frame: &[u8]) -> Vec<u8> {
        let mut f = frame.to_vec();
        let (ip, udp) = (14, 14 + 20);
        f[ip + 12..ip + 20]
            .copy_from_slice(&[&frame[ip + 16..ip + 20], &frame[ip + 12..ip + 16]].concat());
        f[udp..udp + 4].copy_from_slice(&[&frame[udp + 2..udp + 4], &frame[udp..udp + 2]].concat());
        f
    }

    #[test]
    fn a_tunnel_is_named_by_its_outer_flow_as_zeek_names_it() {
        let parent = |frame: &[u8], kind| inner_tcp(frame, kind).tunnel_parent;
        let bridged = ethernet_of(0x0800, &inner_v4());
        let vxlan_payload = cat(&[&[0x08, 0, 0, 0, 0, 0, 0x2a, 0], &bridged]);
        let vxlan = over_udp(4789, &vxlan_payload);
        let id = parent(&vxlan, Tunnel::Vxlan);
        assert_ne!(id, 0);
        // Both directions of the UDP flow are one tunnel.
        assert_eq!(parent(&reversed(&vxlan), Tunnel::Vxlan), id);
        // Another UDP source port is another tunnel (Zeek's gtp2_different_udp_port).
        let other_port = ethernet_of(0x0800, &ipv4_of(17, &udp_of(50001, 4789, &vxlan_payload)));
        assert_ne!(parent(&other_port, Tunnel::Vxlan), id);
        // GRE is named by its outer addresses: on UDP, whatever the ports (Zeek's
        // gre-over-udp-4754), and the same as GRE straight over IP between them.
        let gre = cat(&[&[0, 0, 0x08, 0x00], &inner_v4()]);
        let gre_udp = parent(&over_udp(4754, &gre), Tunnel::Gre);
        let gre_udp_other = ethernet_of(0x0800, &ipv4_of(17, &udp_of(40000, 4754, &gre)));
        assert_eq!(parent(&gre_udp_other, Tunnel::Gre), gre_udp);
        assert_eq!(parent(&over_gre(&gre), Tunnel::Gre), gre_udp);
        // IP in IP between the same addresses is another kind of tunnel, another name.
        let ipip = parent(
            &ethernet_of(0x0800, &ipv4_of(4, &inner_v4())),
            Tunnel::IpInIp,
        );
        assert_ne!(ipip, gre_udp);
        // Outside tunnels: none.
        match decoded(&ethernet_of(0x0800, &inner_v4())) {
            Decoded::Tcp(seg) => assert_eq!(seg.tunnel_parent, 0),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn gre_over_udp() {
        let frame = over_udp(4754, &cat(&[&[0, 0, 0x08, 0x00], &inner_v4()]));
        inner_tcp(&frame, Tunnel::Gre);
    }

    #[test]
    fn vxlan() {
        let bridged = ethernet_of(0x0800, &inner_v4());
        let frame = over_udp(4789, &cat(&[&[0x08, 0, 0, 0, 0, 0, 0x2a, 0], &bridged]));
        inner_tcp(&frame, Tunnel::Vxlan);
        every_cut_is_counted(&frame, ETH_IP + 8);
        // Without the I flag it is not VXLAN.
        let not = over_udp(4789, &cat(&[&[0, 0, 0, 0, 0, 0, 0x2a, 0], &bridged]));
        assert!(matches!(decoded(&not), Decoded::Udp));
    }

    #[test]
    fn geneve_with_options_and_ip_inside() {
        let bridged = ethernet_of(0x0800, &inner_v4());
        // Two words of options.
        let hdr = [0x02, 0, 0x65, 0x58, 0, 0, 1, 0, 1, 2, 3, 4, 5, 6, 7, 8];
        let frame = over_udp(6081, &cat(&[&hdr, &bridged]));
        inner_tcp(&frame, Tunnel::Geneve);
        every_cut_is_counted(&frame, ETH_IP + 8);
        let ip = over_udp(6081, &cat(&[&[0, 0, 0x86, 0xdd, 0, 0, 1, 0], &inner_v6()]));
        inner_tcp(&ip, Tunnel::Geneve);
        // Version 1 does not exist.
        let v1 = over_udp(6081, &cat(&[&[0x40, 0, 0x65, 0x58, 0, 0, 1, 0], &bridged]));
        assert!(matches!(decoded(&v1), Decoded::Udp));
    }

    #[test]
    fn gtp_u_with_extension_headers() {
        let plain = over_udp(2152, &cat(&[&[0x30, 0xff, 0, 45, 0, 0, 0, 1], &inner_v4()]));
        inner_tcp(&plain, Tunnel::GtpU);
        // E flag: sequence, N-PDU, next type 0x85 (PDU session container, one word),
        // then none.
        let ext = [
            0x34, 0xff, 0, 53, 0, 0, 0, 1, 0, 0, 0, 0x85, 1, 0x10, 0x09, 0,
        ];
        let frame = over_udp(2152, &cat(&[&ext, &inner_v4()]));
        inner_tcp(&frame, Tunnel::GtpU);
        every_cut_is_counted(&frame, ETH_IP + 8);
        // An extension header of length 0 would never end.
        let zero = [
            0x34, 0xff, 0, 53, 0, 0, 0, 1, 0, 0, 0, 0x85, 0, 0x10, 0x09, 0,
        ];
        let bad = over_udp(2152, &cat(&[&zero, &inner_v4()]));
        assert!(matches!(
            decoded(&bad),
            Decoded::Undecodable(DecodeError::BadTunnelHeader)
        ));
        // An echo request is signalling: UDP.
        let echo = over_udp(2152, &[0x32, 0x01, 0, 4, 0, 0, 0, 0, 0, 1, 0, 0]);
        assert!(matches!(decoded(&echo), Decoded::Udp));
    }

    #[test]
    fn teredo_on_its_port_and_elsewhere() {
        let origin = [0x00, 0x00, 0xff, 0xff, 0x3f, 0x57, 0xfd, 0xee];
        let on_port = over_udp(3544, &cat(&[&origin, &inner_v6()]));
        inner_tcp(&on_port, Tunnel::Teredo);
        every_cut_is_counted(&on_port, ETH_IP + 8);
        // Authentication indicator (no id, no value), nonce, confirmation, then origin.
        let auth = [0x00, 0x01, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0];
        inner_tcp(
            &over_udp(3544, &cat(&[&auth, &origin, &inner_v6()])),
            Tunnel::Teredo,
        );
        // A relay's port: the inner address is in 2001:0::/32 and the length is exact.
        inner_tcp(&over_udp(40001, &inner_v6()), Tunnel::Teredo);
        // Not Teredo's prefix, or a length that does not fit: UDP.
        let mut other_prefix = inner_v6();
        other_prefix[9] = 0x02;
        assert!(matches!(
            decoded(&over_udp(40001, &other_prefix)),
            Decoded::Udp
        ));
        let mut padded = inner_v6();
        padded.push(0);
        assert!(matches!(decoded(&over_udp(40001, &padded)), Decoded::Udp));
    }

    #[test]
    fn ayiya() {
        // Identity 2^4 = 16 bytes, signature 5 words (SHA-1), forward, IPv6.
        let mut hdr = vec![0x41, 0x52, 0x11, 41, 0, 0, 0, 0];
        hdr.extend_from_slice(&[0; 16 + 20]);
        let frame = over_udp(5072, &cat(&[&hdr, &inner_v6()]));
        inner_tcp(&frame, Tunnel::Ayiya);
        every_cut_is_counted(&frame, ETH_IP + 8);
        // A heartbeat (operation 0) carries nothing.
        hdr[2] = 0x10;
        assert!(matches!(
            decoded(&over_udp(5072, &cat(&[&hdr, &inner_v6()]))),
            Decoded::Udp
        ));
    }

    #[test]
    fn ip_in_ip_every_way() {
        inner_tcp(
            &ethernet_of(0x0800, &ipv4_of(4, &inner_v4())),
            Tunnel::IpInIp,
        );
        inner_tcp(
            &ethernet_of(0x0800, &ipv4_of(41, &inner_v6())),
            Tunnel::IpInIp,
        );
        inner_tcp(
            &ethernet_of(0x86dd, &ipv6_of(4, &inner_v4())),
            Tunnel::IpInIp,
        );
        inner_tcp(
            &ethernet_of(0x86dd, &ipv6_of(41, &inner_v6())),
            Tunnel::IpInIp,
        );
    }

    #[test]
    fn three_tunnels_deep_at_most() {
        // IP-in-IP in VXLAN in GRE: the innermost tunnel names the segment.
        let ipip = ipv4_of(4, &inner_v4());
        let vx = udp_of(
            1,
            4789,
            &cat(&[&[0x08, 0, 0, 0, 0, 0, 1, 0], &ethernet_of(0x0800, &ipip)]),
        );
        let three = over_gre(&cat(&[&[0, 0, 0x08, 0x00], &ipv4_of(17, &vx)]));
        inner_tcp(&three, Tunnel::IpInIp);
        // A fourth level is one too many.
        let four = over_gre(&cat(&[&[0, 0, 0x08, 0x00], &ipv4_of(4, &ipv4_of(17, &vx))]));
        assert!(matches!(
            decoded(&four),
            Decoded::Undecodable(DecodeError::TooManyEncapsulations)
        ));
        // A crafted IP-in-IP chain of any length ends at the limit.
        let mut chain = inner_v4();
        for _ in 0..200 {
            chain = ipv4_of(4, &chain);
        }
        assert!(matches!(
            decoded(&ethernet_of(0x0800, &chain)),
            Decoded::Undecodable(DecodeError::TooManyEncapsulations)
        ));
    }
}
