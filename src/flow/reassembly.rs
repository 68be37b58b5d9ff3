//! TCP reassembly of one direction of one connection.
//!
//! This module owns the [`Assembler`]: it turns the segments of one
//! direction, in capture order, into the byte stream the receiver saw, as a
//! sequence of [`Event`]s: data chunks at increasing stream offsets, each
//! tagged with the record number and timestamp of the segment that carried
//! it, and gaps where the capture holds no byte. It does not know about
//! connections, directions or stream numbers ([`crate::flow`] does).
//!
//! # Policy
//!
//! * Offsets count from the first sequence number after the SYN (ISN + 1),
//!   or from the first sequence number seen when the capture starts
//!   mid-stream, as Wireshark's *Follow TCP Stream* does.
//! * **The anchor follows the evidence until the first byte is delivered.**
//!   A reset without payload never sets it (a refusal's RST-ACK carries
//!   sequence number 0). A SYN replaces an anchor guessed from an earlier
//!   segment without SYN (a stray ACK before the real SYN-ACK), and a SYN
//!   with another ISN replaces the previous SYN's (several SYN-ACKs with
//!   different ISNs: the last one sent is the one the peer answers). When
//!   the peer acknowledges the successor of an ISN seen earlier
//!   ([`MAX_ANCHORS`] are remembered), or data starts exactly where the
//!   peer's acknowledgement points and far from the anchor, that becomes
//!   the anchor. Once a byte is delivered, the anchor is fixed.
//! * **First seen wins.** When copies of a byte differ, the copy captured
//!   first is delivered, and the difference is reported as a conflict
//!   (`conflict_bytes`, [`Event::Conflict`]). This is the rule of the
//!   first-seen rebuild in the oracle files; tshark 4.0 instead prefers an
//!   in-order retransmission over buffered out-of-order data.
//! * A segment entirely before the next expected byte is a retransmission:
//!   dropped and counted. Conflicts with bytes already delivered are not
//!   detected (the bytes are gone: memory does not grow with the stream).
//! * A segment ahead of the next expected byte is buffered, bounded by
//!   [`Limits`]. A hole becomes a [`Event::Gap`] when the peer acknowledges
//!   bytes past it (the receiver had them; the capture lost them), when the
//!   buffer bound is reached, or when the stream ends. Gaps are never
//!   zero-filled; the stream continues after them.
//! * A segment whose payload the snapshot length cut contributes no data:
//!   its range is capture loss. When it is the next expected segment, it
//!   becomes a gap of its own ([`GapReason::SnapLen`]); otherwise it is
//!   reported through the gap that surrounds it.
//!
//! # Invariants
//!
//! * Every buffered segment starts after `next` and no two overlap.
//! * `buffered_bytes` is the sum of the buffered segments' lengths.
//! * Events are emitted at strictly increasing offsets: each data or gap
//!   event starts where the previous one ended.

use std::collections::BTreeMap;

use crate::capture::Timestamp;
use crate::dissect::TcpFlags;
use crate::flow::seq::SeqNum;

/// Bounds on what one direction may buffer.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Out-of-order bytes buffered per direction (default 4 MiB).
    pub max_buffered_bytes: usize,
    /// Out-of-order segments buffered per direction (default 8192).
    pub max_buffered_segments: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_buffered_bytes: 4 << 20,
            max_buffered_segments: 8192,
        }
    }
}

/// A shared budget of out-of-order bytes for all connections together.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// Bytes buffered now, over all assemblers using this budget.
    pub used: usize,
    /// The most that may be buffered (default 64 MiB).
    pub max: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            used: 0,
            max: 64 << 20,
        }
    }
}

/// Why bytes are missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GapReason {
    /// The peer acknowledged them, so they were sent and received, but the
    /// capture did not see them.
    AckedUnseen,
    /// Later bytes were buffered up to the bound before the hole filled.
    BufferLimit,
    /// The stream ended (FIN, RST, idle or end of capture) with the hole open.
    StreamEnd,
    /// The segment that carried them was cut by the capture's snapshot
    /// length (reported when it is the next expected segment).
    SnapLen,
}

