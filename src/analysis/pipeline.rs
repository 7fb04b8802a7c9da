//! The one way to run synack's pipeline: a [`Pipeline`] set up with its options, then run
//! over capture files ([`Pipeline::run_files`]) or over a live source
//! ([`Pipeline::run_live`]). It owns the packet loop, the sweeps, dormancy, the parallel
//! back end and the inputs' outcomes; a command picks the options and the printers and
//! never sees a packet.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::analysis::analyzer::{Analysis, Analyzer, FilterError, InputReport, Options};
use crate::analysis::tracer::{Trace, Tracer};
use crate::capture::compressed::Compression;
use crate::capture::file::{CaptureReader, InputStats, InputWrapper, Packet};
pub use crate::capture::live::{list_interfaces, LiveOptions, LiveStats};
use crate::capture::live::{LiveError, LiveSource};
use crate::capture::privileges;
use crate::capture::ring;
pub use crate::capture::rotate::Rotation;
use crate::capture::rotate::{RotatingWriter, Written};
use crate::decode::key::FlowKey;
use crate::flow::Limits;
use crate::model::connection_record::ConnectionRecord;
use crate::model::event::{ConnectionView, Event, EventSink};
use crate::model::link::LinkType;
use crate::model::report::{CaptureSummary, Report};
use crate::model::state::TcpState;
use crate::model::summary::Summary;
use crate::model::time::Timestamp;

/// Inputs smaller than this are read on one thread when the thread count is automatic:
/// sharing out costs more than it gains on them.
const PARALLEL_MIN_BYTES: u64 = 64 << 20;

/// How often a live run lets go of connections that are over (capture time when
/// replaying a file, wall-clock time on an interface).
const LIVE_SWEEP: Duration = Duration::from_secs(1);

/// The capture ring between the thread that reads an interface and the analysis
/// (docs/live.md, "The capture ring"): this many bytes of packets in all, in batches of
/// `RING_BATCH_BYTES` (or the snapshot length, if larger) and at most
/// `RING_BATCH_PACKETS` packets.
const RING_BYTES: usize = 64 << 20;
const RING_BATCH_BYTES: usize = 256 << 10;
const RING_BATCH_PACKETS: usize = 4096;
/// How long the analysis waits for a batch before it looks at the clock (the sweep, a
/// signal).
const RING_WAIT: Duration = Duration::from_millis(100);

/// A run's settings.
pub struct Pipeline {
    options: Options,
    /// Most connections tracked at once (`--max-connections`).
    max_connections: Option<usize>,
    /// Live runs: let go of a connection idle this long.
    idle_timeout: Option<Duration>,
    /// Live runs: let go of an established or half-closed connection idle this long.
    established_timeout: Option<Duration>,
    /// Threads: 1 reads and tracks on one; N reads on one and tracks on N−1 (N−2 when
    /// the input is compressed: its decoder takes one); 0 picks by the machine and the
    /// inputs' size.
    threads: usize,
    progress: Option<Box<InputWrapper>>,
    /// Set by a signal handler: stop reading (`stop_on`).
    stop: Option<Arc<AtomicBool>>,
    /// See `track_only`.
    only: Option<FlowKey>,
    /// Keep the traces of the worst connections' candidates (`trace`).
    trace: bool,
}

/// An input that could not be read, or not to its end.
#[derive(Clone, Debug)]
pub struct InputFailure {
    /// The file as given (`-` for standard input).
    pub input: String,
    /// One line: what stopped the reading.
    pub message: String,
    /// Some packets were read before the fault; the report covers them.
    pub partial: bool,
}

/// What an offline run found: the report, what went wrong with the inputs, and the
/// memory of the connections already made into records.
pub struct Finished {
    pub report: Report,
    /// Inputs that could not be read to their end, in the order given.
    pub failures: Vec<InputFailure>,
    /// The filter could not be compiled for a link type met while reading: the packets
    /// of that link type were left out.
    pub filter_failure: Option<String>,
    /// The filter cannot be compiled for a link type the inputs declare (whether or not
    /// any packet of it was met).
    pub unfilterable_link: Option<String>,
    /// The stop flag was set: the inputs were read up to that moment only.
    pub interrupted: bool,
    /// The files in the order they were read, when that is not the order given: files
    /// are read in the order of their first packet's time (rotated files given out of
    /// order).
    pub reordered: Option<Vec<String>>,
    /// Inputs whose time spans overlap (read one after the other, their packets are not
    /// in time order): each pair as (the earlier input, the later one).
    pub overlaps: Vec<(String, String)>,
    /// With `Pipeline::trace`: the worst connections' candidate traces by connection id,
    /// and how many connections were not traced.
    pub traces: Option<(HashMap<u64, Trace>, u64)>,
}

impl Finished {
    /// Whether every input was read whole, with every packet filtered.
    pub fn complete(&self) -> bool {
        self.failures.is_empty() && self.filter_failure.is_none()
    }

    /// Ends the process's use of the run without freeing it: the system takes the memory
    /// back at once at exit, where freeing every record one by one is a serial ~10 ms on
    /// a big trace.
    pub fn leave_to_os(self) {
        std::mem::forget(self);
    }

    /// Gives the pages no allocation uses back to the system, before an output that
    /// allocates on other threads: memory freed in one thread's malloc arena serves no
    /// other's, and would count on top of theirs.
    pub fn release(&mut self) {
        crate::store::packed_records::give_back_free_pages();
    }

