//! Replay: sending a captured session to a live server with chosen write
//! patterns, and fuzzing that server with frame-aware mutations.
//!
//! This module owns everything that touches a live peer: loading one stream
//! of a capture as a replayable [`Session`] ([`session`]), turning its bytes
//! into a list of writes ([`split`]: the original segments, fixed-size cuts,
//! one write per message, everything coalesced, header and body apart),
//! running one connection ([`conn`]), paced by what the server has read
//! ([`peer_read`]), judging the replies against reference runs made on the
//! same server ([`compare`], [`run_patterns`]), mutating messages
//! ([`mutate`]) and writing synthetic captures that reproduce a run
//! ([`synth`]). It does not parse flags or print tables: the command line
//! does.
//!
//! The verdict is about segmentation, measured on the server itself: each
//! invocation first sends the session with its captured message
//! boundaries, one write per message, twice. What differs between those two
//! reference runs (timestamps, counters, ids) is compared by shape from
//! then on; a write pattern changes the server's behaviour only when its
//! replies, or the way the connection ended, differ from the reference in a
//! way the reference runs did not. Whether the reference matches the
//! capture is reported as information.
//!
//! ```text
//! captured client side:  [len|body][len|body][len|body]
//! --split header-body:   [len] [body] [len] [body] [len] [body]   (one write each)
//! --split coalesce:      [len|body len|body len|body]             (one write)
//! server replies  ----->  framed with the same --frame spec (detected when
//!                         not given), compared with the reference runs' replies
//!                         and endings
//! ```
//!
//! Only loopback peers are contacted unless the caller allows remote ones
//! ([`check_target`]).

pub mod client;
pub mod compare;
pub mod conn;
pub mod json;
pub mod mutate;
pub mod peer_read;
pub mod serve;
pub mod session;
pub mod split;
pub mod synth;

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

pub use client::{ClientCommand, ClientRun, Exit};
pub use compare::{Compare, Difference, Expected, Observed, Peer, Reference};
pub use conn::{Close, Ending, Outcome, Pacing, RunOptions, Turns};
pub use serve::{serve_patterns, ServeListener};
pub use session::{Segment, Session};
pub use split::{Pace, Split, Write};

use crate::decode::proto;
use crate::decode::spec::FrameSpec;
use crate::decode::{collect_frames, DecodeError, Frame};
use crate::detect::{self, Detection};
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
    /// The address to listen on is not a loopback address and remote
    /// clients are not allowed.
    #[error("{addr} is not a loopback address; replay --serve listens only on 127.0.0.1 / ::1 unless --allow-remote is given")]
    ListenNotLoopback {
        /// The resolved address.
        addr: SocketAddr,
    },
    /// The address to listen on cannot be listened on.
    #[error("cannot listen on {addr}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The target refused the connection or could not be reached.
    #[error("cannot connect to {addr}")]
    Connect {
        /// The target.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A socket operation failed.
    #[error("{what}")]
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
    let addr = resolve(target)?;
    if !allow_remote && !addr.ip().is_loopback() {
        return Err(ReplayError::NotLoopback { addr });
    }
    Ok(addr)
}

