//! Frame-aware fuzzing of a live server: the captured client messages,
//! mutated where parsers break (length fields, headers, delimiters, bodies,
//! message boundaries), each run on a fresh connection and judged against
//! an unmutated baseline run.
//!
//! This module owns the [`Mutation`]s, how a seed chooses them (run `i` of
//! seed `S` is the same mutation on every machine: [`Rng`]), how a run is
//! judged ([`FindingKind`]) and the reproducer written for each finding (a
//! synthetic pcap that `framescope replay --split original` sends again).
//! A finding is kept only when a second run of the same writes shows it
//! too.
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

use super::compare::{against_capture, Against, Compare, Difference, Observed, Reference};
use super::split::{self, header_len, Split};
use super::synth::{write_pcap, SynthSession, SynthWrite};
use super::{conn, Close, Ending, Pace, Replay, ReplayError, Rng, RunOptions, RunReport, Write};

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
    // A message that ends the session is never the one mutated.
    let open: Vec<usize> = (0..frames.len())
        .filter(|&i| !replay.ends_session.get(i).copied().unwrap_or(false))
        .collect();
    if open.is_empty() {
        return None;
    }
    let msg = open.get(rng.below(open.len())).copied().unwrap_or(0);
    let len = frames.get(msg).map_or(0, |f| f.bytes.len());
    let header = frames
        .get(msg)
        .map_or(0, |f| header_len(&replay.spec, &f.bytes));
    let total: usize = open
        .iter()
        .filter_map(|&i| frames.get(i))
        .map(|f| f.bytes.len())
        .sum();
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

/// The replies a mutation that keeps every message intact owes: those of a
/// baseline run, repeated for a flood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owed {
    /// These replies.
    Replies(Vec<Frame>),
    /// At least this many replies: a flood of a session with a message
    /// that opens or ends it (sent once), whose replies cannot be told
    /// apart from the repeated ones.
    AtLeast(usize),
}

/// The writes of a mutation (one per message unless it says otherwise),
/// and the replies owed when it keeps messages intact.
pub fn apply(
    replay: &Replay,
    m: Mutation,
    baseline: &[Frame],
    pause: Duration,
) -> (Vec<Write>, Option<Owed>) {
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
            // Messages that open the session are sent once, before the
            // flood; those that end it once, after.
            let (mut first, mut repeated, mut last) = (Vec::new(), Vec::new(), Vec::new());
            for (i, m) in msgs.iter().enumerate() {
                let is = |marks: &[bool]| marks.get(i).copied().unwrap_or(false);
                if is(&replay.starts_session) {
                    first.extend_from_slice(m);
                } else if is(&replay.ends_session) {
                    last.extend_from_slice(m);
                } else {
                    repeated.extend_from_slice(m);
                }
            }
            first.extend(repeated.repeat(copies));
            first.extend(last);
            pieces.push(first);
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
    let enders = replay
        .ends_session
        .iter()
        .chain(&replay.starts_session)
        .any(|&e| e);
    let owed = preserves_messages(m, &replay.spec).then(|| match m {
        Mutation::Flood { .. } if enders => Owed::AtLeast(baseline.len()),
        Mutation::Flood { copies } => Owed::Replies(repeat(baseline, copies)),
        _ => Owed::Replies(baseline.to_vec()),
    });
    (writes, owed)
}

fn repeat(frames: &[Frame], copies: usize) -> Vec<Frame> {
    (0..copies).flat_map(|_| frames.iter().cloned()).collect()
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
    /// Pacing of writes.
    pub pace: Pace,
    /// Half-close after the last write even where the captured client did
    /// not.
    pub half_close: bool,
    /// Where reproducers go.
    pub out: PathBuf,
}

/// One mutated run, as it is logged.
#[derive(Clone, Debug)]
pub struct RunLog<'a> {
    /// The run number.
    pub run: u64,
    /// The mutation.
    pub mutation: Mutation,
    /// The run.
    pub report: &'a RunReport,
    /// What it found, if anything.
    pub finding: Option<&'a Finding>,
    /// Findings so far.
    pub findings: usize,
}

