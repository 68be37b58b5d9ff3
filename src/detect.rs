//! Framing detection: which `--frame` spec explains a stream's bytes.
//!
//! This module owns [`detect`], a pure function from the first bytes of both
//! directions of one stream (a [`Sample`]) to the framing that explains them
//! best, with a confidence and the runner-up. It does not read captures or
//! follow streams: the caller collects at most [`SAMPLE_BYTES`] per
//! direction, stopping at the first gap, and says whether each sample is the
//! whole direction.
//!
//! # Candidates
//!
//! * every protocol in [`PROTOCOLS`], its client and server decoders framing
//!   their own directions, fed one message at a time in turn (client, then
//!   server) so that state shared between the two sees a request before its
//!   response;
//! * generic length-prefixed framings: field width 1, 2, 3, 4 or 8, big or
//!   little endian, offset 0 to 8, and an adjustment of 0 (the length counts
//!   the body), `-(offset + width)` (it counts the whole frame) or a small
//!   value from -8 to 8 (a trailer, or header bytes after the field). They
//!   are screened by walking the chain of length fields, and only the best
//!   [`MAX_GENERIC_VERIFIED`] are run through the real decoder;
//! * `line` (text with `\n` or `\r\n`), `delim:\0` (text messages ending in a
//!   NUL byte) and `json-header`.
//!
//! A candidate *explains* a direction when its decoder frames the sample
//! without an error into complete messages, leaving a partial last message
//! only when the sample is a cut prefix. Only candidates that explain both
//! directions compete, and only when the explanation is not trivial: a text
//! framing (`http1`, `resp`, `memcached`, tried only on bytes that start as
//! text, and `line`, `delim:\0`, tried only on text) needs one complete
//! message; a binary one needs two, and on a cut sample complete messages
//! of at most 8 KiB on average (random bytes read as 2-byte lengths make
//! 32 KiB messages); a generic length field must also give 40 bits of
//! evidence (the unused high bits of the field over all its frames), must
//! not read as text in every frame, and must not make a quarter of its
//! frames header-only. When nothing competes, the answer is `none` with a
//! note.
//!
//! # Ranking and confidence
//!
//! Candidates are ranked by **coverage × specificity**, both in `0..=1`:
//!
//! * **coverage**: the share of the sampled bytes of both directions that
//!   the framing accounts for: complete messages, plus the partial last
//!   message of a cut sample;
//! * **specificity**: 1 for a protocol decoder, 0.95 for `json-header`, at
//!   most 0.9 for a generic length field (0.01 less for each departure from
//!   the simplest form: an offset, an adjustment, little endian, a width
//!   other than 2 or 4; a one-byte field loses 0.15), 0.85 for `line` and
//!   `delim:\0`. Half of that when half the messages or more are at most
//!   two zero bytes (a header misread).
//!
//! Ranks are compared to three decimals. A plain generic length field
//! (no offset, no adjustment) that frames exactly like a protocol ties with
//! it (`kafka` frames like `length:4`, `dns-tcp` like `length:2`). Ties go
//! first to the candidate whose protocol uses one of the stream's ports,
//! then to a generic spec over a protocol, then to the protocol listed
//! first in [`PROTOCOLS`] (`http1` and `resp` before the permissive
//! `memcached`), then to the simpler generic spec. The message count plays
//! no part in the ranking, so that a framing does not win by cutting
//! messages smaller.
//!
//! The **confidence** of a chosen candidate is coverage × specificity ×
//! evidence, where evidence is `1 - 2^-(n+2)` for `n` complete messages
//! over both directions (0.94 for two messages, above 0.99 from six). The
//! runner-up is the best other candidate that frames the sample
//! differently; its confidence is shown at most equal to the choice's.
//! The confidence of `none` is 0.25: it is the absence of evidence, not
//! evidence.
//!
//! # Cost
//!
//! Work is bounded by the sample: at most [`SAMPLE_BYTES`] per direction,
//! the protocols and the three delimiter or header framings each run once,
//! the generic length configurations (under 2,000) each read one length
//! field per frame and stop at the first that cannot be a length, and at
//! most
//! [`MAX_GENERIC_VERIFIED`] of them are run through the decoder.
//!
//! Three shortcuts give the same answer for less: the text test counts
//! many bytes at a time and stops once a tenth of the sample is not text;
//! a sample that is text throughout is not screened for length fields
//! (every field read from it would be text); and a walk stops once its
//! field's values use every bit of the field, when the other direction
//! cannot bring the evidence that then lacks (a one-byte field over binary
//! payload does so within a few frames, where it used to walk the whole
//! sample).
//!
//! # Sampling
//!
//! [`StreamSample`] collects a stream's sample and says when it is enough
//! ([`StreamSample::ready`]); [`Sampler`] is the [`Sink`] that runs it over
//! a capture for the `detect` command, and the analysis
//! ([`crate::analysis`]) runs the same sampler and the same rule while it
//! holds a stream's events, so that both choose the same framing for every
//! stream (unless [`SampleLimits::total`] forces an early decision, which
//! depends on the other streams open at the time).

use crate::capture::Timestamp;
use crate::decode::delimiter::DelimiterConfig;
use crate::decode::json_header::JsonHeaderConfig;
use crate::decode::length::{Endian, LengthConfig, LengthField, Width};
use crate::decode::proto::PROTOCOLS;
use crate::decode::spec::FrameSpec;
use crate::decode::{Decoder, End, Step, DEFAULT_MAX_FRAME};
use crate::flow::reassembly::Event;
use crate::flow::{Dir, Proto, Sink, StreamInfo, StreamStats};

/// The most bytes of each direction [`detect`] looks at: 64 KiB. Enough for
/// dozens of messages of a typical protocol; a direction whose first message
/// alone is longer is framed by its first length field only, with a low
/// coverage.
pub const SAMPLE_BYTES: usize = 64 * 1024;

/// How many screened generic length candidates are run through the real
/// decoder.
pub const MAX_GENERIC_VERIFIED: usize = 8;

/// The first bytes of both directions of one stream.
#[derive(Clone, Copy, Debug)]
pub struct Sample<'a> {
    /// The client's first bytes (at most [`SAMPLE_BYTES`] are examined).
    pub client: &'a [u8],
    /// The server's first bytes (at most [`SAMPLE_BYTES`] are examined).
    pub server: &'a [u8],
    /// whether each direction's sample is the whole direction (stream ended) or a prefix cut at the sample limit
    pub complete: [bool; 2],
    /// The client's TCP port.
    pub client_port: u16,
    /// The server's TCP port.
    pub server_port: u16,
}

