//! Annotated captures: the capture written back as pcapng with a packet
//! comment on every packet that carried a flagged message (or every
//! message), so that Wireshark shows each finding on its packets.
//!
//! This module owns the [`Annotator`], a [`Report`] that remembers which
//! capture records carried which messages, and [`write_annotated`], which
//! copies the capture with those comments added. It does not analyse (the
//! [`crate::analysis`] does) and it does not parse capture files (it reads
//! them through [`crate::capture::CaptureReader`]).
//!
//! ```text
//! pcapng in:   SHB IDB EPB EPB NRB EPB ISB ...     every block copied as it is,
//! pcapng out:  SHB IDB EPB EPB' NRB EPB ISB ...    EPB' = EPB + opt_comment
//! pcap in:     header rec rec rec ...
//! pcapng out:  SHB IDB EPB EPB EPB ...             one interface: the header's
//!                                                  link type, snapshot length,
//!                                                  timestamp resolution
//! ```
//!
//! A comment reads `framescope: stream 3 client message #12 split over
//! records 40-42 (length:4, 120 bytes)`, so that Wireshark's display filter
//! `frame.comment contains "split"` (or `coalesced`, `truncated`,
//! `malformed`, `gap`) selects the packets of such messages. Existing
//! comments and options stay; the new comment follows them. The one other
//! change: a section header's section length, when the file states one,
//! becomes "not given" (-1), since comments lengthen the section.
//!
//! Packets in pcapng simple packet blocks cannot carry options: they are
//! copied without comment and counted ([`Written::uncommentable`]).
//!
//! Bounds: at most [`MAX_COMMENTS`] (message, record) comments are kept;
//! later ones are counted ([`Annotator::dropped`]), never stored. A packet
//! gets at most [`MAX_PER_RECORD`] comments, then one that counts the
//! messages left out. A message
//! whose records are not all known (more than [`MAX_TRACKED`] records
//! since the previous message of its direction) is commented on the
//! records that are.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::analysis::{Message, Report, Status, StreamResult, MAX_RECORDS};
use crate::capture::file::{parse_options, read_u32};
use crate::capture::{CaptureError, CaptureReader, Record};
use crate::flow::{Dir, Proto, StreamInfo};

/// The most (message, record) comments kept.
pub const MAX_COMMENTS: usize = 1_000_000;

/// The most records remembered per direction between two messages, for
/// messages that span more than [`MAX_RECORDS`] records.
pub const MAX_TRACKED: usize = 1 << 16;

/// The most comments one packet gets; past it, one more comment counts
/// the messages left out (a pcapng block, like a capture record, is read
/// only up to 16 MiB).
pub const MAX_PER_RECORD: usize = 1000;

/// Every comment starts with this.
pub const PREFIX: &str = "framescope: ";

/// What is said about one message.
#[derive(Clone, Debug)]
struct Note {
    proto: Proto,
    stream: u64,
    dir: Dir,
    index: u64,
    len: u64,
    status: Status,
    coalesced: bool,
    segments: u64,
    first: u64,
    last: u64,
    /// Records that carried it, when not `first..=last` exactly.
    count: u64,
    missing: Option<u64>,
    error: Option<String>,
}

/// A stream's identity: protocol and number.
type StreamKey = (Proto, u64);

/// Remembers the records of each message worth a comment; see the module
/// documentation.
#[derive(Default)]
pub struct Annotator {
    all: bool,
    notes: Vec<Note>,
    /// (record, index into `notes`).
    comments: Vec<(u64, u32)>,
    /// Per stream direction, the records of segments seen since its last
    /// message.
    since: HashMap<(StreamKey, usize), Vec<u64>>,
    /// The framing of each finished stream.
    framings: HashMap<StreamKey, String>,
    dropped: u64,
}

impl Annotator {
    /// Comments flagged messages, or every message with `all`.
    pub fn new(all: bool) -> Self {
        Annotator {
            all,
            ..Annotator::default()
        }
    }

