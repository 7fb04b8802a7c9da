//! Deterministic fixture generator for synack's test captures.
//!
//! ```text
//! cargo run --release --example mkfixtures -- fixtures          # (re)write every fixture
//! cargo run --release --example mkfixtures -- --check fixtures  # verify determinism + up to date
//! ```
//!
//! Everything here is fixed: timestamps (base 2026-01-01T00:00:00Z), MACs, IPs,
//! ISNs, payload patterns.  No randomness, no current time.  Running it twice
//! produces byte-identical files, and it also writes `fixtures/README.md` with
//! the expected numbers derived from the scenario definitions below.

use etherparse::{
    IpFragOffset, IpHeaders, IpNumber, Ipv4Header, Ipv4Options, Ipv6Extensions, Ipv6FlowLabel,
    Ipv6FragmentHeader, Ipv6Header, Ipv6RawExtHeader, Ipv6RoutingExtensions, PacketBuilder,
    TcpHeader,
};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

/// 2026-01-01T00:00:00Z
const BASE_S: u64 = 1_767_225_600;
const BASE_NS: u64 = BASE_S * 1_000_000_000;
/// Microsecond helpers for scenario time offsets.
const MS: u64 = 1_000;
const SEC: u64 = 1_000_000;

// ---------------------------------------------------------------------------
// Frames and packet kinds
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Tcp,
    Udp,
    Icmp,
    /// Non-IP (ARP, unknown ethertype) or IP with another protocol (GRE).
    Other,
    /// Cannot be decoded (bad IP header, unsupported link type).
    Undecodable,
    /// IPv4 fragment or IPv6 packet with a fragment header.
    Fragment,
}

#[derive(Clone)]
struct Frame {
    ts_ns: u64,
    data: Vec<u8>,
    kind: Kind,
    /// Bytes that must be captured for the frame to decode as `kind`
    /// (end of the fixed transport header); a shorter capture is undecodable.
    need: usize,
    /// Connection name, for counting TCP connections per file.
    conn: Option<String>,
    /// pcapng interface id.
    ifidx: u32,
}

#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
struct Counts {
    total: usize,
    tcp: usize,
    udp: usize,
    icmp: usize,
    other: usize,
    undecodable: usize,
    truncated: usize,
    fragments: usize,
    conns: usize,
}

fn tally(frames: &[Frame], snaplen: usize) -> Counts {
    let mut c = Counts::default();
    let mut conns = BTreeSet::new();
    for f in frames {
        let cap = f.data.len().min(snaplen);
        c.total += 1;
        if cap < f.data.len() {
            c.truncated += 1;
        }
        let kind = if cap < f.need {
            Kind::Undecodable
        } else {
            f.kind
        };
        match kind {
            Kind::Tcp => {
                c.tcp += 1;
                if let Some(n) = &f.conn {
                    conns.insert(n.clone());
                }
            }
            Kind::Udp => c.udp += 1,
            Kind::Icmp => c.icmp += 1,
            Kind::Other => c.other += 1,
            Kind::Undecodable => c.undecodable += 1,
            Kind::Fragment => c.fragments += 1,
        }
    }
    c.conns = conns.len();
    c
}

// ---------------------------------------------------------------------------
// Link layers
// ---------------------------------------------------------------------------

#[derive(Clone)]
enum Link {
    Eth,
    /// Ethernet with a stack of (TPID, VID) tags.
    Vlan(Vec<(u16, u16)>),
    /// Linux cooked v1 (113).
    Sll,
    /// Linux cooked v2 (276).
    Sll2,
    /// Bare IP with the given link type (101, 12, 228, 229).
    Raw(u32),
    /// BSD loopback (0): 4-byte family in host order; `af6` is AF_INET6.
    Null {
        be: bool,
        af6: u32,
    },
    /// OpenBSD loopback (108): family always big-endian.
    Loop,
    /// Ethernet (1) carrying the IP packet through tunnels, innermost first, between
    /// the tunnel endpoints 198.51.100.1 (client side) and 198.51.100.2.
    Tunnel(Vec<Encap>),
    /// Ethernet 802.3 (1): a length field, then LLC/SNAP (AA-AA-03, OUI 00-00-00).
    Llc,
    /// FDDI (10): frame control 0x50 (async LLC), addresses, then LLC/SNAP.
    Fddi,
}

/// A tunnel the fixtures wrap packets in (docs/inputs.md lists what synack follows).
#[derive(Clone, Copy, Debug)]
enum Encap {
    /// GRE with a key, carrying the IP packet.
    Gre,
    /// GRE carrying an Ethernet frame (transparent bridging, 0x6558).
    GreEthernet,
    /// ERSPAN type II: GRE with a sequence number, the 8-byte header, Ethernet.
    Erspan2,
    /// ERSPAN type III: GRE with a sequence number, the 12-byte header, Ethernet.
    Erspan3,
    /// PPTP: enhanced GRE (version 1) with key and sequence number, PPP.
    Pptp,
    /// GRE in UDP (RFC 8086, port 4754).
    GreUdp,
    /// VXLAN (UDP 4789), VNI 42, Ethernet.
    Vxlan,
    /// Geneve (UDP 6081), one 4-byte option, Ethernet.
    Geneve,
    /// Teredo (UDP 3544 at the server): IPv6 only; server-to-client packets carry an
    /// origin indication.
    Teredo,
    /// IPv4 or IPv6 directly in IPv4 (protocol 4 or 41).
    IpInIp,
    /// GTP-U (UDP 2152), T-PDU.
    GtpU,
    /// AYIYA (UDP 5072), forward, 16-byte identity, SHA-1 signature.
    Ayiya,
}

impl Encap {
    fn name(self) -> &'static str {
        match self {
            Encap::Gre => "GRE (key 0x2a) carrying IP",
            Encap::GreEthernet => "GRE carrying Ethernet (0x6558)",
            Encap::Erspan2 => "ERSPAN type II (GRE 0x88be with sequence number, 8-byte header, session 5)",
            Encap::Erspan3 => "ERSPAN type III (GRE 0x22eb with sequence number, 12-byte header, session 5)",
            Encap::Pptp => "PPTP enhanced GRE (version 1, key, sequence number) and PPP (FF 03, protocol 0x0021/0x0057)",
            Encap::GreUdp => "GRE in UDP (port 4754)",
            Encap::Vxlan => "VXLAN (UDP 4789, VNI 42)",
            Encap::Geneve => "Geneve (UDP 6081, VNI 42, one empty 4-byte option)",
            Encap::Teredo => "Teredo (UDP 40001 <-> 3544; server-to-client packets with an origin indication)",
            Encap::IpInIp => "IP-in-IP (IPv4 protocol 4, or 41 for IPv6)",
            Encap::GtpU => "GTP-U (UDP 2152, T-PDU, TEID 0x2a)",
            Encap::Ayiya => "AYIYA (UDP 5072, forward, 16-byte identity, 20-byte signature)",
        }
    }

    /// Wraps `pkt` (an IP packet, IPv6 if `v6`) in this tunnel: the outer IPv4 packet.
    fn wrap(self, pkt: &[u8], v6: bool, outgoing: bool) -> Vec<u8> {
        let ethertype: u16 = if v6 { 0x86dd } else { 0x0800 };
        let bridged = || {
            let (a, b) = ([2, 0, 0xc0, 0, 2, 1], [2, 0, 0xc0, 0, 2, 2]);
            let (dst, src) = if outgoing { (b, a) } else { (a, b) };
            eth(dst, src, ethertype, pkt)
        };
        let udp = |src: u16, dst: u16, payload: &[u8]| {
            let (src, dst) = if outgoing { (src, dst) } else { (dst, src) };
            let mut u = src.to_be_bytes().to_vec();
            u.extend_from_slice(&dst.to_be_bytes());
            u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
            u.extend_from_slice(&[0, 0]); // no checksum (IPv4 allows it)
            u.extend_from_slice(payload);
            outer_ipv4(17, &u, outgoing)
        };
        let et = ethertype.to_be_bytes();
        match self {
            Encap::Gre => outer_ipv4(
                47,
                &[&[0x20, 0, et[0], et[1], 0, 0, 0, 0x2a], pkt].concat(),
                outgoing,
            ),
            Encap::GreEthernet => outer_ipv4(
                47,
                &[&[0, 0, 0x65, 0x58][..], &bridged()].concat(),
                outgoing,
            ),
            Encap::Erspan2 => {
                let hdr = [0x10, 0x01, 0, 0x05, 0, 0, 0, 0];
                outer_ipv4(
                    47,
                    &[&[0x10, 0, 0x88, 0xbe, 0, 0, 0, 1][..], &hdr, &bridged()].concat(),
                    outgoing,
                )
            }
            Encap::Erspan3 => {
                let hdr = [0x20, 0x01, 0, 0x05, 0, 0, 0, 0, 0, 0, 0, 0];
                outer_ipv4(
                    47,
                    &[&[0x10, 0, 0x22, 0xeb, 0, 0, 0, 1][..], &hdr, &bridged()].concat(),
                    outgoing,
                )
            }
            Encap::Pptp => {
                let ppp: [u8; 4] = [0xff, 0x03, 0, if v6 { 0x57 } else { 0x21 }];
                let len = (pkt.len() + 4) as u16;
                let l = len.to_be_bytes();
                let gre = [0x30, 0x01, 0x88, 0x0b, l[0], l[1], 0, 7, 0, 0, 0, 1];
                outer_ipv4(47, &[&gre[..], &ppp, pkt].concat(), outgoing)
            }
            Encap::GreUdp => udp(49152, 4754, &[&[0, 0, et[0], et[1]], pkt].concat()),
            Encap::Vxlan => udp(
                49152,
                4789,
                &[&[0x08, 0, 0, 0, 0, 0, 0x2a, 0][..], &bridged()].concat(),
            ),
            Encap::Geneve => {
                let hdr = [0x01, 0, 0x65, 0x58, 0, 0, 0x2a, 0, 0x01, 0x02, 0x03, 0];
                udp(49152, 6081, &[&hdr[..], &bridged()].concat())
            }
            Encap::Teredo => {
                assert!(v6, "Teredo carries IPv6");
                let origin: &[u8] = if outgoing {
                    &[]
                } else {
                    &[0x00, 0x00, 0x62, 0x3e, 0x3f, 0x57, 0xfd, 0xee]
                };
                udp(40001, 3544, &[origin, pkt].concat())
            }
            Encap::IpInIp => outer_ipv4(if v6 { 41 } else { 4 }, pkt, outgoing),
            Encap::GtpU => {
                let l = (pkt.len() as u16).to_be_bytes();
                udp(
                    2152,
                    2152,
                    &[&[0x30, 0xff, l[0], l[1], 0, 0, 0, 0x2a], pkt].concat(),
                )
            }
            Encap::Ayiya => {
                let mut hdr = vec![
                    0x41,
                    0x52,
                    0x11,
                    if v6 { 41 } else { 4 },
                    0x69,
                    0x6d,
                    0x2a,
                    0,
                ];
                hdr.extend_from_slice(&[0x11; 16]); // identity
                hdr.extend_from_slice(&[0x22; 20]); // signature
                udp(5072, 5072, &[&hdr[..], pkt].concat())
            }
        }
    }
}

/// An IPv4 packet between the tunnel endpoints, with a correct header checksum.
fn outer_ipv4(protocol: u8, payload: &[u8], outgoing: bool) -> Vec<u8> {
    let (a, b) = ([198, 51, 100, 1], [198, 51, 100, 2]);
    let (src, dst) = if outgoing { (a, b) } else { (b, a) };
    let mut h = Ipv4Header::new(payload.len() as u16, 64, IpNumber(protocol), src, dst)
        .expect("outer IPv4 header");
    h.identification = 0x7700 + payload.len() as u16;
    h.header_checksum = h.calc_header_checksum();
    let mut out = h.to_bytes().to_vec();
    out.extend_from_slice(payload);
    out
}

impl Link {
    fn linktype(&self) -> u32 {
        match self {
            Link::Eth | Link::Vlan(_) => 1,
            Link::Sll => 113,
            Link::Sll2 => 276,
            Link::Raw(lt) => *lt,
            Link::Null { .. } => 0,
            Link::Loop => 108,
            Link::Tunnel(_) | Link::Llc => 1,
            Link::Fddi => 10,
        }
    }

    fn name(&self) -> String {
        match self {
            Link::Eth => "Ethernet (1)".into(),
            Link::Vlan(tags) => {
                let t: Vec<String> = tags
                    .iter()
                    .map(|(tpid, vid)| format!("0x{tpid:04x}/VID {vid}"))
                    .collect();
                format!("Ethernet (1) with tags {}", t.join(" + "))
            }
            Link::Sll => "Linux SLL (113)".into(),
            Link::Sll2 => "Linux SLL2 (276)".into(),
            Link::Raw(101) => "raw IP (101)".into(),
            Link::Raw(12) => "raw IP (12)".into(),
            Link::Raw(228) => "IPv4 (228)".into(),
            Link::Raw(229) => "IPv6 (229)".into(),
            Link::Raw(x) => format!("raw ({x})"),
            Link::Null { be, af6 } => format!(
                "BSD NULL (0), family {}, AF_INET6={af6}",
                if *be { "big-endian" } else { "little-endian" }
            ),
            Link::Loop => "OpenBSD LOOP (108), family big-endian".into(),
            Link::Tunnel(encaps) => {
                let e: Vec<&str> = encaps.iter().map(|e| e.name()).collect();
                format!("Ethernet (1) and IPv4 198.51.100.1 <-> 198.51.100.2, then {}", e.join(", inside "))
            }
            Link::Llc => "Ethernet 802.3 (1): length field, LLC/SNAP (AA-AA-03, OUI 00-00-00), ethertype".into(),
            Link::Fddi => "FDDI (10): frame control 0x50, addresses, LLC/SNAP (AA-AA-03, OUI 00-00-00), ethertype".into(),
        }
    }

    /// Prepends this link layer's header to an IP packet.
    fn wrap(&self, ip: &[u8], src: IpAddr, dst: IpAddr, outgoing: bool) -> Vec<u8> {
        let v6 = src.is_ipv6();
        let ethertype: u16 = if v6 { 0x86dd } else { 0x0800 };
        let mut out = Vec::with_capacity(ip.len() + 24);
        match self {
            Link::Eth => {
                out.extend_from_slice(&mac_of(dst));
                out.extend_from_slice(&mac_of(src));
                out.extend_from_slice(&ethertype.to_be_bytes());
            }
            Link::Vlan(tags) => {
                out.extend_from_slice(&mac_of(dst));
                out.extend_from_slice(&mac_of(src));
                for (tpid, vid) in tags {
                    out.extend_from_slice(&tpid.to_be_bytes());
                    out.extend_from_slice(&vid.to_be_bytes());
                }
                out.extend_from_slice(&ethertype.to_be_bytes());
            }
            Link::Sll => {
                // packet type: 0 = to us, 4 = outgoing (we are the client)
                out.extend_from_slice(&(if outgoing { 4u16 } else { 0 }).to_be_bytes());
                out.extend_from_slice(&1u16.to_be_bytes()); // ARPHRD_ETHER
                out.extend_from_slice(&6u16.to_be_bytes());
                out.extend_from_slice(&mac_of(src));
                out.extend_from_slice(&[0, 0]);
                out.extend_from_slice(&ethertype.to_be_bytes());
            }
            Link::Sll2 => {
                out.extend_from_slice(&ethertype.to_be_bytes());
                out.extend_from_slice(&[0, 0]); // reserved
                out.extend_from_slice(&2u32.to_be_bytes()); // interface index
                out.extend_from_slice(&1u16.to_be_bytes()); // ARPHRD_ETHER
                out.push(if outgoing { 4 } else { 0 });
                out.push(6);
                out.extend_from_slice(&mac_of(src));
                out.extend_from_slice(&[0, 0]);
            }
            Link::Raw(_) => {}
            Link::Null { be, af6 } => {
                let fam = if v6 { *af6 } else { 2 };
                if *be {
                    out.extend_from_slice(&fam.to_be_bytes());
                } else {
                    out.extend_from_slice(&fam.to_le_bytes());
                }
            }
            Link::Loop => {
                let fam: u32 = if v6 { 24 } else { 2 };
                out.extend_from_slice(&fam.to_be_bytes());
            }
            Link::Tunnel(encaps) => {
                let mut pkt = ip.to_vec();
                let mut inner_v6 = v6;
                for e in encaps {
                    pkt = e.wrap(&pkt, inner_v6, outgoing);
                    inner_v6 = false;
                }
                let (a, b) = ([2, 0, 0xc6, 0x33, 0x64, 1], [2, 0, 0xc6, 0x33, 0x64, 2]);
                let (dst, src) = if outgoing { (b, a) } else { (a, b) };
                return eth(dst, src, 0x0800, &pkt);
            }
            Link::Llc => {
                out.extend_from_slice(&mac_of(dst));
                out.extend_from_slice(&mac_of(src));
                out.extend_from_slice(&((8 + ip.len()) as u16).to_be_bytes());
                out.extend_from_slice(&[0xaa, 0xaa, 0x03, 0, 0, 0]);
                out.extend_from_slice(&ethertype.to_be_bytes());
            }
            Link::Fddi => {
                out.push(0x50);
                out.extend_from_slice(&mac_of(dst));
                out.extend_from_slice(&mac_of(src));
                out.extend_from_slice(&[0xaa, 0xaa, 0x03, 0, 0, 0]);
                out.extend_from_slice(&ethertype.to_be_bytes());
            }
        }
        out.extend_from_slice(ip);
        out
    }
}

/// Deterministic locally administered MAC derived from the IP address.
fn mac_of(ip: IpAddr) -> [u8; 6] {
    let o = match ip {
        IpAddr::V4(a) => a.octets(),
        IpAddr::V6(a) => {
            let b = a.octets();
            [b[12], b[13], b[14], b[15]]
        }
    };
    [0x02, 0x00, o[0], o[1], o[2], o[3]]
}

