//! The `synack report` command line, run as a real process: standard input, filters, bad
//! input and exit codes, table output, the pinned JSON shape, and a closed stdout.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};

use serde_json::Value;

mod common;
use common::{root, synack, Out};

/// `synack report --format json FILES...`, which must succeed silently.
fn report_json(extra: &[&str], files: &[&str]) -> Value {
    let mut args = vec!["report", "--format", "json"];
    args.extend_from_slice(extra);
    args.extend_from_slice(files);
    let out = synack().args(&args).output();
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr());
    assert_eq!(out.stderr(), "");
    out.json()
}

fn u(v: &Value) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("expected an integer, got {v}"))
}

fn assert_no_panic(stderr: &str) {
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("RUST_BACKTRACE"), "{stderr}");
}

// ---------------------------------------------------------------------------------------
// Standard input
// ---------------------------------------------------------------------------------------

#[test]
fn stdin_gives_the_same_report_as_the_file() {
    let bytes = std::fs::read(root().join("fixtures/sample.pcap")).unwrap();
    let out = synack()
        .args(["report", "--format", "json", "-"])
        .stdin(bytes)
        .output();
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr());
    assert_eq!(out.stderr(), "");
    let mut from_stdin = out.json();
    assert_eq!(from_stdin["inputs"][0]["file"], "-");

    let mut from_file = report_json(&[], &["fixtures/sample.pcap"]);
    assert_eq!(from_file["inputs"][0]["file"], "fixtures/sample.pcap");
    from_stdin["inputs"][0]["file"] = Value::Null;
    from_file["inputs"][0]["file"] = Value::Null;
    assert_eq!(from_stdin, from_file);
}

// ---------------------------------------------------------------------------------------
// --filter and --msl
// ---------------------------------------------------------------------------------------

#[test]
fn filter_keeps_only_the_matching_connection() {
    let j = report_json(&["--filter", "tcp port 22"], &["fixtures/sample.pcap"]);
    let p = &j["packets"];
    // sample.pcap: 79 packets; the SSH connection has 7 + 6 of them.
    assert_eq!(u(&p["total"]), 79);
    assert_eq!(u(&p["filtered_out"]), 66);
    assert_eq!(u(&p["tcp"]), 13);
    for k in [
        "udp",
        "icmp",
        "other",
        "fragments",
        "undecodable",
        "unsupported_link",
    ] {
        assert_eq!(u(&p[k]), 0, "{k}");
    }
    assert_eq!(u(&j["summary"]["connections"]), 1);
    let c = j["connections"].as_array().unwrap();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0]["client"], "10.0.0.2:51007");
    assert_eq!(c[0]["server"], "10.0.0.1:22");
    assert_eq!(u(&c[0]["packets"]["client_to_server"]), 7);
    assert_eq!(u(&c[0]["packets"]["server_to_client"]), 6);
    assert_eq!(c[0]["close"], "open");
    assert_eq!(u(&c[0]["keepalive"]["probes"]), 3);
    // The short form does the same.
    let short = report_json(&["-f", "tcp port 22"], &["fixtures/sample.pcap"]);
    assert_eq!(short, j);
}

#[test]
fn bad_filter_exits_2_with_one_line_naming_it() {
    for format in ["json", "table"] {
        let out = synack()
            .args([
                "report",
                "--format",
                format,
                "--filter",
                "tcp port",
                "fixtures/sample.pcap",
            ])
            .output();
        assert_eq!(out.status.code(), Some(2), "{format}");
        assert_eq!(out.stdout(), "", "{format}: no report");
        let err = out.stderr();
        assert_no_panic(&err);
        assert_eq!(err.lines().count(), 1, "{format}: {err}");
        assert!(err.ends_with('\n'));
        // The rest of the line is libpcap's message, which varies by version.
        assert!(
            err.starts_with("synack: bad filter 'tcp port'"),
            "{format}: {err}"
        );
    }
}

