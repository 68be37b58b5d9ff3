//! Pictures of the analysis: the message/segment timeline drawn for a
//! terminal ([`super::diagram`]) or as one self-contained HTML page
//! ([`super::html`]).
//!
//! This module owns [`Timeline`], a [`Report`] that keeps, per stream
//! direction, the segments (record, offset, length, time), the messages
//! the pictures draw, and optionally the direction's first bytes to label
//! the boxes. It keeps at most `max_per_dir` segments and messages of each
//! direction and [`MAX_TOTAL`] of each over all streams; the rest are
//! counted, and the pictures say "and K more". Bytes kept are bounded per
//! direction by the caller and by [`MAX_BYTES_TOTAL`] overall. It does not decide verdicts (that is
//! [`crate::analysis`]) and does not print.

use std::collections::HashMap;

use crate::analysis::{Message, Report, StreamResult};
use crate::capture::Timestamp;
use crate::flow::{Dir, Proto, StreamInfo};

/// Payload bytes kept over all streams, to label the boxes.
pub const MAX_BYTES_TOTAL: usize = 32 << 20;

/// Segments (and messages) kept over all streams.
pub const MAX_TOTAL: usize = 200_000;

/// One segment of a direction: the bytes one capture record brought.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Capture record number.
    pub record: u64,
    /// Stream offset of its first new byte.
    pub offset: u64,
    /// New bytes it brought.
    pub len: u64,
    /// When it was captured.
    pub ts: Timestamp,
}

/// What is kept of one direction.
#[derive(Clone, Debug, Default)]
pub struct DirTimeline {
    /// The first segments, in stream order.
    pub segments: Vec<Segment>,
    /// The first messages, in stream order.
    pub messages: Vec<Message>,
    /// Segments not kept.
    pub more_segments: u64,
    /// Messages not kept.
    pub more_messages: u64,
    /// The direction's first bytes (up to the first gap), for labels.
    pub bytes: Vec<u8>,
    /// The record of the last segment not kept, so that its later chunks
    /// are not counted twice.
    dropped_record: Option<u64>,
}

/// What is kept of one stream.
#[derive(Clone, Debug)]
pub struct StreamTimeline {
    /// Who and which.
    pub info: StreamInfo,
    /// Client, server.
    pub dirs: [DirTimeline; 2],
}

/// A [`Report`] keeping what the pictures draw. See the module docs.
pub struct Timeline {
    streams: Vec<StreamTimeline>,
    index: HashMap<(Proto, u64), usize>,
    max_per_dir: usize,
    bytes_per_dir: usize,
    kept_segments: usize,
    kept_messages: usize,
    kept_bytes: usize,
}

impl Timeline {
    /// Keeps up to `max_per_dir` segments and messages and the first
    /// `bytes_per_dir` bytes of each direction.
    pub fn new(max_per_dir: usize, bytes_per_dir: usize) -> Self {
        Timeline {
            streams: Vec::new(),
            index: HashMap::new(),
            max_per_dir,
            bytes_per_dir,
            kept_segments: 0,
            kept_messages: 0,
            kept_bytes: 0,
        }
    }

    fn dir(&mut self, info: &StreamInfo, dir: Dir) -> &mut DirTimeline {
        let n = self.streams.len();
        let i = *self.index.entry((info.proto, info.number)).or_insert(n);
        if i == n {
            self.streams.push(StreamTimeline {
                info: *info,
                dirs: Default::default(),
            });
        }
        &mut self.streams[i].dirs[dir.index()]
    }

    /// The streams, sorted by protocol and number.
    pub fn into_streams(mut self) -> Vec<StreamTimeline> {
        self.streams.sort_by_key(|s| (s.info.proto, s.info.number));
        self.streams
    }
}

impl Report for Timeline {
    fn message(&mut self, stream: &StreamInfo, dir: Dir, message: &Message) {
        let full = self.kept_messages >= MAX_TOTAL;
        let max = self.max_per_dir;
        let d = self.dir(stream, dir);
        if full || d.messages.len() >= max {
            d.more_messages += 1;
            return;
        }
        d.messages.push(message.clone());
        self.kept_messages += 1;
    }

