//! The sticky-packet analysis: every decoded message mapped onto the
//! segments that carried it.
//!
//! This module owns the [`Analyzer`], a [`Sink`] that runs each direction of
//! each stream through a framing [`Decoder`] and reports, per message, which
//! capture records carried its bytes and whether it was split across
//! segments, shared a segment with another message (coalesced), cut off by
//! the end of the stream (truncated), broken (malformed) or holed by a
//! capture gap; per direction, the totals. It also simulates a naive
//! `recv()` reader ([`recv`]) and finds Nagle / delayed-ACK stalls
//! ([`nagle`]). It does not print: completed messages and streams go to a
//! [`Report`] implementation.
//!
//! ```text
//! segments:  |#1 hello|#2 world|#3 musibii1     |      records on the wire
//! messages:  |hello   |world   |musibii|1|             framing: line / length / ...
//!                               ^^^^^^^^^^ segment #3 is coalesced
//! ```
//!
//! Memory per direction is constant: a message in progress keeps its first
//! [`MAX_RECORDS`] record numbers (for the Wireshark filter) in a buffer
//! reused from message to message; nothing is allocated per message on the
//! in-order path.

mod ahead;
pub mod nagle;
pub mod recv;
pub mod tls;

use crate::capture::Timestamp;
use crate::decode::spec::FrameSpec;
use crate::decode::{Decoder, End, Label, Run, Step};
use crate::detect::{SampleLimits, StreamSample};
use crate::flow::reassembly::Event;
use crate::flow::{per_dir, Datagram, Dir, PacketMeta, Proto, Sink, StreamInfo, StreamStats};

/// Record numbers kept per message for its Wireshark filter; a message
/// spanning more is filtered by record range.
pub const MAX_RECORDS: usize = 16;

/// What happened to a message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Whole, in one segment.
    #[default]
    Ok,
    /// Whole, but its bytes came in two or more segments.
    Split,
    /// A capture gap falls inside it.
    Gap,
    /// The stream ended before it did.
    Truncated,
    /// The decoder rejected it.
    Malformed,
}

impl Status {
    /// Whether the message is worth a user's attention.
    pub fn is_flagged(self) -> bool {
        self != Status::Ok
    }

    /// The lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Split => "split",
            Status::Gap => "gap",
            Status::Truncated => "truncated",
            Status::Malformed => "malformed",
        }
    }
}

/// One decoded message (or UDP datagram's message), as reported.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Message {
    /// 0-based index within its direction.
    pub index: u64,
    /// Stream offset of its first byte.
    pub offset: u64,
    /// Bytes of it that the stream holds (capture gaps excluded).
    pub len: u64,
    /// First capture record that carried it.
    pub first_record: u64,
    /// Last capture record that carried it.
    pub last_record: u64,
    /// When its first byte was captured.
    pub first_ts: Timestamp,
    /// When its last byte was captured.
    pub last_ts: Timestamp,
    /// Segments (or datagrams) that carried it.
    pub segments: u64,
    /// Whether it shares a segment with another message.
    pub coalesced: bool,
    /// Its status.
    pub status: Status,
    /// The protocol's label, if the decoder gives one.
    pub label: Option<Label>,
    /// For truncated messages, the bytes still missing when the framing
    /// says how many.
    pub missing: Option<u64>,
    /// For malformed messages, what the decoder said.
    pub error: Option<String>,
    /// For flagged messages, how many flagged messages of its direction
    /// came before it.
    #[serde(skip)]
    pub flagged_index: Option<u64>,
    /// The first [`MAX_RECORDS`] records that carried it, in the order its
    /// bytes arrived.
    #[serde(serialize_with = "records_list")]
    pub records: Records,
    /// For a decrypted TLS stream: the TLS records that carried it (its
    /// `records` and `segments` are then the segments that carried those
    /// records, and `split` and `coalesced` are about records).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<tls::TlsSpan>,
}

impl Message {
    /// Whether it is worth a user's attention: anything but whole in one
    /// segment of its own.
    pub fn is_flagged(&self) -> bool {
        self.status.is_flagged() || self.coalesced
    }

    /// A Wireshark display filter selecting its packets (it came from
    /// `dir` of the stream `info`): see [`Message::write_filter`].
    pub fn filter(&self, info: &StreamInfo, dir: Dir) -> String {
        let mut f = String::new();
        self.write_filter(&mut f, info, dir);
        f
    }

    /// Writes [`Message::filter`] to `f`: its records when they are all
    /// known (`segments` of them), else every packet of direction `dir`
    /// with payload from its first record to its last.
    ///
    /// Only `==`, `>=`, `<=`, `&&` and `||` are used: every Wireshark
    /// version accepts them, where the set form `frame.number in {..}`
    /// takes its elements separated by spaces before 3.6 and by commas
    /// from 4.0.
    pub fn write_filter<W: std::fmt::Write>(&self, f: &mut W, info: &StreamInfo, dir: Dir) {
        let from = match dir {
            Dir::Client => info.client,
            Dir::Server => info.server,
        };
        self.write_filter_from(f, info.proto, info.number, from);
    }

