//! `synack check` run as a real process on the fixtures: every rule kind passing and
//! failing, the rules file (valid and malformed), JUnit XML parsed back, the JSON verdict,
//! several traces at once, and the exit codes (0 all held, 1 a rule failed, 2 bad input or
//! usage).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::Value;

mod common;
use common::synack;

/// One run of `synack check` from the crate root, so fixture paths stay relative.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn new(args: &[&str]) -> Run {
        let out = synack()
            .arg("check")
            .args(args)
            .stdin_from(Stdio::null())
            .output();
        let run = Run {
            code: out.status.code(),
            stdout: String::from_utf8(out.stdout).expect("UTF-8 stdout"),
            stderr: String::from_utf8(out.stderr).expect("UTF-8 stderr"),
        };
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
        run
    }

    /// Asserts that standard output holds each of `parts`.
    fn says(&self, parts: &[&str]) {
        for part in parts {
            assert!(
                self.stdout.contains(part),
                "no {part:?} in:\n{}",
                self.stdout
            );
        }
    }

    /// The same with `--format json`, parsed.
    fn json(args: &[&str]) -> (Option<i32>, Value) {
        let mut all = vec!["--format", "json"];
        all.extend_from_slice(args);
        let run = Run::new(&all);
        let v = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout, run.stderr));
        (run.code, v)
    }
}

/// A scratch directory of this test's own, emptied first.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("synack-check-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write scratch file");
    path.display().to_string()
}

/// The first `n` records of a little-endian pcap fixture, as a new capture: a connection
/// cut where the test needs it (half-closed, handshake incomplete).
fn head_of(dir: &Path, fixture: &str, n: usize) -> String {
    let bytes = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(fixture)).unwrap();
    let mut end = 24;
    for _ in 0..n {
        let len = u32::from_le_bytes(bytes[end + 8..end + 12].try_into().unwrap()) as usize;
        end += 16 + len;
    }
    let path = dir.join(format!("head-{n}.pcap"));
    std::fs::write(&path, &bytes[..end]).unwrap();
    path.display().to_string()
}

fn docs() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/check.md"))
        .expect("docs/check.md")
}

fn rule(file: &Value, i: usize) -> &Value {
    &file["rules"][i]
}

