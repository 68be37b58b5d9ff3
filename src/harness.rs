//! Split invariance for your own parsers: a stream cut into any chunks must
//! give the same messages as the stream fed whole.
//!
//! TCP hands a reader the bytes in whatever pieces the network made; a
//! parser that assumes a header arrives in one read works on loopback and
//! fails in production. This module owns the check that finds such parsers:
//! [`check`] feeds one stream to fresh parsers in adversarial chunkings and
//! compares what each gives with what the whole stream gives:
//!
//! 1. every single cut: `stream[..k]` then `stream[k..]` for every `k`;
//! 2. every prefix, fed alone (the messages it completes must begin the
//!    whole stream's, and no error may appear that the whole does not give);
//! 3. one byte at a time;
//! 4. the chunkings given in [`Config::chunkings`] (the segment boundaries
//!    of a real capture, say);
//! 5. [`Config::random`] random chunkings from [`Config::seed`].
//!
//! On a difference it shrinks the failing chunking to one where no cut can
//! be removed without the difference going away, and returns it in a
//! [`Failure`]. Checks 1 and 2 cost a run per position, so they cover the
//! first [`Config::exhaustive_limit`] positions; 3 to 5 cover the whole
//! stream.
//!
//! Parsers are seen through [`Subject`]: [`Frames`] adapts a framescope
//! [`Decoder`], and with the `tokio-util` feature `Codec` adapts a
//! `tokio_util::codec::Decoder`. The module does not know about captures;
//! a capture's segment boundaries come in as chunkings.
//!
//! ```
//! use framescope::decode::length::{LengthConfig, LengthDecoder, LengthField, Width};
//! use framescope::harness::{check, Config, Frames};
//!
//! // Two messages with a 2-byte big-endian length prefix.
//! let stream = b"\x00\x03abc\x00\x01z";
//! let config = LengthConfig::new(LengthField::big_endian(Width::W2));
//! let passed = check(
//!     &mut Frames::new(|| Box::new(LengthDecoder::new(config.clone()))),
//!     stream,
//!     &Config::default(),
//! )
//! .expect("split invariant");
//! assert_eq!(passed.items, 2);
//! ```

use std::fmt;

use crate::decode::{collect_frames, Decoder, End, Frame};

/// What a parser made of one chunking of the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome<T> {
    /// The messages, in order.
    pub items: Vec<T>,
    /// The error that stopped parsing while bytes were fed, as text.
    pub error: Option<String>,
    /// What the end of the stream meant, as text, when it was not a clean
    /// message boundary (a message cut short, bytes left over).
    pub end: Option<String>,
}

impl<T> Outcome<T> {
    /// No messages, no error, a clean end.
    pub fn empty() -> Self {
        Outcome {
            items: Vec::new(),
            error: None,
            end: None,
        }
    }
}

/// A parser under test: runs a fresh instance over consecutive chunks of
/// one stream.
pub trait Subject {
    /// One parsed message.
    type Item: PartialEq + fmt::Debug;

    /// Feeds `chunks` in order to a fresh parser; with `finish`, then tells
    /// it that the stream ended.
    fn run(&mut self, chunks: &[&[u8]], finish: bool) -> Outcome<Self::Item>;
}

/// A framescope [`Decoder`], made fresh for every run by the closure. Items
/// are [`Frame`]s: offset, bytes and label.
pub struct Frames<F>(pub F);

impl<F: FnMut() -> Box<dyn Decoder>> Frames<F> {
    /// Checks the decoders `make` builds.
    pub fn new(make: F) -> Self {
        Frames(make)
    }
}

impl<F: FnMut() -> Box<dyn Decoder>> Subject for Frames<F> {
    type Item = Frame;

    fn run(&mut self, chunks: &[&[u8]], finish: bool) -> Outcome<Frame> {
        let mut decoder = (self.0)();
        let collected = collect_frames(decoder.as_mut(), chunks.iter().copied());
        let mut items = collected.frames;
        let end = match collected.end {
            Some(End::Frame { .. }) if !finish => {
                items.pop();
                None
            }
            Some(End::Truncated { missing }) if finish => Some(match missing {
                Some(n) => format!("truncated, {n} bytes missing"),
                None => "truncated".to_string(),
            }),
            _ => None,
        };
        Outcome {
            items,
            error: collected.error.map(|e| e.to_string()),
            end,
        }
    }
}