/// One segment as the assembler needs it.
#[derive(Clone, Copy, Debug)]
pub struct SegmentIn<'a> {
    /// Sequence number.
    pub seq: u32,
    /// Flags (SYN consumes one sequence number before the data).
    pub flags: TcpFlags,
    /// The captured payload.
    pub payload: &'a [u8],
    /// Payload bytes cut by the snapshot length (the segment then carries no
    /// data).
    pub missing: u32,
    /// Record number.
    pub record: u64,
    /// Capture time.
    pub ts: Timestamp,
}

/// What the assembler reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// Bytes of the stream at `offset`, carried by capture record `record`.
    Data {
        /// Stream offset of the first byte.
        offset: u64,
        /// The bytes.
        bytes: &'a [u8],
        /// Record number of the segment that carried them.
        record: u64,
        /// That segment's timestamp.
        ts: Timestamp,
    },
    /// `len` bytes at `offset` that the capture does not hold.
    Gap {
        /// Stream offset of the first missing byte.
        offset: u64,
        /// How many bytes are missing.
        len: u64,
        /// Why the hole was closed.
        reason: GapReason,
    },
    /// A segment disagreed with bytes already buffered for the same offsets;
    /// the first-seen bytes were kept.
    Conflict {
        /// Stream offset of the first differing byte.
        offset: u64,
        /// Number of differing bytes.
        len: u64,
        /// The record whose bytes were discarded.
        record: u64,
    },
}

/// Counters for one direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct HalfStats {
    /// TCP packets sent in this direction.
    pub packets: u64,
    /// Packets that carried at least one new payload byte.
    pub segments: u64,
    /// Payload bytes delivered (each byte once).
    pub bytes: u64,
    /// Segments that were entirely retransmissions.
    pub retransmissions: u64,
    /// Payload bytes in those.
    pub retransmitted_bytes: u64,
    /// Segments that arrived ahead of a hole (out of order).
    pub out_of_order: u64,
    /// Segments that partly overlapped bytes already seen.
    pub overlaps: u64,
    /// Bytes whose copies differed (first seen kept).
    pub conflict_bytes: u64,
    /// Holes in the stream.
    pub gaps: u64,
    /// Bytes in those holes.
    pub gap_bytes: u64,
    /// Gaps forced by the buffering bound.
    pub forced_gaps: u64,
    /// Segments whose payload the snapshot length cut.
    pub snaplen_cut: u64,
    /// Payload bytes those segments declared.
    pub snaplen_cut_bytes: u64,
    /// Bytes past the last captured byte that the peer acknowledged: data
    /// the capture never saw at the end of the stream (may include 1 for an
    /// unseen FIN).
    pub acked_unseen_tail: u64,
    /// Data segments that ended more than twice the receiver's advertised
    /// window past its acknowledgement.
    pub beyond_window: u64,
    /// The record of the first of those.
    pub first_beyond_window: Option<u64>,
    /// SYN segments.
    pub syn: u64,
    /// FIN segments.
    pub fin: u64,
    /// RST segments.
    pub rst: u64,
}

/// Earlier ISNs a direction remembers while its anchor is not fixed.
pub const MAX_ANCHORS: usize = 4;

/// How the anchor (stream offset 0) was chosen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Anchor {
    /// Not yet: no segment other than resets.
    #[default]
    None,
    /// The first segment seen, without SYN.
    Guess,
    /// A SYN's ISN + 1.
    Syn,
}

struct Pending {
    data: Vec<u8>,
    record: u64,
    ts: Timestamp,
}

/// Reassembles one direction. See the module documentation.
#[derive(Default)]
pub struct Assembler {
    /// Sequence number of stream offset 0, once known.
    base: Option<SeqNum>,
    /// Next expected stream offset.
    next: u64,
    /// Out-of-order segments keyed by stream offset.
    pending: BTreeMap<u64, Pending>,
    buffered_bytes: usize,
    /// Highest stream offset the peer acknowledged.
    peer_acked: u64,
    /// Offset of the FIN, once seen.
    fin_at: Option<u64>,
    /// Highest offset seen in any segment (reference for unwrapping).
    highest: u64,
    /// How `base` was chosen.
    anchor: Anchor,
    /// Earlier SYNs' ISN + 1, while no byte is delivered.
    earlier: [Option<SeqNum>; MAX_ANCHORS],
    /// The peer's latest acknowledgement number, raw.
    peer_ack_seq: Option<SeqNum>,
    stats: HalfStats,
}

