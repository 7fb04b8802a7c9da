//! Property tests (proptest), docs/robustness.md:
//!
//! 1. `Seq` arithmetic agrees with a modular i64 reference for every pair of sequence
//!    numbers less than 2^31 apart, wherever they sit in the 32-bit space.
//! 2. The report does not depend on where a connection's sequence numbers start: the same
//!    generated connection played with two different ISN pairs (often just below 2^32, so
//!    the data crosses the wrap) gives the same JSON report.
//! 3. Splitting a capture into several files read in sequence gives the same packets,
//!    summary and connections as reading it whole.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use etherparse::PacketBuilder;
use proptest::prelude::*;
use serde_json::Value;
use synack::analysis::analyzer::{analyze_paths, Analyzer, Options};
use synack::capture::file::CaptureReader;
use synack::model::event::NoEvents;
use synack::model::report::Report;
use synack::model::seq::Seq;

// ---------------------------------------------------------------------------------------
// 1. Sequence-number arithmetic
// ---------------------------------------------------------------------------------------

/// Sequence numbers anywhere, with extra weight on both sides of 0 and of 2^31.
fn any_seq() -> impl Strategy<Value = u32> {
    prop_oneof![
        any::<u32>(),
        (u32::MAX - 1000)..=u32::MAX,
        0u32..1000,
        (1u32 << 31) - 1000..(1u32 << 31) + 1000,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn seq_arithmetic_matches_modular_reference(
        a in any_seq(),
        d in -(1i64 << 31) + 1..(1i64 << 31),
    ) {
        let x = Seq(a);
        let y = Seq((i64::from(a) + d).rem_euclid(1 << 32) as u32);
        prop_assert_eq!(i64::from(y.diff(x)), d);
        prop_assert_eq!(i64::from(x.diff(y)), -d);
        prop_assert_eq!(x.lt(y), d > 0);
        prop_assert_eq!(x.le(y), d >= 0);
        prop_assert_eq!(x.gt(y), d < 0);
        prop_assert_eq!(x.ge(y), d <= 0);
        prop_assert_eq!(x.max(y), if d >= 0 { y } else { x });
        // add and sub move by the distance, in either direction, across the wrap.
        let n = d.unsigned_abs() as u32;
        if d >= 0 {
            prop_assert_eq!(x.wrapping_add(n), y);
            prop_assert_eq!(y.wrapping_sub(n), x);
        } else {
            prop_assert_eq!(x.wrapping_sub(n), y);
            prop_assert_eq!(y.wrapping_add(n), x);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Generated connections
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Open {
    /// SYN, SYN/ACK, ACK, with retransmissions of the first two.
    Handshake { syn_retx: u8, synack_retx: u8 },
    /// The SYN answered by RST/ACK.
    Refused,
    /// SYNs and nothing back.
    Unanswered { syns: u8 },
    /// The capture starts after the handshake.
    Midstream,
}

#[derive(Clone, Debug)]
enum Act {
    Data {
        client: bool,
        len: u16,
        acked: bool,
    },
    /// The side's last data segment again.
    Retransmit {
        client: bool,
    },
    /// A keep-alive probe (seq one below the next), maybe answered by the peer.
    Keepalive {
        client: bool,
        one_byte: bool,
        answered: bool,
    },
}

#[derive(Clone, Copy, Debug)]
enum Close {
    ClientFin,
    ServerFin,
    /// The two FINs cross.
    Simultaneous,
    ClientRst,
    ServerRst,
    HalfClosed,
    StillOpen,
}

#[derive(Clone, Debug)]
struct Script {
    open: Open,
    /// Each act with the microseconds of quiet before it.
    acts: Vec<(Act, u32)>,
    close: Close,
}

impl Script {
    /// The close kind synack must report for it (docs/metrics.md).
    fn close_kind(&self) -> &'static str {
        match (&self.open, self.close) {
            (Open::Refused, _) => "refused",
            (Open::Unanswered { .. }, _) => "unanswered",
            (_, Close::ClientFin | Close::ServerFin | Close::Simultaneous) => "fin",
            (_, Close::ClientRst | Close::ServerRst) => "reset",
            (_, Close::HalfClosed) => "half_closed",
            (_, Close::StillOpen) => "open",
        }
    }
}

fn script() -> impl Strategy<Value = Script> {
    let open = prop_oneof![
        6 => (0u8..3, 0u8..3).prop_map(|(syn_retx, synack_retx)| Open::Handshake { syn_retx, synack_retx }),
        1 => Just(Open::Refused),
        1 => (1u8..4).prop_map(|syns| Open::Unanswered { syns }),
        2 => Just(Open::Midstream),
    ];
    let act = prop_oneof![
        5 => (any::<bool>(), 1u16..=1460, any::<bool>())
            .prop_map(|(client, len, acked)| Act::Data { client, len, acked }),
        1 => any::<bool>().prop_map(|client| Act::Retransmit { client }),
        1 => (any::<bool>(), any::<bool>(), any::<bool>())
            .prop_map(|(client, one_byte, answered)| Act::Keepalive { client, one_byte, answered }),
    ];
    let close = prop_oneof![
        Just(Close::ClientFin),
        Just(Close::ServerFin),
        Just(Close::Simultaneous),
        Just(Close::ClientRst),
        Just(Close::ServerRst),
        Just(Close::HalfClosed),
        Just(Close::StillOpen),
    ];
    (
        open,
        prop::collection::vec((act, 1u32..3_000_000), 0..40),
        close,
    )
        .prop_map(|(open, acts, close)| Script { open, acts, close })
}

/// One segment with sequence numbers relative to its sender's ISN (and, for the ACK
/// field, to the receiver's).
#[derive(Clone, Debug)]
struct Seg {
    t_us: u64,
    client: bool,
    syn: bool,
    ack: bool,
    fin: bool,
    rst: bool,
    seq: u32,
    ack_no: u32,
    len: u16,
}

/// Plays a script into relative segments: each side's next sequence number and last data
/// segment are tracked so that ACKs, retransmissions and probes are what a stack sends.
struct Player {
    segs: Vec<Seg>,
    t_us: u64,
    next: [u32; 2],
    last_data: [Option<(u32, u16)>; 2],
}

impl Player {
    fn send(&mut self, client: bool, flags: &str, seq: u32, len: u16) {
        let i = usize::from(!client);
        let has = |c| flags.contains(c);
        let ack = has('A');
        self.segs.push(Seg {
            t_us: self.t_us,
            client,
            syn: has('S'),
            ack,
            fin: has('F'),
            rst: has('R'),
            seq,
            // Stacks leave the ACK field zero without the ACK flag: it must not matter.
            ack_no: if ack { self.next[1 - i] } else { 0 },
            len,
        });
        let end = seq
            .wrapping_add(u32::from(len))
            .wrapping_add(u32::from(has('S')) + u32::from(has('F')));
        if end.wrapping_sub(self.next[i]) as i32 > 0 {
            self.next[i] = end;
        }
    }

    /// The next segment from a side, at its next sequence number.
    fn next_seg(&mut self, client: bool, flags: &str, len: u16) {
        let seq = self.next[usize::from(!client)];
        self.send(client, flags, seq, len);
    }

    fn wait(&mut self, us: u64) {
        self.t_us += us;
    }

    fn play(script: &Script) -> Vec<Seg> {
        let mut p = Player {
            segs: Vec::new(),
            t_us: 0,
            next: [0, 0],
            last_data: [None, None],
        };
        match script.open {
            Open::Handshake {
                syn_retx,
                synack_retx,
            } => {
                for _ in 0..=syn_retx {
                    p.send(true, "S", 0, 0);
                    p.wait(1_000_000);
                }
                for _ in 0..=synack_retx {
                    p.send(false, "SA", 0, 0);
                    p.wait(700);
                }
                p.next_seg(true, "A", 0);
            }
            Open::Refused => {
                p.send(true, "S", 0, 0);
                p.wait(300);
                p.send(false, "RA", 0, 0);
                return p.segs;
            }
            Open::Unanswered { syns } => {
                for _ in 0..syns {
                    p.send(true, "S", 0, 0);
                    p.wait(1_000_000);
                }
                return p.segs;
            }
            Open::Midstream => {}
        }
        for (act, gap) in &script.acts {
            p.wait(u64::from(*gap));
            match *act {
                Act::Data { client, len, acked } => {
                    let seq = p.next[usize::from(!client)];
                    p.last_data[usize::from(!client)] = Some((seq, len));
                    p.next_seg(client, "PA", len);
                    if acked {
                        p.wait(500);
                        p.next_seg(!client, "A", 0);
                    }
                }
                Act::Retransmit { client } => {
                    if let Some((seq, len)) = p.last_data[usize::from(!client)] {
                        p.send(client, "PA", seq, len);
                    }
                }
                Act::Keepalive {
                    client,
                    one_byte,
                    answered,
                } => {
                    let seq = p.next[usize::from(!client)].wrapping_sub(1);
                    p.send(client, "A", seq, u16::from(one_byte));
                    if answered {
                        p.wait(400);
                        p.next_seg(!client, "A", 0);
                    }
                }
            }
        }
        p.wait(2_000);
        match script.close {
            Close::ClientFin | Close::ServerFin => {
                let first = matches!(script.close, Close::ClientFin);
                p.next_seg(first, "FA", 0);
                p.wait(300);
                p.next_seg(!first, "A", 0);
                p.wait(300);
                p.next_seg(!first, "FA", 0);
                p.wait(300);
                p.next_seg(first, "A", 0);
            }
            Close::Simultaneous => {
                // Both FINs leave before either arrives: neither acknowledges the other.
                let client_before_fin = p.next[0];
                p.next_seg(true, "FA", 0);
                p.next_seg(false, "FA", 0);
                p.segs.last_mut().expect("just sent").ack_no = client_before_fin;
                p.wait(300);
                p.next_seg(true, "A", 0);
                p.next_seg(false, "A", 0);
            }
            Close::ClientRst => p.next_seg(true, "RA", 0),
            Close::ServerRst => p.next_seg(false, "RA", 0),
            Close::HalfClosed => {
                p.next_seg(true, "FA", 0);
                p.wait(300);
                p.next_seg(false, "A", 0);
            }
            Close::StillOpen => {}
        }
        p.segs
    }
}

/// ISNs anywhere, often just below 2^32 so that a connection's data crosses the wrap.
fn any_isn() -> impl Strategy<Value = u32> {
    prop_oneof![
        any::<u32>(),
        (u32::MAX - 60_000)..=u32::MAX,
        0u32..100,
        (1u32 << 31) - 60_000..(1u32 << 31),
    ]
}

// ---------------------------------------------------------------------------------------
// Captures in memory
// ---------------------------------------------------------------------------------------

const BASE_S: u64 = 1_767_225_600;
const LINKTYPE_RAW: u32 = 101;

/// A raw-IP frame for a segment of connection `conn` (its client port), with the ISNs.
fn frame(seg: &Seg, conn: u16, isn: (u32, u32)) -> Vec<u8> {
    let (client, server) = ([10, 0, 0, 2], [10, 0, 0, 1]);
    let (src, dst, sport, dport, my_isn, peer_isn) = if seg.client {
        (client, server, 40000 + conn, 80, isn.0, isn.1)
    } else {
        (server, client, 80, 40000 + conn, isn.1, isn.0)
    };
    let mut b =
        PacketBuilder::ipv4(src, dst, 64).tcp(sport, dport, my_isn.wrapping_add(seg.seq), 65000);
    if seg.syn {
        b = b.syn();
    }
    if seg.ack {
        b = b.ack(peer_isn.wrapping_add(seg.ack_no));
    }
    if seg.fin {
        b = b.fin();
    }
    if seg.rst {
        b = b.rst();
    }
    if seg.len > 0 {
        b = b.psh();
    }
    let payload = vec![0x5a; usize::from(seg.len)];
    let mut out = Vec::with_capacity(40 + payload.len());
    b.write(&mut out, &payload).expect("build frame");
    out
}

/// A pcap record: time in µs after `BASE_S`, and the frame.
type Record = (u64, Vec<u8>);

fn pcap(records: &[Record]) -> Vec<u8> {
    let mut out = Vec::new();
    for w in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 262_144, LINKTYPE_RAW] {
        out.extend_from_slice(&w.to_le_bytes());
    }
    for (t_us, data) in records {
        let sec = (BASE_S + t_us / 1_000_000) as u32;
        let len = data.len() as u32;
        for w in [sec, (t_us % 1_000_000) as u32, len, len] {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(data);
    }
    out
}

fn records(segs: &[Seg], conn: u16, isn: (u32, u32), start_us: u64) -> Vec<Record> {
    segs.iter()
        .map(|s| (start_us + s.t_us, frame(s, conn, isn)))
        .collect()
}

/// The JSON report of a capture held in memory.
fn report_of(bytes: Vec<u8>) -> Value {
    let mut reader = CaptureReader::from_read(Box::new(std::io::Cursor::new(bytes))).unwrap();
    let mut analyzer = Analyzer::new(&Options::default());
    reader
        .for_each_packet(|p| analyzer.process(p, &mut NoEvents))
        .unwrap();
    serde_json::to_value(Report::build(analyzer.finish())).unwrap()
}

// ---------------------------------------------------------------------------------------
// 2. ISN independence
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn report_does_not_depend_on_where_sequence_numbers_start(
        script in script(),
        a in (any_isn(), any_isn()),
        b in (any_isn(), any_isn()),
    ) {
        let segs = Player::play(&script);
        // Mid-stream with no act and no close is no packet at all.
        prop_assume!(!segs.is_empty());
        let one = report_of(pcap(&records(&segs, 0, a, 0)));
        let other = report_of(pcap(&records(&segs, 0, b, 0)));
        // The trace is what it was meant to be, so equality is not vacuous.
        prop_assert_eq!(one["packets"]["tcp"].as_u64(), Some(segs.len() as u64));
        prop_assert_eq!(one["connections"].as_array().map(Vec::len), Some(1));
        prop_assert_eq!(one["connections"][0]["close"].as_str(), Some(script.close_kind()));
        prop_assert_eq!(one, other);
    }
}

// ---------------------------------------------------------------------------------------
// 3. Split files
// ---------------------------------------------------------------------------------------

/// The record boundaries of a little-endian pcap held in memory.
fn pcap_records(bytes: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let incl = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        out.push(&bytes[at..at + 16 + incl]);
        at += 16 + incl;
    }
    assert_eq!(at, bytes.len(), "a whole number of records");
    out
}

static CASE: AtomicU64 = AtomicU64::new(0);

/// A fresh directory under cargo's per-test temporary directory.
fn case_dir() -> PathBuf {
    let n = CASE.fetch_add(1, Ordering::Relaxed);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("properties-split-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Reads `whole` as one file and cut at `cuts` (record indexes) as several, and compares.
fn assert_split_is_whole(whole: &[u8], cuts: &[usize]) -> Result<(), TestCaseError> {
    let header = &whole[..24];
    let recs = pcap_records(whole);
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (recs.len() + 1)).collect();
    cuts.sort_unstable();
    let dir = case_dir();
    let whole_path = dir.join("whole.pcap");
    std::fs::write(&whole_path, whole).unwrap();
    let mut parts = Vec::new();
    let mut from = 0;
    for (i, to) in cuts.iter().copied().chain([recs.len()]).enumerate() {
        let mut bytes = header.to_vec();
        for r in &recs[from..to] {
            bytes.extend_from_slice(r);
        }
        let path = dir.join(format!("part-{i}.pcap"));
        std::fs::write(&path, bytes).unwrap();
        parts.push(path);
        from = to;
    }
    let options = Options::default();
    let one = serde_json::to_value(Report::build(analyze_paths(&[whole_path], &options))).unwrap();
    let split = serde_json::to_value(Report::build(analyze_paths(&parts, &options))).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    prop_assert_eq!(
        one["inputs"][0]["packets"].as_u64(),
        Some(recs.len() as u64)
    );
    prop_assert_eq!(
        split["inputs"].as_array().map(Vec::len),
        Some(cuts.len() + 1)
    );
    for key in ["packets", "summary", "connections"] {
        prop_assert_eq!(&one[key], &split[key], "{}", key);
    }
    Ok(())
}

/// Several generated connections, each starting at its own time, interleaved by time.
fn interleaved(scripts: &[(Script, (u32, u32), u64)]) -> Vec<u8> {
    let mut all: Vec<Record> = Vec::new();
    for (i, (script, isn, start_us)) in scripts.iter().enumerate() {
        all.extend(records(&Player::play(script), i as u16, *isn, *start_us));
    }
    // Stable: each connection's own segments keep their order.
    all.sort_by_key(|(t, _)| *t);
    pcap(&all)
}

/// The pcap fixtures with TCP in them (pcapng files are split by the generated cases).
const FIXTURES: &[&str] = &[
    "fixtures/sample.pcap",
    "fixtures/formats/rotated-1.pcap",
    "fixtures/decode/mixed.pcap",
    "fixtures/tcp/keepalive-linux.pcap",
    "fixtures/tcp/port-reuse-time-wait.pcap",
    "fixtures/tcp/retransmission.pcap",
    "fixtures/tcp/seq-wrap.pcap",
    "fixtures/tcp/simultaneous-close.pcap",
    "fixtures/tcp/zero-window.pcap",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn split_generated_capture_reads_as_whole(
        scripts in prop::collection::vec((script(), (any_isn(), any_isn()), 0u64..5_000_000), 1..5),
        cuts in prop::collection::vec(any::<usize>(), 0..4),
    ) {
        assert_split_is_whole(&interleaved(&scripts), &cuts)?;
    }

    #[test]
    fn split_fixture_reads_as_whole(
        file in prop::sample::select(FIXTURES),
        cuts in prop::collection::vec(any::<usize>(), 1..4),
    ) {
        let bytes = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap();
        assert_split_is_whole(&bytes, &cuts)?;
    }
}
