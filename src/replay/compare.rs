//! Judging a run: the replies framed with the reply direction's decoder and
//! compared with what was expected, message by message, and the ending.
//!
//! This module owns [`Expected`], [`Compare`] and [`Difference`]. `bytes`
//! compares every reply byte; `shape` only the count, lengths and labels of
//! the messages (for replies that carry timestamps or ids).

use std::fmt;

use crate::decode::spec::FrameSpec;
use crate::decode::{collect_frames, End, Frame};
use crate::flow::Dir;

use super::Ending;

/// How much of each reply must match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Compare {
    /// Every byte of every message.
    Bytes,
    /// Message count, lengths and labels.
    Shape,
}

/// What a run should see.
#[derive(Clone, Debug, Default)]
pub struct Expected {
    /// The reply messages.
    pub frames: Vec<Frame>,
    /// How the connection should end; `None` when the capture does not say.
    pub ending: Option<Ending>,
}

/// The most message differences one verdict lists.
pub const MAX_DIFFERENCES: usize = 5;

/// One way a run differed from what was expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Difference {
    /// A different number of reply messages.
    Count {
        /// Expected.
        expected: usize,
        /// Seen.
        got: usize,
    },
    /// A reply message differs.
    Message {
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
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::Count { expected, got } => {
                write!(f, "{got} reply messages, expected {expected}")
            }
            Difference::Message {
                index,
                expected_len,
                got_len,
                expected_label,
                got_label,
            } => {
                write!(f, "reply #{index}: {got_len} bytes")?;
                if !got_label.is_empty() {
                    write!(f, " {got_label:?}")?;
                }
                write!(f, ", expected {expected_len} bytes")?;
                if !expected_label.is_empty() {
                    write!(f, " {expected_label:?}")?;
                }
                if expected_len == got_len && expected_label == got_label {
                    write!(f, " (contents differ)")?;
                }
                Ok(())
            }
            Difference::Undecodable { error } => write!(f, "replies do not frame: {error}"),
            Difference::Truncated { tail } => {
                write!(
                    f,
                    "replies end inside a message ({tail} bytes past the last whole one)"
                )
            }
            Difference::Ending { expected, got } => {
                write!(f, "connection {}, expected {}", got.name(), expected.name())
            }
        }
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

/// Compares the framed replies and ending of a run with `expected`.
pub fn compare(
    expected: &Expected,
    got: &[Frame],
    framing: Option<Difference>,
    ending: Ending,
    how: Compare,
) -> Vec<Difference> {
    let mut out = Vec::new();
    if let Some(d) = framing {
        out.push(d);
    }
    if got.len() != expected.frames.len() {
        out.push(Difference::Count {
            expected: expected.frames.len(),
            got: got.len(),
        });
    }
    let label = |f: &Frame| f.label.map(|l| l.to_string()).unwrap_or_default();
    let mut listed = 0;
    for (index, (e, g)) in expected.frames.iter().zip(got).enumerate() {
        let same = match how {
            Compare::Bytes => e.bytes == g.bytes,
            Compare::Shape => e.bytes.len() == g.bytes.len() && e.label == g.label,
        };
        if !same {
            out.push(Difference::Message {
                index,
                expected_len: e.bytes.len(),
                got_len: g.bytes.len(),
                expected_label: label(e),
                got_label: label(g),
            });
            listed += 1;
            if listed == MAX_DIFFERENCES {
                break;
            }
        }
    }
    if let Some(e) = expected.ending {
        if e != ending {
            out.push(Difference::Ending {
                expected: e,
                got: ending,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(body: &[u8]) -> Vec<u8> {
        let mut v = (body.len() as u32).to_be_bytes().to_vec();
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn differences_are_found_and_only_those() {
        let spec = FrameSpec::parse("length").unwrap();
        let mut want = msg(b"abc");
        want.extend(msg(b"defg"));
        let (frames, problem) = frame_replies(&spec, Dir::Server, &want);
        assert!(problem.is_none());
        let expected = Expected {
            frames,
            ending: Some(Ending::Closed),
        };
        let same = compare(
            &expected,
            &expected.frames,
            None,
            Ending::Closed,
            Compare::Bytes,
        );
        assert!(same.is_empty(), "{same:?}");

        let mut other = msg(b"abc");
        other.extend(msg(b"xxxx"));
        let (frames, _) = frame_replies(&spec, Dir::Server, &other);
        assert_eq!(
            compare(&expected, &frames, None, Ending::Closed, Compare::Bytes).len(),
            1
        );
        assert!(compare(&expected, &frames, None, Ending::Closed, Compare::Shape).is_empty());

        let mut coalesced = msg(b"abcdefg");
        coalesced.extend([0, 0]);
        let (frames, problem) = frame_replies(&spec, Dir::Server, &coalesced);
        assert_eq!(problem, Some(Difference::Truncated { tail: 2 }));
        let diffs = compare(&expected, &frames, problem, Ending::Reset, Compare::Shape);
        assert!(diffs.contains(&Difference::Count {
            expected: 2,
            got: 1
        }));
        assert!(diffs.contains(&Difference::Ending {
            expected: Ending::Closed,
            got: Ending::Reset
        }));
    }
}
