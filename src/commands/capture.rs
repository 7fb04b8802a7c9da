//! `synack capture`: tcpdump-style live capture that prints connection events as they
//! happen, then the full report for what was seen.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use synack::analysis::analyzer::Options;
use synack::analysis::pipeline::{
    default_interface, list_interfaces, LiveControl, LiveFinished, LiveInput, LiveObserver,
    LiveOptions, LiveStats, LiveWrite, Pipeline, Rotation,
};
use synack::model::connection_record::ConnectionRecord;
use synack::model::event::{ConnectionView, Event, EventSink};
use synack::model::summary::Summary;
use synack::model::time::Timestamp;
use synack::output::events::{self, EventOptions, EventPrinter};
use synack::output::record_files::{self, Destination, RecordFiles};
use synack::output::records::{LocalNets, RecordOptions};
use synack::output::table::{self, Rows, TableOptions};

use super::{term, values};

#[derive(clap::Args)]
#[command(after_help = "Examples:
  sudo synack capture -i eth0 'tcp port 443'       events as they happen; Ctrl-C: report
  sudo synack capture -i any -w out.pcap -c 10000  keep the packets too
  sudo synack capture -i eth0 -w ring.pcap -C 100 -W 10 -Z nobody
                                                   a ring of 10 files of 100 MB, not as root
  sudo synack capture -i eth0 -w cap-%H%M.pcap -G 3600 --records-rotate capture --records-format parquet
                                                   hourly files, each with its connections' records
  synack capture -r capture.pcap -v                replay a file, every segment
  sudo synack capture -i eth0 --json | jq .        NDJSON events (docs/live.md)")]
