//! Runs the real `synack` binary on the committed fixtures (fixtures/README.md describes
//! each one; examples/mkfixtures.rs generates them) and checks exact numbers.
//!
//! The expected values are literal tables taken from fixtures/README.md, except where
//! synack deliberately follows another convention (each such cell says so):
//!
//! * (a) SYN and SYN/ACK retransmissions also count in `retransmissions` (they occupy
//!   sequence space; Wireshark flags them too); the README counts them only in its SYN
//!   column.
//! * (b) `synack_to_ack_ms` is measured from the last SYN/ACK before the ACK, `rtt_ms`
//!   from the last SYN of either side (as Wireshark) to the segment that completed the
//!   handshake, so a simultaneous open has numbers where the README says "n/a".
//! * (c) a simultaneous close has `closed_by: "both"` and `time_wait: "both"`.
//! * (d) a FIN+RST segment names its sender in `closed_by` while `close` is `reset`.
//!
//! The README's "undecodable" column is split by synack into `undecodable` and
//! `unsupported_link`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

mod common;
use common::{root, synack};

// ---------------------------------------------------------------------------------------
// Running synack
// ---------------------------------------------------------------------------------------

/// `synack report --format json FILES...`, which must succeed silently.
fn report_json(files: &[&str]) -> (Value, String) {
    let mut args = vec!["report", "--format", "json"];
    args.extend(files.iter().map(|f| &**f));
    let out = synack().args(&args).output();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{files:?}: exit status, stderr: {stderr}"
    );
    assert!(stderr.is_empty(), "{files:?}: unexpected stderr: {stderr}");
    let text = String::from_utf8(out.stdout).expect("UTF-8 JSON");
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{files:?}: JSON does not parse: {e}"));
    (json, text)
}

fn report(file: &str) -> Value {
    report_json(&[&format!("fixtures/{file}")]).0
}

fn u(v: &Value, ctx: &str) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("{ctx}: expected an integer, got {v}"))
}

fn s(v: &Value) -> Option<&str> {
    v.as_str()
}

/// A millisecond figure as integer nanoseconds, parsed exactly from its decimal text.
fn ms_to_ns(text: &str) -> i128 {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    assert!(frac.len() <= 6, "{text}: more than nanosecond digits");
    let int: i128 = int.parse().unwrap_or_else(|_| panic!("bad number {text}"));
    let frac: i128 = format!("{frac:0<6}").parse().expect("fraction");
    int * 1_000_000 + frac
}

/// Whether a JSON millisecond figure equals the README's value (exact decimal text, with
/// 1 µs tolerance); `None` means JSON null.
fn ms_eq(actual: &Value, expected: Option<&str>) -> bool {
    match expected {
        None => actual.is_null(),
        // With serde_json's arbitrary_precision the number keeps its text.
        Some(e) => {
            actual.is_number() && (ms_to_ns(&actual.to_string()) - ms_to_ns(e)).abs() <= 1_000
        }
    }
}

fn assert_ms(actual: &Value, expected: Option<&str>, ctx: &str) {
    assert!(
        ms_eq(actual, expected),
        "{ctx}: expected {expected:?} ms, got {actual}"
    );
}

// ---------------------------------------------------------------------------------------
// Packet counts of every fixture
// ---------------------------------------------------------------------------------------

/// One row of fixtures/README.md's summary table.
struct Counts {
    file: &'static str,
    total: u64,
    tcp: u64,
    udp: u64,
    icmp: u64,
    other: u64,
    fragments: u64,
    undecodable: u64,
    unsupported_link: u64,
    snaplen_truncated: u64,
    connections: u64,
}

const fn c(
    file: &'static str,
    [total, tcp, udp, icmp, other, fragments, undecodable, unsupported_link, snaplen_truncated, connections]: [u64; 10],
) -> Counts {
    Counts {
        file,
        total,
        tcp,
        udp,
        icmp,
        other,
        fragments,
        undecodable,
        unsupported_link,
        snaplen_truncated,
        connections,
    }
}

