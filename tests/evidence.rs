//! Out-of-sequence segments classified by evidence (issue 20, items 1 and 2): one fixture
//! per kind of evidence (examples/mkfixtures.rs, `evidence_fixtures`), each run through
//! the binary and held to the figures its description promises, the tshark-compatible
//! ones beside (docs/metrics.md, "Retransmissions and reordering by evidence").

use serde_json::Value;

mod common;

fn connection(file: &str) -> Value {
    common::only_connection(&format!("fixtures/evidence/{file}"))
}

/// The server's figures (the sender in every fixture), by JSON path.
fn server(c: &Value, path: &[&str]) -> Value {
    let mut v = c;
    for key in path {
        v = &v[*key];
    }
    v["server"].clone()
}

/// What a fixture's server side must show: every figure of the contract, so that a
/// count that moves where it should not is caught too.
#[derive(Default)]
struct Expected {
    retransmissions: u64,
    out_of_order: u64,
    /// fast, timeout, tail_loss_probe, unclassified
    kinds: [u64; 4],
    spurious: u64,
    duplicates: u64,
    lost_before: u64,
    lost_after: u64,
    tshark_retransmissions: u64,
    tshark_out_of_order: u64,
    evidence: &'static str,
}

fn check(file: &str, e: Expected) {
    let c = connection(file);
    let n = |key: &str| server(&c, &[key]).as_u64().unwrap();
    let kinds = server(&c, &["retransmission_kinds"]);
    let kind = |k: &str| kinds[k].as_u64().unwrap();
    let got = [
        ("retransmissions", n("retransmissions"), e.retransmissions),
        ("out_of_order", n("out_of_order"), e.out_of_order),
        ("fast", kind("fast"), e.kinds[0]),
        ("timeout", kind("timeout"), e.kinds[1]),
        ("tail_loss_probe", kind("tail_loss_probe"), e.kinds[2]),
        ("unclassified", kind("unclassified"), e.kinds[3]),
        ("spurious", n("spurious_retransmissions"), e.spurious),
        ("network_duplicates", n("network_duplicates"), e.duplicates),
        (
            "lost_before_capture",
            n("lost_before_capture"),
            e.lost_before,
        ),
        ("lost_after_capture", n("lost_after_capture"), e.lost_after),
        (
            "tshark_retransmissions",
            n("tshark_retransmissions"),
            e.tshark_retransmissions,
        ),
        (
            "tshark_out_of_order",
            n("tshark_out_of_order"),
            e.tshark_out_of_order,
        ),
    ];
    for (name, got, want) in got {
        assert_eq!(got, want, "{file}: server {name}");
    }
    assert_eq!(server(&c, &["ordering_evidence"]), e.evidence, "{file}");
    // The client sent nothing out of sequence.
    for key in ["retransmissions", "out_of_order", "tshark_retransmissions"] {
        assert_eq!(c[key]["client"], 0, "{file}: client {key}");
    }
    // The sums docs/metrics.md promises.
    assert_eq!(e.kinds.iter().sum::<u64>(), e.retransmissions, "{file}");
    assert_eq!(
        e.lost_before + e.lost_after + e.spurious,
        e.retransmissions,
        "{file}"
    );
}

#[test]
fn fast_retransmission_of_a_segment_lost_before_the_capture_point() {
    // tshark takes it for a reordering: it fills the hole within the handshake RTT.
    check(
        "fast-retransmit.pcap",
        Expected {
            retransmissions: 1,
            kinds: [1, 0, 0, 0],
            lost_before: 1,
            tshark_out_of_order: 1,
            evidence: "timestamps",
            ..Expected::default()
        },
    );
}

#[test]
fn retransmission_after_an_rto_of_a_segment_lost_after_the_capture_point() {
    check(
        "rto-retransmit.pcap",
        Expected {
            retransmissions: 1,
            kinds: [0, 1, 0, 0],
            lost_after: 1,
            tshark_retransmissions: 1,
            evidence: "timestamps",
            ..Expected::default()
        },
    );
}

#[test]
fn tail_loss_probe() {
    check(
        "tail-loss-probe.pcap",
        Expected {
            retransmissions: 1,
            kinds: [0, 0, 1, 0],
            lost_after: 1,
            tshark_retransmissions: 1,
            evidence: "timestamps",
            ..Expected::default()
        },
    );
}

