//! How the proxy re-cuts what it forwards: the write patterns of `replay`
//! ([`Split`]), applied to a live byte stream read by read, plus
//! `coalesce:MS`.
//!
//! This module owns [`Cut`] (a pattern and its spelling) and [`Cutter`], the
//! per-direction state that turns each read into the lengths of the writes
//! to make. It does not touch sockets.
//!
//! ```text
//! reads from the sender:   [GET /a HTTP/1.1..][..Host: x....]
//! original:                [GET /a HTTP/1.1..][..Host: x....]   one write per read
//! bytes:4:                 [GET ][/a H][TTP/]...               across reads, each read cut alone
//! frames (--frame line):   [GET /a HTTP/1.1\r\n][Host: x\r\n]   message ends cut
//! coalesce:20:             [GET /a HTTP/1.1..Host: x....]       held up to 20 ms, one write
//! ```
//!
//! A piece never waits for bytes that have not been read: waiting could
//! deadlock a request/reply exchange. So `bytes:N` cuts each read on its
//! own (its last piece may be shorter), and `frames` writes a message that
//! continues in the next read as two pieces.

use std::fmt;
use std::time::Duration;

use crate::decode::spec::FrameSpec;
use crate::decode::{Decoder, Step};
use crate::replay::split::header_len;
use crate::replay::{Rng, Split};

/// What plain `coalesce` holds bytes for, in the proxy.
pub const DEFAULT_COALESCE: Duration = Duration::from_millis(10);

/// Bytes `coalesce:MS` holds at most; past it they are written at once.
pub const MAX_HELD: usize = 1 << 20;

/// A write pattern for one direction of the proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// A pattern of `replay` (`coalesce` alone holds [`DEFAULT_COALESCE`]).
    Split(Split),
    /// Hold bytes up to this long (or [`MAX_HELD`] bytes), then write them
    /// in one write.
    Coalesce(Duration),
}

impl Cut {
    /// Parses the patterns of `replay` and `coalesce:MS`.
    pub fn parse(s: &str) -> Result<Cut, String> {
        if let Some(ms) = s.strip_prefix("coalesce:") {
            let ms: u64 = ms
                .parse()
                .map_err(|_| format!("{s:?}: {ms:?} is not a number of milliseconds"))?;
            return Ok(Cut::Coalesce(Duration::from_millis(ms)));
        }
        match Split::parse(s) {
            Ok(Split::Coalesce) => Ok(Cut::Coalesce(DEFAULT_COALESCE)),
            Ok(split) => Ok(Cut::Split(split)),
            Err(e) => Err(format!("{e}; or coalesce:MS")),
        }
    }

    /// Whether the pattern needs the framing (`frames`, `header-body`).
    pub fn needs_framing(self) -> bool {
        matches!(self, Cut::Split(Split::Frames | Split::HeaderBody))
    }
}

impl fmt::Display for Cut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cut::Split(s) => s.fmt(f),
            Cut::Coalesce(d) => write!(f, "coalesce:{}", d.as_millis()),
        }
    }
}

/// One direction's cutting state.
pub struct Cutter {
    cut: Cut,
    rng: Rng,
    /// For `frames` and `header-body`: the framing and its decoder.
    framing: Option<(FrameSpec, Box<dyn Decoder>)>,
    /// Whether the next byte starts a message.
    at_start: bool,
}

impl Cutter {
    /// A cutter for `cut`; `framing` is the spec and this direction's
    /// decoder, needed by `frames` and `header-body` (without it they cut
    /// like `original`).
    pub fn new(cut: Cut, framing: Option<(FrameSpec, Box<dyn Decoder>)>) -> Self {
        let seed = match cut {
            Cut::Split(Split::Random(seed)) => seed,
            _ => 0,
        };
        Cutter {
            cut,
            rng: Rng::new(seed),
            framing: framing.filter(|_| cut.needs_framing()),
            at_start: true,
        }
    }

    /// The pattern.
    pub fn cut(&self) -> Cut {
        self.cut
    }

    /// How long bytes are held before they are written, for `coalesce:MS`.
    pub fn hold(&self) -> Option<Duration> {
        match self.cut {
            Cut::Coalesce(d) => Some(d),
            Cut::Split(_) => None,
        }
    }

