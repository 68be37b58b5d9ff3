//! Pictures of the analysis: the message/segment timeline drawn for a
//! terminal ([`diagram`]) or as one self-contained HTML page ([`html`]).
//!
//! This module owns [`Timeline`], a [`Report`] that keeps, per stream
//! direction, the segments (record, offset, length, time and the first
//! [`PREVIEW`] bytes) and the messages the pictures draw. It keeps at most
//! `max_per_dir` segments and messages of each direction and
//! [`MAX_TOTAL`] of each over all streams; the rest are counted, and the
//! pictures say "and K more". It does not decide verdicts (that is
//! [`crate::analysis`]) and does not print.

pub mod diagram;
pub mod html;

use std::collections::HashMap;

use crate::analysis::{Message, Report, StreamResult};
use crate::capture::Timestamp;
use crate::flow::{Dir, Proto, StreamInfo};

/// Payload bytes kept per segment, to label the boxes.
pub const PREVIEW: usize = 32;

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
    /// Its first [`PREVIEW`] bytes.
    pub preview: Vec<u8>,
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
    kept_segments: usize,
    kept_messages: usize,
}

impl Timeline {
    /// Keeps up to `max_per_dir` segments and messages per direction.
    pub fn new(max_per_dir: usize) -> Self {
        Timeline {
            streams: Vec::new(),
            index: HashMap::new(),
            max_per_dir,
            kept_segments: 0,
            kept_messages: 0,
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
        let d = self.dir(stream, dir);
        if let Some(last) = d.segments.last_mut() {
            if last.record == record && last.offset + last.len == offset {
                last.len += bytes.len() as u64;
                let room = PREVIEW.saturating_sub(last.preview.len());
                last.preview
                    .extend_from_slice(&bytes[..room.min(bytes.len())]);
                return;
            }
        }
        if full || d.segments.len() >= max {
            if d.dropped_record != Some(record) {
                d.dropped_record = Some(record);
                d.more_segments += 1;
            }
            return;
        }
        d.segments.push(Segment {
            record,
            offset,
            len: bytes.len() as u64,
            ts,
            preview: bytes[..PREVIEW.min(bytes.len())].to_vec(),
        });
        self.kept_segments += 1;
    }
}

/// The bytes `[start, end)` as far as the segments' previews hold them,
/// printable ASCII kept and other bytes shown as `.`, at most `max` chars.
pub fn text(segments: &[Segment], start: u64, end: u64, max: usize) -> String {
    let mut out = String::new();
    let mut at = start;
    let first = segments.partition_point(|s| s.offset + s.len <= start);
    for s in segments.iter().skip(first) {
        if out.len() >= max || at >= end || s.offset > at {
            break;
        }
        let from = (at - s.offset) as usize;
        let Some(bytes) = s.preview.get(from..) else {
            break;
        };
        let take = bytes.len().min((end - at) as usize).min(max - out.len());
        out.extend(bytes[..take].iter().map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '.'
            }
        }));
        at += take as u64;
        if from + take < (s.len as usize).min(end.saturating_sub(s.offset) as usize) {
            break;
        }
    }
    out
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

    fn seg(record: u64, offset: u64, bytes: &[u8]) -> Segment {
        Segment {
            record,
            offset,
            len: bytes.len() as u64,
            ts: Timestamp(0),
            preview: bytes.to_vec(),
        }
    }

    #[test]
    fn text_spans_segments_and_stops_at_missing_bytes() {
        let s = [seg(1, 0, b"hello"), seg(2, 5, b"wor\nld"), seg(4, 20, b"x")];
        assert_eq!(text(&s, 3, 9, 80), "lowor.");
        assert_eq!(text(&s, 0, 30, 80), "hellowor.ld");
        assert_eq!(text(&s, 0, 30, 4), "hell");
        assert_eq!(text(&s, 20, 21, 4), "x");
    }
}