fn eth(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(14 + payload.len());
    v.extend_from_slice(&dst);
    v.extend_from_slice(&src);
    v.extend_from_slice(&ethertype.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

fn ipv4_of(a: IpAddr) -> [u8; 4] {
    match a {
        IpAddr::V4(x) => x.octets(),
        IpAddr::V6(_) => panic!("expected IPv4 address"),
    }
}

fn ipv6_of(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V6(x) => x.octets(),
        IpAddr::V4(_) => panic!("expected IPv6 address"),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip address")
}

fn sock(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

// ---------------------------------------------------------------------------
// The TCP scenario DSL
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Dir {
    /// client -> server
    C,
    /// server -> client
    S,
}

impl Dir {
    fn idx(self) -> usize {
        match self {
            Dir::C => 0,
            Dir::S => 1,
        }
    }
    fn other(self) -> Dir {
        match self {
            Dir::C => Dir::S,
            Dir::S => Dir::C,
        }
    }
    fn side(self) -> &'static str {
        match self {
            Dir::C => "client",
            Dir::S => "server",
        }
    }
}

#[derive(Clone, Copy, Default)]
struct Flags {
    syn: bool,
    ack: bool,
    fin: bool,
    rst: bool,
    psh: bool,
}

fn parse_flags(s: &str) -> Flags {
    let mut f = Flags::default();
    for ch in s.chars() {
        match ch {
            'S' => f.syn = true,
            'A' => f.ack = true,
            'F' => f.fin = true,
            'R' => f.rst = true,
            'P' => f.psh = true,
            _ => panic!("bad flag {ch} in {s}"),
        }
    }
    f
}

/// One segment of a scenario.
#[derive(Clone)]
struct Step {
    /// µs from the connection's start.
    t: u64,
    dir: Dir,
    flags: &'static str,
    /// Relative to the sender's ISN (SYN has 0, first data byte 1).
    seq: u32,
    /// Relative to the peer's ISN (ignored without the ACK flag).
    ack: u32,
    len: usize,
    /// Explicit payload; otherwise a pattern derived from the sequence number,
    /// so a retransmission carries the same bytes as the original.
    data: Option<Vec<u8>>,
    win: Option<u16>,
    opts: Option<Vec<u8>>,
}

impl Step {
    fn data(&mut self, d: &[u8]) -> &mut Self {
        self.len = d.len();
        self.data = Some(d.to_vec());
        self
    }
    fn win(&mut self, w: u16) -> &mut Self {
        self.win = Some(w);
        self
    }
    fn opts(&mut self, o: Vec<u8>) -> &mut Self {
        assert!(
            o.len().is_multiple_of(4),
            "TCP options must be padded to 32 bits"
        );
        self.opts = Some(o);
        self
    }
}

type V4OptsFn = fn(usize, Dir) -> Vec<u8>;
type V6ExtFn = fn(usize, Dir) -> Ipv6Extensions;

#[derive(Clone)]
struct Conn {
    name: String,
    c: SocketAddr,
    s: SocketAddr,
    c_isn: u32,
    s_isn: u32,
    /// µs offset of the connection from the file's time origin.
    start: u64,
    /// Use TCP timestamps (SYN option + NOP,NOP,TS on every non-RST segment).
    ts: bool,
    v4opts: Option<V4OptsFn>,
    v6ext: Option<V6ExtFn>,
    steps: Vec<Step>,
}

impl Conn {
    fn new(name: &str, c: &str, s: &str, c_isn: u32, s_isn: u32) -> Conn {
        let c = sock(c);
        let s = sock(s);
        assert_eq!(c.is_ipv6(), s.is_ipv6());
        Conn {
            name: name.to_string(),
            c,
            s,
            c_isn,
            s_isn,
            start: 0,
            ts: true,
            v4opts: None,
            v6ext: None,
            steps: Vec::new(),
        }
    }

    fn at(mut self, start_us: u64) -> Conn {
        self.start = start_us;
        self
    }

    fn push(
        &mut self,
        t: u64,
        dir: Dir,
        flags: &'static str,
        seq: u32,
        ack: u32,
        len: usize,
    ) -> &mut Step {
        if let Some(last) = self.steps.last() {
            assert!(t >= last.t, "{}: steps must be in time order", self.name);
        }
        parse_flags(flags);
        self.steps.push(Step {
            t,
            dir,
            flags,
            seq,
            ack,
            len,
            data: None,
            win: None,
            opts: None,
        });
        self.steps.last_mut().unwrap()
    }

    /// A client -> server segment.
    fn c(&mut self, t: u64, flags: &'static str, seq: u32, ack: u32, len: usize) -> &mut Step {
        self.push(t, Dir::C, flags, seq, ack, len)
    }

    /// A server -> client segment.
    fn s(&mut self, t: u64, flags: &'static str, seq: u32, ack: u32, len: usize) -> &mut Step {
        self.push(t, Dir::S, flags, seq, ack, len)
    }

    fn endpoints(&self, d: Dir) -> (SocketAddr, SocketAddr, u32, u32) {
        match d {
            Dir::C => (self.c, self.s, self.c_isn, self.s_isn),
            Dir::S => (self.s, self.c, self.s_isn, self.c_isn),
        }
    }

    /// Payload bytes of a step.
    fn payload(&self, st: &Step) -> Vec<u8> {
        if let Some(d) = &st.data {
            return d.clone();
        }
        let f = parse_flags(st.flags);
        // index of the first data byte relative to ISN+1
        let first = st.seq.wrapping_add(f.syn as u32).wrapping_sub(1);
        let alphabet: &[u8] = match st.dir {
            Dir::C => b"abcdefghijklmnopqrstuvwxyz",
            Dir::S => b"ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        };
        (0..st.len)
            .map(|j| alphabet[(first.wrapping_add(j as u32) % 26) as usize])
            .collect()
    }

    /// Builds the frames of this connection.  `t0_ns` is the file's time
    /// origin; `sub_ns` adds deterministic sub-microsecond digits.
    fn frames(&self, link: &Link, t0_ns: u64, sub_ns: bool) -> Vec<Frame> {
        let mut last_tsval = [0u32; 2];
        let mut ipid = [
            0x1000u16.wrapping_add((self.c_isn >> 20) as u16),
            0x8000u16.wrapping_add((self.s_isn >> 20) as u16),
        ];
        let mut out = Vec::new();
        for (i, st) in self.steps.iter().enumerate() {
            let d = st.dir;
            let f = parse_flags(st.flags);
            let (src, dst, isn, peer_isn) = self.endpoints(d);
            let seq = isn.wrapping_add(st.seq);
            let ack = if f.ack {
                peer_isn.wrapping_add(st.ack)
            } else {
                0
            };
            let abs_us = self.start + st.t;
            let ts_base: u32 = match d {
                Dir::C => 1_000_000,
                Dir::S => 3_000_000,
            };
            let tsval = ts_base.wrapping_add((abs_us / 1000) as u32);
            let tsecr = if f.ack {
                last_tsval[d.other().idx()]
            } else {
                0
            };
            let opts = match &st.opts {
                Some(o) => o.clone(),
                None => default_opts(f, self.ts, src.is_ipv6(), tsval, tsecr),
            };
            last_tsval[d.idx()] = tsval;
            let win = st.win.unwrap_or(match (f.syn, d) {
                // a bare RST (reply from a closed socket) carries window 0
                _ if f.rst && !f.ack => 0,
                (true, Dir::C) => 64240,
                (true, Dir::S) => 65160,
                (false, Dir::C) => 502,
                (false, Dir::S) => 509,
            });
            let mut tcp = TcpHeader::new(src.port(), dst.port(), seq, win);
            tcp.syn = f.syn;
            tcp.fin = f.fin;
            tcp.rst = f.rst;
            tcp.psh = f.psh;
            tcp.ack = f.ack;
            tcp.acknowledgment_number = ack;
            tcp.set_options_raw(&opts).expect("tcp options");
            let payload = self.payload(st);
            let v4opts = self.v4opts.map(|g| g(i, d)).unwrap_or_default();
            let v6ext = self.v6ext.map(|g| g(i, d)).unwrap_or_default();
            let flow = (self.c_isn ^ self.s_isn.rotate_left(7) ^ (d.idx() as u32)) & 0xf_ffff;
            let ipb = ip_tcp(
                src.ip(),
                dst.ip(),
                ipid[d.idx()],
                flow,
                &v4opts,
                v6ext,
                tcp,
                &payload,
            );
            ipid[d.idx()] = ipid[d.idx()].wrapping_add(1);
            let frame = link.wrap(&ipb, src.ip(), dst.ip(), d == Dir::C);
            let link_len = frame.len() - ipb.len();
            let tcp_end = link_len + ipb.len() - payload.len() - opts.len();
            // 789 ns for the first packet, then always 1..=999 ns
            let sub = if sub_ns {
                1 + (788 + i as u64 * 211) % 999
            } else {
                0
            };
            out.push(Frame {
                ts_ns: t0_ns + abs_us * 1000 + sub,
                data: frame,
                kind: Kind::Tcp,
                need: tcp_end,
                conn: Some(self.name.clone()),
                ifidx: 0,
            });
        }
        out
    }
}

/// Linux-like default options: MSS, SACK_PERM, TS, NOP, WS on SYNs;
/// NOP, NOP, TS on everything else; nothing on RSTs.
fn default_opts(f: Flags, ts: bool, v6: bool, tsval: u32, tsecr: u32) -> Vec<u8> {
    let mss: u16 = if v6 { 1440 } else { 1460 };
    let mut o = Vec::new();
    if f.rst {
        return o;
    }
    if f.syn {
        o.extend_from_slice(&[2, 4]);
        o.extend_from_slice(&mss.to_be_bytes());
        if ts {
            o.extend_from_slice(&[4, 2, 8, 10]);
            o.extend_from_slice(&tsval.to_be_bytes());
            o.extend_from_slice(&tsecr.to_be_bytes());
            o.extend_from_slice(&[1, 3, 3, 7]);
        } else {
            // Windows-style: MSS, NOP, WS 8, NOP, NOP, SACK_PERM
            o.extend_from_slice(&[1, 3, 3, 8, 1, 1, 4, 2]);
        }
    } else if ts {
        o.extend_from_slice(&[1, 1, 8, 10]);
        o.extend_from_slice(&tsval.to_be_bytes());
        o.extend_from_slice(&tsecr.to_be_bytes());
    }
    o
}

/// IPv4/IPv6 + TCP packet via etherparse (lengths and checksums computed).
#[allow(clippy::too_many_arguments)]
fn ip_tcp(
    src: IpAddr,
    dst: IpAddr,
    ipid: u16,
    flow: u32,
    v4opts: &[u8],
    v6ext: Ipv6Extensions,
    tcp: TcpHeader,
    payload: &[u8],
) -> Vec<u8> {
    let hdr = match (src, dst) {
        (IpAddr::V4(_), IpAddr::V4(_)) => {
            let mut h =
                Ipv4Header::new(0, 64, IpNumber::TCP, ipv4_of(src), ipv4_of(dst)).expect("ipv4");
            h.identification = ipid;
            h.dont_fragment = true;
            h.options = Ipv4Options::try_from(v4opts).expect("ipv4 options");
            IpHeaders::Ipv4(h, Default::default())
        }
        (IpAddr::V6(_), IpAddr::V6(_)) => IpHeaders::Ipv6(ipv6_header(src, dst, flow), v6ext),
        _ => panic!("mixed address families"),
    };
    let mut out = Vec::new();
    PacketBuilder::ip(hdr)
        .tcp_header(tcp)
        .write(&mut out, payload)
        .expect("build tcp");
    out
}

fn ipv6_header(src: IpAddr, dst: IpAddr, flow: u32) -> Ipv6Header {
    Ipv6Header {
        traffic_class: 0,
        flow_label: Ipv6FlowLabel::try_new(flow & 0xf_ffff).unwrap(),
        payload_length: 0,
        next_header: IpNumber::TCP,
        hop_limit: 64,
        source: ipv6_of(src),
        destination: ipv6_of(dst),
    }
}

// ---------------------------------------------------------------------------
// Other packets (UDP, ICMP, ARP, ...)
// ---------------------------------------------------------------------------

fn eth_ip_frame(ipb: &[u8], src: IpAddr, dst: IpAddr) -> Vec<u8> {
    Link::Eth.wrap(ipb, src, dst, true)
}

fn udp_frame(t_ns: u64, src: &str, dst: &str, payload: &[u8]) -> Frame {
    let (s, d) = (sock(src), sock(dst));
    let mut ipb = Vec::new();
    match (s.ip(), d.ip()) {
        (IpAddr::V4(_), IpAddr::V4(_)) => PacketBuilder::ipv4(ipv4_of(s.ip()), ipv4_of(d.ip()), 64)
            .udp(s.port(), d.port())
            .write(&mut ipb, payload)
            .unwrap(),
        _ => PacketBuilder::ipv6(ipv6_of(s.ip()), ipv6_of(d.ip()), 64)
            .udp(s.port(), d.port())
            .write(&mut ipb, payload)
            .unwrap(),
    }
    let data = eth_ip_frame(&ipb, s.ip(), d.ip());
    let need = data.len() - payload.len();
    Frame {
        ts_ns: t_ns,
        data,
        kind: Kind::Udp,
        need,
        conn: None,
        ifidx: 0,
    }
}

fn icmp_echo(t_ns: u64, src: &str, dst: &str, reply: bool, id: u16, seq: u16) -> Frame {
    let (s, d) = (ip(src), ip(dst));
    let payload: Vec<u8> = (0..56u8).map(|i| 0x10 + i).collect();
    let mut ipb = Vec::new();
    match (s, d) {
        (IpAddr::V4(_), IpAddr::V4(_)) => {
            let b = PacketBuilder::ipv4(ipv4_of(s), ipv4_of(d), 64);
            if reply {
                b.icmpv4_echo_reply(id, seq).write(&mut ipb, &payload)
            } else {
                b.icmpv4_echo_request(id, seq).write(&mut ipb, &payload)
            }
            .unwrap()
        }
        _ => {
            let b = PacketBuilder::ipv6(ipv6_of(s), ipv6_of(d), 64);
            if reply {
                b.icmpv6_echo_reply(id, seq).write(&mut ipb, &payload)
            } else {
                b.icmpv6_echo_request(id, seq).write(&mut ipb, &payload)
            }
            .unwrap()
        }
    }
    let data = eth_ip_frame(&ipb, s, d);
    let need = data.len() - payload.len();
    Frame {
        ts_ns: t_ns,
        data,
        kind: Kind::Icmp,
        need,
        conn: None,
        ifidx: 0,
    }
}

fn arp_frame(t_ns: u64, reply: bool, sender: &str, target: &str) -> Frame {
    let (s, t) = (ip(sender), ip(target));
    let mut a = Vec::new();
    a.extend_from_slice(&1u16.to_be_bytes()); // htype Ethernet
    a.extend_from_slice(&0x0800u16.to_be_bytes());
    a.extend_from_slice(&[6, 4]);
    a.extend_from_slice(&(if reply { 2u16 } else { 1 }).to_be_bytes());
    a.extend_from_slice(&mac_of(s));
    a.extend_from_slice(&ipv4_of(s));
    a.extend_from_slice(&if reply { mac_of(t) } else { [0; 6] });
    a.extend_from_slice(&ipv4_of(t));
    let dst = if reply { mac_of(t) } else { [0xff; 6] };
    Frame {
        ts_ns: t_ns,
        data: eth(dst, mac_of(s), 0x0806, &a),
        kind: Kind::Other,
        need: 0,
        conn: None,
        ifidx: 0,
    }
}

fn dns_name(name: &str) -> Vec<u8> {
    let mut v = Vec::new();
    for label in name.split('.') {
        v.push(label.len() as u8);
        v.extend_from_slice(label.as_bytes());
    }
    v.push(0);
    v
}

/// A minimal DNS query (`answer` = None) or response with one answer.
fn dns_msg(id: u16, name: &str, qtype: u16, answer: Option<&[u8]>) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&id.to_be_bytes());
    v.extend_from_slice(&(if answer.is_some() { 0x8180u16 } else { 0x0100 }).to_be_bytes());
    v.extend_from_slice(&1u16.to_be_bytes());
    v.extend_from_slice(&(answer.is_some() as u16).to_be_bytes());
    v.extend_from_slice(&[0, 0, 0, 0]);
    v.extend_from_slice(&dns_name(name));
    v.extend_from_slice(&qtype.to_be_bytes());
    v.extend_from_slice(&1u16.to_be_bytes());
    if let Some(rdata) = answer {
        v.extend_from_slice(&[0xc0, 0x0c]);
        v.extend_from_slice(&qtype.to_be_bytes());
        v.extend_from_slice(&1u16.to_be_bytes());
        v.extend_from_slice(&300u32.to_be_bytes());
        v.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        v.extend_from_slice(rdata);
    }
    v
}

// ---------------------------------------------------------------------------
// Capture file writers
// ---------------------------------------------------------------------------

#[derive(Clone, Copy)]
struct PcapFmt {
    be: bool,
    nsec: bool,
    snaplen: u32,
    linktype: u32,
    version: (u16, u16),
}

impl PcapFmt {
    fn new(linktype: u32) -> PcapFmt {
        PcapFmt {
            be: false,
            nsec: false,
            snaplen: 262_144,
            linktype,
            version: (2, 4),
        }
    }
    fn describe(&self) -> String {
        format!(
            "pcap {} {}, v{}.{}, snaplen {}, linktype {}",
            if self.be {
                "big-endian"
            } else {
                "little-endian"
            },
            if self.nsec { "nsec" } else { "usec" },
            self.version.0,
            self.version.1,
            self.snaplen,
            self.linktype
        )
    }
}

fn put16(buf: &mut Vec<u8>, v: u16, be: bool) {
    buf.extend_from_slice(&if be { v.to_be_bytes() } else { v.to_le_bytes() });
}

fn put32(buf: &mut Vec<u8>, v: u32, be: bool) {
    buf.extend_from_slice(&if be { v.to_be_bytes() } else { v.to_le_bytes() });
}

fn pcap_header(f: &PcapFmt) -> Vec<u8> {
    let mut b = Vec::new();
    put32(&mut b, if f.nsec { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }, f.be);
    put16(&mut b, f.version.0, f.be);
    put16(&mut b, f.version.1, f.be);
    put32(&mut b, 0, f.be); // thiszone
    put32(&mut b, 0, f.be); // sigfigs
    put32(&mut b, f.snaplen, f.be);
    put32(&mut b, f.linktype, f.be);
    b
}

fn pcap_record_header(b: &mut Vec<u8>, f: &PcapFmt, ts_ns: u64, incl: u32, orig: u32) {
    let sec = ts_ns / 1_000_000_000;
    let frac = ts_ns % 1_000_000_000;
    let frac = if f.nsec {
        frac
    } else {
        assert!(
            frac.is_multiple_of(1000),
            "usec file with sub-microsecond timestamp"
        );
        frac / 1000
    };
    put32(b, sec as u32, f.be);
    put32(b, frac as u32, f.be);
    put32(b, incl, f.be);
    put32(b, orig, f.be);
}

fn pcap_record(b: &mut Vec<u8>, f: &PcapFmt, fr: &Frame) {
    let incl = fr.data.len().min(f.snaplen as usize);
    pcap_record_header(b, f, fr.ts_ns, incl as u32, fr.data.len() as u32);
    b.extend_from_slice(&fr.data[..incl]);
}

fn write_pcap(f: &PcapFmt, frames: &[Frame]) -> Vec<u8> {
    let mut b = pcap_header(f);
    for fr in frames {
        pcap_record(&mut b, f, fr);
    }
    b
}

/// Little-endian pcapng writer.
struct Ng {
    buf: Vec<u8>,
    /// ticks per second of each interface of the current section
    ifaces: Vec<u64>,
}

impl Ng {
    fn new() -> Ng {
        Ng {
            buf: Vec::new(),
            ifaces: Vec::new(),
        }
    }

    fn block(&mut self, btype: u32, body: &[u8]) {
        let pad = (4 - body.len() % 4) % 4;
        let total = (12 + body.len() + pad) as u32;
        self.buf.extend_from_slice(&btype.to_le_bytes());
        self.buf.extend_from_slice(&total.to_le_bytes());
        self.buf.extend_from_slice(body);
        self.buf.extend(std::iter::repeat_n(0u8, pad));
        self.buf.extend_from_slice(&total.to_le_bytes());
    }

    fn option(body: &mut Vec<u8>, code: u16, val: &[u8]) {
        body.extend_from_slice(&code.to_le_bytes());
        body.extend_from_slice(&(val.len() as u16).to_le_bytes());
        body.extend_from_slice(val);
        body.extend(std::iter::repeat_n(0u8, (4 - val.len() % 4) % 4));
    }

    fn shb(&mut self) {
        let mut body = Vec::new();
        body.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
        body.extend_from_slice(&1u16.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&u64::MAX.to_le_bytes()); // section length unknown
        Ng::option(&mut body, 4, b"synack mkfixtures"); // shb_userappl
        Ng::option(&mut body, 0, &[]);
        self.block(0x0a0d_0d0a, &body);
        self.ifaces.clear();
    }

    /// `tsresol`: None = default microseconds, Some(9) = nanoseconds.
    fn idb(&mut self, linktype: u16, snaplen: u32, tsresol: Option<u8>) {
        let mut body = Vec::new();
        body.extend_from_slice(&linktype.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&snaplen.to_le_bytes());
        if let Some(r) = tsresol {
            Ng::option(&mut body, 9, &[r]);
            Ng::option(&mut body, 0, &[]);
        }
        self.block(1, &body);
        self.ifaces.push(10u64.pow(tsresol.unwrap_or(6) as u32));
    }

    fn epb(&mut self, fr: &Frame) {
        let per_s = self.ifaces[fr.ifidx as usize];
        let div = 1_000_000_000 / per_s;
        assert!(
            fr.ts_ns.is_multiple_of(div),
            "timestamp finer than interface resolution"
        );
        let ts = fr.ts_ns / div;
        let mut body = Vec::new();
        body.extend_from_slice(&fr.ifidx.to_le_bytes());
        body.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        body.extend_from_slice(&(ts as u32).to_le_bytes());
        body.extend_from_slice(&(fr.data.len() as u32).to_le_bytes());
        body.extend_from_slice(&(fr.data.len() as u32).to_le_bytes());
        body.extend_from_slice(&fr.data);
        self.block(6, &body);
    }
}

// ---------------------------------------------------------------------------
// Per-connection truth, derived mechanically from the scenario steps
// ---------------------------------------------------------------------------

#[derive(Default)]
struct Truth {
    name: String,
    client: String,
    server: String,
    pkts: [usize; 2],
    bytes: [usize; 2],
    uniq: [usize; 2],
    syn_to_synack: Option<u64>,
    synack_to_ack: Option<u64>,
    lastsyn_to_ack: Option<u64>,
    syns: usize,
    synacks: usize,
    simultaneous_open: bool,
    first_fin: Option<Dir>,
    time_wait: String,
    rst: [usize; 2],
    ka: [usize; 2],
    ka_ack: [usize; 2],
    zwp: [usize; 2],
    retx: [usize; 2],
    end: String,
}

fn fmt_sock(s: SocketAddr) -> String {
    s.to_string()
}

fn truth(k: &Conn) -> Truth {
    let mut t = Truth {
        name: k.name.clone(),
        client: fmt_sock(k.c),
        server: fmt_sock(k.s),
        ..Default::default()
    };
    // All sequence numbers here are relative (they never get near 2^31).
    let mut snd_max: [Option<u32>; 2] = [None, None];
    let mut data_max: [Option<u32>; 2] = [None, None];
    let mut last_win: [Option<u16>; 2] = [None, None];
    let mut ka_pending = [false; 2];
    let mut fin_seq: [Option<u32>; 2] = [None, None];
    let mut fin_acked = [false; 2];
    let mut active = [false; 2];
    let mut last_syn_t: Option<u64> = None;
    let mut first_synack_t: Option<u64> = None;
    let mut last_synack_t: Option<u64> = None;
    let mut established = false;
    let mut closed_at: Option<usize> = None;
    let mut first_rst: Option<(usize, Dir)> = None;
    let mut server_spoke = false;
    let mut refused = false;

    for (i, st) in k.steps.iter().enumerate() {
        let d = st.dir.idx();
        let o = st.dir.other().idx();
        let f = parse_flags(st.flags);
        let len = st.len as u32;
        t.pkts[d] += 1;
        t.bytes[d] += st.len;
        if st.dir == Dir::S {
            if !server_spoke && f.rst && !established {
                refused = true;
            }
            server_spoke = true;
        }
        if f.rst {
            t.rst[d] += 1;
            if first_rst.is_none() {
                first_rst = Some((i, st.dir));
            }
        }
        // handshake bookkeeping
        if f.syn && !f.ack {
            if st.dir == Dir::C {
                t.syns += 1;
                if first_synack_t.is_none() {
                    last_syn_t = Some(st.t);
                }
            } else {
                t.simultaneous_open = true;
            }
        }
        if f.syn && f.ack && st.dir == Dir::S {
            t.synacks += 1;
            if first_synack_t.is_none() {
                first_synack_t = Some(st.t);
            }
            last_synack_t = Some(st.t);
        }
        if let (false, Dir::C, true, false, false, Some(first_sa), 1) = (
            established,
            st.dir,
            f.ack,
            f.syn,
            f.rst,
            first_synack_t,
            st.ack,
        ) {
            established = true;
            if let (false, Some(syn_t), Some(last_sa)) =
                (t.simultaneous_open, last_syn_t, last_synack_t)
            {
                t.syn_to_synack = Some(first_sa - syn_t);
                t.synack_to_ack = Some(st.t - last_sa);
                t.lastsyn_to_ack = Some(st.t - syn_t);
            }
        }
        if t.simultaneous_open && f.ack && !f.syn {
            established = true;
        }
        if !f.syn && snd_max[0].is_none() && snd_max[1].is_none() {
            // mid-stream pickup
            established = true;
        }

        // keepalive ACK: a pure ACK answering the peer's outstanding probe
        if ka_pending[o] && st.flags == "A" && st.len == 0 {
            t.ka_ack[d] += 1;
            ka_pending[o] = false;
        }

        let plain = !f.syn && !f.fin && !f.rst;
        let is_ka = established
            && plain
            && len <= 1
            && snd_max[d].is_some_and(|m| st.seq.wrapping_add(1) == m);
        let is_zwp = established
            && plain
            && len == 1
            && last_win[o] == Some(0)
            && snd_max[d] == Some(st.seq);
        if is_ka {
            t.ka[d] += 1;
            ka_pending[d] = true;
        } else if is_zwp {
            t.zwp[d] += 1;
        } else {
            let occupies = len > 0 || f.fin;
            if occupies && !f.syn && snd_max[d].is_some_and(|m| st.seq < m) {
                t.retx[d] += 1;
            }
            let end = st.seq + len + f.syn as u32 + f.fin as u32;
            if !f.rst {
                snd_max[d] = Some(snd_max[d].map_or(end, |m| m.max(end)));
            }
            if len > 0 {
                let dstart = st.seq + f.syn as u32;
                let dend = dstart + len;
                let from = data_max[d].map_or(dstart, |m| m.max(dstart));
                t.uniq[d] += dend.saturating_sub(from) as usize;
                data_max[d] = Some(data_max[d].map_or(dend, |m| m.max(dend)));
            }
        }
        if snd_max[d].is_none() && !f.rst {
            snd_max[d] = Some(st.seq);
        }
        if !f.rst {
            last_win[d] = Some(st.win.unwrap_or(1));
        }

        if f.fin && fin_seq[d].is_none() {
            if t.first_fin.is_none() {
                t.first_fin = Some(st.dir);
            }
            fin_seq[d] = Some(st.seq + len);
            // active closer: had not seen (acked) the peer's FIN when sending its own
            let covered = fin_seq[o].is_some_and(|p| f.ack && st.ack > p);
            active[d] = !covered && !f.rst;
        }
        if f.ack && !f.rst {
            if let Some(p) = fin_seq[o] {
                if st.ack > p {
                    fin_acked[o] = true;
                }
            }
        }
        if closed_at.is_none()
            && fin_acked[0]
            && fin_acked[1]
            && first_rst.is_none_or(|(ri, _)| ri > i)
        {
            closed_at = Some(i);
        }
    }

    t.time_wait = match (closed_at.is_some(), active[0], active[1]) {
        (true, true, true) => "both".into(),
        (true, true, false) => "client".into(),
        (true, false, true) => "server".into(),
        _ => "none".into(),
    };
    t.end = if !server_spoke {
        "unanswered".into()
    } else if refused {
        "refused".into()
    } else if let Some(ci) = closed_at {
        match first_rst {
            Some((ri, rd)) if ri > ci => {
                format!("closed (FIN both ways), then RST from {}", rd.side())
            }
            _ => "closed (FIN both ways)".into(),
        }
    } else if let Some((_, rd)) = first_rst {
        format!("reset by {}", rd.side())
    } else if let Some(d) = t.first_fin {
        format!("half-closed ({} FIN only)", d.side())
    } else {
        "open".into()
    };
    if closed_at.is_some() && first_rst.is_some() && t.time_wait != "none" {
        t.time_wait = format!("{} (RST arrives during TIME_WAIT)", t.time_wait);
    }
    t
}

fn ms(us: Option<u64>) -> String {
    match us {
        Some(v) => format!("{}.{:03}", v / 1000, v % 1000),
        None => "–".into(),
    }
}

fn pair(v: [usize; 2]) -> String {
    format!("{} / {}", v[0], v[1])
}

fn truth_table(ts: &[Truth]) -> String {
    let mut s = String::new();
    s.push_str("| conn | client | server | pkts C→S / S→C | payload bytes C→S / S→C | unique bytes C→S / S→C | SYN→SYN/ACK ms | SYN/ACK→ACK ms | last SYN→ACK ms | SYN / SYN-ACK sent (retx) | first FIN | TIME_WAIT | RST C / S | keepalive probes C / S | keepalive ACKs C / S | zero-window probes C / S | retransmissions C / S | end state |\n");
    s.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (i, t) in ts.iter().enumerate() {
        let hs = if t.simultaneous_open {
            (
                "n/a (simultaneous open)".to_string(),
                "n/a".to_string(),
                "n/a".to_string(),
            )
        } else {
            (
                ms(t.syn_to_synack),
                ms(t.synack_to_ack),
                ms(t.lastsyn_to_ack),
            )
        };
        let synline = format!(
            "{} ({}) / {} ({})",
            t.syns,
            t.syns.saturating_sub(1),
            t.synacks,
            t.synacks.saturating_sub(1)
        );
        let _ = writeln!(
            s,
            "| {} {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            i + 1,
            t.name,
            t.client,
            t.server,
            pair(t.pkts),
            pair(t.bytes),
            pair(t.uniq),
            hs.0,
            hs.1,
            hs.2,
            synline,
            t.first_fin.map_or("–", |d| d.side()),
            t.time_wait,
            pair(t.rst),
            pair(t.ka),
            pair(t.ka_ack),
            pair(t.zwp),
            pair(t.retx),
            t.end
        );
    }
    s
}

// ---------------------------------------------------------------------------
// Fixture bookkeeping
// ---------------------------------------------------------------------------

struct Fx {
    path: String,
    bytes: Vec<u8>,
    format: String,
    desc: String,
    counts: Option<Counts>,
    truth: Vec<Truth>,
}

impl Fx {
    fn raw(path: &str, bytes: Vec<u8>, format: &str, desc: &str) -> Fx {
        Fx {
            path: path.into(),
            bytes,
            format: format.into(),
            desc: desc.into(),
            counts: None,
            truth: Vec::new(),
        }
    }
}

fn pcap_fx(path: &str, f: PcapFmt, frames: &[Frame], desc: &str, truth_of: &[&Conn]) -> Fx {
    Fx {
        path: path.into(),
        bytes: write_pcap(&f, frames),
        format: f.describe(),
        desc: desc.into(),
        counts: Some(tally(frames, f.snaplen as usize)),
        truth: truth_of.iter().map(|k| truth(k)).collect(),
    }
}

fn sorted(mut v: Vec<Frame>) -> Vec<Frame> {
    v.sort_by_key(|f| f.ts_ns); // stable: ties keep insertion order
    v
}

// ---------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------

const CLI: &str = "10.0.0.2";
const SRV: &str = "10.0.0.1";

/// The 10-packet exchange: handshake, one data segment each way with ACKs,
/// FIN/ACK both ways, final ACK.
fn ex10(name: &str, c: &str, s: &str, req: usize, resp: usize) -> Conn {
    let mut k = Conn::new(name, c, s, 0x1234_5678, 0x9abc_def0);
    let (q, r) = (req as u32, resp as u32);
    k.c(0, "S", 0, 0, 0);
    k.s(10_000, "SA", 0, 1, 0);
    k.c(10_080, "A", 1, 1, 0);
    k.c(10_200, "PA", 1, 1, req);
    k.s(20_300, "A", 1, 1 + q, 0);
    k.s(20_500, "PA", 1, 1 + q, resp);
    k.c(20_560, "A", 1 + q, 1 + r, 0);
    k.c(30_000, "FA", 1 + q, 1 + r, 0);
    k.s(40_100, "FA", 1 + r, 2 + q, 0);
    k.c(40_160, "A", 2 + q, 2 + r, 0);
    k
}

fn ex10_v4() -> Conn {
    ex10("ex10", "192.0.2.10:40000", "192.0.2.80:80", 100, 300)
}

fn ex10_v6() -> Conn {
    ex10(
        "ex10-v6",
        "[2001:db8::10]:40000",
        "[2001:db8::80]:80",
        100,
        300,
    )
}

/// Handshake with `rtt` µs SYN→SYN/ACK and 60 µs SYN/ACK→ACK (client vantage).
fn hs(k: &mut Conn, t: u64, rtt: u64) -> u64 {
    k.c(t, "S", 0, 0, 0);
    k.s(t + rtt, "SA", 0, 1, 0);
    k.c(t + rtt + 60, "A", 1, 1, 0);
    t + rtt + 60
}

/// handshake + 200-byte request + 1000-byte response, as in close-client.pcap.
/// Returns the time of the last packet.  Client seq after = 201, server = 1001.
fn hs_req_resp(k: &mut Conn) -> u64 {
    hs(k, 0, 12_000);
    k.c(12_200, "PA", 1, 1, 200);
    k.s(24_300, "A", 1, 201, 0);
    k.s(24_400, "PA", 1, 201, 1000);
    k.c(24_450, "A", 201, 1001, 0);
    24_450
}

fn tcp_fixtures() -> Vec<(&'static str, &'static str, Vec<Conn>)> {
    let mut v: Vec<(&'static str, &'static str, Vec<Conn>)> = Vec::new();
    let c = |p: u16| format!("{CLI}:{p}");
    let s = |p: u16| format!("{SRV}:{p}");

    // syn-retransmit
    {
        let mut k = Conn::new(
            "syn-retransmit",
            &c(40001),
            &s(80),
            0x0100_0000,
            0x0200_0000,
        );
        k.c(0, "S", 0, 0, 0);
        k.c(SEC, "S", 0, 0, 0);
        k.s(SEC + 20 * MS, "SA", 0, 1, 0);
        k.c(SEC + 40 * MS, "A", 1, 1, 0);
        k.c(SEC + 40 * MS + 200, "PA", 1, 1, 50);
        k.s(SEC + 60 * MS + 300, "A", 1, 51, 0);
        k.s(SEC + 60 * MS + 500, "PA", 1, 51, 120);
        k.c(SEC + 80 * MS + 600, "A", 51, 121, 0);
        k.c(SEC + 100 * MS, "FA", 51, 121, 0);
        k.s(SEC + 120 * MS, "FA", 121, 52, 0);
        k.c(SEC + 140 * MS, "A", 52, 122, 0);
        v.push((
            "syn-retransmit.pcap",
            "SYN, SYN retransmitted after 1 s with the same ISN, SYN/ACK 20 ms later, ACK 20 ms later (mid-path vantage), 50 B request / 120 B response, client-first FIN close.",
            vec![k],
        ));
    }
    // synack-retransmit
    {
        let mut k = Conn::new(
            "synack-retransmit",
            &c(40002),
            &s(80),
            0x0300_0000,
            0x0400_0000,
        );
        k.c(0, "S", 0, 0, 0);
        k.s(100, "SA", 0, 1, 0);
        k.s(SEC + 100, "SA", 0, 1, 0);
        k.c(SEC + 25 * MS + 100, "A", 1, 1, 0);
        k.c(SEC + 25 * MS + 300, "PA", 1, 1, 80);
        k.s(SEC + 25 * MS + 350, "A", 1, 81, 0);
        k.s(SEC + 26 * MS, "PA", 1, 81, 400);
        k.c(SEC + 51 * MS, "A", 81, 401, 0);
        k.c(SEC + 60 * MS, "FA", 81, 401, 0);
        k.s(SEC + 60 * MS + 200, "FA", 401, 82, 0);
        k.c(SEC + 85 * MS + 200, "A", 82, 402, 0);
        v.push((
            "synack-retransmit.pcap",
            "Server-side vantage: SYN, SYN/ACK 0.1 ms later, the client's ACK is lost so the SYN/ACK is retransmitted 1 s later, ACK 25 ms after that, 80 B / 400 B data, client-first FIN close.",
            vec![k],
        ));
    }
    // refused
    {
        let mut k = Conn::new("refused", &c(40003), &s(81), 0x0500_0000, 0);
        k.c(0, "S", 0, 0, 0);
        k.s(350, "RA", 0, 1, 0).win(0);
        v.push((
            "refused.pcap",
            "SYN answered by RST/ACK (seq 0, ack = ISN+1) after 0.35 ms: connection refused.",
            vec![k],
        ));
    }
    // unanswered
    {
        let mut k = Conn::new("unanswered", &c(40004), "10.0.0.9:443", 0x0600_0000, 0);
        for t in [0, SEC, 3 * SEC, 7 * SEC] {
            k.c(t, "S", 0, 0, 0);
        }
        v.push((
            "unanswered.pcap",
            "SYN to 10.0.0.9:443 plus retransmissions at 1 s, 3 s and 7 s (Linux backoff); never answered.",
            vec![k],
        ));
    }
    // simultaneous open
    {
        let mut k = Conn::new(
            "simultaneous-open",
            &c(7000),
            &s(7001),
            0x0700_0000,
            0x0800_0000,
        );
        k.c(0, "S", 0, 0, 0);
        k.s(100, "S", 0, 0, 0);
        k.c(150, "SA", 0, 1, 0);
        k.s(30 * MS, "SA", 0, 1, 0);
        k.c(30 * MS + 50, "A", 1, 1, 0);
        k.s(30 * MS + 200, "A", 1, 1, 0);
        k.c(50 * MS, "FA", 1, 1, 0);
        k.s(80 * MS + 100, "FA", 1, 2, 0);
        k.c(80 * MS + 150, "A", 2, 2, 0);
        v.push((
            "simultaneous-open.pcap",
            "Simultaneous open between 10.0.0.2:7000 and 10.0.0.1:7001: both send a bare SYN (crossing), then each sends SYN/ACK, then each ACKs; then 10.0.0.2 closes first (FIN, FIN, ACK). The side whose SYN is first in the file (10.0.0.2) is called the client.",
            vec![k],
        ));
    }
    // midstream
    {
        let mut k = Conn::new("midstream", &c(51000), &s(5432), 0x3a2b_1c00, 0x7f00_1000);
        k.c(0, "PA", 5001, 20001, 60);
        k.s(250, "A", 20001, 5061, 0);
        k.s(400, "PA", 20001, 5061, 300);
        k.c(600, "A", 5061, 20301, 0);
        k.c(100 * MS, "PA", 5061, 20301, 40);
        k.s(100 * MS + 500, "PA", 20301, 5101, 200);
        k.c(100 * MS + 700, "A", 5101, 20501, 0);
        k.c(200 * MS, "FA", 5101, 20501, 0);
        k.s(200 * MS + 400, "FA", 20501, 5102, 0);
        k.c(200 * MS + 450, "A", 5102, 20502, 0);
        v.push((
            "midstream.pcap",
            "Capture starts mid-connection (no SYN): data in both directions between 10.0.0.2:51000 and 10.0.0.1:5432, first packet from the client, then a client-first FIN close.",
            vec![k],
        ));
    }
    // close-client
    {
        let mut k = Conn::new("close-client", &c(40006), &s(80), 0x0900_0000, 0x0a00_0000);
        let t = hs_req_resp(&mut k);
        let t = t + 500 * MS;
        k.c(t, "FA", 201, 1001, 0);
        k.s(t + 12_100, "A", 1001, 202, 0);
        k.s(t + 12_300, "FA", 1001, 202, 0);
        k.c(t + 12_350, "A", 202, 1002, 0);
        v.push((
            "close-client.pcap",
            "Normal connection (12 ms RTT, 200 B request, 1000 B response); client FIN first, server ACK, server FIN, client ACK.",
            vec![k],
        ));
    }
    // close-server
    {
        let mut k = Conn::new("close-server", &c(40007), &s(80), 0x0b00_0000, 0x0c00_0000);
        let t = hs_req_resp(&mut k) + 500 * MS;
        k.s(t, "FA", 1001, 201, 0);
        k.c(t + 50, "A", 201, 1002, 0);
        k.c(t + 300, "FA", 201, 1002, 0);
        k.s(t + 12_400, "A", 1002, 202, 0);
        v.push((
            "close-server.pcap",
            "Like close-client but the server sends the first FIN; client ACKs, then sends its FIN, server ACKs.",
            vec![k],
        ));
    }
    // simultaneous close
    {
        let mut k = Conn::new(
            "simultaneous-close",
            &c(40008),
            &s(80),
            0x0d00_0000,
            0x0e00_0000,
        );
        let t = hs_req_resp(&mut k) + 500 * MS;
        k.c(t, "FA", 201, 1001, 0);
        k.s(t + 100, "FA", 1001, 201, 0);
        k.c(t + 150, "A", 202, 1002, 0);
        k.s(t + 12_200, "A", 1002, 202, 0);
        v.push((
            "simultaneous-close.pcap",
            "Both FINs cross: the server's FIN (0.1 ms after the client's) does not ACK the client's FIN; then each side ACKs the other's FIN. Both ends are active closers.",
            vec![k],
        ));
    }
    // half-close
    {
        let mut k = Conn::new("half-close", &c(40009), &s(80), 0x0f00_0000, 0x1000_0000);
        hs(&mut k, 0, 12_000);
        k.c(12_200, "PA", 1, 1, 200);
        k.c(12_300, "FA", 201, 1, 0);
        k.s(24_300, "A", 1, 202, 0);
        k.s(24_500, "PA", 1, 202, 1000);
        k.c(24_550, "A", 202, 1001, 0);
        k.s(24_700, "PA", 1001, 202, 1000);
        k.c(24_750, "A", 202, 2001, 0);
        k.s(24_900, "PA", 2001, 202, 500);
        k.c(24_950, "A", 202, 2501, 0);
        k.s(25_100, "FA", 2501, 202, 0);
        k.c(25_150, "A", 202, 2502, 0);
        v.push((
            "half-close.pcap",
            "Client sends a 200 B request and immediately FIN (half-close); the server ACKs, keeps sending 3 data segments (1000+1000+500 B) which the client ACKs, then FINs; client ACKs.",
            vec![k],
        ));
    }
    // rst-established-client / server
    {
        let mut k = Conn::new(
            "rst-established-client",
            &c(40010),
            &s(80),
            0x1100_0000,
            0x1200_0000,
        );
        let t = hs_req_resp(&mut k) + 300 * MS;
        k.c(t, "RA", 201, 1001, 0);
        v.push((
            "rst-established-client.pcap",
            "Established connection with data both ways, then the client sends RST/ACK mid-stream.",
            vec![k],
        ));
        let mut k = Conn::new(
            "rst-established-server",
            &c(40011),
            &s(80),
            0x1300_0000,
            0x1400_0000,
        );
        let t = hs_req_resp(&mut k) + 300 * MS;
        k.s(t, "RA", 1001, 201, 0);
        v.push((
            "rst-established-server.pcap",
            "Established connection with data both ways, then the server sends RST/ACK mid-stream.",
            vec![k],
        ));
    }
    // rst-after-fin
    {
        let mut k = Conn::new("rst-after-fin", &c(40012), &s(80), 0x1500_0000, 0x1600_0000);
        let t = hs_req_resp(&mut k) + 500 * MS;
        k.c(t, "FA", 201, 1001, 0);
        k.s(t + 12_100, "A", 1001, 202, 0);
        k.s(t + 17_100, "RA", 1001, 202, 0);
        v.push((
            "rst-after-fin.pcap",
            "Client FIN, server ACK, then 5 ms later the server sends RST/ACK instead of its FIN.",
            vec![k],
        ));
    }
    // rst-after-both-fins
    {
        let mut k = Conn::new(
            "rst-after-both-fins",
            &c(40013),
            &s(80),
            0x1700_0000,
            0x1800_0000,
        );
        let t = hs_req_resp(&mut k) + 500 * MS;
        k.c(t, "FA", 201, 1001, 0);
        k.s(t + 12_100, "A", 1001, 202, 0);
        k.s(t + 12_300, "FA", 1001, 202, 0);
        k.c(t + 12_350, "A", 202, 1002, 0);
        k.s(t + 22_350, "R", 1002, 0, 0);
        v.push((
            "rst-after-both-fins.pcap",
            "Full client-first FIN exchange, then 10 ms after the final ACK a bare RST (seq = server FIN+1) from the server, as if resetting the client's TIME_WAIT.",
            vec![k],
        ));
    }
    // fin-rst
    {
        let mut k = Conn::new("fin-rst", &c(40014), &s(80), 0x1900_0000, 0x1a00_0000);
        let t = hs_req_resp(&mut k) + 300 * MS;
        k.c(t, "FRA", 201, 1001, 0);
        v.push((
            "fin-rst.pcap",
            "After data both ways the client sends one segment with FIN+RST+ACK set; nothing follows. Counted as a RST (and as the first FIN) from the client; no TIME_WAIT.",
            vec![k],
        ));
    }
    // keepalive-linux
    {
        let mut k = Conn::new(
            "keepalive-linux",
            &c(40015),
            &s(22),
            0x1b00_0000,
            0x1c00_0000,
        );
        hs(&mut k, 0, 30 * MS);
        k.c(30 * MS + 200, "PA", 1, 1, 100);
        k.s(60 * MS + 300, "PA", 1, 101, 200);
        k.c(60 * MS + 350, "A", 101, 201, 0);
        let t1 = 60 * MS + 350 + 7200 * SEC;
        for j in 0..3 {
            let t = t1 + j * 75 * SEC;
            k.c(t, "A", 100, 201, 0);
            k.s(t + 400, "A", 201, 101, 0);
        }
        let t = t1 + 150 * SEC + 10 * SEC;
        k.c(t, "PA", 101, 201, 50);
        k.s(t + 30 * MS, "PA", 201, 151, 80);
        k.c(t + 30 * MS + 50, "A", 151, 281, 0);
        k.c(t + SEC, "FA", 151, 281, 0);
        k.s(t + SEC + 30 * MS, "FA", 281, 152, 0);
        k.c(t + SEC + 30 * MS + 50, "A", 152, 282, 0);
        v.push((
            "keepalive-linux.pcap",
            "Handshake (30 ms RTT), 100 B / 200 B data, 7200 s idle, then 3 Linux keepalive probes (len 0, seq = snd_nxt-1) 75 s apart, each ACKed by the server 0.4 ms later; 10 s after the last probe data resumes (50 B / 80 B) and a client-first FIN close.",
            vec![k],
        ));
    }
    // keepalive-unanswered
    {
        let mut k = Conn::new(
            "keepalive-unanswered",
            &c(40016),
            &s(22),
            0x1d00_0000,
            0x1e00_0000,
        );
        hs(&mut k, 0, 30 * MS);
        k.c(30 * MS + 200, "PA", 1, 1, 100);
        k.s(60 * MS + 300, "PA", 1, 101, 200);
        k.c(60 * MS + 350, "A", 101, 201, 0);
        let t1 = 60 * MS + 350 + 7200 * SEC;
        for j in 0..9 {
            k.c(t1 + j * 75 * SEC, "A", 100, 201, 0);
        }
        k.c(t1 + 9 * 75 * SEC, "RA", 101, 201, 0);
        v.push((
            "keepalive-unanswered.pcap",
            "Handshake, 100 B / 200 B data, 7200 s idle, then 9 keepalive probes 75 s apart never answered (Linux tcp_keepalive_probes default), then 75 s after the 9th probe the client gives up with RST/ACK.",
            vec![k],
        ));
    }
    // keepalive-windows
    {
        let mut k = Conn::new(
            "keepalive-windows",
            &c(40017),
            &s(445),
            0x1f00_0000,
            0x2000_0000,
        );
        k.ts = false;
        k.c(0, "S", 0, 0, 0).win(64240);
        k.s(5 * MS, "SA", 0, 1, 0).win(65535);
        k.c(5 * MS + 60, "A", 1, 1, 0).win(1026);
        k.c(5 * MS + 200, "PA", 1, 1, 100).win(1026);
        k.s(10 * MS + 300, "PA", 1, 101, 200).win(2052);
        k.c(10 * MS + 350, "A", 101, 201, 0).win(1026);
        let t1 = 10 * MS + 350 + 7200 * SEC;
        for j in 0..4 {
            let t = t1 + j * SEC;
            k.c(t, "A", 100, 201, 1).data(&[0]).win(1026);
            k.s(t + 5 * MS, "A", 201, 101, 0).win(2052);
        }
        let t = t1 + 10 * SEC;
        k.c(t, "FA", 101, 201, 0).win(1026);
        k.s(t + 5 * MS, "FA", 201, 102, 0).win(2052);
        k.c(t + 5 * MS + 60, "A", 102, 202, 0).win(1026);
        v.push((
            "keepalive-windows.pcap",
            "Windows-style (no TCP timestamps, WS 8): handshake, 100 B / 200 B data, 7200 s idle, then 4 keepalive probes 1 s apart, each 1 byte 0x00 at seq = snd_nxt-1, each answered by an ACK with ack = snd_nxt; 6 s after the last probe, a client-first FIN close.",
            vec![k],
        ));
    }
    // keepalive-server-dead (issue 23)
    {
        let mut k = Conn::new(
            "keepalive-server-dead",
            &c(40031),
            &s(5432),
            0x3100_0000,
            0x3200_0000,
        );
        hs(&mut k, 0, 30 * MS);
        k.c(30 * MS + 200, "PA", 1, 1, 100);
        k.s(60 * MS + 300, "PA", 1, 101, 200);
        k.c(60 * MS + 350, "A", 101, 201, 0);
        let t1 = 60 * MS + 350 + 7200 * SEC;
        for j in 0..10 {
            k.s(t1 + j * 75 * SEC, "A", 200, 101, 0);
        }
        k.s(t1 + 10 * 75 * SEC, "RA", 201, 101, 0);
        v.push((
            "keepalive-server-dead.pcap",
            "Handshake (30 ms RTT), 100 B / 200 B data, 7200 s idle, then the server sends 10 keepalive probes (len 0, seq = snd_nxt-1) 75 s apart that the client never answers, and 75 s after the 10th gives up with RST/ACK (seq = snd_nxt). A live capture must keep the connection through the 2 h of silence (issue 23).",
            vec![k],
        ));
    }
    // keepalive-rst-answer (issue 23)
    {
        let mut k = Conn::new(
            "keepalive-rst-answer",
            &c(40032),
            &s(22),
            0x3300_0000,
            0x3400_0000,
        );
        hs(&mut k, 0, 30 * MS);
        k.c(30 * MS + 200, "PA", 1, 1, 100);
        k.s(60 * MS + 300, "PA", 1, 101, 200);
        k.c(60 * MS + 350, "A", 101, 201, 0);
        let t1 = 60 * MS + 350 + 7200 * SEC;
        k.c(t1, "A", 100, 201, 0);
        k.s(t1 + 30 * MS, "R", 201, 0, 0);
        v.push((
            "keepalive-rst-answer.pcap",
            "Handshake (30 ms RTT), 100 B / 200 B data, 7200 s idle, then one client keepalive probe (len 0, seq = snd_nxt-1) that the server, rebooted and without the connection, answers 30 ms later with a bare RST whose seq is the probe's ack (RFC 9293 §3.10.7.1).",
            vec![k],
        ));
    }
    // zero-window
    {
        let mut k = Conn::new("zero-window", &c(40018), &s(9000), 0x2100_0000, 0x2200_0000);
        hs(&mut k, 0, 10 * MS);
        for j in 0..4u32 {
            k.c(10 * MS + 200 + j as u64 * 10, "A", 1 + j * 1000, 1, 1000);
        }
        k.s(20 * MS + 300, "A", 1, 2001, 0).win(100);
        let tz = 20 * MS + 400;
        k.s(tz, "A", 1, 4001, 0).win(0);
        for off in [200 * MS, 600 * MS, 1400 * MS] {
            k.c(tz + off, "A", 4001, 1, 1);
            k.s(tz + off + 10 * MS, "A", 1, 4001, 0).win(0);
        }
        let tu = tz + 1800 * MS;
        k.s(tu, "A", 1, 4001, 0).win(509);
        k.c(tu + 100, "PA", 4001, 1, 1000);
        k.s(tu + 10 * MS + 200, "A", 1, 5001, 0);
        k.c(tu + 100 * MS, "FA", 5001, 1, 0);
        k.s(tu + 110 * MS, "FA", 1, 5002, 0);
        k.c(tu + 110 * MS + 60, "A", 5002, 2, 0);
        v.push((
            "zero-window.pcap",
            "Client uploads 4×1000 B; the server's ACK advertises window 0. The client sends 3 zero-window probes of 1 byte at seq = snd_nxt (the next new byte, NOT snd_nxt-1) 0.2, 0.6 and 1.4 s after the zero window, each answered (10 ms later) with ack unchanged and window 0; at 1.8 s a window update (509) arrives, data resumes with a 1000 B segment starting at that same byte, then a client-first FIN close.",
            vec![k],
        ));
    }
    // port-reuse-time-wait
    {
        let isns = [
            (0x1000_0000u32, 0x2000_0000u32),
            (0x1010_0000, 0x3000_0000),
            (0x5000_0000, 0x6000_0000),
        ];
        let mut conns = Vec::new();
        let mut start = 0;
        for (n, (ci, si)) in isns.iter().enumerate() {
            let mut k = Conn::new(
                &format!("port-reuse-{}", n + 1),
                &c(45000),
                &s(80),
                *ci,
                *si,
            );
            k.start = start;
            k.c(0, "S", 0, 0, 0);
            k.s(1500, "SA", 0, 1, 0);
            k.c(1560, "A", 1, 1, 0);
            k.c(1700, "PA", 1, 1, 100);
            k.s(3300, "PA", 1, 101, 300);
            k.c(3350, "A", 101, 301, 0);
            k.c(50 * MS, "FA", 101, 301, 0);
            k.s(51_500, "FA", 301, 102, 0);
            k.c(51_560, "A", 102, 302, 0);
            let gap = if n == 0 { 5 * SEC } else { 200 * SEC };
            start += 51_560 + gap;
            conns.push(k);
        }
        v.push((
            "port-reuse-time-wait.pcap",
            "Three connections on the same 4-tuple 10.0.0.2:45000 -> 10.0.0.1:80, each: handshake (1.5 ms), 100 B / 300 B, client-first FIN close (client enters TIME_WAIT). The 2nd SYN comes 5 s after the 1st connection's final ACK (inside TIME_WAIT, higher ISN); the 3rd SYN 200 s after the 2nd connection's final ACK (outside 2·MSL = 120 s). Each has a new ISN, so 3 connections.",
            conns,
        ));
    }
    // seq-wrap
    {
        let mut k = Conn::new("seq-wrap", &c(40019), &s(80), 0xFFFF_FF00, 0xFFFF_FFF0);
        hs(&mut k, 0, 5 * MS);
        k.c(5 * MS + 200, "PA", 1, 1, 100);
        k.c(5 * MS + 300, "PA", 101, 1, 100);
        k.c(5 * MS + 400, "PA", 201, 1, 100);
        k.s(10 * MS + 250, "A", 1, 101, 0);
        k.s(10 * MS + 450, "A", 1, 101, 0);
        k.c(210 * MS + 300, "PA", 101, 1, 100);
        k.s(215 * MS + 400, "A", 1, 301, 0);
        k.s(215 * MS + 600, "PA", 1, 301, 100);
        k.c(215 * MS + 650, "A", 301, 101, 0);
        k.c(300 * MS, "FA", 301, 101, 0);
        k.s(305 * MS + 100, "FA", 101, 302, 0);
        k.c(305 * MS + 160, "A", 302, 102, 0);
        v.push((
            "seq-wrap.pcap",
            "Client ISN 0xFFFFFF00, server ISN 0xFFFFFFF0. The client sends 3×100 B (the 3rd, seq 0xFFFFFFC9, crosses 2^32); the 2nd is lost (server sends the ACK for the 1st twice) and retransmitted 205 ms later by RTO; the server's 100 B response (seq 0xFFFFFFF1) also crosses 2^32; client-first FIN close.",
            vec![k],
        ));
    }
    // ipv6
    {
        let mut k = Conn::new(
            "ipv6",
            "[2001:db8::2]:40020",
            "[2001:db8::1]:443",
            0x2300_0000,
            0x2400_0000,
        );
        hs(&mut k, 0, 18 * MS);
        k.c(18 * MS + 200, "PA", 1, 1, 300);
        k.s(36 * MS + 300, "A", 1, 301, 0);
        k.s(36 * MS + 800, "PA", 1, 301, 1200);
        k.c(36 * MS + 850, "A", 301, 1201, 0);
        k.c(SEC, "FA", 301, 1201, 0);
        k.s(SEC + 18 * MS + 100, "FA", 1201, 302, 0);
        k.c(SEC + 18 * MS + 160, "A", 302, 1202, 0);
        v.push((
            "ipv6.pcap",
            "IPv6 [2001:db8::2]:40020 -> [2001:db8::1]:443: handshake (18 ms), 300 B / 1200 B, client-first FIN close.",
            vec![k],
        ));
    }
    // tfo
    {
        let mut k = Conn::new("tfo", &c(40021), &s(80), 0x2500_0000, 0x2600_0000);
        let mut o = vec![2, 4, 0x05, 0xb4, 4, 2, 8, 10];
        o.extend_from_slice(&1_000_000u32.to_be_bytes());
        o.extend_from_slice(&0u32.to_be_bytes());
        o.extend_from_slice(&[1, 3, 3, 7, 1, 1, 34, 10]);
        o.extend_from_slice(&[0xc0, 0xff, 0xee, 0x00, 0x11, 0x22, 0x33, 0x44]);
        k.c(0, "S", 0, 0, 100).opts(o);
        k.s(8 * MS, "SA", 0, 101, 0);
        k.c(8 * MS + 60, "A", 101, 1, 0);
        k.s(8 * MS + 300, "PA", 1, 101, 200);
        k.c(8 * MS + 360, "A", 101, 201, 0);
        k.c(100 * MS, "FA", 101, 201, 0);
        k.s(108 * MS + 100, "FA", 201, 102, 0);
        k.c(108 * MS + 160, "A", 102, 202, 0);
        v.push((
            "tfo.pcap",
            "TCP Fast Open: the SYN carries a TFO cookie option (kind 34, 8-byte cookie) and 100 B of data; the SYN/ACK (8 ms) acks ISN+101; ACK; 200 B response; client-first FIN close. The handshake ACK has ack = server ISN+1 and seq = ISN+101.",
            vec![k],
        ));
    }
    // retransmission
    {
        let mut k = Conn::new(
            "retransmission",
            &c(40022),
            &s(80),
            0x2700_0000,
            0x2800_0000,
        );
        hs(&mut k, 0, 20 * MS);
        for j in 0..5u32 {
            k.c(20 * MS + 100 + j as u64 * 10, "A", 1 + j * 1000, 1, 1000);
        }
        k.s(40 * MS + 200, "A", 1, 1001, 0);
        k.s(40 * MS + 210, "A", 1, 2001, 0);
        k.s(40 * MS + 230, "A", 1, 2001, 0);
        k.c(240 * MS + 120, "A", 2001, 1, 1000);
        k.s(260 * MS + 200, "A", 1, 4001, 0);
        k.c(460 * MS + 200, "A", 4001, 1, 1000);
        k.c(860 * MS + 200, "A", 4001, 1, 1000);
        k.s(880 * MS + 300, "A", 1, 5001, 0);
        k.c(900 * MS, "FA", 5001, 1, 0);
        k.c(1100 * MS, "FA", 5001, 1, 0);
        k.s(1120 * MS + 100, "A", 1, 5002, 0);
        k.s(1120 * MS + 300, "FA", 1, 5002, 0);
        k.c(1120 * MS + 360, "A", 5002, 2, 0);
        v.push((
            "retransmission.pcap",
            "Handshake (20 ms), 5×1000 B from the client; segment 3 is lost and retransmitted once 200 ms later (after one duplicate ACK), segment 5 is retransmitted twice (200 ms, then 400 ms backoff), the client FIN is retransmitted once 200 ms later; then server ACK, server FIN, client ACK.",
            vec![k],
        ));
    }
    v
}

// ---------------------------------------------------------------------------
// Application payloads (synack's `app` label and `synack ladder`)
// ---------------------------------------------------------------------------

/// Builds a connection's payload exchange after a handshake, keeping each side's next
/// relative sequence number so the scenarios below read as a conversation.
struct Talk {
    k: Conn,
    t: u64,
    next: [u32; 2],
}

impl Talk {
    fn open(mut k: Conn, rtt: u64) -> Talk {
        let t = hs(&mut k, 0, rtt);
        Talk { k, t, next: [1, 1] }
    }

    fn seg(&mut self, dt: u64, dir: Dir, flags: &'static str, len: u32) -> &mut Step {
        self.t += dt;
        let (seq, ack) = (self.next[dir.idx()], self.next[dir.other().idx()]);
        self.next[dir.idx()] += len;
        self.k.push(self.t, dir, flags, seq, ack, len as usize)
    }

    /// A PSH/ACK carrying `bytes`.
    fn data(&mut self, dt: u64, dir: Dir, bytes: &[u8]) {
        self.seg(dt, dir, "PA", bytes.len() as u32).data(bytes);
    }

    /// An ACK carrying `len` bytes of the generator's pattern (a body segment).
    fn bulk(&mut self, dt: u64, dir: Dir, len: u32) {
        self.seg(dt, dir, "A", len);
    }

    /// The same bytes as the last segment `dir` sent, again (a retransmission).
    fn resend_last(&mut self, dt: u64, dir: Dir) {
        let last = self
            .k
            .steps
            .iter()
            .rev()
            .find(|s| s.dir == dir && s.len > 0)
            .expect("a segment to resend")
            .clone();
        self.t += dt;
        let ack = self.next[dir.other().idx()];
        let st = self
            .k
            .push(self.t, dir, last.flags, last.seq, ack, last.len);
        st.data = last.data;
    }

    fn ack(&mut self, dt: u64, dir: Dir) {
        self.seg(dt, dir, "A", 0);
    }

    fn fin(&mut self, dt: u64, dir: Dir) {
        self.seg(dt, dir, "FA", 0);
        self.next[dir.idx()] += 1;
    }

    /// FIN from `first`, ACK, FIN from the other side, ACK.
    fn close(&mut self, dt: u64, first: Dir, rtt: u64) {
        self.fin(dt, first);
        self.ack(rtt, first.other());
        self.fin(200, first.other());
        self.ack(rtt, first);
    }
}

/// A TLS 1.3-style ClientHello record: a few cipher suites, server_name first (as
/// browsers send it), then supported_versions.
fn client_hello(name: &[u8]) -> Vec<u8> {
    let mut sni = Vec::new();
    sni.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
    sni.push(0); // host_name
    sni.extend_from_slice(&(name.len() as u16).to_be_bytes());
    sni.extend_from_slice(name);
    let mut ext = Vec::new();
    ext.extend_from_slice(&[0x00, 0x00]);
    ext.extend_from_slice(&(sni.len() as u16).to_be_bytes());
    ext.extend_from_slice(&sni);
    ext.extend_from_slice(&[0x00, 0x2b, 0x00, 0x03, 0x02, 0x03, 0x04]); // supported_versions
    let mut body = vec![0x03, 0x03];
    body.extend((0..32u8).map(|i| i.wrapping_mul(37)));
    body.push(32);
    body.extend((0..32u8).map(|i| i.wrapping_mul(11)));
    body.extend_from_slice(&[0x00, 0x06, 0x13, 0x01, 0x13, 0x02, 0x13, 0x03]);
    body.extend_from_slice(&[0x01, 0x00]);
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![0x01, 0x00];
    hs.extend_from_slice(&(body.len() as u16).to_be_bytes());
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 0x03, 0x01];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

/// A ServerHello record followed by a ChangeCipherSpec and the start of encrypted data.
fn server_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x03];
    body.extend((0..32u8).map(|i| i.wrapping_mul(53)));
    body.push(0);
    body.extend_from_slice(&[0x13, 0x01, 0x00, 0x00, 0x00]);
    let mut rec = vec![
        0x16,
        0x03,
        0x03,
        0x00,
        (body.len() + 4) as u8,
        0x02,
        0x00,
        0x00,
    ];
    rec.push(body.len() as u8);
    rec.extend_from_slice(&body);
    rec.extend_from_slice(&[0x14, 0x03, 0x03, 0x00, 0x01, 0x01]);
    rec.extend_from_slice(&[0x17, 0x03, 0x03, 0x00, 0x20]);
    rec.extend((0..32u8).map(|i| i ^ 0x5a));
    rec
}

