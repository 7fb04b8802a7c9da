//! `synack check --junit`: the verdict as JUnit XML, the format GitLab, Jenkins and the
//! GitHub test-report actions read. One `<testsuite>` per trace, one `<testcase>` per rule:
//! a broken `fail` rule is a `<failure>`, a rule on a trace that could not be read (or held
//! on a trace cut short) an `<error>`, a broken `warn` rule a passing test case with the
//! warning in its `<system-out>`.
//!
//! Written by hand: the document is a few fixed elements, and the one thing that matters,
//! escaping, is done here for every attribute and text (XML 1.0 also forbids most control
//! characters outright, which a file name or a rule name could hold).

use std::fmt::Write as _;
use std::io::{self, Write};

use crate::check::eval::{FileVerdict, RuleResult, Status, Verdict};
use crate::output::verdict::offender_lines;

/// Escapes text for an XML 1.0 attribute value. Characters XML 1.0 cannot carry at all
/// become U+FFFD; line breaks and tabs become character references, since attribute
/// normalization would turn them into spaces.
pub fn escape(text: &str) -> String {
    escape_as(text, true)
}

/// Escapes text for element content, where line breaks and tabs stand as they are.
pub fn escape_text(text: &str) -> String {
    escape_as(text, false)
}

fn escape_as(text: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' if !attribute => out.push(c),
            '\n' => out.push_str("&#10;"),
            // A literal CR would be read back as LF even in content.
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn seconds(f: &FileVerdict) -> String {
    format!("{:.3}", f.elapsed.as_secs_f64())
}

/// The child element of a test case, if it is not a plain pass.
fn outcome(f: &FileVerdict, r: &RuleResult, listed: usize) -> Option<String> {
    let mut body = format!(
        "{}: {}\ngiven by {}\n",
        r.title,
        r.measurement(),
        r.rule.origin
    );
    for line in offender_lines(r, listed) {
        let _ = writeln!(body, "{line}");
    }
    let (element, kind, message) = match r.status {
        Status::Pass => return None,
        Status::Fail => (
            "failure",
            r.rule.key.name,
            format!("limit broken: {}", r.measurement()),
        ),
        Status::Warn => {
            let text = format!("warning: limit broken, severity warn\n{body}");
            return Some(format!("<system-out>{}</system-out>", escape_text(&text)));
        }
        Status::Error => {
            let why = f.error.as_deref().unwrap_or("the trace could not be read");
            let message = match r.measured {
                Some(_) => format!("{why}; the rule held on the packets read"),
                None => why.to_string(),
            };
            ("error", "trace-unreadable", message)
        }
    };
    Some(format!(
        "<{element} message=\"{}\" type=\"{}\">{}</{element}>",
        escape(&message),
        escape(kind),
        escape_text(&body)
    ))
}

pub fn write_junit<W: Write>(out: &mut W, v: &Verdict, listed: usize) -> io::Result<()> {
    let total = |s: Status| -> usize { v.files.iter().map(|f| f.count(s)).sum() };
    let tests: usize = v.files.iter().map(|f| f.rules.len()).sum();
    let time: f64 = v.files.iter().map(|f| f.elapsed.as_secs_f64()).sum();
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        out,
        r#"<testsuites name="synack check" tests="{tests}" failures="{}" errors="{}" skipped="0" time="{time:.3}">"#,
        total(Status::Fail),
        total(Status::Error),
    )?;
    for f in &v.files {
        let file = escape(&f.file);
        writeln!(
            out,
            r#"  <testsuite name="{file}" tests="{}" failures="{}" errors="{}" skipped="0" time="{}">"#,
            f.rules.len(),
            f.count(Status::Fail),
            f.count(Status::Error),
            seconds(f),
        )?;
        writeln!(out, "    <properties>")?;
        for (name, value) in [
            ("status", f.status.as_str().to_string()),
            ("connections", f.connections.to_string()),
            ("synack_version", v.synack_version.to_string()),
        ] {
            writeln!(
                out,
                r#"      <property name="{name}" value="{}"/>"#,
                escape(&value)
            )?;
        }
        writeln!(out, "    </properties>")?;
        for r in &f.rules {
            let open = format!(
                r#"<testcase name="{}" classname="{file}" file="{file}" time="0">"#,
                escape(&r.title)
            );
            match outcome(f, r, listed) {
                Some(child) => writeln!(out, "    {open}\n      {child}\n    </testcase>")?,
                None => writeln!(out, "    {}/>", open.trim_end_matches('>'))?,
            }
        }
        let notes: Vec<&str> = f
            .error
            .iter()
            .chain(&f.warnings)
            .map(String::as_str)
            .collect();
        if !notes.is_empty() {
            writeln!(
                out,
                "    <system-err>{}</system-err>",
                escape(&notes.join("\n"))
            )?;
        }
        writeln!(out, "  </testsuite>")?;
    }
    writeln!(out, "</testsuites>")
}

#[cfg(test)]
mod tests {
    use super::{escape, escape_text};

    #[test]
    fn escapes_markup_quotes_and_forbidden_characters() {
        assert_eq!(
            escape(r#"a<b>&"c"'d'"#),
            "a&lt;b&gt;&amp;&quot;c&quot;&apos;d&apos;"
        );
        assert_eq!(escape("x\u{1}y\u{ffff}"), "x\u{fffd}y\u{fffd}");
        assert_eq!(escape("1\n2\t3\r"), "1&#10;2&#9;3&#13;");
        assert_eq!(escape_text("1\n2\t3\r"), "1\n2\t3&#13;");
        assert_eq!(escape("→ é"), "→ é");
    }
}
