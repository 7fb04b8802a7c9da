//! Core of the benchmark trace generator: `examples/mktrace.rs` runs it from the command
//! line, `tests/mktrace.rs` includes this file with `#[path]` and checks synack against the
//! truth it returns. docs/performance.md ("The benchmark trace") describes the model.
//!
//! Output: classic pcap, little-endian, microsecond timestamps, LINKTYPE_ETHERNET,
//! timestamps non-decreasing, exactly `packets` records. Everything is decided by a
//! seeded generator, so the same `Config` always gives the same bytes.

use serde_json::{json, Map, Value};
use std::collections::VecDeque;
use std::io::{self, Write};

/// What to generate.
#[derive(Clone, Debug)]
pub struct Config {
    /// Exact number of records to write.
    pub packets: u64,
    pub seed: u64,
    /// Captured bytes per record at most (orig_len keeps the wire length).
    pub snaplen: u32,
    /// Chains of back-to-back TCP flows: about this many flows are open at any time.
    pub concurrent: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            packets: 1_000_000,
            seed: 20_240_601,
            snaplen: 65_535,
            concurrent: 2_000,
        }
    }
}

// ---------------------------------------------------------------------------------------
// The traffic mix (shares of TCP flows unless said otherwise)
// ---------------------------------------------------------------------------------------

const P_UNANSWERED: f64 = 0.03;
const P_REFUSED: f64 = 0.05;
const P_RESET: f64 = 0.08;
const P_KEEPALIVE: f64 = 0.02;
const P_OPEN: f64 = 0.02;
// The rest (80%) close with FINs.
const P_IPV6: f64 = 0.15;
const P_VLAN: f64 = 0.10;
const P_TCP_TIMESTAMPS: f64 = 0.85;
/// Share of all frames that are UDP (DNS) or ICMP (echo) noise.
const NOISE: f64 = 0.05;
/// Microseconds per time bucket (2^18 µs ≈ 0.26 s), see `run`.
const BUCKET_BITS: u32 = 18;
/// 2023-11-14T22:13:20.123456Z
const T0_US: u64 = 1_700_000_000 * 1_000_000 + 123_456;

const NCLIENTS: usize = 4096;
/// Client ports cycle through the dynamic range, from a random start per client: a
/// 4-tuple comes back only after 16384 flows of one client (≈ 67 M flows in all).
const EPHEMERAL_LO: u16 = 49_152;
const SERVER_PORTS: [(u16, u32); 8] = [
    (8443, 40),
    (8000, 15),
    (3000, 10),
    (8081, 10),
    (9443, 10),
    (4443, 5),
    (7001, 5),
    (5001, 5),
];
const GW_MAC: [u8; 6] = [0x00, 0x1b, 0x21, 0x3c, 0x9d, 0xf2];
const DNS_SERVER: [u8; 4] = [192, 0, 2, 53];
const DNS_NAMES: [&str; 8] = [
    "example.com",
    "www.example.org",
    "api.example.net",
    "cdn.example.com",
    "mail.example.org",
    "static.example.net",
    "login.example.com",
    "time.example.org",
];

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

// ---------------------------------------------------------------------------------------
// Random numbers
// ---------------------------------------------------------------------------------------

/// splitmix64 (Steele, Lea, Flood 2014), written out here rather than taken from a crate:
/// the trace must stay byte-identical for a seed whatever crate versions the lock file
/// holds, and `rand`'s generators and distributions are allowed to change between
/// versions. Only integer arithmetic and exact float operations are used, so the output
/// is the same on every platform.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn f(&mut self) -> f64 {
        (self.next() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [0, n).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }

    fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    fn chance(&mut self, p: f64) -> bool {
        self.f() < p
    }

    fn u32(&mut self) -> u32 {
        (self.next() >> 32) as u32
    }

    fn u16(&mut self) -> u16 {
        (self.next() >> 48) as u16
    }

    /// A round-trip time in µs: 30% LAN, 50% regional, 20% far.
    fn rtt(&mut self) -> u64 {
        let r = self.f();
        if r < 0.3 {
            150 + self.below(1800)
        } else if r < 0.8 {
            4000 + (self.f() * self.f() * 60_000.0) as u64
        } else {
            70_000 + self.below(180_000)
        }
    }
}

// ---------------------------------------------------------------------------------------
// Packets
// ---------------------------------------------------------------------------------------

/// What a packet is in its flow; the truth is counted from the roles actually written.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
enum Role {
    Data,
    Ack,
    Syn,
    SynRetx,
    SynAck,
    HandshakeAck,
    /// The active closer's FIN (client / server).
    FinFirstClient,
    FinFirstServer,
    /// The passive closer's ACK of the first FIN (4-way close only).
    FinAck,
    /// The passive closer's FIN.
    FinSecond,
    /// The active closer's ACK of the second FIN.
    LastAck,
    ResetClient,
    ResetServer,
    /// The server's RST/ACK to a SYN.
    Refusal,
    ProbeClient,
    ProbeServer,
    ProbeAck,
    Udp,
    Icmp,
}
const NROLES: usize = Role::Icmp as usize + 1;

fn bit(r: Role) -> u32 {
    1 << r as u32
}

/// Header bytes kept per packet; the payload after them is zeros, written from `ZEROS`.
const HDR: usize = 112;
static ZEROS: [u8; 65_536] = [0; 65_536];
const IS_V6: u8 = 1;
const IS_VLAN: u8 = 2;

#[derive(Clone, Copy)]
struct Pkt {
    t: u64,
    /// Index into `Gen::flows`; `u32::MAX` for noise.
    flow: u32,
    role: Role,
    bits: u8,
    hlen: u8,
    plen: u16,
    hdr: [u8; HDR],
}