impl Assembler {
    /// A fresh direction.
    pub fn new() -> Self {
        Self::default()
    }

    /// The counters so far.
    pub fn stats(&self) -> &HalfStats {
        &self.stats
    }

    /// Next expected stream offset: the bytes delivered or skipped as gaps.
    pub fn next_offset(&self) -> u64 {
        self.next
    }

    /// Whether a FIN was seen and every byte before it has been delivered.
    pub fn finished(&self) -> bool {
        self.fin_at.is_some_and(|f| f <= self.next) && self.pending.is_empty()
    }

    /// Whether the peer acknowledged the FIN (the connection's last packet
    /// in this direction is in).
    pub fn fin_acked(&self) -> bool {
        self.finished() && self.fin_at.is_some_and(|f| self.peer_acked > f)
    }

    /// Bytes buffered out of order now.
    pub fn buffered_bytes(&self) -> usize {
        self.buffered_bytes
    }

    /// The initial sequence number's successor, when known (offset 0).
    pub fn base(&self) -> Option<u32> {
        self.base.map(|b| b.0)
    }

    /// Stream offset of sequence number `seq`, relative to the highest
    /// offset seen (so wraparound and >4 GiB streams work); negative before
    /// the stream's start.
    fn offset_of(&self, base: SeqNum, seq: SeqNum) -> i64 {
        let reference = base.plus(self.highest as u32);
        self.highest as i64 + seq.diff(reference)
    }

    /// Whether the anchor may still move: no byte delivered or buffered.
    fn unsettled(&self) -> bool {
        self.next == 0 && self.pending.is_empty()
    }

    /// Moves stream offset 0 to `to`, remembering a SYN's anchor.
    fn reanchor(&mut self, to: SeqNum, anchor: Anchor) {
        if let (Some(old), Anchor::Syn) = (self.base, self.anchor) {
            if old != to && !self.earlier.contains(&Some(old)) {
                self.earlier.rotate_right(1);
                self.earlier[0] = Some(old);
            }
        }
        self.base = Some(to);
        self.anchor = anchor;
        self.highest = 0;
        self.fin_at = None;
        self.peer_acked = 0;
    }

    /// Whether a segment from this direction at `seq` falls inside the
    /// sequence space seen so far, up to `window` bytes beyond it: an RST
    /// outside that range does not end the connection (RFC 5961, 3.2).
    /// With nothing sent yet, the peer's acknowledgement is the reference;
    /// with nothing known at all, every reset counts.
    pub fn in_window(&self, seq: u32, window: u64) -> bool {
        let Some(base) = self.base else {
            return self
                .peer_ack_seq
                .is_none_or(|a| (0..=window as i64).contains(&SeqNum(seq).diff(a)));
        };
        let at = self.offset_of(base, SeqNum(seq));
        at >= 0 && (at as u64) <= self.highest.max(self.peer_acked) + window
    }

    /// Notes a segment of `len` bytes at `seq` that ends more than twice
    /// the receiver's `window` past what the receiver acknowledged: a
    /// receiver drops such bytes, so the capture holds data the peer never
    /// took (or the window was misread).
    pub fn check_window(&mut self, seq: u32, len: u32, window: u64, record: u64) {
        let (Some(base), Some(_)) = (self.base, self.peer_ack_seq) else {
            return;
        };
        if len == 0 {
            return;
        }
        let end = self.offset_of(base, SeqNum(seq)) + i64::from(len);
        if end > (self.peer_acked + 2 * window.max(1)) as i64 {
            self.stats.beyond_window += 1;
            self.stats.first_beyond_window.get_or_insert(record);
        }
    }

