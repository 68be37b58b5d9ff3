//! What a naive reader would have seen: `recv()` sizes replayed over a
//! direction's bytes.
//!
//! A naive reader assumes one `recv()` returns one message. Two readers are
//! simulated, each doing read `i` for message `i`:
//!
//! * a reader that **keeps up** with the sender: each read returns at most
//!   what one segment brought (`min(size, bytes of the segment not yet
//!   read)`), so reads cut long messages but never glue two segments;
//! * a reader that **lags** behind: everything has arrived when it reads, so
//!   each read returns `min(size, bytes left in the stream)` and glues
//!   messages together.
//!
//! ```text
//! sender writes:   hello | world | musibii | 1
//! lagging reader:  recv(5) recv(5) recv(10)   recv(5)
//!                  hello   world   musibii1   ""      <- glued, then EOF
//! ```
//!
//! One size (`1024`) repeats until the stream is read; a list (`5,5,10,5`)
//! is exactly those reads. For UDP, `recvfrom(N)` truncates any datagram
//! larger than `N` (the first size); those datagrams are counted.
//!
//! Bounds: the first [`MAX_TRACKED`] messages, segments and reads of a
//! direction are simulated; the result says when it stopped short.

use std::fmt;

/// Messages, segments and reads simulated per direction.
pub const MAX_TRACKED: usize = 10_000;

/// The `--recv` sizes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecvSizes {
    /// One size, repeated.
    Repeat(u64),
    /// Exactly these reads.
    List(Vec<u64>),
}

impl RecvSizes {
    /// Parses `1024` or `5,5,10,5` (sizes may take K/M suffixes).
    pub fn parse(s: &str) -> Result<RecvSizes, String> {
        let sizes: Vec<u64> = s
            .split(',')
            .map(|p| crate::size::parse_size(p.trim()).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?;
        if sizes.contains(&0) {
            return Err(format!("{s:?}: a recv() size must be at least 1"));
        }
        match sizes.as_slice() {
            [] => Err("no recv() size given".to_string()),
            [one] => Ok(RecvSizes::Repeat(*one)),
            _ => Ok(RecvSizes::List(sizes)),
        }
    }

    fn size(&self, i: usize) -> Option<u64> {
        match self {
            RecvSizes::Repeat(n) => Some(*n),
            RecvSizes::List(v) => v.get(i).copied(),
        }
    }

    fn first(&self) -> u64 {
        self.size(0).unwrap_or(u64::MAX)
    }
}

impl fmt::Display for RecvSizes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvSizes::Repeat(n) => write!(f, "{n}"),
            RecvSizes::List(v) => {
                let parts: Vec<String> = v.iter().map(u64::to_string).collect();
                f.write_str(&parts.join(","))
            }
        }
    }
}

/// How one read compares with the message it was meant to return.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Exactly message `i`.
    Exact,
    /// Bytes of two or more messages.
    Glued,
    /// Part of one message only.
    Cut,
    /// Nothing: the stream had ended (a real `recv()` returns 0).
    Empty,
}

/// One simulated read.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Read {
    /// The size asked for.
    pub size: u64,
    /// Stream offset of the first byte returned.
    pub offset: u64,
    /// Bytes returned.
    pub len: u64,
    /// The messages it returned bytes of (indexes).
    pub messages: Vec<u64>,
    /// Compared with message `i`.
    pub verdict: Verdict,
}

/// One reader's reads and their tally.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ReaderResult {
    /// The reads, in order.
    pub reads: Vec<Read>,
    /// Reads that returned exactly their message.
    pub exact: u64,
    /// Reads that glued messages.
    pub glued: u64,
    /// Reads that cut a message.
    pub cut: u64,
    /// Reads that returned nothing.
    pub empty: u64,
    /// Bytes no read returned (a list of sizes ran out first).
    pub unread_bytes: u64,
}

/// Both readers for one direction.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct RecvResult {
    /// The sizes simulated.
    pub sizes: String,
    /// The reader that keeps up with the sender.
    pub keeping_up: ReaderResult,
    /// The reader that lags behind.
    pub lagging: ReaderResult,
    /// UDP: datagrams `recvfrom()` would have truncated.
    pub truncated_datagrams: u64,
    /// Whether the direction had more than [`MAX_TRACKED`] messages or
    /// segments, so only its beginning was simulated.
    pub incomplete: bool,
}

/// The simulation state of one direction.
pub struct RecvSim {
    sizes: RecvSizes,
    messages: Vec<(u64, u64)>,
    segments: Vec<(u64, u64)>,
    total: u64,
    truncated_datagrams: u64,
    incomplete: bool,
}

impl RecvSim {
    /// A simulation with these sizes.
    pub fn new(sizes: &RecvSizes) -> Self {
        RecvSim {
            sizes: sizes.clone(),
            messages: Vec::new(),
            segments: Vec::new(),
            total: 0,
            truncated_datagrams: 0,
            incomplete: false,
        }
    }

    /// Bytes arrived (one segment, or part of one).
    pub fn data(&mut self, offset: u64, len: u64) {
        self.total = self.total.max(offset + len);
        if self.segments.len() < MAX_TRACKED {
            self.segments.push((offset, len));
        } else {
            self.incomplete = true;
        }
    }

