//! The engine behind every length-prefixed protocol: read a header, let the
//! protocol say how long the body is, count the body.
//!
//! ```text
//!  message
//! ┌──────────────────────────────┬─────────────────────────────────┐
//! │ header: held, inspected      │ body: counted, never copied     │
//! └──────────────────────────────┴─────────────────────────────────┘
//!   begin() bytes, then            Inspect::Body { len }
//!   Inspect::More(n) until the
//!   protocol knows the body length
//! ```
//!
//! A [`Framing`] only answers questions about header bytes; [`Framed`] owns
//! the stream position, the bounded header buffer, the body counter, the
//! maximum frame size and the error and gap handling that the [`Decoder`]
//! contract asks for. A framing whose message is several packets (MySQL's
//! 16 MiB continuation packets) asks for another header with
//! [`Framing::done`].

use super::block::lost_in_gap;
use crate::decode::{DecodeError, DecodeErrorKind, Decoder, End, Label, Step};

/// The most header bytes any framing may ask to hold (a whole BGP OPEN).
pub(crate) const MAX_HEAD: usize = 4096;

/// What a framing makes of the header bytes read so far.
#[derive(Debug)]
pub(crate) enum Inspect {
    /// Hold this many header bytes in all (more than held now), then ask
    /// again.
    More(usize),
    /// The header is complete: `len` body bytes follow it.
    Body {
        /// Body bytes after the bytes held.
        len: u64,
        /// The message's label.
        label: Option<Label>,
    },
}

/// A header a framing rejects: `at` bytes into the packet header.
#[derive(Debug)]
pub(crate) struct Bad {
    pub(crate) at: usize,
    pub(crate) kind: DecodeErrorKind,
}

impl Bad {
    /// A protocol violation `at` bytes into the header.
    pub(crate) fn protocol(at: usize, why: impl Into<String>) -> Bad {
        Bad {
            at,
            kind: DecodeErrorKind::Protocol(why.into()),
        }
    }

    /// An impossible length field value `at` bytes into the header.
    pub(crate) fn length(at: usize, value: impl Into<i128>, why: &'static str) -> Bad {
        Bad {
            at,
            kind: DecodeErrorKind::BadLength {
                value: value.into(),
                why,
            },
        }
    }

    /// A malformed header `at` bytes into it.
    pub(crate) fn header(at: usize, why: impl Into<String>) -> Bad {
        Bad {
            at,
            kind: DecodeErrorKind::BadHeader(why.into()),
        }
    }
}

/// The protocol-specific half of a length-prefixed decoder.
pub(crate) trait Framing {
    /// A message starts (its first byte is available): how many header bytes
    /// to hold before the first [`Framing::inspect`]. At least 1. Called
    /// lazily, so state shared with the other direction is current.
    fn begin(&mut self) -> usize;

    /// Examines the header bytes held (exactly as many as last asked for).
    fn inspect(&mut self, head: &[u8]) -> Result<Inspect, Bad>;

    /// The body was counted. `Some(n)`: the message goes on with another
    /// packet whose header has `n` bytes; `None`: the message ends here.
    fn done(&mut self) -> Option<usize> {
        None
    }

    /// After an error, the offset in `input` of a plausible message start;
    /// `input` starts right after the last byte examined.
    fn resync(&mut self, input: &[u8]) -> Option<usize> {
        let _ = input;
        None
    }

    /// Whether [`Framing::resync`] can ever succeed.
    fn can_resync(&self) -> bool {
        false
    }

    /// Decoding failed (corrupt input, or a gap that lost the place) with
    /// `last` the last byte examined; [`Framing::resync`] follows, on the
    /// bytes after it.
    fn failed(&mut self, last: Option<u8>) {
        let _ = last;
    }
}

#[derive(Debug)]
enum State {
    /// At a message boundary.
    Idle,
    /// Holding header bytes until `need` are held.
    Head { need: usize },
    /// Counting `left` body bytes.
    Body { left: u64 },
    /// Failed; returned again until a resync.
    Failed(DecodeError),
}

/// A [`Decoder`] made of a [`Framing`].
///
/// Invariants: `head.len() < need` in `Head` (a full header is inspected at
/// once); `head.len() <= MAX_HEAD`; `msg_len <= max` outside `Failed`.
pub(crate) struct Framed<F> {
    framing: F,
    max: u64,
    /// Offset of the next byte to consume.
    pos: u64,
    /// Offset of the current packet header.
    start: u64,
    /// Bytes of the current message consumed so far.
    msg_len: u64,
    head: Vec<u8>,
    label: Option<Label>,
    state: State,
    /// After a failure: the end of the bytes examined, where a resync may
    /// start looking (the failed chunk is offered again to `resync`).
    floor: u64,
}

