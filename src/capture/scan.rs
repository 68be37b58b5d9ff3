//! Work on a chunk's records done by the thread that copied the chunk.
//!
//! When a capture is read ahead ([`super::ahead`]), the thread that copies
//! each chunk is idle much of the time if the analysis is the slower side.
//! A [`ScanAhead`] given to [`super::CaptureReader::scan_ahead`] lets it
//! use that time: it walks the whole records of each chunk it copied and
//! hands each to the scan, and what the scan found travels with the chunk
//! to the reader ([`super::CaptureReader::next_scanned`]).
//!
//! The walk needs to know where the chunk's first record begins. It knows
//! when it walked the previous chunk too (the record cut by the boundary
//! is carried over); when the reader copied that one itself, the walk
//! looks for a run of record headers that chain (plausible lengths and
//! times). A wrong guess costs nothing but the scan's use: what a scan
//! finds must be a function of the bytes it is given alone, so that it
//! holds for whatever record the reader later finds at that address. Only
//! classic pcap files are walked. A thread behind the reader walks a
//! chunk's records without scanning them, to hand it over sooner.

use std::any::Any;

use super::file::{read_u32, MAX_BLOCK};
use super::LinkType;

/// Work done on the whole records of each chunk read ahead (see the
/// module documentation). Whatever it finds must depend on a record's
/// bytes alone, never on where the walk thought records began.
pub trait ScanAhead: Send {
    /// One whole record of the chunk: its link type, captured bytes and
    /// length on the wire.
    fn record(&mut self, link: LinkType, data: &[u8], orig_len: u32);
    /// What was found in the chunk's records, handed to the reader with
    /// the chunk.
    fn take(&mut self) -> Box<dyn Any + Send>;
}

/// What the read-ahead thread found in the chunk a record opens
/// ([`super::CaptureReader::next_scanned`]).
pub enum ChunkScan {
    /// The scan's results for the chunk now being read.
    Found(Box<dyn Any + Send>),
    /// Nothing for the bytes now being read: results given before no
    /// longer hold.
    Nothing,
}

/// How a classic pcap file's record headers read.
#[derive(Clone, Copy, Debug)]
pub(super) struct Layout {
    pub big_endian: bool,
    pub nanos: bool,
    pub link: LinkType,
    pub snaplen: u32,
}

/// The walk of the chunks one thread copies, in the order it copies them.
pub(super) struct Walker {
    layout: Layout,
    scan: Box<dyn ScanAhead>,
    /// The chunk walked last, and the file offset of the record header that
    /// follows its last whole record.
    after: Option<(u64, u64)>,
    /// That header's bytes in the chunk walked last (up to 16).
    carry: Vec<u8>,
}

/// Where a chunk's first whole record begins.
enum Start {
    At(usize),
    /// Beyond the chunk: a record begun before covers it.
    Beyond,
    /// Not known: found by [`resync`].
    Unknown,
}

/// Record headers that must chain for [`resync`] to trust a place.
const CHAIN: usize = 4;
/// Bytes of a chunk [`resync`] looks through for a place to start.
const RESYNC_SPAN: usize = 256 * 1024;

impl Walker {
    /// A walk whose next record header is at file offset `first`, in the
    /// chunk of `chunk` bytes that holds it.
    pub fn new(layout: Layout, scan: Box<dyn ScanAhead>, first: u64, chunk: usize) -> Self {
        let index = first / chunk as u64;
        Walker {
            layout,
            scan,
            // As if the chunk before the first's had been walked (chunk
            // numbers follow one another wrapping, as `chunk` compares them).
            after: Some((index.wrapping_sub(1), first)),
            carry: Vec::new(),
        }
    }

    /// Walks chunk `index`, `data` at file offset `base`; returns what the
    /// scan found in its whole records (nothing unless `scan`: the records
    /// are then only walked, to know where the next chunk's begin).
    pub fn chunk(&mut self, index: u64, base: u64, data: &[u8], scan: bool) -> Box<dyn Any + Send> {
        let start = match self.after {
            Some((last, next)) if last.wrapping_add(1) == index => self.continued(base, next, data),
            _ => Start::Unknown,
        };
        let start = match start {
            Start::At(at) => Some(at),
            Start::Beyond => {
                // A record longer than the chunk: its header is still the
                // one carried.
                self.after = self.after.map(|(_, next)| (index, next));
                return self.scan.take();
            }
            Start::Unknown => resync(&self.layout, data),
        };
        self.after = None;
        self.carry.clear();
        if let Some(mut at) = start {
            let layout = self.layout;
            loop {
                let Some(header) = data.get(at..at + 16) else {
                    self.after = Some((index, base + at as u64));
                    self.carry.extend_from_slice(&data[at.min(data.len())..]);
                    break;
                };
                let (incl, orig) = lengths(&layout, header);
                if incl > MAX_BLOCK {
                    break;
                }
                let Some(record) = data.get(at + 16..at + 16 + incl) else {
                    self.after = Some((index, base + at as u64));
                    self.carry.extend_from_slice(header);
                    break;
                };
                if scan {
                    self.scan.record(layout.link, record, orig);
                }
                at += 16 + incl;
            }
        }
        self.scan.take()
    }

