//! Every numeric option of every subcommand refuses what is no number for it (NaN,
//! infinities, negatives, 1e300, an empty string, 0 where 0 means nothing) with clap's
//! one-line `error: invalid value …` and exit status 2, never a panic; and still takes
//! the values it took (issue 16, "Flag values checked in one place").
//!
//! The table below lists the options; `table_covers_every_numeric_option` reads each
//! subcommand's `--help` so that a new numeric option cannot be left out of it.

use std::collections::BTreeSet;

mod common;
use common::Out;

const SAMPLE: &str = "fixtures/sample.pcap";

/// What an option takes; each kind has its value name in `--help`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Seconds, fractions allowed: 1 ns to ≈292 years.
    Seconds,
    /// A whole number ≥ 0 (0 means something: none listed, no limit…).
    Count0,
    /// A whole number ≥ 1.
    Count1,
    /// `--threads`: 0 (pick) to 1024.
    Threads,
    /// A count limit of `check`, ≥ 0.
    Limit,
    /// A milliseconds limit of `check`, ≥ 0.
    LimitMs,
    /// `capture -s`: 0 (the maximum) to 262144.
    Snaplen,
    /// `capture -B`: KiB, 1 to 2097151.
    Kib,
    /// A connection id, ≥ 1.
    Id,
    /// `capture -C`: millions of bytes, or with k/m/g, ≥ 1.
    FileSize,
    /// `capture -G`: whole seconds, ≥ 1.
    WholeSeconds,
}

use Kind::*;

impl Kind {
    fn value_name(self) -> &'static str {
        match self {
            Seconds | WholeSeconds => "SECONDS",
            FileSize => "MB",
            Count0 | Count1 | Threads | Limit => "N",
            LimitMs => "MS",
            Snaplen => "SNAPLEN",
            Kib => "KIB",
            Id => "ID",
        }
    }

    /// Values refused: those of every kind, then the kind's own.
    fn bad(self) -> Vec<&'static str> {
        let mut v = vec!["nan", "NaN", "inf", "-inf", "-1", "1e300", ""];
        v.extend_from_slice(match self {
            Seconds => &["0", "-0", "0.0", "1e-12", "9223372037", "60s"][..],
            Count0 | Limit => &["1.5", "1e3", "18446744073709551616"],
            Count1 | Id => &["0", "1.5"],
            Threads => &["1025", "1.5"],
            LimitMs => &["-0.5", "2.5ms"],
            Snaplen => &["262145", "1.5"],
            Kib => &["0", "2097152"],
            FileSize => &["0", "1.5", "1t", "k"],
            WholeSeconds => &["0", "0.5", "1e3", "60s"],
        });
        v
    }

    /// Values taken, each of which must run to exit status 0 on the sample.
    fn good(self, flag: &str) -> Vec<&'static str> {
        match self {
            Seconds => vec!["30", "0.5", "1e3"],
            Count0 => vec!["0", "3"],
            Count1 | Id => vec!["1", "2"],
            Threads => vec!["0", "1", "2"],
            // A minimum of 0 and a high maximum both hold on any trace.
            Limit if flag.starts_with("--min-") => vec!["0"],
            Limit => vec!["1000000"],
            LimitMs => vec!["1000000", "100000.5"],
            Snaplen => vec!["0", "96", "262144"],
            Kib => vec!["1", "2097151"],
            FileSize => vec!["1", "10k"],
            WholeSeconds => vec!["1", "3600"],
        }
    }
}