/// Encrypted application data: a TLS record of `n` opaque bytes.
fn tls_data(n: u8, salt: u8) -> Vec<u8> {
    let mut rec = vec![0x17, 0x03, 0x03, 0x00, n];
    rec.extend((0..n).map(|i| i.wrapping_mul(salt) ^ 0xa5));
    rec
}

fn app_fixtures() -> Vec<(&'static str, &'static str, Vec<Conn>)> {
    use Dir::{C, S};
    let mut v: Vec<(&'static str, &'static str, Vec<Conn>)> = Vec::new();
    let c = |p: u16| format!("{CLI}:{p}");
    let s = |p: u16| format!("{SRV}:{p}");
    // Each file's connection starts 10 s after the previous file's, so that all of
    // app/ can be read as one timeline.

    // http-keepalive
    {
        let k = Conn::new(
            "http-keepalive",
            &c(41001),
            &s(80),
            0x3000_0000,
            0x3100_0000,
        );
        let mut t = Talk::open(k, 10 * MS);
        t.data(
            200,
            C,
            b"GET /index.html HTTP/1.1\r\nHost: www.example.org\r\nUser-Agent: mkfixtures\r\n\r\n",
        );
        t.ack(10 * MS, S);
        t.data(
            300,
            S,
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 24\r\n\r\n<html>hello world</html>",
        );
        t.ack(60, C);
        t.data(
            50 * MS,
            C,
            b"GET /big.bin HTTP/1.1\r\nHost: www.example.org\r\n\r\n",
        );
        // The server's ACK is lost: the request is sent again, and counted once.
        t.resend_last(200 * MS, C);
        t.data(
            10 * MS,
            S,
            b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 28960\r\n\r\n",
        );
        for j in 0..20 {
            t.bulk(100, S, 1448);
            if j % 2 == 1 {
                t.ack(60, C);
            }
        }
        t.data(
            30 * MS,
            C,
            b"GET /favicon.ico HTTP/1.1\r\nHost: www.example.org\r\nConnection: close\r\n\r\n",
        );
        t.data(
            10 * MS,
            S,
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        t.close(100, S, 10 * MS);
        v.push((
            "http-keepalive.pcap",
            "HTTP/1.1 keep-alive: handshake (10 ms), three requests on one connection: GET /index.html (200, 24 B body); GET /big.bin, retransmitted once 200 ms later (the server's ACK was lost), answered by a header segment and 20×1448 B of body with an ACK every second segment; GET /favicon.ico with `Connection: close`, answered 404 with `Connection: close`; the server closes first. App label: http/1.1, 3 requests, 3 responses, Connection: close from both sides.",
            vec![t.k],
        ));
    }
    // http10
    {
        let k = Conn::new("http10", &c(41002), &s(80), 0x3200_0000, 0x3300_0000).at(10 * SEC);
        let mut t = Talk::open(k, 5 * MS);
        t.data(200, C, b"GET / HTTP/1.0\r\nHost: www.example.org\r\n\r\n");
        t.data(
            5 * MS,
            S,
            b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nhello world\n",
        );
        t.close(100, S, 5 * MS);
        v.push((
            "http10.pcap",
            "HTTP/1.0, one request per connection: GET / HTTP/1.0, 200 with a 12 B body, the server closes first. No `Connection` header either way. App label: http/1.0, 1 request, 1 response.",
            vec![t.k],
        ));
    }
    // websocket
    {
        let k = Conn::new("websocket", &c(41003), &s(80), 0x3400_0000, 0x3500_0000).at(20 * SEC);
        let mut t = Talk::open(k, 5 * MS);
        t.data(
            200,
            C,
            b"GET /chat HTTP/1.1\r\nHost: www.example.org\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        );
        t.data(
            5 * MS,
            S,
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
        );
        // A masked text frame "GET / HTTP/1.1\r\n" from the client: after the switch it is
        // a WebSocket frame, not a request.
        let mut frame = vec![0x81, 0x90, 0x00, 0x00, 0x00, 0x00];
        frame.extend_from_slice(b"GET / HTTP/1.1\r\n");
        t.data(SEC, C, &frame);
        t.data(5 * MS, S, b"\x81\x05hello");
        t.data(SEC, C, b"\x88\x82\x00\x00\x00\x00\x03\xe8");
        t.data(5 * MS, S, b"\x88\x02\x03\xe8");
        t.close(100, S, 5 * MS);
        v.push((
            "websocket.pcap",
            "WebSocket: GET /chat with `Upgrade: websocket`, answered `101 Switching Protocols`; then a client text frame whose payload is `GET / HTTP/1.1\\r\\n` (with a zero mask, so the bytes are plain), a server text frame, close frames both ways, and a server-first FIN close. App label: websocket (1 request, 1 response before the upgrade).",
            vec![t.k],
        ));
    }
    // tls-sni
    {
        let k = Conn::new("tls-sni", &c(41004), &s(443), 0x3600_0000, 0x3700_0000).at(30 * SEC);
        let mut t = Talk::open(k, 8 * MS);
        t.data(200, C, &client_hello(b"www.example.org"));
        t.data(8 * MS, S, &server_hello());
        t.data(300, C, &tls_data(48, 7));
        t.data(8 * MS, S, &tls_data(200, 13));
        t.close(100 * MS, C, 8 * MS);
        v.push((
            "tls-sni.pcap",
            "TLS to port 443: a ClientHello with server_name `www.example.org`, a ServerHello (with ChangeCipherSpec and encrypted data in the same segment), one encrypted record each way, a client-first FIN close. App label: tls, SNI www.example.org.",
            vec![t.k],
        ));
    }
    // tls-hostile-sni
    {
        let k = Conn::new(
            "tls-hostile-sni",
            &c(41005),
            &s(443),
            0x3800_0000,
            0x3900_0000,
        )
        .at(40 * SEC);
        let mut t = Talk::open(k, 8 * MS);
        t.data(
            200,
            C,
            &client_hello(b"\x1b]0;pwned\x07\x1b[2J\x1b[31mevil\x1b[0m.example\r\n<b>&"),
        );
        t.data(8 * MS, S, &server_hello());
        t.close(100 * MS, C, 8 * MS);
        v.push((
            "tls-hostile-sni.pcap",
            "A ClientHello whose server_name holds terminal escape sequences (set the window title, clear the screen, colors), CR LF and XML markup: `ESC ]0;pwned BEL ESC [2J ESC [31m evil ESC [0m .example CR LF <b>&`. Printers must show it escaped. App label: tls.",
            vec![t.k],
        ));
    }
    // ssh
    {
        let k = Conn::new("ssh", &c(41006), &s(22), 0x3a00_0000, 0x3b00_0000).at(50 * SEC);
        let mut t = Talk::open(k, 3 * MS);
        // The server speaks first.
        t.data(2 * MS, S, b"SSH-2.0-OpenSSH_9.6p1 Debian-3\r\n");
        t.data(300, C, b"SSH-2.0-OpenSSH_9.7\r\n");
        t.bulk(3 * MS, C, 1200);
        t.bulk(300, S, 1100);
        t.close(SEC, C, 3 * MS);
        v.push((
            "ssh.pcap",
            "SSH to port 22: the server sends its banner first, then the client; one binary packet each way; a client-first FIN close. App label: ssh.",
            vec![t.k],
        ));
    }
    // unknown
    {
        let k = Conn::new("unknown", &c(41007), &s(5432), 0x3c00_0000, 0x3d00_0000).at(60 * SEC);
        let mut t = Talk::open(k, 2 * MS);
        t.data(200, C, b"\x00\x00\x00\x08\x04\xd2\x16\x2f");
        t.data(2 * MS, S, b"N");
        t.bulk(300, C, 90);
        t.bulk(2 * MS, S, 300);
        t.close(SEC, C, 2 * MS);
        v.push((
            "unknown.pcap",
            "A binary protocol (a PostgreSQL SSLRequest, answered `N`, then opaque data) to port 5432: not HTTP, TLS or SSH. App label: unknown.",
            vec![t.k],
        ));
    }
    v
}

fn sample_pcap() -> Fx {
    let t0 = BASE_NS;
    let mut frames = Vec::new();
    let mut conns: Vec<Conn> = Vec::new();

    frames.push(arp_frame(t0, false, CLI, SRV));
    let q1 = dns_msg(0x1a2b, "example.com", 1, None);
    let r1 = dns_msg(0x1a2b, "example.com", 1, Some(&[192, 0, 2, 34]));
    frames.push(udp_frame(
        t0 + 200 * MS * 1000,
        "10.0.0.2:53001",
        "10.0.0.1:53",
        &q1,
    ));
    frames.push(udp_frame(
        t0 + 200_900 * 1000,
        "10.0.0.1:53",
        "10.0.0.2:53001",
        &r1,
    ));
    let q2 = dns_msg(0x3c4d, "example.com", 28, None);
    let aaaa = ipv6_of(ip("2001:db8::34"));
    let r2 = dns_msg(0x3c4d, "example.com", 28, Some(&aaaa));
    frames.push(udp_frame(
        t0 + 59_900 * MS * 1000,
        "10.0.0.2:53002",
        "10.0.0.1:53",
        &q2,
    ));
    frames.push(udp_frame(
        t0 + (59_900 * MS + 850) * 1000,
        "10.0.0.1:53",
        "10.0.0.2:53002",
        &r2,
    ));
    frames.push(icmp_echo(t0 + 90 * SEC * 1000, CLI, SRV, false, 1, 1));
    frames.push(icmp_echo(
        t0 + (90 * SEC + 1100) * 1000,
        SRV,
        CLI,
        true,
        1,
        1,
    ));

    // (1) HTTP GET, client closes first (3-way close)
    {
        let mut k = Conn::new(
            "s1",
            "10.0.0.2:51001",
            "10.0.0.1:80",
            0x0a1b_2c3d,
            0x5e6f_7081,
        )
        .at(SEC);
        let get = b"GET /index.html HTTP/1.1\r\nHost: 10.0.0.1\r\nUser-Agent: synack-fixture/1.0\r\nAccept: */*\r\n\r\n";
        let g = get.len() as u32;
        let mut resp = Vec::new();
        let hdr0 = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 0000\r\n\r\n";
        let body_len = 2000 - hdr0.len();
        resp.extend_from_slice(
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {body_len}\r\n\r\n"
            )
            .as_bytes(),
        );
        assert_eq!(resp.len(), hdr0.len());
        resp.extend((0..body_len).map(|i| b"<p>synack</p>\n"[i % 14]));
        k.c(0, "S", 0, 0, 0);
        k.s(1200, "SA", 0, 1, 0);
        k.c(1260, "A", 1, 1, 0);
        k.c(1400, "PA", 1, 1, 0).data(get);
        k.s(2600, "A", 1, 1 + g, 0);
        k.s(3100, "A", 1, 1 + g, 0).data(&resp[..1448]);
        k.s(3150, "PA", 1449, 1 + g, 0).data(&resp[1448..]);
        k.c(3200, "A", 1 + g, 2001, 0);
        k.c(1_500_000, "FA", 1 + g, 2001, 0);
        k.s(1_501_200, "FA", 2001, 2 + g, 0);
        k.c(1_501_260, "A", 2 + g, 2002, 0);
        conns.push(k);
    }
    // (2) server closes first
    {
        let mut k = Conn::new(
            "s2",
            "10.0.0.2:51002",
            "10.0.0.1:8080",
            0x3c6e_f372,
            0xa54f_f53a,
        )
        .at(5 * SEC);
        hs(&mut k, 0, 15 * MS);
        k.c(15_200, "PA", 1, 1, 120);
        k.s(30_300, "A", 1, 121, 0);
        k.s(30_900, "PA", 1, 121, 800);
        k.c(30_950, "A", 121, 801, 0);
        k.s(31_000, "FA", 801, 121, 0);
        k.c(31_060, "A", 121, 802, 0);
        k.c(31_300, "FA", 121, 802, 0);
        k.s(46_400, "A", 802, 122, 0);
        conns.push(k);
    }
    // (3) refused
    {
        let mut k = Conn::new("s3", "10.0.0.2:51003", "10.0.0.1:8081", 0x510e_527f, 0).at(8 * SEC);
        k.c(0, "S", 0, 0, 0);
        k.s(900, "RA", 0, 1, 0).win(0);
        conns.push(k);
    }
    // (4) unanswered
    {
        let mut k = Conn::new("s4", "10.0.0.2:51004", "10.0.0.9:443", 0x9b05_688c, 0).at(10 * SEC);
        for t in [0, SEC, 3 * SEC] {
            k.c(t, "S", 0, 0, 0);
        }
        conns.push(k);
    }
    // (5) SYN retransmitted once, then answered
    {
        let mut k = Conn::new(
            "s5",
            "10.0.0.2:51005",
            "10.0.0.1:443",
            0x1f83_d9ab,
            0x5be0_cd19,
        )
        .at(20 * SEC);
        k.c(0, "S", 0, 0, 0);
        k.c(SEC, "S", 0, 0, 0);
        k.s(SEC + 40 * MS, "SA", 0, 1, 0);
        k.c(SEC + 40 * MS + 90, "A", 1, 1, 0);
        k.c(SEC + 40 * MS + 300, "PA", 1, 1, 517);
        k.s(SEC + 80 * MS + 400, "A", 1, 518, 0);
        k.s(SEC + 80 * MS + 900, "A", 1, 518, 1400);
        k.s(SEC + 81 * MS, "PA", 1401, 518, 600);
        k.c(SEC + 81 * MS + 50, "A", 518, 2001, 0);
        k.c(SEC + 200 * MS, "FA", 518, 2001, 0);
        k.s(SEC + 240 * MS + 100, "FA", 2001, 519, 0);
        k.c(SEC + 240 * MS + 160, "A", 519, 2002, 0);
        conns.push(k);
    }
    // (6) reset by the server mid-stream
    {
        let mut k = Conn::new(
            "s6",
            "10.0.0.2:51006",
            "10.0.0.1:9000",
            0x428a_2f98,
            0x7137_4491,
        )
        .at(30 * SEC);
        hs(&mut k, 0, 2500);
        k.c(2700, "PA", 1, 1, 64);
        k.s(5200, "A", 1, 65, 0);
        k.s(5400, "PA", 1, 65, 256);
        k.c(5450, "A", 65, 257, 0);
        k.c(700 * MS, "PA", 65, 257, 64);
        k.s(702 * MS + 500, "RA", 257, 129, 0);
        conns.push(k);
    }
    // (7) idle connection with keepalives, still open at the end
    {
        let mut k = Conn::new(
            "s7",
            "10.0.0.2:51007",
            "10.0.0.1:22",
            0xb5c0_fbcf,
            0xe9b5_dba5,
        )
        .at(2 * SEC);
        let banner = b"SSH-2.0-OpenSSH_9.6\r\n";
        let b = banner.len() as u32;
        hs(&mut k, 0, 3100);
        k.s(3400, "PA", 1, 1, 0).data(banner);
        k.c(3450, "A", 1, 1 + b, 0);
        k.c(3600, "PA", 1, 1 + b, 0).data(banner);
        k.s(6700, "A", 1 + b, 1 + b, 0);
        let t1 = 6700 + 45 * SEC;
        for j in 0..3 {
            let t = t1 + j * 75 * SEC;
            k.c(t, "A", b, 1 + b, 0);
            k.s(t + 3150, "A", 1 + b, 1 + b, 0);
        }
        conns.push(k);
    }
    // (8) IPv6, normal close
    {
        let mut k = Conn::new(
            "s8",
            "[2001:db8::2]:51008",
            "[2001:db8::1]:443",
            0x3956_c25b,
            0x59f1_11f1,
        )
        .at(60 * SEC);
        hs(&mut k, 0, 22 * MS);
        k.c(22_300, "PA", 1, 1, 300);
        k.s(44_400, "A", 1, 301, 0);
        k.s(44_900, "PA", 1, 301, 1200);
        k.c(44_950, "A", 301, 1201, 0);
        k.c(2 * SEC, "FA", 301, 1201, 0);
        k.s(2 * SEC + 22_100, "A", 1201, 302, 0);
        k.s(2 * SEC + 22_300, "FA", 1201, 302, 0);
        k.c(2 * SEC + 22_360, "A", 302, 1202, 0);
        conns.push(k);
    }
    for k in &conns {
        frames.extend(k.frames(&Link::Eth, t0, false));
    }
    let frames = sorted(frames);
    let refs: Vec<&Conn> = conns.iter().collect();
    pcap_fx(
        "sample.pcap",
        PcapFmt::new(1),
        &frames,
        "The README demo capture, client-side vantage (10.0.0.2), ~197 s. Connections in table order: \
         (1) HTTP GET to :80 (1.2 ms RTT), 2000 B response in 2 segments, client FIN first (3-packet close: FIN, FIN/ACK, ACK); \
         (2) :8080 (15 ms RTT), server sends FIN first right after its response; \
         (3) refused: SYN to :8081 answered by RST/ACK after 0.9 ms; \
         (4) SYN to 10.0.0.9:443 never answered, retransmitted at +1 s and +3 s; \
         (5) :443 SYN retransmitted once after 1 s, then SYN/ACK 40 ms later, 517 B / 2000 B, client FIN first; \
         (6) :9000 (2.5 ms RTT) reset by the server (RST/ACK) after a second request; \
         (7) :22 SSH banners both ways (3.1 ms RTT), then idle; 3 Linux keepalive probes 45 s, 120 s and 195 s after the last data, each ACKed 3.15 ms later; still open at the end; \
         (8) IPv6 [2001:db8::2] -> [2001:db8::1]:443 (22 ms RTT), 300 B / 1200 B, client FIN first. \
         Plus an ARP who-has (t=0), 2 DNS queries + 2 responses (A and AAAA example.com, UDP 53) and an ICMP echo request/reply at 90 s.",
        &refs,
    )
}

fn linktype_fixtures() -> Vec<Fx> {
    let v4 = ex10_v4();
    let v6 = ex10_v6();
    let cases: Vec<(&str, Link, bool)> = vec![
        ("ethernet.pcap", Link::Eth, false),
        ("vlan.pcap", Link::Vlan(vec![(0x8100, 100)]), false),
        (
            "qinq.pcap",
            Link::Vlan(vec![(0x88a8, 200), (0x8100, 100)]),
            false,
        ),
        (
            "vlan3.pcap",
            Link::Vlan(vec![(0x8100, 300), (0x8100, 200), (0x8100, 100)]),
            false,
        ),
        ("sll.pcap", Link::Sll, false),
        ("sll2.pcap", Link::Sll2, false),
        ("raw.pcap", Link::Raw(101), false),
        ("raw12.pcap", Link::Raw(12), false),
        ("ipv4.pcap", Link::Raw(228), false),
        ("ipv6.pcap", Link::Raw(229), true),
        ("null-le.pcap", Link::Null { be: false, af6: 30 }, false),
        ("null-be.pcap", Link::Null { be: true, af6: 30 }, false),
        ("loop.pcap", Link::Loop, false),
        ("null-ipv6.pcap", Link::Null { be: false, af6: 30 }, true),
    ];
    let mut out = Vec::new();
    for (name, link, is6) in cases {
        let k = if is6 { &v6 } else { &v4 };
        let frames = k.frames(&link, BASE_NS, false);
        let desc = format!(
            "The 10-packet exchange ({}) wrapped in {}.{}",
            if is6 {
                "[2001:db8::10]:40000 -> [2001:db8::80]:80"
            } else {
                "192.0.2.10:40000 -> 192.0.2.80:80"
            },
            link.name(),
            match link {
                Link::Sll => {
                    " 16-byte header; packet type 4 (outgoing) for client->server, 0 (to us) for server->client."
                }
                Link::Sll2 => {
                    " 20-byte header; packet type 4 (outgoing) for client->server, 0 (to us) for server->client; interface index 2."
                }
                Link::Vlan(_) => " Tags listed outermost first.",
                _ => "",
            }
        );
        out.push(pcap_fx(
            &format!("linktypes/{name}"),
            PcapFmt::new(link.linktype()),
            &frames,
            &desc,
            &[],
        ));
    }
    // unsupported link type
    let frames: Vec<Frame> = (0..3u64)
        .map(|i| Frame {
            ts_ns: BASE_NS + i * 1000 * MS,
            data: (0..(20 + i as usize * 10))
                .map(|j| (j as u8).wrapping_mul(7).wrapping_add(i as u8))
                .collect(),
            kind: Kind::Undecodable,
            need: 0,
            conn: None,
            ifidx: 0,
        })
        .collect();
    out.push(pcap_fx(
        "linktypes/unsupported.pcap",
        PcapFmt::new(147),
        &frames,
        "Link type 147 (USER0): 3 records (20, 30, 40 bytes) of arbitrary bytes. A decoder should report the link type as unsupported (all 3 undecodable, or the file rejected).",
        &[],
    ));
    out
}

fn format_fixtures() -> Vec<Fx> {
    let k = ex10_v4();
    let mut out = Vec::new();
    let usec = k.frames(&Link::Eth, BASE_NS, false);
    let mut f = PcapFmt::new(1);
    f.be = true;
    out.push(pcap_fx(
        "formats/be-usec.pcap",
        f,
        &usec,
        "The 10-packet Ethernet exchange in a big-endian microsecond pcap. First packet at 1767225600.000000.",
        &[],
    ));
    let nsec = k.frames(&Link::Eth, BASE_NS + 123_456_000, true);
    let mut f = PcapFmt::new(1);
    f.nsec = true;
    out.push(pcap_fx(
        "formats/le-nsec.pcap",
        f,
        &nsec,
        "The 10-packet Ethernet exchange in a little-endian nanosecond pcap (magic a1b23c4d). First packet at 1767225600.123456789; every timestamp has non-zero sub-microsecond digits.",
        &[],
    ));
    f.be = true;
    out.push(pcap_fx(
        "formats/be-nsec.pcap",
        f,
        &nsec,
        "Same as le-nsec.pcap but big-endian.",
        &[],
    ));

    // two sections
    {
        let mut ng = Ng::new();
        ng.shb();
        ng.idb(1, 262_144, None);
        for fr in &usec[..5] {
            ng.epb(fr);
        }
        ng.shb();
        ng.idb(1, 262_144, None);
        for fr in &usec[5..] {
            ng.epb(fr);
        }
        out.push(Fx {
            path: "formats/two-sections.pcapng".into(),
            bytes: ng.buf,
            format: "pcapng LE, 2 sections (SHB 1.0 + IDB Ethernet usec each)".into(),
            desc: "The 10-packet Ethernet exchange split across two sections: packets 1-5 in section 1, 6-10 in section 2 (each section has its own IDB, interface 0).".into(),
            counts: Some(tally(&usec, usize::MAX)),
            truth: Vec::new(),
        });
    }
    // multi-interface
    {
        let mut a = k.frames(&Link::Eth, BASE_NS, false);
        let kb = ex10("ex10-b", "192.0.2.11:40001", "192.0.2.81:80", 200, 400);
        let mut b = kb.frames(&Link::Raw(101), BASE_NS + 5_000_000, true);
        for fr in &mut b {
            fr.ifidx = 1;
        }
        a.append(&mut b);
        let all = sorted(a);
        let mut ng = Ng::new();
        ng.shb();
        ng.idb(1, 262_144, None);
        ng.idb(101, 262_144, Some(9));
        for fr in &all {
            ng.epb(fr);
        }
        out.push(Fx {
            path: "formats/multi-if.pcapng".into(),
            bytes: ng.buf,
            format: "pcapng LE, 1 section, IDB 0 Ethernet (usec), IDB 1 raw IP 101 (if_tsresol=9, nsec)".into(),
            desc: "Two connections, packets interleaved in time: on interface 0 (Ethernet) the 10-packet exchange 192.0.2.10:40000 -> 192.0.2.80:80 starting at t=0; on interface 1 (raw IP, nanosecond timestamps with sub-µs digits) a 10-packet exchange 192.0.2.11:40001 -> 192.0.2.81:80 (200 B / 400 B) whose first packet is at 1767225600.005000789 (every interface-1 timestamp has non-zero sub-µs digits).".into(),
            counts: Some(tally(&all, usize::MAX)),
            truth: Vec::new(),
        });
    }
    // rotated
    let f = PcapFmt::new(1);
    out.push(pcap_fx(
        "formats/rotated-1.pcap",
        f,
        &usec[..6],
        "First file of a tcpdump -C style rotation: packets 1-6 of the 10-packet exchange.",
        &[],
    ));
    out.push(pcap_fx(
        "formats/rotated-2.pcap",
        f,
        &usec[6..],
        "Second file of the rotation: packets 7-10 (starts mid-connection with the client's ACK of the response). Read together with rotated-1.pcap: 10 packets, 1 connection.",
        &[],
    ));
    out
}

fn v4_opts(_i: usize, d: Dir) -> Vec<u8> {
    match d {
        // Router Alert (4) + Record Route with 2 empty slots (11) + EOL = 16 bytes, IHL 9
        Dir::C => vec![0x94, 4, 0, 0, 7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        // NOP, NOP, NOP, EOL + Router Alert = 8 bytes, IHL 7
        Dir::S => vec![1, 1, 1, 0, 0x94, 4, 0, 0],
    }
}

fn hbh() -> Ipv6RawExtHeader {
    // PadN with 4 zero bytes
    Ipv6RawExtHeader::new_raw(IpNumber::TCP, &[1, 4, 0, 0, 0, 0]).unwrap()
}

fn dstopts() -> Ipv6RawExtHeader {
    // PadN with 12 zero bytes (16-byte header)
    let mut p = vec![1, 12];
    p.extend_from_slice(&[0; 12]);
    Ipv6RawExtHeader::new_raw(IpNumber::TCP, &p).unwrap()
}

fn routing0() -> Ipv6RawExtHeader {
    // type 0, segments left 0, reserved, one address
    let mut p = vec![0, 0, 0, 0, 0, 0];
    p.extend_from_slice(&ipv6_of(ip("2001:db8::99")));
    Ipv6RawExtHeader::new_raw(IpNumber::TCP, &p).unwrap()
}

/// Which IPv6 extension headers each packet of the exchange carries.
fn v6_ext(i: usize, _d: Dir) -> Ipv6Extensions {
    let mut e = Ipv6Extensions::default();
    match i {
        0 | 8 => e.hop_by_hop_options = Some(hbh()),
        1 | 7 => e.destination_options = Some(dstopts()),
        3 => {
            e.hop_by_hop_options = Some(hbh());
            e.routing = Some(Ipv6RoutingExtensions {
                routing: routing0(),
                final_destination_options: Some(dstopts()),
            });
        }
        4 => {
            e.routing = Some(Ipv6RoutingExtensions {
                routing: routing0(),
                final_destination_options: None,
            })
        }
        5 => {
            e.hop_by_hop_options = Some(hbh());
            e.destination_options = Some(dstopts());
        }
        _ => {}
    }
    e
}

fn frag_frame(t_ns: u64, ipb: Vec<u8>, src: IpAddr, dst: IpAddr) -> Frame {
    let data = eth_ip_frame(&ipb, src, dst);
    Frame {
        ts_ns: t_ns,
        data,
        kind: Kind::Fragment,
        need: 0,
        conn: None,
        ifidx: 0,
    }
}

/// Splits the IPv4 payload `l4` into fragments at the given byte offsets.
fn v4_fragments(
    src: IpAddr,
    dst: IpAddr,
    proto: IpNumber,
    id: u16,
    l4: &[u8],
    cuts: &[usize],
) -> Vec<Vec<u8>> {
    let mut bounds = vec![0];
    bounds.extend_from_slice(cuts);
    bounds.push(l4.len());
    let mut out = Vec::new();
    for w in bounds.windows(2) {
        let (a, b) = (w[0], w[1]);
        assert!(a % 8 == 0);
        let mut h = Ipv4Header::new((b - a) as u16, 64, proto, ipv4_of(src), ipv4_of(dst)).unwrap();
        h.identification = id;
        h.more_fragments = b < l4.len();
        h.fragment_offset = IpFragOffset::try_new((a / 8) as u16).unwrap();
        h.header_checksum = h.calc_header_checksum();
        let mut v = h.to_bytes().to_vec();
        v.extend_from_slice(&l4[a..b]);
        out.push(v);
    }
    out
}

/// The 10-packet exchange through each tunnel synack opens, through tunnels nested two
/// and four deep, and in 802.3 LLC/SNAP and FDDI frames.
fn tunnel_fixtures() -> Vec<Fx> {
    use Encap::*;
    let (v4, v6) = (ex10_v4(), ex10_v6());
    let cases: Vec<(&str, Link, bool)> = vec![
        ("tunnel-gre.pcap", Link::Tunnel(vec![Gre]), false),
        (
            "tunnel-gre-ethernet.pcap",
            Link::Tunnel(vec![GreEthernet]),
            false,
        ),
        ("tunnel-erspan2.pcap", Link::Tunnel(vec![Erspan2]), false),
        ("tunnel-erspan3.pcap", Link::Tunnel(vec![Erspan3]), false),
        ("tunnel-pptp.pcap", Link::Tunnel(vec![Pptp]), false),
        ("tunnel-gre-udp.pcap", Link::Tunnel(vec![GreUdp]), false),
        ("tunnel-vxlan.pcap", Link::Tunnel(vec![Vxlan]), false),
        ("tunnel-geneve.pcap", Link::Tunnel(vec![Geneve]), false),
        ("tunnel-teredo.pcap", Link::Tunnel(vec![Teredo]), true),
        ("tunnel-ipip.pcap", Link::Tunnel(vec![IpInIp]), false),
        ("tunnel-6in4.pcap", Link::Tunnel(vec![IpInIp]), true),
        ("tunnel-gtpu.pcap", Link::Tunnel(vec![GtpU]), false),
        ("tunnel-ayiya.pcap", Link::Tunnel(vec![Ayiya]), true),
        ("tunnel-nested.pcap", Link::Tunnel(vec![Gre, Vxlan]), false),
        ("tunnel-too-deep.pcap", Link::Tunnel(vec![IpInIp; 4]), false),
        ("llc-snap.pcap", Link::Llc, false),
        ("fddi.pcap", Link::Fddi, false),
    ];
    let mut out = Vec::new();
    for (name, link, is6) in cases {
        let k = if is6 { &v6 } else { &v4 };
        let mut frames = k.frames(&link, BASE_NS, false);
        let too_deep = matches!(&link, Link::Tunnel(e) if e.len() > 3);
        if too_deep {
            for f in &mut frames {
                f.kind = Kind::Undecodable;
                f.conn = None;
            }
        }
        let desc = format!(
            "The 10-packet exchange ({}) wrapped in {}.{}",
            if is6 {
                "[2001:db8::10]:40000 -> [2001:db8::80]:80"
            } else {
                "192.0.2.10:40000 -> 192.0.2.80:80"
            },
            link.name(),
            if too_deep {
                " Four tunnels deep, one more than synack opens: every packet undecodable (tshark opens them all: 10 TCP)."
            } else {
                ""
            }
        );
        out.push(pcap_fx(
            &format!("decode/{name}"),
            PcapFmt::new(link.linktype()),
            &frames,
            &desc,
            &[],
        ));
    }
    out
}

fn decode_fixtures() -> Vec<Fx> {
    let mut out = Vec::new();
    // IPv4 options
    {
        let mut k = ex10_v4();
        k.v4opts = Some(v4_opts);
        let frames = k.frames(&Link::Eth, BASE_NS, false);
        out.push(pcap_fx(
            "decode/ipv4-options.pcap",
            PcapFmt::new(1),
            &frames,
            "The 10-packet exchange where every IPv4 header carries options: client->server packets have Router Alert + Record Route (2 empty slots) + EOL = 16 option bytes (IHL 9); server->client packets have NOP,NOP,NOP,EOL + Router Alert = 8 bytes (IHL 7).",
            &[],
        ));
    }
    // IPv6 extension headers
    {
        let mut k = ex10_v6();
        k.v6ext = Some(v6_ext);
        let frames = k.frames(&Link::Eth, BASE_NS, false);
        out.push(pcap_fx(
            "decode/ipv6-ext.pcap",
            PcapFmt::new(1),
            &frames,
            "The 10-packet exchange over IPv6 ([2001:db8::10]:40000 -> [2001:db8::80]:80). Extension headers before TCP, by packet number: 1 (SYN) hop-by-hop; 2 (SYN/ACK) destination options; 3 none; 4 (client data) hop-by-hop + routing (type 0, segments left 0) + destination options; 5 routing; 6 (server data) hop-by-hop + destination options; 7 none; 8 (client FIN) destination options; 9 (server FIN) hop-by-hop; 10 none. 7 of 10 packets carry extension headers.",
            &[],
        ));
    }
    // fragments
    {
        let mut frames = Vec::new();
        let (s4, d4) = (ip("192.0.2.10"), ip("192.0.2.53"));
        // IPv4 UDP datagram: 8 + 100 bytes, split at 40 and 80 -> 3 fragments
        let payload: Vec<u8> = (0..100u8).map(|i| b'0' + i % 10).collect();
        let mut full = Vec::new();
        PacketBuilder::ipv4(ipv4_of(s4), ipv4_of(d4), 64)
            .udp(40053, 9999)
            .write(&mut full, &payload)
            .unwrap();
        let l4 = &full[20..];
        for (j, f) in v4_fragments(s4, d4, IpNumber::UDP, 0x4242, l4, &[40, 80])
            .into_iter()
            .enumerate()
        {
            frames.push(frag_frame(BASE_NS + j as u64 * 10_000, f, s4, d4));
        }
        // IPv6 UDP datagram in 2 fragments via fragment header
        let (s6, d6) = (ip("2001:db8::10"), ip("2001:db8::53"));
        let payload6: Vec<u8> = (0..120u8).map(|i| b'a' + i % 26).collect();
        let mut full6 = Vec::new();
        PacketBuilder::ipv6(ipv6_of(s6), ipv6_of(d6), 64)
            .udp(40054, 9999)
            .write(&mut full6, &payload6)
            .unwrap();
        let l4 = &full6[40..];
        for (j, (a, b)) in [(0usize, 64usize), (64, l4.len())].into_iter().enumerate() {
            let mut h = ipv6_header(s6, d6, 0x12345);
            h.next_header = IpNumber::IPV6_FRAGMENTATION_HEADER;
            h.payload_length = (8 + b - a) as u16;
            let fh = Ipv6FragmentHeader::new(
                IpNumber::UDP,
                IpFragOffset::try_new((a / 8) as u16).unwrap(),
                b < l4.len(),
                0xdead_beef,
            );
            let mut v = h.to_bytes().to_vec();
            v.extend_from_slice(&fh.to_bytes());
            v.extend_from_slice(&l4[a..b]);
            frames.push(frag_frame(
                BASE_NS + 100 * MS * 1000 + j as u64 * 10_000,
                v,
                s6,
                d6,
            ));
        }
        // IPv4 TCP segment in 2 fragments; the 2nd fragment starts with bytes
        // that look like a TCP header with SYN set.
        let (st, dt) = (ip("192.0.2.10"), ip("192.0.2.80"));
        let mut tp = vec![b'X', b'Y', b'Z', b'W'];
        let mut fake = TcpHeader::new(40000, 80, 0x1122_3344, 64240);
        fake.syn = true;
        tp.extend_from_slice(&fake.to_bytes());
        tp.extend((0..20u8).map(|i| b'a' + i));
        let mut tcp = TcpHeader::new(40000, 80, 0x1234_5679, 502);
        tcp.ack = true;
        tcp.psh = true;
        tcp.acknowledgment_number = 0x9abc_def1;
        let mut full = Vec::new();
        PacketBuilder::ipv4(ipv4_of(st), ipv4_of(dt), 64)
            .tcp_header(tcp)
            .write(&mut full, &tp)
            .unwrap();
        let l4 = &full[20..];
        for (j, f) in v4_fragments(st, dt, IpNumber::TCP, 0x4343, l4, &[24])
            .into_iter()
            .enumerate()
        {
            frames.push(frag_frame(
                BASE_NS + 200 * MS * 1000 + j as u64 * 10_000,
                f,
                st,
                dt,
            ));
        }
        out.push(pcap_fx(
            "decode/fragments.pcap",
            PcapFmt::new(1),
            &frames,
            "7 IP fragments, no unfragmented packet: (a) packets 1-3: one IPv4 UDP datagram 192.0.2.10:40053 -> 192.0.2.53:9999 (108 B UDP incl. header, id 0x4242) in 3 fragments at offsets 0, 40, 80; (b) packets 4-5: one IPv6 UDP datagram [2001:db8::10]:40054 -> [2001:db8::53]:9999 (128 B UDP) in 2 fragments (fragment header, id 0xdeadbeef) at offsets 0 and 64; (c) packets 6-7: one IPv4 TCP PSH/ACK segment 192.0.2.10:40000 -> 192.0.2.80:80 with 44 B payload (id 0x4343) in 2 fragments: offset 0 (TCP header + 4 bytes) and offset 24, whose first 20 bytes look like a TCP header 40000->80 with SYN set. Without reassembly: 0 TCP, 0 UDP, 0 connections (the first fragments of (a),(b),(c) do carry the real UDP/TCP header; a decoder that classifies offset-0 fragments by their header would see 2 UDP + 1 TCP, but never a SYN). With reassembly: 2 UDP datagrams and 1 TCP segment (mid-stream, no SYN).",
            &[],
        ));
    }
    // snaplen
    {
        let k = ex10("ex10-snap", "192.0.2.10:40000", "192.0.2.80:80", 500, 1200);
        let frames = k.frames(&Link::Eth, BASE_NS, false);
        let mut f = PcapFmt::new(1);
        f.snaplen = 54;
        out.push(pcap_fx(
            "decode/snaplen.pcap",
            f,
            &frames,
            "Snaplen 54 on Ethernet: the 10-packet exchange (SYN and SYN/ACK with 20 bytes of TCP options MSS,SACK_PERM,TS,NOP,WS; the other packets with 12 bytes NOP,NOP,TS; data segments of 500 and 1200 bytes). Every record is cut to 54 bytes (Ethernet + IPv4 + the 20-byte fixed TCP header; options and payload missing); orig_len is the true length. Payload sizes must come from the IP total length: 500 B C->S, 1200 B S->C.",
            &[],
        ));
        let mut f = PcapFmt::new(1);
        f.snaplen = 40;
        out.push(pcap_fx(
            "decode/snaplen-short.pcap",
            f,
            &frames[..2],
            "Snaplen 40 on Ethernet: the SYN and SYN/ACK of the exchange cut to 40 bytes, i.e. only 6 bytes of the TCP header (ports + half the sequence number). Both must count as truncated/undecodable, not as TCP.",
            &[],
        ));
    }
    // mixed
    {
        let mut frames = Vec::new();
        let t = |ms_: u64| BASE_NS + ms_ * 1_000_000;
        let mut k = Conn::new(
            "mixed-tcp",
            "10.0.0.2:40100",
            "10.0.0.1:80",
            0x3000_0000,
            0x3100_0000,
        );
        hs(&mut k, 0, 1000);
        k.c(5 * MS, "RA", 1, 1, 0);
        frames.extend(k.frames(&Link::Eth, BASE_NS, false));
        let q = dns_msg(0x5555, "example.org", 1, None);
        let r = dns_msg(0x5555, "example.org", 1, Some(&[192, 0, 2, 35]));
        frames.push(udp_frame(t(10), "10.0.0.2:53100", "10.0.0.1:53", &q));
        frames.push(udp_frame(t(11), "10.0.0.1:53", "10.0.0.2:53100", &r));
        frames.push(icmp_echo(t(20), CLI, SRV, false, 7, 1));
        frames.push(icmp_echo(t(21), SRV, CLI, true, 7, 1));
        frames.push(icmp_echo(t(30), "2001:db8::2", "2001:db8::1", false, 8, 1));
        frames.push(icmp_echo(t(31), "2001:db8::1", "2001:db8::2", true, 8, 1));
        frames.push(arp_frame(t(40), false, CLI, SRV));
        frames.push(arp_frame(t(41), true, SRV, CLI));
        // GRE (IPv4 protocol 47) carrying an opaque 0x88b5 payload
        let mut gre = vec![0, 0, 0x88, 0xb5];
        gre.extend(std::iter::repeat_n(0x5a, 32));
        let mut ipb = Vec::new();
        PacketBuilder::ipv4([10, 0, 0, 2], [10, 0, 0, 1], 64)
            .write(&mut ipb, IpNumber::GRE, &gre)
            .unwrap();
        let data = eth_ip_frame(&ipb, ip(CLI), ip(SRV));
        frames.push(Frame {
            ts_ns: t(50),
            data,
            kind: Kind::Other,
            need: 0,
            conn: None,
            ifidx: 0,
        });
        // unknown ethertype 0x88b5
        let body: Vec<u8> = (0..46u8).collect();
        frames.push(Frame {
            ts_ns: t(60),
            data: eth(mac_of(ip(SRV)), mac_of(ip(CLI)), 0x88b5, &body),
            kind: Kind::Other,
            need: 0,
            conn: None,
            ifidx: 0,
        });
        // bad IPv4 header: version 4, IHL 3
        let mut bad = Vec::new();
        PacketBuilder::ipv4([10, 0, 0, 2], [10, 0, 0, 1], 64)
            .udp(40200, 9)
            .write(&mut bad, b"bad ihl")
            .unwrap();
        bad[0] = 0x43;
        frames.push(Frame {
            ts_ns: t(70),
            data: eth_ip_frame(&bad, ip(CLI), ip(SRV)),
            kind: Kind::Undecodable,
            need: 0,
            conn: None,
            ifidx: 0,
        });
        out.push(pcap_fx(
            "decode/mixed.pcap",
            PcapFmt::new(1),
            &frames,
            "Ethernet, 15 packets in this order: 4 TCP (10.0.0.2:40100 -> 10.0.0.1:80 SYN, SYN/ACK, ACK, client RST/ACK; 1 connection), 2 UDP (DNS query/response), 2 ICMPv4 (echo request/reply), 2 ICMPv6 (echo request/reply 2001:db8::2 <-> ::1), 2 ARP (request/reply), 1 IPv4 protocol 47 GRE (payload type 0x88b5, not decoded further), 1 frame of unknown ethertype 0x88b5, 1 IPv4 frame with a bad header (version 4, IHL 3; otherwise a UDP packet). In the counts: ICMP = 4 (v4+v6); other = 4 (2 ARP + 1 unknown ethertype (non-IP) + 1 GRE (IP, other protocol)); undecodable = 1 (the IHL-3 frame).",
            &[],
        ));
    }
    out
}

fn bad_fixtures() -> Vec<Fx> {
    let k = ex10_v4();
    let fr = k.frames(&Link::Eth, BASE_NS, false);
    let f = PcapFmt::new(1);
    let mut out = Vec::new();
    let five = tally(&fr[..5], usize::MAX);
    let four = tally(&fr[..4], usize::MAX);
    let two = tally(&fr[..2], usize::MAX);

    let mut b = write_pcap(&f, &fr[..5]);
    pcap_record_header(&mut b, &f, fr[5].ts_ns, 100, 100);
    b.extend_from_slice(&fr[5].data[..30]);
    out.push(Fx {
        counts: Some(five),
        ..Fx::raw(
            "bad/truncated-record.pcap",
            b,
            &f.describe(),
            "5 good packets (the first 5 of the exchange), then a record header claiming incl_len = orig_len = 100 but the file ends after 30 data bytes. Expect 5 packets and a truncation error/warning.",
        )
    });
    let mut b = write_pcap(&f, &fr[..5]);
    let mut h = Vec::new();
    pcap_record_header(&mut h, &f, fr[5].ts_ns, 74, 74);
    b.extend_from_slice(&h[..7]);
    out.push(Fx {
        counts: Some(five),
        ..Fx::raw(
            "bad/truncated-header.pcap",
            b,
            &f.describe(),
            "5 good packets, then only 7 bytes of a 16-byte record header. Expect 5 packets and a truncation error/warning.",
        )
    });
    let mut b = write_pcap(&f, &fr[..4]);
    pcap_record_header(&mut b, &f, fr[4].ts_ns, 0x5000_0000, 0x5000_0000);
    b.extend((0..64u32).map(|i| [0xde, 0xad, 0xbe, 0xef][(i % 4) as usize]));
    out.push(Fx {
        counts: Some(four),
        ..Fx::raw(
            "bad/corrupt-record.pcap",
            b,
            &f.describe(),
            "4 good packets, then a record header with incl_len = orig_len = 0x50000000 (far above the 262144 snaplen) followed by 64 bytes of 0xdeadbeef junk. Expect 4 packets and a corrupt-record error (must not try to allocate 1.25 GiB).",
        )
    });
    out.push(Fx::raw(
        "bad/not-a-capture.txt",
        b"This is not a packet capture.\nIt is a plain text file used to test error handling.\nsynack should refuse it with a clear message.\n".to_vec(),
        "text",
        "Three lines of plain text. Expect 'not a pcap/pcapng file' style error.",
    ));
    out.push(Fx::raw(
        "bad/empty-file.pcap",
        Vec::new(),
        "0 bytes",
        "Empty file. Expect an error (or 0 packets with a warning).",
    ));
    // snaplen 65535 keeps this file distinct from tcpdump's own empty.pcap (262144).
    let mut fh = f;
    fh.snaplen = 65535;
    out.push(Fx {
        counts: Some(Counts::default()),
        ..Fx::raw(
            "bad/header-only.pcap",
            pcap_header(&fh),
            &fh.describe(),
            "A valid 24-byte pcap header (LE usec, snaplen 65535, linktype 1) and no packets. Expect 0 packets, no error.",
        )
    });
    let mut fv = f;
    fv.version = (3, 1);
    out.push(Fx {
        counts: Some(two),
        ..Fx::raw(
            "bad/bad-version.pcap",
            write_pcap(&fv, &fr[..2]),
            &fv.describe(),
            "pcap magic a1b2c3d4 (LE) with version 3.1, followed by 2 otherwise valid records (SYN, SYN/ACK). libpcap/tshark reject the file (unsupported version); counts shown are for a lenient reader.",
        )
    });
    let mut ng = Ng::new();
    ng.shb();
    ng.idb(1, 262_144, None);
    ng.epb(&fr[0]);
    ng.epb(&fr[1]);
    ng.buf.extend_from_slice(&6u32.to_le_bytes());
    ng.buf.extend_from_slice(&12_345_678u32.to_le_bytes());
    ng.buf.extend((0..16u8).map(|i| i.wrapping_mul(17)));
    out.push(Fx {
        counts: Some(two),
        ..Fx::raw(
            "bad/bad-pcapng-block.pcapng",
            ng.buf,
            "pcapng LE, SHB + IDB (Ethernet, usec)",
            "Valid SHB + IDB + 2 EPBs (SYN, SYN/ACK), then an EPB block header whose total length field is 12345678 (far beyond the end of the file) followed by 16 bytes. Expect 2 packets and a truncation/corrupt-block error.",
        )
    });
    out
}

/// Cases real captures hold that the tracker once got wrong (issue 20). Their expected
/// figures are asserted by tests/edges.rs, not derived by `truth` (whose simple model
/// does not know these rules), so they have no row in the truth tables.
fn edge_fixtures() -> Vec<(&'static str, &'static str, Vec<Conn>)> {
    let mut v: Vec<(&'static str, &'static str, Vec<Conn>)> = Vec::new();
    let c = |p: u16| format!("{CLI}:{p}");
    let s = |p: u16| format!("{SRV}:{p}");
    {
        let mut k = Conn::new(
            "rst-unacceptable-ack",
            &c(40041),
            &s(80),
            0x4100_0000,
            0x4200_0000,
        );
        k.c(0, "S", 0, 0, 0);
        // A stale ACK from the server's previous connection on this 4-tuple.
        k.s(20 * MS, "A", 0x0100_0000, 777, 0);
        k.c(20 * MS + 100, "R", 777, 0, 0);
        k.c(SEC, "S", 0, 0, 0);
        k.s(SEC + 20 * MS, "SA", 0, 1, 0);
        k.c(SEC + 40 * MS, "A", 1, 1, 0);
        k.c(SEC + 40 * MS + 100, "PA", 1, 1, 100);
        k.s(SEC + 60 * MS, "PA", 1, 101, 200);
        k.c(SEC + 80 * MS, "FA", 101, 201, 0);
        k.s(SEC + 100 * MS, "FA", 201, 102, 0);
        k.c(SEC + 120 * MS, "A", 102, 202, 0);
        v.push((
            "rst-unacceptable-ack.pcap",
            "SYN answered by a stale ACK (another connection's sequence space); the client resets it with <SEQ=SEG.ACK><CTL=RST> and stays in SYN-SENT (RFC 9293 §3.10.7.3), resends its SYN after 1 s, which is answered; 100 B / 200 B, FIN close. Expected: close fin, anomaly rst_for_unacceptable_ack 1, client retransmissions 1 (the SYN), server 0.",
            vec![k],
        ));
    }
    {
        let mut k = Conn::new(
            "spurious-long-rtt",
            &c(40042),
            &s(80),
            0x4300_0000,
            0x4400_0000,
        );
        hs(&mut k, 0, 2 * SEC);
        let t = 2 * SEC + 60;
        k.c(t + 100, "PA", 1, 1, 100);
        k.s(t + 300 * MS, "A", 1, 101, 0);
        // Resent 100 ms after the ACK, well within the 2 s RTT.
        k.c(t + 400 * MS, "PA", 1, 1, 100);
        k.s(t + 500 * MS, "A", 1, 101, 0);
        k.c(t + 600 * MS, "FA", 101, 1, 0);
        k.s(t + 700 * MS, "FA", 1, 102, 0);
        k.c(t + 800 * MS, "A", 102, 2, 0);
        v.push((
            "spurious-long-rtt.pcap",
            "Handshake with a 2 s RTT; 100 B acknowledged, then resent 100 ms later (within the RTT that tshark takes for reordering): a spurious retransmission, never out-of-order. Expected: client retransmissions 1, out_of_order 0.",
            vec![k],
        ));
    }
    {
        let mut k = Conn::new(
            "overlap-new-data",
            &c(40043),
            &s(80),
            0x4500_0000,
            0x4600_0000,
        );
        hs(&mut k, 0, 10 * MS);
        let t = 10 * MS + 60;
        k.c(t + 100, "PA", 1, 1, 100);
        k.s(t + 10 * MS, "A", 1, 101, 0);
        // The last byte again, then 49 new ones: seq = next - 1, 50 bytes.
        k.c(t + 500 * MS, "PA", 100, 1, 50);
        k.s(t + 510 * MS, "A", 1, 150, 0);
        k.c(t + 600 * MS, "FA", 150, 1, 0);
        k.s(t + 610 * MS, "FA", 1, 151, 0);
        k.c(t + 620 * MS, "A", 151, 2, 0);
        v.push((
            "overlap-new-data.pcap",
            "100 B, then a 50 B segment starting one byte before the next sequence number (tshark's exception: new data, neither keep-alive nor retransmission). Expected: retransmissions 0, keepalive probes 0.",
            vec![k],
        ));
    }
    {
        let mut k = Conn::new("synack-missed", &c(40044), &s(80), 0x4700_0000, 0x4800_0000);
        k.c(0, "S", 0, 0, 0);
        // The SYN/ACK is not in the capture.
        k.c(20 * MS, "A", 1, 1, 0);
        k.c(20 * MS + 100, "PA", 1, 1, 100);
        k.s(40 * MS, "PA", 1, 101, 200);
        k.c(60 * MS, "A", 101, 201, 0);
        v.push((
            "synack-missed.pcap",
            "SYN seen, SYN/ACK missed, then the client's ACK and data both ways, no close: the SYN was answered. Expected: close open (not unanswered), handshake completed.",
            vec![k],
        ));
    }
    {
        let mut k = Conn::new(
            "starts-at-synack",
            &c(40045),
            &s(80),
            0x4900_0000,
            0x4a00_0000,
        );
        k.s(0, "SA", 0, 1, 0);
        k.c(20 * MS, "A", 1, 1, 0);
        k.c(20 * MS + 100, "PA", 1, 1, 100);
        k.s(40 * MS, "PA", 1, 101, 200);
        k.c(60 * MS, "A", 101, 201, 0);
        v.push((
            "starts-at-synack.pcap",
            "The capture begins at the SYN/ACK; the client's ACK and data both ways follow, no close: the client was in SYN-SENT. Expected: close open (not handshake_incomplete), handshake completed.",
            vec![k],
        ));
    }
    {
        let mut k = Conn::new(
            "rst-out-of-window",
            &c(40046),
            &s(80),
            0x4b00_0000,
            0x4c00_0000,
        );
        hs(&mut k, 0, 10 * MS);
        let t = 10 * MS + 60;
        k.c(t + 100, "PA", 1, 1, 100);
        k.s(t + 10 * MS, "PA", 1, 101, 200);
        k.c(t + 20 * MS, "A", 101, 201, 0);
        // Injected: 1 GB beyond the client's window.
        k.s(t + 30 * MS, "R", 0x4000_0000, 0, 0);
        k.c(t + 40 * MS, "PA", 101, 201, 100);
        k.s(t + 50 * MS, "A", 201, 201, 0);
        k.c(t + 60 * MS, "FA", 201, 201, 0);
        k.s(t + 70 * MS, "FA", 201, 202, 0);
        k.c(t + 80 * MS, "A", 202, 202, 0);
        v.push((
            "rst-out-of-window.pcap",
            "Data both ways, then a RST from the server's address whose sequence number is 1 GB outside the client's window (RFC 5961 §3.2: not acceptable), then more data and a FIN close. Expected: close fin, anomaly rst_out_of_window 1, server rsts 1.",
            vec![k],
        ));
    }
    v
}

fn all_fixtures() -> Vec<Fx> {
    let mut v = vec![sample_pcap()];
    v.extend(linktype_fixtures());
    v.extend(format_fixtures());
    v.extend(decode_fixtures());
    v.extend(tunnel_fixtures());
    v.extend(bad_fixtures());
    v.extend(archive_fixtures());
    let tcp = tcp_fixtures().into_iter().map(|f| ("tcp", f, true));
    let app = app_fixtures().into_iter().map(|f| ("app", f, true));
    let edge = edge_fixtures().into_iter().map(|f| ("edge", f, false));
    for (dir, (name, desc, conns), with_truth) in tcp.chain(app).chain(edge) {
        let mut frames = Vec::new();
        for k in &conns {
            frames.extend(k.frames(&Link::Eth, BASE_NS, false));
        }
        let frames = sorted(frames);
        let refs: Vec<&Conn> = conns.iter().filter(|_| with_truth).collect();
        v.push(pcap_fx(
            &format!("{dir}/{name}"),
            PcapFmt::new(1),
            &frames,
            desc,
            &refs,
        ));
    }
    v
}

// ---------------------------------------------------------------------------
// Archives: rotated sets, compressed (tests/archives.rs, contrib/spark)
// ---------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum Pack {
    Plain,
    /// gzip in two members (the file's bytes split in half), as `cat a.gz b.gz` makes.
    Gzip2,
    Zstd,
    Lz4,
    Xz,
}

impl Pack {
    fn name(self) -> &'static str {
        match self {
            Pack::Plain => "uncompressed",
            Pack::Gzip2 => "gzip (two members)",
            Pack::Zstd => "zstd",
            Pack::Lz4 => "lz4 frame",
            Pack::Xz => "xz",
        }
    }

    /// The bytes compressed as the command-line tools do by default (checksums on);
    /// every encoder is deterministic (gzip's header time is 0).
    fn apply(self, bytes: &[u8]) -> Vec<u8> {
        use std::io::Write;
        match self {
            Pack::Plain => bytes.to_vec(),
            Pack::Gzip2 => {
                let half = bytes.len() / 2;
                let mut out = Vec::new();
                for part in [&bytes[..half], &bytes[half..]] {
                    let mut e = flate2::GzBuilder::new()
                        .mtime(0)
                        .write(Vec::new(), flate2::Compression::default());
                    e.write_all(part).unwrap();
                    out.extend(e.finish().unwrap());
                }
                out
            }
            Pack::Zstd => {
                let mut e = zstd::Encoder::new(Vec::new(), 3).unwrap();
                e.include_checksum(true).unwrap();
                e.write_all(bytes).unwrap();
                e.finish().unwrap()
            }
            Pack::Lz4 => {
                let info = lz4_flex::frame::FrameInfo::new().content_checksum(true);
                let mut e = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
                e.write_all(bytes).unwrap();
                e.finish().unwrap()
            }
            Pack::Xz => {
                let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
                e.write_all(bytes).unwrap();
                e.finish().unwrap()
            }
        }
    }
}

