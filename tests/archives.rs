//! Archives (issue 19): compressed captures read directly, directories as inputs, a
//! connection that crosses a rotation staying one. Fixtures: fixtures/archive/, made by
//! examples/mkfixtures.rs (fixtures/README.md).

mod common;

use common::synack;
use std::path::{Path, PathBuf};

const DAY1: &str = "fixtures/archive/sensor-a/2026-01-01";
const ROTATED: [&str; 3] = ["trace.pcap", "trace.pcap1", "trace.pcap2"];
const PACKS: [&str; 4] = ["gzip", "zstd", "lz4", "xz"];

fn read(path: &str) -> Vec<u8> {
    std::fs::read(common::root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A scratch directory of this test's own, emptied first.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("archives-{name}"));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

#[test]
fn compressed_equals_uncompressed_byte_for_byte_from_standard_input() {
    for pack in PACKS {
        for name in ROTATED {
            let plain = read(&format!("{DAY1}/{name}"));
            let packed = read(&format!("fixtures/archive/compressed/{pack}/{name}"));
            assert_ne!(plain, packed, "{pack}/{name} is compressed");
            for format in ["table", "json"] {
                let args = ["report", "--format", format, "--wide", "-"];
                let want = synack().args(args).stdin(plain.clone()).output();
                want.success().quiet();
                let got = synack().args(args).stdin(packed.clone()).output();
                got.success().quiet();
                assert!(
                    got.stdout == want.stdout,
                    "{pack}/{name} ({format}) differs from the uncompressed file:\n{}\n---\n{}",
                    got.stdout(),
                    want.stdout()
                );
            }
        }
    }
}

#[test]
fn compressed_files_and_directories_equal_the_uncompressed_set() {
    let args =
        |input: &str| ["report", "--format", "json", "--threads", "1", input].map(String::from);
    let want = synack().args(args(DAY1)).output();
    want.success().quiet();
    for pack in PACKS {
        let dir = format!("fixtures/archive/compressed/{pack}");
        let got = synack().args(args(&dir)).output();
        got.success().quiet();
        // The same report but for the files' names.
        let renamed = got.stdout().replace(&dir, DAY1);
        assert_eq!(renamed, want.stdout(), "{pack}");
    }
    // The files named one by one, compressed each another way (sensor b).
    let b = "fixtures/archive/sensor-b/2026-01-01";
    let files = ["trace.pcap.zst", "trace.pcap1.lz4", "trace.pcap2.xz"].map(|f| format!("{b}/{f}"));
    let out = synack()
        .args(["report", "--format", "json"])
        .args(&files)
        .output();
    out.success().quiet();
    let j = out.json();
    assert_eq!(j["summary"]["connections"], 7);
    assert_eq!(j["inputs"].as_array().unwrap().len(), 3);
}

#[test]
fn a_directory_equals_its_files_given_in_order() {
    for format in ["table", "json"] {
        let files: Vec<String> = ROTATED.iter().map(|n| format!("{DAY1}/{n}")).collect();
        let want = synack()
            .args(["report", "--format", format, "--wide"])
            .args(&files)
            .output();
        want.success().quiet();
        let got = synack()
            .args(["report", "--format", format, "--wide", DAY1])
            .output();
        got.success().quiet();
        assert_eq!(got.stdout(), want.stdout(), "{format}");
    }
    // A directory of directories: every set, read as one timeline (day 1 of both
    // sensors overlap in time, and synack says so).
    let out = synack()
        .args(["report", "--format", "json", "fixtures/archive/sensor-a"])
        .output();
    out.success().quiet();
    let j = out.json();
    let names: Vec<&str> = j["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["file"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "fixtures/archive/sensor-a/2026-01-01/trace.pcap",
            "fixtures/archive/sensor-a/2026-01-01/trace.pcap1",
            "fixtures/archive/sensor-a/2026-01-01/trace.pcap2",
            "fixtures/archive/sensor-a/2026-01-02/trace.pcap.gz",
            "fixtures/archive/sensor-a/2026-01-02/trace.pcap1.gz",
            "fixtures/archive/sensor-a/2026-01-02/trace.pcap2.gz",
        ]
    );
    assert_eq!(j["summary"]["connections"], 14);
}

#[test]
fn a_connection_split_over_rotated_files_is_one_connection() {
    let out = synack().args(["report", "--format", "json", DAY1]).output();
    out.success().quiet();
    let j = out.json();
    assert_eq!(j["summary"]["connections"], 7);
    let conns = j["connections"].as_array().unwrap();
    // The long one (port 42001) has packets in all three files: one connection, its
    // handshake in the first and its close in the last.
    let long = conns
        .iter()
        .find(|c| c["client"].as_str().unwrap().ends_with(":42001"))
        .expect("the long connection");
    let packets = &long["packets"];
    assert_eq!(packets["client_to_server"], 16, "{long}");
    assert_eq!(packets["server_to_client"], 9, "{long}");
    assert_eq!(long["close"], "fin", "{long}");
    assert_eq!(long["closed_by"], "server", "{long}");
    assert_eq!(long["retransmissions"]["client"], 1, "{long}");
    assert!(!long["handshake"]["rtt_ms"].is_null(), "{long}");
    // The keep-alive probe and its ACK are in the second file, the connection's
    // handshake in the first: one connection with its probe.
    assert_eq!(j["summary"]["keepalive"]["probes"], 1);
    assert_eq!(j["summary"]["keepalive"]["connections"], 1);
    // Read alone, the last file holds a piece of it that began before the capture.
    let last = synack()
        .args(["report", "--format", "json", &format!("{DAY1}/trace.pcap2")])
        .output();
    let alone = last.json();
    let piece = alone["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client"].as_str().unwrap().ends_with(":42001"))
        .expect("a piece of the long connection");
    assert_eq!(piece["midstream"], true, "{piece}");
}

