//! Replay: sending a captured session to a live server with chosen write
//! patterns, and fuzzing that server with frame-aware mutations.
//!
//! This module owns everything that touches a live peer: loading one stream
//! of a capture as a replayable [`Session`] ([`session`]), turning its bytes
//! into a list of writes ([`split`]: the original segments, fixed-size cuts,
//! one write per message, everything coalesced, header and body apart),
//! running one connection ([`conn`]), judging the replies against the
//! capture ([`compare`]), mutating messages ([`fuzz`]) and writing synthetic
//! captures that reproduce a run ([`synth`]). It does not parse flags or
//! print tables: the command line does.
//!
//! ```text
//! captured client side:  [len|body][len|body][len|body]
//! --split header-body:   [len] [body] [len] [body] [len] [body]   (one write each)
//! --split coalesce:      [len|body len|body len|body]             (one write)
//! server replies  ----->  framed with the same --frame spec, compared with
//!                         the captured replies and the captured ending
//! ```
//!
//! Only loopback peers are contacted unless the caller allows remote ones
//! ([`check_target`]).

pub mod compare;
pub mod conn;
pub mod fuzz;
pub mod session;
pub mod split;
pub mod synth;

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

pub use compare::{Compare, Difference, Expected};
pub use conn::{Ending, Outcome};
pub use session::{Segment, Session};
pub use split::{Pace, Split, Write};

use crate::decode::spec::FrameSpec;
use crate::decode::{collect_frames, DecodeError, Frame};
use crate::flow::Dir;

/// Why a replay could not be run at all (as opposed to a run whose verdict
/// is "the server behaved differently", which is a result).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The capture could not be read.
    #[error(transparent)]
    Input(#[from] crate::pipeline::InputError),
    /// No TCP stream has that number.
    #[error("no TCP stream {stream} in the capture ({streams} TCP streams)")]
    NoStream {
        /// The stream asked for.
        stream: u64,
        /// TCP streams in the capture.
        streams: u64,
    },
    /// The capture misses bytes of the stream, so it cannot be sent as it was.
    #[error("{} side misses {len} bytes at stream offset {offset}: a replay needs every byte", dir.name())]
    Gap {
        /// The direction.
        dir: Dir,
        /// Stream offset of the first missing byte.
        offset: u64,
        /// Bytes missing.
        len: u64,
    },
    /// The stream holds more bytes than a replay keeps in memory.
    #[error("{} side exceeds the replay limit of {limit} bytes", dir.name())]
    TooLarge {
        /// The direction.
        dir: Dir,
        /// The limit.
        limit: usize,
    },
    /// The side to send does not frame with the given spec.
    #[error("the captured {} side does not frame: {error}", dir.name())]
    Framing {
        /// The direction.
        dir: Dir,
        /// The decoder's error.
        error: crate::decode::DecodeError,
    },
    /// The target does not resolve.
    #[error("cannot resolve {target}: {why}")]
    Resolve {
        /// The `HOST:PORT` given.
        target: String,
        /// Why.
        why: String,
    },
    /// The target is not a loopback address and remote targets are not
    /// allowed.
    #[error("{addr} is not a loopback address; replay sends only to 127.0.0.1 / ::1 unless --allow-remote is given")]
    NotLoopback {
        /// The resolved address.
        addr: SocketAddr,
    },
    /// A socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
}

/// Resolves `target` (`HOST:PORT`) and refuses non-loopback addresses unless
/// `allow_remote`.
pub fn check_target(target: &str, allow_remote: bool) -> Result<SocketAddr, ReplayError> {
    let addr = target
        .to_socket_addrs()
        .map_err(|e| ReplayError::Resolve {
            target: target.to_string(),
            why: e.to_string(),
        })?
        .next()
        .ok_or_else(|| ReplayError::Resolve {
            target: target.to_string(),
            why: "no address".to_string(),
        })?;
    if !allow_remote && !addr.ip().is_loopback() {
        return Err(ReplayError::NotLoopback { addr });
    }
    Ok(addr)
}

