//! The fast paths must answer exactly as the general ones, on every packet of every
//! fixture and corpus capture: the decoder's hand-written IPv4/IPv6 path as etherparse
//! does (and each packet cut at every length, as a snaplen would), and the trackers' and
//! the Zeek view's header prediction as their general paths; and a 4-tuple tracked alone (a second pass
//! of `synack ladder`) as in a run that tracks every one.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use synack::analysis::analyzer::Options;
use synack::analysis::pipeline::Pipeline;
use synack::capture::file::CaptureReader;
use synack::decode::key::FlowKey;
use synack::decode::{decode, decode_without_fast_path, Decoded};
use synack::flow::FlowTable;
use synack::model::event::{ConnectionView, Event, NoEvents};
use synack::model::time::Timestamp;

fn captures(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            captures(&p, out);
        } else {
            // Whatever opens as a capture (the corpus names them variously).
            out.push(p);
        }
    }
}

#[test]
fn fast_path_decodes_every_packet_as_etherparse_does() {
    let (files, fixtures, corpus) = all_captures(common::test_name!());
    let (mut packets, mut cut_variants, mut tcp) = (0u64, 0u64, 0u64);
    let mut mismatches = Vec::new();
    for path in &files {
        let Ok(mut reader) = CaptureReader::open(path) else {
            continue;
        };
        let _ = reader.for_each_packet(|p| {
            packets += 1;
            let cut = p.orig_len.saturating_sub(p.data.len() as u32);
            let fast = format!("{:?}", decode(p.link_type, p.data, cut));
            let slow = format!("{:?}", decode_without_fast_path(p.link_type, p.data, cut));
            tcp += u64::from(fast.starts_with("Tcp"));
            if fast != slow && mismatches.len() < 5 {
                mismatches.push(format!("{}: {fast} != {slow}", path.display()));
            }
            // The same frame cut short at every length up to the TCP header's end.
            if packets % 50 == 0 {
                for len in 0..p.data.len().min(80) {
                    cut_variants += 1;
                    let extra = (p.data.len() - len) as u32 + cut;
                    let fast = format!("{:?}", decode(p.link_type, &p.data[..len], extra));
                    let slow = format!(
                        "{:?}",
                        decode_without_fast_path(p.link_type, &p.data[..len], extra)
                    );
                    if fast != slow && mismatches.len() < 5 {
                        mismatches
                            .push(format!("{} cut at {len}: {fast} != {slow}", path.display()));
                    }
                }
            }
        });
    }
    assert!(fixtures > 50, "fixtures found: {fixtures}");
    assert!(tcp > least(corpus), "TCP packets decoded: {tcp}");
    assert!(
        mismatches.is_empty(),
        "{packets} packets, {cut_variants} cut variants:\n{}",
        mismatches.join("\n")
    );
    eprintln!("{packets} packets ({tcp} TCP) and {cut_variants} cut variants decoded alike");
}

/// Every fixture and corpus capture (the files that open as captures come later), how
/// many of them are fixtures, and whether the corpus was there (CI=true requires it).
fn all_captures(test: &str) -> (Vec<PathBuf>, usize, bool) {
    let mut files = Vec::new();
    captures(&common::root().join("fixtures"), &mut files);
    let fixtures = files.len();
    let corpus = common::shared("corpus", test);
    match &corpus {
        Some(dir) => captures(dir, &mut files),
        None => eprintln!("{test}: ../shared/corpus not found, on the fixtures only"),
    }
    (files, fixtures, corpus.is_some())
}

/// Fewer TCP segments than this compared means that captures went unread: the fixtures
/// alone hold 735, with the corpus 10,535.
fn least(corpus: bool) -> u64 {
    if corpus {
        10_000
    } else {
        700
    }
}

