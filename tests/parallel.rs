//! The parallel path (`--threads N`: a reading thread, connections tracked on N-1
//! workers by 4-tuple hash) must print byte-for-byte the single-threaded report: on
//! every fixture, every corpus capture, and several files read as one timeline.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn report(files: &[PathBuf], threads: usize) -> (Vec<u8>, Option<i32>) {
    let out = Command::new(env!("CARGO_BIN_EXE_synack"))
        .args(["report", "--format", "json", "--threads"])
        .arg(threads.to_string())
        .args(files)
        .output()
        .expect("run synack");
    (out.stdout, out.status.code())
}

fn captures(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p
                .extension()
                .is_some_and(|x| x == "pcap" || x == "pcapng" || x == "cap")
            {
                out.push(p);
            }
        }
    }
    out.sort();
    out
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
    let Some(dir) = common::corpus_dir() else {
        return;
    };
    let files = captures(&dir);
    assert!(files.len() > 100);
    for f in &files {
        assert_same(std::slice::from_ref(f));
    }
}