    /// The peer acknowledged up to `ack` (exclusive): bytes before it were
    /// received, so a hole before it will never fill from the capture.
    pub fn peer_ack<F: FnMut(Event<'_>)>(&mut self, ack: u32, budget: &mut Budget, out: &mut F) {
        self.peer_ack_seq = Some(SeqNum(ack));
        if self.unsettled() && self.base != Some(SeqNum(ack)) {
            // The peer answers an earlier SYN: that one is the anchor.
            if let Some(i) = self.earlier.iter().position(|e| *e == Some(SeqNum(ack))) {
                self.earlier[i] = None;
                self.reanchor(SeqNum(ack), Anchor::Syn);
            }
        }
        let Some(base) = self.base else { return };
        let d = SeqNum(ack).diff(base.plus(self.highest as u32));
        // An acknowledgement far beyond anything sent is bogus; ignore it.
        if d > i64::from(i32::MAX / 2) {
            return;
        }
        let Ok(acked) = u64::try_from(self.offset_of(base, SeqNum(ack))) else {
            return;
        };
        if acked > self.peer_acked {
            self.peer_acked = acked;
        }
        self.close_acked_holes(budget, out);
    }

    /// Counts a UDP datagram of `len` captured bytes, `missing` cut by the
    /// snapshot length (UDP flows keep their counters here too).
    pub fn datagram(&mut self, len: usize, missing: u32) {
        self.stats.packets += 1;
        self.stats.segments += 1;
        self.stats.bytes += len as u64;
        if missing > 0 {
            self.stats.snaplen_cut += 1;
            self.stats.snaplen_cut_bytes += u64::from(missing);
        }
    }

    /// Feeds one segment.
    pub fn segment<F: FnMut(Event<'_>)>(
        &mut self,
        seg: &SegmentIn<'_>,
        limits: &Limits,
        budget: &mut Budget,
        out: &mut F,
    ) {
        self.stats.packets += 1;
        let syn = seg.flags.has(TcpFlags::SYN);
        if syn {
            self.stats.syn += 1;
        }
        if seg.flags.has(TcpFlags::FIN) {
            self.stats.fin += 1;
        }
        if seg.flags.has(TcpFlags::RST) {
            self.stats.rst += 1;
        }
        let data_seq = SeqNum(seg.seq).plus(u32::from(syn));
        let wire_len = seg.payload.len() as u64 + u64::from(seg.missing);
        if seg.flags.has(TcpFlags::RST) && wire_len == 0 && !syn {
            // A reset says nothing about where the data starts.
            return;
        }
        match (self.anchor, syn) {
            (Anchor::None, _) => {
                self.reanchor(data_seq, if syn { Anchor::Syn } else { Anchor::Guess })
            }
            (Anchor::Guess, true) if self.unsettled() => self.reanchor(data_seq, Anchor::Syn),
            (Anchor::Syn, true) if self.unsettled() && self.base != Some(data_seq) => {
                self.reanchor(data_seq, Anchor::Syn)
            }
            (_, false)
                if wire_len > 0
                    && self.unsettled()
                    && self.peer_ack_seq == Some(data_seq)
                    && self
                        .base
                        .is_some_and(|b| data_seq.diff(b).unsigned_abs() > FAR) =>
            {
                // Data where the peer's acknowledgement points, far from
                // the anchor: the anchor came from a segment of something
                // else (an unseen SYN-ACK's ISN differs).
                self.reanchor(data_seq, Anchor::Guess)
            }
            _ => {}
        }
        let Some(base) = self.base else { return };
        let signed_offset = self.offset_of(base, data_seq);
        // Bytes before the stream's start (the capture began after them)
        // are treated like bytes already delivered.
        let end = u64::try_from(signed_offset + wire_len as i64).unwrap_or(0);
        let offset = u64::try_from(signed_offset).unwrap_or(0);
        let payload = &seg.payload[seg
            .payload
            .len()
            .min((offset as i64 - signed_offset) as usize)..];
        self.highest = self.highest.max(end);
        if seg.flags.has(TcpFlags::FIN) && self.fin_at.is_none() {
            self.fin_at = Some(end);
        }
        if wire_len == 0 {
            return;
        }
        if seg.missing > 0 {
            self.stats.snaplen_cut += 1;
            self.stats.snaplen_cut_bytes += wire_len;
            if offset == self.next && signed_offset >= 0 {
                // In order: these bytes were sent, and the capture kept
                // only part of them.
                self.gap_to(end, GapReason::SnapLen, out);
                self.drain(budget, out);
            }
            return;
        }
        if end <= self.next {
            self.stats.retransmissions += 1;
            self.stats.retransmitted_bytes += wire_len;
            return;
        }
        let mut payload = payload;
        let mut offset = offset;
        let mut overlapped = false;
        if offset < self.next {
            overlapped = true;
            payload = &payload[(self.next - offset) as usize..];
            offset = self.next;
        }
        let ahead = offset > self.next;
        let first_pending = self.pending.keys().next().copied();
        let direct_end = first_pending.map_or(end, |p| p.min(end));
        let mut new_bytes = 0;
        if offset == self.next {
            // The in-order fast path: lend the packet's bytes, no copy.
            let n = (direct_end - offset) as usize;
            self.deliver(offset, &payload[..n], seg.record, seg.ts, out);
            payload = &payload[n..];
            offset += n as u64;
            new_bytes += n;
        }
        if !payload.is_empty() {
            let (added, overlap) = self.insert(offset, payload, seg, budget, out);
            new_bytes += added;
            overlapped |= overlap;
        }
        if new_bytes == 0 {
            self.stats.retransmissions += 1;
            self.stats.retransmitted_bytes += wire_len;
        } else {
            self.stats.segments += 1;
            self.stats.out_of_order += u64::from(ahead);
            self.stats.overlaps += u64::from(overlapped);
        }
        self.drain(budget, out);
        self.close_acked_holes(budget, out);
        self.enforce_limits(limits, budget, out);
    }

