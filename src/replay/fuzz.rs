//! Frame-aware fuzzing of a live server: the captured client messages,
//! mutated where parsers break (length fields, headers, delimiters, bodies,
//! message boundaries), each run on a fresh connection and judged against
//! an unmutated baseline run.
//!
//! This module owns the [`Mutation`]s, how a seed chooses them (run `i` of
//! seed `S` is the same mutation on every machine: [`Rng`]), how a run is
//! judged ([`FindingKind`]) and the reproducer written for each finding (a
//! synthetic pcap that `framescope replay --split original` sends again).
//!
//! Replies are compared by shape (count, lengths, labels), because a
//! mutated request may rightly get different bytes back. Mutations that keep
//! every message intact (cuts inside a header, floods of coalesced frames,
//! flipped body bytes under a length framing) must get the baseline's
//! replies; the others only must not crash the server, hang it, or make it
//! answer with replies that do not frame.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::decode::length::{Endian, LengthField};
use crate::decode::spec::FrameSpec;
use crate::decode::Frame;
use crate::flow::Dir;

use super::compare::{Compare, Difference, Expected};
use super::split::{header_len, Split};
use super::synth::{write_pcap, SynthSession, SynthWrite};
use super::{conn, Ending, Pace, Replay, ReplayError, Rng, RunReport, Write};

/// The most bytes a flood or an oversized message sends: 1 MiB.
pub const MAX_FLOOD_BYTES: usize = 1 << 20;

/// One mutation of the captured messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutation {
    /// Message `msg`'s length field plus `delta` (wrapping in its width).
    LengthOffBy {
        /// Message index.
        msg: usize,
        /// +1 or -1.
        delta: i8,
    },
    /// Message `msg`'s length field set to zero.
    LengthZero {
        /// Message index.
        msg: usize,
    },
    /// Message `msg`'s length field set to the largest value it holds.
    LengthMax {
        /// Message index.
        msg: usize,
    },
    /// Message `msg`'s length field set just past the maximum frame size.
    LengthHuge {
        /// Message index.
        msg: usize,
    },
    /// The first `keep` bytes of message `msg`, then close.
    TruncateThenClose {
        /// Message index.
        msg: usize,
        /// Bytes kept.
        keep: usize,
    },
    /// Message `msg` written in two parts, cut `at` bytes in, inside its
    /// header.
    CutInHeader {
        /// Message index.
        msg: usize,
        /// Cut position.
        at: usize,
    },
    /// All messages, `copies` times, in one write.
    Flood {
        /// Repetitions.
        copies: usize,
    },
    /// A message of `len` bytes with no delimiter until its last byte,
    /// before the others.
    Oversized {
        /// Its length.
        len: usize,
    },
    /// One bit of message `msg` flipped, past its header.
    FlipBody {
        /// Message index.
        msg: usize,
        /// Byte position in the message.
        pos: usize,
        /// Bit, 0-7.
        bit: u8,
    },
}

impl fmt::Display for Mutation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Mutation::LengthOffBy { msg, delta } => write!(f, "length of #{msg} {delta:+}"),
            Mutation::LengthZero { msg } => write!(f, "length of #{msg} = 0"),
            Mutation::LengthMax { msg } => write!(f, "length of #{msg} = max"),
            Mutation::LengthHuge { msg } => write!(f, "length of #{msg} past max frame"),
            Mutation::TruncateThenClose { msg, keep } => {
                write!(f, "#{msg} cut after {keep} bytes, then close")
            }
            Mutation::CutInHeader { msg, at } => {
                write!(f, "#{msg} written cut at header byte {at}")
            }
            Mutation::Flood { copies } => write!(f, "flood: all messages x{copies} in one write"),
            Mutation::Oversized { len } => write!(f, "oversized {len}-byte message first"),
            Mutation::FlipBody { msg, pos, bit } => {
                write!(f, "#{msg} byte {pos} bit {bit} flipped")
            }
        }
    }
}

/// Where a framing keeps a binary length: offset, width, byte order, and
/// the largest value it may hold.
#[derive(Clone, Copy, Debug)]
struct LengthSlot {
    offset: usize,
    width: usize,
    endian: Endian,
    max: u64,
    huge: u64,
}

