//! Message rows kept to the end of a capture, packed.
//!
//! A [`Collector`](super::Collector) keeps the rows its report lists (the
//! first flagged messages of each direction, or every message with
//! `--messages`) until the capture ends, when they are sorted and written.
//! As a [`MessageRow`] a row takes 416 bytes, most of them room for values
//! it does not have (16 record numbers, a TLS span, a label). [`Rows`]
//! keeps each row as a short encoding instead, 33 to 50 bytes on the
//! bench captures (41 to 58 with its place in the list of starts), and
//! gives back a [`MessageRow`] equal to the one put in when asked for
//! one.
//!
//! # Encoding
//! Each row is a run of bytes in one buffer; its place is in a list of
//! starts, which sorting and filtering reorder without moving the bytes.
//! Numbers are LEB128 varints; signed differences are zigzag-encoded, and
//! taken wrapping, so every value comes back as it was.
//!
//! ```text
//!  stream  flags  index  offset  len  first_record  last_record-first
//!  first_ts  last_ts-first_ts  segments  [label] [missing] [error]
//!  [flagged_index] [tls]  records: count, each minus the one before
//!  from: 4 address bytes and the port (IPv4), or 16, the port, flow
//!  label and scope (IPv6)
//! ```
//!
//! `flags` is a varint of bits saying which of the bracketed
//! values follow, with the protocol, the direction, the status and
//! `coalesced`. The stream, the flags and the index come first: a sort
//! reads only them ([`Head`]). TLS spans, rare and of any length, are kept
//! as they are in a list of their own, the row holding an index into it.
//!
//! Bounds: the collector bounds the rows ([`super::Collector::new`]'s
//! `max_messages`); a row's bytes are bounded by its message's (a label of
//! at most [`Label::CAPACITY`] bytes, [`crate::analysis::MAX_RECORDS`]
//! records, the decoder's error text).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use serde::Serialize;

use super::MessageRow;
use crate::analysis::tls::TlsSpan;
use crate::analysis::{Message, Records, Status};
use crate::capture::Timestamp;
use crate::decode::Label;
use crate::flow::{Dir, Proto, StreamInfo};
use crate::varint::{put, put_diff, unzigzag, zigzag, Reader};

/// The bits of a row's flags.
struct Flag;

impl Flag {
    const UDP: u64 = 1;
    const SERVER: u64 = 1 << 1;
    const COALESCED: u64 = 1 << 2;
    /// Three bits of [`Status`] from here.
    const STATUS_SHIFT: u32 = 3;
    const LABEL: u64 = 1 << 6;
    const MISSING: u64 = 1 << 7;
    const ERROR: u64 = 1 << 8;
    const FLAGGED_INDEX: u64 = 1 << 9;
    const TLS: u64 = 1 << 10;
    const V6: u64 = 1 << 11;
}

const STATUSES: [Status; 5] = [
    Status::Ok,
    Status::Split,
    Status::Gap,
    Status::Truncated,
    Status::Malformed,
];

/// What a sort orders rows by: the first values of a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// Stream number.
    pub stream: u64,
    /// `tcp` or `udp`.
    pub proto: Proto,
    /// `client` or `server`.
    pub dir: Dir,
    /// The message's index within its direction.
    pub index: u64,
}

/// Message rows, packed (the module documentation says how), in the order
/// they were pushed until sorted.
#[derive(Clone, Debug, Default)]
pub struct Rows {
    bytes: Vec<u8>,
    starts: Vec<usize>,
    tls: Vec<TlsSpan>,
}

impl Rows {
    /// No rows.
    pub fn new() -> Self {
        Rows::default()
    }

    /// Rows kept.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// Bytes the rows take in memory (their encodings, their places and
    /// their TLS spans' lists, not the spare room of those lists).
    pub fn packed_bytes(&self) -> usize {
        self.bytes.len()
            + self.starts.len() * std::mem::size_of::<usize>()
            + self.tls.len() * std::mem::size_of::<TlsSpan>()
    }

