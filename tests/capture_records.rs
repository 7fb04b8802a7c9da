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
    // fixtures/evidence: every evidence column (issue 20) non-zero somewhere.
    for dir in [
        "fixtures/tcp",
        "fixtures/edge",
        "fixtures/app",
        "fixtures/evidence",
    ] {
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

/// A scratch directory of its own for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("synack-caprec-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// The files in `dir` whose names end with `suffix`, sorted.
fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    v.sort();
    v
}

/// `report --format parquet` of the captures given, row by row, sorted.
fn report_parquet_rows(dir: &Path, captures: &[PathBuf]) -> Vec<String> {
    let out = dir.join("report.parquet.out");
    synack()
        .args(["report", "--format", "parquet", "-o"])
        .arg(&out)
        .args(captures)
        .output()
        .success();
    let mut rows = common::parquet_rows::rows(&out);
    rows.sort();
    let _ = std::fs::remove_file(&out);
    rows
}

#[test]
fn parquet_records_as_connections_end_equal_the_reports_rows() {
    let dir = scratch("parquet-rows");
    let mut compared = 0;
    for f in fixtures() {
        let path = dir.join("records.parquet");
        synack()
            .args(["capture", "-r"])
            .arg(&f)
            .args(["--records-format", "parquet", "--records"])
            .arg(&path)
            .output()
            .success();
        let mut got = common::parquet_rows::rows(&path);
        got.sort();
        let want = report_parquet_rows(&dir, std::slice::from_ref(&f));
        assert_eq!(got, want, "{}", f.display());
        compared += want.len();
    }
    assert!(compared > 25, "only {compared} rows compared");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `-G 20` on the sample's 197 s: a capture file and its records file per window, each
/// records file complete, together the rows of `report` on the capture files (and on the
/// sample itself).
#[test]
fn records_rotate_with_the_capture_files() {
    for (format, suffix) in [
        ("parquet", ".conn.parquet"),
        ("zeek", ".conn.log"),
        ("zeek-json", ".conn.json"),
    ] {
        let dir = scratch(&format!("with-capture-{format}"));
        let template = dir.join("s-%s.pcap");
        synack()
            .args(["capture", "-r", "fixtures/sample.pcap", "-w"])
            .arg(&template)
            .args(["-G", "20", "--records-rotate", "capture"])
            .args(["--records-format", format])
            .output()
            .success();
        let captures = files_ending(&dir, ".pcap");
        let records = files_ending(&dir, suffix);
        assert!(captures.len() >= 5, "{format}: {captures:?}");
        // One records file per capture file, named after it.
        let beside: Vec<PathBuf> = captures
            .iter()
            .map(|c| PathBuf::from(format!("{}{suffix}", c.display())))
            .collect();
        assert_eq!(records, beside, "{format}");
        let mut got = Vec::new();
        for r in &records {
            match format {
                "parquet" => got.extend(common::parquet_rows::rows(r)),
                _ => {
                    let text = std::fs::read_to_string(r).unwrap();
                    if format == "zeek" {
                        assert!(text.starts_with("#separator"), "{}", r.display());
                        assert!(text.lines().last().unwrap().starts_with("#close\t"));
                    }
                    got.extend(rows(&text));
                }
            }
        }
        got.sort();
        let want = match format {
            "parquet" => report_parquet_rows(&dir, &captures),
            _ => {
                let out = synack()
                    .args(["report", "--format", format])
                    .args(&captures)
                    .output();
                out.success();
                rows(&out.stdout())
            }
        };
        assert_eq!(got.len(), 8, "{format}: the sample's 8 connections");
        assert_eq!(got, want, "{format}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// `--records-rotate 30`: a file per 30 s window of capture time, named by strftime at
/// the window's start (a multiple of 30), each complete; together the sample's rows.
/// Replayed, a window in which no packet came has no sweep and so no file (the sample is
/// silent from 750 s to 780 s).
#[test]
fn records_rotate_on_their_own_interval() {
    let dir = scratch("every");
    let template = dir.join("conn-%s.parquet");
    synack()
        .args([
            "capture",
            "-r",
            "fixtures/sample.pcap",
            "--records-format",
            "parquet",
        ])
        .args(["--records-rotate", "30", "--records"])
        .arg(&template)
        .output()
        .success();
    let files = files_ending(&dir, ".parquet");
    let starts: Vec<i64> = files
        .iter()
        .map(|f| {
            let name = f.file_name().unwrap().to_str().unwrap();
            name["conn-".len()..name.len() - ".parquet".len()]
                .parse()
                .unwrap()
        })
        .collect();
    assert!(starts.len() >= 6, "{files:?}");
    assert!(starts.iter().all(|s| s % 30 == 0), "{starts:?}");
    assert_eq!(starts[0], 1_767_225_600, "the first packet's window");
    let mut got: Vec<String> = files
        .iter()
        .flat_map(|f| common::parquet_rows::rows(f))
        .collect();
    got.sort();
    let want = report_parquet_rows(&dir, &[PathBuf::from("fixtures/sample.pcap")]);
    assert_eq!(got, want);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn records_rotation_that_cannot_work_is_refused_before_capturing() {
    for (args, message) in [
        (
            &["--records-rotate", "capture"][..],
            "--records-rotate capture needs -w with -C or -G",
        ),
        (
            &[
                "--records-rotate",
                "capture",
                "--records",
                "x.log",
                "-w",
                "x.pcap",
                "-C",
                "1",
            ],
            "leave out --records",
        ),
        (&["--records-rotate", "60"], "needs --records FILE"),
        (
            &["--records-rotate", "60", "--records", "plain.parquet"],
            "holds no strftime(3) conversion",
        ),
        (
            &["--records-rotate", "60", "--records", "-"],
            "cannot be rotated",
        ),
        (
            &["--records-format", "parquet"],
            "--records-format needs --records",
        ),
        (&["--records-rotate", "0"], "or `capture`"),
    ] {
        let out = synack()
            .args(["capture", "-r", "fixtures/sample.pcap"])
            .args(args)
            .output();
        out.code(2);
        out.stderr_contains(message);
        assert!(out.stdout().is_empty(), "{args:?}: nothing captured");
    }
}