/// Each entry: a trace, a limit flag, the figure measured, a limit it breaks and one it
/// keeps. With the cut traces of `cut_traces_cover_half_closed_and_incomplete_handshakes`
/// they cover every limit flag (`every_limit_flag_is_documented_and_tested` sees to it).
#[rustfmt::skip]
const CASES: &[(&str, &str, &str, &str, &str)] = &[
    ("fixtures/sample.pcap", "--min-connections", "8", "9", "8"),
    ("fixtures/sample.pcap", "--max-connections", "8", "7", "8"),
    ("fixtures/sample.pcap", "--min-handshakes", "8", "9", "8"),
    ("fixtures/sample.pcap", "--max-handshakes", "8", "7", "8"),
    ("fixtures/sample.pcap", "--min-handshakes-completed", "6", "7", "6"),
    ("fixtures/sample.pcap", "--max-handshakes-completed", "6", "5", "6"),
    ("fixtures/tcp/syn-retransmit.pcap", "--max-syn-retransmits", "1", "0", "1"),
    ("fixtures/tcp/synack-retransmit.pcap", "--max-synack-retransmits", "1", "0", "1"),
    ("fixtures/sample.pcap", "--max-handshake-p50-ms", "3.16", "3.159", "3.16"),
    ("fixtures/sample.pcap", "--max-handshake-p90-ms", "40.09", "40", "40.09"),
    ("fixtures/sample.pcap", "--max-handshake-p99-ms", "40.09", "40.089999", "50"),
    ("fixtures/tcp/synack-retransmit.pcap", "--max-handshake-max-ms", "1025.1", "1000", "1025.1"),
    ("fixtures/sample.pcap", "--max-connect-p50-ms", "3.16", "3.159", "3.16"),
    ("fixtures/sample.pcap", "--max-connect-p90-ms", "1040.09", "1040", "1040.09"),
    ("fixtures/tcp/syn-retransmit.pcap", "--max-connect-p99-ms", "1040", "50", "1040"),
    ("fixtures/sample.pcap", "--max-connect-max-ms", "1040.09", "1000", "1040.09"),
    ("fixtures/sample.pcap", "--max-syn-synack-p50-ms", "3.1", "3", "3.1"),
    ("fixtures/sample.pcap", "--max-syn-synack-p90-ms", "40", "39.9", "40"),
    ("fixtures/sample.pcap", "--max-syn-synack-p99-ms", "40", "39.9", "40"),
    ("fixtures/sample.pcap", "--max-syn-synack-max-ms", "40", "39.9", "40"),
    ("fixtures/sample.pcap", "--max-synack-ack-p50-ms", "0.06", "0.05", "0.06"),
    ("fixtures/sample.pcap", "--max-synack-ack-p90-ms", "0.09", "0.08", "0.09"),
    ("fixtures/sample.pcap", "--max-synack-ack-p99-ms", "0.09", "0.08", "0.09"),
    ("fixtures/sample.pcap", "--max-synack-ack-max-ms", "0.09", "0.08", "0.09"),
    // Path RTT: percentiles of the connections' medians (within the sketch's 6.25 %).
    ("fixtures/sample.pcap", "--max-rtt-client-p50-ms", "0.059392", "0.059", "0.06"),
    ("fixtures/sample.pcap", "--max-rtt-client-p90-ms", "0.06", "0.059", "0.06"),
    ("fixtures/sample.pcap", "--max-rtt-client-p99-ms", "0.06", "0.059", "0.06"),
    ("fixtures/sample.pcap", "--max-rtt-client-max-ms", "0.06", "0.059", "0.06"),
    ("fixtures/sample.pcap", "--max-rtt-server-p50-ms", "3.1", "3", "3.1"),
    ("fixtures/sample.pcap", "--max-rtt-server-p90-ms", "40", "39.9", "40"),
    ("fixtures/sample.pcap", "--max-rtt-server-p99-ms", "40", "39.9", "40"),
    ("fixtures/truth/loss1-ts-sack.at-client.pcap", "--max-rtt-server-max-ms", "22.020096", "20", "30"),
    ("fixtures/sample.pcap", "--min-fin-closes", "4", "5", "4"),
    ("fixtures/sample.pcap", "--max-fin-closes", "4", "3", "4"),
    ("fixtures/tcp/rst-established-server.pcap", "--max-resets", "1", "0", "1"),
    ("fixtures/tcp/refused.pcap", "--max-refused", "1", "0", "1"),
    ("fixtures/tcp/unanswered.pcap", "--max-unanswered", "1", "0", "1"),
    ("fixtures/sample.pcap", "--max-open", "1", "0", "1"),
    ("fixtures/tcp/midstream.pcap", "--max-midstream", "1", "0", "1"),
    ("fixtures/sample.pcap", "--max-abnormal", "3", "2", "3"),
    ("fixtures/tcp/rst-established-server.pcap", "--max-rst", "1", "0", "1"),
    ("fixtures/tcp/keepalive-unanswered.pcap", "--max-client-rst", "1", "0", "1"),
    ("fixtures/tcp/rst-established-server.pcap", "--max-server-rst", "1", "0", "1"),
    ("fixtures/sample.pcap", "--max-fin-packets", "8", "7", "8"),
    ("fixtures/tcp/close-client.pcap", "--max-client-time-wait", "1", "0", "1"),
    ("fixtures/tcp/close-server.pcap", "--max-server-time-wait", "1", "0", "1"),
    ("fixtures/tcp/simultaneous-close.pcap", "--max-simultaneous-closes", "1", "0", "1"),
    ("fixtures/tcp/port-reuse-time-wait.pcap", "--max-time-wait-reused", "1", "0", "1"),
    ("fixtures/tcp/keepalive-linux.pcap", "--max-keepalive-probes", "3", "2", "3"),
    ("fixtures/tcp/keepalive-unanswered.pcap", "--max-keepalive-unanswered", "9", "8", "9"),
    ("fixtures/tcp/keepalive-linux.pcap", "--max-keepalive-connections", "1", "0", "1"),
    ("fixtures/tcp/zero-window.pcap", "--max-zero-window-probes", "3", "2", "3"),
    ("fixtures/tcp/retransmission.pcap", "--max-retransmissions", "4", "3", "4"),
    ("fixtures/evidence/reorder-tsval.pcap", "--max-out-of-order", "1", "0", "1"),
    ("fixtures/evidence/spurious.pcap", "--max-spurious-retransmissions", "2", "1", "2"),
    ("fixtures/evidence/network-duplicate.pcap", "--max-network-duplicates", "1", "0", "1"),
    ("fixtures/evidence/loss-before-after.pcap", "--max-lost-before-capture", "1", "0", "1"),
    ("fixtures/evidence/loss-before-after.pcap", "--max-lost-after-capture", "1", "0", "1"),
    ("fixtures/evidence/spurious.pcap", "--max-tshark-retransmissions", "2", "1", "2"),
    ("fixtures/evidence/fast-retransmit.pcap", "--max-tshark-out-of-order", "1", "0", "1"),
];

