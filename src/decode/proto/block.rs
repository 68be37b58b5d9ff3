//! Counted blocks: a body whose length a header announced, counted and
//! never copied, then (for the text protocols) the CRLF that must follow
//! it; and what a capture gap does to a decoder counting one.
//!
//! ```text
//!  set k 0 60 5\r\n  hello  \r\n        memcached data block
//!  $5\r\n            hello  \r\n        RESP bulk string
//!  [len = 5]         hello              a length-prefixed body (Framed)
//!                    └body─┘└CRLF┘
//! ```
//!
//! A gap inside the body is counted past: the framing survives. A gap
//! anywhere else loses the place ([`lost_in_gap`]).

use crate::decode::DecodeErrorKind;

/// Where a block being read stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Block {
    /// Body bytes still to count; `crlf`: a CRLF follows the body.
    Body { left: u64, crlf: bool },
    /// After the body: the CRLF bytes seen so far (0 or 1).
    Crlf(u8),
}

/// What feeding input to a [`Block`] gave.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Fill<'a> {
    /// All of the input belongs to the block, which goes on; `body` is its
    /// part of the body.
    More { body: &'a [u8] },
    /// The block ended `used` bytes into the input; `body` is the part of
    /// those bytes that is body.
    Done { used: usize, body: &'a [u8] },
    /// The byte `used` bytes into the input should be the CRLF after the
    /// body and is not.
    NoCrlf { used: usize },
}

impl Block {
    /// A body of `len` bytes, followed by CRLF when `crlf`.
    pub(crate) fn new(len: u64, crlf: bool) -> Block {
        match (len, crlf) {
            (0, true) => Block::Crlf(0),
            (left, crlf) => Block::Body { left, crlf },
        }
    }

    /// Reads the block's bytes at the start of `input`.
    pub(crate) fn feed<'a>(&mut self, input: &'a [u8]) -> Fill<'a> {
        let mut used = 0;
        let mut body: &[u8] = &[];
        loop {
            match *self {
                Block::Body { left, crlf } => {
                    let take = usize::try_from(left).unwrap_or(usize::MAX).min(input.len());
                    body = input.get(..take).unwrap_or_default();
                    used = take;
                    if (take as u64) < left {
                        *self = Block::Body {
                            left: left - take as u64,
                            crlf,
                        };
                        return Fill::More { body };
                    }
                    if !crlf {
                        *self = Block::Body { left: 0, crlf };
                        return Fill::Done { used, body };
                    }
                    *self = Block::Crlf(0);
                }
                Block::Crlf(seen) => {
                    let Some(&b) = input.get(used) else {
                        return Fill::More { body };
                    };
                    if b != [b'\r', b'\n'][usize::from(seen.min(1))] {
                        return Fill::NoCrlf { used };
                    }
                    used += 1;
                    if seen == 0 {
                        *self = Block::Crlf(1);
                    } else {
                        return Fill::Done { used, body };
                    }
                }
            }
        }
    }

    /// A capture gap of `len` bytes: `true` when it lies inside the body,
    /// which is then counted past it; `false` when it reaches past the body
    /// (the place is lost).
    pub(crate) fn skip(&mut self, len: u64) -> bool {
        match self {
            Block::Body { left, .. } if len < *left => {
                *left -= len;
                true
            }
            _ => false,
        }
    }
}

/// The error of a decoder that lost its place in a capture gap of `len`
/// bytes.
pub(crate) fn lost_in_gap(len: u64) -> DecodeErrorKind {
    DecodeErrorKind::Protocol(format!("framing lost in a capture gap of {len} bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_then_crlf_across_chunks() {
        let mut b = Block::new(3, true);
        assert_eq!(b.feed(b"ab"), Fill::More { body: b"ab" });
        assert_eq!(b.feed(b"c\r"), Fill::More { body: b"c" });
        assert_eq!(b.feed(b"\nnext"), Fill::Done { used: 1, body: b"" });
    }

    #[test]
    fn whole_block_in_one_chunk_and_empty_body() {
        let mut b = Block::new(2, true);
        assert_eq!(
            b.feed(b"hi\r\nrest"),
            Fill::Done {
                used: 4,
                body: b"hi"
            }
        );
        let mut e = Block::new(0, true);
        assert_eq!(e.feed(b"\r\n"), Fill::Done { used: 2, body: b"" });
    }

    #[test]
    fn a_missing_crlf_names_the_byte() {
        let mut b = Block::new(2, true);
        assert_eq!(b.feed(b"hiX"), Fill::NoCrlf { used: 2 });
        let mut b = Block::new(1, true);
        assert_eq!(b.feed(b"h\rX"), Fill::NoCrlf { used: 2 });
    }

    #[test]
    fn without_crlf_the_body_ends_the_block() {
        let mut b = Block::new(2, false);
        assert_eq!(
            b.feed(b"hi\r\n"),
            Fill::Done {
                used: 2,
                body: b"hi"
            }
        );
    }

    #[test]
    fn gaps_survive_inside_the_body_only() {
        let mut b = Block::new(10, true);
        assert!(b.skip(9));
        assert_eq!(
            b,
            Block::Body {
                left: 1,
                crlf: true
            }
        );
        assert!(!b.skip(1));
        assert_eq!(b.feed(b"x"), Fill::More { body: b"x" });
        assert!(!b.skip(1));
    }
}