    /// Comments not kept because of [`MAX_COMMENTS`].
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Adds another annotator's comments (from another shard of the same
    /// capture).
    pub fn merge(&mut self, other: Annotator) {
        let base = self.notes.len() as u32;
        for (record, note) in other.comments {
            if self.comments.len() < MAX_COMMENTS {
                self.comments.push((record, base + note));
            } else {
                self.dropped += 1;
            }
        }
        self.notes.extend(other.notes);
        self.framings.extend(other.framings);
        self.dropped += other.dropped;
    }

    /// The comments, by record, in the order their messages were reported.
    pub fn comments(mut self) -> Comments {
        self.comments.sort_by_key(|&(record, note)| {
            let n = &self.notes[note as usize];
            (record, n.proto, n.stream, n.dir.index(), n.index)
        });
        Comments {
            notes: self.notes,
            comments: self.comments,
            framings: self.framings,
        }
    }

    /// The records that carried `message`, in arrival order.
    fn records(&self, key: (StreamKey, usize), message: &Message) -> Vec<u64> {
        let listed = message.records.as_slice();
        if message.segments as usize <= MAX_RECORDS && !listed.is_empty() {
            return listed.to_vec();
        }
        // Longer than the message's own list: the segments seen since the
        // previous message of the direction, from the message's first.
        let since = self.since.get(&key).map_or(&[][..], Vec::as_slice);
        let mut out = Vec::with_capacity(since.len() + 1);
        match since.iter().position(|&r| r == message.first_record) {
            Some(i) => out.extend_from_slice(&since[i..]),
            None => {
                out.push(message.first_record);
                out.extend_from_slice(since);
            }
        }
        out
    }
}

impl Report for Annotator {
    fn message(&mut self, stream: &StreamInfo, dir: Dir, message: &Message) {
        let key = ((stream.proto, stream.number), dir.index());
        if self.all || message.is_flagged() {
            let mut records = self.records(key, message);
            records.sort_unstable();
            records.dedup();
            let note = self.notes.len() as u32;
            let mut kept = 0;
            for &record in &records {
                if self.comments.len() < MAX_COMMENTS {
                    self.comments.push((record, note));
                    kept += 1;
                } else {
                    self.dropped += 1;
                }
            }
            if kept > 0 {
                self.notes.push(Note {
                    proto: stream.proto,
                    stream: stream.number,
                    dir,
                    index: message.index,
                    len: message.len,
                    status: message.status,
                    coalesced: message.coalesced,
                    segments: message.segments,
                    first: message.first_record,
                    last: message.last_record,
                    count: records.len() as u64,
                    missing: message.missing,
                    error: message.error.clone(),
                });
            }
        }
        if let Some(since) = self.since.get_mut(&key) {
            since.clear();
        }
    }

    fn stream(&mut self, result: StreamResult) {
        let key = (result.info.proto, result.info.number);
        for dir in 0..2 {
            self.since.remove(&(key, dir));
        }
        self.framings.insert(key, result.framing);
    }

    fn segment(
        &mut self,
        stream: &StreamInfo,
        dir: Dir,
        record: u64,
        _offset: u64,
        _bytes: &[u8],
        _ts: crate::capture::Timestamp,
    ) {
        let since = self
            .since
            .entry(((stream.proto, stream.number), dir.index()))
            .or_default();
        if since.last() != Some(&record) && since.len() < MAX_TRACKED {
            since.push(record);
        }
    }
}

/// The comments of a finished analysis, by record.
pub struct Comments {
    notes: Vec<Note>,
    comments: Vec<(u64, u32)>,
    framings: HashMap<StreamKey, String>,
}

impl Comments {
    /// Comments in all.
    pub fn len(&self) -> usize {
        self.comments.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.comments.is_empty()
    }

