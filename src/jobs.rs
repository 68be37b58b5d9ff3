//! One function per job the library does on a capture: [`analyze`],
//! [`detect`] and [`follow`], each with a streaming form
//! ([`analyze_with`], [`detect_with`], [`follow_with`]) that hands results
//! to a callback as they complete, and [`read`], the loop under all of
//! them, for a [`Sink`] of one's own.
//!
//! The input is a file (or `-` for standard input) or any [`std::io::Read`]
//! holding a pcap or pcapng capture ([`Input`]). How it is read (BPF
//! filter, flow-table bounds, shard) is [`Reading`]; what is done with the
//! streams is the job's own. Each job returns the [`CaptureSummary`]
//! (records read, skipped, malformed, and the damage that stopped reading)
//! beside its results: a damaged capture is analysed up to the damage, and
//! only a capture that cannot be opened at all is an [`Error`].
//!
//! This module owns no analysis of its own: it wires [`crate::pipeline`],
//! [`crate::flow::Tracker`] and a sink ([`crate::analysis::Analyzer`],
//! [`crate::detect::Sampler`], or the follower here) together, as the
//! command-line tool does.

use std::io;
use std::path::{Path, PathBuf};

use crate::analysis::{self, Analyzer, Message, Report, StreamResult};
use crate::capture::filter::{Filter, FilterError};
use crate::capture::{CaptureError, CaptureReader};
use crate::detect::{Detection, Sampler};
use crate::flow::reassembly::{Event, GapReason};
use crate::flow::{Datagram, Dir, FlowLimits, Proto, Shard, Sink, StreamInfo, StreamStats};
use crate::flow::{Tracker, TrackerStats};
use crate::output::Collector;
use crate::pipeline::{self, CaptureSummary, InputError, Progress};

/// A capture to read: a file, or a reader holding the capture's bytes.
///
/// ```
/// use framescope::{follow, flow::Proto, jobs::Error, Reading};
///
/// let path = "captures/scenarios/length-prefix.pcap";
/// let bytes = std::fs::read(path)?;
/// let in_memory = follow(bytes, &Reading::default(), Proto::Tcp, 0)?;
/// let from_file = follow(path, &Reading::default(), Proto::Tcp, 0)?;
/// assert_eq!(in_memory.bytes, from_file.bytes);
/// assert_eq!(in_memory.capture.records, from_file.capture.records);
///
/// // Bytes that are not a capture are refused at the header.
/// let refused = follow(b"not a capture".to_vec(), &Reading::default(), Proto::Tcp, 0);
/// assert!(matches!(refused, Err(Error::Capture(_))));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub enum Input {
    /// A pcap or pcapng file; `-` is standard input.
    File(PathBuf),
    /// A pcap or pcapng capture read from anything (a `Cursor` over bytes
    /// in memory, a socket, a decompressor).
    Reader(Box<dyn io::Read + Send>),
}

impl Input {
    /// A capture read from `reader`.
    pub fn reader(reader: impl io::Read + Send + 'static) -> Self {
        Input::Reader(Box::new(reader))
    }
}

impl From<&Path> for Input {
    fn from(path: &Path) -> Self {
        Input::File(path.to_path_buf())
    }
}

impl From<PathBuf> for Input {
    fn from(path: PathBuf) -> Self {
        Input::File(path)
    }
}

impl From<&str> for Input {
    fn from(path: &str) -> Self {
        Input::File(PathBuf::from(path))
    }
}

impl From<Vec<u8>> for Input {
    /// A capture held in memory.
    fn from(bytes: Vec<u8>) -> Self {
        Input::reader(io::Cursor::new(bytes))
    }
}

/// How a capture is read: which records, within which bounds.
#[derive(Clone, Debug, Default)]
pub struct Reading {
    /// A BPF filter (tcpdump syntax) records must match; compiling one
    /// needs the `pcap` feature.
    pub filter: Option<String>,
    /// Bounds on the flow table and reassembly.
    pub limits: FlowLimits,
    /// Follow only this shard's flows; stream numbers stay the capture's.
    pub shard: Shard,
}

/// Why a job could not run. A capture damaged after its header is not an
/// error: reading stops there and [`CaptureSummary::error`] says why.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be opened, or the filter does not compile.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The reader's header is not that of a pcap or pcapng capture.
    #[error("capture: {0}")]
    Capture(#[from] CaptureError),
    /// [`follow`]: the capture holds no such stream.
    #[error("no {} stream {number}", match proto { Proto::Tcp => "TCP", Proto::Udp => "UDP" })]
    NoStream {
        /// TCP or UDP.
        proto: Proto,
        /// The stream number asked for.
        number: u64,
    },
}

