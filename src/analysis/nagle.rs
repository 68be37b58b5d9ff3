//! Nagle / delayed-ACK stalls.
//!
//! With Nagle's algorithm on (no `TCP_NODELAY`), a sender holds a small
//! segment while earlier data is unacknowledged. If the receiver delays its
//! ACK (Linux: about 40 ms, up to 200 ms; other systems 200 ms), because it
//! is itself waiting for the rest of a message before it answers, both
//! sides wait: the classic write-write-read stall.
//!
//! ```text
//! client  write(header) ──seg #1──▶          server: reads header, waits for body
//! client  write(body)     (held: #1 unacked)
//!                          ◀── pure ACK after ~40 ms (delayed-ACK timer)
//! client  body ──────────seg #3──▶            ~40 ms late
//! ```
//!
//! A stall is reported when a data segment follows the previous data
//! segment of its direction by at least the threshold (default 30 ms) and
//! leaves within [`RELEASE_WINDOW`] of a pure ACK from the peer that
//! acknowledged everything sent before it. The fix: one write per message
//! (build the message, then send it), or `TCP_NODELAY`.
//!
//! A stream's stalls are kept to the end of the capture when its report
//! lists them (up to `--max-stalls` over all streams, 100,000 by default),
//! so they are kept packed ([`Stalls`]): 16 bytes a stall on average on
//! the many-small bench capture (55,483 stalls), 57 at most, where a
//! [`Stall`] takes 56.

use serde::Serialize;

use crate::capture::Timestamp;
use crate::flow::Dir;
use crate::varint::{self, put, put_diff, unzigzag, zigzag, Reader};

/// Default threshold: gaps shorter than this are not called stalls.
pub const DEFAULT_THRESHOLD: i64 = 30_000_000;

/// How soon after the releasing ACK the held segment must leave.
pub const RELEASE_WINDOW: i64 = 5_000_000;

/// Stalls kept per direction; more are counted, not listed.
pub const MAX_STALLS: usize = 1000;

/// The advice printed with stalls.
pub const ADVICE: &str = "small writes held by Nagle's algorithm until a delayed ACK released \
     them: write each message in one send() (build it first), or set TCP_NODELAY";

/// One stall.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Stall {
    /// The direction whose data was held.
    pub dir: Dir,
    /// Record of the held segment.
    pub record: u64,
    /// Its stream offset.
    pub offset: u64,
    /// Record of the data segment before it.
    pub previous_record: u64,
    /// Record of the ACK that released it.
    pub ack_record: u64,
    /// Seconds between the previous data segment and this one.
    pub stalled: f64,
    /// Seconds the peer took to acknowledge the previous segment.
    pub ack_delay: f64,
}

/// Stalls, packed: each a run of bytes in one buffer, read back in order.
///
/// A stall's bytes are a flags byte (its direction, and which of its two
/// durations are kept as they are), its record and stream offset as
/// zigzag differences from the stall before's, the records of the segment
/// before and of the releasing ACK as differences from its own record
/// (taken wrapping), then each duration as whole nanoseconds (a zigzag
/// varint) when that gives back the same `f64`, else its 8 bytes. Every
/// [`Stall`] comes back as it was pushed, to the bit.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stalls {
    bytes: Vec<u8>,
    len: usize,
    /// The record and offset of the last stall, the base of the next.
    last: (u64, u64),
    /// The server's stalls among them.
    servers: usize,
}

/// The bits of a packed stall's flags byte.
const SERVER: u8 = 1;
const STALLED_RAW: u8 = 2;
const ACK_DELAY_RAW: u8 = 4;

impl Stalls {
    /// An empty list.
    pub fn new() -> Self {
        Stalls::default()
    }

    /// The stalls listed.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes the stalls take packed.
    pub fn packed_bytes(&self) -> usize {
        self.bytes.len()
    }

    /// Appends `stall`.
    pub fn push(&mut self, stall: &Stall) {
        let b = &mut self.bytes;
        let at = b.len();
        b.push(0);
        let mut flags = if stall.dir == Dir::Server { SERVER } else { 0 };
        put_diff(b, stall.record, self.last.0);
        put_diff(b, stall.offset, self.last.1);
        put(b, stall.record.wrapping_sub(stall.previous_record));
        put(b, stall.record.wrapping_sub(stall.ack_record));
        if !put_secs(b, stall.stalled) {
            flags |= STALLED_RAW;
        }
        if !put_secs(b, stall.ack_delay) {
            flags |= ACK_DELAY_RAW;
        }
        b[at] = flags;
        self.last = (stall.record, stall.offset);
        self.len += 1;
        self.servers += usize::from(stall.dir == Dir::Server);
    }