    /// Adds the row of `message`, from direction `dir` of `stream` (the
    /// [`MessageRow::new`] of them).
    pub fn push(&mut self, stream: &StreamInfo, dir: Dir, message: &Message) {
        let from = match dir {
            Dir::Client => stream.client,
            Dir::Server => stream.server,
        };
        self.push_parts(stream.number, stream.proto, dir, message, from);
    }

    /// Adds `row`.
    pub fn push_row(&mut self, row: &MessageRow) {
        self.push_parts(row.stream, row.proto, row.dir, &row.message, row.from);
    }

    fn push_parts(&mut self, stream: u64, proto: Proto, dir: Dir, m: &Message, from: SocketAddr) {
        self.starts.push(self.bytes.len());
        let b = &mut self.bytes;
        let mut flags = (m.status as u64) << Flag::STATUS_SHIFT;
        for (on, bit) in [
            (proto == Proto::Udp, Flag::UDP),
            (dir == Dir::Server, Flag::SERVER),
            (m.coalesced, Flag::COALESCED),
            (m.label.is_some(), Flag::LABEL),
            (m.missing.is_some(), Flag::MISSING),
            (m.error.is_some(), Flag::ERROR),
            (m.flagged_index.is_some(), Flag::FLAGGED_INDEX),
            (m.tls.is_some(), Flag::TLS),
            (from.is_ipv6(), Flag::V6),
        ] {
            if on {
                flags |= bit;
            }
        }
        put(b, stream);
        put(b, flags);
        put(b, m.index);
        put(b, m.offset);
        put(b, m.len);
        put(b, m.first_record);
        put_diff(b, m.last_record, m.first_record);
        put(b, zigzag(m.first_ts.0));
        put(b, zigzag(m.last_ts.0.wrapping_sub(m.first_ts.0)));
        put(b, m.segments);
        if let Some(label) = &m.label {
            let text = label.as_str().as_bytes();
            b.push(text.len() as u8);
            b.extend_from_slice(text);
        }
        if let Some(missing) = m.missing {
            put(b, missing);
        }
        if let Some(error) = &m.error {
            put(b, error.len() as u64);
            b.extend_from_slice(error.as_bytes());
        }
        if let Some(n) = m.flagged_index {
            put(b, n);
        }
        if let Some(tls) = &m.tls {
            put(b, self.tls.len() as u64);
            self.tls.push(tls.clone());
        }
        let records = m.records.as_slice();
        b.push(records.len() as u8);
        let mut last = m.first_record;
        for &r in records {
            put_diff(b, r, last);
            last = r;
        }
        match from {
            SocketAddr::V4(a) => {
                b.extend_from_slice(&a.ip().octets());
                b.extend_from_slice(&a.port().to_le_bytes());
            }
            SocketAddr::V6(a) => {
                b.extend_from_slice(&a.ip().octets());
                b.extend_from_slice(&a.port().to_le_bytes());
                put(b, u64::from(a.flowinfo()));
                put(b, u64::from(a.scope_id()));
            }
        }
    }

    /// Row `i`'s [`Head`].
    ///
    /// # Panics
    /// When `i` is not below [`Rows::len`].
    pub fn head(&self, i: usize) -> Head {
        let mut r = Reader::at(&self.bytes, self.starts[i]);
        let stream = r.num();
        let flags = r.num();
        Head {
            stream,
            proto: proto(flags),
            dir: dir(flags),
            index: r.num(),
        }
    }