#[test]
fn files_in_a_directory_that_are_not_captures_are_one_warning() {
    let dir = scratch("not-captures");
    for name in ROTATED {
        std::fs::copy(common::root().join(DAY1).join(name), dir.join(name)).unwrap();
    }
    std::fs::create_dir(dir.join("logs")).unwrap();
    std::fs::write(dir.join("logs/notes.txt"), "not a capture\n").unwrap();
    std::fs::write(dir.join("empty"), "").unwrap();
    // Compressed text: decompressed to be known as no capture.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, b"rotated by logrotate\n").unwrap();
    std::fs::write(dir.join("README.gz"), gz.finish().unwrap()).unwrap();
    let out = synack()
        .args(["report", "--format", "json", dir.to_str().unwrap()])
        .output();
    out.success().quiet();
    let j = out.json();
    assert_eq!(j["summary"]["connections"], 7);
    let warnings: Vec<&str> = j["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    let left_out: Vec<&&str> = warnings
        .iter()
        .filter(|w| w.starts_with("left out"))
        .collect();
    assert_eq!(left_out.len(), 1, "{warnings:?}");
    let d = dir.display();
    assert_eq!(
        *left_out[0],
        format!("left out 3 file(s) in the directories given that are not pcap or pcapng captures: {d}/README.gz, {d}/empty, {d}/logs/notes.txt")
    );

    // A directory with no capture at all is an error, exit 2.
    let none = scratch("no-captures");
    std::fs::write(none.join("notes.txt"), "text\n").unwrap();
    let out = synack().args(["report", none.to_str().unwrap()]).output();
    out.code(2);
    assert_eq!(
        out.stderr(),
        format!("synack: {}: no capture in this directory\n", none.display())
    );
}

/// `bytes` cut to `keep` of its length, in a scratch file.
fn cut(dir: &Path, name: &str, bytes: &[u8], keep: usize) -> String {
    let path = dir.join(name);
    std::fs::write(&path, &bytes[..keep]).unwrap();
    path.display().to_string()
}

/// Day 1's first file, its records repeated to some 4 MB (past a few compressed
/// blocks of every format), compressed the way `pack` names.
fn big_compressed(pack: &str) -> (Vec<u8>, u64) {
    use std::io::Write;
    let plain = read(&format!("{DAY1}/trace.pcap"));
    let (header, records) = plain.split_at(24);
    let times = 4_000_000 / records.len();
    let mut big = header.to_vec();
    for _ in 0..times {
        big.extend_from_slice(records);
    }
    let packets = synack()
        .args(["report", "--format", "json", "-"])
        .stdin(plain.clone())
        .output()
        .json()["packets"]["total"]
        .as_u64()
        .unwrap()
        * times as u64;
    let packed = match pack {
        "gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&big).unwrap();
            e.finish().unwrap()
        }
        "zstd" => {
            let mut e = zstd::Encoder::new(Vec::new(), 1).unwrap();
            e.include_checksum(true).unwrap();
            e.write_all(&big).unwrap();
            e.finish().unwrap()
        }
        "lz4" => {
            // 64 KiB blocks: one written whole is one block of 4 MB.
            let info = lz4_flex::frame::FrameInfo::new()
                .content_checksum(true)
                .block_size(lz4_flex::frame::BlockSize::Max64KB);
            let mut e = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
            e.write_all(&big).unwrap();
            e.finish().unwrap()
        }
        "xz" => {
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
            e.write_all(&big).unwrap();
            e.finish().unwrap()
        }
        _ => unreachable!(),
    };
    (packed, packets)
}