    fn stream(&mut self, _result: StreamResult) {}

    fn segment(
        &mut self,
        stream: &StreamInfo,
        dir: Dir,
        record: u64,
        offset: u64,
        bytes: &[u8],
        ts: Timestamp,
    ) {
        let full = self.kept_segments >= MAX_TOTAL;
        let max = self.max_per_dir;
        let room = self
            .bytes_per_dir
            .min(MAX_BYTES_TOTAL.saturating_sub(self.kept_bytes));
        let d = self.dir(stream, dir);
        let mut kept = 0;
        if d.bytes.len() as u64 == offset && d.bytes.len() < room {
            kept = bytes.len().min(room - d.bytes.len());
            d.bytes.extend_from_slice(&bytes[..kept]);
        }
        let merged = match d.segments.last_mut() {
            Some(last) if last.record == record && last.offset + last.len == offset => {
                last.len += bytes.len() as u64;
                true
            }
            _ => false,
        };
        if merged {
        } else if full || d.segments.len() >= max {
            if d.dropped_record != Some(record) {
                d.dropped_record = Some(record);
                d.more_segments += 1;
            }
        } else {
            d.segments.push(Segment {
                record,
                offset,
                len: bytes.len() as u64,
                ts,
            });
            self.kept_segments += 1;
        }
        self.kept_bytes += kept;
    }
}

/// The bytes `[start, end)` of a direction as far as its kept first
/// `bytes` hold them, printable ASCII kept and other bytes shown as `.`,
/// at most `max` characters.
pub fn text(bytes: &[u8], start: u64, end: u64, max: usize) -> String {
    let len = bytes.len() as u64;
    let (a, z) = (start.min(len) as usize, end.min(len) as usize);
    bytes[a..z]
        .iter()
        .take(max)
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '.'
            }
        })
        .collect()
}

/// The terminal's width in columns: the `COLUMNS` variable, else the
/// terminal's size, else 100.
pub fn terminal_width() -> usize {
    if let Some(n) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
    {
        return n.max(20);
    }
    terminal_size::terminal_size().map_or(100, |(w, _)| usize::from(w.0).max(20))
}

/// Whether to colour output: standard output is a terminal and `NO_COLOR`
/// is unset.
pub fn use_color() -> bool {
    use std::io::IsTerminal;
    std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> StreamInfo {
        StreamInfo {
            proto: Proto::Tcp,
            number: 0,
            client: "10.0.0.1:1".parse().expect("addr"),
            server: "10.0.0.2:2".parse().expect("addr"),
            first_record: 1,
            first_ts: Timestamp(0),
            tunnel: None,
        }
    }

    #[test]
    fn text_shows_kept_bytes_only() {
        assert_eq!(text(b"hellowor\nld", 3, 9, 80), "lowor.");
        assert_eq!(text(b"hello", 0, 30, 80), "hello");
        assert_eq!(text(b"hello", 0, 30, 4), "hell");
        assert_eq!(text(b"hello", 7, 9, 4), "");
    }

    #[test]
    fn segments_merge_per_record_and_everything_is_bounded() {
        let mut t = Timeline::new(2, 8);
        let i = info();
        let ts = Timestamp(0);
        t.segment(&i, Dir::Client, 4, 0, b"hel", ts);
        t.segment(&i, Dir::Client, 4, 3, b"lo", ts);
        t.segment(&i, Dir::Client, 6, 5, b"world", ts);
        t.segment(&i, Dir::Client, 8, 10, b"musibii", ts);
        t.segment(&i, Dir::Client, 8, 17, b"!", ts);
        t.segment(&i, Dir::Client, 10, 18, b"1", ts);
        let s = t.into_streams();
        let d = &s[0].dirs[0];
        let got: Vec<(u64, u64, u64)> = d
            .segments
            .iter()
            .map(|s| (s.record, s.offset, s.len))
            .collect();
        assert_eq!(got, [(4, 0, 5), (6, 5, 5)]);
        assert_eq!(d.more_segments, 2);
        assert_eq!(d.bytes, b"hellowor");
    }
}