#[test]
fn each_rule_kind_fails_past_its_limit_and_passes_at_it() {
    for (trace, flag, measured, breaking, keeping) in CASES {
        let (code, v) = Run::json(&[trace, flag, breaking]);
        let r = rule(&v["files"][0], 0);
        let what = format!("{trace} {flag} {breaking}: {r}");
        assert_eq!(code, Some(1), "{what}");
        assert_eq!(r["status"], "fail", "{what}");
        let got = r["measured"].as_f64().expect("a number");
        assert!(
            (got - measured.parse::<f64>().unwrap()).abs() < 1e-9,
            "{what}"
        );
        assert_eq!(r["key"], flag.trim_start_matches("--"), "{what}");
        if flag.starts_with("--max") {
            assert!(!r["offenders"].as_array().unwrap().is_empty(), "{what}");
        }
        let (code, v) = Run::json(&[trace, flag, keeping]);
        let r = rule(&v["files"][0], 0);
        assert_eq!(code, Some(0), "{trace} {flag} {keeping}: {r}");
        assert_eq!(r["status"], "pass", "{trace} {flag} {keeping}: {r}");
        assert_eq!(r["offenders"], Value::Array(vec![]));
    }
}

#[test]
fn cut_traces_cover_half_closed_and_incomplete_handshakes() {
    let dir = scratch("cut");
    // close-client.pcap: SYN, SYN/ACK, ACK, data, ACK, data, ACK, client FIN, ...
    let syn_synack = head_of(&dir, "fixtures/tcp/close-client.pcap", 2);
    let (code, v) = Run::json(&[&syn_synack, "--max-handshake-incomplete", "0"]);
    assert_eq!(
        (code, &rule(&v["files"][0], 0)["measured"]),
        (Some(1), &Value::from(1))
    );
    let half = head_of(&dir, "fixtures/tcp/close-client.pcap", 9);
    let (code, v) = Run::json(&[&half, "--max-half-closed", "0", "--max-open", "0"]);
    let file = &v["files"][0];
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(rule(file, 0)["status"], "fail", "max-half-closed: {v}");
    assert_eq!(rule(file, 1)["status"], "pass", "max-open: {v}");
    let what = rule(file, 0)["offenders"][0]["what"].as_str().unwrap();
    assert_eq!(what, "half-closed: FIN from the client only");
}

#[test]
fn every_limit_flag_is_documented_and_tested() {
    let help = Run::new(&["--help"]);
    assert_eq!(help.code, Some(0));
    let docs = docs();
    let flags: Vec<&str> = help
        .stdout
        .split_whitespace()
        .filter(|w| w.starts_with("--max-") || w.starts_with("--min-"))
        .collect();
    assert!(flags.len() >= 40, "{}", help.stdout);
    for flag in &flags {
        assert!(
            docs.contains(&format!("`{flag}")),
            "docs/check.md lacks {flag}"
        );
        let tested = CASES.iter().any(|c| c.1 == *flag)
            || ["--max-handshake-incomplete", "--max-half-closed"].contains(flag);
        assert!(tested, "no pass/fail case for {flag}");
    }
}