    /// Ends the stream: every hole still open becomes a gap and every
    /// buffered byte is delivered.
    pub fn finish<F: FnMut(Event<'_>)>(&mut self, budget: &mut Budget, out: &mut F) {
        while let Some(&start) = self.pending.keys().next() {
            self.gap_to(start, GapReason::StreamEnd, out);
            self.drain(budget, out);
        }
        let acked_end = match self.fin_at {
            Some(fin) => self.peer_acked.min(fin),
            None => self.peer_acked,
        };
        self.stats.acked_unseen_tail = acked_end.saturating_sub(self.next);
    }

    fn deliver<F: FnMut(Event<'_>)>(
        &mut self,
        offset: u64,
        bytes: &[u8],
        record: u64,
        ts: Timestamp,
        out: &mut F,
    ) {
        debug_assert_eq!(offset, self.next);
        if bytes.is_empty() {
            return;
        }
        self.next = offset + bytes.len() as u64;
        self.stats.bytes += bytes.len() as u64;
        out(Event::Data {
            offset,
            bytes,
            record,
            ts,
        });
    }

    fn gap_to<F: FnMut(Event<'_>)>(&mut self, to: u64, reason: GapReason, out: &mut F) {
        if to <= self.next {
            return;
        }
        let len = to - self.next;
        self.stats.gaps += 1;
        self.stats.gap_bytes += len;
        if reason == GapReason::BufferLimit {
            self.stats.forced_gaps += 1;
        }
        out(Event::Gap {
            offset: self.next,
            len,
            reason,
        });
        self.next = to;
    }