/// `[total, tcp, udp, icmp, other, fragments, undecodable, unsupported_link,
/// snaplen_truncated, connections]`, from the README (every file but bad/).
#[rustfmt::skip]
const COUNTS: &[Counts] = &[
    c("sample.pcap",                    [79, 72, 4, 2, 1, 0, 0, 0, 0, 8]),
    c("linktypes/ethernet.pcap",        [10, 10, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("linktypes/vlan.pcap",            [10, 10, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("linktypes/qinq.pcap",            [10, 10, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("linktypes/vlan3.pcap",           [10, 10, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("linktypes/sll.pcap",             [10, 10, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("linktypes/sll2.pcap",            [10, 10, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("linktypes/raw.pcap",             [10, 10, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("linktypes/raw12.pcap",           [10, 10, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("linktypes/ipv4.pcap",            [10, 10, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("linktypes/ipv6.pcap",            [10, 10, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("linktypes/null-le.pcap",         [10, 10, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("linktypes/null-be.pcap",         [10, 10, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("linktypes/loop.pcap",            [10, 10, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("linktypes/null-ipv6.pcap",       [10, 10, 0, 0, 0, 0, 0, 0, 0, 1]),
    // README: undecodable 3; synack counts them as unsupported_link.
    c("linktypes/unsupported.pcap",     [ 3,  0, 0, 0, 0, 0, 0, 3, 0, 0]),
    c("formats/be-usec.pcap",           [10, 10, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("formats/le-nsec.pcap",           [10, 10, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("formats/be-nsec.pcap",           [10, 10, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("formats/two-sections.pcapng",    [10, 10, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("formats/multi-if.pcapng",        [20, 20, 0, 0, 0, 0, 0, 0, 0, 2]),
    c("formats/rotated-1.pcap",         [ 6,  6, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("formats/rotated-2.pcap",         [ 4,  4, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("decode/ipv4-options.pcap",       [10, 10, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("decode/ipv6-ext.pcap",           [10, 10, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("decode/fragments.pcap",          [ 7,  0, 0, 0, 0, 7, 0, 0, 0, 0]),
    c("decode/snaplen.pcap",            [10, 10, 0, 0, 0, 0, 0, 0, 10, 1]),
    c("decode/snaplen-short.pcap",      [ 2,  0, 0, 0, 0, 0, 2, 0, 2, 0]),
    c("decode/mixed.pcap",              [15,  4, 2, 4, 4, 0, 1, 0, 0, 1]),
    c("decode/tunnel-gre.pcap",                 [10, 10, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("decode/tunnel-gre-ethernet.pcap",        [10, 10, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("decode/tunnel-erspan2.pcap",             [10, 10, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("decode/tunnel-erspan3.pcap",             [10, 10, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("decode/tunnel-pptp.pcap",                [10, 10, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("decode/tunnel-gre-udp.pcap",             [10, 10, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("decode/tunnel-vxlan.pcap",               [10, 10, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("decode/tunnel-geneve.pcap",              [10, 10, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("decode/tunnel-teredo.pcap",              [10, 10, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("decode/tunnel-ipip.pcap",                [10, 10, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("decode/tunnel-6in4.pcap",                [10, 10, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("decode/tunnel-gtpu.pcap",                [10, 10, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("decode/tunnel-ayiya.pcap",               [10, 10, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("decode/tunnel-nested.pcap",              [10, 10, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("decode/tunnel-too-deep.pcap",   [10,  0, 0, 0, 0, 0, 10, 0, 0, 0]),
    c("decode/llc-snap.pcap",          [10, 10, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("decode/fddi.pcap",              [10, 10, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("tcp/syn-retransmit.pcap",        [11, 11, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("tcp/synack-retransmit.pcap",     [11, 11, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("tcp/refused.pcap",               [ 2,  2, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("tcp/unanswered.pcap",            [ 4,  4, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("tcp/simultaneous-open.pcap",     [ 9,  9, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("tcp/midstream.pcap",             [10, 10, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("tcp/close-client.pcap",          [11, 11, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("tcp/close-server.pcap",          [11, 11, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("tcp/simultaneous-close.pcap",    [11, 11, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("tcp/half-close.pcap",            [14, 14, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("tcp/rst-established-client.pcap", [8, 8, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("tcp/rst-established-server.pcap", [8, 8, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("tcp/rst-after-fin.pcap",         [10, 10, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("tcp/rst-after-both-fins.pcap",   [12, 12, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("tcp/fin-rst.pcap",               [ 8,  8, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("tcp/keepalive-linux.pcap",       [18, 18, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("tcp/keepalive-unanswered.pcap",  [16, 16, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("tcp/keepalive-windows.pcap",     [17, 17, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("tcp/keepalive-server-dead.pcap", [17, 17, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("tcp/keepalive-rst-answer.pcap",  [ 8,  8, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("tcp/zero-window.pcap",           [21, 21, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("tcp/port-reuse-time-wait.pcap",  [27, 27, 0, 0, 0, 0, 0, 0, 0, 3]),
    c("tcp/seq-wrap.pcap",              [15, 15, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("tcp/ipv6.pcap",                  [10, 10, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("tcp/tfo.pcap",                   [ 8,  8, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("tcp/retransmission.pcap",        [21, 21, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("app/http-keepalive.pcap",        [46, 46, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("app/http10.pcap",                [ 9,  9, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("app/websocket.pcap",             [13, 13, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("app/tls-sni.pcap",               [11, 11, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("app/tls-hostile-sni.pcap",       [ 9,  9, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("app/ssh.pcap",                   [11, 11, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("app/unknown.pcap",               [11, 11, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("edge/rst-unacceptable-ack.pcap", [11, 11, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("edge/spurious-long-rtt.pcap",    [10, 10, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("edge/overlap-new-data.pcap",     [10, 10, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("edge/synack-missed.pcap",        [ 5,  5, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("edge/starts-at-synack.pcap",     [ 5,  5, 0, 0, 0, 0, 0, 0, 0, 1]),
    c("edge/rst-out-of-window.pcap",    [12, 12, 0, 0, 0, 0, 0, 0, 0, 1]),
];

/// Every capture under fixtures/ except bad/, fuzz/, archive/ and truth/ (tests/cli.rs,
/// tests/fuzz_regressions.rs, tests/archives.rs and tests/truth.rs pin those), relative
/// to fixtures/.
fn fixture_files() -> BTreeSet<String> {
    fn walk(dir: &Path, base: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).expect("read fixtures dir") {
            let path = entry.expect("dir entry").path();
            let rel = path.strip_prefix(base).expect("under fixtures/");
            if path.is_dir() {
                if rel != Path::new("bad")
                    && rel != Path::new("fuzz")
                    && rel != Path::new("archive")
                    && rel != Path::new("truth")
                {
                    walk(&path, base, out);
                }
            } else if rel != Path::new("README.md") {
                out.insert(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let base: PathBuf = root().join("fixtures");
    let mut out = BTreeSet::new();
    walk(&base, &base, &mut out);
    out
}

#[test]
fn the_count_table_covers_every_fixture() {
    let listed: BTreeSet<String> = COUNTS.iter().map(|c| c.file.to_string()).collect();
    assert_eq!(listed.len(), COUNTS.len(), "a file is listed twice");
    assert_eq!(listed, fixture_files());
}

#[test]
fn packet_counts_and_connections_of_every_fixture() {
    let mut failures = Vec::new();
    for e in COUNTS {
        let j = report(e.file);
        let p = &j["packets"];
        let got = [
            u(&p["total"], e.file),
            u(&p["tcp"], e.file),
            u(&p["udp"], e.file),
            u(&p["icmp"], e.file),
            u(&p["other"], e.file),
            u(&p["fragments"], e.file),
            u(&p["undecodable"], e.file),
            u(&p["unsupported_link"], e.file),
            u(&p["snaplen_truncated"], e.file),
            u(&j["summary"]["connections"], e.file),
        ];
        let want = [
            e.total,
            e.tcp,
            e.udp,
            e.icmp,
            e.other,
            e.fragments,
            e.undecodable,
            e.unsupported_link,
            e.snaplen_truncated,
            e.connections,
        ];
        if got != want {
            failures.push(format!("{}: got {got:?}, want {want:?}", e.file));
        }
        assert_eq!(u(&p["filtered_out"], e.file), 0, "{}", e.file);
        let conns = j["connections"].as_array().expect("connections").len() as u64;
        assert_eq!(conns, e.connections, "{}: connections array", e.file);
        assert_eq!(u(&j["inputs"][0]["packets"], e.file), e.total, "{}", e.file);
    }
    assert!(
        failures.is_empty(),
        "[total, tcp, udp, icmp, other, fragments, undecodable, unsupported_link, snaplen_truncated, connections]\n{}",
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// Per-connection figures of sample.pcap and tcp/*.pcap
// ---------------------------------------------------------------------------------------

/// The handshake object; `None` in [`Conn`] when it must be JSON null (mid-stream).
struct Hs {
    /// SYN→SYN/ACK, SYN/ACK→ACK, last SYN→ACK (`rtt_ms`), in ms; `None` = null.
    times: [Option<&'static str>; 3],
    syn_retransmits: u64,
    synack_retransmits: u64,
}

/// A plain handshake: one SYN, one SYN/ACK.
const fn hs(syn_synack: &'static str, synack_ack: &'static str, rtt: &'static str) -> Option<Hs> {
    Some(Hs {
        times: [Some(syn_synack), Some(synack_ack), Some(rtt)],
        syn_retransmits: 0,
        synack_retransmits: 0,
    })
}

/// A handshake that never completed: no times.
const fn untimed(syn_retransmits: u64) -> Option<Hs> {
    Some(Hs {
        times: [None, None, None],
        syn_retransmits,
        synack_retransmits: 0,
    })
}

/// One row of a per-file connection table in fixtures/README.md. Pairs are
/// `[client, server]` (or `[client→server, server→client]`).
struct Conn {
    file: &'static str,
    client: &'static str,
    server: &'static str,
    packets: [u64; 2],
    payload: [u64; 2],
    handshake: Option<Hs>,
    close: &'static str,
    abnormal: bool,
    midstream: bool,
    closed_by: Option<&'static str>,
    reset_by: Option<&'static str>,
    reset_state: Option<&'static str>,
    time_wait: Option<&'static str>,
    states: [&'static str; 2],
    rst: [u64; 2],
    fin: [u64; 2],
    /// `[probes, acks, unanswered]`.
    keepalive: [u64; 3],
    zero_window_probes: u64,
    retransmissions: [u64; 2],
    reused_time_wait: bool,
}

/// Defaults for the figures most rows share: a client-first FIN close with nothing
/// unusual. Every row still states its own close, states and handshake.
const NORMAL: Conn = Conn {
    file: "",
    client: "",
    server: "",
    packets: [0, 0],
    payload: [0, 0],
    handshake: None,
    close: "fin",
    abnormal: false,
    midstream: false,
    closed_by: Some("client"),
    reset_by: None,
    reset_state: None,
    time_wait: Some("client"),
    states: ["TIME_WAIT", "CLOSED"],
    rst: [0, 0],
    fin: [1, 1],
    keepalive: [0, 0, 0],
    zero_window_probes: 0,
    retransmissions: [0, 0],
    reused_time_wait: false,
};

const TW_CLIENT: [&str; 2] = ["TIME_WAIT", "CLOSED"];
const BOTH_CLOSED: [&str; 2] = ["CLOSED", "CLOSED"];

#[rustfmt::skip]
const CONNS: &[Conn] = &[
    // ---- sample.pcap, in the README's table order (s1..s8) ----
    Conn { file: "sample.pcap", client: "10.0.0.2:51001", server: "10.0.0.1:80",
        packets: [6, 5], payload: [89, 2000], handshake: hs("1.200", "0.060", "1.260"),
        close: "fin", closed_by: Some("client"), time_wait: Some("client"), states: TW_CLIENT,
        ..NORMAL },
    Conn { file: "sample.pcap", client: "10.0.0.2:51002", server: "10.0.0.1:8080",
        packets: [6, 5], payload: [120, 800], handshake: hs("15.000", "0.060", "15.060"),
        close: "fin", closed_by: Some("server"), time_wait: Some("server"),
        states: ["CLOSED", "TIME_WAIT"], ..NORMAL },
    Conn { file: "sample.pcap", client: "10.0.0.2:51003", server: "10.0.0.1:8081",
        packets: [1, 1], payload: [0, 0], handshake: untimed(0),
        close: "refused", abnormal: true, closed_by: None, time_wait: None,
        reset_by: Some("server"), reset_state: Some("CLOSED"), states: BOTH_CLOSED,
        rst: [0, 1], fin: [0, 0], ..NORMAL },
    Conn { file: "sample.pcap", client: "10.0.0.2:51004", server: "10.0.0.9:443",
        packets: [3, 0], payload: [0, 0], handshake: untimed(2),
        close: "unanswered", abnormal: true, closed_by: None, time_wait: None,
        states: ["SYN_SENT", "CLOSED"], fin: [0, 0],
        // (a): the 2 SYN retransmissions; README 0 / 0.
        retransmissions: [2, 0], ..NORMAL },
    Conn { file: "sample.pcap", client: "10.0.0.2:51005", server: "10.0.0.1:443",
        packets: [7, 5], payload: [517, 2000],
        handshake: Some(Hs { times: [Some("40.000"), Some("0.090"), Some("40.090")],
            syn_retransmits: 1, synack_retransmits: 0 }),
        close: "fin", closed_by: Some("client"), time_wait: Some("client"), states: TW_CLIENT,
        // (a): the SYN retransmission; README 0 / 0.
        retransmissions: [1, 0], ..NORMAL },
    Conn { file: "sample.pcap", client: "10.0.0.2:51006", server: "10.0.0.1:9000",
        packets: [5, 4], payload: [128, 256], handshake: hs("2.500", "0.060", "2.560"),
        close: "reset", abnormal: true, closed_by: None, time_wait: None,
        reset_by: Some("server"), reset_state: Some("ESTABLISHED"), states: BOTH_CLOSED,
        rst: [0, 1], fin: [0, 0], ..NORMAL },
    Conn { file: "sample.pcap", client: "10.0.0.2:51007", server: "10.0.0.1:22",
        packets: [7, 6], payload: [21, 21], handshake: hs("3.100", "0.060", "3.160"),
        close: "open", closed_by: None, time_wait: None,
        states: ["ESTABLISHED", "ESTABLISHED"], fin: [0, 0], keepalive: [3, 3, 0], ..NORMAL },
    Conn { file: "sample.pcap", client: "[2001:db8::2]:51008", server: "[2001:db8::1]:443",
        packets: [6, 5], payload: [300, 1200], handshake: hs("22.000", "0.060", "22.060"),
        close: "fin", closed_by: Some("client"), time_wait: Some("client"), states: TW_CLIENT,
        ..NORMAL },

    // ---- tcp/ ----
    Conn { file: "tcp/syn-retransmit.pcap", client: "10.0.0.2:40001", server: "10.0.0.1:80",
        packets: [7, 4], payload: [50, 120],
        handshake: Some(Hs { times: [Some("20.000"), Some("20.000"), Some("40.000")],
            syn_retransmits: 1, synack_retransmits: 0 }),
        close: "fin", states: TW_CLIENT,
        // (a): README 0 / 0.
        retransmissions: [1, 0], ..NORMAL },
    Conn { file: "tcp/synack-retransmit.pcap", client: "10.0.0.2:40002", server: "10.0.0.1:80",
        packets: [6, 5], payload: [80, 400],
        // (b): SYN/ACK→ACK from the retransmitted SYN/ACK (README: same).
        handshake: Some(Hs { times: [Some("0.100"), Some("25.000"), Some("1025.100")],
            syn_retransmits: 0, synack_retransmits: 1 }),
        close: "fin", states: TW_CLIENT,
        // (a): README 0 / 0.
        retransmissions: [0, 1], ..NORMAL },
    Conn { file: "tcp/refused.pcap", client: "10.0.0.2:40003", server: "10.0.0.1:81",
        packets: [1, 1], payload: [0, 0], handshake: untimed(0),
        close: "refused", abnormal: true, closed_by: None, time_wait: None,
        reset_by: Some("server"), reset_state: Some("CLOSED"), states: BOTH_CLOSED,
        rst: [0, 1], fin: [0, 0], ..NORMAL },
    Conn { file: "tcp/unanswered.pcap", client: "10.0.0.2:40004", server: "10.0.0.9:443",
        packets: [4, 0], payload: [0, 0], handshake: untimed(3),
        close: "unanswered", abnormal: true, closed_by: None, time_wait: None,
        states: ["SYN_SENT", "CLOSED"], fin: [0, 0],
        // (a): README 0 / 0.
        retransmissions: [3, 0], ..NORMAL },
    Conn { file: "tcp/simultaneous-open.pcap", client: "10.0.0.2:7000", server: "10.0.0.1:7001",
        packets: [5, 4], payload: [0, 0],
        // (b): README "n/a". The handshake completes when the second SYN/ACK (30.000 ms)
        // reaches 10.0.0.2 (RFC 9293 §3.5 figure 8); the last SYN is 10.0.0.1's (0.100 ms).
        // Wireshark's iRTT ends at the next plain ACK instead: 29.950 ms.
        handshake: Some(Hs { times: [Some("29.900"), Some("0.000"), Some("29.900")],
            syn_retransmits: 0, synack_retransmits: 0 }),
        close: "fin", states: TW_CLIENT,
        // (a): each SYN/ACK re-sends its sender's SYN (same ISN), as Wireshark flags
        // them (frames 3, 4); README 0 / 0.
        retransmissions: [1, 1], ..NORMAL },
    Conn { file: "tcp/midstream.pcap", client: "10.0.0.2:51000", server: "10.0.0.1:5432",
        packets: [6, 4], payload: [100, 500], handshake: None,
        close: "fin", midstream: true, states: TW_CLIENT, ..NORMAL },
    Conn { file: "tcp/close-client.pcap", client: "10.0.0.2:40006", server: "10.0.0.1:80",
        packets: [6, 5], payload: [200, 1000], handshake: hs("12.000", "0.060", "12.060"),
        close: "fin", states: TW_CLIENT, ..NORMAL },
    Conn { file: "tcp/close-server.pcap", client: "10.0.0.2:40007", server: "10.0.0.1:80",
        packets: [6, 5], payload: [200, 1000], handshake: hs("12.000", "0.060", "12.060"),
        close: "fin", closed_by: Some("server"), time_wait: Some("server"),
        states: ["CLOSED", "TIME_WAIT"], ..NORMAL },
    Conn { file: "tcp/simultaneous-close.pcap", client: "10.0.0.2:40008", server: "10.0.0.1:80",
        packets: [6, 5], payload: [200, 1000], handshake: hs("12.000", "0.060", "12.060"),
        // (c): README first FIN "client".
        close: "fin", closed_by: Some("both"), time_wait: Some("both"),
        states: ["TIME_WAIT", "TIME_WAIT"], ..NORMAL },
    Conn { file: "tcp/half-close.pcap", client: "10.0.0.2:40009", server: "10.0.0.1:80",
        packets: [8, 6], payload: [200, 2500], handshake: hs("12.000", "0.060", "12.060"),
        close: "fin", states: TW_CLIENT, ..NORMAL },
    Conn { file: "tcp/rst-established-client.pcap", client: "10.0.0.2:40010", server: "10.0.0.1:80",
        packets: [5, 3], payload: [200, 1000], handshake: hs("12.000", "0.060", "12.060"),
        close: "reset", abnormal: true, closed_by: None, time_wait: None,
        reset_by: Some("client"), reset_state: Some("ESTABLISHED"), states: BOTH_CLOSED,
        rst: [1, 0], fin: [0, 0], ..NORMAL },
    Conn { file: "tcp/rst-established-server.pcap", client: "10.0.0.2:40011", server: "10.0.0.1:80",
        packets: [4, 4], payload: [200, 1000], handshake: hs("12.000", "0.060", "12.060"),
        close: "reset", abnormal: true, closed_by: None, time_wait: None,
        reset_by: Some("server"), reset_state: Some("ESTABLISHED"), states: BOTH_CLOSED,
        rst: [0, 1], fin: [0, 0], ..NORMAL },
    Conn { file: "tcp/rst-after-fin.pcap", client: "10.0.0.2:40012", server: "10.0.0.1:80",
        packets: [5, 5], payload: [200, 1000], handshake: hs("12.000", "0.060", "12.060"),
        close: "reset", abnormal: true, closed_by: Some("client"), time_wait: None,
        reset_by: Some("server"), reset_state: Some("CLOSE_WAIT"), states: BOTH_CLOSED,
        rst: [0, 1], fin: [1, 0], ..NORMAL },
    Conn { file: "tcp/rst-after-both-fins.pcap", client: "10.0.0.2:40013", server: "10.0.0.1:80",
        packets: [6, 6], payload: [200, 1000], handshake: hs("12.000", "0.060", "12.060"),
        // Closed by FINs; the server's later RST (sent from CLOSED) does not end the
        // client's TIME_WAIT (RFC 1337).
        close: "fin", closed_by: Some("client"), time_wait: Some("client"),
        reset_by: Some("server"), reset_state: Some("CLOSED"), states: TW_CLIENT,
        rst: [0, 1], fin: [1, 1], ..NORMAL },
    Conn { file: "tcp/fin-rst.pcap", client: "10.0.0.2:40014", server: "10.0.0.1:80",
        packets: [5, 3], payload: [200, 1000], handshake: hs("12.000", "0.060", "12.060"),
        // (d): FIN+RST from the client.
        close: "reset", abnormal: true, closed_by: Some("client"), time_wait: None,
        reset_by: Some("client"), reset_state: Some("ESTABLISHED"), states: BOTH_CLOSED,
        rst: [1, 0], fin: [1, 0], ..NORMAL },
    Conn { file: "tcp/keepalive-linux.pcap", client: "10.0.0.2:40015", server: "10.0.0.1:22",
        packets: [11, 7], payload: [150, 280], handshake: hs("30.000", "0.060", "30.060"),
        close: "fin", states: TW_CLIENT, keepalive: [3, 3, 0], ..NORMAL },
    Conn { file: "tcp/keepalive-unanswered.pcap", client: "10.0.0.2:40016", server: "10.0.0.1:22",
        packets: [14, 2], payload: [100, 200], handshake: hs("30.000", "0.060", "30.060"),
        close: "reset", abnormal: true, closed_by: None, time_wait: None,
        reset_by: Some("client"), reset_state: Some("ESTABLISHED"), states: BOTH_CLOSED,
        rst: [1, 0], fin: [0, 0], keepalive: [9, 0, 9], ..NORMAL },
    Conn { file: "tcp/keepalive-windows.pcap", client: "10.0.0.2:40017", server: "10.0.0.1:445",
        packets: [10, 7], payload: [104, 200], handshake: hs("5.000", "0.060", "5.060"),
        close: "fin", states: TW_CLIENT, keepalive: [4, 4, 0], ..NORMAL },
    Conn { file: "tcp/keepalive-server-dead.pcap", client: "10.0.0.2:40031", server: "10.0.0.1:5432",
        packets: [4, 13], payload: [100, 200], handshake: hs("30.000", "0.060", "30.060"),
        close: "reset", abnormal: true, closed_by: None, time_wait: None,
        reset_by: Some("server"), reset_state: Some("ESTABLISHED"), states: BOTH_CLOSED,
        rst: [0, 1], fin: [0, 0], keepalive: [10, 0, 10], ..NORMAL },
    // The server answers the probe with a RST (seq = the probe's ack): the probe stays
    // unanswered, as tshark has no keep_alive_ack for it.
    Conn { file: "tcp/keepalive-rst-answer.pcap", client: "10.0.0.2:40032", server: "10.0.0.1:22",
        packets: [5, 3], payload: [100, 200], handshake: hs("30.000", "0.060", "30.060"),
        close: "reset", abnormal: true, closed_by: None, time_wait: None,
        reset_by: Some("server"), reset_state: Some("ESTABLISHED"), states: BOTH_CLOSED,
        rst: [0, 1], fin: [0, 0], keepalive: [1, 0, 1], ..NORMAL },
    Conn { file: "tcp/zero-window.pcap", client: "10.0.0.2:40018", server: "10.0.0.1:9000",
        packets: [12, 9], payload: [5003, 0], handshake: hs("10.000", "0.060", "10.060"),
        close: "fin", states: TW_CLIENT, zero_window_probes: 3, ..NORMAL },
    Conn { file: "tcp/port-reuse-time-wait.pcap", client: "10.0.0.2:45000", server: "10.0.0.1:80",
        packets: [6, 3], payload: [100, 300], handshake: hs("1.500", "0.060", "1.560"),
        close: "fin", states: TW_CLIENT, reused_time_wait: false, ..NORMAL },
    // 5 s after the first connection's close: inside 2·MSL (120 s).
    Conn { file: "tcp/port-reuse-time-wait.pcap", client: "10.0.0.2:45000", server: "10.0.0.1:80",
        packets: [6, 3], payload: [100, 300], handshake: hs("1.500", "0.060", "1.560"),
        close: "fin", states: TW_CLIENT, reused_time_wait: true, ..NORMAL },
    // 200 s after the second connection's close: outside 2·MSL.
    Conn { file: "tcp/port-reuse-time-wait.pcap", client: "10.0.0.2:45000", server: "10.0.0.1:80",
        packets: [6, 3], payload: [100, 300], handshake: hs("1.500", "0.060", "1.560"),
        close: "fin", states: TW_CLIENT, reused_time_wait: false, ..NORMAL },
    Conn { file: "tcp/seq-wrap.pcap", client: "10.0.0.2:40019", server: "10.0.0.1:80",
        packets: [9, 6], payload: [400, 100], handshake: hs("5.000", "0.060", "5.060"),
        close: "fin", states: TW_CLIENT, retransmissions: [1, 0], ..NORMAL },
    Conn { file: "tcp/ipv6.pcap", client: "[2001:db8::2]:40020", server: "[2001:db8::1]:443",
        packets: [6, 4], payload: [300, 1200], handshake: hs("18.000", "0.060", "18.060"),
        close: "fin", states: TW_CLIENT, ..NORMAL },
    Conn { file: "tcp/tfo.pcap", client: "10.0.0.2:40021", server: "10.0.0.1:80",
        packets: [5, 3], payload: [100, 200], handshake: hs("8.000", "0.060", "8.060"),
        close: "fin", states: TW_CLIENT, ..NORMAL },
    Conn { file: "tcp/retransmission.pcap", client: "10.0.0.2:40022", server: "10.0.0.1:80",
        packets: [13, 8], payload: [8000, 0], handshake: hs("20.000", "0.060", "20.060"),
        // The FIN was sent twice.
        close: "fin", states: TW_CLIENT, fin: [2, 1], retransmissions: [4, 0], ..NORMAL },
];

/// Checks one connection object against its row; returns the differences.
fn diff_conn(got: &Value, e: &Conn) -> Vec<String> {
    let mut d = Vec::new();
    let mut eq = |what: &str, g: String, w: String| {
        if g != w {
            d.push(format!("{what}: got {g}, want {w}"));
        }
    };
    let pair = |v: &Value, a: &str, b: &str| [u(&v[a], a), u(&v[b], b)];
    let dir = |v: &Value| pair(v, "client_to_server", "server_to_client");
    let side = |v: &Value| pair(v, "client", "server");
    eq(
        "client",
        format!("{:?}", s(&got["client"])),
        format!("{:?}", Some(e.client)),
    );
    eq(
        "server",
        format!("{:?}", s(&got["server"])),
        format!("{:?}", Some(e.server)),
    );
    eq(
        "packets",
        format!("{:?}", dir(&got["packets"])),
        format!("{:?}", e.packets),
    );
    eq(
        "payload_bytes",
        format!("{:?}", dir(&got["payload_bytes"])),
        format!("{:?}", e.payload),
    );
    let h = &got["handshake"];
    match &e.handshake {
        None => eq("handshake", h.to_string(), "null".into()),
        Some(hs) => {
            if !h.is_object() {
                eq("handshake", h.to_string(), "an object".into());
            } else {
                let keys = ["syn_to_synack_ms", "synack_to_ack_ms", "rtt_ms"];
                for (k, want) in keys.iter().zip(hs.times) {
                    if !ms_eq(&h[*k], want) {
                        d.push(format!("handshake.{k}: got {}, want {want:?}", h[*k]));
                    }
                }
                let mut eq = |what: &str, g: u64, w: u64| {
                    if g != w {
                        d.push(format!("handshake.{what}: got {g}, want {w}"));
                    }
                };
                eq(
                    "syn_retransmits",
                    u(&h["syn_retransmits"], "syn_retransmits"),
                    hs.syn_retransmits,
                );
                eq(
                    "synack_retransmits",
                    u(&h["synack_retransmits"], "synack_retransmits"),
                    hs.synack_retransmits,
                );
            }
        }
    }
    let mut eq = |what: &str, g: String, w: String| {
        if g != w {
            d.push(format!("{what}: got {g}, want {w}"));
        }
    };
    let opt = |v: &Value| format!("{:?}", s(v));
    eq("close", opt(&got["close"]), format!("{:?}", Some(e.close)));
    eq(
        "abnormal",
        got["abnormal"].to_string(),
        e.abnormal.to_string(),
    );
    eq(
        "midstream",
        got["midstream"].to_string(),
        e.midstream.to_string(),
    );
    eq(
        "closed_by",
        opt(&got["closed_by"]),
        format!("{:?}", e.closed_by),
    );
    eq(
        "reset_by",
        opt(&got["reset_by"]),
        format!("{:?}", e.reset_by),
    );
    eq(
        "reset_state",
        opt(&got["reset_state"]),
        format!("{:?}", e.reset_state),
    );
    eq(
        "time_wait",
        opt(&got["time_wait"]),
        format!("{:?}", e.time_wait),
    );
    eq(
        "states",
        format!(
            "{:?}",
            [s(&got["states"]["client"]), s(&got["states"]["server"])]
        ),
        format!("{:?}", e.states.map(Some)),
    );
    eq(
        "rst",
        format!("{:?}", side(&got["rst"])),
        format!("{:?}", e.rst),
    );
    eq(
        "fin",
        format!("{:?}", side(&got["fin"])),
        format!("{:?}", e.fin),
    );
    let k = &got["keepalive"];
    eq(
        "keepalive [probes, acks, unanswered]",
        format!(
            "{:?}",
            [
                u(&k["probes"], "probes"),
                u(&k["acks"], "acks"),
                u(&k["unanswered"], "unanswered")
            ]
        ),
        format!("{:?}", e.keepalive),
    );
    eq(
        "zero_window_probes",
        got["zero_window_probes"].to_string(),
        e.zero_window_probes.to_string(),
    );
    eq(
        "retransmissions",
        format!("{:?}", side(&got["retransmissions"])),
        format!("{:?}", e.retransmissions),
    );
    eq(
        "reused_time_wait",
        got["reused_time_wait"].to_string(),
        e.reused_time_wait.to_string(),
    );
    d
}

fn tcp_files() -> BTreeSet<String> {
    let mut files: BTreeSet<String> = fixture_files()
        .into_iter()
        .filter(|f| f.starts_with("tcp/"))
        .collect();
    files.insert("sample.pcap".into());
    files
}

#[test]
fn the_connection_table_covers_sample_and_every_tcp_fixture() {
    let listed: BTreeSet<String> = CONNS.iter().map(|c| c.file.to_string()).collect();
    assert_eq!(listed, tcp_files());
}

#[test]
fn per_connection_figures() {
    let mut failures = Vec::new();
    for file in tcp_files() {
        let j = report(&file);
        let got = j["connections"].as_array().expect("connections");
        let want: Vec<&Conn> = CONNS.iter().filter(|c| c.file == file).collect();
        assert_eq!(got.len(), want.len(), "{file}: number of connections");
        // Match by client+server; connections sharing a 4-tuple in order of first packet.
        let mut used = vec![false; got.len()];
        for e in &want {
            let Some(i) = (0..got.len()).find(|&i| {
                !used[i]
                    && s(&got[i]["client"]) == Some(e.client)
                    && s(&got[i]["server"]) == Some(e.server)
            }) else {
                failures.push(format!(
                    "{file}: no connection {} -> {}",
                    e.client, e.server
                ));
                continue;
            };
            used[i] = true;
            for d in diff_conn(&got[i], e) {
                failures.push(format!("{file} {} -> {}: {d}", e.client, e.server));
            }
        }
        // The ids are in order of first packet, from 1.
        let ids: Vec<u64> = got.iter().map(|c| u(&c["id"], "id")).collect();
        assert_eq!(
            ids,
            (1..=got.len() as u64).collect::<Vec<_>>(),
            "{file}: ids"
        );
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn port_reuse_connections_are_in_capture_order() {
    let j = report("tcp/port-reuse-time-wait.pcap");
    let c = j["connections"].as_array().unwrap();
    let first: Vec<String> = c.iter().map(|c| c["first_seen"].to_string()).collect();
    assert_eq!(
        first,
        [
            "1767225600.000000000",
            "1767225605.051560000",
            "1767225805.103120000"
        ]
    );
    let reused: Vec<bool> = c
        .iter()
        .map(|c| c["reused_time_wait"].as_bool().unwrap())
        .collect();
    assert_eq!(reused, [false, true, false]);
}

/// TCP Fast Open (RFC 7413 §4.2.2): the SYN/ACK acknowledges the SYN *and* its data
/// (ack = ISN + 1 + 100). That is the server accepting the data, not a wrong ACK.
#[test]
fn tfo_synack_acking_syn_data_is_no_anomaly() {
    let j = report("tcp/tfo.pcap");
    assert_eq!(j["connections"][0]["anomalies"], serde_json::json!({}));
}

#[test]
fn no_anomalies_in_the_scenario_fixtures() {
    // tfo.pcap is covered (as a known bug) above.
    for file in tcp_files().into_iter().filter(|f| f != "tcp/tfo.pcap") {
        let j = report(&file);
        for c in j["connections"].as_array().unwrap() {
            assert_eq!(c["anomalies"], serde_json::json!({}), "{file}: {}", c["id"]);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Summary totals of sample.pcap and tcp/*.pcap
// ---------------------------------------------------------------------------------------

/// Expected `summary` of one file. Arrays follow the JSON key order.
struct Sum {
    file: &'static str,
    /// attempted, completed, syn_retransmits, synack_retransmits
    handshakes: [u64; 4],
    /// fin, reset, refused, unanswered, handshake_incomplete, half_closed, open,
    /// midstream, abnormal
    closes: [u64; 9],
    /// packets, from_client, from_server, answering_syn
    rst: [u64; 4],
    fin_packets: u64,
    /// client, server, simultaneous, reused
    time_wait: [u64; 4],
    /// probes, acks, unanswered, connections
    keepalive: [u64; 4],
    zero_window_probes: u64,
    retransmissions: u64,
}

/// One client-first FIN close, nothing else.
const ONE_FIN: Sum = Sum {
    file: "",
    handshakes: [1, 1, 0, 0],
    closes: [1, 0, 0, 0, 0, 0, 0, 0, 0],
    rst: [0, 0, 0, 0],
    fin_packets: 2,
    time_wait: [1, 0, 0, 0],
    keepalive: [0, 0, 0, 0],
    zero_window_probes: 0,
    retransmissions: 0,
};

const RESET: [u64; 9] = [0, 1, 0, 0, 0, 0, 0, 0, 1];

#[rustfmt::skip]
const SUMS: &[Sum] = &[
    // retransmissions: (a) the 3 SYN retransmissions.
    Sum { file: "sample.pcap", handshakes: [8, 6, 3, 0], closes: [4, 1, 1, 1, 0, 0, 1, 0, 3],
        rst: [2, 0, 2, 1], fin_packets: 8, time_wait: [3, 1, 0, 0], keepalive: [3, 3, 0, 1],
        zero_window_probes: 0, retransmissions: 3 },
    Sum { file: "tcp/syn-retransmit.pcap", handshakes: [1, 1, 1, 0], retransmissions: 1, ..ONE_FIN },
    Sum { file: "tcp/synack-retransmit.pcap", handshakes: [1, 1, 0, 1], retransmissions: 1, ..ONE_FIN },
    Sum { file: "tcp/refused.pcap", handshakes: [1, 0, 0, 0], closes: [0, 0, 1, 0, 0, 0, 0, 0, 1],
        rst: [1, 0, 1, 1], fin_packets: 0, time_wait: [0; 4], ..ONE_FIN },
    Sum { file: "tcp/unanswered.pcap", handshakes: [1, 0, 3, 0], closes: [0, 0, 0, 1, 0, 0, 0, 0, 1],
        fin_packets: 0, time_wait: [0; 4], retransmissions: 3, ..ONE_FIN },
    Sum { file: "tcp/simultaneous-open.pcap", retransmissions: 2, ..ONE_FIN },
    Sum { file: "tcp/midstream.pcap", handshakes: [0; 4], closes: [1, 0, 0, 0, 0, 0, 0, 1, 0], ..ONE_FIN },
    Sum { file: "tcp/close-client.pcap", ..ONE_FIN },
    Sum { file: "tcp/close-server.pcap", time_wait: [0, 1, 0, 0], ..ONE_FIN },
    Sum { file: "tcp/simultaneous-close.pcap", time_wait: [1, 1, 1, 0], ..ONE_FIN },
    Sum { file: "tcp/half-close.pcap", ..ONE_FIN },
    Sum { file: "tcp/rst-established-client.pcap", closes: RESET, rst: [1, 1, 0, 0],
        fin_packets: 0, time_wait: [0; 4], ..ONE_FIN },
    Sum { file: "tcp/rst-established-server.pcap", closes: RESET, rst: [1, 0, 1, 0],
        fin_packets: 0, time_wait: [0; 4], ..ONE_FIN },
    Sum { file: "tcp/rst-after-fin.pcap", closes: RESET, rst: [1, 0, 1, 0],
        fin_packets: 1, time_wait: [0; 4], ..ONE_FIN },
    Sum { file: "tcp/rst-after-both-fins.pcap", rst: [1, 0, 1, 0], ..ONE_FIN },
    Sum { file: "tcp/fin-rst.pcap", closes: RESET, rst: [1, 1, 0, 0],
        fin_packets: 1, time_wait: [0; 4], ..ONE_FIN },
    Sum { file: "tcp/keepalive-linux.pcap", keepalive: [3, 3, 0, 1], ..ONE_FIN },
    Sum { file: "tcp/keepalive-unanswered.pcap", closes: RESET, rst: [1, 1, 0, 0],
        fin_packets: 0, time_wait: [0; 4], keepalive: [9, 0, 9, 1], ..ONE_FIN },
    Sum { file: "tcp/keepalive-windows.pcap", keepalive: [4, 4, 0, 1], ..ONE_FIN },
    Sum { file: "tcp/keepalive-server-dead.pcap", closes: RESET, rst: [1, 0, 1, 0],
        fin_packets: 0, time_wait: [0; 4], keepalive: [10, 0, 10, 1], ..ONE_FIN },
    Sum { file: "tcp/keepalive-rst-answer.pcap", closes: RESET, rst: [1, 0, 1, 0],
        fin_packets: 0, time_wait: [0; 4], keepalive: [1, 0, 1, 1], ..ONE_FIN },
    Sum { file: "tcp/zero-window.pcap", zero_window_probes: 3, ..ONE_FIN },
    Sum { file: "tcp/port-reuse-time-wait.pcap", handshakes: [3, 3, 0, 0],
        closes: [3, 0, 0, 0, 0, 0, 0, 0, 0], fin_packets: 6, time_wait: [3, 0, 0, 1], ..ONE_FIN },
    Sum { file: "tcp/seq-wrap.pcap", retransmissions: 1, ..ONE_FIN },
    Sum { file: "tcp/ipv6.pcap", ..ONE_FIN },
    Sum { file: "tcp/tfo.pcap", ..ONE_FIN },
    Sum { file: "tcp/retransmission.pcap", fin_packets: 3, retransmissions: 4, ..ONE_FIN },
];

fn values(v: &Value, keys: &[&str]) -> Vec<u64> {
    keys.iter().map(|k| u(&v[*k], k)).collect()
}

#[test]
fn summary_totals() {
    let listed: BTreeSet<String> = SUMS.iter().map(|s| s.file.to_string()).collect();
    assert_eq!(listed, tcp_files(), "summary table coverage");
    let mut failures = Vec::new();
    for e in SUMS {
        let j = report(e.file);
        let s = &j["summary"];
        let mut check = |what: &str, got: Vec<u64>, want: &[u64]| {
            if got != want {
                failures.push(format!("{}: {what}: got {got:?}, want {want:?}", e.file));
            }
        };
        check(
            "handshakes",
            values(
                &s["handshakes"],
                &[
                    "attempted",
                    "completed",
                    "syn_retransmits",
                    "synack_retransmits",
                ],
            ),
            &e.handshakes,
        );
        check(
            "closes",
            values(
                &s["closes"],
                &[
                    "fin",
                    "reset",
                    "refused",
                    "unanswered",
                    "handshake_incomplete",
                    "half_closed",
                    "open",
                    "midstream",
                    "abnormal",
                ],
            ),
            &e.closes,
        );
        check(
            "rst",
            values(
                &s["rst"],
                &["packets", "from_client", "from_server", "answering_syn"],
            ),
            &e.rst,
        );
        check(
            "fin_packets",
            vec![u(&s["fin_packets"], "fin_packets")],
            &[e.fin_packets],
        );
        check(
            "time_wait",
            values(
                &s["time_wait"],
                &["client", "server", "simultaneous", "reused"],
            ),
            &e.time_wait,
        );
        check(
            "keepalive",
            values(
                &s["keepalive"],
                &["probes", "acks", "unanswered", "connections"],
            ),
            &e.keepalive,
        );
        check(
            "zero_window_probes",
            vec![u(&s["zero_window_probes"], "zero_window_probes")],
            &[e.zero_window_probes],
        );
        check(
            "retransmissions",
            vec![u(&s["retransmissions"], "retransmissions")],
            &[e.retransmissions],
        );
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn sample_handshake_distributions() {
    let j = report("sample.pcap");
    let s = &j["summary"];
    // Six completed handshakes (README: last SYN→ACK 1.260, 3.160, 15.060, 40.090, 2.560,
    // 22.060 ms); nearest-rank percentiles.
    let expect = [
        (
            "handshake_rtt_ms",
            ["1.260", "3.160", "40.090", "40.090", "40.090"],
        ),
        (
            "syn_to_synack_ms",
            ["1.200", "3.100", "40.000", "40.000", "40.000"],
        ),
        (
            "synack_to_ack_ms",
            ["0.060", "0.060", "0.090", "0.090", "0.090"],
        ),
    ];
    for (key, want) in expect {
        let d = &s[key];
        assert_eq!(u(&d["count"], key), 6, "{key}.count");
        for (p, w) in ["min", "p50", "p90", "p99", "max"].iter().zip(want) {
            assert_ms(&d[*p], Some(w), &format!("{key}.{p}"));
        }
    }
    // Exact text: six decimals (nanosecond digits).
    let text = report_json(&["fixtures/sample.pcap"]).1;
    assert!(text.contains("\"p50\":3.160000"), "{text}");
}

// ---------------------------------------------------------------------------------------
// Formats
// ---------------------------------------------------------------------------------------

#[test]
fn rotated_files_read_together_form_one_connection() {
    let (j, _) = report_json(&[
        "fixtures/formats/rotated-1.pcap",
        "fixtures/formats/rotated-2.pcap",
    ]);
    let p = &j["packets"];
    assert_eq!(u(&p["total"], "total"), 10);
    assert_eq!(u(&p["tcp"], "tcp"), 10);
    let inputs = j["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), 2);
    assert_eq!(inputs[0]["file"], "fixtures/formats/rotated-1.pcap");
    assert_eq!(u(&inputs[0]["packets"], "packets"), 6);
    assert_eq!(inputs[1]["file"], "fixtures/formats/rotated-2.pcap");
    assert_eq!(u(&inputs[1]["packets"], "packets"), 4);
    assert_eq!(u(&j["summary"]["connections"], "connections"), 1);
    let c = &j["connections"][0];
    assert_eq!(c["client"], "192.0.2.10:40000");
    assert_eq!(c["server"], "192.0.2.80:80");
    assert_eq!(c["roles_from"], "syn");
    assert_eq!(c["midstream"], false);
    assert_eq!(c["close"], "fin");
    assert_eq!(c["time_wait"], "client");
    assert_eq!(u(&c["packets"]["client_to_server"], "c2s"), 6);
    assert_eq!(u(&c["packets"]["server_to_client"], "s2c"), 4);
    assert_eq!(u(&c["payload_bytes"]["client_to_server"], "c2s"), 100);
    assert_eq!(u(&c["payload_bytes"]["server_to_client"], "s2c"), 300);
    assert_ms(&c["handshake"]["rtt_ms"], Some("10.080"), "rtt_ms");
    assert_eq!(
        c["retransmissions"],
        serde_json::json!({"client": 0, "server": 0})
    );
    // Nothing is mid-stream once the files are joined.
    assert_eq!(j["warnings"], serde_json::json!([]));
    let s = &j["summary"];
    assert_eq!(u(&s["closes"]["fin"], "fin"), 1);
    assert_eq!(u(&s["closes"]["midstream"], "midstream"), 0);
    assert_eq!(u(&s["fin_packets"], "fin_packets"), 2);
    assert_eq!(u(&s["time_wait"]["client"], "tw"), 1);
    assert_eq!(u(&s["handshakes"]["completed"], "completed"), 1);
}

#[test]
fn rotated_second_file_alone_is_midstream() {
    let j = report("formats/rotated-2.pcap");
    let c = &j["connections"][0];
    assert_eq!(c["midstream"], true);
    assert_eq!(c["roles_from"], "port");
    assert_eq!(c["client"], "192.0.2.10:40000");
    assert!(c["handshake"].is_null());
}

#[test]
fn multi_interface_pcapng_with_two_link_types() {
    let (j, text) = report_json(&["fixtures/formats/multi-if.pcapng"]);
    let input = &j["inputs"][0];
    assert_eq!(input["format"], "pcapng");
    let links: Vec<u64> = input["link_types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| u(&l["id"], "id"))
        .collect();
    assert_eq!(links, [1, 101]);
    assert!(input["link_types"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["supported"] == true));
    let c = j["connections"].as_array().unwrap();
    assert_eq!(c.len(), 2);
    assert_eq!(c[0]["client"], "192.0.2.10:40000");
    assert_eq!(c[0]["server"], "192.0.2.80:80");
    assert_eq!(c[1]["client"], "192.0.2.11:40001");
    assert_eq!(c[1]["server"], "192.0.2.81:80");
    for (conn, payload) in c.iter().zip([[100, 300], [200, 400]]) {
        assert_eq!(u(&conn["packets"]["client_to_server"], "c2s"), 6);
        assert_eq!(u(&conn["packets"]["server_to_client"], "s2c"), 4);
        assert_eq!(
            u(&conn["payload_bytes"]["client_to_server"], "c2s"),
            payload[0]
        );
        assert_eq!(
            u(&conn["payload_bytes"]["server_to_client"], "s2c"),
            payload[1]
        );
        assert_eq!(conn["close"], "fin");
    }
    // Interface 1 has nanosecond timestamps: all nine digits survive.
    assert_eq!(c[1]["first_seen"].to_string(), "1767225600.005000789");
    assert!(text.contains("\"first_seen\":1767225600.005000789"));
    assert!(text.contains("\"last_packet\":1767225600.045160690"));
    assert_eq!(c[1]["handshake"]["rtt_ms"].to_string(), "10.079423");
    assert_eq!(c[0]["handshake"]["rtt_ms"].to_string(), "10.080000");
}

#[test]
fn two_section_pcapng() {
    let j = report("formats/two-sections.pcapng");
    assert_eq!(j["inputs"][0]["format"], "pcapng");
    assert_eq!(u(&j["inputs"][0]["packets"], "packets"), 10);
    let c = &j["connections"][0];
    assert_eq!(j["connections"].as_array().unwrap().len(), 1);
    assert_eq!(c["client"], "192.0.2.10:40000");
    assert_eq!(c["close"], "fin");
    assert_eq!(c["midstream"], false);
    assert_eq!(u(&c["packets"]["client_to_server"], "c2s"), 6);
    assert_eq!(u(&c["packets"]["server_to_client"], "s2c"), 4);
    // Same packets as the Ethernet pcap: the same connection.
    let eth = report("linktypes/ethernet.pcap");
    assert_eq!(j["connections"], eth["connections"]);
}

#[test]
fn nanosecond_files_keep_nine_digits() {
    for file in ["formats/le-nsec.pcap", "formats/be-nsec.pcap"] {
        let (j, text) = report_json(&[&format!("fixtures/{file}")]);
        let input = &j["inputs"][0];
        assert_eq!(input["timestamp_precision"], "ns", "{file}");
        assert!(text.contains(".123456789"), "{file}");
        assert!(
            text.contains("\"first_seen\":1767225600.123456789"),
            "{file}"
        );
        assert!(
            text.contains("\"last_seen\":1767225600.163616690"),
            "{file}"
        );
        assert!(text.contains("\"duration_s\":0.040159901"), "{file}");
        let h = &j["connections"][0]["handshake"];
        // tshark: tcp.analysis.initial_rtt 0.010079423.
        assert_eq!(h["rtt_ms"].to_string(), "10.079423", "{file}");
        assert_eq!(h["syn_to_synack_ms"].to_string(), "9.999212", "{file}");
        assert_eq!(h["synack_to_ack_ms"].to_string(), "0.080211", "{file}");
    }
    // Both byte orders read the same packets.
    assert_eq!(
        report("formats/le-nsec.pcap")["connections"],
        report("formats/be-nsec.pcap")["connections"]
    );
}

#[test]
fn big_endian_files() {
    let be = report("formats/be-usec.pcap");
    let input = &be["inputs"][0];
    assert_eq!(input["format"], "pcap");
    assert_eq!(input["byte_order"], "big-endian");
    assert_eq!(input["timestamp_precision"], "us");
    assert_eq!(input["version"], "2.4");
    assert_eq!(u(&input["snaplen"], "snaplen"), 262144);
    assert_eq!(input["first_packet"].to_string(), "1767225600.000000000");
    // The same exchange as the little-endian Ethernet file, figure for figure.
    let le = report("linktypes/ethernet.pcap");
    assert_eq!(le["inputs"][0]["byte_order"], "little-endian");
    assert_eq!(be["connections"], le["connections"]);
    assert_eq!(be["packets"], le["packets"]);
    assert_eq!(be["summary"], le["summary"]);
    let nsec = report("formats/be-nsec.pcap");
    assert_eq!(nsec["inputs"][0]["byte_order"], "big-endian");
}

// ---------------------------------------------------------------------------------------
// Link types
// ---------------------------------------------------------------------------------------

#[test]
fn every_link_type_gives_one_connection_of_ten_packets() {
    const V4: (&str, &str) = ("192.0.2.10:40000", "192.0.2.80:80");
    const V6: (&str, &str) = ("[2001:db8::10]:40000", "[2001:db8::80]:80");
    #[rustfmt::skip]
    let table: &[(&str, u64, (&str, &str))] = &[
        ("ethernet.pcap", 1, V4),
        ("vlan.pcap", 1, V4),
        ("qinq.pcap", 1, V4),
        ("vlan3.pcap", 1, V4),
        ("sll.pcap", 113, V4),
        ("sll2.pcap", 276, V4),
        ("raw.pcap", 101, V4),
        ("raw12.pcap", 12, V4),
        ("ipv4.pcap", 228, V4),
        ("ipv6.pcap", 229, V6),
        ("null-le.pcap", 0, V4),
        ("null-be.pcap", 0, V4),
        ("loop.pcap", 108, V4),
        ("null-ipv6.pcap", 0, V6),
    ];
    let listed: BTreeSet<String> = table
        .iter()
        .map(|(f, _, _)| format!("linktypes/{f}"))
        .chain(["linktypes/unsupported.pcap".to_string()])
        .collect();
    let on_disk: BTreeSet<String> = fixture_files()
        .into_iter()
        .filter(|f| f.starts_with("linktypes/"))
        .collect();
    assert_eq!(listed, on_disk);
    for (file, link, (client, server)) in table {
        let j = report(&format!("linktypes/{file}"));
        let ctx = *file;
        assert_eq!(u(&j["packets"]["total"], ctx), 10, "{ctx}");
        assert_eq!(u(&j["packets"]["tcp"], ctx), 10, "{ctx}");
        let lt = &j["inputs"][0]["link_types"];
        assert_eq!(lt.as_array().unwrap().len(), 1, "{ctx}");
        assert_eq!(u(&lt[0]["id"], ctx), *link, "{ctx}");
        assert_eq!(lt[0]["supported"], true, "{ctx}");
        let c = j["connections"].as_array().unwrap();
        assert_eq!(c.len(), 1, "{ctx}");
        assert_eq!(c[0]["client"], *client, "{ctx}");
        assert_eq!(c[0]["server"], *server, "{ctx}");
        assert_eq!(c[0]["roles_from"], "syn", "{ctx}");
        assert_eq!(u(&c[0]["packets"]["client_to_server"], ctx), 6, "{ctx}");
        assert_eq!(u(&c[0]["packets"]["server_to_client"], ctx), 4, "{ctx}");
        assert_eq!(
            u(&c[0]["payload_bytes"]["client_to_server"], ctx),
            100,
            "{ctx}"
        );
        assert_eq!(
            u(&c[0]["payload_bytes"]["server_to_client"], ctx),
            300,
            "{ctx}"
        );
        assert_eq!(c[0]["close"], "fin", "{ctx}");
        assert_eq!(j["warnings"], serde_json::json!([]), "{ctx}");
    }
}

#[test]
fn unsupported_link_type_is_counted_and_warned_about() {
    let out = synack()
        .args([
            "report",
            "--format",
            "json",
            "fixtures/linktypes/unsupported.pcap",
        ])
        .output();
    assert_eq!(out.status.code(), Some(0));
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    let p = &j["packets"];
    assert_eq!(u(&p["total"], "total"), 3);
    assert_eq!(u(&p["unsupported_link"], "unsupported_link"), 3);
    assert_eq!(u(&p["undecodable"], "undecodable"), 0);
    assert_eq!(u(&p["tcp"], "tcp"), 0);
    assert_eq!(j["connections"], serde_json::json!([]));
    let lt = &j["inputs"][0]["link_types"][0];
    assert_eq!(u(&lt["id"], "id"), 147);
    assert_eq!(lt["supported"], false);
    let warnings: Vec<&str> = j["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w.as_str())
        .collect();
    assert_eq!(
        warnings,
        ["fixtures/linktypes/unsupported.pcap: link type 147 is not supported; its packets are counted as unsupported_link"]
    );
}

// ---------------------------------------------------------------------------------------
// Decoding details the count table does not show
// ---------------------------------------------------------------------------------------

#[test]
fn snaplen_cut_segments_take_their_payload_from_the_ip_length() {
    let j = report("decode/snaplen.pcap");
    let c = &j["connections"][0];
    assert_eq!(u(&c["payload_bytes"]["client_to_server"], "c2s"), 500);
    assert_eq!(u(&c["payload_bytes"]["server_to_client"], "s2c"), 1200);
    assert_eq!(c["close"], "fin");
}

#[test]
fn mixed_capture_connection() {
    let j = report("decode/mixed.pcap");
    let c = &j["connections"][0];
    assert_eq!(c["client"], "10.0.0.2:40100");
    assert_eq!(c["server"], "10.0.0.1:80");
    assert_eq!(c["close"], "reset");
    assert_eq!(c["reset_by"], "client");
}

#[test]
fn keepalive_timing() {
    // README: sample.pcap's probes come 45 s after the last data, then 75 s apart; the
    // keepalive-* files idle 7200 s, then probe 75 s (Linux) or 1 s (Windows) apart; a
    // single probe has no interval.
    #[rustfmt::skip]
    let table = [
        ("sample.pcap", "10.0.0.2:51007", "45000.000", Some("75000.000"), [3, 0]),
        ("tcp/keepalive-linux.pcap", "10.0.0.2:40015", "7200000.000", Some("75000.000"), [3, 0]),
        ("tcp/keepalive-unanswered.pcap", "10.0.0.2:40016", "7200000.000", Some("75000.000"), [9, 0]),
        ("tcp/keepalive-windows.pcap", "10.0.0.2:40017", "7200000.000", Some("1000.000"), [4, 0]),
        ("tcp/keepalive-server-dead.pcap", "10.0.0.2:40031", "7200000.000", Some("75000.000"), [0, 10]),
        ("tcp/keepalive-rst-answer.pcap", "10.0.0.2:40032", "7200000.000", None, [1, 0]),
    ];
    for (file, client, idle, interval, [from_client, from_server]) in table {
        let j = report(file);
        let c = j["connections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["client"] == client)
            .unwrap_or_else(|| panic!("{file}: no {client}"));
        let k = &c["keepalive"];
        assert_ms(&k["idle_before_first_probe_ms"], Some(idle), file);
        assert_ms(&k["median_probe_interval_ms"], interval, file);
        assert_eq!(u(&k["from_client"], file), from_client, "{file}");
        assert_eq!(u(&k["from_server"], file), from_server, "{file}");
    }
}