/// A framing that explains the sample, and how well. Serialized as
/// `{"spec", "confidence", "messages": [client, server],
/// "explained_bytes": [client, server]}`, the confidence to two decimals.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Candidate {
    /// The framing.
    #[serde(serialize_with = "spec_string")]
    pub spec: FrameSpec,
    /// In `0..=1`; see the module documentation.
    #[serde(serialize_with = "two_decimals")]
    pub confidence: f64,
    /// Complete messages found per direction: client, server.
    pub messages: [u64; 2],
    /// Bytes in complete messages per direction: client, server.
    pub explained_bytes: [u64; 2],
}

fn spec_string<S: serde::Serializer>(spec: &FrameSpec, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(spec)
}

/// A confidence as printed: to two decimals.
pub fn two_decimals<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((v * 100.0).round() / 100.0)
}

/// What [`detect`] found.
#[derive(Clone, Debug, PartialEq)]
pub struct Detection {
    /// The framing chosen (`none` when nothing explains the bytes).
    pub chosen: Candidate,
    /// The best other framing that frames the sample differently. Its
    /// confidence is at most the chosen one's: it lost the ranking (a tie
    /// broken by the port can leave it with more messages as evidence).
    pub runner_up: Option<Candidate>,
    /// Why `none` was chosen, or which other framings frame the sample
    /// identically.
    pub note: Option<String>,
}

/// A candidate under evaluation.
struct Scored {
    candidate: Candidate,
    coverage: f64,
    evidence: f64,
    specificity: f64,
    /// Whether one of the stream's ports is this protocol's.
    port_match: bool,
    /// Whether the spec is a protocol.
    protocol: bool,
    /// Whether the spec is a plain length field: no offset, no adjustment,
    /// 2, 4 or 8 bytes.
    plain: bool,
    /// Frame boundaries, hashed per direction.
    fingerprint: [u64; 2],
    /// Order of evaluation, the last tie-breaker.
    order: usize,
}

impl Scored {
    /// What candidates are ranked by: coverage × specificity. Evidence is
    /// left out so that a framing does not win by cutting messages smaller.
    fn rank(&self) -> f64 {
        self.coverage * self.specificity
    }

    fn confidence(&self) -> f64 {
        (self.rank() * self.evidence).clamp(0.0, 1.0)
    }
}

/// Chooses the framing that best explains `sample`; see the module
/// documentation. Never panics; the work is bounded by the sample size.
pub fn detect(sample: &Sample<'_>) -> Detection {
    let data = [cap(sample.client), cap(sample.server)];
    let total: u64 = data.iter().map(|d| d.len() as u64).sum();
    if total == 0 {
        return Detection {
            chosen: none_candidate(0.0),
            runner_up: None,
            note: Some("no payload bytes to detect a framing from".into()),
        };
    }
    let ports = [sample.client_port, sample.server_port];
    let cut = sample.complete.iter().any(|&c| !c);
    let mut scored: Vec<Scored> = Vec::new();
    let mut add = |spec: FrameSpec, specificity: f64, port_match: bool, text: bool| {
        let protocol = matches!(spec, FrameSpec::Protocol { .. });
        let plain = matches!(&spec, FrameSpec::Length(c) if c.offset == 0 && c.adjust == 0
            && matches!(c.field, LengthField::Binary { width: Width::W2 | Width::W4 | Width::W8, .. }));
        let order = scored.len();
        if let Some((candidate, coverage, fingerprint, tiny)) =
            evaluate(&spec, &data, sample.complete)
        {
            let messages: u64 = candidate.messages.iter().sum();
            let explained: u64 = candidate.explained_bytes.iter().sum();
            // A text framing has shown its structure in its first line; a
            // binary one needs two messages, and on a cut sample messages
            // of a plausible size: random bytes read as 2-byte lengths give
            // messages of 32 KiB on average.
            let believable = if text {
                messages >= 1
            } else {
                messages >= 2 && (!cut || explained <= messages * MAX_MEAN_CUT_MESSAGE)
            };
            if believable {
                // Many messages of one or two zero bytes mean a header misread
                // (a 2-byte field over the zero half of a 4-byte one).
                let specificity = if tiny * 2 >= messages {
                    specificity / 2.0
                } else {
                    specificity
                };
                scored.push(Scored {
                    evidence: evidence(candidate.messages.iter().sum()),
                    candidate,
                    coverage,
                    specificity,
                    port_match,
                    protocol,
                    plain,
                    fingerprint,
                    order,
                });
            }
        }
    };
    for info in PROTOCOLS {
        let spec = FrameSpec::Protocol {
            name: info.name,
            max: DEFAULT_MAX_FRAME,
        };
        if TEXT_PROTOCOLS.contains(&info.name) && !starts_as_text(&data) {
            continue;
        }
        let port_match = ports.iter().any(|p| info.ports.contains(p));
        add(spec, 1.0, port_match, TEXT_PROTOCOLS.contains(&info.name));
    }
    let text = reads_as_text(&data);
    if text && occurs(&data, b'\n') {
        add(
            FrameSpec::Delimiter(DelimiterConfig::line()),
            0.85,
            false,
            true,
        );
    }
    if text && occurs(&data, 0) && !has_empty_nul_message(&data) {
        if let Ok(config) = DelimiterConfig::new([vec![0u8]]) {
            add(FrameSpec::Delimiter(config), 0.85, false, true);
        }
    }
    add(
        FrameSpec::JsonHeader(JsonHeaderConfig::default()),
        0.95,
        false,
        false,
    );
    for (config, specificity) in screen_lengths(&data, sample.complete) {
        add(FrameSpec::Length(config), specificity, false, false);
    }
    choose(scored)
}

/// The largest mean size of complete messages a binary framing may find
/// in a cut sample: 8 KiB.
const MAX_MEAN_CUT_MESSAGE: u64 = 8 * 1024;

/// Protocols whose messages start with a text line; their decoders accept
/// almost any line, so they are tried only on bytes that start as text.
const TEXT_PROTOCOLS: &[&str] = &["http1", "resp", "memcached"];

