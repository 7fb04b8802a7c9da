//! Compressed captures: gzip (every member of a concatenated file), zstd, lz4 (frame
//! format) and xz, known by their magic bytes, whatever the file is called. The decoder is
//! one more `Read` in front of the capture reader, so it runs wherever the reading runs:
//! on the reading thread of a run that shares packets out (docs/design.md).

use std::fmt;
use std::io::{self, Read};
use std::sync::{Arc, Mutex};

/// A compression format synack reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
    Lz4,
    Xz,
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Lz4 => "lz4",
            Compression::Xz => "xz",
        })
    }
}

/// The legacy lz4 format (`lz4 -l`), which the frame decoder does not read.
pub const LZ4_LEGACY: [u8; 4] = [0x02, 0x21, 0x4c, 0x18];

impl Compression {
    /// The format whose magic number `head` starts with.
    pub fn sniff(head: &[u8]) -> Option<Compression> {
        if head.starts_with(&[0x1f, 0x8b]) {
            Some(Compression::Gzip)
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Compression::Zstd)
        } else if head.starts_with(&[0x04, 0x22, 0x4d, 0x18]) {
            Some(Compression::Lz4)
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Some(Compression::Xz)
        } else {
            None
        }
    }

    /// A reader of the decompressed bytes of `input`, which `input` starts with the magic
    /// of. Read errors come back as [`Fault`]s, also kept in the returned `Faults`.
    pub fn decoder(self, input: Box<dyn Read + Send>) -> (Box<dyn Read + Send>, Faults) {
        let faults = Faults::default();
        let shared = Arc::new(Mutex::new(SourceState::default()));
        let source = Tracked {
            input,
            read: 0,
            ended: false,
            state: Arc::clone(&shared),
        };
        let decoder: Box<dyn Read + Send> = match self {
            // Multi-member: a concatenation of gzip files (`cat a.gz b.gz`, or a log
            // rotated into one .gz in pieces) is one stream, as gunzip reads it.
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(
                io::BufReader::with_capacity(IN_BUF, source),
            )),
            Compression::Zstd => match zstd::stream::read::Decoder::with_buffer(
                io::BufReader::with_capacity(IN_BUF, source),
            ) {
                Ok(d) => Box::new(d),
                Err(e) => Box::new(Failing(Some(e))),
            },
            Compression::Lz4 => Box::new(lz4_flex::frame::FrameDecoder::new(
                io::BufReader::with_capacity(IN_BUF, source),
            )),
            // Every stream of a concatenated .xz, as xz -d reads it.
            Compression::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(
                io::BufReader::with_capacity(IN_BUF, source),
            )),
        };
        let reader = Decompressed {
            kind: self,
            inner: decoder,
            source: shared,
            out: 0,
            faults: faults.clone(),
        };
        (Box::new(reader), faults)
    }
}

/// Compressed bytes asked of the file at a time.
const IN_BUF: usize = 128 * 1024;

/// What went wrong decompressing, shared with whoever reads through the decoder: the
/// capture reader's own parsers may turn a read error into one of their own, and the
/// reader looks here for the real cause.
#[derive(Clone, Debug, Default)]
pub struct Faults(Arc<Mutex<Option<Fault>>>);

impl Faults {
    pub fn get(&self) -> Option<Fault> {
        self.0.lock().ok().and_then(|f| f.clone())
    }

    fn set(&self, fault: Fault) {
        if let Ok(mut f) = self.0.lock() {
            f.get_or_insert(fault);
        }
    }
}

/// A compressed stream that could not be decompressed to its end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub kind: Compression,
    /// The compressed file ended before the stream did (a copy cut short), rather than
    /// holding bytes the decoder refused.
    pub truncated: bool,
    /// Compressed bytes read when it happened.
    pub compressed_offset: u64,
    /// Decompressed bytes delivered before it.
    pub decompressed: u64,
    /// The decoder's own words.
    pub detail: String,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.truncated {
            write!(
                f,
                "truncated: the {} stream ends early, after {} compressed bytes ({} bytes of capture)",
                self.kind, self.compressed_offset, self.decompressed
            )
        } else {
            write!(
                f,
                "corrupt {} data near compressed byte {} (after {} bytes of capture): {}",
                self.kind, self.compressed_offset, self.decompressed, self.detail
            )
        }
    }
}

impl std::error::Error for Fault {}

/// How far the compressed file was read, and whether to its end.
#[derive(Default)]
struct SourceState {
    read: u64,
    ended: bool,
}

/// The compressed file, counted, its counts published for the decoder's owner (the
/// decoder owns this).
struct Tracked {
    input: Box<dyn Read + Send>,
    read: u64,
    ended: bool,
    state: Arc<Mutex<SourceState>>,
}

