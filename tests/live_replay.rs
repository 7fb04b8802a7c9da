//! Issue 23: a live capture lets go of connections as it runs (docs/live.md, "Which
//! connections a live capture keeps"), and must still give the figures `report` gives.
//! For every capture of fixtures/ (not bad/ or fuzz/) and ../shared/corpus,
//! `synack capture -r FILE --json` (the live code path, fed from a file) and
//! `synack report --format json FILE` print the same `summary`, except where a documented
//! live-only rule says otherwise (`LIVE_ONLY`).

mod common;
use common::{require_shared, root, synack};

use serde_json::Value;
use std::path::{Path, PathBuf};

/// Captures whose live summary differs from the report's by a rule of docs/live.md:
/// (file name, why).
const LIVE_ONLY: &[(&str, &str)] = &[(
    "pcapplusplus__pcapng-example.pcapng",
    "46 years pass between two packets of one connection, longer than \
     --established-timeout: live, the connection is let go of and the later packets \
     start another",
)];

/// The keep-alive fixtures: each is silent for 2 hours before its first probe, so each
/// tells the live rule from the old 300 s idle timeout.
const KEEPALIVE: &[&str] = &[
    "fixtures/tcp/keepalive-linux.pcap",
    "fixtures/tcp/keepalive-server-dead.pcap",
    "fixtures/tcp/keepalive-rst-answer.pcap",
];

/// What one command printed: its exit status, and its summary (`None` when the input was
/// refused and no report was printed).
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    summary: Option<Value>,
    /// The whole report (`report` for capture's last line).
    report: Value,
    /// capture only: the event lines before the report.
    events: Vec<Value>,
}

fn report(file: &Path) -> Run {
    let out = synack()
        .args(["report", "--format", "json"])
        .arg(file)
        .output();
    let stderr = out.stderr_lossy();
    assert!(!stderr.contains("panicked"), "{}: {stderr}", file.display());
    let json: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{}: report JSON does not parse: {e}", file.display()));
    // A refused input reads no packet: there is nothing to compare.
    let read = json["packets"]["total"].as_u64().unwrap_or(0) > 0;
    Run {
        code: out.status.code(),
        summary: read.then(|| json["summary"].clone()),
        report: json,
        events: Vec::new(),
    }
}

fn capture(file: &Path, extra: &[&str]) -> Run {
    let out = synack()
        .args(["capture", "--json"])
        .args(extra)
        .arg("-r")
        .arg(file)
        .output();
    let stderr = out.stderr_lossy();
    assert!(!stderr.contains("panicked"), "{}: {stderr}", file.display());
    let mut lines: Vec<Value> = out
        .stdout()
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{}: NDJSON line does not parse: {e}", file.display()))
        })
        .collect();
    let report = match lines.last() {
        Some(last) if last["event"] == "report" => lines.pop().expect("last")["report"].clone(),
        _ => Value::Null,
    };
    let read = report["packets"]["total"].as_u64().unwrap_or(0) > 0;
    Run {
        code: out.status.code(),
        summary: read.then(|| report["summary"].clone()),
        report,
        events: lines,
    }
}