pub struct CaptureArgs {
    /// Interface to capture on (`any` for all); default: libpcap's first interface.
    #[arg(short = 'i', long)]
    interface: Option<String>,
    /// List the interfaces that can be captured on, and exit.
    #[arg(short = 'D', long = "list-interfaces")]
    list_interfaces: bool,
    /// Replay a capture file through the same event printer instead of capturing.
    #[arg(
        short = 'r',
        long = "read",
        value_name = "FILE",
        conflicts_with = "interface"
    )]
    read: Option<PathBuf>,
    /// Also write every captured packet to this pcap file (as tcpdump -w).
    #[arg(short = 'w', long = "write", value_name = "FILE")]
    write: Option<PathBuf>,
    /// With -w: start a new file once the current one is larger than this, in millions of
    /// bytes (as tcpdump; `k`, `m`, `g`: KiB, MiB, GiB); files FILE, FILE1, FILE2…
    #[arg(
        short = 'C',
        value_name = "MB",
        requires = "write",
        allow_hyphen_values = true,
        value_parser = values::file_size,
    )]
    file_size: Option<u64>,
    /// With -w: start a new file every this many seconds; FILE is a strftime(3) format in
    /// local time (e.g. `trace-%Y%m%d-%H%M%S.pcap`).
    #[arg(
        short = 'G',
        value_name = "SECONDS",
        requires = "write",
        allow_hyphen_values = true,
        value_parser = values::whole(1u64, Some(values::SECONDS_MAX as u64)),
    )]
    rotate_seconds: Option<u64>,
    /// With -C: a ring of N files (FILE0…, numbered to the width of N−1); with -G alone:
    /// stop after N files.
    #[arg(
        short = 'W',
        value_name = "N",
        allow_hyphen_values = true,
        value_parser = values::whole(1u32, Some(i32::MAX as u32)),
    )]
    file_count: Option<u32>,
    /// Run CMD FILE on each -w file once it is closed (e.g. `-z gzip`), not waited for.
    #[arg(short = 'z', value_name = "CMD", requires = "write")]
    post_rotate: Option<String>,
    /// As root: drop to USER (its groups, then group, then user id) once the interface
    /// and the first -w file are open; the -w files are given to USER.
    #[arg(short = 'Z', long = "relinquish-privileges", value_name = "USER")]
    user: Option<String>,
    /// Write each connection's record when it ends (closed and retired, idle, evicted;
    /// those still open at the end as they are) to FILE (`-`: standard output, instead of
    /// the events and the report).
    #[arg(long, value_name = "FILE|-")]
    records: Option<PathBuf>,
    /// The records' format: Zeek's conn.log, tab-separated or JSON, or Parquet with the
    /// columns of `report --format parquet` (docs/records.md); default: zeek.
    #[arg(long, value_name = "FORMAT")]
    records_format: Option<RecordsFormat>,
    /// Close the records file and open the next every SECONDS (FILE a strftime(3) format,
    /// the windows aligned on multiples of SECONDS), or with each -w file (`capture`: the
    /// -w file's name plus .conn.log, .conn.json or .conn.parquet; no --records FILE).
    #[arg(long, value_name = "SECONDS|capture", value_parser = records_rotation)]
    records_rotate: Option<RecordsRotation>,
    /// Zeek's Site::local_nets for the records' local_orig/local_resp.
    #[arg(long, value_name = "NETS", value_parser = clap::value_parser!(LocalNets))]
    local_nets: Option<LocalNets>,
    /// Stop after this many packets.
    #[arg(
        short = 'c',
        value_name = "N",
        allow_hyphen_values = true,
        value_parser = values::whole(1u64, None),
    )]
    count: Option<u64>,
    /// Stop after this many seconds.
    #[arg(
        long,
        value_name = "SECONDS",
        allow_hyphen_values = true,
        value_parser = values::seconds,
    )]
    duration: Option<Duration>,
    /// Bytes of each packet to capture, at most 262144; 0 means 262144 (as tcpdump).
    #[arg(
        short = 's',
        long,
        value_name = "SNAPLEN",
        default_value_t = values::SNAPLEN_MAX,
        allow_hyphen_values = true,
        value_parser = values::snaplen,
    )]
    snaplen: i32,
    /// Kernel capture buffer size, in KiB (1 to 2097151).
    #[arg(
        short = 'B',
        long = "buffer-size",
        value_name = "KIB",
        allow_hyphen_values = true,
        value_parser = values::whole(1, Some(values::BUFFER_KIB_MAX)),
    )]
    buffer_kib: Option<i32>,
    /// Deliver packets as they arrive, without batching.
    #[arg(long)]
    immediate_mode: bool,
    /// Do not put the interface into promiscuous mode.
    #[arg(short = 'p', long = "no-promiscuous-mode")]
    no_promiscuous: bool,
    /// Also print every TCP segment (tcpdump-like) with the state changes it caused.
    #[arg(short = 'v', long)]
    verbose: bool,
    /// No connection events: only `--interval` summaries, kernel drops, the records and
    /// the final report (a capture whose records are its output).
    #[arg(short = 'q', long, conflicts_with = "verbose")]
    quiet: bool,
    /// Print events as JSON, one object per line (NDJSON).
    #[arg(long)]
    json: bool,
    /// Print a summary line every N seconds.
    #[arg(
        long,
        value_name = "SECONDS",
        allow_hyphen_values = true,
        value_parser = values::seconds,
    )]
    interval: Option<Duration>,
    /// Retire connections idle this long that never completed their handshake, or whose
    /// peer answers no keep-alive (Zeek's tcp_inactivity_timeout: 300 s).
    #[arg(
        long,
        value_name = "SECONDS",
        default_value = "300",
        allow_hyphen_values = true,
        value_parser = values::seconds,
    )]
    idle_timeout: Duration,
    /// Retire established and half-closed connections idle this long: longer than a
    /// keep-alive's 2 hours before its first probe.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value = "8100",
        allow_hyphen_values = true,
        value_parser = values::seconds,
    )]
    established_timeout: Duration,
    /// Most connections tracked at once; beyond it the longest-idle are evicted.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1_000_000,
        allow_hyphen_values = true,
        value_parser = values::whole(1usize, None),
    )]
    max_connections: usize,
    /// Maximum segment lifetime in seconds; TIME_WAIT lasts 2·MSL.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value = "60",
        allow_hyphen_values = true,
        value_parser = values::seconds,
    )]
    msl: Duration,
    /// Print times in UTC rather than local time.
    #[arg(long)]
    utc: bool,
    /// A libpcap filter expression, as tcpdump takes it (e.g. `tcp port 443`).
    #[arg(trailing_var_arg = true, value_name = "FILTER")]
    filter: Vec<String>,
    #[command(flatten)]
    table: term::TableArgs,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum RecordsFormat {
    /// Zeek's conn.log, tab-separated with its header.
    Zeek,
    /// Zeek's JSON conn.log, one object per line.
    ZeekJson,
    /// Parquet, the columns of `report --format parquet`.
    Parquet,
}

