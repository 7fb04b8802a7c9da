//! `capture -w FILE` with tcpdump's rotation: `-C` (by size), `-G` (by time, strftime in
//! the name), `-W` (a ring of N files, or stop after N with `-G` alone), and `-z` (a
//! command run on each closed file). The files are classic pcap with nanosecond
//! timestamps, written here rather than through libpcap's dumper so that a replayed file
//! can be written too and the size is known without asking the C library.
//!
//! Naming follows tcpdump's `MakeFilename`: the name is passed through strftime(3) with
//! the local time when `-G` is given; with `-C` a number follows it (`FILE`, `FILE1`,
//! `FILE2`…; with `-W N` every file is numbered, zero-padded to the digits of N−1:
//! `FILE0`…`FILE9` for `-W 10`).

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::capture::file::Packet;
use crate::model::link::LinkType;
pub use crate::model::time::strftime_local;

/// How the `-w` file rotates (all off: one file, as before).
#[derive(Clone, Debug, Default)]
pub struct Rotation {
    /// `-C`: start a new file before a packet once the current one is larger than this
    /// many bytes (tcpdump's test: the file may pass the size by one packet).
    pub size: Option<u64>,
    /// `-G`: start a new file on the first packet this many seconds after the current
    /// one was opened.
    pub seconds: Option<u64>,
    /// `-W`: with `-C`, a ring of this many files; with `-G` alone, stop after this many.
    pub files: Option<u32>,
    /// `-z`: run `CMD FILE` on each file once it is closed.
    pub command: Option<String>,
}

/// What a write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Written {
    Packet,
    /// `-G` with `-W`: the last file is full (tcpdump: "Maximum file limit reached"); the
    /// packet was not written and the capture should stop.
    Limit,
}

/// A pcap file being written, and the rotation that follows it.
pub struct RotatingWriter {
    template: PathBuf,
    rotation: Rotation,
    link_type: LinkType,
    snaplen: u32,
    out: Option<BufWriter<File>>,
    /// The file being written.
    current: PathBuf,
    /// Bytes in the current file (header included).
    bytes: u64,
    /// tcpdump's Cflag_count: the number after the name.
    size_count: u32,
    /// tcpdump's Gflag_count: files closed by time.
    time_count: u32,
    /// When the current time window opened (seconds since the epoch); a replay opens the
    /// first at its first packet.
    window_start: Option<i64>,
    /// Every file opened, in order (a ring names some twice).
    opened: Vec<PathBuf>,
    /// `-z` commands still running: reaped as they end, waited for at the end.
    children: Vec<Child>,
    /// A `-z` command that could not be started (said once, by the caller).
    command_error: Option<String>,
}

/// The header of a classic pcap file with nanosecond timestamps.
fn header(snaplen: u32, link_type: LinkType) -> [u8; 24] {
    let mut h = [0u8; 24];
    h[0..4].copy_from_slice(&0xa1b2_3c4du32.to_ne_bytes());
    h[4..6].copy_from_slice(&2u16.to_ne_bytes());
    h[6..8].copy_from_slice(&4u16.to_ne_bytes());
    // thiszone and sigfigs stay 0.
    h[16..20].copy_from_slice(&snaplen.to_ne_bytes());
    h[20..24].copy_from_slice(&u32::from(link_type.0).to_ne_bytes());
    h
}

/// Digits of N−1, tcpdump's `getWflagChars`: the width of a ring file's number.
fn ring_width(files: u32) -> usize {
    let (mut x, mut c) = (files.saturating_sub(1), 0);
    while x > 0 {
        c += 1;
        x /= 10;
    }
    c
}

impl RotatingWriter {
    /// Opens the first file. `now` is the time (seconds) the first window opens at; `None`
    /// (an empty replay): the first packet's.
    pub fn create(
        template: &Path,
        rotation: Rotation,
        link_type: LinkType,
        snaplen: u32,
        now: Option<i64>,
    ) -> io::Result<RotatingWriter> {
        let mut w = RotatingWriter {
            template: template.to_path_buf(),
            rotation,
            link_type,
            snaplen,
            out: None,
            current: PathBuf::new(),
            bytes: 0,
            size_count: 0,
            time_count: 0,
            window_start: now,
            opened: Vec::new(),
            children: Vec::new(),
            command_error: None,
        };
        w.open()?;
        Ok(w)
    }

