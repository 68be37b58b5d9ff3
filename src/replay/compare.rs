//! Judging a run against the server itself: the replies of a run, framed
//! with the reply direction's decoder, compared with those of reference
//! runs made against the same server in the same invocation.
//!
//! This module owns [`Observed`] (what one run got, framed), [`Reference`]
//! (what the reference runs established, and how much they varied among
//! themselves), [`Expected`] (the captured replies) and [`Difference`].
//!
//! A reply message that came back byte for byte the same in every
//! reference run must come back the same. One that varied (a timestamp, a
//! counter, an id) is compared by shape: its *skeleton*, the bytes with
//! every run of ASCII digits folded into one placeholder, when the
//! reference runs agree on that; else its label. The reply count may vary
//! within what the reference runs saw, and the ending must be one they
//! saw. `Compare::Shape` compares every message by length and label only.
//!
//! When the peer is a client program run by `replay --serve`, a run also
//! carries what the program did ([`ClientRun`]): its exit status must be
//! one the reference runs saw, and its standard output is compared line by
//! line the same way (a line that varied between the reference runs by
//! shape), the first differing line reported.
//!
//! ```text
//! reference 1:  +OK | :1 | $5 hello       reply #1 varies: skeleton ":#\r\n"
//! reference 2:  +OK | :2 | $5 hello
//! this run:     +OK | :7 | $5 hellO       #1 same shape; #2 differs at byte 8
//! ```

use std::fmt;

use crate::decode::spec::FrameSpec;
use crate::decode::{collect_frames, End, Frame};
use crate::flow::Dir;

use super::client::{ClientRun, Exit};
use super::Ending;

/// How much of each reply must match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Compare {
    /// Every byte of every message the server answers the same way each
    /// time; messages that varied between the reference runs by shape.
    Bytes,
    /// Message count, lengths and labels only.
    Shape,
}

/// The captured replies and ending.
#[derive(Clone, Debug, Default)]
pub struct Expected {
    /// The reply messages.
    pub frames: Vec<Frame>,
    /// How the connection should end; `None` when the capture does not say.
    pub ending: Option<Ending>,
}

/// What one run got back, framed.
#[derive(Clone, Debug)]
pub struct Observed {
    /// The reply messages.
    pub frames: Vec<Frame>,
    /// Why the replies did not frame cleanly, if they did not.
    pub framing: Option<Difference>,
    /// How the connection ended.
    pub ending: Ending,
    /// The bytes the server had read when it stopped reading, if it did.
    pub stalled: Option<u64>,
    /// What the client program did, when the peer is one run by
    /// `replay --serve --client-cmd`.
    pub client: Option<ClientRun>,
}

/// The most message differences one judgement lists.
pub const MAX_DIFFERENCES: usize = 5;

/// Bytes of context shown on each side of a byte difference.
pub const CONTEXT: usize = 16;

/// One way a run differed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Difference {
    /// A different number of reply messages.
    Count {
        /// The fewest expected.
        min: usize,
        /// The most expected.
        max: usize,
        /// Seen.
        got: usize,
    },
    /// A reply message's bytes differ where the server is otherwise
    /// consistent.
    Bytes {
        /// Index of the message (0-based).
        index: usize,
        /// Offset of the first differing byte in the message.
        offset: usize,
        /// Expected length.
        expected_len: usize,
        /// Seen length.
        got_len: usize,
        /// The expected bytes around the offset.
        expected: Context,
        /// The bytes seen around the offset.
        got: Context,
    },
    /// A reply message has another shape (length, label or skeleton).
    Shape {
        /// Index of the message (0-based).
        index: usize,
        /// Expected length.
        expected_len: usize,
        /// Seen length.
        got_len: usize,
        /// Expected label.
        expected_label: String,
        /// Seen label.
        got_label: String,
    },
    /// The replies do not frame.
    Undecodable {
        /// The decoder's error.
        error: String,
    },
    /// The replies end inside a message.
    Truncated {
        /// Bytes past the last whole message.
        tail: usize,
    },
    /// The connection ended differently.
    Ending {
        /// Expected.
        expected: Ending,
        /// Seen.
        got: Ending,
    },
    /// The server stopped reading where it did not before (or the other
    /// way round).
    Stalled {
        /// Bytes it had read when it stopped (`None`: it did not stop).
        read: Option<u64>,
    },
    /// The client program printed something else: the first line that
    /// differs (0-based), as the reference printed it and as it printed it
    /// (`None`: no such line).
    Output {
        /// The line's index.
        line: usize,
        /// The reference's line.
        expected: Option<String>,
        /// This run's line.
        got: Option<String>,
    },
    /// The client program ended otherwise.
    Exit {
        /// The first reference run's.
        expected: Exit,
        /// This run's.
        got: Exit,
    },
    /// The client program never connected, where it did in the reference.
    NoConnection,
}

