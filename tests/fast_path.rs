//! The hand-written IPv4/IPv6 fast path of the decoder must answer exactly as
//! etherparse does: every packet of every fixture and corpus capture, decoded both ways,
//! and also each cut at every length, as a snaplen would.

mod common;

use std::path::{Path, PathBuf};

use synack::decode::{decode, decode_without_fast_path};
use synack::source::CaptureReader;

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
    let mut files = Vec::new();
    captures(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures"),
        &mut files,
    );
    let fixtures = files.len();
    if let Some(corpus) = common::corpus_dir() {
        captures(&corpus, &mut files);
    }
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
    assert!(tcp > 1000, "TCP packets decoded: {tcp}");
    assert!(
        mismatches.is_empty(),
        "{packets} packets, {cut_variants} cut variants:\n{}",
        mismatches.join("\n")
    );
    eprintln!("{packets} packets ({tcp} TCP) and {cut_variants} cut variants decoded alike");
}
