//! Tunnels and LLC link layers, through the binary: the fixtures of fixtures/decode/
//! (one per tunnel kind), and the tunnelled traces of ../shared/zeek held to tshark's TCP
//! packet counts and Zeek's per-connection packet counts (docs/inputs.md).

mod common;
use common::{require_shared, synack};

use std::collections::HashMap;
use std::path::Path;

fn report(file: &Path) -> serde_json::Value {
    common::report_json(file)
}

fn fixture(name: &str) -> std::path::PathBuf {
    common::root().join("fixtures/decode").join(name)
}

/// (fixture, the tunnel kind its TCP comes out of, inner IPv6).
const TUNNELLED: &[(&str, &str, bool)] = &[
    ("tunnel-gre.pcap", "gre", false),
    ("tunnel-gre-ethernet.pcap", "gre", false),
    ("tunnel-erspan2.pcap", "erspan", false),
    ("tunnel-erspan3.pcap", "erspan", false),
    ("tunnel-pptp.pcap", "gre", false),
    ("tunnel-gre-udp.pcap", "gre", false),
    ("tunnel-vxlan.pcap", "vxlan", false),
    ("tunnel-geneve.pcap", "geneve", false),
    ("tunnel-teredo.pcap", "teredo", true),
    ("tunnel-ipip.pcap", "ip_in_ip", false),
    ("tunnel-6in4.pcap", "ip_in_ip", true),
    ("tunnel-gtpu.pcap", "gtp_u", false),
    ("tunnel-ayiya.pcap", "ayiya", true),
    // GRE inside VXLAN: the innermost tunnel names the packets.
    ("tunnel-nested.pcap", "gre", false),
];

fn tunnelled_total(packets: &serde_json::Value) -> u64 {
    let kinds = packets["tunnelled"].as_object().expect("tunnelled");
    kinds.values().map(|v| v.as_u64().unwrap()).sum()
}

#[test]
fn every_tunnel_gives_its_inner_connection() {
    for &(name, kind, v6) in TUNNELLED {
        let json = report(&fixture(name));
        let p = &json["packets"];
        assert_eq!(p["tcp"], 10, "{name}: {p}");
        assert_eq!(p["tunnelled"][kind], 10, "{name}: {p}");
        assert_eq!(tunnelled_total(p), 10, "{name}: {p}");
        assert_eq!(p["udp"], 0, "{name}: the outer UDP is not counted as well");
        let conns = json["connections"].as_array().unwrap();
        assert_eq!(conns.len(), 1, "{name}");
        let c = &conns[0];
        let (client, server) = if v6 {
            ("[2001:db8::10]:40000", "[2001:db8::80]:80")
        } else {
            ("192.0.2.10:40000", "192.0.2.80:80")
        };
        assert_eq!(
            (c["client"].as_str(), c["server"].as_str()),
            (Some(client), Some(server)),
            "{name}"
        );
        assert_eq!(c["close"], "fin", "{name}");
        assert_eq!(c["handshake"]["rtt_ms"], 10.08, "{name}");
        // Bytes are the frames' on the wire, outer headers included (as tshark's frame.len).
        let bytes = c["bytes"]["client_to_server"].as_u64().unwrap();
        let payload = c["payload_bytes"]["client_to_server"].as_u64().unwrap();
        assert!(
            bytes > payload + 5 * 40,
            "{name}: {bytes} bytes for {payload} of payload"
        );
    }
}

#[test]
fn the_table_says_how_many_came_out_of_tunnels() {
    synack()
        .arg("report")
        .arg(fixture("tunnel-vxlan.pcap"))
        .output()
        .success()
        .stdout_contains("TCP packets out of tunnels: 10 (VXLAN 10)");
    let plain = synack()
        .arg("report")
        .arg(fixture("llc-snap.pcap"))
        .output();
    assert!(!plain.success().stdout().contains("out of tunnels"));
}

#[test]
fn a_fourth_nested_tunnel_is_counted_undecodable() {
    let json = report(&fixture("tunnel-too-deep.pcap"));
    let p = &json["packets"];
    assert_eq!(
        (p["tcp"].as_u64(), p["undecodable"].as_u64()),
        (Some(0), Some(10)),
        "{p}"
    );
    assert_eq!(tunnelled_total(p), 0);
    let warnings = json["warnings"].to_string();
    assert!(
        warnings.contains("10 packet(s) could not be decoded"),
        "{warnings}"
    );
    assert!(warnings.contains("tunnels nested too deep"), "{warnings}");
}

#[test]
fn llc_snap_and_fddi_carry_ip() {
    for name in ["llc-snap.pcap", "fddi.pcap"] {
        let json = report(&fixture(name));
        let p = &json["packets"];
        assert_eq!(
            (p["tcp"].as_u64(), p["other"].as_u64()),
            (Some(10), Some(0)),
            "{name}: {p}"
        );
        assert_eq!(tunnelled_total(p), 0, "{name}");
        assert_eq!(json["connections"][0]["close"], "fin", "{name}");
        assert_eq!(
            json["inputs"][0]["link_types"][0]["supported"], true,
            "{name}"
        );
        // `ladder` saw 0 connections in 802.3 frames before they were decoded.
        synack()
            .arg("ladder")
            .arg(fixture(name))
            .output()
            .success()
            .stdout_contains("client 192.0.2.10:40000 → server 192.0.2.80:80");
    }
}