/// Whether each direction's first bytes (up to 8) are printable text.
fn starts_as_text(data: &[&[u8]; 2]) -> bool {
    data.iter().all(|d| {
        d.iter()
            .take(8)
            .all(|b| matches!(b, b' '..=b'~' | b'\t' | b'\r' | b'\n'))
    })
}

/// At most [`SAMPLE_BYTES`] of a direction.
fn cap(bytes: &[u8]) -> &[u8] {
    bytes.get(..SAMPLE_BYTES).unwrap_or(bytes)
}

fn none_candidate(confidence: f64) -> Candidate {
    Candidate {
        spec: FrameSpec::None,
        confidence,
        messages: [0, 0],
        explained_bytes: [0, 0],
    }
}

/// Orders the candidates and builds the answer.
fn choose(mut scored: Vec<Scored>) -> Detection {
    // A plain generic candidate that frames exactly like a protocol is as
    // specific as the protocol: they tie, and the port decides.
    let protocols: Vec<[u64; 2]> = scored
        .iter()
        .filter(|s| s.protocol)
        .map(|s| s.fingerprint)
        .collect();
    for s in scored.iter_mut().filter(|s| s.plain) {
        if protocols.contains(&s.fingerprint) {
            s.specificity = 1.0;
        }
    }
    scored.sort_by(|a, b| {
        rounded(b.rank())
            .cmp(&rounded(a.rank()))
            .then(b.port_match.cmp(&a.port_match))
            .then(a.protocol.cmp(&b.protocol))
            .then(a.order.cmp(&b.order))
    });
    let mut iter = scored.into_iter();
    let Some(best) = iter.next() else {
        return Detection {
            chosen: none_candidate(0.25),
            runner_up: None,
            note: Some(
                "no framing explains the bytes; each segment is taken as one message".into(),
            ),
        };
    };
    let mut twins = Vec::new();
    let mut runner_up = None;
    for s in iter {
        if s.fingerprint == best.fingerprint {
            if twins.len() < 3 && s.protocol {
                twins.push(s.candidate.spec.to_string());
            }
        } else if runner_up.is_none() {
            runner_up = Some(finish(s));
        }
    }
    let note = (!twins.is_empty()).then(|| format!("frames identically: {}", twins.join(", ")));
    let chosen = finish(best);
    if let Some(r) = &mut runner_up {
        r.confidence = r.confidence.min(chosen.confidence);
    }
    Detection {
        chosen,
        runner_up,
        note,
    }
}

fn finish(s: Scored) -> Candidate {
    let confidence = s.confidence();
    Candidate {
        confidence,
        ..s.candidate
    }
}

/// Runs the decoders of `spec` over both directions. `None` when the spec
/// does not explain a direction.
fn evaluate(
    spec: &FrameSpec,
    data: &[&[u8]; 2],
    complete: [bool; 2],
) -> Option<(Candidate, f64, [u64; 2], u64)> {
    let [client, server] = spec.decoders();
    let mut runs = [
        Run::new(client, data[0], complete[0]),
        Run::new(server, data[1], complete[1]),
    ];
    // One message at a time in turn, so that shared state sees a request
    // before its response.
    while runs.iter().any(|r| !r.done) {
        for run in &mut runs {
            run.step();
        }
    }
    if runs.iter().any(|r| r.failed) {
        return None;
    }
    let messages = [runs[0].messages, runs[1].messages];
    let explained = [runs[0].explained, runs[1].explained];
    let tail: u64 = runs.iter().map(Run::tail).sum();
    let total: u64 = data.iter().map(|d| d.len() as u64).sum();
    let coverage = (explained.iter().sum::<u64>() + tail) as f64 / total.max(1) as f64;
    let candidate = Candidate {
        spec: spec.clone(),
        confidence: 0.0,
        messages,
        explained_bytes: explained,
    };
    Some((
        candidate,
        coverage,
        [runs[0].fingerprint, runs[1].fingerprint],
        runs[0].tiny + runs[1].tiny,
    ))
}

/// One direction's decoder walking its sample.
struct Run<'a> {
    decoder: Box<dyn Decoder>,
    data: &'a [u8],
    complete: bool,
    pos: usize,
    messages: u64,
    /// Messages of at most two zero bytes.
    tiny: u64,
    explained: u64,
    fingerprint: u64,
    done: bool,
    failed: bool,
}

