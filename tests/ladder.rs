//! `synack ladder`, run as a real process on the fixtures: the text diagrams are pinned
//! by snapshots in tests/snapshots/ladder/ (plain, no color), then colors, selectors,
//! folding, the SVG file and escaping are checked against them.
//!
//! `SYNACK_UPDATE_SNAPSHOTS=1 cargo test --release --test ladder` rewrites the snapshots;
//! read each one against `tcpdump -nr FILE` before committing it.

mod common;
use common::root;

use std::path::PathBuf;

/// synack without NO_COLOR from the environment: colors only where a test asks.
fn synack() -> common::Synack {
    common::synack().env_remove("NO_COLOR")
}

/// `synack ladder ARGS`, which must succeed silently.
fn ladder(args: &[&str]) -> String {
    let mut all = vec!["ladder", "--wide"];
    all.extend_from_slice(args);
    let out = synack().args(&all).output();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}: {}",
        out.stderr_lossy()
    );
    assert_eq!(out.stderr_lossy(), "", "{args:?}");
    out.stdout()
}

fn snapshot_path(name: &str) -> PathBuf {
    root()
        .join("tests/snapshots/ladder")
        .join(format!("{name}.txt"))
}

/// Compares with the committed snapshot, or rewrites it under SYNACK_UPDATE_SNAPSHOTS=1.
fn check_snapshot(name: &str, got: &str) {
    let path = snapshot_path(name);
    if std::env::var_os("SYNACK_UPDATE_SNAPSHOTS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (SYNACK_UPDATE_SNAPSHOTS=1 writes it)",
            path.display()
        )
    });
    if got != want {
        let diff: Vec<String> = want
            .lines()
            .zip(got.lines())
            .enumerate()
            .filter(|(_, (w, g))| w != g)
            .map(|(i, (w, g))| format!("line {}:\n  want {w}\n  got  {g}", i + 1))
            .collect();
        panic!(
            "{name}: ladder differs from {} ({} vs {} lines)\n{}\n--- got:\n{got}",
            path.display(),
            want.lines().count(),
            got.lines().count(),
            diff.join("\n")
        );
    }
}

/// The fixtures whose diagrams are pinned, and the arguments that draw them.
const SNAPSHOTS: &[(&str, &[&str])] = &[
    ("close-client", &["fixtures/tcp/close-client.pcap"]),
    ("close-server", &["fixtures/tcp/close-server.pcap"]),
    (
        "simultaneous-close",
        &["fixtures/tcp/simultaneous-close.pcap"],
    ),
    ("refused", &["fixtures/tcp/refused.pcap"]),
    (
        "rst-established-client",
        &["fixtures/tcp/rst-established-client.pcap"],
    ),
    (
        "rst-established-server",
        &["fixtures/tcp/rst-established-server.pcap"],
    ),
    ("keepalive-linux", &["fixtures/tcp/keepalive-linux.pcap"]),
    ("retransmission", &["fixtures/tcp/retransmission.pcap"]),
    ("zero-window", &["fixtures/tcp/zero-window.pcap"]),
    ("http-keepalive", &["fixtures/app/http-keepalive.pcap"]),
    ("tls-hostile-sni", &["fixtures/app/tls-hostile-sni.pcap"]),
];

#[test]
fn ladders_match_their_snapshots() {
    for (name, args) in SNAPSHOTS {
        check_snapshot(name, &ladder(args));
    }
}

/// Segment rows: a time, then an arrow.
fn segment_rows(t: &str) -> Vec<&str> {
    t.lines()
        .filter(|l| l.contains("▶") || l.contains("◀"))
        .collect()
}