    /// `release`, after moving the records together (`PackedRecords::compact`: about 0.09
    /// s on the 10 M-packet trace), for an output that allocates much of its own (the
    /// Parquet file's column writers): most pages the flow tables held hold a record or
    /// two, and would stay.
    pub fn compact_and_release(&mut self) {
        self.report.connections.compact();
        self.release();
    }
}

impl Pipeline {
    pub fn new(options: Options) -> Pipeline {
        Pipeline {
            options,
            max_connections: None,
            idle_timeout: None,
            established_timeout: None,
            threads: 1,
            progress: None,
            stop: None,
            only: None,
            trace: false,
        }
    }

    /// Stops reading once `stop` is set (by a signal handler): the run ends as if the
    /// input ended there, and reports what was read (checked once per read buffer).
    pub fn stop_on(mut self, stop: Arc<AtomicBool>) -> Pipeline {
        self.stop = Some(stop);
        self
    }

    /// Bounds the flow table (`--max-connections`): beyond it the longest-idle
    /// connections are evicted, counted in the summary and not listed. Eviction is a
    /// decision about the whole table, so a bounded run tracks on one thread.
    pub fn max_connections(mut self, max: usize) -> Pipeline {
        self.max_connections = Some(max);
        self
    }

    /// Live runs: let go of a connection with no packet for this long (Zeek's
    /// tcp_inactivity_timeout) when it never completed its handshake, or its peer answers
    /// no keep-alive.
    pub fn idle_timeout(mut self, idle: Duration) -> Pipeline {
        self.idle_timeout = Some(idle);
        self
    }

    /// Live runs: let go of an established or half-closed connection with no packet for
    /// this long (longer than a keep-alive's two hours before its first probe).
    pub fn established_timeout(mut self, idle: Duration) -> Pipeline {
        self.established_timeout = Some(idle);
        self
    }

    /// Tracks only the connections between `a` and `b` (either way round), on one
    /// thread: the rest of the input is read and decoded only. Their events are those of
    /// a whole run, but their ids count only them (1, 2…); the report is of them alone.
    /// For a second pass after one connection that the first found (`synack ladder`).
    pub fn track_only(mut self, a: SocketAddr, b: SocketAddr) -> Pipeline {
        self.only = Some(FlowKey::between(a, b));
        self
    }

    /// Threads to use (0: one worker per extra core, for inputs over 64 MiB). The report
    /// is the same whatever the number.
    pub fn threads(mut self, threads: usize) -> Pipeline {
        self.threads = threads;
        self
    }

    /// Offline runs: keep the events of the connections that may be the worst
    /// (`crate::analysis::tracer`), on every tracking thread, for `Finished::traces`.
    pub fn trace(mut self) -> Pipeline {
        self.trace = true;
        self
    }

    /// Has every input file pass through `wrap` before it is read (a progress bar).
    pub fn progress(mut self, wrap: Box<InputWrapper>) -> Pipeline {
        self.progress = Some(wrap);
        self
    }

    /// A filter libpcap will not compile is the user's error whatever the link type: say
    /// so before any input is read.
    pub fn check_filter(&self) -> Result<(), FilterError> {
        Analyzer::new(&self.options).check_filter(LinkType::ETHERNET)
    }

    /// Worker threads to track on, and whether a compressed input's decoder is one of
    /// the run's threads. Decompressing costs about as much as reading and decoding
    /// the packets (zstd, snaplen 96: 1.1 s of 1.75 s, docs/performance.md): so when
    /// most of the input is compressed, the decoder takes a thread of the count, and
    /// two threads are the decoder and one that reads and tracks, rather than a reader
    /// that decompresses and a worker that waits for it.
    fn workers(&self, paths: &[PathBuf]) -> (usize, bool) {
        if self.max_connections.is_some() {
            return (0, false);
        }
        let sizes: Vec<(u64, bool)> = paths
            .iter()
            .filter_map(|f| {
                let len = std::fs::metadata(f).ok()?.len();
                Some((len, Compression::of_file(f).is_some()))
            })
            .collect();
        let bytes: u64 = sizes.iter().map(|s| s.0).sum();
        let threads = match self.threads {
            0 => {
                let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
                if cores < 2 || bytes < PARALLEL_MIN_BYTES {
                    1
                } else {
                    cores
                }
            }
            n => n,
        };
        let compressed: u64 = sizes.iter().filter(|s| s.1).map(|s| s.0).sum();
        if threads >= 2 && bytes > 0 && compressed * 2 >= bytes {
            (threads - 2, true)
        } else {
            (threads - 1, false)
        }
    }