impl<'a> Run<'a> {
    fn new(mut decoder: Box<dyn Decoder>, data: &'a [u8], complete: bool) -> Run<'a> {
        // Only where messages end counts here.
        decoder.want_labels(false);
        Run {
            decoder,
            data,
            complete,
            pos: 0,
            messages: 0,
            tiny: 0,
            explained: 0,
            fingerprint: FINGERPRINT_START,
            done: false,
            failed: false,
        }
    }

    /// Advances by one message, or to the end of the sample.
    fn step(&mut self) {
        if self.done {
            return;
        }
        let rest = self.data.get(self.pos..).unwrap_or(&[]);
        if rest.is_empty() {
            self.end();
            return;
        }
        match self.decoder.decode(rest) {
            Ok(Step::Frame { consumed, .. }) => {
                self.pos += consumed.clamp(1, rest.len());
                self.frame();
            }
            Ok(Step::NeedMore) => {
                self.pos = self.data.len();
                self.end();
            }
            Err(_) => {
                self.failed = true;
                self.done = true;
            }
        }
    }

    /// The partial last message of a cut sample.
    fn tail(&self) -> u64 {
        if self.complete {
            0
        } else {
            self.data.len() as u64 - self.explained
        }
    }

    fn frame(&mut self) {
        self.messages += 1;
        let start = usize::try_from(self.explained).unwrap_or(usize::MAX);
        let message = self.data.get(start..self.pos).unwrap_or(&[]);
        self.tiny += u64::from(message.len() <= 2 && message.iter().all(|&b| b == 0));
        self.explained = self.pos as u64;
        self.fingerprint = fingerprint(self.fingerprint, self.pos as u64);
    }

    /// The sample is exhausted: a whole direction must end on a boundary (or
    /// with a message the close completes); a cut one may stop anywhere.
    fn end(&mut self) {
        self.done = true;
        if !self.complete {
            return;
        }
        match self.decoder.finish() {
            End::Clean => {}
            End::Frame { .. } => {
                self.pos = self.data.len();
                self.frame();
            }
            End::Truncated { .. } => self.failed = true,
        }
    }
}

/// `1 - 2^-(n+2)` for `n` complete messages.
fn evidence(n: u64) -> f64 {
    1.0 - 0.5f64.powi(i32::try_from(n.min(60)).unwrap_or(60) + 2)
}

/// A score rounded to the precision at which two scores count as a tie.
fn rounded(score: f64) -> i64 {
    (score * 1000.0).round() as i64
}

/// A run's fingerprint before its first message.
const FINGERPRINT_START: u64 = 0xcbf2_9ce4_8422_2325;

/// `hash` with one more message end folded in: the fingerprints of two
/// runs are equal when they end their messages at the same places (but
/// for a collision, as likely as any two random 64-bit values being
/// equal). One multiplication a message: a framing of small messages is
/// fingerprinted at every one of them.
fn fingerprint(hash: u64, end: u64) -> u64 {
    (hash ^ end)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .rotate_left(29)
}

/// Whether the bytes read as text: at least 90% printable ASCII, tabs,
/// line ends or UTF-8 continuation bytes. Counted in blocks the compiler
/// vectorises, and given up as soon as more than a tenth of the sample
/// has been found not to be: binary data is told apart in its first block.
fn reads_as_text(data: &[&[u8]; 2]) -> bool {
    /// Bytes counted between two checks of the tenth.
    const BLOCK: usize = 4096;
    let total: usize = data.iter().map(|d| d.len()).sum();
    // Text when `other * 10 <= total`, where `other = total - printable`.
    let allowed = total / 10;
    let mut other = 0usize;
    for block in data.iter().flat_map(|d| d.chunks(BLOCK)) {
        other += not_text(block, true);
        if other > allowed {
            return false;
        }
    }
    true
}

/// How many of `bytes` are not printable ASCII, a tab or a line end (nor
/// a byte of 0x80 or above, when `high` counts those as text); written
/// without branches, so that it is counted many bytes at a time.
fn not_text(bytes: &[u8], high: bool) -> usize {
    let mut n = 0usize;
    // A byte's count fits a `u8` lane for 255 bytes.
    for part in bytes.chunks(255) {
        let other: u8 = part
            .iter()
            .map(|&b| {
                let text = (b.wrapping_sub(b' ') < 95)
                    | (high & (b >= 0x80))
                    | (b == b'\t')
                    | (b == b'\r')
                    | (b == b'\n');
                u8::from(!text)
            })
            .fold(0u8, |a, x| a.wrapping_add(x));
        n += usize::from(other);
    }
    n
}

/// Whether `byte` occurs in either direction.
fn occurs(data: &[&[u8]; 2], byte: u8) -> bool {
    data.iter().any(|d| d.contains(&byte))
}

/// Whether a NUL byte follows a NUL byte or starts a direction: empty
/// messages, which a NUL-delimited text protocol does not send.
fn has_empty_nul_message(data: &[&[u8]; 2]) -> bool {
    data.iter()
        .any(|d| d.first() == Some(&0) || d.windows(2).any(|w| w == [0, 0]))
}

/// The widths tried, in bytes.
const WIDTHS: [u8; 5] = [4, 2, 8, 3, 1];
/// The largest offset of the length field tried.
const MAX_OFFSET: u64 = 8;
/// Small adjustments tried besides 0 and `-(offset + width)`.
const SMALL_ADJUST: i64 = 8;
/// Bits of evidence a length field must give: unused high bits of the
/// field over all frames, plus the alignment of a whole direction's end.
const MIN_EVIDENCE_BITS: u32 = 40;
/// Bits of evidence for a whole direction ending exactly on a boundary.
const ALIGNMENT_BITS: u32 = 6;

/// Generic length framings that survive a walk of their length fields
/// through both directions, best first, with their specificity.
fn screen_lengths(data: &[&[u8]; 2], complete: [bool; 2]) -> Vec<(LengthConfig, f64)> {
    // Where every byte is text, every field read is text: no walk
    // survives.
    if data.iter().all(|d| not_text(d, false) == 0) {
        return Vec::new();
    }
    screen_with(|field| field.walk_both(data, complete))
}

/// The best [`MAX_GENERIC_VERIFIED`] fields that `survives` gives a
/// coverage, with their specificity, every configuration tried in turn.
fn screen_with(survives: impl Fn(&Field) -> Option<f64>) -> Vec<(LengthConfig, f64)> {
    let mut found: Vec<(LengthConfig, f64, f64)> = Vec::new();
    for width in WIDTHS {
        for endian in [Endian::Big, Endian::Little] {
            if width == 1 && endian == Endian::Little {
                continue;
            }
            for offset in 0..=MAX_OFFSET {
                let header = offset as i64 + i64::from(width);
                let mut adjusts: Vec<i64> = (-SMALL_ADJUST..=SMALL_ADJUST).collect();
                if !adjusts.contains(&-header) {
                    adjusts.push(-header);
                }
                for adjust in adjusts {
                    let field = Field {
                        width,
                        endian,
                        offset,
                        adjust,
                    };
                    if let Some(coverage) = survives(&field) {
                        let specificity = field.specificity();
                        found.push((field.config(), specificity, coverage * specificity));
                    }
                }
            }
        }
    }
    found.sort_by(|a, b| b.2.total_cmp(&a.2));
    found.truncate(MAX_GENERIC_VERIFIED);
    found.into_iter().map(|(c, s, _)| (c, s)).collect()
}

/// A binary length field under test.
#[derive(Clone, Copy, Debug)]
struct Field {
    width: u8,
    endian: Endian,
    offset: u64,
    adjust: i64,
}

impl Field {
    fn config(&self) -> LengthConfig {
        let width = Width::from_bytes(u64::from(self.width)).unwrap_or(Width::W4);
        LengthConfig {
            offset: self.offset,
            adjust: self.adjust,
            ..LengthConfig::new(LengthField::Binary {
                width,
                endian: self.endian,
                signed: false,
            })
        }
    }