    /// Row `i`, as it was pushed.
    ///
    /// # Panics
    /// When `i` is not below [`Rows::len`].
    pub fn get(&self, i: usize) -> MessageRow {
        let mut r = Reader::at(&self.bytes, self.starts[i]);
        let stream = r.num();
        let flags = r.num();
        let mut m = Message {
            index: r.num(),
            offset: r.num(),
            len: r.num(),
            first_record: r.num(),
            ..Message::default()
        };
        m.last_record = r.diff(m.first_record);
        m.first_ts = Timestamp(unzigzag(r.num()));
        m.last_ts = Timestamp(m.first_ts.0.wrapping_add(unzigzag(r.num())));
        m.segments = r.num();
        m.coalesced = flags & Flag::COALESCED != 0;
        m.status = STATUSES[(flags >> Flag::STATUS_SHIFT) as usize & 7];
        if flags & Flag::LABEL != 0 {
            let n = usize::from(r.byte());
            m.label = Some(Label::new(r.text(n)));
        }
        if flags & Flag::MISSING != 0 {
            m.missing = Some(r.num());
        }
        if flags & Flag::ERROR != 0 {
            let n = r.num() as usize;
            m.error = Some(r.text(n).to_owned());
        }
        if flags & Flag::FLAGGED_INDEX != 0 {
            m.flagged_index = Some(r.num());
        }
        if flags & Flag::TLS != 0 {
            m.tls = Some(self.tls[r.num() as usize].clone());
        }
        let mut records = Records::default();
        let mut last = m.first_record;
        for _ in 0..r.byte() {
            last = r.diff(last);
            records.push(last);
        }
        m.records = records;
        let from = if flags & Flag::V6 != 0 {
            let ip = Ipv6Addr::from(r.array::<16>());
            let port = u16::from_le_bytes(r.array());
            let flow = r.num() as u32;
            SocketAddr::V6(SocketAddrV6::new(ip, port, flow, r.num() as u32))
        } else {
            let ip = Ipv4Addr::from(r.array::<4>());
            SocketAddr::V4(SocketAddrV4::new(ip, u16::from_le_bytes(r.array())))
        };
        MessageRow {
            stream,
            proto: proto(flags),
            dir: dir(flags),
            message: m,
            from,
        }
    }

    /// The rows in their order, unpacked.
    pub fn to_vec(&self) -> Vec<MessageRow> {
        self.iter().collect()
    }

    /// The rows in their order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = MessageRow> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Orders the rows by `key` of their heads, rows with equal keys in
    /// the order they had. Only the rows' places move.
    pub fn sort_by_key<K: Ord>(&mut self, key: impl Fn(&Head) -> K) {
        let mut order: Vec<(K, usize)> = (0..self.len()).map(|i| (key(&self.head(i)), i)).collect();
        // Unstable on (key, place) is stable on the key.
        order.sort_unstable();
        self.starts = order.into_iter().map(|(_, i)| self.starts[i]).collect();
    }

    /// Keeps the rows whose heads `keep` says yes to, in their order. The
    /// bytes of the others stay in the buffer until the rows are dropped.
    pub fn retain(&mut self, keep: impl Fn(&Head) -> bool) {
        let kept = (0..self.len())
            .filter(|&i| keep(&self.head(i)))
            .map(|i| self.starts[i])
            .collect();
        self.starts = kept;
    }

    /// Adds `other`'s rows after these and keeps the first `max` rows;
    /// returns how many rows found no room.
    pub fn append(&mut self, mut other: Rows, max: usize) -> u64 {
        if self.is_empty() {
            // Moved, not copied.
            std::mem::swap(self, &mut other);
        }
        let over = self.len().saturating_sub(max);
        self.starts.truncate(max);
        let taken = other.len().min(max - self.len());
        if other.tls.is_empty() {
            // Rows without TLS spans are their bytes alone.
            let base = self.bytes.len();
            self.bytes.extend_from_slice(&other.bytes);
            self.starts
                .extend(other.starts[..taken].iter().map(|s| s + base));
        } else {
            for i in 0..taken {
                self.push_row(&other.get(i));
            }
        }
        (over + other.len() - taken) as u64
    }
}