/// Every numeric option: subcommand, flag (as `--help` names it: the long one where there
/// is one), kind.
const OPTIONS: &[(&str, &str, Kind)] = &[
    ("report", "--msl", Seconds),
    ("report", "--top", Count0),
    ("report", "--max-connections", Count1),
    ("report", "--threads", Threads),
    ("check", "--offenders", Count0),
    ("check", "--msl", Seconds),
    ("check", "--max-connections", Limit),
    ("check", "--min-connections", Limit),
    ("check", "--max-handshakes", Limit),
    ("check", "--min-handshakes", Limit),
    ("check", "--max-handshakes-completed", Limit),
    ("check", "--min-handshakes-completed", Limit),
    ("check", "--max-syn-retransmits", Limit),
    ("check", "--max-synack-retransmits", Limit),
    ("check", "--max-handshake-p50-ms", LimitMs),
    ("check", "--max-handshake-p90-ms", LimitMs),
    ("check", "--max-handshake-p99-ms", LimitMs),
    ("check", "--max-handshake-max-ms", LimitMs),
    ("check", "--max-connect-p50-ms", LimitMs),
    ("check", "--max-connect-p90-ms", LimitMs),
    ("check", "--max-connect-p99-ms", LimitMs),
    ("check", "--max-connect-max-ms", LimitMs),
    ("check", "--max-rtt-client-p50-ms", LimitMs),
    ("check", "--max-rtt-client-p90-ms", LimitMs),
    ("check", "--max-rtt-client-p99-ms", LimitMs),
    ("check", "--max-rtt-client-max-ms", LimitMs),
    ("check", "--max-rtt-server-p50-ms", LimitMs),
    ("check", "--max-rtt-server-p90-ms", LimitMs),
    ("check", "--max-rtt-server-p99-ms", LimitMs),
    ("check", "--max-rtt-server-max-ms", LimitMs),
    ("check", "--max-syn-synack-p50-ms", LimitMs),
    ("check", "--max-syn-synack-p90-ms", LimitMs),
    ("check", "--max-syn-synack-p99-ms", LimitMs),
    ("check", "--max-syn-synack-max-ms", LimitMs),
    ("check", "--max-synack-ack-p50-ms", LimitMs),
    ("check", "--max-synack-ack-p90-ms", LimitMs),
    ("check", "--max-synack-ack-p99-ms", LimitMs),
    ("check", "--max-synack-ack-max-ms", LimitMs),
    ("check", "--max-fin-closes", Limit),
    ("check", "--min-fin-closes", Limit),
    ("check", "--max-resets", Limit),
    ("check", "--max-refused", Limit),
    ("check", "--max-unanswered", Limit),
    ("check", "--max-handshake-incomplete", Limit),
    ("check", "--max-half-closed", Limit),
    ("check", "--max-open", Limit),
    ("check", "--max-midstream", Limit),
    ("check", "--max-abnormal", Limit),
    ("check", "--max-rst", Limit),
    ("check", "--max-client-rst", Limit),
    ("check", "--max-server-rst", Limit),
    ("check", "--max-fin-packets", Limit),
    ("check", "--max-client-time-wait", Limit),
    ("check", "--max-server-time-wait", Limit),
    ("check", "--max-simultaneous-closes", Limit),
    ("check", "--max-time-wait-reused", Limit),
    ("check", "--max-keepalive-probes", Limit),
    ("check", "--max-keepalive-unanswered", Limit),
    ("check", "--max-keepalive-connections", Limit),
    ("check", "--max-zero-window-probes", Limit),
    ("check", "--max-retransmissions", Limit),
    ("check", "--max-out-of-order", Limit),
    ("check", "--max-spurious-retransmissions", Limit),
    ("check", "--max-network-duplicates", Limit),
    ("check", "--max-lost-before-capture", Limit),
    ("check", "--max-lost-after-capture", Limit),
    ("check", "--max-tshark-retransmissions", Limit),
    ("check", "--max-tshark-out-of-order", Limit),
    ("capture", "-c", Count1),
    ("capture", "--duration", Seconds),
    ("capture", "--snaplen", Snaplen),
    ("capture", "--buffer-size", Kib),
    ("capture", "--interval", Seconds),
    ("capture", "--idle-timeout", Seconds),
    ("capture", "--established-timeout", Seconds),
    ("capture", "--max-connections", Count1),
    ("capture", "--msl", Seconds),
    ("capture", "-C", FileSize),
    ("capture", "-G", WholeSeconds),
    ("capture", "-W", Count1),
    ("ladder", "--conn", Id),
];

const SUBCOMMANDS: [&str; 4] = ["report", "check", "capture", "ladder"];

