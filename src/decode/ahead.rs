//! Whole messages found ahead of the analysis, on another thread.
//!
//! The thread that reads a capture ahead ([`crate::capture::scan`]) can
//! find the whole messages at the start of each TCP payload while the
//! analysis is still on earlier records. A decoder at a message boundary
//! then takes them from [`Found`] (through its [`super::Run`]) instead of
//! reading the bytes itself.
//!
//! A scan is a pure function of a payload's bytes: for each payload it
//! lists the messages the decoder's fast path would find there, read as a
//! server's (a client's decoder takes the arrays among the first of
//! them). Payloads are known by their address, which holds as
//! long as the chunk they lie in is the one being read: the pipeline hands
//! each chunk's results to the analysis when the reader moves to that
//! chunk, and drops them when it moves to bytes that were not scanned. A
//! payload the analysis gets from anywhere else (reassembled from
//! out-of-order segments, held while a framing is detected, decrypted) has
//! another address and is decoded as before.
//!
//! Bounds: at most [`MAX_SEGMENTS`] payloads, [`MAX_MESSAGES`] messages
//! and 255 distinct labels per chunk; a scan that reaches one stops, and
//! the rest is decoded by the analysis. Lists the analysis is done with
//! are given back and refilled ([`Spares`], at most [`SPARES`] kept).

use std::sync::{Arc, Mutex};

use super::Label;

/// A protocol's scan: lists in a [`Found`] the whole messages at the
/// start of one payload ([`super::proto::scan_ahead`]).
pub type Scan = Box<dyn FnMut(&[u8], &mut Found) + Send>;

/// Payloads listed per chunk, at most.
pub const MAX_SEGMENTS: usize = 8192;
/// Messages listed per chunk, at most.
pub const MAX_MESSAGES: usize = 32_768;
/// The label index of a message whose label was not found.
pub const NO_LABEL: u8 = u8::MAX;

/// One message found: where it ends (from the start of its payload), its
/// first byte, and the index of its command's label in [`Found`]'s labels
/// ([`NO_LABEL`] when it has none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Msg {
    /// The message's end, from the start of the payload.
    pub end: u32,
    /// Its first byte.
    pub top: u8,
    /// Its command's label, as an index into the chunk's labels.
    pub label: u8,
}

/// A payload and the messages found at its start.
#[derive(Clone, Copy, Debug)]
struct Segment {
    addr: usize,
    len: usize,
    first: u32,
    count: u32,
}

/// The messages found in the payloads of one chunk's records.
#[derive(Clone, Debug, Default)]
pub struct Found {
    segments: Vec<Segment>,
    msgs: Vec<Msg>,
    labels: Vec<Label>,
    /// The payload being listed was cut short by a bound.
    full: bool,
}

impl Found {
    /// Whether a bound was reached: nothing more is listed.
    pub fn is_full(&self) -> bool {
        self.full
    }

    /// Starts listing the messages of `payload`; false when a bound is
    /// reached.
    pub fn begin(&mut self, payload: &[u8]) -> bool {
        if self.full || self.segments.len() >= MAX_SEGMENTS {
            self.full = true;
            return false;
        }
        self.segments.push(Segment {
            addr: payload.as_ptr() as usize,
            len: payload.len(),
            first: self.msgs.len() as u32,
            count: 0,
        });
        true
    }

    /// Lists a message of the payload begun last, ending at `end`, whose
    /// first byte is `top` and whose command's label is at `label`
    /// ([`Found::intern`], or [`NO_LABEL`]); false (nothing listed) when a
    /// bound is reached.
    #[inline]
    pub fn push(&mut self, end: usize, top: u8, label: u8) -> bool {
        let Some(segment) = self.segments.last_mut() else {
            return false;
        };
        let Ok(end) = u32::try_from(end) else {
            self.full = true;
            return false;
        };
        if self.msgs.len() >= MAX_MESSAGES {
            self.full = true;
            return false;
        }
        self.msgs.push(Msg { end, top, label });
        segment.count += 1;
        true
    }

    /// The index of `label` among the labels, added if new; `None` (and
    /// full) past 255 labels.
    pub fn intern(&mut self, label: Label) -> Option<u8> {
        if let Some(i) = self.labels.iter().position(|l| *l == label) {
            return Some(i as u8);
        }
        if self.labels.len() >= usize::from(NO_LABEL) {
            self.full = true;
            return None;
        }
        self.labels.push(label);
        Some((self.labels.len() - 1) as u8)
    }

    /// The list for the next chunk: empty, with this one's labels (so the
    /// indices a scan keeps stay good) and room for as many entries.
    pub fn next(&self) -> Found {
        Found {
            segments: Vec::with_capacity(self.segments.len()),
            msgs: Vec::with_capacity(self.msgs.len()),
            labels: self.labels.clone(),
            full: false,
        }
    }