/// Who the peer of a run is, for the wording of differences.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// A server: the messages compared are its replies.
    Server,
    /// A client (`replay --serve`): the messages compared are its requests.
    Client,
}

impl Peer {
    /// `server` or `client`.
    pub fn name(self) -> &'static str {
        match self {
            Peer::Server => "server",
            Peer::Client => "client",
        }
    }

    /// What its messages are called: `reply` / `replies`, `request` /
    /// `requests`.
    pub fn messages(self, n: usize) -> &'static str {
        match (self, n == 1) {
            (Peer::Server, true) => "reply",
            (Peer::Server, false) => "replies",
            (Peer::Client, true) => "request",
            (Peer::Client, false) => "requests",
        }
    }
}

/// A line of output as shown: without its line end, at most
/// [`MAX_LINE_SHOWN`] characters.
fn shown_line(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end_matches(['\n', '\r']);
    if text.chars().count() > MAX_LINE_SHOWN {
        let cut: String = text.chars().take(MAX_LINE_SHOWN).collect();
        format!("{cut}...")
    } else {
        text.to_string()
    }
}

/// The most characters of an output line a difference shows.
pub const MAX_LINE_SHOWN: usize = 120;

/// A few bytes around a difference, for showing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Context {
    /// Whether bytes precede the excerpt.
    pub cut_before: bool,
    /// The bytes.
    pub bytes: Vec<u8>,
    /// Whether bytes follow the excerpt.
    pub cut_after: bool,
}

impl Context {
    fn around(message: &[u8], offset: usize) -> Context {
        let from = offset.saturating_sub(CONTEXT);
        let to = offset.saturating_add(CONTEXT).min(message.len());
        Context {
            cut_before: from > 0,
            bytes: message.get(from..to).unwrap_or(&[]).to_vec(),
            cut_after: to < message.len(),
        }
    }
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        if self.cut_before {
            f.write_str("...")?;
        }
        for &b in &self.bytes {
            match b {
                b'\r' => f.write_str("\\r")?,
                b'\n' => f.write_str("\\n")?,
                b'\t' => f.write_str("\\t")?,
                b'"' => f.write_str("\\\"")?,
                b'\\' => f.write_str("\\\\")?,
                0x20..=0x7e => write!(f, "{}", char::from(b))?,
                _ => write!(f, "\\x{b:02x}")?,
            }
        }
        if self.cut_after {
            f.write_str("...")?;
        }
        f.write_str("\"")
    }
}

/// What a difference is measured against, for its wording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Against {
    /// A run against the reference runs.
    Reference,
    /// The reference against the capture.
    Capture,
}

impl Difference {
    /// The difference in words, the peer being a server.
    pub fn describe(&self, against: Against) -> String {
        self.describe_as(against, Peer::Server)
    }

