//! `capture --records`: the records written as connections end (and, at the end, those
//! still open) are the rows `synack report --format zeek` prints for the same capture,
//! on every fixture replayed with `capture -r`.

use std::path::{Path, PathBuf};

mod common;
use common::synack;

/// The data lines of a conn.log (no `#` header or `#close`), sorted: records come out in
/// the order connections end, the report's in the order they start.
fn rows(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

fn fixtures() -> Vec<PathBuf> {
    let mut v = vec![PathBuf::from("fixtures/sample.pcap")];
    for dir in ["fixtures/tcp", "fixtures/edge", "fixtures/app"] {
        let Ok(list) = std::fs::read_dir(common::root().join(dir)) else {
            continue;
        };
        for e in list {
            let p = e.expect("entry").path();
            if p.extension().is_some_and(|x| x == "pcap" || x == "pcapng") {
                v.push(p.strip_prefix(common::root()).unwrap().to_path_buf());
            }
        }
    }
    v.sort();
    v
}

fn records(file: &Path, format: &str) -> String {
    let out = synack()
        .args(["capture", "-r"])
        .arg(file)
        .args(["--records", "-", "--records-format", format])
        .output();
    out.success();
    out.stdout()
}

#[test]
fn records_as_connections_end_equal_the_reports_rows() {
    let mut compared = 0;
    for f in fixtures() {
        for format in ["zeek", "zeek-json"] {
            let report = synack()
                .args(["report", "--format", format])
                .arg(&f)
                .output();
            report.success();
            let want = rows(&report.stdout());
            let got = rows(&records(&f, format));
            assert_eq!(got, want, "{} --records-format {format}", f.display());
            compared += want.len();
        }
    }
    assert!(compared > 50, "only {compared} rows compared");
}

#[test]
fn a_records_file_is_a_whole_conn_log_beside_the_events() {
    let path = std::env::temp_dir().join(format!("synack-records-{}.log", std::process::id()));
    let out = synack()
        .args([
            "capture",
            "-r",
            "fixtures/sample.pcap",
            "--json",
            "--records",
        ])
        .arg(&path)
        .output();
    out.success();
    // The events and the report still go to standard output.
    assert!(out
        .stdout()
        .lines()
        .last()
        .unwrap()
        .contains("\"event\":\"report\""));
    let log = std::fs::read_to_string(&path).unwrap();
    assert!(log.starts_with("#separator \\x09\n"), "{log}");
    assert!(log.lines().any(|l| l.starts_with("#fields\tts\tuid")));
    assert!(log.ends_with('\n') && log.lines().last().unwrap().starts_with("#close\t"));
    let report = synack()
        .args(["report", "--format", "zeek", "fixtures/sample.pcap"])
        .output();
    assert_eq!(rows(&log), rows(&report.stdout()));
    let _ = std::fs::remove_file(&path);
}
