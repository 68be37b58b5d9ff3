//! The streaming pcap / pcapng reader.
//!
//! ```text
//! pcap:    [global header 24][rec hdr 16][data incl_len][rec hdr 16][data] ...
//!          rec hdr = ts_sec u32 | ts_frac u32 | incl_len u32 | orig_len u32
//! pcapng:  [SHB][IDB][IDB]...[EPB][EPB][SPB]...[SHB]...   every block:
//!          type u32 | total_len u32 | body ... | total_len u32
//! ```
//!
//! Regular files opened by path are mapped into memory a window at a time
//! ([`super::mapped`]) and records are lent straight out of the map: no
//! byte is copied. Other sources (standard input, pipes, any `Read`) go
//! through one buffer that grows to the largest record it has had to hold
//! and never beyond [`MAX_BLOCK`]; reading copies each byte once, from the
//! source into the buffer, and sources opened by path are read ahead by a
//! thread ([`super::ahead`]) so that copy happens off the analysing
//! thread. Every error names the record number and the byte offset where
//! the file went wrong; records read before the damage stay valid.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;

use super::ahead::{ReadAhead, CHUNK, HEADROOM};
use super::mapped::{MapAhead, MapJob, Mapped, Window};
use super::prefetch;
use super::scan::{ChunkScan, Layout, ScanAhead, Walker};
use super::way::Way;
use super::{LinkType, Record, Timestamp};

/// The largest record or block the reader accepts, in bytes. A larger
/// length field is reported as damage rather than allocated.
pub const MAX_BLOCK: usize = 16 * 1024 * 1024;

/// The most pcapng interfaces one section may declare.
pub const MAX_INTERFACES: usize = 65_536;

const READ_CHUNK: usize = 1 << 20;

/// Which container format a file uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaptureFormat {
    /// Classic libpcap format.
    Pcap,
    /// pcap-ng.
    PcapNg,
}

/// A capture file that cannot be read (further): where and why.
#[derive(Debug, thiserror::Error)]
#[error("{}", self.describe())]
pub struct CaptureError {
    /// The record number the damage affects (1-based: the record that could
    /// not be read), or 0 when the file header itself is bad.
    pub record: u64,
    /// Byte offset in the file where the problem starts.
    pub offset: u64,
    /// What went wrong.
    pub kind: CaptureErrorKind,
}

impl CaptureError {
    fn describe(&self) -> String {
        if self.record == 0 {
            format!("at byte offset {}: {}", self.offset, self.kind)
        } else {
            format!(
                "record {} at byte offset {}: {}",
                self.record, self.offset, self.kind
            )
        }
    }
}

/// The kinds of damage the reader recognises.
#[derive(Debug, thiserror::Error)]
pub enum CaptureErrorKind {
    /// The underlying read failed.
    #[error("read error: {0}")]
    Io(#[from] io::Error),
    /// The file is empty.
    #[error("the file is empty")]
    Empty,
    /// The first bytes are not a pcap or pcapng magic number.
    #[error("not a pcap or pcapng file (first bytes {0:02x?})")]
    NotACapture(Vec<u8>),
    /// The file ends inside a header or record.
    #[error("file cut short: {what} needs {needed} bytes, only {available} remain")]
    CutShort {
        /// What was being read.
        what: &'static str,
        /// Bytes needed.
        needed: u64,
        /// Bytes the file still had.
        available: u64,
    },
    /// A length field is out of bounds.
    #[error("{what} is {value} bytes, outside the accepted range {min}..={max}")]
    BadLength {
        /// Which length.
        what: &'static str,
        /// Its value.
        value: u64,
        /// Smallest acceptable.
        min: u64,
        /// Largest acceptable.
        max: u64,
    },
    /// A pcapng block is inconsistent.
    #[error("malformed pcapng {block}: {why}")]
    BadBlock {
        /// Which block type.
        block: &'static str,
        /// What is inconsistent.
        why: String,
    },
    /// A packet refers to an interface that was never described.
    #[error("packet names interface {0}, but the section declares only {1}")]
    UnknownInterface(u32, usize),
}

/// Reads records from a pcap or pcapng stream.
pub struct CaptureReader<R> {
    src: Source<R>,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    /// File offset of `buf[start]`.
    offset: u64,
    format: CaptureFormat,
    records: u64,
    pcap: PcapHeader,
    ng: NgSection,
    failed: bool,
    /// Whether the read-ahead thread walks chunks ([`CaptureReader::scan_ahead`]).
    scanning: bool,
    /// What it found in the chunk now being read, not yet taken.
    scanned: Option<ChunkScan>,
}

/// Where the bytes come from: a reader read in place, chunks read ahead
/// by a thread and swapped in whole, or a file mapped into memory (whose
/// window is the buffer).
enum Source<R> {
    Direct(R),
    Ahead(ReadAhead),
    Mapped(Mapped),
}

#[derive(Clone, Copy, Default)]
struct PcapHeader {
    big_endian: bool,
    nanos: bool,
    link: u32,
    /// The link-type field as written, FCS bits included.
    link_field: u32,
    snaplen: u32,
}

/// What a classic pcap file's header declares, for writing the same
/// records in another container ([`CaptureReader::pcap_header`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcapFileHeader {
    /// Timestamps count nanoseconds (else microseconds).
    pub nanos: bool,
    /// The snapshot length.
    pub snaplen: u32,
    /// The link type.
    pub link: LinkType,
    /// Bytes of frame check sequence at the end of each packet, when the
    /// header's FCS bits say so.
    pub fcs_bytes: Option<u8>,
}

/// One pcapng block as it is in the file ([`CaptureReader::next_block`]).
#[derive(Clone, Copy, Debug)]
pub struct RawBlock<'a> {
    /// The whole block: type, length, body, trailing length.
    pub bytes: &'a [u8],
    /// Its byte offset in the file.
    pub offset: u64,
    /// Whether its section is big-endian.
    pub big_endian: bool,
    /// The record it holds, for packet blocks.
    pub record: Option<Record<'a>>,
}

#[derive(Default)]
struct NgSection {
    big_endian: bool,
    interfaces: Vec<NgInterface>,
}

#[derive(Clone, Copy)]
struct NgInterface {
    link: LinkType,
    snaplen: u32,
    /// Units per second of the timestamp, as a power: (base, exponent).
    resolution: TsResolution,
    offset_secs: i64,
}

#[derive(Clone, Copy)]
enum TsResolution {
    Decimal(u32),
    Binary(u32),
}