/// Value names of options that take no number.
const NOT_NUMERIC: [&str; 14] = [
    "FILE",
    "KIND",
    "BPF",
    "FORMAT",
    "INTERFACE",
    "IP:PORT",
    "IP[:PORT]",
    "COLOR",
    "NAMES",
    // report --local-nets: networks (ADDRESS/LENGTH, comma-separated), parsed by LocalNets.
    "NETS",
    // capture -z: a command; -Z: a user name; --records: a file or `-`.
    "CMD",
    "USER",
    "FILE|-",
    // capture --records-rotate: whole seconds or the word `capture` (its parser's own
    // unit test in src/commands/capture.rs).
    "SECONDS|capture",
];

fn synack(args: &[&str]) -> Out {
    common::synack().args(args).output()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8 output")
}

/// `synack CMD … FLAG VALUE …` on the sample, with what CMD needs besides.
fn run(cmd: &str, flag: &str, value: &str) -> Out {
    let mut args = vec![cmd];
    match cmd {
        // The rotation options need a file to rotate (-W a rotation to ring).
        "capture" if ["-C", "-G", "-W"].contains(&flag) => {
            let file =
                std::env::temp_dir().join(format!("synack-flags-{}.pcap", std::process::id()));
            let file = file.to_string_lossy().into_owned();
            let mut full = vec!["capture", "-r", SAMPLE, "-w", &file, flag, value];
            if flag == "-W" {
                full.extend(["-C", "1"]);
            }
            return synack(&full);
        }
        "capture" => args.extend(["-r", SAMPLE, flag, value]),
        // `check` needs a limit; a limit flag is one.
        "check" if !flag.starts_with("--max-") && !flag.starts_with("--min-") => {
            args.extend(["--max-rst", "1000000", flag, value, SAMPLE])
        }
        _ => args.extend([flag, value, SAMPLE]),
    }
    synack(&args)
}

/// `(flag, value name)` of each option in `synack CMD --help`: the lines that start with
/// a flag and name a value (`  -s, --snaplen <SNAPLEN>  Bytes…`).
fn help_options(cmd: &str) -> Vec<(String, String)> {
    let out = synack(&[cmd, "--help"]);
    assert_eq!(out.status.code(), Some(0), "synack {cmd} --help");
    let mut options = Vec::new();
    for line in text(&out.stdout).lines() {
        let line = line.trim_start();
        if !line.starts_with('-') {
            continue;
        }
        // The flags and value name end at the two spaces before the description.
        let spec = line.split("  ").next().unwrap_or("");
        let Some((flags, value)) = spec.split_once(" <") else {
            continue;
        };
        let value = value
            .strip_suffix('>')
            .unwrap_or_else(|| panic!("{cmd} --help: cannot read `{spec}`"));
        let flag = flags.rsplit(", ").next().unwrap_or(flags);
        options.push((flag.to_string(), value.to_string()));
    }
    options
}

#[test]
fn table_covers_every_numeric_option() {
    let numeric: BTreeSet<&str> = OPTIONS.iter().map(|o| o.2.value_name()).collect();
    for cmd in SUBCOMMANDS {
        let in_help = help_options(cmd);
        for (flag, value) in &in_help {
            assert!(
                numeric.contains(value.as_str()) || NOT_NUMERIC.contains(&value.as_str()),
                "synack {cmd} {flag} <{value}>: a value name this test does not know; \
                 if it is a number, give it a parser in src/commands/values.rs and a row in OPTIONS, \
                 otherwise add it to NOT_NUMERIC"
            );
        }
        let found: BTreeSet<(String, String)> = in_help
            .into_iter()
            .filter(|(_, value)| numeric.contains(value.as_str()))
            .collect();
        let listed: BTreeSet<(String, String)> = OPTIONS
            .iter()
            .filter(|o| o.0 == cmd)
            .map(|&(_, flag, kind)| (flag.to_string(), kind.value_name().to_string()))
            .collect();
        let missing: Vec<_> = found.difference(&listed).collect();
        let stale: Vec<_> = listed.difference(&found).collect();
        assert!(
            missing.is_empty() && stale.is_empty(),
            "synack {cmd}: numeric options in --help but not in OPTIONS: {missing:?}; \
             in OPTIONS but not in --help: {stale:?}"
        );
    }
}