#[test]
fn msl_decides_time_wait_reuse() {
    // Second SYN 5 s after the first close, third 200 s after the second.
    let reuse = |msl: Option<&str>| {
        let extra: Vec<&str> = msl.map(|m| vec!["--msl", m]).unwrap_or_default();
        let j = report_json(&extra, &["fixtures/tcp/port-reuse-time-wait.pcap"]);
        let flags: Vec<bool> = j["connections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["reused_time_wait"].as_bool().unwrap())
            .collect();
        (u(&j["summary"]["time_wait"]["reused"]), flags)
    };
    assert_eq!(reuse(None), (1, vec![false, true, false])); // 2·MSL = 120 s
    assert_eq!(reuse(Some("2.4")), (0, vec![false, false, false])); // 4.8 s
    assert_eq!(reuse(Some("150")), (2, vec![false, true, true])); // 300 s
}

#[test]
fn msl_must_be_positive() {
    for msl in ["0", "-1", "nan"] {
        let out = synack()
            .args(["report", "--msl", msl, "fixtures/sample.pcap"])
            .output();
        assert_eq!(out.status.code(), Some(2), "--msl {msl}");
        assert_eq!(out.stdout(), "");
        assert_no_panic(&out.stderr());
    }
}

// ---------------------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------------------

struct Bad {
    file: &'static str,
    code: i32,
    /// The error after `synack: <path>: `; `None` when the file is fine.
    message: Option<&'static str>,
    /// Packets read (and reported) before the fault.
    packets: u64,
    /// The fault came after some packets: the report says so in `warnings`.
    midstream: bool,
}

#[rustfmt::skip]
const BAD: &[Bad] = &[
    Bad { file: "bad-pcapng-block.pcapng", code: 2,
        message: Some("corrupt record header at record 3 (byte offset 292): record length 12345678 is larger than the capture's snaplen (262144) and any real packet"),
        packets: 2, midstream: true },
    // libpcap and tcpdump reject version 3.1 too (fixtures/README.md).
    Bad { file: "bad-version.pcap", code: 2,
        message: Some("unsupported pcap version 3.1 (only 2.x up to 2.4 exists)"),
        packets: 0, midstream: false },
    Bad { file: "corrupt-record.pcap", code: 2,
        message: Some("corrupt record header at record 5 (byte offset 468): record length 1342177280 is larger than the capture's snaplen (262144) and any real packet"),
        packets: 4, midstream: true },
    Bad { file: "empty-file.pcap", code: 2,
        message: Some("empty file (0 bytes): not a capture"),
        packets: 0, midstream: false },
    Bad { file: "header-only.pcap", code: 0, message: None, packets: 0, midstream: false },
    Bad { file: "not-a-capture.txt", code: 2,
        message: Some("not a pcap or pcapng capture (first bytes 54 68 69 73)"),
        packets: 0, midstream: false },
    // 5 records end at byte 550; then 7 of a record header's 16 bytes (557-byte file).
    Bad { file: "truncated-header.pcap", code: 2,
        message: Some("truncated: the file ends inside record 6 (byte offset 550)"),
        packets: 5, midstream: true },
    Bad { file: "truncated-record.pcap", code: 2,
        message: Some("truncated: the file ends inside record 6 (byte offset 550)"),
        packets: 5, midstream: true },
];

#[test]
fn the_bad_table_covers_every_file_in_fixtures_bad() {
    let on_disk: BTreeSet<String> = std::fs::read_dir(root().join("fixtures/bad"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let listed: BTreeSet<String> = BAD.iter().map(|b| b.file.to_string()).collect();
    assert_eq!(listed, on_disk);
}

#[test]
fn bad_input_exit_codes_messages_and_partial_reports() {
    for b in BAD {
        let path = format!("fixtures/bad/{}", b.file);
        let out = synack()
            .args(["report", "--format", "json", &path])
            .output();
        let err = out.stderr();
        assert_no_panic(&err);
        assert_eq!(out.status.code(), Some(b.code), "{path}: {err}");
        match b.message {
            Some(m) => assert_eq!(err, format!("synack: {path}: {m}\n"), "{path}"),
            None => assert_eq!(err, "", "{path}"),
        }
        // The JSON report is printed all the same, covering what was read.
        let j = out.json();
        let input = &j["inputs"][0];
        assert_eq!(input["file"], path.as_str());
        assert_eq!(input["error"].as_str(), b.message, "{path}");
        assert_eq!(u(&input["packets"]), b.packets, "{path}");
        assert_eq!(u(&j["packets"]["total"]), b.packets, "{path}");
        assert_eq!(u(&j["packets"]["tcp"]), b.packets, "{path}");
        let conns = u64::from(b.packets > 0);
        assert_eq!(u(&j["summary"]["connections"]), conns, "{path}");
        let warnings: Vec<&str> = j["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_str().unwrap())
            .collect();
        if b.midstream {
            let want = format!(
                "{path}: {}; the report covers the {} packet(s) read before it",
                b.message.unwrap(),
                b.packets
            );
            assert_eq!(warnings, [want.as_str()], "{path}");
        } else {
            assert!(warnings.is_empty(), "{path}: {warnings:?}");
        }
        // The table says the same on stderr and exits the same way; with nothing read,
        // the error alone (issue 17).
        let table = synack().args(["report", &path]).output();
        assert_eq!(table.status.code(), Some(b.code), "{path} (table)");
        assert_eq!(table.stderr(), err, "{path} (table)");
        let nothing_read = b.packets == 0 && b.message.is_some();
        assert_eq!(
            table.stdout().contains(&path),
            !nothing_read,
            "{path} (table)"
        );
    }
}

#[test]
fn the_packets_before_a_fault_are_analysed() {
    let out = synack()
        .args([
            "report",
            "--format",
            "json",
            "fixtures/bad/truncated-record.pcap",
        ])
        .output();
    let j = out.json();
    let c = &j["connections"][0];
    // The first 5 packets of the 10-packet exchange: no FIN yet.
    assert_eq!(c["client"], "192.0.2.10:40000");
    assert_eq!(c["server"], "192.0.2.80:80");
    assert_eq!(
        u(&c["packets"]["client_to_server"]) + u(&c["packets"]["server_to_client"]),
        5
    );
    assert_eq!(c["handshake"]["rtt_ms"].to_string(), "10.080000");
    assert_eq!(c["close"], "open");
}

#[test]
fn missing_file_exits_2_with_the_os_error() {
    let path = "fixtures/does-not-exist.pcap";
    let os_error = std::fs::File::open(root().join(path)).unwrap_err();
    let out = synack().args(["report", "--format", "json", path]).output();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        out.stderr(),
        format!("synack: {path}: cannot open: {os_error}\n")
    );
    let j = out.json();
    assert_eq!(
        j["inputs"][0]["error"].as_str().unwrap(),
        format!("cannot open: {os_error}")
    );
    assert!(j["inputs"][0]["format"].is_null());
    assert_eq!(u(&j["packets"]["total"]), 0);
}

#[test]
fn a_directory_of_damaged_captures_exits_2_and_reports_what_was_read() {
    // A directory is read as its captures (tests/archives.rs): these are damaged.
    let out = synack()
        .args(["report", "--format", "json", "fixtures/bad"])
        .output();
    assert_eq!(out.status.code(), Some(2));
    let err = out.stderr();
    assert_no_panic(&err);
    assert!(
        err.contains("synack: fixtures/bad/truncated-record.pcap: truncated: "),
        "{err}"
    );
    let j = out.json();
    assert!(u(&j["packets"]["total"]) > 0);
    let warnings = j["warnings"].to_string();
    assert!(
        warnings.contains("fixtures/bad/empty-file.pcap, fixtures/bad/not-a-capture.txt"),
        "{warnings}"
    );
}

#[test]
fn one_bad_file_among_several_still_reports_the_others() {
    let files = [
        "fixtures/sample.pcap",
        "fixtures/bad/not-a-capture.txt",
        "fixtures/tcp/refused.pcap",
    ];
    let mut args = vec!["report", "--format", "json"];
    args.extend_from_slice(&files);
    let out = synack().args(&args).output();
    assert_eq!(out.status.code(), Some(2));
    // The fixtures all begin at the same time: they overlap, and are warned about.
    assert_eq!(
        out.stderr().lines().next().unwrap_or(""),
        "synack: fixtures/bad/not-a-capture.txt: not a pcap or pcapng capture (first bytes 54 68 69 73)"
    );
    let j = out.json();
    let inputs = j["inputs"].as_array().unwrap();
    let names: Vec<&str> = inputs.iter().map(|i| i["file"].as_str().unwrap()).collect();
    assert_eq!(names, files);
    let packets: Vec<u64> = inputs.iter().map(|i| u(&i["packets"])).collect();
    assert_eq!(packets, [79, 0, 2]);
    assert!(inputs[0]["error"].is_null());
    assert!(inputs[1]["error"].is_string());
    assert!(inputs[2]["error"].is_null());
    assert_eq!(u(&j["packets"]["total"]), 81);
    assert_eq!(u(&j["packets"]["tcp"]), 74);
    // 8 from sample.pcap + the refused one.
    assert_eq!(u(&j["summary"]["connections"]), 9);
    assert_eq!(u(&j["summary"]["closes"]["refused"]), 2);

    // A fault in the middle of a file, with a good file after it.
    let out = synack()
        .args([
            "report",
            "--format",
            "json",
            "fixtures/bad/corrupt-record.pcap",
            "fixtures/tcp/close-client.pcap",
        ])
        .output();
    assert_eq!(out.status.code(), Some(2));
    let overlap = |l: &&str| l.contains("overlap in time");
    assert_eq!(out.stderr().lines().filter(|l| !overlap(l)).count(), 1);
    let j = out.json();
    assert_eq!(u(&j["packets"]["total"]), 4 + 11);
    assert_eq!(u(&j["summary"]["connections"]), 2);
}

// ---------------------------------------------------------------------------------------
// Table output
// ---------------------------------------------------------------------------------------

/// Connection rows of the table: lines naming one of sample.pcap's clients.
fn rows(table: &str) -> Vec<&str> {
    table
        .lines()
        .filter(|l| l.contains("10.0.0.2:510") || l.contains("[2001:db8::2]:51008"))
        .collect()
}

fn table(args: &[&str]) -> String {
    let out = synack().args(args).output();
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr());
    assert_eq!(out.stderr(), "");
    out.stdout()
}

#[test]
fn table_is_the_default_format() {
    // --wide: every column, as the rows below read them.
    let t = table(&["report", "--wide", "fixtures/sample.pcap"]);
    assert_eq!(
        t,
        table(&[
            "report",
            "--wide",
            "--format",
            "table",
            "fixtures/sample.pcap"
        ])
    );
    // Summary sections.
    for needle in [
        "fixtures/sample.pcap",
        "TCP connections: 8",
        "handshakes: 8 attempted, 6 completed",
        "SYN retransmits: 3",
        "RTT (last SYN → ACK)",
        // The handshake RTT p50 over the six completed handshakes.
        "3.160",
        "40.090",
        "closes",
        "RST packets",
        "FIN packets",
        "ends in TIME_WAIT",
        "keep-alive: 3 probes, 3 ACKed, 0 unanswered, on 1 connection(s)",
        "retransmissions: 3",
        "TCP connections (abnormal first)",
        // Connection rows.
        "refused",
        "unanswered",
        "reset",
        "TIME_WAIT / CLOSED",
        "CLOSED / TIME_WAIT",
        "ESTABLISHED / ESTABLISHED",
        "SYN_SENT / CLOSED",
    ] {
        assert!(t.contains(needle), "missing {needle:?} in\n{t}");
    }
    let r = rows(&t);
    assert_eq!(r.len(), 8, "{t}");
    // Abnormal first: refused, unanswered, reset.
    assert!(r[0].contains("10.0.0.2:51003") && r[0].contains("refused"));
    assert!(r[1].contains("10.0.0.2:51004") && r[1].contains("unanswered"));
    assert!(r[2].contains("10.0.0.2:51006") && r[2].contains("reset"));
    assert!(r[3].contains("10.0.0.2:51001") && r[3].contains("1.260"));
    assert!(!t.contains("not shown"), "{t}");
    assert_eq!(
        t,
        table(&["report", "--wide", "--all", "fixtures/sample.pcap"])
    );
}

#[test]
fn table_abnormal_lists_only_abnormal_connections() {
    let t = table(&["report", "--abnormal", "fixtures/sample.pcap"]);
    let r = rows(&t);
    assert_eq!(r.len(), 3, "{t}");
    for (row, (client, close)) in r.iter().zip([
        ("10.0.0.2:51003", "refused"),
        ("10.0.0.2:51004", "unanswered"),
        ("10.0.0.2:51006", "reset"),
    ]) {
        assert!(row.contains(client) && row.contains(close), "{row}");
    }
    for normal in [
        "10.0.0.2:51001",
        "10.0.0.2:51002",
        "10.0.0.2:51005",
        "10.0.0.2:51007",
        "[2001:db8::2]:51008",
    ] {
        assert!(!t.contains(normal), "{normal} listed in\n{t}");
    }
    // The summary is still complete.
    assert!(t.contains("TCP connections: 8"));
}

#[test]
fn table_top_lists_n_rows_and_says_how_many_more() {
    let t = table(&["report", "--top", "2", "fixtures/sample.pcap"]);
    let r = rows(&t);
    assert_eq!(r.len(), 2, "{t}");
    assert!(r[0].contains("10.0.0.2:51003"));
    assert!(r[1].contains("10.0.0.2:51004"));
    assert!(
        t.contains("6 more connection(s) not shown: use --all, --abnormal or --top N"),
        "{t}"
    );
}

#[test]
fn row_selection_options_conflict() {
    for args in [
        ["--all", "--abnormal"],
        ["--all", "--top=2"],
        ["--abnormal", "--top=2"],
    ] {
        let mut a = vec!["report"];
        a.extend_from_slice(&args);
        a.push("fixtures/sample.pcap");
        let out = synack().args(&a).output();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(out.stdout(), "");
    }
}

// ---------------------------------------------------------------------------------------
// The JSON shape, pinned
// ---------------------------------------------------------------------------------------

mod schema {
    //! The documented JSON shape (docs/json.md; src/report.rs). Reading a document into
    //! these structs rejects unknown keys; writing it back and comparing with the
    //! original catches missing keys (they would come back as `null`) and type changes.

    use serde::{Deserialize, Serialize};
    use serde_json::Number;
    use std::collections::BTreeMap;

    #[derive(Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct Report {
        pub synack_version: String,
        pub inputs: Vec<Input>,
        pub packets: Packets,
        pub summary: Summary,
        pub connections: Vec<Connection>,
        pub warnings: Vec<String>,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct Input {
        pub file: String,
        pub format: Option<String>,
        pub byte_order: Option<String>,
        pub timestamp_precision: Option<String>,
        pub version: Option<String>,
        pub link_types: Vec<LinkType>,
        pub snaplen: u32,
        pub packets: u64,
        pub first_packet: Option<Number>,
        pub last_packet: Option<Number>,
        pub duration_s: Option<Number>,
        pub backwards_timestamps: u64,
        pub invalid_subsecond_timestamps: u64,
        pub error: Option<String>,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct LinkType {
        pub id: u16,
        pub name: String,
        pub supported: bool,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct Packets {
        pub total: u64,
        pub tcp: u64,
        pub udp: u64,
        pub icmp: u64,
        pub other: u64,
        pub fragments: u64,
        pub undecodable: u64,
        pub unsupported_link: u64,
        pub snaplen_truncated: u64,
        pub filtered_out: u64,
        pub tunnelled: Tunnelled,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct Tunnelled {
        pub gre: u64,
        pub erspan: u64,
        pub ip_in_ip: u64,
        pub vxlan: u64,
        pub geneve: u64,
        pub teredo: u64,
        pub gtp_u: u64,
        pub ayiya: u64,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct Summary {
        pub connections: u64,
        pub handshakes: Handshakes,
        pub handshake_rtt_ms: Distribution,
        pub connect_ms: Distribution,
        pub syn_to_synack_ms: Distribution,
        pub synack_to_ack_ms: Distribution,
        pub closes: Closes,
        pub rst: Rst,
        pub fin_packets: u64,
        pub time_wait: TimeWait,
        pub keepalive: KeepaliveTotals,
        pub zero_window_probes: u64,
        pub retransmissions: u64,
        pub out_of_order: u64,
        pub spurious_retransmissions: u64,
        pub network_duplicates: u64,
        pub lost_before_capture: u64,
        pub lost_after_capture: u64,
        pub tshark_retransmissions: u64,
        pub tshark_out_of_order: u64,
        pub rtt_client_side_ms: Distribution,
        pub rtt_server_side_ms: Distribution,
        pub apps: Apps,
        pub top: Top,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct Top {
        pub rst_senders: TopList<TopEntry>,
        pub refusing_servers: TopList<TopEntry>,
        pub unanswered_destinations: TopList<TopEntry>,
        pub slowest_servers: TopList<SlowServer>,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct TopList<E> {
        pub exact: bool,
        pub max_undercount: u64,
        pub entries: Vec<E>,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct TopEntry {
        pub endpoint: String,
        pub count: u64,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct SlowServer {
        pub endpoint: String,
        pub handshakes: u64,
        pub mean_rtt_ms: Number,
        pub max_rtt_ms: Number,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct Apps {
        pub none: u64,
        pub unknown: u64,
        pub http: u64,
        pub websocket: u64,
        pub tls: u64,
        pub ssh: u64,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct App {
        pub protocol: String,
        pub http: Option<Http>,
        pub tls: Option<Tls>,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct Http {
        pub version: Option<String>,
        pub requests: u64,
        pub responses: u64,
        pub connection_close: Option<String>,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct Tls {
        pub sni: Option<String>,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct Handshakes {
        pub attempted: u64,
        pub completed: u64,
        pub syn_retransmits: u64,
        pub synack_retransmits: u64,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct Distribution {
        pub count: u64,
        pub min: Option<Number>,
        pub p50: Option<Number>,
        pub p90: Option<Number>,
        pub p99: Option<Number>,
        pub max: Option<Number>,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct Closes {
        pub fin: u64,
        pub reset: u64,
        pub refused: u64,
        pub unanswered: u64,
        pub handshake_incomplete: u64,
        pub half_closed: u64,
        pub open: u64,
        pub midstream: u64,
        pub abnormal: u64,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct Rst {
        pub packets: u64,
        pub from_client: u64,
        pub from_server: u64,
        pub answering_syn: u64,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct TimeWait {
        pub client: u64,
        pub server: u64,
        pub simultaneous: u64,
        pub reused: u64,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct KeepaliveTotals {
        pub probes: u64,
        pub acks: u64,
        pub unanswered: u64,
        pub connections: u64,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct PerDirection {
        pub client_to_server: u64,
        pub server_to_client: u64,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct PerSide {
        pub client: u64,
        pub server: u64,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct Sides<T> {
        pub client: T,
        pub server: T,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct RetransmissionKinds {
        pub fast: u64,
        pub timeout: u64,
        pub tail_loss_probe: u64,
        pub unclassified: u64,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct States {
        pub client: String,
        pub server: String,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct Handshake {
        pub first_syn: Option<Number>,
        pub last_syn: Option<Number>,
        pub synack: Option<Number>,
        pub last_synack: Option<Number>,
        pub ack: Option<Number>,
        pub syn_to_synack_ms: Option<Number>,
        pub synack_to_ack_ms: Option<Number>,
        pub rtt_ms: Option<Number>,
        pub first_syn_to_ack_ms: Option<Number>,
        pub syn_retransmits: u64,
        pub synack_retransmits: u64,
        pub simultaneous_open: bool,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct Keepalive {
        pub probes: u64,
        pub acks: u64,
        pub unanswered: u64,
        pub from_client: u64,
        pub from_server: u64,
        pub idle_before_first_probe_ms: Option<Number>,
        pub median_probe_interval_ms: Option<Number>,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct Connection {
        pub id: u64,
        pub client: String,
        pub server: String,
        pub roles_from: String,
        pub first_seen: Number,
        pub last_seen: Number,
        pub duration_ms: Number,
        pub packets: PerDirection,
        pub bytes: PerDirection,
        pub payload_bytes: PerDirection,
        pub handshake: Option<Handshake>,
        pub states: States,
        pub close: String,
        pub abnormal: bool,
        pub midstream: bool,
        pub closed_by: Option<String>,
        pub reset_by: Option<String>,
        pub reset_state: Option<String>,
        pub time_wait: Option<String>,
        pub reused_time_wait: bool,
        pub rst: PerSide,
        pub fin: PerSide,
        pub keepalive: Keepalive,
        pub zero_window_probes: u64,
        pub retransmissions: PerSide,
        pub out_of_order: PerSide,
        pub retransmission_kinds: Sides<RetransmissionKinds>,
        pub spurious_retransmissions: PerSide,
        pub network_duplicates: PerSide,
        pub lost_before_capture: PerSide,
        pub lost_after_capture: PerSide,
        pub tshark_retransmissions: PerSide,
        pub tshark_out_of_order: PerSide,
        pub ordering_evidence: Sides<String>,
        pub rtt: Rtt,
        pub anomalies: BTreeMap<String, u32>,
        pub app: App,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct Rtt {
        pub client_side: Option<PathRtt>,
        pub server_side: Option<PathRtt>,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct PathRtt {
        pub samples: u64,
        pub min_ms: Number,
        pub median_ms: Number,
        pub p99_ms: Number,
        pub max_ms: Number,
        pub source: String,
    }
}

/// Reads the document into the schema structs and back; they must agree exactly.
fn check_schema(doc: &Value, what: &str) -> schema::Report {
    let typed: schema::Report = serde_json::from_value(doc.clone())
        .unwrap_or_else(|e| panic!("{what}: does not match the schema: {e}"));
    let back = serde_json::to_value(&typed).unwrap();
    assert_eq!(
        &back, doc,
        "{what}: keys missing or typed differently from the schema"
    );
    typed
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v
        .as_object()
        .expect("an object")
        .keys()
        .map(|k| k.as_str())
        .collect();
    k.sort_unstable();
    k
}

fn sorted(mut v: Vec<&str>) -> Vec<&str> {
    v.sort_unstable();
    v
}

#[test]
fn json_schema_is_pinned() {
    let j = report_json(&[], &["fixtures/sample.pcap"]);
    let typed = check_schema(&j, "sample.pcap");
    assert_eq!(typed.synack_version, env!("CARGO_PKG_VERSION"));
    assert_eq!(typed.connections.len(), 8);

    // The keys the documentation lists, exactly.
    assert_eq!(
        keys(&j),
        sorted(vec![
            "synack_version",
            "inputs",
            "packets",
            "summary",
            "connections",
            "warnings"
        ])
    );
    let s = &j["summary"];
    assert_eq!(
        keys(s),
        sorted(vec![
            "connections",
            "handshakes",
            "handshake_rtt_ms",
            "connect_ms",
            "syn_to_synack_ms",
            "synack_to_ack_ms",
            "closes",
            "rst",
            "fin_packets",
            "time_wait",
            "keepalive",
            "zero_window_probes",
            "retransmissions",
            "out_of_order",
            "spurious_retransmissions",
            "network_duplicates",
            "lost_before_capture",
            "lost_after_capture",
            "tshark_retransmissions",
            "tshark_out_of_order",
            "rtt_client_side_ms",
            "rtt_server_side_ms",
            "apps",
            "top",
        ])
    );
    assert_eq!(
        keys(&s["top"]),
        sorted(vec![
            "rst_senders",
            "refusing_servers",
            "unanswered_destinations",
            "slowest_servers",
        ])
    );
    assert_eq!(
        keys(&s["top"]["slowest_servers"]["entries"][0]),
        sorted(vec!["endpoint", "handshakes", "mean_rtt_ms", "max_rtt_ms"])
    );
    assert_eq!(
        keys(&s["top"]["refusing_servers"]["entries"][0]),
        sorted(vec!["endpoint", "count"])
    );
    assert_eq!(
        keys(&s["handshakes"]),
        sorted(vec![
            "attempted",
            "completed",
            "syn_retransmits",
            "synack_retransmits"
        ])
    );
    for d in [
        "handshake_rtt_ms",
        "connect_ms",
        "syn_to_synack_ms",
        "synack_to_ack_ms",
        "rtt_client_side_ms",
        "rtt_server_side_ms",
    ] {
        assert_eq!(
            keys(&s[d]),
            sorted(vec!["count", "min", "p50", "p90", "p99", "max"]),
            "{d}"
        );
    }
    assert_eq!(
        keys(&s["closes"]),
        sorted(vec![
            "fin",
            "reset",
            "refused",
            "unanswered",
            "handshake_incomplete",
            "half_closed",
            "open",
            "midstream",
            "abnormal",
        ])
    );
    assert_eq!(
        keys(&s["rst"]),
        sorted(vec![
            "packets",
            "from_client",
            "from_server",
            "answering_syn"
        ])
    );
    assert_eq!(
        keys(&s["time_wait"]),
        sorted(vec!["client", "server", "simultaneous", "reused"])
    );
    assert_eq!(
        keys(&s["keepalive"]),
        sorted(vec!["probes", "acks", "unanswered", "connections"])
    );
    assert_eq!(
        keys(&s["apps"]),
        sorted(vec!["none", "unknown", "http", "websocket", "tls", "ssh"])
    );
    assert_eq!(
        keys(&j["connections"][0]["app"]),
        sorted(vec!["protocol", "http", "tls"])
    );
    assert_eq!(
        keys(&j["connections"][0]["rtt"]),
        sorted(vec!["client_side", "server_side"])
    );
    let path = &j["connections"][0]["rtt"]["server_side"];
    assert_eq!(
        keys(path),
        sorted(vec![
            "samples",
            "min_ms",
            "median_ms",
            "p99_ms",
            "max_ms",
            "source"
        ])
    );

    // Times: seconds with nine fractional digits; durations in ms with six.
    let c = &j["connections"][0];
    assert_eq!(c["first_seen"].to_string(), "1767225601.000000000");
    assert_eq!(c["handshake"]["rtt_ms"].to_string(), "1.260000");
    assert_eq!(j["inputs"][0]["duration_s"].to_string(), "197.009850000");
}

/// `summary.top` counted again from the connections the same document lists.
#[test]
fn top_lists_agree_with_the_connections() {
    for file in [
        "fixtures/sample.pcap",
        "fixtures/tcp/refused.pcap",
        "fixtures/tcp/rst-established-server.pcap",
        "fixtures/tcp/unanswered.pcap",
    ] {
        let j = report_json(&[], &[file]);
        let conns = j["connections"].as_array().unwrap();
        let mut rst: BTreeMap<String, u64> = BTreeMap::new();
        let mut refused: BTreeMap<String, u64> = BTreeMap::new();
        let mut unanswered: BTreeMap<String, u64> = BTreeMap::new();
        let ip = |a: &Value| {
            let a = a.as_str().unwrap();
            let host = &a[..a.rfind(':').unwrap()];
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_string()
        };
        for c in conns {
            for (side, addr) in [("client", &c["client"]), ("server", &c["server"])] {
                let n = c["rst"][side].as_u64().unwrap();
                if n > 0 {
                    *rst.entry(ip(addr)).or_default() += n;
                }
            }
            let server = c["server"].as_str().unwrap().to_string();
            match c["close"].as_str().unwrap() {
                "refused" => *refused.entry(server).or_default() += 1,
                "unanswered" => *unanswered.entry(server).or_default() += 1,
                _ => {}
            }
        }
        let listed = |name: &str| -> BTreeMap<String, u64> {
            let l = &j["summary"]["top"][name];
            assert_eq!(l["exact"], Value::Bool(true), "{file} {name}");
            l["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    (
                        e["endpoint"].as_str().unwrap().to_string(),
                        e["count"].as_u64().unwrap(),
                    )
                })
                .collect()
        };
        assert_eq!(listed("rst_senders"), rst, "{file}");
        assert_eq!(listed("refusing_servers"), refused, "{file}");
        assert_eq!(listed("unanswered_destinations"), unanswered, "{file}");
        assert!(
            !(rst.is_empty() && refused.is_empty() && unanswered.is_empty()),
            "{file}"
        );
    }
}

#[test]
fn json_schema_holds_for_nulls_and_odd_cases() {
    // handshake null (mid-stream), no handshake times (refused, unanswered), empty
    // distributions, an unreadable input with null format, anomalies present.
    for file in [
        "fixtures/tcp/midstream.pcap",
        "fixtures/tcp/refused.pcap",
        "fixtures/tcp/unanswered.pcap",
        "fixtures/tcp/simultaneous-open.pcap",
        "fixtures/tcp/keepalive-unanswered.pcap",
        "fixtures/tcp/tfo.pcap",
        "fixtures/decode/mixed.pcap",
        "fixtures/linktypes/unsupported.pcap",
        "fixtures/formats/multi-if.pcapng",
        "fixtures/bad/header-only.pcap",
        // app.http and app.tls filled in.
        "fixtures/app/http-keepalive.pcap",
        "fixtures/app/websocket.pcap",
        "fixtures/app/tls-sni.pcap",
        "fixtures/app/tls-hostile-sni.pcap",
    ] {
        check_schema(&report_json(&[], &[file]), file);
    }
    let midstream = report_json(&[], &["fixtures/tcp/midstream.pcap"]);
    assert!(midstream["connections"][0]["handshake"].is_null());
    assert_eq!(u(&midstream["summary"]["handshake_rtt_ms"]["count"]), 0);
    assert!(midstream["summary"]["handshake_rtt_ms"]["p50"].is_null());

    for bad in [
        "fixtures/bad/not-a-capture.txt",
        "fixtures/bad/truncated-record.pcap",
        "fixtures/does-not-exist.pcap",
    ] {
        let out = synack().args(["report", "--format", "json", bad]).output();
        assert_eq!(out.status.code(), Some(2));
        check_schema(&out.json(), bad);
    }
}

// ---------------------------------------------------------------------------------------
// A closed stdout (`synack report ... | head -1`)
// ---------------------------------------------------------------------------------------

/// Enough copies of sample.pcap that the report outgrows a pipe's buffer (64 KiB on
/// Linux): synack must still be writing when the reader goes away.
fn many_samples() -> Vec<&'static str> {
    vec!["fixtures/sample.pcap"; 1000]
}

fn read_one_line_then_close(args: &[&str]) -> Out {
    let mut child = synack().args(args).spawn();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert!(!line.is_empty());
    drop(stdout);
    child.wait_with_output().unwrap().into()
}

fn broken_pipe(format: &str) {
    let mut args = vec!["report", "--format", format];
    args.extend(many_samples());
    // The whole report is far larger than a pipe holds.
    let full = synack().args(&args).output();
    assert_eq!(full.status.code(), Some(0));
    assert!(full.stdout.len() > 128 * 1024, "{}", full.stdout.len());

    let out = read_one_line_then_close(&args);
    let err = out.stderr();
    assert_no_panic(&err);
    // The copies overlap in time: a warning after the report, when it was all written.
    let err: String = err
        .lines()
        .filter(|l| !l.contains("overlap in time"))
        .collect();
    assert_eq!(err, "", "{format}");
    assert_eq!(out.status.code(), Some(0), "{format}: {err}");
}

#[test]
fn broken_pipe_table_exits_0_quietly() {
    broken_pipe("table");
}

#[test]
fn broken_pipe_json_exits_0_quietly() {
    broken_pipe("json");
}

#[test]
fn broken_pipe_small_report() {
    // `synack report fixtures/sample.pcap | head -1`: whether or not synack finished
    // writing before the reader left, it exits 0 without a word.
    let out = read_one_line_then_close(&["report", "fixtures/sample.pcap"]);
    assert_eq!(out.stderr(), "");
    assert_eq!(out.status.code(), Some(0));
}