#[test]
fn spurious_below_the_ack_and_by_dsack() {
    check(
        "spurious.pcap",
        Expected {
            retransmissions: 2,
            kinds: [0, 2, 0, 0],
            spurious: 2,
            tshark_retransmissions: 2,
            evidence: "timestamps",
            ..Expected::default()
        },
    );
}

#[test]
fn late_original_told_by_its_tsval() {
    // More than an RTT late: tshark takes it for a retransmission.
    check(
        "reorder-tsval.pcap",
        Expected {
            out_of_order: 1,
            tshark_retransmissions: 1,
            evidence: "timestamps",
            ..Expected::default()
        },
    );
}

#[test]
fn late_original_told_by_its_ip_id() {
    check(
        "reorder-ipid.pcap",
        Expected {
            out_of_order: 1,
            tshark_retransmissions: 1,
            evidence: "ip_id",
            ..Expected::default()
        },
    );
}

#[test]
fn network_duplicate() {
    check(
        "network-duplicate.pcap",
        Expected {
            duplicates: 1,
            tshark_retransmissions: 1,
            evidence: "timestamps",
            ..Expected::default()
        },
    );
}

#[test]
fn losses_on_either_side_of_the_capture_point() {
    check(
        "loss-before-after.pcap",
        Expected {
            retransmissions: 2,
            kinds: [0, 2, 0, 0],
            lost_before: 1,
            lost_after: 1,
            tshark_retransmissions: 2,
            evidence: "timestamps",
            ..Expected::default()
        },
    );
}

#[test]
fn tshark_agrees_with_the_tshark_compatible_figures() {
    // Where tshark is installed: its own flags on each fixture equal synack's tshark_*
    // figures (tests/oracle.rs does the same over the shared corpus).
    let probe = std::process::Command::new("tshark").arg("-v").output();
    if probe.is_err() {
        if std::env::var_os("CI").is_some_and(|v| v == "true") {
            panic!("tshark is needed under CI");
        }
        eprintln!("skipped: tshark not found");
        return;
    }
    for entry in std::fs::read_dir("fixtures/evidence").unwrap() {
        let path = entry.unwrap().path();
        let out = std::process::Command::new("tshark")
            .args(["-n", "-r"])
            .arg(&path)
            .args([
                "-T",
                "fields",
                "-e",
                "tcp.analysis.retransmission",
                "-e",
                "tcp.analysis.out_of_order",
            ])
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let (mut rtx, mut ooo) = (0, 0);
        for line in text.lines() {
            let mut f = line.split('\t');
            rtx += u64::from(f.next().is_some_and(|v| !v.is_empty()));
            ooo += u64::from(f.next().is_some_and(|v| !v.is_empty()));
        }
        let file = path.file_name().unwrap().to_str().unwrap();
        let c = connection(file);
        let total =
            |key: &str| c[key]["client"].as_u64().unwrap() + c[key]["server"].as_u64().unwrap();
        assert_eq!(total("tshark_retransmissions"), rtx, "{file}");
        assert_eq!(total("tshark_out_of_order"), ooo, "{file}");
    }
}