/// One sensor's day of traffic, 10.x.0.2.. clients to 10.x.0.1, starting `day` days
/// after the fixtures' base time: every kind of ending, and connections that last
/// across the rotations.
fn archive_conns(net: u8, day: u64) -> Vec<Conn> {
    let t0 = day * 86_400 * SEC;
    let cli = |host: u8, port: u16| format!("10.{net}.0.{host}:{port}");
    let srv = |port: u16| format!("10.{net}.0.1:{port}");
    let isn = |i: u32| 0x3000_0000 + (u32::from(net) << 20) + (day as u32) * 0x10_0000 + i * 0x1000;
    let mut v = Vec::new();

    // A short exchange, client closes.
    let mut k = ex10("fin", &cli(2, 42000), &srv(443), 120, 900);
    k.c_isn = isn(1);
    k.s_isn = isn(2);
    v.push(k.at(t0 + 100 * MS));

    // A long one across every rotation: a request each second, one retransmitted, then
    // a server-first close.
    let mut k = Conn::new("long", &cli(2, 42001), &srv(443), isn(3), isn(4)).at(t0 + 200 * MS);
    hs(&mut k, 0, 2 * MS);
    let (mut cs, mut ss) = (1u32, 1u32);
    for i in 0..6u64 {
        let t = 10 * MS + i * SEC;
        k.c(t, "PA", cs, ss, 200);
        if i == 2 {
            k.c(t + 300 * MS, "PA", cs, ss, 200);
        }
        let ta = if i == 2 { t + 302 * MS } else { t + 2 * MS };
        k.s(ta, "PA", ss, cs + 200, 1000);
        k.c(ta + 100, "A", cs + 200, ss + 1000, 0);
        cs += 200;
        ss += 1000;
    }
    let t = 6 * SEC + 100 * MS;
    k.s(t, "FA", ss, cs, 0);
    k.c(t + 2 * MS, "FA", cs, ss + 1, 0);
    k.s(t + 4 * MS, "A", ss + 1, cs + 1, 0);
    v.push(k);

    // Refused twice by the same server port.
    for (i, at) in [(5u32, 1_500u64), (6, 3_500)] {
        let mut k =
            Conn::new("refused", &cli(3, 42000 + i as u16), &srv(8080), isn(i), 0).at(t0 + at * MS);
        k.c(0, "S", 0, 0, 0);
        k.s(300, "RA", 0, 1, 0);
        v.push(k);
    }

    // A SYN never answered, retransmitted after 1 s.
    let mut k = Conn::new("unanswered", &cli(4, 42010), &srv(9000), isn(7), 0).at(t0 + 2_500 * MS);
    k.c(0, "S", 0, 0, 0);
    k.c(SEC, "S", 0, 0, 0);
    v.push(k);

    // Reset by the server mid-stream.
    let mut k = Conn::new("reset", &cli(5, 42020), &srv(443), isn(8), isn(9)).at(t0 + 3_000 * MS);
    hs(&mut k, 0, 3 * MS);
    k.c(3 * MS + 200, "PA", 1, 1, 300);
    k.s(6 * MS, "RA", 1, 301, 0);
    v.push(k);

    // Idle after its request, a keep-alive probe ACKed in the next file, then a close.
    let mut k =
        Conn::new("keepalive", &cli(6, 42030), &srv(22), isn(10), isn(11)).at(t0 + 1_000 * MS);
    hs(&mut k, 0, 4 * MS);
    k.c(4 * MS + 200, "PA", 1, 1, 64);
    k.s(8 * MS, "PA", 1, 65, 128);
    k.c(8 * MS + 100, "A", 65, 129, 0);
    k.c(3_600 * MS, "A", 64, 129, 0);
    k.s(3_604 * MS, "A", 129, 65, 0);
    k.c(4_500 * MS, "FA", 65, 129, 0);
    k.s(4_504 * MS, "FA", 129, 66, 0);
    k.c(4_504 * MS + 100, "A", 66, 130, 0);
    v.push(k);
    v
}