impl Serialize for Rows {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

fn proto(flags: u64) -> Proto {
    if flags & Flag::UDP != 0 {
        Proto::Udp
    } else {
        Proto::Tcp
    }
}

fn dir(flags: u64) -> Dir {
    if flags & Flag::SERVER != 0 {
        Dir::Server
    } else {
        Dir::Client
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::tls::TlsRecord;

    /// A small deterministic generator (xorshift), so that failures repeat.
    struct Gen(u64);

    impl Gen {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        /// A number of any size, edge values often.
        fn num(&mut self) -> u64 {
            match self.next() % 6 {
                0 => 0,
                1 => u64::MAX - self.next() % 3,
                2 => self.next() % 200,
                3 => self.next() >> (self.next() % 64),
                4 => 1 << (self.next() % 64),
                _ => self.next(),
            }
        }

        fn chance(&mut self) -> bool {
            self.next().is_multiple_of(2)
        }
    }

    fn message(g: &mut Gen) -> (u64, Proto, Dir, Message, SocketAddr) {
        let mut records = Records::default();
        for _ in 0..g.next() % 20 {
            records.push(g.num());
        }
        let tls = g.chance().then(|| TlsSpan {
            records: (0..g.next() % 3)
                .map(|i| TlsRecord {
                    index: i,
                    offset: g.num(),
                    len: g.num(),
                    plain_offset: g.num(),
                    plain_len: g.num(),
                    frame: g.num(),
                    frames: Records::default(),
                    segments: g.next() as u32,
                    split: g.chance(),
                    coalesced: g.chance(),
                })
                .collect(),
            record_count: g.num(),
            split_records: g.num(),
            coalesced_records: g.num(),
        });
        let labels = ["", "SET", "a label of thirty-one bytes....", "é€x"];
        let message = Message {
            index: g.num(),
            offset: g.num(),
            len: g.num(),
            first_record: g.num(),
            last_record: g.num(),
            first_ts: Timestamp(g.num() as i64),
            last_ts: Timestamp(g.num() as i64),
            segments: g.num(),
            coalesced: g.chance(),
            status: STATUSES[g.next() as usize % STATUSES.len()],
            label: g
                .chance()
                .then(|| Label::new(labels[g.next() as usize % labels.len()])),
            missing: g.chance().then(|| g.num()),
            error: g
                .chance()
                .then(|| "bad length: ünïcode".repeat(g.next() as usize % 40)),
            flagged_index: g.chance().then(|| g.num()),
            records,
            tls,
        };
        let from = if g.chance() {
            SocketAddr::from(([127, 0, g.next() as u8, 1], g.next() as u16))
        } else {
            SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(u128::from(g.next()) << 64 | u128::from(g.next())),
                g.next() as u16,
                g.next() as u32,
                g.next() as u32,
            ))
        };
        let proto = if g.chance() { Proto::Tcp } else { Proto::Udp };
        let dir = if g.chance() { Dir::Client } else { Dir::Server };
        (g.num(), proto, dir, message, from)
    }

    /// Everything a row says: its JSON and the unserialized index.
    fn said(row: &MessageRow) -> (String, Option<u64>, SocketAddr) {
        let json = serde_json::to_string(row).expect("serialized");
        (json, row.message.flagged_index, row.from)
    }

    fn some_rows(g: &mut Gen, n: usize) -> (Rows, Vec<MessageRow>) {
        let mut rows = Rows::new();
        let mut expected = Vec::new();
        for _ in 0..n {
            let (stream, proto, dir, message, from) = message(g);
            let row = MessageRow {
                stream,
                proto,
                dir,
                message,
                from,
            };
            rows.push_row(&row);
            expected.push(row);
        }
        (rows, expected)
    }

