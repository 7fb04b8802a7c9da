//! `synack report`: read captures, print the report.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::ValueEnum;

use synack::analyze::{Analyzer, Options};
use synack::decode::LinkType;
use synack::output::table::{Rows, TableOptions};
use synack::output::{json, table};
use synack::report::Report;

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(clap::Args)]
pub struct ReportArgs {
    /// Capture files (pcap or pcapng), read as one timeline in the order given; `-` reads
    /// standard input.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Only packets matching this libpcap filter expression (as tcpdump -r FILE EXPR).
    #[arg(short = 'f', long, value_name = "BPF")]
    filter: Option<String>,
    /// Maximum segment lifetime in seconds; TIME_WAIT lasts 2·MSL.
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
    msl: f64,
    /// List every connection in the table.
    #[arg(long, conflicts_with_all = ["abnormal", "top"])]
    all: bool,
    /// List only abnormal connections (refused, reset, unanswered, handshake incomplete).
    #[arg(long, conflicts_with = "top")]
    abnormal: bool,
    /// List the first N connections (abnormal first).
    #[arg(long, value_name = "N")]
    top: Option<usize>,
}

pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    if !(args.msl.is_finite() && args.msl > 0.0) {
        anyhow::bail!("--msl must be a positive number of seconds");
    }
    let options = Options {
        filter: args.filter.clone(),
        msl: Duration::from_secs_f64(args.msl),
    };
    let mut analyzer = Analyzer::new(&options);
    // A syntax error in the filter is the user's, whatever the link type: say it first.
    analyzer.check_filter(LinkType::ETHERNET)?;
    let mut failed = false;
    let stderr = &mut io::stderr();
    for path in &args.files {
        let input = analyzer.read_path(path, &mut |_, _, _| {});
        if let Some(e) = &input.error {
            failed = true;
            writeln!(stderr, "synack: {}: {e}", input.name)?;
        }
    }
    if let Some(e) = analyzer.filter_error() {
        failed = true;
        writeln!(stderr, "synack: {e}")?;
    }
    let analysis = analyzer.finish();
    let report = Report::build(analysis);
    let stdout = io::stdout();
    let is_tty = stdout.is_terminal();
    let mut out = io::BufWriter::new(stdout.lock());
    match args.format {
        Format::Json => json::write_report(&mut out, &report)?,
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
            let width = if is_tty { terminal_width() } else { None };
            table::write_report(&mut out, &report, &TableOptions { rows, width })?;
        }
    }
    out.flush()?;
    Ok(if failed {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

fn terminal_width() -> Option<u16> {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .or(Some(160))
}
