//! The reader fuzz target's checks, shared with the regression test that replays
//! committed inputs (tests/fuzz_regressions.rs includes this file).
//!
//! Arbitrary bytes as a capture file, read the way `synack report` reads one: through
//! the reader, the decoder, the flow table and the tracker, into a report and its JSON.
//! Beyond "no panic, no hang": every packet the reader hands out is counted exactly
//! once, an error is one line naming the record where reading stopped (the one after
//! the last packet delivered) and a byte offset inside the file, and the report of what
//! was read serializes.

use std::io::Cursor;

use synack::analysis::analyzer::{Analyzer, InputReport, Options};
use synack::capture::file::{CaptureReader, SourceError};
use synack::model::event::NoEvents;
use synack::model::report::Report;

/// What reading `data` as a capture gave: the one-line error, if any, and the report
/// (none when the bytes were refused before any record).
pub struct Outcome {
    pub error: Option<String>,
    pub report: Option<Report>,
}

/// Reads `data` as `synack report` reads a file, checking the invariants as it goes.
pub fn check(data: &[u8]) -> Outcome {
    let mut analyzer = Analyzer::new(&Options::default());
    let mut reader = match CaptureReader::from_read(Box::new(Cursor::new(data.to_vec()))) {
        Ok(r) => r,
        Err(e) => {
            // Refused up front: nothing was read, and the reason fits on one line.
            assert!(
                !e.is_midstream() || matches!(e, SourceError::Read(_)),
                "{e}"
            );
            assert!(!e.to_string().contains('\n'), "{e}");
            return Outcome {
                error: Some(e.to_string()),
                report: None,
            };
        }
    };
    let mut delivered = 0u64;
    let result = reader.for_each_packet(|p| {
        delivered += 1;
        analyzer.process(p, &mut NoEvents);
    });
    let stats = reader.stats().clone();
    assert_eq!(
        stats.packets, delivered,
        "the reader's count is what it delivered"
    );
    assert_eq!(analyzer.packets().total, delivered);
    if let Err(e) = &result {
        assert!(!e.to_string().contains('\n'), "{e}");
        match e {
            SourceError::Truncated { record, offset }
            | SourceError::Corrupt { record, offset, .. } => {
                assert_eq!(*record, delivered + 1, "{e}");
                assert!(*offset <= data.len() as u64, "{e}: offset beyond the file");
            }
            SourceError::UnknownInterface { record, .. } => {
                assert_eq!(*record, delivered + 1, "{e}")
            }
            _ => {}
        }
    }
    // A second call after the end (or a fault) delivers nothing more.
    let again = reader.for_each_packet(|_| panic!("packet after the end"));
    assert!(again.is_ok());
    let error = result.as_ref().err().map(|e| e.to_string());

    analyzer.add_input(InputReport {
        name: "fuzz".into(),
        format: Some(reader.format().clone()),
        link_types: reader.link_types().to_vec(),
        snaplen: reader.snaplen(),
        stats,
        error: result.err(),
    });
    let analysis = analyzer.finish();
    let p = &analysis.packets;
    let by_kind = p.tcp
        + p.udp
        + p.icmp
        + p.other
        + p.fragments
        + p.undecodable
        + p.unsupported_link
        + p.filtered_out;
    assert_eq!(by_kind, p.total, "every packet falls in exactly one kind");
    assert!(p.snaplen_truncated <= p.total);
    let in_connections: u64 = analysis
        .connections
        .iter()
        .map(|c| c.unpack().total(|e| e.packets))
        .sum();
    assert_eq!(
        in_connections, p.tcp,
        "every TCP segment belongs to one connection"
    );
    let report = Report::build(analysis);
    assert_eq!(report.summary.connections, report.connections.len() as u64);
    serde_json::to_string(&report).expect("the report serializes");
    Outcome {
        error,
        report: Some(report),
    }
}