/// The result of a fuzzing session.
#[derive(Clone, Debug)]
pub struct FuzzSummary {
    /// The two unmutated runs.
    pub baseline: Vec<RunReport>,
    /// How the first baseline run differs from the capture (empty: it
    /// matches).
    pub capture: Vec<Difference>,
    /// Mutated runs made.
    pub runs: u64,
    /// What they found.
    pub findings: Vec<Finding>,
    /// Whether fuzzing stopped because the server went away.
    pub crashed: bool,
}

/// Runs the baseline twice (compared with the capture), then mutated runs
/// until the budget is spent or the server stops accepting connections.
/// `baseline_done` is called once the baseline is in, `each` after every
/// mutated run.
pub fn fuzz(
    replay: &Replay,
    addr: std::net::SocketAddr,
    config: &FuzzConfig,
    baseline_done: &mut dyn FnMut(&[RunReport], &[Difference]),
    each: &mut dyn FnMut(RunLog<'_>),
) -> Result<FuzzSummary, ReplayError> {
    let start = Instant::now();
    let pacing = config.pace.pacing();
    let options = |close: Close| RunOptions {
        timeout: config.timeout,
        pacing,
        close,
        turns: None,
    };
    let writes = replay.writes(Split::Frames, config.pace)?;
    let first = replay.run(
        addr,
        &writes,
        &options(replay.close(replay.expected.frames.len(), config.half_close)),
        &mut |_| {},
    )?;
    let count = first.replies().len();
    let second = replay.run(
        addr,
        &writes,
        &options(replay.close(count, config.half_close)),
        &mut |_| {},
    )?;
    let mut live = Reference::new(first.observed.clone(), Compare::Bytes);
    live.add(second.observed.clone());
    let capture = against_capture(&replay.expected, &live);
    let baseline = vec![first, second];
    baseline_done(&baseline, &capture);
    std::fs::create_dir_all(&config.out).map_err(|source| ReplayError::Io {
        what: format!("creating {}", config.out.display()),
        source,
    })?;
    let base_ending = baseline[0].outcome.ending;
    let pause = match config.pace {
        Pace::Ms(ms) => Duration::from_millis(ms),
        Pace::Auto => split::DEFAULT_PAUSE,
        Pace::None => Duration::ZERO,
    };
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
        let (writes, owed) = apply(replay, m, baseline[0].replies(), pause);
        let close = match (&owed, m) {
            (_, Mutation::TruncateThenClose { .. }) => Close::HalfClose,
            (Some(Owed::Replies(r)), _) => replay.close(r.len(), config.half_close),
            (Some(Owed::AtLeast(n)), _) => replay.close(*n, config.half_close),
            (None, _) => replay.close(usize::MAX, config.half_close),
        };
        let report = match replay.run(addr, &writes, &options(close.clone()), &mut |_| {}) {
            Ok(r) => r,
            Err(ReplayError::Connect { .. }) => {
                crashed = true;
                break;
            }
            Err(e) => return Err(e),
        };
        let mut down = !conn::alive(addr, config.timeout);
        let mut judged = judge(&report, owed.as_ref(), &baseline, base_ending, down);
        // A finding must come back on a second run of the same writes
        // (see `judge_patterns`): one that does not was timing. A server
        // that goes down during the second run keeps the finding, and
        // the crash is reported below.
        if judged.is_some() && !down {
            match replay.run(addr, &writes, &options(close), &mut |_| {}) {
                Ok(again) => {
                    down = !conn::alive(addr, config.timeout);
                    if !down
                        && judge(&again, owed.as_ref(), &baseline, base_ending, false).is_none()
                    {
                        judged = None;
                    }
                }
                Err(ReplayError::Connect { .. }) => down = true,
                Err(e) => return Err(e),
            }
        }
        let mut finding = None;
        if let Some((kind, detail)) = judged {
            let path = config
                .out
                .join(format!("finding-{:05}-{}.pcap", run, kind.name()));
            let owed_frames = match &owed {
                Some(Owed::Replies(r)) => Some(r.as_slice()),
                _ => None,
            };
            save(&path, &writes, owed_frames, base_ending)?;
            let f = Finding {
                run,
                mutation: m,
                kind,
                detail,
                reproducer: path,
            };
            note(replay, &f, &baseline, &capture)?;
            findings.push(f);
            finding = findings.last();
        }
        each(RunLog {
            run,
            mutation: m,
            report: &report,
            finding,
            findings: findings.len(),
        });
        run += 1;
        if down {
            crashed = true;
            break;
        }
    }
    if crashed && findings.last().map(|f| f.kind) != Some(FindingKind::Crash) {
        let m = choose(replay, config.seed, run.saturating_sub(1));
        if let Some(m) = m {
            let path = config
                .out
                .join(format!("finding-{:05}-crash.pcap", run.saturating_sub(1)));
            let (writes, _) = apply(replay, m, baseline[0].replies(), pause);
            save(&path, &writes, None, base_ending)?;
            findings.push(Finding {
                run: run.saturating_sub(1),
                mutation: m,
                kind: FindingKind::Crash,
                detail: "the server no longer accepts connections".into(),
                reproducer: path,
            });
        }
    }
    Ok(FuzzSummary {
        baseline,
        capture,
        runs: run,
        findings,
        crashed,
    })
}

