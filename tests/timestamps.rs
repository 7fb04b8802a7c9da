//! Timestamps that go backwards or jump by years (issue 7): counted, warned about, and
//! never a negative or absurd interval in a figure.

use std::io::Write;

mod common;
use common::synack;

const YEAR_S: i64 = 365 * 24 * 3600;

/// A classic pcap (µs) of one client→server connection; `segs` are (seconds since the
/// base, from client?, flags, seq, ack).
fn write(path: &std::path::Path, segs: &[(f64, bool, u8, u32, u32)]) {
    let mut f = std::fs::File::create(path).expect("create");
    let mut h = Vec::new();
    h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&4u16.to_le_bytes());
    h.extend_from_slice(&[0; 8]);
    h.extend_from_slice(&65535u32.to_le_bytes());
    h.extend_from_slice(&1u32.to_le_bytes());
    for &(t, from_client, flags, seq, ack) in segs {
        let mut frame = vec![0u8; 54];
        frame[12..14].copy_from_slice(&[0x08, 0x00]);
        let (a, b) = ([10, 0, 0, 2], [10, 0, 0, 1]);
        let (src, dst, sp, dp) = if from_client {
            (a, b, 40000u16, 80u16)
        } else {
            (b, a, 80, 40000)
        };
        let ip = &mut frame[14..34];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&40u16.to_be_bytes());
        ip[8] = 64;
        ip[9] = 6;
        ip[12..16].copy_from_slice(&src);
        ip[16..20].copy_from_slice(&dst);
        let tcp = &mut frame[34..54];
        tcp[0..2].copy_from_slice(&sp.to_be_bytes());
        tcp[2..4].copy_from_slice(&dp.to_be_bytes());
        tcp[4..8].copy_from_slice(&seq.to_be_bytes());
        tcp[8..12].copy_from_slice(&ack.to_be_bytes());
        tcp[12] = 5 << 4;
        tcp[13] = flags;
        tcp[14..16].copy_from_slice(&1024u16.to_be_bytes());
        let us = (1_700_000_000.0 * 1e6 + t * 1e6).round() as i64;
        h.extend_from_slice(&((us / 1_000_000) as u32).to_le_bytes());
        h.extend_from_slice(&((us % 1_000_000) as u32).to_le_bytes());
        h.extend_from_slice(&54u32.to_le_bytes());
        h.extend_from_slice(&54u32.to_le_bytes());
        h.extend_from_slice(&frame);
    }
    f.write_all(&h).expect("write");
}

#[test]
fn backwards_and_jumping_timestamps_are_counted_and_never_make_a_negative_figure() {
    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;
    const FIN: u8 = 0x01;
    let y = YEAR_S as f64;
    let path = std::env::temp_dir().join(format!("synack-ts-{}.pcap", std::process::id()));
    write(
        &path,
        &[
            (10.0, true, SYN, 100, 0),
            // The SYN/ACK stamped before the SYN (a clock step back).
            (9.5, false, SYN | ACK, 500, 101),
            (10.2, true, ACK, 101, 501),
            // A jump by ten years, then back.
            (10.0 * y, true, FIN | ACK, 101, 501),
            (10.3, false, FIN | ACK, 501, 102),
            (10.4, true, ACK, 102, 502),
        ],
    );
    let out = synack()
        .args(["report", "--format", "json"])
        .arg(&path)
        .output();
    let _ = std::fs::remove_file(&path);
    assert!(out.status.success());
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    // Out of order against the latest time so far: 9.5 (after 10.0), then 10.3 and 10.4
    // (after the jump to ten years on).
    assert_eq!(r["inputs"][0]["backwards_timestamps"], 3);
    let warned = r["warnings"][0].as_str().expect("a warning");
    assert!(
        warned.contains("3 packet(s) have a timestamp earlier"),
        "{warned}"
    );
    let c = &r["connections"][0];
    assert_eq!(c["close"], "fin");
    // SYN → SYN/ACK went backwards: no handshake time rather than a negative one.
    assert!(
        c["handshake"]["syn_to_synack_ms"].is_null(),
        "{}",
        c["handshake"]
    );
    // SYN → ACK (Wireshark's initial RTT) spans no step back: measured as usual.
    assert_eq!(c["handshake"]["rtt_ms"].as_f64(), Some(200.0));
    assert_eq!(r["summary"]["handshake_rtt_ms"]["count"], 1);
    assert_eq!(r["summary"]["syn_to_synack_ms"]["count"], 0);
    // The connection spans the jump, as its packets say; every duration is >= 0.
    let duration = c["duration_ms"].as_f64().expect("duration");
    assert!(duration >= 0.0);
    for (k, v) in c["handshake"].as_object().expect("handshake") {
        if k.ends_with("_ms") {
            assert!(
                v.is_null() || v.as_f64().is_some_and(|ms| ms >= 0.0),
                "{k} = {v}"
            );
        }
    }
}