/// The frames of `conns` cut into files at the times `cuts` (µs after `t0`), as
/// `tcpdump -G` rotates: each file holds the packets from its cut to the next.
fn rotate(conns: &[Conn], t0: u64, cuts: &[u64]) -> Vec<Vec<Frame>> {
    let mut frames = Vec::new();
    for k in conns {
        frames.extend(k.frames(&Link::Eth, BASE_NS, false));
    }
    let frames = sorted(frames);
    let mut files = vec![Vec::new(); cuts.len() + 1];
    for f in frames {
        let t = (f.ts_ns - BASE_NS) / 1000 - t0;
        files[cuts.iter().filter(|&&c| t >= c).count()].push(f);
    }
    files
}

/// `trace.pcap`, `trace.pcap1`, …: tcpdump -C's names.
fn rotated_name(i: usize) -> String {
    if i == 0 {
        "trace.pcap".into()
    } else {
        format!("trace.pcap{i}")
    }
}

fn archive_fixtures() -> Vec<Fx> {
    let f = PcapFmt::new(1);
    let mut out = Vec::new();
    let mut set = |dir: &str, conns: Vec<Conn>, t0: u64, packs: &[Pack], what: &str| {
        let files = rotate(&conns, t0, &[2 * SEC, 4 * SEC]);
        let refs: Vec<&Conn> = conns.iter().collect();
        for (i, frames) in files.iter().enumerate() {
            let pack = packs[i % packs.len()];
            let ext = match pack {
                Pack::Plain => "",
                Pack::Gzip2 => ".gz",
                Pack::Zstd => ".zst",
                Pack::Lz4 => ".lz4",
                Pack::Xz => ".xz",
            };
            let mut fx = pcap_fx(
                &format!("archive/{dir}/{}{ext}", rotated_name(i)),
                PcapFmt::new(1),
                frames,
                &format!(
                    "{what}, file {} of 3 (rotated at 2 s and 4 s), {}.",
                    i + 1,
                    pack.name()
                ),
                if i == 0 { &refs } else { &[] },
            );
            fx.bytes = pack.apply(&fx.bytes);
            fx.format = format!("{}, {}", f.describe(), pack.name());
            out.push(fx);
        }
    };
    set(
        "sensor-a/2026-01-01",
        archive_conns(1, 0),
        0,
        &[Pack::Plain],
        "Sensor a, day 1: a FIN close, a connection lasting across both rotations (one retransmission, server-first close), two refusals, an unanswered SYN, a reset, a keep-alive probe across a rotation",
    );
    set(
        "sensor-a/2026-01-02",
        archive_conns(1, 1),
        86_400 * SEC,
        &[Pack::Gzip2],
        "Sensor a, day 2: the same traffic a day later",
    );
    set(
        "sensor-b/2026-01-01",
        archive_conns(2, 0),
        0,
        &[Pack::Zstd, Pack::Lz4, Pack::Xz],
        "Sensor b, day 1: the same traffic on other addresses, each file compressed another way",
    );
    // Sensor a's day 1 in each compression, under the same names (known by content).
    for (dir, pack) in [
        ("gzip", Pack::Gzip2),
        ("zstd", Pack::Zstd),
        ("lz4", Pack::Lz4),
        ("xz", Pack::Xz),
    ] {
        let conns = archive_conns(1, 0);
        let files = rotate(&conns, 0, &[2 * SEC, 4 * SEC]);
        for (i, frames) in files.iter().enumerate() {
            let mut fx = pcap_fx(
                &format!("archive/compressed/{dir}/{}", rotated_name(i)),
                PcapFmt::new(1),
                frames,
                &format!(
                    "`archive/sensor-a/2026-01-01/{}`, {}.",
                    rotated_name(i),
                    pack.name()
                ),
                &[],
            );
            fx.bytes = pack.apply(&fx.bytes);
            fx.format = format!("{}, {}", f.describe(), pack.name());
            out.push(fx);
        }
    }
    out
}