/// Where users read them: the table's evidence columns and summary line, the connection
/// records' per-side columns and `check`'s limits show the JSON's figures, on every
/// evidence fixture.
#[test]
fn the_table_records_and_check_show_the_evidence_figures() {
    let mut files: Vec<_> = std::fs::read_dir("fixtures/evidence")
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for path in files {
        let file = path.file_name().unwrap().to_str().unwrap();
        let c = connection(file);
        let total =
            |key: &str| c[key]["client"].as_u64().unwrap() + c[key]["server"].as_u64().unwrap();

        let out = common::synack()
            .args([
                "report",
                "--columns",
                "id,rtx,ooo,lost,spurious,net-dup,tshark-rtx,tshark-ooo,evidence",
            ])
            .arg(&path)
            .env("COLUMNS", "200")
            .output();
        out.success();
        let text = out.stdout();
        let mut lines = text.lines().skip_while(|l| !l.starts_with("id "));
        let header: Vec<&str> = lines
            .next()
            .unwrap()
            .split("  ")
            .filter(|w| !w.is_empty())
            .map(str::trim)
            .collect();
        assert_eq!(
            header,
            [
                "id",
                "rtx",
                "ooo",
                "lost b/a",
                "spurious",
                "net dup",
                "tshark rtx",
                "tshark ooo",
                "ordered by (client / server)"
            ],
            "{file}"
        );
        let row: Vec<&str> = lines.nth(1).unwrap().split_whitespace().collect();
        let lost = format!(
            "{}/{}",
            total("lost_before_capture"),
            total("lost_after_capture")
        );
        let evidence = [
            c["ordering_evidence"]["client"].as_str().unwrap(),
            "/",
            c["ordering_evidence"]["server"].as_str().unwrap(),
        ];
        let want: Vec<String> = [
            "1".to_string(),
            total("retransmissions").to_string(),
            total("out_of_order").to_string(),
            lost,
            total("spurious_retransmissions").to_string(),
            total("network_duplicates").to_string(),
            total("tshark_retransmissions").to_string(),
            total("tshark_out_of_order").to_string(),
        ]
        .into_iter()
        .chain(evidence.map(String::from))
        .collect();
        assert_eq!(row, want, "{file}\n{text}");
        let summary = format!(
            "retransmissions: {} ({} spurious)",
            total("retransmissions"),
            total("spurious_retransmissions")
        );
        assert!(text.contains(&summary), "{file}: no {summary:?} in\n{text}");
        let lost = format!(
            "lost before the capture point: {}, after it: {}",
            total("lost_before_capture"),
            total("lost_after_capture")
        );
        assert!(text.contains(&lost), "{file}: no {lost:?} in\n{text}");

        // Records, orig = client here (each fixture starts at the SYN).
        let log = common::synack()
            .args(["report", "--format", "zeek-json"])
            .arg(&path)
            .output();
        log.success();
        let rec: Value = serde_json::from_str(log.stdout().lines().next().unwrap()).unwrap();
        assert_eq!(rec["synack.orig_is_client"], true, "{file}");
        for (column, key) in [
            ("retransmissions", "retransmissions"),
            ("out_of_order", "out_of_order"),
            ("spurious_retransmissions", "spurious_retransmissions"),
            ("network_duplicates", "network_duplicates"),
            ("lost_before_capture", "lost_before_capture"),
            ("lost_after_capture", "lost_after_capture"),
            ("tshark_retransmissions", "tshark_retransmissions"),
            ("tshark_out_of_order", "tshark_out_of_order"),
        ] {
            for (side, role) in [("orig", "client"), ("resp", "server")] {
                assert_eq!(
                    rec[format!("synack.{side}_{column}")],
                    c[key][role],
                    "{file}: {side} {column}"
                );
            }
        }
        for kind in ["fast", "timeout", "tail_loss_probe", "unclassified"] {
            for (side, role) in [("orig", "client"), ("resp", "server")] {
                assert_eq!(
                    rec[format!("synack.{side}_retransmissions_{kind}")],
                    c["retransmission_kinds"][role][kind],
                    "{file}: {side} {kind}"
                );
            }
        }
        for (side, role) in [("orig", "client"), ("resp", "server")] {
            assert_eq!(
                rec[format!("synack.{side}_ordering_evidence")],
                c["ordering_evidence"][role],
                "{file}"
            );
        }

        // check: each limit breaks one below the figure and holds at it.
        for (flag, key) in [
            ("--max-out-of-order", "out_of_order"),
            ("--max-spurious-retransmissions", "spurious_retransmissions"),
            ("--max-network-duplicates", "network_duplicates"),
            ("--max-lost-before-capture", "lost_before_capture"),
            ("--max-lost-after-capture", "lost_after_capture"),
            ("--max-tshark-retransmissions", "tshark_retransmissions"),
            ("--max-tshark-out-of-order", "tshark_out_of_order"),
        ] {
            let n = total(key);
            let run = |limit: u64| {
                common::synack()
                    .arg("check")
                    .arg(&path)
                    .arg(flag)
                    .arg(limit.to_string())
                    .output()
                    .status
                    .code()
            };
            assert_eq!(run(n), Some(0), "{file} {flag} {n}");
            if n > 0 {
                assert_eq!(run(n - 1), Some(1), "{file} {flag} {}", n - 1);
            }
        }
    }
}