    /// [`Message::write_filter`] for the message of stream `number` of
    /// `proto` that `from` sent.
    pub fn write_filter_from<W: std::fmt::Write>(
        &self,
        f: &mut W,
        proto: Proto,
        number: u64,
        from: std::net::SocketAddr,
    ) {
        let (records, first, last) = (self.records.as_slice(), self.first_record, self.last_record);
        let name = match proto {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        };
        // Pieces and integers written as they are: formatting machinery
        // was half the time of writing a document's message rows.
        let mut num = itoa::Buffer::new();
        let _ = f.write_str(name);
        let _ = f.write_str(".stream eq ");
        let _ = f.write_str(num.format(number));
        let known = usize::try_from(self.segments).is_ok_and(|n| n <= records.len());
        match records {
            [one] if known => {
                let _ = f.write_str(" && frame.number == ");
                let _ = f.write_str(num.format(*one));
            }
            [_, ..] if known => {
                let _ = f.write_str(" && (");
                for (i, r) in records.iter().enumerate() {
                    let _ = f.write_str(if i == 0 {
                        "frame.number == "
                    } else {
                        " || frame.number == "
                    });
                    let _ = f.write_str(num.format(*r));
                }
                let _ = f.write_char(')');
            }
            _ => {
                let ip = if from.is_ipv4() { "ip" } else { "ipv6" };
                let payload = match proto {
                    Proto::Tcp => " && tcp.len > 0",
                    Proto::Udp => "",
                };
                let _ = write!(
                    f,
                    " && {ip}.src == {} && {name}.srcport == {}{payload} \
                     && frame.number >= {first} && frame.number <= {last}",
                    from.ip(),
                    from.port()
                );
            }
        }
    }
}

fn records_list<S: serde::Serializer>(records: &Records, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(records.as_slice())
}

/// Up to [`MAX_RECORDS`] record numbers, inline: reporting a message costs
/// no allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Records {
    len: u8,
    list: [u64; MAX_RECORDS],
}

impl Default for Records {
    fn default() -> Self {
        Records {
            len: 0,
            list: [0; MAX_RECORDS],
        }
    }
}

impl Records {
    /// The records, in the order the message's bytes arrived.
    pub fn as_slice(&self) -> &[u64] {
        &self.list[..usize::from(self.len)]
    }

    /// Empties the list.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Adds a record; past [`MAX_RECORDS`] it is not kept.
    pub fn push(&mut self, record: u64) {
        if let Some(slot) = self.list.get_mut(usize::from(self.len)) {
            *slot = record;
            self.len += 1;
        }
    }
}

/// Totals for one direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct DirSummary {
    /// Messages begun (a truncated last one included).
    pub messages: u64,
    /// Messages flagged: any status but ok, or sharing a segment.
    pub flagged_messages: u64,
    /// Messages whose bytes came in two or more segments.
    pub split_messages: u64,
    /// Segments that carried bytes of two or more messages.
    pub coalesced_segments: u64,
    /// Messages cut off by the end of the stream.
    pub truncated_messages: u64,
    /// Messages the decoder rejected.
    pub malformed_messages: u64,
    /// Messages with a capture gap inside.
    pub gap_messages: u64,
    /// Packets that carried at least one new payload byte (retransmitted
    /// copies not counted).
    pub segments: u64,
    /// Payload bytes delivered.
    pub bytes: u64,
    /// Capture gaps in the stream.
    pub gaps: u64,
    /// Bytes left undecoded after a decoder error or a lost place.
    pub undecoded_bytes: u64,
    /// Stream offset where decoding stopped, if it did.
    pub decoding_stopped_at: Option<u64>,
    /// Times decoding resumed after an error (delimiter framings).
    pub resyncs: u64,
    /// Nagle / delayed-ACK stalls found.
    pub stalls: u64,
    /// UDP only: datagrams holding more than one message.
    pub multi_message_datagrams: u64,
    /// UDP only: datagrams ending inside a message (its framing expected
    /// more bytes).
    pub partial_datagrams: u64,
    /// UDP only: datagrams larger than the simulated `recvfrom()` that
    /// reads them (truncated, the rest discarded).
    pub oversized_datagrams: u64,
}

/// Where analysis results go: called as messages and streams complete, so
/// an implementation can stream them out with constant memory.
pub trait Report {
    /// A message completed (or ended truncated, malformed or holed).
    fn message(&mut self, stream: &StreamInfo, dir: Dir, message: &Message);
    /// How many flagged messages of each stream direction this report
    /// looks at: those whose [`Message::flagged_index`] is below it. The
    /// analysis may count a flagged message past them without handing it
    /// to [`Report::message`] (it does so for the messages after the first
    /// in a segment that holds several, which pipelined traffic has by the
    /// million). The default, `u64::MAX`, has every message handed over.
    fn flagged_wanted(&self) -> u64 {
        u64::MAX
    }
    /// A stream is done.
    fn stream(&mut self, result: StreamResult);
    /// Bytes `bytes` of capture record `record` arrived at stream offset
    /// `offset`, captured at `ts`. Called once per reassembled chunk, in
    /// stream order; consecutive calls with the same record continue one
    /// segment. The default ignores it, so reports that draw no pictures
    /// pay nothing.
    fn segment(
        &mut self,
        _stream: &StreamInfo,
        _dir: Dir,
        _record: u64,
        _offset: u64,
        _bytes: &[u8],
        _ts: Timestamp,
    ) {
    }
}