#[test]
fn truncated_and_corrupt_compressed_input_is_one_line_and_a_partial_report() {
    let dir = scratch("truncated");
    for pack in PACKS {
        let (bytes, all) = big_compressed(pack);
        let path = cut(&dir, &format!("{pack}-cut"), &bytes, bytes.len() * 2 / 3);
        // One or two threads: the decoder runs ahead on a thread of its own and the
        // reading thread tracks; three: a worker tracks beside them, packets shared out.
        for threads in ["1", "2", "3"] {
            let out = synack()
                .args(["report", "--format", "json", "--threads", threads, &path])
                .output();
            out.code(2);
            let err = out.stderr();
            assert_eq!(err.lines().count(), 1, "{pack}, {threads} thread(s): {err}");
            assert!(
                err.starts_with(&format!(
                    "synack: {path}: truncated: the {pack} stream ends early, after "
                )),
                "{pack}, {threads} thread(s): {err}"
            );
            let j = out.json();
            let packets = j["packets"]["total"].as_u64().unwrap();
            assert!(
                packets > 0 && packets < all,
                "{pack}, {threads} thread(s): what was read before is reported ({packets} of {all})"
            );
            let warnings = j["warnings"].to_string();
            assert!(warnings.contains("the report covers the"), "{pack}: {j}");
        }

        // Bytes flipped in the middle: corrupt, found by the decoder or, when the damage
        // decodes (gzip checks its CRC only at the end of a member), by the pcap reader.
        let mut damaged = bytes.clone();
        let at = damaged.len() / 2;
        for b in &mut damaged[at..at + 16] {
            *b ^= 0xa5;
        }
        let path = dir.join(format!("{pack}-damaged"));
        std::fs::write(&path, &damaged).unwrap();
        let out = synack()
            .args(["report", "--format", "json", path.to_str().unwrap()])
            .output();
        out.code(2);
        let err = out.stderr_lossy();
        assert_eq!(err.lines().count(), 1, "{pack}: {err}");
        assert!(
            err.contains(&format!("corrupt {pack} data near compressed byte"))
                || err.contains("corrupt record header"),
            "{pack}: {err}"
        );
        assert!(out.json()["packets"]["total"].as_u64().unwrap() < all);
    }
    // From standard input too.
    let (bytes, _) = big_compressed("zstd");
    let out = synack()
        .args(["report", "-"])
        .stdin(bytes[..bytes.len() / 2].to_vec())
        .output();
    out.code(2);
    let err = out.stderr();
    assert!(
        err.starts_with("synack: -: truncated: the zstd stream ends early"),
        "{err}"
    );
}

#[test]
fn a_compressed_trace_reads_the_same_on_any_number_of_threads() {
    // On one or two threads the decoder runs on a thread of its own and the reading
    // thread tracks; on three a worker tracks beside them. A compressed file among
    // mostly uncompressed bytes is decompressed on the reading thread, which shares
    // packets out.
    let dir = scratch("threads");
    let plain = read(&format!("{DAY1}/trace.pcap"));
    let (header, records) = plain.split_at(24);
    let mut big = header.to_vec();
    for _ in 0..4_000_000 / records.len() {
        big.extend_from_slice(records);
    }
    let plain_path = dir.join("big.pcap");
    std::fs::write(&plain_path, &big).unwrap();
    let plain_path = plain_path.display().to_string();
    let report = |threads: &str, files: &[&str]| {
        let out = synack()
            .args(["report", "--format", "json", "--threads", threads])
            .args(files)
            .output();
        out.success();
        out.stdout()
    };
    let want = report("1", &[&plain_path]);
    for pack in PACKS {
        let path = dir.join(format!("big.{pack}"));
        std::fs::write(&path, big_compressed(pack).0).unwrap();
        let path = path.display().to_string();
        for threads in ["1", "2", "3"] {
            let got = report(threads, &[&path]).replace(&path, &plain_path);
            assert!(got == want, "{pack}, {threads} thread(s)");
        }
        let small = format!("fixtures/archive/compressed/{pack}/trace.pcap1");
        let mixed = report("1", &[&plain_path, &small]);
        for threads in ["2", "3"] {
            let got = report(threads, &[&plain_path, &small]);
            assert!(got == mixed, "{pack} among plain bytes, {threads} threads");
        }
    }
}

#[test]
fn multi_member_gzip_is_one_stream() {
    // Every gzip fixture is written in two members (fixtures/README.md); the second
    // starts inside a record.
    let gz = read("fixtures/archive/compressed/gzip/trace.pcap");
    let members = gz.windows(3).filter(|w| w == &[0x1f, 0x8b, 0x08]).count();
    assert!(members >= 2, "two gzip members");
    let plain = synack()
        .args(["report", "--format", "json", "-"])
        .stdin(read(&format!("{DAY1}/trace.pcap")))
        .output();
    let packed = synack()
        .args(["report", "--format", "json", "-"])
        .stdin(gz)
        .output();
    packed.success().quiet();
    assert_eq!(packed.stdout(), plain.stdout());
}
