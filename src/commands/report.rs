//! `synack report`: read captures, print the report.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::ValueEnum;

use synack::analysis::analyzer::Options;
use synack::analysis::pipeline::Pipeline;
use synack::analysis::visuals;
use synack::model::event::NoEvents;
use synack::output::records::{LocalNets, RecordOptions};
use synack::output::table::{Rows, TableOptions};
use synack::output::{html, json, parquet, table, zeek};

use super::{inputs, term, values};

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Json,
    /// Zeek's conn.log, tab-separated with its header (docs/records.md).
    Zeek,
    /// Zeek's JSON conn.log: one object per connection and line.
    ZeekJson,
    /// A Parquet file of the same records (needs -o FILE).
    Parquet,
    /// One self-contained page: charts, top lists, worst connections (docs/html.md).
    Html,
}

impl Format {
    /// One record per connection (docs/records.md), not synack's report.
    fn is_records(self) -> bool {
        matches!(self, Format::Zeek | Format::ZeekJson | Format::Parquet)
    }
}

#[derive(clap::Args)]
#[command(after_help = "Examples:
  synack report capture.pcapng                     tables, fitted to the terminal
  synack report --wide --all capture.pcap          every column, every connection
  synack report --columns id,client,server,connect,app capture.pcap
  synack report --format json capture.pcap         one JSON document (docs/json.md)
  synack report --format zeek capture.pcap | zeek-cut id.orig_h conn_state synack.rtt
  synack report --format parquet -o conns.parquet capture.pcap   (docs/records.md)
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
    /// JSON output: --format json.
    #[arg(long, conflicts_with = "format")]
    json: bool,
    /// Write the output to FILE instead of standard output (`-`: standard output).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Zeek's Site::local_nets for the record formats' local_orig/local_resp
    /// (comma-separated networks, e.g. 10.0.0.0/8,fd00::/8); without it both are unset.
    #[arg(long, value_name = "NETS", value_parser = clap::value_parser!(LocalNets))]
    local_nets: Option<LocalNets>,
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
    /// Zeek's view leaves out packets with a bad IP or TCP checksum, as Zeek does without
    /// -C (by default it counts them, as `zeek -C`; synack's own figures count them
    /// either way).
    #[arg(long)]
    verify_checksums: bool,
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
    /// connections on N-1 others (a compressed input's decoder takes one of the N);
    /// 0 picks by machine and input size. The report is the same whatever the number.
    /// At most 1024.
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
    if args.format.is_records() && (args.abnormal || args.top.is_some() || args.all) {
        anyhow::bail!(
            "--all, --abnormal and --top choose the table's rows; the record formats write every connection"
        );
    }
    let to_stdout = args.output.as_deref().is_none_or(|p| p.as_os_str() == "-");
    if matches!(args.format, Format::Parquet) && to_stdout && io::stdout().is_terminal() {
        anyhow::bail!("--format parquet writes a binary file: give -o FILE");
    }
    let inputs = inputs::resolve(&args.read, &args.files, args.filter.as_deref())?;
    // Opened before the run: a path that cannot be written fails at once, not after it.
    let output_file = match &args.output {
        Some(path) if !to_stdout => Some(
            std::fs::File::create(path)
                .map_err(|e| anyhow::anyhow!("{}: cannot write: {e}", path.display()))?,
        ),
        _ => None,
    };
    let mut pipeline = Pipeline::new(Options {
        filter: inputs.filter,
        msl: args.msl,
        verify_checksums: args.verify_checksums,
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
    // The HTML page draws the worst connections from events kept in the same pass, on
    // every tracking thread.
    if matches!(args.format, Format::Html) {
        pipeline = pipeline.trace();
    }
    let mut finished = pipeline.run_files(&inputs.files, &mut NoEvents);
    let traced = finished.traces.take();
    inputs::notes(&finished)?;
    // JSON is one document whatever happened (its inputs carry their errors).
    if inputs::nothing_read(&finished) && !matches!(args.format, Format::Json) {
        if output_file.is_some() {
            // Not left behind empty: no record could be made.
            let _ = args.output.as_ref().map(std::fs::remove_file);
        }
        inputs::afterword(&finished)?;
        return Ok(ExitCode::from(2));
    }
    match args.format {
        Format::Table => {}
        Format::Parquet => finished.compact_and_release(),
        Format::Json | Format::Zeek | Format::ZeekJson | Format::Html => finished.release(),
    }
    let report = &finished.report;
    let sink: Box<dyn Write + Send> = match output_file {
        Some(file) => Box::new(file),
        None => Box::new(io::stdout()),
    };
    let mut out = io::BufWriter::with_capacity(OUTPUT_BUFFER, sink);
    let records = RecordOptions {
        local_nets: args.local_nets.clone(),
    };
    match args.format {
        Format::Json => json::write_report(&mut out, report)?,
        Format::Zeek => zeek::write_log(&mut out, report, &records)?,
        Format::ZeekJson => zeek::write_json(&mut out, report, &records)?,
        Format::Parquet => parquet::write(&mut out, report, &records)?,
        Format::Html => {
            let (traces, untraced) = traced.unwrap_or_default();
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

/// Output is written in blocks of this size (standard output's own buffer is 8 KiB).
const OUTPUT_BUFFER: usize = 256 << 10;

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
