//! Compressed captures: gzip (every member of a concatenated file), zstd, lz4 (frame
//! format) and xz, known by their magic bytes, whatever the file is called. The decoder is
//! one more `Read` in front of the capture reader. A run that reads on one thread starts
//! it on a thread of its own, a few blocks ahead of the reader ([`Ahead`]), so that
//! decompression takes the second core; a run that shares packets out to workers keeps it
//! on the reading thread, which measured faster there (docs/performance.md, "Compressed
//! traces").

use std::fmt;
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender, TryRecvError};
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

    /// The format of the file at `path`, by its first bytes; `None` when it is not
    /// compressed or cannot be read (standard input, `-`, is not looked at: its first
    /// bytes are the capture's).
    pub fn of_file(path: &std::path::Path) -> Option<Compression> {
        if path.as_os_str() == "-" {
            return None;
        }
        let mut head = [0u8; 6];
        let mut file = std::fs::File::open(path).ok()?;
        let mut filled = 0;
        while filled < head.len() {
            match file.read(&mut head[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        }
        Compression::sniff(&head[..filled])
    }

    /// A reader of the decompressed bytes of `input`, which `input` starts with the magic
    /// of. Read errors come back as [`Fault`]s, also kept in the returned `Faults`. It
    /// decodes in place until [`Ahead::start`] is called.
    pub fn decoder(self, input: Box<dyn Read + Send>) -> (Box<dyn Read + Send>, Faults, Ahead) {
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
        let ahead = Ahead::default();
        let placed = Placed {
            in_place: Some(Box::new(reader)),
            on_thread: None,
            ahead: ahead.clone(),
        };
        (Box::new(placed), faults, ahead)
    }
}

/// Moves a decoder onto a thread of its own from its next read on (once: it stays there).
#[derive(Clone, Debug, Default)]
pub struct Ahead(Arc<AtomicBool>);

impl Ahead {
    pub fn start(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The decoder, read in place, or from its thread once [`Ahead`] says so; the decoder's
/// state goes to the thread with it, so the stream goes on where it was.
struct Placed {
    in_place: Option<Box<dyn Read + Send>>,
    on_thread: Option<Box<dyn Read + Send>>,
    ahead: Ahead,
}

impl Read for Placed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.on_thread.is_none() && self.ahead.0.load(Ordering::Relaxed) {
            self.on_thread = self.in_place.take().map(DecodedAhead::spawn);
        }
        match (&mut self.on_thread, &mut self.in_place) {
            (Some(decoder), _) | (None, Some(decoder)) => decoder.read(buf),
            (None, None) => Ok(0),
        }
    }
}

/// Decompressed bytes the decoding thread hands over at a time: large, so that handing
/// over costs nothing beside the copying.
const BLOCK: usize = 1 << 20;
/// Blocks made, then recycled: one being filled, ones waiting, one being read.
const BLOCKS: usize = 4;

/// A block of decompressed bytes, `bytes[..len]`, from the decoding thread.
struct Block {
    bytes: Vec<u8>,
    len: usize,
    /// What the decoder said after those bytes.
    error: Option<io::Error>,
    /// Nothing follows (the stream's end, or its error).
    last: bool,
}

/// The reading side of a decoder running on its own thread: blocks come filled and go
/// back empty to be filled again.
struct DecodedAhead {
    filled: Receiver<Block>,
    empty: Sender<Vec<u8>>,
    current: Block,
    at: usize,
}

impl DecodedAhead {
    /// Starts `decoder` on a thread of its own; if no thread can be made, the decoder is
    /// read in place, as it would be without one.
    fn spawn(decoder: Box<dyn Read + Send>) -> Box<dyn Read + Send> {
        let (filled_tx, filled) = mpsc::sync_channel(BLOCKS);
        let (empty, empty_rx) = mpsc::channel();
        // The decoder goes to the thread through a slot this side can take it back from.
        let slot = Arc::new(Mutex::new(Some(decoder)));
        let theirs = Arc::clone(&slot);
        let started = std::thread::Builder::new()
            .name("decompress".into())
            .spawn(move || {
                let decoder = theirs.lock().ok().and_then(|mut d| d.take());
                if let Some(decoder) = decoder {
                    decode_ahead(decoder, &filled_tx, &empty_rx);
                }
            });
        if started.is_err() {
            if let Some(decoder) = slot.lock().ok().and_then(|mut d| d.take()) {
                return decoder;
            }
        }
        Box::new(DecodedAhead {
            filled,
            empty,
            current: Block {
                bytes: Vec::new(),
                len: 0,
                error: None,
                last: false,
            },
            at: 0,
        })
    }
}

/// The decoding thread: fills blocks until the stream ends or fails, or the reader is gone
/// (a send or a wait for an empty block fails).
fn decode_ahead(
    mut decoder: Box<dyn Read + Send>,
    filled: &SyncSender<Block>,
    empty: &Receiver<Vec<u8>>,
) {
    let mut made = 0;
    loop {
        let mut bytes = match empty.try_recv() {
            Ok(bytes) => bytes,
            Err(TryRecvError::Empty) if made < BLOCKS => {
                made += 1;
                vec![0; BLOCK]
            }
            Err(TryRecvError::Empty) => match empty.recv() {
                Ok(bytes) => bytes,
                Err(_) => return,
            },
            Err(TryRecvError::Disconnected) => return,
        };
        let (mut len, mut error, mut last) = (0, None, false);
        while len < bytes.len() {
            match decoder.read(&mut bytes[len..]) {
                Ok(0) => {
                    last = true;
                    break;
                }
                Ok(n) => len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    error = Some(e);
                    last = true;
                    break;
                }
            }
        }
        let block = Block {
            bytes,
            len,
            error,
            last,
        };
        if filled.send(block).is_err() || last {
            return;
        }
    }
}