impl From<FilterError> for Error {
    fn from(e: FilterError) -> Self {
        Error::Input(InputError::Filter(e))
    }
}

/// What [`read`] leaves: the sink, the capture summary, the flow table's
/// totals.
pub struct Done<K> {
    /// The sink, after every stream was closed.
    pub sink: K,
    /// What the capture held.
    pub capture: CaptureSummary,
    /// The flow table's counters.
    pub totals: TrackerStats,
}

/// Reads `input` into `sink` through the dissector and the flow tracker,
/// calling `observe` every [`pipeline::PROGRESS_EVERY`] records, and
/// closes every stream at the end. The other jobs are this with a sink of
/// their own.
pub fn read<K: Sink>(
    input: impl Into<Input>,
    reading: &Reading,
    sink: K,
    observe: &mut dyn FnMut(Progress),
) -> Result<Done<K>, Error> {
    let mut tracker = Tracker::new(sink, reading.limits).with_shard(reading.shard);
    let capture = match input.into() {
        Input::File(path) => {
            pipeline::run_observed(&path, reading.filter.as_deref(), &mut tracker, observe)?
        }
        Input::Reader(reader) => {
            let mut filter = reading.filter.as_deref().map(Filter::new).transpose()?;
            let mut reader = CaptureReader::new(reader)?;
            pipeline::read(&mut reader, filter.as_mut(), &mut tracker, observe)?
        }
    };
    let (sink, totals) = tracker.finish();
    Ok(Done {
        sink,
        capture,
        totals,
    })
}

/// What [`analyze`] does and keeps.
#[derive(Clone, Debug)]
pub struct AnalyzeOptions {
    /// The framing, detection, `recv()` simulation and stall threshold.
    pub analysis: analysis::Options,
    /// How the capture is read.
    pub reading: Reading,
    /// Keep every message (up to `max_messages`), not only flagged ones.
    pub all_messages: bool,
    /// The most messages kept; the rest are counted in
    /// [`Collector::messages_dropped`].
    pub max_messages: usize,
    /// Without `all_messages`: flagged messages kept per stream direction.
    pub flagged_per_dir: usize,
    /// The most stalls listed over all streams; the rest are counted in
    /// [`Collector::stalls_dropped`] ([`Collector::keep_stalls`]).
    pub max_stalls: usize,
}

impl Default for AnalyzeOptions {
    /// Detection of each stream's framing, flagged messages only (10 per
    /// direction, at most 10 000), at most 100 000 stalls listed.
    fn default() -> Self {
        AnalyzeOptions {
            analysis: analysis::Options {
                detect: true,
                ..analysis::Options::default()
            },
            reading: Reading::default(),
            all_messages: false,
            max_messages: 10_000,
            flagged_per_dir: 10,
            max_stalls: 100_000,
        }
    }
}

/// The analysis of a capture.
pub struct Analysis {
    /// What the capture held.
    pub capture: CaptureSummary,
    /// The flow table's counters.
    pub totals: TrackerStats,
    /// Every stream's result and the messages kept, sorted by stream.
    pub report: Collector,
}

/// Frames every stream of `input` and reports the messages and verdicts:
/// what `framescope analyze` prints.
///
/// ```
/// use framescope::decode::spec::FrameSpec;
/// use framescope::{analysis, analyze, AnalyzeOptions};
///
/// let opts = AnalyzeOptions {
///     analysis: analysis::Options {
///         framing: FrameSpec::parse("length:4")?,
///         ..analysis::Options::default()
///     },
///     all_messages: true,
///     ..AnalyzeOptions::default()
/// };
/// let a = analyze("captures/scenarios/length-prefix.pcap", &opts)?;
/// assert_eq!(a.report.streams.len(), 1);
/// // Four messages from the client; the 70 000-byte one takes two segments.
/// let totals = a.report.totals();
/// assert_eq!(totals.messages, 4);
/// assert_eq!(totals.split_messages, 1);
/// assert_eq!(totals.truncated_messages, 0);
/// assert_eq!(a.report.messages.len(), 4);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn analyze(input: impl Into<Input>, opts: &AnalyzeOptions) -> Result<Analysis, Error> {
    let mut collector = Collector::new(opts.all_messages, opts.max_messages, opts.flagged_per_dir);
    collector.keep_stalls(opts.max_stalls);
    let analyzer = Analyzer::new(opts.analysis.clone(), collector);
    let done = read(input, &opts.reading, analyzer, &mut |_| {})?;
    let mut report = done.sink.into_report();
    report.sort();
    Ok(Analysis {
        capture: done.capture,
        totals: done.totals,
        report,
    })
}

