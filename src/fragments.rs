//! IP fragment reassembly, IPv4 and IPv6, with the Linux kernel's policy.
//!
//! This module owns the [`Defragmenter`]: it collects the fragments of each
//! datagram (keyed by source, destination, identification and, for IPv4,
//! protocol) and, once the datagram is whole, hands back the datagram as an
//! IP packet without fragmentation, which [`crate::dissect`] reads like any
//! other. It does not know about TCP or streams.
//!
//! ```text
//! fragment:  | IP header (MF, offset/8, id) | bytes [offset, offset+len) |
//! rebuilt:   | IP header (no MF, offset 0)  | bytes [0, total)           |
//! ```
//!
//! `etherparse` 0.21 has a defragmenter (`defrag::IpDefragPool`), but it
//! lets a later fragment overwrite an earlier one, reports no overlap and
//! has no bound on memory or time; the receiver's policy matters here, so
//! this module implements Linux's (`net/ipv4/inet_fragment.c`, since 4.19,
//! and RFC 5722 for IPv6):
//!
//! * A fragment that lies entirely inside bytes already received is a
//!   duplicate: dropped, the datagram kept (first copy wins; a copy with
//!   different bytes is counted as a conflict).
//! * A fragment that partly overlaps bytes already received discards the
//!   whole datagram, and is reported ([`FragmentStats::overlapping`], with
//!   the first record).
//! * A fragment other than the last whose length is not a multiple of 8, a
//!   datagram longer than 65,535 bytes, or two different ends discard the
//!   datagram ([`FragmentStats::invalid`]).
//! * A datagram not complete [`FragmentLimits::timeout`] after its first
//!   fragment (default 30 s of capture time, Linux's `ipfrag_time`) is
//!   dropped ([`FragmentStats::expired`]).
//! * At most [`FragmentLimits::max_bytes`] are held over all datagrams
//!   (default 4 MiB, Linux's `ipfrag_high_thresh`), each datagram counting
//!   its bytes plus [`PER_DATAGRAM`]; a fragment that would go past it is
//!   dropped ([`FragmentStats::over_bound`]).
//! * A fragment cut by the snapshot length can never complete its datagram:
//!   it is counted ([`FragmentStats::snaplen_cut`]) and dropped.
//!
//! IPv6 extension headers before the fragment header are not kept in the
//! rebuilt packet: its next header is the fragmented payload's.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use crate::capture::Timestamp;
use crate::tunnel::Tunnel;

/// Bytes each datagram in progress counts against
/// [`FragmentLimits::max_bytes`] besides its data, so that the number of
/// datagrams is bounded too.
pub const PER_DATAGRAM: usize = 256;

/// Bounds on fragments held.
#[derive(Clone, Copy, Debug)]
pub struct FragmentLimits {
    /// Bytes held over all datagrams in progress (default 4 MiB).
    pub max_bytes: usize,
    /// Capture time a datagram may take to complete, in ns (default 30 s).
    pub timeout: i64,
}

impl Default for FragmentLimits {
    fn default() -> Self {
        FragmentLimits {
            max_bytes: 4 << 20,
            timeout: 30_000_000_000,
        }
    }
}

/// One fragment, as the dissector found it.
#[derive(Clone, Copy, Debug)]
pub struct Fragment<'a> {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Identification (16 bits for IPv4, 32 for IPv6).
    pub id: u32,
    /// The fragmented payload's protocol.
    pub protocol: u8,
    /// Byte offset of this fragment in the datagram's payload.
    pub offset: usize,
    /// Whether more fragments follow (MF).
    pub more: bool,
    /// The fragment's bytes.
    pub payload: &'a [u8],
    /// Bytes of the fragment the snapshot length cut.
    pub missing: usize,
    /// The IP header: IPv4's whole header, or IPv6's fixed 40 bytes.
    pub header: &'a [u8],
    /// The tunnel the fragment was found in.
    pub tunnel: Option<Tunnel>,
}

