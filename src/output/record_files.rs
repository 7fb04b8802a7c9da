//! `capture --records`: the files the records of ended connections go to, and when one is
//! closed and the next opened. A Parquet file can be read only once its footer is
//! written, so a capture that runs for days rotates its records: with the `-w` files
//! (`--records-rotate capture`: the capture file's name plus `.conn.log`, `.conn.json` or
//! `.conn.parquet`) or every SECONDS (`--records-rotate SECONDS`: FILE is a strftime(3)
//! format filled with the window's start). Each file is complete when it is closed.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::model::connection_record::ConnectionRecord;
use crate::model::time::{strftime_local, Timestamp};
use crate::output::parquet::ParquetStream;
use crate::output::record_stream::{RecordStream, StreamFormat};
use crate::output::records::RecordOptions;

/// How often a Parquet row group is closed when fewer than `parquet::ROW_GROUP` records
/// came: so that a quiet link's records reach the file within a minute.
pub const ROW_GROUP_EVERY: Duration = Duration::from_secs(60);

/// The records' format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordsFormat {
    /// Zeek's conn.log, tab-separated with its header.
    Zeek,
    /// Zeek's JSON conn.log, one object per line.
    ZeekJson,
    /// The columns of `report --format parquet`.
    Parquet,
}

impl RecordsFormat {
    /// What follows a capture file's name in the name of its records file.
    pub fn suffix(self) -> &'static str {
        match self {
            RecordsFormat::Zeek => ".conn.log",
            RecordsFormat::ZeekJson => ".conn.json",
            RecordsFormat::Parquet => ".conn.parquet",
        }
    }
}

/// Where the records go.
#[derive(Clone, Debug)]
pub enum Destination {
    /// Standard output, one stream.
    Stdout,
    /// One file for the whole capture.
    File(PathBuf),
    /// A file per window of `seconds`, the windows aligned on multiples of `seconds` since
    /// the epoch (3600: on the hour), each named by strftime(3) of `template` at the
    /// window's start, in local time.
    Every { template: PathBuf, seconds: u64 },
    /// A file beside each `-w` file, opened and closed with it.
    BesideCapture,
}

type Out = Box<dyn Write + Send>;

enum Writer {
    Text(RecordStream<Out>),
    /// Boxed: the writer is large, and there is one per file.
    Parquet(Box<ParquetStream<Out>>),
}

struct Open {
    /// `None`: standard output.
    path: Option<PathBuf>,
    writer: Writer,
    /// When the last row group was closed (Parquet), or the file opened.
    row_group_at: Option<Timestamp>,
}

pub struct RecordFiles {
    destination: Destination,
    format: RecordsFormat,
    opts: RecordOptions,
    current: Option<Open>,
    /// `Every`: the start of the open file's window (seconds since the epoch).
    window: Option<i64>,
    /// The time of the last sweep: the window a record falls in.
    now: Option<Timestamp>,
    /// Records written, all files together.
    pub written: u64,
    /// Files closed so far, complete.
    pub closed: Vec<PathBuf>,
}

impl RecordFiles {
    /// Standard output and a single file are opened at once (so that a name that cannot
    /// be written fails before the capture starts); rotated files as their turn comes.
    pub fn new(
        destination: Destination,
        format: RecordsFormat,
        opts: RecordOptions,
    ) -> io::Result<RecordFiles> {
        let mut files = RecordFiles {
            destination,
            format,
            opts,
            current: None,
            window: None,
            now: None,
            written: 0,
            closed: Vec::new(),
        };
        match &files.destination {
            Destination::Stdout => {
                let out: Out = Box::new(BufWriter::new(io::stdout()));
                files.current = Some(files.writer(None, out)?);
            }
            Destination::File(path) => {
                let path = path.clone();
                files.open(path)?;
            }
            Destination::Every { .. } | Destination::BesideCapture => {}
        }
        Ok(files)
    }