#[test]
fn failed_rules_print_limit_measure_and_the_connections_that_broke_them() {
    let run = Run::new(&[
        "fixtures/sample.pcap",
        "--max-rst",
        "0",
        "--max-refused",
        "5",
    ]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_eq!(run.stderr, "");
    run.says(&[
        "  PASS  max-refused = 5: connections refused = 1\n",
        "  FAIL  max-rst = 0: RST packets = 2\n",
        "#4 10.0.0.2:51003 -> 10.0.0.1:8081 at 2026-01-01 00:00:08.000000 UTC: 1 RST from the server; refused: the server answered the SYN with a RST\n",
        "#7 10.0.0.2:51006 -> 10.0.0.1:9000 at 2026-01-01 00:00:30.000000 UTC: 1 RST from the server; reset by the server in ESTABLISHED\n",
    ]);
    let head = "fixtures/sample.pcap: FAIL — 8 connection(s); rules: 1 failed, 1 passed\n";
    assert!(run.stdout.starts_with(head), "{}", run.stdout);
    assert!(run
        .stdout
        .ends_with("result: FAIL — 1 trace(s): 1 failed\n"));

    let slow = Run::new(&[
        "fixtures/sample.pcap",
        "--max-handshake-max-ms",
        "10",
        "--offenders",
        "2",
    ]);
    slow.says(&[
        "FAIL  max-handshake-max-ms = 10 ms: handshake RTT max = 40.09 ms\n",
        "handshake RTT 22.06 ms; closed with FIN, first by the client",
        "… and 1 more connection(s)",
    ]);
    let out = &slow.stdout;
    // Slowest first, two listed, the rest counted.
    let first = out
        .find("#6 10.0.0.2:51005 -> 10.0.0.1:443")
        .expect("conn 6");
    let second = out
        .find("#8 [2001:db8::2]:51008 -> [2001:db8::1]:443")
        .expect("conn 8");
    assert!(first < second, "{out}");
}

#[test]
fn several_traces_get_a_verdict_each() {
    let (code, v) = Run::json(&[
        "fixtures/tcp/close-client.pcap",
        "fixtures/tcp/refused.pcap",
        "fixtures/tcp/rst-established-server.pcap",
        "--max-refused",
        "0",
        "--max-rst",
        "0",
    ]);
    assert_eq!(code, Some(1));
    assert_eq!(v["status"], "fail");
    assert_eq!(v["exit_code"], 1);
    let statuses: Vec<&str> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["pass", "fail", "fail"]);
    let refused = &v["files"][1];
    assert_eq!(refused["file"], "fixtures/tcp/refused.pcap");
    assert_eq!(
        (&rule(refused, 0)["status"], &rule(refused, 1)["status"]),
        (&"fail".into(), &"fail".into())
    );
    let reset = &v["files"][2];
    assert_eq!(
        (&rule(reset, 0)["status"], &rule(reset, 1)["status"]),
        (&"pass".into(), &"fail".into())
    );
    // Each trace is its own timeline: one connection each, not three.
    assert!(v["files"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["connections"] == 1));
}

#[test]
fn json_verdict_shape() {
    let (code, v) = Run::json(&["fixtures/sample.pcap", "--max-handshake-p99-ms", "30"]);
    assert_eq!(code, Some(1));
    assert_eq!(v["synack_version"], env!("CARGO_PKG_VERSION"));
    // Sorted: serde_json's map orders keys (the document itself is in struct order).
    let keys = |v: &Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    let sorted = |k: &[&str]| -> Vec<String> {
        let mut k: Vec<String> = k.iter().map(|s| s.to_string()).collect();
        k.sort();
        k
    };
    assert_eq!(
        keys(&v),
        sorted(&["synack_version", "status", "exit_code", "files"])
    );
    let file = &v["files"][0];
    assert_eq!(
        keys(file),
        sorted(&[
            "file",
            "status",
            "error",
            "connections",
            "rules",
            "warnings"
        ])
    );
    let r = rule(file, 0);
    assert_eq!(
        keys(r),
        sorted(&[
            "title",
            "key",
            "limit",
            "severity",
            "origin",
            "figure",
            "status",
            "measured",
            "connections",
            "offenders"
        ])
    );
    assert_eq!(r["figure"], "summary.handshake_rtt_ms.p99");
    assert_eq!(r["limit"].to_string(), "30.000000");
    assert_eq!(r["measured"].to_string(), "40.090000");
    assert_eq!(r["origin"], "--max-handshake-p99-ms");
    let o = &r["offenders"][0];
    assert_eq!(
        keys(o),
        sorted(&["id", "client", "server", "first_seen", "value", "what"])
    );
    assert_eq!(
        (o["id"].as_u64(), o["value"].to_string()),
        (Some(6), "40.090000".to_string())
    );
    assert_eq!(o["first_seen"].to_string(), "1767225620.000000000");
}