impl<F: Framing> Framed<F> {
    pub(crate) fn new(framing: F, max_frame: u64) -> Self {
        Framed {
            framing,
            max: max_frame,
            pos: 0,
            start: 0,
            msg_len: 0,
            head: Vec::new(),
            label: None,
            state: State::Idle,
            floor: 0,
        }
    }

    fn fail(&mut self, offset: u64, kind: DecodeErrorKind) -> DecodeError {
        let error = DecodeError::new(offset, kind);
        self.state = State::Failed(error.clone());
        self.framing.failed(self.head.last().copied());
        error
    }

    fn packet(&mut self, need: usize) -> Result<(), DecodeError> {
        self.head.clear();
        self.start = self.pos;
        self.need_head(need)
    }

    fn need_head(&mut self, need: usize) -> Result<(), DecodeError> {
        let before = self.msg_len - self.head.len() as u64;
        if need <= self.head.len() || need > MAX_HEAD {
            let why = format!("header of {need} bytes asked for");
            return Err(self.fail(self.start, DecodeErrorKind::Protocol(why)));
        }
        if before + need as u64 > self.max {
            let len = before + need as u64;
            let max = self.max;
            return Err(self.fail(self.start, DecodeErrorKind::TooLong { len, max }));
        }
        self.state = State::Head { need };
        Ok(())
    }
}

impl<F: Framing> Framed<F> {
    /// One decode call, without the failure bookkeeping.
    fn step(&mut self, input: &[u8]) -> Result<Step, DecodeError> {
        let mut used = 0usize;
        loop {
            match self.state {
                State::Failed(ref error) => return Err(error.clone()),
                State::Idle => {
                    if used >= input.len() {
                        return Ok(Step::NeedMore);
                    }
                    self.msg_len = 0;
                    self.label = None;
                    let need = self.framing.begin();
                    self.packet(need)?;
                }
                State::Head { need } => {
                    let avail = input.get(used..).unwrap_or_default();
                    let take = need.saturating_sub(self.head.len()).min(avail.len());
                    self.head
                        .extend_from_slice(avail.get(..take).unwrap_or_default());
                    used += take;
                    self.pos += take as u64;
                    self.msg_len += take as u64;
                    if self.head.len() < need {
                        return Ok(Step::NeedMore);
                    }
                    match self.framing.inspect(&self.head) {
                        Err(bad) => return Err(self.fail(self.start + bad.at as u64, bad.kind)),
                        Ok(Inspect::More(n)) => self.need_head(n)?,
                        Ok(Inspect::Body { len, label }) => {
                            let total = self.msg_len.saturating_add(len);
                            if total > self.max {
                                let max = self.max;
                                let kind = DecodeErrorKind::TooLong { len: total, max };
                                return Err(self.fail(self.start, kind));
                            }
                            if self.label.is_none() {
                                self.label = label;
                            }
                            self.state = State::Body { left: len };
                        }
                    }
                }
                State::Body { left } => {
                    if left > 0 {
                        let avail = (input.len() - used.min(input.len())) as u64;
                        let take = left.min(avail);
                        used += take as usize;
                        self.pos += take;
                        self.msg_len += take;
                        if take < left {
                            self.state = State::Body { left: left - take };
                            return Ok(Step::NeedMore);
                        }
                    }
                    match self.framing.done() {
                        Some(need) => self.packet(need)?,
                        None => {
                            self.state = State::Idle;
                            return Ok(Step::Frame {
                                consumed: used,
                                label: self.label.take(),
                            });
                        }
                    }
                }
            }
        }
    }
}

impl<F: Framing> Decoder for Framed<F> {
    fn decode(&mut self, input: &[u8]) -> Result<Step, DecodeError> {
        if let State::Failed(error) = &self.state {
            return Err(error.clone());
        }
        let call = self.pos;
        let step = self.step(input);
        if step.is_err() {
            // Nothing of a failed chunk counts as consumed.
            self.floor = self.pos;
            self.pos = call;
        }
        step
    }
    fn finish(&mut self) -> End {
        match self.state {
            State::Idle => End::Clean,
            State::Body { left } => End::Truncated {
                missing: Some(left),
            },
            State::Head { .. } | State::Failed(_) => End::Truncated { missing: None },
        }
    }