/// What fragment reassembly did over a capture.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct FragmentStats {
    /// Fragments seen.
    pub fragments: u64,
    /// Datagrams rebuilt from them.
    pub reassembled: u64,
    /// Duplicate fragments dropped.
    pub duplicates: u64,
    /// Bytes of duplicates that differed from the first copy.
    pub conflict_bytes: u64,
    /// Datagrams discarded because fragments partly overlapped.
    pub overlapping: u64,
    /// The record of the first overlapping fragment.
    pub first_overlap_record: Option<u64>,
    /// Datagrams discarded as invalid (lengths, ends).
    pub invalid: u64,
    /// Datagrams dropped incomplete after the timeout (or at the end).
    pub expired: u64,
    /// Fragments dropped because the memory bound was reached.
    pub over_bound: u64,
    /// Fragments the snapshot length cut.
    pub snaplen_cut: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    src: IpAddr,
    dst: IpAddr,
    id: u32,
    /// IPv4's protocol; 0 for IPv6, whose key leaves it out.
    protocol: u8,
}

struct Partial {
    started: Timestamp,
    /// Received ranges, sorted, disjoint.
    ranges: Vec<(usize, usize)>,
    data: Vec<u8>,
    total: Option<usize>,
    /// The first fragment's IP header, once seen.
    header: Option<Vec<u8>>,
    protocol: u8,
    tunnel: Option<Tunnel>,
}

impl Partial {
    fn held(&self) -> usize {
        self.data.len() + PER_DATAGRAM
    }

    fn complete(&self) -> bool {
        self.header.is_some() && self.total.is_some_and(|t| self.ranges == [(0, t)])
    }
}

/// Reassembles IP fragments. See the module documentation.
pub struct Defragmenter {
    limits: FragmentLimits,
    pending: HashMap<Key, Partial, ahash::RandomState>,
    /// Datagrams by start time, for expiry (entries of datagrams already
    /// gone are skipped).
    started: VecDeque<(Timestamp, Key)>,
    held: usize,
    stats: FragmentStats,
    /// The last datagram rebuilt.
    out: Vec<u8>,
}

/// A datagram rebuilt: an IP packet, and the tunnel its fragments came in.
pub struct Rebuilt<'a> {
    /// The IPv4 or IPv6 packet, without fragmentation.
    pub packet: &'a [u8],
    /// The tunnel the fragments were found in.
    pub tunnel: Option<Tunnel>,
}