const RULES: &str = r#"# every connection
max-unanswered = 1

[[rule]]
name = "HTTPS handshakes"
server-port = 443
severity = "warn"
max-handshake-p99-ms = 30

[[rule]]
server-addr = "10.0.0.0/24"
server-port = [8081, 9000]
max-refused = 0
max-resets = 1
"#;

#[test]
fn rules_file_with_filters_and_warn_severity() {
    let dir = scratch("rules");
    let rules = write(&dir, "rules.toml", RULES);
    let (code, v) = Run::json(&["fixtures/sample.pcap", "--rules", &rules]);
    assert_eq!(code, Some(1), "{v}");
    let file = &v["files"][0];
    let titles: Vec<&str> = file["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        [
            "max-unanswered = 1",
            "HTTPS handshakes: max-handshake-p99-ms = 30 ms [server-port = 443]",
            "max-refused = 0 [server-port = [8081, 9000], server-addr = \"10.0.0.0/24\"]",
            "max-resets = 1 [server-port = [8081, 9000], server-addr = \"10.0.0.0/24\"]",
        ]
    );
    let status = |i: usize| rule(file, i)["status"].as_str().unwrap().to_string();
    assert_eq!(
        [status(0), status(1), status(2), status(3)],
        ["pass", "warn", "fail", "pass"]
    );
    // Port 443: connections 5 (unanswered), 6 (40.09 ms) and 8 (22.06 ms) are selected.
    let https = rule(file, 1);
    assert_eq!(
        (https["connections"].as_u64(), https["measured"].to_string()),
        (Some(3), "40.090000".into())
    );
    assert_eq!(https["severity"], "warn");
    assert_eq!(https["filter"]["server-port"], serde_json::json!([443]));
    assert_eq!(https["origin"], format!("{rules}:8"));
    assert_eq!(rule(file, 2)["offenders"][0]["id"], 4);

    // The refusal as a warning too: the check passes, with a warning.
    let lenient = write(
        &dir,
        "lenient.toml",
        &RULES.replace("max-refused = 0\n", "").replace(
            "max-resets = 1\n",
            "max-resets = 1\nseverity = \"warn\"\nmax-refused = 0\n",
        ),
    );
    let run = Run::new(&["fixtures/sample.pcap", "--rules", &lenient]);
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    run.says(&[
        "fixtures/sample.pcap: WARN",
        "  WARN  max-refused = 0 [server-port",
    ]);

    // Flags and file together: the flags' rules come first.
    let (code, v) = Run::json(&[
        "fixtures/sample.pcap",
        "--rules",
        &lenient,
        "--max-rst",
        "5",
    ]);
    assert_eq!(code, Some(0));
    assert_eq!(rule(&v["files"][0], 0)["origin"], "--max-rst");
    assert_eq!(v["files"][0]["rules"].as_array().unwrap().len(), 5);
}

