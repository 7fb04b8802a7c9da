//! The record formats (`report --format zeek`, `zeek-json`, `parquet`; docs/records.md):
//! every fixture and corpus capture through each, one row per connection of the JSON
//! report, the same values in all three, the Parquet schema pinned, and synack's own
//! summary recomputed from the records (by this test from each format, by DuckDB's SQL
//! over the Parquet, by a zeek-cut-style reader of the log) equal to the report's.

mod common;
use common::{captures, require_shared, synack, EVIDENCE_FIGURES};

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::Array;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value as Json;

/// One field as every format can give it back.
#[derive(Clone, Debug, PartialEq)]
enum Cell {
    Null,
    Num(f64),
    Text(String),
    Bool(bool),
}

impl Cell {
    fn num(&self) -> f64 {
        match self {
            Cell::Num(n) => *n,
            Cell::Null => 0.0,
            other => panic!("not a number: {other:?}"),
        }
    }
    fn text(&self) -> &str {
        match self {
            Cell::Text(s) => s,
            Cell::Null => "",
            other => panic!("not text: {other:?}"),
        }
    }
    fn truth(&self) -> bool {
        match self {
            Cell::Bool(b) => *b,
            other => panic!("not a bool: {other:?}"),
        }
    }
    /// Equal as written: numbers to the microsecond (the text formats' precision).
    fn same(&self, other: &Cell) -> bool {
        match (self, other) {
            (Cell::Num(a), Cell::Num(b)) => (a - b).abs() <= 1e-6 * a.abs().max(1.0),
            (a, b) => a == b,
        }
    }
}

/// A record: Zeek's dotted column name → value.
type Rec = BTreeMap<String, Cell>;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("synack-records-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir.join(name)
}

// ---------------------------------------------------------------------------------------
// Reading each format back
// ---------------------------------------------------------------------------------------

/// The Zeek TSV log as zeek-cut reads it: the `#fields` line names the columns, `#`
/// lines are skipped, `-` is unset. Also checks the header Zeek readers rely on.
fn read_tsv(text: &str) -> (Vec<String>, Vec<Rec>) {
    let mut lines = text.lines();
    let head: Vec<&str> = lines.by_ref().take(8).collect();
    assert_eq!(head[0], "#separator \\x09", "{text}");
    assert_eq!(head[1], "#set_separator\t,");
    assert_eq!(head[2], "#empty_field\t(empty)");
    assert_eq!(head[3], "#unset_field\t-");
    assert_eq!(head[4], "#path\tconn");
    assert!(
        head[5].starts_with("#open\t") && head[5].len() == 25,
        "{}",
        head[5]
    );
    let fields: Vec<String> = head[6]
        .strip_prefix("#fields\t")
        .expect("#fields")
        .split('\t')
        .map(String::from)
        .collect();
    let types: Vec<&str> = head[7]
        .strip_prefix("#types\t")
        .expect("#types")
        .split('\t')
        .collect();
    assert_eq!(fields.len(), types.len());
    assert!(text.ends_with('\n'));
    let last = text.trim_end().lines().last().unwrap_or("");
    assert!(last.starts_with("#close\t") && last.len() == 26, "{last}");
    let mut rows = Vec::new();
    for line in lines.filter(|l| !l.starts_with('#')) {
        let values: Vec<&str> = line.split('\t').collect();
        assert_eq!(values.len(), fields.len(), "{line}");
        let rec = fields
            .iter()
            .zip(&types)
            .zip(values)
            .map(|((f, t), v)| {
                let cell = match (*t, v) {
                    (_, "-") => Cell::Null,
                    ("bool", "T") => Cell::Bool(true),
                    ("bool", "F") => Cell::Bool(false),
                    ("time" | "interval" | "count" | "port", v) => {
                        Cell::Num(v.parse().unwrap_or_else(|_| panic!("{f}: {v}")))
                    }
                    (_, v) => Cell::Text(v.to_string()),
                };
                (f.clone(), cell)
            })
            .collect();
        rows.push(rec);
    }
    (fields, rows)
}

