//! `synack check`'s verdict as text (for a CI log) and as JSON (docs/check.md).

use std::io::{self, Write};

use crate::check::eval::{RuleResult, Status, Verdict};
use crate::output::fit;

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
    let more = usize::try_from(r.offending)
        .unwrap_or(usize::MAX)
        .saturating_sub(listed.min(r.offenders.len()));
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

/// A line of the text verdict, word-wrapped to `width` (when given); its continuation
/// lines are indented four more than it.
fn line<W: Write>(out: &mut W, width: Option<usize>, text: &str) -> io::Result<()> {
    let Some(width) = width else {
        return writeln!(out, "{text}");
    };
    let trimmed = text.trim_start();
    let indent = " ".repeat(text.len() - trimmed.len());
    for l in fit::wrap(trimmed, width.saturating_sub(indent.len()), "    ") {
        writeln!(out, "{indent}{l}")?;
    }
    Ok(())
}

/// The verdict as text; `width` (COLUMNS or the terminal's) wraps long lines.
pub fn write_text<W: Write>(
    out: &mut W,
    v: &Verdict,
    listed: usize,
    width: Option<usize>,
) -> io::Result<()> {
    for f in &v.files {
        let rules = tally(
            [
                (Status::Fail, "failed"),
                (Status::Warn, "warned"),
                (Status::Error, "unproven"),
                (Status::Pass, "passed"),
            ],
            |s| f.count(s),
        );
        let head = format!(
            "{}: {} — {} connection(s); rules: {rules}",
            f.file,
            upper(f.status),
            f.connections,
        );
        line(out, width, &head)?;
        if let Some(e) = &f.error {
            line(out, width, &format!("  error: {e}"))?;
        }
        for r in &f.rules {
            let text = format!("  {:<5} {}: {}", upper(r.status), r.title, r.measurement());
            line(out, width, &text)?;
            for o in offender_lines(r, listed) {
                line(out, width, &format!("          {o}"))?;
            }
        }
        for w in &f.warnings {
            line(out, width, &format!("  note: {w}"))?;
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
    let result = format!(
        "result: {} — {} trace(s): {}",
        upper(v.status),
        v.files.len(),
        counts
    );
    line(out, width, &result)
}

pub fn write_json<W: Write>(out: &mut W, v: &Verdict) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, v).map_err(io::Error::other)?;
    writeln!(out)
}