/// Two reports fed the same results.
impl<A: Report, B: Report> Report for (A, B) {
    #[inline]
    fn message(&mut self, stream: &StreamInfo, dir: Dir, message: &Message) {
        self.0.message(stream, dir, message);
        self.1.message(stream, dir, message);
    }

    #[inline]
    fn flagged_wanted(&self) -> u64 {
        self.0.flagged_wanted().max(self.1.flagged_wanted())
    }

    fn stream(&mut self, result: StreamResult) {
        self.0.stream(result.clone());
        self.1.stream(result);
    }

    fn segment(
        &mut self,
        stream: &StreamInfo,
        dir: Dir,
        record: u64,
        offset: u64,
        bytes: &[u8],
        ts: Timestamp,
    ) {
        self.0.segment(stream, dir, record, offset, bytes, ts);
        self.1.segment(stream, dir, record, offset, bytes, ts);
    }
}

/// A report that may be absent.
impl<R: Report> Report for Option<R> {
    #[inline]
    fn message(&mut self, stream: &StreamInfo, dir: Dir, message: &Message) {
        if let Some(r) = self {
            r.message(stream, dir, message);
        }
    }

    #[inline]
    fn flagged_wanted(&self) -> u64 {
        self.as_ref().map_or(0, R::flagged_wanted)
    }

    fn stream(&mut self, result: StreamResult) {
        if let Some(r) = self {
            r.stream(result);
        }
    }

    fn segment(
        &mut self,
        stream: &StreamInfo,
        dir: Dir,
        record: u64,
        offset: u64,
        bytes: &[u8],
        ts: Timestamp,
    ) {
        if let Some(r) = self {
            r.segment(stream, dir, record, offset, bytes, ts);
        }
    }
}

/// Everything about one finished stream.
#[derive(Clone, Debug, serde::Serialize)]
pub struct StreamResult {
    /// Who and which.
    #[serde(flatten)]
    pub info: StreamInfo,
    /// The framing used (the canonical `--frame` spelling).
    pub framing: String,
    /// How the framing was chosen, when it was detected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detected: Option<Box<Detected>>,
    /// Per direction: client, server.
    #[serde(serialize_with = "per_dir")]
    pub dirs: [DirSummary; 2],
    /// The reassembly counters.
    pub reassembly: StreamStats,
    /// The naive reader simulation, per direction, when asked for.
    #[serde(serialize_with = "per_dir_opt")]
    pub recv: Option<Box<[recv::RecvResult; 2]>>,
    /// Nagle / delayed-ACK stalls (at most [`nagle::MAX_STALLS`] per
    /// direction), the client's first, packed.
    pub stalls: nagle::Stalls,
    /// For a decrypted TLS stream, per direction: its record layer.
    #[serde(
        serialize_with = "per_dir_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub tls: Option<[tls::TlsSummary; 2]>,
}

/// The outcome of framing detection for one stream.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Detected {
    /// Confidence in the chosen framing, 0 to 1 (see [`crate::detect`](mod@crate::detect)).
    #[serde(serialize_with = "crate::detect::two_decimals")]
    pub confidence: f64,
    /// The best framing that frames the sample differently, as `detect`
    /// gives it.
    pub runner_up: Option<crate::detect::Candidate>,
    /// Why the choice was made, when it needs saying.
    pub note: Option<String>,
}

/// Reassembly output held back while a stream's framing is detected. The
/// first bytes of each direction live in the stream's [`StreamSample`]; an
/// event keeps only where its bytes start there and the bytes the sample
/// did not take.
enum Held {
    Data {
        /// Offset in the direction's sample of the bytes it took.
        at: usize,
        /// Bytes the sample took.
        took: usize,
        /// The rest of the event's bytes.
        rest: Vec<u8>,
        record: u64,
        ts: Timestamp,
    },
    Gap {
        len: u64,
    },
}

/// A stream's first events, held until its framing is chosen.
#[derive(Default)]
struct Sampling {
    events: Vec<(Dir, Held)>,
    sample: StreamSample,
}

/// [`per_dir`] of a pair that may be absent, inline or boxed (boxed where
/// most streams have none: results are kept to the end of a capture).
fn per_dir_opt<T, P, S>(pair: &Option<P>, s: S) -> Result<S::Ok, S::Error>
where
    T: serde::Serialize,
    P: std::borrow::Borrow<[T; 2]>,
    S: serde::Serializer,
{
    match pair {
        Some(p) => per_dir(p.borrow(), s),
        None => s.serialize_none(),
    }
}

