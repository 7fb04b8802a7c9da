//! `--format parquet`: the record columns of `output::records` as a Parquet file (arrow-rs),
//! typed, zstd-compressed, a row group written every `ROW_GROUP` records as they come, so
//! memory stays bounded whatever the number of connections.
//!
//! Types: `time` → timestamp(µs, UTC); `interval` → float64 seconds; `count` → int64
//! (signed, which every engine reads: Spark and Trino lack unsigned 64-bit); `port` → int32;
//! `addr`, `string`, `enum` → UTF-8 string; `bool` → boolean; `set[string]` → list of
//! strings. Names have `_` for `.` (`id_orig_h`, `synack_rtt`).

use std::io::{self, Write};
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int32Builder, Int64Builder, ListBuilder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;

use crate::model::connection_record::ConnectionRecord;
use crate::model::report::Report;
use crate::output::records::{self, Column, RecordOptions, Row, Value, ZeekType, COLUMNS};

/// Records per row group: large enough for column statistics and compression to pay,
/// small enough that a row group in the making stays a few MiB.
pub const ROW_GROUP: usize = 32_768;

/// Largest data or dictionary page, before compression.
const PAGE_BYTES: usize = 64 << 10;

/// Rows built before they are encoded: the builders stay small, and the row group grows
/// encoded and compressed.
const BATCH: usize = 8192;

/// Whether a column is dictionary-encoded: text with few distinct values (states, names,
/// addresses), not the per-connection ids.
fn dictionary(c: &Column) -> bool {
    matches!(
        c.zeek_type,
        ZeekType::String | ZeekType::Enum | ZeekType::Addr
    ) && !matches!(c.name, "uid" | "community_id")
}

/// The Arrow type a Zeek type is written as.
pub fn arrow_type(t: ZeekType) -> DataType {
    match t {
        ZeekType::Time => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        ZeekType::String | ZeekType::Enum | ZeekType::Addr => DataType::Utf8,
        ZeekType::Port => DataType::Int32,
        ZeekType::Interval => DataType::Float64,
        ZeekType::Count => DataType::Int64,
        ZeekType::Bool => DataType::Boolean,
        ZeekType::StringSet => {
            DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)))
        }
    }
}

/// The file's schema, one field per record column.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(
        COLUMNS
            .iter()
            .map(|c| Field::new(c.parquet_name(), arrow_type(c.zeek_type), c.nullable))
            .collect::<Vec<_>>(),
    ))
}

/// Writes every record of the report to `out`.
pub fn write<W: Write + Send>(out: W, report: &Report, opts: &RecordOptions) -> io::Result<()> {
    write_inner(out, report, opts).map_err(into_io)
}

fn write_inner<W: Write + Send>(
    out: W,
    report: &Report,
    opts: &RecordOptions,
) -> Result<(), ParquetError> {
    let schema = schema();
    let mut writer = ArrowWriter::try_new(out, schema.clone(), Some(properties()))?;
    // Two stages on two cores (the report's workers are done by now): a helper makes
    // the records into batches, this thread encodes and compresses them.
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let schema = &schema;
        scope.spawn(move || {
            let mut rows = Rows::new();
            for record in report.connections.records() {
                rows.append(&Row::new(&record, opts));
                if rows.len == BATCH && tx.send(rows.batch(schema)).is_err() {
                    return; // the writer stopped (an error)
                }
            }
            if rows.len > 0 {
                let _ = tx.send(rows.batch(schema));
            }
        });
        for batch in rx {
            writer.write(&batch?)?;
        }
        Ok::<(), ParquetError>(())
    })?;
    writer.close()?;
    Ok(())
}

/// The writer's settings: zstd, row groups of `ROW_GROUP` rows, small pages, and
/// dictionaries only where they pay.
fn properties() -> WriterProperties {
    let mut props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_row_count(Some(ROW_GROUP))
        .set_created_by(format!("synack {}", env!("CARGO_PKG_VERSION")))
        // A dictionary per column is kept whole until the row group ends (up to 1 MiB
        // each): only for text with few distinct values, where it pays.
        .set_dictionary_enabled(false)
        .set_dictionary_page_size_limit(PAGE_BYTES)
        // Each column buffers its page in the making uncompressed: with 60 columns,
        // Parquet's default 1 MiB pages held about 20 MiB more at the peak.
        .set_data_page_size_limit(PAGE_BYTES);
    for c in COLUMNS.iter().filter(|c| dictionary(c)) {
        props = props.set_column_dictionary_enabled(c.parquet_name().into(), true);
    }
    props.build()
}

