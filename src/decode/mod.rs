//! Decoding: link layer → IP → TCP, without allocation.
//!
//! Link layers are few and simple, so they are read here directly (etherparse does not
//! know SLL2 or BSD loopback and stops at two VLAN tags). The IP layer — IPv4 options,
//! IPv6 extension headers, fragments — is etherparse's lax slicing, which tolerates
//! snaplen-cut packets. The TCP fixed header is read by hand because etherparse rejects
//! a header whose options were cut by the snaplen, and because the segment's length must
//! come from the IP length fields, not from the captured bytes (docs/inputs.md).

pub mod key;
mod tunnel;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use etherparse::{LaxIpSlice, LenSource};

use crate::model::event::SegmentOptions;
use crate::model::flags::TcpFlags;
use crate::model::link::LinkType;
use crate::model::seq::Seq;
use crate::model::tunnel::Tunnel;

/// The IPv4-mapped IPv6 prefix (::ffff:0:0/96, RFC 4291 §2.5.5.2).
pub const V4_MAPPED: u128 = 0xffff_0000_0000;

/// An IP address as one integer, as flow keys hold it: IPv6 as it is, IPv4 in its
/// IPv4-mapped IPv6 form, so that both families key and compare as integers.
pub fn ip_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => V4_MAPPED | u128::from(v4.to_bits()),
        IpAddr::V6(v6) => v6.to_bits(),
    }
}

/// The address `ip_bits` took `bits` from, given its family (an IPv4-mapped address in
/// an IPv6 header stays IPv6), with `port`; IPv6 without flow label or scope.
pub fn socket_addr(bits: u128, port: u16, v6: bool) -> SocketAddr {
    if v6 {
        SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from_bits(bits), port, 0, 0))
    } else {
        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from_bits(bits as u32), port))
    }
}

/// A decoded TCP segment. Slices borrow from the captured packet.
#[derive(Clone, Copy, Debug)]
pub struct TcpSegment<'a> {
    /// Source and destination addresses as `ip_bits` gives them (integers, not
    /// `SocketAddr`s: building and comparing those was a tenth of decoding); `src()` and
    /// `dst()` give them back.
    pub src_ip: u128,
    pub dst_ip: u128,
    pub src_port: u16,
    pub dst_port: u16,
    /// The addresses came in an IPv6 header.
    pub v6: bool,
    pub seq: Seq,
    pub ack: Seq,
    pub flags: TcpFlags,
    pub window: u16,
    /// Header length from the data-offset field, in bytes.
    pub header_len: u16,
    /// Payload length on the wire, from the IP length fields.
    pub payload_len: u32,
    /// The captured part of the TCP options (may be cut by the snaplen).
    pub options: &'a [u8],
    /// The captured part of the payload.
    pub payload: &'a [u8],
    /// The IP header's total length field (IPv6: payload length + 40), as Zeek counts IP
    /// bytes: zero when segmentation offload left it so.
    pub ip_len: u32,
    /// The IPv4 header checksum is right (always, for IPv6).
    pub ip_checksum_ok: bool,
    /// The one's-complement sum of the fixed 20-byte TCP header (checksum field included),
    /// folded to 16 bits: with the options, the payload and the pseudo-header it verifies
    /// the checksum (`TcpSegment::checksum_ok`) without keeping the header's bytes.
    pub header_sum: u16,
    /// The tunnel the segment came out of (the innermost one), if any.
    pub tunnel: Option<Tunnel>,
    /// Which tunnel that was: a hash of its outer flow (addresses, UDP ports, protocol),
    /// the same in both directions; 0 outside tunnels. Zeek's `tunnel_parents` names it.
    pub tunnel_parent: u32,
}

