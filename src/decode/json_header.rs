//! JSON-header framing: a fixed-width length, a JSON header of that many
//! bytes, then a body whose size the header states.
//!
//! This is the framing of many home-grown file and RPC protocols; in Python
//! the sender writes `struct.pack('i', len(header)) + header + body`, with
//! `header = json.dumps({"total_size": len(body), ...}).encode()`.
//!
//! This module owns the [`JsonHeaderDecoder`] and its [`JsonHeaderConfig`].
//! The decoder holds the header (at most [`JsonHeaderConfig::max_header`]
//! bytes, grown as they arrive, never reserved up front from a declared
//! size) and counts the body.
//!
//! # Wire layout
//!
//! ```text
//! +--------------+------------------------------+----------------------+
//! | header len H | JSON header (H bytes)        | body (B bytes)       |
//! | 4 or 8 bytes | {"total_size": B, ...}       |                      |
//! +--------------+------------------------------+----------------------+
//! |<------------------------------ one frame ------------------------->|
//! ```
//!
//! By default the length is 4 bytes, little endian, signed (`struct.pack('i')`
//! on x86) and the body size is the header's `total_size` key.
//!
//! # Errors
//!
//! * at the length field's offset: a negative or zero length
//!   ([`DecodeErrorKind::BadLength`]), a header longer than
//!   [`JsonHeaderConfig::max_header`] (`TooLong`, with `len` the declared
//!   header size and `max` the header limit) or a frame whose header alone
//!   exceeds the maximum frame size (`TooLong`);
//! * at the header's offset: a header that is not a JSON object, or whose
//!   size key is missing, negative or not an integer
//!   ([`DecodeErrorKind::BadHeader`]), and a frame that would exceed
//!   [`JsonHeaderConfig::max_frame`] (`TooLong`). A declared body of a
//!   gigabyte is only a number: nothing is allocated for it.
//!
//! The framing cannot resynchronise after an error.
//!
//! # Labels
//!
//! With [`JsonHeaderConfig::label_key`] set, each frame is labelled with
//! that header key's value when it is a string or a number (`"op":"put"`
//! gives `put`); frames without the key have no label.

use serde_json::{Map, Value};

use super::length::Endian;
use super::{
    lost_in_gap, DecodeError, DecodeErrorKind, Decoder, End, Label, Step, DEFAULT_MAX_FRAME,
};

/// The default size key: `total_size`.
pub const DEFAULT_SIZE_KEY: &str = "total_size";

/// The default largest JSON header: 64 KiB.
pub const DEFAULT_MAX_HEADER: u64 = 64 * 1024;

/// The width of the header length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PrefixWidth {
    /// Four bytes (`struct.pack('i')` / `'I'`).
    Four,
    /// Eight bytes (`struct.pack('q')` / `'Q'`).
    Eight,
}

impl PrefixWidth {
    /// The number of bytes.
    pub fn bytes(self) -> u8 {
        match self {
            PrefixWidth::Four => 4,
            PrefixWidth::Eight => 8,
        }
    }
}

/// The configuration of a [`JsonHeaderDecoder`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct JsonHeaderConfig {
    /// Width of the header length. Default 4 bytes.
    pub width: PrefixWidth,
    /// Byte order of the header length. Default little endian.
    pub endian: Endian,
    /// Whether the header length is two's complement. Default true.
    pub signed: bool,
    /// The header key holding the body size. Default `total_size`.
    pub size_key: String,
    /// A header key whose value (string or number) labels each frame.
    /// Default none.
    pub label_key: Option<String>,
    /// The longest JSON header accepted. Default [`DEFAULT_MAX_HEADER`].
    pub max_header: u64,
    /// The longest frame accepted (length, header and body). Default
    /// [`DEFAULT_MAX_FRAME`].
    pub max_frame: u64,
}