    /// Reads the files as one timeline, in the order of their first packets; a directory
    /// stands for every capture under it. `sink` sees every connection event (a
    /// sharing-out run makes none: give `NoEvents`).
    pub fn run_files(mut self, given: &[PathBuf], sink: &mut impl EventSink) -> Finished {
        let Expanded {
            inputs,
            mut failures,
            left_out,
        } = expand(given);
        let paths: Vec<PathBuf> = inputs.iter().map(|i| i.path.clone()).collect();
        let paths = &paths[..];
        let mut analyzer = Analyzer::new(&self.options);
        if let Some(max) = self.max_connections {
            analyzer.set_limits(Limits {
                max_connections: max,
                ..Limits::default()
            });
        }
        if let Some(key) = self.only {
            analyzer.track_only(key);
        }
        // The workers make no events: a run that delivers them tracks on one thread (as
        // does one that tracks a single 4-tuple: the workers would have nothing to do).
        let (workers, decoder_thread) = if wants_events(sink) || self.only.is_some() {
            (0, false)
        } else {
            self.workers(paths)
        };
        if workers > 0 {
            analyzer.share_out(workers, self.trace, decoder_thread);
        }
        // One thread: the tracer follows the events here.
        let mut tracer = (self.trace && workers == 0).then(Tracer::default);
        if let Some(wrap) = self.progress.take() {
            analyzer.set_input_wrapper(wrap);
        }
        if let Some(stop) = &self.stop {
            analyzer.set_stop(Arc::clone(stop));
        }
        let order = time_order(&inputs);
        // Said of the files given by name only: a directory's files have no order given.
        let named: Vec<usize> = order
            .iter()
            .copied()
            .filter(|&i| !inputs[i].in_directory)
            .collect();
        let reordered = named.windows(2).any(|w| w[0] > w[1]).then(|| {
            named
                .iter()
                .map(|&i| paths[i].display().to_string())
                .collect()
        });
        let mut interrupted = false;
        for path in order.iter().map(|&i| &paths[i]) {
            let input = match tracer.as_mut() {
                Some(t) => analyzer.read_path(path, t),
                None => analyzer.read_path(path, sink),
            };
            if let Some(e) = &input.error {
                failures.push(InputFailure {
                    input: input.name.clone(),
                    message: e.to_string(),
                    partial: e.is_midstream(),
                });
            }
            if self
                .stop
                .as_ref()
                .is_some_and(|s| s.load(Ordering::Relaxed))
            {
                interrupted = true;
                break;
            }
        }
        let filter_failure = analyzer.filter_error().map(|e| e.to_string());
        let mut analysis = analyzer.finish();
        let unfilterable_link = unfilterable_link(&self.options, &analysis);
        let overlaps = overlaps(&analysis.inputs);
        let traces = match tracer {
            Some(t) => Some(t.finish()),
            None => analysis.traces.take(),
        };
        let mut report = Report::build(analysis);
        if let Some(warning) = left_out_warning(&left_out) {
            report.warnings.push(warning);
        }
        Finished {
            report,
            failures,
            filter_failure,
            unfilterable_link,
            interrupted,
            reordered,
            overlaps,
            traces,
        }
    }