impl TcpSegment<'_> {
    /// A segment from `src` to `dst` with every other field zero or empty, to fill in.
    pub fn between(src: SocketAddr, dst: SocketAddr) -> TcpSegment<'static> {
        TcpSegment {
            src_ip: ip_bits(src.ip()),
            dst_ip: ip_bits(dst.ip()),
            src_port: src.port(),
            dst_port: dst.port(),
            v6: src.is_ipv6(),
            seq: Seq(0),
            ack: Seq(0),
            flags: TcpFlags(0),
            window: 0,
            header_len: 20,
            payload_len: 0,
            options: &[],
            payload: &[],
            ip_len: 40,
            ip_checksum_ok: true,
            header_sum: 0,
            tunnel: None,
            tunnel_parent: 0,
        }
    }

    pub fn src(&self) -> SocketAddr {
        socket_addr(self.src_ip, self.src_port, self.v6)
    }

    pub fn dst(&self) -> SocketAddr {
        socket_addr(self.dst_ip, self.dst_port, self.v6)
    }

    /// Sequence space the segment occupies: payload plus one each for SYN and FIN. Taken
    /// modulo 2^32 like the sequence numbers it spans: a corrupt record can claim a
    /// payload of nearly 4 GiB (see `tcp`), and SYN and FIN on top must not panic.
    pub fn seq_len(&self) -> u32 {
        self.payload_len
            .wrapping_add(u32::from(self.flags.syn()))
            .wrapping_add(u32::from(self.flags.fin()))
    }

    /// Whether the TCP checksum is right, when the whole segment was captured (`None`:
    /// cut by the snaplen, so it cannot be told, and Zeek takes it as good too). The
    /// pseudo-header's length is the TCP length the IP header gives.
    pub fn checksum_ok(&self) -> Option<bool> {
        let options_len = usize::from(self.header_len).saturating_sub(20);
        if self.options.len() < options_len
            || (self.payload.len() as u64) < u64::from(self.payload_len)
        {
            return None;
        }
        let tcp_len = u64::from(self.header_len) + u64::from(self.payload_len);
        let mut sum = u64::from(self.header_sum) + 6 + (tcp_len >> 16) + (tcp_len & 0xffff);
        for ip in [self.src_ip, self.dst_ip] {
            let bytes = ip.to_be_bytes();
            // An IPv4 address is the low 32 bits of its mapped form.
            sum = ones_sum(if self.v6 { &bytes } else { &bytes[12..] }, sum);
        }
        sum = ones_sum(&self.options[..options_len], sum);
        sum = ones_sum(&self.payload[..self.payload_len as usize], sum);
        Some(fold_sum(sum) == 0xffff)
    }

    /// The window scale and SACK blocks among the captured options (option bytes cut by
    /// the snaplen are left out).
    pub fn scale_and_sack(&self) -> SegmentOptions {
        let mut o = SegmentOptions {
            window_scale: self.window_scale(),
            ..SegmentOptions::default()
        };
        let mut opts = self.options;
        while let Some((&kind, rest)) = opts.split_first() {
            match kind {
                0 => break,
                1 => opts = rest,
                _ => {
                    let Some(&len) = rest.first() else { break };
                    let len = usize::from(len);
                    if len < 2 || len > opts.len() {
                        break;
                    }
                    if kind == 5 {
                        for b in opts[2..len].chunks_exact(8).take(4) {
                            let edge = |i: usize| {
                                Seq(u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]))
                            };
                            o.sack[usize::from(o.sack_len)] = (edge(0), edge(4));
                            o.sack_len += 1;
                        }
                    }
                    opts = &opts[len..];
                }
            }
        }
        o
    }

    /// The window-scale shift offered in a SYN's options, if captured.
    pub fn window_scale(&self) -> Option<u8> {
        let mut opts = self.options;
        while let Some((&kind, rest)) = opts.split_first() {
            match kind {
                0 => return None,
                1 => opts = rest,
                _ => {
                    let len = *rest.first()? as usize;
                    if len < 2 || len > opts.len() {
                        return None;
                    }
                    if kind == 3 && len == 3 {
                        return Some(opts[2].min(14));
                    }
                    opts = &opts[len..];
                }
            }
        }
        None
    }
}

/// Why a packet could not be decoded as far as its headers claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DecodeError {
    /// The link-layer header is shorter than its fixed size.
    LinkHeaderCut,
    /// The IP header is cut or invalid (bad version, IHL, lengths).
    BadIpHeader,
    /// The captured bytes end inside the 20-byte TCP header.
    TcpHeaderCut,
    /// The TCP data offset is below 5 words or beyond the IP payload.
    BadTcpOffset,
    /// Tunnels nested deeper than synack follows.
    TooManyEncapsulations,
    /// A tunnel header (GRE, VXLAN, Geneve, GTP-U...) cut short or invalid.
    BadTunnelHeader,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DecodeError::LinkHeaderCut => "link-layer header cut short",
            DecodeError::BadIpHeader => "IP header cut short or invalid",
            DecodeError::TcpHeaderCut => "TCP header cut short",
            DecodeError::BadTcpOffset => "TCP data offset invalid",
            DecodeError::TooManyEncapsulations => "too many nested encapsulations",
            DecodeError::BadTunnelHeader => "tunnel header cut short or invalid",
        })
    }
}