    /// The label at `index`, if any.
    pub fn label(&self, index: u8) -> Option<Label> {
        self.labels.get(usize::from(index)).copied()
    }

    /// Drops payloads with no message listed, as a finished list needs
    /// none of them.
    pub fn finish(&mut self) {
        if self.segments.last().is_some_and(|s| s.count == 0) {
            self.segments.pop();
        }
    }

    /// Payloads listed.
    pub fn segments(&self) -> usize {
        self.segments.len()
    }
}

/// Lists the analysis is done with, given back for the scan's next
/// chunks: a chunk's list then lies in memory already in use, where a new
/// one would take fresh pages from the kernel (62% of the 4,233 page
/// faults of a JSON run on the bench's redis capture; after gigabytes
/// were freed, runs were slower on a virtual machine that reports free
/// pages to its host). At most [`SPARES`] lists are kept.
#[derive(Clone, Debug, Default)]
pub struct Spares(Arc<Mutex<Vec<Found>>>);

/// Lists kept for reuse, at most: as many as can be in use at once (one
/// being filled, two queued with their chunks, one being read).
pub const SPARES: usize = 4;

impl Spares {
    /// Keeps `found` for reuse, unless [`SPARES`] lists are kept already.
    pub fn give(&self, found: Found) {
        if let Ok(mut kept) = self.0.lock() {
            if kept.len() < SPARES {
                kept.push(found);
            }
        }
    }

    /// The list for the chunk after `last`'s: a kept one emptied, with
    /// `last`'s labels, else [`Found::next`].
    pub fn next(&self, last: &Found) -> Found {
        let kept = self.0.lock().ok().and_then(|mut kept| kept.pop());
        match kept {
            Some(mut found) => {
                found.segments.clear();
                found.msgs.clear();
                found.labels.clone_from(&last.labels);
                found.full = false;
                found
            }
            None => last.next(),
        }
    }
}

/// The messages found for the chunk being read, as a decoder asks for
/// them: payloads are looked up in the order they come, with a cursor.
#[derive(Clone, Debug, Default)]
pub struct Hints {
    found: Box<Found>,
    /// The addresses the payloads listed span.
    lo: usize,
    hi: usize,
    /// The first payload not yet passed.
    cursor: usize,
    /// Where the next message of a payload whose messages were taken in
    /// part begins, its index, and the end of the last taken.
    resume: Option<(usize, usize, u32)>,
}

/// The messages of one payload a decoder may take: indices into the
/// list, and the offset their ends count from.
#[derive(Clone, Copy, Debug)]
pub struct Listed {
    /// The first message's index.
    pub from: usize,
    /// One past the last's.
    pub to: usize,
    /// Subtracted from each end: the end of the messages before `from`.
    pub base: u32,
    /// The payload's address.
    addr: usize,
}

impl Hints {
    /// The results of one chunk.
    pub fn new(found: Box<Found>) -> Self {
        let lo = found.segments.first().map_or(0, |s| s.addr);
        let hi = found.segments.last().map_or(0, |s| s.addr + s.len);
        Hints {
            found,
            lo,
            hi,
            cursor: 0,
            resume: None,
        }
    }

    /// The messages listed for a payload starting at `input`'s first byte
    /// (a whole payload, or the rest of one whose messages were taken in
    /// part), if any.
    #[inline]
    pub fn at(&mut self, input: &[u8]) -> Option<Listed> {
        let addr = input.as_ptr() as usize;
        if addr < self.lo || addr >= self.hi {
            return None;
        }
        if let Some((next, index, base)) = self.resume.take() {
            if next == addr {
                let s = self.found.segments[self.cursor];
                return Some(Listed {
                    from: index,
                    to: (s.first + s.count) as usize,
                    base,
                    addr: s.addr,
                });
            }
        }
        let segments = &self.found.segments;
        while self.cursor < segments.len() && segments[self.cursor].addr < addr {
            self.cursor += 1;
        }
        let s = segments.get(self.cursor)?;
        (s.addr == addr).then_some(Listed {
            from: s.first as usize,
            to: (s.first + s.count) as usize,
            base: 0,
            addr,
        })
    }

    /// The list, for reuse ([`Spares`]).
    pub fn into_found(self) -> Box<Found> {
        self.found
    }

    /// Message `index` of the list.
    #[inline]
    pub fn msg(&self, index: usize) -> Msg {
        self.found.msgs[index]
    }

    /// The label at `index`, if any.
    #[inline]
    pub fn label(&self, index: u8) -> Option<Label> {
        self.found.label(index)
    }