impl Read for DecodedAhead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let left = self.current.len - self.at;
            if left > 0 {
                let n = left.min(buf.len());
                buf[..n].copy_from_slice(&self.current.bytes[self.at..self.at + n]);
                self.at += n;
                return Ok(n);
            }
            // The bytes before a fault are delivered, then the fault.
            if let Some(e) = self.current.error.take() {
                return Err(e);
            }
            if self.current.last {
                return Ok(0);
            }
            let spent = std::mem::take(&mut self.current.bytes);
            if !spent.is_empty() {
                // The thread may have ended (the stream did): the block is then not needed.
                let _ = self.empty.send(spent);
            }
            self.at = 0;
            self.current = self.filled.recv().unwrap_or_else(|_| Block {
                bytes: Vec::new(),
                len: 0,
                error: Some(io::Error::other("the decompressing thread stopped")),
                last: true,
            });
        }
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
        let (mut r, faults, ahead) = kind.decoder(Box::new(io::Cursor::new(bytes)));
        let mut out = Vec::new();
        // Half the stream in place, the rest ahead on a thread, in one stream.
        let mut first = vec![0; 100_000];
        let res = match r.read(&mut first) {
            Ok(n) => {
                out.extend_from_slice(&first[..n]);
                ahead.start();
                r.read_to_end(&mut out).map(|_| out)
            }
            Err(e) => Err(e),
        };
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

    /// A stream of `len` bytes (each its offset, mod 251), then `end`: a clean end, or an
    /// error; handed out in odd-sized pieces.
    struct Numbered {
        at: usize,
        len: usize,
        fail_at_end: bool,
    }

    impl Read for Numbered {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.at == self.len {
                return if self.fail_at_end {
                    Err(io::Error::other("broken at the end"))
                } else {
                    Ok(0)
                };
            }
            let n = buf.len().min(self.len - self.at).min(77_777);
            for (i, b) in buf[..n].iter_mut().enumerate() {
                *b = ((self.at + i) % 251) as u8;
            }
            self.at += n;
            Ok(n)
        }
    }

    #[test]
    fn blocks_decoded_ahead_arrive_whole_and_in_order_then_the_error() {
        // More blocks than the ring holds, so blocks are recycled; not a whole number of
        // blocks, so the last one is partial.
        let len = (BLOCKS + 3) * BLOCK + 12_345;
        for fail_at_end in [false, true] {
            let mut ahead = DecodedAhead::spawn(Box::new(Numbered {
                at: 0,
                len,
                fail_at_end,
            }));
            let mut got = Vec::new();
            let mut buf = vec![0; 256 * 1024];
            let end = loop {
                match ahead.read(&mut buf) {
                    Ok(0) => break None,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(e) => break Some(e.to_string()),
                }
            };
            assert_eq!(
                got.len(),
                len,
                "every byte before the end, fail_at_end {fail_at_end}"
            );
            assert!(got.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
            assert_eq!(end.as_deref(), fail_at_end.then_some("broken at the end"));
            // Once ended, it stays ended.
            assert_eq!(ahead.read(&mut buf).unwrap(), 0);
        }
    }

    #[test]
    fn a_reader_dropped_early_lets_the_decoding_thread_end() {
        let (tx, rx) = mpsc::channel();
        struct Endless(Sender<()>);
        impl Read for Endless {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                buf.fill(7);
                Ok(buf.len())
            }
        }
        impl Drop for Endless {
            fn drop(&mut self) {
                let _ = self.0.send(());
            }
        }
        let mut ahead = DecodedAhead::spawn(Box::new(Endless(tx)));
        let mut buf = [0; 1000];
        assert_eq!(ahead.read(&mut buf).unwrap(), 1000);
        drop(ahead);
        // The thread drops its source when it returns.
        rx.recv_timeout(std::time::Duration::from_secs(10))
            .expect("the decoding thread ended");
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
