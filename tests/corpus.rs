//! Runs `synack report --format json` on every capture of ../shared/corpus and compares
//! its counts with tshark's, as listed in the corpus's manifest.tsv. Every difference is
//! deliberate, documented in docs/inputs.md or docs/metrics.md, and asserted here.

mod common;
use common::{require_shared, synack};

use std::collections::HashMap;
use std::path::Path;

type Row = HashMap<String, String>;

fn manifest(dir: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(dir.join("manifest.tsv")).expect("manifest.tsv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split('\t').collect();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            header
                .iter()
                .zip(l.split('\t'))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

struct Run {
    code: i32,
    stderr: String,
    json: serde_json::Value,
}

fn run(file: &Path) -> Run {
    let out = synack()
        .args(["report", "--format", "json"])
        .arg(file)
        .output();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{}: {stderr}", file.display());
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{}: JSON does not parse: {e}", file.display()));
    Run {
        code: out.status.code().unwrap_or(-1),
        stderr,
        json,
    }
}

fn num(v: &serde_json::Value, path: &[&str]) -> u64 {
    let mut v = v;
    for p in path {
        v = &v[*p];
    }
    v.as_u64()
        .unwrap_or_else(|| panic!("{path:?} is not a count: {v}"))
}

/// Files synack refuses, and the one-line reason it gives (exit status 2).
const REFUSED: &[(&str, &str)] = &[
    (
        "libpcap__pcap-invalid-version-1.pcap",
        "unsupported pcap version 1.4",
    ),
    // tshark reads one packet; libpcap refuses version 2.5, and so does synack.
    (
        "libpcap__pcap-invalid-version-2.pcap",
        "unsupported pcap version 2.5",
    ),
    (
        "libpcap__pcapng-invalid-vers-1.pcapng",
        "unsupported pcapng section version 0.1",
    ),
    ("libpcap__shb-option-too-long.pcapng", "corrupt"),
    (
        "libpcap__linktype-reserved-field-not-zero.pcap",
        "reserved bits set (0x00300000)",
    ),
];

/// Files read up to a fault: (file, packets reported, error text).
const CUT_SHORT: &[(&str, u64, &str)] = &[
    // tshark counts the corrupt second record as a frame; synack stops before it.
    (
        "suricata-verify__bug-6875-01-fuzz.pcap",
        1,
        "record length 1409179648",
    ),
    (
        "suricata-verify__bug-1450-04.pcap",
        6,
        "record length 4325376",
    ),
    (
        "suricata-verify__pgsql-5000-query-results.pcap",
        785,
        "truncated: the file ends inside record 786",
    ),
];

/// Deliberate differences from tshark's counts: (file, column, synack's value, why).
const DIFFERENCES: &[(&str, &str, u64, &str)] = &[
    (
        "pcapplusplus__tcp-malformed.pcap",
        "streams",
        0,
        "data offset 28 > segment length 20: undecodable, not a connection",
    ),
    (
        "chrissanders__tcp_zerowindowdead.pcapng",
        "ka",
        0,
        "probes into a zero window are zero-window probes, not keep-alives",
    ),
];

#[test]
fn every_corpus_file_matches_tshark_or_a_documented_difference() {
    let dir = require_shared!("corpus");
    let rows = manifest(&dir);
    assert!(rows.len() >= 100, "manifest lists {} files", rows.len());
    let mut failures = Vec::new();
    for row in &rows {
        let name = row["file"].as_str();
        let r = run(&dir.join(name));
        if let Some((_, msg)) = REFUSED.iter().find(|(f, _)| *f == name) {
            if r.code != 2 || !r.stderr.contains(msg) || num(&r.json, &["packets", "total"]) != 0 {
                failures.push(format!(
                    "{name}: expected refusal '{msg}', got {} {}",
                    r.code, r.stderr
                ));
            }
            continue;
        }
        if let Some((_, packets, msg)) = CUT_SHORT.iter().find(|(f, ..)| *f == name) {
            let got = num(&r.json, &["packets", "total"]);
            if r.code != 2 || !r.stderr.contains(msg) || got != *packets {
                failures.push(format!(
                    "{name}: expected {packets} packets then '{msg}', got {got} packets, {} {}",
                    r.code, r.stderr
                ));
            }
            continue;
        }
        if r.code != 0 {
            failures.push(format!("{name}: exit {} {}", r.code, r.stderr));
            continue;
        }
        let s = &r.json["summary"];
        let fields: [(&str, u64); 5] = [
            ("packets", num(&r.json, &["packets", "total"])),
            ("streams", num(s, &["connections"])),
            ("rst", num(s, &["rst", "packets"])),
            ("fin", num(s, &["fin_packets"])),
            ("ka", num(s, &["keepalive", "probes"])),
        ];
        for (col, got) in fields {
            let want: u64 = row[col].parse().expect("manifest count");
            let expected = DIFFERENCES
                .iter()
                .find(|(f, c, ..)| *f == name && *c == col)
                .map_or(want, |d| d.2);
            if got != expected {
                failures.push(format!("{name}: {col} = {got}, tshark {want}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatch(es):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn zero_window_probes_are_counted_where_tshark_says_keep_alive() {
    let dir = require_shared!("corpus");
    let r = run(&dir.join("chrissanders__tcp_zerowindowdead.pcapng"));
    assert_eq!(num(&r.json, &["summary", "zero_window_probes"]), 3);
}