/// A `tokio_util::codec::Decoder`, made fresh for every run by the closure,
/// driven as `FramedRead` drives it: bytes appended to one buffer, `decode`
/// until it answers `None`, and `decode_eof` at the end.
#[cfg(feature = "tokio-util")]
pub struct Codec<F>(pub F);

#[cfg(feature = "tokio-util")]
impl<F, C> Subject for Codec<F>
where
    F: FnMut() -> C,
    C: tokio_util::codec::Decoder,
    C::Item: PartialEq + fmt::Debug,
    C::Error: fmt::Display,
{
    type Item = C::Item;

    fn run(&mut self, chunks: &[&[u8]], finish: bool) -> Outcome<C::Item> {
        let mut codec = (self.0)();
        let mut buf = bytes::BytesMut::new();
        let mut out = Outcome::empty();
        let mut fed = 0usize;
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            fed += chunk.len();
            loop {
                match codec.decode(&mut buf) {
                    Ok(Some(item)) => out.items.push(item),
                    Ok(None) => break,
                    Err(e) => {
                        out.error = Some(e.to_string());
                        return out;
                    }
                }
                if out.items.len() > fed {
                    out.error = Some(LOOPS.to_string());
                    return out;
                }
            }
        }
        if !finish {
            return out;
        }
        loop {
            match codec.decode_eof(&mut buf) {
                Ok(Some(item)) => out.items.push(item),
                Ok(None) => break,
                Err(e) => {
                    out.end = Some(e.to_string());
                    break;
                }
            }
            if out.items.len() > fed + 1 {
                out.error = Some(LOOPS.to_string());
                break;
            }
        }
        out
    }
}

/// Reported for a codec that keeps returning messages without input.
#[cfg(feature = "tokio-util")]
const LOOPS: &str = "more messages than bytes fed: the decoder returns items without consuming";

/// [`check`] for a `tokio_util::codec::Decoder` made by `make`.
///
/// ```
/// use framescope::harness::{check_codec, Config};
/// use tokio_util::codec::LinesCodec;
///
/// let passed = check_codec(LinesCodec::new, b"GET /\r\nHost: a\r\n\r\n", &Config::default());
/// assert_eq!(passed.unwrap().items, 3);
/// ```
#[cfg(feature = "tokio-util")]
pub fn check_codec<F, C>(
    make: F,
    stream: &[u8],
    config: &Config,
) -> Result<Passed, Box<Failure<C::Item>>>
where
    F: FnMut() -> C,
    C: tokio_util::codec::Decoder,
    C::Item: PartialEq + fmt::Debug,
    C::Error: fmt::Display,
{
    check(&mut Codec(make), stream, config)
}

/// Which chunkings to try.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Prefixes and single cuts are tried at every position up to this one
    /// (default 4096: about 2 × 4096 runs over the stream).
    pub exhaustive_limit: usize,
    /// Random chunkings to try (default 64).
    pub random: usize,
    /// Seed of the random chunkings: the same seed tries the same ones.
    pub seed: u64,
    /// Chunkings to try as given, each as the offsets where a new chunk
    /// starts (increasing, inside the stream); see [`cuts_from_lengths`].
    pub chunkings: Vec<Vec<usize>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            exhaustive_limit: 4096,
            random: 64,
            seed: 0x6672_616d_6573_636f,
            chunkings: Vec::new(),
        }
    }
}

impl Config {
    /// Small limits for a fuzz target, which runs the check many times a
    /// second: 256 positions, 8 random chunkings.
    pub fn quick() -> Self {
        Config {
            exhaustive_limit: 256,
            random: 8,
            ..Config::default()
        }
    }
}

/// The cut offsets of consecutive chunks of the given lengths (the segment
/// sizes of a capture, say): `[3, 4, 2]` gives `[3, 7]`.
pub fn cuts_from_lengths(lengths: &[usize]) -> Vec<usize> {
    let mut at = 0usize;
    let mut cuts = Vec::new();
    for len in lengths.iter().take(lengths.len().saturating_sub(1)) {
        at = at.saturating_add(*len);
        cuts.push(at);
    }
    cuts
}

/// What a passing check tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Passed {
    /// Messages in the whole stream.
    pub items: usize,
    /// Runs of the parser, the whole stream's included.
    pub runs: u64,
}

/// Which of the checks found the difference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// A prefix fed alone.
    Prefix,
    /// The stream cut once.
    Cut,
    /// One byte at a time.
    Bytewise,
    /// A chunking from [`Config::chunkings`].
    Given,
    /// A random chunking.
    Random,
}