/// Zeek's JSON log: one object per line, unset fields absent.
fn read_json_lines(text: &str, fields: &[String]) -> Vec<Rec> {
    text.lines()
        .map(|line| {
            let obj: serde_json::Map<String, Json> =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            for k in obj.keys() {
                assert!(fields.contains(k), "unknown key {k}");
            }
            // Keys in the log's column order (the parsed map sorts them: look at the text).
            let at: Vec<usize> = fields
                .iter()
                .filter(|f| obj.contains_key(*f))
                .map(|f| line.find(&format!("\"{f}\":")).expect("key in the line"))
                .collect();
            assert!(at.windows(2).all(|w| w[0] < w[1]), "key order: {line}");
            fields
                .iter()
                .map(|f| {
                    let cell = match obj.get(f) {
                        None => Cell::Null,
                        Some(Json::Bool(b)) => Cell::Bool(*b),
                        Some(Json::Number(n)) => Cell::Num(n.as_f64().expect("number")),
                        Some(Json::String(s)) => Cell::Text(s.clone()),
                        // A set (`tunnel_parents`): its names as the TSV log joins them.
                        Some(Json::Array(names)) => Cell::Text(
                            names
                                .iter()
                                .map(|n| n.as_str().expect("a set of strings"))
                                .collect::<Vec<_>>()
                                .join(","),
                        ),
                        Some(other) => panic!("{f}: {other}"),
                    };
                    (f.clone(), cell)
                })
                .collect()
        })
        .collect()
}

/// The Parquet file through the crate's own reader; names back to Zeek's dots by the
/// schema's order, which is the log's.
fn read_parquet(path: &Path, fields: &[String]) -> Vec<Rec> {
    let file = File::open(path).expect("parquet file");
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("parquet metadata")
        .build()
        .expect("parquet reader");
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.expect("record batch");
        assert_eq!(batch.num_columns(), fields.len());
        for i in 0..batch.num_rows() {
            let mut rec = Rec::new();
            for (c, f) in fields.iter().enumerate() {
                assert_eq!(batch.schema().field(c).name(), &f.replace('.', "_"));
                let col = batch.column(c);
                let cell = if col.is_null(i) {
                    Cell::Null
                } else if let Some(a) = col.as_string_opt::<i32>() {
                    Cell::Text(a.value(i).to_string())
                } else if let Some(a) = col.as_primitive_opt::<Int64Type>() {
                    Cell::Num(a.value(i) as f64)
                } else if let Some(a) = col.as_primitive_opt::<Int32Type>() {
                    Cell::Num(f64::from(a.value(i)))
                } else if let Some(a) = col.as_primitive_opt::<Float64Type>() {
                    Cell::Num(a.value(i))
                } else if let Some(a) = col.as_primitive_opt::<TimestampMicrosecondType>() {
                    Cell::Num(a.value(i) as f64 / 1e6)
                } else if let Some(a) = col.as_boolean_opt() {
                    Cell::Bool(a.value(i))
                } else if let Some(a) = col.as_list_opt::<i32>() {
                    // A set (`tunnel_parents`): its names as the TSV log joins them.
                    let names = a.value(i);
                    let names = names.as_string::<i32>();
                    Cell::Text(names.iter().flatten().collect::<Vec<_>>().join(","))
                } else {
                    panic!("{f}: unexpected type {}", col.data_type())
                };
                rec.insert(f.clone(), cell);
            }
            rows.push(rec);
        }
    }
    rows
}

// ---------------------------------------------------------------------------------------
// synack's summary from records
// ---------------------------------------------------------------------------------------