fn tsv(path: &Path) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split('\t').collect();
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            header
                .iter()
                .map(|h| h.to_string())
                .zip(l.split('\t').map(String::from))
                .collect()
        })
        .collect()
}

/// Where synack's TCP packet count differs from tshark's (as SOURCES.tsv gives it, tshark's
/// defaults) on a tunnelled trace: (trace, synack's count, why).
const TSHARK_DIFFERENCES: &[(&str, u64, &str)] = &[
    // Outer IP fragments carrying GTP-U: tshark reassembles them and finds the TCP inside;
    // synack does not reassemble (docs/inputs.md). Zeek reassembles too.
    (
        "gtp1_gn_normal_incl_fragmentation.pcap",
        32,
        "fragmented GTP-U",
    ),
    ("gtp2_different_udp_port.pcap", 36, "fragmented GTP-U"),
    // Teredo between a relay's and a client's ports, not 3544: tshark finds it only with
    // its Teredo heuristic enabled (`--enable-heuristic teredo_udp`: 55 and 22), Zeek by
    // its content, as synack does.
    ("Teredo.pcap", 55, "Teredo away from port 3544"),
    (
        "teredo_bubble_with_payload.pcap",
        22,
        "Teredo away from port 3544",
    ),
    // Aruba's GRE (0x8200) carries 802.11 frames; synack does not open it (other).
    ("gre-aruba-amsdu.pcap", 0, "Aruba GRE"),
];

/// The traces of ../shared/zeek whose connections Zeek saw inside a tunnel, and the FDDI
/// LLC one: synack's TCP packet count is tshark's, or a difference listed above, and each
/// tunnelled connection has Zeek's packet count.
#[test]
fn tunnelled_zeek_traces_match_tshark_and_zeek() {
    let dir = require_shared!("zeek");
    let sources: HashMap<String, HashMap<String, String>> = tsv(&dir.join("SOURCES.tsv"))
        .into_iter()
        .map(|r| (r["file"].clone(), r))
        .collect();
    let rows: Vec<_> = tsv(&dir.join("zeek_conn.tsv"))
        .into_iter()
        .filter(|r| r["tunnel_parents"] != "-" && r["primary"] == "T")
        .collect();
    let mut files: Vec<&str> = rows.iter().map(|r| r["file"].as_str()).collect();
    files.push("llc.pcap");
    files.sort();
    files.dedup();
    assert!(files.len() >= 12, "{files:?}");
    let mut zeek_matched = 0;
    for file in files {
        let src = &sources[file];
        let json = report(&dir.join(&src["local_path"]));
        let tcp = json["packets"]["tcp"].as_u64().unwrap();
        let tshark: u64 = src["tcp_pkts_tshark"].parse().unwrap();
        match TSHARK_DIFFERENCES.iter().find(|d| d.0 == file) {
            Some(&(_, synack, why)) => {
                assert_eq!(tcp, synack, "{file}: documented difference ({why}) changed");
                assert_ne!(
                    tcp, tshark,
                    "{file}: now agrees with tshark; drop the difference"
                );
            }
            None => assert_eq!(tcp, tshark, "{file}: synack's TCP packets vs tshark's"),
        }
        for row in rows.iter().filter(|r| r["file"] == file) {
            let ends = |h: &str, p: &str| -> std::net::SocketAddr {
                let ip: std::net::IpAddr = h.parse().unwrap();
                (ip, p.parse().unwrap()).into()
            };
            let a = ends(&row["orig_h"], &row["orig_p"]);
            let b = ends(&row["resp_h"], &row["resp_p"]);
            let zeek: u64 =
                row["orig_pkts"].parse::<u64>().unwrap() + row["resp_pkts"].parse::<u64>().unwrap();
            let ours: u64 = json["connections"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| {
                    let c_end: std::net::SocketAddr =
                        c["client"].as_str().unwrap().parse().unwrap();
                    let s_end: std::net::SocketAddr =
                        c["server"].as_str().unwrap().parse().unwrap();
                    (c_end, s_end) == (a, b) || (c_end, s_end) == (b, a)
                })
                .map(|c| {
                    c["packets"]["client_to_server"].as_u64().unwrap()
                        + c["packets"]["server_to_client"].as_u64().unwrap()
                })
                .sum();
            match TSHARK_DIFFERENCES
                .iter()
                .find(|d| d.0 == file && d.2 != "Teredo away from port 3544")
            {
                Some(_) => assert!(ours < zeek, "{file} {a} {b}: {ours} vs Zeek's {zeek}"),
                None => {
                    assert_eq!(ours, zeek, "{file} {a} {b}: synack's packets vs Zeek's");
                    zeek_matched += 1;
                }
            }
        }
    }
    assert!(zeek_matched >= 9, "{zeek_matched}");
}