#[test]
fn malformed_rules_files_name_the_line_and_key() {
    let dir = scratch("malformed");
    let cases = [
        (
            "syntax.toml",
            "max-rst = 0\nmax-refused = = 1\n",
            ":2:",
            "key `max-refused`: not valid TOML",
        ),
        (
            "unknown.toml",
            "max-rst = 0\n\n[[rule]]\nserver-port = 443\nmax_resets = 0\n",
            ":5:1: key `max_resets`: unknown key; did you mean `max-resets`?",
            "",
        ),
        (
            "type.toml",
            "max-rst = \"zero\"\n",
            ":1:11: key `max-rst`: expected a whole number ≥ 0, found string",
            "",
        ),
        (
            "ms-type.toml",
            "[[rule]]\nmax-handshake-p99-ms = true\n",
            ":2:24: key `max-handshake-p99-ms`: expected a number of milliseconds",
            "",
        ),
        (
            "port.toml",
            "[[rule]]\nserver-port = \"https\"\nmax-rst = 0\n",
            ":2:15: key `server-port`: expected a port number, found string",
            "",
        ),
        (
            "addr.toml",
            "[[rule]]\nclient-addr = \"10.0.0.300\"\nmax-rst = 0\n",
            ":2:15: key `client-addr`: expected an IP address or prefix",
            "",
        ),
        (
            "severity.toml",
            "[[rule]]\nseverity = \"error\"\nmax-rst = 0\n",
            ":2:12: key `severity`: expected \"fail\" or \"warn\"",
            "",
        ),
        (
            "empty-rule.toml",
            "max-rst = 0\n[[rule]]\nname = \"x\"\n",
            ":2:1: key `rule`: this rule has no limit",
            "",
        ),
        (
            "duplicate.toml",
            "max-rst = 0\nmax-rst = 1\n",
            ":2:",
            "duplicate key",
        ),
        ("no-limits.toml", "# nothing yet\n", ": no limits", ""),
    ];
    for (name, text, place, extra) in cases {
        let path = write(&dir, name, text);
        let run = Run::new(&["fixtures/sample.pcap", "--rules", &path]);
        assert_eq!(run.code, Some(2), "{name}: {}", run.stderr);
        assert_eq!(run.stdout, "", "{name}: nothing is checked");
        let expected = format!("synack: {path}{place}");
        assert!(
            run.stderr.starts_with(&expected),
            "{name}: {}\nwanted {expected}",
            run.stderr
        );
        assert!(run.stderr.contains(extra), "{name}: {}", run.stderr);
    }
    let missing = Run::new(&["fixtures/sample.pcap", "--rules", "no/such/rules.toml"]);
    assert_eq!(missing.code, Some(2));
    assert!(
        missing
            .stderr
            .contains("cannot read rules file no/such/rules.toml"),
        "{}",
        missing.stderr
    );
}

#[test]
fn junit_report_parses_back_with_a_test_case_per_rule_per_trace() {
    let dir = scratch("junit");
    // A rule name full of markup, to see it escaped and read back intact.
    let rules = write(
        &dir,
        "rules.toml",
        "[[rule]]\nname = \"<a href='x'>&\\\"b\\\"\\ttab\\u0001\"\nmax-rst = 0\n",
    );
    let xml_path = dir.join("report.xml");
    let xml_arg = xml_path.display().to_string();
    let traces = [
        "fixtures/sample.pcap",
        "fixtures/tcp/close-client.pcap",
        "fixtures/bad/not-a-capture.txt",
    ];
    let mut args = traces.to_vec();
    args.extend([
        "--rules",
        &rules,
        "--max-refused",
        "0",
        "--max-handshake-p99-ms",
        "50",
        "--junit",
        &xml_arg,
    ]);
    let run = Run::new(&args);
    assert_eq!(run.code, Some(2), "an unreadable trace: {}", run.stderr);
    let xml = std::fs::read_to_string(&xml_path).expect("JUnit report written");
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let attr =
        |n: roxmltree::Node, a: &str| n.attribute(a).unwrap_or_else(|| panic!("{a}")).to_string();
    assert_eq!(attr(root, "tests"), "9", "3 rules × 3 traces");
    let suites: Vec<_> = root
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    let names: Vec<String> = suites.iter().map(|s| attr(*s, "name")).collect();
    assert_eq!(names, traces);
    let cases: Vec<_> = root
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 9);
    let count = |tag: &str| {
        cases
            .iter()
            .filter(|c| c.children().any(|ch| ch.has_tag_name(tag)))
            .count()
    };
    // sample.pcap breaks max-refused and max-rst; p99 40.09 ≤ 50 holds.
    assert_eq!(count("failure"), 2);
    assert_eq!(count("error"), 3, "every rule on the unreadable trace");
    assert_eq!(
        (attr(root, "failures"), attr(root, "errors")),
        ("2".to_string(), "3".to_string())
    );
    for s in &suites {
        let n = s.children().filter(|n| n.has_tag_name("testcase")).count();
        assert_eq!(attr(*s, "tests"), n.to_string());
    }
    for c in &cases {
        assert!(c.attribute("classname").is_some() && c.attribute("time").is_some());
    }
    let case_names: Vec<String> = cases.iter().take(3).map(|c| attr(*c, "name")).collect();
    assert_eq!(
        case_names[2],
        "<a href='x'>&\"b\"\ttab\u{1}: max-rst = 0".replace('\u{1}', "\u{fffd}")
    );
    let failure = cases[2]
        .children()
        .find(|n| n.has_tag_name("failure"))
        .expect("failure");
    assert_eq!(attr(failure, "message"), "limit broken: RST packets = 2");
    let text = failure.text().unwrap_or_default();
    assert!(
        text.contains("#4 10.0.0.2:51003 -> 10.0.0.1:8081 at 2026-01-01 00:00:08.000000 UTC"),
        "{text}"
    );
    let error = cases[6]
        .children()
        .find(|n| n.has_tag_name("error"))
        .expect("error");
    assert!(
        attr(error, "message").starts_with("not a pcap or pcapng capture"),
        "{xml}"
    );
}