    fn skip(&mut self, len: u64) -> bool {
        let at = self.pos;
        self.pos = self.pos.saturating_add(len);
        if let State::Body { left } = self.state {
            if len < left {
                self.state = State::Body { left: left - len };
                self.msg_len += len;
                return true;
            }
        }
        self.fail(at, lost_in_gap(len));
        self.framing.failed(None);
        self.floor = self.pos;
        false
    }

    fn resync(&mut self, input: &[u8]) -> Option<usize> {
        if !self.framing.can_resync() {
            self.pos += input.len() as u64;
            return None;
        }
        let start = usize::try_from(self.floor.saturating_sub(self.pos))
            .unwrap_or(usize::MAX)
            .min(input.len());
        match self.framing.resync(input.get(start..).unwrap_or_default()) {
            Some(at) => {
                let at = (start + at).min(input.len());
                self.pos += at as u64;
                self.state = State::Idle;
                Some(at)
            }
            None => {
                self.pos += input.len() as u64;
                None
            }
        }
    }

    fn can_resync(&self) -> bool {
        self.framing.can_resync()
    }

    fn max_frame(&self) -> u64 {
        self.max
    }
}

/// Reads `n` (at most 8) big-endian bytes of `bytes` from `at`; missing
/// bytes read as zero.
pub(crate) fn be(bytes: &[u8], at: usize, n: usize) -> u64 {
    (at..at + n).fold(0u64, |acc, i| {
        (acc << 8) | u64::from(bytes.get(i).copied().unwrap_or(0))
    })
}

/// Reads `n` (at most 8) little-endian bytes of `bytes` from `at`.
pub(crate) fn le(bytes: &[u8], at: usize, n: usize) -> u64 {
    (at..at + n).rev().fold(0u64, |acc, i| {
        (acc << 8) | u64::from(bytes.get(i).copied().unwrap_or(0))
    })
}

/// The byte at `at`, or 0.
pub(crate) fn byte(bytes: &[u8], at: usize) -> u8 {
    bytes.get(at).copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One-byte length prefix, body of that length, label "x".
    struct Tiny;

    impl Framing for Tiny {
        fn begin(&mut self) -> usize {
            1
        }
        fn inspect(&mut self, head: &[u8]) -> Result<Inspect, Bad> {
            match byte(head, 0) {
                0xff => Err(Bad::protocol(0, "0xff")),
                n => Ok(Inspect::Body {
                    len: u64::from(n),
                    label: Some(Label::new("x")),
                }),
            }
        }
    }

    #[test]
    fn frames_and_counts_bodies() {
        let mut d = Framed::new(Tiny, 100);
        assert_eq!(
            d.decode(&[2, 9, 9, 0, 1]),
            Ok(Step::Frame {
                consumed: 3,
                label: Some(Label::new("x"))
            })
        );
        assert!(matches!(
            d.decode(&[0, 1]),
            Ok(Step::Frame { consumed: 1, .. })
        ));
        assert_eq!(d.decode(&[1]), Ok(Step::NeedMore));
        assert!(d.skip(0));
        assert_eq!(d.finish(), End::Truncated { missing: Some(1) });
    }

    #[test]
    fn errors_stick_and_carry_offsets() {
        let mut d = Framed::new(Tiny, 100);
        assert!(matches!(d.decode(&[0, 0xff]), Ok(Step::Frame { .. })));
        let e = d.decode(&[0xff]).unwrap_err();
        assert_eq!(e.offset, 1);
        assert_eq!(d.decode(&[0]), Err(e));
    }

    #[test]
    fn too_long_is_checked_before_counting() {
        let mut d = Framed::new(Tiny, 10);
        let e = d.decode(&[20]).unwrap_err();
        assert_eq!(*e.kind, DecodeErrorKind::TooLong { len: 21, max: 10 });
    }

    #[test]
    fn gap_inside_a_body_is_survived_elsewhere_not() {
        let mut d = Framed::new(Tiny, 100);
        assert_eq!(d.decode(&[10, 1]), Ok(Step::NeedMore));
        assert!(d.skip(5));
        assert!(matches!(
            d.decode(&[1, 2, 3, 4, 9]),
            Ok(Step::Frame { consumed: 4, .. })
        ));
        assert!(!d.skip(1));
        assert_eq!(d.decode(&[0]).unwrap_err().offset, 11);
        assert!(!d.can_resync());
    }

    #[test]
    fn byte_readers_never_panic() {
        assert_eq!(be(&[1, 2], 0, 4), 0x0102_0000);
        assert_eq!(le(&[1, 2, 3], 0, 3), 0x030201);
        assert_eq!(byte(&[], 3), 0);
    }
}