    /// The difference in words, for a run whose peer is `peer`.
    pub fn describe_as(&self, against: Against, peer: Peer) -> String {
        let capture = against == Against::Capture;
        let noun = |n: usize| peer.messages(n);
        let (e, g) = if capture {
            ("captured", "now")
        } else {
            ("reference", "got")
        };
        match self {
            Difference::Count { min, max, got } => {
                let want = if min == max {
                    min.to_string()
                } else {
                    format!("{min} to {max}")
                };
                if capture {
                    format!("{want} {} captured, {got} now", noun(*max))
                } else {
                    format!("{got} {}, {want} in the reference", noun(*got))
                }
            }
            Difference::Bytes {
                index,
                offset,
                expected_len,
                got_len,
                expected,
                got,
            } => {
                let lens = if expected_len == got_len {
                    format!("{got_len} bytes")
                } else {
                    format!("{expected_len} bytes {e}, {got_len} {g}")
                };
                format!(
                    "{} #{index} differs at byte {offset} ({lens}): {e} {expected}, {g} {got}",
                    noun(1)
                )
            }
            Difference::Shape {
                index,
                expected_len,
                got_len,
                expected_label,
                got_label,
            } => {
                let shape = |len: &usize, label: &String| {
                    if label.is_empty() {
                        format!("{len} bytes")
                    } else {
                        format!("{len} bytes {label:?}")
                    }
                };
                format!(
                    "{} #{index}: {e} {}, {g} {}",
                    noun(1),
                    shape(expected_len, expected_label),
                    shape(got_len, got_label)
                )
            }
            Difference::Undecodable { error } => format!("{} do not frame: {error}", noun(2)),
            Difference::Truncated { tail } => format!(
                "{} end inside a message ({tail} bytes past the last whole one)",
                noun(2)
            ),
            Difference::Ending { expected, got } => {
                if capture {
                    format!(
                        "connection {} now, {} in the capture",
                        got.name(),
                        expected.name()
                    )
                } else {
                    format!(
                        "connection {}, {} in the reference",
                        got.name(),
                        expected.name()
                    )
                }
            }
            Difference::Stalled { read: Some(n) } => {
                let bytes = if *n == 1 { "byte" } else { "bytes" };
                format!("the {} stopped reading after {n} {bytes}", peer.name())
            }
            Difference::Stalled { read: None } => format!(
                "the {} read everything, where it stopped reading in the reference",
                peer.name()
            ),
            Difference::Output {
                line,
                expected,
                got,
            } => {
                let quote =
                    |l: &Option<String>| l.as_ref().map_or("no line".into(), |l| format!("{l:?}"));
                format!(
                    "output line {}: {e} {}, {g} {}",
                    line + 1,
                    quote(expected),
                    quote(got)
                )
            }
            Difference::Exit { expected, got } => {
                format!(
                    "client {}, {} in the reference",
                    got.text(),
                    expected.text()
                )
            }
            Difference::NoConnection => "the client never connected".into(),
        }
    }
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe(Against::Reference))
    }
}

/// Frames `replies` as direction `dir` of `spec`: the frames, and a
/// difference when they do not frame cleanly.
pub fn frame_replies(
    spec: &FrameSpec,
    dir: Dir,
    replies: &[u8],
) -> (Vec<Frame>, Option<Difference>) {
    let [c, s] = spec.decoders();
    let mut dec = if dir == Dir::Client { c } else { s };
    let got = collect_frames(dec.as_mut(), [replies]);
    let framed: usize = got.frames.iter().map(|f| f.bytes.len()).sum();
    let problem = match (got.error, got.end) {
        (Some(e), _) => Some(Difference::Undecodable {
            error: e.to_string(),
        }),
        (None, Some(End::Truncated { .. })) => Some(Difference::Truncated {
            tail: replies.len().saturating_sub(framed),
        }),
        _ => None,
    };
    (got.frames, problem)
}

/// The bytes of `message` with every run of ASCII digits folded into one
/// `0xff` byte: what a message that carries a counter, a timestamp or a
/// decimal id keeps from one run to the next.
pub fn skeleton(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len());
    let mut in_digits = false;
    for &b in message {
        if b.is_ascii_digit() {
            if !in_digits {
                out.push(0xff);
            }
            in_digits = true;
        } else {
            out.push(b);
            in_digits = false;
        }
    }
    out
}

