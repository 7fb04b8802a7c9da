//! Capture sources: pcap and pcapng files (or standard input), read as a stream.
//!
//! Classic pcap files, the common big input, are parsed by hand in one large read buffer;
//! pcapng (and the rare modified pcap) by `pcap-parser`, which also parses in place and
//! accepts pcapng files whose interfaces have different link types — libpcap refuses
//! those and copies every record (see docs/design.md). This is the
//! only module that knows about capture file formats; it hands out [`Packet`]s that borrow
//! the record bytes for the duration of a callback.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use pcap_parser::pcapng::Block;
use pcap_parser::traits::{PcapNGPacketBlock, PcapReaderIterator};
use pcap_parser::{PcapBlockOwned, PcapError};

use crate::capture::compressed::{Ahead, Compression, Fault, Faults, LZ4_LEGACY};
use crate::model::link::LinkType;
use crate::model::time::Timestamp;

/// Read buffer size: large reads keep the syscall count per record low.
const BUFFER_SIZE: usize = 4 << 20;
/// Largest record accepted. libpcap's limit for a record is 256 KiB (its MAXIMUM_SNAPLEN);
/// anything near the buffer size is a corrupt length field, not a packet.
const MAX_RECORD: u64 = 1 << 20;
/// A pcapng Section Header Block's type, the same bytes in either byte order.
const SHB_TYPE: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
/// Bytes of a file sniffed before choosing a reader.
const SNIFF_LEN: usize = 64 * 1024;
/// Bytes asked of each read of a classic pcap: little enough that the records just read
/// are still in the core's cache when they are parsed.
const READ_SIZE: usize = 256 * 1024;
/// Least room to read into behind a record tail, in a buffer lent out and replaced.
const CHUNK_MIN: usize = 256 * 1024;

/// One captured packet, borrowed from the reader's buffer.
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    pub ts: Timestamp,
    pub link_type: LinkType,
    /// The captured bytes (`incl_len`/`caplen` of them).
    pub data: &'a [u8],
    /// The packet's length on the wire (`orig_len`).
    pub orig_len: u32,
}

/// What a file is, as far as its headers tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Format {
    Pcap {
        big_endian: bool,
        nanosecond: bool,
        modified: bool,
        version: (u16, u16),
    },
    PcapNg {
        big_endian: bool,
    },
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let order = |be: bool| if be { "big-endian" } else { "little-endian" };
        match self {
            Format::Pcap {
                big_endian,
                nanosecond,
                modified,
                version,
            } => {
                let kind = if *modified { "pcap (modified)" } else { "pcap" };
                let prec = if *nanosecond { "ns" } else { "µs" };
                write!(
                    f,
                    "{kind} {}.{} {}, {prec}",
                    version.0,
                    version.1,
                    order(*big_endian)
                )
            }
            Format::PcapNg { big_endian } => write!(f, "pcapng {}", order(*big_endian)),
        }
    }
}

/// Why a capture could not be read (further). Callers print it after the file name.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot open: {0}")]
    Open(io::Error),
    #[error("read error: {0}")]
    Read(io::Error),
    #[error("empty file (0 bytes): not a capture")]
    Empty,
    #[error("{0}")]
    Decompress(Fault),
    #[error("{0}-compressed: {1}")]
    Inside(Compression, Box<SourceError>),
    #[error(
        "lz4 legacy format (lz4 -l), which synack does not read: recompress with lz4 without -l"
    )]
    Lz4Legacy,
    #[error("not a pcap or pcapng capture (first bytes {0})")]
    NotACapture(String),
    #[error("file ends inside the {0} file header ({1} bytes)")]
    ShortHeader(&'static str, usize),
    #[error("unsupported pcap version {0}.{1} (only 2.x up to 2.4 exists)")]
    PcapVersion(u16, u16),
    #[error("unsupported pcapng section version {0}.{1} (only 1.x exists)")]
    PcapNgVersion(u16, u16),
    #[error("pcap header link-type field has reserved bits set (0x{0:08x})")]
    LinkTypeReserved(u32),
    #[error("corrupt pcapng section header block")]
    CorruptSectionHeader,
    #[error("truncated: the file ends inside record {record} (byte offset {offset})")]
    Truncated { record: u64, offset: u64 },
    #[error("corrupt record header at record {record} (byte offset {offset}): {what}")]
    Corrupt {
        record: u64,
        offset: u64,
        what: String,
    },
    #[error("packet on pcapng interface {interface}, but only {defined} interface(s) are described (record {record})")]
    UnknownInterface {
        interface: u32,
        defined: usize,
        record: u64,
    },
}

impl SourceError {
    /// True when the fault came after the file was recognised, so what was read before
    /// it is still worth reporting.
    pub fn is_midstream(&self) -> bool {
        matches!(
            self,
            SourceError::Truncated { .. }
                | SourceError::Corrupt { .. }
                | SourceError::UnknownInterface { .. }
                | SourceError::Read(_)
                | SourceError::Decompress(_)
        ) || matches!(self, SourceError::Inside(_, inner) if inner.is_midstream())
    }

    /// True when the file is not a capture at all (rather than a capture that is
    /// damaged): what a directory may hold beside its captures.
    pub fn is_not_a_capture(&self) -> bool {
        match self {
            SourceError::Empty | SourceError::NotACapture(_) => true,
            SourceError::Inside(_, inner) => inner.is_not_a_capture(),
            _ => false,
        }
    }

    /// A read error, or the decompression fault behind it.
    fn from_read(e: io::Error, faults: Option<&Faults>) -> SourceError {
        if let Some(fault) = e.get_ref().and_then(|inner| inner.downcast_ref::<Fault>()) {
            return SourceError::Decompress(fault.clone());
        }
        match faults.and_then(Faults::get) {
            Some(fault) => SourceError::Decompress(fault),
            None => SourceError::Read(e),
        }
    }
}