#[test]
fn exit_codes() {
    let ok = Run::new(&[
        "fixtures/tcp/close-client.pcap",
        "--max-rst",
        "0",
        "--min-connections",
        "1",
    ]);
    assert_eq!((ok.code, ok.stderr.as_str()), (Some(0), ""));
    assert!(
        ok.stdout.ends_with("result: PASS — 1 trace(s): 1 passed\n"),
        "{}",
        ok.stdout
    );
    assert_eq!(
        Run::new(&["fixtures/tcp/refused.pcap", "--max-refused", "0"]).code,
        Some(1)
    );
    // Zero connections: an empty capture fails a minimum.
    let empty = Run::new(&["fixtures/bad/header-only.pcap", "--min-connections", "1"]);
    assert_eq!(empty.code, Some(1));
    empty.says(&["FAIL  min-connections = 1: connections = 0"]);

    let usage: [&[&str]; 7] = [
        &["fixtures/sample.pcap"],
        &["fixtures/sample.pcap", "--max-rst", "0", "--msl", "1e30"],
        &["fixtures/sample.pcap", "--max-rst", "x"],
        &["fixtures/sample.pcap", "--max-handshake-p99-ms", "-1"],
        &["fixtures/sample.pcap", "--max-bogus", "1"],
        &["--max-rst", "0"],
        &[
            "fixtures/sample.pcap",
            "--max-rst",
            "0",
            "--filter",
            "tcp port",
        ],
    ];
    for args in usage {
        let run = Run::new(args);
        assert_eq!(run.code, Some(2), "{args:?}: {}", run.stderr);
        assert_eq!(run.stdout, "", "{args:?}");
    }
    assert!(Run::new(&["fixtures/sample.pcap"])
        .stderr
        .contains("nothing to check"));

    // A trace that cannot be read, or is cut short, is bad input even if the rules hold
    // on what was read; the others are still checked.
    for bad in [
        "fixtures/bad/not-a-capture.txt",
        "fixtures/bad/truncated-record.pcap",
        "no/such.pcap",
    ] {
        let run = Run::new(&["fixtures/tcp/refused.pcap", bad, "--max-rst", "5"]);
        assert_eq!(run.code, Some(2), "{bad}");
        assert!(
            run.stderr.starts_with(&format!("synack: {bad}: ")),
            "{}",
            run.stderr
        );
        run.says(&[&format!("{bad}: ERROR"), "fixtures/tcp/refused.pcap: PASS"]);
    }
    let (code, v) = Run::json(&[
        "fixtures/bad/truncated-record.pcap",
        "--max-rst",
        "0",
        "--max-open",
        "0",
    ]);
    assert_eq!(code, Some(2));
    let file = &v["files"][0];
    assert!(
        file["error"].as_str().unwrap().starts_with("truncated"),
        "{file}"
    );
    assert_eq!(
        (&rule(file, 0)["status"], &rule(file, 1)["status"]),
        (&"fail".into(), &"error".into())
    );
}