fn judge(
    report: &RunReport,
    owed: Option<&Owed>,
    baseline: &[RunReport],
    base: Ending,
    down: bool,
) -> Option<(FindingKind, String)> {
    let ending = report.outcome.ending;
    if down {
        return Some((
            FindingKind::Crash,
            "the server no longer accepts connections".into(),
        ));
    }
    if let Some(Difference::Undecodable { error }) = &report.observed.framing {
        let base_garbled = baseline
            .iter()
            .any(|b| matches!(b.observed.framing, Some(Difference::Undecodable { .. })));
        if !base_garbled {
            return Some((
                FindingKind::Garbled,
                format!("replies do not frame: {error}"),
            ));
        }
    }
    let owed = owed?;
    if ending == Ending::Silent && base != Ending::Silent {
        return Some((
            FindingKind::Hang,
            format!("no reply and no close, where the baseline {}", base.name()),
        ));
    }
    if ending == Ending::Reset && base != Ending::Reset {
        return Some((
            FindingKind::Reset,
            "reset a connection whose messages were intact".into(),
        ));
    }
    let got = report.replies().len();
    match owed {
        Owed::AtLeast(n) => (got < *n).then(|| {
            (
                FindingKind::Differs,
                format!("{got} replies, the baseline got at least {n}"),
            )
        }),
        Owed::Replies(frames) => {
            let copies = frames.len() / baseline[0].replies().len().max(1);
            let mut reference: Option<Reference> = None;
            for b in baseline {
                let run = Observed {
                    frames: if copies > 1 {
                        repeat(b.replies(), copies)
                    } else {
                        b.replies().to_vec()
                    },
                    framing: None,
                    ending: b.observed.ending,
                    stalled: None,
                    client: None,
                };
                match &mut reference {
                    None => reference = Some(Reference::new(run, Compare::Shape)),
                    Some(r) => r.add(run),
                }
            }
            let mut seen = report.observed.clone();
            seen.stalled = None;
            let reference = reference?;
            reference
                .judge(&seen)
                .first()
                .map(|d| (FindingKind::Differs, d.to_string()))
        }
    }
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

/// Writes the note beside a reproducer (`.txt` for `.pcap`): what was
/// mutated and found, that its replies are the live server's reference,
/// and how the capture's replies compared.
fn note(
    replay: &Replay,
    f: &Finding,
    baseline: &[RunReport],
    capture: &[Difference],
) -> Result<(), ReplayError> {
    let path = f.reproducer.with_extension("txt");
    let mut text = format!(
        "run {}: {}\n{}: {}\nframing: {}\n\
         the server replies in the reproducer are those of the live server's reference run \
         ({} replies, connection {}), not the capture's\n",
        f.run,
        f.mutation,
        f.kind.name(),
        f.detail,
        replay.spec,
        baseline.first().map_or(0, |b| b.replies().len()),
        baseline.first().map_or("?", |b| b.outcome.ending.name()),
    );
    if capture.is_empty() {
        text.push_str("the capture's replies: the same as the reference run's\n");
    } else {
        text.push_str(&format!(
            "the capture's replies ({} messages) differ from the reference run's:\n",
            replay.expected.frames.len()
        ));
        for d in capture {
            text.push_str(&format!("  {}\n", d.describe(Against::Capture)));
        }
    }
    std::fs::write(&path, text).map_err(|source| ReplayError::Io {
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
        Replay::new(&s, Some(FrameSpec::parse("length").unwrap()), Dir::Client)
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