/// Analysis options.
#[derive(Clone, Debug)]
pub struct Options {
    /// The framing for every stream (unless `detect`).
    pub framing: FrameSpec,
    /// Detect each TCP stream's framing from its first bytes
    /// ([`crate::detect`](mod@crate::detect)) instead of using `framing`.
    pub detect: bool,
    /// `recv()` sizes to simulate, if any.
    pub recv: Option<recv::RecvSizes>,
    /// Stall threshold for the Nagle analysis, in nanoseconds.
    pub stall_threshold: i64,
    /// When detection decides, and how much it may hold.
    pub sampling: SampleLimits,
    /// Analyse only this stream (protocol and number); `None`: all.
    pub only: Option<(Proto, u64)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            framing: FrameSpec::None,
            detect: false,
            recv: None,
            stall_threshold: nagle::DEFAULT_THRESHOLD,
            sampling: SampleLimits::default(),
            only: None,
        }
    }
}

/// One direction's decoder and bookkeeping.
struct DirState {
    decoder: Box<dyn Decoder>,
    per_segment: bool,
    /// The message in progress, built in place and lent to the report when
    /// it completes: reporting a message copies nothing.
    cur: Message,
    /// Whether `cur` holds bytes of a message in progress.
    active: bool,
    /// Whether a capture gap falls inside the message in progress.
    holed: bool,
    /// Flagged messages reported so far.
    flagged: u64,
    /// Offset of the next byte to feed.
    pos: u64,
    /// Decoding failed; waiting for a resync point (or for good).
    lost: bool,
    /// The segment (record) whose bytes were seen last, and how many
    /// messages touched it.
    seg_record: u64,
    seg_messages: u32,
    /// Index of the next message.
    index: u64,
    summary: DirSummary,
    recv: Option<recv::RecvSim>,
    nagle: nagle::Detector,
    finished: bool,
    /// The unit (segment, or TLS record) the message in progress touched
    /// last.
    unit: u64,
    /// A decrypted TLS stream's record layer: the units are its records.
    tls: Option<Box<tls::TlsDir>>,
}

impl DirState {
    /// Replaces the decoder (before any byte was fed to it).
    fn set_decoder(&mut self, decoder: Box<dyn Decoder>) {
        self.per_segment = decoder.segment_is_message();
        self.decoder = decoder;
    }

    fn new(decoder: Box<dyn Decoder>, opts: &Options, proto: Proto) -> Self {
        DirState {
            per_segment: decoder.segment_is_message(),
            decoder,
            cur: Message::default(),
            active: false,
            holed: false,
            flagged: 0,
            pos: 0,
            lost: false,
            seg_record: 0,
            seg_messages: 0,
            index: 0,
            summary: DirSummary::default(),
            recv: opts
                .recv
                .as_ref()
                .map(|sizes| recv::RecvSim::new(sizes, proto == Proto::Udp)),
            nagle: nagle::Detector::new(opts.stall_threshold),
            finished: false,
            unit: 0,
            tls: None,
        }
    }
}

/// Per-stream analysis state: small until the stream carries its first
/// payload byte, so that connections without data (a SYN flood, port
/// scans) cost little memory each.
pub struct StreamState {
    info: StreamInfo,
    active: Option<Box<Active>>,
    /// Not the stream [`Options::only`] asks for: ignored.
    skip: bool,
}

/// The analysis of a stream that carries data.
struct Active {
    info: StreamInfo,
    dirs: [DirState; 2],
    framing: FrameSpec,
    sampling: Option<Box<Sampling>>,
    detected: Option<Detected>,
}

impl StreamState {
    /// The stream's analysis, started on first use.
    fn active(&mut self, opts: &Options) -> &mut Active {
        let info = self.info;
        self.active.get_or_insert_with(|| {
            let detect = opts.detect && info.proto == Proto::Tcp;
            let framing = if detect {
                FrameSpec::None
            } else {
                opts.framing.clone()
            };
            let [c, s] = framing.decoders();
            Box::new(Active {
                info,
                dirs: [
                    DirState::new(c, opts, info.proto),
                    DirState::new(s, opts, info.proto),
                ],
                framing,
                sampling: detect.then(Box::default),
                detected: None,
            })
        })
    }
}

/// The analysis sink. See the module documentation.
pub struct Analyzer<R: Report> {
    opts: Options,
    report: R,
    /// Bytes held back by streams whose framing is being detected.
    sampling: u64,
    /// Scratch space for [`Decoder::decode_run`], shared by all streams.
    run: Box<Run>,
    /// The read-ahead scan's lists, given back for reuse.
    spares: crate::decode::ahead::Spares,
    /// What the `--recv` simulations may still track, over all streams.
    recv: recv::Budget,
}

impl<R: Report> Analyzer<R> {
    /// An analyzer sending results to `report`.
    pub fn new(opts: Options, report: R) -> Self {
        Analyzer {
            opts,
            report,
            sampling: 0,
            run: Box::default(),
            spares: Default::default(),
            recv: recv::Budget::default(),
        }
    }