/// What a packet turned out to be. Every packet is exactly one of these.
#[derive(Clone, Copy, Debug)]
pub enum Decoded<'a> {
    Tcp(TcpSegment<'a>),
    Udp,
    Icmp,
    /// IP with another protocol (IGMP, ESP, SCTP...).
    OtherIp(u8),
    /// A link-layer frame that carries no IP (ARP, LLDP, STP...).
    NonIp,
    /// An IP fragment: synack does not reassemble, so its transport is not read.
    Fragment,
    Undecodable(DecodeError),
    UnsupportedLink,
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const ETHERTYPE_QINQ_OLD1: u16 = 0x9100;
const ETHERTYPE_QINQ_OLD2: u16 = 0x9200;
const ETHERTYPE_MPLS: u16 = 0x8847;
const ETHERTYPE_MPLS_MC: u16 = 0x8848;
const ETHERTYPE_PPPOE_SESSION: u16 = 0x8864;
const ETHERTYPE_TEB: u16 = 0x6558;
/// Cisco FabricPath: 2 bytes (FTag, TTL) after the ethertype, then an Ethernet frame.
const ETHERTYPE_FABRICPATH: u16 = 0x8903;
/// Provider Backbone Bridging (IEEE 802.1ah): a 4-byte I-TAG, then the customer's
/// Ethernet frame.
const ETHERTYPE_PBB: u16 = 0x88e7;
/// Cisco VN-Tag: 4 bytes of tag, then the next ethertype.
const ETHERTYPE_VNTAG: u16 = 0x8926;
/// The largest 802.3 length field: a smaller "ethertype" is a length, and 802.2 LLC follows.
const MAX_8023_LENGTH: u16 = 1500;

/// Nesting limit for VLAN tags, MPLS labels, LLC/SNAP headers and tunnels together.
const MAX_DEPTH: u8 = 8;
/// Nesting limit for tunnels alone: real traffic nests two at most (GRE in VXLAN...);
/// deeper is crafted, and counted as `TooManyEncapsulations`.
const MAX_TUNNELS: u8 = 3;

/// How deep a decoder is: levels passed (tags, labels, tunnels), tunnels among them, and
/// the innermost tunnel. Every recursion goes through `ethertype_payload` or
/// `ip_by_version`, which stop at the limits, so crafted nesting cannot recurse for ever.
#[derive(Clone, Copy, Debug)]
struct Nest {
    depth: u8,
    tunnels: u8,
    via: Option<Tunnel>,
    /// The addresses (`ip_pair_hash`) and UDP ports (the lower in the high half, so that
    /// both directions agree) of the packet being read, set where a tunnel may start.
    outer_ips: u32,
    outer_ports: u32,
    /// The innermost tunnel entered (`TcpSegment::tunnel_parent`).
    parent: u32,
}

impl Nest {
    const TOP: Nest = Nest {
        depth: 0,
        tunnels: 0,
        via: None,
        outer_ips: 0,
        outer_ports: 0,
        parent: 0,
    };

    fn deeper(self) -> Nest {
        Nest {
            depth: self.depth.saturating_add(1),
            ..self
        }
    }

    fn into_tunnel(self, kind: Tunnel) -> Nest {
        Nest {
            depth: self.depth.saturating_add(1),
            tunnels: self.tunnels.saturating_add(1),
            via: Some(kind),
            parent: self.tunnel_id(kind),
            ..self
        }
    }

    /// A tunnel as Zeek tells tunnels apart (`EncapsulatingConn`): GRE (ERSPAN too) and IP
    /// in IP by their outer addresses and kind, even when GRE rides on UDP; the
    /// UDP-borne ones (VXLAN, Geneve, Teredo, GTP-U, AYIYA) by their UDP flow, so that a
    /// tunnel whose directions use different UDP ports is two. Never 0.
    fn tunnel_id(self, kind: Tunnel) -> u32 {
        let key = match kind {
            Tunnel::Gre | Tunnel::Erspan => 1 << 32,
            Tunnel::IpInIp => 2 << 32,
            _ => 3 << 32 | u64::from(self.outer_ports),
        };
        let h = fold(u64::from(self.outer_ips) ^ key, 0xa409_3822_299f_31d0);
        (h as u32 ^ (h >> 32) as u32).max(1)
    }

    /// The same nest, reading a packet between `ips` (`ip_pair_hash`) with UDP ports
    /// `ports` (0 for other protocols).
    fn in_flow(self, ips: u32, ports: u32) -> Nest {
        Nest {
            outer_ips: ips,
            outer_ports: ports,
            ..self
        }
    }

    fn too_deep(self) -> bool {
        self.depth > MAX_DEPTH || self.tunnels > MAX_TUNNELS
    }
}

/// Decodes one captured frame of the given link type. `cut` is how many bytes of the
/// frame the snaplen cut off (original length − captured length).
#[inline(always)]
pub fn decode(link_type: LinkType, data: &[u8], cut: u32) -> Decoded<'_> {
    if link_type == LinkType::ETHERNET {
        if let Some(decoded) = ethernet_plain_tcp(data, cut) {
            return decoded;
        }
    }
    decode_general(link_type, data, cut)
}

/// Everything but the commonest frame, apart: inlined into the packet loop, the
/// general path's registers and stack would weigh on the common one.
#[inline(never)]
fn decode_general(link_type: LinkType, data: &[u8], cut: u32) -> Decoded<'_> {
    decode_with::<true>(link_type, data, cut)
}

/// The commonest frame in one go: Ethernet, with one 802.1Q tag or none, then what
/// `plain_ip_tcp` reads; `None` for anything else. The answer is the general path's for
/// the same frame (which takes the same steps through `ethertype_payload`).
#[inline(always)]
fn ethernet_plain_tcp(data: &[u8], cut: u32) -> Option<Decoded<'_>> {
    let be16 = |at: usize| {
        data.get(at..at + 2)
            .map(|t| u16::from_be_bytes([t[0], t[1]]))
    };
    let (ethertype, ip) = match be16(12)? {
        ETHERTYPE_VLAN => (be16(16)?, data.get(18..)?),
        ethertype => (ethertype, &data[14..]),
    };
    if ethertype != ETHERTYPE_IPV4 && ethertype != ETHERTYPE_IPV6 {
        return None;
    }
    plain_ip_tcp(ip, cut, Nest::TOP)
}

/// `decode` without the hand-written IPv4/IPv6 fast path: etherparse reads every IP
/// header. Tests check that both give the same answer on every captured packet.
#[doc(hidden)]
pub fn decode_without_fast_path(link_type: LinkType, data: &[u8], cut: u32) -> Decoded<'_> {
    decode_with::<false>(link_type, data, cut)
}

fn decode_with<const FAST: bool>(link_type: LinkType, data: &[u8], cut: u32) -> Decoded<'_> {
    match link_type {
        LinkType::ETHERNET => ethernet::<FAST>(data, Nest::TOP, cut),
        LinkType::RAW | LinkType::RAW_12 | LinkType::RAW_14 => {
            ip_by_version::<FAST>(data, Nest::TOP, cut)
        }
        LinkType::IPV4 | LinkType::IPV6 => ip_by_version::<FAST>(data, Nest::TOP, cut),
        LinkType::NULL | LinkType::LOOP => bsd_loopback::<FAST>(link_type, data, cut),
        LinkType::LINUX_SLL => match data.get(14..16) {
            Some(p) => {
                let ethertype = u16::from_be_bytes([p[0], p[1]]);
                ethertype_payload::<FAST>(ethertype, &data[16..], Nest::TOP, cut)
            }
            None => Decoded::Undecodable(DecodeError::LinkHeaderCut),
        },
        LinkType::LINUX_SLL2 => match data.get(..20) {
            Some(h) => {
                let ethertype = u16::from_be_bytes([h[0], h[1]]);
                ethertype_payload::<FAST>(ethertype, &data[20..], Nest::TOP, cut)
            }
            None => Decoded::Undecodable(DecodeError::LinkHeaderCut),
        },
        LinkType::FDDI => fddi::<FAST>(data, cut),
        _ => Decoded::UnsupportedLink,
    }
}