impl TsResolution {
    fn to_timestamp(self, units: u64, offset_secs: i64) -> Timestamp {
        let (secs, nanos) = match self {
            TsResolution::Decimal(exp) => {
                let per_sec = 10u64.saturating_pow(exp).max(1);
                let secs = units / per_sec;
                let frac = u128::from(units % per_sec);
                (secs, (frac * 1_000_000_000 / u128::from(per_sec)) as i64)
            }
            TsResolution::Binary(exp) => {
                let exp = exp.min(63);
                let per_sec = 1u64 << exp;
                let secs = units >> exp;
                let frac = u128::from(units & (per_sec - 1));
                (secs, ((frac * 1_000_000_000) >> exp) as i64)
            }
        };
        // The offset is the capture's to choose (if_tsoffset): saturate,
        // never wrap or overflow.
        Timestamp::from_parts(
            i64::try_from(secs)
                .unwrap_or(i64::MAX / 1_000_000_000)
                .saturating_add(offset_secs),
            nanos,
        )
    }
}

impl CaptureReader<Box<dyn Read + Send>> {
    /// Opens a file, or standard input for `-`. A regular file is mapped
    /// into memory ([`super::mapped`]) or copied chunk by chunk by a
    /// thread of its own and, when that thread is behind, by the reader
    /// ([`super::ahead`]), whichever is the faster on this machine
    /// ([`super::way`]); anything else is read ahead by the thread.
    pub fn open(path: &Path) -> Result<Self, CaptureError> {
        Self::open_for(path, false)
    }

    /// [`CaptureReader::open`] for a reading whose records the read-ahead
    /// thread is to scan ([`CaptureReader::scan_ahead`]): a regular file is
    /// copied, not mapped, as only copied chunks are walked (unless
    /// `FRAMESCOPE_READ=map` says to map it). With RESP's scan, copying
    /// took 0.054 s on redis-mix where mapping took 0.065.
    pub fn open_for_scan(path: &Path) -> Result<Self, CaptureError> {
        Self::open_for(path, true)
    }

    fn open_for(path: &Path, scan: bool) -> Result<Self, CaptureError> {
        let io_error = |e| CaptureError {
            record: 0,
            offset: 0,
            kind: CaptureErrorKind::Io(e),
        };
        let src: Box<dyn Read + Send> = if path.as_os_str() == "-" {
            Box::new(io::stdin())
        } else {
            let file = File::open(path).map_err(io_error)?;
            let len = file
                .metadata()
                .map_or(0, |m| if m.is_file() { m.len() } else { 0 });
            if len > 0 {
                let way = match Way::from_env() {
                    None if scan => Way::Copied,
                    _ => Way::for_file(&file, len),
                };
                let src = if way == Way::Mapped {
                    Source::Mapped(Mapped::new(file))
                } else {
                    Source::Ahead(ReadAhead::spawn_file(file, len).map_err(io_error)?)
                };
                return CaptureReader::start(src, Vec::new());
            }
            Box::new(file)
        };
        let ahead = ReadAhead::spawn(src).map_err(io_error)?;
        CaptureReader::start(Source::Ahead(ahead), Vec::new())
    }
}

impl<R: Read> CaptureReader<R> {
    /// Reads the file header and prepares to read records.
    pub fn new(src: R) -> Result<Self, CaptureError> {
        CaptureReader::start(Source::Direct(src), vec![0; READ_CHUNK])
    }

    fn start(src: Source<R>, buf: Vec<u8>) -> Result<Self, CaptureError> {
        let mut reader = CaptureReader {
            src,
            buf,
            start: 0,
            end: 0,
            eof: false,
            offset: 0,
            format: CaptureFormat::Pcap,
            records: 0,
            pcap: PcapHeader::default(),
            ng: NgSection::default(),
            failed: false,
            scanning: false,
            scanned: None,
        };
        reader.fill(4).map_err(|kind| reader.error(0, kind))?;
        if reader.available() == 0 {
            return Err(reader.error(0, CaptureErrorKind::Empty));
        }
        let head = reader.window(reader.available().min(4)).to_vec();
        match head.as_slice() {
            [0xd4, 0xc3, 0xb2, 0xa1] | [0xa1, 0xb2, 0xc3, 0xd4] => {
                reader.read_pcap_header(false)?
            }
            [0x4d, 0x3c, 0xb2, 0xa1] | [0xa1, 0xb2, 0x3c, 0x4d] => reader.read_pcap_header(true)?,
            [0x0a, 0x0d, 0x0d, 0x0a] => reader.format = CaptureFormat::PcapNg,
            _ => return Err(reader.error(0, CaptureErrorKind::NotACapture(head))),
        }
        Ok(reader)
    }

    /// Whether records' bytes are read through a memory map, so that a
    /// record's data can be found again at [`Record::data_offset`].
    pub fn is_mapped(&self) -> bool {
        matches!(self.src, Source::Mapped(_))
    }

    /// Tells a mapped reader that only the records' first bytes (their
    /// headers) will be read, so it does not bring the rest of the file
    /// into the processor's cache ahead of the parser.
    pub fn headers_only(&mut self) {
        if let Source::Mapped(m) = &mut self.src {
            m.headers_only();
        }
    }

    /// How a mapped reader maps its next window ahead
    /// ([`Mapped::map_ahead`]; by default on a thread of its own when the
    /// machine has a spare core).
    pub fn map_ahead(&mut self, how: MapAhead) {
        if let Source::Mapped(m) = &mut self.src {
            m.map_ahead(how);
        }
    }

    /// With [`MapAhead::HandedOut`]: the next window for another thread to
    /// map ([`Mapped::take_job`]).
    pub fn take_map_job(&mut self) -> Option<Arc<MapJob>> {
        match &mut self.src {
            Source::Mapped(m) => m.take_job(),
            _ => None,
        }
    }

    /// The container format.
    pub fn format(&self) -> CaptureFormat {
        self.format
    }

    /// Records returned so far.
    pub fn records_read(&self) -> u64 {
        self.records
    }

    /// Bytes of the file consumed so far.
    pub fn bytes_read(&self) -> u64 {
        self.offset
    }

    /// The link types declared so far (pcap: the one; pcapng: every
    /// interface of the current section).
    pub fn link_types(&self) -> Vec<LinkType> {
        match self.format {
            CaptureFormat::Pcap => vec![LinkType(self.pcap.link)],
            CaptureFormat::PcapNg => self.ng.interfaces.iter().map(|i| i.link).collect(),
        }
    }