fn length_slot(spec: &FrameSpec) -> Option<LengthSlot> {
    let (offset, width, endian, signed, max_frame) = match spec {
        FrameSpec::Length(c) => match c.field {
            LengthField::Binary {
                width,
                endian,
                signed,
            } => (
                usize::try_from(c.offset).ok()?,
                usize::from(width.bytes()),
                endian,
                signed,
                c.max_frame,
            ),
            _ => return None,
        },
        FrameSpec::JsonHeader(c) => (
            0,
            usize::from(c.width.bytes()),
            c.endian,
            c.signed,
            c.max_header,
        ),
        _ => return None,
    };
    let bits = 8 * width as u32;
    let mask = if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let max = if signed { mask >> 1 } else { mask };
    Some(LengthSlot {
        offset,
        width,
        endian,
        max,
        huge: max_frame.saturating_add(1).min(max),
    })
}

impl LengthSlot {
    fn read(&self, frame: &[u8]) -> Option<u64> {
        let bytes = frame.get(self.offset..self.offset.checked_add(self.width)?)?;
        let fold = |acc: u64, b: &u8| (acc << 8) | u64::from(*b);
        Some(match self.endian {
            Endian::Big => bytes.iter().fold(0, fold),
            Endian::Little => bytes.iter().rev().fold(0, fold),
        })
    }

    fn write(&self, frame: &mut [u8], value: u64) {
        let Some(end) = self.offset.checked_add(self.width) else {
            return;
        };
        let Some(bytes) = frame.get_mut(self.offset..end) else {
            return;
        };
        let n = bytes.len();
        for (i, b) in bytes.iter_mut().enumerate() {
            let shift = match self.endian {
                Endian::Big => 8 * (n - 1 - i),
                Endian::Little => 8 * i,
            };
            *b = (value >> shift) as u8;
        }
    }
}

