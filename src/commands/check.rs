//! `synack check`: a CI verdict on recorded traces. Each trace is analyzed on its own, its
//! report checked against the limits (flags and `--rules` file), and the exit status says
//! how it went: 0 every rule held, 1 a rule failed, 2 bad input or usage (docs/check.md).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Arg, ArgMatches, ValueEnum};

use synack::analysis::analyzer::Options;
use synack::analysis::pipeline::Pipeline;
use synack::check::eval::{check_report, Reading, Verdict};
use synack::check::metrics::{limit_keys, Bound};
use synack::check::rules::{parse_rules, Rule};
use synack::check::{Amount, Unit};
use synack::model::event::NoEvents;
use synack::output::{junit, verdict};

use super::{inputs, term, values};

/// Offenders listed per broken rule in the text and JUnit verdicts unless `--offenders`.
const DEFAULT_OFFENDERS: usize = 10;

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(clap::Args)]
#[command(after_help = "Examples:
  synack check trace.pcap --max-rst 0 --max-handshake-p99-ms 50
  synack check trace.pcap --rules rules.toml --junit junit.xml
  synack check *.pcap --max-refused 0 --format json

Exit status: 0 when every rule holds (warn rules may break), \
1 when a rule fails, 2 when a trace cannot be read to its end, on a bad rules file, or \
on a usage error. See docs/check.md.")]
pub struct CheckArgs {
    /// Capture files (pcap or pcapng); each is checked on its own, with a verdict per
    /// file. `-` reads standard input. Words after the last file that form a libpcap
    /// filter are the filter, as with tcpdump -r FILE EXPR.
    #[arg(required_unless_present = "read", value_name = "TRACE")]
    files: Vec<PathBuf>,
    /// A capture file to check, as tcpdump -r (repeatable; before TRACE arguments).
    #[arg(short = 'r', long = "read", value_name = "FILE")]
    read: Vec<PathBuf>,
    /// Limits from a TOML file, in addition to the limit flags: per-rule filters and
    /// `warn` severity (docs/check.md).
    #[arg(long, value_name = "FILE")]
    rules: Option<PathBuf>,
    /// Also write a JUnit XML report here: one test case per rule per trace.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Output format of the verdict on standard output.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Connections listed per broken rule [default: 10 in the text and JUnit outputs, all in
    /// JSON].
    #[arg(
        long,
        value_name = "N",
        allow_hyphen_values = true,
        value_parser = values::whole(0usize, None),
    )]
    offenders: Option<usize>,
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
    #[command(flatten)]
    limits: LimitArgs,
}

/// The `--max-…`/`--min-…` flags, one per entry of [`synack::check::metrics::METRICS`], so the flags, the
/// rules-file keys and the docs cannot drift apart. Implemented by hand because derive
/// needs a field per flag.
pub struct LimitArgs {
    rules: Vec<Rule>,
}

impl clap::FromArgMatches for LimitArgs {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let rules = limit_keys()
            .filter_map(|k| m.get_one::<Amount>(k.name).map(|a| Rule::from_flag(k, *a)))
            .collect();
        Ok(LimitArgs { rules })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl clap::Args for LimitArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        limit_keys().fold(cmd, |cmd, k| {
            let unit = k.metric.unit();
            let (value, what) = match unit {
                Unit::Count => ("N", "N"),
                Unit::Millis => ("MS", "MS milliseconds"),
            };
            let relation = match k.bound {
                Bound::Max => ">",
                Bound::Min => "<",
            };
            cmd.arg(
                Arg::new(k.name)
                    .long(k.name)
                    .value_name(value)
                    .help(format!("Fail when {} {relation} {what}", k.metric.label))
                    .help_heading("Limits (docs/check.md)")
                    .allow_hyphen_values(true)
                    .value_parser(values::limit(unit)),
            )
        })
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let mut rules = args.limits.rules;
    if let Some(path) = &args.rules {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read rules file {}", path.display()))?;
        rules.extend(parse_rules(&text, &path.display().to_string())?);
    }
    if rules.is_empty() {
        anyhow::bail!(
            "nothing to check: give a limit such as --max-rst 0, or --rules FILE (see synack check --help and docs/check.md)"
        );
    }
    let inputs = inputs::resolve(&args.read, &args.files, args.filter.as_deref())?;
    let options = Options {
        filter: inputs.filter,
        msl: args.msl,
        ..Options::default()
    };
    Pipeline::new(options.clone()).check_filter()?;

    // The offenders a verdict lists: JSON lists every one unless told (a big trace's
    // complete lists can run to hundreds of MB); text and JUnit the first few.
    let shown = args.offenders.unwrap_or(DEFAULT_OFFENDERS);
    let listed = match args.format {
        Format::Json => args.offenders,
        Format::Text => Some(shown),
    };
    let mut errors = Vec::new();
    let mut files = Vec::new();
    for (n, path) in inputs.files.iter().enumerate() {
        let started = Instant::now();
        // Each trace is checked on its own.
        // As `synack report` runs by default: a second core for a big trace.
        let finished = Pipeline::new(options.clone())
            .threads(0)
            .run_files(std::slice::from_ref(path), &mut NoEvents);
        let name = path.display().to_string();
        let mut reading = match finished.failures.first() {
            None => Reading::Complete,
            Some(f) if f.partial => Reading::CutShort(f.message.clone()),
            Some(f) => Reading::Unreadable(f.message.clone()),
        };
        if reading == Reading::Complete {
            // libpcap cannot compile some filters for some link types; the analysis then
            // drops those packets, so the trace was not checked whole.
            if let Some(e) = &finished.unfilterable_link {
                reading = Reading::CutShort(e.clone());
            }
        }
        if let Reading::CutShort(e) | Reading::Unreadable(e) = &reading {
            // Said after the verdict, as `synack report` says them after the report.
            errors.push(format!("synack: {name}: {e}"));
        }
        files.push(check_report(
            &name,
            &finished.report,
            reading,
            &rules,
            listed,
            started.elapsed(),
        ));
        if n + 1 == inputs.files.len() {
            // Freeing a big trace's records one by one is a serial ~10 ms; the system
            // takes them back at exit.
            finished.leave_to_os();
        }
    }
    let verdict = Verdict::new(files);

    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match args.format {
        Format::Text => verdict::write_text(&mut out, &verdict, shown, term::known_width())?,
        Format::Json => verdict::write_json(&mut out, &verdict)?,
    }
    out.flush()?;
    for e in &errors {
        writeln!(io::stderr(), "{e}")?;
    }
    if let Some(path) = &args.junit {
        let write = || -> io::Result<()> {
            let mut w = BufWriter::new(File::create(path)?);
            junit::write_junit(&mut w, &verdict, shown)?;
            w.flush()
        };
        write().with_context(|| format!("cannot write JUnit report {}", path.display()))?;
    }
    Ok(ExitCode::from(verdict.exit_code))
}