/// The parts of `summary` a record carries: connections, closes by kind, RST by side,
/// TIME_WAIT and keep-alive, in the JSON report's shape.
fn summary_of(rows: &[Rec]) -> Json {
    let mut closes: BTreeMap<String, u64> = [
        "fin",
        "reset",
        "refused",
        "unanswered",
        "handshake_incomplete",
        "half_closed",
        "open",
        "midstream",
        "abnormal",
    ]
    .iter()
    .map(|k| (k.to_string(), 0))
    .collect();
    let (mut rst_c, mut rst_s, mut rst_syn) = (0.0, 0.0, 0.0);
    let (mut tw_c, mut tw_s, mut tw_both, mut tw_reused) = (0, 0, 0, 0);
    let (mut probes, mut acks, mut unanswered, mut ka_conns) = (0.0, 0.0, 0.0, 0);
    let mut evidence: BTreeMap<&str, f64> = EVIDENCE_FIGURES.iter().map(|k| (*k, 0.0)).collect();
    for r in rows {
        for (figure, sum) in &mut evidence {
            *sum += r[&format!("synack.orig_{figure}")].num()
                + r[&format!("synack.resp_{figure}")].num();
        }
        *closes
            .get_mut(r["synack.close"].text())
            .expect("close kind") += 1;
        closes
            .entry("midstream".into())
            .and_modify(|n| *n += u64::from(r["synack.midstream"].truth()));
        closes
            .entry("abnormal".into())
            .and_modify(|n| *n += u64::from(r["synack.abnormal"].truth()));
        let orig_is_client = r["synack.orig_is_client"].truth();
        let (orig_rst, resp_rst) = (r["synack.orig_rst"].num(), r["synack.resp_rst"].num());
        let (c, s) = if orig_is_client {
            (orig_rst, resp_rst)
        } else {
            (resp_rst, orig_rst)
        };
        rst_c += c;
        rst_s += s;
        rst_syn += r["synack.rst_answering_syn"].num();
        let tw = r["synack.time_wait"].text();
        let (tw_orig, tw_resp) = (matches!(tw, "orig" | "both"), matches!(tw, "resp" | "both"));
        let (c, s) = if orig_is_client {
            (tw_orig, tw_resp)
        } else {
            (tw_resp, tw_orig)
        };
        tw_c += u64::from(c);
        tw_s += u64::from(s);
        tw_both += u64::from(tw == "both" && r["synack.closed_by"].text() == "both");
        tw_reused += u64::from(r["synack.time_wait_reused"].truth());
        let p = r["synack.keepalive_probes"].num();
        probes += p;
        acks += r["synack.keepalive_acks"].num();
        unanswered += r["synack.keepalive_unanswered"].num();
        ka_conns += u64::from(p > 0.0);
    }
    serde_json::json!({
        "connections": rows.len(),
        "closes": closes,
        "rst": {"packets": rst_c + rst_s, "from_client": rst_c, "from_server": rst_s, "answering_syn": rst_syn},
        "time_wait": {"client": tw_c, "server": tw_s, "simultaneous": tw_both, "reused": tw_reused},
        "keepalive": {"probes": probes, "acks": acks, "unanswered": unanswered, "connections": ka_conns},
        "evidence": evidence,
    })
}

/// The same parts of the JSON report's summary, numbers as f64 where `summary_of` sums.
fn report_summary(report: &Json) -> Json {
    let s = &report["summary"];
    let f = |v: &Json| v.as_f64().expect("number");
    serde_json::json!({
        "connections": s["connections"],
        "closes": s["closes"],
        "rst": {
            "packets": f(&s["rst"]["packets"]),
            "from_client": f(&s["rst"]["from_client"]),
            "from_server": f(&s["rst"]["from_server"]),
            "answering_syn": f(&s["rst"]["answering_syn"]),
        },
        "time_wait": s["time_wait"],
        "keepalive": {
            "probes": f(&s["keepalive"]["probes"]),
            "acks": f(&s["keepalive"]["acks"]),
            "unanswered": f(&s["keepalive"]["unanswered"]),
            "connections": s["keepalive"]["connections"],
        },
        "evidence": EVIDENCE_FIGURES.iter().map(|k| (*k, f(&s[k]))).collect::<BTreeMap<_, _>>(),
    })
}

// ---------------------------------------------------------------------------------------
// One capture through every format
// ---------------------------------------------------------------------------------------

struct Formats {
    report: Json,
    fields: Vec<String>,
    tsv: Vec<Rec>,
    json: Vec<Rec>,
    parquet: Vec<Rec>,
}

fn assert_no_panic(file: &Path, what: &str, out: &common::Out) {
    let err = out.stderr_lossy();
    assert!(
        !err.contains("panicked"),
        "{} {what}: {err}",
        file.display()
    );
}

/// Runs every format on `file`; `None` when no input could be read (then every record
/// format prints nothing and exits 2).
fn all_formats(file: &Path, extra: &[&str]) -> Option<Formats> {
    let json = synack()
        .args(["report", "--format", "json"])
        .args(extra)
        .arg(file)
        .output();
    assert_no_panic(file, "json", &json);
    let report = json.json();
    let conns = report["connections"].as_array().expect("connections").len();
    let tsv = synack()
        .args(["report", "--format", "zeek"])
        .args(extra)
        .arg(file)
        .output();
    assert_no_panic(file, "zeek", &tsv);
    assert_eq!(tsv.status.code(), json.status.code(), "{}", file.display());
    if tsv.stdout.is_empty() {
        assert_eq!(tsv.status.code(), Some(2), "{}", file.display());
        assert_eq!(conns, 0);
        return None;
    }
    let (fields, tsv_rows) = read_tsv(&tsv.stdout());
    let zj = synack()
        .args(["report", "--format", "zeek-json"])
        .args(extra)
        .arg(file)
        .output();
    assert_no_panic(file, "zeek-json", &zj);
    assert_eq!(zj.status.code(), json.status.code());
    let pq_path = scratch(&format!(
        "{}.parquet",
        file.file_name().unwrap().to_string_lossy()
    ));
    let pq = synack()
        .args(["report", "--format", "parquet", "-o"])
        .arg(&pq_path)
        .args(extra)
        .arg(file)
        .output();
    assert_no_panic(file, "parquet", &pq);
    assert_eq!(pq.status.code(), json.status.code());
    assert!(pq.stdout.is_empty());
    let formats = Formats {
        json: read_json_lines(&zj.stdout(), &fields),
        parquet: read_parquet(&pq_path, &fields),
        tsv: tsv_rows,
        fields,
        report,
    };
    let _ = std::fs::remove_file(&pq_path);
    for (name, rows) in [
        ("zeek", &formats.tsv),
        ("zeek-json", &formats.json),
        ("parquet", &formats.parquet),
    ] {
        assert_eq!(rows.len(), conns, "{} {name}: rows", file.display());
    }
    Some(formats)
}