#[test]
fn standard_input_and_packet_filter() {
    let trace =
        std::fs::File::open(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample.pcap"))
            .unwrap();
    let out = synack()
        .args(["check", "-", "--min-connections", "8", "--format", "json"])
        .stdin_from(trace)
        .output();
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["files"][0]["file"], "-");
    let (code, v) = Run::json(&[
        "fixtures/sample.pcap",
        "--filter",
        "tcp port 443",
        "--max-connections",
        "2",
    ]);
    assert_eq!(
        (code, v["files"][0]["connections"].as_u64()),
        (Some(1), Some(3))
    );
}

#[test]
fn the_rules_file_example_in_the_docs_is_valid() {
    let docs = docs();
    let example = docs
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a TOML example");
    let dir = scratch("docs");
    let rules = write(&dir, "network-rules.toml", example);
    let (code, v) = Run::json(&["fixtures/sample.pcap", "--rules", &rules]);
    assert_eq!(code, Some(1), "sample.pcap has an unanswered SYN: {v}");
    assert_eq!(v["files"][0]["rules"].as_array().unwrap().len(), 7);
}

/// A rule whose filter selects no connection says so, and `min-selected` makes it fail
/// (issue 17: such a rule passed silently).
#[test]
fn a_rule_that_selects_nothing_says_so_and_min_selected_fails_it() {
    let dir = scratch("selects_nothing");
    let quiet = write(
        &dir,
        "quiet.toml",
        "[[rule]]\nname = \"db\"\nserver-port = 5432\nmax-resets = 0\n",
    );
    let run = Run::new(&["fixtures/sample.pcap", "--rules", &quiet]);
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    run.says(&["PASS  db: max-resets = 0 [server-port = 5432]: connections reset = 0: the rule's filter selected no connection"]);

    let strict = write(
        &dir,
        "strict.toml",
        "[[rule]]\nname = \"db\"\nserver-port = 5432\nmin-selected = 1\nmax-resets = 0\n",
    );
    let run = Run::new(&["fixtures/sample.pcap", "--rules", &strict]);
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    run.says(&["FAIL  db: max-resets = 0 [server-port = 5432]: connections reset = 0: the rule's filter selected no connection (fewer than min-selected = 1)"]);
    let (code, v) = Run::json(&["fixtures/sample.pcap", "--rules", &strict]);
    assert_eq!(code, Some(1));
    let r = rule(&v["files"][0], 0);
    assert_eq!(
        (r["min_selected"].as_u64(), r["connections"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(r["status"], "fail");

    // Met: port 80 has a connection in the sample.
    let met = write(
        &dir,
        "met.toml",
        "[[rule]]\nserver-port = 80\nmin-selected = 1\nmax-resets = 0\n",
    );
    assert_eq!(
        Run::new(&["fixtures/sample.pcap", "--rules", &met]).code,
        Some(0)
    );

    // Only in a [[rule]], where it has a filter to count.
    let top = write(&dir, "top.toml", "min-selected = 1\nmax-resets = 0\n");
    let run = Run::new(&["fixtures/sample.pcap", "--rules", &top]);
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr.contains("belongs in a [[rule]] table"),
        "{}",
        run.stderr
    );
}

#[test]
fn json_lists_every_offender_unless_offenders_is_given() {
    let offenders = |extra: &[&str]| -> usize {
        let mut args = vec!["fixtures/sample.pcap", "--max-fin-packets", "0"];
        args.extend_from_slice(extra);
        let (code, v) = Run::json(&args);
        assert_eq!(code, Some(1), "{extra:?}");
        rule(&v["files"][0], 0)["offenders"]
            .as_array()
            .unwrap()
            .len()
    };
    let all = offenders(&[]);
    assert!(all > 2, "every connection that sent a FIN: {all}");
    assert_eq!(offenders(&["--offenders", "2"]), 2);
    assert_eq!(offenders(&["--offenders", "0"]), 0);
    assert_eq!(offenders(&["--offenders", "1000"]), all);
}
