//! Delimiter framing: a message ends with one of a few byte strings (`\n`,
//! `\r\n`, `\0`, ...), as Netty's `DelimiterBasedFrameDecoder` and
//! tokio-util's `LinesCodec` frame them.
//!
//! This module owns the [`DelimiterDecoder`] and its [`DelimiterConfig`].
//! The decoder holds only the last few bytes of the frame in progress (one
//! byte fewer than the longest delimiter) so that a delimiter split across
//! chunks is still seen; everything else is counted.
//!
//! # Wire layout
//!
//! ```text
//! +-----------------+-------+------------+-----+----
//! | message 1       | delim | message 2  |delim| ...
//! +-----------------+-------+------------+-----+----
//! |<---- frame 1 ---------->|<--- frame 2 ---->|
//! ```
//!
//! A frame on the wire always includes its delimiter. With
//! [`DelimiterConfig::strip`] a consumer sees the message without it
//! ([`DelimiterConfig::payload`]); boundaries do not change.
//!
//! # Several delimiters
//!
//! A frame ends at the first byte where any delimiter is complete, so the
//! shortest frame wins, as in Netty. When several delimiters complete on the
//! same byte (`\n` and `\r\n`), the longest one is the frame's delimiter.
//! Deciding on the byte that completes a delimiter, without looking ahead,
//! is what keeps boundaries independent of chunking; it differs from Netty
//! only for a delimiter that holds another one before its last byte (`abc`
//! with `b`), which then never matches.
//!
//! # Limits and errors
//!
//! [`DelimiterConfig::max_frame`] bounds a frame on the wire, delimiter
//! included. A frame that reaches one byte more without a delimiter is a
//! [`DecodeErrorKind::TooLong`] error at the frame's start offset. The call
//! that returns an error consumes nothing; [`Decoder::resync`] then drops
//! bytes up to and including the next delimiter, and decoding resumes with
//! the following message.

use super::{lost_in_gap, DecodeError, DecodeErrorKind, Decoder, End, Step, DEFAULT_MAX_FRAME};

/// The most delimiters one framing accepts.
pub const MAX_DELIMITERS: usize = 16;

/// The longest delimiter accepted, in bytes.
pub const MAX_DELIMITER_LEN: usize = 64;

/// Why a delimiter list was refused by [`DelimiterConfig::new`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DelimiterError {
    /// No delimiter at all.
    #[error("no delimiter given")]
    None,
    /// A delimiter of no bytes.
    #[error("a delimiter is empty")]
    Empty,
    /// More than [`MAX_DELIMITERS`] distinct delimiters.
    #[error("more than {MAX_DELIMITERS} delimiters")]
    TooMany,
    /// A delimiter longer than [`MAX_DELIMITER_LEN`] bytes.
    #[error("a delimiter is longer than {MAX_DELIMITER_LEN} bytes")]
    TooLong,
}

/// The configuration of a [`DelimiterDecoder`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DelimiterConfig {
    /// Sorted, without duplicates, each 1..=MAX_DELIMITER_LEN bytes.
    delimiters: Vec<Vec<u8>>,
    /// Whether a consumer sees messages without their delimiter. Default
    /// false.
    pub strip: bool,
    /// The longest frame accepted, on the wire, delimiter included. Default
    /// [`DEFAULT_MAX_FRAME`].
    pub max_frame: u64,
}

impl DelimiterConfig {
    /// A configuration for `delimiters` (order does not matter, duplicates
    /// are dropped), keeping delimiters, with frames of at most
    /// [`DEFAULT_MAX_FRAME`] bytes.
    pub fn new<I>(delimiters: I) -> Result<DelimiterConfig, DelimiterError>
    where
        I: IntoIterator<Item = Vec<u8>>,
    {
        let mut list: Vec<Vec<u8>> = Vec::new();
        for delimiter in delimiters {
            if delimiter.is_empty() {
                return Err(DelimiterError::Empty);
            }
            if delimiter.len() > MAX_DELIMITER_LEN {
                return Err(DelimiterError::TooLong);
            }
            if !list.contains(&delimiter) {
                if list.len() == MAX_DELIMITERS {
                    return Err(DelimiterError::TooMany);
                }
                list.push(delimiter);
            }
        }
        if list.is_empty() {
            return Err(DelimiterError::None);
        }
        list.sort();
        Ok(DelimiterConfig {
            delimiters: list,
            strip: false,
            max_frame: DEFAULT_MAX_FRAME,
        })
    }