    #[test]
    fn rows_come_back_as_they_were_pushed() {
        let mut g = Gen(0x9e37_79b9_7f4a_7c15);
        let (rows, expected) = some_rows(&mut g, 3000);
        assert_eq!(rows.len(), expected.len());
        for (i, want) in expected.iter().enumerate() {
            let got = rows.get(i);
            assert_eq!(said(&got), said(want), "row {i}");
            assert_eq!(
                rows.head(i),
                Head {
                    stream: want.stream,
                    proto: want.proto,
                    dir: want.dir,
                    index: want.message.index
                }
            );
        }
        let serialized = serde_json::to_string(&rows).expect("rows");
        assert_eq!(serialized, serde_json::to_string(&expected).expect("vec"));
    }

    #[test]
    fn a_row_pushed_from_its_stream_is_its_message_row() {
        let mut g = Gen(7);
        let (_, _, _, message, _) = message(&mut g);
        let info = StreamInfo {
            number: 41,
            proto: Proto::Tcp,
            client: "127.0.0.1:50000".parse().expect("addr"),
            server: "[::1]:6379".parse().expect("addr"),
            first_record: 3,
            first_ts: Timestamp(5),
            tunnel: None,
        };
        let mut rows = Rows::new();
        for dir in [Dir::Client, Dir::Server] {
            rows.push(&info, dir, &message);
        }
        for (i, dir) in [Dir::Client, Dir::Server].into_iter().enumerate() {
            assert_eq!(
                said(&rows.get(i)),
                said(&MessageRow::new(&info, dir, &message))
            );
        }
    }

    #[test]
    fn sorting_and_filtering_keep_rows_whole_and_ties_in_order() {
        let mut g = Gen(12345);
        let (mut rows, mut expected) = some_rows(&mut g, 500);
        let key = |h: &Head| h.stream % 7;
        rows.sort_by_key(key);
        expected.sort_by_key(|r| r.stream % 7);
        for (i, want) in expected.iter().enumerate() {
            assert_eq!(said(&rows.get(i)), said(want), "row {i}");
        }
        rows.retain(|h| h.dir == Dir::Server);
        expected.retain(|r| r.dir == Dir::Server);
        assert_eq!(rows.len(), expected.len());
        for (i, want) in expected.iter().enumerate() {
            assert_eq!(said(&rows.get(i)), said(want), "row {i}");
        }
    }

    #[test]
    fn appended_rows_follow_within_the_bound() {
        let mut g = Gen(99);
        for (a, b, max) in [
            (40, 30, 1000),
            (40, 30, 55),
            (0, 30, 10),
            (30, 0, 10),
            (5, 80, 60),
        ] {
            let (mut rows, mut expected) = some_rows(&mut g, a);
            let (more, more_expected) = some_rows(&mut g, b);
            let left = rows.append(more, max);
            expected.extend(more_expected);
            let want = expected.len().min(max);
            assert_eq!(rows.len(), want, "{a} + {b} within {max}");
            assert_eq!(left as usize, a + b - want);
            for (i, want) in expected.iter().take(rows.len()).enumerate() {
                assert_eq!(said(&rows.get(i)), said(want), "row {i}");
            }
        }
    }

    /// The document's rows, written by hand, are the bytes serde_json's
    /// pretty printer writes for them two levels deep; JSON lines are
    /// `serde_json::to_string` of the tagged row.
    #[test]
    fn rows_written_by_hand_are_serde_jsons_bytes() {
        let mut g = Gen(0x51_7cc1_b727_220a);
        let (rows, expected) = some_rows(&mut g, 2000);
        let mut stamps = super::super::Stamps::default();
        for (i, want) in expected.iter().enumerate() {
            let mut ours = Vec::new();
            super::super::document_row(&mut ours, &mut stamps, &rows.get(i));
            let mut theirs = Vec::new();
            super::super::pretty::at_level(&mut theirs, 2, want).expect("serialized");
            assert!(
                ours == theirs,
                "row {i}:\n{}\n{}",
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&theirs)
            );
        }
    }
}