    /// Notes that the messages of `listed` were taken up to `index` (not
    /// included), the last ending at `end` (from the payload's start): a
    /// call for the rest of the payload finds the others.
    pub fn taken(&mut self, listed: &Listed, index: usize, end: u32) {
        if index < listed.to {
            self.resume = Some((listed.addr + end as usize, index, end));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::spec::FrameSpec;
    use crate::fuzzing::{checked_frames, found_ahead, frames_of};

    /// The bounds are reached and hold: past them nothing more is listed,
    /// and the decoder reads the rest itself, finding the same frames.
    #[test]
    fn bounds_hold_and_the_decoder_reads_on() {
        let spec = FrameSpec::parse("resp").expect("a spec");
        // More messages than a chunk's list holds, in one payload.
        let many = b"+\r\n".repeat(MAX_MESSAGES + 100);
        let found = found_ahead(&spec, &[&many]);
        assert!(found.is_full());
        assert_eq!(found.msgs.len(), MAX_MESSAGES);
        let [_, mut plain] = spec.decoders();
        let [_, mut hinted] = spec.decoders();
        let expected = checked_frames(plain.as_mut(), &[&many]);
        assert_eq!(expected.frames.len(), MAX_MESSAGES + 100);
        assert_eq!(expected, frames_of(hinted.as_mut(), &[&many], Some(found)));

        // More payloads than it lists.
        let one = b"+\r\n".repeat(MAX_SEGMENTS + 10);
        let payloads: Vec<&[u8]> = one.chunks(3).collect();
        let found = found_ahead(&spec, &payloads);
        assert!(found.is_full());
        assert_eq!(found.segments(), MAX_SEGMENTS);
        let [_, mut plain] = spec.decoders();
        let [_, mut hinted] = spec.decoders();
        let expected = checked_frames(plain.as_mut(), &payloads);
        assert_eq!(expected, frames_of(hinted.as_mut(), &payloads, Some(found)));

        // More command names than it labels.
        let mut names = Vec::new();
        for i in 0..300 {
            let name = format!("CMD{i}");
            names.extend_from_slice(format!("*1\r\n${}\r\n{name}\r\n", name.len()).as_bytes());
        }
        let found = found_ahead(&spec, &[&names]);
        assert!(found.is_full());
        assert_eq!(found.labels.len(), usize::from(NO_LABEL));
        assert_eq!(found.msgs.len(), usize::from(NO_LABEL));
        let [mut plain, _] = spec.decoders();
        let [mut hinted, _] = spec.decoders();
        let expected = checked_frames(plain.as_mut(), &[&names]);
        assert_eq!(expected.frames.len(), 300);
        assert_eq!(expected, frames_of(hinted.as_mut(), &[&names], Some(found)));
    }

    /// A list given back is reused for a later chunk: emptied, with the
    /// last chunk's labels, in the memory it had; at most [`SPARES`] are
    /// kept.
    #[test]
    fn lists_given_back_are_reused() {
        let spec = FrameSpec::parse("resp").expect("a spec");
        let spares = Spares::default();
        let used = found_ahead(&spec, &[b"*1\r\n$3\r\nGET\r\n+OK\r\n"]);
        assert_eq!((used.msgs.len(), used.labels.len()), (2, 1));
        let memory = used.msgs.as_ptr();
        spares.give(used);
        let last = found_ahead(&spec, &[b"*1\r\n$4\r\nPING\r\n"]);
        let next = spares.next(&last);
        assert_eq!(next.msgs.as_ptr(), memory, "the list's memory is reused");
        assert!(next.msgs.is_empty() && next.segments.is_empty() && !next.is_full());
        assert_eq!(next.labels, last.labels);
        // None kept: a new list.
        let fresh = spares.next(&last);
        assert_eq!(
            (fresh.msgs.capacity(), fresh.labels.clone()),
            (1, last.labels.clone())
        );
        for _ in 0..SPARES + 3 {
            spares.give(last.clone());
        }
        assert_eq!(spares.0.lock().expect("not poisoned").len(), SPARES);
    }

    /// A payload is found by its address alone: the same bytes elsewhere
    /// are not, nor is a place inside a payload no run stopped at.
    #[test]
    fn payloads_are_found_by_address() {
        let spec = FrameSpec::parse("resp").expect("a spec");
        let data = b"+a\r\n+b\r\n+a\r\n+b\r\n".to_vec();
        let copy = data.clone();
        let (first, second) = data.split_at(8);
        let mut hints = Hints::new(Box::new(found_ahead(&spec, &[first, second])));
        assert!(hints.at(&copy[..8]).is_none(), "the same bytes elsewhere");
        let listed = hints.at(first).expect("the first payload");
        assert_eq!((listed.to - listed.from, listed.base), (2, 0));
        assert!(hints.at(&first[4..]).is_none(), "inside a payload");
        let listed = hints.at(second).expect("the second payload");
        assert_eq!(hints.msg(listed.from).end, 4);
        assert!(hints.at(first).is_none(), "passed: looked up in order");
    }
}
