//! Bounded line scanning for the text protocols (HTTP/1, RESP, memcached).
//!
//! ```text
//!  G E T   / i n d e x   H T T P / 1 . 1 \r \n
//! └────── kept (at most `keep` bytes) ─────┘      counted up to `limit`
//! ```
//!
//! A [`Line`] collects one line across chunks. It keeps at most `keep` bytes
//! of it (what the protocol inspects), counts the rest, and refuses a line
//! longer than a limit at exactly the same byte however the input is
//! chunked, so that errors do not depend on chunking.
//!
//! [`Resume`] is how the line protocols resynchronise. A failed `decode`
//! reports nothing consumed, so the caller offers the same chunk to
//! `resync`: the decoder's position goes back to the start of that chunk,
//! and a resume point is only taken at or after the *floor*, the end of the
//! bytes examined when the error was found. That end depends on the bytes
//! alone (a line's `\n`, a length limit, the offending byte), so resync
//! points, like frames and errors, never depend on chunking.
//!
//! [`Text`] is what a decoder of lines and counted blocks (RESP, memcached)
//! keeps besides its protocol's own state: its position and the message's
//! length, the line being read, the resume point, and the
//! [`Decoder`](crate::decode::Decoder) methods they make up (failing,
//! finishing, skipping a gap, resynchronising). A protocol keeps what is its
//! own: its state (between messages, failed, or its place inside a message:
//! [`Place`]), labels, nesting. The state is one flat enum of the
//! protocol's, so that its hot loop matches a single discriminant.

use super::block::{lost_in_gap, Block, Fill};
use crate::decode::{DecodeError, DecodeErrorKind, End, Label, Step};

/// One line being read.
#[derive(Debug, Default)]
pub(crate) struct Line {
    kept: Vec<u8>,
    len: u64,
}

/// What feeding a chunk to a [`Line`] gave.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Fed {
    /// The line ended (its `\n` included) after this many bytes of the chunk.
    Done(usize),
    /// The whole chunk was consumed; the line goes on.
    More,
    /// The line is longer than the limit, found after examining this many
    /// bytes of the chunk.
    TooLong(usize),
}

impl Line {
    /// Bytes of the line fed so far.
    pub(crate) fn fed(&self) -> u64 {
        self.len
    }

    /// Starts a new line.
    pub(crate) fn clear(&mut self) {
        self.kept.clear();
        self.len = 0;
    }

    /// Feeds bytes: keeps up to `keep` bytes of the line, refuses lines
    /// longer than `limit` bytes (terminator included).
    pub(crate) fn feed(&mut self, input: &[u8], keep: usize, limit: u64) -> Fed {
        let room = limit.saturating_sub(self.len);
        let window = input.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let scan = input.get(..window).unwrap_or_default();
        let (end, done) = match scan.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (scan.len(), false),
        };
        let part = scan.get(..end).unwrap_or_default();
        let want = keep.saturating_sub(self.kept.len()).min(part.len());
        self.kept
            .extend_from_slice(part.get(..want).unwrap_or_default());
        self.len += end as u64;
        if done {
            Fed::Done(end)
        } else if self.len >= limit {
            Fed::TooLong(end)
        } else {
            Fed::More
        }
    }

    /// The kept bytes without the line terminator (`\r\n` or `\n`).
    pub(crate) fn text(&self) -> &[u8] {
        let t = self.kept.strip_suffix(b"\n").unwrap_or(&self.kept);
        t.strip_suffix(b"\r").unwrap_or(t)
    }

    /// Whether the kept bytes end with `\r\n` (the whole line was kept).
    pub(crate) fn has_crlf(&self) -> bool {
        self.kept.ends_with(b"\r\n")
    }

    /// Whether the whole line was kept.
    pub(crate) fn complete(&self) -> bool {
        self.kept.len() as u64 == self.len
    }
}

/// Where a failed line decoder may resume. See the module documentation.
#[derive(Debug)]
pub(crate) struct Resume {
    /// Whether the byte before the next input is `\n` (or a gap boundary,
    /// or the start of the stream).
    last_lf: bool,
    /// No resume point lies before this stream offset.
    floor: u64,
}

