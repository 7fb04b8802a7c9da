//! The pipeline driver: source → (filter) → decode → flow table → tracker.
//!
//! Reads one or more inputs as one timeline, in the order given (rotated captures continue
//! each other), and keeps the per-file facts and the packet counts by layer.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::analysis::parallel::Shards;
use crate::analysis::tracer::Trace;
use crate::capture::file::{CaptureReader, Format, InputStats, InputWrapper, Packet, SourceError};
use crate::decode::key::FlowKey;
use crate::decode::{decode, Decoded};
use crate::flow::{FlowTable, Limits};
use crate::model::connection_record::ConnectionRecord;
use crate::model::event::{EventSink, NoEvents};
use crate::model::link::LinkType;
use crate::model::report::PacketCounts;
use crate::model::state::CloseKind;
use crate::model::summary::SummaryBuilder;
use crate::model::time::Timestamp;
use crate::store::packed_records::PackedRecord;
use crate::tcp::connection::Connection;

impl PacketCounts {
    /// Counts a decoded packet in its layer (the TCP ones too).
    #[inline]
    pub fn count(&mut self, decoded: &Decoded<'_>) {
        match decoded {
            Decoded::Tcp(seg) => {
                self.tcp += 1;
                if let Some(kind) = seg.tunnel {
                    *self.tunnelled.get_mut(kind) += 1;
                }
            }
            Decoded::Udp => self.udp += 1,
            Decoded::Icmp => self.icmp += 1,
            Decoded::OtherIp(_) | Decoded::NonIp => self.other += 1,
            Decoded::Fragment => self.fragments += 1,
            Decoded::Undecodable(_) => self.undecodable += 1,
            Decoded::UnsupportedLink => self.unsupported_link += 1,
        }
    }

    /// Adds the layer counts of `other` (packets its owner decoded for this one).
    pub fn add_layers(&mut self, other: &PacketCounts) {
        self.tcp += other.tcp;
        self.udp += other.udp;
        self.icmp += other.icmp;
        self.other += other.other;
        self.fragments += other.fragments;
        self.undecodable += other.undecodable;
        self.unsupported_link += other.unsupported_link;
        self.tunnelled.add(&other.tunnelled);
    }
}

/// One input's outcome.
#[derive(Debug)]
pub struct InputReport {
    pub name: String,
    pub format: Option<Format>,
    pub link_types: Vec<LinkType>,
    pub snaplen: u32,
    pub stats: InputStats,
    /// What stopped the reading, if anything.
    pub error: Option<SourceError>,
}

/// Settings of an analysis.
#[derive(Clone, Debug)]
pub struct Options {
    /// A libpcap filter expression, applied to every packet as tcpdump -r does.
    pub filter: Option<String>,
    /// Maximum segment lifetime; TIME_WAIT is 2·MSL.
    pub msl: Duration,
    /// The Zeek view leaves out packets with a bad IP or TCP checksum, as Zeek does
    /// without `-C` (`FlowTable::set_zeek_checksums`). Off by default, as `zeek -C`:
    /// verifying costs about half a run's instructions again on full-size packets.
    /// synack's own figures count every segment either way.
    pub verify_checksums: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            filter: None,
            msl: Duration::from_secs(60),
            verify_checksums: false,
        }
    }
}

/// A filter expression that libpcap would not compile.
#[derive(Debug, thiserror::Error)]
#[error("bad filter '{expr}' for link type {link}: {message}")]
pub struct FilterError {
    pub expr: String,
    pub link: LinkType,
    pub message: String,
}

/// BPF programs compiled per link type (a pcapng file may mix link types).
struct Filter {
    expr: String,
    programs: Vec<(LinkType, pcap::BpfProgram)>,
}

impl Filter {
    fn matches(&mut self, link: LinkType, data: &[u8]) -> Result<bool, FilterError> {
        if let Some((_, p)) = self.programs.iter().find(|(l, _)| *l == link) {
            return Ok(p.filter(data));
        }
        let compiled = pcap::Capture::dead(pcap::Linktype(i32::from(link.0)))
            .and_then(|dead| dead.compile(&self.expr, true))
            .map_err(|e| FilterError {
                expr: self.expr.clone(),
                link,
                message: e.to_string(),
            })?;
        let matched = compiled.filter(data);
        self.programs.push((link, compiled));
        Ok(matched)
    }
}

