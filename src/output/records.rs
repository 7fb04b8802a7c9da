//! The connection record that every record format writes (`zeek`, `zeek-json`,
//! `parquet`): one list of columns, Zeek's conn.log first with Zeek's meanings, then
//! synack's own figures under `synack.`. Each column reads the typed record (and its
//! `ZeekFacts`) through the functions of `model/figures.rs`; the formats only spell the
//! values. docs/records.md documents every column; a test holds the two together.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use crate::model::app_label::AppKind;
use crate::model::connection_record::{ConnectionRecord, SideFigures};
use crate::model::figures;
use crate::model::report::Report;
use crate::model::rtt::PathRtt;
use crate::model::state::{Closer, Side, TcpState};
use crate::model::time::Timestamp;
use crate::output::community_id::{self, community_id_text, COMMUNITY_ID_LEN};
use crate::output::fit;

/// A column's type as Zeek's `#types` line names it; the Parquet type follows from it
/// (`output::parquet`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZeekType {
    Time,
    String,
    Addr,
    Port,
    Enum,
    Interval,
    Count,
    Bool,
    StringSet,
}

impl ZeekType {
    pub fn as_str(self) -> &'static str {
        match self {
            ZeekType::Time => "time",
            ZeekType::String => "string",
            ZeekType::Addr => "addr",
            ZeekType::Port => "port",
            ZeekType::Enum => "enum",
            ZeekType::Interval => "interval",
            ZeekType::Count => "count",
            ZeekType::Bool => "bool",
            ZeekType::StringSet => "set[string]",
        }
    }
}

/// One field of one record, before a format spells it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    /// Zeek's unset field: `-` in TSV, absent in JSON, null in Parquet.
    Unset,
    Time(Timestamp),
    /// Text synack chose (names, states): no escaping needed beyond the format's own.
    Str(&'a str),
    /// Text taken from packets (a TLS server name): any bytes, escaped by each format.
    Bytes(&'a [u8]),
    Addr(IpAddr),
    Port(u16),
    Count(u64),
    Interval(Duration),
    Bool(bool),
    /// A set of names synack made (uids): never empty (an empty set is `Unset`).
    Names(&'a [String]),
}

/// A column: its Zeek name (dotted; Parquet replaces `.` by `_`), its type, whether it
/// can be unset, a one-line definition (docs/records.md repeats it) and its value.
pub struct Column {
    pub name: &'static str,
    pub zeek_type: ZeekType,
    pub nullable: bool,
    pub about: &'static str,
    pub value: for<'a> fn(&'a Row<'a>) -> Value<'a>,
}

impl Column {
    /// The Parquet column name: `id.orig_h` → `id_orig_h`, `synack.rtt` → `synack_rtt`.
    pub fn parquet_name(&self) -> String {
        self.name.replace('.', "_")
    }
}

impl fmt::Debug for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name, self.zeek_type.as_str())
    }
}

/// Options a record depends on beyond the capture.
#[derive(Clone, Debug, Default)]
pub struct RecordOptions {
    /// Zeek's `Site::local_nets`: when given, `local_orig` and `local_resp` say whether
    /// each address is in one of them; when not, both are unset, as Zeek leaves them.
    pub local_nets: Option<LocalNets>,
}

/// A list of networks (`10.0.0.0/8,fd00::/8`), Zeek's `Site::local_nets`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalNets(Vec<(IpAddr, u8)>);

impl LocalNets {
    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        self.0.iter().any(|&(net, len)| match (net, addr) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(&n.octets(), &a.octets(), len),
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(&n.octets(), &a.octets(), len),
            _ => false,
        })
    }
}

/// An IPv4-mapped IPv6 address is its IPv4 address, as for Zeek.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let (whole, rest) = (usize::from(bits / 8), bits % 8);
    if a[..whole] != b[..whole] {
        return false;
    }
    rest == 0 || {
        let mask = 0xffu8 << (8 - rest);
        a[whole] & mask == b[whole] & mask
    }
}

impl FromStr for LocalNets {
    type Err = String;

    /// Comma-separated `ADDR/LEN` (or a bare address: one host).
    fn from_str(s: &str) -> Result<LocalNets, String> {
        let mut nets = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (addr, len) = match part.split_once('/') {
                Some((a, l)) => (a, Some(l)),
                None => (part, None),
            };
            let addr: IpAddr = addr
                .parse()
                .map_err(|_| format!("{part:?} is not ADDRESS/LENGTH (e.g. 10.0.0.0/8)"))?;
            let addr = canonical(addr);
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let len = match len {
                None => max,
                Some(l) => match l.parse::<u8>() {
                    Ok(n) if n <= max => n,
                    _ => return Err(format!("{part:?}: the prefix length must be 0 to {max}")),
                },
            };
            nets.push((addr, len));
        }
        if nets.is_empty() {
            return Err("no network given (e.g. 10.0.0.0/8,192.168.0.0/16)".into());
        }
        Ok(LocalNets(nets))
    }
}

