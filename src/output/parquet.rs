//! `--format parquet`: the record columns of `output::records` as a Parquet file (arrow-rs),
//! typed, zstd-compressed, a row group written every `ROW_GROUP` records as they come, so
//! memory stays bounded whatever the number of connections.
//!
//! Types: `time` → timestamp(µs, UTC); `interval` → float64 seconds; `count` → int64
//! (signed, which every engine reads: Spark and Trino lack unsigned 64-bit); `port` → int32;
//! `addr`, `string`, `enum` → UTF-8 string; `bool` → boolean; `set[string]` → list of
//! strings. Names have `_` for `.` (`id_orig_h`, `synack_rtt`).

use std::io::{self, Write};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int32Builder, Int64Builder, ListBuilder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::arrow_writer::{
    compute_leaves, ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory,
};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;

use crate::model::connection_record::ConnectionRecord;
use crate::model::report::Report;
use crate::output::records::{self, Column, RecordOptions, Row, Spell, Value, ZeekType, COLUMNS};

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
    // ArrowWriter's own parts (the file with its Arrow schema, the column writers), so
    // that a row group's rows and columns can be made on two threads. What they write is
    // what `ArrowWriter::write` with the same batches writes, byte for byte.
    let (mut file, factory) =
        ArrowWriter::try_new(out, schema.clone(), Some(properties()))?.into_serialized_writer()?;
    let work = Work {
        report,
        opts,
        schema,
        current: Mutex::new(None),
        writers: COLUMNS.iter().map(|_| Mutex::new(None)).collect(),
        chunks: COLUMNS.iter().map(|_| Mutex::new(None)).collect(),
        helper_gone: AtomicBool::new(false),
        written: AtomicBool::new(false),
    };
    // The report's workers are done by now. Each row group is made in two steps, each
    // shared by this thread and a helper: its rows, a batch of records at a time, then its
    // columns, one at a time; this thread writes the closed columns to the file.
    std::thread::scope(|scope| {
        let work = &work;
        scope.spawn(move || {
            // However the helper ends (a panic too), this thread stops waiting for it.
            let _gone = Gone(&work.helper_gone);
            let mut rows = Rows::new();
            while !work.written.load(Ordering::Acquire) {
                if !work.help(&mut rows) {
                    std::thread::yield_now();
                }
            }
        });
        // However this thread ends, the helper stops helping.
        let _written = Gone(&work.written);
        let mut rows = Rows::new();
        let records = report.connections.len();
        for (group, first) in (0..records).step_by(ROW_GROUP).enumerate() {
            let last = records.min(first + ROW_GROUP);
            work.write_group(&factory, group, first..last, &mut rows, &mut file)?;
        }
        Ok::<(), ParquetError>(())
    })?;
    file.close()?;
    Ok(())
}

/// A row group's rows and column writers, shared by the two threads of `write`. A
/// batch of rows is built by one thread; once all are built, each column is taken by one
/// thread, given all the group's rows and closed at once. A column writer holds its own
/// zstd contexts (about 0.3 MiB once it has compressed a page): encoded column after
/// column, only two are ever in use, where writing every column a batch at a time kept
/// all of them (22 MiB) until the group closed.
struct Work<'r> {
    report: &'r Report,
    opts: &'r RecordOptions,
    schema: SchemaRef,
    /// The row group both threads work on.
    current: Mutex<Option<Arc<Group>>>,
    writers: Vec<Mutex<Option<ArrowColumnWriter>>>,
    /// The closed columns of the row group, in order.
    chunks: Vec<Mutex<Option<ArrowColumnChunk>>>,
    /// The helper has ended: work it took and did not finish never will be.
    helper_gone: AtomicBool,
    /// Every row group is written (or the writer stopped): the helper has no more to do.
    written: AtomicBool,
}

/// Sets its flag when dropped.
struct Gone<'a>(&'a AtomicBool);

impl Drop for Gone<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// A row group in the making.
struct Group {
    /// Its records, by index in the report.
    records: Range<usize>,
    /// Its rows, `BATCH` records each, in order.
    batches: Vec<Mutex<Option<RecordBatch>>>,
    /// The next batch to build, and how many are built.
    next_batch: AtomicUsize,
    built: AtomicUsize,
    /// The next column to encode, and how many are closed.
    next_column: AtomicUsize,
    done: AtomicUsize,
    error: Mutex<Option<ParquetError>>,
}

impl Group {
    fn new(records: Range<usize>) -> Group {
        Group {
            batches: (0..records.len().div_ceil(BATCH))
                .map(|_| Mutex::new(None))
                .collect(),
            records,
            next_batch: AtomicUsize::new(0),
            built: AtomicUsize::new(0),
            next_column: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            error: Mutex::new(None),
        }
    }

    fn all_built(&self) -> bool {
        self.built.load(Ordering::Acquire) == self.batches.len()
    }

    fn all_done(&self) -> bool {
        self.done.load(Ordering::Acquire) == COLUMNS.len()
    }