    /// At most 0.9, less for each departure from the simplest form.
    fn specificity(&self) -> f64 {
        let mut departures = 0.0;
        if self.offset != 0 {
            departures += 1.0 + self.offset as f64 / 16.0;
        }
        if self.adjust != 0 {
            departures += 1.0 + self.adjust.unsigned_abs() as f64 / 32.0;
        }
        if self.endian == Endian::Little {
            departures += 1.0;
        }
        match self.width {
            2 | 4 => {}
            // A one-byte length explains too much by chance.
            1 => departures += 15.0,
            _ => departures += 1.0,
        }
        0.9 - 0.01 * departures
    }

    /// Walks both directions; the coverage estimate when the chain holds and
    /// is plausible.
    ///
    /// A direction whose values use every bit of the field gives at most
    /// [`ALIGNMENT_BITS`] of evidence, so a walk may stop as soon as that
    /// happens when the other direction cannot make up the rest (binary
    /// payloads read as a one-byte field do so within a few frames). The
    /// answer is the one whole walks give.
    fn walk_both(&self, data: &[&[u8]; 2], complete: [bool; 2]) -> Option<f64> {
        let walk = |d: usize, stop: bool| self.walk(data[d], complete[d], stop);
        let (first, second) = match walk(0, true) {
            Err(Stop::Broken) => return None,
            Ok(first) => {
                let hopeless = first.bits.saturating_add(ALIGNMENT_BITS) < MIN_EVIDENCE_BITS;
                (first, walk(1, hopeless).ok()?)
            }
            Err(Stop::Saturated) => {
                // Only a second direction that does not saturate can
                // give the evidence: then the first is walked whole.
                let second = walk(1, 2 * ALIGNMENT_BITS < MIN_EVIDENCE_BITS).ok()?;
                (walk(0, false).ok()?, second)
            }
        };
        let frames = first.frames + second.frames;
        let empty = first.empty + second.empty;
        let explained = first.explained + second.explained;
        let explained_complete = first.complete_bytes + second.complete_bytes;
        let bits = first.bits.saturating_add(second.bits);
        let all_text = first.text_fields && second.text_fields;
        // Many header-only frames mean the field is misread (a 2-byte field
        // over the zero high half of a 4-byte one).
        if frames < 2 || all_text || bits < MIN_EVIDENCE_BITS || empty * 4 > frames {
            return None;
        }
        let total: u64 = data.iter().map(|d| d.len() as u64).sum();
        if complete.iter().any(|&c| !c) && explained_complete > frames * MAX_MEAN_CUT_MESSAGE {
            return None;
        }
        Some(explained as f64 / total.max(1) as f64)
    }

    /// Follows the chain of length fields through one direction; with
    /// `stop_saturated`, only until its values use every bit of the field.
    fn walk(&self, bytes: &[u8], complete: bool, stop_saturated: bool) -> Result<Walk, Stop> {
        // One loop per width and byte order, its field read as an array.
        match (self.width, self.endian) {
            (1, _) => self.walk_as::<1, true>(bytes, complete, stop_saturated),
            (2, Endian::Big) => self.walk_as::<2, true>(bytes, complete, stop_saturated),
            (2, Endian::Little) => self.walk_as::<2, false>(bytes, complete, stop_saturated),
            (3, Endian::Big) => self.walk_as::<3, true>(bytes, complete, stop_saturated),
            (3, Endian::Little) => self.walk_as::<3, false>(bytes, complete, stop_saturated),
            (4, Endian::Big) => self.walk_as::<4, true>(bytes, complete, stop_saturated),
            (4, Endian::Little) => self.walk_as::<4, false>(bytes, complete, stop_saturated),
            (8, Endian::Big) => self.walk_as::<8, true>(bytes, complete, stop_saturated),
            (8, Endian::Little) => self.walk_as::<8, false>(bytes, complete, stop_saturated),
            _ => Err(Stop::Broken),
        }
    }

    /// [`Field::walk`] for a field of `W` bytes, big endian when `BIG`.
    #[inline(never)]
    fn walk_as<const W: usize, const BIG: bool>(
        &self,
        bytes: &[u8],
        complete: bool,
        stop_saturated: bool,
    ) -> Result<Walk, Stop> {
        let header = self.offset + W as u64;
        let len = bytes.len() as u64;
        let offset = usize::try_from(self.offset).map_err(|_| Stop::Broken)?;
        // The values from which every bit of the field is used.
        let saturated = 1u64 << (8 * W - 1);
        let mut pos = 0u64;
        let mut frames = 0u64;
        let mut empty = 0u64;
        let mut max_value = 0u64;
        let mut text_fields = true;
        while pos < len {
            // `pos < len`, a slice's length: it fits a usize.
            let start = pos as usize + offset;
            let Some(field) = bytes.get(start..).and_then(|b| b.first_chunk::<W>()) else {
                // The sample ends inside a header.
                if complete {
                    return Err(Stop::Broken);
                }
                break;
            };
            if text_fields {
                text_fields = field
                    .iter()
                    .all(|b| matches!(b, b' '..=b'~' | b'\t' | b'\r' | b'\n'));
            }
            let value = if BIG {
                field.iter().fold(0u64, |a, &b| a << 8 | u64::from(b))
            } else {
                field.iter().rev().fold(0u64, |a, &b| a << 8 | u64::from(b))
            };
            max_value = max_value.max(value);
            // A negative body, or a frame past u64, is no length.
            let body = value.checked_add_signed(self.adjust).ok_or(Stop::Broken)?;
            let frame = header.checked_add(body).ok_or(Stop::Broken)?;
            if frame == 0 || frame > DEFAULT_MAX_FRAME {
                return Err(Stop::Broken);
            }
            if stop_saturated && max_value >= saturated {
                return Err(Stop::Saturated);
            }
            if pos + frame > len {
                if complete {
                    return Err(Stop::Broken);
                }
                break;
            }
            pos += frame;
            frames += 1;
            empty += u64::from(body == 0);
        }
        let unused = 8 * W as u32 - (64 - max_value.leading_zeros());
        let per_frame = unused.saturating_mul(u32::try_from(frames).unwrap_or(u32::MAX));
        // A whole direction ending exactly on a boundary is worth a few bits.
        let alignment = if complete && frames > 0 {
            ALIGNMENT_BITS
        } else {
            0
        };
        Ok(Walk {
            frames,
            empty,
            explained: if complete { pos } else { len },
            complete_bytes: pos,
            bits: per_frame.saturating_add(alignment),
            text_fields: text_fields || frames == 0,
        })
    }
}

/// Why a walk of one direction gave no [`Walk`].
enum Stop {
    /// The chain broke: this is no length field.
    Broken,
    /// The field's values used every bit of it, and the walk was asked to
    /// stop there.
    Saturated,
}

/// What a walk of one direction found.
struct Walk {
    frames: u64,
    empty: u64,
    explained: u64,
    complete_bytes: u64,
    bits: u32,
    text_fields: bool,
}

/// The step by which a sample's buffer first grows.
const SAMPLE_STEP: usize = 4096;
/// The largest step by which a sample's buffer grows.
const SAMPLE_MAX_STEP: usize = 16 * 1024;

/// When a stream's framing is decided before the stream ends, and how much
/// sampling may hold. One rule for every command that detects (`analyze`,
/// `capture`, `detect`), so that they choose alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampleLimits {
    /// Payload bytes one stream may deliver while its framing is
    /// undecided: a caller that holds every event (the analysis) holds
    /// this much of one stream at most. Default 1 MiB.
    pub per_stream: u64,
    /// The same, over all undecided streams. Default 16 MiB.
    pub total: u64,
    /// Capture time after a stream's first byte at which its framing is
    /// decided anyway, so that live output is not held back: `None` (files)
    /// or 2 s (live capture).
    pub window: Option<i64>,
}