    /// The lengths of the writes `bytes` is cut into (each at least 1, in
    /// all `bytes.len()`), appended to `out`.
    pub fn lengths(&mut self, bytes: &[u8], out: &mut Vec<usize>) {
        let len = bytes.len();
        match self.cut {
            Cut::Split(Split::Bytes(n)) => {
                let n = n.get();
                out.extend((0..len / n).map(|_| n));
                if !len.is_multiple_of(n) {
                    out.push(len % n);
                }
            }
            Cut::Split(Split::Random(_)) => {
                let mut rest = len;
                while rest > 0 {
                    let n = (1 + self.rng.below(32)).min(rest);
                    out.push(n);
                    rest -= n;
                }
            }
            Cut::Split(Split::Frames | Split::HeaderBody) if self.framing.is_some() => {
                self.message_cuts(bytes, out)
            }
            _ if len > 0 => out.push(len),
            _ => {}
        }
    }

    /// `frames` and `header-body`: cut at every message end, and after
    /// each header for `header-body`. A decoding error ends the cutting:
    /// the rest of the stream goes as read.
    fn message_cuts(&mut self, bytes: &[u8], out: &mut Vec<usize>) {
        let header_body = self.cut == Cut::Split(Split::HeaderBody);
        let mut cuts = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            let Some((spec, decoder)) = self.framing.as_mut() else {
                break;
            };
            let rest = &bytes[i..];
            if self.at_start && header_body {
                let h = header_len(spec, rest);
                if h > 0 && h < rest.len() {
                    cuts.push(i + h);
                }
            }
            match decoder.decode(rest) {
                Ok(Step::NeedMore) => {
                    self.at_start = false;
                    break;
                }
                Ok(Step::Frame { consumed, .. }) => {
                    i += consumed.clamp(1, rest.len());
                    cuts.push(i);
                    self.at_start = true;
                }
                Err(_) => {
                    self.framing = None;
                    break;
                }
            }
        }
        cuts.push(bytes.len());
        cuts.sort_unstable();
        cuts.dedup();
        let mut last = 0;
        for c in cuts {
            if c > last {
                out.push(c - last);
                last = c;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cuts(cut: &str, frame: Option<&str>, reads: &[&[u8]]) -> Vec<Vec<usize>> {
        let cut = Cut::parse(cut).unwrap();
        let framing = frame.map(|f| {
            let spec = FrameSpec::parse(f).unwrap();
            let [c, _] = spec.decoders();
            (spec, c)
        });
        let mut c = Cutter::new(cut, framing);
        reads
            .iter()
            .map(|r| {
                let mut out = Vec::new();
                c.lengths(r, &mut out);
                assert_eq!(out.iter().sum::<usize>(), r.len());
                assert!(out.iter().all(|&n| n > 0));
                out
            })
            .collect()
    }

    #[test]
    fn patterns_parse_back() {
        for s in [
            "original",
            "bytes:3",
            "random:5",
            "frames",
            "header-body",
            "coalesce:20",
        ] {
            assert_eq!(Cut::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(
            Cut::parse("coalesce").unwrap(),
            Cut::Coalesce(DEFAULT_COALESCE)
        );
        let e = Cut::parse("chunky").unwrap_err();
        assert!(e.contains("coalesce:MS") && e.contains("bytes:N"), "{e}");
        assert!(Cut::parse("coalesce:x").is_err());
    }

    #[test]
    fn each_read_is_cut_alone() {
        assert_eq!(
            cuts("original", None, &[b"hello", b"abc"]),
            [vec![5], vec![3]]
        );
        assert_eq!(
            cuts("bytes:2", None, &[b"hello", b"abc"]),
            [vec![2, 2, 1], vec![2, 1]]
        );
        let r = cuts("random:1", None, &[&[0u8; 200]]);
        assert!(r[0].len() > 6 && r[0].iter().all(|&n| n <= 32), "{r:?}");
        assert_eq!(
            cuts("random:1", None, &[&[0u8; 200]]),
            r,
            "the seed fixes the sizes"
        );
        assert_eq!(cuts("coalesce:5", None, &[b"hello"]), [vec![5]]);
    }

    #[test]
    fn frames_follow_the_decoder_across_reads() {
        // two length-prefixed messages: 4+3 and 4+2 bytes, read as 5 + 8
        let stream = b"\0\0\0\x03abc\0\0\0\x02de";
        let (a, b) = stream.split_at(5);
        assert_eq!(
            cuts("frames", Some("length:4"), &[a, b]),
            [vec![5], vec![2, 6]]
        );
        assert_eq!(
            cuts("header-body", Some("length:4"), &[a, b]),
            [vec![4, 1], vec![2, 4, 2]]
        );
        // without a framing, frames cut like original
        assert_eq!(cuts("frames", None, &[a, b]), [vec![5], vec![8]]);
        // a decoding error: the rest goes as read
        assert_eq!(
            cuts("frames", Some("length:1,max=4"), &[b"\x09abcdefgh"]),
            [vec![9]]
        );
    }
}