    /// Buffers `payload` at `offset` (> next), keeping bytes already
    /// buffered (first seen wins) and reporting differences. Returns the
    /// number of new bytes buffered and whether any overlapped.
    fn insert<F: FnMut(Event<'_>)>(
        &mut self,
        offset: u64,
        payload: &[u8],
        seg: &SegmentIn<'_>,
        budget: &mut Budget,
        out: &mut F,
    ) -> (usize, bool) {
        let end = offset + payload.len() as u64;
        // Existing entries that may overlap [offset, end).
        let overlapping: Vec<(u64, u64)> = self
            .pending
            .range(..end)
            .rev()
            .take_while(|(&s, p)| s + p.data.len() as u64 > offset)
            .map(|(&s, p)| (s, s + p.data.len() as u64))
            .collect();
        let mut cursor = offset;
        let mut pieces: Vec<(u64, u64)> = Vec::new();
        for &(s, e) in overlapping.iter().rev() {
            if s > cursor {
                pieces.push((cursor, s));
            }
            // Compare the overlap of [s, e) with the new bytes.
            let lo = s.max(offset);
            let hi = e.min(end);
            if lo < hi {
                if let Some(p) = self.pending.get(&s) {
                    let old = &p.data[(lo - s) as usize..(hi - s) as usize];
                    let new = &payload[(lo - offset) as usize..(hi - offset) as usize];
                    if let Some((first, differing)) = differences(old, new) {
                        self.stats.conflict_bytes += differing;
                        out(Event::Conflict {
                            offset: lo + first,
                            len: differing,
                            record: seg.record,
                        });
                    }
                }
            }
            cursor = cursor.max(e);
        }
        if cursor < end {
            pieces.push((cursor, end));
        }
        let mut added = 0;
        for (s, e) in pieces {
            added += (e - s) as usize;
            let bytes = &payload[(s - offset) as usize..(e - offset) as usize];
            self.buffered_bytes += bytes.len();
            budget.used += bytes.len();
            self.pending.insert(
                s,
                Pending {
                    data: bytes.to_vec(),
                    record: seg.record,
                    ts: seg.ts,
                },
            );
        }
        (added, !overlapping.is_empty())
    }

    /// Delivers buffered segments that have become contiguous.
    fn drain<F: FnMut(Event<'_>)>(&mut self, budget: &mut Budget, out: &mut F) {
        while let Some(entry) = self.pending.first_entry() {
            let start = *entry.key();
            if start > self.next {
                break;
            }
            let p = entry.remove();
            self.buffered_bytes -= p.data.len();
            budget.used = budget.used.saturating_sub(p.data.len());
            let skip = (self.next - start) as usize;
            if skip < p.data.len() {
                self.deliver(self.next, &p.data[skip..], p.record, p.ts, out);
            }
        }
    }

    fn close_acked_holes<F: FnMut(Event<'_>)>(&mut self, budget: &mut Budget, out: &mut F) {
        while let Some(&start) = self.pending.keys().next() {
            if start > self.peer_acked {
                break;
            }
            self.gap_to(start, GapReason::AckedUnseen, out);
            self.drain(budget, out);
        }
    }

    fn enforce_limits<F: FnMut(Event<'_>)>(
        &mut self,
        limits: &Limits,
        budget: &mut Budget,
        out: &mut F,
    ) {
        while self.buffered_bytes > limits.max_buffered_bytes
            || self.pending.len() > limits.max_buffered_segments
            || (budget.used > budget.max && self.buffered_bytes > 0)
        {
            let Some(&start) = self.pending.keys().next() else {
                break;
            };
            self.gap_to(start, GapReason::BufferLimit, out);
            self.drain(budget, out);
        }
    }
}

/// How far from the anchor data must start before an acknowledgement
/// pointing at it moves the anchor: beyond any window without scaling.
const FAR: u64 = 1 << 16;