    /// tcpdump's `MakeFilename` for the current window and count.
    fn name(&self) -> io::Result<PathBuf> {
        let base = if self.rotation.seconds.is_some() {
            strftime_local(&self.template, self.window_start.unwrap_or(0))?
        } else {
            self.template.as_os_str().as_bytes().to_vec()
        };
        let width = match (self.rotation.size, self.rotation.files) {
            (Some(_), Some(n)) => ring_width(n),
            _ => 0,
        };
        let mut name = base;
        // Numbered only with -C: the first file of a plain -C run is FILE itself.
        if self.rotation.size.is_some() && (self.size_count != 0 || width != 0) {
            name.extend_from_slice(format!("{:0width$}", self.size_count).as_bytes());
        }
        Ok(PathBuf::from(OsStr::from_bytes(&name)))
    }

    fn open(&mut self) -> io::Result<()> {
        let path = self.name()?;
        let file = File::create(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        let mut out = BufWriter::with_capacity(256 << 10, file);
        out.write_all(&header(self.snaplen, self.link_type))?;
        self.out = Some(out);
        self.bytes = 24;
        self.current = path.clone();
        self.opened.push(path);
        Ok(())
    }

    /// Flushes and closes the current file, then hands it to `-z`.
    fn close(&mut self) -> io::Result<()> {
        let Some(out) = self.out.take() else {
            return Ok(());
        };
        let file = out.into_inner().map_err(|e| e.into_error())?;
        drop(file);
        if let Some(cmd) = &self.rotation.command {
            // As tcpdump: CMD FILE, not waited for here; reaped on later ticks.
            match Command::new(cmd)
                .arg(&self.current)
                .stdin(Stdio::null())
                .spawn()
            {
                Ok(child) => self.children.push(child),
                Err(e) => {
                    self.command_error
                        .get_or_insert_with(|| format!("-z {cmd}: {e}"));
                }
            }
        }
        Ok(())
    }

    /// Writes one packet, rotating first when a limit is reached. `now` is the time in
    /// seconds the `-G` window is judged by.
    pub fn write(&mut self, p: &Packet<'_>, now: i64) -> io::Result<Written> {
        if let Some(g) = self.rotation.seconds {
            let start = *self.window_start.get_or_insert(now);
            if now.saturating_sub(start) >= g as i64 {
                self.close()?;
                self.window_start = Some(now);
                self.time_count += 1;
                if self.rotation.size.is_none()
                    && self.rotation.files.is_some_and(|n| self.time_count >= n)
                {
                    return Ok(Written::Limit);
                }
                self.size_count = 0;
                self.open()?;
            }
        }
        if let Some(c) = self.rotation.size {
            if self.bytes > c {
                self.close()?;
                self.size_count += 1;
                if self.rotation.files.is_some_and(|n| self.size_count >= n) {
                    self.size_count = 0;
                }
                self.open()?;
            }
        }
        let Some(out) = self.out.as_mut() else {
            return Ok(Written::Limit);
        };
        let caplen = p.data.len().min(self.snaplen as usize);
        let secs = p.ts.as_nanos().div_euclid(1_000_000_000);
        let nanos = p.ts.as_nanos().rem_euclid(1_000_000_000);
        let mut rec = [0u8; 16];
        rec[0..4].copy_from_slice(&(secs as u32).to_ne_bytes());
        rec[4..8].copy_from_slice(&(nanos as u32).to_ne_bytes());
        rec[8..12].copy_from_slice(&(caplen as u32).to_ne_bytes());
        rec[12..16].copy_from_slice(&p.orig_len.max(caplen as u32).to_ne_bytes());
        out.write_all(&rec)?;
        out.write_all(&p.data[..caplen])?;
        self.bytes += 16 + caplen as u64;
        Ok(Written::Packet)
    }

    /// Reaps the `-z` commands that have ended (called on the live loop's tick).
    pub fn reap(&mut self) {
        self.children
            .retain_mut(|c| !matches!(c.try_wait(), Ok(Some(_)) | Err(_)));
    }

    pub fn link_type(&self) -> LinkType {
        self.link_type
    }

    pub fn rotation(&self) -> &Rotation {
        &self.rotation
    }

    /// The file being written.
    pub fn current(&self) -> &Path {
        &self.current
    }

    /// Every file opened so far, in order.
    pub fn opened(&self) -> &[PathBuf] {
        &self.opened
    }

    /// A `-z` command that could not be started, once.
    pub fn take_command_error(&mut self) -> Option<String> {
        self.command_error.take()
    }

    /// Flushes and closes the last file, runs `-z` on it too, and waits for every `-z`
    /// command still running (so that a finished capture leaves finished files).
    pub fn finish(&mut self) -> io::Result<()> {
        self.close()?;
        for mut c in self.children.drain(..) {
            let _ = c.wait();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::time::Timestamp;

    fn packet(data: &[u8], secs: i64) -> Packet<'_> {
        Packet {
            ts: Timestamp::from_secs_nanos(secs, 5),
            link_type: LinkType::ETHERNET,
            data,
            orig_len: data.len() as u32,
        }
    }

    fn scratch(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("synack-rotate-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn names(w: &RotatingWriter, dir: &Path) -> Vec<String> {
        w.opened()
            .iter()
            .map(|p| p.strip_prefix(dir).unwrap().display().to_string())
            .collect()
    }

    #[test]
    fn ring_width_is_the_digits_of_n_minus_one() {
        assert_eq!([1, 2, 10, 11, 100, 101].map(ring_width), [0, 1, 1, 2, 2, 3]);
    }

    #[test]
    fn size_rotation_names_as_tcpdump() {
        let dir = scratch("size");
        let data = [0u8; 100];
        let rot = Rotation {
            size: Some(200),
            ..Rotation::default()
        };
        let mut w = RotatingWriter::create(&dir.join("f"), rot, LinkType::ETHERNET, 65535, Some(0))
            .unwrap();
        for _ in 0..5 {
            assert_eq!(w.write(&packet(&data, 1), 1).unwrap(), Written::Packet);
        }
        w.finish().unwrap();
        // 24 + 116 = 140 ≤ 200, 256 > 200: two packets a file.
        assert_eq!(names(&w, &dir), ["f", "f1", "f2"]);
        assert_eq!(
            std::fs::metadata(dir.join("f")).unwrap().len(),
            24 + 2 * 116
        );
    }

    #[test]
    fn a_ring_is_zero_padded_and_wraps() {
        let dir = scratch("ring");
        let data = [0u8; 100];
        let rot = Rotation {
            size: Some(100),
            files: Some(11),
            ..Rotation::default()
        };
        let mut w = RotatingWriter::create(&dir.join("r"), rot, LinkType::ETHERNET, 65535, Some(0))
            .unwrap();
        for _ in 0..12 {
            w.write(&packet(&data, 1), 1).unwrap();
        }
        w.finish().unwrap();
        let n = names(&w, &dir);
        assert_eq!(n.first().unwrap(), "r00");
        assert_eq!(n[10], "r10");
        assert_eq!(n[11], "r00");
    }

    #[test]
    fn time_rotation_uses_strftime_and_stops_at_w() {
        let dir = scratch("time");
        let data = [1u8; 10];
        let rot = Rotation {
            seconds: Some(10),
            files: Some(2),
            ..Rotation::default()
        };
        let mut w = RotatingWriter::create(
            &dir.join("t-%s.pcap"),
            rot,
            LinkType::ETHERNET,
            65535,
            Some(1000),
        )
        .unwrap();
        assert_eq!(
            w.write(&packet(&data, 1000), 1000).unwrap(),
            Written::Packet
        );
        assert_eq!(
            w.write(&packet(&data, 1009), 1009).unwrap(),
            Written::Packet
        );
        assert_eq!(
            w.write(&packet(&data, 1010), 1010).unwrap(),
            Written::Packet
        );
        assert_eq!(w.write(&packet(&data, 1020), 1020).unwrap(), Written::Limit);
        w.finish().unwrap();
        assert_eq!(names(&w, &dir), ["t-1000.pcap", "t-1010.pcap"]);
    }
}