// ---------------------------------------------------------------------------
// README
// ---------------------------------------------------------------------------

const README_HEAD: &str = r#"# Test fixtures

Every file here is generated by `examples/mkfixtures.rs` — do not edit by hand.

```sh
cargo run --release --example mkfixtures -- fixtures          # (re)write all fixtures and this README
cargo run --release --example mkfixtures -- --check fixtures  # generate twice in memory, compare with each other and with disk
```

The generator is deterministic: fixed timestamps (base 2026-01-01T00:00:00Z = 1767225600 s,
plus microsecond offsets, or nanosecond offsets in the nanosecond files), fixed MACs
(`02:00:` + the last 4 bytes of the IP address), fixed IPs, ISNs and payload patterns, no
randomness, no current time. Running it twice produces identical bytes.

Except `truth/`: real Linux TCP over an emulated lossy link, with the link's log of what it
dropped, held back and duplicated (`NAME.truth.json` beside `NAME.at-client.pcap` and
`NAME.at-server.pcap`). Made by `sudo contrib/truth/mktruth.py fixtures/truth` (root,
tcpdump, network namespaces; see `contrib/truth/README.md`), checked by `tests/truth.rs`.

## Conventions used in the numbers below

* **Packets by kind.** `TCP`/`UDP`/`ICMP` count packets whose fixed transport header
  (20/8/8 bytes) was captured (ICMP = ICMPv4 + ICMPv6). `other` = non-IP (ARP, unknown
  ethertype) plus IP packets of another protocol (GRE). `undecodable` = bad IP header,
  unsupported link type, or a capture cut inside the transport header. `truncated` =
  records with incl_len < orig_len (these may *also* be counted as TCP if the 20-byte TCP
  header survived). `fragments` = IPv4 fragments (MF set or offset > 0) and IPv6 packets
  with a fragment header; they are not counted as TCP/UDP. `conns` = distinct TCP
  connections (a reused 4-tuple with a new ISN is a new connection).
