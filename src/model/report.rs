//! The report model: what `synack report` says (`crate::analysis::build_report` builds it), as
//! docs/json.md documents it. Printers (table, JSON, CI checks) read this; none of them
//! looks at packets or re-derives a figure.

use std::sync::Arc;

use crate::model::connection_record::{ConnectionRecord, RecordList};
use crate::model::summary::Summary;
use crate::model::time::Timestamp;
use crate::model::tunnel::Tunnel;
use crate::model::units::{JsonTime, Seconds};

#[derive(Debug, serde::Serialize)]
pub struct Report {
    pub synack_version: &'static str,
    pub inputs: Vec<InputSummary>,
    pub packets: PacketCounts,
    pub summary: Summary,
    pub connections: ConnectionList,
    /// Things the reader should know: read errors after some packets, odd timestamps.
    pub warnings: Vec<String>,
    /// Live capture only (`synack capture`): what bounded the run, and libpcap's counts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture: Option<CaptureSummary>,
}

#[derive(Debug, serde::Serialize)]
pub struct CaptureSummary {
    pub packets_captured: u64,
    /// Connections let go of after their close played out (2·MSL) or an idle timeout;
    /// they count in `summary` but are not listed in `connections`.
    pub retired: u64,
    /// Connections dropped to stay under --max-connections (also in `summary`).
    pub evicted: u64,
    pub active_at_end: u64,
    pub received_by_filter: Option<u64>,
    pub dropped_by_kernel: Option<u64>,
    pub dropped_by_interface: Option<u64>,
    /// Read, then dropped because the capture ring was full (docs/live.md).
    pub dropped_ring_full: Option<u64>,
}

#[derive(Debug, serde::Serialize)]
pub struct InputSummary {
    pub file: String,
    /// `pcap` or `pcapng`; null when the file could not be opened.
    pub format: Option<&'static str>,
    pub byte_order: Option<&'static str>,
    /// `pcap` only: `us` or `ns`.
    pub timestamp_precision: Option<&'static str>,
    pub version: Option<String>,
    pub link_types: Vec<LinkTypeSummary>,
    pub snaplen: u32,
    pub packets: u64,
    pub first_packet: Option<JsonTime>,
    pub last_packet: Option<JsonTime>,
    pub duration_s: Option<Seconds>,
    pub backwards_timestamps: u64,
    pub invalid_subsecond_timestamps: u64,
    /// The one-line error that stopped reading this input, if any.
    pub error: Option<String>,
}

#[derive(Debug, serde::Serialize)]
pub struct LinkTypeSummary {
    pub id: u16,
    pub name: &'static str,
    pub supported: bool,
}

/// The report's connections in order of id, kept as `crate::store` keeps them and made into
/// [`ConnectionRecord`]s one at a time when printed, so that a report of many connections
/// stays small. Cloning shares them (`synack check` lists offenders from them).
#[derive(Clone, Debug)]
pub struct ConnectionList(Arc<dyn RecordList>);

impl Default for ConnectionList {
    fn default() -> Self {
        ConnectionList(Arc::new(Vec::<ConnectionRecord>::new()))
    }
}

impl ConnectionList {
    pub fn new(records: Box<dyn RecordList>) -> Self {
        ConnectionList(Arc::from(records))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Puts the records' memory together, if this list is the records' only holder.
    pub fn compact(&mut self) {
        if let Some(list) = Arc::get_mut(&mut self.0) {
            list.compact();
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.len() == 0
    }

    /// Whether the connection at `index` ended abnormally (no record is made).
    pub fn is_abnormal(&self, index: usize) -> bool {
        self.0.is_abnormal(index)
    }

    /// The first packet's time of the connection at `index` (no record is made).
    pub fn first_seen(&self, index: usize) -> Timestamp {
        self.0.first_seen(index)
    }

    pub fn record(&self, index: usize) -> ConnectionRecord {
        self.0.record(index)
    }

    pub fn records(&self) -> impl Iterator<Item = ConnectionRecord> + '_ {
        (0..self.0.len()).map(|i| self.0.record(i))
    }

    /// Reads every record in blocks of `block` on two threads, for work that costs more
    /// per record than handing a block over (printing records, the HTML report's charts)
    /// once the second core is free: `make` turns a block (its index range) into a `B`,
    /// on this thread or on a helper that takes every other block, and `take` gets the
    /// blocks in order. At most three blocks exist at once; `make` starts from a `B` that
    /// `new` made or that held an earlier block.
    pub fn in_blocks<B: Send, E>(
        &self,
        block: usize,
        new: impl Fn() -> B + Sync,
        make: impl Fn(std::ops::Range<usize>, &mut B) + Sync,
        mut take: impl FnMut(&B) -> Result<(), E>,
    ) -> Result<(), E> {
        let n = self.len();
        let blocks = n.div_ceil(block.max(1));
        let range = |b: usize| b * block..((b + 1) * block).min(n);
        let mut own = new();
        if blocks < 2 {
            if blocks == 1 {
                make(range(0), &mut own);
                take(&own)?;
            }
            return Ok(());
        }
        std::thread::scope(|scope| {
            let (to_writer, from_helper) = std::sync::mpsc::sync_channel::<B>(1);
            let (to_helper, spent) = std::sync::mpsc::sync_channel::<B>(2);
            let (make, new) = (&make, &new);
            scope.spawn(move || {
                for b in (1..blocks).step_by(2) {
                    let mut buf = spent.try_recv().unwrap_or_else(|_| new());
                    make(range(b), &mut buf);
                    if to_writer.send(buf).is_err() {
                        return; // `take` stopped (an error)
                    }
                }
            });
            for b in 0..blocks {
                if b % 2 == 0 {
                    make(range(b), &mut own);
                    take(&own)?;
                } else {
                    // A closed channel is a helper that panicked: the scope re-raises it.
                    let Ok(buf) = from_helper.recv() else { break };
                    take(&buf)?;
                    let _ = to_helper.try_send(buf);
                }
            }
            Ok(())
        })
    }
}

/// Packet counts by layer. Every packet read falls in exactly one of `tcp`, `udp`,
/// `icmp`, `other`, `fragments`, `undecodable`, `unsupported_link` (or `filtered_out`);
/// `snaplen_truncated` counts, across those, records cut by the snaplen. A tunnelled
/// packet counts once, in the layer of what it carries (an encapsulated TCP segment is a
/// `tcp` packet of its inner connection); `tunnelled` counts, among `tcp`, those that came
/// out of a tunnel.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PacketCounts {
    pub total: u64,
    pub tcp: u64,
    pub udp: u64,
    pub icmp: u64,
    /// Other IP protocols and non-IP frames (ARP, LLDP...).
    pub other: u64,
    pub fragments: u64,
    pub undecodable: u64,
    pub unsupported_link: u64,
    pub snaplen_truncated: u64,
    /// Rejected by the --filter expression.
    pub filtered_out: u64,
    pub tunnelled: TunnelCounts,
}

