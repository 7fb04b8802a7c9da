//! `capture --records`: each connection's record written as it ends, in the formats of
//! `report --format zeek|zeek-json` (docs/records.md), one line per record and flushed on
//! the live loop's batches, so a tail, Filebeat or Kafka sees it at once.

use std::io::{self, Write};

use crate::model::connection_record::ConnectionRecord;
use crate::model::time::Timestamp;
use crate::output::records::{RecordOptions, Row};
use crate::output::zeek;

/// The text formats a stream takes (Parquet: `parquet::ParquetStream`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamFormat {
    Zeek,
    ZeekJson,
}

pub struct RecordStream<W: Write> {
    out: W,
    format: StreamFormat,
    opts: RecordOptions,
    line: Vec<u8>,
    /// The TSV header is written with the first record (its `#open`: that record's first
    /// packet), or at the end when there was none.
    header: bool,
    /// The latest packet of the records written: `#close`.
    last: Option<Timestamp>,
    /// When the file was opened: `#open` and `#close` of a log with no record.
    opened: Option<Timestamp>,
    pub written: u64,
}

impl<W: Write> RecordStream<W> {
    pub fn new(out: W, format: StreamFormat, opts: RecordOptions) -> RecordStream<W> {
        RecordStream {
            out,
            format,
            opts,
            line: Vec::with_capacity(1024),
            header: false,
            last: None,
            opened: None,
            written: 0,
        }
    }

    fn head(&mut self, open: Timestamp) -> io::Result<()> {
        if !self.header && self.format == StreamFormat::Zeek {
            self.out.write_all(zeek::log_header(open).as_bytes())?;
        }
        self.header = true;
        Ok(())
    }

    pub fn record(&mut self, r: &ConnectionRecord) -> io::Result<()> {
        self.head(r.first_seen)?;
        self.line.clear();
        let row = Row::new(r, &self.opts);
        match self.format {
            StreamFormat::Zeek => zeek::tsv_line(&row, &mut self.line),
            StreamFormat::ZeekJson => zeek::json_line(&row, &mut self.line),
        }
        self.out.write_all(&self.line)?;
        self.last = Some(self.last.map_or(r.last_seen, |t| t.max(r.last_seen)));
        self.written += 1;
        Ok(())
    }

    /// The time the log was opened at (a rotated file's window), for a log that ends
    /// with no record.
    pub fn set_opened(&mut self, at: Option<Timestamp>) {
        self.opened = at;
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Ends the log (`#close` for TSV) and flushes it.
    pub fn finish(&mut self) -> io::Result<()> {
        let close = self.last.or(self.opened).unwrap_or(Timestamp::ZERO);
        self.head(close)?;
        if self.format == StreamFormat::Zeek {
            self.out.write_all(zeek::log_close(close).as_bytes())?;
        }
        self.out.flush()
    }
}