    /// Runs a live source: a capture on an interface, or a file replayed as if it were
    /// live (capture time drives sweeps and intervals). Connections are let go of as
    /// they retire and only counted; `observer` sees events, intervals and the end of
    /// every packet, and is asked after each whether to stop.
    pub fn run_live(
        self,
        input: LiveInput,
        control: &LiveControl<'_>,
        observer: &mut impl LiveObserver,
    ) -> Result<LiveFinished, LiveRunError> {
        let mut analyzer = Analyzer::new(&Options {
            // A live filter is applied by the kernel; a replayed file is filtered here.
            filter: match &input {
                LiveInput::Replay(_) => self.options.filter.clone(),
                LiveInput::Interface { .. } => None,
            },
            msl: self.options.msl,
            verify_checksums: self.options.verify_checksums,
        });
        // A capture may run for days: retired connections only count in the summary.
        analyzer.keep_retired(false);
        analyzer.note_unanswered(true);
        analyzer.stream_finished(observer.wants_records());
        analyzer.set_limits(Limits {
            idle_timeout: self.idle_timeout,
            retire_closed: true,
            established_timeout: self.established_timeout,
            max_connections: self.max_connections.unwrap_or(usize::MAX),
        });
        let mut run = LiveRun {
            analyzer,
            packets: 0,
            first_ts: None,
            last_ts: None,
            next_interval: None,
            control,
            started: Instant::now(),
        };
        let mut stats = None;
        let mut read_error = None;
        let mut output = Output::default();
        match input {
            LiveInput::Replay(path) => {
                run.analyzer.check_filter(LinkType::ETHERNET)?;
                let mut reader = CaptureReader::open(&path).map_err(|e| LiveRunError::Open {
                    input: path.display().to_string(),
                    message: e.to_string(),
                })?;
                if let Some(w) = &control.write {
                    let link = reader.link_types().first().copied();
                    // The first window opens at the first packet: capture time drives -G.
                    let first = CaptureReader::open(&path)
                        .ok()
                        .and_then(|mut r| r.first_packet_time())
                        .map(Timestamp::secs);
                    output.open(
                        w,
                        link.unwrap_or(LinkType::ETHERNET),
                        reader.snaplen(),
                        first,
                        observer,
                    )?;
                }
                output.drop_privileges(control.user.as_deref(), false, observer)?;
                let mut last_sweep: Option<Timestamp> = None;
                let result = reader.for_each_packet(|p| {
                    if run.done(observer) || output.halted() {
                        return;
                    }
                    if !output.write(p, observer) {
                        return;
                    }
                    run.packet(p, observer);
                    let now = run.last_ts.unwrap_or(p.ts);
                    if last_sweep.is_none_or(|t| now.saturating_since(t) >= LIVE_SWEEP) {
                        observer.sweep(now);
                        run.retire(now, observer);
                        output.tick(observer);
                        last_sweep = Some(now);
                    }
                    run.tick(now, observer);
                    run.on_demand(now, None, observer);
                });
                run.analyzer.add_input(InputReport {
                    name: path.display().to_string(),
                    format: Some(reader.format().clone()),
                    link_types: reader.link_types().to_vec(),
                    snaplen: reader.snaplen(),
                    stats: reader.stats().clone(),
                    error: None,
                });
                if let Err(e) = result {
                    read_error = Some(format!("{}: {e}", path.display()));
                }
            }
            LiveInput::Interface { options } => {
                let source = LiveSource::open(&options)?;
                let link_type = source.link_type();
                if let Some(w) = &control.write {
                    let snaplen = options.snaplen.max(0) as u32;
                    let now = Some(wall_clock().secs());
                    output.open(w, link_type, snaplen, now, observer)?;
                }
                observer.listening(&options.interface, &link_type.to_string());
                // Before the reading thread starts: the process drops root whole.
                output.drop_privileges(control.user.as_deref(), true, observer)?;
                let batch_bytes = RING_BATCH_BYTES.max(options.snaplen.max(0) as usize);
                let (writer, ring) = ring::ring(
                    (RING_BYTES / batch_bytes).max(2),
                    batch_bytes,
                    RING_BATCH_PACKETS,
                );
                let reader = source.spawn_reader(writer).map_err(|e| LiveError::Other {
                    interface: options.interface.clone(),
                    message: format!("cannot start the capture thread: {e}"),
                })?;
                let mut last_sweep = Instant::now();
                let (mut kernel_drops, mut ring_drops) = (0, 0);
                // Ctrl-C, SIGTERM or --duration: the reading stops, and every packet it
                // read is still analysed and written. -c, a full -W or a failed output
                // stop at once.
                let mut draining = false;
                loop {
                    if !draining && run.stopping() {
                        ring.stop();
                        draining = true;
                    }
                    if run.abandoned(observer) || output.halted() {
                        break;
                    }
                    match ring.next(RING_WAIT) {
                        ring::Next::Batch(batch) => {
                            let mut stopped = false;
                            for p in batch.packets(link_type) {
                                if run.abandoned(observer) || output.halted() {
                                    stopped = true;
                                    break;
                                }
                                if output.write(&p, observer) {
                                    run.packet(&p, observer);
                                }
                            }
                            ring.recycle(batch);
                            observer.after_batch();
                            if stopped {
                                break;
                            }
                        }
                        ring::Next::Idle => {}
                        ring::Next::Closed => break,
                    }
                    if last_sweep.elapsed() >= LIVE_SWEEP {
                        let now = run.now();
                        observer.sweep(now);
                        run.retire(now, observer);
                        run.tick(now, observer);
                        output.tick(observer);
                        // Checked on the sweep: the counts are cumulative.
                        if let Some(s) = reader.stats() {
                            if s.dropped_by_kernel > kernel_drops {
                                observer.kernel_drops(now, s, s.dropped_by_kernel - kernel_drops);
                                kernel_drops = s.dropped_by_kernel;
                            }
                            if s.dropped_ring_full > ring_drops {
                                observer.ring_drops(now, s, s.dropped_ring_full - ring_drops);
                                ring_drops = s.dropped_ring_full;
                            }
                        }
                        last_sweep = Instant::now();
                    }
                    if control
                        .report_now
                        .is_some_and(|f| f.load(Ordering::Relaxed))
                    {
                        let now = run.now();
                        run.on_demand(now, reader.stats(), observer);
                    }
                }
                ring.stop();
                let (error, last) = reader.join();
                if let Some(e) = error {
                    read_error = Some(e);
                }
                stats = last;
                run.analyzer.add_input(InputReport {
                    name: format!("{} (live)", options.interface),
                    format: None,
                    link_types: vec![link_type],
                    snaplen: options.snaplen.max(0) as u32,
                    stats: InputStats {
                        packets: run.packets,
                        first_ts: run.first_ts,
                        last_ts: run.last_ts,
                        ..InputStats::default()
                    },
                    error: None,
                });
            }
        }
        if let Some(e) = output.finish(observer) {
            read_error.get_or_insert(e);
        }
        if observer.wants_records() {
            // What ended since the last sweep, then the connections still open, as they are.
            if let Some(now) = run.last_ts {
                run.retire(now, observer);
            }
            run.analyzer
                .for_each_tracked(|c| observer.finished(&ConnectionRecord::of(c)));
        }
        let LiveRun {
            analyzer, packets, ..
        } = run;
        let active_at_end = analyzer.active_connections() as u64;
        let analysis = analyzer.finish();
        let (retired, evicted) = (analysis.retired, analysis.evicted);
        let mut report = Report::build(analysis);
        report.capture = Some(CaptureSummary {
            packets_captured: packets,
            retired,
            evicted,
            active_at_end,
            received_by_filter: stats.map(|s| s.received_by_filter),
            dropped_by_kernel: stats.map(|s| s.dropped_by_kernel),
            dropped_by_interface: stats.map(|s| s.dropped_by_interface),
            dropped_ring_full: stats.map(|s| s.dropped_ring_full),
        });
        Ok(LiveFinished {
            report,
            packets,
            stats,
            read_error,
        })
    }
}

/// A file to read.
struct Input {
    path: PathBuf,
    /// Found in a directory given, not named.
    in_directory: bool,
    /// Its first packet's time, when it was read while looking through a directory.
    first: Option<Timestamp>,
}