    /// The texts of the comments on `record`, given the position `from`
    /// in the list where the search may start (records are asked for in
    /// increasing order); returns them and the next position.
    fn on(&self, record: u64, from: usize) -> (Vec<String>, usize) {
        let mut i = from;
        while self.comments.get(i).is_some_and(|&(r, _)| r < record) {
            i += 1;
        }
        let mut texts = Vec::new();
        let mut more = 0;
        while let Some(&(r, note)) = self.comments.get(i) {
            if r != record {
                break;
            }
            if texts.len() < MAX_PER_RECORD {
                texts.push(self.text(&self.notes[note as usize]));
            } else {
                more += 1;
            }
            i += 1;
        }
        if more > 0 {
            texts.push(format!(
                "{PREFIX}{more} more messages in this packet (at most {MAX_PER_RECORD} comments a packet)"
            ));
        }
        (texts, i)
    }

    /// The comment for one message.
    fn text(&self, n: &Note) -> String {
        let stream = match n.proto {
            Proto::Tcp => format!("stream {}", n.stream),
            Proto::Udp => format!("udp stream {}", n.stream),
        };
        let dir = match n.dir {
            Dir::Client => "client",
            Dir::Server => "server",
        };
        let mut verdicts = Vec::new();
        if n.segments > 1 {
            verdicts.push("split".to_string());
        }
        if n.coalesced {
            verdicts.push("coalesced".to_string());
        }
        match n.status {
            Status::Ok | Status::Split => {}
            Status::Gap => verdicts.push("holed by a capture gap".to_string()),
            Status::Truncated => verdicts.push(match n.missing {
                Some(missing) => format!("truncated ({missing} bytes missing)"),
                None => "truncated".to_string(),
            }),
            Status::Malformed => verdicts.push("malformed".to_string()),
        }
        if verdicts.is_empty() {
            verdicts.push("ok".to_string());
        }
        let place = if n.count <= 1 {
            format!("in record {}", n.first)
        } else if n.count == n.last.saturating_sub(n.first) + 1 {
            format!("over records {}-{}", n.first, n.last)
        } else {
            format!("over {} records {}-{}", n.count, n.first, n.last)
        };
        let framing = self
            .framings
            .get(&(n.proto, n.stream))
            .map_or("", String::as_str);
        let mut text = format!(
            "{PREFIX}{stream} {dir} message #{} {} {place} ({framing}, {} bytes)",
            n.index,
            verdicts.join(" and "),
            n.len
        );
        if let Some(error) = &n.error {
            text.push_str(": ");
            text.push_str(error);
        }
        text
    }
}

/// What [`write_annotated`] wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Written {
    /// Records copied.
    pub records: u64,
    /// Records that got at least one comment.
    pub commented_records: u64,
    /// Comments written.
    pub comments: u64,
    /// Records with comments that a simple packet block could not carry.
    pub uncommentable: u64,
}