    /// What the file header declares, for a classic pcap file (`None` for
    /// pcapng).
    pub fn pcap_header(&self) -> Option<PcapFileHeader> {
        let h = self.pcap;
        (self.format == CaptureFormat::Pcap).then(|| PcapFileHeader {
            nanos: h.nanos,
            snaplen: h.snaplen,
            link: LinkType(h.link),
            // The F bit, then the FCS length in 16-bit words.
            fcs_bytes: (h.link_field & 0x0400_0000 != 0)
                .then_some(((h.link_field >> 28) * 2) as u8),
        })
    }

    /// pcapng only: the next block of any type, with its bytes as they are
    /// in the file and, for a packet block, the record it holds (numbered
    /// as [`CaptureReader::next_record`] numbers it). `Ok(None)` at a clean
    /// end of file, and for a pcap file, which has no blocks. After an
    /// error the reader is spent.
    pub fn next_block(&mut self) -> Result<Option<RawBlock<'_>>, CaptureError> {
        if self.failed || self.format != CaptureFormat::PcapNg {
            return Ok(None);
        }
        let block = match self.next_ng_block() {
            Ok(Some(block)) => block,
            Ok(None) => return Ok(None),
            Err(e) => {
                self.failed = true;
                return Err(e);
            }
        };
        if block.packet.is_some() {
            self.records += 1;
        }
        let number = self.records;
        let data = self.data();
        let record = block.packet.map(|pos| pos.into_record(data, number));
        Ok(Some(RawBlock {
            bytes: &data[block.start..block.start + block.len],
            offset: block.offset,
            big_endian: self.ng.big_endian,
            record,
        }))
    }

    /// The next record, `Ok(None)` at a clean end of file. After an error
    /// the reader is spent and returns `Ok(None)`.
    pub fn next_record(&mut self) -> Result<Option<Record<'_>>, CaptureError> {
        Ok(self
            .advance()?
            .map(|pos| pos.into_record(self.data(), self.records)))
    }

    /// [`CaptureReader::next_record`], with the mapped window that holds
    /// the record when the file is mapped: a clone of it keeps the record's
    /// bytes readable, at [`Record::data_offset`], after the reader has
    /// moved on.
    pub fn next_shared(&mut self) -> Result<Option<(Record<'_>, Option<&Window>)>, CaptureError> {
        let Some(pos) = self.advance()? else {
            return Ok(None);
        };
        let window = match &self.src {
            Source::Mapped(m) => m.window(),
            _ => None,
        };
        Ok(Some((pos.into_record(self.data(), self.records), window)))
    }

    /// Has the thread that reads the file ahead walk the records of each
    /// chunk it copies with `scan` ([`super::scan`]); what it found comes
    /// with the records ([`CaptureReader::next_scanned`]). False, and
    /// nothing done, unless a classic pcap file is shared out by chunk
    /// ([`ReadAhead::spawn_file`]) and no record has been read yet.
    pub fn scan_ahead(&mut self, scan: Box<dyn ScanAhead>) -> bool {
        if self.format != CaptureFormat::Pcap || self.records > 0 || self.scanning {
            return false;
        }
        let Source::Ahead(ahead) = &mut self.src else {
            return false;
        };
        let layout = Layout {
            big_endian: self.pcap.big_endian,
            nanos: self.pcap.nanos,
            link: LinkType(self.pcap.link),
            snaplen: self.pcap.snaplen,
        };
        self.scanning = ahead.walk(Walker::new(layout, scan, self.offset, CHUNK));
        self.scanning
    }

    /// [`CaptureReader::next_record`], with what the read-ahead thread's
    /// scan found ([`CaptureReader::scan_ahead`]) when the record is the
    /// first read from a chunk's bytes: [`ChunkScan::Found`] for a chunk
    /// the thread walked, [`ChunkScan::Nothing`] when the bytes being read
    /// are any others (earlier results no longer hold).
    pub fn next_scanned(
        &mut self,
    ) -> Result<Option<(Record<'_>, Option<ChunkScan>)>, CaptureError> {
        let Some(pos) = self.advance()? else {
            return Ok(None);
        };
        let scanned = self.scanned.take();
        Ok(Some((pos.into_record(self.data(), self.records), scanned)))
    }

    /// Finds the next record and counts it.
    fn advance(&mut self) -> Result<Option<Pos>, CaptureError> {
        if self.failed {
            return Ok(None);
        }
        let result = match self.format {
            CaptureFormat::Pcap => self.next_pcap(),
            CaptureFormat::PcapNg => self.next_ng(),
        };
        match result {
            Ok(Some(pos)) => {
                self.records += 1;
                if let Source::Mapped(m) = &mut self.src {
                    m.touch_ahead(self.start, pos.data_len);
                }
                Ok(Some(pos))
            }
            Ok(None) => Ok(None),
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }

    fn error(&self, record: u64, kind: CaptureErrorKind) -> CaptureError {
        CaptureError {
            record,
            offset: self.offset,
            kind,
        }
    }

    fn available(&self) -> usize {
        self.end - self.start
    }

    fn window(&self, len: usize) -> &[u8] {
        &self.data()[self.start..self.start + len]
    }

    /// The bytes `start..end` index: the map's window or the buffer.
    #[inline]
    fn data(&self) -> &[u8] {
        match &self.src {
            Source::Mapped(m) => m.bytes(),
            _ => &self.buf,
        }
    }

    /// Asks for the next record's bytes ([`prefetch`]) while the one just
    /// read is analysed, when its header and all of it are in the buffer:
    /// its length is the 4-byte field `field` bytes into its header, plus
    /// `extra`, in the byte order `be` says.
    #[inline]
    fn prefetch_next(&self, field: usize, extra: usize, be: bool) {
        let data = self.data().get(..self.end).unwrap_or_default();
        let Some(end) = data
            .get(self.start + field..self.start + field + 4)
            .and_then(|f| (read_u32(f, be) as usize).checked_add(extra))
            .and_then(|len| self.start.checked_add(len))
        else {
            return;
        };
        if let Some(next) = data.get(self.start..end) {
            prefetch::record(next);
        }
    }

    fn consume(&mut self, len: usize) {
        self.start += len;
        self.offset += len as u64;
    }

    /// Makes at least `want` bytes available unless the file ends first.
    fn fill(&mut self, want: usize) -> Result<(), CaptureErrorKind> {
        if self.available() >= want || self.eof {
            return Ok(());
        }
        if self.scanning {
            // The buffer's bytes change: unless a walked chunk comes in
            // whole, what the last scan found no longer holds.
            self.scanned = Some(ChunkScan::Nothing);
        }
        if let Source::Mapped(m) = &mut self.src {
            self.start = m
                .window_at(self.offset, want)
                .map_err(CaptureErrorKind::Io)?;
            m.touch_ahead(self.start, 0);
            self.end = m.bytes().len();
            self.eof = self.available() < want;
            return Ok(());
        }
        if let Source::Ahead(ahead) = &self.src {
            if !ahead.handed_back() {
                self.fill_ahead(want)?;
                let handed_back = matches!(&self.src, Source::Ahead(a) if a.handed_back());
                // Done, unless the thread handed the source back midway.
                if self.available() >= want || !handed_back {
                    return Ok(());
                }
                self.eof = false;
            }
        }
        self.make_room(want);
        while self.available() < want {
            let src: &mut dyn Read = match &mut self.src {
                Source::Direct(src) => src,
                Source::Ahead(ahead) => match ahead.source() {
                    Some(src) => src,
                    None => break,
                },
                Source::Mapped(_) => break,
            };
            match src.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(CaptureErrorKind::Io(e)),
            }
        }
        Ok(())
    }

    /// Moves the available bytes to the front of the buffer if `want` of
    /// them would not fit after `start`, growing it (up to a block) if
    /// needed.
    fn make_room(&mut self, want: usize) {
        if self.start + want > self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if want > self.buf.len() {
                self.buf
                    .resize(want.next_power_of_two().min(MAX_BLOCK + 64), 0);
            }
        }
    }

    /// [`CaptureReader::fill`] from chunks read ahead: each chunk becomes
    /// the buffer, with the bytes still available moved into its headroom.
    fn fill_ahead(&mut self, want: usize) -> Result<(), CaptureErrorKind> {
        while self.available() < want {
            let Source::Ahead(ahead) = &mut self.src else {
                break;
            };
            let Some(chunk) = ahead.next_chunk().map_err(CaptureErrorKind::Io)? else {
                self.eof = true;
                break;
            };
            let left = self.end - self.start;
            if left <= HEADROOM {
                let mut buf = chunk.buf;
                buf[HEADROOM - left..HEADROOM].copy_from_slice(&self.buf[self.start..self.end]);
                let used = std::mem::replace(&mut self.buf, buf);
                self.start = HEADROOM - left;
                self.end = HEADROOM + chunk.len;
                ahead.recycle(used);
                if self.scanning {
                    self.scanned = Some(chunk.scanned.map_or(ChunkScan::Nothing, ChunkScan::Found));
                }
            } else {
                // A record longer than the headroom: gathered in the
                // reader's own buffer, which grows to hold it.
                let data = &chunk.buf[HEADROOM..HEADROOM + chunk.len];
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
                if self.buf.len() < self.end + data.len() {
                    self.buf.resize(self.end + data.len(), 0);
                }
                self.buf[self.end..self.end + data.len()].copy_from_slice(data);
                self.end += data.len();
                ahead.recycle(chunk.buf);
            }
        }
        Ok(())
    }

    /// Requires `len` bytes, reporting a cut-short file otherwise.
    fn require(&mut self, len: usize, what: &'static str) -> Result<(), CaptureError> {
        let record = self.records + 1;
        self.fill(len).map_err(|k| self.error(record, k))?;
        if self.available() < len {
            let kind = CaptureErrorKind::CutShort {
                what,
                needed: len as u64,
                available: self.available() as u64,
            };
            return Err(self.error(record, kind));
        }
        Ok(())
    }

    fn read_pcap_header(&mut self, nanos: bool) -> Result<(), CaptureError> {
        self.require(24, "pcap file header")
            .map_err(|e| CaptureError { record: 0, ..e })?;
        let h = self.window(24);
        let big_endian = h[0] == 0xa1;
        let snaplen = read_u32(&h[16..20], big_endian);
        let link_field = read_u32(&h[20..24], big_endian);
        self.pcap = PcapHeader {
            big_endian,
            nanos,
            link: link_field & 0x03ff_ffff,
            link_field,
            snaplen,
        };
        self.consume(24);
        Ok(())
    }

    fn next_pcap(&mut self) -> Result<Option<Pos>, CaptureError> {
        self.fill(16).map_err(|k| self.error(self.records + 1, k))?;
        if self.available() == 0 {
            return Ok(None);
        }
        self.require(16, "record header")?;
        let h = self.window(16);
        let be = self.pcap.big_endian;
        let secs = read_u32(&h[0..4], be);
        let frac = read_u32(&h[4..8], be);
        let incl = read_u32(&h[8..12], be) as usize;
        let orig = read_u32(&h[12..16], be);
        if incl > MAX_BLOCK {
            let kind = CaptureErrorKind::BadLength {
                what: "captured length",
                value: incl as u64,
                min: 0,
                max: MAX_BLOCK as u64,
            };
            return Err(self.error(self.records + 1, kind));
        }
        self.require(16 + incl, "record data")?;
        let nanos = if self.pcap.nanos {
            i64::from(frac)
        } else {
            i64::from(frac) * 1000
        };
        let pos = Pos {
            offset: self.offset,
            data_offset: self.offset + 16,
            ts: Timestamp::from_parts(i64::from(secs), nanos),
            link: LinkType(self.pcap.link),
            interface: 0,
            data_start: self.start + 16,
            data_len: incl,
            orig_len: orig,
        };
        self.consume(16 + incl);
        self.prefetch_next(8, 16, be);
        Ok(Some(pos))
    }

    fn next_ng(&mut self) -> Result<Option<Pos>, CaptureError> {
        loop {
            match self.next_ng_block()? {
                None => return Ok(None),
                Some(NgBlock {
                    packet: Some(pos), ..
                }) => return Ok(Some(pos)),
                Some(_) => {}
            }
        }
    }

    /// Reads and consumes one pcapng block. Its bytes stay in the buffer,
    /// where the returned [`NgBlock`] locates them, until the next read.
    fn next_ng_block(&mut self) -> Result<Option<NgBlock>, CaptureError> {
        self.fill(12).map_err(|k| self.error(self.records + 1, k))?;
        if self.available() == 0 {
            return Ok(None);
        }
        self.require(12, "pcapng block header")?;
        let head = self.window(8);
        let is_shb = head[0..4] == [0x0a, 0x0d, 0x0d, 0x0a];
        if is_shb {
            self.require(12, "section header block")?;
            let bom = self.window(12)[8..12].to_vec();
            self.ng.big_endian = match bom.as_slice() {
                [0x1a, 0x2b, 0x3c, 0x4d] => true,
                [0x4d, 0x3c, 0x2b, 0x1a] => false,
                _ => {
                    return Err(self.bad_block(
                        "section header block",
                        format!("byte-order magic {bom:02x?} is neither 1a2b3c4d nor 4d3c2b1a"),
                    ))
                }
            };
        }
        let be = self.ng.big_endian;
        let head = self.window(8);
        let block_type = read_u32(&head[0..4], be);
        let total = read_u32(&head[4..8], be) as usize;
        let name = block_name(block_type);
        if total < 12 || !total.is_multiple_of(4) || total > MAX_BLOCK {
            let kind = CaptureErrorKind::BadLength {
                what: "pcapng block length",
                value: total as u64,
                min: 12,
                max: MAX_BLOCK as u64,
            };
            return Err(self.error(self.records + 1, kind));
        }
        self.require(total, name)?;
        let block = self.window(total);
        let trailer = read_u32(&block[total - 4..], be) as usize;
        if trailer != total {
            return Err(self.bad_block(
                name,
                format!("length {total} in the header but {trailer} in the trailer"),
            ));
        }
        let body_start = self.start + 8;
        let body_len = total - 12;
        let result = match block_type {
            0x0a0d_0d0a => {
                self.section_header(body_start, body_len)?;
                None
            }
            1 => {
                self.interface_description(body_start, body_len)?;
                None
            }
            6 => Some(self.enhanced_packet(body_start, body_len)?),
            3 => Some(self.simple_packet(body_start, body_len)?),
            2 => Some(self.obsolete_packet(body_start, body_len)?),
            _ => None,
        };
        let offset = self.offset;
        let start = self.start;
        self.consume(total);
        self.prefetch_next(4, 0, self.ng.big_endian);
        Ok(Some(NgBlock {
            start,
            len: total,
            offset,
            packet: result.map(|pos| Pos {
                offset,
                data_offset: offset + (pos.data_start - start) as u64,
                ..pos
            }),
        }))
    }

    fn bad_block(&self, block: &'static str, why: String) -> CaptureError {
        self.error(self.records + 1, CaptureErrorKind::BadBlock { block, why })
    }

    fn section_header(&mut self, body: usize, len: usize) -> Result<(), CaptureError> {
        // byte-order magic 4, major 2, minor 2, section length 8, options.
        if len < 16 {
            return Err(self.bad_block(
                "section header block",
                format!("body of {len} bytes is shorter than the fixed 16"),
            ));
        }
        let be = self.ng.big_endian;
        let major = read_u16(&self.data()[body + 4..body + 6], be);
        if major != 1 {
            return Err(self.bad_block(
                "section header block",
                format!("unsupported major version {major}"),
            ));
        }
        check_options(&self.data()[body + 16..body + len], be)
            .map_err(|why| self.bad_block("section header block", why))?;
        self.ng.interfaces.clear();
        Ok(())
    }

    fn interface_description(&mut self, body: usize, len: usize) -> Result<(), CaptureError> {
        if len < 8 {
            return Err(self.bad_block(
                "interface description block",
                format!("body of {len} bytes is shorter than the fixed 8"),
            ));
        }
        if self.ng.interfaces.len() >= MAX_INTERFACES {
            return Err(self.bad_block(
                "interface description block",
                format!("more than {MAX_INTERFACES} interfaces in one section"),
            ));
        }
        let be = self.ng.big_endian;
        let b = &self.data()[body..body + len];
        let link = LinkType(u32::from(read_u16(&b[0..2], be)));
        let snaplen = read_u32(&b[4..8], be);
        let mut iface = NgInterface {
            link,
            snaplen,
            resolution: TsResolution::Decimal(6),
            offset_secs: 0,
        };
        let options = parse_options(&b[8..], be)
            .map_err(|why| self.bad_block("interface description block", why))?;
        for (code, value) in options {
            match (code, value) {
                (9, [r, ..]) => {
                    iface.resolution = if r & 0x80 != 0 {
                        TsResolution::Binary(u32::from(r & 0x7f))
                    } else {
                        TsResolution::Decimal(u32::from(*r))
                    }
                }
                (14, v) if v.len() >= 8 => {
                    iface.offset_secs = read_u64(&v[0..8], be) as i64;
                }
                _ => {}
            }
        }
        self.ng.interfaces.push(iface);
        Ok(())
    }

    fn interface(&self, id: u32) -> Result<NgInterface, CaptureError> {
        self.ng.interfaces.get(id as usize).copied().ok_or_else(|| {
            self.error(
                self.records + 1,
                CaptureErrorKind::UnknownInterface(id, self.ng.interfaces.len()),
            )
        })
    }

    /// An enhanced packet block: interface id u32, timestamp (high, low),
    /// captured length, original length, data.
    fn enhanced_packet(&self, body: usize, len: usize) -> Result<Pos, CaptureError> {
        self.timestamped_packet("enhanced packet block", body, len, |b, be| {
            read_u32(&b[0..4], be)
        })
    }

    /// The obsolete packet block: as the enhanced one, but with a 16-bit
    /// interface id followed by a drops count.
    fn obsolete_packet(&self, body: usize, len: usize) -> Result<Pos, CaptureError> {
        self.timestamped_packet("packet block", body, len, |b, be| {
            u32::from(read_u16(&b[0..2], be))
        })
    }

    /// The layout both packet blocks share after their interface id.
    fn timestamped_packet(
        &self,
        block: &'static str,
        body: usize,
        len: usize,
        interface_id: impl Fn(&[u8], bool) -> u32,
    ) -> Result<Pos, CaptureError> {
        if len < 20 {
            return Err(self.bad_block(
                block,
                format!("body of {len} bytes is shorter than the fixed 20"),
            ));
        }
        let be = self.ng.big_endian;
        let b = &self.data()[body..body + len];
        let id = interface_id(b, be);
        let units = (u64::from(read_u32(&b[4..8], be)) << 32) | u64::from(read_u32(&b[8..12], be));
        let caplen = read_u32(&b[12..16], be) as usize;
        let orig = read_u32(&b[16..20], be);
        if caplen > len - 20 {
            return Err(self.bad_block(
                block,
                format!(
                    "captured length {caplen} exceeds the {} bytes the block holds",
                    len - 20
                ),
            ));
        }
        let iface = self.interface(id)?;
        Ok(Pos {
            offset: 0,
            data_offset: 0,
            ts: iface.resolution.to_timestamp(units, iface.offset_secs),
            link: iface.link,
            interface: id,
            data_start: body + 20,
            data_len: caplen,
            orig_len: orig,
        })
    }

    fn simple_packet(&self, body: usize, len: usize) -> Result<Pos, CaptureError> {
        if len < 4 {
            return Err(self.bad_block(
                "simple packet block",
                format!("body of {len} bytes is shorter than the fixed 4"),
            ));
        }
        let be = self.ng.big_endian;
        let orig = read_u32(&self.data()[body..body + 4], be);
        let iface = self.interface(0)?;
        let mut caplen = (len - 4).min(orig as usize);
        if iface.snaplen != 0 {
            caplen = caplen.min(iface.snaplen as usize);
        }
        Ok(Pos {
            offset: 0,
            data_offset: 0,
            ts: Timestamp::default(),
            link: iface.link,
            interface: 0,
            data_start: body + 4,
            data_len: caplen,
            orig_len: orig,
        })
    }
}