/// A chunking that changes what the parser gives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure<T> {
    /// The check that found it.
    pub check: Check,
    /// How many bytes were fed: the whole stream, or the prefix's length.
    pub fed: usize,
    /// The smallest chunking found: offsets where a new chunk starts.
    pub cuts: Vec<usize>,
    /// What the whole stream gave.
    pub expected: Outcome<T>,
    /// What this chunking gave.
    pub got: Outcome<T>,
}

impl<T> Failure<T> {
    /// The chunk lengths of [`Failure::cuts`].
    pub fn chunk_lengths(&self) -> Vec<usize> {
        lengths(&self.cuts, self.fed)
    }
}

impl<T: fmt::Debug + PartialEq> fmt::Display for Failure<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.check {
            Check::Prefix => format!("the first {} bytes, fed alone,", self.fed),
            _ => format!("the stream in chunks of {:?} bytes", self.chunk_lengths()),
        };
        let (e, g) = (&self.expected, &self.got);
        match e.items.iter().zip(&g.items).position(|(a, b)| a != b) {
            Some(i) => write!(
                f,
                "{what} gives message {i} as {:?}, not {:?}",
                g.items[i], e.items[i]
            ),
            None if self.check == Check::Prefix && g.items.len() > e.items.len() => write!(
                f,
                "{what} gives {} messages, more than the whole stream's {}",
                g.items.len(),
                e.items.len()
            ),
            None if self.check != Check::Prefix && g.items.len() != e.items.len() => write!(
                f,
                "{what} gives {} messages, not {}",
                g.items.len(),
                e.items.len()
            ),
            None if g.error != e.error => {
                write!(f, "{what} ends in error {:?}, not {:?}", g.error, e.error)
            }
            None => write!(f, "{what} ends as {:?}, not {:?}", g.end, e.end),
        }
    }
}

impl<T: fmt::Debug + PartialEq> std::error::Error for Failure<T> {}

/// Runs the checks listed in the module documentation on `stream`.
/// Returns what was tried, or the first difference found, shrunk (boxed:
/// it holds two outcomes).
///
/// ```
/// use framescope::decode::delimiter::{DelimiterConfig, DelimiterDecoder};
/// use framescope::harness::{check, Config, Frames};
///
/// let config = Config {
///     chunkings: vec![vec![5, 9]],
///     ..Config::default()
/// };
/// let mut lines = Frames::new(|| Box::new(DelimiterDecoder::new(DelimiterConfig::line())));
/// assert!(check(&mut lines, b"PING\r\nPONG\r\n", &config).is_ok());
/// ```
pub fn check<S: Subject>(
    subject: &mut S,
    stream: &[u8],
    config: &Config,
) -> Result<Passed, Box<Failure<S::Item>>> {
    let expected = subject.run(&[stream], true);
    let mut runs = 1u64;
    let len = stream.len();
    let limit = config.exhaustive_limit.min(len);
    let fail = |check, fed, cuts, expected: Outcome<S::Item>, got| {
        Err(Box::new(Failure {
            check,
            fed,
            cuts,
            expected,
            got,
        }))
    };

    for k in 1..limit {
        runs += 1;
        if let Some(got) = differs(subject, stream, &[k], &expected) {
            return fail(Check::Cut, len, vec![k], expected, got);
        }
    }

    for k in 1..limit {
        let got = subject.run(&[&stream[..k]], false);
        runs += 1;
        let items_ok = got.items.len() <= expected.items.len()
            && got.items.iter().zip(&expected.items).all(|(a, b)| a == b);
        let error_ok = got.error.is_none() || got.error == expected.error;
        if !(items_ok && error_ok) {
            return fail(Check::Prefix, k, Vec::new(), expected, got);
        }
    }
    let bytewise: Vec<usize> = (1..len).collect();
    let mut rng = SplitMix(config.seed);
    let random = (0..config.random).map(|_| random_cuts(&mut rng, len));
    let given = config.chunkings.iter().map(|c| valid_cuts(c, len));
    let chunkings = std::iter::once((Check::Bytewise, bytewise))
        .chain(given.map(|c| (Check::Given, c)))
        .chain(random.map(|c| (Check::Random, c)));
    for (check, cuts) in chunkings {
        runs += 1;
        if differs(subject, stream, &cuts, &expected).is_some() {
            let cuts = shrink(subject, stream, cuts, &expected);
            let got = subject.run(&chunks(stream, &cuts), true);
            return fail(check, len, cuts, expected, got);
        }
    }
    Ok(Passed {
        items: expected.items.len(),
        runs,
    })
}