/// Per-file facts for the report.
#[derive(Clone, Debug, Default)]
pub struct InputStats {
    /// Records read (packets, not other pcapng blocks).
    pub packets: u64,
    pub first_ts: Option<Timestamp>,
    pub last_ts: Option<Timestamp>,
    /// Records stamped earlier than the latest record before them (out-of-order time).
    pub backwards_timestamps: u64,
    /// pcap records whose sub-second field is out of range (>= 10^6 µs or 10^9 ns).
    pub invalid_subsecond: u64,
    /// pcapng Simple Packet Blocks: no timestamp of their own, given the previous one.
    pub untimed_packets: u64,
    /// pcapng blocks other than packets and interfaces (statistics, names, custom...).
    pub skipped_blocks: u64,
    pub sections: u32,
}

#[derive(Clone, Copy, Debug)]
struct Interface {
    link_type: LinkType,
    snaplen: u32,
    /// Units per second of this interface's timestamps.
    units_per_sec: u64,
    offset_secs: i64,
}

/// A capture file opened for streaming.
pub struct CaptureReader {
    backend: Backend,
    st: ReaderState,
    /// Set when the file is compressed: what stopped the decoder, if anything.
    faults: Option<Faults>,
    /// Set when the file is compressed: starts its decoder on a thread of its own.
    ahead: Option<Ahead>,
    /// Decompress on the reading thread, not on one of its own (`decompress_in_place`).
    in_place: bool,
}

/// Who parses the records: classic pcap by hand (the hot case, see docs/design.md), or
/// pcap-parser for pcapng and the modified pcap format.
enum Backend {
    Parser(Box<dyn PcapReaderIterator + Send>),
    Classic(ClassicReader),
}

/// A classic pcap file read with plain reads into one large buffer, its 16-byte record
/// headers parsed in place: pcap-parser's per-record iterator cost about a fifth of a
/// whole report on small records.
struct ClassicReader {
    input: Box<dyn Read + Send>,
    buf: Box<[u8]>,
    /// Unread records are `buf[start..filled]`.
    start: usize,
    filled: usize,
    /// File offset of `buf[0]`.
    base: u64,
    eof: bool,
    big_endian: bool,
}

/// Everything but the parser, so that a block borrowed from the parser's buffer can be
/// handled while this is updated.
struct ReaderState {
    format: Format,
    /// Interfaces of the current pcapng section, or the single pseudo-interface of a pcap.
    interfaces: Vec<Interface>,
    /// Every link type seen, in order of first appearance.
    link_types: Vec<LinkType>,
    snaplen: u32,
    stats: InputStats,
    records: u64,
    done: bool,
}

/// Wraps an opened capture file (given with its size in bytes) before it is read.
pub type InputWrapper = dyn Fn(File, u64) -> Box<dyn Read + Send>;

impl CaptureReader {
    /// Opens a file by name; `-` is standard input.
    pub fn open(path: &Path) -> Result<Self, SourceError> {
        Self::open_wrapped(path, &|file, _| Box::new(file))
    }

    /// `open`, with the file handed to `wrap` (with its size) before reading: a caller can
    /// watch the bytes go by, e.g. for a progress bar.
    pub fn open_wrapped(
        path: &Path,
        wrap: &dyn Fn(File, u64) -> Box<dyn Read + Send>,
    ) -> Result<Self, SourceError> {
        if path.as_os_str() == "-" {
            // Through `wrap` too (a caller may stop reading on a signal), as a file of
            // unknown size.
            use std::os::fd::AsFd;
            let stdin = io::stdin().as_fd().try_clone_to_owned();
            return Self::from_read(wrap(File::from(stdin.map_err(SourceError::Open)?), 0));
        }
        let file = File::open(path).map_err(SourceError::Open)?;
        let meta = file.metadata().map_err(SourceError::Open)?;
        if meta.is_dir() {
            return Err(SourceError::Open(io::Error::other("is a directory")));
        }
        Self::from_read(wrap(file, meta.len()))
    }

    /// Reads a capture from any byte stream (a file, a pipe, a test buffer), compressed or
    /// not (known by its first bytes).
    pub fn from_read(input: Box<dyn Read + Send>) -> Result<Self, SourceError> {
        let (head, input) = read_head(input).map_err(|e| SourceError::from_read(e, None))?;
        if head.starts_with(&LZ4_LEGACY) {
            return Err(SourceError::Lz4Legacy);
        }
        let Some(kind) = Compression::sniff(&head) else {
            return Self::from_head(head, input);
        };
        let (decoded, faults, ahead) = kind.decoder(Box::new(io::Cursor::new(head).chain(input)));
        let (head, decoded) =
            read_head(decoded).map_err(|e| SourceError::from_read(e, Some(&faults)))?;
        let mut reader = Self::from_head(head, decoded).map_err(|e| match e {
            // The decoder's own fault says more than the header that it cut short.
            SourceError::ShortHeader(..) | SourceError::Read(_) if faults.get().is_some() => {
                SourceError::Decompress(faults.get().expect("checked"))
            }
            SourceError::Read(e) => SourceError::from_read(e, Some(&faults)),
            e => SourceError::Inside(kind, Box::new(e)),
        })?;
        reader.faults = Some(faults);
        reader.ahead = Some(ahead);
        Ok(reader)
    }

