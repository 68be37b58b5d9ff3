//! Framing decoders: where one application message ends and the next begins.
//!
//! This module owns the [`Decoder`] trait, the small types every decoder
//! shares ([`Step`], [`End`], [`Label`], [`DecodeError`]), the `--frame`
//! specification language ([`spec`]) and the decoders themselves. It does not
//! know about packets, segments or captures: a decoder sees one direction of
//! one byte stream, in whatever chunks the caller happens to have.
//!
//! # The contract
//!
//! A decoder is fed the bytes of one direction of a stream, in order, in
//! chunks of any size. Each call to [`Decoder::decode`] examines a chunk that
//! starts right after everything consumed so far and answers one of:
//!
//! * [`Step::NeedMore`]: every byte of the chunk belongs to the message in
//!   progress and was consumed; the message is not complete yet. This is a
//!   status, never an error.
//! * [`Step::Frame`]: a message ends `consumed` bytes into the chunk. The
//!   caller feeds the rest of the chunk in a following call.
//! * `Err(`[`DecodeError`]`)`: the input cannot be framed (a hostile length,
//!   a missing delimiter past the maximum frame size, a protocol violation).
//!   The error carries the stream offset of the offending bytes.
//!
//! Decoders are scanners, not collectors: a body whose length is known is
//! counted, not copied, so framing a stream costs no allocation per message.
//! Only the bytes a decoder must look at (a length field, a JSON header, an
//! HTTP header block) are held, and those are bounded by the decoder's
//! maximum frame size. [`collect_frames`] gathers whole frames for callers
//! that want the bytes.
//!
//! The frames found never depend on how the input was chunked: feeding a
//! stream whole or one byte at a time gives the same boundaries, labels and
//! errors (tested for every decoder, and checked by the fuzz targets).

pub mod ahead;
pub mod delimiter;
pub mod fixed;
pub mod json_header;
pub mod length;
pub mod none;
pub mod proto;
pub mod spec;

use std::fmt;

/// The maximum frame size, in bytes, of every decoder that is not told
/// otherwise: 16 MiB.
pub const DEFAULT_MAX_FRAME: u64 = 16 * 1024 * 1024;

/// The error a decoder reports once a capture gap has cost it its place (see
/// [`Decoder::skip`]): `len` bytes went missing at stream offset `offset`.
pub(crate) fn lost_in_gap(offset: u64, len: u64) -> DecodeError {
    DecodeError::new(
        offset,
        DecodeErrorKind::Protocol(format!("framing lost in a capture gap of {len} bytes")),
    )
}

/// What a decoder made of one chunk of input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// The whole chunk was consumed and the message in progress is still
    /// incomplete.
    NeedMore,
    /// A message ends `consumed` bytes into the chunk. `consumed` is at
    /// least 1 and at most the chunk's length: every message has a byte.
    Frame {
        /// Bytes of the chunk that belong to the message just completed.
        consumed: usize,
        /// A short protocol label for the message (`GET`, `200`, `SET`, `Q`).
        label: Option<Label>,
    },
}

/// What the end of the stream means for the message in progress, as
/// answered by [`Decoder::finish`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// The stream ended on a message boundary.
    Clean,
    /// The stream ended inside a message.
    Truncated {
        /// How many more bytes the message needed, when the framing says so.
        missing: Option<u64>,
    },
    /// The end of the stream completed a message whose end is the close of
    /// the connection (an HTTP/1.0 body without a length, say).
    Frame {
        /// The message's label, as for [`Step::Frame`].
        label: Option<Label>,
    },
}

/// A corrupt-input error: where and why framing failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at stream offset {offset}")]
pub struct DecodeError {
    /// Offset, counted from the first byte ever fed to this decoder, of the
    /// bytes that could not be framed (the start of a length field, say).
    pub offset: u64,
    /// What was wrong (boxed: errors are rare, and a small error keeps the
    /// result of every decode call small).
    pub kind: Box<DecodeErrorKind>,
}

/// The reasons a decoder rejects its input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeErrorKind {
    /// A frame (as its header states it, or as scanned so far) exceeds the
    /// decoder's maximum frame size.
    #[error("frame of {len} bytes exceeds the maximum of {max}")]
    TooLong {
        /// The frame size declared or reached.
        len: u64,
        /// The configured maximum.
        max: u64,
    },
    /// A length field, after adjustment, gives a size the framing cannot
    /// have (negative, or smaller than the header itself).
    #[error("length field value {value} is invalid: {why}")]
    BadLength {
        /// The raw value of the field, as read.
        value: i128,
        /// Why it was rejected.
        why: &'static str,
    },
    /// A header the framing needs (a JSON header, an HTTP start line) does
    /// not parse.
    #[error("malformed header: {0}")]
    BadHeader(String),
    /// The bytes break the protocol's rules (an unknown RESP type byte, say).
    #[error("protocol violation: {0}")]
    Protocol(String),
}

impl DecodeError {
    /// Builds an error at `offset`.
    pub fn new(offset: u64, kind: DecodeErrorKind) -> Self {
        DecodeError {
            offset,
            kind: Box::new(kind),
        }
    }
}

