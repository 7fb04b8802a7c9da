//! The benchmark trace generator (examples/mktrace.rs) against synack: on a small trace,
//! every figure of the truth sidecar's `expect` equals what `synack report --format json`
//! prints; the same seed gives the same bytes; a snaplen-96 cut changes nothing but
//! `snaplen_truncated`.

#[allow(dead_code)]
#[path = "../examples/mktrace/gen.rs"]
mod gen;

use serde_json::Value;
use std::path::{Path, PathBuf};

mod common;
use common::synack;

const PACKETS: u64 = 50_000;

fn config(snaplen: u32) -> gen::Config {
    gen::Config {
        packets: PACKETS,
        snaplen,
        // Few chains, so that 50,000 packets span enough time for every kind of close.
        concurrent: 100,
        ..gen::Config::default()
    }
}

fn generate(cfg: &gen::Config) -> (Vec<u8>, Value) {
    let mut bytes = Vec::new();
    let truth = gen::run(cfg, &mut bytes).expect("in-memory write");
    assert_eq!(truth.file_bytes, bytes.len() as u64);
    (bytes, truth.to_json(cfg))
}

fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("synack-mktrace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn synack_json(path: &Path) -> Value {
    let out = synack()
        .args(["report", "--format", "json"])
        .arg(path)
        .output();
    out.success();
    serde_json::from_slice(&out.stdout).expect("synack JSON")
}

/// Every `expect` figure against synack's JSON, by dotted path; returns the mismatches.
fn mismatches(expect: &Value, report: &Value) -> Vec<String> {
    let mut bad = Vec::new();
    for (key, want) in expect.as_object().expect("expect object") {
        let got = key.split('.').fold(report, |v, k| &v[k]);
        if got.as_u64() != want.as_u64() {
            bad.push(format!("{key}: truth {want}, synack {got}"));
        }
    }
    bad
}

/// (caplen, orig_len) of every record of a little-endian classic pcap.
fn records(pcap: &[u8]) -> Vec<(u32, u32)> {
    let u32_at = |o: usize| u32::from_le_bytes(pcap[o..o + 4].try_into().unwrap());
    let mut out = Vec::new();
    let mut o = 24;
    while o < pcap.len() {
        let (cap, orig) = (u32_at(o + 8), u32_at(o + 12));
        out.push((cap, orig));
        o += 16 + cap as usize;
    }
    assert_eq!(o, pcap.len(), "records end with the file");
    out
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[test]
fn truth_matches_synack_and_snaplen_changes_nothing_else() {
    let (full, truth) = generate(&config(65_535));
    let expect = &truth["expect"];
    assert_eq!(expect["packets.total"], PACKETS);
    // The small trace still has every kind of flow the model makes.
    for key in [
        "closes.fin",
        "closes.reset",
        "closes.refused",
        "closes.unanswered",
        "closes.open",
        "handshakes.syn_retransmits",
        "keepalive.probes",
        "time_wait.client",
        "time_wait.server",
        "rst.from_client",
    ] {
        assert!(
            expect[format!("summary.{key}")].as_u64().unwrap() > 0,
            "{key}"
        );
    }
    assert!(truth["facts"]["ipv6_packets"].as_u64().unwrap() > 0);
    assert!(truth["facts"]["vlan_packets"].as_u64().unwrap() > 0);
    let path = temp_file("full.pcap", &full);
    let report = synack_json(&path);
    let bad = mismatches(expect, &report);
    assert!(
        bad.is_empty(),
        "synack disagrees with the truth:\n{}",
        bad.join("\n")
    );

    // Timestamps never go back.
    let times: Vec<u64> = {
        let mut o = 24;
        let mut v = Vec::new();
        while o < full.len() {
            let w = |i: usize| u64::from(u32::from_le_bytes(full[i..i + 4].try_into().unwrap()));
            v.push(w(o) * 1_000_000 + w(o + 4));
            o += 16 + w(o + 8) as usize;
        }
        v
    };
    assert!(times.windows(2).all(|w| w[0] <= w[1]));

    // Snaplen 96: the same packets, cut; the same figures but snaplen_truncated.
    let (cut, cut_truth) = generate(&config(96));
    assert_eq!(u32::from_le_bytes(cut[16..20].try_into().unwrap()), 96);
    let (rf, rc) = (records(&full), records(&cut));
    assert_eq!(rf.len(), rc.len());
    let mut truncated = 0;
    for (&(fc, fo), &(cc, co)) in rf.iter().zip(&rc) {
        assert_eq!((fc, fo), (fo, fo), "full records are whole");
        assert_eq!((cc, co), (fo.min(96), fo), "cut records keep orig_len");
        truncated += u64::from(cc < co);
    }
    let cut_expect = &cut_truth["expect"];
    assert_eq!(cut_expect["packets.snaplen_truncated"], truncated);
    assert!(truncated > PACKETS / 2);
    for (key, want) in expect.as_object().unwrap() {
        if key != "packets.snaplen_truncated" {
            assert_eq!(&cut_expect[key], want, "{key}");
        }
    }
    let cut_report = synack_json(&temp_file("cut96.pcap", &cut));
    let bad = mismatches(cut_expect, &cut_report);
    assert!(bad.is_empty(), "snaplen 96:\n{}", bad.join("\n"));
    assert_eq!(report["summary"], cut_report["summary"]);
    std::fs::remove_dir_all(path.parent().unwrap()).ok();
}

#[test]
fn same_seed_same_bytes() {
    let cfg = gen::Config {
        packets: 20_000,
        ..gen::Config::default()
    };
    let (a, ta) = generate(&cfg);
    let (b, tb) = generate(&cfg);
    assert_eq!(fnv1a(&a), fnv1a(&b));
    assert_eq!(ta, tb);
    let (c, _) = generate(&gen::Config {
        seed: 7,
        ..cfg.clone()
    });
    assert_ne!(fnv1a(&a), fnv1a(&c));
    // Pinned: the benchmark trace must not change by accident (a new model is a new
    // benchmark; update this hash only on purpose, and say so in docs/performance.md).
    assert_eq!(
        (a.len(), fnv1a(&a)),
        (15_531_594, 18_272_916_757_796_727_421),
        "the trace for seed {} changed",
        cfg.seed
    );
}
