//! Holds synack's Zeek view (`ConnectionRecord::zeek`) to Zeek's own answers: every
//! primary row of ../shared/zeek/zeek_conn.tsv (what Zeek 9.1-dev logs for 78 real
//! traces, from its regression baselines) against what synack computes on the same trace,
//! field by field: orientation, conn_state, history (without `X`), packets, IP bytes,
//! payload bytes, duration and how many tunnels it ran in. Rows are matched by their 4-tuple and, where it repeats,
//! in log order. Every difference left is in [`EXCEPTIONS`], with its reason (also in
//! docs/records.md, "Held to Zeek"), and is asserted to still be a difference.
//!
//! The run goes through the library (`Pipeline`), which gives the typed records: the same
//! ones every output format prints.

mod common;
use common::require_shared;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use synack::analysis::analyzer::Options;
use synack::analysis::pipeline::Pipeline;
use synack::model::connection_record::ConnectionRecord;
use synack::model::event::NoEvents;

/// Differences that remain, each with its reason: (trace, Zeek's uid, field or `*` for
/// every field of the row, reason). A uid names one row of zeek_conn.tsv. docs/records.md
/// ("Held to Zeek") gives the same list.
const EXCEPTIONS: &[(&str, &str, &str, &str)] = &[
    // Aruba's 802.11 A-MSDU frames inside GRE are not opened: Zeek logs the inner one.
    (
        "gre-aruba-amsdu.pcap",
        "ClEkJM2Vm5giqnMf4h",
        "*",
        "A-MSDU in GRE",
    ),
    // IP fragments inside the tunnel: Zeek reassembles them, synack does not.
    (
        "gtp1_gn_normal_incl_fragmentation.pcap",
        "ClEkJM2Vm5giqnMf4h",
        "*",
        FRAGMENTS,
    ),
    (
        "gtp2_different_udp_port.pcap",
        "ClEkJM2Vm5giqnMf4h",
        "*",
        FRAGMENTS,
    ),
    // Zeek run bare (`-b`) without the script that makes the port a likely server port:
    // no flip there, where synack's full list (Zeek's defaults) flips.
    ("localhost-bad-chksum.pcap", "ClEkJM2Vm5giqnMf4h", "*", BARE),
    (
        "vntag_vlan_sandwich_clean.pcap",
        "CHhAvVGS1DHFjwGM9",
        "orientation",
        BARE,
    ),
    (
        "vntag_vlan_sandwich_clean.pcap",
        "CHhAvVGS1DHFjwGM9",
        "history",
        BARE,
    ),
    // Content gaps (`g`/`G`) need Zeek's reassembler, which synack does not model.
    ("cwd-navigation.pcap", "CHhAvVGS1DHFjwGM9", "history", GAPS),
    (
        "retransmit-fast009.pcap",
        "CHhAvVGS1DHFjwGM9",
        "history",
        GAPS,
    ),
];

const FRAGMENTS: &str = "IP fragments Zeek reassembles";
const BARE: &str = "bare-mode run: the port is no likely server port there";
const GAPS: &str = "content gaps need Zeek's reassembler";

/// Rows Zeek logs before the last on one 4-tuple where synack keeps one connection, by
/// trace: Zeek let go of its connection (an unanswered SYN after 5 s, a closed or reset
/// one 5 s after its close) and the next packet started another, or a SYN after a close
/// started another where synack's connection goes on (tshark's rule: a SYN with a new
/// ISN). synack's record carries Zeek's last row and counts these in `earlier_rows`.
const SPLITS: &[(&str, usize)] = &[
    // 1333 RSTs on one 4-tuple over a day: each is a Zeek connection of its own.
    ("llc.pcap", 1332),
    ("Teredo.pcap", 5),
    ("localhost-bad-chksum.pcap", 1),
    ("modbus-and-non-modbus-p502.pcap", 1),
    ("pop3.pcap", 4),
    ("ssh.client-side-half-duplex.pcap", 5),
];

/// The fields compared, in the order printed.
const FIELDS: [&str; 12] = [
    "orientation",
    "conn_state",
    "history",
    "orig_pkts",
    "orig_ip_bytes",
    "resp_pkts",
    "resp_ip_bytes",
    "orig_bytes",
    "resp_bytes",
    "duration",
    "tunnel_parents",
    "row",
];

/// One primary row of zeek_conn.tsv.
#[derive(Debug)]
struct ZeekRow {
    file: String,
    uid: String,
    orig: String,
    resp: String,
    values: BTreeMap<&'static str, String>,
    ignore_checksums: bool,
}