* **Client/server.** The client is the side that sent the first SYN (or, mid-stream, the
  ephemeral-port side). `C→S` is client to server. All sample/tcp captures are Ethernet,
  little-endian microsecond pcap with snaplen 262144.
* **Payload bytes** count every TCP payload byte on the wire, including retransmissions
  and probes; **unique bytes** count each sequence-space byte once (no retransmissions,
  no keepalive/zero-window probe bytes).
* **Handshake times**: SYN→SYN/ACK = first SYN/ACK minus the last client SYN before it;
  SYN/ACK→ACK = handshake ACK minus the last SYN/ACK before it; last SYN→ACK = handshake
  ACK minus the last SYN. The handshake ACK is the first client ACK (no SYN) acking the
  server's ISN+1.
* **SYN / SYN-ACK sent (retx)**: number of client SYNs (without ACK) and server SYN/ACKs;
  the retransmissions are the number minus one.
* **Retransmissions**: segments occupying sequence space (payload or FIN) that start below
  the highest sequence number already sent in that direction; keepalive probes and
  zero-window probes are not retransmissions, and SYN/SYN-ACK retransmissions are
  counted only in the SYN column.
* **Keepalive probe**: a segment with only ACK (no SYN/FIN/RST), 0 or 1 byte of payload,
  whose seq = highest sequence sent − 1. **Keepalive ACK**: the next pure ACK from the peer.