/// Chooses the mutation of run `run` for seed `seed`.
pub fn choose(replay: &Replay, seed: u64, run: u64) -> Option<Mutation> {
    let frames = &replay.frames;
    if frames.is_empty() {
        return None;
    }
    let mut rng = Rng::new(seed ^ run.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let slot = length_slot(&replay.spec);
    let delimited = matches!(
        replay.spec,
        FrameSpec::Delimiter(_) | FrameSpec::Protocol { .. }
    );
    let msg = rng.below(frames.len());
    let len = frames.get(msg).map_or(0, |f| f.bytes.len());
    let header = frames
        .get(msg)
        .map_or(0, |f| header_len(&replay.spec, &f.bytes));
    let total: usize = frames.iter().map(|f| f.bytes.len()).sum();
    let mut kinds: Vec<u8> = vec![4, 6];
    if slot.is_some() && len >= header {
        kinds.extend([0, 1, 2, 3]);
    }
    if len >= 2 {
        kinds.push(5);
    }
    if delimited {
        kinds.push(7);
    }
    if len > header {
        kinds.push(8);
    }
    Some(
        match kinds.get(rng.below(kinds.len())).copied().unwrap_or(6) {
            0 => Mutation::LengthOffBy {
                msg,
                delta: if rng.below(2) == 0 { 1 } else { -1 },
            },
            1 => Mutation::LengthZero { msg },
            2 => Mutation::LengthMax { msg },
            3 => Mutation::LengthHuge { msg },
            4 => Mutation::TruncateThenClose {
                msg,
                keep: rng.below(len.max(1)),
            },
            5 => Mutation::CutInHeader {
                msg,
                at: 1 + rng.below(header.clamp(2, len) - 1),
            },
            7 => Mutation::Oversized {
                len: MAX_FLOOD_BYTES,
            },
            8 => Mutation::FlipBody {
                msg,
                pos: header + rng.below(len - header),
                bit: rng.below(8) as u8,
            },
            _ => Mutation::Flood {
                copies: (2 + rng.below(31)).min((MAX_FLOOD_BYTES / total.max(1)).max(2)),
            },
        },
    )
}

/// Whether a mutation keeps every message intact, so that the baseline's
/// replies are still owed.
pub fn preserves_messages(m: Mutation, spec: &FrameSpec) -> bool {
    match m {
        Mutation::CutInHeader { .. } | Mutation::Flood { .. } => true,
        Mutation::FlipBody { .. } => matches!(
            spec,
            FrameSpec::Length(_) | FrameSpec::JsonHeader(_) | FrameSpec::Fixed(_)
        ),
        _ => false,
    }
}

/// The writes of a mutation (one per message unless it says otherwise),
/// and the replies owed when it keeps messages intact.
pub fn apply(
    replay: &Replay,
    m: Mutation,
    baseline: &[Frame],
    pause: Duration,
) -> (Vec<Write>, Option<Vec<Frame>>) {
    let mut msgs: Vec<Vec<u8>> = replay.frames.iter().map(|f| f.bytes.clone()).collect();
    let slot = length_slot(&replay.spec);
    let mut set_len = |msg: usize, f: &dyn Fn(u64, &LengthSlot) -> u64| {
        if let (Some(s), Some(bytes)) = (slot, msgs.get_mut(msg)) {
            let cur = s.read(bytes).unwrap_or(0);
            s.write(bytes, f(cur, &s));
        }
    };
    let mut pieces: Vec<Vec<u8>> = Vec::new();
    match m {
        Mutation::LengthOffBy { msg, delta } => {
            set_len(msg, &|v, s| {
                if delta > 0 {
                    if v >= s.max {
                        0
                    } else {
                        v + 1
                    }
                } else if v == 0 {
                    s.max
                } else {
                    v - 1
                }
            });
        }
        Mutation::LengthZero { msg } => set_len(msg, &|_, _| 0),
        Mutation::LengthMax { msg } => set_len(msg, &|_, s| s.max),
        Mutation::LengthHuge { msg } => set_len(msg, &|_, s| s.huge),
        Mutation::TruncateThenClose { msg, keep } => {
            msgs.truncate(msg + 1);
            if let Some(last) = msgs.last_mut() {
                last.truncate(keep);
            }
        }
        Mutation::CutInHeader { msg, at } => {
            for (i, b) in msgs.iter().enumerate() {
                if i == msg {
                    let (a, rest) = b.split_at(at.min(b.len()));
                    pieces.extend([a.to_vec(), rest.to_vec()]);
                } else {
                    pieces.push(b.clone());
                }
            }
        }
        Mutation::Flood { copies } => {
            let all: Vec<u8> = msgs.concat();
            pieces.push(all.repeat(copies));
        }
        Mutation::Oversized { len } => {
            let last = msgs
                .first()
                .and_then(|m| m.last())
                .copied()
                .unwrap_or(b'\n');
            let mut big = vec![b'A'; len.saturating_sub(1)];
            big.push(last);
            msgs.insert(0, big);
        }
        Mutation::FlipBody { msg, pos, bit } => {
            if let Some(b) = msgs.get_mut(msg).and_then(|m| m.get_mut(pos)) {
                *b ^= 1 << bit;
            }
        }
    }
    if pieces.is_empty() {
        pieces = msgs;
    }
    let writes = pieces
        .into_iter()
        .filter(|p| !p.is_empty())
        .enumerate()
        .map(|(i, bytes)| Write {
            pause: if i == 0 { Duration::ZERO } else { pause },
            bytes,
        })
        .collect();
    let owed = preserves_messages(m, &replay.spec).then(|| match m {
        Mutation::Flood { copies } => (0..copies).flat_map(|_| baseline.iter().cloned()).collect(),
        _ => baseline.to_vec(),
    });
    (writes, owed)
}

/// What kind of misbehaviour a run found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FindingKind {
    /// The server stopped accepting connections.
    Crash,
    /// The server neither answered nor closed within the timeout, where the
    /// baseline did.
    Hang,
    /// The server reset a connection whose messages were all intact.
    Reset,
    /// The replies do not frame.
    Garbled,
    /// Intact messages got replies unlike the baseline's.
    Differs,
}

impl FindingKind {
    /// A short name.
    pub fn name(self) -> &'static str {
        match self {
            FindingKind::Crash => "crash",
            FindingKind::Hang => "hang",
            FindingKind::Reset => "reset",
            FindingKind::Garbled => "garbled",
            FindingKind::Differs => "differs",
        }
    }
}