impl Default for Resume {
    fn default() -> Self {
        Resume {
            last_lf: true,
            floor: 0,
        }
    }
}

impl Resume {
    /// A decode call consumed the first `consumed` bytes of `input`.
    pub(crate) fn consumed(&mut self, input: &[u8], consumed: usize) {
        if let Some(&b) = consumed.checked_sub(1).and_then(|i| input.get(i)) {
            self.last_lf = b == b'\n';
        }
    }

    /// The bookkeeping after one decode step of a line-based decoder: notes
    /// the last byte consumed, and after an error moves `pos` back to
    /// `call` (where the failed call started: a failed call consumes
    /// nothing) and keeps resume points after the bytes examined.
    pub(crate) fn track(
        &mut self,
        input: &[u8],
        pos: &mut u64,
        call: u64,
        step: Result<Step, DecodeError>,
    ) -> Result<Step, DecodeError> {
        match &step {
            Ok(Step::NeedMore) => self.consumed(input, input.len()),
            Ok(Step::Frame { consumed, .. }) => self.consumed(input, *consumed),
            Err(_) => {
                self.failed(*pos);
                *pos = call;
            }
        }
        step
    }

    /// Decoding failed once the bytes before stream offset `floor` were
    /// examined.
    pub(crate) fn failed(&mut self, floor: u64) {
        self.floor = floor;
    }

    /// A capture gap ending at stream offset `end` lost the place: the byte
    /// after it may start a line.
    pub(crate) fn gap(&mut self, end: u64) {
        self.floor = end;
        self.last_lf = true;
    }

    /// A capture gap of `len` bytes at stream offset `*pos` lost the
    /// place: moves `*pos` past it, resumes after it, and returns the error
    /// (at the gap's start) the decoder is failed with.
    pub(crate) fn lost(&mut self, pos: &mut u64, len: u64) -> DecodeError {
        let at = *pos;
        *pos = pos.saturating_add(len);
        self.gap(*pos);
        DecodeError::new(at, lost_in_gap(len))
    }

    /// [`Decoder::resync`](crate::decode::Decoder::resync) for a line
    /// decoder at stream offset `*pos`: the offset in `input` of the first
    /// line start at or after the floor whose first byte `accept`s, with
    /// `*pos` moved there; `None`, with `*pos` past `input`, when there is
    /// none.
    pub(crate) fn resync(
        &mut self,
        input: &[u8],
        pos: &mut u64,
        accept: impl Fn(u8) -> bool,
    ) -> Option<usize> {
        let found = self.find(input, *pos, accept);
        *pos += found.unwrap_or(input.len()) as u64;
        found
    }

    /// The offset in `input` (which starts at stream offset `pos`) of the
    /// first line start at or after the floor whose first byte `accept`s.
    pub(crate) fn find(
        &mut self,
        input: &[u8],
        pos: u64,
        accept: impl Fn(u8) -> bool,
    ) -> Option<usize> {
        for (i, &b) in input.iter().enumerate() {
            if self.last_lf && pos + i as u64 >= self.floor && accept(b) {
                return Some(i);
            }
            self.last_lf = b == b'\n';
        }
        None
    }
}

/// Whether the message goes on after a line or a block, or ends with it.
pub(crate) enum Flow {
    Continue,
    Ended,
}

/// A line protocol's state: between messages, failed (until it
/// resynchronises), or a place inside a message.
pub(crate) trait Place {
    /// Between messages.
    const IDLE: Self;
    /// Failed with `error`.
    fn failed(error: DecodeError) -> Self;
    /// Whether the decoder is between messages.
    fn is_idle(&self) -> bool;
    /// The error the decoder failed with, if it did.
    fn error(&self) -> Option<&DecodeError>;
    /// The counted block being read, if any: a capture gap inside its body
    /// is counted past.
    fn block(&mut self) -> Option<&mut Block>;
}