* **Zero-window probe**: a 1-byte segment at seq = highest sequence sent (the next new
  byte) while the peer's last advertised window is 0. It does not advance the highest
  sequence sent, so repeated probes of the same byte, and the data segment that resends
  that byte after the window opens, are not retransmissions.
* **First FIN / TIME_WAIT**: a side is an active closer if its FIN did not acknowledge a
  FIN from the peer; when both FINs are sent and acknowledged (before any RST) the active
  closer(s) end in TIME_WAIT.
"#;

fn counts_row(c: &Option<Counts>) -> String {
    match c {
        Some(c) => format!(
            "{} | {} | {} | {} | {} | {} | {} | {} | {}",
            c.total,
            c.tcp,
            c.udp,
            c.icmp,
            c.other,
            c.undecodable,
            c.truncated,
            c.fragments,
            c.conns
        ),
        None => "– | – | – | – | – | – | – | – | –".into(),
    }
}

fn readme(fxs: &[Fx], notes: &str) -> String {
    let mut s = String::from(README_HEAD);
    s.push_str("\n## Summary\n\n");
    s.push_str("| file | format | packets | TCP | UDP | ICMP | other | undecodable | truncated | fragments | conns |\n");
    s.push_str("|---|---|---|---|---|---|---|---|---|---|---|\n");
    for f in fxs {
        let _ = writeln!(
            s,
            "| `{}` | {} | {} |",
            f.path,
            f.format,
            counts_row(&f.counts)
        );
    }
    s.push_str("\nFor the files in `bad/` the counts are the packets readable before the error.\n");
    s.push_str("\n## Files\n");
    let mut last_dir = String::new();
    for f in fxs {
        let dir = match f.path.rsplit_once('/') {
            Some((d, _)) => d.to_string(),
            None => ".".to_string(),
        };
        if dir != last_dir {
            let _ = writeln!(s, "\n### `{dir}/`");
            last_dir = dir;
        }
        let _ = writeln!(s, "\n#### `{}`\n\n{}\n", f.path, f.desc);
        let _ = writeln!(s, "Format: {}. {} bytes.", f.format, f.bytes.len());
        if let Some(c) = &f.counts {
            let _ = writeln!(
                s,
                "Packets: {} total — TCP {}, UDP {}, ICMP {}, other {}, undecodable {}, truncated {}, fragments {}; TCP connections: {}.",
                c.total, c.tcp, c.udp, c.icmp, c.other, c.undecodable, c.truncated, c.fragments, c.conns
            );
        }
        if !f.truth.is_empty() {
            s.push('\n');
            s.push_str(&truth_table(&f.truth));
        }
    }
    s.push_str(notes);
    s
}

const NOTES: &str = r#"
## Cross-check with tshark

`--check` verifies determinism (two in-memory runs compared with each other and with the
files on disk); `cmp` of two runs into different directories gives no output. The numbers
above come from the scenario definitions and were cross-checked with tshark 4.x:

* `tshark -r F -T fields -e tcp.stream -e ip.src -e tcp.srcport -e tcp.len -e tcp.analysis.retransmission -e tcp.analysis.keep_alive -e tcp.analysis.keep_alive_ack -e tcp.analysis.zero_window_probe -e tcp.flags.reset`
  over every file with a connection table: packets and payload bytes per direction, RSTs,
  keepalive probes/ACKs, zero-window probes and (non-SYN) retransmissions agree for all
  34 connections.
* `tshark -r F -Y tcp.analysis.initial_rtt` gives exactly the "last SYN→ACK" column
  (e.g. sample.pcap: 1.260, 3.160, 15.060, 40.090, 2.560, 22.060 ms; syn-retransmit 40 ms;
  synack-retransmit 1025.1 ms).
* `tshark -r sample.pcap -q -z conv,tcp` lists the 8 conversations; `-Y tcp.analysis.keep_alive`
  shows frames 59, 76, 78. `capinfos sample.pcap`: 79 packets, duration 197.009850 s.
* Checksums: with `ip/tcp/udp.check_checksum:TRUE` every IP, TCP, UDP, ICMP and ICMPv6
  checksum is good, except the deliberately broken IHL-3 frame in `decode/mixed.pcap`.
* tshark decodes every `linktypes/` file to 10 TCP packets (`unsupported.pcap`: 3 `user_dlt:data`).
* tshark decodes every `decode/tunnel-*.pcap`, `decode/llc-snap.pcap` and `decode/fddi.pcap`
  to 10 TCP packets through the layers described (e.g. `eth:ethertype:ip:gre:erspan:eth:ethertype:ip:tcp`,
  `eth:ethertype:ip:udp:vxlan:eth:ethertype:ip:gre:ip:tcp`, `fddi:llc:ip:tcp`), with no
  malformed packet, expert error or bad IPv4 checksum. It opens `tunnel-too-deep.pcap`'s four
  IP-in-IP levels too; synack stops at three.
* `app/`: tshark 4.0 dissects `http-keepalive.pcap` as 3 GETs answered 200, 200, 404 (the
  last pair with `Connection: close`) and frame 9 as the only retransmission; `http10.pcap`
  as one GET / 200; `websocket.pcap` as GET + 101 (`Connection: Upgrade`) then 4 WebSocket
  frames; `tls-sni.pcap` and `tls-hostile-sni.pcap` as a ClientHello with the server names
  given above; `ssh.pcap` with both banners; `unknown.pcap` as bare TCP.

Where tshark's view differs from the numbers above:

* tshark marks SYN and SYN/ACK retransmissions as "suspected retransmission"; here they are
  counted only in the SYN / SYN-ACK column. In `simultaneous-open.pcap` tshark also marks
  both SYN/ACKs (frames 3, 4) as retransmissions and the following ACKs as window updates;
  here they are neither.
* tshark flags duplicate ACKs (`retransmission.pcap` frame 11, `seq-wrap.pcap` frame 8);
  they are not counted here.
* In `sample.pcap` tshark also reports an iRTT of 0.9 ms for the refused connection (SYN→RST).
* `decode/snaplen.pcap`: tshark shows `Len=0` for every cut segment (it cannot see the
  end of the TCP options); the real payload (500 / 1200 B) follows from the IP total length.
* `decode/snaplen-short.pcap`: tshark still labels both frames "TCP" with
  "[Packet size limited during capture]"; here they are undecodable.
* `decode/fragments.pcap`: with reassembly on (the default) tshark shows frames 3 and 5 as
  UDP and frame 7 as TCP (the reassembled packets); with `-o ip.defragment:FALSE -o
  ipv6.defragment:FALSE` it shows the offset-0 fragments (frames 1, 4, 6) as UDP/UDP/TCP
  and the others as bare fragments. It never shows a SYN.
* `bad/bad-version.pcap`: tshark and capinfos accept version 3.1 and read 2 packets;
  tcpdump/libpcap reject it ("unsupported pcap savefile version 3.1").
* `bad/empty-file.pcap`: capinfos reports it as "erf" with 0 packets; tcpdump says
  "truncated dump file".
* `bad/bad-pcapng-block.pcapng`: 12345678 is also not a multiple of 4; tcpdump reports that,
  tshark reads 2 packets then "cut short in the middle of a packet".
* `bad/corrupt-record.pcap`: tshark reads 4 packets then "File has 1342177280-byte packet,
  bigger than maximum of 262144"; `truncated-record.pcap` / `truncated-header.pcap`: 5
  packets then "cut short in the middle of a packet".
* Realism: in `keepalive-linux.pcap` and `sample.pcap` the probes are 75 s apart even
  though each is answered (a real Linux stack would wait tcp_keepalive_time again after
  an answered probe); the probe format itself is Linux's.
"#;

// ---------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------

fn generate() -> BTreeMap<String, Vec<u8>> {
    let fxs = all_fixtures();
    let mut m = BTreeMap::new();
    let text = readme(&fxs, NOTES);
    for f in fxs {
        assert!(
            m.insert(f.path.clone(), f.bytes).is_none(),
            "duplicate {}",
            f.path
        );
    }
    m.insert("README.md".into(), text.into_bytes());
    m
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (check, dir) = match args.as_slice() {
        [d] if d != "--check" => (false, d.clone()),
        [c, d] if c == "--check" => (true, d.clone()),
        _ => {
            eprintln!("usage: mkfixtures [--check] DIR");
            std::process::exit(2);
        }
    };
    let a = generate();
    let dir = Path::new(&dir);
    if check {
        let b = generate();
        let mut bad = 0;
        if a != b {
            eprintln!("generator is NOT deterministic");
            bad += 1;
        }
        for (name, bytes) in &a {
            match std::fs::read(dir.join(name)) {
                Ok(on_disk) if &on_disk == bytes => {}
                Ok(_) => {
                    eprintln!("differs: {name}");
                    bad += 1;
                }
                Err(e) => {
                    eprintln!("missing: {name}: {e}");
                    bad += 1;
                }
            }
        }
        if bad > 0 {
            std::process::exit(1);
        }
        println!("ok: {} files deterministic and up to date", a.len());
        return;
    }
    for (name, bytes) in &a {
        let p = dir.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("create dir");
        }
        std::fs::write(&p, bytes).expect("write fixture");
    }
    println!("wrote {} files to {}", a.len(), dir.display());
}