#[test]
fn bad_values_are_one_line_usage_errors() {
    let mut runs = 0;
    for &(cmd, flag, kind) in OPTIONS {
        for value in kind.bad() {
            let out = run(cmd, flag, value);
            let stderr = text(&out.stderr);
            let what = format!("synack {cmd} {flag} {value:?}");
            assert!(!stderr.contains("panicked"), "{what}: {stderr}");
            assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
            assert_eq!(text(&out.stdout), "", "{what}");
            // One line that names the option, the value and what the option takes (our
            // parser's words, which end by quoting the value).
            let lines: Vec<&str> = stderr.lines().collect();
            let head = format!(
                "synack: invalid value '{value}' for '{flag} <{}>': expected ",
                kind.value_name()
            );
            assert_eq!(lines.len(), 1, "{what}: {stderr}");
            assert!(lines[0].starts_with(&head), "{what}: {stderr}");
            assert!(
                lines[0].ends_with(&format!(", found `{value}`")),
                "{what}: {stderr}"
            );
            runs += 1;
        }
    }
    assert!(runs > 400, "{runs} runs");
}

#[test]
fn good_values_still_run() {
    for &(cmd, flag, kind) in OPTIONS {
        for value in kind.good(flag) {
            let out = run(cmd, flag, value);
            let stderr = text(&out.stderr);
            let what = format!("synack {cmd} {flag} {value}");
            assert_eq!(out.status.code(), Some(0), "{what}: {stderr}");
            assert!(!text(&out.stdout).is_empty(), "{what}");
            // `capture` ends with its packet count on stderr; the rest say nothing there.
            let expected = if cmd == "capture" {
                // -c 1 stops after one packet; the sample has 79.
                if flag == "-c" {
                    format!("{value} packets captured\n")
                } else {
                    "79 packets captured\n".to_string()
                }
            } else {
                String::new()
            };
            assert_eq!(stderr, expected, "{what}");
        }
    }
}

#[test]
fn short_flags_and_equals_go_through_the_same_parsers() {
    for args in [
        &["capture", "-r", SAMPLE, "-s", "-1"][..],
        &["capture", "-r", SAMPLE, "-B", "0"],
        &["capture", "-r", SAMPLE, "-c0"],
        &["capture", "-r", SAMPLE, "--msl=1e300"],
        &["report", "--msl=", SAMPLE],
        &["check", "--max-rst=-1", SAMPLE],
        &["ladder", "--conn=0", SAMPLE],
    ] {
        let out = synack(args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("synack: invalid value '"),
            "{args:?}: {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}

#[test]
fn zero_keeps_its_meaning_where_it_has_one() {
    // --threads 0 picks by machine; the report is the same whatever the number.
    let report = |threads: &str| {
        let out = synack(&["report", "--format", "json", "--threads", threads, SAMPLE]);
        assert_eq!(out.status.code(), Some(0));
        text(&out.stdout)
    };
    assert_eq!(report("0"), report("1"));
    // A limit of 0 is a limit: the sample has RST packets, so --max-rst 0 fails the check.
    let out = synack(&["check", "--max-rst", "0", SAMPLE]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    // --offenders 0 lists none, --top 0 lists no connection: both run.
    for args in [
        &["check", "--max-rst", "0", "--offenders", "0", SAMPLE][..],
        &["report", "--top", "0", SAMPLE],
    ] {
        let out = synack(args);
        assert!(matches!(out.status.code(), Some(0 | 1)), "{args:?}");
        assert_eq!(text(&out.stderr), "", "{args:?}");
    }
}

#[test]
fn fractional_msl_still_moves_time_wait() {
    // 2·MSL of 1 ms is over before any SYN comes back: nothing is reused within it.
    let reused = |msl: &str| {
        let out = synack(&[
            "report",
            "--format",
            "json",
            "--msl",
            msl,
            "fixtures/tcp/port-reuse-time-wait.pcap",
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        j["summary"]["time_wait"]["reused"].as_u64().expect("count")
    };
    assert_eq!(reused("0.001"), 0);
    assert_eq!(reused("60"), 1);
    assert_eq!(reused("1e3"), 2);
}