    fn fail(&self, e: ParquetError) {
        lock(&self.error).get_or_insert(e);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Work<'_> {
    /// Makes a row group on both threads and writes its columns, in order.
    fn write_group<W: Write + Send>(
        &self,
        factory: &ArrowRowGroupWriterFactory,
        index: usize,
        records: Range<usize>,
        rows: &mut Rows,
        file: &mut SerializedFileWriter<W>,
    ) -> Result<(), ParquetError> {
        let writers = factory.create_column_writers(index)?;
        assert_eq!(writers.len(), COLUMNS.len(), "a leaf per column");
        for (slot, w) in self.writers.iter().zip(writers) {
            *lock(slot) = Some(w);
        }
        let group = Arc::new(Group::new(records));
        *lock(&self.current) = Some(group.clone());
        while !group.all_done() {
            if !self.take(&group, rows) {
                if self.helper_gone.load(Ordering::Acquire) && !group.all_done() {
                    // It panicked in the group's work (the scope raises the panic again).
                    return Err(ParquetError::General("the encoding helper stopped".into()));
                }
                std::thread::yield_now();
            }
        }
        *lock(&self.current) = None;
        if let Some(e) = lock(&group.error).take() {
            return Err(e);
        }
        let mut row_group = file.next_row_group()?;
        for chunk in &self.chunks {
            let chunk = lock(chunk)
                .take()
                .ok_or_else(|| ParquetError::General("a column was not closed".into()))?;
            chunk.append_to_row_group(&mut row_group)?;
        }
        row_group.close()?;
        Ok(())
    }

    /// Work on the row group in progress, if any is left; whether there was some.
    fn help(&self, rows: &mut Rows) -> bool {
        let group = lock(&self.current).clone();
        group.is_some_and(|g| self.take(&g, rows))
    }

    /// The group's batches to build while any is left, then its columns once all are
    /// built; whether this thread did any.
    fn take(&self, group: &Group, rows: &mut Rows) -> bool {
        let mut any = false;
        loop {
            let b = group.next_batch.fetch_add(1, Ordering::Relaxed);
            if b >= group.batches.len() {
                break;
            }
            any = true;
            let first = group.records.start + b * BATCH;
            let last = group.records.end.min(first + BATCH);
            for i in first..last {
                rows.append(&Row::new(&self.report.connections.record(i), self.opts));
            }
            match rows.batch(&self.schema) {
                Ok(batch) => *lock(&group.batches[b]) = Some(batch),
                Err(e) => group.fail(e),
            }
            group.built.fetch_add(1, Ordering::Release);
        }
        if !group.all_built() {
            return any; // the other thread builds the last batch
        }
        loop {
            let c = group.next_column.fetch_add(1, Ordering::Relaxed);
            if c >= COLUMNS.len() {
                return any;
            }
            any = true;
            if let Err(e) = self.column(group, c) {
                group.fail(e);
            }
            group.done.fetch_add(1, Ordering::Release);
        }
    }

    /// Writes every row of the group to column `c` and closes it.
    fn column(&self, group: &Group, c: usize) -> Result<(), ParquetError> {
        let Some(mut writer) = lock(&self.writers[c]).take() else {
            return Err(ParquetError::General("no column writer".into()));
        };
        for batch in &group.batches {
            let Some(array) = lock(batch).as_ref().map(|b| b.column(c).clone()) else {
                return Err(ParquetError::General("a batch was not built".into()));
            };
            for leaf in compute_leaves(self.schema.field(c), &array)? {
                writer.write(&leaf)?;
            }
        }
        *lock(&self.chunks[c]) = Some(writer.close()?);
        Ok(())
    }
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
        records::each_value(
            row,
            &mut Append {
                columns: &mut self.columns,
                scratch: &mut self.scratch,
                next: 0,
            },
        );
        self.len += 1;
    }

    /// The rows so far as a batch; the builders start again, empty.
    fn batch(&mut self, schema: &SchemaRef) -> Result<RecordBatch, ParquetError> {
        self.len = 0;
        let arrays: Vec<ArrayRef> = self.columns.iter_mut().map(Builder::finish).collect();
        Ok(RecordBatch::try_new(schema.clone(), arrays)?)
    }
}

/// Each value to its column's builder.
struct Append<'r> {
    columns: &'r mut [Builder],
    scratch: &'r mut String,
    next: usize,
}

impl Spell for Append<'_> {
    #[inline(always)]
    fn value(&mut self, _key: &'static str, v: Value<'_>) {
        self.columns[self.next].append(v, self.scratch);
        self.next += 1;
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
    #[inline(always)]
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
    fn a_report_over_several_row_groups_keeps_every_record_in_order() {
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample.pcap");
        let mut finished = Pipeline::new(Options::default()).run_files(&[path], &mut NoEvents);
        let sample: Vec<ConnectionRecord> = finished.report.connections.records().collect();
        // Two full row groups and a third cut inside its second batch: the row groups'
        // batches are built on two threads, and must still come out in order.
        let n = 2 * ROW_GROUP + BATCH + 5;
        let records: Vec<ConnectionRecord> = (0..n)
            .map(|i| {
                let mut r = sample[i % sample.len()].clone();
                r.id = i as u64;
                r
            })
            .collect();
        finished.report.connections = crate::model::report::ConnectionList::new(Box::new(records));
        let out = std::env::temp_dir().join(format!("synack-pqgroups-{}", std::process::id()));
        write(
            std::fs::File::create(&out).unwrap(),
            &finished.report,
            &RecordOptions::default(),
        )
        .unwrap();
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&out).unwrap()).unwrap();
        let groups: Vec<i64> = (0..builder.metadata().num_row_groups())
            .map(|g| builder.metadata().row_group(g).num_rows())
            .collect();
        assert_eq!(
            groups,
            [ROW_GROUP as i64, ROW_GROUP as i64, BATCH as i64 + 5]
        );
        let id = builder.schema().index_of("synack_id").unwrap();
        let mut ids = Vec::new();
        for batch in builder.build().unwrap() {
            let column = batch.unwrap().column(id).clone();
            let column = column
                .as_any()
                .downcast_ref::<arrow_array::Int64Array>()
                .expect("synack_id is int64");
            ids.extend(column.values().iter().copied());
        }
        assert_eq!(ids, (0..n as i64).collect::<Vec<_>>());
        let _ = std::fs::remove_file(&out);
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