/// The first address `target` (`HOST:PORT`) resolves to.
fn resolve(target: &str) -> Result<SocketAddr, ReplayError> {
    target
        .to_socket_addrs()
        .map_err(|e| ReplayError::Resolve {
            target: target.to_string(),
            why: e.to_string(),
        })?
        .next()
        .ok_or_else(|| ReplayError::Resolve {
            target: target.to_string(),
            why: "no address".to_string(),
        })
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

/// How the framing of a replay was chosen.
#[derive(Clone, Debug, PartialEq)]
pub enum Framing {
    /// Given with `--frame`.
    Given,
    /// Detected from the captured stream, as `framescope detect` does.
    Detected(Box<Detection>),
}

/// Detects the framing of `session` from the first bytes of both
/// directions, with [`detect::detect`], the decision `analyze` and
/// `detect` make.
pub fn detect_framing(session: &Session) -> Detection {
    let prefix = |dir: Dir| -> Vec<u8> {
        session.dirs[dir.index()]
            .iter()
            .flat_map(|s| s.bytes.iter().copied())
            .take(detect::SAMPLE_BYTES)
            .collect()
    };
    let (client, server) = (prefix(Dir::Client), prefix(Dir::Server));
    let closed = session.ends.iter().any(Option::is_some);
    let whole = |dir: Dir, have: &[u8]| {
        closed
            && have.len() < detect::SAMPLE_BYTES
            && have.len()
                == session.dirs[dir.index()]
                    .iter()
                    .map(|s| s.bytes.len())
                    .sum::<usize>()
    };
    detect::detect(&detect::Sample {
        client: &client,
        server: &server,
        complete: [whole(Dir::Client, &client), whole(Dir::Server, &server)],
        client_port: session.ports[0],
        server_port: session.ports[1],
    })
}

/// A session prepared for replay: the side to send, its messages, and the
/// replies expected back.
#[derive(Clone, Debug)]
pub struct Replay {
    /// The framing of both sides.
    pub spec: FrameSpec,
    /// How it was chosen.
    pub framing: Framing,
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
    /// Whether the captured sender shut down its side while the other side
    /// still sent (a half-close); else it closed after its replies, or not
    /// at all.
    pub half_closed: bool,
    /// Whether the captured sender closed its side at all.
    pub sender_closed: bool,
    /// For each sent message, whether it ends the session (a client's
    /// `QUIT`, `Connection: close`, ...: [`proto::ends_session`]).
    pub ends_session: Vec<bool>,
    /// For each sent message, whether it opens the session and may be sent
    /// only once (MQTT CONNECT, ...: [`proto::starts_session`]).
    pub starts_session: Vec<bool>,
    /// Where the captured sender waited for its peer: each point of the
    /// sent side at which the peer had sent more than before.
    pub turns: Vec<Turn>,
    /// Whether the peer's side frames with the spec, so that turns count
    /// its messages rather than its bytes.
    pub peer_frames: bool,
}

/// A point of the sent side that the capture shows after the peer had sent
/// something more: a reply after its request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Turn {
    /// Offset in the sent side's stream.
    pub offset: u64,
    /// Whole messages the peer had sent before it.
    pub messages: u64,
    /// Bytes the peer had sent before it.
    pub bytes: u64,
}

/// The turns of `side` in `session`: for each of its segments after which
/// the other side had sent more, the offset and what the other side had
/// sent (bytes, and whole messages of `peer_frames`).
fn turns(session: &Session, side: Dir, peer_frames: &[Frame]) -> Vec<Turn> {
    let other = &session.dirs[side.other().index()];
    let mut out: Vec<Turn> = Vec::new();
    let (mut offset, mut bytes, mut next, mut messages) = (0u64, 0u64, 0usize, 0u64);
    for seg in &session.dirs[side.index()] {
        while let Some(o) = other.get(next).filter(|o| o.record < seg.record) {
            bytes += o.bytes.len() as u64;
            next += 1;
        }
        while peer_frames
            .get(messages as usize)
            .is_some_and(|f| f.offset + f.bytes.len() as u64 <= bytes)
        {
            messages += 1;
        }
        if bytes > out.last().map_or(0, |t| t.bytes) {
            out.push(Turn {
                offset,
                messages,
                bytes,
            });
        }
        offset += seg.bytes.len() as u64;
    }
    out
}

/// What one replay run saw and how it differed.
#[derive(Clone, Debug)]
pub struct RunReport {
    /// The connection's outcome.
    pub outcome: Outcome,
    /// The replies, framed.
    pub observed: Observed,
}

impl RunReport {
    /// The reply messages.
    pub fn replies(&self) -> &[Frame] {
        &self.observed.frames
    }
}