/// The outcome of `stream` cut at `cuts`, when it is not `expected`.
fn differs<S: Subject>(
    subject: &mut S,
    stream: &[u8],
    cuts: &[usize],
    expected: &Outcome<S::Item>,
) -> Option<Outcome<S::Item>> {
    let got = subject.run(&chunks(stream, cuts), true);
    (got != *expected).then_some(got)
}

/// Removes cuts while the difference stays (delta debugging on the set of
/// cuts): the result has no cut whose removal makes the difference go.
fn shrink<S: Subject>(
    subject: &mut S,
    stream: &[u8],
    mut cuts: Vec<usize>,
    expected: &Outcome<S::Item>,
) -> Vec<usize> {
    let mut parts = 2usize;
    while cuts.len() > 1 {
        let size = cuts.len().div_ceil(parts);
        let mut removed = false;
        for start in (0..cuts.len()).step_by(size) {
            let mut rest = cuts[..start].to_vec();
            rest.extend_from_slice(&cuts[(start + size).min(cuts.len())..]);
            if differs(subject, stream, &rest, expected).is_some() {
                cuts = rest;
                parts = (parts - 1).max(2);
                removed = true;
                break;
            }
        }
        if !removed {
            if size == 1 {
                break;
            }
            parts = (parts * 2).min(cuts.len());
        }
    }
    cuts
}

/// `stream` cut at `cuts` (increasing offsets inside it).
fn chunks<'a>(stream: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::with_capacity(cuts.len() + 1);
    let mut from = 0;
    for &cut in cuts {
        out.push(&stream[from..cut]);
        from = cut;
    }
    out.push(&stream[from..]);
    out
}

/// Chunk lengths of `fed` bytes cut at `cuts`.
fn lengths(cuts: &[usize], fed: usize) -> Vec<usize> {
    let mut from = 0;
    let mut out = Vec::with_capacity(cuts.len() + 1);
    for &cut in cuts.iter().chain(std::iter::once(&fed)) {
        out.push(cut - from);
        from = cut;
    }
    out
}

/// `cuts` kept to increasing offsets strictly inside a `len`-byte stream.
fn valid_cuts(cuts: &[usize], len: usize) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::with_capacity(cuts.len());
    for &cut in cuts {
        if cut > 0 && cut < len && out.last().is_none_or(|&last| cut > last) {
            out.push(cut);
        }
    }
    out
}

/// A random chunking: chunk lengths drawn up to a bound that is itself
/// random, from one byte to the whole stream.
fn random_cuts(rng: &mut SplitMix, len: usize) -> Vec<usize> {
    const BOUNDS: [usize; 7] = [2, 3, 4, 8, 16, 64, 1024];
    let bound = BOUNDS[rng.below(BOUNDS.len())];
    let mut cuts = Vec::new();
    let mut at = 0usize;
    loop {
        at += 1 + rng.below(bound);
        if at >= len {
            return cuts;
        }
        cuts.push(at);
    }
}