fn read_rows(dir: &Path) -> Vec<ZeekRow> {
    let text = std::fs::read_to_string(dir.join("zeek_conn.tsv")).expect("zeek_conn.tsv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).expect(name);
    let mut rows = Vec::new();
    for line in lines {
        let f: Vec<&str> = line.split('\t').collect();
        if f[col("primary")] != "T" {
            continue;
        }
        let get = |name: &str| f[col(name)].to_string();
        let mut values = BTreeMap::new();
        values.insert("orientation", "as logged".to_string());
        values.insert("conn_state", get("conn_state"));
        values.insert("history", get("history").replace(['X', 'x'], ""));
        for (field, column) in [
            ("orig_pkts", "orig_pkts"),
            ("orig_ip_bytes", "orig_ip_bytes"),
            ("resp_pkts", "resp_pkts"),
            ("resp_ip_bytes", "resp_ip_bytes"),
            ("orig_bytes", "orig_bytes"),
            ("resp_bytes", "resp_bytes"),
            ("duration", "duration"),
        ] {
            values.insert(field, get(column));
        }
        // Zeek's uids are its own (random, seeded in its tests): compared is how many
        // tunnels the connection ran in.
        let parents = get("tunnel_parents");
        let parents = match parents.as_str() {
            "-" => "-".to_string(),
            set => set.split(',').count().to_string(),
        };
        values.insert("tunnel_parents", parents);
        values.insert("row", "present".to_string());
        let endpoint = |h: &str, p: &str| format!("{}:{}", get(h), get(p));
        rows.push(ZeekRow {
            file: get("file"),
            uid: get("uid"),
            orig: endpoint("orig_h", "orig_p"),
            resp: endpoint("resp_h", "resp_p"),
            values,
            ignore_checksums: get("ignore_checksums") == "T",
        });
    }
    rows
}

/// `file` → its path, from SOURCES.tsv's `local_path` (relative to the zeek folder).
fn trace_paths(dir: &Path) -> BTreeMap<String, PathBuf> {
    let text = std::fs::read_to_string(dir.join("SOURCES.tsv")).expect("SOURCES.tsv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).expect(name);
    lines
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .map(|f| (f[col("file")].to_string(), dir.join(f[col("local_path")])))
        .collect()
}

/// An endpoint as Zeek writes it (IPv6 without brackets).
fn endpoint(a: std::net::SocketAddr) -> String {
    format!("{}:{}", a.ip(), a.port())
}

/// Seconds with six decimals, as Zeek writes an interval; `-` for zero.
fn zeek_duration(d: std::time::Duration) -> String {
    let micros = (d.as_nanos() + 500) / 1000;
    if micros == 0 {
        return "-".to_string();
    }
    format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000)
}

/// synack's record as a Zeek row: (orig, resp, values).
fn synack_row(r: &ConnectionRecord) -> (String, String, BTreeMap<&'static str, String>) {
    let z = &r.zeek;
    let (orig, resp) = if z.orig_is_client {
        (r.client, r.server)
    } else {
        (r.server, r.client)
    };
    let duration = zeek_duration(z.duration);
    let bytes = |b: u64| {
        if duration == "-" {
            "-".to_string()
        } else {
            b.to_string()
        }
    };
    let mut v = BTreeMap::new();
    v.insert("orientation", "as logged".to_string());
    v.insert("conn_state", z.conn_state.as_str().to_string());
    let history = if z.history.is_empty() {
        "-".to_string()
    } else {
        z.history.as_str().to_string()
    };
    v.insert("history", history);
    v.insert("orig_pkts", z.orig.packets.to_string());
    v.insert("orig_ip_bytes", z.orig.ip_bytes.to_string());
    v.insert("resp_pkts", z.resp.packets.to_string());
    v.insert("resp_ip_bytes", z.resp.ip_bytes.to_string());
    v.insert("orig_bytes", bytes(z.orig.bytes));
    v.insert("resp_bytes", bytes(z.resp.bytes));
    v.insert("duration", duration);
    let parents = z.tunnel_parents.iter().filter(|p| **p != 0).count();
    let parents = match parents {
        0 => "-".to_string(),
        n => n.to_string(),
    };
    v.insert("tunnel_parents", parents);
    v.insert("row", "present".to_string());
    (endpoint(orig), endpoint(resp), v)
}

/// synack's row: the Zeek rows before it (`earlier_rows`), originator, responder, values.
type OurRow = (u32, String, String, BTreeMap<&'static str, String>);

/// The unordered pair of endpoints: rows are matched on it, orientation compared apart.
fn pair(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_string(), b.to_string())
    } else {
        (b.to_string(), a.to_string())
    }
}