fn ethernet<const FAST: bool>(data: &[u8], nest: Nest, cut: u32) -> Decoded<'_> {
    match data.get(12..14) {
        Some(t) => {
            ethertype_payload::<FAST>(u16::from_be_bytes([t[0], t[1]]), &data[14..], nest, cut)
        }
        None => Decoded::Undecodable(DecodeError::LinkHeaderCut),
    }
}

/// FDDI: frame control (1 byte), destination and source (6 each), then 802.2 LLC for
/// the asynchronous LLC frames (frame control 0x50–0x57); other frames (SMT, MAC,
/// tokens) carry no IP.
fn fddi<const FAST: bool>(data: &[u8], cut: u32) -> Decoded<'_> {
    match data.get(..13) {
        Some(h) if h[0] & 0xf8 == 0x50 => llc::<FAST>(&data[13..], Nest::TOP, cut),
        Some(_) => Decoded::NonIp,
        None => Decoded::Undecodable(DecodeError::LinkHeaderCut),
    }
}

/// 802.2 LLC, after an 802.3 length field or an FDDI header: SNAP (AA-AA-03) with an
/// Ethernet OUI carries an ethertype, and SAP 06 carries IPv4 directly (RFC 948); other
/// SAPs (spanning tree, NetBIOS, IPX) carry no IP.
fn llc<const FAST: bool>(data: &[u8], nest: Nest, cut: u32) -> Decoded<'_> {
    let Some(h) = data.get(..3) else {
        return Decoded::Undecodable(DecodeError::LinkHeaderCut);
    };
    match h {
        [0xaa, 0xaa, 0x03] => match data.get(3..8) {
            // OUI 00-00-00 (RFC 1042) or 00-00-F8 (802.1H bridge tunnel).
            Some([0, 0, 0 | 0xf8, t0, t1]) => {
                let ethertype = u16::from_be_bytes([*t0, *t1]);
                ethertype_payload::<FAST>(ethertype, &data[8..], nest.deeper(), cut)
            }
            Some(_) => Decoded::NonIp,
            None => Decoded::Undecodable(DecodeError::LinkHeaderCut),
        },
        [0x06, 0x06, 0x03] => ip_by_version::<FAST>(&data[3..], nest.deeper(), cut),
        _ => Decoded::NonIp,
    }
}

fn ethertype_payload<const FAST: bool>(
    ethertype: u16,
    data: &[u8],
    nest: Nest,
    cut: u32,
) -> Decoded<'_> {
    if nest.too_deep() {
        return Decoded::Undecodable(DecodeError::TooManyEncapsulations);
    }
    match ethertype {
        ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => ip_by_version::<FAST>(data, nest, cut),
        // An 802.3 length field: the frame carries 802.2 LLC.
        length if length <= MAX_8023_LENGTH => llc::<FAST>(data, nest, cut),
        ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD1 | ETHERTYPE_QINQ_OLD2 => {
            // Tag control (2 bytes), then the next ethertype.
            match data.get(2..4) {
                Some(t) => ethertype_payload::<FAST>(
                    u16::from_be_bytes([t[0], t[1]]),
                    &data[4..],
                    nest.deeper(),
                    cut,
                ),
                None => Decoded::Undecodable(DecodeError::LinkHeaderCut),
            }
        }
        ETHERTYPE_MPLS | ETHERTYPE_MPLS_MC => {
            // Label stack entries until the bottom-of-stack bit, then IP by version.
            let mut rest = data;
            for _ in 0..MAX_DEPTH {
                let Some(entry) = rest.get(..4) else {
                    return Decoded::Undecodable(DecodeError::LinkHeaderCut);
                };
                rest = &rest[4..];
                if entry[2] & 0x01 != 0 {
                    return match rest.first().map(|b| b >> 4) {
                        Some(4) | Some(6) => ip_by_version::<FAST>(rest, nest.deeper(), cut),
                        _ => Decoded::NonIp,
                    };
                }
            }
            Decoded::Undecodable(DecodeError::TooManyEncapsulations)
        }
        ETHERTYPE_FABRICPATH | ETHERTYPE_PBB => {
            let skip = if ethertype == ETHERTYPE_PBB { 4 } else { 2 };
            match data.get(skip..) {
                Some(inner) => ethernet::<FAST>(inner, nest.deeper(), cut),
                None => Decoded::Undecodable(DecodeError::LinkHeaderCut),
            }
        }
        ETHERTYPE_VNTAG => match data.get(4..6) {
            Some(t) => ethertype_payload::<FAST>(
                u16::from_be_bytes([t[0], t[1]]),
                &data[6..],
                nest.deeper(),
                cut,
            ),
            None => Decoded::Undecodable(DecodeError::LinkHeaderCut),
        },
        ETHERTYPE_PPPOE_SESSION => match data.get(6..8) {
            Some(p) => match u16::from_be_bytes([p[0], p[1]]) {
                0x0021 | 0x0057 => ip_by_version::<FAST>(&data[8..], nest.deeper(), cut),
                _ => Decoded::NonIp,
            },
            None => Decoded::Undecodable(DecodeError::LinkHeaderCut),
        },
        _ => Decoded::NonIp,
    }
}