/// Why an annotated capture could not be written.
#[derive(Debug, thiserror::Error)]
pub enum AnnotateError {
    /// The input cannot be read (again).
    #[error("{path}: {source}")]
    Read {
        /// The input.
        path: PathBuf,
        /// What the reader said.
        source: CaptureError,
    },
    /// The output cannot be written.
    #[error("{path}: {source}")]
    Write {
        /// The output.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// A comment longer than a pcapng option holds.
    #[error("a comment of {0} bytes does not fit in a pcapng option (65,535 bytes)")]
    CommentTooLong(usize),
}

/// Copies the capture at `input` to `output` as pcapng, with `comments` on
/// their records (see the module documentation). The output is written
/// beside its final name and renamed when complete, so `output` may be
/// `input`. Damage in the input ends the copy where it starts: the error
/// is returned with what was written so far kept in the output.
pub fn write_annotated(
    input: &Path,
    comments: &Comments,
    output: &Path,
) -> Result<(Written, Option<CaptureError>), AnnotateError> {
    let read_error = |source| AnnotateError::Read {
        path: input.to_path_buf(),
        source,
    };
    let write_error = |source| AnnotateError::Write {
        path: output.to_path_buf(),
        source,
    };
    let mut reader = CaptureReader::open(input).map_err(read_error)?;
    let mut partial = output.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let file = File::create(&partial).map_err(|source| AnnotateError::Write {
        path: partial.clone(),
        source,
    })?;
    let mut out = BufWriter::with_capacity(1 << 16, file);
    let result = copy(&mut reader, comments, &mut out);
    let flushed = out
        .into_inner()
        .map_err(|e| e.into_error())
        .and_then(|f| f.sync_all());
    let (written, damage) = match (result, flushed) {
        (Ok(done), Ok(())) => done,
        (Err(Failure::Write(e)), _) | (Ok(_), Err(e)) => {
            let _ = std::fs::remove_file(&partial);
            return Err(write_error(e));
        }
        (Err(Failure::Comment(n)), _) => {
            let _ = std::fs::remove_file(&partial);
            return Err(AnnotateError::CommentTooLong(n));
        }
    };
    std::fs::rename(&partial, output).map_err(write_error)?;
    Ok((written, damage))
}

enum Failure {
    Write(io::Error),
    Comment(usize),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Write(e)
    }
}

type Copied = (Written, Option<CaptureError>);

fn copy<R: io::Read>(
    reader: &mut CaptureReader<R>,
    comments: &Comments,
    out: &mut impl Write,
) -> Result<Copied, Failure> {
    match reader.pcap_header() {
        Some(header) => copy_pcap(reader, header, comments, out),
        None => copy_pcapng(reader, comments, out),
    }
}

/// A pcap file: one section, one interface, an enhanced packet block per
/// record.
fn copy_pcap<R: io::Read>(
    reader: &mut CaptureReader<R>,
    header: crate::capture::PcapFileHeader,
    comments: &Comments,
    out: &mut impl Write,
) -> Result<Copied, Failure> {
    out.write_all(&section_header())?;
    out.write_all(&interface_description(header))?;
    let mut written = Written::default();
    let mut at = 0;
    loop {
        let record = match reader.next_record() {
            Ok(Some(record)) => record,
            Ok(None) => return Ok((written, None)),
            Err(e) => return Ok((written, Some(e))),
        };
        let (texts, next) = comments.on(record.number, at);
        at = next;
        let block = enhanced_packet(&record, header.nanos, &texts)?;
        out.write_all(&block)?;
        count(&mut written, &texts, false);
    }
}

/// A pcapng file: every block as it is, comments added to packet blocks.
fn copy_pcapng<R: io::Read>(
    reader: &mut CaptureReader<R>,
    comments: &Comments,
    out: &mut impl Write,
) -> Result<Copied, Failure> {
    let mut written = Written::default();
    let mut at = 0;
    loop {
        let block = match reader.next_block() {
            Ok(Some(block)) => block,
            Ok(None) => return Ok((written, None)),
            Err(e) => return Ok((written, Some(e))),
        };
        let be = block.big_endian;
        let Some(record) = block.record else {
            if block_type(block.bytes, be) == SHB && !comments.is_empty() {
                out.write_all(&unsized_section(block.bytes, be))?;
            } else {
                out.write_all(block.bytes)?;
            }
            continue;
        };
        let (texts, next) = comments.on(record.number, at);
        at = next;
        let kind = block_type(block.bytes, be);
        let commented = match kind {
            EPB | PB if !texts.is_empty() => with_comments(block.bytes, be, &texts)?,
            _ => None,
        };
        match &commented {
            Some(bytes) => out.write_all(bytes)?,
            None => out.write_all(block.bytes)?,
        }
        count(&mut written, &texts, commented.is_none());
    }
}

fn count(written: &mut Written, texts: &[String], uncommented: bool) {
    written.records += 1;
    if texts.is_empty() {
        return;
    }
    if uncommented {
        written.uncommentable += 1;
    } else {
        written.commented_records += 1;
        written.comments += texts.len() as u64;
    }
}