    /// Opens a capture whose first bytes, `head`, were already read from `input`.
    fn from_head(head: Vec<u8>, input: Box<dyn Read + Send>) -> Result<Self, SourceError> {
        let filled = head.len();
        let format = sniff(&head)?;
        if let Format::Pcap {
            modified: false,
            big_endian,
            ..
        } = format
        {
            return Self::classic(head, input, format, big_endian);
        }
        let stream = io::Cursor::new(head).chain(input);
        let reader = pcap_parser::create_reader(BUFFER_SIZE, stream).map_err(|e| match e {
            PcapError::Eof | PcapError::Incomplete(_) => SourceError::ShortHeader(
                if matches!(format, Format::PcapNg { .. }) {
                    "pcapng"
                } else {
                    "pcap"
                },
                filled,
            ),
            PcapError::ReadError => SourceError::Read(io::Error::other("read failed")),
            _ if matches!(format, Format::PcapNg { .. }) => SourceError::CorruptSectionHeader,
            other => SourceError::NotACapture(format!("{other}")),
        })?;
        Ok(CaptureReader {
            backend: Backend::Parser(reader),
            st: ReaderState::new(format),
            faults: None,
            ahead: None,
            in_place: false,
        })
    }

    /// Opens a classic pcap whose first bytes (`head`, the file header at least when the
    /// file has one) were already read from `input`.
    fn classic(
        head: Vec<u8>,
        input: Box<dyn Read + Send>,
        format: Format,
        big_endian: bool,
    ) -> Result<Self, SourceError> {
        let Some(header) = head.get(..24) else {
            return Err(SourceError::ShortHeader("pcap", head.len()));
        };
        let word = |at: usize| read_u32(&header[at..at + 4], big_endian);
        let mut st = ReaderState::new(format.clone());
        let Format::Pcap {
            version,
            nanosecond,
            ..
        } = format
        else {
            unreachable!("called for classic pcap only");
        };
        st.pcap_header(version, word(16), word(20), nanosecond)?;
        let mut buf = vec![0u8; BUFFER_SIZE.max(head.len())].into_boxed_slice();
        buf[..head.len()].copy_from_slice(&head);
        Ok(CaptureReader {
            backend: Backend::Classic(ClassicReader {
                input,
                buf,
                start: 24,
                filled: head.len(),
                base: 0,
                eof: false,
                big_endian,
            }),
            st,
            faults: None,
            ahead: None,
            in_place: false,
        })
    }

    pub fn format(&self) -> &Format {
        &self.st.format
    }

    /// The time of the first packet, reading no further than needed (files given out of
    /// order are put in order by it); `None` when the file has no packet before its
    /// end or a fault. Packets read are not delivered: open the file again to read it.
    pub fn first_packet_time(&mut self) -> Option<Timestamp> {
        match &mut self.backend {
            Backend::Classic(classic) => {
                let be = classic.big_endian;
                let unread = &classic.buf[classic.start..classic.filled];
                let header = unread.get(..16)?;
                let iface = self.st.interfaces[0];
                let (secs, frac) = (read_u32(&header[..4], be), read_u32(&header[4..8], be));
                Some(self.st.pcap_time(&iface, secs, frac))
            }
            Backend::Parser(_) => {
                while !self.st.done && self.st.stats.first_ts.is_none() {
                    self.next_block(&mut |_| {}).ok()?;
                }
                self.st.stats.first_ts
            }
        }
    }

    pub fn link_types(&self) -> &[LinkType] {
        &self.st.link_types
    }

    /// The largest snaplen of any interface (the file header's, for pcap).
    pub fn snaplen(&self) -> u32 {
        self.st.snaplen
    }

    pub fn stats(&self) -> &InputStats {
        &self.st.stats
    }