    /// Where the first whole record of a chunk begins, given that the
    /// record after the last one walked has its header at `next`.
    fn continued(&mut self, base: u64, next: u64, data: &[u8]) -> Start {
        if let Some(at) = next.checked_sub(base) {
            return match usize::try_from(at) {
                Ok(at) if at <= data.len() => Start::At(at),
                _ => Start::Unknown,
            };
        }
        // The header began in a chunk before: its first bytes are carried,
        // the rest opens this one.
        let have = self.carry.len().min(16);
        let mut header = [0u8; 16];
        header[..have].copy_from_slice(&self.carry[..have]);
        if have < 16 {
            let Some(rest) = data.get(..16 - have) else {
                return Start::Unknown;
            };
            header[have..].copy_from_slice(rest);
            self.carry.clear();
            self.carry.extend_from_slice(&header);
        }
        let (incl, _) = lengths(&self.layout, &header);
        if incl > MAX_BLOCK {
            return Start::Unknown;
        }
        let end = next + 16 + incl as u64;
        match end.checked_sub(base).map(usize::try_from) {
            Some(Ok(at)) if at <= data.len() => Start::At(at),
            Some(_) => Start::Beyond,
            None => Start::Unknown,
        }
    }
}

/// A record header's captured and original lengths.
fn lengths(layout: &Layout, header: &[u8]) -> (usize, u32) {
    let incl = read_u32(&header[8..12], layout.big_endian) as usize;
    (incl, read_u32(&header[12..16], layout.big_endian))
}