/// One finding, with its reproducer.
#[derive(Clone, Debug)]
pub struct Finding {
    /// The run number.
    pub run: u64,
    /// The mutation.
    pub mutation: Mutation,
    /// What went wrong.
    pub kind: FindingKind,
    /// The first difference, in words.
    pub detail: String,
    /// The reproducer file.
    pub reproducer: PathBuf,
}

/// How to fuzz.
#[derive(Clone, Debug)]
pub struct FuzzConfig {
    /// The seed.
    pub seed: u64,
    /// Stop after this many runs.
    pub runs: Option<u64>,
    /// Stop after this much time.
    pub duration: Option<Duration>,
    /// Silence after the last write that counts as a hang.
    pub timeout: Duration,
    /// Pause between writes.
    pub pace: Duration,
    /// Where reproducers go.
    pub out: PathBuf,
}

/// Where a fuzzing session stands, for progress lines.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// Runs done.
    pub runs: u64,
    /// Findings so far.
    pub findings: usize,
}

/// The result of a fuzzing session.
#[derive(Clone, Debug)]
pub struct FuzzSummary {
    /// The unmutated run.
    pub baseline: RunReport,
    /// Mutated runs made.
    pub runs: u64,
    /// What they found.
    pub findings: Vec<Finding>,
    /// Whether fuzzing stopped because the server went away.
    pub crashed: bool,
}

/// Runs the baseline, then mutated runs until the budget is spent or the
/// server stops accepting connections.
pub fn fuzz(
    replay: &Replay,
    addr: std::net::SocketAddr,
    config: &FuzzConfig,
    progress: &mut dyn FnMut(Progress),
) -> Result<FuzzSummary, ReplayError> {
    let start = Instant::now();
    let pace = Pace::Ms(u64::try_from(config.pace.as_millis()).unwrap_or(u64::MAX));
    let writes = replay.writes(Split::Frames, pace)?;
    let baseline = replay.run(
        addr,
        &writes,
        &replay.expected,
        config.timeout,
        Compare::Shape,
    )?;
    if baseline.outcome.ending == Ending::Refused {
        return Err(ReplayError::Io {
            what: format!("connecting to {addr}"),
            source: std::io::ErrorKind::ConnectionRefused.into(),
        });
    }
    std::fs::create_dir_all(&config.out).map_err(|source| ReplayError::Io {
        what: format!("creating {}", config.out.display()),
        source,
    })?;
    let mut findings = Vec::new();
    let mut run = 0u64;
    let mut crashed = false;
    loop {
        if config.runs.is_some_and(|n| run >= n)
            || config.duration.is_some_and(|d| start.elapsed() >= d)
            || (config.runs.is_none() && config.duration.is_none())
        {
            break;
        }
        let Some(m) = choose(replay, config.seed, run) else {
            break;
        };
        let (writes, owed) = apply(replay, m, &baseline.replies, config.pace);
        let expected = Expected {
            frames: owed.clone().unwrap_or_default(),
            ending: Some(baseline.outcome.ending),
        };
        let report = replay.run(addr, &writes, &expected, config.timeout, Compare::Shape)?;
        let down = !conn::alive(addr, config.timeout);
        if let Some((kind, detail)) = judge(&report, owed.is_some(), baseline.outcome.ending, down)
        {
            let path = config
                .out
                .join(format!("finding-{:05}-{}.pcap", run, kind.name()));
            save(&path, &writes, owed.as_deref(), baseline.outcome.ending)?;
            findings.push(Finding {
                run,
                mutation: m,
                kind,
                detail,
                reproducer: path,
            });
        }
        run += 1;
        progress(Progress {
            runs: run,
            findings: findings.len(),
        });
        if down {
            crashed = true;
            break;
        }
    }
    Ok(FuzzSummary {
        baseline,
        runs: run,
        findings,
        crashed,
    })
}