    /// Lines: frames end with `\n` or `\r\n`.
    pub fn line() -> DelimiterConfig {
        DelimiterConfig {
            delimiters: vec![b"\n".to_vec(), b"\r\n".to_vec()],
            strip: false,
            max_frame: DEFAULT_MAX_FRAME,
        }
    }

    /// Whether the delimiters are those of [`DelimiterConfig::line`].
    pub fn is_line(&self) -> bool {
        self.delimiters == DelimiterConfig::line().delimiters
    }

    /// The delimiters, sorted.
    pub fn delimiters(&self) -> &[Vec<u8>] {
        &self.delimiters
    }

    /// The delimiter that ends `frame` (a whole frame's wire bytes), by the
    /// same rule as the decoder: the longest delimiter that is a suffix.
    pub fn delimiter_of<'a>(&self, frame: &'a [u8]) -> Option<&'a [u8]> {
        self.delimiters
            .iter()
            .filter(|d| frame.ends_with(d))
            .map(Vec::len)
            .max()
            .and_then(|len| frame.get(frame.len() - len..))
    }

    /// What a consumer sees of a whole frame: the frame without its
    /// delimiter when [`DelimiterConfig::strip`] is set, the frame otherwise.
    pub fn payload<'a>(&self, frame: &'a [u8]) -> &'a [u8] {
        match self.delimiter_of(frame) {
            Some(delimiter) if self.strip => {
                frame.get(..frame.len() - delimiter.len()).unwrap_or(frame)
            }
            _ => frame,
        }
    }

    fn longest(&self) -> usize {
        self.delimiters.iter().map(Vec::len).max().unwrap_or(1)
    }
}

/// A streaming delimiter frame scanner; see the module documentation.
///
/// Invariant: `tail` holds the last `min(frame_len, longest - 1)` bytes of
/// the region scanned since the last boundary (the frame in progress, or the
/// bytes dropped so far by `resync`), and `frame_len <= max_frame`.
#[derive(Clone, Debug)]
pub struct DelimiterDecoder {
    config: DelimiterConfig,
    /// `ends[b]`: some delimiter ends with byte `b`.
    ends: [bool; 256],
    /// One less than the longest delimiter: the bytes kept across chunks.
    keep: usize,
    tail: Vec<u8>,
    /// Bytes of the frame in progress consumed so far.
    frame_len: u64,
    /// Stream offset of the next byte, gaps included.
    pos: u64,
    failed: Option<DecodeError>,
}

