//! Replays the inputs that made a fuzz target (fuzz/, docs/robustness.md) fail, committed
//! under fixtures/fuzz/ (fixtures/fuzz/README.md lists them), through the very checks the
//! target runs — its source files are included here — and pins each outcome, so a fixed
//! bug stays fixed without nightly or cargo-fuzz.

use std::collections::BTreeSet;
use std::path::Path;

use synack::decode::Decoded;

mod common;
use common::synack;

#[path = "../fuzz/src/decode_input.rs"]
mod decode_input;
#[path = "../fuzz/src/reader_input.rs"]
mod reader_input;

fn fixture(path: &str) -> Vec<u8> {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// Every file under `dir`, recursively.
fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// Every committed input, as `target/name`.
fn on_disk() -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/fuzz");
    let mut found = BTreeSet::new();
    for target in std::fs::read_dir(&root).unwrap() {
        let target = target.unwrap();
        if !target.file_type().unwrap().is_dir() {
            continue;
        }
        for f in std::fs::read_dir(target.path()).unwrap() {
            let f = f.unwrap();
            found.insert(format!(
                "{}/{}",
                target.file_name().to_string_lossy(),
                f.file_name().to_string_lossy()
            ));
        }
    }
    found
}

/// The inputs pinned by the tests below.
const PINNED: &[&str] = &["decode/tso-huge-cut", "reader/pib-short-block.pcapng"];

#[test]
fn every_committed_input_is_pinned() {
    let listed: BTreeSet<String> = PINNED.iter().map(|s| s.to_string()).collect();
    assert_eq!(on_disk(), listed);
}

/// A raw-IPv4 SYN+FIN with 40 payload bytes, IP total length 0 (TSO: the frame's length
/// is used) and 2^32−1 bytes cut by the snaplen: the wire length passed 4 GiB, the payload
/// length wrapped to a plausible 39 (fewer than the 40 captured), and `seq_len` could
/// overflow. Now the payload length saturates, and the sequence space it spans wraps as
/// sequence numbers do.
#[test]
fn decode_tso_huge_cut() {
    let data = fixture("fixtures/fuzz/decode/tso-huge-cut");
    let (link, cut, frame) = decode_input::parse(&data).expect("a complete input");
    assert_eq!((link.0, cut, frame.len()), (101, u32::MAX, 80));
    match decode_input::check(&data) {
        Some(Decoded::Tcp(seg)) => {
            assert!(seg.flags.syn() && seg.flags.fin());
            assert_eq!(seg.payload.len(), 40);
            assert_eq!(seg.payload_len, u32::MAX);
            assert_eq!(seg.seq_len(), 1);
        }
        other => panic!("expected a TCP segment, got {other:?}"),
    }
}

/// The reader target's checks hold on every fixture, good or bad (they are its seeds), and
/// its outcome agrees with what the CLI tests pin: an error exactly for the bad files.
#[test]
fn reader_checks_hold_for_every_fixture() {
    let mut files = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures"),
        &mut files,
    );
    let mut with_connections = 0;
    for path in files
        .iter()
        // Not captures: the READMEs, and the ground truth beside each truth capture.
        .filter(|p| p.extension().is_none_or(|e| e != "md" && e != "json"))
    {
        let name = path.to_string_lossy();
        // Inputs of the other targets are not captures.
        if name.contains("/fuzz/decode/") || name.contains("/fuzz/tracker/") {
            continue;
        }
        let outcome = reader_input::check(&std::fs::read(path).unwrap());
        // The reader's own regressions are pinned one by one, in their own tests.
        if !name.contains("/fuzz/reader/") {
            let bad = name.contains("/bad/") && !name.ends_with("header-only.pcap");
            assert_eq!(outcome.error.is_some(), bad, "{name}: {:?}", outcome.error);
        }
        if outcome.report.is_some_and(|r| !r.connections.is_empty()) {
            with_connections += 1;
        }
    }
    assert!(
        with_connections >= 40,
        "{with_connections} fixtures with connections"
    );
}

/// A big-endian pcapng whose second block, a Process Information Block, says it is 9
/// bytes long: pcap-parser 0.17 subtracted 12 from that unchecked (an overflow panic with
/// overflow checks on; without them a 4 GiB block, reported as "record length 9 is
/// larger than the capture's snaplen (0)"). Now the one-line error says what is wrong.
#[test]
fn reader_pib_short_block() {
    let path = "fixtures/fuzz/reader/pib-short-block.pcapng";
    let want = "corrupt record header at record 1 (byte offset 96): block length 9 is below the 12 bytes of a block's own header and trailer";
    let outcome = reader_input::check(&fixture(path));
    assert_eq!(outcome.error.as_deref(), Some(want));
    let report = outcome.report.expect("the section header was read");
    assert_eq!(report.packets.total, 0);
    assert_eq!(report.inputs[0].format, Some("pcapng"));
    assert_eq!(report.inputs[0].byte_order, Some("big-endian"));

    // The binary: that line on stderr, the report all the same, exit status 2.
    let out = synack().args(["report", "--format", "json", path]).output();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("synack: {path}: {want}\n")
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(json["inputs"][0]["error"].as_str(), Some(want));
}