/// Implements [`Place`] for a protocol's state enum `$state`, which has the
/// variants `Idle` and `Failed(DecodeError)`, and `$block(Block)` for the
/// counted block being read.
macro_rules! place {
    ($state:ident, $block:ident) => {
        impl $crate::decode::proto::line::Place for $state {
            const IDLE: $state = $state::Idle;

            fn failed(error: $crate::decode::DecodeError) -> $state {
                $state::Failed(error)
            }

            #[inline]
            fn is_idle(&self) -> bool {
                matches!(self, $state::Idle)
            }

            #[inline]
            fn error(&self) -> Option<&$crate::decode::DecodeError> {
                match self {
                    $state::Failed(error) => Some(error),
                    _ => None,
                }
            }

            fn block(&mut self) -> Option<&mut $crate::decode::proto::block::Block> {
                match self {
                    $state::$block(block) => Some(block),
                    _ => None,
                }
            }
        }
    };
}
pub(crate) use place;

/// What a decoder of lines and counted blocks keeps besides its protocol's
/// own state. See the module documentation.
///
/// Invariant: `len` counts the bytes of the message in progress that were
/// consumed, `pos` every byte consumed or skipped since the stream began.
#[derive(Debug)]
pub(crate) struct Text<S> {
    pub(crate) state: S,
    /// The largest message accepted.
    pub(crate) max: u64,
    /// Stream offset of the next byte.
    pub(crate) pos: u64,
    /// Bytes of the message so far.
    pub(crate) len: u64,
    /// Stream offset of the line being read.
    pub(crate) line_start: u64,
    pub(crate) line: Line,
    resume: Resume,
}

impl<S: Place> Text<S> {
    /// A decoder between messages at the start of the stream.
    pub(crate) fn new(max: u64) -> Self {
        Text {
            state: S::IDLE,
            max,
            pos: 0,
            len: 0,
            line_start: 0,
            line: Line::default(),
            resume: Resume::default(),
        }
    }

    /// `n` bytes of the message were read.
    #[inline]
    pub(crate) fn consume(&mut self, n: usize) {
        self.pos += n as u64;
        self.len += n as u64;
    }

    /// Fails the decoder with an error at stream offset `offset`, and
    /// returns the error.
    pub(crate) fn fail(&mut self, offset: u64, kind: DecodeErrorKind) -> DecodeError {
        let error = DecodeError::new(offset, kind);
        self.state = S::failed(error.clone());
        error
    }

    /// [`Text::fail`] with a protocol error.
    pub(crate) fn protocol(&mut self, offset: u64, why: impl Into<String>) -> DecodeError {
        self.fail(offset, DecodeErrorKind::Protocol(why.into()))
    }

    /// [`Text::fail`]: the message at `at` is `len` bytes, more than the
    /// maximum.
    pub(crate) fn too_long(&mut self, at: u64, len: u64) -> DecodeError {
        let max = self.max;
        self.fail(at, DecodeErrorKind::TooLong { len, max })
    }

    /// A new line starts at the next byte.
    pub(crate) fn start_line(&mut self) {
        self.line.clear();
        self.line_start = self.pos;
    }

    /// Feeds `rest` to the line being read ([`Line::feed`]) and consumes
    /// the bytes it examined.
    #[inline]
    pub(crate) fn feed_line(&mut self, rest: &[u8], keep: usize, limit: u64) -> Fed {
        let fed = self.line.feed(rest, keep, limit);
        self.consume(match fed {
            Fed::More => rest.len(),
            Fed::Done(n) | Fed::TooLong(n) => n,
        });
        fed
    }