fn label(f: &Frame) -> String {
    f.label.map(|l| l.to_string()).unwrap_or_default()
}

/// What the reference runs established: their replies, how they ended, and
/// where they stopped reading.
#[derive(Clone, Debug)]
pub struct Reference {
    runs: Vec<Observed>,
    how: Compare,
    /// Whether the ending is known (a capture may not say).
    ending_known: bool,
}

impl Reference {
    /// A reference of one run.
    pub fn new(first: Observed, how: Compare) -> Reference {
        Reference {
            runs: vec![first],
            how,
            ending_known: true,
        }
    }

    /// The captured replies taken as the reference (fuzzing's owed replies
    /// use it too): one run, with an ending only when the capture has one.
    pub fn from_expected(expected: &Expected, how: Compare) -> Reference {
        Reference {
            runs: vec![Observed {
                frames: expected.frames.clone(),
                framing: None,
                ending: expected.ending.unwrap_or(Ending::Silent),
                stalled: None,
                client: None,
            }],
            how,
            ending_known: expected.ending.is_some(),
        }
    }

    /// Adds another reference run.
    pub fn add(&mut self, run: Observed) {
        self.runs.push(run);
    }

    /// The reference runs, in order.
    pub fn runs(&self) -> &[Observed] {
        &self.runs
    }

    /// The reply count of the first run.
    pub fn replies(&self) -> usize {
        self.runs.first().map_or(0, |r| r.frames.len())
    }

    /// The indices of the reply messages that differed between the
    /// reference runs (compared by shape).
    pub fn varying(&self) -> Vec<usize> {
        let most = self.runs.iter().map(|r| r.frames.len()).max().unwrap_or(0);
        (0..most).filter(|&i| self.varies(i)).collect()
    }

    fn varies(&self, index: usize) -> bool {
        let mut seen = self.runs.iter().map(|r| r.frames.get(index));
        let Some(first) = seen.next() else {
            return false;
        };
        seen.any(|f| f.map(|f| &f.bytes) != first.map(|f| &f.bytes))
    }

    /// How `got` differs from the reference in ways the reference runs did
    /// not differ among themselves (empty: the same behaviour).
    pub fn judge(&self, got: &Observed) -> Vec<Difference> {
        // What the client program did is what its user sees: it comes
        // first.
        let mut out = got
            .client
            .as_ref()
            .map_or_else(Vec::new, |c| self.judge_client(c));
        // A server that stopped reading explains what follows (missing
        // replies, a silent ending): it comes first.
        if got.stalled.is_some() != self.runs.iter().any(|r| r.stalled.is_some()) {
            out.push(Difference::Stalled { read: got.stalled });
        }
        if let Some(problem) = &got.framing {
            let seen = self.runs.iter().any(|r| {
                r.framing
                    .as_ref()
                    .is_some_and(|p| std::mem::discriminant(p) == std::mem::discriminant(problem))
            });
            if !seen {
                out.push(problem.clone());
            }
        }
        let counts = self.runs.iter().map(|r| r.frames.len());
        let (min, max) = (counts.clone().min().unwrap_or(0), counts.max().unwrap_or(0));
        if got.frames.len() < min || got.frames.len() > max {
            out.push(Difference::Count {
                min,
                max,
                got: got.frames.len(),
            });
        }
        let mut listed = 0;
        for (index, g) in got.frames.iter().enumerate() {
            if listed == MAX_DIFFERENCES {
                break;
            }
            if let Some(d) = self.judge_message(index, g) {
                out.push(d);
                listed += 1;
            }
        }
        if self.ending_known && !self.runs.iter().any(|r| r.ending == got.ending) {
            if let Some(first) = self.runs.first() {
                out.push(Difference::Ending {
                    expected: first.ending,
                    got: got.ending,
                });
            }
        }
        out
    }