    /// Holds an event of a stream whose framing is not chosen yet; chooses
    /// it when [`StreamSample::ready`] says so.
    fn hold(&mut self, st: &mut Active, dir: Dir, event: Event<'_>) {
        let Some(sampling) = st.sampling.as_mut() else {
            return;
        };
        let now = match event {
            Event::Data {
                offset,
                bytes,
                record,
                ts,
            } => {
                let at = sampling.sample.bytes(dir).len();
                let took = sampling.sample.data(dir, offset, bytes, ts);
                self.sampling = self.sampling.saturating_add(bytes.len() as u64);
                let rest = bytes.get(took..).unwrap_or_default().to_vec();
                sampling.events.push((
                    dir,
                    Held::Data {
                        at,
                        took,
                        rest,
                        record,
                        ts,
                    },
                ));
                ts
            }
            Event::Gap { len, .. } => {
                sampling.sample.gap(dir);
                sampling.events.push((dir, Held::Gap { len }));
                Timestamp::default()
            }
            Event::Conflict { .. } => return,
        };
        if sampling
            .sample
            .ready(&self.opts.sampling, self.sampling, now)
        {
            self.decide(st, None);
        }
    }

    /// Chooses the stream's framing from its sample (`ended`: the stream's
    /// counters when it has ended) and replays the held events through the
    /// chosen decoders.
    fn decide(&mut self, st: &mut Active, ended: Option<&StreamStats>) {
        let Some(sampling) = st.sampling.take() else {
            return;
        };
        let Sampling { events, sample } = *sampling;
        self.sampling = self.sampling.saturating_sub(sample.seen());
        let found = crate::detect::detect(&sample.sample(&st.info, ended));
        st.framing = found.chosen.spec.clone();
        st.detected = Some(Detected {
            confidence: found.chosen.confidence,
            runner_up: found.runner_up,
            note: found.note,
        });
        let [c, s] = st.framing.decoders();
        st.dirs[0].set_decoder(c);
        st.dirs[1].set_decoder(s);
        for (dir, held) in events {
            let mut ctx = Ctx {
                report: &mut self.report,
                run: &mut self.run,
                recv: &mut self.recv,
                info: &st.info,
                dir,
            };
            let d = &mut st.dirs[dir.index()];
            match held {
                Held::Data {
                    at,
                    took,
                    rest,
                    record,
                    ts,
                } => {
                    let sampled = sample.bytes(dir).get(at..at + took).unwrap_or_default();
                    if !sampled.is_empty() {
                        d.data(&mut ctx, sampled, record, ts);
                    }
                    if !rest.is_empty() {
                        d.data(&mut ctx, &rest, record, ts);
                    }
                }
                Held::Gap { len } => d.gap(&mut ctx, len),
            }
        }
    }

    /// The report.
    pub fn report(&self) -> &R {
        &self.report
    }

    /// The report, to add results of the caller's own.
    pub fn report_mut(&mut self) -> &mut R {
        &mut self.report
    }

    /// Takes the report back.
    pub fn into_report(self) -> R {
        self.report
    }
}

/// The context a direction needs to report a message.
struct Ctx<'a, R: Report> {
    report: &'a mut R,
    run: &'a mut Run,
    recv: &'a mut recv::Budget,
    info: &'a StreamInfo,
    dir: Dir,
}

