//! The TLS record layer of a decrypted stream: which records carried each
//! message, and which segments carried each record.
//!
//! ```text
//! segments:   |#7               |#8           |#9                  |
//! records:    |hdr| record 3  |hdr| record 4     |hdr| record 5     |
//! plaintext:       |  A  | B  |    |      C      |    |   C (end)   |
//!                  A, B coalesced in record 3; C split over records 4
//!                  and 5; record 4 split over segments 7 and 8;
//!                  segment 8 carries records 4 and 5 (coalesced)
//! ```
//!
//! When a TLS stream is decrypted ([`crate::tls::Decrypting`]), the
//! analysis frames its plaintext record by record: a message's `split` and
//! `coalesced` are then about TLS records (what one `SSL_read()` returns),
//! and each message lists its records ([`TlsSpan`]), each record the
//! segments that carried it and whether it was split over segments or
//! shared a segment with another record. This module owns that bookkeeping;
//! the message framing stays in [`super`].
//!
//! Bounds: a direction queues the records announced ahead of their bytes
//! (while the stream's framing is detected) up to [`MAX_QUEUED`]; past it
//! the map is marked incomplete. A message lists its first
//! [`super::MAX_RECORDS`] records, each its first [`super::MAX_RECORDS`]
//! segments; the counts go on.

use std::collections::VecDeque;

use super::{Message, Records, MAX_RECORDS};
use crate::tls::Record;

/// Records a direction holds ahead of their plaintext.
pub const MAX_QUEUED: usize = 4096;

/// One TLS record, as a message lists it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TlsRecord {
    /// Its number in its direction, from 0 (handshake records counted).
    pub index: u64,
    /// Stream offset of its header in the TCP stream.
    pub offset: u64,
    /// Its length on the wire, header excluded (`tls.record.length`).
    pub len: u64,
    /// Offset of its plaintext in the direction's decrypted data.
    pub plain_offset: u64,
    /// Bytes of plaintext it carried.
    pub plain_len: u64,
    /// The capture record that carried its last byte (where Wireshark
    /// shows it).
    pub frame: u64,
    /// The capture records (segments) that carried it, the first
    /// [`MAX_RECORDS`].
    #[serde(serialize_with = "super::records_list")]
    pub frames: Records,
    /// How many segments carried it.
    pub segments: u32,
    /// Whether its bytes came in two or more segments.
    pub split: bool,
    /// Whether a segment that carried it carried another record too.
    pub coalesced: bool,
}

impl TlsRecord {
    fn new(r: &Record, plain_offset: u64, plain_len: u64) -> Self {
        TlsRecord {
            index: r.index,
            offset: r.offset,
            len: r.len.saturating_sub(5),
            plain_offset,
            plain_len,
            frame: r.last_capture,
            frames: r.frames,
            segments: r.segments,
            split: r.segments > 1,
            coalesced: r.coalesced,
        }
    }

    fn plain_end(&self) -> u64 {
        self.plain_offset.saturating_add(self.plain_len)
    }
}

/// How a decrypted message went over TLS records.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TlsSpan {
    /// The records that carried it, the first [`MAX_RECORDS`].
    pub records: Vec<TlsRecord>,
    /// How many records carried it.
    pub record_count: u64,
    /// Of those, the records split over segments.
    pub split_records: u64,
    /// Of those, the records that shared a segment with another record.
    pub coalesced_records: u64,
}

impl TlsSpan {
    /// A short description: the records and their flags.
    pub fn text(&self) -> String {
        let (first, last) = match (self.records.first(), self.records.last()) {
            (Some(f), Some(l)) => (f.index, l.index),
            _ => return String::new(),
        };
        let mut s = if self.record_count == 1 {
            format!("TLS record {first}")
        } else if self.record_count as usize == self.records.len() {
            format!("TLS records {first}-{last} ({})", self.record_count)
        } else {
            format!("TLS records {first}-.. ({})", self.record_count)
        };
        if self.split_records > 0 {
            s.push_str(&format!(", {} split over segments", self.split_records));
        }
        if self.coalesced_records > 0 {
            s.push_str(&format!(", {} sharing a segment", self.coalesced_records));
        }
        s
    }
}

/// Totals of a direction's TLS record layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TlsSummary {
    /// Application-data records that carried plaintext.
    pub records: u64,
    /// Those whose bytes came in two or more segments.
    pub split_records: u64,
    /// Those that shared a segment with another record.
    pub coalesced_records: u64,
    /// Segments that carried bytes of two or more of them.
    pub coalesced_segments: u64,
    /// Whether the record map stopped short ([`MAX_QUEUED`] reached).
    pub incomplete: bool,
}

/// One direction's record layer. See the module documentation.
#[derive(Default)]
pub(crate) struct TlsDir {
    /// Records announced whose plaintext is not all framed yet.
    queue: VecDeque<TlsRecord>,
    pub(crate) summary: TlsSummary,
    /// The last frame of the previous record, and whether it was counted
    /// as coalesced.
    prev_frame: Option<u64>,
    counted: Option<u64>,
    /// The message in progress: its records, and the segments that
    /// carried them.
    span: TlsSpan,
    frames: Records,
    frame_count: u64,
    first_frame: u64,
    last_frame: Option<u64>,
}