    fn writer(&self, path: Option<PathBuf>, out: Out) -> io::Result<Open> {
        let format = match self.format {
            RecordsFormat::Zeek => StreamFormat::Zeek,
            RecordsFormat::ZeekJson => StreamFormat::ZeekJson,
            RecordsFormat::Parquet => {
                return Ok(Open {
                    path,
                    writer: Writer::Parquet(Box::new(ParquetStream::new(out, self.opts.clone())?)),
                    row_group_at: self.now,
                })
            }
        };
        let mut stream = RecordStream::new(out, format, self.opts.clone());
        stream.set_opened(self.now);
        Ok(Open {
            path,
            writer: Writer::Text(stream),
            row_group_at: self.now,
        })
    }

    fn open(&mut self, path: PathBuf) -> io::Result<()> {
        let file = File::create(&path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("{}: cannot create the records file: {e}", path.display()),
            )
        })?;
        // Parquet's writer buffers its output itself.
        let out: Out = match self.format {
            RecordsFormat::Parquet => Box::new(file),
            _ => Box::new(BufWriter::new(file)),
        };
        self.current = Some(self.writer(Some(path), out)?);
        Ok(())
    }

    /// Completes the open file (the TSV `#close`, the Parquet footer).
    fn close(&mut self) -> io::Result<()> {
        let Some(mut open) = self.current.take() else {
            return Ok(());
        };
        match &mut open.writer {
            Writer::Text(w) => w.finish()?,
            Writer::Parquet(w) => w.finish()?,
        }
        if let Some(path) = open.path {
            self.closed.push(path);
        }
        Ok(())
    }

    /// The file of the window that holds `secs`.
    fn window_file(template: &Path, seconds: u64, secs: i64) -> io::Result<(i64, PathBuf)> {
        let seconds = i64::try_from(seconds).unwrap_or(i64::MAX);
        let start = secs - secs.rem_euclid(seconds);
        let name = strftime_local(template, start)?;
        Ok((start, PathBuf::from(OsStr::from_bytes(&name))))
    }

    /// One connection's record, to the open file (a rotated one opened if none is).
    pub fn record(&mut self, r: &ConnectionRecord) -> io::Result<()> {
        if self.current.is_none() {
            if let Destination::Every { template, seconds } = &self.destination {
                let at = self.now.unwrap_or(r.last_seen).secs();
                let (start, path) = Self::window_file(template, *seconds, at)?;
                self.open(path)?;
                self.window = Some(start);
            }
        }
        let Some(open) = self.current.as_mut() else {
            // BesideCapture before the first -w file, or after the end: a caller's bug.
            return Err(io::Error::other("no records file is open"));
        };
        match &mut open.writer {
            Writer::Text(w) => w.record(r)?,
            Writer::Parquet(w) => w.record(r)?,
        }
        self.written += 1;
        Ok(())
    }

    /// The live loop's once-a-second sweep at `now`: a window that is over is closed and
    /// the next opened (so that every window has its file, a quiet one too), and a Parquet
    /// row group that has waited a minute is written.
    pub fn sweep(&mut self, now: Timestamp) -> io::Result<()> {
        self.now = Some(now);
        if let Destination::Every { template, seconds } = &self.destination {
            let (start, path) = Self::window_file(template, *seconds, now.secs())?;
            if self.window != Some(start) {
                self.close()?;
                self.open(path)?;
                self.window = Some(start);
            }
        }
        if let Some(open) = self.current.as_mut() {
            if let Writer::Parquet(w) = &mut open.writer {
                let due = open
                    .row_group_at
                    .is_none_or(|t| now.saturating_since(t) >= ROW_GROUP_EVERY);
                if due {
                    w.flush_row_group()?;
                    open.row_group_at = Some(now);
                }
            }
        }
        Ok(())
    }

    /// A new `-w` file was opened: with `BesideCapture`, the records file beside it.
    pub fn capture_file(&mut self, capture: &Path) -> io::Result<()> {
        if !matches!(self.destination, Destination::BesideCapture) {
            return Ok(());
        }
        self.close()?;
        let mut name = capture.as_os_str().to_os_string();
        name.push(self.format.suffix());
        self.open(PathBuf::from(name))
    }

    /// Passes what is written on (after each batch of packets).
    pub fn flush(&mut self) -> io::Result<()> {
        match self.current.as_mut().map(|o| &mut o.writer) {
            Some(Writer::Text(w)) => w.flush(),
            Some(Writer::Parquet(w)) => w.flush(),
            None => Ok(()),
        }
    }

    /// The file being written, if any (to give to the `-Z` user).
    pub fn current(&self) -> Option<&Path> {
        self.current.as_ref().and_then(|o| o.path.as_deref())
    }

    /// Completes the last file.
    pub fn finish(&mut self) -> io::Result<()> {
        self.close()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_aligned_on_multiples_of_their_length() {
        let t = Path::new("conn-%s");
        assert_eq!(
            RecordFiles::window_file(t, 60, 125).unwrap(),
            (120, PathBuf::from("conn-120"))
        );
        assert_eq!(
            RecordFiles::window_file(t, 3600, 7199).unwrap(),
            (3600, PathBuf::from("conn-3600"))
        );
        assert_eq!(RecordFiles::window_file(t, 10, 10).unwrap().0, 10);
    }

    fn scratch(test: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("synack-recfiles-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn a_record() -> ConnectionRecord {
        use crate::analysis::analyzer::Options;
        use crate::analysis::pipeline::Pipeline;
        use crate::model::event::NoEvents;
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample.pcap");
        let finished = Pipeline::new(Options::default()).run_files(&[path], &mut NoEvents);
        let first = finished.report.connections.records().next().unwrap();
        first
    }

    #[test]
    fn a_window_is_closed_by_the_first_sweep_past_it_and_the_next_opened() {
        let dir = scratch("every");
        let r = a_record();
        let every = Destination::Every {
            template: dir.join("c-%s.log"),
            seconds: 10,
        };
        let mut files =
            RecordFiles::new(every, RecordsFormat::Zeek, RecordOptions::default()).unwrap();
        assert!(
            files.current().is_none(),
            "opened by the first sweep, not before"
        );
        files.sweep(Timestamp::from_secs_nanos(101, 0)).unwrap();
        assert_eq!(files.current(), Some(dir.join("c-100.log").as_path()));
        files.record(&r).unwrap();
        files.sweep(Timestamp::from_secs_nanos(109, 0)).unwrap();
        assert!(files.closed.is_empty());
        // Two windows later: 110 is skipped (no sweep in it), 120 opened.
        files.sweep(Timestamp::from_secs_nanos(125, 0)).unwrap();
        assert_eq!(files.closed, [dir.join("c-100.log")]);
        assert_eq!(files.current(), Some(dir.join("c-120.log").as_path()));
        files.finish().unwrap();
        assert_eq!(files.closed.len(), 2);
        assert_eq!(files.written, 1);
        let first = std::fs::read_to_string(dir.join("c-100.log")).unwrap();
        assert!(first.lines().last().unwrap().starts_with("#close"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn beside_capture_follows_the_capture_files() {
        let dir = scratch("beside");
        let r = a_record();
        let mut files = RecordFiles::new(
            Destination::BesideCapture,
            RecordsFormat::ZeekJson,
            RecordOptions::default(),
        )
        .unwrap();
        assert!(
            files.record(&r).is_err(),
            "no file before the first capture file"
        );
        files.capture_file(&dir.join("cap0")).unwrap();
        files.record(&r).unwrap();
        files.capture_file(&dir.join("cap1")).unwrap();
        assert_eq!(files.closed, [dir.join("cap0.conn.json")]);
        files.finish().unwrap();
        assert_eq!(files.closed.len(), 2);
        let first = std::fs::read_to_string(dir.join("cap0.conn.json")).unwrap();
        assert_eq!(first.lines().count(), 1);
        assert_eq!(
            std::fs::read_to_string(dir.join("cap1.conn.json")).unwrap(),
            ""
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn suffixes_name_the_format() {
        assert_eq!(RecordsFormat::Parquet.suffix(), ".conn.parquet");
        assert_eq!(RecordsFormat::Zeek.suffix(), ".conn.log");
        assert_eq!(RecordsFormat::ZeekJson.suffix(), ".conn.json");
    }
}