#[test]
fn the_diagrams_say_what_the_packets_say() {
    // Independent of the snapshots: the classic sequence of states on each side.
    let t = ladder(&["fixtures/tcp/close-client.pcap"]);
    let rows = segment_rows(&t);
    assert_eq!(rows.len(), 11, "{t}");
    let expect = [
        (0, "[SYN] seq=0 win=64240", "SYN_SENT", ""),
        (
            1,
            "[SYN, ACK] seq=0 ack=1 win=65160",
            "ESTABLISHED",
            "SYN_RECEIVED",
        ),
        (2, "[ACK] seq=1 ack=1 win=502", "", "ESTABLISHED"),
        (3, "[PSH, ACK] seq=1 ack=1 win=502 len=200", "", ""),
        (7, "[FIN, ACK] seq=201 ack=1001", "FIN_WAIT_1", "CLOSE_WAIT"),
        (8, "[ACK] seq=1001 ack=202", "FIN_WAIT_2", ""),
        (9, "[FIN, ACK] seq=1001 ack=202", "TIME_WAIT", "LAST_ACK"),
        (10, "[ACK] seq=202 ack=1002", "", "CLOSED"),
    ];
    for (i, label, client, server) in expect {
        let row = rows[i];
        assert!(row.contains(label), "row {i}: {row}");
        let (left, right) = row.split_once(label).unwrap();
        assert!(left.contains(client), "row {i} client {client}: {row}");
        if client.is_empty() {
            assert!(
                !left.contains('_') && !left.contains("ESTABLISHED"),
                "{row}"
            );
        }
        assert!(right.contains(server), "row {i} server {server}: {row}");
    }
    // Arrows point from the sender: the SYN/ACK comes from the server.
    assert!(rows[0].contains("─▶") && !rows[0].contains('◀'));
    assert!(rows[1].contains('◀') && !rows[1].contains('▶'));
    assert!(rows[2].contains("handshake done, RTT 12.060 ms"));

    let r = ladder(&["fixtures/tcp/retransmission.pcap"]);
    let marked: Vec<&str> = segment_rows(&r)
        .into_iter()
        .filter(|l| l.ends_with("retransmission"))
        .collect();
    // tcpdump: 2001:3001 once, 4001:5001 twice and the FIN once again.
    assert_eq!(marked.len(), 4, "{r}");
    assert!(marked[3].contains("[FIN, ACK] seq=5001"));

    let k = ladder(&["fixtures/tcp/keepalive-linux.pcap"]);
    assert_eq!(k.matches("keep-alive probe").count(), 3, "{k}");
    assert_eq!(k.matches("keep-alive ACK").count(), 3, "{k}");
    let z = ladder(&["fixtures/tcp/zero-window.pcap"]);
    assert_eq!(z.matches("zero-window probe").count(), 3, "{z}");
    assert_eq!(
        z.matches(", zero window").count() + z.matches("  zero window").count(),
        4,
        "{z}"
    );
    let refused = ladder(&["fixtures/tcp/refused.pcap"]);
    assert!(
        refused.contains("close: refused (RST from server)"),
        "{refused}"
    );
    assert!(segment_rows(&refused)[1].ends_with("refused"), "{refused}");
    let rst = ladder(&["fixtures/tcp/rst-established-server.pcap"]);
    assert!(
        segment_rows(&rst)[7].ends_with("reset in ESTABLISHED"),
        "{rst}"
    );
}

/// Removes ANSI SGR sequences.
fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("\x1b[") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let end = after.find('m').expect("an SGR sequence ends in m");
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

#[test]
fn colors_only_when_asked_or_on_a_terminal() {
    let plain = ladder(&["fixtures/tcp/close-client.pcap"]);
    assert!(!plain.contains('\x1b'), "not a terminal: no colors");
    assert_eq!(
        plain,
        ladder(&["--color", "never", "fixtures/tcp/close-client.pcap"])
    );
    let colored = ladder(&["--color", "always", "fixtures/tcp/close-client.pcap"]);
    assert!(colored.contains("\x1b[32m"), "SYN in green");
    assert!(colored.contains("\x1b[33m"), "FIN in yellow");
    assert_eq!(strip_ansi(&colored), plain);
    // NO_COLOR turns off automatic colors only.
    let out = synack()
        .args([
            "ladder",
            "--wide",
            "--color",
            "always",
            "fixtures/tcp/close-client.pcap",
        ])
        .env("NO_COLOR", "1")
        .output();
    assert_eq!(out.stdout(), colored);
    let out = synack()
        .args(["ladder", "--wide", "fixtures/tcp/close-client.pcap"])
        .env("NO_COLOR", "1")
        .output();
    assert_eq!(out.stdout(), plain);
}

fn report_json(file: &str) -> serde_json::Value {
    let out = synack().args(["report", "--format", "json", file]).output();
    assert_eq!(out.status.code(), Some(0));
    serde_json::from_slice(&out.stdout).expect("JSON")
}

