//! Write patterns: how the bytes of one side are cut into `write()` calls.
//!
//! This module owns [`Split`] (the strategies and their spelling on the
//! command line), [`Pace`] (the pause between writes) and [`plan`], which
//! turns a captured side into a list of [`Write`]s. It does not send
//! anything.
//!
//! ```text
//! frames:       [len|body] [len|body]
//! bytes:3:      [len] [|bo] [dy|] ...          every 3 bytes
//! header-body:  [len] [body] [len] [body]      header = up to the length field's end
//! coalesce:     [len|body len|body]
//! ```

use std::fmt;
use std::num::NonZeroUsize;
use std::time::Duration;

use crate::decode::length::LengthField;
use crate::decode::spec::FrameSpec;
use crate::decode::Frame;

use super::{Rng, Segment};

/// The pause between writes when none is asked for and the server's socket
/// cannot be watched (a remote target): long enough that each write
/// usually reaches the server's `recv()` on its own. On this host, writes
/// wait until the server has read instead ([`super::conn::Pacing`]).
pub const DEFAULT_PAUSE: Duration = Duration::from_millis(5);

/// The longest captured pause `original` replays; longer ones are cut to it.
pub const MAX_ORIGINAL_PAUSE: Duration = Duration::from_secs(2);

/// How the bytes are cut into writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// The captured segments, with their captured pauses.
    Original,
    /// Writes of `N` bytes.
    Bytes(NonZeroUsize),
    /// Writes of random sizes (1 to 32 bytes) from a seed.
    Random(u64),
    /// One write per message.
    Frames,
    /// Everything in one write.
    Coalesce,
    /// Each message's header and body in separate writes.
    HeaderBody,
}

impl Split {
    /// The strategies `--matrix` runs, in order.
    pub const MATRIX: [Split; 6] = [
        Split::Original,
        Split::Frames,
        Split::Bytes(NonZeroUsize::MIN),
        Split::Random(1),
        Split::HeaderBody,
        Split::Coalesce,
    ];

    /// Parses `original`, `bytes:N`, `random[:SEED]`, `frames`, `coalesce`,
    /// `header-body`.
    pub fn parse(s: &str) -> Result<Split, String> {
        let (name, arg) = match s.split_once(':') {
            Some((n, a)) => (n, Some(a)),
            None => (s, None),
        };
        let number = |a: &str| -> Result<u64, String> {
            a.parse()
                .map_err(|_| format!("{s:?}: {a:?} is not a number"))
        };
        match (name, arg) {
            ("original", None) => Ok(Split::Original),
            ("frames", None) => Ok(Split::Frames),
            ("coalesce", None) => Ok(Split::Coalesce),
            ("header-body", None) => Ok(Split::HeaderBody),
            ("random", None) => Ok(Split::Random(1)),
            ("random", Some(a)) => Ok(Split::Random(number(a)?)),
            ("bytes", Some(a)) => usize::try_from(number(a)?)
                .ok()
                .and_then(NonZeroUsize::new)
                .map(Split::Bytes)
                .ok_or_else(|| format!("{s:?}: the size must be at least 1")),
            _ => Err(format!(
                "{s:?} is not a split (original, bytes:N, random[:SEED], frames, coalesce, header-body)"
            )),
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Split::Original => f.write_str("original"),
            Split::Bytes(n) => write!(f, "bytes:{n}"),
            Split::Random(seed) => write!(f, "random:{seed}"),
            Split::Frames => f.write_str("frames"),
            Split::Coalesce => f.write_str("coalesce"),
            Split::HeaderBody => f.write_str("header-body"),
        }
    }
}

/// The pause between writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pace {
    /// The default: each write waits until the server has read the one
    /// before; where that cannot be seen, captured pauses for `original`
    /// and [`DEFAULT_PAUSE`] for the others.
    Auto,
    /// No pause at all.
    None,
    /// This many milliseconds between writes.
    Ms(u64),
}

impl Pace {
    /// How writes are spaced: until read for `Auto`, by pauses otherwise.
    pub fn pacing(self) -> super::Pacing {
        match self {
            Pace::Auto => super::Pacing::UntilRead,
            Pace::None | Pace::Ms(_) => super::Pacing::Pauses,
        }
    }

    /// Parses `none` or a number of milliseconds.
    pub fn parse(s: &str) -> Result<Pace, String> {
        if s == "none" {
            return Ok(Pace::None);
        }
        s.parse()
            .map(Pace::Ms)
            .map_err(|_| format!("{s:?} is not a pace (none, or milliseconds)"))
    }
}

/// One `write()` call: the pause before it and its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    /// Sleep this long before writing.
    pub pause: Duration,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// Where a message's header ends, for `header-body`: the end of the length
/// field for `length` and `json-header` framings, else `min(4, len)` bytes.
pub fn header_len(spec: &FrameSpec, frame: &[u8]) -> usize {
    let len = match spec {
        FrameSpec::Length(c) => {
            let field = match c.field {
                LengthField::Binary { width, .. } => usize::from(width.bytes()),
                LengthField::Ascii { digits } => usize::from(digits.get()),
                LengthField::Varint => frame
                    .iter()
                    .position(|b| b & 0x80 == 0)
                    .map_or(frame.len(), |p| p + 1),
            };
            usize::try_from(c.offset)
                .unwrap_or(usize::MAX)
                .saturating_add(field)
        }
        FrameSpec::JsonHeader(c) => usize::from(c.width.bytes()),
        _ => 4,
    };
    len.min(frame.len())
}

