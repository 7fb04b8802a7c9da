//! Capture sources: pcap and pcapng files (or standard input), read as a stream.
//!
//! Files are read with `pcap-parser`, which parses records in place in one large buffer
//! (no copy per record) and accepts pcapng files whose interfaces have different link
//! types — libpcap refuses those and copies every record (see docs/design.md). This is the
//! only module that knows about capture file formats; it hands out [`Packet`]s that borrow
//! the record bytes for the duration of a callback.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use pcap_parser::pcapng::Block;
use pcap_parser::traits::{PcapNGPacketBlock, PcapReaderIterator};
use pcap_parser::{PcapBlockOwned, PcapError};

use crate::decode::LinkType;
use crate::time::Timestamp;

/// Read buffer size: large reads keep the syscall count per record low.
const BUFFER_SIZE: usize = 4 << 20;
/// Largest record accepted. libpcap's limit for a record is 256 KiB (its MAXIMUM_SNAPLEN);
/// anything near the buffer size is a corrupt length field, not a packet.
const MAX_RECORD: u64 = 1 << 20;
/// A pcapng Section Header Block's type, the same bytes in either byte order.
const SHB_TYPE: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
/// Bytes of a file sniffed before choosing a reader.
const SNIFF_LEN: usize = 64 * 1024;

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
    #[error("gzip-compressed; decompress it first (e.g. gunzip -c FILE | synack report -)")]
    Compressed,
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
        )
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
    reader: Box<dyn PcapReaderIterator + Send>,
    st: ReaderState,
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
    pub fn open_wrapped(path: &Path, wrap: &InputWrapper) -> Result<Self, SourceError> {
        if path.as_os_str() == "-" {
            return Self::from_read(Box::new(io::stdin()));
        }
        let file = File::open(path).map_err(SourceError::Open)?;
        let meta = file.metadata().map_err(SourceError::Open)?;
        if meta.is_dir() {
            return Err(SourceError::Open(io::Error::other("is a directory")));
        }
        Self::from_read(wrap(file, meta.len()))
    }

    /// Reads a capture from any byte stream (a file, a pipe, a test buffer).
    pub fn from_read(mut input: Box<dyn Read + Send>) -> Result<Self, SourceError> {
        // Sniff with a loop of reads: a pipe may deliver the header in pieces.
        let mut head = vec![0u8; SNIFF_LEN];
        let mut filled = 0;
        while filled < head.len() {
            match input.read(&mut head[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(SourceError::Read(e)),
            }
        }
        head.truncate(filled);
        let format = sniff(&head)?;
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
            reader,
            st: ReaderState {
                format,
                interfaces: Vec::new(),
                link_types: Vec::new(),
                snaplen: 0,
                stats: InputStats::default(),
                records: 0,
                done: false,
            },
        })
    }

    pub fn format(&self) -> &Format {
        &self.st.format
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
        mut on_packet: impl FnMut(&Packet<'_>),
    ) -> Result<(), SourceError> {
        while !self.st.done {
            if let Err(e) = self.next_block(&mut on_packet) {
                self.st.done = true;
                return Err(e);
            }
        }
        Ok(())
    }

    /// Reads one block (refilling the buffer as needed) and handles it.
    fn next_block(&mut self, on_packet: &mut impl FnMut(&Packet<'_>)) -> Result<(), SourceError> {
        let (offset, block) = loop {
            if let Some(len) = self.st.short_pcapng_block(&*self.reader) {
                let what = format!(
                    "block length {len} is below the 12 bytes of a block's own header and trailer"
                );
                return Err(self.st.corrupt(&*self.reader, what));
            }
            match self.reader.next() {
                Ok(ok) => break ok,
                Err(PcapError::Eof) => {
                    self.st.done = true;
                    return Ok(());
                }
                Err(PcapError::Incomplete(_)) => {
                    self.reader.refill().map_err(|_| {
                        SourceError::Read(io::Error::other("read failed while refilling"))
                    })?;
                }
                Err(PcapError::UnexpectedEof) => return Err(self.st.truncated(&*self.reader)),
                Err(PcapError::BufferTooSmall) => {
                    return Err(self.st.corrupt_length(&*self.reader))
                }
                Err(PcapError::ReadError) => {
                    return Err(SourceError::Read(io::Error::other("read failed")))
                }
                Err(e) => {
                    let what = format!("unparsable block ({e})");
                    return Err(self.st.corrupt(&*self.reader, what));
                }
            }
        };
        let result = self.st.handle(block, on_packet);
        // No shift here: `refill` moves the unread tail once per buffer, where `consume`
        // would move half the buffer every time it passes the middle.
        self.reader.consume_noshift(offset);
        result
    }
}

impl ReaderState {
    fn handle(
        &mut self,
        block: PcapBlockOwned<'_>,
        on_packet: &mut impl FnMut(&Packet<'_>),
    ) -> Result<(), SourceError> {
        let record = self.records + 1;
        match block {
            PcapBlockOwned::LegacyHeader(hdr) => {
                let raw = hdr.network.0 as u32;
                if (raw >> 16) & 0x3ff != 0 {
                    Err(SourceError::LinkTypeReserved(raw))
                } else if hdr.version_major != 2 || hdr.version_minor > 4 {
                    Err(SourceError::PcapVersion(
                        hdr.version_major,
                        hdr.version_minor,
                    ))
                } else {
                    let link_type = LinkType((raw & 0xffff) as u16);
                    self.snaplen = hdr.snaplen;
                    self.note_link_type(link_type);
                    let nanos = hdr.is_nanosecond_precision();
                    self.interfaces.push(Interface {
                        link_type,
                        snaplen: hdr.snaplen,
                        units_per_sec: if nanos { 1_000_000_000 } else { 1_000_000 },
                        offset_secs: 0,
                    });
                    Ok(())
                }
            }
            PcapBlockOwned::Legacy(rec) => {
                let iface = self.interfaces[0];
                let frac = i64::from(rec.ts_usec);
                if frac as u64 >= iface.units_per_sec {
                    self.stats.invalid_subsecond += 1;
                }
                let nanos = frac * (1_000_000_000 / iface.units_per_sec as i64);
                let ts = Timestamp::from_secs_nanos(i64::from(rec.ts_sec), nanos);
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
    let per_sec = u128::from(iface.units_per_sec.max(1));
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
    if head.starts_with(&[0x1f, 0x8b]) {
        return Err(SourceError::Compressed);
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
        let iface = Interface {
            link_type: LinkType::ETHERNET,
            snaplen: 0,
            units_per_sec: 1024,
            offset_secs: 0,
        };
        assert_eq!(pcapng_time(1024 + 512, &iface).to_string(), "1.500000000");
    }
}
