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
    /// The line is longer than the limit.
    TooLong,
}

impl Line {
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
            Fed::TooLong
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

/// Finds where to resume after an error in a line protocol: the offset in
/// `input` of the first line start whose first byte `accept`s. `at_start`
/// says whether `input` begins a line and is updated for the next chunk.
pub(crate) fn resync_line(
    input: &[u8],
    at_start: &mut bool,
    accept: impl Fn(u8) -> bool,
) -> Option<usize> {
    for (i, &b) in input.iter().enumerate() {
        if *at_start && accept(b) {
            *at_start = false;
            return Some(i);
        }
        *at_start = b == b'\n';
    }
    None
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
        assert_eq!(whole.feed(b"abcdef\n", 64, 5), Fed::TooLong);
        let mut split = Line::default();
        assert_eq!(split.feed(b"abc", 64, 5), Fed::More);
        assert_eq!(split.feed(b"def\n", 64, 5), Fed::TooLong);
        let mut fits = Line::default();
        assert_eq!(fits.feed(b"abcd\n", 64, 5), Fed::Done(5));
        assert!(fits.complete() && !fits.has_crlf());
    }

    #[test]
    fn resync_finds_an_accepted_line_start() {
        let mut at = false;
        assert_eq!(
            resync_line(b"xx\nbad\nGET", &mut at, |b| b == b'G'),
            Some(7)
        );
        let mut at = false;
        assert_eq!(resync_line(b"xx\n", &mut at, |b| b == b'G'), None);
        assert!(at);
        assert_eq!(resync_line(b"GET", &mut at, |b| b == b'G'), Some(0));
    }
}
