//! JSON output: one document, shaped as docs/json.md describes.

use std::io::{self, Write};

use crate::report::Report;

pub fn write_report<W: Write>(out: &mut W, report: &Report) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report).map_err(io::Error::other)?;
    writeln!(out)
}