impl Replay {
    /// Prepares `session` for sending `side` with framing `spec`, or the
    /// detected framing when `spec` is `None`.
    pub fn new(session: &Session, spec: Option<FrameSpec>, side: Dir) -> Replay {
        let (spec, framing) = match spec {
            Some(spec) => (spec, Framing::Given),
            None => {
                let d = detect_framing(session);
                (d.chosen.spec.clone(), Framing::Detected(Box::new(d)))
            }
        };
        let segments = session.dirs[side.index()].clone();
        let [c, s] = spec.decoders();
        let mut dec = if side == Dir::Client { c } else { s };
        let got = collect_frames(dec.as_mut(), segments.iter().map(|s| s.bytes.as_slice()));
        let replies = session.bytes(side.other());
        let (frames, problem) = compare::frame_replies(&spec, side.other(), &replies);
        let peer_frames =
            spec != FrameSpec::None && !matches!(problem, Some(Difference::Undecodable { .. }));
        let turns = turns(session, side, if peer_frames { &frames } else { &[] });
        let mark = |role: fn(&str, &[u8]) -> bool| -> Vec<bool> {
            got.frames
                .iter()
                .map(|f| match &spec {
                    FrameSpec::Protocol { name, .. } if side == Dir::Client => role(name, &f.bytes),
                    _ => false,
                })
                .collect()
        };
        let ends_session = mark(proto::ends_session);
        let starts_session = mark(proto::starts_session);
        Replay {
            ends_session,
            starts_session,
            turns,
            peer_frames,
            side,
            segments,
            frames: got.frames,
            framing_error: got.error,
            expected: Expected {
                frames,
                ending: session.ends[side.other().index()],
            },
            half_closed: session.half_closed(side),
            sender_closed: session.ends[side.index()].is_some(),
            spec,
            framing,
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

    /// `writes` cut where the capture shows a turn (a write never carries
    /// bytes the captured sender sent only after its peer had said more),
    /// and the [`Turns`] that make each wait for what preceded it.
    pub fn in_turns(&self, writes: Vec<Write>) -> (Vec<Write>, Turns) {
        let mut out = Vec::with_capacity(writes.len());
        let mut after = Vec::with_capacity(writes.len());
        let need = |t: &Turn| {
            if self.peer_frames {
                t.messages
            } else {
                t.bytes
            }
        };
        let mut at = 0u64;
        let mut next = 0usize;
        let mut current = 0u64;
        for w in writes {
            let mut rest = w.bytes.as_slice();
            let mut pause = w.pause;
            while !rest.is_empty() {
                while let Some(t) = self.turns.get(next).filter(|t| t.offset <= at) {
                    current = need(t);
                    next += 1;
                }
                let len = self.turns.get(next).map_or(rest.len(), |t| {
                    usize::try_from(t.offset - at).map_or(rest.len(), |n| n.min(rest.len()))
                });
                let (piece, tail) = rest.split_at(len);
                out.push(Write {
                    pause,
                    bytes: piece.to_vec(),
                });
                after.push(current);
                pause = Duration::ZERO;
                at += len as u64;
                rest = tail;
            }
        }
        let count = self
            .peer_frames
            .then(|| (self.spec.clone(), self.side.other()));
        (out, Turns { count, after })
    }

    /// How the sending side ends, as the captured sender's did: a
    /// half-close right after the last write where it half-closed (or when
    /// `force_half_close`), else a close once `replies` reply messages are
    /// in, or no close where the capture has none.
    pub fn close(&self, replies: usize, force_half_close: bool) -> Close {
        if force_half_close || self.half_closed {
            Close::HalfClose
        } else if self.sender_closed {
            Close::AfterReplies {
                spec: self.spec.clone(),
                dir: self.side.other(),
                count: replies,
            }
        } else {
            Close::Keep
        }
    }

    /// Sends `writes` to `addr` and frames the replies. `progress` is called
    /// after each write with the writes made so far.
    pub fn run(
        &self,
        addr: SocketAddr,
        writes: &[Write],
        options: &RunOptions,
        progress: &mut dyn FnMut(usize),
    ) -> Result<RunReport, ReplayError> {
        let outcome = conn::exchange(addr, writes, options, progress)?;
        Ok(self.observe(outcome, None))
    }

    /// A run's report: its outcome with the peer's bytes framed, and what
    /// the client program did, if one ran.
    pub fn observe(&self, outcome: Outcome, client: Option<ClientRun>) -> RunReport {
        let (frames, framing) =
            compare::frame_replies(&self.spec, self.side.other(), &outcome.replies);
        RunReport {
            observed: Observed {
                frames,
                framing,
                ending: outcome.ending,
                stalled: outcome.stalled,
                client,
            },
            outcome,
        }
    }
}

/// How a set of write patterns is run against a server.
#[derive(Clone, Debug)]
pub struct PatternOptions {
    /// The write patterns, in order.
    pub splits: Vec<Split>,
    /// The pause between writes.
    pub pace: Pace,
    /// Silence that ends a run, and the longest wait for the server to
    /// read one write.
    pub timeout: Duration,
    /// How replies are compared.
    pub compare: Compare,
    /// Half-close after the last write even where the captured sender did
    /// not.
    pub half_close: bool,
}

/// The reference runs of an invocation: the session with its captured
/// message boundaries, one write per message.
pub const REFERENCE_SPLIT: Split = Split::Frames;

/// The reference runs of `replay --serve`: the captured segments, as the
/// client under test saw them arrive.
pub const SERVE_REFERENCE_SPLIT: Split = Split::Original;

/// How many reference runs are made beyond the first two, at most, when a
/// pattern differs: a later run tells whether the server's answers changed
/// with time (a `Date` header that turned a second) rather than with the
/// write pattern.
pub const MAX_EXTRA_REFERENCES: usize = 2;

/// Where a set of runs stands, for progress lines.
#[derive(Clone, Copy, Debug)]
pub struct RunProgress<'a> {
    /// What runs: `reference 1`, a pattern's name.
    pub run: &'a str,
    /// Writes made.
    pub done: usize,
    /// Writes planned.
    pub total: usize,
    /// Time since the run began.
    pub elapsed: Duration,
}

/// One pattern's run and verdict.
#[derive(Clone, Debug)]
pub struct PatternResult {
    /// The pattern.
    pub split: Split,
    /// The run judged: the first, or the second when the first run's
    /// difference did not come back.
    pub report: RunReport,
    /// How it differed from the reference (empty: the same behaviour).
    /// A difference counts only when a second run of the same writes
    /// showed one too.
    pub differences: Vec<Difference>,
    /// How a first run differed when a second run of the same writes did
    /// not: an effect of timing (a `recv()` still copying when the next
    /// write arrived, a reply that changed with time), shown but not
    /// counted.
    pub unconfirmed: Vec<Difference>,
}

/// The result of [`run_patterns`].
#[derive(Clone, Debug)]
pub struct PatternReport {
    /// The reference runs, in order (two, or more when a pattern's
    /// difference called for another look).
    pub reference_runs: Vec<RunReport>,
    /// What they established.
    pub reference: Reference,
    /// How the first reference run differs from the capture (empty: it
    /// matches). Information, not a verdict.
    pub capture: Vec<Difference>,
    /// Each pattern's run and verdict.
    pub patterns: Vec<PatternResult>,
}

impl PatternReport {
    /// Whether any pattern changed the server's behaviour.
    pub fn differs(&self) -> bool {
        self.patterns.iter().any(|p| !p.differences.is_empty())
    }