/// Rows in the making, one builder per column.
struct Rows {
    columns: Vec<Builder>,
    scratch: String,
    len: usize,
}

impl Rows {
    fn new() -> Rows {
        Rows {
            columns: COLUMNS.iter().map(|c| Builder::new(c.zeek_type)).collect(),
            scratch: String::new(),
            len: 0,
        }
    }

    fn append(&mut self, row: &Row<'_>) {
        for (b, c) in self.columns.iter_mut().zip(COLUMNS) {
            b.append((c.value)(row), &mut self.scratch);
        }
        self.len += 1;
    }

    /// The rows so far as a batch; the builders start again, empty.
    fn batch(&mut self, schema: &SchemaRef) -> Result<RecordBatch, ParquetError> {
        self.len = 0;
        let arrays: Vec<ArrayRef> = self.columns.iter_mut().map(Builder::finish).collect();
        Ok(RecordBatch::try_new(schema.clone(), arrays)?)
    }
}

/// `capture --records-format parquet`: records appended one by one as connections end.
/// Row groups are written every `ROW_GROUP` rows, or sooner on `flush_row_group` (the
/// caller's once a minute), so that records reach the file while it is open; the file is
/// readable once `finish` has written its footer.
pub struct ParquetStream<W: Write + Send> {
    writer: ArrowWriter<W>,
    schema: SchemaRef,
    rows: Rows,
    opts: RecordOptions,
}

impl<W: Write + Send> ParquetStream<W> {
    pub fn new(out: W, opts: RecordOptions) -> io::Result<ParquetStream<W>> {
        let schema = schema();
        let writer =
            ArrowWriter::try_new(out, schema.clone(), Some(properties())).map_err(into_io)?;
        Ok(ParquetStream {
            writer,
            schema,
            rows: Rows::new(),
            opts,
        })
    }

    pub fn record(&mut self, r: &ConnectionRecord) -> io::Result<()> {
        self.rows.append(&Row::new(r, &self.opts));
        // The writer closes a row group by itself at ROW_GROUP rows.
        if self.rows.len == BATCH {
            self.encode()?;
        }
        Ok(())
    }

    /// Hands the rows built so far to the writer (encoded, compressed, kept in the row
    /// group in the making).
    fn encode(&mut self) -> io::Result<()> {
        if self.rows.len == 0 {
            return Ok(());
        }
        let batch = self.rows.batch(&self.schema).map_err(into_io)?;
        self.writer.write(&batch).map_err(into_io)
    }

    /// Rows not yet in a closed row group.
    pub fn pending(&self) -> usize {
        self.rows.len + self.writer.in_progress_rows()
    }

    /// Closes the row group in the making (if it holds a row) and writes it to `out`.
    pub fn flush_row_group(&mut self) -> io::Result<()> {
        if self.pending() == 0 {
            return Ok(());
        }
        self.encode()?;
        self.writer.flush().map_err(into_io)?;
        self.writer.sync()
    }

    /// Passes the row groups already closed on to `out` (the writer buffers its output).
    pub fn flush(&mut self) -> io::Result<()> {
        self.writer.sync()
    }

    /// Writes what is left and the footer: the file is complete.
    pub fn finish(&mut self) -> io::Result<()> {
        self.encode()?;
        self.writer.finish().map_err(into_io)?;
        self.writer.sync()
    }
}

/// Keeps an I/O error's kind (a closed pipe must stay recognisable as one).
fn into_io(e: ParquetError) -> io::Error {
    match e {
        ParquetError::External(inner) => match inner.downcast::<io::Error>() {
            Ok(io) => *io,
            Err(other) => io::Error::other(other),
        },
        other => io::Error::other(other),
    }
}

/// A column in the making.
enum Builder {
    Time(TimestampMicrosecondBuilder),
    Text(StringBuilder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    Float(Float64Builder),
    Bool(BooleanBuilder),
    List(ListBuilder<StringBuilder>),
}

impl Builder {
    fn new(t: ZeekType) -> Builder {
        match t {
            ZeekType::Time => {
                Builder::Time(TimestampMicrosecondBuilder::new().with_timezone("UTC"))
            }
            ZeekType::String | ZeekType::Enum | ZeekType::Addr => {
                Builder::Text(StringBuilder::new())
            }
            ZeekType::Port => Builder::Int32(Int32Builder::new()),
            ZeekType::Interval => Builder::Float(Float64Builder::new()),
            ZeekType::Count => Builder::Int64(Int64Builder::new()),
            ZeekType::Bool => Builder::Bool(BooleanBuilder::new()),
            ZeekType::StringSet => Builder::List(ListBuilder::new(StringBuilder::new())),
        }
    }