    /// Calls `on_packet` for every remaining packet, in file order. Stops at the end of
    /// the file, or at the first fault, which is returned; packets before it were delivered.
    pub fn for_each_packet(
        &mut self,
        on_packet: impl FnMut(&Packet<'_>),
    ) -> Result<(), SourceError> {
        self.read_all(on_packet, None)
    }

    /// Has a compressed file decompressed on the reading thread, not on a thread of its
    /// own started by the first read: for a run whose threads are all busy otherwise (a
    /// third thread on two cores costs more than it overlaps, docs/performance.md).
    pub fn decompress_in_place(&mut self) {
        self.in_place = true;
    }

    /// True when `for_each_packet_lending` lends the read buffers out (classic pcap).
    pub fn lends_buffers(&self) -> bool {
        matches!(self.backend, Backend::Classic(_))
    }

    /// `for_each_packet`, but each read buffer, once all its packets were delivered, goes
    /// to `exchange` instead of being reused, so that other threads can read the packets
    /// in place. Only classic pcap is read this way (see `lends_buffers`); other formats
    /// are read as by `for_each_packet`, their buffers never lent.
    pub fn for_each_packet_lending(
        &mut self,
        on_packet: impl FnMut(&Packet<'_>),
        exchange: &mut dyn BufferExchange,
    ) -> Result<(), SourceError> {
        self.read_all(on_packet, Some(exchange))
    }

    fn read_all(
        &mut self,
        mut on_packet: impl FnMut(&Packet<'_>),
        exchange: Option<&mut dyn BufferExchange>,
    ) -> Result<(), SourceError> {
        if self.st.done {
            return Ok(());
        }
        // Read here, decompress on another core (unless told otherwise).
        if let (false, Some(ahead)) = (self.in_place, &self.ahead) {
            ahead.start();
        }
        if let Backend::Classic(classic) = &mut self.backend {
            let result = classic.run(&mut self.st, &mut on_packet, exchange);
            self.st.done = true;
            return result.map_err(|e| self.decompression_fault(e));
        }
        while !self.st.done {
            if let Err(e) = self.next_block(&mut on_packet) {
                self.st.done = true;
                return Err(self.decompression_fault(e));
            }
        }
        Ok(())
    }

    /// The decoder's fault behind a read error: pcap-parser reports any failed read as
    /// a `ReadError` without the cause, and a compressed stream cut inside a record
    /// could look like a record cut short.
    fn decompression_fault(&self, e: SourceError) -> SourceError {
        match (&e, self.faults.as_ref().and_then(Faults::get)) {
            (SourceError::Read(_) | SourceError::Truncated { .. }, Some(fault)) => {
                SourceError::Decompress(fault)
            }
            _ => e,
        }
    }

    /// Reads one block (refilling the buffer as needed) and handles it.
    fn next_block(&mut self, on_packet: &mut impl FnMut(&Packet<'_>)) -> Result<(), SourceError> {
        let Backend::Parser(reader) = &mut self.backend else {
            unreachable!("classic pcap is read by ClassicReader::run");
        };
        let (offset, block) = loop {
            if let Some(len) = self.st.short_pcapng_block(&**reader) {
                let what = format!(
                    "block length {len} is below the 12 bytes of a block's own header and trailer"
                );
                return Err(self.st.corrupt(&**reader, what));
            }
            match reader.next() {
                Ok(ok) => break ok,
                Err(PcapError::Eof) => {
                    self.st.done = true;
                    return Ok(());
                }
                Err(PcapError::Incomplete(_)) => {
                    reader.refill().map_err(|_| {
                        SourceError::Read(io::Error::other("read failed while refilling"))
                    })?;
                }
                Err(PcapError::UnexpectedEof) => return Err(self.st.truncated(&**reader)),
                Err(PcapError::BufferTooSmall) => return Err(self.st.corrupt_length(&**reader)),
                Err(PcapError::ReadError) => {
                    return Err(SourceError::Read(io::Error::other("read failed")))
                }
                Err(e) => {
                    let what = format!("unparsable block ({e})");
                    return Err(self.st.corrupt(&**reader, what));
                }
            }
        };
        let result = self.st.handle(block, on_packet);
        // No shift here: `refill` moves the unread tail once per buffer, where `consume`
        // would move half the buffer every time it passes the middle.
        reader.consume_noshift(offset);
        result
    }
}

impl ReaderState {
    fn new(format: Format) -> Self {
        ReaderState {
            format,
            interfaces: Vec::new(),
            link_types: Vec::new(),
            snaplen: 0,
            stats: InputStats::default(),
            records: 0,
            done: false,
        }
    }

    /// Checks a pcap file header's fields and sets up its single interface.
    fn pcap_header(
        &mut self,
        version: (u16, u16),
        snaplen: u32,
        raw_link_type: u32,
        nanosecond: bool,
    ) -> Result<(), SourceError> {
        if (raw_link_type >> 16) & 0x3ff != 0 {
            return Err(SourceError::LinkTypeReserved(raw_link_type));
        }
        if version.0 != 2 || version.1 > 4 {
            return Err(SourceError::PcapVersion(version.0, version.1));
        }
        // The top bits hold the FCS length (and a flag for it): not part of the type.
        let link_type = LinkType((raw_link_type & 0xffff) as u16);
        self.snaplen = snaplen;
        self.note_link_type(link_type);
        self.interfaces.push(Interface {
            link_type,
            snaplen,
            units_per_sec: if nanosecond { 1_000_000_000 } else { 1_000_000 },
            offset_secs: 0,
        });
        Ok(())
    }

    /// A pcap record's time; a sub-second field out of range is counted and added as it
    /// is (see `Timestamp::from_secs_nanos`).
    #[inline]
    fn pcap_time(&mut self, iface: &Interface, secs: u32, frac: u32) -> Timestamp {
        if u64::from(frac) >= iface.units_per_sec {
            self.stats.invalid_subsecond += 1;
        }
        let nanos = i64::from(frac) * (1_000_000_000 / iface.units_per_sec as i64);
        Timestamp::from_secs_nanos(i64::from(secs), nanos)
    }

    fn handle(
        &mut self,
        block: PcapBlockOwned<'_>,
        on_packet: &mut impl FnMut(&Packet<'_>),
    ) -> Result<(), SourceError> {
        let record = self.records + 1;
        match block {
            PcapBlockOwned::LegacyHeader(hdr) => self.pcap_header(
                (hdr.version_major, hdr.version_minor),
                hdr.snaplen,
                hdr.network.0 as u32,
                hdr.is_nanosecond_precision(),
            ),
            PcapBlockOwned::Legacy(rec) => {
                let iface = self.interfaces[0];
                let ts = self.pcap_time(&iface, rec.ts_sec, rec.ts_usec);
                let data = &rec.data[..(rec.caplen as usize).min(rec.data.len())];
                self.deliver(ts, iface.link_type, data, rec.origlen, on_packet);
                Ok(())
            }
            PcapBlockOwned::NG(Block::SectionHeader(shb)) => {
                if shb.major_version != 1 {
                    Err(SourceError::PcapNgVersion(
                        shb.major_version,
                        shb.minor_version,
                    ))
                } else {
                    self.stats.sections += 1;
                    self.format = Format::PcapNg {
                        big_endian: shb.big_endian(),
                    };
                    // Interface numbers restart with each section.
                    self.interfaces.clear();
                    Ok(())
                }
            }
            PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                let link_type = LinkType(idb.linktype.0 as u16);
                self.note_link_type(link_type);
                self.snaplen = self.snaplen.max(idb.snaplen);
                self.interfaces.push(Interface {
                    link_type,
                    snaplen: idb.snaplen,
                    units_per_sec: ts_units_per_sec(idb.if_tsresol),
                    offset_secs: idb.if_tsoffset,
                });
                Ok(())
            }
            PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                match self.interfaces.get(epb.if_id as usize).copied() {
                    None => Err(SourceError::UnknownInterface {
                        interface: epb.if_id,
                        defined: self.interfaces.len(),
                        record,
                    }),
                    Some(iface) => {
                        let units = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                        let ts = pcapng_time(units, &iface);
                        self.deliver(
                            ts,
                            iface.link_type,
                            epb.packet_data(),
                            epb.origlen,
                            on_packet,
                        );
                        Ok(())
                    }
                }
            }
            PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                match self.interfaces.first().copied() {
                    None => Err(SourceError::UnknownInterface {
                        interface: 0,
                        defined: 0,
                        record,
                    }),
                    Some(iface) => {
                        // RFC pcapng §4.4: captured length is min(original length, snaplen).
                        let mut data = spb.packet_data();
                        if iface.snaplen != 0 && data.len() > iface.snaplen as usize {
                            data = &data[..iface.snaplen as usize];
                        }
                        self.stats.untimed_packets += 1;
                        let ts = self.stats.last_ts.unwrap_or_default();
                        self.deliver(ts, iface.link_type, data, spb.origlen, on_packet);
                        Ok(())
                    }
                }
            }
            PcapBlockOwned::NG(_) => {
                self.stats.skipped_blocks += 1;
                Ok(())
            }
        }
    }

    #[inline]
    fn deliver(
        &mut self,
        ts: Timestamp,
        link_type: LinkType,
        data: &[u8],
        orig_len: u32,
        on_packet: &mut impl FnMut(&Packet<'_>),
    ) {
        self.records += 1;
        let stats = &mut self.stats;
        stats.packets += 1;
        if let Some(last) = stats.last_ts {
            if ts < last {
                stats.backwards_timestamps += 1;
            }
        }
        stats.first_ts = Some(stats.first_ts.map_or(ts, |f| f.min(ts)));
        stats.last_ts = Some(stats.last_ts.map_or(ts, |l| l.max(ts)));
        on_packet(&Packet {
            ts,
            link_type,
            data,
            orig_len,
        });
    }

    fn note_link_type(&mut self, link_type: LinkType) {
        if !self.link_types.contains(&link_type) {
            self.link_types.push(link_type);
        }
    }

    fn truncated(&self, reader: &dyn PcapReaderIterator) -> SourceError {
        // A record header that is complete but claims an absurd length is corruption,
        // not truncation: say so (libpcap: "invalid packet capture length").
        if let Some(len) = self.pending_record_len(reader) {
            if len > self.max_record_len() {
                return self.corrupt_length(reader);
            }
        }
        SourceError::Truncated {
            record: self.records + 1,
            offset: reader.consumed() as u64,
        }
    }

    fn corrupt_length(&self, reader: &dyn PcapReaderIterator) -> SourceError {
        let what = match self.pending_record_len(reader) {
            Some(len) => format!(
                "record length {len} is larger than the capture's snaplen ({}) and any real packet",
                self.snaplen
            ),
            None => "record length larger than any real packet".to_string(),
        };
        self.corrupt(reader, what)
    }

    fn corrupt(&self, reader: &dyn PcapReaderIterator, what: String) -> SourceError {
        SourceError::Corrupt {
            record: self.records + 1,
            offset: reader.consumed() as u64,
            what,
        }
    }

    fn max_record_len(&self) -> u64 {
        MAX_RECORD.max(u64::from(self.snaplen))
    }

    /// The length of the pcapng block at the front of the buffer when it is below 12
    /// bytes, which no block can be. pcap-parser 0.17 subtracts 12 from it unchecked for
    /// block types whose minimum is smaller (Process Information: 4): an overflow panic
    /// with overflow checks, a 4 GiB "record" without (fixtures/fuzz/reader/).
    fn short_pcapng_block(&self, reader: &dyn PcapReaderIterator) -> Option<u64> {
        let data = reader.data();
        // A section header says its own byte order; pcap-parser checks its length.
        if !matches!(self.format, Format::PcapNg { .. }) || data.starts_with(&SHB_TYPE) {
            return None;
        }
        self.pending_record_len(reader).filter(|len| *len < 12)
    }

    /// The length field of the record at the front of the buffer, when it is there.
    fn pending_record_len(&self, reader: &dyn PcapReaderIterator) -> Option<u64> {
        let data = reader.data();
        let word = |at: usize, be: bool| -> Option<u32> {
            let b: [u8; 4] = data.get(at..at + 4)?.try_into().ok()?;
            Some(if be {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            })
        };
        match self.format {
            Format::Pcap { big_endian, .. } => word(8, big_endian).map(u64::from),
            Format::PcapNg { big_endian } => word(4, big_endian).map(u64::from),
        }
    }
}

/// Takes the read buffers of a capture lent out (`CaptureReader::for_each_packet_lending`).
pub trait BufferExchange {
    /// An empty buffer of at least `min` bytes to go on reading into.
    fn fresh(&mut self, min: usize) -> Box<[u8]>;
    /// A buffer whose every packet has been delivered (and lies in it).
    fn full(&mut self, buf: Box<[u8]>);
}

impl ClassicReader {
    /// Delivers every record to the end of the file, or to the first fault; with an
    /// `exchange`, lends each buffer to it once its packets were delivered.
    fn run(
        &mut self,
        st: &mut ReaderState,
        on_packet: &mut impl FnMut(&Packet<'_>),
        mut exchange: Option<&mut dyn BufferExchange>,
    ) -> Result<(), SourceError> {
        let result = self.deliver_all(st, on_packet, &mut exchange);
        if let Some(exchange) = exchange {
            exchange.full(std::mem::take(&mut self.buf));
        }
        result
    }

    fn deliver_all(
        &mut self,
        st: &mut ReaderState,
        on_packet: &mut impl FnMut(&Packet<'_>),
        exchange: &mut Option<&mut dyn BufferExchange>,
    ) -> Result<(), SourceError> {
        let iface = st.interfaces[0];
        let be = self.big_endian;
        loop {
            let unread = &self.buf[..self.filled];
            let mut at = self.start;
            while let Some(header) = unread.get(at..at + 16) {
                let caplen = read_u32(&header[8..12], be) as usize;
                let Some(data) = unread.get(at + 16..at + 16 + caplen) else {
                    break;
                };
                let ts = st.pcap_time(
                    &iface,
                    read_u32(&header[..4], be),
                    read_u32(&header[4..8], be),
                );
                let orig_len = read_u32(&header[12..16], be);
                st.deliver(ts, iface.link_type, data, orig_len, on_packet);
                at += 16 + caplen;
            }
            self.start = at;
            let pending = self.pending_len();
            if self.eof {
                if self.start == self.filled {
                    return Ok(());
                }
                return Err(match pending {
                    Some(len) if len > st.max_record_len() => self.corrupt_length(st, len),
                    _ => SourceError::Truncated {
                        record: st.records + 1,
                        offset: self.offset(),
                    },
                });
            }
            let mut min = (self.filled - self.start) + CHUNK_MIN;
            if let Some(len) = pending {
                if 16 + len > BUFFER_SIZE as u64 {
                    return Err(self.corrupt_length(st, len));
                }
                min = min.max(16 + len as usize);
            }
            if let Some(exchange) = exchange {
                self.lend(&mut **exchange, min);
            }
            self.refill()?;
        }
    }

    /// The length of the record at `start`, once its header is in the buffer.
    fn pending_len(&self) -> Option<u64> {
        let header = self.buf[self.start..self.filled].get(..16)?;
        Some(u64::from(read_u32(&header[8..12], self.big_endian)))
    }

    fn offset(&self) -> u64 {
        self.base + self.start as u64
    }

    fn corrupt_length(&self, st: &ReaderState, len: u64) -> SourceError {
        SourceError::Corrupt {
            record: st.records + 1,
            offset: self.offset(),
            what: format!(
                "record length {len} is larger than the capture's snaplen ({}) and any real packet",
                st.snaplen
            ),
        }
    }

    /// Hands the buffer over, its unread tail copied to the front of a fresh one.
    fn lend(&mut self, exchange: &mut dyn BufferExchange, min: usize) {
        let mut fresh = exchange.fresh(min);
        let tail = self.filled - self.start;
        fresh[..tail].copy_from_slice(&self.buf[self.start..self.filled]);
        let full = std::mem::replace(&mut self.buf, fresh);
        exchange.full(full);
        self.base += self.start as u64;
        self.filled = tail;
        self.start = 0;
    }

    /// Moves the unread tail (less than one record) to the front and reads behind it.
    fn refill(&mut self) -> Result<(), SourceError> {
        self.buf.copy_within(self.start..self.filled, 0);
        self.base += self.start as u64;
        self.filled -= self.start;
        self.start = 0;
        let end = (self.filled + READ_SIZE).min(self.buf.len());
        loop {
            match self.input.read(&mut self.buf[self.filled..end]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.filled += n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(SourceError::from_read(e, None)),
            }
        }
    }
}

/// The first bytes of a stream (up to `SNIFF_LEN`), read with a loop of reads (a pipe may
/// deliver them in pieces), and the stream to read on from. A read error after some bytes
/// is left for the stream to return again, where they come before it.
fn read_head(mut input: Box<dyn Read + Send>) -> io::Result<(Vec<u8>, Box<dyn Read + Send>)> {
    let mut head = vec![0u8; SNIFF_LEN];
    let mut filled = 0;
    while filled < head.len() {
        match input.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if filled == 0 => return Err(e),
            Err(e) => {
                head.truncate(filled);
                return Ok((head, Box::new(FailAgain(Some(e)))));
            }
        }
    }
    head.truncate(filled);
    Ok((head, input))
}

/// A stream whose next read fails with the error it already gave.
struct FailAgain(Option<io::Error>);

impl Read for FailAgain {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(self
            .0
            .take()
            .unwrap_or_else(|| io::Error::other("read failed")))
    }
}

#[inline]
fn read_u32(b: &[u8], big_endian: bool) -> u32 {
    let b: [u8; 4] = b.try_into().unwrap_or_default();
    if big_endian {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    }
}

/// Units per second encoded by a pcapng `if_tsresol` byte (default 6 = microseconds).
fn ts_units_per_sec(tsresol: u8) -> u64 {
    let exp = u32::from(tsresol & 0x7f);
    if tsresol & 0x80 == 0 {
        10u64.checked_pow(exp).unwrap_or(1_000_000)
    } else {
        1u64.checked_shl(exp).unwrap_or(1_000_000)
    }
}

fn pcapng_time(units: u64, iface: &Interface) -> Timestamp {
    let per_sec = iface.units_per_sec.max(1);
    if per_sec <= 1_000_000_000 {
        // The usual resolutions, in 64-bit arithmetic: the remainder is below 10^9, so
        // times 10^9 it stays below 10^18 (a 128-bit division is a library call).
        let secs = (units / per_sec) as i64;
        let nanos = ((units % per_sec) * 1_000_000_000 / per_sec) as i64;
        return Timestamp::from_secs_nanos(secs.saturating_add(iface.offset_secs), nanos);
    }
    let per_sec = u128::from(per_sec);
    let units = u128::from(units);
    let secs = (units / per_sec) as i64;
    let nanos = ((units % per_sec) * 1_000_000_000 / per_sec) as i64;
    Timestamp::from_secs_nanos(secs.saturating_add(iface.offset_secs), nanos)
}

/// Decides the format from the first bytes, so that a non-capture gets a precise message.
fn sniff(head: &[u8]) -> Result<Format, SourceError> {
    if head.is_empty() {
        return Err(SourceError::Empty);
    }
    let Some(magic) = head.get(..4) else {
        return Err(SourceError::NotACapture(hex_prefix(head)));
    };
    let magic = u32::from_le_bytes(magic.try_into().unwrap_or_default());
    let pcap = |big_endian, nanosecond, modified| {
        let version = match head.get(4..8) {
            Some(v) => {
                let (a, b) = ([v[0], v[1]], [v[2], v[3]]);
                if big_endian {
                    (u16::from_be_bytes(a), u16::from_be_bytes(b))
                } else {
                    (u16::from_le_bytes(a), u16::from_le_bytes(b))
                }
            }
            None => (0, 0),
        };
        Ok(Format::Pcap {
            big_endian,
            nanosecond,
            modified,
            version,
        })
    };
    match magic {
        0xa1b2_c3d4 => pcap(false, false, false),
        0xd4c3_b2a1 => pcap(true, false, false),
        0xa1b2_3c4d => pcap(false, true, false),
        0x4d3c_b2a1 => pcap(true, true, false),
        0xa1b2_cd34 => pcap(false, false, true),
        0x34cd_b2a1 => pcap(true, false, true),
        0x0a0d_0d0a => {
            let big_endian = head.get(8..12) == Some(&[0x1a, 0x2b, 0x3c, 0x4d]);
            Ok(Format::PcapNg { big_endian })
        }
        _ => Err(SourceError::NotACapture(hex_prefix(head))),
    }
}

fn hex_prefix(head: &[u8]) -> String {
    let shown: Vec<String> = head.iter().take(4).map(|b| format!("{b:02x}")).collect();
    shown.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (timestamp, captured length, original length) of each packet read.
    type Seen = Vec<(Timestamp, usize, u32)>;

    fn read_all(bytes: Vec<u8>) -> (Result<Seen, SourceError>, u64) {
        let mut reader = match CaptureReader::from_read(Box::new(io::Cursor::new(bytes))) {
            Ok(r) => r,
            Err(e) => return (Err(e), 0),
        };
        let mut seen = Vec::new();
        let res = reader.for_each_packet(|p| seen.push((p.ts, p.data.len(), p.orig_len)));
        (res.map(|()| seen), reader.stats().packets)
    }

    fn pcap_header(magic: u32, major: u16, minor: u16, link: u32) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&magic.to_le_bytes());
        v.extend_from_slice(&major.to_le_bytes());
        v.extend_from_slice(&minor.to_le_bytes());
        v.extend_from_slice(&[0; 8]);
        v.extend_from_slice(&65535u32.to_le_bytes());
        v.extend_from_slice(&link.to_le_bytes());
        v
    }

    fn record(v: &mut Vec<u8>, sec: u32, frac: u32, data: &[u8], orig: u32) {
        for w in [sec, frac, data.len() as u32, orig] {
            v.extend_from_slice(&w.to_le_bytes());
        }
        v.extend_from_slice(data);
    }

    #[test]
    fn nanosecond_pcap_keeps_digits() {
        let mut f = pcap_header(0xa1b2_3c4d, 2, 4, 1);
        record(&mut f, 100, 123_456_789, &[0; 60], 60);
        let (res, _) = read_all(f);
        let pkts = res.unwrap();
        assert_eq!(pkts[0].0.to_string(), "100.123456789");
    }

    #[test]
    fn truncated_last_record_keeps_earlier_packets() {
        let mut f = pcap_header(0xa1b2_c3d4, 2, 4, 1);
        record(&mut f, 1, 0, &[0; 60], 60);
        record(&mut f, 2, 0, &[0; 60], 60);
        f.truncate(f.len() - 10);
        let (res, packets) = read_all(f);
        assert!(matches!(res, Err(SourceError::Truncated { record: 2, .. })));
        assert_eq!(packets, 1);
    }

    #[test]
    fn absurd_record_length_is_corruption() {
        let mut f = pcap_header(0xa1b2_c3d4, 2, 4, 1);
        record(&mut f, 1, 0, &[0; 60], 60);
        for w in [2u32, 0, 0x5000_0000, 60] {
            f.extend_from_slice(&w.to_le_bytes());
        }
        f.extend_from_slice(&[0xee; 100]);
        let (res, packets) = read_all(f);
        let err = res.unwrap_err();
        assert!(
            matches!(err, SourceError::Corrupt { record: 2, .. }),
            "{err}"
        );
        assert_eq!(packets, 1);
    }

    #[test]
    fn rejects_what_is_not_a_capture() {
        assert!(matches!(read_all(Vec::new()).0, Err(SourceError::Empty)));
        assert!(matches!(
            read_all(b"hello world\n".to_vec()).0,
            Err(SourceError::NotACapture(_))
        ));
        assert!(matches!(
            read_all(pcap_header(0xa1b2_c3d4, 1, 4, 1)).0,
            Err(SourceError::PcapVersion(1, 4))
        ));
        assert!(matches!(
            read_all(pcap_header(0xa1b2_c3d4, 2, 4, 0x0030_0000)).0,
            Err(SourceError::LinkTypeReserved(_))
        ));
        assert!(matches!(
            read_all(vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0]).0,
            Err(SourceError::ShortHeader("pcap", 6))
        ));
    }