    /// The client program's output, exit and connection against those of
    /// the reference runs that ran it.
    fn judge_client(&self, got: &ClientRun) -> Vec<Difference> {
        let refs: Vec<&ClientRun> = self.runs.iter().filter_map(|r| r.client.as_ref()).collect();
        let Some(first) = refs.first() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let as_lines = |c: &ClientRun| Observed {
            frames: c
                .lines()
                .into_iter()
                .map(|l| Frame {
                    offset: 0,
                    bytes: l.to_vec(),
                    label: None,
                })
                .collect(),
            framing: None,
            ending: Ending::Closed,
            stalled: None,
            client: None,
        };
        let mut lines = Reference::new(as_lines(first), Compare::Bytes);
        lines.ending_known = false;
        for r in refs.iter().skip(1) {
            lines.add(as_lines(r));
        }
        let line = lines
            .judge(&as_lines(got))
            .iter()
            .filter_map(|d| match *d {
                Difference::Bytes { index, .. } | Difference::Shape { index, .. } => Some(index),
                Difference::Count { min, max, got } => Some(if got < min { got } else { max }),
                _ => None,
            })
            .min();
        if let Some(line) = line {
            let at = |c: &ClientRun| c.lines().get(line).map(|l| shown_line(l));
            out.push(Difference::Output {
                line,
                expected: at(first),
                got: at(got),
            });
        }
        if !refs.iter().any(|r| r.exit == got.exit) {
            out.push(Difference::Exit {
                expected: first.exit,
                got: got.exit,
            });
        }
        if got.connections == 0 && refs.iter().all(|r| r.connections > 0) {
            out.push(Difference::NoConnection);
        }
        out
    }

    fn judge_message(&self, index: usize, got: &Frame) -> Option<Difference> {
        let refs: Vec<&Frame> = self
            .runs
            .iter()
            .filter_map(|r| r.frames.get(index))
            .collect();
        let first = *refs.first()?;
        if refs.iter().any(|r| r.bytes == got.bytes) {
            return None;
        }
        let shape = Difference::Shape {
            index,
            expected_len: first.bytes.len(),
            got_len: got.bytes.len(),
            expected_label: label(first),
            got_label: label(got),
        };
        if self.varies(index) {
            // The reference runs varied here: compare by shape.
            let skeletons: Vec<Vec<u8>> = refs.iter().map(|r| skeleton(&r.bytes)).collect();
            if skeletons.iter().all(|s| *s == skeletons[0]) {
                return (skeleton(&got.bytes) != skeletons[0]).then_some(shape);
            }
            if refs.iter().all(|r| r.label == first.label) {
                return (got.label != first.label).then_some(shape);
            }
            return None;
        }
        if self.how == Compare::Shape {
            let same = first.bytes.len() == got.bytes.len() && first.label == got.label;
            return (!same).then_some(shape);
        }
        Some(bytes_difference(index, first, got))
    }
}

/// The first byte where `got` differs from `expected`, in context.
fn bytes_difference(index: usize, expected: &Frame, got: &Frame) -> Difference {
    let offset = expected
        .bytes
        .iter()
        .zip(&got.bytes)
        .position(|(a, b)| a != b)
        .unwrap_or(expected.bytes.len().min(got.bytes.len()));
    Difference::Bytes {
        index,
        offset,
        expected_len: expected.bytes.len(),
        got_len: got.bytes.len(),
        expected: Context::around(&expected.bytes, offset),
        got: Context::around(&got.bytes, offset),
    }
}

