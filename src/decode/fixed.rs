//! Fixed-size records: every message is exactly `N` bytes.
//!
//! This module owns the [`FixedDecoder`]. It counts bytes and never holds
//! any.
//!
//! ```text
//!  0          N          2N         3N
//! +----------+----------+----------+---
//! | record 1 | record 2 | record 3 | ...
//! +----------+----------+----------+---
//! ```
//!
//! Record boundaries sit at multiples of `N` in the stream, so a decoder
//! that lost its place in a capture gap finds it again: [`Decoder::resync`]
//! drops bytes up to the next multiple of `N`.

use std::num::NonZeroU64;

use super::{lost_in_gap, DecodeError, Decoder, End, Step};

/// The decoder for `fixed:N`.
///
/// Invariant: `1 <= remaining <= size`, and `size - remaining` bytes of the
/// current record have been consumed (unless `failed` is set).
#[derive(Clone, Debug)]
pub struct FixedDecoder {
    size: u64,
    /// Bytes left in the current record.
    remaining: u64,
    /// Stream offset of the next byte, gaps included.
    pos: u64,
    /// Set once a gap cost the decoder its place, until `resync`.
    failed: Option<DecodeError>,
}

impl FixedDecoder {
    /// A decoder for records of `size` bytes.
    pub fn new(size: NonZeroU64) -> FixedDecoder {
        FixedDecoder {
            size: size.get(),
            remaining: size.get(),
            pos: 0,
            failed: None,
        }
    }

    /// The record size.
    pub fn size(&self) -> u64 {
        self.size
    }
}

impl Decoder for FixedDecoder {
    fn decode(&mut self, input: &[u8]) -> Result<Step, DecodeError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        let take = self.remaining.min(input.len() as u64);
        self.pos += take;
        if take < self.remaining {
            self.remaining -= take;
            return Ok(Step::NeedMore);
        }
        self.remaining = self.size;
        Ok(Step::Frame {
            // `take` is at most `input.len()`, so it fits a usize.
            consumed: take as usize,
            label: None,
        })
    }

    fn finish(&mut self) -> End {
        if self.failed.is_some() {
            End::Truncated { missing: None }
        } else if self.remaining == self.size {
            End::Clean
        } else {
            End::Truncated {
                missing: Some(self.remaining),
            }
        }
    }

    /// Counts past a gap strictly inside the current record; a gap that
    /// reaches the record's end loses the place (the record's end would go
    /// unseen) until [`Decoder::resync`].
    fn skip(&mut self, len: u64) -> bool {
        if len == 0 {
            return true;
        }
        if self.failed.is_none() && len < self.remaining {
            self.remaining -= len;
            self.pos += len;
            return true;
        }
        if self.failed.is_none() {
            self.failed = Some(lost_in_gap(self.pos, len));
        }
        self.pos = self.pos.saturating_add(len);
        false
    }

    /// Drops bytes up to the next multiple of the record size.
    fn resync(&mut self, input: &[u8]) -> Option<usize> {
        let drop = (self.size - self.pos % self.size) % self.size;
        match usize::try_from(drop) {
            Ok(drop) if drop <= input.len() => {
                self.pos += drop as u64;
                self.remaining = self.size;
                self.failed = None;
                Some(drop)
            }
            _ => {
                self.pos += input.len() as u64;
                None
            }
        }
    }

    fn can_resync(&self) -> bool {
        true
    }

    fn max_frame(&self) -> u64 {
        self.size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoder(size: u64) -> FixedDecoder {
        FixedDecoder::new(NonZeroU64::new(size).unwrap())
    }

    #[test]
    fn gap_inside_a_record_keeps_framing() {
        let mut d = decoder(10);
        assert_eq!(d.decode(b"abc"), Ok(Step::NeedMore));
        assert!(d.skip(6));
        assert_eq!(
            d.decode(b"jk"),
            Ok(Step::Frame {
                consumed: 1,
                label: None
            })
        );
        assert_eq!(d.decode(b"k"), Ok(Step::NeedMore));
        assert_eq!(d.finish(), End::Truncated { missing: Some(9) });
    }

    #[test]
    fn gap_over_a_boundary_resyncs_at_the_next_record() {
        let mut d = decoder(4);
        assert_eq!(d.decode(b"ab"), Ok(Step::NeedMore));
        assert!(!d.skip(3));
        let error = d.decode(b"xyz").unwrap_err();
        assert_eq!(error.offset, 2);
        // Stream offset 5: the next record starts at 8.
        assert_eq!(d.resync(b"xy"), None);
        assert_eq!(d.resync(b"zwvu"), Some(1));
        assert_eq!(d.decode(b"wvu"), Ok(Step::NeedMore));
        assert_eq!(
            d.decode(b"t"),
            Ok(Step::Frame {
                consumed: 1,
                label: None
            })
        );
        assert_eq!(d.finish(), End::Clean);
    }
}