#[test]
fn header_prediction_tracks_every_connection_as_the_general_path_does() {
    let (files, fixtures, corpus) = all_captures(common::test_name!());
    let mut segments = 0u64;
    let mut differing = Vec::new();
    for path in &files {
        let Ok(mut reader) = CaptureReader::open(path) else {
            continue;
        };
        // Predicting, then not; each with every event it reports (and its connection
        // as it stands then), then every connection at the end.
        let mut runs: Vec<(FlowTable, Vec<String>)> = [true, false]
            .into_iter()
            .map(|predict| {
                let mut table = FlowTable::new(Duration::from_secs(60));
                table.set_header_prediction(predict);
                (table, Vec::new())
            })
            .collect();
        let _ = reader.for_each_packet(|p| {
            let cut = p.orig_len.saturating_sub(p.data.len() as u32);
            let Decoded::Tcp(seg) = decode(p.link_type, p.data, cut) else {
                return;
            };
            segments += 1;
            for (table, seen) in &mut runs {
                let mut note = |c: &ConnectionView, at: Timestamp, e: Event| {
                    seen.push(format!("{at:?} {e:?} {c:?}"))
                };
                table.on_segment(&seg, p.orig_len, p.ts, &mut note);
                // The whole working state after each segment, not only what events show.
                seen.push(format!("{:?}", table.connection_of(&seg)));
            }
        });
        let [seen_p, seen_g]: [Vec<String>; 2] = runs
            .into_iter()
            .map(|(table, mut seen)| {
                let mut end = Vec::new();
                table.finish(|c| end.push(format!("{c:?}")));
                // Each table finishes in its own hash order.
                end.sort_unstable();
                seen.extend(end);
                seen
            })
            .collect::<Vec<_>>()
            .try_into()
            .expect("two runs");
        if seen_p != seen_g && differing.len() < 5 {
            differing.push(path.display().to_string());
        }
    }
    assert!(
        fixtures > 50 && segments > least(corpus),
        "{fixtures} fixtures, {segments} segments"
    );
    assert!(differing.is_empty(), "tracked differently: {differing:?}");
    eprintln!("{segments} segments tracked alike with and without header prediction");
}

/// Each connection's events (with its view as it stands then, less the id) and, at the
/// end, its record (less the id, which counts the connections tracked): in id order, of
/// one run over `path`, tracking every 4-tuple or one.
fn tracked(path: &Path, only: Option<(SocketAddr, SocketAddr)>) -> BTreeMap<u64, Vec<String>> {
    let mut pipeline = Pipeline::new(Options::default());
    if let Some((a, b)) = only {
        pipeline = pipeline.track_only(a, b);
    }
    let mut seen: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    let mut note = |c: &ConnectionView, at: Timestamp, e: Event| {
        let view = ConnectionView { id: 0, ..*c };
        seen.entry(c.id)
            .or_default()
            .push(format!("{at:?} {e:?} {view:?}"));
    };
    let finished = pipeline.run_files(&[path.to_path_buf()], &mut note);
    for mut r in finished.report.connections.records() {
        let id = r.id;
        r.id = 0;
        seen.entry(id).or_default().push(format!("{r:?}"));
    }
    seen
}

#[test]
fn a_4_tuple_tracked_alone_is_tracked_as_in_a_whole_run() {
    let (files, fixtures, corpus) = all_captures(common::test_name!());
    let (mut compared, mut differing) = (0u64, Vec::new());
    for path in &files {
        let whole = tracked(path, None);
        // The 4-tuples (each once, with the connections of each in id order); on a big
        // capture a few of them, spread over it, as each is a run over the file.
        let mut by_key: BTreeMap<FlowKey, (SocketAddr, SocketAddr, Vec<u64>)> = BTreeMap::new();
        let mut keys_in_order = Vec::new();
        let finished =
            Pipeline::new(Options::default()).run_files(std::slice::from_ref(path), &mut NoEvents);
        for r in finished.report.connections.records() {
            let key = FlowKey::between(r.client, r.server);
            by_key
                .entry(key)
                .or_insert_with(|| {
                    keys_in_order.push(key);
                    (r.client, r.server, Vec::new())
                })
                .2
                .push(r.id);
        }
        let step = keys_in_order.len().div_ceil(40).max(1);
        for key in keys_in_order.iter().step_by(step) {
            let (client, server, ids) = &by_key[key];
            let alone: Vec<Vec<String>> = tracked(path, Some((*client, *server)))
                .into_values()
                .collect();
            let expected: Vec<Vec<String>> = ids.iter().map(|id| whole[id].clone()).collect();
            compared += ids.len() as u64;
            if alone != expected && differing.len() < 5 {
                differing.push(format!("{}: {client} {server}", path.display()));
            }
        }
    }
    // Fewer means captures went unread: 165 connections of the fixtures are compared,
    // 383 with the corpus.
    assert!(
        fixtures > 50 && compared > if corpus { 350 } else { 150 },
        "{fixtures} fixtures, {compared} connections compared"
    );
    assert!(
        differing.is_empty(),
        "tracked differently alone: {differing:?}"
    );
    eprintln!("{compared} connections tracked alone as in a whole run");
}
