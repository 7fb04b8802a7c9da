//! Makes the report model out of an analysis: the inputs' facts, the summary of every
//! connection, the warnings.

use crate::analysis::analyzer::{Analysis, InputReport};
use crate::capture::file::Format;
use crate::model::report::{ConnectionList, InputSummary, LinkTypeSummary, Report};
use crate::model::units::{JsonTime, Seconds};
use crate::store::packed_records::PackedRecords;

fn input_summary(input: &InputReport) -> InputSummary {
    let (format, byte_order, precision, version) = match &input.format {
        None => (None, None, None, None),
        Some(Format::Pcap {
            big_endian,
            nanosecond,
            modified,
            version,
        }) => (
            Some(if *modified { "pcap-modified" } else { "pcap" }),
            Some(if *big_endian {
                "big-endian"
            } else {
                "little-endian"
            }),
            Some(if *nanosecond { "ns" } else { "us" }),
            Some(format!("{}.{}", version.0, version.1)),
        ),
        Some(Format::PcapNg { big_endian }) => (
            Some("pcapng"),
            Some(if *big_endian {
                "big-endian"
            } else {
                "little-endian"
            }),
            None,
            Some("1.0".to_string()),
        ),
    };
    let st = &input.stats;
    InputSummary {
        file: input.name.clone(),
        format,
        byte_order,
        timestamp_precision: precision,
        version,
        link_types: input
            .link_types
            .iter()
            .map(|l| LinkTypeSummary {
                id: l.0,
                name: l.name(),
                supported: l.is_supported(),
            })
            .collect(),
        snaplen: input.snaplen,
        packets: st.packets,
        first_packet: st.first_ts.map(JsonTime),
        last_packet: st.last_ts.map(JsonTime),
        duration_s: match (st.first_ts, st.last_ts) {
            (Some(a), Some(b)) => Some(Seconds(b.saturating_since(a))),
            _ => None,
        },
        backwards_timestamps: st.backwards_timestamps,
        invalid_subsecond_timestamps: st.invalid_subsecond,
        error: input.error.as_ref().map(|e| e.to_string()),
    }
}

impl Report {
    pub fn build(mut analysis: Analysis) -> Report {
        let retired = std::mem::take(&mut analysis.unlisted);
        let mut warnings = Vec::new();
        for input in &analysis.inputs {
            if let Some(e) = &input.error {
                if e.is_midstream() {
                    warnings.push(format!(
                        "{}: {e}; the report covers the {} packet(s) read before it",
                        input.name, input.stats.packets
                    ));
                }
            }
            let st = &input.stats;
            if st.backwards_timestamps > 0 {
                warnings.push(format!(
                    "{}: {} packet(s) have a timestamp earlier than the packet before; intervals across them count as zero",
                    input.name, st.backwards_timestamps
                ));
            }
            if st.invalid_subsecond > 0 {
                warnings.push(format!(
                    "{}: {} record(s) have a sub-second timestamp field out of range",
                    input.name, st.invalid_subsecond
                ));
            }
            for l in input.link_types.iter().filter(|l| !l.is_supported()) {
                warnings.push(format!(
                    "{}: link type {} is not supported; its packets are counted as unsupported_link",
                    input.name, l.0
                ));
            }
        }
        let p = &analysis.packets;
        if p.undecodable > 0 {
            warnings.push(format!(
                "{} packet(s) could not be decoded (cut inside a header, malformed, or tunnels nested too deep)",
                p.undecodable
            ));
        }
        // The warning is about the connections listed, not those a capture let go of.
        let midstream = analysis.listed.counts().closes.midstream;
        let mut summary = retired;
        summary.merge(&analysis.listed);
        let summary = summary.finish();
        if analysis.evicted > 0 {
            warnings.push(format!(
                "{} connection(s) evicted to stay under --max-connections: counted in the summary, not listed",
                analysis.evicted
            ));
        }
        if midstream > 0 {
            warnings.push(format!(
                "{midstream} connection(s) started before the capture: their handshakes are not measured (start capturing before clients connect)"
            ));
        }
        Report {
            synack_version: env!("CARGO_PKG_VERSION"),
            inputs: analysis.inputs.iter().map(input_summary).collect(),
            packets: analysis.packets.clone(),
            summary,
            connections: ConnectionList::new(Box::new(PackedRecords::from(analysis.connections))),
            warnings,
            capture: None,
        }
    }
}