/// The three formats hold the same values, and each row is the JSON report's connection.
fn assert_consistent(file: &Path, f: &Formats) {
    let conns = f.report["connections"].as_array().expect("connections");
    for (i, conn) in conns.iter().enumerate() {
        let (t, j, p) = (&f.tsv[i], &f.json[i], &f.parquet[i]);
        for name in &f.fields {
            let tv = &t[name];
            // TSV escapes text from packets; where it did, JSON and Parquet keep the text.
            let escaped = matches!(tv, Cell::Text(s) if s.contains("\\x"));
            if !escaped {
                assert!(
                    tv.same(&j[name]),
                    "{} row {i} {name}: tsv {tv:?} json {:?}",
                    file.display(),
                    j[name]
                );
            }
            assert!(
                j[name].same(&p[name]),
                "{} row {i} {name}: json {:?} parquet {:?}",
                file.display(),
                j[name],
                p[name]
            );
        }
        assert_eq!(t["synack.id"].num(), conn["id"].as_f64().unwrap());
        let (orig, resp) = (
            conn_addr(&t["id.orig_h"], &t["id.orig_p"]),
            conn_addr(&t["id.resp_h"], &t["id.resp_p"]),
        );
        let (client, server) = (
            conn["client"].as_str().unwrap(),
            conn["server"].as_str().unwrap(),
        );
        if t["synack.orig_is_client"].truth() {
            assert_eq!((orig.as_str(), resp.as_str()), (client, server));
        } else {
            assert_eq!((orig.as_str(), resp.as_str()), (server, client));
        }
        assert_eq!(t["synack.close"].text(), conn["close"].as_str().unwrap());
        assert_eq!(
            t["synack.app"].text(),
            conn["app"]["protocol"].as_str().unwrap()
        );
        assert_eq!(t["proto"].text(), "tcp");
        let cid = t["community_id"].text();
        assert!(cid.starts_with("1:") && cid.len() == 30, "{cid}");
        // Zeek leaves duration and payload bytes unset when the duration is 0.
        let lasted = t["duration"] != Cell::Null;
        assert_eq!(t["orig_bytes"] != Cell::Null, lasted);
        assert_eq!(t["resp_bytes"] != Cell::Null, lasted);
    }
    // uids are unique within a capture.
    let mut uids: Vec<&str> = f.tsv.iter().map(|r| r["uid"].text()).collect();
    uids.sort();
    uids.dedup();
    assert_eq!(uids.len(), f.tsv.len(), "{}", file.display());
}

fn conn_addr(h: &Cell, p: &Cell) -> String {
    let h = h.text();
    let p = p.num() as u16;
    if h.contains(':') {
        format!("[{h}]:{p}")
    } else {
        format!("{h}:{p}")
    }
}

#[test]
fn every_fixture_through_every_record_format() {
    let files = captures(&common::root().join("fixtures"));
    assert!(files.len() > 50);
    let mut with_rows = 0;
    for file in &files {
        let Some(f) = all_formats(file, &[]) else {
            continue;
        };
        assert_consistent(file, &f);
        let want = report_summary(&f.report);
        for (name, rows) in [
            ("zeek", &f.tsv),
            ("zeek-json", &f.json),
            ("parquet", &f.parquet),
        ] {
            assert_eq!(summary_of(rows), want, "{} {name}", file.display());
        }
        with_rows += usize::from(!f.tsv.is_empty());
    }
    assert!(with_rows > 40, "{with_rows} fixtures had connections");
}