/// A result of the analysis, as [`analyze_with`] hands it over.
pub enum Analyzed<'a> {
    /// A message completed (or ended truncated, malformed or holed).
    Message {
        /// Its stream.
        stream: &'a StreamInfo,
        /// Its direction.
        dir: Dir,
        /// The message.
        message: &'a Message,
    },
    /// A stream is done: its summary and verdicts.
    Stream(&'a StreamResult),
}

/// A [`Report`] that calls a closure.
struct Callback<F>(F);

impl<F: FnMut(Analyzed<'_>)> Report for Callback<F> {
    fn message(&mut self, stream: &StreamInfo, dir: Dir, message: &Message) {
        (self.0)(Analyzed::Message {
            stream,
            dir,
            message,
        });
    }

    fn stream(&mut self, result: StreamResult) {
        (self.0)(Analyzed::Stream(&result));
    }
}

/// [`analyze`], handing each message and each stream's result to `each` as
/// it completes and keeping nothing: memory does not grow with the
/// capture. `opts`' message-keeping fields are not used.
///
/// ```
/// use framescope::{analyze_with, AnalyzeOptions, Analyzed};
///
/// // Detection (the default) finds the framing of each stream.
/// let (mut messages, mut streams) = (0, 0);
/// analyze_with(
///     "captures/scenarios/length-prefix.pcap",
///     &AnalyzeOptions::default(),
///     |a| match a {
///         Analyzed::Message { .. } => messages += 1,
///         Analyzed::Stream(s) => {
///             streams += 1;
///             assert_eq!(s.framing, "length:4");
///         }
///     },
/// )?;
/// assert_eq!((messages, streams), (4, 1));
/// # Ok::<(), framescope::jobs::Error>(())
/// ```
pub fn analyze_with(
    input: impl Into<Input>,
    opts: &AnalyzeOptions,
    each: impl FnMut(Analyzed<'_>),
) -> Result<(CaptureSummary, TrackerStats), Error> {
    let analyzer = Analyzer::new(opts.analysis.clone(), Callback(each));
    let done = read(input, &opts.reading, analyzer, &mut |_| {})?;
    Ok((done.capture, done.totals))
}

/// The framing [`crate::detect`](mod@crate::detect) infers for every TCP stream.
pub struct Detections {
    /// What the capture held.
    pub capture: CaptureSummary,
    /// Each TCP stream and its detection, by stream number.
    pub streams: Vec<(StreamInfo, Detection)>,
}

/// Infers the framing of every TCP stream from its first bytes: what
/// `framescope detect` prints.
///
/// ```
/// use framescope::{detect, Reading};
///
/// let d = detect("captures/scenarios/length-prefix.pcap", &Reading::default())?;
/// let (info, detection) = &d.streams[0];
/// assert_eq!(info.number, 0);
/// assert_eq!(detection.chosen.spec.to_string(), "length:4");
/// # Ok::<(), framescope::jobs::Error>(())
/// ```
pub fn detect(input: impl Into<Input>, reading: &Reading) -> Result<Detections, Error> {
    let mut streams = Vec::new();
    let capture = detect_with(input, reading, |info, d| streams.push((*info, d)))?;
    streams.sort_by_key(|(info, _)| info.number);
    Ok(Detections { capture, streams })
}

/// [`detect`], handing each TCP stream's detection to `each` as soon as it
/// is decided (after enough messages or at the stream's end).
pub fn detect_with(
    input: impl Into<Input>,
    reading: &Reading,
    mut each: impl FnMut(&StreamInfo, Detection),
) -> Result<CaptureSummary, Error> {
    let sampler = Sampler::new(|info: &StreamInfo, _: &_, d| each(info, d));
    Ok(read(input, reading, sampler, &mut |_| {})?.capture)
}

/// A piece of a followed stream, in stream order per direction.
#[derive(Clone, Copy, Debug)]
pub enum Piece<'a> {
    /// TCP bytes at stream offset `offset`, carried by capture record
    /// `record`.
    Data {
        /// Stream offset of the first byte.
        offset: u64,
        /// The bytes.
        bytes: &'a [u8],
        /// The record that carried them.
        record: u64,
    },
    /// `len` TCP bytes at `offset` that the capture does not hold.
    Gap {
        /// Stream offset of the first missing byte.
        offset: u64,
        /// How many.
        len: u64,
        /// Why the hole was closed.
        reason: GapReason,
    },
    /// A UDP datagram's payload.
    Datagram {
        /// The payload captured.
        bytes: &'a [u8],
        /// Its record.
        record: u64,
    },
}