/// Default [`SampleLimits::per_stream`]: 1 MiB.
pub const MAX_HELD_PER_STREAM: u64 = 1 << 20;
/// Default [`SampleLimits::total`]: 16 MiB.
pub const MAX_SAMPLING_TOTAL: u64 = 8 << 20;
/// [`SampleLimits::window`] for live capture: 2 s.
pub const LIVE_SAMPLING_WINDOW: i64 = 2_000_000_000;

impl Default for SampleLimits {
    fn default() -> Self {
        SampleLimits {
            per_stream: MAX_HELD_PER_STREAM,
            total: MAX_SAMPLING_TOTAL,
            window: None,
        }
    }
}

impl SampleLimits {
    /// The limits for a live capture: the defaults and a 2 s window.
    pub fn live() -> Self {
        SampleLimits {
            window: Some(LIVE_SAMPLING_WINDOW),
            ..SampleLimits::default()
        }
    }
}

/// The first bytes of one TCP stream, collected for [`detect`]: at most
/// [`SAMPLE_BYTES`] of each direction, stopping at its first gap. The one
/// sampler behind [`Sampler`] (the `detect` command) and the analysis's
/// detection.
#[derive(Debug, Default)]
pub struct StreamSample {
    data: [Vec<u8>; 2],
    /// Whether a gap (or bytes out of place) ended each direction's sample.
    holed: [bool; 2],
    /// Payload bytes delivered per direction, sampled or not.
    seen: [u64; 2],
    /// When the first payload byte was captured.
    first_ts: Option<Timestamp>,
}

impl StreamSample {
    /// Bytes of a data event at stream offset `offset`: appended to the
    /// sample up to [`SAMPLE_BYTES`] when they continue it. Returns how many
    /// were appended (a prefix of `bytes`).
    pub fn data(&mut self, dir: Dir, offset: u64, bytes: &[u8], ts: Timestamp) -> usize {
        let i = dir.index();
        self.first_ts.get_or_insert(ts);
        self.seen[i] = self.seen[i].saturating_add(bytes.len() as u64);
        let (have, holed) = (&mut self.data[i], &mut self.holed[i]);
        if *holed || have.len() >= SAMPLE_BYTES {
            return 0;
        }
        if offset != have.len() as u64 {
            *holed = true;
            return 0;
        }
        let take = bytes.len().min(SAMPLE_BYTES.saturating_sub(have.len()));
        if have.capacity() - have.len() < take {
            // Doubled from 4 KiB to 16 KiB, then 16 KiB at a time: a full
            // sample is copied 5 times as it grows, not 15, and its
            // buffer holds at most 16 KiB it does not use.
            let step = take
                .max(have.len().min(SAMPLE_MAX_STEP))
                .max(SAMPLE_STEP)
                .min(SAMPLE_BYTES - have.len());
            have.reserve_exact(step);
        }
        have.extend_from_slice(&bytes[..take]);
        take
    }

    /// A capture gap: the direction's sample ends here.
    pub fn gap(&mut self, dir: Dir) {
        self.holed[dir.index()] = true;
    }

    /// The sampled bytes of `dir`.
    pub fn bytes(&self, dir: Dir) -> &[u8] {
        &self.data[dir.index()]
    }

    /// Payload bytes delivered in both directions while sampling: what a
    /// caller holding every event holds.
    pub fn seen(&self) -> u64 {
        self.seen[0].saturating_add(self.seen[1])
    }

    /// Whether the framing is to be decided now, before the stream ends:
    /// a direction's sample is full and the other has begun (a request is
    /// best judged with its reply), a gap ended a sample, the stream
    /// delivered [`SampleLimits::per_stream`], all undecided streams hold
    /// more than [`SampleLimits::total`] (`held`, this one included), or
    /// the window passed (`now` is the capture time of the latest event).
    pub fn ready(&self, limits: &SampleLimits, held: u64, now: Timestamp) -> bool {
        let both = self.seen.iter().all(|&b| b > 0);
        let full = self.data.iter().any(|d| d.len() >= SAMPLE_BYTES);
        let old = match (limits.window, self.first_ts) {
            (Some(window), Some(first)) => now.0.saturating_sub(first.0) >= window,
            _ => false,
        };
        (full && both)
            || self.holed.iter().any(|&h| h)
            || self.seen() >= limits.per_stream
            || held > limits.total
            || old
    }

    /// The sample to decide on. `ended` holds the stream's counters when it
    /// has ended: a direction is complete when its sample holds every byte
    /// it delivered and the connection was closed (a FIN or RST seen), not
    /// merely left open at the end of the capture or evicted. Deciding
    /// early (`None`), no direction is complete.
    pub fn sample<'a>(&'a self, info: &StreamInfo, ended: Option<&StreamStats>) -> Sample<'a> {
        let closed = ended.is_some_and(|stats| {
            !stats.evicted && stats.dirs.iter().any(|d| d.fin > 0 || d.rst > 0)
        });
        let whole =
            |i: usize| closed && !self.holed[i] && self.seen[i] == self.data[i].len() as u64;
        Sample {
            client: &self.data[0],
            server: &self.data[1],
            complete: [whole(0), whole(1)],
            client_port: info.client.port(),
            server_port: info.server.port(),
        }
    }
}

