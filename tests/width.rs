//! Output fitted to the terminal (issue 17, item 1): with `COLUMNS=80`, no line that
//! report, check or ladder prints on any fixture is longer than 80 characters, and
//! `--wide` gives the whole table and diagram.

mod common;

use std::path::{Path, PathBuf};

fn captures(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read fixtures") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            captures(&path, out);
        } else if path
            .extension()
            .is_some_and(|e| e == "pcap" || e == "pcapng")
        {
            out.push(path);
        }
    }
}

fn fixtures() -> Vec<String> {
    let mut all = Vec::new();
    captures(&common::root().join("fixtures"), &mut all);
    all.sort();
    let root = common::root();
    all.iter()
        .map(|p| p.strip_prefix(root).unwrap().display().to_string())
        .collect()
}

/// Lines over `max` characters (not bytes) in what `args` printed with COLUMNS=`max`.
fn long_lines(args: &[&str], max: usize) -> Vec<String> {
    let out = common::synack()
        .args(args)
        .env("COLUMNS", max.to_string())
        .env("NO_COLOR", "1")
        .output();
    assert_ne!(out.status.code(), Some(101), "{args:?} panicked");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.chars().count() > max)
        .map(|l| format!("{args:?}: {} chars: {l}", l.chars().count()))
        .collect()
}

#[test]
fn every_fixture_fits_80_columns() {
    let mut long = Vec::new();
    for f in fixtures() {
        let f = f.as_str();
        long.extend(long_lines(&["report", f], 80));
        long.extend(long_lines(&["report", "--all", f], 80));
        long.extend(long_lines(&["ladder", f], 80));
        long.extend(long_lines(&["ladder", "--full", "--abnormal", f], 80));
        long.extend(long_lines(
            &["check", f, "--max-rst", "0", "--max-handshake-p99-ms", "1"],
            80,
        ));
        long.extend(long_lines(
            &["check", f, "--rules", "tests/golden/rules.toml"],
            80,
        ));
    }
    assert!(long.is_empty(), "{}", long.join("\n"));
}

#[test]
fn wide_gives_every_column() {
    let out = common::synack()
        .args(["report", "--wide", "fixtures/sample.pcap"])
        .env("COLUMNS", "80")
        .output();
    out.success();
    let text = out.stdout();
    for header in [
        "pkts c→s",
        "bytes s→c",
        "first seen (UTC)",
        "duration (s)",
        "RTT (ms)",
        "connect (ms)",
        "SYN rtx",
        "final states (client / server)",
    ] {
        assert!(text.contains(header), "no {header:?} in\n{text}");
    }
    assert!(text.lines().any(|l| l.chars().count() > 200));
}

#[test]
fn columns_picks_and_orders() {
    let out = common::synack()
        .args([
            "report",
            "--columns",
            "id,connect,syn-rtx,rtx,peers",
            "fixtures/tcp/syn-retransmit.pcap",
        ])
        .output();
    out.success();
    let text = out.stdout();
    let header = text
        .lines()
        .find(|l| l.starts_with("id "))
        .unwrap_or_else(|| panic!("no header in\n{text}"));
    let words: Vec<&str> = header.split("  ").filter(|w| !w.is_empty()).collect();
    assert_eq!(
        words,
        ["id", "connect (ms)", "SYN rtx", "rtx", "client → server"]
    );
    let bad = common::synack()
        .args(["report", "--columns", "id,nope", "fixtures/sample.pcap"])
        .output();
    bad.code(2).stderr_contains("no column \"nope\"");
    // --help lists exactly the columns the error message lists (the table's own list).
    let err = bad.stderr_lossy();
    let names: Vec<&str> = err
        .split("the columns are: ")
        .nth(1)
        .expect("the list")
        .trim()
        .split(", ")
        .collect();
    let help = common::synack()
        .args(["report", "--help"])
        .output()
        .stdout();
    // The option's paragraph, its lines joined.
    let paragraph = help
        .split("\n\n")
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .find(|p| p.contains("comma-separated, from: "))
        .expect("--columns' help");
    let list = paragraph
        .split("comma-separated, from: ")
        .nth(1)
        .unwrap()
        .trim_end_matches('.');
    // Without the remarks in parentheses.
    let (mut bare, mut depth) = (String::new(), 0);
    for c in list.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ if depth == 0 => bare.push(c),
            _ => {}
        }
    }
    let helped: Vec<&str> = bare.split(',').map(str::trim).collect();
    assert_eq!(helped, names, "report --help's --columns list");
}

#[test]
fn a_pipe_without_columns_is_fitted_to_100() {
    // A pipe without COLUMNS is fitted to 100.
    let out = common::synack()
        .args(["report", "fixtures/sample.pcap"])
        .env_remove("COLUMNS")
        .output();
    out.success();
    assert!(out.stdout().lines().all(|l| l.chars().count() <= 100));
}