/// The offset of the first differing byte and the number of differing
/// bytes, when the two copies differ.
fn differences(old: &[u8], new: &[u8]) -> Option<(u64, u64)> {
    let first = old.iter().zip(new).position(|(a, b)| a != b)?;
    let differing = old.iter().zip(new).filter(|(a, b)| a != b).count();
    Some((first as u64, differing as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(seq: u32, payload: &[u8], record: u64) -> SegmentIn<'_> {
        SegmentIn {
            seq,
            flags: TcpFlags(TcpFlags::ACK),
            payload,
            missing: 0,
            record,
            ts: Timestamp(record as i64),
        }
    }

    #[derive(Default, Debug, PartialEq)]
    struct Out {
        bytes: Vec<u8>,
        gaps: Vec<(u64, u64)>,
        records: Vec<u64>,
        conflicts: u64,
    }

    fn run(segs: &[SegmentIn<'_>]) -> (Out, HalfStats) {
        let mut a = Assembler::new();
        let mut out = Out::default();
        let mut budget = Budget::default();
        let limits = Limits::default();
        let mut sink = |e: Event<'_>| match e {
            Event::Data { bytes, record, .. } => {
                out.bytes.extend_from_slice(bytes);
                out.records.push(record);
            }
            Event::Gap { offset, len, .. } => out.gaps.push((offset, len)),
            Event::Conflict { len, .. } => out.conflicts += len,
        };
        for s in segs {
            a.segment(s, &limits, &mut budget, &mut sink);
        }
        a.finish(&mut budget, &mut sink);
        assert_eq!(budget.used, 0);
        (out, *a.stats())
    }

    #[test]
    fn in_order_and_reordered() {
        let (o, st) = run(&[
            seg(100, b"abc", 1),
            seg(106, b"ghi", 2),
            seg(103, b"def", 3),
        ]);
        assert_eq!(o.bytes, b"abcdefghi");
        assert_eq!(o.records, vec![1, 3, 2]);
        assert_eq!(st.out_of_order, 1);
    }

    #[test]
    fn retransmission_dropped_and_counted() {
        let (o, st) = run(&[seg(1, b"abc", 1), seg(1, b"abc", 2), seg(4, b"d", 3)]);
        assert_eq!(o.bytes, b"abcd");
        assert_eq!((st.retransmissions, st.retransmitted_bytes), (1, 3));
    }

    #[test]
    fn first_seen_wins_and_conflict_reported() {
        // "XYZ" buffered first at 3..6, then in-order "abcdef" covers it.
        let (o, st) = run(&[seg(0, b"a", 1), seg(3, b"XYZ", 2), seg(1, b"bcdefg", 3)]);
        assert_eq!(o.bytes, b"abcXYZg");
        assert_eq!(o.conflicts, 3);
        assert_eq!(st.conflict_bytes, 3);
    }

    #[test]
    fn gap_at_end_of_stream_is_reported_not_zero_filled() {
        let (o, st) = run(&[seg(0, b"ab", 1), seg(5, b"fg", 2)]);
        assert_eq!(o.bytes, b"abfg");
        assert_eq!(o.gaps, vec![(2, 3)]);
        assert_eq!((st.gaps, st.gap_bytes), (1, 3));
    }

    #[test]
    fn sequence_wraparound() {
        let start = u32::MAX - 2;
        let (o, _) = run(&[seg(start, b"abcd", 1), seg(start.wrapping_add(4), b"ef", 2)]);
        assert_eq!(o.bytes, b"abcdef");
    }

    #[test]
    fn peer_ack_closes_hole_early() {
        let mut a = Assembler::new();
        let mut budget = Budget::default();
        let mut events = Vec::new();
        let mut sink = |e: Event<'_>| {
            if let Event::Gap {
                offset,
                len,
                reason,
            } = e
            {
                events.push((offset, len, reason));
            }
        };
        a.segment(
            &seg(0, b"ab", 1),
            &Limits::default(),
            &mut budget,
            &mut sink,
        );
        a.segment(
            &seg(5, b"fg", 2),
            &Limits::default(),
            &mut budget,
            &mut sink,
        );
        a.peer_ack(7, &mut budget, &mut sink);
        assert_eq!(events, vec![(2, 3, GapReason::AckedUnseen)]);
        assert_eq!(a.next_offset(), 7);
    }

    #[test]
    fn buffer_limit_forces_a_gap() {
        let mut a = Assembler::new();
        let mut budget = Budget::default();
        let limits = Limits {
            max_buffered_bytes: 4,
            max_buffered_segments: 100,
        };
        let mut gaps = Vec::new();
        let mut sink = |e: Event<'_>| {
            if let Event::Gap { reason, .. } = e {
                gaps.push(reason);
            }
        };
        a.segment(&seg(0, b"a", 1), &limits, &mut budget, &mut sink);
        a.segment(&seg(5, b"xyz", 2), &limits, &mut budget, &mut sink);
        a.segment(&seg(10, b"uvw", 3), &limits, &mut budget, &mut sink);
        assert!(a.buffered_bytes() <= 4);
        assert_eq!(gaps, vec![GapReason::BufferLimit]);
    }
}