    /// Consumes the bytes of `rest` that a block's [`Block::feed`] examined
    /// and gave `fill` for.
    #[inline]
    pub(crate) fn fill<'a>(&mut self, rest: &[u8], fill: Fill<'a>) -> Fill<'a> {
        self.consume(match fill {
            Fill::More { .. } => rest.len(),
            Fill::Done { used, .. } | Fill::NoCrlf { used } => used,
        });
        fill
    }

    /// The message ends `used` bytes into this call's input, labelled
    /// `label`: the decoder is between messages again.
    pub(crate) fn frame(&mut self, used: usize, label: Option<Label>) -> Result<Step, DecodeError> {
        self.state = S::IDLE;
        Ok(Step::Frame {
            consumed: used,
            label,
        })
    }

    /// The start of a decode call: the position it starts at, or the error
    /// the decoder failed with.
    #[inline]
    pub(crate) fn begin(&self) -> Result<u64, DecodeError> {
        match self.state.error() {
            Some(error) => Err(error.clone()),
            None => Ok(self.pos),
        }
    }

    /// The end of a decode call that started at `call`: the resume
    /// bookkeeping ([`Resume::track`]).
    pub(crate) fn track(
        &mut self,
        input: &[u8],
        call: u64,
        step: Result<Step, DecodeError>,
    ) -> Result<Step, DecodeError> {
        self.resume.track(input, &mut self.pos, call, step)
    }

    /// Whole messages, the first `n` bytes of `input`, were read at once
    /// while between messages.
    #[inline]
    pub(crate) fn whole(&mut self, input: &[u8], n: usize) {
        self.pos += n as u64;
        self.resume.consumed(input, n);
    }

    /// [`Decoder::finish`](crate::decode::Decoder::finish): clean between
    /// messages; inside the body of a block that ends the message (`last`),
    /// the rest of the body and its CRLF are missing; anywhere else an
    /// unknown amount is.
    pub(crate) fn finish(&mut self, last: bool) -> End {
        if self.state.is_idle() {
            return End::Clean;
        }
        match self.state.block() {
            Some(Block::Body { left, .. }) if last => End::Truncated {
                missing: Some(*left + 2),
            },
            _ => End::Truncated { missing: None },
        }
    }

    /// [`Decoder::skip`](crate::decode::Decoder::skip): a gap inside a
    /// block's body is counted past; any other gap loses the place.
    pub(crate) fn skip(&mut self, len: u64) -> bool {
        if self.state.block().is_some_and(|block| block.skip(len)) {
            self.pos += len;
            self.len += len;
            return true;
        }
        self.state = S::failed(self.resume.lost(&mut self.pos, len));
        false
    }

    /// [`Decoder::resync`](crate::decode::Decoder::resync): the next line
    /// start whose first byte `accept`s ([`Resume::resync`]), where the
    /// decoder is between messages again.
    pub(crate) fn resync(&mut self, input: &[u8], accept: impl Fn(u8) -> bool) -> Option<usize> {
        let at = self.resume.resync(input, &mut self.pos, accept)?;
        self.state = S::IDLE;
        Some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_span_chunks_and_keep_a_prefix() {
        let mut l = Line::default();
        assert_eq!(l.feed(b"SET ke", 4, 100), Fed::More);
        assert_eq!(l.feed(b"y\r\nrest", 4, 100), Fed::Done(3));
        assert_eq!(l.text(), b"SET ");
        assert_eq!(l.len, 9);
        assert!(!l.complete());
    }

    #[test]
    fn the_limit_does_not_depend_on_chunking() {
        let mut whole = Line::default();
        assert_eq!(whole.feed(b"abcdef\n", 64, 5), Fed::TooLong(5));
        let mut split = Line::default();
        assert_eq!(split.feed(b"abc", 64, 5), Fed::More);
        assert_eq!(split.feed(b"def\n", 64, 5), Fed::TooLong(2));
        let mut fits = Line::default();
        assert_eq!(fits.feed(b"abcd\n", 64, 5), Fed::Done(5));
        assert!(fits.complete() && !fits.has_crlf());
    }

    #[test]
    fn resume_points_respect_the_floor_and_line_starts() {
        let mut r = Resume::default();
        r.failed(4);
        // "GET" at 0 lies before the floor; "bad" is not accepted.
        assert_eq!(r.find(b"GET\nbad\nGET", 0, |b| b == b'G'), Some(8));
        let mut r = Resume::default();
        r.failed(0);
        r.consumed(b"xx", 2);
        assert_eq!(r.find(b"G\n", 10, |b| b == b'G'), None);
        assert_eq!(r.find(b"GET", 12, |b| b == b'G'), Some(0));
        r.gap(20);
        assert_eq!(r.find(b"GET", 20, |b| b == b'G'), Some(0));
    }
}