impl DirState {
    /// Bytes `bytes` at `offset`, from capture record `record`.
    fn data<R: Report>(&mut self, ctx: &mut Ctx<'_, R>, bytes: &[u8], record: u64, ts: Timestamp) {
        // The unit a message is split over or coalesced in: the segment,
        // or on a decrypted TLS stream the record.
        let unit = match self.tls.as_deref_mut() {
            None => record,
            Some(t) => t.unit_at(self.pos),
        };
        let new_unit = unit != self.seg_record;
        if new_unit {
            self.end_segment(ctx);
            self.seg_record = unit;
            self.summary.segments += 1;
        }
        self.summary.bytes += bytes.len() as u64;
        ctx.report
            .segment(ctx.info, ctx.dir, record, self.pos, bytes, ts);
        if let Some(r) = &mut self.recv {
            match self.tls.as_deref() {
                None => r.data(self.pos, bytes.len() as u64, ctx.recv),
                // An SSL_read() returns at most one record's plaintext.
                Some(t) if new_unit => {
                    let (at, len) = t.current().unwrap_or((self.pos, bytes.len() as u64));
                    r.data(at, len, ctx.recv);
                }
                Some(_) => {}
            }
        }
        let mut rest = bytes;
        while !rest.is_empty() {
            if self.lost {
                match self.decoder.resync(rest) {
                    Some(skip) if self.decoder.can_resync() => {
                        let skip = skip.min(rest.len());
                        self.summary.undecoded_bytes += skip as u64;
                        self.pos += skip as u64;
                        rest = &rest[skip..];
                        self.lost = false;
                        self.summary.resyncs += 1;
                        self.summary.decoding_stopped_at = None;
                        continue;
                    }
                    _ => {
                        self.summary.undecoded_bytes += rest.len() as u64;
                        self.pos += rest.len() as u64;
                        return;
                    }
                }
            }
            if !self.active {
                // At a message boundary: whole messages first, in one call.
                // Past the flagged messages the report wants, a run's
                // messages after the first are only counted (`counted`),
                // and the decoder works out no labels for them.
                let quiet = self.tls.is_none()
                    && self.recv.is_none()
                    && self.flagged >= ctx.report.flagged_wanted();
                let run = &mut *ctx.run;
                run.clear();
                run.first_label_only(quiet);
                self.decoder.decode_run(rest, run);
                if !run.is_empty() {
                    rest = self.whole_messages(ctx, rest, record, ts, quiet);
                    continue;
                }
            }
            self.touch(record, ts);
            match self.decoder.decode(rest) {
                Ok(Step::NeedMore) => {
                    self.cur.len += rest.len() as u64;
                    self.pos += rest.len() as u64;
                    rest = &[];
                }
                Ok(Step::Frame { consumed, label }) => {
                    let consumed = consumed.clamp(1, rest.len());
                    if consumed < rest.len() {
                        // The next message starts in this same segment.
                        self.cur.coalesced = true;
                    }
                    self.cur.len += consumed as u64;
                    self.pos += consumed as u64;
                    rest = &rest[consumed..];
                    let status = self.complete_status();
                    self.emit(ctx, status, label, None, None);
                }
                Err(e) => {
                    self.lost = true;
                    self.summary.decoding_stopped_at = Some(e.offset);
                    let error = e.to_string();
                    self.emit(ctx, Status::Malformed, None, None, Some(error));
                }
            }
        }
    }

