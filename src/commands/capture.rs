//! `synack capture`: tcpdump-style live capture that prints connection events as they
//! happen, then the full report for what was seen.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use synack::analysis::pipeline::{Analyzer, InputReport, Options};
use synack::capture::file::{CaptureReader, InputStats, Packet};
use synack::capture::live::{list_interfaces, LiveOptions, LiveSource, LiveStats};
use synack::flow::Limits;
use synack::model::connection::ConnectionRecord;
use synack::model::event::ConnectionView;
use synack::model::event::Event;
use synack::model::report::{CaptureSummary, Report};
use synack::model::time::Timestamp;
use synack::output::events::{EventOptions, EventPrinter};
use synack::output::table::{self, Rows, TableOptions};

use super::values;

#[derive(clap::Args)]
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
    /// Retire connections idle this long (Zeek's tcp_inactivity_timeout: 300 s).
    #[arg(
        long,
        value_name = "SECONDS",
        default_value = "300",
        allow_hyphen_values = true,
        value_parser = values::seconds,
    )]
    idle_timeout: Duration,
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
}

/// Everything the capture loop updates, apart from the source.
struct Run<W: Write> {
    analyzer: Analyzer,
    printer: EventPrinter<W>,
    packets: u64,
    first_ts: Option<Timestamp>,
    last_ts: Option<Timestamp>,
    io_error: Option<io::Error>,
    json: bool,
}

impl<W: Write> Run<W> {
    fn packet(&mut self, p: &Packet<'_>) {
        self.packets += 1;
        self.first_ts.get_or_insert(p.ts);
        self.last_ts = Some(self.last_ts.map_or(p.ts, |t| t.max(p.ts)));
        let (printer, io_error) = (&mut self.printer, &mut self.io_error);
        self.analyzer
            .process(p, &mut |c: &ConnectionView, ts: Timestamp, e: Event| {
                if io_error.is_none() {
                    if let Err(err) = printer.event(c, ts, e) {
                        *io_error = Some(err);
                    }
                }
            });
        if let Err(e) = self.printer.end_packet() {
            self.io_error.get_or_insert(e);
        }
    }

    /// Lets go of connections that closed long enough ago or idled out, keeping only
    /// their share of the summary.
    fn retire(&mut self, now: Timestamp) {
        self.analyzer.retire(now);
    }

    fn interval_line(&mut self, now: Timestamp) {
        let mut all = self.analyzer.unlisted_summary().clone();
        let mut open = 0;
        // Dormant connections too: quiet for a second is not over.
        self.analyzer.for_each_tracked(|c| {
            all.add(&ConnectionRecord::of(c));
            open += 1;
        });
        let s = all.finish();
        let ms = |m: Option<synack::model::units::Millis>| {
            m.map_or("-".to_string(), |m| format!("{:.3}", m.as_f64()))
        };
        let result = if self.printer_is_json() {
            let v = serde_json::json!({
                "ts": serde_json::to_value(synack::model::units::JsonTime(now)).unwrap_or_default(),
                "event": "interval",
                "open": open,
                "connections": s.connections,
                "handshake_p50_ms": serde_json::to_value(s.handshake_rtt_ms.p50).unwrap_or_default(),
                "handshake_p99_ms": serde_json::to_value(s.handshake_rtt_ms.p99).unwrap_or_default(),
                "rst": s.rst.packets,
                "time_wait_client": s.time_wait.client,
                "time_wait_server": s.time_wait.server,
            });
            self.printer.json_line(&v)
        } else {
            let text = format!(
                "summary: {} open, {} seen, handshake p50 {} ms p99 {} ms, RST {} ({} client / {} server), TIME_WAIT {} client / {} server",
                open,
                s.connections,
                ms(s.handshake_rtt_ms.p50),
                ms(s.handshake_rtt_ms.p99),
                s.rst.packets,
                s.rst.from_client,
                s.rst.from_server,
                s.time_wait.client,
                s.time_wait.server
            );
            self.printer.line(now, &text)
        };
        if let Err(e) = result {
            self.io_error.get_or_insert(e);
        }
    }