/// TCP packets that came out of a tunnel, by the kind of the innermost one.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TunnelCounts {
    pub gre: u64,
    pub erspan: u64,
    pub ip_in_ip: u64,
    pub vxlan: u64,
    pub geneve: u64,
    pub teredo: u64,
    pub gtp_u: u64,
    pub ayiya: u64,
}

impl TunnelCounts {
    pub fn get_mut(&mut self, kind: Tunnel) -> &mut u64 {
        match kind {
            Tunnel::Gre => &mut self.gre,
            Tunnel::Erspan => &mut self.erspan,
            Tunnel::IpInIp => &mut self.ip_in_ip,
            Tunnel::Vxlan => &mut self.vxlan,
            Tunnel::Geneve => &mut self.geneve,
            Tunnel::Teredo => &mut self.teredo,
            Tunnel::GtpU => &mut self.gtp_u,
            Tunnel::Ayiya => &mut self.ayiya,
        }
    }

    pub fn get(&self, kind: Tunnel) -> u64 {
        match kind {
            Tunnel::Gre => self.gre,
            Tunnel::Erspan => self.erspan,
            Tunnel::IpInIp => self.ip_in_ip,
            Tunnel::Vxlan => self.vxlan,
            Tunnel::Geneve => self.geneve,
            Tunnel::Teredo => self.teredo,
            Tunnel::GtpU => self.gtp_u,
            Tunnel::Ayiya => self.ayiya,
        }
    }

    pub fn total(&self) -> u64 {
        Tunnel::ALL.iter().map(|&k| self.get(k)).sum()
    }

    pub fn add(&mut self, other: &TunnelCounts) {
        for kind in Tunnel::ALL {
            *self.get_mut(kind) += other.get(kind);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::analysis::analyzer::Options;
    use crate::analysis::pipeline::Pipeline;
    use crate::model::event::NoEvents;

    #[test]
    fn in_blocks_hands_every_record_over_once_in_order() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample.pcap");
        let finished = Pipeline::new(Options::default()).run_files(&[path], &mut NoEvents);
        let list = &finished.report.connections;
        let want: Vec<u64> = list.records().map(|r| r.id).collect();
        assert!(want.len() >= 8, "the sample has several connections");
        // Blocks of one, of a few (the last one short), and one block for all.
        for block in [1, 3, want.len()] {
            let mut got = Vec::new();
            let mut blocks = 0;
            let done: Result<(), ()> = list.in_blocks(
                block,
                Vec::new,
                |range, ids: &mut Vec<u64>| {
                    ids.clear();
                    ids.extend(range.map(|i| list.record(i).id));
                },
                |ids| {
                    blocks += 1;
                    got.extend_from_slice(ids);
                    Ok(())
                },
            );
            assert_eq!(done, Ok(()));
            assert_eq!(got, want, "blocks of {block}");
            assert_eq!(blocks, want.len().div_ceil(block));
        }
        // An error stops the reading, and is returned.
        let mut taken = 0;
        let stopped = list.in_blocks(
            2,
            Vec::new,
            |range, ids: &mut Vec<usize>| {
                ids.clear();
                ids.extend(range);
            },
            |_| {
                taken += 1;
                if taken == 2 {
                    Err("stop")
                } else {
                    Ok(())
                }
            },
        );
        assert_eq!(stopped, Err("stop"));
        assert_eq!(taken, 2);
    }
}