/// Everything an analysis found.
pub struct Analysis {
    pub inputs: Vec<InputReport>,
    pub packets: PacketCounts,
    /// Every connection not drained during the run, in order of first packet.
    pub connections: Vec<PackedRecord>,
    /// Connections let go of during the run to bound memory.
    pub retired: u64,
    pub evicted: u64,
    pub msl: Duration,
    pub filter: Option<String>,
    /// The summary's share of connections let go of and not listed (evicted ones; in a
    /// live capture, retired ones too).
    pub unlisted: SummaryBuilder,
    /// The summary's share of `connections`.
    pub listed: SummaryBuilder,
    /// The workers' traces by connection id, and how many connections were not traced
    /// (`share_out` with `trace`).
    pub traces: Option<(HashMap<u64, Trace>, u64)>,
}

/// Runs packets through decode, flow table and tracker.
pub struct Analyzer {
    flows: FlowTable,
    packets: PacketCounts,
    filter: Option<Filter>,
    filter_error: Option<FilterError>,
    inputs: Vec<InputReport>,
    /// Finished connections, as compact records.
    records: Vec<PackedRecord>,
    /// Capture time of the last sweep for finished connections.
    last_sweep: Option<Timestamp>,
    /// Applied to each input file before reading (a progress bar, say).
    input_wrapper: Option<Box<InputWrapper>>,
    /// Worker threads that track the connections, when the work is shared out.
    shards: Option<Shards>,
    /// A compressed input shared out to `shards` is decompressed on a thread of its own
    /// (counted among the run's threads), not on the reading thread.
    decoder_thread: bool,
    /// Connections let go of that are counted in the summary but not listed: evicted
    /// ones, and (with `keep_retired` off) retired ones.
    uncounted: SummaryBuilder,
    /// The summary of `records`, added to as each is made (the report needs no second
    /// pass over them).
    listed: SummaryBuilder,
    keep_retired: bool,
    /// Set by a signal handler: reading ends at the next read buffer, as at the end of
    /// the input.
    stop: Option<Arc<AtomicBool>>,
    /// See `note_unanswered`.
    note_unanswered: bool,
    unanswered: Vec<ConnectionRecord>,
    /// See `stream_finished`.
    stream_finished: bool,
    finished: Vec<ConnectionRecord>,
    /// See `track_only`.
    only: Option<FlowKey>,
}

/// How often (in capture time) finished connections are swept out of the flow table.
pub(crate) const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// Evicted connections made into records after each packet (`Analyzer::process`): more
/// than the one connection a packet can start, so that a flood's evictions keep up.
const FOLD_PER_PACKET: usize = 4;

/// True when a packet stamped `ts` is the time for a sweep, the last one having been at
/// `last`: at the first packet, and at the first one a `SWEEP_EVERY` past the last
/// sweep, every packet counted (filtered out or not, TCP or not). A run shared out sweeps
/// each worker's table at the same places (`Shards::passing`).
#[inline]
pub(crate) fn sweep_due(last: Option<Timestamp>, ts: Timestamp) -> bool {
    last.is_none_or(|t| ts.reached(t, SWEEP_EVERY))
}

impl Analyzer {
    pub fn new(options: &Options) -> Self {
        let mut flows = FlowTable::new(options.msl);
        flows.set_zeek_checksums(options.verify_checksums);
        Analyzer {
            flows,
            packets: PacketCounts::default(),
            filter: options.filter.as_ref().map(|expr| Filter {
                expr: expr.clone(),
                programs: Vec::new(),
            }),
            filter_error: None,
            inputs: Vec::new(),
            records: Vec::new(),
            last_sweep: None,
            input_wrapper: None,
            shards: None,
            decoder_thread: false,
            uncounted: SummaryBuilder::default(),
            listed: SummaryBuilder::default(),
            keep_retired: true,
            stop: None,
            note_unanswered: false,
            unanswered: Vec::new(),
            stream_finished: false,
            finished: Vec::new(),
            only: None,
        }
    }

    /// Ends every read at the next read buffer once `stop` is set (Ctrl-C): the input
    /// looks as if it ended there.
    pub fn set_stop(&mut self, stop: Arc<AtomicBool>) {
        self.stop = Some(stop);
    }

    /// Checks the filter against a link type up front, so a bad expression is reported
    /// before any output.
    pub fn check_filter(&mut self, link: LinkType) -> Result<(), FilterError> {
        match &mut self.filter {
            Some(f) => f.matches(link, &[]).map(|_| ()),
            None => Ok(()),
        }
    }

    /// Tracks only the connections of one 4-tuple: every other packet is read, counted
    /// and decoded, and goes no further. A connection's tracking depends on its own
    /// packets alone (as a worker's, which sees some 4-tuples), so its events are those
    /// of a whole run, its first packet numbered as there; its id is not (ids count the
    /// connections tracked).
    pub fn track_only(&mut self, key: FlowKey) {
        self.only = Some(key);
    }