fn bsd_loopback<const FAST: bool>(link_type: LinkType, data: &[u8], cut: u32) -> Decoded<'_> {
    let Some(h) = data.get(..4) else {
        return Decoded::Undecodable(DecodeError::LinkHeaderCut);
    };
    let raw = [h[0], h[1], h[2], h[3]];
    // DLT_NULL stores the family in the writer's byte order, DLT_LOOP in network order.
    let family = if link_type == LinkType::LOOP {
        u32::from_be_bytes(raw)
    } else {
        let le = u32::from_le_bytes(raw);
        if le > 0xffff {
            u32::from_be_bytes(raw)
        } else {
            le
        }
    };
    match family {
        // AF_INET everywhere; AF_INET6 is 24 (NetBSD/OpenBSD), 28 (FreeBSD), 30 (macOS),
        // 10 (Linux), 23 (Windows).
        2 | 10 | 23 | 24 | 28 | 30 => ip_by_version::<FAST>(&data[4..], Nest::TOP, cut),
        _ => Decoded::NonIp,
    }
}

fn ip_by_version<const FAST: bool>(data: &[u8], nest: Nest, cut: u32) -> Decoded<'_> {
    if nest.too_deep() {
        return Decoded::Undecodable(DecodeError::TooManyEncapsulations);
    }
    if FAST {
        if let Some(decoded) = plain_ip_tcp(data, cut, nest) {
            return decoded;
        }
    }
    let Ok((ip, ext_error)) = LaxIpSlice::from_slice(data) else {
        return match data.first().map(|b| b >> 4) {
            Some(4) | Some(6) => Decoded::Undecodable(DecodeError::BadIpHeader),
            _ => Decoded::NonIp,
        };
    };
    let payload = ip.payload();
    if payload.fragmented {
        return Decoded::Fragment;
    }
    if ext_error.is_some() {
        // An IPv6 extension header ran past the capture: the transport is unknown.
        return Decoded::Undecodable(DecodeError::BadIpHeader);
    }
    let proto = payload.ip_number.0;
    match proto {
        6 => {
            let wire_len = ip_payload_wire_len(&ip, data, cut);
            let addrs = IpPair {
                src: ip_bits(ip.source_addr()),
                dst: ip_bits(ip.destination_addr()),
                v6: matches!(ip, LaxIpSlice::Ipv6(_)),
                via: nest.via,
                parent: nest.parent,
            };
            let ip_facts = (ip_total_len(&ip), ip_checksum_ok(&ip));
            tcp(addrs, payload.payload, wire_len, ip_facts)
        }
        17 => {
            let ports = payload.payload.get(..4).map_or(0, |p| {
                let (a, b) = (
                    u16::from_be_bytes([p[0], p[1]]),
                    u16::from_be_bytes([p[2], p[3]]),
                );
                u32::from(a.min(b)) << 16 | u32::from(a.max(b))
            });
            let nest = nest.in_flow(ip_pair_hash(&ip), ports);
            tunnel::udp::<FAST>(payload.payload, nest, cut)
        }
        1 | 58 => Decoded::Icmp,
        // IPv4-in-IP and IPv6-in-IP tunnels (either inside either): tshark analyses the
        // inner packet.
        4 | 41 => {
            let nest = nest.in_flow(ip_pair_hash(&ip), 0);
            ip_by_version::<FAST>(payload.payload, nest.into_tunnel(Tunnel::IpInIp), cut)
        }
        47 => {
            let nest = nest.in_flow(ip_pair_hash(&ip), 0);
            tunnel::gre::<FAST>(payload.payload, nest, cut).unwrap_or(Decoded::OtherIp(47))
        }
        other => Decoded::OtherIp(other),
    }
}

/// The common case read by hand: an unfragmented IPv4 packet, or an IPv6 packet without
/// extension headers, carrying TCP, with usable length fields. Anything else (`None`)
/// goes to etherparse. The lengths follow `ip_payload_wire_len` exactly.
#[inline(always)]
fn plain_ip_tcp(data: &[u8], cut: u32, nest: Nest) -> Option<Decoded<'_>> {
    let first = *data.first()?;
    let (addrs, header_len, total) = match first >> 4 {
        4 => {
            let h = data.get(..20)?;
            let header_len = usize::from(first & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
            let fragment = u16::from_be_bytes([h[6], h[7]]) & 0x3fff != 0;
            if h[9] != 6
                || fragment
                || header_len < 20
                || header_len > data.len()
                || total < header_len
            {
                return None;
            }
            let v4 = |at: usize| {
                V4_MAPPED | u128::from(u32::from_be_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]))
            };
            let addrs = IpPair {
                src: v4(12),
                dst: v4(16),
                v6: false,
                via: nest.via,
                parent: nest.parent,
            };
            (addrs, header_len, total)
        }
        6 => {
            let h = data.get(..40)?;
            let payload_len = usize::from(u16::from_be_bytes([h[4], h[5]]));
            if h[6] != 6 || payload_len == 0 {
                return None;
            }
            let v6 = |at: usize| {
                let mut a = [0u8; 16];
                a.copy_from_slice(&h[at..at + 16]);
                u128::from_be_bytes(a)
            };
            let addrs = IpPair {
                src: v6(8),
                dst: v6(24),
                v6: true,
                via: nest.via,
                parent: nest.parent,
            };
            (addrs, 40, 40 + payload_len)
        }
        _ => return None,
    };
    let (payload, wire_len) = if total <= data.len() {
        let payload = &data[header_len..total];
        (payload, payload.len())
    } else {
        // Cut by the snaplen (or short on the wire): the IP length, within the frame.
        let payload = &data[header_len..];
        (
            payload,
            (total - header_len).min(payload.len() + cut as usize),
        )
    };
    let ip_ok = match first >> 4 {
        4 => fold_sum(ones_sum(&data[..header_len], 0)) == 0xffff,
        _ => true,
    };
    Some(tcp(addrs, payload, wire_len, (total as u32, ip_ok)))
}