/// Every capture under `dir`, sorted, skipping `skip` folders.
fn captures(dir: &Path, skip: &[&str]) -> Vec<PathBuf> {
    fn walk(dir: &Path, skip: &[&str], out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read dir") {
            let path = entry.expect("dir entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if path.is_dir() {
                if !skip.contains(&name) {
                    walk(&path, skip, out);
                }
            } else if [".pcap", ".pcapng", ".cap"]
                .iter()
                .any(|e| name.ends_with(e))
            {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, skip, &mut out);
    out.sort();
    out
}

/// Runs both commands on each file; returns the mismatches, and the files of `LIVE_ONLY`
/// met (whose summaries must differ: the rule is live-only, and documented as such).
fn compare(files: &[PathBuf]) -> (Vec<String>, Vec<String>) {
    let (mut failures, mut live_only) = (Vec::new(), Vec::new());
    for file in files {
        let name = file.file_name().and_then(|n| n.to_str()).expect("name");
        let (r, c) = (report(file), capture(file, &[]));
        if r.code != c.code {
            failures.push(format!(
                "{name}: report exits {:?}, capture -r {:?}",
                r.code, c.code
            ));
            continue;
        }
        if let Some((_, why)) = LIVE_ONLY.iter().find(|(f, _)| *f == name) {
            if r.summary == c.summary {
                failures.push(format!(
                    "{name}: listed as live-only ({why}) but the summaries agree"
                ));
            }
            live_only.push(name.to_string());
            continue;
        }
        if r.summary != c.summary {
            failures.push(format!(
                "{name}: summaries differ\n  report:     {}\n  capture -r: {}",
                r.summary.unwrap_or(Value::Null),
                c.summary.unwrap_or(Value::Null)
            ));
        }
    }
    (failures, live_only)
}

#[test]
fn capture_replay_and_report_agree_on_every_fixture() {
    let files = captures(&root().join("fixtures"), &["bad", "fuzz"]);
    for k in KEEPALIVE {
        assert!(
            files.contains(&root().join(k)),
            "{k} is not among {files:?}"
        );
    }
    assert!(files.len() >= 60, "{} fixtures", files.len());
    let (failures, live_only) = compare(&files);
    assert!(
        failures.is_empty(),
        "{} mismatch(es):\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(live_only.is_empty(), "{live_only:?}");
}

#[test]
fn capture_replay_and_report_agree_on_every_corpus_capture() {
    let dir = require_shared!("corpus");
    let files = captures(&dir, &[]);
    assert!(files.len() >= 100, "{} corpus captures", files.len());
    let (failures, live_only) = compare(&files);
    assert!(
        failures.is_empty(),
        "{} mismatch(es):\n{}",
        failures.len(),
        failures.join("\n")
    );
    let listed: Vec<&str> = LIVE_ONLY.iter().map(|(f, _)| *f).collect();
    assert_eq!(
        live_only, listed,
        "every live-only exception is in the corpus"
    );
}

fn count(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// The issue's case: 2 h idle, 10 unanswered probes from the server, then its RST. Both
/// commands see one connection with all ten probes, reset by the server.
#[test]
fn a_dead_peer_keepalive_is_one_connection_live_as_offline() {
    let file = root().join("fixtures/tcp/keepalive-server-dead.pcap");
    let (r, c) = (report(&file), capture(&file, &[]));
    for (what, run) in [("report", &r), ("capture -r", &c)] {
        let s = run.summary.as_ref().expect("a summary");
        assert_eq!(count(&s["connections"]), 1, "{what}");
        let k = &s["keepalive"];
        let got = [
            &k["probes"],
            &k["acks"],
            &k["unanswered"],
            &k["connections"],
        ]
        .map(count);
        assert_eq!(got, [10, 0, 10, 1], "{what}: keep-alive");
        assert_eq!(count(&s["closes"]["reset"]), 1, "{what}");
        assert_eq!(count(&s["closes"]["midstream"]), 0, "{what}");
        assert_eq!(count(&s["rst"]["from_server"]), 1, "{what}");
        let conns = run.report["connections"].as_array().expect("connections");
        assert_eq!(conns.len(), 1, "{what}");
        assert_eq!(conns[0]["reset_by"], "server", "{what}");
        assert_eq!(conns[0]["keepalive"]["from_server"], 10, "{what}");
    }
    // Live, the events say so as they happen: ten probes, then the reset.
    let of = |kind: &str| {
        c.events
            .iter()
            .filter(|e| e["event"] == kind)
            .collect::<Vec<_>>()
    };
    let probes = of("keepalive_probe");
    assert_eq!(probes.len(), 10);
    assert!(probes.iter().all(|p| p["by"] == "server" && p["conn"] == 1));
    assert_eq!(probes[9]["unanswered_before"], 9);
    let resets = of("reset");
    assert_eq!(resets.len(), 1);
    assert_eq!(
        (&resets[0]["by"], &resets[0]["conn"]),
        (&"server".into(), &1.into())
    );
    assert!(of("connection_started").len() == 1, "{:?}", c.events);
}

/// The test above and the comparison over every fixture would fail if the live rule were
/// reverted: with the established timeout cut to the 300 s idle timeout (what every
/// connection had before issue 23), each keep-alive fixture splits in two and loses its
/// probes.
#[test]
fn the_keepalive_fixtures_tell_the_live_rule_from_a_short_timeout() {
    for k in KEEPALIVE {
        let file = root().join(k);
        let r = report(&file);
        let kept = capture(&file, &[]);
        let short = capture(&file, &["--established-timeout", "300"]);
        assert_eq!(kept.summary, r.summary, "{k}");
        assert_ne!(
            short.summary, r.summary,
            "{k}: a 300 s timeout changes nothing"
        );
        let s = short.summary.expect("a summary");
        assert_eq!(count(&s["connections"]), 2, "{k}: split in two");
        assert_eq!(count(&s["keepalive"]["probes"]), 0, "{k}: probes lost");
    }
}
