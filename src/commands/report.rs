//! `synack report`: read captures, print the report.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::ValueEnum;

use synack::analysis::analyzer::Options;
use synack::analysis::pipeline::Pipeline;
use synack::analysis::tracer::Tracer;
use synack::analysis::visuals;
use synack::model::event::NoEvents;
use synack::output::table::{Rows, TableOptions};
use synack::output::{html, json, table};

use super::{inputs, term, values};

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Json,
    /// One self-contained page: charts, top lists, worst connections (docs/html.md).
    Html,
}

#[derive(clap::Args)]
#[command(after_help = "Examples:
  synack report capture.pcapng                     tables, fitted to the terminal
  synack report --wide --all capture.pcap          every column, every connection
  synack report --columns id,client,server,connect,app capture.pcap
  synack report --format json capture.pcap         one JSON document (docs/json.md)
  synack report --format html -o report.html capture.pcap   a page to open in a browser
  synack report -f 'tcp port 443' day1.pcap day2.pcap
  tcpdump -i any -w - | synack report -")]
pub struct ReportArgs {
    /// Capture files (pcap or pcapng), read as one timeline in the order of their first
    /// packets; `-` reads standard input. Words after the last file that form a libpcap
    /// filter are the filter, as with tcpdump -r FILE EXPR.
    #[arg(required_unless_present = "read", value_name = "FILE")]
    files: Vec<PathBuf>,
    /// A capture file to read, as tcpdump -r (repeatable; read before FILE arguments).
    #[arg(short = 'r', long = "read", value_name = "FILE")]
    read: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Write the report to FILE instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// JSON output: --format json.
    #[arg(long, conflicts_with = "format")]
    json: bool,
    /// Only packets matching this libpcap filter expression (as tcpdump -r FILE EXPR).
    #[arg(short = 'f', long, value_name = "BPF")]
    filter: Option<String>,
    /// Maximum segment lifetime in seconds; TIME_WAIT lasts 2·MSL.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value = "60",
        allow_hyphen_values = true,
        value_parser = values::seconds,
    )]
    msl: Duration,
    /// List every connection in the table.
    #[arg(long, conflicts_with_all = ["abnormal", "top"])]
    all: bool,
    /// List only abnormal connections (refused, reset, unanswered, handshake incomplete).
    #[arg(long, conflicts_with = "top")]
    abnormal: bool,
    /// List the first N connections (abnormal first).
    #[arg(
        long,
        value_name = "N",
        allow_hyphen_values = true,
        value_parser = values::whole(0usize, None),
    )]
    top: Option<usize>,
    /// Track at most N connections at once; beyond it the longest-idle are evicted
    /// (counted in the summary, not listed). Bounds memory on hostile traces.
    #[arg(
        long,
        value_name = "N",
        allow_hyphen_values = true,
        value_parser = values::whole(1usize, None),
    )]
    max_connections: Option<usize>,
    /// Threads to use: 1 reads and tracks on one; N reads on one and tracks
    /// connections on N-1 others; 0 picks by machine and input size. The report is the
    /// same whatever the number. At most 1024.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        allow_hyphen_values = true,
        value_parser = values::whole(0usize, Some(values::THREADS_MAX)),
    )]
    threads: usize,
    #[command(flatten)]
    table: term::TableArgs,
}

pub fn run(mut args: ReportArgs) -> anyhow::Result<ExitCode> {
    if args.json {
        args.format = Format::Json;
    }
    if matches!(args.format, Format::Html) && (args.abnormal || args.top.is_some()) {
        anyhow::bail!(
            "--abnormal and --top choose the table's rows; the HTML page's table sorts and filters in the browser"
        );
    }
    if matches!(args.format, Format::Json) && (args.abnormal || args.top.is_some()) {
        anyhow::bail!(
            "--abnormal and --top choose the table's rows; --format json lists every connection (select with jq: docs/json.md)"
        );
    }
    let inputs = inputs::resolve(&args.read, &args.files, args.filter.as_deref())?;
    let mut pipeline = Pipeline::new(Options {
        filter: inputs.filter,
        msl: args.msl,
    });
    pipeline.check_filter()?;
    pipeline = match args.max_connections {
        Some(max) => pipeline.max_connections(max),
        None => pipeline.threads(args.threads),
    };
    if io::stderr().is_terminal() {
        pipeline = pipeline.progress(Box::new(progress_bar));
    }
    pipeline = pipeline.stop_on(inputs::stop_on_signal());
    // The HTML page draws the worst connections from events kept in the same pass.
    let mut tracer = Tracer::default();
    let finished = match args.format {
        Format::Html => pipeline.run_files(&inputs.files, &mut tracer),
        _ => pipeline.run_files(&inputs.files, &mut NoEvents),
    };
    inputs::notes(&finished)?;
    // JSON is one document whatever happened (its inputs carry their errors).
    if inputs::nothing_read(&finished) && matches!(args.format, Format::Table) {
        inputs::afterword(&finished)?;
        return Ok(ExitCode::from(2));
    }
    let report = &finished.report;
    let stdout = io::stdout();
    let mut out: io::BufWriter<Box<dyn Write>> = io::BufWriter::new(match &args.output {
        Some(path) => Box::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot write {}", path.display()))?,
        ),
        None => Box::new(stdout.lock()),
    });
    match args.format {
        Format::Json => json::write_report(&mut out, report)?,
        Format::Html => {
            let (traces, untraced) = tracer.finish();
            let visuals = visuals::build(report, traces, untraced);
            html::write_report(&mut out, report, &visuals)?;
        }
        Format::Table => {
            let rows = if args.all {
                Rows::All
            } else if args.abnormal {
                Rows::Abnormal
            } else if let Some(n) = args.top {
                Rows::Top(n)
            } else {
                Rows::Default(50)
            };
            let opts = TableOptions {
                rows,
                width: term::width(args.table.wide),
                columns: args.table.columns(),
            };
            table::write_report(&mut out, report, &opts)?;
        }
    }
    out.flush()?;
    inputs::afterword(&finished)?;
    let complete = finished.complete();
    finished.leave_to_os();
    Ok(if complete {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// Files smaller than this read in well under a second: no bar.
const PROGRESS_MIN_BYTES: u64 = 64 << 20;

/// A progress bar on standard error for a long file read (only called when standard
/// error is a terminal); it clears itself when the file is done.
fn progress_bar(file: std::fs::File, len: u64) -> Box<dyn io::Read + Send> {
    if len < PROGRESS_MIN_BYTES {
        return Box::new(file);
    }
    let bar = indicatif::ProgressBar::new(len).with_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr_with_hz(4));
    Box::new(ClearOnDrop(bar.wrap_read(file)))
}

/// Clears the bar once the reader is dropped (the file read to its end or abandoned).
struct ClearOnDrop(indicatif::ProgressBarIter<std::fs::File>);

impl io::Read for ClearOnDrop {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Drop for ClearOnDrop {
    fn drop(&mut self) {
        self.0.progress.finish_and_clear();
    }
}