/// The stream [`follow_with`] follows, handing its pieces to a closure.
struct Follower<F> {
    proto: Proto,
    number: u64,
    found: Option<StreamInfo>,
    each: F,
}

impl<F: FnMut(Dir, Piece<'_>)> Sink for Follower<F> {
    type Stream = bool;

    fn open(&mut self, info: &StreamInfo) -> bool {
        let target = info.proto == self.proto && info.number == self.number;
        if target {
            self.found = Some(*info);
        }
        target
    }

    fn event(&mut self, target: &mut bool, dir: Dir, event: Event<'_>) {
        if !*target {
            return;
        }
        match event {
            Event::Data {
                offset,
                bytes,
                record,
                ..
            } => (self.each)(
                dir,
                Piece::Data {
                    offset,
                    bytes,
                    record,
                },
            ),
            Event::Gap {
                offset,
                len,
                reason,
            } => (self.each)(
                dir,
                Piece::Gap {
                    offset,
                    len,
                    reason,
                },
            ),
            Event::Conflict { .. } => {}
        }
    }

    fn datagram(&mut self, target: &mut bool, dir: Dir, dg: &Datagram<'_>) {
        if *target {
            let piece = Piece::Datagram {
                bytes: dg.payload,
                record: dg.record,
            };
            (self.each)(dir, piece);
        }
    }

    fn close(&mut self, _: bool, _: &StreamInfo, _: &StreamStats) {}
}

/// A stream's reassembled bytes.
pub struct Followed {
    /// What the capture held.
    pub capture: CaptureSummary,
    /// The stream.
    pub info: StreamInfo,
    /// Each direction's bytes ([`Dir::index`]), the bytes of gaps left out.
    pub bytes: [Vec<u8>; 2],
    /// The gaps: direction, stream offset, length, reason.
    pub gaps: Vec<(Dir, u64, u64, GapReason)>,
}

/// The reassembled bytes of each direction of stream `number` (Wireshark's
/// `tcp.stream` or `udp.stream`): what `framescope follow --format raw`
/// prints. [`Error::NoStream`] when the capture holds no such stream.
///
/// ```
/// use framescope::flow::{Dir, Proto};
/// use framescope::{follow, Reading};
///
/// let f = follow(
///     "captures/scenarios/length-prefix.pcap",
///     &Reading::default(),
///     Proto::Tcp,
///     0,
/// )?;
/// // The first request: a 4-byte big-endian length, 10, then 10 bytes.
/// let client = &f.bytes[Dir::Client.index()];
/// assert_eq!(client[..4], [0, 0, 0, 10]);
/// assert_eq!(client.len(), 4 * 4 + 10 + 300 + 5000 + 70000);
/// assert!(f.gaps.is_empty());
/// # Ok::<(), framescope::jobs::Error>(())
/// ```
pub fn follow(
    input: impl Into<Input>,
    reading: &Reading,
    proto: Proto,
    number: u64,
) -> Result<Followed, Error> {
    let mut bytes: [Vec<u8>; 2] = Default::default();
    let mut gaps = Vec::new();
    let (capture, info) = follow_with(input, reading, proto, number, |dir, piece| match piece {
        Piece::Data { bytes: b, .. } | Piece::Datagram { bytes: b, .. } => {
            bytes[dir.index()].extend_from_slice(b);
        }
        Piece::Gap {
            offset,
            len,
            reason,
        } => gaps.push((dir, offset, len, reason)),
    })?;
    let info = info.ok_or(Error::NoStream { proto, number })?;
    Ok(Followed {
        capture,
        info,
        bytes,
        gaps,
    })
}

/// [`follow`], handing each piece of the stream to `each` as reassembly
/// delivers it and keeping nothing. Returns the capture summary and the
/// stream, `None` when the capture holds no such stream.
pub fn follow_with(
    input: impl Into<Input>,
    reading: &Reading,
    proto: Proto,
    number: u64,
    each: impl FnMut(Dir, Piece<'_>),
) -> Result<(CaptureSummary, Option<StreamInfo>), Error> {
    let follower = Follower {
        proto,
        number,
        found: None,
        each,
    };
    let done = read(input, reading, follower, &mut |_| {})?;
    Ok((done.capture, done.sink.found))
}