    /// Appends one value; a value of another type than the column's is a bug of the
    /// column list, caught by the tests that write every fixture (it is written as null).
    fn append(&mut self, v: Value<'_>, scratch: &mut String) {
        match (self, v) {
            (Builder::Time(b), Value::Time(t)) => {
                // Rounded to the microsecond, as the text formats write it.
                b.append_value((t.as_nanos().saturating_add(500)).div_euclid(1000))
            }
            (Builder::Text(b), Value::Str(s)) => b.append_value(s),
            (Builder::Text(b), Value::Bytes(bytes)) => {
                scratch.clear();
                records::utf8_text(bytes, scratch);
                b.append_value(&*scratch)
            }
            (Builder::Text(b), Value::Addr(a)) => {
                let mut text = std::mem::take(scratch).into_bytes();
                text.clear();
                records::push_addr(&mut text, a);
                // push_addr writes ASCII only.
                *scratch = String::from_utf8(text).unwrap_or_default();
                b.append_value(&*scratch)
            }
            (Builder::Int32(b), Value::Port(p)) => b.append_value(i32::from(p)),
            (Builder::Int64(b), Value::Count(n)) => {
                b.append_value(i64::try_from(n).unwrap_or(i64::MAX))
            }
            (Builder::Float(b), Value::Interval(d)) => b.append_value(d.as_secs_f64()),
            (Builder::Bool(b), Value::Bool(x)) => b.append_value(x),
            (Builder::List(b), Value::Names(names)) => {
                for n in names {
                    b.values().append_value(n);
                }
                b.append(true)
            }
            (b, v) => {
                debug_assert_eq!(v, Value::Unset, "a column's value has another type");
                b.append_null()
            }
        }
    }

    fn append_null(&mut self) {
        match self {
            Builder::Time(b) => b.append_null(),
            Builder::Text(b) => b.append_null(),
            Builder::Int32(b) => b.append_null(),
            Builder::Int64(b) => b.append_null(),
            Builder::Float(b) => b.append_null(),
            Builder::Bool(b) => b.append_null(),
            Builder::List(b) => b.append_null(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Time(b) => Arc::new(b.finish()),
            Builder::Text(b) => Arc::new(b.finish()),
            Builder::Int32(b) => Arc::new(b.finish()),
            Builder::Int64(b) => Arc::new(b.finish()),
            Builder::Float(b) => Arc::new(b.finish()),
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::List(b) => Arc::new(b.finish()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::analyzer::Options;
    use crate::analysis::pipeline::Pipeline;
    use crate::model::event::NoEvents;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    /// The sample's connection records.
    fn sample_records() -> Vec<ConnectionRecord> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample.pcap");
        let finished = Pipeline::new(Options::default()).run_files(&[path], &mut NoEvents);
        finished.report.connections.records().collect()
    }

    #[test]
    fn a_stream_writes_a_row_group_when_flushed_and_is_readable_once_finished() {
        let records = sample_records();
        assert!(records.len() >= 8);
        let path = std::env::temp_dir().join(format!("synack-pqstream-{}", std::process::id()));
        let file = std::fs::File::create(&path).unwrap();
        let mut stream = ParquetStream::new(file, RecordOptions::default()).unwrap();
        for r in &records[..3] {
            stream.record(r).unwrap();
        }
        assert_eq!(stream.pending(), 3);
        stream.flush_row_group().unwrap();
        assert_eq!(stream.pending(), 0);
        let after_first = stream.writer.bytes_written();
        // Nothing new: no empty row group.
        stream.flush_row_group().unwrap();
        assert_eq!(stream.writer.bytes_written(), after_first);
        for r in &records[3..] {
            stream.record(r).unwrap();
        }
        assert_eq!(stream.pending(), records.len() - 3);
        stream.finish().unwrap();
        drop(stream);
        let reader = SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
        let meta = reader.metadata();
        assert_eq!(meta.num_row_groups(), 2);
        assert_eq!(meta.row_group(0).num_rows(), 3);
        assert_eq!(meta.file_metadata().num_rows() as usize, records.len());
        let _ = std::fs::remove_file(&path);
    }
}