    /// The stalls in the order pushed.
    pub fn iter(&self) -> StallIter<'_> {
        StallIter {
            reader: Reader::at(&self.bytes, 0),
            left: self.len,
            last: (0, 0),
        }
    }

    /// Keeps the first `n` stalls.
    pub fn truncate(&mut self, n: usize) {
        if n >= self.len {
            return;
        }
        let mut it = self.iter();
        let mut last = (0, 0);
        let mut servers = 0;
        for _ in 0..n {
            if let Some(s) = it.next() {
                last = (s.record, s.offset);
                servers += usize::from(s.dir == Dir::Server);
            }
        }
        let end = it.reader.pos();
        self.bytes.truncate(end);
        self.len = n;
        self.last = last;
        self.servers = servers;
    }

    /// Moves `other`'s stalls to the end of this list, each re-tagged with
    /// the direction `dir`. Only `other`'s first stall is read and written
    /// again (its record and offset count from this list's last); the
    /// others' bytes are copied as they are.
    pub fn append(&mut self, mut other: Stalls, dir: Dir) {
        other.tag(dir);
        if other.len == 0 {
            return;
        }
        if self.len == 0 {
            *self = other;
            return;
        }
        let mut it = other.iter();
        let Some(first) = it.next() else {
            return;
        };
        let rest = it.reader.pos();
        self.push(&first);
        self.bytes.extend_from_slice(&other.bytes[rest..]);
        self.len += other.len - 1;
        self.servers += other.servers - usize::from(first.dir == Dir::Server);
        self.last = other.last;
    }

    /// Sets every stall's direction to `dir`, stepping over the values
    /// without reading them.
    fn tag(&mut self, dir: Dir) {
        let servers = if dir == Dir::Server { self.len } else { 0 };
        if self.servers == servers {
            return;
        }
        self.servers = servers;
        let mut at = 0;
        for _ in 0..self.len {
            let flags = &mut self.bytes[at];
            *flags = if dir == Dir::Server {
                *flags | SERVER
            } else {
                *flags & !SERVER
            };
            let raw = [*flags & STALLED_RAW != 0, *flags & ACK_DELAY_RAW != 0];
            at += 1;
            // The record, offset and the two records counted back.
            for _ in 0..4 {
                at = varint::after(&self.bytes, at);
            }
            for raw in raw {
                at = if raw {
                    at + 8
                } else {
                    varint::after(&self.bytes, at)
                };
            }
        }
    }

    /// Gives back the room the list does not use.
    pub fn shrink_to_fit(&mut self) {
        self.bytes.shrink_to_fit();
    }
}

/// Appends `secs` as whole nanoseconds when they give it back to the bit
/// (as [`Timestamp::secs_since`] makes it); false, and its 8 bytes
/// appended, when they do not.
fn put_secs(b: &mut Vec<u8>, secs: f64) -> bool {
    let ns = (secs * 1e9).round();
    // `as` saturates: a value out of range, or NaN, fails the check.
    let whole = ns as i64;
    if (whole as f64 / 1e9).to_bits() == secs.to_bits() {
        put(b, zigzag(whole));
        true
    } else {
        b.extend_from_slice(&secs.to_le_bytes());
        false
    }
}

fn read_secs(r: &mut Reader<'_>, raw: bool) -> f64 {
    if raw {
        f64::from_le_bytes(r.array())
    } else {
        unzigzag(r.num()) as f64 / 1e9
    }
}

/// The stalls of a [`Stalls`], in order, by value.
pub struct StallIter<'a> {
    reader: Reader<'a>,
    left: usize,
    last: (u64, u64),
}