/// A short label carried inline (no allocation): at most 31 bytes of UTF-8,
/// longer text is cut on a character boundary.
///
/// 32 bytes aligned on 16, with no padding: every copy moves the same two
/// 16-byte halves. (A copy that reads back, in other pieces, a label just
/// written stalls the processor; with labels passed for every message,
/// that showed in profiles.)
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[repr(C, align(16))]
pub struct Label {
    len: u8,
    buf: [u8; Label::CAPACITY],
}

impl Label {
    /// The most bytes a label holds.
    pub const CAPACITY: usize = 31;

    /// A label from text, cut to [`Label::CAPACITY`] bytes.
    pub fn new(text: &str) -> Self {
        let mut end = text.len().min(Self::CAPACITY);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let mut buf = [0u8; Self::CAPACITY];
        buf[..end].copy_from_slice(&text.as_bytes()[..end]);
        Label {
            len: end as u8,
            buf,
        }
    }

    /// A label from protocol bytes: non-printable bytes become `.`.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let mut buf = [0u8; Self::CAPACITY];
        let n = bytes.len().min(Self::CAPACITY);
        for (dst, &b) in buf.iter_mut().zip(&bytes[..n]) {
            *dst = if b.is_ascii_graphic() { b } else { b'.' };
        }
        Label { len: n as u8, buf }
    }

    /// The one-byte label of `b` (`.` when not printable), from a table
    /// built at compile time: protocols label many small messages by their
    /// type byte, and copying a ready label is cheaper than building one.
    pub fn of_byte(b: u8) -> Self {
        BYTE_LABELS[usize::from(b)]
    }

    const fn byte(b: u8) -> Self {
        let mut buf = [0u8; Self::CAPACITY];
        buf[0] = if b.is_ascii_graphic() { b } else { b'.' };
        Label { len: 1, buf }
    }

    /// The label's text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..usize::from(self.len)]).unwrap_or("")
    }
}

/// Every one-byte label.
static BYTE_LABELS: [Label; 256] = {
    let mut table = [Label::byte(0); 256];
    let mut i = 0;
    while i < 256 {
        table[i] = Label::byte(i as u8);
        i += 1;
    }
    table
};

impl serde::Serialize for Label {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl fmt::Debug for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Label({:?})", self.as_str())
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One direction's framing state machine. See the module documentation for
/// the contract.
pub trait Decoder {
    /// Examines `input`, the bytes that follow everything consumed so far.
    ///
    /// After `Ok(Step::NeedMore)` all of `input` was consumed. After
    /// `Ok(Step::Frame { consumed, .. })` exactly `consumed` bytes were, and
    /// the decoder stands at the start of the next message. After `Err`, the
    /// decoder is failed until [`Decoder::resync`] succeeds; calling `decode`
    /// again on a failed decoder returns the same error.
    fn decode(&mut self, input: &[u8]) -> Result<Step, DecodeError>;

    /// Reads several whole messages in one call, for streams of many small
    /// messages, where a call per message costs more than reading one.
    /// Called only at a message boundary (at the start, or right after a
    /// [`Step::Frame`]), it appends to `run` the end and label of each
    /// message lying whole at the start of `input`, exactly as successive
    /// [`Decoder::decode`] calls would report them, and consumes those
    /// bytes. It stops when `run` is full, at the end of the input, or at
    /// the first message it does not read in one pass (an incomplete or
    /// malformed one, say), which [`Decoder::decode`] then reads. Finding
    /// nothing is always correct; the default finds nothing.
    fn decode_run(&mut self, input: &[u8], run: &mut Run) {
        let _ = (input, run);
    }

    /// The stream ended (FIN, RST or end of capture): what of the message in
    /// progress? Called at most once, after which the decoder is spent.
    fn finish(&mut self) -> End;

    /// `len` bytes of the stream are missing (a capture gap). Returns `true`
    /// when the framing survives, because the gap lies inside a body of known
    /// length that the decoder can count past; `false` when the decoder has
    /// lost its place, after which only [`Decoder::resync`] brings it back.
    fn skip(&mut self, len: u64) -> bool {
        let _ = len;
        false
    }

    /// After an error or a lost place, looks for the start of a message in
    /// `input` (bytes following everything consumed or skipped so far).
    /// Returns how many bytes to drop before decoding again, with the decoder
    /// reset to a message boundary; `None` when this chunk holds no place to
    /// resume (all of it is then dropped) or the framing cannot resynchronise.
    fn resync(&mut self, input: &[u8]) -> Option<usize> {
        let _ = input;
        None
    }

    /// Whether this framing can ever resynchronise after an error (delimiter
    /// framings can; length-prefixed ones cannot).
    fn can_resync(&self) -> bool {
        false
    }

    /// Whether each TCP segment (or UDP datagram) is a message of its own:
    /// true only for the `none` framing, which has no byte-level boundaries.
    /// The caller then ends a message at the end of every segment.
    fn segment_is_message(&self) -> bool {
        false
    }

    /// The largest message this decoder accepts, in bytes.
    fn max_frame(&self) -> u64;