/// How the first reference run compares with the capture: empty when it
/// matches. Messages that varied between the reference runs are compared
/// by shape, the rest byte for byte.
pub fn against_capture(capture: &Expected, reference: &Reference) -> Vec<Difference> {
    let Some(first) = reference.runs.first() else {
        return Vec::new();
    };
    let mut judge = Reference::from_expected(capture, reference.how);
    // Messages the server varies on: let the capture's copy vary as well,
    // by adding the other reference runs' messages at those places.
    for other in reference.runs.iter().skip(1) {
        let mut frames = capture.frames.clone();
        for (i, f) in frames.iter_mut().enumerate() {
            if reference.varies(i) {
                if let Some(o) = other.frames.get(i) {
                    *f = o.clone();
                }
            }
        }
        judge.runs.push(Observed {
            frames,
            framing: None,
            ending: capture.ending.unwrap_or(Ending::Silent),
            stalled: None,
            client: None,
        });
    }
    let mut first = first.clone();
    first.stalled = None;
    first.client = None;
    judge.judge(&first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(body: &[u8]) -> Vec<u8> {
        let mut v = (body.len() as u32).to_be_bytes().to_vec();
        v.extend_from_slice(body);
        v
    }

    fn observed(spec: &str, bytes: &[u8], ending: Ending) -> Observed {
        let spec = FrameSpec::parse(spec).unwrap();
        let (frames, framing) = frame_replies(&spec, Dir::Server, bytes);
        Observed {
            frames,
            framing,
            ending,
            stalled: None,
            client: None,
        }
    }

    #[test]
    fn a_consistent_server_matches_itself_and_differences_are_found() {
        let mut want = msg(b"abc");
        want.extend(msg(b"defg"));
        let base = observed("length", &want, Ending::Closed);
        let reference = Reference::new(base.clone(), Compare::Bytes);
        assert!(reference.judge(&base).is_empty());

        let mut other = msg(b"abc");
        other.extend(msg(b"dxfg"));
        let diffs = reference.judge(&observed("length", &other, Ending::Closed));
        assert_eq!(diffs.len(), 1, "{diffs:?}");
        let text = diffs[0].to_string();
        assert!(
            text.contains("reply #1 differs at byte 5")
                && text.contains("\"\\x00\\x00\\x00\\x04defg\"")
                && text.contains("\"\\x00\\x00\\x00\\x04dxfg\""),
            "{text}"
        );
        let shape = Reference::new(base.clone(), Compare::Shape);
        assert!(shape
            .judge(&observed("length", &other, Ending::Closed))
            .is_empty());

        let mut coalesced = msg(b"abcdefg");
        coalesced.extend([0, 0]);
        let diffs = reference.judge(&observed("length", &coalesced, Ending::Reset));
        assert!(
            diffs.contains(&Difference::Truncated { tail: 2 }),
            "{diffs:?}"
        );
        assert!(diffs.contains(&Difference::Count {
            min: 2,
            max: 2,
            got: 1
        }));
        assert!(diffs.contains(&Difference::Ending {
            expected: Ending::Closed,
            got: Ending::Reset
        }));
    }

    #[test]
    fn what_varied_between_reference_runs_is_compared_by_shape() {
        let a = observed("resp", b"+OK\r\n:1\r\n$5\r\nhello\r\n", Ending::Closed);
        let b = observed("resp", b"+OK\r\n:2\r\n$5\r\nhello\r\n", Ending::Closed);
        let mut reference = Reference::new(a, Compare::Bytes);
        reference.add(b);
        assert_eq!(reference.varying(), vec![1]);
        // A counter past 9 keeps its shape.
        let later = observed("resp", b"+OK\r\n:10\r\n$5\r\nhello\r\n", Ending::Closed);
        assert!(reference.judge(&later).is_empty());
        // The stable message must stay the same byte for byte.
        let broken = observed("resp", b"+OK\r\n:11\r\n$5\r\nhellO\r\n", Ending::Closed);
        let diffs = reference.judge(&broken);
        assert_eq!(diffs.len(), 1, "{diffs:?}");
        assert!(diffs[0].to_string().contains("reply #2 differs at byte 8"));
        // Another type where a number was is a difference of shape.
        let error = observed("resp", b"+OK\r\n-ERR\r\n$5\r\nhello\r\n", Ending::Closed);
        assert!(matches!(
            reference.judge(&error).as_slice(),
            [Difference::Shape { index: 1, .. }]
        ));
    }

    #[test]
    fn the_capture_comparison_counts_and_locates() {
        let spec = FrameSpec::parse("resp").unwrap();
        let (frames, _) = frame_replies(&spec, Dir::Server, b"+OK\r\n:1\r\n");
        let capture = Expected {
            frames,
            ending: Some(Ending::Closed),
        };
        let mut reference = Reference::new(
            observed("resp", b"+OK\r\n:5\r\n+OK\r\n", Ending::Closed),
            Compare::Bytes,
        );
        reference.add(observed("resp", b"+OK\r\n:6\r\n+OK\r\n", Ending::Closed));
        let diffs = against_capture(&capture, &reference);
        assert_eq!(
            diffs
                .iter()
                .map(|d| d.describe(Against::Capture))
                .collect::<Vec<_>>(),
            vec!["2 replies captured, 3 now".to_string()]
        );
        let same = Reference::new(
            observed("resp", b"+OK\r\n:1\r\n", Ending::Closed),
            Compare::Bytes,
        );
        assert!(against_capture(&capture, &same).is_empty());
    }

    fn with_client(exit: Exit, stdout: &str) -> Observed {
        let mut o = observed("line", b"a\n", Ending::Closed);
        o.client = Some(ClientRun {
            exit,
            stdout: stdout.as_bytes().to_vec(),
            stderr: Vec::new(),
            connections: 1,
        });
        o
    }

    #[test]
    fn a_client_program_is_judged_by_its_output_and_exit() {
        let mut reference = Reference::new(
            with_client(Exit::Code(0), "start 10:01\nreply 0: 4096 bytes\n"),
            Compare::Bytes,
        );
        reference.add(with_client(
            Exit::Code(0),
            "start 10:02\nreply 0: 4096 bytes\n",
        ));
        // A clock that varies between the reference runs keeps its shape.
        let same = with_client(Exit::Code(0), "start 11:59\nreply 0: 4096 bytes\n");
        assert!(reference.judge(&same).is_empty());
        let cut = with_client(Exit::Code(0), "start 10:01\nreply 0: 1 bytes\n");
        let diffs = reference.judge(&cut);
        assert_eq!(
            diffs,
            vec![Difference::Output {
                line: 1,
                expected: Some("reply 0: 4096 bytes".into()),
                got: Some("reply 0: 1 bytes".into()),
            }]
        );
        assert_eq!(
            diffs[0].describe_as(Against::Reference, Peer::Client),
            "output line 2: reference \"reply 0: 4096 bytes\", got \"reply 0: 1 bytes\""
        );
        // A missing line, and another exit.
        let short = with_client(Exit::Hung, "start 10:01\n");
        let diffs = reference.judge(&short);
        assert_eq!(
            diffs,
            vec![
                Difference::Output {
                    line: 1,
                    expected: Some("reply 0: 4096 bytes".into()),
                    got: None,
                },
                Difference::Exit {
                    expected: Exit::Code(0),
                    got: Exit::Hung
                }
            ]
        );
        assert_eq!(
            diffs[1].describe_as(Against::Reference, Peer::Client),
            "client hung, exit 0 in the reference"
        );
        let mut never = with_client(Exit::Code(1), "start 10:01\nreply 0: 4096 bytes\n");
        if let Some(c) = &mut never.client {
            c.connections = 0;
        }
        assert!(reference.judge(&never).contains(&Difference::NoConnection));
    }

    #[test]
    fn skeletons_fold_digit_runs() {
        assert_eq!(skeleton(b"Date: 11:48:17"), b"Date: \xff:\xff:\xff");
        assert_eq!(skeleton(b":9\r\n"), skeleton(b":10\r\n"));
        assert_ne!(skeleton(b":9\r\n"), skeleton(b"-9\r\n"));
    }
}