/// `--records-rotate`: when a records file is closed and the next opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RecordsRotation {
    Every(u64),
    WithCapture,
}

fn records_rotation(text: &str) -> Result<RecordsRotation, String> {
    if text == "capture" {
        return Ok(RecordsRotation::WithCapture);
    }
    values::whole(1u64, Some(values::SECONDS_MAX as u64))(text)
        .map(RecordsRotation::Every)
        .map_err(|e| format!("{e}, or `capture`"))
}

/// The event printer as the live run's observer: it keeps the first write error, which
/// stops the run.
struct Printer<W: Write> {
    printer: EventPrinter<W>,
    /// `--records`: each connection's record as it ends.
    records: Option<RecordFiles>,
    io_error: Option<io::Error>,
    /// `-q`: no connection events.
    quiet: bool,
    utc: bool,
    /// The banner's snapshot length and filter.
    snaplen: i32,
    filter: String,
}

impl<W: Write> Printer<W> {
    fn keep(&mut self, result: io::Result<()>) {
        if let Err(e) = result {
            self.io_error.get_or_insert(e);
        }
    }
}

impl<W: Write> EventSink for Printer<W> {
    fn event(&mut self, c: &ConnectionView, ts: Timestamp, e: Event) {
        if self.io_error.is_none() && !self.quiet {
            let result = self.printer.event(c, ts, e);
            self.keep(result);
        }
    }
}

impl<W: Write> LiveObserver for Printer<W> {
    fn listening(&mut self, interface: &str, link_type: &str) {
        eprintln!(
            "synack: listening on {interface}, link-type {link_type}, snapshot length {} bytes{}",
            self.snaplen,
            if self.filter.is_empty() {
                String::new()
            } else {
                format!(", filter '{}'", self.filter)
            }
        );
    }

    fn end_packet(&mut self) {
        let result = self.printer.end_packet();
        self.keep(result);
    }

    fn after_batch(&mut self) {
        let result = self.printer.flush();
        self.keep(result);
        if let Some(r) = &mut self.records {
            let result = r.flush();
            self.keep(result);
        }
    }

