//! `synack check`'s verdict as text (for a CI log) and as JSON (docs/check.md).

use std::io::{self, Write};

use crate::check::eval::{RuleResult, Status, Verdict};

fn upper(status: Status) -> &'static str {
    match status {
        Status::Pass => "PASS",
        Status::Warn => "WARN",
        Status::Fail => "FAIL",
        Status::Error => "ERROR",
    }
}

/// The connections of a broken rule, at most `listed`, as indented lines; the caller
/// prefixes each. Shared with the JUnit writer, which puts them in a failure's text.
pub fn offender_lines(r: &RuleResult, listed: usize) -> Vec<String> {
    let mut lines: Vec<String> = r
        .offenders
        .iter()
        .take(listed)
        .map(|o| o.to_string())
        .collect();
    let more = r.offenders.len().saturating_sub(listed);
    if more > 0 {
        lines.push(format!(
            "… and {more} more connection(s) (--offenders N lists more; --format json lists all)"
        ));
    }
    lines
}

/// `2 failed, 3 passed`: how many have each status, leaving out the statuses none has.
fn tally(words: [(Status, &str); 4], count: impl Fn(Status) -> usize) -> String {
    let parts: Vec<String> = words
        .iter()
        .filter_map(|(s, word)| {
            let n = count(*s);
            (n > 0).then(|| format!("{n} {word}"))
        })
        .collect();
    parts.join(", ")
}

pub fn write_text<W: Write>(out: &mut W, v: &Verdict, listed: usize) -> io::Result<()> {
    for f in &v.files {
        writeln!(
            out,
            "{}: {} — {} connection(s); rules: {}",
            f.file,
            upper(f.status),
            f.connections,
            tally(
                [
                    (Status::Fail, "failed"),
                    (Status::Warn, "warned"),
                    (Status::Error, "unproven"),
                    (Status::Pass, "passed"),
                ],
                |s| f.count(s)
            )
        )?;
        if let Some(e) = &f.error {
            writeln!(out, "  error: {e}")?;
        }
        for r in &f.rules {
            writeln!(
                out,
                "  {:<5} {}: {}",
                upper(r.status),
                r.title,
                r.measurement()
            )?;
            for line in offender_lines(r, listed) {
                writeln!(out, "          {line}")?;
            }
        }
        for w in &f.warnings {
            writeln!(out, "  note: {w}")?;
        }
    }
    let counts = tally(
        [
            (Status::Pass, "passed"),
            (Status::Warn, "passed with warnings"),
            (Status::Fail, "failed"),
            (Status::Error, "unreadable or cut short"),
        ],
        |s| v.files.iter().filter(|f| f.status == s).count(),
    );
    writeln!(
        out,
        "result: {} — {} trace(s): {}",
        upper(v.status),
        v.files.len(),
        counts
    )
}

pub fn write_json<W: Write>(out: &mut W, v: &Verdict) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, v).map_err(io::Error::other)?;
    writeln!(out)
}
