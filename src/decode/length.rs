//! Length-prefixed framing, in the vocabulary of Netty's
//! `LengthFieldBasedFrameDecoder`.
//!
//! This module owns the [`LengthDecoder`] and its [`LengthConfig`]. It reads
//! one length field per frame and counts the rest of the frame without
//! copying it; it never holds more than the length field's value. A header
//! that lies whole in the input is read in one step, and the whole frames
//! at a message boundary in one call ([`Decoder::decode_run`]); a header
//! cut by a segment's end, or a bad one, is read a byte at a time, as the
//! bytes come.
//!
//! # Wire layout
//!
//! ```text
//!  frame start                                          frame end
//!  |<-- offset -->|<-- field -->|<------- value + adjust ------->|
//!  +--------------+-------------+--------------------------------+
//!  | other header | length      | rest of the frame              |
//!  +--------------+-------------+--------------------------------+
//!  |<-- strip ------->|  (dropped by a consumer, not by framing)
//! ```
//!
//! The frame's length on the wire is
//! `offset + field bytes + value + adjust`, exactly as Netty computes it
//! (`lengthFieldOffset + lengthFieldLength + value + lengthAdjustment`).
//! The field is one of:
//!
//! * a binary integer of 1, 2, 3, 4 or 8 bytes, big or little endian,
//!   unsigned or two's complement ([`LengthField::Binary`]);
//! * a fixed number of zero-padded ASCII decimal digits, as ISO 8583
//!   messages carry it (`0012`, [`LengthField::Ascii`]);
//! * a protobuf base-128 varint of at most 10 bytes, least significant
//!   group first ([`LengthField::Varint`]); its width is the number of bytes
//!   it took.
//!
//! # Stripping
//!
//! Netty's `initialBytesToStrip` removes bytes from the front of the frame
//! handed to the application. Framing does not depend on it: boundaries are
//! the same with or without stripping, and [`collect_frames`] returns the
//! bytes as they were on the wire. [`LengthConfig::payload`] gives the part a
//! consumer would see. As in Netty, a frame shorter than the bytes to strip
//! is an error.
//!
//! # Errors
//!
//! Every error is reported at the stream offset of the frame's length field:
//! a negative signed value or one that makes the frame end before its length
//! field ([`DecodeErrorKind::BadLength`]), a frame longer than
//! [`LengthConfig::max_frame`] ([`DecodeErrorKind::TooLong`]), a non-digit in
//! an ASCII field or a varint longer than 10 bytes
//! ([`DecodeErrorKind::BadLength`]). A length-prefixed stream cannot
//! resynchronise: after an error the decoder stays failed.
//!
//! [`collect_frames`]: super::collect_frames

use std::num::NonZeroU8;

use super::{
    lost_in_gap, DecodeError, DecodeErrorKind, Decoder, End, Run, Step, DEFAULT_MAX_FRAME,
};

/// Byte order of a binary integer field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endian {
    /// Most significant byte first (network order).
    Big,
    /// Least significant byte first.
    Little,
}

/// The width of a binary length field, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Width {
    /// One byte.
    W1,
    /// Two bytes.
    W2,
    /// Three bytes.
    W3,
    /// Four bytes.
    W4,
    /// Eight bytes.
    W8,
}

impl Width {
    /// The width for `bytes`, if it is one of 1, 2, 3, 4 or 8.
    pub fn from_bytes(bytes: u64) -> Option<Width> {
        match bytes {
            1 => Some(Width::W1),
            2 => Some(Width::W2),
            3 => Some(Width::W3),
            4 => Some(Width::W4),
            8 => Some(Width::W8),
            _ => None,
        }
    }

    /// The number of bytes.
    pub fn bytes(self) -> u8 {
        match self {
            Width::W1 => 1,
            Width::W2 => 2,
            Width::W3 => 3,
            Width::W4 => 4,
            Width::W8 => 8,
        }
    }
}