impl Default for JsonHeaderConfig {
    fn default() -> Self {
        JsonHeaderConfig {
            width: PrefixWidth::Four,
            endian: Endian::Little,
            signed: true,
            size_key: DEFAULT_SIZE_KEY.to_string(),
            label_key: None,
            max_header: DEFAULT_MAX_HEADER,
            max_frame: DEFAULT_MAX_FRAME,
        }
    }
}

#[derive(Clone, Debug)]
enum State {
    /// Reading the header length: `got` bytes so far.
    Length {
        got: u8,
        acc: u64,
    },
    /// Reading the header: `need` more bytes into `header`.
    Header {
        need: u64,
    },
    /// Counting the body: `remaining` (at least 1) bytes to go.
    Body {
        remaining: u64,
        label: Option<Label>,
    },
    Failed(DecodeError),
}

/// A streaming JSON-header frame scanner; see the module documentation.
#[derive(Clone, Debug)]
pub struct JsonHeaderDecoder {
    config: JsonHeaderConfig,
    state: State,
    /// The header read so far; cleared (not freed) between frames.
    header: Vec<u8>,
    /// Stream offset of the next byte.
    pos: u64,
    /// Stream offset of the current frame's first byte.
    frame_start: u64,
}

impl JsonHeaderDecoder {
    /// A decoder at the start of a stream.
    pub fn new(config: JsonHeaderConfig) -> JsonHeaderDecoder {
        JsonHeaderDecoder {
            config,
            state: State::Length { got: 0, acc: 0 },
            header: Vec::new(),
            pos: 0,
            frame_start: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &JsonHeaderConfig {
        &self.config
    }

    fn header_offset(&self) -> u64 {
        self.frame_start + u64::from(self.config.width.bytes())
    }

    /// The header length is complete: checks it.
    fn header_len(&self, acc: u64) -> Result<u64, DecodeError> {
        let at = self.frame_start;
        let bits = 8 * u32::from(self.config.width.bytes());
        let negative = self.config.signed && (acc >> (bits - 1)) & 1 == 1;
        if negative {
            let value = i128::from(acc) - (1i128 << bits);
            return Err(DecodeError::new(
                at,
                DecodeErrorKind::BadLength {
                    value,
                    why: "negative JSON header length",
                },
            ));
        }
        if acc == 0 {
            // No byte of the stream holds the missing header: the length
            // field is what is wrong.
            return Err(DecodeError::new(
                at,
                DecodeErrorKind::BadLength {
                    value: 0,
                    why: "empty JSON header",
                },
            ));
        }
        if acc > self.config.max_header {
            return Err(DecodeError::new(
                at,
                DecodeErrorKind::TooLong {
                    len: acc,
                    max: self.config.max_header,
                },
            ));
        }
        let frame = acc.saturating_add(u64::from(self.config.width.bytes()));
        if frame > self.config.max_frame {
            return Err(DecodeError::new(
                at,
                DecodeErrorKind::TooLong {
                    len: frame,
                    max: self.config.max_frame,
                },
            ));
        }
        Ok(acc)
    }

    /// The header is complete: the body size and the label.
    fn parse_header(&self) -> Result<(u64, Option<Label>), DecodeError> {
        let at = self.header_offset();
        let bad = |why: String| DecodeError::new(at, DecodeErrorKind::BadHeader(why));
        let header: Map<String, Value> = serde_json::from_slice(&self.header)
            .map_err(|e| bad(format!("not a JSON object: {e}")))?;
        let key = &self.config.size_key;
        let body = match header.get(key) {
            None => return Err(bad(format!("no {key:?} key"))),
            Some(value) => match (value.as_u64(), value.as_i64()) {
                (Some(size), _) => size,
                (None, Some(negative)) => {
                    return Err(bad(format!("{key:?} is negative: {negative}")))
                }
                (None, None) => return Err(bad(format!("{key:?} is not an integer: {value}"))),
            },
        };
        let frame = u128::from(self.pos - self.frame_start) + u128::from(body);
        if frame > u128::from(self.config.max_frame) {
            return Err(DecodeError::new(
                at,
                DecodeErrorKind::TooLong {
                    len: u64::try_from(frame).unwrap_or(u64::MAX),
                    max: self.config.max_frame,
                },
            ));
        }
        let label = self
            .config
            .label_key
            .as_ref()
            .and_then(|key| header.get(key))
            .and_then(|value| match value {
                Value::String(text) => Some(Label::new(text)),
                Value::Number(number) => Some(Label::new(&number.to_string())),
                _ => None,
            });
        Ok((body, label))
    }

    /// The whole header is in: on to the body, or the end of a frame
    /// without one (`Some(label)`).
    fn header_done(&mut self) -> Result<Option<Option<Label>>, DecodeError> {
        let (body, label) = self.parse_header()?;
        if body == 0 {
            self.frame_start = self.pos;
            self.state = State::Length { got: 0, acc: 0 };
            return Ok(Some(label));
        }
        self.state = State::Body {
            remaining: body,
            label,
        };
        Ok(None)
    }

    /// Runs one state transition on `rest`; returns the bytes consumed and
    /// whether a frame ended.
    fn advance(&mut self, rest: &[u8]) -> Result<(usize, Option<Option<Label>>), DecodeError> {
        match self.state {
            State::Failed(ref error) => Err(error.clone()),
            State::Length { got, acc } => {
                let Some(&byte) = rest.first() else {
                    return Ok((0, None));
                };
                self.pos += 1;
                let width = self.config.width.bytes();
                let acc = match self.config.endian {
                    Endian::Big => (acc << 8) | u64::from(byte),
                    Endian::Little => acc | (u64::from(byte) << (8 * u32::from(got))),
                };
                let got = got + 1;
                if got < width {
                    self.state = State::Length { got, acc };
                    return Ok((1, None));
                }
                self.header.clear();
                let need = self.header_len(acc)?;
                self.state = State::Header { need };
                Ok((1, None))
            }
            State::Header { need } => {
                let take = need.min(rest.len() as u64);
                // `take` is at most `rest.len()`, so it fits a usize.
                self.header
                    .extend_from_slice(rest.get(..take as usize).unwrap_or(&[]));
                self.pos += take;
                if take < need {
                    self.state = State::Header { need: need - take };
                    return Ok((take as usize, None));
                }
                Ok((take as usize, self.header_done()?))
            }
            State::Body {
                remaining,
                ref label,
            } => {
                let take = remaining.min(rest.len() as u64);
                self.pos += take;
                if take < remaining {
                    self.state = State::Body {
                        remaining: remaining - take,
                        label: *label,
                    };
                    return Ok((take as usize, None));
                }
                let label = *label;
                self.frame_start = self.pos;
                self.state = State::Length { got: 0, acc: 0 };
                Ok((take as usize, Some(label)))
            }
        }
    }
}

impl Decoder for JsonHeaderDecoder {
    fn decode(&mut self, input: &[u8]) -> Result<Step, DecodeError> {
        let mut i = 0usize;
        loop {
            if let State::Failed(error) = &self.state {
                return Err(error.clone());
            }
            let rest = input.get(i..).unwrap_or(&[]);
            if rest.is_empty() {
                return Ok(Step::NeedMore);
            }
            // Every transition on a non-empty `rest` consumes at least a byte.
            let (consumed, ended) = self.advance(rest).inspect_err(|error| {
                self.state = State::Failed(error.clone());
            })?;
            i += consumed;
            if let Some(label) = ended {
                return Ok(Step::Frame { consumed: i, label });
            }
        }
    }

    fn finish(&mut self) -> End {
        match self.state {
            State::Length { got: 0, .. } => End::Clean,
            State::Body { remaining, .. } => End::Truncated {
                missing: Some(remaining),
            },
            _ => End::Truncated { missing: None },
        }
    }

    /// Counts past a gap strictly inside the body.
    fn skip(&mut self, len: u64) -> bool {
        if len == 0 {
            return true;
        }
        match self.state {
            State::Body { remaining, label } if len < remaining => {
                self.state = State::Body {
                    remaining: remaining - len,
                    label,
                };
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

    fn frame(header: &str, body: &[u8]) -> Vec<u8> {
        let mut out = (header.len() as i32).to_le_bytes().to_vec();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn frames_and_labels() {
        let config = JsonHeaderConfig {
            label_key: Some("op".into()),
            ..JsonHeaderConfig::default()
        };
        let one = frame(r#"{"total_size":3,"op":"put"}"#, b"abc");
        let two = frame(r#"{"total_size":0,"op":7}"#, b"");
        let input = [one.clone(), two.clone()].concat();
        let got = collect_frames(&mut JsonHeaderDecoder::new(config), [&input[..]]);
        assert_eq!(got.error, None);
        assert_eq!(got.end, Some(End::Clean));
        let frames: Vec<_> = got.frames.iter().map(|f| (&f.bytes, f.label)).collect();
        assert_eq!(
            frames,
            [
                (&one, Some(Label::new("put"))),
                (&two, Some(Label::new("7")))
            ]
        );
    }

    #[test]
    fn bad_headers_are_reported_at_the_header() {
        for header in [
            "[1]",
            "{}",
            r#"{"total_size":-1}"#,
            r#"{"total_size":1.5}"#,
            r#"{"total_size":"3"}"#,
            r#"{"total_size":1e30}"#,
        ] {
            let input = frame(header, b"");
            let mut decoder = JsonHeaderDecoder::new(JsonHeaderConfig::default());
            let error = decoder.decode(&input).unwrap_err();
            assert_eq!(error.offset, 4, "{header}");
            assert!(
                matches!(*error.kind, DecodeErrorKind::BadHeader(_)),
                "{header}: {error}"
            );
        }
    }

    #[test]
    fn an_empty_header_is_a_bad_length_at_the_length_field() {
        // Found by the decoder fuzz target: reported at offset 4, past the
        // only bytes the stream holds.
        let input = frame("", b"");
        let error = JsonHeaderDecoder::new(JsonHeaderConfig::default())
            .decode(&input)
            .unwrap_err();
        assert_eq!(error.offset, 0);
        assert!(
            matches!(*error.kind, DecodeErrorKind::BadLength { value: 0, .. }),
            "{error}"
        );
    }

    #[test]
    fn header_limit_near_the_top_of_u64() {
        let config = JsonHeaderConfig {
            width: PrefixWidth::Eight,
            signed: false,
            max_header: u64::MAX,
            ..JsonHeaderConfig::default()
        };
        let error = JsonHeaderDecoder::new(config)
            .decode(&[0xff; 8])
            .unwrap_err();
        assert_eq!(
            *error.kind,
            DecodeErrorKind::TooLong {
                len: u64::MAX,
                max: DEFAULT_MAX_FRAME
            }
        );
    }

    #[test]
    fn eight_byte_big_endian_unsigned() {
        let config = JsonHeaderConfig {
            width: PrefixWidth::Eight,
            endian: Endian::Big,
            signed: false,
            size_key: "size".into(),
            ..JsonHeaderConfig::default()
        };
        let header = br#"{"size":2}"#;
        let mut input = (header.len() as u64).to_be_bytes().to_vec();
        input.extend_from_slice(header);
        input.extend_from_slice(b"xy");
        let mut decoder = JsonHeaderDecoder::new(config);
        assert_eq!(
            decoder.decode(&input),
            Ok(Step::Frame {
                consumed: input.len(),
                label: None
            })
        );
        // 2^63 is no negative length when unsigned, but far too long.
        let error = decoder.decode(&[0x80, 0, 0, 0, 0, 0, 0, 0]).unwrap_err();
        assert_eq!(error.offset, input.len() as u64);
        assert!(matches!(*error.kind, DecodeErrorKind::TooLong { .. }));
    }
}