fn judge(
    report: &RunReport,
    intact: bool,
    base: Ending,
    down: bool,
) -> Option<(FindingKind, String)> {
    let ending = report.outcome.ending;
    if down || ending == Ending::Refused {
        return Some((
            FindingKind::Crash,
            "the server no longer accepts connections".into(),
        ));
    }
    if ending == Ending::Silent && base != Ending::Silent {
        return Some((
            FindingKind::Hang,
            format!("no reply and no close, where the baseline {}", base.name()),
        ));
    }
    let first = |pred: &dyn Fn(&Difference) -> bool| {
        report
            .differences
            .iter()
            .find(|d| pred(d))
            .map(ToString::to_string)
    };
    if let Some(d) = first(&|d| matches!(d, Difference::Undecodable { .. })) {
        return Some((FindingKind::Garbled, d));
    }
    if !intact {
        return None;
    }
    if ending == Ending::Reset && base != Ending::Reset {
        return Some((
            FindingKind::Reset,
            "reset a connection whose messages were intact".into(),
        ));
    }
    first(&|_| true).map(|d| (FindingKind::Differs, d))
}

/// Writes a reproducer: the mutated writes as client segments, the owed
/// replies (if any) as server segments, and the baseline's ending.
pub fn save(
    path: &Path,
    writes: &[Write],
    owed: Option<&[Frame]>,
    ending: Ending,
) -> Result<(), ReplayError> {
    let mut session = SynthSession {
        writes: writes
            .iter()
            .map(|w| SynthWrite {
                dir: Dir::Client,
                pause: w.pause,
                bytes: w.bytes.clone(),
            })
            .collect(),
        server_end: matches!(ending, Ending::Closed | Ending::Reset).then_some(ending),
    };
    for f in owed.unwrap_or_default() {
        session.writes.push(SynthWrite {
            dir: Dir::Server,
            pause: Duration::ZERO,
            bytes: f.bytes.clone(),
        });
    }
    write_pcap(path, &session).map_err(|source| ReplayError::Io {
        what: format!("writing {}", path.display()),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::{Segment, Session};

    fn msg(body: &[u8]) -> Vec<u8> {
        let mut v = (body.len() as u32).to_be_bytes().to_vec();
        v.extend_from_slice(body);
        v
    }

    fn replay() -> Replay {
        let mut s = Session::default();
        for b in [&b"one"[..], b"second", b"3"] {
            s.dirs[0].push(Segment {
                bytes: msg(b),
                record: 0,
                ts: Default::default(),
            });
        }
        Replay::new(&s, FrameSpec::parse("length").unwrap(), Dir::Client)
    }

    #[test]
    fn choices_are_deterministic_and_varied() {
        let r = replay();
        let a: Vec<_> = (0..50).map(|i| choose(&r, 9, i)).collect();
        let b: Vec<_> = (0..50).map(|i| choose(&r, 9, i)).collect();
        assert_eq!(a, b);
        let kinds: std::collections::HashSet<_> = a
            .iter()
            .map(|m| std::mem::discriminant(&m.unwrap()))
            .collect();
        assert!(kinds.len() >= 6, "{a:?}");
    }

    #[test]
    fn length_mutations_rewrite_only_the_field() {
        let r = replay();
        let (w, owed) = apply(
            &r,
            Mutation::LengthOffBy { msg: 1, delta: 1 },
            &[],
            Duration::ZERO,
        );
        assert!(owed.is_none());
        assert_eq!(w[1].bytes, [0, 0, 0, 7, b's', b'e', b'c', b'o', b'n', b'd']);
        let (w, _) = apply(&r, Mutation::LengthMax { msg: 0 }, &[], Duration::ZERO);
        assert_eq!(w[0].bytes[..4], [0xff; 4]);
        let (w, _) = apply(&r, Mutation::LengthHuge { msg: 0 }, &[], Duration::ZERO);
        assert_eq!(w[0].bytes[..4], (16u32 * 1024 * 1024 + 1).to_be_bytes());
        let (w, owed) = apply(
            &r,
            Mutation::CutInHeader { msg: 2, at: 3 },
            &[],
            Duration::ZERO,
        );
        assert_eq!(w.len(), 4);
        assert_eq!(w[2].bytes, [0, 0, 0]);
        assert!(owed.is_some());
        let (w, _) = apply(
            &r,
            Mutation::TruncateThenClose { msg: 1, keep: 2 },
            &[],
            Duration::ZERO,
        );
        assert_eq!(w.len(), 2);
        assert_eq!(w[1].bytes, [0, 0]);
    }
}