/// A record seen from Zeek's originator: which endpoint is which, and the values that
/// are computed once per record (uid, Community ID).
pub struct Row<'a> {
    pub record: &'a ConnectionRecord,
    pub orig: SocketAddr,
    pub resp: SocketAddr,
    orig_figures: &'a SideFigures,
    resp_figures: &'a SideFigures,
    orig_state: TcpState,
    resp_state: TcpState,
    /// The path RTT between the capture point and the originator, and the responder.
    orig_rtt: Option<PathRtt>,
    resp_rtt: Option<PathRtt>,
    uid: ShortText,
    community_id: ShortText,
    /// The uids of the tunnels it ran in (empty outside tunnels: no allocation).
    tunnel_parents: Vec<String>,
    /// (local_orig, local_resp), when local networks were given.
    local: Option<(bool, bool)>,
}

impl<'a> Row<'a> {
    pub fn new(r: &'a ConnectionRecord, opts: &RecordOptions) -> Row<'a> {
        let flip = !r.zeek.orig_is_client;
        let (orig, resp) = if flip {
            (r.server, r.client)
        } else {
            (r.client, r.server)
        };
        let (orig_figures, resp_figures) = if flip {
            (&r.server_figures, &r.client_figures)
        } else {
            (&r.client_figures, &r.server_figures)
        };
        let (orig_state, resp_state) = if flip {
            (r.server_state, r.client_state)
        } else {
            (r.client_state, r.server_state)
        };
        let (orig_rtt, resp_rtt) = if flip {
            (r.rtt.server_side, r.rtt.client_side)
        } else {
            (r.rtt.client_side, r.rtt.server_side)
        };
        Row {
            record: r,
            orig,
            resp,
            orig_figures,
            resp_figures,
            orig_state,
            resp_state,
            orig_rtt,
            resp_rtt,
            uid: uid(orig, resp, r.first_seen),
            tunnel_parents: r
                .zeek
                .tunnel_parents
                .iter()
                .filter(|p| **p != 0)
                .map(|p| tunnel_uid(*p))
                .collect(),
            community_id: ShortText::of(&community_id_text(
                0,
                orig.ip(),
                resp.ip(),
                community_id::TCP,
                Some((orig.port(), resp.port())),
            )),
            local: opts
                .local_nets
                .as_ref()
                .map(|n| (n.contains(orig.ip()), n.contains(resp.ip()))),
        }
    }

    /// A synack side as Zeek's: `orig` or `resp`.
    fn side(&self, side: Side) -> &'static str {
        match (side == Side::Client) == self.record.zeek.orig_is_client {
            true => "orig",
            false => "resp",
        }
    }

    /// (client, server) facts as `orig`, `resp`, `both` or unset.
    fn sides(&self, (client, server): (bool, bool)) -> Value<'static> {
        let (orig, resp) = if self.record.zeek.orig_is_client {
            (client, server)
        } else {
            (server, client)
        };
        match (orig, resp) {
            (true, true) => Value::Str("both"),
            (true, false) => Value::Str("orig"),
            (false, true) => Value::Str("resp"),
            (false, false) => Value::Unset,
        }
    }

    /// Zeek leaves duration and the payload byte counts unset when the duration is 0.
    fn lasted(&self) -> bool {
        !self.record.zeek.duration.is_zero()
    }
}

/// An ASCII text of at most `SHORT_TEXT` bytes kept in place (a uid, a Community ID), so
/// that making a row allocates nothing.
#[derive(Clone, Copy)]
pub struct ShortText {
    bytes: [u8; SHORT_TEXT],
    len: u8,
}

/// The longest `ShortText`: a Community ID.
const SHORT_TEXT: usize = COMMUNITY_ID_LEN;

impl ShortText {
    fn of(text: &[u8]) -> ShortText {
        let mut t = ShortText {
            bytes: [0; SHORT_TEXT],
            len: 0,
        };
        for &b in text {
            t.push(b);
        }
        t
    }

    fn push(&mut self, b: u8) {
        // What `as_str` relies on.
        assert!(b.is_ascii(), "a short text is ASCII");
        self.bytes[usize::from(self.len)] = b;
        self.len += 1;
    }

