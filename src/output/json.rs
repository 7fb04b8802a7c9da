//! JSON output: one document, shaped as docs/json.md describes.

use std::io::{self, Write};

use crate::model::report::Report;

/// Compact, not indented: on a 160,000-connection trace the indented form was 315 MB and
/// took a third longer to write (docs/json.md).
pub fn write_report<W: Write>(out: &mut W, report: &Report) -> io::Result<()> {
    serde_json::to_writer(&mut *out, report).map_err(into_io)?;
    writeln!(out)
}

/// Keeps the kind of an I/O error (a closed pipe must stay recognisable as one).
pub fn into_io(e: serde_json::Error) -> io::Error {
    match e.io_error_kind() {
        Some(kind) => io::Error::new(kind, e),
        None => io::Error::other(e),
    }
}