    /// Bounds the flow table (`--max-connections` and live timeouts).
    pub fn set_limits(&mut self, limits: Limits) {
        self.flows.set_limits(limits);
    }

    /// Retires closed and idle connections as of capture time `now`, keeping their
    /// records (or only their share of the summary, see `keep_retired`). Evicted
    /// connections only count in the summary: a flood of new 4-tuples must not grow
    /// memory past the limit.
    pub fn retire(&mut self, now: Timestamp) {
        self.flows.retire(now);
        self.fold_evicted(usize::MAX);
        for c in self.flows.drain_finished() {
            let record = ConnectionRecord::of(&c);
            if self.note_unanswered && record.close == CloseKind::Unanswered {
                self.unanswered.push(record.clone());
            }
            if self.stream_finished {
                self.finished.push(record.clone());
            }
            if self.keep_retired {
                self.listed.add(&record);
                self.records.push(PackedRecord::pack(&record));
            } else {
                self.uncounted.add(&record);
            }
        }
    }

    /// Counts up to `most` evicted connections in the summary (and keeps their records
    /// for `take_finished`).
    fn fold_evicted(&mut self, most: usize) {
        let (uncounted, finished) = (&mut self.uncounted, &mut self.finished);
        let stream = self.stream_finished;
        self.flows.take_evicted(most, |c| {
            let record = ConnectionRecord::of(c);
            uncounted.add(&record);
            if stream {
                finished.push(record);
            }
        });
    }

    /// Counts every connection evicted so far in the summary: before the summary is
    /// read (`unlisted_summary`), which `process` leaves to catch up a few at a time.
    pub fn settle(&mut self) {
        self.fold_evicted(usize::MAX);
    }

    /// Keep the record of every connection let go of (retired or evicted) for
    /// `take_finished` (`capture --records` writes them as they end).
    pub fn stream_finished(&mut self, stream: bool) {
        self.stream_finished = stream;
    }