#[test]
fn zeek_conn_log_rows_match() {
    let dir = require_shared!("zeek");
    let rows = read_rows(&dir);
    let paths = trace_paths(&dir);
    let mut by_file: BTreeMap<&str, Vec<&ZeekRow>> = BTreeMap::new();
    for row in &rows {
        by_file.entry(row.file.as_str()).or_default().push(row);
    }
    // (file, uid, field) → (Zeek's value, synack's value)
    let mut differences: BTreeMap<(String, String, &str), (String, String)> = BTreeMap::new();
    let mut matched = BTreeMap::<&str, (usize, usize)>::new();
    let mut splits = BTreeMap::<String, usize>::new();
    for (file, zrows) in &by_file {
        let path = &paths[*file];
        let finished = Pipeline::new(Options {
            verify_checksums: !zrows[0].ignore_checksums,
            ..Options::default()
        })
        .threads(1)
        .run_files(std::slice::from_ref(path), &mut NoEvents);
        let list = &finished.report.connections;
        // synack's Zeek rows by endpoint pair, in id order.
        let mut ours: BTreeMap<(String, String), Vec<OurRow>> = BTreeMap::new();
        for i in 0..list.len() {
            let r = list.record(i);
            let (o, s, v) = synack_row(&r);
            ours.entry(pair(&o, &s))
                .or_default()
                .push((r.zeek.earlier_rows, o, s, v));
        }
        let mut theirs: BTreeMap<(String, String), Vec<&ZeekRow>> = BTreeMap::new();
        for z in zrows {
            theirs.entry(pair(&z.orig, &z.resp)).or_default().push(z);
        }
        for (key, zs) in theirs {
            let mut ours_here = ours.remove(&key).unwrap_or_default().into_iter();
            let mut pending = None;
            for z in zs {
                let mine = match pending.take() {
                    Some(m) => Some(m),
                    None => ours_here.next(),
                };
                // A record that says Zeek logged rows before it stands for a later row.
                let mut split = false;
                let mine = match mine {
                    Some((earlier, o, s, v)) if earlier > 0 => {
                        pending = Some((earlier - 1, o, s, v));
                        split = true;
                        None
                    }
                    other => other,
                };
                for field in FIELDS {
                    let theirs_v = &z.values[field];
                    let ours_v = match &mine {
                        None if split => "an earlier row".to_string(),
                        None => "missing".to_string(),
                        Some((_, o, s, v)) => {
                            if field == "orientation" && (o != &z.orig || s != &z.resp) {
                                "flipped".to_string()
                            } else {
                                v[field].clone()
                            }
                        }
                    };
                    let tally = matched.entry(field).or_default();
                    if split {
                        if field == "row" {
                            *splits.entry(file.to_string()).or_default() += 1;
                        }
                        tally.1 += 1;
                    } else if &ours_v == theirs_v {
                        tally.0 += 1;
                    } else {
                        tally.1 += 1;
                        differences.insert(
                            (file.to_string(), z.uid.clone(), field),
                            (theirs_v.clone(), ours_v),
                        );
                    }
                }
            }
        }
    }
    let split_total: usize = splits.values().sum();
    let mut summary = String::new();
    for field in FIELDS {
        let (ok, bad) = matched.get(field).copied().unwrap_or_default();
        let _ = writeln!(
            summary,
            "{field:>14}: {ok} match, {} differ",
            bad - split_total
        );
    }
    eprintln!(
        "Zeek rows compared: {} primary rows, {split_total} of them earlier rows of a \
         connection Zeek split (SPLITS); of the others:\n{summary}",
        rows.len()
    );
    let expected: BTreeMap<String, usize> =
        SPLITS.iter().map(|(f, n)| (f.to_string(), *n)).collect();
    assert_eq!(
        splits, expected,
        "earlier rows of split connections, by trace"
    );
    let excused = |file: &str, uid: &str, field: &str| {
        EXCEPTIONS
            .iter()
            .any(|(f, u, fl, _)| *f == file && *u == uid && (*fl == "*" || *fl == field))
    };
    let mut unexplained = String::new();
    let mut last_row = None;
    for ((file, uid, field), (theirs, ours)) in &differences {
        if excused(file, uid, field) {
            continue;
        }
        if last_row != Some((file, uid)) {
            let _ = write!(unexplained, "\n{file} {uid}:");
            last_row = Some((file, uid));
        }
        let _ = write!(unexplained, " {field} Zeek {theirs} synack {ours};");
    }
    let mut stale = String::new();
    for (file, uid, field, reason) in EXCEPTIONS {
        let still = differences
            .keys()
            .any(|(f, u, fl)| f == file && u == uid && (*field == "*" || fl == field));
        if !still {
            let _ = writeln!(stale, "{file} {uid} {field} ({reason}) now matches");
        }
    }
    assert!(
        unexplained.is_empty() && stale.is_empty(),
        "differences not in EXCEPTIONS:\n{unexplained}\nexceptions that no longer hold:\n{stale}"
    );
}