    /// Says whether the labels of the messages found will be read. They
    /// are until this says otherwise; a decoder told they will not may
    /// report `None` rather than work them out (framing detection reads
    /// only where messages end). The default ignores it.
    fn want_labels(&mut self, wanted: bool) {
        let _ = wanted;
    }
}

/// The most messages one [`Decoder::decode_run`] call reports.
pub const RUN: usize = 32;

/// Whole messages found by one [`Decoder::decode_run`] call: the end of
/// each (an offset into that call's input, increasing) and its label.
/// Reused from call to call; nothing is allocated.
#[derive(Clone, Debug)]
pub struct Run {
    ends: [usize; RUN],
    labels: [Option<Label>; RUN],
    len: usize,
    /// Messages found ahead in the chunk being read ([`ahead`]).
    pub(crate) hints: Option<ahead::Hints>,
    /// Payloads whose messages were taken from what was found ahead.
    pub(crate) hinted: u64,
    /// Only the first message's label is read ([`Run::wants_label`]).
    first_label_only: bool,
}

impl Default for Run {
    fn default() -> Self {
        Run {
            ends: [0; RUN],
            labels: [None; RUN],
            len: 0,
            hints: None,
            hinted: 0,
            first_label_only: false,
        }
    }
}

impl Run {
    /// Takes the messages found ahead in the chunk now being read, or
    /// drops those of the last (`None`: the bytes now read were not
    /// scanned). See [`ahead`]. Returns the last chunk's list, if any.
    pub(crate) fn found_ahead(
        &mut self,
        found: Option<Box<ahead::Found>>,
    ) -> Option<Box<ahead::Found>> {
        std::mem::replace(&mut self.hints, found.map(ahead::Hints::new))
            .map(ahead::Hints::into_found)
    }

    /// Empties the run.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Whether it holds [`RUN`] messages.
    pub fn is_full(&self) -> bool {
        self.len == RUN
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many messages it holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Says whether only the first message's label will be read: the
    /// analysis counts the others without building them when its report
    /// does not look at them.
    pub fn first_label_only(&mut self, only: bool) {
        self.first_label_only = only;
    }

    /// Whether the label of the next message pushed will be read: when it
    /// will not, a decoder may push `None` rather than work it out.
    #[inline]
    pub fn wants_label(&self) -> bool {
        self.len == 0 || !self.first_label_only
    }

    /// Message `i` (below [`Run::len`]): its end and label.
    pub fn get(&self, i: usize) -> (usize, Option<Label>) {
        (self.ends[i], self.labels[i])
    }

    /// Adds a message ending at `end`; ignored when full.
    pub fn push(&mut self, end: usize, label: Option<Label>) {
        if self.len < RUN {
            self.ends[self.len] = end;
            self.labels[self.len] = label;
            self.len += 1;
        }
    }
}

/// A frame gathered whole by [`collect_frames`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Offset of the frame's first byte in the stream.
    pub offset: u64,
    /// The frame's bytes, exactly as on the wire (headers included).
    pub bytes: Vec<u8>,
    /// The decoder's label, if any.
    pub label: Option<Label>,
}

/// The result of running a decoder over a whole input with [`collect_frames`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Collected {
    /// Every complete frame, in order.
    pub frames: Vec<Frame>,
    /// The first error, if decoding stopped on one.
    pub error: Option<DecodeError>,
    /// What the end of input meant for the message in progress (only when
    /// decoding did not stop on an error).
    pub end: Option<End>,
}

/// Runs `decoder` over `chunks` (consecutive pieces of one stream) and
/// gathers whole frames. Stops at the first error. Used by replay and by the
/// split-invariance tests; the analysis path never copies frames.
pub fn collect_frames<'a, I>(decoder: &mut dyn Decoder, chunks: I) -> Collected
where
    I: IntoIterator<Item = &'a [u8]>,
{
    let mut frames = Vec::new();
    let mut current = Vec::new();
    let mut start = 0u64;
    let mut pos = 0u64;
    for chunk in chunks {
        let mut rest = chunk;
        loop {
            match decoder.decode(rest) {
                Ok(Step::NeedMore) => {
                    current.extend_from_slice(rest);
                    pos += rest.len() as u64;
                    break;
                }
                Ok(Step::Frame { consumed, label }) => {
                    debug_assert!(consumed >= 1 && consumed <= rest.len());
                    let consumed = consumed.min(rest.len());
                    current.extend_from_slice(&rest[..consumed]);
                    pos += consumed as u64;
                    frames.push(Frame {
                        offset: start,
                        bytes: std::mem::take(&mut current),
                        label,
                    });
                    start = pos;
                    rest = &rest[consumed..];
                    if rest.is_empty() || consumed == 0 {
                        break;
                    }
                }
                Err(error) => {
                    return Collected {
                        frames,
                        error: Some(error),
                        end: None,
                    }
                }
            }
        }
    }
    let end = decoder.finish();
    if let End::Frame { label } = end {
        frames.push(Frame {
            offset: start,
            bytes: std::mem::take(&mut current),
            label,
        });
    }
    Collected {
        frames,
        error: None,
        end: Some(end),
    }
}