/// A small deterministic PRNG (xorshift64*, seeded through splitmix64), so
/// that a seed names the same cuts and mutations on every platform and in
/// every version, without a dependency whose stream may change.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Rng {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Rng(z | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next_u64() % n as u64) as usize
    }
}

/// A session prepared for replay: the side to send, its messages, and the
/// replies expected back.
#[derive(Clone, Debug)]
pub struct Replay {
    /// The framing of both sides.
    pub spec: FrameSpec,
    /// The side whose bytes are sent.
    pub side: Dir,
    /// That side's captured segments.
    pub segments: Vec<Segment>,
    /// That side's messages.
    pub frames: Vec<Frame>,
    /// Why that side stopped framing, if it did.
    pub framing_error: Option<DecodeError>,
    /// The captured replies and ending.
    pub expected: Expected,
}

/// What one replay run saw and how it differed.
#[derive(Clone, Debug)]
pub struct RunReport {
    /// The connection's outcome.
    pub outcome: Outcome,
    /// The reply messages.
    pub replies: Vec<Frame>,
    /// Differences from the expected replies (empty: same behaviour).
    pub differences: Vec<Difference>,
}

impl Replay {
    /// Prepares `session` for sending `side` with framing `spec`.
    pub fn new(session: &Session, spec: FrameSpec, side: Dir) -> Replay {
        let segments = session.dirs[side.index()].clone();
        let [c, s] = spec.decoders();
        let mut dec = if side == Dir::Client { c } else { s };
        let got = collect_frames(dec.as_mut(), segments.iter().map(|s| s.bytes.as_slice()));
        let replies = session.bytes(side.other());
        let (frames, _) = compare::frame_replies(&spec, side.other(), &replies);
        Replay {
            side,
            segments,
            frames: got.frames,
            framing_error: got.error,
            expected: Expected {
                frames,
                ending: session.ends[side.other().index()],
            },
            spec,
        }
    }

    /// The writes of one strategy. Message-based strategies need the sent
    /// side to frame.
    pub fn writes(&self, split: Split, pace: Pace) -> Result<Vec<Write>, ReplayError> {
        if matches!(split, Split::Frames | Split::HeaderBody) {
            if let Some(error) = &self.framing_error {
                return Err(ReplayError::Framing {
                    dir: self.side,
                    error: error.clone(),
                });
            }
        }
        Ok(split::plan(
            split,
            pace,
            &self.segments,
            &self.frames,
            &self.spec,
        ))
    }

    /// Sends `writes` to `addr` and judges the replies against `expected`.
    pub fn run(
        &self,
        addr: SocketAddr,
        writes: &[Write],
        expected: &Expected,
        timeout: Duration,
        how: Compare,
    ) -> Result<RunReport, ReplayError> {
        let outcome = conn::exchange(addr, writes, timeout)?;
        let (replies, framing) =
            compare::frame_replies(&self.spec, self.side.other(), &outcome.replies);
        let differences = compare::compare(expected, &replies, framing, outcome.ending, how);
        Ok(RunReport {
            outcome,
            replies,
            differences,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_deterministic_and_bounded() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let xs: Vec<usize> = (0..100).map(|_| a.below(10)).collect();
        let ys: Vec<usize> = (0..100).map(|_| b.below(10)).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().all(|&x| x < 10));
        assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
        assert_eq!(Rng::new(3).below(0), 0);
    }

    #[test]
    fn remote_targets_need_permission() {
        assert!(check_target("127.0.0.1:9", false).is_ok());
        assert!(check_target("[::1]:9", false).is_ok());
        let err = check_target("192.0.2.1:9", false).unwrap_err();
        assert!(err.to_string().contains("--allow-remote"), "{err}");
        assert!(check_target("192.0.2.1:9", true).is_ok());
    }
}