const SHB: u32 = 0x0a0d_0d0a;
const IDB: u32 = 1;
const PB: u32 = 2;
const EPB: u32 = 6;
const OPT_COMMENT: u16 = 1;

fn block_type(bytes: &[u8], be: bool) -> u32 {
    bytes.get(..4).map_or(0, |b| read_u32(b, be))
}

fn put_u32(out: &mut [u8], v: u32, be: bool) {
    out.copy_from_slice(&if be { v.to_be_bytes() } else { v.to_le_bytes() });
}

fn pad4(n: usize) -> usize {
    (n + 3) & !3
}

/// Appends an option (code, value, padding) in the section's byte order.
fn push_option(out: &mut Vec<u8>, code: u16, value: &[u8], be: bool) -> Result<(), Failure> {
    let len = u16::try_from(value.len()).map_err(|_| Failure::Comment(value.len()))?;
    let (c, l) = if be {
        (code.to_be_bytes(), len.to_be_bytes())
    } else {
        (code.to_le_bytes(), len.to_le_bytes())
    };
    out.extend_from_slice(&c);
    out.extend_from_slice(&l);
    out.extend_from_slice(value);
    out.resize(out.len() + pad4(value.len()) - value.len(), 0);
    Ok(())
}

/// Wraps a block body: type, total length, body, total length.
fn block(kind: u32, body: &[u8], be: bool) -> Vec<u8> {
    let total = (12 + body.len()) as u32;
    let mut out = vec![0; 8];
    put_u32(&mut out[0..4], kind, be);
    put_u32(&mut out[4..8], total, be);
    out.extend_from_slice(body);
    let mut tail = [0u8; 4];
    put_u32(&mut tail, total, be);
    out.extend_from_slice(&tail);
    out
}

/// A little-endian section header: version 1.0, length not given.
fn section_header() -> Vec<u8> {
    let mut body = Vec::with_capacity(16);
    body.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
    body.extend_from_slice(&1u16.to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&u64::MAX.to_le_bytes());
    block(SHB, &body, false)
}

/// The one interface of a pcap file.
fn interface_description(header: crate::capture::PcapFileHeader) -> Vec<u8> {
    let mut body = Vec::new();
    // The link type is 16 bits in an IDB, as in pcap files in practice.
    body.extend_from_slice(&(header.link.0 as u16).to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&header.snaplen.to_le_bytes());
    let mut options = Vec::new();
    if header.nanos {
        // if_tsresol: 10^-9.
        let _ = push_option(&mut options, 9, &[9], false);
    }
    if let Some(fcs) = header.fcs_bytes {
        // if_fcslen.
        let _ = push_option(&mut options, 13, &[fcs], false);
    }
    if !options.is_empty() {
        options.extend_from_slice(&[0; 4]);
    }
    body.extend_from_slice(&options);
    block(IDB, &body, false)
}

/// An enhanced packet block for a pcap record: interface 0, the timestamp
/// in the file's units, the lengths and bytes as captured.
fn enhanced_packet(record: &Record<'_>, nanos: bool, texts: &[String]) -> Result<Vec<u8>, Failure> {
    let units = if nanos {
        record.ts.0
    } else {
        record.ts.0 / 1000
    } as u64;
    let mut body = Vec::with_capacity(20 + pad4(record.data.len()) + 128 * texts.len());
    body.extend_from_slice(&0u32.to_le_bytes());
    body.extend_from_slice(&((units >> 32) as u32).to_le_bytes());
    body.extend_from_slice(&(units as u32).to_le_bytes());
    body.extend_from_slice(&(record.data.len() as u32).to_le_bytes());
    body.extend_from_slice(&record.orig_len.to_le_bytes());
    body.extend_from_slice(record.data);
    body.resize(20 + pad4(record.data.len()), 0);
    for text in texts {
        push_option(&mut body, OPT_COMMENT, text.as_bytes(), false)?;
    }
    if !texts.is_empty() {
        body.extend_from_slice(&[0; 4]);
    }
    Ok(block(EPB, &body, false))
}