    /// The patterns that changed the peer's behaviour, named as
    /// [`Split`] prints them.
    pub fn changed_by(&self) -> Vec<String> {
        self.patterns
            .iter()
            .filter(|p| !p.differences.is_empty())
            .map(|p| p.split.to_string())
            .collect()
    }
}

/// Runs the reference twice, then each pattern, each on a fresh
/// connection, and judges each pattern against the reference. `progress`
/// is called after each write.
pub fn run_patterns(
    replay: &Replay,
    addr: SocketAddr,
    options: &PatternOptions,
    progress: &mut dyn FnMut(RunProgress<'_>),
) -> Result<PatternReport, ReplayError> {
    let pacing = options.pace.pacing();
    let mut run = |name: &str, split: Split, replies: usize| -> Result<RunReport, ReplayError> {
        let writes = replay.writes(split, options.pace)?;
        let run_options = RunOptions {
            timeout: options.timeout,
            pacing,
            close: replay.close(replies, options.half_close),
            turns: None,
        };
        let start = Instant::now();
        let total = writes.len();
        replay.run(addr, &writes, &run_options, &mut |done| {
            progress(RunProgress {
                run: name,
                done,
                total,
                elapsed: start.elapsed(),
            })
        })
    };
    judge_patterns(replay, options, REFERENCE_SPLIT, &mut run)
}

/// Makes the reference runs (`reference`, twice), then each pattern's run,
/// with `run(name, split, replies expected)`, and judges each pattern
/// against the reference, with up to [`MAX_EXTRA_REFERENCES`] more
/// reference runs when a pattern differs. A pattern that differs is run a
/// second time: its difference counts only when the second run differs
/// too, since the pacing knows when the peer has read a write but not when
/// its `recv()` call has returned, and a call still copying when the next
/// write arrives takes that one too.
pub fn judge_patterns(
    replay: &Replay,
    options: &PatternOptions,
    reference_split: Split,
    run: &mut dyn FnMut(&str, Split, usize) -> Result<RunReport, ReplayError>,
) -> Result<PatternReport, ReplayError> {
    let captured = replay.expected.frames.len();
    let first = run("reference 1", reference_split, captured)?;
    let replies = first.replies().len();
    let second = run("reference 2", reference_split, replies)?;
    let mut reference = Reference::new(first.observed.clone(), options.compare);
    reference.add(second.observed.clone());
    let mut reference_runs = vec![first, second];
    let mut patterns: Vec<PatternResult> = Vec::new();
    for &split in &options.splits {
        let name = split.to_string();
        let report = run(&name, split, reference.replies())?;
        let mut differences = reference.judge(&report.observed);
        if !differences.is_empty() && reference_runs.len() < 2 + MAX_EXTRA_REFERENCES {
            let label = format!("reference {}", reference_runs.len() + 1);
            let again = run(&label, reference_split, reference.replies())?;
            reference.add(again.observed.clone());
            reference_runs.push(again);
            for p in &mut patterns {
                p.differences = reference.judge(&p.report.observed);
            }
            differences = reference.judge(&report.observed);
        }
        let mut result = PatternResult {
            split,
            report,
            differences,
            unconfirmed: Vec::new(),
        };
        if !result.differences.is_empty() {
            let again = run(&format!("{name} again"), split, reference.replies())?;
            let second = reference.judge(&again.observed);
            if second.is_empty() {
                result.unconfirmed = std::mem::take(&mut result.differences);
                result.report = again;
            }
        }
        patterns.push(result);
    }
    let capture = compare::against_capture(&replay.expected, &reference);
    Ok(PatternReport {
        reference_runs,
        reference,
        capture,
        patterns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroUsize;

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

    fn seg(bytes: &[u8], record: u64) -> Segment {
        Segment {
            bytes: bytes.to_vec(),
            record,
            ts: Default::default(),
        }
    }

    /// A captured exchange: the client says `a\n`, the server answers in
    /// two segments; `bc\n` (one segment of two lines), the server answers
    /// once.
    fn exchange() -> Session {
        let mut s = Session::default();
        s.dirs[0] = vec![seg(b"a\n", 1), seg(b"b\nc\n", 4)];
        s.dirs[1] = vec![seg(b"one\n", 2), seg(b"two\n", 3), seg(b"three\n", 5)];
        s
    }

    #[test]
    fn turns_follow_the_capture_and_cut_the_writes() {
        let session = exchange();
        let line = FrameSpec::parse("line").unwrap();
        let r = Replay::new(&session, Some(line), Dir::Server);
        assert_eq!(
            r.turns,
            vec![
                Turn {
                    offset: 0,
                    messages: 1,
                    bytes: 2
                },
                Turn {
                    offset: 8,
                    messages: 3,
                    bytes: 6
                }
            ]
        );
        // Everything in one write: cut where the server waited.
        let writes = r.writes(Split::Coalesce, Pace::None).unwrap();
        assert_eq!(writes.len(), 1);
        let (cut, turns) = r.in_turns(writes);
        let pieces: Vec<&[u8]> = cut.iter().map(|w| w.bytes.as_slice()).collect();
        assert_eq!(pieces, [&b"one\ntwo\n"[..], b"three\n"]);
        assert_eq!(turns.after, [1, 3]);
        assert_eq!(
            turns.count,
            Some((FrameSpec::parse("line").unwrap(), Dir::Client))
        );
        // bytes:3 crosses the turn at 8: the piece is cut there.
        let (cut, turns) = r.in_turns(
            r.writes(Split::Bytes(NonZeroUsize::new(3).unwrap()), Pace::None)
                .unwrap(),
        );
        let pieces: Vec<&[u8]> = cut.iter().map(|w| w.bytes.as_slice()).collect();
        assert_eq!(pieces, [&b"one"[..], b"\ntw", b"o\n", b"t", b"hre", b"e\n"]);
        assert_eq!(turns.after, [1, 1, 1, 3, 3, 3]);
        // Without a framing, turns count bytes.
        let none = Replay::new(&session, Some(FrameSpec::None), Dir::Server);
        let (_, turns) = none.in_turns(none.writes(Split::Original, Pace::None).unwrap());
        assert_eq!(turns.after, [2, 2, 6]);
        assert_eq!(turns.count, None);
    }

    #[test]
    fn remote_targets_need_permission() {
        assert!(check_target("127.0.0.1:9", false).is_ok());
        assert!(check_target("[::1]:9", false).is_ok());
        let err = check_target("192.0.2.1:9", false).unwrap_err();
        assert!(err.to_string().contains("--allow-remote"), "{err}");
        assert!(check_target("192.0.2.1:9", true).is_ok());
        let err = ServeListener::bind("0.0.0.0:0", false).err().unwrap();
        assert!(
            err.to_string()
                .contains("listens only on 127.0.0.1 / ::1 unless --allow-remote"),
            "{err}"
        );
    }
}