impl TlsDir {
    /// A record and where its plaintext lies.
    pub(crate) fn record(&mut self, r: &Record, plain_offset: u64, plain_len: u64) {
        let rec = TlsRecord::new(r, plain_offset, plain_len);
        let s = &mut self.summary;
        s.records += 1;
        s.split_records += u64::from(rec.split);
        s.coalesced_records += u64::from(rec.coalesced);
        if self.prev_frame == Some(r.first_capture) && self.counted != Some(r.first_capture) {
            s.coalesced_segments += 1;
            self.counted = Some(r.first_capture);
        }
        self.prev_frame = Some(r.last_capture);
        if self.queue.len() >= MAX_QUEUED {
            s.incomplete = true;
            return;
        }
        self.queue.push_back(rec);
    }

    /// The unit (a record's number, plus one) of plaintext offset `pos`;
    /// records before it are dropped. An offset no record announced is
    /// unit 0.
    pub(crate) fn unit_at(&mut self, pos: u64) -> u64 {
        while self.queue.front().is_some_and(|r| r.plain_end() <= pos) {
            self.queue.pop_front();
        }
        match self.queue.front() {
            Some(r) if r.plain_offset <= pos => r.index.saturating_add(1),
            _ => {
                self.summary.incomplete = true;
                0
            }
        }
    }

    /// The plaintext offset and length of the current record.
    pub(crate) fn current(&self) -> Option<(u64, u64)> {
        self.queue.front().map(|r| (r.plain_offset, r.plain_len))
    }

    /// A message begins.
    pub(crate) fn start(&mut self) {
        self.span = TlsSpan::default();
        self.frames.clear();
        self.frame_count = 0;
        self.first_frame = 0;
        self.last_frame = None;
    }

    /// The message in progress has bytes in the current record (the one
    /// [`TlsDir::unit_at`] found).
    pub(crate) fn enter(&mut self) {
        let Some(rec) = self.queue.front() else {
            return;
        };
        let span = &mut self.span;
        span.record_count += 1;
        span.split_records += u64::from(rec.split);
        span.coalesced_records += u64::from(rec.coalesced);
        if span.records.len() < MAX_RECORDS {
            span.records.push(rec.clone());
        }
        for &f in rec.frames.as_slice() {
            if self.last_frame == Some(f) {
                continue;
            }
            if self.last_frame.is_none() {
                self.first_frame = f;
            }
            self.last_frame = Some(f);
            self.frames.push(f);
            self.frame_count += 1;
        }
        // Segments past those the record lists.
        let listed = rec.frames.as_slice().len() as u64;
        self.frame_count += u64::from(rec.segments).saturating_sub(listed);
        self.last_frame = Some(rec.frame);
    }

    /// The message in progress is reported: its frames are the segments
    /// that carried its records, and it lists them.
    pub(crate) fn finish(&mut self, m: &mut Message) {
        m.records = self.frames;
        m.segments = self.frame_count;
        m.first_record = self.first_frame;
        m.last_record = self.last_frame.unwrap_or(self.first_frame);
        m.tls = Some(std::mem::take(&mut self.span));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(index: u64, frames: &[u64]) -> Record {
        let mut list = Records::default();
        for &f in frames {
            list.push(f);
        }
        Record {
            index,
            offset: index * 100,
            len: 100,
            kind: 23,
            plain_kind: Some(23),
            protected: true,
            first_capture: frames[0],
            last_capture: frames[frames.len() - 1],
            segments: frames.len() as u32,
            frames: list,
            coalesced: false,
        }
    }

    #[test]
    fn records_queued_ahead_of_their_plaintext_are_bounded() {
        let mut t = TlsDir::default();
        for i in 0..MAX_QUEUED as u64 + 3 {
            t.record(&record(i, &[i + 1]), i, 1);
        }
        assert_eq!(t.queue.len(), MAX_QUEUED);
        assert!(t.summary.incomplete);
        assert_eq!(t.summary.records, MAX_QUEUED as u64 + 3);
        // Past the queue, an offset has no record.
        assert_eq!(t.unit_at(MAX_QUEUED as u64 + 1), 0);
    }

    #[test]
    fn a_message_over_records_lists_them_and_their_segments_once() {
        let mut t = TlsDir::default();
        // Record 4 in segments 7 and 8; record 5 in 8 (coalesced) and 9.
        t.record(&record(4, &[7, 8]), 0, 10);
        t.record(&record(5, &[8, 9]), 10, 10);
        assert_eq!(t.summary.coalesced_segments, 1);
        assert_eq!(t.summary.split_records, 2);
        t.start();
        assert_eq!(t.unit_at(0), 5);
        t.enter();
        assert_eq!(t.unit_at(10), 6);
        t.enter();
        let mut m = Message::default();
        t.finish(&mut m);
        assert_eq!(m.records.as_slice(), &[7, 8, 9]);
        assert_eq!((m.segments, m.first_record, m.last_record), (3, 7, 9));
        let span = m.tls.unwrap();
        assert_eq!(span.record_count, 2);
        assert_eq!(span.text(), "TLS records 4-5 (2), 2 split over segments");
    }
}