impl DelimiterDecoder {
    /// A decoder at the start of a stream.
    pub fn new(config: DelimiterConfig) -> DelimiterDecoder {
        let mut ends = [false; 256];
        for delimiter in &config.delimiters {
            if let Some(&last) = delimiter.last() {
                ends[usize::from(last)] = true;
            }
        }
        let keep = config.longest() - 1;
        DelimiterDecoder {
            config,
            ends,
            keep,
            tail: Vec::with_capacity(keep),
            frame_len: 0,
            pos: 0,
            failed: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &DelimiterConfig {
        &self.config
    }

    /// Whether a consumer sees messages without their delimiter.
    pub fn strip(&self) -> bool {
        self.config.strip
    }

    /// The index in `input` of the first byte that completes a delimiter,
    /// `tail` holding the bytes of the region that precede `input`.
    fn find_end(&self, input: &[u8]) -> Option<usize> {
        input.iter().enumerate().find_map(|(i, &byte)| {
            if !self.ends[usize::from(byte)] {
                return None;
            }
            let complete = self.config.delimiters.iter().any(|delimiter| {
                delimiter.iter().rev().enumerate().all(|(back, &want)| {
                    let got = match i.checked_sub(back) {
                        Some(at) => input.get(at),
                        None => self
                            .tail
                            .len()
                            .checked_sub(back - i)
                            .and_then(|at| self.tail.get(at)),
                    };
                    got == Some(&want)
                })
            });
            complete.then_some(i)
        })
    }

    /// Remembers the last bytes of `input`, which continue the region.
    fn keep_tail(&mut self, input: &[u8]) {
        if input.len() >= self.keep {
            self.tail.clear();
            self.tail
                .extend_from_slice(input.get(input.len() - self.keep..).unwrap_or(&[]));
        } else {
            self.tail.extend_from_slice(input);
            let excess = self.tail.len().saturating_sub(self.keep);
            self.tail.drain(..excess);
        }
    }

    fn at_boundary(&mut self, consumed: usize) {
        self.pos += consumed as u64;
        self.frame_len = 0;
        self.tail.clear();
    }
}

impl Decoder for DelimiterDecoder {
    fn decode(&mut self, input: &[u8]) -> Result<Step, DecodeError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        let allowed = self.config.max_frame - self.frame_len;
        let window = input
            .get(..usize::try_from(allowed).unwrap_or(usize::MAX))
            .unwrap_or(input);
        if let Some(end) = self.find_end(window) {
            self.at_boundary(end + 1);
            return Ok(Step::Frame {
                consumed: end + 1,
                label: None,
            });
        }
        if window.len() < input.len() {
            let error = DecodeError::new(
                self.pos - self.frame_len,
                DecodeErrorKind::TooLong {
                    len: self.config.max_frame.saturating_add(1),
                    max: self.config.max_frame,
                },
            );
            self.failed = Some(error.clone());
            return Err(error);
        }
        self.keep_tail(input);
        self.frame_len += input.len() as u64;
        self.pos += input.len() as u64;
        Ok(Step::NeedMore)
    }

    /// A delimited stream never knows how much is missing.
    fn finish(&mut self) -> End {
        if self.failed.is_none() && self.frame_len == 0 {
            End::Clean
        } else {
            End::Truncated { missing: None }
        }
    }

    /// Always loses the place (a gap may hide a delimiter), except for an
    /// empty gap.
    fn skip(&mut self, len: u64) -> bool {
        if len == 0 {
            return true;
        }
        if self.failed.is_none() {
            self.failed = Some(lost_in_gap(self.pos, len));
        }
        self.tail.clear();
        self.pos = self.pos.saturating_add(len);
        false
    }

    /// Drops bytes up to and including the next delimiter.
    fn resync(&mut self, input: &[u8]) -> Option<usize> {
        match self.find_end(input) {
            Some(end) => {
                self.at_boundary(end + 1);
                self.failed = None;
                Some(end + 1)
            }
            None => {
                self.keep_tail(input);
                self.pos += input.len() as u64;
                None
            }
        }
    }

    fn can_resync(&self) -> bool {
        true
    }

    fn max_frame(&self) -> u64 {
        self.config.max_frame
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(delimiters: &[&[u8]]) -> DelimiterConfig {
        DelimiterConfig::new(delimiters.iter().map(|d| d.to_vec())).unwrap()
    }

    #[test]
    fn config_rules() {
        assert_eq!(
            DelimiterConfig::new(Vec::<Vec<u8>>::new()),
            Err(DelimiterError::None)
        );
        assert_eq!(
            DelimiterConfig::new([Vec::new()]),
            Err(DelimiterError::Empty)
        );
        assert_eq!(
            DelimiterConfig::new([vec![0; MAX_DELIMITER_LEN + 1]]),
            Err(DelimiterError::TooLong)
        );
        assert_eq!(
            DelimiterConfig::new((0..=MAX_DELIMITERS as u8).map(|b| vec![b])),
            Err(DelimiterError::TooMany)
        );
        assert!(config(&[b"\r\n", b"\n", b"\n"]).is_line());
    }

    #[test]
    fn longest_delimiter_wins_a_tie() {
        let line = DelimiterConfig {
            strip: true,
            ..DelimiterConfig::line()
        };
        assert_eq!(line.delimiter_of(b"a\r\n"), Some(&b"\r\n"[..]));
        assert_eq!(line.payload(b"a\r\n"), b"a");
        assert_eq!(line.payload(b"a\n"), b"a");
        assert_eq!(DelimiterConfig::line().payload(b"a\n"), b"a\n");
    }

    #[test]
    fn delimiter_split_across_chunks() {
        let mut d = DelimiterDecoder::new(config(&[b"END"]));
        assert_eq!(d.decode(b"abcE"), Ok(Step::NeedMore));
        assert_eq!(d.decode(b"N"), Ok(Step::NeedMore));
        assert_eq!(
            d.decode(b"Dx"),
            Ok(Step::Frame {
                consumed: 1,
                label: None
            })
        );
        // The tail of one frame never completes a delimiter in the next.
        let mut d = DelimiterDecoder::new(config(&[b"\n\n"]));
        assert_eq!(
            d.decode(b"a\n\n\nb"),
            Ok(Step::Frame {
                consumed: 3,
                label: None
            })
        );
        assert_eq!(d.decode(b"\nb"), Ok(Step::NeedMore));
        assert_eq!(d.finish(), End::Truncated { missing: None });
    }
}