    /// A pcapng block of `len` bytes (little-endian), padded body included.
    fn ng_block(v: &mut Vec<u8>, kind: u32, body: &[u8], len: u32) {
        v.extend_from_slice(&kind.to_le_bytes());
        v.extend_from_slice(&len.to_le_bytes());
        v.extend_from_slice(body);
        v.extend_from_slice(&len.to_le_bytes());
    }

    #[test]
    fn pcapng_block_shorter_than_its_own_framing_is_corrupt() {
        let mut f = Vec::new();
        let shb = [
            0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ];
        ng_block(&mut f, 0x0a0d_0d0a, &shb, 28);
        ng_block(&mut f, 1, &[1, 0, 0, 0, 0xff, 0xff, 0, 0], 20);
        let mut epb = vec![0; 20];
        epb[12] = 60; // captured length
        epb[16] = 60; // original length
        epb.extend_from_slice(&[0; 60]);
        ng_block(&mut f, 6, &epb, 92);
        // Process Information Block (pcap-parser's minimum for it is 4 bytes).
        let pib_at = f.len() as u64;
        ng_block(&mut f, 0x8000_0001, &[], 8);
        ng_block(&mut f, 6, &epb, 92);
        let (res, packets) = read_all(f);
        let err = res.unwrap_err();
        assert!(
            matches!(err, SourceError::Corrupt { record: 2, offset, .. } if offset == pib_at),
            "{err}"
        );
        assert!(
            err.to_string().ends_with(
                "block length 8 is below the 12 bytes of a block's own header and trailer"
            ),
            "{err}"
        );
        assert_eq!(packets, 1);
    }