#[test]
fn selectors_pick_the_connection_report_lists() {
    let j = report_json("fixtures/sample.pcap");
    let conns = j["connections"].as_array().unwrap();
    assert_eq!(conns.len(), 8);
    for c in conns {
        let id = c["id"].as_u64().unwrap().to_string();
        let by_id = ladder(&["--conn", &id, "fixtures/sample.pcap"]);
        let client = c["client"].as_str().unwrap();
        let server = c["server"].as_str().unwrap();
        assert!(
            by_id.starts_with(&format!(
                "connection #{id}: client {client} → server {server},"
            )),
            "{by_id}"
        );
        // The segments drawn are the connection's packets.
        let packets = c["packets"]["client_to_server"].as_u64().unwrap()
            + c["packets"]["server_to_client"].as_u64().unwrap();
        assert_eq!(segment_rows(&by_id).len() as u64, packets, "{by_id}");
        let by_ends = ladder(&[
            "--client",
            client,
            "--server",
            server,
            "fixtures/sample.pcap",
        ]);
        assert_eq!(by_ends, by_id);
        assert_eq!(ladder(&["--client", client, "fixtures/sample.pcap"]), by_id);
    }
    // The default is connection 1; --abnormal the first abnormal one in id order.
    assert_eq!(
        ladder(&["fixtures/sample.pcap"]),
        ladder(&["--conn", "1", "fixtures/sample.pcap"])
    );
    let first_abnormal = conns
        .iter()
        .find(|c| c["abnormal"] == true)
        .and_then(|c| c["id"].as_u64())
        .unwrap()
        .to_string();
    assert_eq!(
        ladder(&["--abnormal", "fixtures/sample.pcap"]),
        ladder(&["--conn", &first_abnormal, "fixtures/sample.pcap"])
    );
    // A reused 4-tuple: --client picks the first of the three connections.
    let reuse = "fixtures/tcp/port-reuse-time-wait.pcap";
    assert_eq!(
        ladder(&["--client", "10.0.0.2:45000", reuse]),
        ladder(&["--conn", "1", reuse])
    );
    assert_ne!(
        ladder(&["--conn", "2", reuse]),
        ladder(&["--conn", "1", reuse])
    );
}