/// Length of the IP payload on the wire: what the IP length field claims, but never
/// more than the frame carried on the wire (captured bytes plus the `cut` ones). A frame
/// shorter than its IP length is short on the wire, not cut by the snaplen, and tshark
/// counts only what was there. An unusable length field (0 from TSO offload, or less
/// than the headers) leaves the frame's own length.
fn ip_payload_wire_len(ip: &LaxIpSlice<'_>, ip_bytes: &[u8], cut: u32) -> usize {
    let payload = ip.payload();
    let on_wire = payload.payload.len() + cut as usize;
    if payload.len_source != LenSource::Slice {
        return payload.payload.len();
    }
    let header_len = payload.payload.as_ptr() as usize - ip_bytes.as_ptr() as usize;
    let total = match ip {
        LaxIpSlice::Ipv4(v4) => usize::from(v4.header().total_len()),
        LaxIpSlice::Ipv6(v6) => match v6.header().payload_length() {
            0 => 0,
            n => 40 + usize::from(n),
        },
    };
    if total >= header_len {
        (total - header_len).min(on_wire)
    } else {
        on_wire
    }
}

/// The IP header's total length field as Zeek counts IP bytes (IPv6: payload length +
/// 40), zero included (segmentation offload leaves it zero, and Zeek counts no bytes).
fn ip_total_len(ip: &LaxIpSlice<'_>) -> u32 {
    match ip {
        LaxIpSlice::Ipv4(v4) => u32::from(v4.header().total_len()),
        LaxIpSlice::Ipv6(v6) => 40 + u32::from(v6.header().payload_length()),
    }
}

/// Whether an IPv4 header's checksum is right (IPv6 has none).
fn ip_checksum_ok(ip: &LaxIpSlice<'_>) -> bool {
    match ip {
        LaxIpSlice::Ipv4(v4) => fold_sum(ones_sum(v4.header().slice(), 0)) == 0xffff,
        LaxIpSlice::Ipv6(_) => true,
    }
}

/// The addresses of an IP header, as `ip_bits` gives them.
struct IpPair {
    src: u128,
    dst: u128,
    v6: bool,
    /// The tunnel the IP packet came out of, and which one (`TcpSegment::tunnel_parent`).
    via: Option<Tunnel>,
    parent: u32,
}

#[inline(always)]
/// `ip`: the IP header's total length field and whether its checksum is right.
fn tcp(addrs: IpPair, bytes: &[u8], wire_len: usize, ip: (u32, bool)) -> Decoded<'_> {
    let (ip_len, ip_checksum_ok) = ip;
    let Some(h) = bytes.get(..20) else {
        return Decoded::Undecodable(DecodeError::TcpHeaderCut);
    };
    let be16 = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
    let be32 = |i: usize| u32::from_be_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
    let header_len = usize::from(h[12] >> 4) * 4;
    if header_len < 20 || header_len > wire_len {
        return Decoded::Undecodable(DecodeError::BadTcpOffset);
    }
    let options_end = header_len.min(bytes.len());
    Decoded::Tcp(TcpSegment {
        src_ip: addrs.src,
        dst_ip: addrs.dst,
        src_port: be16(0),
        dst_port: be16(2),
        v6: addrs.v6,
        seq: Seq(be32(4)),
        ack: Seq(be32(8)),
        flags: TcpFlags(u16::from(h[13]) | (u16::from(h[12] & 0x01) << 8)),
        window: be16(14),
        header_len: header_len as u16,
        // With an unusable IP length and an absurd `cut` the wire length can exceed 4 GiB
        // (not from a capture record, whose lengths are 32-bit, but through this
        // function): saturate rather than wrap to a small, plausible value.
        payload_len: u32::try_from(wire_len - header_len).unwrap_or(u32::MAX),
        options: &bytes[20..options_end],
        payload: bytes.get(header_len..).unwrap_or(&[]),
        ip_len,
        ip_checksum_ok,
        header_sum: fold_sum(ones_sum(h, 0)),
        tunnel: addrs.via,
        tunnel_parent: addrs.parent,
    })
}

/// The folded multiply of wyhash and foldhash: 64×64 → 128 bits, halves xored.
fn fold(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    (r as u64) ^ ((r >> 64) as u64)
}

/// A packet's two addresses, hashed so that both directions give the same value: part of
/// a tunnel's identity (`Nest::tunnel_id`). Computed only for packets that may carry a
/// tunnel (UDP, GRE, IP in IP), never on the plain TCP path.
fn ip_pair_hash(ip: &LaxIpSlice<'_>) -> u32 {
    let end = |addr: u128| {
        fold(
            addr as u64 ^ 0x243f_6a88_85a3_08d3,
            (addr >> 64) as u64 ^ 0x1319_8a2e_0370_7344,
        )
    };
    // A sum, so that the order of the ends does not matter.
    let h = end(ip_bits(ip.source_addr())).wrapping_add(end(ip_bits(ip.destination_addr())));
    h as u32 ^ (h >> 32) as u32
}

/// Adds `bytes` as big-endian 16-bit words (an odd last byte padded with zero) to a
/// one's-complement sum kept unfolded in 64 bits (RFC 1071). `bytes` must start at an
/// even offset of what is summed.
#[inline]
pub fn ones_sum(bytes: &[u8], sum: u64) -> u64 {
    // The sum does not depend on byte order (RFC 1071 §2(B)): add native 32-bit words,
    // which the compiler vectorizes, and swap the folded result's bytes once.
    let mut words = bytes.chunks_exact(4);
    let mut native = 0u64;
    for w in &mut words {
        native += u64::from(u32::from_le_bytes([w[0], w[1], w[2], w[3]]));
    }
    let mut be = 0u64;
    let rest = words.remainder();
    let mut pairs = rest.chunks_exact(2);
    for p in &mut pairs {
        be += u64::from(u16::from_be_bytes([p[0], p[1]]));
    }
    if let [last] = pairs.remainder() {
        be += u64::from(*last) << 8;
    }
    sum + be + u64::from(fold_sum(native).swap_bytes())
}

