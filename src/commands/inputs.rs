//! What the commands that read captures share about their inputs: taken as tcpdump takes
//! them (`-r FILE`, a filter expression after the files), Ctrl-C that ends the reading and
//! keeps the report, and what is said on standard error before and after the output.

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use synack::analysis::analyzer::Options;
use synack::analysis::pipeline::{Finished, Pipeline};

/// The files to read and the filter to apply, once a trailing filter expression is told
/// apart from the files.
pub struct Inputs {
    pub files: Vec<PathBuf>,
    pub filter: Option<String>,
}

/// `-r` files, then the positional arguments. As `tcpdump -r FILE EXPR`: the arguments
/// after the last one that exists (a file, or `-`) are a filter expression when, joined
/// by spaces, libpcap compiles them; otherwise they stay files (and fail to open). Says
/// on standard error which filter was found; a filter given both ways is an error.
pub fn resolve(
    read: &[PathBuf],
    positional: &[PathBuf],
    filter: Option<&str>,
) -> anyhow::Result<Inputs> {
    let exists = |p: &PathBuf| p.as_os_str() == "-" || p.exists();
    let split = match positional.iter().rposition(exists) {
        Some(last) => last + 1,
        None if !read.is_empty() => 0,
        None => positional.len(),
    };
    let mut files: Vec<PathBuf> = read.iter().chain(positional).cloned().collect();
    let mut filter = filter.map(str::to_string);
    let words = &positional[split..];
    if let Some(expr) = expression(words) {
        if let Some(given) = &filter {
            anyhow::bail!(
                "two filters: -f '{given}' and '{expr}' after the files; give one (the words after the last capture file are read as a filter, as tcpdump -r FILE EXPR does)"
            );
        }
        writeln!(io::stderr(), "synack: filter '{expr}'")?;
        files.truncate(read.len() + split);
        filter = Some(expr);
    }
    Ok(Inputs { files, filter })
}

/// The words, joined by spaces, when they form a filter libpcap compiles.
fn expression(words: &[PathBuf]) -> Option<String> {
    if words.is_empty() {
        return None;
    }
    let words: Option<Vec<&str>> = words.iter().map(|w| w.to_str()).collect();
    let expr = words?.join(" ");
    let options = Options {
        filter: Some(expr.clone()),
        ..Options::default()
    };
    Pipeline::new(options).check_filter().ok().map(|_| expr)
}

/// A flag set by the first SIGINT or SIGTERM, which ends the reading (the report of what
/// was read is printed, as `synack capture` does); a second one quits at once.
pub fn stop_on_signal() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    // Only one handler per process: a command that cannot install it reads on, and the
    // signal keeps its default meaning.
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
    stop
}

/// No packet could be read from any input, and an input failed: the output would be a
/// page of zeros around the error, so only the errors are printed.
pub fn nothing_read(finished: &Finished) -> bool {
    !finished.failures.is_empty() && !finished.interrupted && finished.report.packets.total == 0
}

/// What is said before the output: files read in another order than given.
pub fn notes(finished: &Finished) -> io::Result<()> {
    let stderr = &mut io::stderr();
    if let Some(order) = &finished.reordered {
        writeln!(
            stderr,
            "synack: reading the files in the order of their first packet: {}",
            order.join(", ")
        )?;
    }
    Ok(())
}

/// What is said after the output: inputs that failed, one line each, the filter's
/// failure, inputs that overlap in time, an interruption.
pub fn afterword(finished: &Finished) -> io::Result<()> {
    let stderr = &mut io::stderr();
    for f in &finished.failures {
        writeln!(stderr, "synack: {}: {}", f.input, f.message)?;
    }
    if let Some(e) = &finished.filter_failure {
        writeln!(stderr, "synack: {e}")?;
    }
    if let Some((earlier, later)) = finished.overlaps.first() {
        let more = match finished.overlaps.len() - 1 {
            0 => String::new(),
            n => format!(" (and {n} more pair(s) of files)"),
        };
        writeln!(
            stderr,
            "synack: warning: {later} begins before {earlier} ends{more}: the files overlap in time, so their packets are not read in time order; merge them first (mergecap -w merged.pcap {earlier} {later})"
        )?;
    }
    if finished.interrupted {
        writeln!(
            stderr,
            "synack: interrupted: the report covers the {} packet(s) read before the signal",
            finished.report.packets.total
        )?;
    }
    Ok(())
}