#[test]
fn no_match_is_an_error_naming_the_selector() {
    for (args, needle) in [
        (
            vec!["ladder", "--conn", "99", "fixtures/sample.pcap"],
            "no connection matches --conn 99 (the input has 8 connection(s)",
        ),
        (
            vec!["ladder", "--server", "10.9.9.9:1", "fixtures/sample.pcap"],
            "no connection matches --server 10.9.9.9:1",
        ),
        (
            vec!["ladder", "--abnormal", "fixtures/tcp/close-client.pcap"],
            "no abnormal connection among the 1 connection(s)",
        ),
        (
            vec!["ladder", "--abnormal", "-"],
            "--abnormal reads the input twice",
        ),
        (
            vec![
                "ladder",
                "--conn",
                "1",
                "--abnormal",
                "fixtures/sample.pcap",
            ],
            "cannot be used with",
        ),
    ] {
        let out = synack().args(&args).output();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(out.stdout(), "", "{args:?}");
        let err = out.stderr_lossy();
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn long_data_runs_fold_unless_full() {
    let file = "fixtures/app/http-keepalive.pcap";
    let folded = ladder(&[file]);
    let full = ladder(&["--full", file]);
    let j = report_json(file);
    let c = &j["connections"][0];
    let packets = c["packets"]["client_to_server"].as_u64().unwrap()
        + c["packets"]["server_to_client"].as_u64().unwrap();
    assert_eq!(segment_rows(&full).len() as u64, packets);
    assert!(!full.contains('…'), "{full}");
    let fold_lines: Vec<&str> = folded.lines().filter(|l| l.contains('…')).collect();
    assert_eq!(fold_lines.len(), 1, "{folded}");
    let hidden: u64 = fold_lines[0]
        .split("… ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("a segment count");
    assert_eq!(segment_rows(&folded).len() as u64 + hidden, packets);
    assert!(
        folded.contains(&format!(
            "{packets} segments, {hidden} folded (--full shows them)"
        )),
        "{folded}"
    );
    // Every row of the folded diagram is in the full one, in the same order.
    let full_rows = segment_rows(&full);
    let mut at = 0;
    for row in segment_rows(&folded) {
        let label = row.split_once("  ").map_or(row, |(_, r)| r).trim();
        at += full_rows[at..]
            .iter()
            .position(|r| r.contains(label))
            .unwrap_or_else(|| panic!("{row} not in the full diagram"))
            + 1;
    }
}

fn svg_of(args: &[&str], name: &str) -> (String, String) {
    let path =
        std::env::temp_dir().join(format!("synack-ladder-{}-{name}.svg", std::process::id()));
    let p = path.to_str().unwrap();
    let mut all = args.to_vec();
    all.extend_from_slice(&["--svg", p]);
    let t = ladder(&all);
    let svg = std::fs::read_to_string(&path).expect("the SVG file");
    let _ = std::fs::remove_file(&path);
    (t, svg)
}

#[test]
fn svg_is_well_formed_and_draws_the_same_rows() {
    for (name, args) in SNAPSHOTS {
        let (t, svg) = svg_of(args, name);
        // The text printed with --svg is the same diagram.
        assert_eq!(t, ladder(args), "{name}");
        let doc = roxmltree::Document::parse(&svg)
            .unwrap_or_else(|e| panic!("{name}: SVG is not well-formed XML: {e}"));
        let root_el = doc.root_element();
        assert_eq!(root_el.tag_name().name(), "svg");
        assert_eq!(
            root_el.tag_name().namespace(),
            Some("http://www.w3.org/2000/svg")
        );
        let arrows = doc
            .descendants()
            .filter(|n| n.has_tag_name("line"))
            .filter(|n| n.attribute("class").is_some_and(|c| c.starts_with("seg ")))
            .count();
        assert_eq!(arrows, segment_rows(&t).len(), "{name}");
        let texts: Vec<&str> = doc.descendants().filter_map(|n| n.text()).collect();
        for n in &texts {
            assert!(
                !n.chars().any(|c| c.is_control() && c != '\n'),
                "{name}: {n:?}"
            );
        }
        // Every state and mark of the text diagram is in the SVG.
        let all = texts.join("\n");
        for word in [
            "SYN_SENT",
            "ESTABLISHED",
            "TIME_WAIT",
            "CLOSED",
            "retransmission",
            "keep-alive probe",
            "refused",
            "zero-window probe",
        ] {
            assert_eq!(t.contains(word), all.contains(word), "{name}: {word}");
        }
    }
}

#[test]
fn packet_text_is_escaped_in_text_and_svg() {
    let file = "fixtures/app/tls-hostile-sni.pcap";
    let (t, svg) = svg_of(&[file], "hostile");
    let colored = ladder(&["--color", "always", file]);
    for out in [&t, &svg] {
        assert!(!out.contains('\x1b') && !out.contains('\x07'), "{out}");
        assert!(!out.contains('\r'), "{out}");
    }
    // Colors are ours: every ESC of the colored diagram starts an SGR sequence.
    assert_eq!(
        colored.matches('\x1b').count(),
        colored.matches("\x1b[").count()
    );
    assert!(!strip_ansi(&colored).contains('\x1b'));
    let shown = r"SNI \x1b]0;pwned\x07\x1b[2J\x1b[31mevil\x1b[0m.example\x0d\x0a<b>&";
    assert!(t.contains(shown), "{t}");
    assert!(svg.contains(r"\x0d\x0a&lt;b&gt;&amp;"), "{svg}");
    let doc = roxmltree::Document::parse(&svg).unwrap();
    assert!(doc
        .descendants()
        .any(|n| n.text().is_some_and(|s| s.contains(shown))));
}

#[test]
fn the_ladders_in_the_docs_are_real_output() {
    let want = ladder(&["fixtures/tcp/close-client.pcap"]);
    for doc in ["README.md", "docs/ladder.md"] {
        let text = std::fs::read_to_string(root().join(doc)).unwrap();
        let start = "$ synack ladder --wide fixtures/tcp/close-client.pcap\n";
        let block = text
            .split_once(start)
            .and_then(|(_, rest)| rest.split_once("```"))
            .map(|(block, _)| block)
            .unwrap_or_else(|| panic!("{doc}: no ladder example"));
        assert_eq!(
            block, want,
            "{doc}: the example differs from the real output"
        );
    }
}