#[test]
fn several_files_and_local_nets() {
    let files = [
        "fixtures/formats/rotated-1.pcap",
        "fixtures/formats/rotated-2.pcap",
    ];
    let json = synack()
        .args(["report", "--format", "json"])
        .args(files)
        .output();
    json.success();
    let tsv = synack()
        .args(["report", "--format", "zeek", "--local-nets", "10.0.0.0/8"])
        .args(files)
        .output();
    tsv.success();
    let (_, rows) = read_tsv(&tsv.stdout());
    assert_eq!(
        rows.len(),
        json.json()["connections"].as_array().unwrap().len()
    );
    assert!(!rows.is_empty());
    for r in &rows {
        let local = |h: &Cell| h.text().starts_with("10.");
        assert_eq!(r["local_orig"], Cell::Bool(local(&r["id.orig_h"])));
        assert_eq!(r["local_resp"], Cell::Bool(local(&r["id.resp_h"])));
    }
    // Without --local-nets both are unset, as Zeek leaves them without Site::local_nets.
    let plain = synack()
        .args(["report", "--format", "zeek"])
        .args(files)
        .output();
    let (_, rows) = read_tsv(&plain.stdout());
    assert!(rows
        .iter()
        .all(|r| r["local_orig"] == Cell::Null && r["local_resp"] == Cell::Null));
}

#[test]
fn uid_and_community_id_are_stable() {
    let file = "fixtures/sample.pcap";
    let run = |args: &[&str]| {
        let out = synack()
            .args(["report", "--format", "zeek"])
            .args(args)
            .arg(file)
            .output();
        out.success();
        read_tsv(&out.stdout()).1
    };
    let one = run(&["--threads", "1"]);
    assert_eq!(one, run(&["--threads", "2"]));
    // A filter changes which connections are listed (and their synack.id), not a uid.
    let filtered = run(&["-f", "tcp port 80"]);
    assert!(!filtered.is_empty() && filtered.len() < one.len());
    for r in &filtered {
        let same = one
            .iter()
            .find(|o| o["uid"] == r["uid"])
            .expect("uid kept under a filter");
        assert_eq!(same["community_id"], r["community_id"]);
        assert_eq!(same["id.orig_h"], r["id.orig_h"]);
    }
}

#[test]
fn usage_errors() {
    let out = synack()
        .args([
            "report",
            "--format",
            "zeek",
            "--top",
            "3",
            "fixtures/sample.pcap",
        ])
        .output();
    out.code(2)
        .stderr_contains("record formats write every connection");
    let out = synack()
        .args([
            "report",
            "--local-nets",
            "10.0.0.0/33",
            "fixtures/sample.pcap",
        ])
        .output();
    out.code(2).stderr_contains("prefix length");
    let out = synack()
        .args([
            "report",
            "--format",
            "zeek",
            "-o",
            "/nonexistent-dir/x.log",
            "fixtures/sample.pcap",
        ])
        .output();
    out.code(2).stderr_contains("cannot write");
    // Nothing could be read: the errors alone, no file left behind.
    let path = scratch("nothing.parquet");
    let out = synack()
        .args(["report", "--format", "parquet", "-o"])
        .arg(&path)
        .arg("fixtures/bad/not-a-capture.txt")
        .output();
    out.code(2);
    assert!(!path.exists());
}

#[test]
fn output_file_holds_what_stdout_would() {
    let path = scratch("sample.log");
    synack()
        .args(["report", "--format", "zeek-json", "-o"])
        .arg(&path)
        .arg("fixtures/sample.pcap")
        .output()
        .success();
    let stdout = synack()
        .args(["report", "--format", "zeek-json", "fixtures/sample.pcap"])
        .output();
    assert_eq!(std::fs::read(&path).unwrap(), stdout.stdout);
    let _ = std::fs::remove_file(&path);
}

/// The Parquet schema is part of the interface (docs/records.md): a change must be
/// deliberate, here and in the docs.
#[test]
fn parquet_schema_is_pinned() {
    let path = scratch("schema.parquet");
    synack()
        .args(["report", "--format", "parquet", "-o"])
        .arg(&path)
        .arg("fixtures/sample.pcap")
        .output()
        .success();
    let file = File::open(&path).unwrap();
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let got: Vec<String> = builder
        .schema()
        .fields()
        .iter()
        .map(|f| {
            format!(
                "{} {}{}",
                f.name(),
                f.data_type(),
                if f.is_nullable() { "" } else { " not null" }
            )
        })
        .collect();
    let meta = builder.metadata();
    let codec = meta.row_group(0).column(0).compression();
    assert!(format!("{codec:?}").starts_with("ZSTD"), "{codec:?}");
    assert_eq!(meta.file_metadata().num_rows(), 8);
    let _ = std::fs::remove_file(&path);
    let want = PINNED_SCHEMA
        .trim()
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>();
    assert_eq!(got, want, "\ngot:\n{}", got.join("\n"));
}