/// How the length field is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LengthField {
    /// A binary integer.
    Binary {
        /// Its width.
        width: Width,
        /// Its byte order.
        endian: Endian,
        /// Whether it is two's complement (a negative value is an error).
        signed: bool,
    },
    /// Zero-padded ASCII decimal digits, exactly `digits` of them.
    Ascii {
        /// The number of digits.
        digits: NonZeroU8,
    },
    /// A protobuf base-128 varint, at most [`VARINT_MAX_BYTES`] bytes.
    Varint,
}

/// The longest varint length field accepted: 10 bytes hold 64 bits.
pub const VARINT_MAX_BYTES: u8 = 10;

impl LengthField {
    /// An unsigned big-endian field of `width` bytes: Netty's default.
    pub fn big_endian(width: Width) -> LengthField {
        LengthField::Binary {
            width,
            endian: Endian::Big,
            signed: false,
        }
    }
}

/// The configuration of a [`LengthDecoder`]; the field names follow Netty.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LengthConfig {
    /// How the length field is written.
    pub field: LengthField,
    /// Bytes between the frame start and the length field
    /// (`lengthFieldOffset`). Default 0.
    pub offset: u64,
    /// Added to the field's value to get the number of bytes that follow the
    /// field (`lengthAdjustment`). Default 0.
    pub adjust: i64,
    /// Bytes a consumer drops from the front of each frame
    /// (`initialBytesToStrip`); does not move boundaries. Default 0.
    pub strip: u64,
    /// The longest frame accepted, on the wire, header included
    /// (`maxFrameLength`). Default [`DEFAULT_MAX_FRAME`].
    pub max_frame: u64,
}

impl LengthConfig {
    /// A configuration for `field` with the defaults: no offset, no
    /// adjustment, nothing stripped, frames of at most [`DEFAULT_MAX_FRAME`].
    pub fn new(field: LengthField) -> LengthConfig {
        LengthConfig {
            field,
            offset: 0,
            adjust: 0,
            strip: 0,
            max_frame: DEFAULT_MAX_FRAME,
        }
    }

    /// The part of a whole frame (wire bytes, as [`collect_frames`] returns
    /// them) that a consumer sees: the frame without its first
    /// [`LengthConfig::strip`] bytes.
    ///
    /// [`collect_frames`]: super::collect_frames
    pub fn payload<'a>(&self, frame: &'a [u8]) -> &'a [u8] {
        let strip = usize::try_from(self.strip).unwrap_or(usize::MAX);
        frame.get(strip..).unwrap_or(&[])
    }
}

/// Where the decoder stands within the current frame.
#[derive(Clone, Debug)]
enum State {
    /// Before the length field: `seen` bytes of the frame (fewer than
    /// `offset`) have gone by.
    Prefix { seen: u64 },
    /// Inside the length field: `got` bytes read so far, accumulated in
    /// `acc` (as the field's encoding dictates).
    Field { got: u8, acc: u128 },
    /// Counting the rest of the frame: `remaining` (at least 1) bytes to go.
    Body { remaining: u64 },
    /// Failed on corrupt input or after losing its place; for good.
    Failed(DecodeError),
}

/// What one byte of the length field did.
enum FieldStep {
    /// More bytes of the field to come.
    More { got: u8, acc: u128 },
    /// The field is complete: its value and its width in bytes.
    Done { value: i128, width: u8 },
}

/// A binary length field's place in a frame and the lengths a frame may
/// have, worked out from a [`LengthConfig`] once, for reading whole headers
/// ([`LengthDecoder::decode_run`]) in a few steps.
#[derive(Clone, Copy, Debug)]
struct BinaryHeader {
    /// Where the field starts, and its width (1 to 8 bytes).
    offset: usize,
    width: usize,
    big: bool,
    signed: bool,
    /// Added to the field's value for the frame's length: the
    /// adjustment, the offset and the field's width.
    add: i128,
    /// The frame lengths accepted: at least the field's end and the bytes
    /// to strip, at most the largest frame.
    lo: i128,
    hi: i128,
}