    pub fn as_str(&self) -> &str {
        let bytes = &self.bytes[..usize::from(self.len)];
        // Checking the bytes again for each format was more than making them.
        // SAFETY: `push` is the only writer and takes ASCII only, which is UTF-8.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }
}

/// Zeek's uid shape (`C` and base62 of 96 bits) from a hash of what identifies the
/// connection in any capture: its endpoints and the time of its first packet. The same
/// connection gets the same uid however the capture is read (threads, filters, other
/// files beside it); a 4-tuple reused later starts at another time. The hash is fixed
/// (no random keys), so a uid never changes between runs or versions of synack.
fn uid(orig: SocketAddr, resp: SocketAddr, first: Timestamp) -> ShortText {
    let words = [
        ip_bits(orig.ip()) as u64,
        (ip_bits(orig.ip()) >> 64) as u64,
        ip_bits(resp.ip()) as u64,
        (ip_bits(resp.ip()) >> 64) as u64,
        u64::from(orig.port()) << 16 | u64::from(resp.port()) | u64::from(orig.is_ipv6()) << 32,
        first.as_nanos() as u64,
    ];
    let (mut hi, mut lo) = (0x243f_6a88_85a3_08d3_u64, 0x1319_8a2e_0370_7344_u64);
    for w in words {
        hi = fold(hi ^ w, 0xa409_3822_299f_31d0);
        lo = fold(lo ^ w, 0x082e_fa98_ec4e_6c89);
    }
    let mut s = ShortText::of(b"C");
    base62(fold(hi, lo ^ 0x4528_21e6_38d0_1377), &mut s);
    base62(fold(lo, hi ^ 0xbe54_66cf_34e9_0c6c) & 0xffff_ffff, &mut s);
    s
}

/// A tunnel's uid in `tunnel_parents`, from its outer flow's hash: Zeek's uid shape, the
/// same for every connection that ran in that tunnel. synack writes no record of the
/// tunnel itself (Zeek's tunnel.log and the outer UDP connection's conn.log row): the
/// uid groups the connections that shared a tunnel.
fn tunnel_uid(parent: u32) -> String {
    let p = u64::from(parent);
    let mut s = ShortText::of(b"C");
    base62(
        fold(p ^ 0x9e37_79b9_7f4a_7c15, 0x082e_fa98_ec4e_6c89),
        &mut s,
    );
    base62(
        fold(p ^ 0xc2b2_ae3d_27d4_eb4f, 0x4528_21e6_38d0_1377) & 0xffff_ffff,
        &mut s,
    );
    s.as_str().to_owned()
}

/// The folded multiply of wyhash and foldhash: 64×64 → 128 bits, halves xored.
fn fold(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    (r as u64) ^ ((r >> 64) as u64)
}

fn ip_bits(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// An address as text, without `fmt` (`fit::ipv4_text`: a record has two).
pub fn push_addr(out: &mut Vec<u8>, a: IpAddr) {
    match a {
        IpAddr::V4(v4) => out.extend_from_slice(fit::ipv4_text(&v4, &mut [0; fit::IPV4_TEXT])),
        IpAddr::V6(v6) => out.extend_from_slice(fit::ipv6_text(&v6, &mut [0; fit::IPV6_TEXT])),
    }
}

/// A count in decimal; most are single digits (zeros), written without itoa.
#[inline(always)]
pub fn push_count(out: &mut Vec<u8>, n: u64) {
    if n < 10 {
        out.push(b'0' + n as u8);
    } else {
        out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    }
}

/// Least significant digit first, as Zeek's `uitoa_n` writes them.
fn base62(mut n: u64, out: &mut ShortText) {
    const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    loop {
        out.push(DIGITS[(n % 62) as usize]);
        n /= 62;
        if n == 0 {
            break;
        }
    }
}

fn count(n: u64) -> Value<'static> {
    Value::Count(n)
}

fn interval(d: Option<Duration>) -> Value<'static> {
    d.map_or(Value::Unset, Value::Interval)
}

/// Zeek's service names for what synack recognises (a WebSocket is an HTTP connection
/// upgraded, which Zeek 7's analyzers log as both).
fn service(kind: AppKind) -> Value<'static> {
    match kind {
        AppKind::Http => Value::Str("http"),
        AppKind::WebSocket => Value::Str("http,websocket"),
        AppKind::Tls => Value::Str("ssl"),
        AppKind::Ssh => Value::Str("ssh"),
        AppKind::None | AppKind::Unknown => Value::Unset,
    }
}

macro_rules! col {
    ($name:literal, $ty:ident, $nullable:literal, $about:literal, |$row:ident| $value:expr) => {
        Column {
            name: $name,
            zeek_type: ZeekType::$ty,
            nullable: $nullable,
            about: $about,
            value: |$row| $value,
        }
    };
}

/// A format's spelling of one value, for `each_value`: an implementation marks `value`
/// `#[inline(always)]`, so that each column's spelling is specialised to its type.
pub trait Spell {
    /// `key` is the column's name as a JSON key after a comma: `,"name":`.
    fn value(&mut self, key: &'static str, v: Value<'_>);
}

