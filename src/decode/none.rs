//! No byte-level framing: every TCP segment or UDP datagram is one message.
//!
//! This module owns the [`NoneDecoder`]. It never finds a boundary in the
//! bytes; instead it answers `true` to [`Decoder::segment_is_message`], and
//! the caller ends a message at the end of every segment.
//!
//! ```text
//!  segment 1            segment 2     segment 3
//! +--------------------+-------------+-----------------+
//! | message 1          | message 2   | message 3       |
//! +--------------------+-------------+-----------------+
//! ```

use super::{Decoder, End, Step, DEFAULT_MAX_FRAME};

/// The decoder for the `none` framing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoneDecoder;

impl NoneDecoder {
    /// A decoder; it holds no state.
    pub fn new() -> NoneDecoder {
        NoneDecoder
    }
}

impl Decoder for NoneDecoder {
    /// Consumes everything: boundaries come from segments, not bytes.
    fn decode(&mut self, _input: &[u8]) -> Result<Step, super::DecodeError> {
        Ok(Step::NeedMore)
    }

    /// Always clean: the caller has ended the last message with its segment.
    fn finish(&mut self) -> End {
        End::Clean
    }

    /// A gap costs nothing: there is no place to lose.
    fn skip(&mut self, _len: u64) -> bool {
        true
    }

    fn segment_is_message(&self) -> bool {
        true
    }

    /// [`DEFAULT_MAX_FRAME`]: far above the largest segment or datagram.
    fn max_frame(&self) -> u64 {
        DEFAULT_MAX_FRAME
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumes_everything() {
        let mut decoder = NoneDecoder::new();
        assert!(decoder.segment_is_message());
        assert_eq!(decoder.decode(b"hello"), Ok(Step::NeedMore));
        assert_eq!(decoder.decode(b""), Ok(Step::NeedMore));
        assert!(decoder.skip(10));
        assert_eq!(decoder.finish(), End::Clean);
    }
}