/// A packet block (enhanced, or the obsolete kind, which shares its
/// layout after the interface id) with comments added after its existing
/// options; `None` when its options do not parse (copied as it is).
fn with_comments(bytes: &[u8], be: bool, texts: &[String]) -> Result<Option<Vec<u8>>, Failure> {
    // type, length, 20 fixed bytes, data, options, length.
    let Some(caplen) = bytes.get(20..24).map(|b| read_u32(b, be) as usize) else {
        return Ok(None);
    };
    let options_start = 28 + pad4(caplen);
    let options_end = bytes.len() - 4;
    let Some(area) = bytes.get(options_start..options_end) else {
        return Ok(None);
    };
    let Ok(existing) = parse_options(area, be) else {
        return Ok(None);
    };
    // Where the list ends: at its end-of-options marker, or the block's end.
    let used: usize = existing.iter().map(|(_, v)| 4 + pad4(v.len())).sum();
    let insert = options_start + used;
    let marked = area.len() >= used + 4;
    let mut out = Vec::with_capacity(bytes.len() + 128 * texts.len() + 4);
    out.extend_from_slice(&bytes[..insert]);
    for text in texts {
        push_option(&mut out, OPT_COMMENT, text.as_bytes(), be)?;
    }
    if marked {
        out.extend_from_slice(&bytes[insert..options_end]);
    } else {
        out.extend_from_slice(&[0; 4]);
    }
    let total = (out.len() + 4) as u32;
    put_u32(&mut out[4..8], total, be);
    let mut tail = [0u8; 4];
    put_u32(&mut tail, total, be);
    out.extend_from_slice(&tail);
    Ok(Some(out))
}