impl Read for Tracked {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.input.read(buf)?;
        self.read += n as u64;
        if n == 0 && !buf.is_empty() {
            self.ended = true;
        }
        // Once per block of compressed input (128 KiB), not per packet.
        if let Ok(mut s) = self.state.lock() {
            s.read = self.read;
            s.ended = self.ended;
        }
        Ok(n)
    }
}

/// A decoder that failed before its first byte (zstd's context could not be made).
struct Failing(Option<io::Error>);

impl Read for Failing {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(self
            .0
            .take()
            .unwrap_or_else(|| io::Error::other("decoder unavailable")))
    }
}

/// The decoder, its errors made into [`Fault`]s.
struct Decompressed {
    kind: Compression,
    inner: Box<dyn Read + Send>,
    source: Arc<Mutex<SourceState>>,
    out: u64,
    faults: Faults,
}

impl Read for Decompressed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut result = self.inner.read(buf);
        // lz4_flex's decoder stops at the end of a frame: read on while the file goes on,
        // so that concatenated frames are one stream, as `lz4 -d` reads them.
        while self.kind == Compression::Lz4
            && matches!(result, Ok(0))
            && !buf.is_empty()
            && !self.source.lock().map(|s| s.ended).unwrap_or(true)
        {
            result = self.inner.read(buf);
        }
        match result {
            Ok(n) => {
                self.out += n as u64;
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                let (read, ended) = self
                    .source
                    .lock()
                    .map(|s| (s.read, s.ended))
                    .unwrap_or_default();
                let fault = Fault {
                    kind: self.kind,
                    truncated: ended || e.kind() == io::ErrorKind::UnexpectedEof,
                    compressed_offset: read,
                    decompressed: self.out,
                    detail: e.to_string(),
                };
                self.faults.set(fault.clone());
                Err(io::Error::other(fault))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn payload() -> Vec<u8> {
        (0..300_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect()
    }

    fn compress(kind: Compression, data: &[u8]) -> Vec<u8> {
        match kind {
            Compression::Gzip => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            // With the checksums the command-line tools write by default.
            Compression::Zstd => {
                let mut e = zstd::Encoder::new(Vec::new(), 1).unwrap();
                e.include_checksum(true).unwrap();
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            Compression::Lz4 => {
                let info = lz4_flex::frame::FrameInfo::new().content_checksum(true);
                let mut e = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            Compression::Xz => {
                let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
        }
    }

    const ALL: [Compression; 4] = [
        Compression::Gzip,
        Compression::Zstd,
        Compression::Lz4,
        Compression::Xz,
    ];

    fn decompress(bytes: Vec<u8>) -> (io::Result<Vec<u8>>, Faults) {
        let kind = Compression::sniff(&bytes).expect("a known magic");
        let (mut r, faults) = kind.decoder(Box::new(io::Cursor::new(bytes)));
        let mut out = Vec::new();
        let res = r.read_to_end(&mut out).map(|_| out);
        (res, faults)
    }

    #[test]
    fn each_format_round_trips_and_is_known_by_its_magic() {
        let data = payload();
        for kind in ALL {
            let packed = compress(kind, &data);
            assert_eq!(Compression::sniff(&packed), Some(kind));
            let (out, faults) = decompress(packed);
            assert_eq!(out.unwrap(), data, "{kind}");
            assert_eq!(faults.get(), None);
        }
        assert_eq!(Compression::sniff(&data), None);
    }

    #[test]
    fn concatenated_members_and_streams_are_one_stream() {
        let (a, b) = (b"first member ".repeat(1000), b"second member".repeat(1000));
        for kind in ALL {
            let mut both = compress(kind, &a);
            both.extend(compress(kind, &b));
            let (out, _) = decompress(both);
            let out = out.unwrap();
            assert!(
                out == [a.clone(), b.clone()].concat(),
                "{kind}: {} bytes",
                out.len()
            );
        }
    }

    #[test]
    fn a_cut_stream_is_truncated_and_a_damaged_one_corrupt() {
        let data = payload();
        for kind in ALL {
            let packed = compress(kind, &data);
            let cut = packed[..packed.len() / 2].to_vec();
            let (out, faults) = decompress(cut);
            let err = out.unwrap_err();
            let fault = faults.get().expect("a fault is kept");
            assert!(fault.truncated, "{kind}: {fault}");
            assert_eq!(err.to_string(), fault.to_string());
            assert!(fault.to_string().starts_with("truncated: "), "{fault}");

            let mut damaged = packed.clone();
            let at = damaged.len() / 2;
            for b in &mut damaged[at..at + 64] {
                *b ^= 0x5a;
            }
            let (out, faults) = decompress(damaged);
            assert!(out.is_err(), "{kind}: damage undetected");
            let fault = faults.get().expect("a fault is kept");
            assert!(fault.decompressed < data.len() as u64, "{kind}");
        }
    }
}