/// docs/records.md lists every column, in the log's order, with its Zeek type.
#[test]
fn docs_list_every_column_with_its_type() {
    let out = synack()
        .args(["report", "--format", "zeek", "fixtures/sample.pcap"])
        .output();
    out.success();
    let text = out.stdout();
    let header = |prefix: &str| -> Vec<String> {
        let line = text.lines().find(|l| l.starts_with(prefix)).expect(prefix);
        line.split('\t').skip(1).map(String::from).collect()
    };
    let log: Vec<(String, String)> = header("#fields\t")
        .into_iter()
        .zip(header("#types\t"))
        .collect();
    let docs = std::fs::read_to_string(common::root().join("docs/records.md")).unwrap();
    let table = &docs[docs.find("## Columns").unwrap()..docs.find("## Reading them").unwrap()];
    let documented: Vec<(String, String)> = table
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.split(" | ").collect();
            (
                cells[0].trim_end_matches('`').to_string(),
                cells[1].to_string(),
            )
        })
        .collect();
    assert_eq!(documented, log);
}

const PINNED_SCHEMA: &str = r#"
ts Timestamp(µs, "UTC") not null
uid Utf8 not null
id_orig_h Utf8 not null
id_orig_p Int32 not null
id_resp_h Utf8 not null
id_resp_p Int32 not null
proto Utf8 not null
service Utf8
duration Float64
orig_bytes Int64
resp_bytes Int64
conn_state Utf8 not null
local_orig Boolean
local_resp Boolean
missed_bytes Int64 not null
history Utf8
orig_pkts Int64 not null
orig_ip_bytes Int64 not null
resp_pkts Int64 not null
resp_ip_bytes Int64 not null
tunnel_parents List(Utf8)
ip_proto Int64 not null
community_id Utf8 not null
synack_id Int64 not null
synack_orig_is_client Boolean not null
synack_midstream Boolean not null
synack_handshake_attempted Boolean not null
synack_rtt Float64
synack_connect Float64
synack_syn_to_synack Float64
synack_synack_to_ack Float64
synack_syn_retransmits Int64 not null
synack_synack_retransmits Int64 not null
synack_close Utf8 not null
synack_abnormal Boolean not null
synack_closed_by Utf8
synack_reset_by Utf8
synack_reset_state Utf8
synack_time_wait Utf8
synack_time_wait_reused Boolean not null
synack_orig_fin Int64 not null
synack_resp_fin Int64 not null
synack_orig_rst Int64 not null
synack_resp_rst Int64 not null
synack_rst_answering_syn Int64 not null
synack_keepalive_probes Int64 not null
synack_keepalive_acks Int64 not null
synack_keepalive_unanswered Int64 not null
synack_keepalive_idle Float64
synack_keepalive_interval Float64
synack_zero_window_probes Int64 not null
synack_orig_retransmissions Int64 not null
synack_resp_retransmissions Int64 not null
synack_orig_out_of_order Int64 not null
synack_resp_out_of_order Int64 not null
synack_orig_retransmissions_fast Int64 not null
synack_resp_retransmissions_fast Int64 not null
synack_orig_retransmissions_timeout Int64 not null
synack_resp_retransmissions_timeout Int64 not null
synack_orig_retransmissions_tail_loss_probe Int64 not null
synack_resp_retransmissions_tail_loss_probe Int64 not null
synack_orig_retransmissions_unclassified Int64 not null
synack_resp_retransmissions_unclassified Int64 not null
synack_orig_spurious_retransmissions Int64 not null
synack_resp_spurious_retransmissions Int64 not null
synack_orig_network_duplicates Int64 not null
synack_resp_network_duplicates Int64 not null
synack_orig_lost_before_capture Int64 not null
synack_resp_lost_before_capture Int64 not null
synack_orig_lost_after_capture Int64 not null
synack_resp_lost_after_capture Int64 not null
synack_orig_tshark_retransmissions Int64 not null
synack_resp_tshark_retransmissions Int64 not null
synack_orig_tshark_out_of_order Int64 not null
synack_resp_tshark_out_of_order Int64 not null
synack_orig_ordering_evidence Utf8 not null
synack_resp_ordering_evidence Utf8 not null
synack_rtt_orig_side_samples Int64 not null
synack_rtt_resp_side_samples Int64 not null
synack_rtt_orig_side_min Float64
synack_rtt_resp_side_min Float64
synack_rtt_orig_side_median Float64
synack_rtt_resp_side_median Float64
synack_rtt_orig_side_p99 Float64
synack_rtt_resp_side_p99 Float64
synack_rtt_orig_side_max Float64
synack_rtt_resp_side_max Float64
synack_rtt_orig_side_source Utf8
synack_rtt_resp_side_source Utf8
synack_orig_state Utf8 not null
synack_resp_state Utf8 not null
synack_app Utf8 not null
synack_http_requests Int64
synack_http_version Utf8
synack_tls_sni Utf8
"#;

