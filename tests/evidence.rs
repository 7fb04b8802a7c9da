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