    /// The connections let go of since the last call, in the report's order (ids): the
    /// flow table lets them go in hash order, which differs run to run.
    pub fn take_finished(&mut self) -> std::vec::Drain<'_, ConnectionRecord> {
        self.finished.sort_unstable_by_key(|r| r.id);
        self.finished.drain(..)
    }

    /// Keep the records of connections let go of with their SYN unanswered, for
    /// `take_unanswered` (a live printer says so).
    pub fn note_unanswered(&mut self, note: bool) {
        self.note_unanswered = note;
    }

    /// The connections let go of with their SYN unanswered since the last call, by id
    /// (as `take_finished`).
    pub fn take_unanswered(&mut self) -> std::vec::Drain<'_, ConnectionRecord> {
        self.unanswered.sort_unstable_by_key(|r| r.id);
        self.unanswered.drain(..)
    }

    /// Keep retired connections' records to list them (offline reports), or only count
    /// them in the summary (live capture, which must run in bounded memory).
    pub fn keep_retired(&mut self, keep: bool) {
        self.keep_retired = keep;
    }

    /// The summary of the connections already let go of and not listed.
    pub fn unlisted_summary(&self) -> &SummaryBuilder {
        &self.uncounted
    }

    /// Calls `each` for every connection still tracked (dormant ones included), in no
    /// particular order.
    pub fn for_each_tracked(&self, each: impl FnMut(&Connection)) {
        self.flows.for_each_tracked(each);
    }

    pub fn active_connections(&self) -> usize {
        self.flows.active_len()
    }

    pub fn packets(&self) -> &PacketCounts {
        &self.packets
    }

    pub fn process(&mut self, packet: &Packet<'_>, sink: &mut impl EventSink) {
        // Memory, not figures: connections that are over shrink to their records.
        if sweep_due(self.last_sweep, packet.ts) {
            self.retire(packet.ts);
            self.last_sweep = Some(packet.ts);
        }
        let Some(cut) = self.admit(packet) else {
            return;
        };
        let decoded = decode(packet.link_type, packet.data, cut);
        self.packets.count(&decoded);
        if let Decoded::Tcp(seg) = decoded {
            if let Some(key) = self.only {
                if FlowKey::of(&seg).0 != key {
                    return;
                }
                // Numbered as in a run that tracks every segment (`on_segment` counts
                // them): its first packet's number is the same.
                let number = self.packets.tcp;
                self.flows
                    .on_numbered_segment(&seg, number, packet.orig_len, packet.ts, sink);
            } else {
                self.flows
                    .on_segment(&seg, packet.orig_len, packet.ts, sink);
            }
            // A few a packet, not the evicted eighth at once (the packets would wait), and
            // not all left to the next sweep (a flood evicts thousands a second); the
            // sweep takes the rest.
            if self.flows.evicted_pending() {
                self.fold_evicted(FOLD_PER_PACKET);
            }
        }
    }

    /// Counts a packet read and applies the filter: the bytes cut by the snaplen, or
    /// `None` when the filter rejects it.
    #[inline]
    fn admit(&mut self, packet: &Packet<'_>) -> Option<u32> {
        let counts = &mut self.packets;
        counts.total += 1;
        if let Some(filter) = &mut self.filter {
            match filter.matches(packet.link_type, packet.data) {
                Ok(true) => {}
                Ok(false) => {
                    counts.filtered_out += 1;
                    return None;
                }
                Err(e) => {
                    // The link type has no BPF support in libpcap: nothing can match.
                    counts.filtered_out += 1;
                    self.filter_error.get_or_insert(e);
                    return None;
                }
            }
        }
        let cut = packet.orig_len.saturating_sub(packet.data.len() as u32);
        if cut > 0 {
            counts.snaplen_truncated += 1;
        }
        Some(cut)
    }

    /// Tracks connections on `workers` threads beside the reading one (offline reports:
    /// no events reach a sink, and no connection limit applies). Same report, sooner.
    /// With `trace`, each worker keeps the HTML report's candidate traces
    /// (`Analysis::traces`). With `decoder_thread`, a compressed input is decompressed
    /// on a thread of its own; otherwise on the reading thread (a run on one thread
    /// always decompresses on a second one).
    pub fn share_out(&mut self, workers: usize, trace: bool, decoder_thread: bool) {
        self.decoder_thread = decoder_thread;
        self.shards = Some(Shards::new(
            workers,
            self.flows.msl(),
            self.flows.zeek_checksums(),
            trace,
        ));
    }

    /// Has every input file passed through `wrap` before it is read.
    pub fn set_input_wrapper(&mut self, wrap: Box<InputWrapper>) {
        self.input_wrapper = Some(wrap);
    }

    /// Reads a whole file (or `-` for standard input) into the analysis. The outcome,
    /// including any error, is kept for the report.
    pub fn read_path(&mut self, path: &Path, sink: &mut impl EventSink) -> &InputReport {
        let name = path.display().to_string();
        let opened = match (&self.input_wrapper, &self.stop) {
            (Some(wrap), None) => CaptureReader::open_wrapped(path, wrap),
            (None, None) => CaptureReader::open(path),
            (wrap, Some(stop)) => CaptureReader::open_wrapped(path, &|file, len| {
                Box::new(Stoppable::new(file, len, wrap.as_deref(), stop))
            }),
        };
        let report = match opened {
            Err(error) => InputReport {
                name,
                format: None,
                link_types: Vec::new(),
                snaplen: 0,
                stats: InputStats::default(),
                error: Some(error),
            },
            Ok(mut reader) => {
                let result = match self.shards.take() {
                    None => reader.for_each_packet(|p| self.process(p, sink)),
                    Some(mut shards) => {
                        let result = self.share_packets(&mut reader, &mut shards);
                        self.shards = Some(shards);
                        result
                    }
                };
                InputReport {
                    name,
                    format: Some(reader.format().clone()),
                    link_types: reader.link_types().to_vec(),
                    snaplen: reader.snaplen(),
                    stats: reader.stats().clone(),
                    error: result.err(),
                }
            }
        };
        let mut report = report;
        if self
            .stop
            .as_ref()
            .is_some_and(|s| s.load(Ordering::Relaxed))
            && matches!(
                report.error,
                Some(
                    SourceError::Truncated { .. }
                        | SourceError::Empty
                        | SourceError::ShortHeader(..)
                )
            )
        {
            // Cut short by the stop, not by the file.
            report.error = None;
        }
        self.inputs.push(report);
        self.inputs.last().expect("just pushed")
    }

    /// Reads a file for the workers: the reading thread only counts and filters; the
    /// workers decode and track, reading the packets in the reader's own buffers when it
    /// can lend them (classic pcap), or in copies.
    fn share_packets(
        &mut self,
        reader: &mut CaptureReader,
        shards: &mut Shards,
    ) -> Result<(), SourceError> {
        if !self.decoder_thread {
            reader.decompress_in_place();
        }
        if reader.lends_buffers() {
            // `shards` is both where packets are queued and where buffers go: the
            // queueing goes through a second handle on it, held only inside the callback.
            let shards = std::cell::RefCell::new(shards);
            let mut exchange = crate::analysis::parallel::Lending(&shards);
            reader.for_each_packet_lending(
                |p| {
                    shards.borrow_mut().passing(p.ts, self.packets.total + 1);
                    if self.admit(p).is_some() {
                        shards.borrow_mut().lent(p, self.packets.total);
                    }
                },
                &mut exchange,
            )
        } else {
            reader.for_each_packet(|p| {
                shards.passing(p.ts, self.packets.total + 1);
                if self.admit(p).is_some() {
                    shards.copy(p, self.packets.total);
                }
            })
        }
    }

    /// Records an input that is not a file (a live interface) for the report.
    pub fn add_input(&mut self, input: InputReport) {
        self.inputs.push(input);
    }

    /// A filter that failed to compile for a link type met in the input.
    pub fn filter_error(&self) -> Option<&FilterError> {
        self.filter_error.as_ref()
    }

    pub fn finish(mut self) -> Analysis {
        self.settle();
        let msl = self.flows.msl();
        let (mut retired, mut evicted) = (self.flows.retired, self.flows.evicted);
        let (records, listed) = (&mut self.records, &mut self.listed);
        // One record for each connection still tracked: the list grows no further.
        records.reserve_exact(self.flows.held_len());
        self.flows.finish(|c| {
            let record = ConnectionRecord::of(&c);
            listed.add(&record);
            records.push(PackedRecord::pack(&record));
        });
        let mut traces = None;
        match self.shards.take() {
            None => self.records.sort_unstable_by_key(|r| r.id),
            Some(shards) => {
                let found = shards.finish();
                (retired, evicted) = (retired + found.retired, evicted + found.evicted);
                self.listed.merge(&found.summary);
                self.packets.add_layers(&found.counts);
                // Numbered by first packet, as one table numbers them. The workers' records
                // come in that order.
                if self.records.is_empty() {
                    self.records = found.records;
                } else {
                    self.records.extend(found.records);
                    self.records.sort_unstable_by_key(|r| r.first_packet);
                }
                for (n, r) in self.records.iter_mut().enumerate() {
                    r.id = n as u64 + 1;
                }
                traces = found.traces.map(|(by_first_packet, untraced)| {
                    let records = &self.records;
                    let by_id = by_first_packet
                        .into_iter()
                        .filter_map(|(first, mut t)| {
                            let at = records.binary_search_by_key(&first, |r| r.first_packet);
                            // A connection drained during the run has no record here,
                            // and no place among the worst.
                            let id = at.ok()? as u64 + 1;
                            t.view.id = id;
                            Some((id, t))
                        })
                        .collect();
                    (by_id, untraced)
                });
            }
        }
        Analysis {
            inputs: self.inputs,
            packets: self.packets,
            connections: self.records,
            retired,
            evicted,
            msl,
            filter: self.filter.map(|f| f.expr),
            unlisted: self.uncounted,
            listed: self.listed,
            traces,
        }
    }
}