    /// Reports the messages of `ctx.run`, which lie whole at the start of
    /// `chunk` (bytes of segment `record`), those after the first only
    /// counted when `quiet` (see `counted`); returns the rest of the chunk.
    fn whole_messages<'c, R: Report>(
        &mut self,
        ctx: &mut Ctx<'_, R>,
        chunk: &'c [u8],
        record: u64,
        ts: Timestamp,
        quiet: bool,
    ) -> &'c [u8] {
        let mut start = 0;
        for i in 0..ctx.run.len() {
            if i == 1 && quiet {
                start = self.counted(ctx, start);
                break;
            }
            let (end, label) = ctx.run.get(i);
            if i == 0 || self.tls.is_some() {
                self.touch(record, ts);
            } else {
                // Each message lies in this one segment, so what `touch`
                // set for the first holds for the others but where they
                // begin and that they share the segment.
                self.seg_messages += 1;
                self.cur.offset = self.pos;
                self.cur.coalesced = true;
            }
            let len = end.saturating_sub(start).max(1);
            self.cur.len = len as u64;
            self.pos += len as u64;
            start += len;
            if start < chunk.len() {
                // The next message starts in this same segment.
                self.cur.coalesced = true;
            }
            let status = self.complete_status();
            self.emit(ctx, status, label, None, None);
        }
        chunk.get(start..).unwrap_or_default()
    }

    /// Counts, without building them, the messages of `ctx.run` after the
    /// first (emitted, ending at `start`), which the report does not look
    /// at and whose labels the run does not carry
    /// ([`Run::first_label_only`]); returns where the last ends. `quiet`
    /// held before the run (no TLS, no `--recv`, past the flagged messages
    /// the report wants, [`Report::flagged_wanted`]), and each of them
    /// shares the first's segment, which its `touch` left with no hole:
    /// one segment, coalesced, so flagged and not wanted either. (What
    /// `emit` leaves in `cur` is read by nothing but the report: the next
    /// message's `touch` and `emit` set it again.)
    fn counted<R: Report>(&mut self, ctx: &mut Ctx<'_, R>, mut start: usize) -> usize {
        debug_assert!(self.cur.segments == 1 && !self.holed && self.tls.is_none());
        let n = ctx.run.len() - 1;
        for i in 1..=n {
            let (end, _) = ctx.run.get(i);
            // As `whole_messages` measures each.
            let len = end.saturating_sub(start).max(1);
            self.pos += len as u64;
            start += len;
        }
        // At most `RUN` messages: the casts cannot truncate.
        self.seg_messages += n as u32;
        let n = n as u64;
        self.index += n;
        self.flagged += n;
        self.summary.messages += n;
        self.summary.flagged_messages += n;
        start
    }

    /// Notes that the message in progress has bytes in segment `record`,
    /// starting it if needed.
    fn touch(&mut self, record: u64, ts: Timestamp) {
        let cur = &mut self.cur;
        if !self.active {
            // Field by field: the record list is emptied, not rewritten.
            self.active = true;
            self.holed = false;
            cur.offset = self.pos;
            cur.len = 0;
            cur.first_record = record;
            cur.last_record = 0;
            cur.first_ts = ts;
            cur.segments = 0;
            cur.coalesced = false;
            cur.records.clear();
            if let Some(t) = self.tls.as_deref_mut() {
                t.start();
            }
        }
        if self.unit != self.seg_record || cur.segments == 0 {
            self.unit = self.seg_record;
            cur.segments += 1;
            match self.tls.as_deref_mut() {
                None => {
                    cur.last_record = record;
                    cur.records.push(record);
                }
                Some(t) => t.enter(),
            }
            self.seg_messages += 1;
            if self.seg_messages >= 2 {
                cur.coalesced = true;
            }
        }
        cur.last_ts = ts;
    }

    fn complete_status(&self) -> Status {
        if self.holed {
            Status::Gap
        } else if self.cur.segments > 1 {
            Status::Split
        } else {
            Status::Ok
        }
    }

    /// The current segment is over: count it as coalesced if two or more
    /// messages had bytes in it; end a per-segment message.
    fn end_segment<R: Report>(&mut self, ctx: &mut Ctx<'_, R>) {
        if self.seg_messages >= 2 {
            self.summary.coalesced_segments += 1;
        }
        self.seg_messages = 0;
        if self.per_segment && self.active && !self.lost {
            let status = self.complete_status();
            self.emit(ctx, status, None, None, None);
        }
    }

    fn gap<R: Report>(&mut self, ctx: &mut Ctx<'_, R>, len: u64) {
        self.end_segment(ctx);
        self.seg_record = 0;
        self.summary.gaps += 1;
        if let Some(r) = &mut self.recv {
            r.gap(self.pos, len, ctx.recv);
        }
        self.pos += len;
        if self.lost {
            return;
        }
        if self.decoder.skip(len) {
            if self.active {
                self.holed = true;
            }
            return;
        }
        // The decoder lost its place: the message in progress ends here.
        if self.active {
            self.emit(ctx, Status::Gap, None, None, None);
        }
        self.lost = true;
        self.summary.decoding_stopped_at = Some(self.pos - len);
    }

    /// A UDP datagram: decoded on its own, with a fresh decoder.
    fn datagram<R: Report>(&mut self, ctx: &mut Ctx<'_, R>, opts: &Options, dg: &Datagram<'_>) {
        let [client, server] = opts.framing.decoders();
        self.decoder = if ctx.dir == Dir::Client {
            client
        } else {
            server
        };
        self.lost = false;
        self.active = false;
        let before = self.summary;
        let len = dg.payload.len() as u64;
        let wire = len + u64::from(dg.missing);
        if let Some(r) = &mut self.recv {
            if r.datagram(self.pos, len, wire, ctx.recv) {
                self.summary.oversized_datagrams += 1;
            }
        }
        self.data(ctx, dg.payload, dg.record, dg.ts);
        self.finished = false;
        self.finish(ctx);
        self.finished = false;
        self.seg_record = 0;
        if self.summary.messages - before.messages >= 2 {
            self.summary.multi_message_datagrams += 1;
        }
        // The datagram ended inside a message: the framing expected more.
        if self.summary.truncated_messages > before.truncated_messages {
            self.summary.partial_datagrams += 1;
        }
    }

    fn finish<R: Report>(&mut self, ctx: &mut Ctx<'_, R>) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.end_segment(ctx);
        if self.lost {
            return;
        }
        match self.decoder.finish() {
            End::Clean => {}
            End::Frame { label } => {
                if self.active {
                    let status = self.complete_status();
                    self.emit(ctx, status, label, None, None);
                }
            }
            End::Truncated { missing } => {
                if self.active {
                    self.emit(ctx, Status::Truncated, None, missing, None);
                }
            }
        }
    }

    #[inline(always)]
    fn emit<R: Report>(
        &mut self,
        ctx: &mut Ctx<'_, R>,
        status: Status,
        label: Option<Label>,
        missing: Option<u64>,
        error: Option<String>,
    ) {
        self.active = false;
        let cur = &mut self.cur;
        let s = &mut self.summary;
        s.messages += 1;
        match status {
            Status::Ok => {}
            Status::Split => s.split_messages += 1,
            Status::Gap => s.gap_messages += 1,
            Status::Truncated => s.truncated_messages += 1,
            Status::Malformed => s.malformed_messages += 1,
        }
        if cur.segments > 1 && status != Status::Split {
            s.split_messages += 1;
        }
        if let Some(r) = &mut self.recv {
            r.message(cur.offset, cur.len, ctx.recv);
        }
        cur.index = self.index;
        cur.status = status;
        cur.label = label;
        cur.missing = missing;
        cur.error = error;
        cur.flagged_index = None;
        if cur.is_flagged() {
            cur.flagged_index = Some(self.flagged);
            self.flagged += 1;
            s.flagged_messages += 1;
        }
        self.index += 1;
        if let Some(t) = self.tls.as_deref_mut() {
            t.finish(cur);
        }
        ctx.report.message(ctx.info, ctx.dir, cur);
    }
}