impl Iterator for StallIter<'_> {
    type Item = Stall;

    fn next(&mut self) -> Option<Stall> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let r = &mut self.reader;
        let flags = r.byte();
        let record = r.diff(self.last.0);
        let offset = r.diff(self.last.1);
        let previous_record = record.wrapping_sub(r.num());
        let ack_record = record.wrapping_sub(r.num());
        let stalled = read_secs(r, flags & STALLED_RAW != 0);
        let ack_delay = read_secs(r, flags & ACK_DELAY_RAW != 0);
        self.last = (record, offset);
        Some(Stall {
            dir: if flags & SERVER != 0 {
                Dir::Server
            } else {
                Dir::Client
            },
            record,
            offset,
            previous_record,
            ack_record,
            stalled,
            ack_delay,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for StallIter<'_> {}

impl<'a> IntoIterator for &'a Stalls {
    type Item = Stall;
    type IntoIter = StallIter<'a>;

    fn into_iter(self) -> StallIter<'a> {
        self.iter()
    }
}

impl FromIterator<Stall> for Stalls {
    fn from_iter<I: IntoIterator<Item = Stall>>(iter: I) -> Self {
        let mut stalls = Stalls::new();
        for s in iter {
            stalls.push(&s);
        }
        stalls
    }
}

impl Serialize for Stalls {
    /// A list of [`Stall`]s, as a `Vec<Stall>` is written.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

#[derive(Clone, Copy)]
struct Seen {
    end: u64,
    ts: Timestamp,
    record: u64,
}

/// Finds stalls in one direction.
pub struct Detector {
    threshold: i64,
    last: Option<Seen>,
    ack: Option<(u64, Timestamp, u64)>,
    /// Listed with the client's direction; [`Detector::take`] sets it.
    stalls: Stalls,
    count: u64,
}

impl Detector {
    /// A detector calling gaps of at least `threshold` ns stalls.
    pub fn new(threshold: i64) -> Self {
        Detector {
            threshold,
            last: None,
            ack: None,
            stalls: Stalls::new(),
            count: 0,
        }
    }

    /// The peer acknowledged up to `offset` of this direction.
    pub fn peer_ack(&mut self, offset: u64, pure: bool, ts: Timestamp, record: u64) {
        if pure {
            self.ack = Some((offset, ts, record));
        } else {
            // Data from the peer: a reply, not a delayed-ACK timer.
            self.ack = None;
        }
    }

    /// A data segment of this direction left.
    pub fn segment(&mut self, offset: u64, len: u32, ts: Timestamp, record: u64) {
        let end = offset + u64::from(len);
        if let Some(prev) = self.last {
            if offset < prev.end {
                return; // a retransmission
            }
            if let Some((acked, ack_ts, ack_record)) = self.ack {
                let waited = ts.0 - prev.ts.0;
                if waited >= self.threshold
                    && acked >= prev.end
                    && ack_ts > prev.ts
                    && ack_ts <= ts
                    && ts.0 - ack_ts.0 <= RELEASE_WINDOW
                {
                    self.count += 1;
                    if self.stalls.len() < MAX_STALLS {
                        self.stalls.push(&Stall {
                            dir: Dir::Client,
                            record,
                            offset,
                            previous_record: prev.record,
                            ack_record,
                            stalled: ts.secs_since(prev.ts),
                            ack_delay: ack_ts.secs_since(prev.ts),
                        });
                    }
                }
            }
        }
        self.last = Some(Seen { end, ts, record });
    }

    /// Moves the stalls found to the end of `into`, tagged with their
    /// direction.
    pub fn take(&mut self, dir: Dir, into: &mut Stalls) {
        into.append(std::mem::take(&mut self.stalls), dir);
    }

    /// Stalls found, including those not listed.
    pub fn count(&self) -> u64 {
        self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;

    #[test]
    fn write_write_read_stall() {
        let mut d = Detector::new(DEFAULT_THRESHOLD);
        d.segment(0, 4, Timestamp(0), 1);
        d.peer_ack(4, true, Timestamp(41 * MS), 2);
        d.segment(4, 100, Timestamp(41 * MS + 50_000), 3);
        let mut s = Stalls::new();
        d.take(Dir::Client, &mut s);
        let s: Vec<Stall> = s.iter().collect();
        assert_eq!(s.len(), 1);
        assert_eq!((s[0].record, s[0].ack_record), (3, 2));
        assert!((s[0].ack_delay - 0.041).abs() < 1e-9);
    }

    #[test]
    fn reply_is_not_a_stall() {
        let mut d = Detector::new(DEFAULT_THRESHOLD);
        d.segment(0, 4, Timestamp(0), 1);
        d.peer_ack(4, false, Timestamp(41 * MS), 2);
        d.segment(4, 100, Timestamp(41 * MS + 50_000), 3);
        let mut s = Stalls::new();
        d.take(Dir::Client, &mut s);
        assert!(s.is_empty());
    }

    /// A small deterministic generator (xorshift), so that failures repeat.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    /// Durations of every kind: whole nanoseconds as stalls have them,
    /// and values no nanosecond count gives back.
    fn secs(state: &mut u64) -> f64 {
        match next(state) % 8 {
            0 => (next(state) % 10_000_000_000) as f64 / 1e9,
            1 => Timestamp((next(state) >> 2) as i64).secs_since(Timestamp(0)),
            2 => f64::NAN,
            3 => -0.0,
            4 => f64::INFINITY,
            5 => 1e300,
            6 => -((next(state) % 1000) as f64) / 1e9,
            _ => f64::from_bits(next(state)),
        }
    }

    fn stall(state: &mut u64) -> Stall {
        let num = |s: &mut u64| match next(s) % 4 {
            0 => 0,
            1 => u64::MAX - next(s) % 3,
            2 => next(s) % 5000,
            _ => next(s),
        };
        Stall {
            dir: if next(state) & 1 == 0 {
                Dir::Client
            } else {
                Dir::Server
            },
            record: num(state),
            offset: num(state),
            previous_record: num(state),
            ack_record: num(state),
            stalled: secs(state),
            ack_delay: secs(state),
        }
    }

    fn same(a: &Stall, b: &Stall) -> bool {
        (a.dir, a.record, a.offset, a.previous_record, a.ack_record)
            == (b.dir, b.record, b.offset, b.previous_record, b.ack_record)
            && a.stalled.to_bits() == b.stalled.to_bits()
            && a.ack_delay.to_bits() == b.ack_delay.to_bits()
    }

    #[test]
    fn packed_stalls_come_back_to_the_bit() {
        let mut state = 0x9e37_79b9_7f4a_7c15;
        let want: Vec<Stall> = (0..5000).map(|_| stall(&mut state)).collect();
        let packed: Stalls = want.iter().copied().collect();
        assert_eq!(packed.len(), want.len());
        assert_eq!(packed.iter().len(), want.len());
        for (i, (got, want)) in packed.iter().zip(&want).enumerate() {
            assert!(same(&got, want), "stall {i}: {got:?} against {want:?}");
        }
        // Written as the list of stalls would be.
        assert_eq!(
            serde_json::to_string(&packed).unwrap(),
            serde_json::to_string(&want).unwrap()
        );

        // Cut anywhere, the list keeps its first stalls, and takes more.
        for n in [0, 1, 2, 999, 4999, 5000, 6000] {
            let mut cut = packed.clone();
            cut.truncate(n);
            let kept = n.min(want.len());
            assert_eq!(cut.len(), kept);
            cut.push(&want[0]);
            let got: Vec<Stall> = cut.iter().collect();
            assert_eq!(got.len(), kept + 1);
            assert!(got.iter().zip(&want[..kept]).all(|(a, b)| same(a, b)));
            assert!(same(&got[kept], &want[0]), "pushed after a cut at {n}");
        }
    }

    /// Lists appended one to another, re-tagged with a direction, read
    /// back as the stalls pushed one by one with that direction would:
    /// whichever list is empty, whatever the stalls' own directions, and
    /// the result takes further stalls and cuts as any list does.
    #[test]
    fn appended_lists_are_the_stalls_pushed_one_by_one() {
        let mut state = 0x2545_f491_4f6c_dd1d;
        for (a, b) in [(0, 0), (0, 7), (7, 0), (1, 1), (300, 500)] {
            for dir in Dir::BOTH {
                let first: Vec<Stall> = (0..a).map(|_| stall(&mut state)).collect();
                let second: Vec<Stall> = (0..b).map(|_| stall(&mut state)).collect();
                let mut want: Stalls = first.iter().copied().collect();
                for s in &second {
                    want.push(&Stall { dir, ..*s });
                }
                let mut got: Stalls = first.iter().copied().collect();
                got.append(second.iter().copied().collect(), dir);
                assert_eq!(got, want, "{a} then {b} as the {dir:?}'s");
                let extra = stall(&mut state);
                got.push(&extra);
                want.push(&extra);
                assert_eq!(got, want, "a stall pushed after");
                let all: Vec<Stall> = got.iter().collect();
                assert!(same(&all[all.len() - 1], &extra));
                for n in [0, a, a + b / 2] {
                    let (mut g, mut w) = (got.clone(), want.clone());
                    g.truncate(n);
                    w.truncate(n);
                    assert_eq!(g, w, "cut at {n}");
                    g.append(second.iter().copied().collect(), dir);
                    w.append(second.iter().copied().collect(), dir);
                    assert_eq!(g, w, "appended after a cut at {n}");
                }
            }
        }
    }

    #[test]
    fn stalls_as_found_take_a_few_bytes() {
        let mut d = Detector::new(DEFAULT_THRESHOLD);
        let mut ts = 0;
        for i in 0..1000u64 {
            d.segment(i * 4, 4, Timestamp(ts), 3 * i + 1);
            d.peer_ack(i * 4 + 4, true, Timestamp(ts + 41 * MS), 3 * i + 2);
            ts += 41 * MS + 50_000;
        }
        let mut s = Stalls::new();
        d.take(Dir::Server, &mut s);
        assert_eq!(s.len(), 999);
        assert!(s.iter().all(|s| s.dir == Dir::Server));
        // Against 56 bytes a stall as a `Stall`.
        assert!(s.packed_bytes() <= 999 * 16, "{} bytes", s.packed_bytes());
    }
}