/// An input that ends early once a flag is set: one relaxed load per read (a read
/// buffer, not a packet). A pipe or terminal is polled 100 ms at a time, so that a read
/// that waits for data still sees the flag.
struct Stoppable {
    inner: Box<dyn Read + Send>,
    fd: RawFd,
    poll: bool,
    stop: Arc<AtomicBool>,
}

impl Stoppable {
    fn new(file: File, len: u64, wrap: Option<&InputWrapper>, stop: &Arc<AtomicBool>) -> Self {
        let fd = file.as_raw_fd();
        let poll = !file.metadata().is_ok_and(|m| m.is_file());
        let inner = match wrap {
            Some(wrap) => wrap(file, len),
            None => Box::new(file),
        };
        Stoppable {
            inner,
            fd,
            poll,
            stop: Arc::clone(stop),
        }
    }
}

impl Read for Stoppable {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return Ok(0);
            }
            if !self.poll {
                return self.inner.read(buf);
            }
            let mut fds = libc::pollfd {
                fd: self.fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd; `fd` is open as long as `inner` holds the file.
            match unsafe { libc::poll(&mut fds, 1, 100) } {
                0 => continue,
                n if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => {
                    continue
                }
                _ => return self.inner.read(buf),
            }
        }
    }
}

/// Reads the given files as one timeline.
pub fn analyze_paths(paths: &[PathBuf], options: &Options) -> Analysis {
    let mut analyzer = Analyzer::new(options);
    for path in paths {
        analyzer.read_path(path, &mut NoEvents);
    }
    analyzer.finish()
}