/// A pcapng block located in the buffer.
struct NgBlock {
    start: usize,
    len: usize,
    offset: u64,
    packet: Option<Pos>,
}

/// A record located in the buffer, before it is lent out.
struct Pos {
    offset: u64,
    /// File offset of the data.
    data_offset: u64,
    ts: Timestamp,
    link: LinkType,
    interface: u32,
    data_start: usize,
    data_len: usize,
    orig_len: u32,
}

impl Pos {
    fn into_record(self, buf: &[u8], number: u64) -> Record<'_> {
        Record {
            number,
            offset: self.offset,
            data_offset: self.data_offset,
            ts: self.ts,
            link: self.link,
            interface: self.interface,
            data: &buf[self.data_start..self.data_start + self.data_len],
            orig_len: self.orig_len,
        }
    }
}

fn block_name(block_type: u32) -> &'static str {
    match block_type {
        0x0a0d_0d0a => "section header block",
        1 => "interface description block",
        2 => "packet block",
        3 => "simple packet block",
        4 => "name resolution block",
        5 => "interface statistics block",
        6 => "enhanced packet block",
        _ => "block",
    }
}

/// Splits a pcapng option list into (code, value) pairs, checking that every
/// option fits inside the block.
pub fn parse_options(mut b: &[u8], be: bool) -> Result<Vec<(u16, &[u8])>, String> {
    let mut out = Vec::new();
    while b.len() >= 4 {
        let code = read_u16(&b[0..2], be);
        let len = usize::from(read_u16(&b[2..4], be));
        if code == 0 {
            break;
        }
        let padded = (len + 3) & !3;
        if 4 + padded > b.len() {
            return Err(format!(
                "option {code} of length {len} overruns the block ({} bytes left)",
                b.len() - 4
            ));
        }
        out.push((code, &b[4..4 + len]));
        b = &b[4 + padded..];
    }
    Ok(out)
}