/// Defines `COLUMNS` from a list of `col!`s, and `each_value`, which reads the same values
/// by direct calls: a format that spells a row through `each_value` is specialised per
/// column (no call through `Column::value`, no `Value` matched at run time), which made
/// writing a record about twice as fast as a loop over `COLUMNS`.
macro_rules! columns {
    ($(col!($name:literal, $ty:ident, $nullable:literal, $about:literal, |$row:ident| $value:expr)),* $(,)?) => {
        /// Every column, in the order every format writes them.
        pub const COLUMNS: &[Column] = &[$(col!($name, $ty, $nullable, $about, |$row| $value)),*];

        /// Every column's JSON key and value for `row`, in `COLUMNS`' order (what
        /// `(COLUMNS[i].value)(row)` gives) to `spell`, inlined at each column.
        #[inline(always)]
        pub fn each_value<'a>(row: &'a Row<'a>, spell: &mut impl Spell) {
            $(spell.value(concat!(",\"", $name, "\":"), {
                let $row = row;
                $value
            });)*
        }
    };
}

columns! {
    // Zeek's conn.log (base/protocols/conn/main.zeek), in Zeek's order.
    col!("ts", Time, false, "time of the connection's first packet", |r| Value::Time(
        r.record.first_seen
    )),
    col!("uid", String, false, "unique id: `C` and base62 of a hash of the endpoints and the first packet's time (the same for the same connection in any run)", |r| Value::Str(r.uid.as_str())),
    col!("id.orig_h", Addr, false, "originator's address (the SYN sender; Zeek's flip for connections seen without their SYN)", |r| Value::Addr(r.orig.ip())),
    col!("id.orig_p", Port, false, "originator's port", |r| Value::Port(r.orig.port())),
    col!("id.resp_h", Addr, false, "responder's address", |r| Value::Addr(r.resp.ip())),
    col!("id.resp_p", Port, false, "responder's port", |r| Value::Port(r.resp.port())),
    col!("proto", Enum, false, "transport protocol: `tcp`", |_r| Value::Str("tcp")),
    col!("service", String, true, "what ran over it, in Zeek's names: `http`, `http,websocket`, `ssl` (TLS), `ssh`; unset when synack did not recognise it", |r| service(r.record.app.kind)),
    col!("duration", Interval, true, "Zeek's duration: first packet to the last that counted, seconds; unset when 0", |r| if r.lasted() {
        Value::Interval(r.record.zeek.duration)
    } else {
        Value::Unset
    }),
    col!("orig_bytes", Count, true, "payload bytes the originator sent, from sequence numbers (a retransmission does not add); unset when duration is 0", |r| if r.lasted() {
        count(r.record.zeek.orig.bytes)
    } else {
        Value::Unset
    }),
    col!("resp_bytes", Count, true, "payload bytes the responder sent, as `orig_bytes`", |r| if r.lasted() {
        count(r.record.zeek.resp.bytes)
    } else {
        Value::Unset
    }),
    col!("conn_state", String, false, "Zeek's connection state: S0, S1, SF, REJ, S2, S3, RSTO, RSTR, RSTOS0, RSTRH, SH, SHR, OTH", |r| Value::Str(r.record.zeek.conn_state.as_str())),
    col!("local_orig", Bool, true, "the originator's address is in `--local-nets`; unset without it", |r| r.local.map_or(Value::Unset, |l| Value::Bool(l.0))),
    col!("local_resp", Bool, true, "the responder's address is in `--local-nets`; unset without it", |r| r.local.map_or(Value::Unset, |l| Value::Bool(l.1))),
    col!("missed_bytes", Count, false, "bytes in content gaps (sequence ranges never seen)", |r| count(r.record.zeek.missed_bytes)),
    col!("history", String, true, "Zeek's history letters (upper case: originator); unset when empty", |r| if r.record.zeek.history.is_empty() {
        Value::Unset
    } else {
        Value::Str(r.record.zeek.history.as_str())
    }),
    col!("orig_pkts", Count, false, "packets the originator sent", |r| count(r.record.zeek.orig.packets)),
    col!("orig_ip_bytes", Count, false, "their IP total lengths, summed", |r| count(r.record.zeek.orig.ip_bytes)),
    col!("resp_pkts", Count, false, "packets the responder sent", |r| count(r.record.zeek.resp.packets)),
    col!("resp_ip_bytes", Count, false, "their IP total lengths, summed", |r| count(r.record.zeek.resp.ip_bytes)),
    col!("tunnel_parents", StringSet, true, "uids of the tunnels it ran in (GRE, VXLAN, Geneve, Teredo, GTP-U, AYIYA, IP in IP), the innermost of each packet, at most two: a hash of the tunnel's outer flow; unset outside tunnels", |r| match r.tunnel_parents.as_slice() {
        [] => Value::Unset,
        names => Value::Names(names),
    }),
    col!("ip_proto", Count, false, "IP protocol number: 6 (Zeek 7.1 and later log it)", |_r| count(6)),
    col!("community_id", String, false, "Community ID v1 of the flow (seed 0)", |r| Value::Str(r.community_id.as_str())),
    // synack's own figures (docs/metrics.md), per side in Zeek's terms.
    col!("synack.id", Count, false, "the connection's number in synack's report (`report --format json` `id`)", |r| count(r.record.id)),
    col!("synack.orig_is_client", Bool, false, "the originator is synack's client; false when Zeek's rules and synack's picked opposite roles (seen without a SYN)", |r| Value::Bool(r.record.zeek.orig_is_client)),
    col!("synack.midstream", Bool, false, "the capture began after the connection did", |r| Value::Bool(r.record.midstream)),
    col!("synack.handshake_attempted", Bool, false, "the client's SYN was seen: the summary's handshakes attempted", |r| Value::Bool(figures::handshake_attempted(r.record) == 1)),
    col!("synack.rtt", Interval, true, "handshake RTT: last SYN → completing ACK, seconds", |r| interval(r.record.handshake_rtt())),
    col!("synack.connect", Interval, true, "connect time: first SYN → completing ACK (SYN retransmissions included), seconds", |r| interval(figures::connect_time(r.record))),
    col!("synack.syn_to_synack", Interval, true, "last SYN → first SYN/ACK, seconds", |r| interval(figures::syn_to_synack(r.record))),
    col!("synack.synack_to_ack", Interval, true, "last SYN/ACK → completing ACK, seconds", |r| interval(figures::synack_to_ack(r.record))),
    col!("synack.syn_retransmits", Count, false, "SYNs sent again", |r| count(figures::syn_retransmits(r.record))),
    col!("synack.synack_retransmits", Count, false, "SYN/ACKs sent again", |r| count(figures::synack_retransmits(r.record))),
    col!("synack.close", String, false, "how it ended: fin, reset, refused, unanswered, handshake_incomplete, half_closed, open", |r| Value::Str(r.record.close.as_str())),
    col!("synack.abnormal", Bool, false, "refused, reset, unanswered or handshake_incomplete", |r| Value::Bool(figures::abnormal(r.record) == 1)),
    col!("synack.closed_by", String, true, "who sent the first FIN: orig, resp, or both (the FINs crossed)", |r| match r.record.closer {
        Some(Closer::Side(s)) => Value::Str(r.side(s)),
        Some(Closer::Both) => Value::Str("both"),
        None => Value::Unset,
    }),
    col!("synack.reset_by", String, true, "who sent the first RST: orig or resp", |r| r.record.reset.map_or(Value::Unset, |x| Value::Str(r.side(x.by)))),
    col!("synack.reset_state", String, true, "the RST sender's RFC 9293 state before it", |r| r.record.reset.map_or(Value::Unset, |x| Value::Str(x.sender_state.as_str()))),
    col!("synack.time_wait", String, true, "who ends in TIME_WAIT: orig, resp, both", |r| r.sides(r.record.time_wait)),
    col!("synack.time_wait_reused", Bool, false, "its SYN reused a 4-tuple still in TIME_WAIT (< 2·MSL)", |r| Value::Bool(figures::time_wait_reused(r.record) == 1)),
    col!("synack.orig_fin", Count, false, "FIN packets the originator sent", |r| count(r.orig_figures.fins)),
    col!("synack.resp_fin", Count, false, "FIN packets the responder sent", |r| count(r.resp_figures.fins)),
    col!("synack.orig_rst", Count, false, "RST packets the originator sent", |r| count(r.orig_figures.rsts)),
    col!("synack.resp_rst", Count, false, "RST packets the responder sent", |r| count(r.resp_figures.rsts)),
    col!("synack.rst_answering_syn", Count, false, "RSTs sent in answer to a SYN", |r| count(figures::rst_answering_syn(r.record))),
    col!("synack.keepalive_probes", Count, false, "keep-alive probes, both sides", |r| count(figures::keepalive_probes(r.record))),
    col!("synack.keepalive_acks", Count, false, "keep-alive probes answered", |r| count(figures::keepalive_acks(r.record))),
    col!("synack.keepalive_unanswered", Count, false, "keep-alive probes not answered", |r| count(figures::keepalive_unanswered(r.record))),
    col!("synack.keepalive_idle", Interval, true, "idle time before the first keep-alive probe, seconds", |r| interval(r.record.keepalive_idle)),
    col!("synack.keepalive_interval", Interval, true, "median interval between probes, seconds", |r| interval(r.record.keepalive_interval)),
    col!("synack.zero_window_probes", Count, false, "zero-window probes, both sides", |r| count(figures::zero_window_probes(r.record))),
    // Issue 20's evidence (docs/metrics.md, "Retransmissions and reordering by evidence"):
    // each side's segments as the sender sent them.
    col!("synack.orig_retransmissions", Count, false, "segments (data, SYN, FIN) the originator sent again, as the evidence tells them: the sum of the four kinds below, spurious ones included", |r| count(r.orig_figures.retransmissions)),
    col!("synack.resp_retransmissions", Count, false, "the same for the responder", |r| count(r.resp_figures.retransmissions)),
    col!("synack.orig_out_of_order", Count, false, "originator's originals that arrived after a later segment (true reordering, not resends)", |r| count(r.orig_figures.out_of_order)),
    col!("synack.resp_out_of_order", Count, false, "the same for the responder", |r| count(r.resp_figures.out_of_order)),
    col!("synack.orig_retransmissions_fast", Count, false, "originator's retransmissions after duplicate ACKs or SACK blocks, or later in that recovery", |r| count(r.orig_figures.loss.fast.into())),
    col!("synack.resp_retransmissions_fast", Count, false, "the same for the responder", |r| count(r.resp_figures.loss.fast.into())),
    col!("synack.orig_retransmissions_timeout", Count, false, "originator's retransmissions after an RTO-sized silence, or later in that recovery", |r| count(r.orig_figures.loss.timeout.into())),
    col!("synack.resp_retransmissions_timeout", Count, false, "the same for the responder", |r| count(r.resp_figures.loss.timeout.into())),
    col!("synack.orig_retransmissions_tail_loss_probe", Count, false, "originator's tail-loss probes: its highest segment resent alone after a silence shorter than an RTO", |r| count(r.orig_figures.loss.tail_loss_probe.into())),
    col!("synack.resp_retransmissions_tail_loss_probe", Count, false, "the same for the responder", |r| count(r.resp_figures.loss.tail_loss_probe.into())),
    col!("synack.orig_retransmissions_unclassified", Count, false, "originator's retransmissions of no evident kind", |r| count(r.orig_figures.loss.unclassified.into())),
    col!("synack.resp_retransmissions_unclassified", Count, false, "the same for the responder", |r| count(r.resp_figures.loss.unclassified.into())),
    col!("synack.orig_spurious_retransmissions", Count, false, "originator's retransmissions the receiver already had (below its cumulative ACK, or a D-SACK said so); part of `synack.orig_retransmissions`", |r| count(r.orig_figures.loss.spurious.into())),
    col!("synack.resp_spurious_retransmissions", Count, false, "the same for the responder", |r| count(r.resp_figures.loss.spurious.into())),
    col!("synack.orig_network_duplicates", Count, false, "originator's segments the network delivered twice (same sequence, IP ID and TSval); not retransmissions", |r| count(r.orig_figures.loss.network_duplicates.into())),
    col!("synack.resp_network_duplicates", Count, false, "the same for the responder", |r| count(r.resp_figures.loss.network_duplicates.into())),
    col!("synack.orig_lost_before_capture", Count, false, "originator's retransmissions whose original never passed the capture point (a hole later filled)", |r| count(r.orig_figures.loss.lost_before_capture.into())),
    col!("synack.resp_lost_before_capture", Count, false, "the same for the responder", |r| count(r.resp_figures.loss.lost_before_capture.into())),
    col!("synack.orig_lost_after_capture", Count, false, "originator's retransmissions whose original passed the capture point and was lost beyond it (not spurious)", |r| count(r.orig_figures.loss.lost_after_capture.into())),
    col!("synack.resp_lost_after_capture", Count, false, "the same for the responder", |r| count(r.resp_figures.loss.lost_after_capture.into())),
    col!("synack.orig_tshark_retransmissions", Count, false, "originator's segments tshark's heuristic calls retransmissions (`tcp.analysis.retransmission`)", |r| count(r.orig_figures.tshark_retransmissions)),
    col!("synack.resp_tshark_retransmissions", Count, false, "the same for the responder", |r| count(r.resp_figures.tshark_retransmissions)),
    col!("synack.orig_tshark_out_of_order", Count, false, "originator's segments tshark's heuristic calls out-of-order (`tcp.analysis.out_of_order`)", |r| count(r.orig_figures.tshark_out_of_order)),
    col!("synack.resp_tshark_out_of_order", Count, false, "the same for the responder", |r| count(r.resp_figures.tshark_out_of_order)),
    col!("synack.orig_ordering_evidence", String, false, "what ordered the originator's segments: timestamps (TSvals), ip_id (rising IPv4 IDs) or timing", |r| Value::Str(r.orig_figures.ordering_evidence.as_str())),
    col!("synack.resp_ordering_evidence", String, false, "the same for the responder", |r| Value::Str(r.resp_figures.ordering_evidence.as_str())),
    // Issue 20's path RTT (docs/metrics.md, "Path RTT"): the path between the capture
    // point and each endpoint, and back; unset without a sample.
    col!("synack.rtt_orig_side_samples", Count, false, "RTT samples of the path between the capture point and the originator (a responder segment seen → the originator's answer seen)", |r| count(r.orig_rtt.map_or(0, |p| p.samples))),
    col!("synack.rtt_resp_side_samples", Count, false, "the same for the path to the responder", |r| count(r.resp_rtt.map_or(0, |p| p.samples))),
    col!("synack.rtt_orig_side_min", Interval, true, "their smallest, seconds", |r| interval(r.orig_rtt.map(|p| p.min))),
    col!("synack.rtt_resp_side_min", Interval, true, "the same for the path to the responder", |r| interval(r.resp_rtt.map(|p| p.min))),
    col!("synack.rtt_orig_side_median", Interval, true, "their median (within 6.25 %), seconds", |r| interval(r.orig_rtt.map(|p| p.median))),
    col!("synack.rtt_resp_side_median", Interval, true, "the same for the path to the responder", |r| interval(r.resp_rtt.map(|p| p.median))),
    col!("synack.rtt_orig_side_p99", Interval, true, "their 99th percentile (within 6.25 %), seconds", |r| interval(r.orig_rtt.map(|p| p.p99))),
    col!("synack.rtt_resp_side_p99", Interval, true, "the same for the path to the responder", |r| interval(r.resp_rtt.map(|p| p.p99))),
    col!("synack.rtt_orig_side_max", Interval, true, "their largest, seconds", |r| interval(r.orig_rtt.map(|p| p.max))),
    col!("synack.rtt_resp_side_max", Interval, true, "the same for the path to the responder", |r| interval(r.resp_rtt.map(|p| p.max))),
    col!("synack.rtt_orig_side_source", String, true, "what timed them: timestamps (TSval → echo) or data_ack (data → its ACK, Karn's rule)", |r| r.orig_rtt.map_or(Value::Unset, |p| Value::Str(p.source.as_str()))),
    col!("synack.rtt_resp_side_source", String, true, "the same for the path to the responder", |r| r.resp_rtt.map_or(Value::Unset, |p| Value::Str(p.source.as_str()))),
    col!("synack.orig_state", String, false, "the originator's final RFC 9293 state", |r| Value::Str(r.orig_state.as_str())),
    col!("synack.resp_state", String, false, "the responder's final RFC 9293 state", |r| Value::Str(r.resp_state.as_str())),
    col!("synack.app", String, false, "synack's label: none (no payload), unknown, http, websocket, tls, ssh", |r| Value::Str(r.record.app.kind.as_str())),
    col!("synack.http_requests", Count, true, "HTTP/1.x requests (http and websocket)", |r| r.record.app.http.map_or(Value::Unset, |h| count(u64::from(h.requests)))),
    col!("synack.http_version", String, true, "HTTP version of the first request: 1.0 or 1.1", |r| match r.record.app.http.and_then(|h| h.version) {
        Some(v) => Value::Str(crate::output::json::http_version_text(v)),
        None => Value::Unset,
    }),
    col!("synack.tls_sni", String, true, "TLS server name, as sent (escaped as each format escapes text)", |r| match (&r.record.app.kind, &r.record.app.sni) {
        (AppKind::Tls, Some(sni)) => Value::Bytes(sni),
        _ => Value::Unset,
    }),
}