    /// Hands out at most `step` bytes per read, as a pipe may.
    struct Dribble {
        bytes: io::Cursor<Vec<u8>>,
        step: usize,
    }

    impl Read for Dribble {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.step);
            self.bytes.read(&mut buf[..n])
        }
    }

    #[test]
    fn records_across_buffer_refills_are_whole_and_in_order() {
        // Over two buffers' worth of records of awkward sizes, so that record headers and
        // bodies straddle every refill, read whole and in dribbles.
        let mut f = pcap_header(0xa1b2_3c4d, 2, 4, 1);
        let mut want = Vec::new();
        let mut len = 1usize;
        let mut i = 0u32;
        while f.len() < 2 * BUFFER_SIZE + 12345 {
            len = (len * 7919 + 13) % 9001;
            let body: Vec<u8> = (0..len).map(|b| (b as u8) ^ (i as u8)).collect();
            record(&mut f, 1000 + i, i % 1_000_000_000, &body, len as u32 + 4);
            want.push((
                Timestamp::from_secs_nanos(1000 + i64::from(i), i64::from(i % 1_000_000_000)),
                len,
                len as u32 + 4,
            ));
            i += 1;
        }
        for step in [usize::MAX, 4093, 16] {
            let input = Dribble {
                bytes: io::Cursor::new(f.clone()),
                step,
            };
            let mut reader = CaptureReader::from_read(Box::new(input)).unwrap();
            let mut seen = Vec::new();
            let mut bodies_ok = true;
            let mut n = 0u32;
            reader
                .for_each_packet(|p| {
                    bodies_ok &= p
                        .data
                        .iter()
                        .enumerate()
                        .all(|(b, &v)| v == (b as u8) ^ (n as u8));
                    n += 1;
                    seen.push((p.ts, p.data.len(), p.orig_len));
                })
                .unwrap();
            assert!(bodies_ok, "step {step}");
            assert_eq!(seen, want, "step {step}");
        }
    }

    #[test]
    fn big_endian_pcap_reads_like_little_endian() {
        let mut le = pcap_header(0xa1b2_c3d4, 2, 4, 1);
        record(&mut le, 7, 999_999, &[1; 60], 70);
        let mut be = 0xa1b2_c3d4u32.to_be_bytes().to_vec();
        be.extend_from_slice(&2u16.to_be_bytes());
        be.extend_from_slice(&4u16.to_be_bytes());
        be.extend_from_slice(&[0; 8]);
        be.extend_from_slice(&65535u32.to_be_bytes());
        be.extend_from_slice(&1u32.to_be_bytes());
        for w in [7u32, 999_999, 60, 70] {
            be.extend_from_slice(&w.to_be_bytes());
        }
        be.extend_from_slice(&[1; 60]);
        let (a, b) = (read_all(le).0.unwrap(), read_all(be).0.unwrap());
        assert_eq!(a, b);
        assert_eq!(a[0].0.to_string(), "7.999999000");
    }

    #[test]
    fn a_record_longer_than_the_buffer_is_corrupt_not_truncated() {
        let mut f = pcap_header(0xa1b2_c3d4, 2, 4, 1);
        f[16..20].copy_from_slice(&u32::MAX.to_le_bytes()); // a snaplen that allows it
        record(&mut f, 1, 0, &[0; 60], 60);
        let len = BUFFER_SIZE as u32;
        for w in [2u32, 0, len, len] {
            f.extend_from_slice(&w.to_le_bytes());
        }
        f.extend_from_slice(&vec![0; BUFFER_SIZE + 100]);
        let (res, packets) = read_all(f);
        let err = res.unwrap_err();
        assert!(
            matches!(
                err,
                SourceError::Corrupt {
                    record: 2,
                    offset: 100,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(packets, 1);
    }

    #[test]
    fn fcs_bits_in_link_type_are_ignored() {
        let mut f = pcap_header(0xa1b2_c3d4, 2, 4, 0x3000_0001);
        record(&mut f, 1, 0, &[0; 60], 60);
        let mut reader = CaptureReader::from_read(Box::new(io::Cursor::new(f))).unwrap();
        reader.for_each_packet(|_| {}).unwrap();
        assert_eq!(reader.link_types(), &[LinkType::ETHERNET]);
    }

    #[test]
    fn tsresol_units() {
        assert_eq!(ts_units_per_sec(6), 1_000_000);
        assert_eq!(ts_units_per_sec(9), 1_000_000_000);
        assert_eq!(ts_units_per_sec(0x80 | 10), 1024);
        let iface = |units_per_sec| Interface {
            link_type: LinkType::ETHERNET,
            snaplen: 0,
            units_per_sec,
            offset_secs: 0,
        };
        assert_eq!(
            pcapng_time(1024 + 512, &iface(1024)).to_string(),
            "1.500000000"
        );
        // The 64-bit path (up to nanoseconds) and the 128-bit one agree with the exact
        // arithmetic, up to the largest times.
        for per_sec in [
            1,
            10,
            1024,
            1_000_000,
            1_000_000_000,
            1 << 40,
            10u64.pow(12),
        ] {
            for units in [
                0,
                1,
                per_sec - 1,
                per_sec + 7,
                // A 2023 time, where it fits in 64 bits.
                1_700_000_000u64.saturating_mul(per_sec) / 3,
                u64::MAX,
            ] {
                let exact = |u: u64| {
                    let (u, p) = (u128::from(u), u128::from(per_sec));
                    ((u / p) as i64, ((u % p) * 1_000_000_000 / p) as i64)
                };
                let (secs, nanos) = exact(units);
                assert_eq!(
                    pcapng_time(units, &iface(per_sec)),
                    Timestamp::from_secs_nanos(secs, nanos),
                    "{units} units at {per_sec}/s"
                );
            }
        }
    }
}