/// A zeek-cut-style reader (awk over the `#fields` line, as zeek-cut itself works) picks
/// columns by name; zeek-cut itself too when it is installed.
#[test]
fn zeek_cut_reads_the_log() {
    let out = synack()
        .args(["report", "--format", "zeek", "fixtures/sample.pcap"])
        .output();
    out.success();
    let log = scratch("conn.log");
    std::fs::write(&log, &out.stdout).unwrap();
    let awk = r#"/^#fields/ { for (i = 2; i <= NF; i++) col[$i] = i - 1; next }
/^#/ { next }
{ print $col["id.orig_h"] "\t" $col["conn_state"] "\t" $col["synack.close"] }"#;
    let cut = Command::new("awk")
        .args(["-F", "\t", awk])
        .arg(&log)
        .output()
        .expect("awk");
    assert!(cut.status.success());
    let text = String::from_utf8(cut.stdout).unwrap();
    let (_, rows) = read_tsv(&out.stdout());
    let want: String = rows
        .iter()
        .map(|r| {
            format!(
                "{}\t{}\t{}\n",
                r["id.orig_h"].text(),
                r["conn_state"].text(),
                r["synack.close"].text()
            )
        })
        .collect();
    assert_eq!(text, want);
    assert_eq!(text.lines().count(), 8);
    if let Ok(z) = Command::new("zeek-cut")
        .args(["id.orig_h", "conn_state", "synack.close"])
        .stdin(File::open(&log).unwrap())
        .output()
    {
        assert_eq!(String::from_utf8(z.stdout).unwrap(), want, "zeek-cut");
    } else {
        eprintln!(
            "zeek_cut_reads_the_log: zeek-cut not installed; the awk reader alone was checked"
        );
    }
    let _ = std::fs::remove_file(&log);
}

/// Whether a Python module is importable; under CI=true a missing one fails the test
/// (`.ci/run` installs it), elsewhere the test is skipped with a message.
fn python_has(module: &str, test: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{test}: CI=true but python3 cannot import {module} (.ci/run installs it)");
        }
        eprintln!("skipping {test}: python3 cannot import {module} (pip install {module})");
    }
    ok
}

/// synack's summary from SQL over the Parquet file, by DuckDB, against the JSON report's.
const DUCKDB_SUMMARY: &str = r#"
import duckdb, json, sys
q = """
select count(*) as connections,
  count(*) filter (where synack_close = 'fin') as fin,
  count(*) filter (where synack_close = 'reset') as reset,
  count(*) filter (where synack_close = 'refused') as refused,
  count(*) filter (where synack_close = 'unanswered') as unanswered,
  count(*) filter (where synack_close = 'handshake_incomplete') as handshake_incomplete,
  count(*) filter (where synack_close = 'half_closed') as half_closed,
  count(*) filter (where synack_close = 'open') as open,
  count(*) filter (where synack_midstream) as midstream,
  count(*) filter (where synack_abnormal) as abnormal,
  coalesce(sum(synack_orig_rst + synack_resp_rst), 0) as rst_packets,
  coalesce(sum(if(synack_orig_is_client, synack_orig_rst, synack_resp_rst)), 0) as rst_from_client,
  coalesce(sum(if(synack_orig_is_client, synack_resp_rst, synack_orig_rst)), 0) as rst_from_server,
  coalesce(sum(synack_rst_answering_syn), 0) as rst_answering_syn,
  count(*) filter (where synack_time_wait = 'both'
      or synack_time_wait = if(synack_orig_is_client, 'orig', 'resp')) as tw_client,
  count(*) filter (where synack_time_wait = 'both'
      or synack_time_wait = if(synack_orig_is_client, 'resp', 'orig')) as tw_server,
  count(*) filter (where synack_time_wait = 'both' and synack_closed_by = 'both') as tw_simultaneous,
  count(*) filter (where synack_time_wait_reused) as tw_reused,
  coalesce(sum(synack_keepalive_probes), 0) as ka_probes,
  coalesce(sum(synack_keepalive_acks), 0) as ka_acks,
  coalesce(sum(synack_keepalive_unanswered), 0) as ka_unanswered,
  count(*) filter (where synack_keepalive_probes > 0) as ka_connections,
  {evidence}
from read_parquet(?)
"""
evidence = sys.argv[1].split(",")
q = q.replace("{evidence}", ",\n  ".join(
    f"coalesce(sum(synack_orig_{k} + synack_resp_{k}), 0) as {k}" for k in evidence))
