//! Issue 17's input habits: errors that stand alone, tcpdump's argument forms, Ctrl-C on
//! standard input, connect time, live lines for retransmitted SYNs and tracked states,
//! and rotated files given out of order.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

mod common;
use common::synack;

const SAMPLE: &str = "fixtures/sample.pcap";

fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("synack-inputs-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// A classic little-endian pcap cut in two at record `at`: (header + records before,
/// header + records from it on).
fn split_pcap(path: &str, at: usize) -> (Vec<u8>, Vec<u8>) {
    let bytes = std::fs::read(common::root().join(path)).expect("read fixture");
    let (header, mut rest) = bytes.split_at(24);
    let mut records = Vec::new();
    while rest.len() >= 16 {
        let caplen = u32::from_le_bytes(rest[8..12].try_into().unwrap()) as usize;
        let (record, tail) = rest.split_at(16 + caplen);
        records.push(record.to_vec());
        rest = tail;
    }
    let file = |rs: &[Vec<u8>]| {
        let mut f = header.to_vec();
        rs.iter().for_each(|r| f.extend_from_slice(r));
        f
    };
    (file(&records[..at]), file(&records[at..]))
}

fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

// Item 2: an error does not drown in a page of zeros.

#[test]
fn when_nothing_could_be_read_only_the_errors_are_printed() {
    // A file cut inside its first record: nothing of it can be read.
    let dir = scratch("nothing");
    let cut = dir.join("cut-in-first-record.pcap");
    let sample = std::fs::read(common::root().join(SAMPLE)).unwrap();
    std::fs::write(&cut, &sample[..24 + 30]).unwrap();
    let cut = cut.display().to_string();
    // A directory whose only file is not a capture.
    let no_capture = dir.join("no-capture");
    std::fs::create_dir(&no_capture).unwrap();
    std::fs::write(no_capture.join("notes.txt"), "text\n").unwrap();
    let no_capture = no_capture.display().to_string();
    let inputs = [
        "fixtures/no-such-file.pcap",
        &no_capture,
        "fixtures/bad/not-a-capture.txt",
        "fixtures/bad/empty-file.pcap",
        &cut,
    ];
    for args in [vec!["report"], vec!["ladder"], vec!["ladder", "--abnormal"]] {
        for input in inputs {
            let out = synack().args(&args).arg(input).output();
            out.code(2);
            assert_eq!(out.stdout(), "", "{args:?} {input}");
            let err = out.stderr();
            assert_eq!(lines(&err).len(), 1, "{args:?} {input}: {err}");
            assert!(err.starts_with(&format!("synack: {input}: ")), "{err}");
        }
        let out = synack().args(&args).args(inputs).output();
        out.code(2);
        assert_eq!(out.stdout(), "", "{args:?}");
        assert_eq!(lines(&out.stderr()).len(), inputs.len(), "{}", out.stderr());
    }
    // JSON stays one document, with the errors in its inputs.
    let out = synack().args(["report", "--json"]).args(inputs).output();
    out.code(2);
    let error = out.json()["inputs"][0]["error"]
        .as_str()
        .map(str::to_string);
    assert!(error.unwrap_or_default().starts_with("cannot open"));
    assert_eq!(lines(&out.stderr()).len(), inputs.len(), "{}", out.stderr());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn when_some_input_was_read_the_report_comes_first_and_the_errors_last() {
    let out = synack()
        .args(["report", SAMPLE, "fixtures/no-such-file.pcap"])
        .output();
    out.code(2).stdout_contains("TCP connections: 8");
    assert_eq!(
        out.stderr(),
        "synack: fixtures/no-such-file.pcap: cannot open: No such file or directory (os error 2)\n"
    );
    // check keeps a verdict per trace; the errors follow it.
    let out = synack()
        .args([
            "check",
            "fixtures/no-such-file.pcap",
            SAMPLE,
            "--max-rst",
            "5",
        ])
        .output();
    out.code(2).stdout_contains("ERROR");
    out.stdout_contains("PASS");
    assert_eq!(lines(&out.stderr()).len(), 1, "{}", out.stderr());
}

// Item 3: tcpdump's habits.

#[test]
fn a_filter_expression_after_the_files_is_applied_as_tcpdump_does() {
    let flag = synack()
        .args(["report", "--json", "-f", "tcp port 443", SAMPLE])
        .output();
    flag.success().quiet();
    let trailing = synack()
        .args(["report", "--json", SAMPLE, "tcp", "port", "443"])
        .output();
    trailing.success();
    assert_eq!(trailing.stderr(), "synack: filter 'tcp port 443'\n");
    assert_eq!(trailing.json(), flag.json());
    assert_eq!(trailing.json()["packets"]["filtered_out"], 53);
    // The same after standard input, and for ladder and check.
    let bytes = std::fs::read(common::root().join(SAMPLE)).unwrap();
    let stdin = synack()
        .args(["report", "--json", "-", "tcp", "port", "443"])
        .stdin(bytes)
        .output();
    assert_eq!(stdin.json()["summary"], flag.json()["summary"]);
    synack()
        .args(["ladder", SAMPLE, "tcp", "port", "443"])
        .output()
        .success()
        .stdout_contains("10.0.0.9:443");
    synack()
        .args([
            "check",
            SAMPLE,
            "--max-connections",
            "3",
            "tcp",
            "port",
            "443",
        ])
        .output()
        .success()
        .stderr_contains("synack: filter 'tcp port 443'");
}

#[test]
fn words_that_are_no_filter_stay_files_and_two_filters_are_an_error() {
    let out = synack()
        .args(["report", SAMPLE, "tcp", "prt", "81"])
        .output();
    out.code(2).stdout_contains("TCP connections: 8");
    let err = out.stderr();
    assert_eq!(lines(&err).len(), 3, "{err}");
    assert!(err.contains("synack: prt: cannot open"), "{err}");
    let out = synack()
        .args(["report", SAMPLE, "-f", "tcp", "port", "80"])
        .output();
    out.code(2).stderr_contains("two filters");
    assert_eq!(out.stdout(), "");
}

#[test]
fn dash_r_and_json_are_accepted_as_tcpdump_and_capture_take_them() {
    let plain = synack()
        .args(["report", "--format", "json", SAMPLE])
        .output();
    let r = synack().args(["report", "--json", "-r", SAMPLE]).output();
    r.success().quiet();
    assert_eq!(r.json(), plain.json());
    let twice = synack()
        .args([
            "report",
            "--json",
            "-r",
            SAMPLE,
            "-r",
            "fixtures/tcp/refused.pcap",
        ])
        .output();
    assert_eq!(twice.json()["inputs"].as_array().unwrap().len(), 2);
    synack()
        .args(["report", "-r", SAMPLE, "tcp", "port", "22"])
        .output()
        .success()
        .stderr_contains("synack: filter 'tcp port 22'");
    synack()
        .args(["ladder", "-r", "fixtures/tcp/close-client.pcap"])
        .output()
        .success()
        .stdout_contains("connection #1");
    synack()
        .args(["report", "--json", "--format", "table", SAMPLE])
        .output()
        .code(2);
}

// Item 4: Ctrl-C on a pipe that never ends prints the report of what was read.

#[test]
fn sigint_ends_reading_standard_input_and_prints_the_report() {
    let mut child = synack()
        .args(["report", "--json", "-"])
        .stdin_from(Stdio::piped())
        .spawn();
    // Held open: the pipe never ends.
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(&std::fs::read(common::root().join(SAMPLE)).unwrap())
        .unwrap();
    stdin.flush().unwrap();
    std::thread::sleep(Duration::from_millis(700));
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "synack did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    drop(stdin);
    let (mut out, mut err) = (String::new(), String::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).expect("a JSON report");
    assert_eq!(json["packets"]["total"], 79, "{err}");
    assert_eq!(json["summary"]["connections"], 8);
    assert_eq!(json["inputs"][0]["error"], serde_json::Value::Null);
    assert!(err.contains("synack: interrupted"), "{err}");
}

// Item 5: connect time.

#[test]
fn connect_time_counts_from_the_first_syn() {
    let out = synack()
        .args(["report", "--json", "fixtures/tcp/syn-retransmit.pcap"])
        .output();
    let s = &out.json()["summary"];
    assert_eq!(s["handshake_rtt_ms"]["p99"].to_string(), "40.000000");
    assert_eq!(s["connect_ms"]["p99"].to_string(), "1040.000000");
    assert_eq!(
        out.json()["connections"][0]["handshake"]["first_syn_to_ack_ms"].to_string(),
        "1040.000000"
    );
    let table = synack()
        .args(["report", "fixtures/tcp/syn-retransmit.pcap"])
        .output();
    table.stdout_contains("connect (1st SYN → ACK) ┆     1 ┆ 1040.000");
    // RTT passes, connect time does not.
    synack()
        .args([
            "check",
            "fixtures/tcp/syn-retransmit.pcap",
            "--max-handshake-p99-ms",
            "50",
        ])
        .output()
        .success();
    synack()
        .args([
            "check",
            "fixtures/tcp/syn-retransmit.pcap",
            "--max-connect-p99-ms",
            "50",
        ])
        .output()
        .code(1)
        .stdout_contains("connect time p99");
}

// Item 6: live lines while a handshake waits, and what is tracked.

#[test]
fn live_text_says_when_a_syn_or_synack_is_retransmitted() {
    let out = synack().args(["capture", "--utc", "-r", SAMPLE]).output();
    out.success();
    out.stdout_contains(
        "00:00:11.000000 #5 10.0.0.2:51004 > 10.0.0.9:443: SYN retransmitted by client: SYN #2, 1.000 s after the first\n",
    );
    out.stdout_contains("#5 10.0.0.2:51004 > 10.0.0.9:443: SYN retransmitted by client: SYN #3, 3.000 s after the first\n");
    let out = synack()
        .args([
            "capture",
            "--utc",
            "-r",
            "fixtures/tcp/synack-retransmit.pcap",
        ])
        .output();
    out.stdout_contains("SYN/ACK retransmitted by server: SYN/ACK #2, 1.000 s after the first");
    // NDJSON is unchanged: its `retransmission` event already says it.
    let json = synack().args(["capture", "--json", "-r", SAMPLE]).output();
    assert!(!json.stdout().contains("syn_retransmitted"));
}

#[test]
fn interval_lines_count_tracked_connections_by_state() {
    let out = synack()
        .args(["capture", "--utc", "-r", SAMPLE, "--interval", "10"])
        .output();
    out.success();
    out.stdout_contains(
        "00:00:10.000000 summary: 5 tracked (1 syn_sent, 1 established, 2 time_wait, 1 closed), 5 seen,",
    );
}

// Item 7: rotated files given out of order.

#[test]
fn files_are_read_in_the_order_of_their_first_packets() {
    let dir = scratch("order");
    let (first, second) = split_pcap(SAMPLE, 40);
    let (a, b) = (dir.join("trace.pcap10"), dir.join("trace.pcap2"));
    std::fs::write(&a, second).unwrap();
    std::fs::write(&b, first).unwrap();
    let whole = synack().args(["report", "--json", SAMPLE]).output();
    let out = synack().args(["report", "--json"]).arg(&a).arg(&b).output();
    out.success();
    let name = |p: &Path| p.display().to_string();
    assert_eq!(
        out.stderr(),
        format!(
            "synack: reading the files in the order of their first packet: {}, {}\n",
            name(&b),
            name(&a)
        )
    );
    let json = out.json();
    assert_eq!(json["summary"], whole.json()["summary"]);
    assert_eq!(json["inputs"][0]["file"], name(&b));
    // In order already: nothing said.
    synack()
        .args(["report", "--json"])
        .arg(&b)
        .arg(&a)
        .output()
        .success()
        .quiet();
    // Standard input keeps its place.
    let bytes = std::fs::read(&b).unwrap();
    let out = synack()
        .args(["report", "--json"])
        .arg(&a)
        .arg("-")
        .stdin(bytes)
        .output();
    assert_eq!(out.json()["inputs"][1]["file"], "-");
    // ladder reads them in the same order, so ids match the report's.
    synack()
        .args(["ladder", "--conn", "1"])
        .arg(&a)
        .arg(&b)
        .output()
        .success()
        .stdout_contains("connection #1: client 10.0.0.2:51001");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn files_that_overlap_in_time_are_warned_about() {
    let out = synack().args(["report", "--json", SAMPLE, SAMPLE]).output();
    out.success();
    out.stderr_contains(&format!(
        "synack: warning: {SAMPLE} begins before {SAMPLE} ends: the files overlap in time"
    ));
    out.stderr_contains(&format!("mergecap -w merged.pcap {SAMPLE} {SAMPLE}"));
}