    /// A capture gap: the bytes existed, the reader would have read them.
    pub fn gap(&mut self, offset: u64, len: u64) {
        self.data(offset, len);
    }

    /// A message was decoded at `offset`, `len` bytes long.
    pub fn message(&mut self, offset: u64, len: u64) {
        if self.messages.len() < MAX_TRACKED {
            self.messages.push((offset, len));
        } else {
            self.incomplete = true;
        }
    }

    /// A UDP datagram of `len` bytes; returns whether `recvfrom()` with the
    /// first size would truncate it.
    pub fn datagram(&mut self, len: u64) -> bool {
        let cut = len > self.sizes.first();
        self.truncated_datagrams += u64::from(cut);
        cut
    }

    /// The simulation's outcome.
    pub fn result(&self) -> RecvResult {
        let lagging = self.reads(&[(0, self.total)]);
        let keeping_up = self.reads(&self.segments);
        RecvResult {
            sizes: self.sizes.to_string(),
            keeping_up,
            lagging,
            truncated_datagrams: self.truncated_datagrams,
            incomplete: self.incomplete,
        }
    }

    /// The reads of a reader that gets the stream in `arrivals` (each one
    /// readable only once the reader has drained the previous ones).
    fn reads(&self, arrivals: &[(u64, u64)]) -> ReaderResult {
        let mut out = ReaderResult::default();
        let mut i = 0usize;
        'arrivals: for &(start, len) in arrivals {
            let mut pos = start;
            let end = start + len;
            while pos < end {
                let Some(size) = self.sizes.size(i) else {
                    break 'arrivals;
                };
                if out.reads.len() >= MAX_TRACKED {
                    break 'arrivals;
                }
                let n = size.min(end - pos);
                self.push(&mut out, i, size, pos, n);
                pos += n;
                i += 1;
            }
        }
        let read: u64 = out.reads.iter().map(|r| r.len).sum();
        out.unread_bytes = self.total.saturating_sub(read);
        // A list of sizes longer than the stream: the remaining reads
        // return 0 (end of stream).
        while let Some(size) = self.sizes.size(i) {
            if matches!(self.sizes, RecvSizes::Repeat(_)) || out.reads.len() >= MAX_TRACKED {
                break;
            }
            self.push(&mut out, i, size, self.total, 0);
            i += 1;
        }
        out
    }

    fn push(&self, out: &mut ReaderResult, i: usize, size: u64, offset: u64, len: u64) {
        let end = offset + len;
        let messages: Vec<u64> = self
            .messages
            .iter()
            .enumerate()
            .filter(|(_, &(s, l))| s < end && s + l > offset)
            .map(|(k, _)| k as u64)
            .collect();
        let verdict = if len == 0 {
            Verdict::Empty
        } else if messages.len() >= 2 {
            Verdict::Glued
        } else if self.messages.get(i) == Some(&(offset, len)) {
            Verdict::Exact
        } else {
            Verdict::Cut
        };
        match verdict {
            Verdict::Exact => out.exact += 1,
            Verdict::Glued => out.glued += 1,
            Verdict::Cut => out.cut += 1,
            Verdict::Empty => out.empty += 1,
        }
        out.reads.push(Read {
            size,
            offset,
            len,
            messages,
            verdict,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classic() -> RecvSim {
        let mut sim = RecvSim::new(&RecvSizes::parse("5,5,10,5").unwrap());
        for (off, len) in [(0, 5), (5, 5), (10, 7), (17, 1)] {
            sim.data(off, len);
            sim.message(off, len);
        }
        sim
    }

    #[test]
    fn lagging_reader_glues_musibii1() {
        let r = classic().result();
        let lens: Vec<u64> = r.lagging.reads.iter().map(|r| r.len).collect();
        assert_eq!(lens, vec![5, 5, 8, 0]);
        let verdicts: Vec<Verdict> = r.lagging.reads.iter().map(|r| r.verdict).collect();
        assert_eq!(
            verdicts,
            vec![
                Verdict::Exact,
                Verdict::Exact,
                Verdict::Glued,
                Verdict::Empty
            ]
        );
        assert_eq!(r.lagging.reads[2].messages, vec![2, 3]);
    }

    #[test]
    fn reader_keeping_up_gets_each_write() {
        let r = classic().result();
        let lens: Vec<u64> = r.keeping_up.reads.iter().map(|r| r.len).collect();
        assert_eq!(lens, vec![5, 5, 7, 1]);
        assert_eq!(r.keeping_up.exact, 4);
    }

    #[test]
    fn one_size_repeats_and_cuts_a_long_reply() {
        let mut sim = RecvSim::new(&RecvSizes::parse("4096").unwrap());
        sim.data(0, 10240);
        sim.message(0, 10240);
        let r = sim.result();
        let lens: Vec<u64> = r.lagging.reads.iter().map(|r| r.len).collect();
        assert_eq!(lens, vec![4096, 4096, 2048]);
        assert_eq!(r.lagging.cut, 3);
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(RecvSizes::parse("1K").unwrap(), RecvSizes::Repeat(1024));
        assert!(RecvSizes::parse("5,0").is_err());
        assert!(RecvSizes::parse("x").is_err());
    }
}