impl Defragmenter {
    /// A defragmenter with the given bounds.
    pub fn new(limits: FragmentLimits) -> Self {
        Defragmenter {
            limits,
            pending: HashMap::default(),
            started: VecDeque::new(),
            held: 0,
            stats: FragmentStats::default(),
            out: Vec::new(),
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> &FragmentStats {
        &self.stats
    }

    /// Bytes held now (data plus [`PER_DATAGRAM`] per datagram).
    pub fn held(&self) -> usize {
        self.held
    }

    /// Drops the datagrams still incomplete (the capture ended).
    pub fn finish(&mut self) {
        self.stats.expired += self.pending.len() as u64;
        self.pending.clear();
        self.started.clear();
        self.held = 0;
    }

    fn remove(&mut self, key: &Key) {
        if let Some(p) = self.pending.remove(key) {
            self.held -= p.held();
        }
    }

    fn expire(&mut self, now: Timestamp) {
        while let Some(&(since, key)) = self.started.front() {
            if now.0.saturating_sub(since.0) < self.limits.timeout {
                break;
            }
            self.started.pop_front();
            if self.pending.get(&key).is_some_and(|p| p.started == since) {
                self.remove(&key);
                self.stats.expired += 1;
            }
        }
    }

    /// Adds a fragment seen in record `record` at `ts`; returns the rebuilt
    /// datagram when this fragment completed it.
    pub fn add(&mut self, f: &Fragment<'_>, record: u64, ts: Timestamp) -> Option<Rebuilt<'_>> {
        self.stats.fragments += 1;
        self.expire(ts);
        let v6 = matches!(f.src, IpAddr::V6(_));
        let key = Key {
            src: f.src,
            dst: f.dst,
            id: f.id,
            protocol: if v6 { 0 } else { f.protocol },
        };
        if f.missing > 0 {
            self.stats.snaplen_cut += 1;
            return None;
        }
        let (start, end) = (f.offset, f.offset + f.payload.len());
        let bad_length = (f.more && (f.payload.is_empty() || !f.payload.len().is_multiple_of(8)))
            || end > usize::from(u16::MAX);
        if bad_length {
            self.discard(&key, false, record);
            return None;
        }
        if !self.pending.contains_key(&key) {
            if self.held + PER_DATAGRAM + end > self.limits.max_bytes {
                self.stats.over_bound += 1;
                return None;
            }
            self.pending.insert(
                key,
                Partial {
                    started: ts,
                    ranges: Vec::new(),
                    data: Vec::new(),
                    total: None,
                    header: None,
                    protocol: f.protocol,
                    tunnel: f.tunnel,
                },
            );
            self.started.push_back((ts, key));
            self.held += PER_DATAGRAM;
        }
        let p = self.pending.get_mut(&key)?;
        // Duplicates and overlaps, as Linux sees them.
        for &(s, e) in &p.ranges {
            if start >= s && end <= e {
                self.stats.duplicates += 1;
                let old = &p.data[start..end];
                let differing = old.iter().zip(f.payload).filter(|(a, b)| a != b).count();
                self.stats.conflict_bytes += differing as u64;
                return None;
            }
            if start < e && end > s {
                self.discard(&key, true, record);
                return None;
            }
        }
        let inconsistent_end = match (p.total, f.more) {
            (Some(t), false) => t != end,
            (Some(t), true) => end > t,
            (None, false) => p.ranges.last().is_some_and(|&(_, e)| e > end),
            (None, true) => false,
        };
        if inconsistent_end {
            self.discard(&key, false, record);
            return None;
        }
        let grow = end.saturating_sub(p.data.len());
        if self.held + grow > self.limits.max_bytes {
            self.stats.over_bound += 1;
            return None;
        }
        if grow > 0 {
            p.data.resize(end, 0);
            self.held += grow;
        }
        p.data[start..end].copy_from_slice(f.payload);
        let at = p.ranges.partition_point(|&(s, _)| s < start);
        p.ranges.insert(at, (start, end));
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(p.ranges.len());
        for &(s, e) in &p.ranges {
            match merged.last_mut() {
                Some(last) if last.1 == s => last.1 = e,
                _ => merged.push((s, e)),
            }
        }
        p.ranges = merged;
        if !f.more {
            p.total = Some(end);
        }
        if start == 0 {
            p.header = Some(f.header.to_vec());
        }
        if !p.complete() {
            return None;
        }
        let p = self.pending.remove(&key)?;
        self.held -= p.held();
        self.stats.reassembled += 1;
        let header = p.header.unwrap_or_default();
        let total = p.total.unwrap_or(0);
        self.out.clear();
        if v6 {
            // The fixed header, then the payload: extension headers before
            // the fragment header are left out.
            self.out.extend_from_slice(header.get(..40)?);
            self.out[4..6].copy_from_slice(&(total as u16).to_be_bytes());
            self.out[6] = p.protocol;
        } else {
            self.out.extend_from_slice(&header);
            let len = (header.len() + total).min(usize::from(u16::MAX)) as u16;
            self.out[2..4].copy_from_slice(&len.to_be_bytes());
            self.out[6..8].copy_from_slice(&[0, 0]);
        }
        self.out.extend_from_slice(&p.data[..total]);
        Some(Rebuilt {
            packet: &self.out,
            tunnel: p.tunnel,
        })
    }

    fn discard(&mut self, key: &Key, overlap: bool, record: u64) {
        if overlap {
            self.stats.overlapping += 1;
            self.stats.first_overlap_record.get_or_insert(record);
        } else {
            self.stats.invalid += 1;
        }
        self.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header_v4() -> Vec<u8> {
        let mut h = vec![0x45, 0, 0, 0, 0, 7, 0x20, 0, 64, 6, 0, 0];
        h.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        h
    }

    fn frag<'a>(h: &'a [u8], offset: usize, more: bool, payload: &'a [u8]) -> Fragment<'a> {
        Fragment {
            src: "10.0.0.1".parse().unwrap(),
            dst: "10.0.0.2".parse().unwrap(),
            id: 7,
            protocol: 6,
            offset,
            more,
            payload,
            missing: 0,
            header: h,
            tunnel: None,
        }
    }

    fn limits() -> FragmentLimits {
        FragmentLimits::default()
    }

    #[test]
    fn in_any_order_the_datagram_is_rebuilt() {
        let h = header_v4();
        let mut d = Defragmenter::new(limits());
        assert!(d
            .add(&frag(&h, 8, false, b"tail"), 1, Timestamp(0))
            .is_none());
        let r = d
            .add(&frag(&h, 0, true, b"abcdefgh"), 2, Timestamp(1))
            .unwrap();
        assert_eq!(&r.packet[20..], b"abcdefghtail");
        assert_eq!(u16::from_be_bytes([r.packet[2], r.packet[3]]), 32);
        assert_eq!(&r.packet[6..8], &[0, 0]);
        assert_eq!(d.held(), 0);
    }

    #[test]
    fn a_partial_overlap_discards_the_datagram_a_duplicate_does_not() {
        let h = header_v4();
        let mut d = Defragmenter::new(limits());
        d.add(&frag(&h, 0, true, b"abcdefghijklmnop"), 1, Timestamp(0));
        // Inside what was received: a duplicate (with one differing byte).
        assert!(d
            .add(&frag(&h, 8, true, b"ijklmnoX"), 2, Timestamp(0))
            .is_none());
        assert_eq!((d.stats().duplicates, d.stats().conflict_bytes), (1, 1));
        assert_eq!(d.stats().overlapping, 0);
        // Partly over it: the whole datagram goes.
        d.add(&frag(&h, 8, false, b"XXXXXXXXtail"), 3, Timestamp(0));
        assert_eq!(d.stats().overlapping, 1);
        assert_eq!(d.stats().first_overlap_record, Some(3));
        assert_eq!(d.held(), 0);
        // The last fragment alone does not complete anything now.
        assert!(d
            .add(&frag(&h, 16, false, b"tail"), 4, Timestamp(0))
            .is_none());
    }

    #[test]
    fn bounds_in_memory_and_time() {
        let h = header_v4();
        let mut d = Defragmenter::new(FragmentLimits {
            max_bytes: PER_DATAGRAM * 2 + 16,
            timeout: 10,
        });
        let mut f = frag(&h, 0, true, b"abcdefgh");
        for id in 0..3 {
            f.id = id;
            d.add(&f, 1, Timestamp(0));
        }
        assert_eq!(d.stats().over_bound, 1);
        assert!(d.held() <= PER_DATAGRAM * 2 + 16);
        // Past the timeout, the two waiting datagrams expire.
        f.id = 9;
        d.add(&f, 2, Timestamp(10));
        assert_eq!(d.stats().expired, 2);
    }

    #[test]
    fn invalid_lengths_and_ends() {
        let h = header_v4();
        let mut d = Defragmenter::new(limits());
        d.add(&frag(&h, 0, true, b"abc"), 1, Timestamp(0));
        assert_eq!(d.stats().invalid, 1);
        d.add(&frag(&h, 8, false, b"end"), 2, Timestamp(0));
        d.add(&frag(&h, 16, false, b"other"), 3, Timestamp(0));
        assert_eq!(d.stats().invalid, 2);
        d.add(&frag(&h, 65_532, false, b"toolong"), 4, Timestamp(0));
        assert_eq!(d.stats().invalid, 3);
    }
}