/// The inputs given, directories replaced by the captures under them.
struct Expanded {
    inputs: Vec<Input>,
    /// Directories that could not be read or hold no capture.
    failures: Vec<InputFailure>,
    /// Files in the directories that are not captures.
    left_out: Vec<String>,
}

/// Replaces each directory by every capture under it, at any depth, known by its
/// content (compressed or not), in name order; files that are not captures are left out.
/// A file that starts as a capture but is damaged is kept, so that its fault is reported.
fn expand(given: &[PathBuf]) -> Expanded {
    let mut expanded = Expanded {
        inputs: Vec::new(),
        failures: Vec::new(),
        left_out: Vec::new(),
    };
    for path in given {
        if path.as_os_str() == "-" || !path.is_dir() {
            expanded.inputs.push(Input {
                path: path.clone(),
                in_directory: false,
                first: None,
            });
            continue;
        }
        let mut files = Vec::new();
        let mut seen = Vec::new();
        if let Err(e) = walk(path, &mut files, &mut seen) {
            expanded.failures.push(InputFailure {
                input: path.display().to_string(),
                message: format!("cannot read the directory: {e}"),
                partial: false,
            });
            continue;
        }
        let before = expanded.inputs.len();
        for file in files {
            match CaptureReader::open(&file) {
                Err(e) if e.is_not_a_capture() => {
                    expanded.left_out.push(file.display().to_string());
                }
                opened => expanded.inputs.push(Input {
                    first: opened.ok().and_then(|mut r| r.first_packet_time()),
                    path: file,
                    in_directory: true,
                }),
            }
        }
        if expanded.inputs.len() == before {
            expanded.failures.push(InputFailure {
                input: path.display().to_string(),
                message: "no capture in this directory".to_string(),
                partial: false,
            });
        }
    }
    expanded
}

/// The files under `dir`, depth first, each directory's entries in name order.
/// Directories reached again (through a symbolic link) are not read twice.
fn walk(dir: &Path, files: &mut Vec<PathBuf>, seen: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let real = std::fs::canonicalize(dir)?;
    if seen.contains(&real) {
        return Ok(());
    }
    seen.push(real);
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            // A subdirectory that cannot be read is left out like a non-capture.
            if walk(&entry, files, seen).is_err() {
                files.push(entry);
            }
        } else {
            files.push(entry);
        }
    }
    Ok(())
}

/// The one warning that lists the files of directories that are not captures.
fn left_out_warning(left_out: &[String]) -> Option<String> {
    const SHOWN: usize = 10;
    if left_out.is_empty() {
        return None;
    }
    let mut names = left_out[..left_out.len().min(SHOWN)].join(", ");
    if left_out.len() > SHOWN {
        names.push_str(&format!(" and {} more", left_out.len() - SHOWN));
    }
    Some(format!(
        "left out {} file(s) in the directories given that are not pcap or pcapng captures: {names}",
        left_out.len()
    ))
}

/// The order to read files in: by their first packet's time (rotated files given out of
/// order), the given order among equals. Standard input, and files whose first packet
/// cannot be read, keep their places.
fn time_order(inputs: &[Input]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..inputs.len()).collect();
    if inputs.len() < 2 {
        return order;
    }
    let timed: Vec<(usize, Timestamp)> = inputs
        .iter()
        .enumerate()
        .filter(|(_, input)| input.path.as_os_str() != "-")
        .filter_map(|(i, input)| {
            let first = match input.first {
                Some(t) => Some(t),
                None if input.in_directory => None,
                None => CaptureReader::open(&input.path).ok()?.first_packet_time(),
            };
            Some((i, first?))
        })
        .collect();
    let mut sorted = timed.clone();
    sorted.sort_by_key(|&(i, t)| (t, i));
    for ((slot, _), (i, _)) in timed.iter().zip(&sorted) {
        order[*slot] = *i;
    }
    order
}

/// Pairs of inputs, in reading order, whose time spans overlap: an input that begins
/// before one read earlier ends.
fn overlaps(inputs: &[InputReport]) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut latest: Option<(&str, Timestamp)> = None;
    for input in inputs {
        let (Some(first), Some(last)) = (input.stats.first_ts, input.stats.last_ts) else {
            continue;
        };
        if let Some((name, end)) = latest {
            if first < end {
                found.push((name.to_string(), input.name.clone()));
            }
        }
        if latest.is_none_or(|(_, end)| last > end) {
            latest = Some((&input.name, last));
        }
    }
    found
}

fn wants_events<S: EventSink>(_: &S) -> bool {
    S::WANTS_EVENTS
}

/// The first link type of the inputs for which the filter does not compile.
fn unfilterable_link(options: &Options, analysis: &Analysis) -> Option<String> {
    options.filter.as_ref()?;
    let links = analysis.inputs.iter().flat_map(|i| i.link_types.iter());
    links
        .filter_map(|l| Analyzer::new(options).check_filter(*l).err())
        .map(|e| e.to_string())
        .next()
}

/// Where a live run reads.
pub enum LiveInput {
    /// A capture on an interface.
    Interface { options: LiveOptions },
    /// A capture file replayed through the live path (`synack capture -r`).
    Replay(PathBuf),
}