    fn interval(&mut self, now: Timestamp, tracked: &[(&'static str, u64)], summary: &Summary) {
        let result = self.printer.interval(now, tracked, summary);
        self.keep(result);
    }

    fn unanswered(&mut self, now: Timestamp, record: &ConnectionRecord) {
        if self.quiet {
            return;
        }
        let result = self.printer.unanswered(now, record);
        self.keep(result);
    }

    fn statistics(
        &mut self,
        now: Timestamp,
        packets: u64,
        tracked: &[(&'static str, u64)],
        summary: &Summary,
        stats: Option<LiveStats>,
    ) {
        // To standard error, as tcpdump answers SIGUSR1: the event stream stays clean.
        let mut err = io::stderr().lock();
        let _ = writeln!(
            err,
            "{} {}",
            events::clock(now, self.utc),
            events::summary_line(tracked, summary)
        );
        let _ = write_counts(&mut err, packets, stats);
    }

    fn kernel_drops(&mut self, now: Timestamp, stats: LiveStats, grown: u64) {
        let result = self.printer.kernel_drops(
            now,
            grown,
            stats.dropped_by_kernel,
            stats.received_by_filter,
            stats.dropped_by_interface,
        );
        self.keep(result);
    }

    fn ring_drops(&mut self, now: Timestamp, stats: LiveStats, grown: u64) {
        let result = self.printer.ring_drops(now, grown, stats.dropped_ring_full);
        self.keep(result);
    }

    fn wants_records(&self) -> bool {
        self.records.is_some()
    }

    fn sweep(&mut self, now: Timestamp) {
        if let Some(r) = &mut self.records {
            let result = r.sweep(now);
            self.keep(result);
        }
    }

    fn capture_file(&mut self, path: &Path) {
        if let Some(r) = &mut self.records {
            let result = r.capture_file(path);
            self.keep(result);
        }
    }

    fn own_files(&self) -> Vec<PathBuf> {
        let records = self.records.as_ref().and_then(|r| r.current());
        records.map(Path::to_path_buf).into_iter().collect()
    }

    fn finished(&mut self, record: &ConnectionRecord) {
        if self.io_error.is_none() {
            if let Some(r) = &mut self.records {
                let result = r.record(record);
                self.keep(result);
            }
        }
    }

    fn notice(&mut self, line: &str) {
        eprintln!("synack: {line}");
    }

    fn failed(&self) -> bool {
        self.io_error.is_some()
    }
}

/// libpcap's counts as tcpdump prints them.
fn write_counts(err: &mut impl Write, packets: u64, stats: Option<LiveStats>) -> io::Result<()> {
    writeln!(err, "{packets} packets captured")?;
    if let Some(s) = stats {
        writeln!(err, "{} packets received by filter", s.received_by_filter)?;
        writeln!(err, "{} packets dropped by kernel", s.dropped_by_kernel)?;
        // synack's own, before tcpdump's last line.
        writeln!(
            err,
            "{} packets dropped by synack (capture ring full)",
            s.dropped_ring_full
        )?;
        writeln!(
            err,
            "{} packets dropped by interface",
            s.dropped_by_interface
        )?;
    }
    Ok(())
}

/// Where `--records` and `--records-rotate` send the records; `None`: nowhere.
fn records_destination(args: &CaptureArgs) -> anyhow::Result<Option<Destination>> {
    let rotating_capture = args.file_size.is_some() || args.rotate_seconds.is_some();
    let stdout = args.records.as_ref().is_some_and(|p| p.as_os_str() == "-");
    Ok(match (&args.records, args.records_rotate) {
        (None, None) => None,
        (Some(_), None) if stdout => Some(Destination::Stdout),
        (Some(path), None) => Some(Destination::File(path.clone())),
        (None, Some(RecordsRotation::WithCapture)) if rotating_capture => {
            Some(Destination::BesideCapture)
        }
        (None, Some(RecordsRotation::WithCapture)) => {
            anyhow::bail!("--records-rotate capture needs -w with -C or -G (files to follow)")
        }
        (Some(_), Some(RecordsRotation::WithCapture)) => anyhow::bail!(
            "--records-rotate capture names the records files after the -w files: leave out --records"
        ),
        (None, Some(RecordsRotation::Every(_))) => {
            anyhow::bail!("--records-rotate SECONDS needs --records FILE (a strftime(3) format)")
        }
        (Some(_), Some(RecordsRotation::Every(_))) if stdout => {
            anyhow::bail!("--records-rotate: standard output cannot be rotated")
        }
        (Some(path), Some(RecordsRotation::Every(seconds))) => {
            // Without a conversion every window would overwrite the one before.
            if !path.as_os_str().as_encoded_bytes().contains(&b'%') {
                anyhow::bail!(
                    "--records-rotate {seconds}: {} holds no strftime(3) conversion, so each window would overwrite the last (e.g. conn-%Y%m%d-%H%M%S.parquet)",
                    path.display()
                );
            }
            Some(Destination::Every {
                template: path.clone(),
                seconds,
            })
        }
    })
}

/// Set by SIGUSR1: print the statistics (tcpdump's SIGINFO/SIGUSR1).
static STATISTICS_ASKED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigusr1(_: libc::c_int) {
    STATISTICS_ASKED.store(true, Ordering::Relaxed);
}

pub fn run(args: CaptureArgs) -> anyhow::Result<ExitCode> {
    if args.list_interfaces {
        let list = list_interfaces().map_err(|e| anyhow::anyhow!("cannot list interfaces: {e}"))?;
        let mut out = io::stdout().lock();
        for (i, (name, desc)) in list.iter().enumerate() {
            match desc {
                Some(d) => writeln!(out, "{}.{name} ({d})", i + 1)?,
                None => writeln!(out, "{}.{name}", i + 1)?,
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let filter = args.filter.join(" ");
    if args.file_count.is_some() && args.file_size.is_none() && args.rotate_seconds.is_none() {
        anyhow::bail!("-W needs -C or -G (a ring of files, or a number of time windows)");
    }

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst))
            .context("cannot install the SIGINT/SIGTERM handler")?;
    }
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        let handler: extern "C" fn(libc::c_int) = on_sigusr1;
        libc::signal(libc::SIGUSR1, handler as libc::sighandler_t);
    }

    let pipeline = Pipeline::new(Options {
        filter: (!filter.trim().is_empty()).then(|| filter.clone()),
        msl: args.msl,
        ..Options::default()
    })
    .idle_timeout(args.idle_timeout)
    .established_timeout(args.established_timeout)
    .max_connections(args.max_connections);
    let input = match &args.read {
        Some(path) => LiveInput::Replay(path.clone()),
        None => {
            let interface = match &args.interface {
                Some(i) => i.clone(),
                None => default_interface()
                    .ok_or_else(|| anyhow::anyhow!("no interface to capture on; use -i"))?,
            };
            LiveInput::Interface {
                options: LiveOptions {
                    interface,
                    filter: filter.clone(),
                    snaplen: args.snaplen,
                    buffer_kib: args.buffer_kib,
                    promiscuous: !args.no_promiscuous,
                    immediate: args.immediate_mode,
                },
            }
        }
    };
    // `--records -`: standard output carries the records only.
    let records_to_stdout = args.records.as_ref().is_some_and(|p| p.as_os_str() == "-");
    let records = match records_destination(&args)? {
        None if args.records_format.is_some() => {
            anyhow::bail!("--records-format needs --records FILE|- or --records-rotate capture")
        }
        None => None,
        Some(destination) => {
            let format = match args.records_format.unwrap_or(RecordsFormat::Zeek) {
                RecordsFormat::Zeek => record_files::RecordsFormat::Zeek,
                RecordsFormat::ZeekJson => record_files::RecordsFormat::ZeekJson,
                RecordsFormat::Parquet => record_files::RecordsFormat::Parquet,
            };
            let opts = RecordOptions {
                local_nets: args.local_nets.clone(),
            };
            Some(RecordFiles::new(destination, format, opts)?)
        }
    };
    let events: Box<dyn Write> = if records_to_stdout {
        Box::new(io::sink())
    } else {
        Box::new(io::BufWriter::new(io::stdout()))
    };
    let mut printer = Printer {
        records,
        printer: EventPrinter::new(
            events,
            EventOptions {
                verbose: args.verbose,
                json: args.json,
                utc: args.utc,
            },
        ),
        io_error: None,
        quiet: args.quiet,
        utc: args.utc,
        snaplen: args.snaplen,
        filter,
    };
    let control = LiveControl {
        stop: &stop,
        count: args.count,
        duration: args.duration,
        interval: args.interval,
        report_now: Some(&STATISTICS_ASKED),
        write: args.write.clone().map(|path| LiveWrite {
            path,
            rotation: Rotation {
                size: args.file_size,
                seconds: args.rotate_seconds,
                files: args.file_count,
                command: args.post_rotate.clone(),
            },
        }),
        user: args.user.clone(),
    };
    let finished = pipeline.run_live(input, &control, &mut printer)?;

    // Final report, as `synack report` prints it, for everything seen.
    if let Some(e) = printer.io_error.take() {
        if e.kind() == io::ErrorKind::BrokenPipe {
            return Ok(ExitCode::SUCCESS);
        }
        return Err(e.into());
    }
    if let Some(r) = &mut printer.records {
        r.finish()?;
    }
    let LiveFinished {
        report,
        packets,
        stats,
        read_error,
    } = finished;
    let mut out = printer.printer.into_inner();
    if records_to_stdout {
        // The records were the output.
    } else if args.json {
        // Written as it is serialized: made into a `serde_json::Value` first, the report
        // took about 15 KB per listed connection (docs/live.md).
        write!(out, "{{\"event\":\"report\",\"report\":")?;
        serde_json::to_writer(&mut out, &report)?;
        writeln!(out, "}}")?;
    } else {
        writeln!(out)?;
        table::write_report(
            &mut out,
            &report,
            &TableOptions {
                rows: Rows::Default(50),
                width: term::width(args.table.wide),
                columns: args.table.columns(),
            },
        )?;
    }
    out.flush()?;
    let mut err = io::stderr().lock();
    write_counts(&mut err, packets, stats)?;
    if let Some(e) = read_error {
        writeln!(err, "synack: {e}")?;
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_rotation_is_whole_seconds_or_capture() {
        assert_eq!(
            records_rotation("capture"),
            Ok(RecordsRotation::WithCapture)
        );
        assert_eq!(records_rotation("3600"), Ok(RecordsRotation::Every(3600)));
        for bad in ["", "0", "-1", "1.5", "nan", "Capture", "99999999999"] {
            let e = records_rotation(bad).unwrap_err();
            assert!(e.ends_with("or `capture`"), "{bad}: {e}");
        }
    }
}