impl<R: Report> Sink for Analyzer<R> {
    type Stream = StreamState;

    fn scan_ahead(&self) -> Option<Box<dyn crate::capture::scan::ScanAhead>> {
        if self.opts.detect {
            return None;
        }
        let scan = self.opts.framing.scan_ahead()?;
        Some(Box::new(ahead::PayloadScan::new(scan, self.spares.clone())))
    }

    fn scanned(&mut self, found: crate::capture::scan::ChunkScan) {
        ahead::found(&mut self.run, found, &self.spares);
    }

    fn open(&mut self, info: &StreamInfo) -> StreamState {
        StreamState {
            info: *info,
            active: None,
            skip: self
                .opts
                .only
                .is_some_and(|only| only != (info.proto, info.number)),
        }
    }

    fn packet(&mut self, st: &mut StreamState, dir: Dir, meta: &PacketMeta) {
        if st.skip || (meta.len == 0 && st.active.is_none()) {
            return; // nothing to time before the first payload byte
        }
        let st = st.active(&self.opts);
        if let Some(ack) = meta.ack_offset {
            st.dirs[dir.other().index()]
                .nagle
                .peer_ack(ack, meta.len == 0, meta.ts, meta.record);
        }
        if let (true, Some(offset)) = (meta.len > 0, meta.offset) {
            st.dirs[dir.index()]
                .nagle
                .segment(offset, meta.len, meta.ts, meta.record);
        }
    }

    fn event(&mut self, st: &mut StreamState, dir: Dir, event: Event<'_>) {
        if st.skip {
            return;
        }
        let st = st.active(&self.opts);
        if st.sampling.is_some() {
            self.hold(st, dir, event);
            return;
        }
        let d = &mut st.dirs[dir.index()];
        let mut ctx = Ctx {
            report: &mut self.report,
            run: &mut self.run,
            recv: &mut self.recv,
            info: &st.info,
            dir,
        };
        match event {
            Event::Data {
                bytes, record, ts, ..
            } => d.data(&mut ctx, bytes, record, ts),
            Event::Gap { len, .. } => d.gap(&mut ctx, len),
            Event::Conflict { .. } => {}
        }
    }

    fn datagram(&mut self, st: &mut StreamState, dir: Dir, dg: &Datagram<'_>) {
        if st.skip {
            return;
        }
        let st = st.active(&self.opts);
        let d = &mut st.dirs[dir.index()];
        let mut ctx = Ctx {
            report: &mut self.report,
            run: &mut self.run,
            recv: &mut self.recv,
            info: &st.info,
            dir,
        };
        d.datagram(&mut ctx, &self.opts, dg);
    }

    fn close(&mut self, mut st: StreamState, info: &StreamInfo, stats: &StreamStats) {
        if st.skip {
            return;
        }
        let st = st.active(&self.opts);
        if st.sampling.is_some() {
            self.decide(st, Some(stats));
        }
        for dir in Dir::BOTH {
            let mut ctx = Ctx {
                report: &mut self.report,
                run: &mut self.run,
                recv: &mut self.recv,
                info,
                dir,
            };
            st.dirs[dir.index()].finish(&mut ctx);
        }
        let recv = match (&st.dirs[0].recv, &st.dirs[1].recv) {
            (Some(c), Some(s)) => Some([c.result(&mut self.recv), s.result(&mut self.recv)]),
            _ => None,
        };
        let mut stalls = nagle::Stalls::new();
        for dir in Dir::BOTH {
            let d = &mut st.dirs[dir.index()];
            d.summary.stalls = d.nagle.count();
            d.nagle.take(dir, &mut stalls);
        }
        // Kept to the end with the stream's result: no room to spare.
        stalls.shrink_to_fit();
        let tls = match (&st.dirs[0].tls, &st.dirs[1].tls) {
            (None, None) => None,
            (c, s) => Some([c, s].map(|d| d.as_ref().map(|t| t.summary).unwrap_or_default())),
        };
        self.report.stream(StreamResult {
            info: *info,
            framing: st.framing.to_string(),
            detected: st.detected.take().map(Box::new),
            dirs: [st.dirs[0].summary, st.dirs[1].summary],
            reassembly: *stats,
            recv: recv.map(Box::new),
            stalls,
            tls,
        });
    }
}

/// A decrypted TLS stream's records: the analysis frames its plaintext
/// record by record ([`tls`]).
impl<R: Report> crate::tls::RecordSink for Analyzer<R> {
    fn tls_record(
        &mut self,
        st: &mut StreamState,
        dir: Dir,
        record: &crate::tls::Record,
        plain_offset: u64,
        plain_len: u64,
    ) {
        if st.skip {
            return;
        }
        let d = &mut st.active(&self.opts).dirs[dir.index()];
        if d.tls.is_none() {
            if let Some(r) = &mut d.recv {
                r.ssl_read();
            }
        }
        d.tls
            .get_or_insert_with(Box::default)
            .record(record, plain_offset, plain_len);
    }
}