/// What bounds a live run besides the observer.
pub struct LiveControl<'a> {
    /// Set by a signal handler: stop at the next packet.
    pub stop: &'a AtomicBool,
    /// Stop after this many packets (`-c`).
    pub count: Option<u64>,
    /// Stop after this long (wall clock).
    pub duration: Option<Duration>,
    /// Hand the observer a summary this often (capture time).
    pub interval: Option<Duration>,
    /// Set by SIGUSR1: hand the observer the statistics now (cleared when done).
    pub report_now: Option<&'a AtomicBool>,
    /// Keep the packets in pcap files (`-w`), rotated as tcpdump rotates them.
    pub write: Option<LiveWrite>,
    /// Drop to this user once the source and the first file are open (`-Z`).
    pub user: Option<String>,
}

/// `-w FILE` and its rotation (`-C`, `-G`, `-W`, `-z`).
#[derive(Clone, Debug)]
pub struct LiveWrite {
    pub path: PathBuf,
    pub rotation: Rotation,
}

/// What a live run tells as it goes.
pub trait LiveObserver: EventSink {
    /// The interface is open: its name and link type.
    fn listening(&mut self, _interface: &str, _link_type: &str) {}
    /// Every event of a packet has been handed over.
    fn end_packet(&mut self) {}
    /// A batch of packets from the interface is done (a printer flushes).
    fn after_batch(&mut self) {}
    /// The summary so far, every `LiveControl::interval`: connections still tracked, by
    /// what they are doing (`syn_sent`, `established`, `time_wait`…, with their counts,
    /// in that order), and the summary of every connection seen.
    fn interval(&mut self, _now: Timestamp, _tracked: &[(&'static str, u64)], _summary: &Summary) {}
    /// A connection let go of (no packet for `--idle-timeout`) with its SYN never
    /// answered.
    fn unanswered(&mut self, _now: Timestamp, _record: &ConnectionRecord) {}
    /// Statistics asked for (SIGUSR1): packets captured so far, the tracked connections
    /// and summary as for `interval`, and libpcap's counts (an interface only).
    fn statistics(
        &mut self,
        _now: Timestamp,
        _packets: u64,
        _tracked: &[(&'static str, u64)],
        _summary: &Summary,
        _stats: Option<LiveStats>,
    ) {
    }
    /// The kernel's drop count grew by `grown` since the last check (`stats` holds the
    /// totals).
    fn kernel_drops(&mut self, _now: Timestamp, _stats: LiveStats, _grown: u64) {}
    /// The capture ring was full and `grown` more packets were dropped since the last
    /// check (`stats.dropped_ring_full` holds the total): the analysis fell behind by more
    /// than the ring holds.
    fn ring_drops(&mut self, _now: Timestamp, _stats: LiveStats, _grown: u64) {}
    /// The once-a-second sweep, at `now` (capture time when a file is replayed), before
    /// the connections that are over are handed to `finished`.
    fn sweep(&mut self, _now: Timestamp) {}
    /// A `-w` file was opened (the first, and each rotation's).
    fn capture_file(&mut self, _path: &Path) {}
    /// Files of the observer's own, open when `-Z` drops privileges: given to the user too.
    fn own_files(&self) -> Vec<PathBuf> {
        Vec::new()
    }
    /// One line worth telling the user, not an error (privileges dropped, a `-z` command
    /// that could not start, the `-W` limit reached).
    fn notice(&mut self, _line: &str) {}
    /// Whether to be handed each connection's record as it ends (`finished`).
    fn wants_records(&self) -> bool {
        false
    }
    /// A connection let go of (closed and retired, idle, or evicted), or still open when
    /// the run ends: its record, once.
    fn finished(&mut self, _record: &ConnectionRecord) {}
    /// Stop the run (its output was closed, say).
    fn failed(&self) -> bool {
        false
    }
}

/// What a live run found.
pub struct LiveFinished {
    pub report: Report,
    pub packets: u64,
    /// libpcap's counts, for an interface.
    pub stats: Option<LiveStats>,
    /// What stopped the reading early, if anything (one line).
    pub read_error: Option<String>,
}

/// Why a live run could not start or end cleanly.
#[derive(Debug, thiserror::Error)]
pub enum LiveRunError {
    #[error(transparent)]
    Filter(#[from] FilterError),
    #[error(transparent)]
    Live(#[from] LiveError),
    #[error("{input}: {message}")]
    Open { input: String, message: String },
    #[error("{path}: cannot write: {message}")]
    Write { path: String, message: String },
    #[error("{0}")]
    Privileges(String),
}

/// The live loop's state beside the source.
struct LiveRun<'a> {
    analyzer: Analyzer,
    packets: u64,
    first_ts: Option<Timestamp>,
    last_ts: Option<Timestamp>,
    next_interval: Option<Timestamp>,
    control: &'a LiveControl<'a>,
    started: Instant,
}

impl LiveRun<'_> {
    fn done(&self, observer: &impl LiveObserver) -> bool {
        self.stopping() || self.abandoned(observer)
    }

    /// Asked to stop (a signal) or out of time: what was read is still analysed.
    fn stopping(&self) -> bool {
        let c = self.control;
        c.stop.load(Ordering::SeqCst) || c.duration.is_some_and(|d| self.started.elapsed() >= d)
    }

    /// `-c` packets analysed, or the output failed: stop before the next packet.
    fn abandoned(&self, observer: &impl LiveObserver) -> bool {
        self.control.count.is_some_and(|n| self.packets >= n) || observer.failed()
    }

    fn packet(&mut self, p: &Packet<'_>, observer: &mut impl LiveObserver) {
        self.packets += 1;
        self.first_ts.get_or_insert(p.ts);
        self.last_ts = Some(self.last_ts.map_or(p.ts, |t| t.max(p.ts)));
        self.analyzer.process(p, &mut Forward(observer));
        observer.end_packet();
    }

    /// Lets go of the connections that are over, telling the observer of each whose SYN
    /// was never answered.
    fn retire(&mut self, now: Timestamp, observer: &mut impl LiveObserver) {
        self.analyzer.retire(now);
        for record in self.analyzer.take_unanswered() {
            observer.unanswered(now, &record);
        }
        for record in self.analyzer.take_finished() {
            observer.finished(&record);
        }
    }

    /// Hands the observer the summary when an interval is due.
    fn tick(&mut self, now: Timestamp, observer: &mut impl LiveObserver) {
        let Some(every) = self.control.interval else {
            return;
        };
        let due = *self.next_interval.get_or_insert(now.saturating_add(every));
        if now < due {
            return;
        }
        let (tracked, all) = self.snapshot();
        observer.interval(now, &tracked, &all);
        self.next_interval = Some(now.saturating_add(every));
    }

    /// A live capture's time: the wall clock, never behind the packets.
    fn now(&self) -> Timestamp {
        wall_clock().max(self.last_ts.unwrap_or_default())
    }

    /// SIGUSR1: the statistics, when asked for.
    fn on_demand(
        &mut self,
        now: Timestamp,
        stats: Option<LiveStats>,
        observer: &mut impl LiveObserver,
    ) {
        let Some(flag) = self.control.report_now else {
            return;
        };
        if flag.swap(false, Ordering::Relaxed) {
            let (tracked, all) = self.snapshot();
            observer.statistics(now, self.packets, &tracked, &all, stats);
        }
    }

    /// The tracked connections by what they are doing, and the summary of every
    /// connection seen so far.
    fn snapshot(&mut self) -> (Vec<(&'static str, u64)>, Summary) {
        self.analyzer.settle();
        let mut all = self.analyzer.unlisted_summary().clone();
        let mut tracked: Vec<(&'static str, u64)> = Vec::new();
        // Dormant connections too: quiet for a second is not over.
        self.analyzer.for_each_tracked(|c| {
            let record = ConnectionRecord::of(c);
            let state = tracked_state(record.client_state, record.server_state);
            match tracked.iter_mut().find(|(s, _)| *s == state) {
                Some((_, n)) => *n += 1,
                None => tracked.push((state, 1)),
            }
            all.add(&record);
        });
        tracked.sort_by_key(|&(s, _)| TRACKED_STATES.iter().position(|&t| t == s));
        (tracked, all.finish())
    }
}

/// The `-w` files of a live run, and what stopped them.
#[derive(Default)]
struct Output {
    writer: Option<RotatingWriter>,
    /// The first write error: the run stops.
    failed: Option<String>,
    /// `-G` with `-W`: the last file is full; the run stops.
    limit: bool,
    /// Packets of another link type than the files' (a replayed pcapng): not written.
    other_link: u64,
    /// Files opened so far, told to the observer.
    files_told: usize,
}

impl Output {
    fn open(
        &mut self,
        w: &LiveWrite,
        link: LinkType,
        snaplen: u32,
        now: Option<i64>,
        observer: &mut impl LiveObserver,
    ) -> Result<(), LiveRunError> {
        let writer = RotatingWriter::create(&w.path, w.rotation.clone(), link, snaplen, now)
            .map_err(|e| LiveRunError::Write {
                path: w.path.display().to_string(),
                message: e.to_string(),
            })?;
        self.writer = Some(writer);
        self.tell_new_file(observer);
        Ok(())
    }

    /// Tells the observer of a file opened since it was last told.
    fn tell_new_file(&mut self, observer: &mut impl LiveObserver) {
        if let Some(w) = &self.writer {
            if w.opened().len() != self.files_told {
                self.files_told = w.opened().len();
                observer.capture_file(w.current());
            }
        }
    }

    /// `-Z`, once the source and the first file are open. As root without `-Z` a live
    /// capture stays root and says so (docs/live.md: why not a default user).
    fn drop_privileges(
        &self,
        user: Option<&str>,
        live: bool,
        observer: &mut impl LiveObserver,
    ) -> Result<(), LiveRunError> {
        match user {
            Some(user) if privileges::is_root() => {
                let theirs = observer.own_files();
                let owned: Vec<&Path> = self
                    .writer
                    .iter()
                    .map(|w| w.current())
                    .chain(theirs.iter().map(PathBuf::as_path))
                    .collect();
                let d = privileges::drop_to(user, &owned).map_err(LiveRunError::Privileges)?;
                observer.notice(&format!(
                    "dropped privileges to {} (uid {}, gid {})",
                    d.user, d.uid, d.gid
                ));
            }
            Some(user) => observer.notice(&format!(
                "not running as root: -Z {user} has no privileges to drop"
            )),
            None if live && privileges::is_root() => observer.notice(
                "running as root for the whole capture; -Z USER drops privileges once the capture is open",
            ),
            None => {}
        }
        Ok(())
    }

    fn halted(&self) -> bool {
        self.limit || self.failed.is_some()
    }

    /// Writes the packet; false when it must not be counted (the run stops before it).
    fn write(&mut self, p: &Packet<'_>, observer: &mut impl LiveObserver) -> bool {
        let Some(w) = self.writer.as_mut() else {
            return true;
        };
        if self.limit || self.failed.is_some() {
            return false;
        }
        if p.link_type != w.link_type() {
            self.other_link += 1;
            return true;
        }
        // -G windows follow the packets' time: the wall clock live, capture time replayed.
        match w.write(p, p.ts.secs()) {
            Ok(Written::Packet) => {
                self.tell_new_file(observer);
                true
            }
            Ok(Written::Limit) => {
                self.limit = true;
                false
            }
            Err(e) => {
                self.failed = Some(format!("{}: cannot write: {e}", w.current().display()));
                false
            }
        }
    }

    /// On the sweep: reap finished `-z` commands, and say once if one could not start.
    fn tick(&mut self, observer: &mut impl LiveObserver) {
        if let Some(w) = self.writer.as_mut() {
            w.reap();
            if let Some(e) = w.take_command_error() {
                observer.notice(&e);
            }
        }
    }

    /// Closes the last file; the error that ended the writing, if any.
    fn finish(&mut self, observer: &mut impl LiveObserver) -> Option<String> {
        let mut w = self.writer.take()?;
        if self.limit {
            let n = w.rotation().files.unwrap_or(0);
            observer.notice(&format!("maximum file limit reached: {n}"));
        }
        if self.other_link > 0 {
            observer.notice(&format!(
                "{} packets of another link type than {} were not written to {}",
                self.other_link,
                w.link_type(),
                w.current().display()
            ));
        }
        let closed = w.finish();
        if let Some(e) = w.take_command_error() {
            observer.notice(&e);
        }
        if let Err(e) = closed {
            self.failed
                .get_or_insert(format!("{}: cannot write: {e}", w.current().display()));
        }
        self.failed.take()
    }
}

/// What a tracked connection is doing, for the interval line, in this order.
const TRACKED_STATES: [&str; 6] = [
    "syn_sent",
    "syn_received",
    "established",
    "closing",
    "time_wait",
    "closed",
];

/// One word for a connection's pair of endpoint states: its handshake unanswered
/// (`syn_sent`) or half done (`syn_received`), `established`, `closing` (a FIN on the
/// way), `time_wait` (an end holds the 4-tuple), or `closed` (kept until 2·MSL or the
/// idle timeout let it go).
fn tracked_state(client: TcpState, server: TcpState) -> &'static str {
    use TcpState::*;
    match (client, server) {
        (TimeWait, _) | (_, TimeWait) => "time_wait",
        (Established, Established) => "established",
        (SynReceived, _) | (_, SynReceived) => "syn_received",
        (SynSent, _) | (_, SynSent) => "syn_sent",
        (Closed | Listen, Closed | Listen) => "closed",
        (Established, Closed | Listen) | (Closed | Listen, Established) => "established",
        _ => "closing",
    }
}

/// Hands a live observer's events on (the observer is borrowed for the packet only).
struct Forward<'a, O>(&'a mut O);

impl<O: LiveObserver> EventSink for Forward<'_, O> {
    const WANTS_EVENTS: bool = O::WANTS_EVENTS;
    fn wants(&self, id: u64) -> bool {
        self.0.wants(id)
    }
    fn event(&mut self, conn: &ConnectionView, at: Timestamp, e: Event) {
        self.0.event(conn, at, e);
    }
}

/// libpcap's first interface, which a capture uses when none is named.
pub fn default_interface() -> Option<String> {
    pcap::Device::lookup().ok().flatten().map(|d| d.name)
}

fn wall_clock() -> Timestamp {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp::from_nanos(i64::try_from(now.as_nanos()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compressed_input_s_decoder_takes_one_of_the_threads() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/archive");
        let plain: Vec<PathBuf> = ["trace.pcap", "trace.pcap1", "trace.pcap2"]
            .iter()
            .map(|f| root.join("sensor-a/2026-01-01").join(f))
            .collect();
        let zstd: Vec<PathBuf> = ["trace.pcap", "trace.pcap1", "trace.pcap2"]
            .iter()
            .map(|f| root.join("compressed/zstd").join(f))
            .collect();
        let workers = |threads: usize, paths: &[PathBuf]| {
            Pipeline::new(Options::default())
                .threads(threads)
                .workers(paths)
        };
        // Uncompressed: N−1 workers, the decoder question does not arise.
        assert_eq!(workers(1, &plain), (0, false));
        assert_eq!(workers(2, &plain), (1, false));
        assert_eq!(workers(3, &plain), (2, false));
        // Compressed: the decoder is one of the N.
        assert_eq!(workers(1, &zstd), (0, false));
        assert_eq!(workers(2, &zstd), (0, true));
        assert_eq!(workers(3, &zstd), (1, true));
        // Mostly uncompressed bytes (a plain file is some six times its zstd copy): the
        // decoder stays on the reading thread.
        let mixed = [plain[0].clone(), zstd[1].clone()];
        assert_eq!(workers(2, &mixed), (1, false));
        // Standard input is not looked at, nor counted.
        assert_eq!(workers(2, &[PathBuf::from("-")]), (1, false));
        // A bounded run tracks on one thread whatever the input.
        let bounded = Pipeline::new(Options::default())
            .threads(3)
            .max_connections(10);
        assert_eq!(bounded.workers(&zstd), (0, false));
    }
}