/// Cuts one side into writes. `segments` are the captured segments, `frames`
/// the messages found in them (a tail that is not a whole message is sent as
/// one more write by the message-based strategies).
pub fn plan(
    split: Split,
    pace: Pace,
    segments: &[Segment],
    frames: &[Frame],
    spec: &FrameSpec,
) -> Vec<Write> {
    let all: Vec<u8> = segments
        .iter()
        .flat_map(|s| s.bytes.iter().copied())
        .collect();
    let pause = match pace {
        Pace::Auto => DEFAULT_PAUSE,
        Pace::None => Duration::ZERO,
        Pace::Ms(ms) => Duration::from_millis(ms),
    };
    let pieces: Vec<Vec<u8>> = match split {
        Split::Original => {
            let mut out = Vec::with_capacity(segments.len());
            let mut last = None;
            for s in segments {
                let gap = match (pace, last) {
                    (Pace::Auto, Some(t)) => {
                        let ns = u64::try_from(s.ts.0.saturating_sub(t)).unwrap_or(0);
                        Duration::from_nanos(ns).min(MAX_ORIGINAL_PAUSE)
                    }
                    (Pace::Auto, None) => Duration::ZERO,
                    _ => pause,
                };
                last = Some(s.ts.0);
                out.push(Write {
                    pause: gap,
                    bytes: s.bytes.clone(),
                });
            }
            return out;
        }
        Split::Bytes(n) => all.chunks(n.get()).map(<[u8]>::to_vec).collect(),
        Split::Random(seed) => {
            let mut rng = Rng::new(seed);
            let mut out = Vec::new();
            let mut rest = all.as_slice();
            while !rest.is_empty() {
                let n = (1 + rng.below(32)).min(rest.len());
                let (a, b) = rest.split_at(n);
                out.push(a.to_vec());
                rest = b;
            }
            out
        }
        Split::Coalesce => vec![all.clone()],
        Split::Frames | Split::HeaderBody => {
            let mut out = Vec::new();
            for f in frames {
                if split == Split::HeaderBody {
                    let (h, b) = f.bytes.split_at(header_len(spec, &f.bytes));
                    out.extend([h.to_vec(), b.to_vec()]);
                } else {
                    out.push(f.bytes.clone());
                }
            }
            let framed: usize = frames.iter().map(|f| f.bytes.len()).sum();
            out.push(all.get(framed..).unwrap_or(&[]).to_vec());
            out
        }
    };
    let mut writes: Vec<Write> = pieces
        .into_iter()
        .filter(|p| !p.is_empty())
        .map(|bytes| Write { pause, bytes })
        .collect();
    if let Some(first) = writes.first_mut() {
        first.pause = Duration::ZERO;
    }
    writes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Timestamp;
    use crate::decode::collect_frames;

    fn seg(bytes: &[u8], ms: i64) -> Segment {
        Segment {
            bytes: bytes.to_vec(),
            record: 0,
            ts: Timestamp(ms * 1_000_000),
        }
    }

    fn msg(body: &[u8]) -> Vec<u8> {
        let mut v = (body.len() as u32).to_be_bytes().to_vec();
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn every_strategy_sends_the_same_bytes() {
        let spec = FrameSpec::parse("length").unwrap();
        let mut stream = msg(b"hello");
        stream.extend(msg(b"world!"));
        stream.extend(b"\0\0"); // a truncated tail
        let segments = vec![seg(&stream[..7], 0), seg(&stream[7..], 30)];
        let [mut dec, _] = spec.decoders();
        let frames = collect_frames(dec.as_mut(), [stream.as_slice()]).frames;
        assert_eq!(frames.len(), 2);
        for split in Split::MATRIX
            .iter()
            .copied()
            .chain([Split::Bytes(NonZeroUsize::new(5).unwrap())])
        {
            let writes = plan(split, Pace::Auto, &segments, &frames, &spec);
            let sent: Vec<u8> = writes.iter().flat_map(|w| w.bytes.clone()).collect();
            assert_eq!(sent, stream, "{split}");
            assert!(writes.iter().all(|w| !w.bytes.is_empty()), "{split}");
        }
        let hb = plan(Split::HeaderBody, Pace::None, &segments, &frames, &spec);
        assert_eq!(hb[0].bytes, 5u32.to_be_bytes());
        assert_eq!(hb[1].bytes, b"hello");
        assert_eq!(hb.len(), 5);
        let orig = plan(Split::Original, Pace::Auto, &segments, &frames, &spec);
        assert_eq!(orig[1].pause, Duration::from_millis(30));
        assert_eq!(
            plan(Split::Coalesce, Pace::Auto, &segments, &frames, &spec).len(),
            1
        );
    }

    #[test]
    fn splits_parse_back() {
        for s in [
            "original",
            "bytes:7",
            "random:9",
            "frames",
            "coalesce",
            "header-body",
        ] {
            assert_eq!(Split::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(Split::parse("random"), Ok(Split::Random(1)));
        assert!(Split::parse("bytes:0").is_err());
        assert!(Split::parse("bytes").is_err());
        assert!(Split::parse("chunky").is_err());
        assert_eq!(Pace::parse("none"), Ok(Pace::None));
        assert_eq!(Pace::parse("12"), Ok(Pace::Ms(12)));
        assert!(Pace::parse("-1").is_err());
    }

    #[test]
    fn header_len_follows_the_spec() {
        let f = [0u8, 1, 2, 3, 4, 5, 6, 7, 8, 9];
        let l2 = FrameSpec::parse("length:2,offset=3").unwrap();
        assert_eq!(header_len(&l2, &f), 5);
        assert_eq!(header_len(&FrameSpec::parse("line").unwrap(), &f), 4);
        assert_eq!(header_len(&FrameSpec::parse("line").unwrap(), &f[..2]), 2);
        let v = FrameSpec::parse("length:varint").unwrap();
        assert_eq!(header_len(&v, &[0x81, 0x01, 9]), 2);
    }
}