/// Text from packets as Zeek's JSON writer keeps it (`escape_utf8`): valid UTF-8 as is,
/// each byte of an invalid sequence as the four characters `\xNN`. JSON and Parquet
/// strings must be UTF-8.
pub fn utf8_text(bytes: &[u8], out: &mut String) {
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for &b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
}

/// Records per block in `write_rows`.
const BLOCK: usize = 2048;

/// Writes every record as `line` spells it, in order. Records are made and spelled in
/// blocks on two threads (`ConnectionList::in_blocks`: the report's workers are done by
/// then, so the second core is free) and written in order.
pub fn write_rows<W: std::io::Write>(
    out: &mut W,
    report: &Report,
    opts: &RecordOptions,
    line: impl Fn(&Row<'_>, &mut Vec<u8>) + Sync,
) -> std::io::Result<()> {
    let list = &report.connections;
    list.in_blocks(
        BLOCK,
        || Vec::with_capacity(BLOCK * 512),
        |range, buf| {
            buf.clear();
            for i in range {
                let record = list.record(i);
                line(&Row::new(&record, opts), buf);
            }
        },
        |buf| out.write_all(buf),
    )
}

/// A time as Zeek's TSV writes it: seconds with six decimals (rounded to the
/// microsecond).
pub fn write_micros(out: &mut Vec<u8>, secs: i64, nanos: u32, trim: bool) {
    let mut micros = (u64::from(nanos) + 500) / 1000;
    let mut secs = secs;
    if micros == 1_000_000 {
        micros = 0;
        secs += 1;
    }
    let mut b = itoa::Buffer::new();
    out.extend_from_slice(b.format(secs).as_bytes());
    let micros = micros as u32;
    let frac = [
        b'.',
        b'0' + (micros / 100_000) as u8,
        b'0' + (micros / 10_000 % 10) as u8,
        b'0' + (micros / 1000 % 10) as u8,
        b'0' + (micros / 100 % 10) as u8,
        b'0' + (micros / 10 % 10) as u8,
        b'0' + (micros % 10) as u8,
    ];
    // JSON numbers as Zeek's JSON writer gives them: the shortest form, one digit at least.
    let keep = if trim {
        frac[2..]
            .iter()
            .rposition(|&d| d != b'0')
            .map_or(1, |i| i + 2)
    } else {
        6
    };
    out.extend_from_slice(&frac[..=keep]);
}

pub fn write_time(out: &mut Vec<u8>, t: Timestamp, trim: bool) {
    write_micros(out, t.secs(), t.subsec_nanos(), trim);
}

pub fn write_interval(out: &mut Vec<u8>, d: Duration, trim: bool) {
    write_micros(
        out,
        i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        d.subsec_nanos(),
        trim,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_parquet_safe() {
        let mut names: Vec<String> = COLUMNS.iter().map(Column::parquet_name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), COLUMNS.len());
        assert!(names.iter().all(|n| n
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')));
    }

    #[test]
    fn local_nets_parse_and_match() {
        let nets: LocalNets = "10.0.0.0/8, 192.168.1.0/24,fd00::/8,172.16.0.5"
            .parse()
            .unwrap();
        for (a, local) in [
            ("10.1.2.3", true),
            ("11.0.0.1", false),
            ("192.168.1.200", true),
            ("192.168.2.1", false),
            ("fd12::1", true),
            ("fe80::1", false),
            ("172.16.0.5", true),
            ("172.16.0.6", false),
            ("::ffff:10.9.9.9", true),
        ] {
            assert_eq!(nets.contains(a.parse().unwrap()), local, "{a}");
        }
        let all: LocalNets = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("1.2.3.4".parse().unwrap()));
        assert!(!all.contains("::1".parse().unwrap()));
        let odd: LocalNets = "10.128.0.0/9".parse().unwrap();
        assert!(odd.contains("10.200.0.1".parse().unwrap()));
        assert!(!odd.contains("10.100.0.1".parse().unwrap()));
        for bad in [
            "",
            "10.0.0.0/33",
            "fd00::/129",
            "10.0.0/8",
            "x",
            "10.0.0.0/-1",
        ] {
            assert!(bad.parse::<LocalNets>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn addresses_are_spelled_as_std_spells_them() {
        let mut addrs: Vec<IpAddr> = [
            "0.0.0.0",
            "9.10.99.100",
            "255.255.255.255",
            "::",
            "::1",
            "1::",
            "1:0:0:2:0:0:0:3",
            "1:0:0:2:0:0:3:4",
            "1:0:2:0:3:0:4:0",
            "0:0:1:0:0:0:0:0",
            "2001:db8::ff00:42:8329",
            "fe80::1:2:3:4",
            "::ffff:10.0.0.1",
            "::10.0.0.1",
            "64:ff9b::1.2.3.4",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        ]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
        // And many more: every pattern of zero and non-zero groups, with values of every
        // hex length.
        for pattern in 0u32..256 {
            let groups: Vec<u16> = (0..8)
                .map(|i| {
                    let value = [0x1, 0x2a, 0x3bc, 0xdef0][(pattern as usize + i) % 4];
                    if pattern >> i & 1 == 1 {
                        value
                    } else {
                        0
                    }
                })
                .collect();
            let mut octets = [0u8; 16];
            for (i, g) in groups.iter().enumerate() {
                octets[2 * i..2 * i + 2].copy_from_slice(&g.to_be_bytes());
            }
            addrs.push(IpAddr::from(octets));
        }
        for a in addrs {
            let mut out = Vec::new();
            push_addr(&mut out, a);
            assert_eq!(String::from_utf8(out).unwrap(), a.to_string());
        }
    }

    #[test]
    fn times_round_to_the_microsecond() {
        let cases = [
            (1, 0, false, "1.000000"),
            (1, 0, true, "1.0"),
            (1, 499, false, "1.000000"),
            (1, 500, false, "1.000001"),
            (1, 999_999_500, false, "2.000000"),
            (1_300_475_167, 96_535_000, true, "1300475167.096535"),
            (0, 63_810_000, false, "0.063810"),
            (0, 63_810_000, true, "0.06381"),
        ];
        for (s, n, trim, want) in cases {
            let mut out = Vec::new();
            write_micros(&mut out, s, n, trim);
            assert_eq!(String::from_utf8(out).unwrap(), want);
        }
    }

    #[test]
    fn uid_is_zeek_shaped_and_depends_on_identity() {
        let a: SocketAddr = "10.0.0.2:40000".parse().unwrap();
        let b: SocketAddr = "10.0.0.1:80".parse().unwrap();
        let t = Timestamp::from_nanos(1_000);
        let u = uid(a, b, t).as_str().to_owned();
        assert!(u.starts_with('C') && (12..=19).contains(&u.len()), "{u}");
        assert!(u[1..].bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(u, uid(a, b, t).as_str());
        assert_ne!(u, uid(b, a, t).as_str());
        assert_ne!(u, uid(a, b, Timestamp::from_nanos(1_001)).as_str());
    }
}