/// A place in `data` where [`CHAIN`] plausible record headers follow one
/// another (or do until the data ends, after at least two): the start of a
/// record, most likely. Plausible: a fraction of a second below one
/// second, lengths within the snapshot length, the original length at
/// least the captured one, and seconds within a day of the first's.
pub(super) fn resync(layout: &Layout, data: &[u8]) -> Option<usize> {
    let limit = (layout.snaplen as usize).clamp(65_535, MAX_BLOCK);
    let units = if layout.nanos {
        1_000_000_000
    } else {
        1_000_000
    };
    let plausible = |h: &[u8], secs0: u32| {
        let secs = read_u32(&h[0..4], layout.big_endian);
        let frac = read_u32(&h[4..8], layout.big_endian);
        let (incl, orig) = lengths(layout, h);
        frac < units && incl <= limit && orig as usize >= incl && secs.abs_diff(secs0) <= 86_400
    };
    (0..data.len().min(RESYNC_SPAN)).find(|&start| {
        let Some(first) = data.get(start..start + 16) else {
            return false;
        };
        let secs0 = read_u32(&first[0..4], layout.big_endian);
        let mut at = start;
        for seen in 0..CHAIN {
            let Some(h) = data.get(at..at + 16) else {
                return seen >= 2;
            };
            if !plausible(h, secs0) {
                return false;
            }
            at += 16 + lengths(layout, h).0;
        }
        true
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scan that lists the records it is given.
    #[derive(Default)]
    struct List(Vec<Vec<u8>>);

    impl ScanAhead for List {
        fn record(&mut self, _link: LinkType, data: &[u8], _orig_len: u32) {
            self.0.push(data.to_vec());
        }
        fn take(&mut self) -> Box<dyn Any + Send> {
            Box::new(std::mem::take(&mut self.0))
        }
    }

    const LAYOUT: Layout = Layout {
        big_endian: false,
        nanos: false,
        link: LinkType(1),
        snaplen: 65_535,
    };

    /// Records of varied sizes, and the file of them (a 24-byte header
    /// first).
    fn file() -> (Vec<Vec<u8>>, Vec<u8>) {
        let records: Vec<Vec<u8>> = (0..400u32)
            .map(|i| (0..(i * 37 % 300 + 1)).map(|b| (b ^ i) as u8).collect())
            .collect();
        let mut file = vec![0u8; 24];
        for (i, r) in records.iter().enumerate() {
            file.extend_from_slice(&1_700_000_000u32.to_le_bytes());
            file.extend_from_slice(&(i as u32 * 1000).to_le_bytes());
            file.extend_from_slice(&(r.len() as u32).to_le_bytes());
            file.extend_from_slice(&(r.len() as u32 + 4).to_le_bytes());
            file.extend_from_slice(r);
        }
        (records, file)
    }

    fn walk(
        w: &mut Walker,
        file: &[u8],
        chunk: usize,
        which: impl Fn(u64) -> bool,
    ) -> Vec<Vec<u8>> {
        let mut seen = Vec::new();
        for (index, data) in file.chunks(chunk).enumerate() {
            if !which(index as u64) {
                continue;
            }
            let base = (index * chunk) as u64;
            let found = w.chunk(index as u64, base, data, true);
            seen.extend(*found.downcast::<Vec<Vec<u8>>>().expect("a list"));
        }
        seen
    }

    /// Walking every chunk in order finds every whole record once, the
    /// ones cut by a boundary included only when the rest of their header
    /// and data is in the chunk after... which it never is: a record cut by
    /// a boundary is the reader's to gather, so the walk skips it.
    #[test]
    fn every_chunk_in_order_finds_the_records_not_cut() {
        let (records, file) = file();
        for chunk in [7, 16, 100, 997, 4096, file.len()] {
            let mut w = Walker::new(LAYOUT, Box::<List>::default(), 24, chunk);
            let seen = walk(&mut w, &file, chunk, |_| true);
            // Where each record lies, to know which a boundary cuts.
            let mut at = 24;
            let mut whole = Vec::new();
            for r in &records {
                let end = at + 16 + r.len();
                if at / chunk == (end - 1) / chunk {
                    whole.push(r.clone());
                }
                at = end;
            }
            assert_eq!(seen, whole, "chunks of {chunk}");
        }
    }

    /// Chunks only walked (the thread behind the reader) keep the place:
    /// the chunks after them are scanned from their first whole record,
    /// not resynced.
    #[test]
    fn chunks_walked_without_a_scan_keep_the_place() {
        let (records, file) = file();
        let chunk = 997;
        let mut w = Walker::new(LAYOUT, Box::<List>::default(), 24, chunk);
        let mut seen = Vec::new();
        for (index, data) in file.chunks(chunk).enumerate() {
            let found = w.chunk(index as u64, (index * chunk) as u64, data, index % 2 == 0);
            seen.extend(*found.downcast::<Vec<Vec<u8>>>().expect("a list"));
        }
        let mut at = 24;
        let mut whole = Vec::new();
        for r in &records {
            let end = at + 16 + r.len();
            if at / chunk == (end - 1) / chunk && (at / chunk) % 2 == 0 {
                whole.push(r.clone());
            }
            at = end;
        }
        assert_eq!(seen, whole);
    }

    /// With chunks missing (copied by the reader), the walk finds its
    /// place again and finds only real records.
    #[test]
    fn a_walk_with_gaps_resyncs_on_real_records() {
        let (records, file) = file();
        let chunk = 4096;
        let mut w = Walker::new(LAYOUT, Box::<List>::default(), 24, chunk);
        let seen = walk(&mut w, &file, chunk, |i| i % 3 != 1);
        assert!(seen.len() > records.len() / 2, "{} found", seen.len());
        for r in &seen {
            assert!(records.contains(r), "a record that is not one");
        }
        // A walk told nothing of where records begin finds them too.
        let mut w = Walker::new(LAYOUT, Box::<List>::default(), 1 << 40, chunk);
        let seen = walk(&mut w, &file, chunk, |_| true);
        assert!(seen.len() > records.len() / 2, "{} found", seen.len());
        assert!(seen.iter().all(|r| records.contains(r)));
    }

    /// Bytes that are no capture give no record, and a huge length stops
    /// the walk.
    #[test]
    fn noise_and_huge_lengths_give_nothing() {
        let noise: Vec<u8> = (0..10_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        assert_eq!(resync(&LAYOUT, &noise), None);
        let mut huge = vec![0u8; 64];
        huge[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut w = Walker::new(LAYOUT, Box::<List>::default(), 0, 64);
        let found = w.chunk(0, 0, &huge, true);
        assert!(found.downcast::<Vec<Vec<u8>>>().expect("a list").is_empty());
    }
}