/// Folds an unfolded one's-complement sum to 16 bits.
#[inline]
pub fn fold_sum(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    fn tcp_frame(payload: &[u8]) -> Vec<u8> {
        let builder = PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40000, 80, 1000, 65535)
            .syn()
            .options(&[etherparse::TcpOptionElement::MaximumSegmentSize(1460)])
            .unwrap();
        let mut out = Vec::new();
        builder.write(&mut out, payload).unwrap();
        out
    }

    fn expect_tcp(d: Decoded<'_>) -> TcpSegment<'_> {
        match d {
            Decoded::Tcp(s) => s,
            other => panic!("expected TCP, got {other:?}"),
        }
    }

    #[test]
    fn ethernet_ipv4_tcp() {
        let frame = tcp_frame(b"hello");
        let seg = expect_tcp(decode(LinkType::ETHERNET, &frame, 0));
        assert_eq!(seg.src().to_string(), "10.0.0.1:40000");
        assert_eq!(seg.dst().port(), 80);
        assert_eq!(seg.seq, Seq(1000));
        assert!(seg.flags.syn_only());
        assert_eq!(seg.header_len, 24);
        assert_eq!(seg.payload_len, 5);
        assert_eq!(seg.seq_len(), 6);
        assert_eq!(seg.payload, b"hello");
    }

    #[test]
    fn checksums_and_ip_length_as_zeek_reads_them() {
        let mut frame = tcp_frame(b"hello, checksum");
        let seg = expect_tcp(decode(LinkType::ETHERNET, &frame, 0));
        assert_eq!(seg.ip_len, 20 + 24 + 15);
        assert!(seg.ip_checksum_ok);
        assert_eq!(seg.checksum_ok(), Some(true));
        let general = expect_tcp(decode_without_fast_path(LinkType::ETHERNET, &frame, 0));
        assert_eq!(general.checksum_ok(), Some(true));
        // A payload byte changed: the TCP checksum is wrong, the IP header's still right.
        *frame.last_mut().unwrap() ^= 0x20;
        let seg = expect_tcp(decode(LinkType::ETHERNET, &frame, 0));
        assert_eq!(seg.checksum_ok(), Some(false));
        assert!(seg.ip_checksum_ok);
        // The TTL changed: the IP header's checksum is wrong.
        frame[14 + 8] ^= 1;
        assert!(!expect_tcp(decode(LinkType::ETHERNET, &frame, 0)).ip_checksum_ok);
        // Cut by the snaplen: the checksum cannot be told.
        let cut = expect_tcp(decode(
            LinkType::ETHERNET,
            &frame[..60],
            frame.len() as u32 - 60,
        ));
        assert_eq!(cut.checksum_ok(), None);
    }

    #[test]
    fn snaplen_cut_options_still_decode_with_wire_length() {
        let frame = tcp_frame(&[7; 500]);
        // Cut inside the options: 14 + 20 + 20 + 2 bytes.
        let seg = expect_tcp(decode(
            LinkType::ETHERNET,
            &frame[..56],
            frame.len() as u32 - 56,
        ));
        assert_eq!(seg.payload_len, 500);
        assert_eq!(seg.options.len(), 2);
        assert!(seg.payload.is_empty());
    }

    #[test]
    fn frame_shorter_than_its_ip_length_counts_only_what_was_sent() {
        let frame = tcp_frame(&[7; 500]);
        // Captured whole (nothing cut), but 100 bytes short of the IP total length.
        let seg = expect_tcp(decode(LinkType::ETHERNET, &frame[..frame.len() - 100], 0));
        assert_eq!(seg.payload_len, 400);
    }

    #[test]
    fn cut_inside_fixed_tcp_header_is_undecodable() {
        let frame = tcp_frame(b"");
        assert!(matches!(
            decode(LinkType::ETHERNET, &frame[..14 + 20 + 12], 0),
            Decoded::Undecodable(DecodeError::TcpHeaderCut)
        ));
    }

    #[test]
    fn vlan_tags_are_skipped_however_many() {
        let frame = tcp_frame(b"x");
        let mut tagged = frame[..12].to_vec();
        for tpid in [0x88a8u16, 0x8100, 0x8100] {
            tagged.extend_from_slice(&tpid.to_be_bytes());
            tagged.extend_from_slice(&[0x00, 0x64]);
        }
        tagged.extend_from_slice(&frame[12..]);
        let seg = expect_tcp(decode(LinkType::ETHERNET, &tagged, 0));
        assert_eq!(seg.payload_len, 1);
    }

    #[test]
    fn bsd_null_in_both_byte_orders() {
        let frame = tcp_frame(b"");
        let ip = &frame[14..];
        for family in [[2, 0, 0, 0], [0, 0, 0, 2]] {
            let mut f = family.to_vec();
            f.extend_from_slice(ip);
            expect_tcp(decode(LinkType::NULL, &f, 0));
        }
        let mut lo = vec![0, 0, 0, 2];
        lo.extend_from_slice(ip);
        expect_tcp(decode(LinkType::LOOP, &lo, 0));
    }

    #[test]
    fn non_first_fragment_is_not_tcp() {
        let mut frame = tcp_frame(b"0123456789");
        // Fragment offset 8 (64 bytes), no more fragments.
        frame[14 + 6] = 0x00;
        frame[14 + 7] = 0x08;
        assert!(matches!(
            decode(LinkType::ETHERNET, &frame, 0),
            Decoded::Fragment
        ));
    }

    /// An IPv4 total length of 0 (TSO) falls back to the frame's wire length, which a
    /// huge `cut` took past 4 GiB: the payload length wrapped to a plausible 39 (fewer
    /// bytes than were captured) and `seq_len` could overflow (fixtures/fuzz/decode/).
    #[test]
    fn tso_frame_with_huge_cut_saturates() {
        let mut frame = vec![
            0x45, 0, 0, 0, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        frame.extend_from_slice(&[0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x03]);
        frame.extend_from_slice(&[0x03, 0xe8, 0, 0, 0, 0]);
        frame.extend_from_slice(&[7; 40]);
        let seg = expect_tcp(decode(LinkType::RAW, &frame, u32::MAX));
        assert_eq!(seg.payload_len, u32::MAX);
        assert_eq!(seg.seq_len(), 1);
    }

    /// An 802.3 frame: the length field where the ethertype would be, then LLC.
    fn llc_frame(llc: &[u8], ip: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
        f.extend_from_slice(&((llc.len() + ip.len()) as u16).to_be_bytes());
        f.extend_from_slice(llc);
        f.extend_from_slice(ip);
        f
    }

    const SNAP_IPV4: [u8; 8] = [0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00];

    #[test]
    fn ethernet_802_3_llc_snap_carries_ip() {
        let frame = tcp_frame(b"hello");
        let ip = &frame[14..];
        let snap = llc_frame(&SNAP_IPV4, ip);
        let seg = expect_tcp(decode(LinkType::ETHERNET, &snap, 0));
        assert_eq!(seg.payload, b"hello");
        assert_eq!(seg.tunnel, None);
        // The bridge-tunnel OUI, and SAP 06 (IP directly).
        let bridge = [0xaa, 0xaa, 0x03, 0, 0, 0xf8, 0x08, 0x00];
        expect_tcp(decode(LinkType::ETHERNET, &llc_frame(&bridge, ip), 0));
        expect_tcp(decode(LinkType::ETHERNET, &llc_frame(&[6, 6, 3], ip), 0));
        // Spanning tree, and SNAP with Cisco's OUI (CDP): no IP.
        for llc in [
            &[0x42, 0x42, 0x03][..],
            &[0xaa, 0xaa, 0x03, 0, 0, 0x0c, 0x20, 0],
        ] {
            assert!(matches!(
                decode(LinkType::ETHERNET, &llc_frame(llc, ip), 0),
                Decoded::NonIp
            ));
        }
        // Cut inside LLC or SNAP: counted, never TCP.
        let whole = llc_frame(&SNAP_IPV4, ip);
        for len in 14..22 {
            assert!(matches!(
                decode(LinkType::ETHERNET, &whole[..len], 0),
                Decoded::Undecodable(DecodeError::LinkHeaderCut)
            ));
        }
    }

    #[test]
    fn fddi_llc_snap_carries_ip() {
        let frame = tcp_frame(b"hello");
        let mut fddi = vec![0x50];
        fddi.extend_from_slice(&[0xaa; 12]);
        fddi.extend_from_slice(&SNAP_IPV4);
        fddi.extend_from_slice(&frame[14..]);
        assert_eq!(
            expect_tcp(decode(LinkType::FDDI, &fddi, 0)).payload,
            b"hello"
        );
        // A MAC or SMT frame, and a header cut short.
        fddi[0] = 0x41;
        assert!(matches!(decode(LinkType::FDDI, &fddi, 0), Decoded::NonIp));
        assert!(matches!(
            decode(LinkType::FDDI, &fddi[..12], 0),
            Decoded::Undecodable(DecodeError::LinkHeaderCut)
        ));
    }

    #[test]
    fn unknown_link_type() {
        assert!(matches!(
            decode(LinkType(147), &[0; 40], 0),
            Decoded::UnsupportedLink
        ));
    }

    #[test]
    fn flags_print_like_tcpdump() {
        assert_eq!(TcpFlags(TcpFlags::SYN | TcpFlags::ACK).to_string(), "S.");
        assert_eq!(TcpFlags(TcpFlags::ACK).to_string(), ".");
        assert_eq!(TcpFlags(TcpFlags::RST).to_string(), "R");
    }

    #[test]
    fn window_scale_option() {
        let seg = TcpSegment {
            flags: TcpFlags(TcpFlags::SYN),
            header_len: 28,
            options: &[2, 4, 5, 0xb4, 1, 3, 3, 7],
            ..TcpSegment::between("1.1.1.1:1".parse().unwrap(), "2.2.2.2:2".parse().unwrap())
        };
        assert_eq!(seg.window_scale(), Some(7));
    }

    #[test]
    fn sack_blocks_and_a_cut_option() {
        let mut opts = vec![1, 1, 5, 18];
        opts.extend_from_slice(&[0, 0, 0, 10, 0, 0, 0, 20, 0xff, 0xff, 0xff, 0xf0, 0, 0, 0, 5]);
        let seg = TcpSegment {
            header_len: 40,
            options: &opts,
            ..TcpSegment::between("1.1.1.1:1".parse().unwrap(), "2.2.2.2:2".parse().unwrap())
        };
        let o = seg.scale_and_sack();
        assert_eq!(o.window_scale, None);
        assert_eq!(
            o.sack_blocks(),
            [(Seq(10), Seq(20)), (Seq(0xffff_fff0), Seq(5))]
        );
        // The same option cut by the snaplen gives nothing, not a panic.
        let cut = TcpSegment {
            options: &opts[..10],
            ..seg
        };
        assert!(cut.scale_and_sack().is_empty());
    }
}