con = duckdb.connect()
for path in sys.argv[2:]:
    cur = con.execute(q, [path])
    names = [d[0] for d in cur.description]
    print(json.dumps(dict(zip(names, [int(v) for v in cur.fetchone()]))))
"#;

/// DuckDB's summary of each Parquet file, in one Python run (each start costs a second).
fn duckdb_summaries(parquet: &[PathBuf]) -> Vec<Json> {
    let out = Command::new("python3")
        .args(["-c", DUCKDB_SUMMARY, &EVIDENCE_FIGURES.join(",")])
        .args(parquet)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    let summaries: Vec<Json> = text
        .lines()
        .map(|l| duckdb_shape(serde_json::from_str(l).expect("duckdb's JSON")))
        .collect();
    assert_eq!(summaries.len(), parquet.len());
    summaries
}

/// DuckDB's flat row in the shape of the JSON report's summary.
fn duckdb_shape(r: Json) -> Json {
    let n = |k: &str| r[k].as_f64().unwrap_or_else(|| panic!("{k}: {r}"));
    let u = |k: &str| r[k].as_u64().unwrap_or_else(|| panic!("{k}: {r}"));
    serde_json::json!({
        "connections": u("connections"),
        "closes": {
            "fin": u("fin"), "reset": u("reset"), "refused": u("refused"),
            "unanswered": u("unanswered"), "handshake_incomplete": u("handshake_incomplete"),
            "half_closed": u("half_closed"), "open": u("open"), "midstream": u("midstream"),
            "abnormal": u("abnormal"),
        },
        "rst": {"packets": n("rst_packets"), "from_client": n("rst_from_client"), "from_server": n("rst_from_server"), "answering_syn": n("rst_answering_syn")},
        "time_wait": {"client": u("tw_client"), "server": u("tw_server"), "simultaneous": u("tw_simultaneous"), "reused": u("tw_reused")},
        "keepalive": {"probes": n("ka_probes"), "acks": n("ka_acks"), "unanswered": n("ka_unanswered"), "connections": u("ka_connections")},
        "evidence": EVIDENCE_FIGURES.iter().map(|k| (*k, n(k))).collect::<BTreeMap<_, _>>(),
    })
}

#[test]
fn duckdb_computes_the_summary_from_the_parquet() {
    if !python_has("duckdb", "duckdb_computes_the_summary_from_the_parquet") {
        return;
    }
    let mut inputs: Vec<Vec<String>> = captures(&common::root().join("fixtures/tcp"))
        .iter()
        .chain(captures(&common::root().join("fixtures/app")).iter())
        .map(|p| vec![p.display().to_string()])
        .collect();
    inputs.push(vec!["fixtures/sample.pcap".into()]);
    // Issue 20's evidence figures, each at least once.
    inputs.push(
        captures(&common::root().join("fixtures/evidence"))
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
    );
    // Every TCP fixture as one timeline: every close kind and side at once.
    inputs.push(
        captures(&common::root().join("fixtures/tcp"))
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
    );
    let mut wants = Vec::new();
    let mut paths = Vec::new();
    for (i, files) in inputs.iter().enumerate() {
        let json = synack()
            .args(["report", "--format", "json"])
            .args(files)
            .output();
        json.success();
        wants.push(report_summary(&json.json()));
        let path = scratch(&format!("duck-{i}.parquet"));
        synack()
            .args(["report", "--format", "parquet", "-o"])
            .arg(&path)
            .args(files)
            .output()
            .success();
        paths.push(path);
    }
    for ((got, want), files) in duckdb_summaries(&paths).iter().zip(&wants).zip(&inputs) {
        assert_eq!(got, want, "{files:?}");
    }
    for p in &paths {
        let _ = std::fs::remove_file(p);
    }
}

#[test]
fn every_corpus_capture_through_every_record_format() {
    let dir = require_shared!("corpus");
    let files = captures(&dir);
    assert!(files.len() > 100);
    let mut rows = 0;
    for file in &files {
        if let Some(f) = all_formats(file, &[]) {
            assert_consistent(file, &f);
            assert_eq!(
                summary_of(&f.parquet),
                report_summary(&f.report),
                "{}",
                file.display()
            );
            rows += f.tsv.len();
        }
    }
    assert!(rows > 200, "{rows} rows");
}