/// A section header with its section length set to "not given": the
/// comments make the section longer than it says.
fn unsized_section(bytes: &[u8], _be: bool) -> Vec<u8> {
    let mut out = bytes.to_vec();
    // type, length, byte-order magic, version: the length is at 16..24,
    // and all ones reads the same in either byte order.
    if let Some(length) = out.get_mut(16..24) {
        length.fill(0xff);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Timestamp;

    fn read_all(file: &[u8]) -> Vec<(u64, Timestamp, Vec<u8>, u32)> {
        let mut r = CaptureReader::new(file).unwrap();
        let mut out = Vec::new();
        while let Some(rec) = r.next_record().unwrap() {
            out.push((rec.number, rec.ts, rec.data.to_vec(), rec.orig_len));
        }
        out
    }

    fn comments(on: &[(u64, &str)]) -> Comments {
        let mut c = Comments {
            notes: Vec::new(),
            comments: Vec::new(),
            framings: HashMap::new(),
        };
        for (i, &(record, _)) in on.iter().enumerate() {
            c.notes.push(Note {
                proto: Proto::Tcp,
                stream: 0,
                dir: Dir::Client,
                index: i as u64,
                len: 5,
                status: Status::Split,
                coalesced: false,
                segments: 2,
                first: record,
                last: record + 1,
                count: 2,
                missing: None,
                error: None,
            });
            c.comments.push((record, i as u32));
        }
        c
    }

    #[test]
    fn an_existing_comment_stays_and_the_new_one_follows_it() {
        // An EPB with 3 bytes of data and a comment "hi" ending in
        // opt_endofopt, little endian.
        let mut body = vec![0u8; 20];
        body[12..16].copy_from_slice(&3u32.to_le_bytes());
        body[16..20].copy_from_slice(&3u32.to_le_bytes());
        body.extend_from_slice(b"abc\0");
        let mut opts = Vec::new();
        push_option(&mut opts, 1, b"hi", false).ok().unwrap();
        opts.extend_from_slice(&[0; 4]);
        body.extend_from_slice(&opts);
        let epb = block(EPB, &body, false);
        let out = with_comments(&epb, false, &["new".to_string()])
            .ok()
            .unwrap()
            .unwrap();
        let area = &out[28 + 4..out.len() - 4];
        let parsed = parse_options(area, false).unwrap();
        assert_eq!(parsed, vec![(1, &b"hi"[..]), (1, &b"new"[..])]);
        assert_eq!(&area[area.len() - 4..], &[0; 4]);
        assert_eq!(read_u32(&out[4..8], false) as usize, out.len());
        assert_eq!(&out[8..28 + 4], &epb[8..28 + 4]);
    }

    #[test]
    fn a_block_without_options_gets_the_comment_and_an_end_marker() {
        let mut body = vec![0u8; 20];
        body[12..16].copy_from_slice(&5u32.to_be_bytes());
        body[16..20].copy_from_slice(&9u32.to_be_bytes());
        body.extend_from_slice(b"hello\0\0\0");
        let epb = block(EPB, &body, true);
        let out = with_comments(&epb, true, &["x".to_string()])
            .ok()
            .unwrap()
            .unwrap();
        let area = &out[28 + 8..out.len() - 4];
        assert_eq!(parse_options(area, true).unwrap(), vec![(1, &b"x"[..])]);
        assert_eq!(area.len(), 8 + 4);
        assert_eq!(read_u32(&out[out.len() - 4..], true) as usize, out.len());
    }

    #[test]
    fn a_pcap_file_becomes_pcapng_with_the_same_records() {
        // Two records, microsecond timestamps, snaplen 100, Ethernet.
        let mut f = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        f.extend_from_slice(&[0; 8]);
        f.extend_from_slice(&100u32.to_le_bytes());
        f.extend_from_slice(&1u32.to_le_bytes());
        for (i, data) in [&b"abcdef"[..], &b"xyz"[..]].iter().enumerate() {
            f.extend_from_slice(&(1_700_000_000 + i as u32).to_le_bytes());
            f.extend_from_slice(&999_999u32.to_le_bytes());
            f.extend_from_slice(&(data.len() as u32).to_le_bytes());
            f.extend_from_slice(&1500u32.to_le_bytes());
            f.extend_from_slice(data);
        }
        let mut reader = CaptureReader::new(&f[..]).unwrap();
        let mut out = Vec::new();
        let c = comments(&[(2, "x")]);
        let (written, damage) = copy(&mut reader, &c, &mut out).ok().unwrap();
        assert!(damage.is_none());
        assert_eq!(written.records, 2);
        assert_eq!((written.commented_records, written.comments), (1, 1));
        assert_eq!(read_all(&out), read_all(&f));
        let mut r = CaptureReader::new(&out[..]).unwrap();
        assert!(r.next_record().unwrap().is_some());
        assert_eq!(r.link_types(), vec![crate::capture::LinkType::ETHERNET]);
    }

    #[test]
    fn comments_name_the_message_and_its_records() {
        let c = comments(&[(40, "")]);
        let text = c.text(&c.notes[0]);
        assert_eq!(
            text,
            "framescope: stream 0 client message #0 split over records 40-41 (, 5 bytes)"
        );
        assert_eq!(c.on(40, 0).0, vec![text]);
        assert!(c.on(39, 0).0.is_empty());
        assert_eq!(c.on(41, 1), (Vec::new(), 1));
    }

    #[test]
    fn a_packet_gets_at_most_its_share_of_comments() {
        let on: Vec<(u64, &str)> = (0..MAX_PER_RECORD + 5).map(|_| (7, "")).collect();
        let c = comments(&on);
        let (texts, next) = c.on(7, 0);
        assert_eq!(next, MAX_PER_RECORD + 5);
        assert_eq!(texts.len(), MAX_PER_RECORD + 1);
        assert_eq!(
            texts[MAX_PER_RECORD],
            format!("framescope: 5 more messages in this packet (at most {MAX_PER_RECORD} comments a packet)")
        );
    }
}
