//! `synack capture -w` with tcpdump's rotation (`-C`, `-G`, `-W`, `-z`), on replayed
//! fixtures: every file is a complete capture synack reads back, and the files together
//! hold exactly the packets captured.

use std::path::{Path, PathBuf};

mod common;
use common::{packets_captured, packets_in, synack};

const TRACE: &str = "fixtures/tcp/retransmission.pcap";

fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("synack-wfiles-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// The file names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn capture(args: &[&str]) -> u64 {
    let out = synack().args(["capture", "-r", TRACE]).args(args).output();
    out.success();
    packets_captured(&out.stderr())
}

#[test]
fn size_rotation_names_files_as_tcpdump_and_keeps_every_packet() {
    let dir = scratch("size");
    let w = dir.join("out.pcap");
    let n = capture(&["-w", w.to_str().unwrap(), "-C", "2k"]);
    assert_eq!(n, packets_in(Path::new(TRACE)));
    let files = names(&dir);
    assert_eq!(
        files,
        [
            "out.pcap",
            "out.pcap1",
            "out.pcap2",
            "out.pcap3",
            "out.pcap4"
        ]
    );
    let mut total = 0;
    for f in &files {
        let len = std::fs::metadata(dir.join(f)).unwrap().len();
        // Rotated before the packet that finds the file over 2 KiB: at most one packet over.
        assert!(len < 2048 + 16 + 1514, "{f}: {len} bytes");
        total += packets_in(&dir.join(f));
    }
    assert_eq!(total, n);
}

#[test]
fn a_ring_is_numbered_to_the_width_of_n_and_overwritten() {
    let dir = scratch("ring");
    let w = dir.join("ring");
    // Five files' worth into a ring of 3: ring0 and ring1 were written twice.
    capture(&["-w", w.to_str().unwrap(), "-C", "2k", "-W", "3"]);
    assert_eq!(names(&dir), ["ring0", "ring1", "ring2"]);
    for f in names(&dir) {
        assert!(packets_in(&dir.join(f)) > 0);
    }
    let dir = scratch("ring11");
    let w = dir.join("r");
    capture(&["-w", w.to_str().unwrap(), "-C", "1k", "-W", "11"]);
    assert_eq!(names(&dir).first().map(String::as_str), Some("r00"));
}

#[test]
fn time_rotation_takes_strftime_names_and_w_stops_the_capture() {
    let dir = scratch("time");
    let w = dir.join("t-%s.pcap");
    let n = capture(&["-w", w.to_str().unwrap(), "-G", "1"]);
    // The trace spans 1.12 s from 1767225600: two one-second windows, named by their start.
    let files = names(&dir);
    assert_eq!(files, ["t-1767225600.pcap", "t-1767225601.pcap"]);
    let total: u64 = files.iter().map(|f| packets_in(&dir.join(f))).sum();
    assert_eq!(total, n);

    let dir = scratch("time-w");
    let w = dir.join("t-%s.pcap");
    let out = synack()
        .args([
            "capture",
            "-r",
            TRACE,
            "-w",
            w.to_str().unwrap(),
            "-G",
            "1",
            "-W",
            "1",
        ])
        .output();
    out.success()
        .stderr_contains("maximum file limit reached: 1");
    let n = packets_captured(&out.stderr());
    assert_eq!(names(&dir), ["t-1767225600.pcap"]);
    assert_eq!(packets_in(&dir.join("t-1767225600.pcap")), n);
    assert!(
        n < packets_in(Path::new(TRACE)),
        "stopped at the second window"
    );
}

#[test]
fn z_runs_on_every_closed_file() {
    let dir = scratch("z");
    let w = dir.join("z.pcap");
    let n = capture(&["-w", w.to_str().unwrap(), "-C", "2k", "-z", "gzip"]);
    let files = names(&dir);
    assert_eq!(files.len(), 5, "{files:?}");
    let mut total = 0;
    for f in &files {
        assert!(f.ends_with(".gz"), "{f} not compressed");
        let status = std::process::Command::new("gzip")
            .arg("-d")
            .arg(dir.join(f))
            .status()
            .expect("gzip -d");
        assert!(status.success());
        total += packets_in(&dir.join(f.trim_end_matches(".gz")));
    }
    assert_eq!(total, n);

    let out = synack()
        .args(["capture", "-r", TRACE, "-w"])
        .arg(dir.join("again.pcap"))
        .args(["-C", "2k", "-z", "/nonexistent/compress"])
        .output();
    out.success().stderr_contains("-z /nonexistent/compress:");
}

#[test]
fn rotation_options_need_what_they_rotate() {
    synack()
        .args(["capture", "-r", TRACE, "-C", "1"])
        .output()
        .code(2)
        .stderr_contains("--write");
    synack()
        .args(["capture", "-r", TRACE, "-w", "/dev/null", "-W", "2"])
        .output()
        .stderr_contains("-W needs -C or -G");
    synack()
        .args(["capture", "-r", TRACE, "-w", "/dev/null", "-C", "0"])
        .output()
        .code(2)
        .stderr_contains("invalid value");
}
