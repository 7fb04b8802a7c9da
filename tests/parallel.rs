//! The parallel path (`--threads N`: a reading thread, connections tracked on N-1
//! workers by 4-tuple hash) must print byte-for-byte the single-threaded report: on
//! every fixture, every corpus capture, several files read as one timeline, and traces
//! big enough that records straddle many read buffers (classic pcap, lent to the workers
//! in place; pcapng, copied; standard input, read in pipe-sized pieces).

mod common;

#[allow(dead_code)]
#[path = "../examples/mktrace/gen.rs"]
mod gen;

use std::path::{Path, PathBuf};

use common::{captures, require_shared, synack};

fn report(files: &[PathBuf], threads: usize) -> (Vec<u8>, Option<i32>) {
    let out = synack()
        .args(["report", "--format", "json", "--threads"])
        .arg(threads.to_string())
        .args(files)
        .output();
    (out.stdout, out.status.code())
}

/// The report of `bytes` given on standard input.
fn report_stdin(bytes: &[u8], threads: usize) -> Vec<u8> {
    let out = synack()
        .args(["report", "--format", "json", "--threads"])
        .arg(threads.to_string())
        .arg("-")
        .stdin(bytes)
        .output();
    assert!(out.status.success());
    out.stdout
}

/// The same packets as a pcapng file (one interface, Enhanced Packet Blocks).
fn to_pcapng(pcap: &[u8]) -> Vec<u8> {
    let word = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    let mut out = Vec::new();
    let mut block = |kind: u32, body: &[u8]| {
        let len = 12 + body.len().div_ceil(4) * 4;
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&(len as u32).to_le_bytes());
        out.extend_from_slice(body);
        out.resize(out.len() + (len - 12 - body.len()), 0);
        out.extend_from_slice(&(len as u32).to_le_bytes());
    };
    block(
        0x0a0d_0d0a,
        &[
            0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ],
    );
    let mut idb = vec![1, 0, 0, 0];
    idb.extend_from_slice(&word(pcap, 16).to_le_bytes());
    block(1, &idb);
    let mut at = 24;
    while at + 16 <= pcap.len() {
        let (secs, usecs, caplen, orig) = (
            word(pcap, at),
            word(pcap, at + 4),
            word(pcap, at + 8),
            word(pcap, at + 12),
        );
        let units = u64::from(secs) * 1_000_000 + u64::from(usecs);
        let mut epb = vec![0; 4];
        epb.extend_from_slice(&((units >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(units as u32).to_le_bytes());
        epb.extend_from_slice(&caplen.to_le_bytes());
        epb.extend_from_slice(&orig.to_le_bytes());
        epb.extend_from_slice(&pcap[at + 16..at + 16 + caplen as usize]);
        block(6, &epb);
        at += 16 + caplen as usize;
    }
    out
}

#[test]
fn big_traces_report_the_same_on_any_number_of_threads() {
    let dir = std::env::temp_dir().join(format!("synack-parallel-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for snaplen in [65535, 96] {
        let cfg = gen::Config {
            packets: 20_000,
            snaplen,
            concurrent: 200,
            ..gen::Config::default()
        };
        let mut pcap = Vec::new();
        gen::run(&cfg, &mut pcap).expect("in-memory write");
        // Several read buffers' worth, so that records straddle their ends.
        assert!(pcap.len() > 1 << 20, "{} bytes", pcap.len());
        let classic = dir.join(format!("trace-{snaplen}.pcap"));
        let ng = dir.join(format!("trace-{snaplen}.pcapng"));
        std::fs::write(&classic, &pcap).unwrap();
        std::fs::write(&ng, to_pcapng(&pcap)).unwrap();
        assert_same(std::slice::from_ref(&classic));
        assert_same(std::slice::from_ref(&ng));
        assert_same(&[classic.clone(), ng.clone()]);
        assert_same(&[ng.clone(), classic.clone()]);
        // The two formats hold the same packets: the same report but for the input facts.
        let single = report(std::slice::from_ref(&classic), 1).0;
        let body = |json: &[u8]| {
            let mut v: serde_json::Value = serde_json::from_slice(json).expect("JSON");
            v.as_object_mut().unwrap().remove("inputs");
            v
        };
        assert_eq!(body(&single), body(&report(std::slice::from_ref(&ng), 1).0));
        for threads in [1, 2] {
            let piped = report_stdin(&pcap, threads);
            assert_eq!(
                body(&piped),
                body(&single),
                "--threads {threads} from standard input"
            );
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

fn assert_same(files: &[PathBuf]) {
    let single = report(files, 1);
    assert!(!single.0.is_empty(), "{files:?}: no output");
    for threads in [2, 4] {
        let parallel = report(files, threads);
        assert!(
            parallel == single,
            "{files:?}: --threads {threads} differs from --threads 1"
        );
    }
}

#[test]
fn every_fixture_reports_the_same_on_any_number_of_threads() {
    let files = captures(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures"));
    assert!(files.len() > 50);
    for f in &files {
        assert_same(std::slice::from_ref(f));
    }
    // Several inputs as one timeline: connections numbered across them.
    let tcp: Vec<PathBuf> = files
        .iter()
        .filter(|f| f.parent().is_some_and(|p| p.ends_with("tcp")))
        .cloned()
        .collect();
    assert!(tcp.len() > 10);
    assert_same(&tcp);
}

#[test]
fn every_corpus_capture_reports_the_same_on_any_number_of_threads() {
    let dir = require_shared!("corpus");
    let files = captures(&dir);
    assert!(files.len() > 100);
    for f in &files {
        assert_same(std::slice::from_ref(f));
    }
}

/// The HTML page of `files` on `threads` threads.
fn html(files: &[PathBuf], threads: usize, out: &Path) -> Vec<u8> {
    let status = synack()
        .args(["report", "--format", "html", "-o"])
        .arg(out)
        .arg("--threads")
        .arg(threads.to_string())
        .args(files)
        .output();
    assert!(status.status.success(), "{files:?} --threads {threads}");
    std::fs::read(out).expect("the page")
}

/// Every worker traces the candidates among its own connections (`Pipeline::trace`):
/// together they must draw the connections one tracker draws, on a trace with more
/// resets than are drawn, reset in another order than they began.
#[test]
fn the_html_page_is_the_same_on_any_number_of_threads() {
    let dir = std::env::temp_dir().join(format!("synack-parallel-html-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = gen::Config {
        packets: 40_000,
        concurrent: 400,
        ..gen::Config::default()
    };
    let mut pcap = Vec::new();
    gen::run(&cfg, &mut pcap).expect("in-memory write");
    let trace = dir.join("trace.pcap");
    std::fs::write(&trace, &pcap).unwrap();
    let tcp: Vec<PathBuf> = captures(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tcp"));
    for files in [vec![trace.clone()], tcp] {
        let single = html(&files, 1, &dir.join("1.html"));
        let drawn = String::from_utf8_lossy(&single)
            .matches("abnormal: reset")
            .count();
        assert!(drawn > 0, "{files:?}: no reset drawn");
        for threads in [2, 4] {
            let parallel = html(&files, threads, &dir.join(format!("{threads}.html")));
            assert!(
                parallel == single,
                "{files:?}: the page on --threads {threads} differs from --threads 1"
            );
        }
    }
    let report = report(&[trace], 1).0;
    let report: serde_json::Value = serde_json::from_slice(&report).expect("JSON");
    let resets = report["summary"]["closes"]["reset"].as_u64().unwrap_or(0);
    assert!(
        resets > 8,
        "the trace has {resets} resets: too few to choose among"
    );
    std::fs::remove_dir_all(&dir).ok();
}