    fn printer_is_json(&self) -> bool {
        self.json
    }
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
    let (msl, idle, duration, interval) =
        (args.msl, args.idle_timeout, args.duration, args.interval);
    let filter = args.filter.join(" ");

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst))
            .context("cannot install the SIGINT/SIGTERM handler")?;
    }

    let mut analyzer = Analyzer::new(&Options {
        // A live filter is applied by the kernel; a replayed file is filtered here.
        filter: (args.read.is_some() && !filter.trim().is_empty()).then(|| filter.clone()),
        msl,
    });
    // A capture may run for days: retired connections only count in the summary.
    analyzer.keep_retired(false);
    analyzer.set_limits(Limits {
        idle_timeout: Some(idle),
        retire_closed: true,
        max_connections: args.max_connections,
    });
    let stdout = io::stdout();
    let live_output = args.read.is_none();
    let printer = EventPrinter::new(
        io::BufWriter::new(stdout.lock()),
        EventOptions {
            verbose: args.verbose,
            json: args.json,
            utc: args.utc,
        },
    );
    let mut run = Run {
        analyzer,
        printer,
        packets: 0,
        first_ts: None,
        last_ts: None,
        io_error: None,
        json: args.json,
    };

    let started = Instant::now();
    let mut stats: Option<LiveStats> = None;
    let mut read_error = None;
    let mut last_retire = Instant::now();
    let mut next_interval: Option<Timestamp> = None;
    let done = |run: &Run<_>, stop: &AtomicBool| {
        stop.load(Ordering::SeqCst)
            || args.count.is_some_and(|n| run.packets >= n)
            || duration.is_some_and(|d| started.elapsed() >= d)
            || run.io_error.is_some()
    };
    let mut tick = |run: &mut Run<_>, now: Timestamp| {
        if let Some(every) = interval {
            let due = *next_interval.get_or_insert(now.saturating_add(every));
            if now >= due {
                run.interval_line(now);
                next_interval = Some(now.saturating_add(every));
            }
        }
    };

    match &args.read {
        Some(path) => {
            run.analyzer
                .check_filter(synack::decode::LinkType::ETHERNET)?;
            let mut reader =
                CaptureReader::open(path).with_context(|| format!("{}", path.display()))?;
            let mut last_retire_ts: Option<Timestamp> = None;
            let result = reader.for_each_packet(|p| {
                if done(&run, &stop) {
                    return;
                }
                run.packet(p);
                let now = run.last_ts.unwrap_or(p.ts);
                if last_retire_ts.is_none_or(|t| now.saturating_since(t) >= Duration::from_secs(1))
                {
                    run.retire(now);
                    last_retire_ts = Some(now);
                }
                tick(&mut run, now);
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
        None => {
            let interface = match &args.interface {
                Some(i) => i.clone(),
                None => pcap::Device::lookup()
                    .ok()
                    .flatten()
                    .map(|d| d.name)
                    .ok_or_else(|| anyhow::anyhow!("no interface to capture on; use -i"))?,
            };
            let opts = LiveOptions {
                interface: interface.clone(),
                filter: filter.clone(),
                snaplen: args.snaplen,
                buffer_kib: args.buffer_kib,
                promiscuous: !args.no_promiscuous,
                immediate: args.immediate_mode,
            };
            let mut source = LiveSource::open(&opts)?;
            if let Some(path) = &args.write {
                source
                    .write_to(path)
                    .map_err(|e| anyhow::anyhow!("{}: cannot write: {e}", path.display()))?;
            }
            eprintln!(
                "synack: listening on {interface}, link-type {}, snapshot length {} bytes{}",
                source.link_type(),
                args.snaplen,
                if filter.is_empty() {
                    String::new()
                } else {
                    format!(", filter '{filter}'")
                }
            );
            while !done(&run, &stop) {
                match source.next(|p| run.packet(p)) {
                    Ok(_) => {}
                    Err(e) => {
                        read_error = Some(e);
                        break;
                    }
                }
                if live_output {
                    if let Err(e) = run.printer.flush() {
                        run.io_error.get_or_insert(e);
                    }
                }
                if last_retire.elapsed() >= Duration::from_secs(1) {
                    let now = wall_clock().max(run.last_ts.unwrap_or_default());
                    run.retire(now);
                    tick(&mut run, now);
                    last_retire = Instant::now();
                }
            }
            source
                .close_savefile()
                .map_err(|e| anyhow::anyhow!("cannot flush the -w file: {e}"))?;
            stats = source.stats();
            run.analyzer.add_input(InputReport {
                name: format!("{interface} (live)"),
                format: None,
                link_types: vec![source.link_type()],
                snaplen: args.snaplen.max(0) as u32,
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

    // Final report, as `synack report` prints it, for everything seen.
    if let Some(e) = run.io_error.take() {
        if e.kind() == io::ErrorKind::BrokenPipe {
            return Ok(ExitCode::SUCCESS);
        }
        return Err(e.into());
    }
    let Run {
        analyzer,
        printer,
        packets,
        ..
    } = run;
    let mut out = printer.into_inner();
    let active_at_end = analyzer.active_connections() as u64;
    let analysis = analyzer.finish();
    let (retired_count, evicted) = (analysis.retired, analysis.evicted);
    let mut report = Report::build(analysis);
    report.capture = Some(CaptureSummary {
        packets_captured: packets,
        retired: retired_count,
        evicted,
        active_at_end,
        received_by_filter: stats.map(|s| s.received_by_filter),
        dropped_by_kernel: stats.map(|s| s.dropped_by_kernel),
        dropped_by_interface: stats.map(|s| s.dropped_by_interface),
    });
    if args.json {
        let v = serde_json::json!({ "event": "report", "report": report });
        serde_json::to_writer(&mut out, &v)?;
        writeln!(out)?;
    } else {
        writeln!(out)?;
        let width = if io::stdout().is_terminal() {
            Some(160)
        } else {
            None
        };
        table::write_report(
            &mut out,
            &report,
            &TableOptions {
                rows: Rows::Default(50),
                width,
            },
        )?;
    }
    out.flush()?;
    let mut err = io::stderr().lock();
    writeln!(err, "{packets} packets captured")?;
    if let Some(s) = stats {
        writeln!(err, "{} packets received by filter", s.received_by_filter)?;
        writeln!(err, "{} packets dropped by kernel", s.dropped_by_kernel)?;
        writeln!(
            err,
            "{} packets dropped by interface",
            s.dropped_by_interface
        )?;
    }
    if let Some(e) = read_error {
        writeln!(err, "synack: {e}")?;
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

fn wall_clock() -> Timestamp {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp::from_nanos(i64::try_from(now.as_nanos()).unwrap_or(i64::MAX))
}