/// A [`Sink`] that samples every TCP stream ([`StreamSample`]) and hands
/// each stream's sample and [`detect`]'s answer to `report`, once, when
/// [`StreamSample::ready`] says so or when the stream ends. UDP flows are
/// ignored. Memory: at most two samples per undecided stream, and samples
/// of at most [`SampleLimits::total`] bytes over all streams.
pub struct Sampler<F> {
    report: F,
    limits: SampleLimits,
    /// Bytes delivered by the undecided streams.
    held: u64,
}

impl<F> Sampler<F>
where
    F: FnMut(&StreamInfo, &Sample<'_>, Detection),
{
    /// A sampler with the default [`SampleLimits`], calling `report` once
    /// per TCP stream.
    pub fn new(report: F) -> Sampler<F> {
        Sampler::with_limits(report, SampleLimits::default())
    }

    /// A sampler with these limits.
    pub fn with_limits(report: F, limits: SampleLimits) -> Sampler<F> {
        Sampler {
            report,
            limits,
            held: 0,
        }
    }

    fn decide(&mut self, st: &mut SamplerStream, ended: Option<&StreamStats>) {
        if let Some(sample) = st.sample.take() {
            self.held = self.held.saturating_sub(sample.seen());
            let sample_view = sample.sample(&st.info, ended);
            let detection = detect(&sample_view);
            (self.report)(&st.info, &sample_view, detection);
        }
    }
}

/// A stream as the [`Sampler`] follows it: its sample until decided.
pub struct SamplerStream {
    info: StreamInfo,
    sample: Option<Box<StreamSample>>,
}

impl<F> Sink for Sampler<F>
where
    F: FnMut(&StreamInfo, &Sample<'_>, Detection),
{
    type Stream = SamplerStream;

    fn open(&mut self, info: &StreamInfo) -> SamplerStream {
        SamplerStream {
            info: *info,
            sample: (info.proto == Proto::Tcp).then(Box::default),
        }
    }

    fn event(&mut self, st: &mut SamplerStream, dir: Dir, event: Event<'_>) {
        let Some(sample) = st.sample.as_mut() else {
            return;
        };
        let now = match event {
            Event::Data {
                offset, bytes, ts, ..
            } => {
                sample.data(dir, offset, bytes, ts);
                self.held = self.held.saturating_add(bytes.len() as u64);
                ts
            }
            Event::Gap { .. } => {
                sample.gap(dir);
                Timestamp::default()
            }
            Event::Conflict { .. } => return,
        };
        if sample.ready(&self.limits, self.held, now) {
            self.decide(st, None);
        }
    }

    fn close(&mut self, mut st: SamplerStream, _: &StreamInfo, stats: &StreamStats) {
        self.decide(&mut st, Some(stats));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`Field::walk_both`] as first written: each direction walked whole,
    /// one byte at a time, every field read (the oracle of the screen's
    /// shortcuts).
    fn walk_both_whole(field: &Field, data: &[&[u8]; 2], complete: [bool; 2]) -> Option<f64> {
        let (mut frames, mut empty, mut explained, mut whole) = (0u64, 0u64, 0u64, 0u64);
        let (mut bits, mut all_text) = (0u32, true);
        for (bytes, complete) in data.iter().zip(complete) {
            let header = field.offset + u64::from(field.width);
            let (mut pos, mut n, mut max, mut text) = (0u64, 0u64, 0u64, true);
            while pos < bytes.len() as u64 {
                let start = (pos + field.offset) as usize;
                let Some(f) = bytes.get(start..start + usize::from(field.width)) else {
                    if complete {
                        return None;
                    }
                    break;
                };
                text &= f
                    .iter()
                    .all(|b| matches!(b, b' '..=b'~' | b'\t' | b'\r' | b'\n'));
                let mut ordered = f.to_vec();
                if field.endian == Endian::Little {
                    ordered.reverse();
                }
                let value = ordered.iter().fold(0u64, |a, &b| a << 8 | u64::from(b));
                max = max.max(value);
                let body = i128::from(value) + i128::from(field.adjust);
                let frame = i128::from(header) + body;
                if body < 0 || frame <= 0 || frame > i128::from(DEFAULT_MAX_FRAME) {
                    return None;
                }
                if pos + frame as u64 > bytes.len() as u64 {
                    if complete {
                        return None;
                    }
                    break;
                }
                pos += frame as u64;
                n += 1;
                empty += u64::from(body == 0);
            }
            let unused = 8 * u32::from(field.width) - (64 - max.leading_zeros());
            let align = if complete && n > 0 { 6 } else { 0 };
            bits = bits.saturating_add(unused.saturating_mul(n as u32).saturating_add(align));
            frames += n;
            explained += if complete { pos } else { bytes.len() as u64 };
            whole += pos;
            all_text &= text || n == 0;
        }
        let total: u64 = data.iter().map(|d| d.len() as u64).sum();
        let cut = complete.iter().any(|&c| !c);
        if frames < 2
            || all_text
            || bits < MIN_EVIDENCE_BITS
            || empty * 4 > frames
            || (cut && whole > frames * MAX_MEAN_CUT_MESSAGE)
        {
            return None;
        }
        Some(explained as f64 / total.max(1) as f64)
    }

    /// The screen's shortcuts (a walk stopped once its field saturates, no
    /// walk over text) change nothing: on length-prefixed frames of every
    /// width, byte order, offset and adjustment, with binary, text and
    /// one-value payloads, whole and cut, and on plain text and random
    /// bytes, it keeps the fields, in the order, that whole walks keep.
    #[test]
    fn the_screen_keeps_what_whole_walks_keep() {
        let mut rng = crate::replay::Rng::new(0x9e37_79b9_7f4a_7c15_u64);
        let mut next = move || rng.next_u64();
        let mut checked = 0;
        let mut kept_some = 0;
        for case in 0..400u64 {
            let mut dirs: [Vec<u8>; 2] = Default::default();
            let width = [1usize, 2, 3, 4, 8][(case % 5) as usize];
            let little = case % 7 == 3;
            let offset = (case / 5 % 3) as usize;
            let adjust = [0i64, -1, 2][(case / 15 % 3) as usize];
            let payload = case / 45 % 4;
            for dir in &mut dirs {
                let frames = 1 + next() % 40;
                for _ in 0..frames {
                    let len = (next() % if width == 1 { 200 } else { 600 }) as usize + 3;
                    let mut header = vec![0u8; offset];
                    header.iter_mut().for_each(|b| *b = next() as u8);
                    let value = (len as i64 - adjust).max(0) as u64;
                    let mut field: Vec<u8> =
                        (0..width).rev().map(|i| (value >> (8 * i)) as u8).collect();
                    if little {
                        field.reverse();
                    }
                    dir.extend(header.iter().chain(&field));
                    dir.extend((0..len).map(|_| match payload {
                        0 => next() as u8,
                        1 => b' ' + (next() % 95) as u8,
                        2 => 0,
                        _ => next() as u8 & 0x7f,
                    }));
                }
            }
            match case % 10 {
                8 => {
                    dirs = [
                        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n".repeat(30),
                        b"HTTP/1.1 200 OK\r\n\r\n".repeat(9),
                    ]
                }
                9 => dirs
                    .iter_mut()
                    .for_each(|d| d.iter_mut().for_each(|b| *b = next() as u8)),
                _ => {}
            }
            if case % 11 == 0 {
                dirs[1].clear();
            }
            for complete in [[true, true], [false, true], [false, false]] {
                let mut cut = dirs.clone();
                for (d, &whole) in cut.iter_mut().zip(&complete) {
                    if !whole && !d.is_empty() {
                        d.truncate(d.len() - 1 - (next() as usize % d.len()) / 2);
                    }
                }
                let data = [cut[0].as_slice(), cut[1].as_slice()];
                let screened = screen_lengths(&data, complete);
                let whole = screen_with(|field| walk_both_whole(field, &data, complete));
                assert_eq!(screened, whole, "case {case}, complete {complete:?}");
                checked += 1;
                kept_some += usize::from(!whole.is_empty());
            }
        }
        // Not a vacuous comparison: most samples keep some fields.
        assert!(kept_some * 2 > checked, "{kept_some} of {checked}");
    }

    fn info(number: u64) -> StreamInfo {
        StreamInfo {
            proto: Proto::Tcp,
            number,
            client: "127.0.0.1:40000".parse().expect("an address"),
            server: "127.0.0.1:7000".parse().expect("an address"),
            first_record: 1,
            first_ts: Timestamp(0),
            tunnel: None,
        }
    }

    fn data(record: u64, bytes: &[u8]) -> Event<'_> {
        Event::Data {
            offset: 0,
            bytes,
            record,
            ts: Timestamp(0),
        }
    }

    /// Twenty streams sending 1,000 bytes each, none of them enough to
    /// decide on: past the total, each stream that adds bytes is decided
    /// at once, so the samplers never hold more than the total plus one
    /// event.
    #[test]
    fn samplers_hold_at_most_their_total() {
        let limits = SampleLimits {
            total: 10_000,
            ..SampleLimits::default()
        };
        let mut decided = Vec::new();
        let mut sampler = Sampler::with_limits(
            |i: &StreamInfo, _: &Sample<'_>, _: Detection| decided.push(i.number),
            limits,
        );
        let mut streams: Vec<SamplerStream> = (0..20).map(|n| sampler.open(&info(n))).collect();
        let bytes = [b'x'; 1000];
        let mut peak = 0;
        for (i, st) in streams.iter_mut().enumerate() {
            sampler.event(st, Dir::Client, data(i as u64, &bytes));
            peak = peak.max(sampler.held);
        }
        assert!(peak <= limits.total + 1000, "{peak}");
        assert_eq!(sampler.held, limits.total);
        assert_eq!(decided, (10..20).collect::<Vec<u64>>());
    }

    /// One stream delivering its per-stream bound is decided then, before
    /// it ends; a gap decides at once; a full sample waits for the other
    /// direction's first bytes.
    #[test]
    fn a_stream_is_decided_at_its_bound_a_gap_or_a_full_sample() {
        let limits = SampleLimits {
            per_stream: 3000,
            ..SampleLimits::default()
        };
        let mut sample = StreamSample::default();
        sample.data(Dir::Client, 0, &[b'x'; 2000], Timestamp(0));
        assert!(!sample.ready(&limits, 2000, Timestamp(0)));
        sample.data(Dir::Client, 2000, &[b'x'; 1000], Timestamp(0));
        assert!(sample.ready(&limits, 3000, Timestamp(0)));

        let mut holed = StreamSample::default();
        holed.data(Dir::Server, 0, b"abc", Timestamp(0));
        holed.gap(Dir::Server);
        assert!(holed.ready(&SampleLimits::default(), 3, Timestamp(0)));

        let big = vec![0u8; SAMPLE_BYTES + 10];
        let mut full = StreamSample::default();
        assert_eq!(full.data(Dir::Client, 0, &big, Timestamp(0)), SAMPLE_BYTES);
        // Bytes past a full sample are not a hole.
        assert_eq!(
            full.data(Dir::Client, big.len() as u64, b"more", Timestamp(0)),
            0
        );
        assert!(!full.ready(&SampleLimits::default(), 0, Timestamp(0)));
        full.data(Dir::Server, 0, b"+OK\r\n", Timestamp(0));
        assert!(full.ready(&SampleLimits::default(), 0, Timestamp(0)));
        // Cut at the sample size: not complete even when the stream closed.
        let stats = StreamStats {
            dirs: [
                crate::flow::reassembly::HalfStats {
                    fin: 1,
                    ..Default::default()
                },
                Default::default(),
            ],
            ..Default::default()
        };
        let s = full.sample(&info(0), Some(&stats));
        assert_eq!(s.complete, [false, true]);
        assert_eq!(full.sample(&info(0), None).complete, [false, false]);
    }

    /// The live window decides a stream whose first byte is older than it;
    /// files have none.
    #[test]
    fn the_live_window_decides_old_streams() {
        let mut sample = StreamSample::default();
        sample.data(Dir::Client, 0, b"abc", Timestamp(0));
        let later = Timestamp(LIVE_SAMPLING_WINDOW);
        assert!(sample.ready(&SampleLimits::live(), 3, later));
        assert!(!sample.ready(&SampleLimits::default(), 3, later));
    }
}