/// One's-complement sum of big-endian 16-bit words (an odd last byte is padded).
fn sum16(mut acc: u32, b: &[u8]) -> u32 {
    let mut it = b.chunks_exact(2);
    for w in &mut it {
        acc += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [x] = it.remainder() {
        acc += u32::from(*x) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// One direction's Ethernet (+ 802.1Q) and IP addressing.
#[derive(Clone, Copy)]
struct Path {
    dmac: [u8; 6],
    smac: [u8; 6],
    tci: Option<u16>,
    v6: bool,
    src: [u8; 16],
    dst: [u8; 16],
    ttl: u8,
    ipid: u16,
    flow_label: u32,
}

impl Path {
    /// Writes the link and IP headers for a transport segment of `l4len` bytes; returns
    /// the offset of the transport header and the pseudo-header checksum sum.
    fn write(&mut self, h: &mut [u8; HDR], proto: u8, l4len: usize) -> (usize, u32) {
        h[0..6].copy_from_slice(&self.dmac);
        h[6..12].copy_from_slice(&self.smac);
        let mut o = 12;
        if let Some(tci) = self.tci {
            h[12..14].copy_from_slice(&0x8100u16.to_be_bytes());
            h[14..16].copy_from_slice(&tci.to_be_bytes());
            o = 16;
        }
        let len = l4len as u32;
        if self.v6 {
            h[o..o + 2].copy_from_slice(&0x86ddu16.to_be_bytes());
            let ip = o + 2;
            h[ip..ip + 4].copy_from_slice(&((6 << 28) | self.flow_label).to_be_bytes());
            h[ip + 4..ip + 6].copy_from_slice(&(l4len as u16).to_be_bytes());
            h[ip + 6] = proto;
            h[ip + 7] = self.ttl;
            h[ip + 8..ip + 24].copy_from_slice(&self.src);
            h[ip + 24..ip + 40].copy_from_slice(&self.dst);
            let ps = sum16(sum16(0, &self.src), &self.dst) + (len >> 16) + (len & 0xffff);
            (ip + 40, ps + u32::from(proto))
        } else {
            h[o..o + 2].copy_from_slice(&0x0800u16.to_be_bytes());
            let ip = o + 2;
            self.ipid = self.ipid.wrapping_add(1);
            let df: u16 = if proto == 17 { 0 } else { 0x4000 };
            h[ip] = 0x45;
            h[ip + 1] = 0;
            h[ip + 2..ip + 4].copy_from_slice(&((20 + l4len) as u16).to_be_bytes());
            h[ip + 4..ip + 6].copy_from_slice(&self.ipid.to_be_bytes());
            h[ip + 6..ip + 8].copy_from_slice(&df.to_be_bytes());
            h[ip + 8] = self.ttl;
            h[ip + 9] = proto;
            h[ip + 10..ip + 12].fill(0);
            h[ip + 12..ip + 16].copy_from_slice(&self.src[..4]);
            h[ip + 16..ip + 20].copy_from_slice(&self.dst[..4]);
            let ck = fold(sum16(0, &h[ip..ip + 20]));
            h[ip + 10..ip + 12].copy_from_slice(&ck.to_be_bytes());
            let ps = sum16(sum16(0, &self.src[..4]), &self.dst[..4]) + len;
            (ip + 20, ps + u32::from(proto))
        }
    }

    fn bits(&self) -> u8 {
        (if self.v6 { IS_V6 } else { 0 }) | (if self.tci.is_some() { IS_VLAN } else { 0 })
    }
}

/// One endpoint of a TCP flow, as the sender of segments.
struct Side {
    path: Path,
    sport: u16,
    dport: u16,
    win: u16,
    /// TCP timestamps: (own TSval base, peer's TSval base), clocks ticking every 1024 µs.
    ts: Option<(u32, u32)>,
    flow: u32,
}

// ---------------------------------------------------------------------------------------
// The truth
// ---------------------------------------------------------------------------------------

/// True counts over the records written.
#[derive(Default, Debug)]
pub struct Truth {
    pub packets: u64,
    pub file_bytes: u64,
    pub wire_bytes: u64,
    pub snaplen_truncated: u64,
    pub first_ts_us: Option<u64>,
    pub last_ts_us: Option<u64>,
    by_role: [u64; NROLES],
    ipv6_packets: u64,
    vlan_packets: u64,
    /// Roles written, per TCP flow (a bit per `Role`); flows never written stay 0.
    flows: Vec<u32>,
    flow_bits: Vec<u8>,
}

impl Truth {
    fn role(&self, r: Role) -> u64 {
        self.by_role[r as usize]
    }

    /// TCP flows whose written roles satisfy `f`.
    fn flows_where(&self, f: impl Fn(u32) -> bool) -> u64 {
        self.flows.iter().filter(|&&m| m != 0 && f(m)).count() as u64
    }

    /// The sidecar: `expect` maps synack JSON paths to the exact figures `synack report
    /// --format json` must print; `tshark` maps display filters (and `-z conv,tcp`) to
    /// frame counts; `facts` holds the rest.
    pub fn to_json(&self, cfg: &Config) -> Value {
        use Role::*;
        let has = |r: Role| move |m: u32| m & bit(r) != 0;
        let tcp = self.packets - self.role(Udp) - self.role(Icmp);
        let connections = self.flows_where(|_| true);
        let completed = self.flows_where(has(HandshakeAck));
        let answered = self.flows_where(has(SynAck));
        let refused = self.flows_where(has(Refusal));
        let reset = self.flows_where(|m| m & (bit(ResetClient) | bit(ResetServer)) != 0);
        let fin_closed = self.flows_where(has(FinSecond));
        let half_closed =
            self.flows_where(|m| m & (bit(FinFirstClient) | bit(FinFirstServer)) != 0) - fin_closed;
        let unanswered = self.flows_where(|m| m & (bit(SynAck) | bit(Refusal)) == 0);
        let incomplete = self.flows_where(|m| {
            m & bit(SynAck) != 0
                && m & (bit(HandshakeAck) | bit(ResetClient) | bit(ResetServer)) == 0
        });
        let open =
            connections - refused - reset - fin_closed - half_closed - unanswered - incomplete;
        let tw_client =
            self.flows_where(|m| m & bit(FinSecond) != 0 && m & bit(FinFirstClient) != 0);
        let tw_server = fin_closed - tw_client;
        let rst_client = self.role(ResetClient);
        let rst_server = self.role(ResetServer) + self.role(Refusal);
        let fins = self.role(FinFirstClient) + self.role(FinFirstServer) + self.role(FinSecond);
        let probes = self.role(ProbeClient) + self.role(ProbeServer);
        let probe_acks = self.role(ProbeAck);
        let ka_conns = self.flows_where(|m| m & (bit(ProbeClient) | bit(ProbeServer)) != 0);
        let with_payload = self.flows_where(has(Data));
        let syns = self.role(Syn) + self.role(SynRetx);

        let expect: Vec<(&str, u64)> = vec![
            ("packets.total", self.packets),
            ("packets.tcp", tcp),
            ("packets.udp", self.role(Udp)),
            ("packets.icmp", self.role(Icmp)),
            ("packets.other", 0),
            ("packets.fragments", 0),
            ("packets.undecodable", 0),
            ("packets.snaplen_truncated", self.snaplen_truncated),
            ("summary.connections", connections),
            ("summary.handshakes.attempted", connections),
            ("summary.handshakes.completed", completed),
            ("summary.handshakes.syn_retransmits", self.role(SynRetx)),
            ("summary.handshakes.synack_retransmits", 0),
            ("summary.handshake_rtt_ms.count", completed),
            ("summary.syn_to_synack_ms.count", answered),
            ("summary.synack_to_ack_ms.count", completed),
            ("summary.closes.fin", fin_closed),
            ("summary.closes.reset", reset),
            ("summary.closes.refused", refused),
            ("summary.closes.unanswered", unanswered),
            ("summary.closes.handshake_incomplete", incomplete),
            ("summary.closes.half_closed", half_closed),
            ("summary.closes.open", open),
            ("summary.closes.midstream", 0),
            (
                "summary.closes.abnormal",
                refused + reset + unanswered + incomplete,
            ),
            ("summary.rst.packets", rst_client + rst_server),
            ("summary.rst.from_client", rst_client),
            ("summary.rst.from_server", rst_server),
            ("summary.rst.answering_syn", refused),
            ("summary.fin_packets", fins),
            ("summary.time_wait.client", tw_client),
            ("summary.time_wait.server", tw_server),
            ("summary.time_wait.simultaneous", 0),
            ("summary.time_wait.reused", 0),
            ("summary.keepalive.probes", probes),
            ("summary.keepalive.acks", probe_acks),
            ("summary.keepalive.unanswered", probes - probe_acks),
            ("summary.keepalive.connections", ka_conns),
            ("summary.zero_window_probes", 0),
            ("summary.retransmissions", self.role(SynRetx)),
            ("summary.apps.none", connections - with_payload),
            ("summary.apps.unknown", with_payload),
            ("summary.apps.http", 0),
            ("summary.apps.websocket", 0),
            ("summary.apps.tls", 0),
            ("summary.apps.ssh", 0),
        ];
        let tshark: Vec<(&str, u64)> = vec![
            ("frames", self.packets),
            ("conv,tcp", connections),
            ("tcp", tcp),
            ("udp", self.role(Udp)),
            ("icmp", self.role(Icmp)),
            ("ipv6", self.ipv6_packets),
            ("vlan", self.vlan_packets),
            ("tcp.flags.syn==1 && tcp.flags.ack==0", syns),
            ("tcp.flags.syn==1 && tcp.flags.ack==1", self.role(SynAck)),
            ("tcp.flags.reset==1", rst_client + rst_server),
            ("tcp.flags.fin==1", fins),
            ("tcp.analysis.retransmission", self.role(SynRetx)),
            ("tcp.analysis.keep_alive", probes),
            ("tcp.analysis.keep_alive_ack", probe_acks),
        ];
        let per_role: Map<String, Value> = ROLE_NAMES
            .iter()
            .zip(self.by_role)
            .map(|(n, c)| (n.to_string(), json!(c)))
            .collect();
        let v6_flows = self.flow_count_bits(IS_V6);
        let vlan_flows = self.flow_count_bits(IS_VLAN);
        let duration = match (self.first_ts_us, self.last_ts_us) {
            (Some(a), Some(b)) => json!((b - a) as f64 / 1e6),
            _ => Value::Null,
        };
        json!({
            "generator": {
                "name": "mktrace",
                "packets": cfg.packets,
                "seed": cfg.seed,
                "snaplen": cfg.snaplen,
                "concurrent": cfg.concurrent,
            },
            "expect": to_map(&expect),
            "tshark": to_map(&tshark),
            "facts": {
                "file_bytes": self.file_bytes,
                "wire_bytes": self.wire_bytes,
                "mean_wire_bytes_per_record": if self.packets > 0 { self.wire_bytes as f64 / self.packets as f64 } else { 0.0 },
                "first_ts_us": self.first_ts_us,
                "last_ts_us": self.last_ts_us,
                "duration_s": duration,
                "ipv6_packets": self.ipv6_packets,
                "vlan_packets": self.vlan_packets,
                "tcp_flows": connections,
                "tcp_flows_ipv6": v6_flows,
                "tcp_flows_vlan": vlan_flows,
                "syn_packets": syns,
                "synack_packets": self.role(SynAck),
                "fin_closes_active_client": tw_client,
                "fin_closes_active_server": tw_server,
                "fin_closes_completed": self.flows_where(has(LastAck)),
                "flows_generated_not_written": self.flows.iter().filter(|&&m| m == 0).count(),
                "packets_by_role": per_role,
            },
            "notes": "expect: JSON path in `synack report --format json` -> exact value. \
                      tshark: display filter -> frame count (conv,tcp: conversations). \
                      A flow cut by the end of the file counts by what was written: \
                      unanswered without SYN/ACK, handshake_incomplete without the third \
                      ACK, half_closed after one FIN, open otherwise. time_wait: the active \
                      closer once the peer's FIN is written (the last ACK is not needed)."
        })
    }

    fn flow_count_bits(&self, b: u8) -> u64 {
        self.flows
            .iter()
            .zip(&self.flow_bits)
            .filter(|(&m, &fb)| m != 0 && fb & b != 0)
            .count() as u64
    }
}

const ROLE_NAMES: [&str; NROLES] = [
    "data",
    "ack",
    "syn",
    "syn_retransmit",
    "synack",
    "handshake_ack",
    "fin_first_client",
    "fin_first_server",
    "fin_ack",
    "fin_second",
    "last_ack",
    "reset_client",
    "reset_server",
    "refusal",
    "keepalive_probe_client",
    "keepalive_probe_server",
    "keepalive_ack",
    "udp",
    "icmp",
];

fn to_map(kv: &[(&str, u64)]) -> Value {
    Value::Object(kv.iter().map(|(k, v)| (k.to_string(), json!(v))).collect())
}

// ---------------------------------------------------------------------------------------
// The generator
// ---------------------------------------------------------------------------------------

struct Gen {
    rng: Rng,
    /// Packets by time bucket, from bucket `base` on.
    buckets: VecDeque<Vec<Pkt>>,
    base: u64,
    /// Client port cursor per client.
    client_port: Vec<u16>,
    /// Per TCP flow: IS_V6 | IS_VLAN.
    flow_bits: Vec<u8>,
    noise_ipid: u16,
}

fn client_mac(ci: usize) -> [u8; 6] {
    [
        0x02,
        0x10,
        (ci >> 16) as u8,
        (ci >> 8) as u8,
        ci as u8,
        0x01,
    ]
}

fn client_ip(ci: usize, v6: bool) -> [u8; 16] {
    let mut a = [0u8; 16];
    if v6 {
        // fd00:0:0:1::<ci+1>
        a[0] = 0xfd;
        a[7] = 1;
        a[12..16].copy_from_slice(&(ci as u32 + 1).to_be_bytes());
    } else {
        a[..4].copy_from_slice(&[10, 1 + (ci >> 16) as u8, (ci >> 8) as u8, ci as u8]);
    }
    a
}

fn server_ip(i: usize, v6: bool) -> [u8; 16] {
    let mut a = [0u8; 16];
    if v6 {
        // 2001:db8:a::<i+1>, 32 servers
        a[..6].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0x00, 0x0a]);
        a[15] = (i % 32) as u8 + 1;
    } else if i < 40 {
        a[..4].copy_from_slice(&[198, 51, 100, i as u8 + 1]);
    } else {
        a[..4].copy_from_slice(&[203, 0, 113, (i - 40) as u8 + 1]);
    }
    a
}

impl Gen {
    fn new(seed: u64) -> Gen {
        let mut rng = Rng(seed);
        let client_port = (0..NCLIENTS)
            .map(|_| EPHEMERAL_LO + rng.below(u64::from(u16::MAX - EPHEMERAL_LO) + 1) as u16)
            .collect();
        Gen {
            rng,
            buckets: VecDeque::new(),
            base: 0,
            client_port,
            flow_bits: Vec::new(),
            noise_ipid: 0,
        }
    }

    fn push(&mut self, p: Pkt) {
        let b = ((p.t >> BUCKET_BITS) - self.base) as usize;
        while self.buckets.len() <= b {
            self.buckets.push_back(Vec::new());
        }
        self.buckets[b].push(p);
    }

    /// Queues one TCP segment of `plen` zero bytes; `opts` None means the flow's usual
    /// options (timestamps or nothing).
    #[allow(clippy::too_many_arguments)]
    fn seg(
        &mut self,
        s: &mut Side,
        t: u64,
        flags: u8,
        seq: u32,
        ack: u32,
        plen: usize,
        opts: Option<(&[u8], u16)>,
        role: Role,
    ) {
        let mut tsopt = [1u8, 1, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0];
        let (opts, win): (&[u8], u16) = match (opts, s.ts) {
            (Some(o), _) => o,
            (None, Some((own, peer))) => {
                let k = (t >> 10) as u32;
                tsopt[4..8].copy_from_slice(&own.wrapping_add(k).to_be_bytes());
                tsopt[8..12].copy_from_slice(&peer.wrapping_add(k).wrapping_sub(1).to_be_bytes());
                (&tsopt, s.win)
            }
            (None, None) => (&[], s.win),
        };
        let mut p = Pkt {
            t,
            flow: s.flow,
            role,
            bits: s.path.bits(),
            hlen: 0,
            plen: plen as u16,
            hdr: [0; HDR],
        };
        let thl = 20 + opts.len();
        let (o, ps) = s.path.write(&mut p.hdr, 6, thl + plen);
        let h = &mut p.hdr[o..o + thl];
        h[0..2].copy_from_slice(&s.sport.to_be_bytes());
        h[2..4].copy_from_slice(&s.dport.to_be_bytes());
        h[4..8].copy_from_slice(&seq.to_be_bytes());
        h[8..12].copy_from_slice(&ack.to_be_bytes());
        h[12] = ((thl / 4) as u8) << 4;
        h[13] = flags;
        h[14..16].copy_from_slice(&win.to_be_bytes());
        h[16..20].fill(0);
        h[20..].copy_from_slice(opts);
        let ck = fold(sum16(ps, h)); // the zero payload adds nothing
        h[16..18].copy_from_slice(&ck.to_be_bytes());
        p.hlen = (o + thl) as u8;
        self.push(p);
    }

    /// Queues every packet of one TCP flow starting at `t0`; returns its end time.
    fn tcp_flow(&mut self, t0: u64) -> u64 {
        use Role::*;
        let id = u32::try_from(self.flow_bits.len()).expect("fewer than 2^32 flows");
        let r = &mut self.rng;
        let v6 = r.chance(P_IPV6);
        let vlan = r.chance(P_VLAN);
        let tci = if vlan {
            let vid = [10, 20, 30, 100, 200][r.index(5)];
            Some(vid | ([0, 0, 0, 5][r.index(4)] << 13))
        } else {
            None
        };
        let use_ts = r.chance(P_TCP_TIMESTAMPS);
        let ci = r.index(NCLIENTS);
        let cport = self.client_port[ci];
        self.client_port[ci] = cport.checked_add(1).unwrap_or(EPHEMERAL_LO);
        let total_weight: u32 = SERVER_PORTS.iter().map(|p| p.1).sum();
        let mut w = r.below(u64::from(total_weight)) as u32;
        let mut sport = SERVER_PORTS[0].0;
        for &(p, pw) in &SERVER_PORTS {
            if w < pw {
                sport = p;
                break;
            }
            w -= pw;
        }
        let sip = server_ip(r.index(if v6 { 32 } else { 64 }), v6);
        let mss: u16 = if v6 { 1440 } else { 1460 };
        let (wsc, wss) = ([7u8, 7, 8, 9][r.index(4)], [7u8, 9, 10][r.index(3)]);
        let (tbc, tbs) = (r.u32(), r.u32());
        let stt = [52u8, 54, 56, 57, 60][r.index(5)];
        let swin = [501u16, 509, 235, 1023][r.index(4)] >> (wss - 7);
        let ssynwin = [65_160u16, 65_535, 29_200, 64_240][r.index(4)];
        let csynwin: u16 = if v6 { 64_800 } else { 64_240 };
        let path = |smac, dmac, src, dst, ttl, r: &mut Rng| Path {
            dmac,
            smac,
            tci,
            v6,
            src,
            dst,
            ttl,
            ipid: r.u16(),
            flow_label: r.u32() >> 12,
        };
        let cpath = path(client_mac(ci), GW_MAC, client_ip(ci, v6), sip, 64, r);
        let spath = path(GW_MAC, client_mac(ci), sip, client_ip(ci, v6), stt, r);
        let mut c = Side {
            path: cpath,
            sport: cport,
            dport: sport,
            win: if wsc == 7 { 502 } else { 251 },
            ts: use_ts.then_some((tbc, tbs)),
            flow: id,
        };
        let mut s = Side {
            path: spath,
            sport,
            dport: cport,
            win: swin,
            ts: use_ts.then_some((tbs, tbc)),
            flow: id,
        };
        self.flow_bits.push(c.path.bits());
        let r = &mut self.rng;
        let dmss = usize::from(if use_ts { mss - 12 } else { mss });
        let rtt = r.rtt();
        let (ic, is) = (r.u32(), r.u32());
        let kind = {
            let x = r.f();
            let mut acc = 0.0;
            let mut k = Kind::Fin;
            for (kd, p) in [
                (Kind::Unanswered, P_UNANSWERED),
                (Kind::Refused, P_REFUSED),
                (Kind::Reset, P_RESET),
                (Kind::Keepalive, P_KEEPALIVE),
                (Kind::Open, P_OPEN),
            ] {
                acc += p;
                if x < acc {
                    k = kd;
                    break;
                }
            }
            k
        };

        // SYN options as Linux sends them: MSS, SACK_PERM, TS, NOP, WS (or MSS, NOP, NOP,
        // SACK_PERM, NOP, WS without timestamps).
        let syn_opts = |ts: Option<(u32, u32)>, t: u64, ws: u8, ecr: u32| -> ([u8; 20], usize) {
            let mut o = [0u8; 20];
            o[0..4].copy_from_slice(&[2, 4, (mss >> 8) as u8, mss as u8]);
            match ts {
                Some((own, _)) => {
                    o[4..8].copy_from_slice(&[4, 2, 8, 10]);
                    o[8..12].copy_from_slice(&own.wrapping_add((t >> 10) as u32).to_be_bytes());
                    o[12..16].copy_from_slice(&ecr.to_be_bytes());
                    o[16..20].copy_from_slice(&[1, 3, 3, ws]);
                    (o, 20)
                }
                None => {
                    o[4..12].copy_from_slice(&[1, 1, 4, 2, 1, 3, 3, ws]);
                    (o, 12)
                }
            }
        };

        let mut t = t0;
        let (so, sn) = syn_opts(c.ts, t, wsc, 0);
        self.seg(&mut c, t, SYN, ic, 0, 0, Some((&so[..sn], csynwin)), Syn);
        if kind == Kind::Unanswered {
            let t1 = t + 1_000_000 + self.rng.below(2000);
            let t2 = t + 3_000_000 + self.rng.below(6000);
            self.seg(
                &mut c,
                t1,
                SYN,
                ic,
                0,
                0,
                Some((&so[..sn], csynwin)),
                SynRetx,
            );
            self.seg(
                &mut c,
                t2,
                SYN,
                ic,
                0,
                0,
                Some((&so[..sn], csynwin)),
                SynRetx,
            );
            return t + 3_010_000;
        }
        t += rtt;
        if kind == Kind::Refused {
            self.seg(
                &mut s,
                t,
                RST | ACK,
                0,
                ic.wrapping_add(1),
                0,
                Some((&[], 0)),
                Refusal,
            );
            return t;
        }
        let ecr = tbc.wrapping_add((t0 >> 10) as u32);
        let (ao, an) = syn_opts(s.ts, t, wss, ecr);
        let synack_opts = Some((&ao[..an], ssynwin));
        self.seg(
            &mut s,
            t,
            SYN | ACK,
            is,
            ic.wrapping_add(1),
            0,
            synack_opts,
            SynAck,
        );
        t += 20 + self.rng.below(120);
        let (mut sc, mut ss) = (ic.wrapping_add(1), is.wrapping_add(1));
        self.seg(&mut c, t, ACK, sc, ss, 0, None, HandshakeAck);

        // Request/response exchanges.
        let r = &mut self.rng;
        let nex = if kind == Kind::Open {
            5 + r.below(40)
        } else {
            let mut n = 1;
            while n < 12 && r.chance(0.6) {
                n += 1;
            }
            n
        };
        let reset_at = if kind == Kind::Reset {
            r.below(nex)
        } else {
            u64::MAX
        };
        // A RST: RST/ACK (60%) or a bare RST with ack 0.
        let rst = |r: &mut Rng, ack: u32| {
            if r.chance(0.6) {
                (RST | ACK, ack)
            } else {
                (RST, 0)
            }
        };
        for ex in 0..nex {
            let r = &mut self.rng;
            let think = if ex == 0 { 2000.0 } else { 200_000.0 };
            t += 30 + (r.f() * r.f() * think) as u64;
            let mut rq = 60 + (r.f() * r.f() * 1400.0) as usize;
            while rq > 0 {
                let n = rq.min(dmss);
                rq -= n;
                let fl = ACK | if rq == 0 { PSH } else { 0 };
                self.seg(&mut c, t, fl, sc, ss, n, None, Data);
                sc = sc.wrapping_add(n as u32);
                t += 5;
            }
            let r = &mut self.rng;
            if ex == reset_at && r.chance(0.3) {
                // The client resets right after its request.
                let (fl, a) = rst(r, ss);
                self.seg(&mut c, t + 50, fl, sc, a, 0, None, ResetClient);
                return t + 50;
            }
            let proc = 50 + (r.f() * r.f() * 30_000.0) as u64;
            t += rtt + proc;
            if proc > 20_000 {
                // A slow server ACKs the request before it answers.
                self.seg(&mut s, t - 5, ACK, ss, sc, 0, None, Ack);
            }
            let r = &mut self.rng;
            let x = r.f();
            let mut resp = if kind == Kind::Open && r.chance(0.1) {
                20_000 + r.below(400_000) as usize
            } else if x < 0.6 {
                100 + r.below(3000) as usize
            } else if x < 0.93 {
                2000 + r.below(30_000) as usize
            } else {
                30_000 + r.below(150_000) as usize
            };
            let gap = if rtt > 2000 { 12 } else { 4 };
            let abort = ex == reset_at && r.chance(0.3);
            let mut nseg = 0u32;
            let mut last_ack_t = 0;
            while resp > 0 {
                let n = resp.min(dmss);
                resp -= n;
                let fl = ACK | if resp == 0 { PSH } else { 0 };
                self.seg(&mut s, t, fl, ss, sc, n, None, Data);
                ss = ss.wrapping_add(n as u32);
                nseg += 1;
                let r = &mut self.rng;
                if abort && nseg >= 2 {
                    // The server aborts mid-response.
                    let (fl, a) = rst(r, sc);
                    self.seg(&mut s, t + gap, fl, ss, a, 0, None, ResetServer);
                    return t + gap;
                }
                if nseg.is_multiple_of(2) || resp == 0 {
                    // ACK every second segment, and the last (now, or delayed 40 ms).
                    let mut ta = if nseg.is_multiple_of(2) || r.chance(0.5) {
                        t + 25 + r.below(60)
                    } else {
                        t + 40_000
                    };
                    if ta <= last_ack_t {
                        ta = last_ack_t + 1; // a receiver's ACKs never go back in time
                    }
                    last_ack_t = ta;
                    self.seg(&mut c, ta, ACK, sc, ss, 0, None, Ack);
                    if resp == 0 {
                        t = ta;
                    }
                }
                t += gap + self.rng.below(gap);
            }
            if ex == reset_at {
                let r = &mut self.rng;
                if r.chance(0.5) {
                    t += 30 + r.below(5000);
                    let (fl, a) = rst(r, ss);
                    self.seg(&mut c, t, fl, sc, a, 0, None, ResetClient);
                } else {
                    t += rtt + r.below(5000);
                    let (fl, a) = rst(r, sc);
                    self.seg(&mut s, t, fl, ss, a, 0, None, ResetServer);
                }
                return t;
            }
        }
        if kind == Kind::Open {
            return t + 1000;
        }
        if kind == Kind::Keepalive {
            // Idle, then 1..3 probes at snd_nxt - 1 with no data, each ACKed by the peer.
            let r = &mut self.rng;
            let idle = ((0.5 + r.f()) * 1e6) as u64;
            let from_client = r.chance(0.7);
            let n = 1 + r.below(3);
            for _ in 0..n {
                t += idle;
                if from_client {
                    self.seg(&mut c, t, ACK, sc.wrapping_sub(1), ss, 0, None, ProbeClient);
                    t += rtt;
                    self.seg(&mut s, t, ACK, ss, sc, 0, None, ProbeAck);
                } else {
                    self.seg(&mut s, t, ACK, ss.wrapping_sub(1), sc, 0, None, ProbeServer);
                    t += 30 + self.rng.below(100);
                    self.seg(&mut c, t, ACK, sc, ss, 0, None, ProbeAck);
                }
            }
        }

        // FIN close: A is the active closer, B the passive one.
        let r = &mut self.rng;
        let client_closes = r.chance(0.55);
        let quick = 30 + r.below(150);
        let (a, b, mut sa, mut sb, first, d_ab, d_ba) = if client_closes {
            (&mut c, &mut s, sc, ss, FinFirstClient, rtt, quick)
        } else {
            (&mut s, &mut c, ss, sc, FinFirstServer, quick, rtt)
        };
        t += 100 + r.below(50_000);
        let four_way = r.chance(0.75);
        let pause = 10 + r.below(3000);
        self.seg(a, t, FIN | ACK, sa, sb, 0, None, first);
        sa = sa.wrapping_add(1);
        t += d_ab;
        if four_way {
            self.seg(b, t, ACK, sb, sa, 0, None, FinAck);
            t += pause;
        }
        self.seg(b, t, FIN | ACK, sb, sa, 0, None, FinSecond);
        sb = sb.wrapping_add(1);
        t += d_ba;
        self.seg(a, t, ACK, sa, sb, 0, None, LastAck);
        t
    }

    /// About `n` UDP (DNS query/response) and ICMP (echo request/reply) frames starting in
    /// [t_lo, t_lo + span); the answers may fall later.
    fn noise(&mut self, t_lo: u64, span: u64, n: u64) {
        let mut made = 0;
        while made < n {
            let r = &mut self.rng;
            let t = t_lo + r.below(span);
            let ci = r.index(NCLIENTS);
            let tci = r.chance(P_VLAN).then_some(10u16);
            let cip = client_ip(ci, false);
            let mut fwd = Path {
                dmac: GW_MAC,
                smac: client_mac(ci),
                tci,
                v6: false,
                src: cip,
                dst: [0; 16],
                ttl: 64,
                ipid: 0,
                flow_label: 0,
            };
            if r.chance(0.7) {
                // DNS A query and its answer.
                let name = DNS_NAMES[r.index(DNS_NAMES.len())];
                let txid = r.u16();
                let cport = EPHEMERAL_LO + r.below(16_000) as u16;
                let addr = [93, 184, 216, 1 + r.below(249) as u8];
                let t_ans = t + 300 + r.below(30_000);
                fwd.dst[..4].copy_from_slice(&DNS_SERVER);
                let mut msg = [0u8; 80];
                msg[0..2].copy_from_slice(&txid.to_be_bytes());
                msg[2..12].copy_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
                let mut o = 12;
                for label in name.split('.') {
                    msg[o] = label.len() as u8;
                    msg[o + 1..o + 1 + label.len()].copy_from_slice(label.as_bytes());
                    o += 1 + label.len();
                }
                msg[o..o + 5].copy_from_slice(&[0, 0, 1, 0, 1]);
                let qlen = o + 5;
                self.udp(&mut fwd, t, cport, 53, &msg[..qlen]);
                msg[2..8].copy_from_slice(&[0x81, 0x80, 0, 1, 0, 1]);
                let answer = [0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 1, 0x2c, 0, 4];
                msg[qlen..qlen + 12].copy_from_slice(&answer);
                msg[qlen + 12..qlen + 16].copy_from_slice(&addr);
                let mut back = fwd.reverse();
                self.udp(&mut back, t_ans, 53, cport, &msg[..qlen + 16]);
            } else {
                // ICMP echo request and reply: 8 bytes of time, 48 zero bytes.
                fwd.dst = server_ip(r.index(64), false);
                let (ident, sq) = (r.u16(), r.u16() >> 6);
                let t_ans = t + r.rtt();
                let mut body = [0u8; 16];
                body[4..6].copy_from_slice(&ident.to_be_bytes());
                body[6..8].copy_from_slice(&sq.to_be_bytes());
                body[8..12].copy_from_slice(&((t / 1_000_000) as u32).to_be_bytes());
                body[12..16].copy_from_slice(&((t % 1_000_000) as u32).to_be_bytes());
                body[0] = 8;
                self.icmp(&mut fwd, t, &mut body);
                body[0] = 0;
                let mut back = fwd.reverse();
                self.icmp(&mut back, t_ans, &mut body);
            }
            made += 2;
        }
    }

    fn noise_pkt(&mut self, path: &mut Path, t: u64, role: Role) -> Pkt {
        self.noise_ipid = self.noise_ipid.wrapping_add(7);
        path.ipid = self.noise_ipid;
        Pkt {
            t,
            flow: u32::MAX,
            role,
            bits: path.bits(),
            hlen: 0,
            plen: 0,
            hdr: [0; HDR],
        }
    }

    fn udp(&mut self, path: &mut Path, t: u64, sport: u16, dport: u16, msg: &[u8]) {
        let mut p = self.noise_pkt(path, t, Role::Udp);
        let ulen = 8 + msg.len();
        let (o, ps) = path.write(&mut p.hdr, 17, ulen);
        let h = &mut p.hdr[o..o + ulen];
        h[0..2].copy_from_slice(&sport.to_be_bytes());
        h[2..4].copy_from_slice(&dport.to_be_bytes());
        h[4..6].copy_from_slice(&(ulen as u16).to_be_bytes());
        h[6..8].fill(0);
        h[8..].copy_from_slice(msg);
        let ck = match fold(sum16(ps, h)) {
            0 => 0xffff,
            c => c,
        };
        h[6..8].copy_from_slice(&ck.to_be_bytes());
        p.hlen = (o + ulen) as u8;
        self.push(p);
    }

    fn icmp(&mut self, path: &mut Path, t: u64, body: &mut [u8; 16]) {
        let mut p = self.noise_pkt(path, t, Role::Icmp);
        const ZERO_TAIL: usize = 48;
        let (o, _) = path.write(&mut p.hdr, 1, body.len() + ZERO_TAIL);
        body[2..4].fill(0);
        let ck = fold(sum16(0, body));
        body[2..4].copy_from_slice(&ck.to_be_bytes());
        p.hdr[o..o + 16].copy_from_slice(body);
        p.hlen = (o + 16) as u8;
        p.plen = ZERO_TAIL as u16;
        self.push(p);
    }
}

impl Path {
    fn reverse(&self) -> Path {
        Path {
            dmac: self.smac,
            smac: self.dmac,
            src: self.dst,
            dst: self.src,
            ttl: 57,
            ..*self
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Fin,
    Unanswered,
    Refused,
    Reset,
    Keepalive,
    Open,
}

/// Writes the trace to `out` and returns the truth about what was written.
///
/// Time is cut into buckets of 2^18 µs. For bucket k every chain first runs flows until
/// its next flow would start in a later bucket (a flow queues all its packets at once,
/// possibly into later buckets); then no packet can still land in bucket k, which gets
/// its share of noise, is sorted by time (stably, so a flow's packets keep their order)
/// and written.
pub fn run<W: Write>(cfg: &Config, out: W) -> io::Result<Truth> {
    assert!(cfg.concurrent >= 1, "at least one chain");
    let mut out = out;
    let mut g = Gen::new(cfg.seed);
    let mut truth = Truth::default();
    let snap = cfg.snaplen as usize;
    let mut fh = [0u8; 24];
    fh[0..4].copy_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    fh[4..6].copy_from_slice(&2u16.to_le_bytes());
    fh[6..8].copy_from_slice(&4u16.to_le_bytes());
    fh[16..20].copy_from_slice(&cfg.snaplen.to_le_bytes());
    fh[20..24].copy_from_slice(&1u32.to_le_bytes());
    out.write_all(&fh)?;
    truth.file_bytes = 24;

    let mut chains: Vec<u64> = (0..cfg.concurrent)
        .map(|_| T0_US + g.rng.below(2_000_000))
        .collect();
    let mut k = T0_US >> BUCKET_BITS;
    g.base = k;
    let noise_per_frame = NOISE / (1.0 - NOISE);
    while truth.packets < cfg.packets {
        let end = (k + 1) << BUCKET_BITS;
        for ti in chains.iter_mut() {
            while *ti < end {
                *ti = g.tcp_flow(*ti) + 50 + g.rng.below(20_000);
            }
        }
        let queued = g.buckets.front().map_or(0, Vec::len);
        if queued > 0 {
            let n = (queued as f64 * noise_per_frame + g.rng.f()) as u64;
            g.noise(k << BUCKET_BITS, 1 << BUCKET_BITS, n);
        }
        let mut ready = g.buckets.pop_front().unwrap_or_default();
        g.base += 1;
        k += 1;
        ready.sort_by_key(|p| p.t);
        ready.truncate((cfg.packets - truth.packets).min(ready.len() as u64) as usize);
        for p in &ready {
            let orig = usize::from(p.hlen) + usize::from(p.plen);
            let cap = orig.min(snap);
            let mut rec = [0u8; 16];
            rec[0..4].copy_from_slice(&((p.t / 1_000_000) as u32).to_le_bytes());
            rec[4..8].copy_from_slice(&((p.t % 1_000_000) as u32).to_le_bytes());
            rec[8..12].copy_from_slice(&(cap as u32).to_le_bytes());
            rec[12..16].copy_from_slice(&(orig as u32).to_le_bytes());
            out.write_all(&rec)?;
            let hl = usize::from(p.hlen).min(cap);
            out.write_all(&p.hdr[..hl])?;
            out.write_all(&ZEROS[..cap - hl])?;
            truth.file_bytes += 16 + cap as u64;
            truth.wire_bytes += orig as u64;
            truth.snaplen_truncated += u64::from(cap < orig);
            truth.by_role[p.role as usize] += 1;
            truth.ipv6_packets += u64::from(p.bits & IS_V6 != 0);
            truth.vlan_packets += u64::from(p.bits & IS_VLAN != 0);
            if p.flow != u32::MAX {
                let f = p.flow as usize;
                if truth.flows.len() <= f {
                    truth.flows.resize(f + 1, 0);
                }
                truth.flows[f] |= bit(p.role);
            }
        }
        if let (Some(first), Some(last)) = (ready.first(), ready.last()) {
            truth.first_ts_us.get_or_insert(first.t);
            truth.last_ts_us = Some(last.t);
        }
        truth.packets += ready.len() as u64;
    }
    out.flush()?;
    truth.flow_bits = g.flow_bits;
    truth.flows.resize(truth.flow_bits.len(), 0);
    Ok(truth)
}