/// SplitMix64: small, seedable, and enough to pick chunk lengths.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (at least 1).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::length::{LengthConfig, LengthDecoder, LengthField, Width};

    /// Frames of a 1-byte length prefix, but a length byte that arrives at
    /// the end of a read is taken as 0 (a header assumed whole).
    struct Hasty {
        need: Option<usize>,
    }

    impl Subject for Hasty {
        type Item = Vec<u8>;

        fn run(&mut self, chunks: &[&[u8]], _finish: bool) -> Outcome<Vec<u8>> {
            let mut out = Outcome::empty();
            let mut cur = Vec::new();
            self.need = None;
            for chunk in chunks {
                for (i, &b) in chunk.iter().enumerate() {
                    cur.push(b);
                    let need = match self.need {
                        Some(n) => n,
                        None if i + 1 == chunk.len() => 0,
                        None => usize::from(b),
                    };
                    if cur.len() > need {
                        out.items.push(std::mem::take(&mut cur));
                        self.need = None;
                    } else {
                        self.need = Some(need);
                    }
                }
            }
            out
        }
    }

    #[test]
    fn a_correct_decoder_passes_every_check() {
        let config = Config {
            chunkings: vec![vec![1, 2, 3], vec![40, 1, 900]],
            ..Config::default()
        };
        let stream: Vec<u8> = (0u8..40)
            .flat_map(|n| [[0, n].as_slice(), &[7; 40][..usize::from(n)]].concat())
            .collect();
        let length = LengthConfig::new(LengthField::big_endian(Width::W2));
        let mut d = Frames::new(|| Box::new(LengthDecoder::new(length.clone())));
        let passed = check(&mut d, &stream, &config).expect("invariant");
        assert_eq!(passed.items, 40);
        let len = stream.len() as u64;
        assert_eq!(passed.runs, 1 + 2 * (len - 1) + 1 + 2 + 64);
    }

    #[test]
    fn a_header_assumed_whole_is_caught_with_one_cut() {
        let stream = [3, b'a', b'b', b'c', 1, b'z'];
        let failure = check(&mut Hasty { need: None }, &stream, &Config::default()).unwrap_err();
        // A read that ends right after the first length byte.
        assert_eq!(failure.check, Check::Cut);
        assert_eq!(failure.cuts, vec![1]);
        assert_eq!(failure.chunk_lengths(), vec![1, 5]);
        assert_eq!(failure.got.items[0], vec![3]);
        let text = failure.to_string();
        assert!(
            text.contains("chunks of [1, 5] bytes gives message 0 as [3]"),
            "{text}"
        );
    }

    #[test]
    fn shrinking_keeps_only_the_cuts_that_matter() {
        let stream = [3, b'a', b'b', b'c', 1, b'z', 2, b'x', b'y'];
        let config = Config {
            exhaustive_limit: 0,
            ..Config::default()
        };
        let failure = check(&mut Hasty { need: None }, &stream, &config).unwrap_err();
        assert_eq!(failure.check, Check::Bytewise);
        assert_eq!(failure.cuts.len(), 1, "{failure}");
        assert!([1, 5, 7].contains(&failure.cuts[0]), "{failure}");
        assert_eq!(failure.chunk_lengths().iter().sum::<usize>(), stream.len());
    }

    /// Lines, with whatever follows the last newline taken as a last line
    /// even while the stream goes on: the end of the input is mistaken for
    /// the end of the stream. Chunking cannot show it; a prefix can.
    struct EagerTail;

    impl Subject for EagerTail {
        type Item = Vec<u8>;

        fn run(&mut self, chunks: &[&[u8]], _finish: bool) -> Outcome<Vec<u8>> {
            let all = chunks.concat();
            let mut out = Outcome::empty();
            out.items = all.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
            if out.items.last().is_some_and(Vec::is_empty) {
                out.items.pop();
            }
            out
        }
    }

    #[test]
    fn a_prefix_taken_for_the_whole_stream_is_caught() {
        let failure = check(&mut EagerTail, b"a\nbc\n", &Config::default()).unwrap_err();
        assert_eq!(failure.check, Check::Prefix);
        assert_eq!(failure.fed, 3);
        assert_eq!(failure.got.items, vec![b"a".to_vec(), b"b".to_vec()]);
        let text = failure.to_string();
        assert!(text.contains("the first 3 bytes, fed alone,"), "{text}");
    }

    #[test]
    fn given_chunkings_are_cleaned_and_lengths_convert() {
        assert_eq!(cuts_from_lengths(&[3, 4, 2]), vec![3, 7]);
        assert_eq!(cuts_from_lengths(&[]), Vec::<usize>::new());
        assert_eq!(valid_cuts(&[0, 3, 3, 2, 9, 12], 10), vec![3, 9]);
        assert_eq!(lengths(&[3, 7], 9), vec![3, 4, 2]);
    }

    #[test]
    fn random_chunkings_depend_on_the_seed_only() {
        let a: Vec<_> = (0..4)
            .map(|_| ())
            .scan(SplitMix(1), |r, _| Some(random_cuts(r, 100)))
            .collect();
        let b: Vec<_> = (0..4)
            .map(|_| ())
            .scan(SplitMix(1), |r, _| Some(random_cuts(r, 100)))
            .collect();
        let c: Vec<_> = (0..4)
            .map(|_| ())
            .scan(SplitMix(2), |r, _| Some(random_cuts(r, 100)))
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.iter().all(|cuts| cuts.windows(2).all(|w| w[0] < w[1])));
    }
}