impl BinaryHeader {
    fn of(config: &LengthConfig) -> Option<BinaryHeader> {
        let LengthField::Binary {
            width,
            endian,
            signed,
        } = config.field
        else {
            return None;
        };
        let field_end = i128::from(config.offset) + i128::from(width.bytes());
        Some(BinaryHeader {
            offset: usize::try_from(config.offset).ok()?,
            width: usize::from(width.bytes()),
            big: endian == Endian::Big,
            signed,
            add: field_end + i128::from(config.adjust),
            lo: field_end.max(i128::from(config.strip)),
            hi: i128::from(config.max_frame),
        })
    }

    /// The length of the frame whose header starts `input`, when the
    /// header is whole and the length accepted (as
    /// [`LengthDecoder::frame_len`] accepts it).
    #[inline]
    fn frame_len(&self, input: &[u8]) -> Option<u64> {
        let bytes = input.get(self.offset..self.offset + self.width)?;
        let acc = if self.big {
            bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
        } else {
            bytes
                .iter()
                .rev()
                .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
        };
        let bits = 8 * self.width as u32;
        let mut value = i128::from(acc);
        if self.signed && acc >> (bits - 1) & 1 == 1 {
            // Negative: an error, which `decode` reports.
            value -= 1i128 << bits;
            if value < 0 {
                return None;
            }
        }
        let len = value + self.add;
        // Within the bounds, the length fits a u64 (`hi` is one).
        (self.lo..=self.hi).contains(&len).then_some(len as u64)
    }
}

/// A streaming length-prefixed frame scanner; see the module documentation.
///
/// Invariant: `frame_start <= pos`, and `pos - frame_start` is the number of
/// bytes of the current frame consumed, which the state accounts for.
#[derive(Clone, Debug)]
pub struct LengthDecoder {
    config: LengthConfig,
    /// A binary field's place and bounds, worked out once.
    binary: Option<BinaryHeader>,
    state: State,
    /// Stream offset of the next byte to be consumed.
    pos: u64,
    /// Stream offset of the current frame's first byte.
    frame_start: u64,
}