fn check_options(b: &[u8], be: bool) -> Result<(), String> {
    parse_options(b, be).map(|_| ())
}

fn read_u16(b: &[u8], be: bool) -> u16 {
    let a = [b[0], b[1]];
    if be {
        u16::from_be_bytes(a)
    } else {
        u16::from_le_bytes(a)
    }
}

/// A `u32` from the first four bytes of `b`, in the given byte order.
pub(crate) fn read_u32(b: &[u8], be: bool) -> u32 {
    let a = [b[0], b[1], b[2], b[3]];
    if be {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    }
}

fn read_u64(b: &[u8], be: bool) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[0..8]);
    if be {
        u64::from_be_bytes(a)
    } else {
        u64::from_le_bytes(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcap_le(records: &[&[u8]]) -> Vec<u8> {
        let mut f = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        f.extend_from_slice(&[0; 8]);
        f.extend_from_slice(&65535u32.to_le_bytes());
        f.extend_from_slice(&1u32.to_le_bytes());
        for (i, r) in records.iter().enumerate() {
            f.extend_from_slice(&(i as u32).to_le_bytes());
            f.extend_from_slice(&500u32.to_le_bytes());
            f.extend_from_slice(&(r.len() as u32).to_le_bytes());
            f.extend_from_slice(&(r.len() as u32).to_le_bytes());
            f.extend_from_slice(r);
        }
        f
    }

    /// Every record of `reader`, owned.
    /// A record as the tests compare them: number, offset, time, bytes,
    /// original length.
    type Row = (u64, u64, Timestamp, Vec<u8>, u32);

    fn all<R: io::Read>(mut reader: CaptureReader<R>) -> Vec<Row> {
        all_from(&mut reader)
    }

    fn all_from<R: io::Read>(reader: &mut CaptureReader<R>) -> Vec<Row> {
        let mut out = Vec::new();
        while let Some(r) = reader.next_record().expect("records") {
            out.push((r.number, r.offset, r.ts, r.data.to_vec(), r.orig_len));
        }
        out
    }

    fn mapped(path: &Path) -> CaptureReader<Box<dyn io::Read + Send>> {
        let file = File::open(path).expect("the capture");
        CaptureReader::start(Source::Mapped(Mapped::small_windows(file)), Vec::new())
            .expect("a capture")
    }

    /// Records of 1 to 200,000 bytes, so that windows of 64 KiB end inside
    /// headers, inside data and exactly on record boundaries.
    fn varied_records() -> Vec<Vec<u8>> {
        (0..400u32)
            .map(|i| {
                let len = match i % 7 {
                    0 => 200_000 - i as usize,
                    1 => 1,
                    2 => 65_536 - 16,
                    _ => (i as usize * 977) % 9_000 + 1,
                };
                (0..len).map(|k| (k as u32 ^ i) as u8).collect()
            })
            .collect()
    }

    /// [`varied_records`] written to a file in a scratch folder named
    /// after `name`: the folder, the file, its bytes, and its records as
    /// the copying reader reads them.
    fn varied_capture(name: &str) -> (std::path::PathBuf, std::path::PathBuf, Vec<u8>, Vec<Row>) {
        let dir = std::env::temp_dir().join(format!("framescope-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch folder");
        let path = dir.join("varied.pcap");
        let records = varied_records();
        let refs: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
        let bytes = pcap_le(&refs);
        std::fs::write(&path, &bytes).expect("write");
        let copied = all(CaptureReader::new(&bytes[..]).expect("a capture"));
        assert_eq!(copied.len(), records.len());
        (dir, path, bytes, copied)
    }

    /// A file long enough to be probed ([`super::super::way`]) reads as
    /// the same bytes copied whichever way the probe chooses, and read
    /// each way on purpose: mapped in whole-size windows, and copied by
    /// the thread that reads ahead, from a stream and shared out by chunk.
    #[test]
    fn a_probed_file_reads_as_a_copied_one_either_way() {
        let records = varied_records();
        let mut refs: Vec<&[u8]> = Vec::new();
        let mut len = 24u64;
        while len <= super::super::way::MIN_FILE {
            for r in &records {
                refs.push(r);
                len += 16 + r.len() as u64;
            }
        }
        let bytes = pcap_le(&refs);
        let dir = std::env::temp_dir().join(format!("framescope-probed-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch folder");
        let path = dir.join("long.pcap");
        std::fs::write(&path, &bytes).expect("write");
        let copied = all(CaptureReader::new(&bytes[..]).expect("a capture"));
        let mut opened = CaptureReader::open(&path).expect("a capture");
        let way = if opened.is_mapped() {
            "mapped"
        } else {
            "copied"
        };
        assert_eq!(all_from(&mut opened), copied, "opened, {way}");
        let file = || File::open(&path).expect("the capture");
        type Opened = CaptureReader<Box<dyn io::Read + Send>>;
        let mapped = Opened::start(Source::Mapped(Mapped::new(file())), Vec::new());
        assert_eq!(all(mapped.expect("a capture")), copied, "mapped");
        let src: Box<dyn io::Read + Send> = Box::new(file());
        let ahead = ReadAhead::spawn(src).expect("a thread");
        let ahead = Opened::start(Source::Ahead(ahead), Vec::new());
        assert_eq!(all(ahead.expect("a capture")), copied, "copied");
        let shared = ReadAhead::spawn_file(file(), bytes.len() as u64).expect("a thread");
        let shared = Opened::start(Source::Ahead(shared), Vec::new());
        assert_eq!(all(shared.expect("a capture")), copied, "shared out");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_mapped_file_reads_as_a_copied_one_across_windows() {
        let (dir, path, bytes, copied) = varied_capture("mapped");
        // Windows mapped ahead on a thread of their own, and all mapped
        // by the reader. How many the thread maps in time depends on its
        // being scheduled (other tests keep both cores busy): that windows
        // mapped ahead are taken is tested with jobs run at known points,
        // in `windows_handed_out_are_mapped_by_whoever_takes_them_or_by_the_reader`.
        let mut ahead = mapped(&path);
        assert_eq!(all_from(&mut ahead), copied);
        assert!(matches!(&ahead.src, Source::Mapped(_)), "mapped");
        let mut here = mapped(&path);
        here.map_ahead(MapAhead::Off);
        assert_eq!(all_from(&mut here), copied);
        let Source::Mapped(m) = &here.src else {
            panic!("mapped")
        };
        assert_eq!(m.taken_ahead(), 0);
        // And by the path, as the tools open it (one default window).
        assert_eq!(all(CaptureReader::open(&path).expect("a capture")), copied);
        // A file cut inside its last record: every whole record, then the
        // same error as the copying reader.
        let cut = &bytes[..bytes.len() - 5];
        std::fs::write(&path, cut).expect("write");
        let mut a = mapped(&path);
        let mut b = CaptureReader::new(cut).expect("a capture");
        loop {
            match (a.next_record(), b.next_record()) {
                (Ok(Some(x)), Ok(Some(y))) => assert_eq!((x.number, x.data), (y.number, y.data)),
                (Err(x), Err(y)) => {
                    assert_eq!(x.to_string(), y.to_string());
                    break;
                }
                (x, y) => panic!(
                    "mapped {:?} against copied {:?}",
                    x.map(|r| r.map(|r| r.number)),
                    y.map(|r| r.map(|r| r.number))
                ),
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn windows_handed_out_are_mapped_by_whoever_takes_them_or_by_the_reader() {
        let (dir, path, _, copied) = varied_capture("handout");
        let taken = |r: &CaptureReader<_>| match &r.src {
            Source::Mapped(m) => m.taken_ahead(),
            _ => panic!("mapped"),
        };
        // Reads the file, handing each job out to `hand`.
        let read = |hand: &mut dyn FnMut(Arc<MapJob>)| {
            let mut r = mapped(&path);
            r.map_ahead(MapAhead::HandedOut);
            let mut rows = Vec::new();
            loop {
                if let Some(job) = r.take_map_job() {
                    hand(job);
                }
                match r.next_record().expect("records") {
                    Some(x) => rows.push((x.number, x.offset, x.ts, x.data.to_vec(), x.orig_len)),
                    None => break,
                }
            }
            (rows, taken(&r))
        };
        // Every job run as soon as it is handed out: every window but the
        // first (and those a long record needs whole) was mapped ahead.
        let (rows, ahead) = read(&mut |job| job.run());
        assert_eq!(rows, copied);
        assert!(ahead > 10, "{ahead} windows taken ahead");
        // Jobs run on another thread, whenever it gets to them.
        let (tx, rx) = std::sync::mpsc::channel::<Arc<MapJob>>();
        let runner = std::thread::spawn(move || rx.into_iter().for_each(|job| job.run()));
        let (rows, _) = read(&mut |job| tx.send(job).expect("the runner"));
        drop(tx);
        runner.join().expect("the runner");
        assert_eq!(rows, copied);
        // Nobody takes them: the reader maps every window itself.
        let (rows, ahead) = read(&mut |job| drop(job));
        assert_eq!(rows, copied);
        assert_eq!(ahead, 0);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_mapped_file_that_grows_is_read_to_its_new_end() {
        use std::io::Write;
        let dir = std::env::temp_dir().join(format!("framescope-growing-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch folder");
        let path = dir.join("growing.pcap");
        let records = varied_records();
        let refs: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
        let bytes = pcap_le(&refs);
        // The first half (ending on a record boundary), as a capture being
        // written has it; the rest is appended after reading has begun.
        let half = pcap_le(&refs[..200]).len();
        std::fs::write(&path, &bytes[..half]).expect("write");
        let mut reader = mapped(&path);
        let mut seen = 0;
        while seen < 100 {
            reader
                .next_record()
                .expect("a record")
                .expect("not the end yet");
            seen += 1;
        }
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("append");
        f.write_all(&bytes[half..]).expect("append");
        drop(f);
        while reader.next_record().expect("a record").is_some() {
            seen += 1;
        }
        assert_eq!(seen, records.len());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn reads_pcap_records_with_numbers_and_offsets() -> Result<(), CaptureError> {
        let file = pcap_le(&[b"abc", b"defgh"]);
        let mut r = CaptureReader::new(&file[..])?;
        let a = r.next_record()?.expect("a first record");
        assert_eq!((a.number, a.offset, a.data), (1, 24, &b"abc"[..]));
        assert_eq!(a.ts, Timestamp(500_000));
        let b = r.next_record()?.expect("a second record");
        assert_eq!((b.number, b.offset, b.data), (2, 43, &b"defgh"[..]));
        assert!(r.next_record()?.is_none());
        Ok(())
    }

    /// A file opened for a scan is copied and walked (a small one would be
    /// mapped otherwise).
    #[test]
    fn a_file_opened_for_a_scan_is_copied_and_walked() {
        struct Nothing;
        impl ScanAhead for Nothing {
            fn record(&mut self, _: LinkType, _: &[u8], _: u32) {}
            fn take(&mut self) -> Box<dyn std::any::Any + Send> {
                Box::new(())
            }
        }
        if Way::from_env().is_some() {
            return; // FRAMESCOPE_READ chooses the way instead
        }
        let dir = std::env::temp_dir().join(format!("framescope-scan-open-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a directory");
        let path = dir.join("small.pcap");
        std::fs::write(&path, pcap_le(&[b"abc", b"defgh"])).expect("written");
        assert!(CaptureReader::open(&path).expect("opened").is_mapped());
        let mut r = CaptureReader::open_for_scan(&path).expect("opened");
        assert!(!r.is_mapped());
        assert!(r.scan_ahead(Box::new(Nothing)));
        assert!(!r.scan_ahead(Box::new(Nothing)), "once");
        let rows = all_from(&mut r);
        assert_eq!(rows.len(), 2);
        std::fs::remove_dir_all(&dir).ok();
    }

    /// A 116-byte pcapng whose interface declares an `if_tsoffset` near
    /// `i64::MAX` (`fuzz/regressions/capture_file/`): the timestamp
    /// saturates instead of overflowing (a panic with overflow checks, a
    /// wrap to a negative time without).
    #[test]
    fn extreme_if_tsoffset_saturates() -> Result<(), CaptureError> {
        let file = include_bytes!("../../fuzz/regressions/capture_file/if-tsoffset-near-i64-max");
        assert_eq!(file.len(), 116);
        let mut r = CaptureReader::new(&file[..])?;
        let rec = r.next_record()?.expect("the one record");
        assert_eq!(rec.ts, Timestamp(i64::MAX));
        assert!(r.next_record()?.is_none());
        Ok(())
    }

    #[test]
    fn cut_short_record_names_record_and_offset() -> Result<(), CaptureError> {
        let mut file = pcap_le(&[b"abc", b"defgh"]);
        file.truncate(file.len() - 2);
        let mut r = CaptureReader::new(&file[..])?;
        assert!(r.next_record()?.is_some());
        let Err(err) = r.next_record() else {
            panic!("a cut-short record accepted");
        };
        assert_eq!((err.record, err.offset), (2, 43));
        assert!(err.to_string().contains("cut short"), "{err}");
        assert!(r.next_record()?.is_none());
        Ok(())
    }

    /// Every record of a reader: number, offset, timestamp and bytes, and
    /// the error that ended it, if any.
    type Read = (Vec<(u64, u64, Timestamp, Vec<u8>)>, Option<(u64, u64)>);

    fn read_all<R: io::Read>(mut r: CaptureReader<R>) -> Read {
        let mut records = Vec::new();
        loop {
            match r.next_record() {
                Ok(Some(rec)) => records.push((rec.number, rec.offset, rec.ts, rec.data.to_vec())),
                Ok(None) => return (records, None),
                Err(e) => return (records, Some((e.record, e.offset))),
            }
        }
    }

    #[test]
    fn read_ahead_gives_the_records_read_in_place_gives() {
        use crate::capture::ahead::{CHUNK, HEADROOM};
        // Sizes around the chunk and headroom sizes, and records larger
        // than either, so that chunk boundaries cut records everywhere.
        let sizes = [
            1,
            1500,
            65_535,
            HEADROOM - 16,
            HEADROOM + 17,
            40,
            CHUNK - 5,
            3 * CHUNK + 1,
            7,
            CHUNK + HEADROOM,
            2,
        ];
        let bodies: Vec<Vec<u8>> = sizes
            .iter()
            .cycle()
            .take(40)
            .enumerate()
            .map(|(i, &n)| (0..n).map(|j| (i * 31 + j) as u8).collect())
            .collect();
        let refs: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
        let file = pcap_le(&refs);
        let dir = std::env::temp_dir().join(format!("framescope-ahead-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for cut in [file.len(), file.len() - 3, file.len() / 2 + 11] {
            let path = dir.join(format!("cut-{cut}.pcap"));
            std::fs::write(&path, &file[..cut]).unwrap();
            let ahead = read_all(CaptureReader::open(&path).unwrap());
            let direct = read_all(CaptureReader::new(&file[..cut]).unwrap());
            assert_eq!(ahead.1, direct.1, "the error, file cut at {cut}");
            assert_eq!(ahead.0.len(), direct.0.len(), "records, file cut at {cut}");
            assert!(
                ahead.0 == direct.0,
                "record bytes differ, file cut at {cut}"
            );
        }
        assert_eq!(read_all(CaptureReader::new(&file[..]).unwrap()).0.len(), 40);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn every_truncation_of_a_file_is_an_error_or_a_prefix() {
        let file = pcap_le(&[b"abc", b"defgh", b"ij"]);
        for cut in 0..file.len() {
            match CaptureReader::new(&file[..cut]) {
                Err(e) => assert!(cut < 24, "cut {cut}: {e}"),
                Ok(mut r) => {
                    let mut n = 0;
                    while let Ok(Some(_)) = r.next_record() {
                        n += 1;
                    }
                    assert!(n <= 3);
                }
            }
        }
    }

    #[test]
    fn rejects_non_captures_and_huge_lengths() -> Result<(), CaptureError> {
        let Err(err) = CaptureReader::new(&b"hello world, not a capture"[..]) else {
            panic!("text accepted as a capture");
        };
        assert!(err.to_string().contains("not a pcap"), "{err}");
        let mut file = pcap_le(&[b"abc"]);
        file[32..36].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut r = CaptureReader::new(&file[..])?;
        let Err(err) = r.next_record() else {
            panic!("a 4 GiB record accepted");
        };
        assert!(err.to_string().contains("captured length"), "{err}");
        Ok(())
    }

    #[test]
    fn binary_and_decimal_resolutions() {
        let t = TsResolution::Decimal(9).to_timestamp(1_500_000_000, 0);
        assert_eq!(t, Timestamp(1_500_000_000));
        let t = TsResolution::Binary(1).to_timestamp(3, 0);
        assert_eq!(t, Timestamp(1_500_000_000));
    }
}