impl LengthDecoder {
    /// A decoder at the start of a stream.
    pub fn new(config: LengthConfig) -> LengthDecoder {
        let state = Self::first_state(&config);
        LengthDecoder {
            binary: BinaryHeader::of(&config),
            config,
            state,
            pos: 0,
            frame_start: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &LengthConfig {
        &self.config
    }

    /// Bytes a consumer drops from the front of each frame (see the module
    /// documentation).
    pub fn strip(&self) -> u64 {
        self.config.strip
    }

    fn first_state(config: &LengthConfig) -> State {
        if config.offset == 0 {
            State::Field { got: 0, acc: 0 }
        } else {
            State::Prefix { seen: 0 }
        }
    }

    fn at_boundary(&self) -> bool {
        match self.state {
            State::Prefix { seen } => seen == 0,
            State::Field { got, .. } => got == 0 && self.config.offset == 0,
            State::Body { .. } | State::Failed(_) => false,
        }
    }

    fn field_offset(&self) -> u64 {
        self.frame_start.saturating_add(self.config.offset)
    }

    /// Feeds one byte of the length field.
    fn field_byte(&self, got: u8, acc: u128, byte: u8) -> Result<FieldStep, DecodeErrorKind> {
        let got = got + 1;
        match self.config.field {
            LengthField::Binary {
                width,
                endian,
                signed,
            } => {
                let acc = match endian {
                    Endian::Big => (acc << 8) | u128::from(byte),
                    Endian::Little => acc | (u128::from(byte) << (8 * u32::from(got - 1))),
                };
                if got < width.bytes() {
                    return Ok(FieldStep::More { got, acc });
                }
                let bits = 8 * u32::from(width.bytes());
                let mut value = i128::try_from(acc).unwrap_or(i128::MAX);
                if signed && acc >> (bits - 1) & 1 == 1 {
                    value -= 1i128 << bits;
                }
                Ok(FieldStep::Done { value, width: got })
            }
            LengthField::Ascii { digits } => {
                if !byte.is_ascii_digit() {
                    return Err(DecodeErrorKind::BadLength {
                        value: i128::try_from(acc).unwrap_or(i128::MAX),
                        why: "ASCII length field holds a byte that is not a decimal digit",
                    });
                }
                let acc = acc
                    .saturating_mul(10)
                    .saturating_add(u128::from(byte - b'0'));
                if got < digits.get() {
                    Ok(FieldStep::More { got, acc })
                } else {
                    Ok(FieldStep::Done {
                        value: i128::try_from(acc).unwrap_or(i128::MAX),
                        width: got,
                    })
                }
            }
            LengthField::Varint => {
                let group = u128::from(byte & 0x7f);
                let acc = acc | (group << (7 * u32::from(got - 1)));
                let value = i128::try_from(acc).unwrap_or(i128::MAX);
                if byte & 0x80 == 0 {
                    if acc > u128::from(u64::MAX) {
                        return Err(DecodeErrorKind::BadLength {
                            value,
                            why: "varint length field exceeds 64 bits",
                        });
                    }
                    Ok(FieldStep::Done { value, width: got })
                } else if got >= VARINT_MAX_BYTES {
                    Err(DecodeErrorKind::BadLength {
                        value,
                        why: "varint length field is longer than 10 bytes",
                    })
                } else {
                    Ok(FieldStep::More { got, acc })
                }
            }
        }
    }

    /// The frame's length on the wire for a field `value` that took `width`
    /// bytes, checked as Netty checks it.
    fn frame_len(&self, value: i128, width: u8) -> Result<u64, DecodeErrorKind> {
        if value < 0 {
            return Err(DecodeErrorKind::BadLength {
                value,
                why: "negative length",
            });
        }
        let field_end = i128::from(self.config.offset) + i128::from(width);
        let len = value
            .saturating_add(i128::from(self.config.adjust))
            .saturating_add(field_end);
        if len < field_end {
            return Err(DecodeErrorKind::BadLength {
                value,
                why: "after adjustment the frame ends before its length field",
            });
        }
        if len > i128::from(self.config.max_frame) {
            return Err(DecodeErrorKind::TooLong {
                len: u64::try_from(len).unwrap_or(u64::MAX),
                max: self.config.max_frame,
            });
        }
        if len < i128::from(self.config.strip) {
            return Err(DecodeErrorKind::BadLength {
                value,
                why: "the frame is shorter than the bytes to strip",
            });
        }
        u64::try_from(len).map_err(|_| DecodeErrorKind::TooLong {
            len: u64::MAX,
            max: self.config.max_frame,
        })
    }

    fn fail(&mut self, kind: DecodeErrorKind) -> DecodeError {
        let error = DecodeError::new(self.field_offset(), kind);
        self.state = State::Failed(error.clone());
        error
    }

    fn end_frame(&mut self) {
        self.frame_start = self.pos;
        self.state = Self::first_state(&self.config);
    }

    /// The length on the wire of the frame at the start of `input` (a
    /// message boundary), when its header lies in `input` and is valid;
    /// `None` otherwise, for [`Decoder::decode`] to read (and report).
    #[inline]
    fn whole_header(&self, input: &[u8]) -> Option<u64> {
        match &self.binary {
            Some(binary) => binary.frame_len(input),
            None => self.whole_text_header(input),
        }
    }

    /// [`LengthDecoder::whole_header`] for the fields that are not binary
    /// (ASCII digits, varints): read as [`Decoder::decode`] reads them.
    #[inline(never)]
    fn whole_text_header(&self, input: &[u8]) -> Option<u64> {
        let field = input.get(usize::try_from(self.config.offset).ok()?..)?;
        let (mut got, mut acc) = (0u8, 0u128);
        let mut bytes = field.iter();
        let (value, width) = loop {
            match self.field_byte(got, acc, *bytes.next()?).ok()? {
                FieldStep::More { got: g, acc: a } => (got, acc) = (g, a),
                FieldStep::Done { value, width } => break (value, width),
            }
        };
        self.frame_len(value, width).ok()
    }
}

impl Decoder for LengthDecoder {
    fn decode(&mut self, input: &[u8]) -> Result<Step, DecodeError> {
        if self.at_boundary() {
            if let Some(len) = self.whole_header(input) {
                // The header lies whole in the input: the frame's length
                // is known without reading it byte by byte, and all of
                // it (at least the header, so at least one byte) is
                // counted as a body.
                self.state = State::Body { remaining: len };
            }
        }
        let mut i = 0usize;
        loop {
            let rest = input.get(i..).unwrap_or(&[]);
            match self.state {
                State::Failed(ref error) => return Err(error.clone()),
                State::Prefix { seen } => {
                    let want = self.config.offset - seen;
                    let take = want.min(rest.len() as u64);
                    // `take` is at most `rest.len()`, so it fits a usize.
                    i += take as usize;
                    self.pos += take;
                    if take < want {
                        self.state = State::Prefix { seen: seen + take };
                        return Ok(Step::NeedMore);
                    }
                    self.state = State::Field { got: 0, acc: 0 };
                }
                State::Field { got, acc } => {
                    let Some(&byte) = rest.first() else {
                        return Ok(Step::NeedMore);
                    };
                    i += 1;
                    self.pos += 1;
                    let step = self.field_byte(got, acc, byte);
                    match step.and_then(|step| match step {
                        FieldStep::More { got, acc } => Ok(State::Field { got, acc }),
                        FieldStep::Done { value, width } => {
                            let len = self.frame_len(value, width)?;
                            Ok(State::Body {
                                remaining: len - (self.pos - self.frame_start),
                            })
                        }
                    }) {
                        Err(kind) => return Err(self.fail(kind)),
                        Ok(State::Body { remaining: 0 }) => {
                            self.end_frame();
                            return Ok(Step::Frame {
                                consumed: i,
                                label: None,
                            });
                        }
                        Ok(state) => self.state = state,
                    }
                }
                State::Body { remaining } => {
                    let take = remaining.min(rest.len() as u64);
                    i += take as usize;
                    self.pos += take;
                    if take < remaining {
                        self.state = State::Body {
                            remaining: remaining - take,
                        };
                        return Ok(Step::NeedMore);
                    }
                    self.end_frame();
                    return Ok(Step::Frame {
                        consumed: i,
                        label: None,
                    });
                }
            }
        }
    }

    fn decode_run(&mut self, input: &[u8], run: &mut Run) {
        if !self.at_boundary() {
            return;
        }
        let mut at = 0usize;
        while !run.is_full() {
            let rest = &input[at..];
            let Some(len) = self.whole_header(rest) else {
                break;
            };
            // A frame is at least its length field: never empty.
            match usize::try_from(len) {
                Ok(len) if len <= rest.len() => {
                    at += len;
                    self.pos += len as u64;
                    run.push(at, None);
                }
                _ => break,
            }
        }
        self.frame_start = self.pos;
    }

    fn finish(&mut self) -> End {
        let end = match self.state {
            _ if self.at_boundary() => End::Clean,
            State::Body { remaining } => End::Truncated {
                missing: Some(remaining),
            },
            _ => End::Truncated { missing: None },
        };
        self.state = State::Failed(DecodeError::new(
            self.pos,
            DecodeErrorKind::Protocol("decoder used after the end of the stream".into()),
        ));
        end
    }

    /// Counts past a gap that lies strictly inside the current frame's body
    /// or inside the bytes before its length field, so that the frame's end
    /// is still seen.
    fn skip(&mut self, len: u64) -> bool {
        if len == 0 {
            return true;
        }
        match self.state {
            State::Body { remaining } if len < remaining => {
                self.state = State::Body {
                    remaining: remaining - len,
                };
                self.pos += len;
                true
            }
            State::Prefix { seen } if len <= self.config.offset - seen => {
                self.state = State::Prefix { seen: seen + len };
                self.pos += len;
                true
            }
            State::Failed(_) => false,
            _ => {
                self.state = State::Failed(lost_in_gap(self.pos, len));
                self.pos = self.pos.saturating_add(len);
                false
            }
        }
    }

    fn max_frame(&self) -> u64 {
        self.config.max_frame
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::collect_frames;

    fn frames(config: LengthConfig, input: &[u8]) -> Vec<Vec<u8>> {
        let mut decoder = LengthDecoder::new(config);
        let got = collect_frames(&mut decoder, [input]);
        assert_eq!(got.error, None);
        got.frames.into_iter().map(|f| f.bytes).collect()
    }

    /// `value` written as `field` writes it.
    fn header(field: LengthField, value: u64) -> Vec<u8> {
        match field {
            LengthField::Binary { width, endian, .. } => {
                let w = usize::from(width.bytes());
                match endian {
                    Endian::Big => value.to_be_bytes()[8 - w..].to_vec(),
                    Endian::Little => value.to_le_bytes()[..w].to_vec(),
                }
            }
            LengthField::Ascii { digits } => {
                format!("{value:0width$}", width = usize::from(digits.get())).into_bytes()
            }
            LengthField::Varint => {
                let mut b = Vec::new();
                crate::varint::put(&mut b, value);
                b
            }
        }
    }

    /// Headers read whole (in one [`Decoder::decode`] call, or a run's)
    /// give the frames and the error that reading them a byte at a time
    /// gives, for every kind of field, with an offset and an adjustment,
    /// however the stream is cut in two; a run reads every whole frame
    /// up to the first bad header, which `decode` then reports.
    #[test]
    fn whole_headers_read_as_bytes_do() {
        use crate::fuzzing::{checked_frames, checked_frames_with_runs};
        let binary = |width, endian, signed| LengthField::Binary {
            width,
            endian,
            signed,
        };
        let fields = [
            binary(Width::W1, Endian::Big, false),
            binary(Width::W1, Endian::Big, true),
            binary(Width::W2, Endian::Little, false),
            binary(Width::W3, Endian::Big, false),
            binary(Width::W3, Endian::Little, true),
            binary(Width::W4, Endian::Big, false),
            binary(Width::W4, Endian::Little, false),
            binary(Width::W8, Endian::Big, true),
            LengthField::Ascii {
                digits: NonZeroU8::new(3).expect("3"),
            },
            LengthField::Varint,
        ];
        for field in fields {
            for (offset, adjust) in [(0u64, 0i64), (2, -2), (0, 3)] {
                let mut config = LengthConfig::new(field);
                config.offset = offset;
                config.adjust = adjust;
                config.max_frame = 150;
                // Four frames, then one longer than the bound.
                let mut stream = Vec::new();
                // Where each frame starts, and where its field does.
                let mut starts = Vec::new();
                for body in [3u64, 4, 8, 100, 200] {
                    starts.push((stream.len(), stream.len() as u64 + offset));
                    stream.extend(std::iter::repeat_n(0xaa, offset as usize));
                    stream.extend(header(field, (body as i64 - adjust) as u64));
                    stream.extend(std::iter::repeat_n(0x55, body as usize));
                }
                let what = format!("{field:?}, offset {offset}, adjust {adjust}");
                let bytes: Vec<&[u8]> = stream.chunks(1).collect();
                let byte_by_byte = checked_frames(&mut LengthDecoder::new(config.clone()), &bytes);
                // A one-byte field with no offset is whole in a one-byte
                // chunk: the frames and the error are also checked
                // against where the stream was built to have them.
                let built: Vec<&[u8]> =
                    starts.windows(2).map(|w| &stream[w[0].0..w[1].0]).collect();
                let read: Vec<&[u8]> = byte_by_byte.frames.iter().map(|f| &f.bytes[..]).collect();
                assert_eq!(read, built, "{what}");
                let error = byte_by_byte
                    .error
                    .as_ref()
                    .expect("the last frame is too long");
                assert_eq!(error.offset, starts[4].1, "{what}");
                let mut run = Run::default();
                LengthDecoder::new(config.clone()).decode_run(&stream, &mut run);
                assert_eq!(run.len(), 4, "{what}: a run of the whole frames");
                for cut in 0..=stream.len() {
                    let (a, b) = stream.split_at(cut);
                    let mut plain = LengthDecoder::new(config.clone());
                    let mut runs = LengthDecoder::new(config.clone());
                    assert_eq!(
                        checked_frames(&mut plain, &[a, b]),
                        byte_by_byte,
                        "{what}, {cut}"
                    );
                    let with_runs = checked_frames_with_runs(&mut runs, &[a, b]);
                    assert_eq!(with_runs, byte_by_byte, "{what}, runs, cut at {cut}");
                }
            }
        }
    }

    #[test]
    fn signed_fields_are_sign_extended() {
        for (width, bytes) in [
            (Width::W1, &[0xff][..]),
            (Width::W2, &[0xff, 0xfe]),
            (Width::W3, &[0xff, 0xff, 0xfe]),
            (Width::W8, &[0xff; 8]),
        ] {
            let field = LengthField::Binary {
                width,
                endian: Endian::Big,
                signed: true,
            };
            let mut decoder = LengthDecoder::new(LengthConfig::new(field));
            let error = decoder.decode(bytes).unwrap_err();
            assert!(
                matches!(*error.kind, DecodeErrorKind::BadLength { value, .. } if value < 0),
                "{error:?}"
            );
        }
    }

    #[test]
    fn little_endian_three_bytes() {
        let field = LengthField::Binary {
            width: Width::W3,
            endian: Endian::Little,
            signed: false,
        };
        let input = [2, 0, 0, b'a', b'b', 1, 0, 0, b'c'];
        assert_eq!(
            frames(LengthConfig::new(field), &input),
            [&input[..5], &input[5..]]
        );
    }

    #[test]
    fn unsigned_eight_bytes_beyond_i64() {
        let mut decoder = LengthDecoder::new(LengthConfig::new(LengthField::big_endian(Width::W8)));
        let error = decoder.decode(&[0xff; 8]).unwrap_err();
        assert_eq!(
            *error.kind,
            DecodeErrorKind::TooLong {
                len: u64::MAX,
                max: DEFAULT_MAX_FRAME
            }
        );
    }

    #[test]
    fn varint_limits() {
        let config = LengthConfig::new(LengthField::Varint);
        // 300 = 0xac 0x02, then 300 bytes.
        let mut input = vec![0xac, 0x02];
        input.resize(302, b'x');
        assert_eq!(frames(config.clone(), &input), [input.clone()]);

        let mut decoder = LengthDecoder::new(config.clone());
        let error = decoder.decode(&[0x80; 11]).unwrap_err();
        assert_eq!(error.offset, 0);
        assert!(matches!(*error.kind, DecodeErrorKind::BadLength { .. }));

        // Ten bytes whose last group overflows 64 bits.
        let mut decoder = LengthDecoder::new(config);
        let mut wide = [0xff; 10];
        wide[9] = 0x02;
        let error = decoder.decode(&wide).unwrap_err();
        assert!(matches!(*error.kind, DecodeErrorKind::BadLength { .. }));
    }

    #[test]
    fn ascii_digits() {
        let digits = NonZeroU8::new(4).unwrap();
        let config = LengthConfig::new(LengthField::Ascii { digits });
        assert_eq!(
            frames(config.clone(), b"0003abc0000"),
            [&b"0003abc"[..], b"0000"]
        );
        let mut decoder = LengthDecoder::new(config);
        assert_eq!(
            decoder.decode(b"0001x").unwrap(),
            Step::Frame {
                consumed: 5,
                label: None
            }
        );
        let error = decoder.decode(b"00 1x").unwrap_err();
        assert_eq!(error.offset, 5);
        assert!(matches!(*error.kind, DecodeErrorKind::BadLength { .. }));
        // The decoder stays failed.
        assert_eq!(decoder.decode(b"0001x"), Err(error));
    }

    #[test]
    fn ascii_field_wider_than_any_integer() {
        let digits = NonZeroU8::new(255).unwrap();
        let mut decoder = LengthDecoder::new(LengthConfig {
            adjust: i64::MAX,
            ..LengthConfig::new(LengthField::Ascii { digits })
        });
        let error = decoder.decode(&[b'9'; 255]).unwrap_err();
        assert!(matches!(
            *error.kind,
            DecodeErrorKind::TooLong { len: u64::MAX, .. }
        ));
    }

    #[test]
    fn payload_strips() {
        let config = LengthConfig {
            strip: 2,
            ..LengthConfig::new(LengthField::big_endian(Width::W2))
        };
        assert_eq!(config.payload(b"\x00\x01a"), b"a");
        assert_eq!(config.payload(b"\x00"), b"");
    }
}
