//! A user of the framescope library, outside its source: a length-prefixed
//! framing written here (a 4-byte big-endian length, then that many bytes)
//! gets framescope's whole analysis of a capture, with neither the
//! command-line tool nor libpcap compiled in.
//!
//! ```text
//! cargo run --release -- ../../captures/scenarios/length-prefix-two-writes.pcap
//! ```
//!
//! It prints the summary table, then checks its decoder two ways and exits
//! 1 when either fails: every message must match what framescope's own
//! `length:4` framing finds, and the decoder must be split invariant on
//! each direction's bytes cut at the capture's own segment boundaries and
//! at adversarial ones.

use std::path::PathBuf;
use std::process::ExitCode;

use framescope::analysis::Options;
use framescope::decode::spec::{Custom, DecoderFactory, FrameSpec};
use framescope::decode::{DecodeError, DecodeErrorKind, Decoder, End, Step};
use framescope::flow::reassembly::Event;
use framescope::flow::{Dir, Sink, StreamInfo, StreamStats};
use framescope::harness::{self, Config, Frames};
use framescope::output::{self, Collector};
use framescope::{AnalyzeOptions, Reading};

/// The largest message accepted: 1 MiB.
const MAX: u64 = 1 << 20;

/// Where the decoder stands in the message in progress.
enum State {
    /// Reading the length: the bytes read so far.
    Head { have: [u8; 4], len: usize },
    /// Counting the body: bytes still to come.
    Body(u64),
    /// A length over [`MAX`]: the framing is lost for good.
    Failed(DecodeError),
}

/// `u32 length (big-endian) | body`.
struct U32Length {
    state: State,
    /// Stream offset of the next byte.
    pos: u64,
}

impl U32Length {
    fn new() -> Self {
        U32Length {
            state: State::Head {
                have: [0; 4],
                len: 0,
            },
            pos: 0,
        }
    }
}

impl Decoder for U32Length {
    fn decode(&mut self, input: &[u8]) -> Result<Step, DecodeError> {
        let mut used = 0;
        while used < input.len() {
            match &mut self.state {
                State::Head { have, len } => {
                    have[*len] = input[used];
                    *len += 1;
                    used += 1;
                    if *len == 4 {
                        let body = u64::from(u32::from_be_bytes(*have));
                        if body + 4 > MAX {
                            let at = self.pos + used as u64 - 4;
                            let kind = DecodeErrorKind::TooLong {
                                len: body + 4,
                                max: MAX,
                            };
                            let error = DecodeError::new(at, kind);
                            self.state = State::Failed(error.clone());
                            return Err(error);
                        }
                        self.state = State::Body(body);
                    }
                }
                State::Failed(error) => return Err(error.clone()),
                State::Body(rest) => {
                    let take = (*rest).min((input.len() - used) as u64);
                    *rest -= take;
                    used += take as usize;
                }
            }
            if let State::Body(0) = self.state {
                self.state = State::Head {
                    have: [0; 4],
                    len: 0,
                };
                self.pos += used as u64;
                return Ok(Step::Frame {
                    consumed: used,
                    label: None,
                });
            }
        }
        self.pos += used as u64;
        Ok(Step::NeedMore)
    }

    fn finish(&mut self) -> End {
        match &self.state {
            State::Head { len: 0, .. } => End::Clean,
            // The length itself is cut short: how much is missing is unknown.
            State::Head { .. } | State::Failed(_) => End::Truncated { missing: None },
            State::Body(rest) => End::Truncated {
                missing: Some(*rest),
            },
        }
    }

    fn max_frame(&self) -> u64 {
        MAX
    }
}

/// Makes a pair of [`U32Length`] decoders for every stream.
struct U32LengthFraming;

impl DecoderFactory for U32LengthFraming {
    fn name(&self) -> &str {
        "u32-length"
    }

    fn decoders(&self) -> [Box<dyn Decoder>; 2] {
        [Box::new(U32Length::new()), Box::new(U32Length::new())]
    }

    fn max_frame(&self) -> u64 {
        MAX
    }
}

/// Analyses `path` with `framing`, keeping every message.
fn analyze(path: &PathBuf, framing: FrameSpec) -> Result<Collector, String> {
    let opts = AnalyzeOptions {
        analysis: Options {
            framing,
            ..Options::default()
        },
        all_messages: true,
        max_messages: usize::MAX,
        ..AnalyzeOptions::default()
    };
    let analysis = framescope::analyze(path.as_path(), &opts).map_err(|e| e.to_string())?;
    Ok(analysis.report)
}

/// Each TCP direction's bytes and segment lengths, as followed.
#[derive(Default)]
struct Directions {
    streams: Vec<[(Vec<u8>, Vec<usize>); 2]>,
}

impl Sink for Directions {
    type Stream = usize;

    fn open(&mut self, _: &StreamInfo) -> usize {
        self.streams.push(Default::default());
        self.streams.len() - 1
    }

    fn event(&mut self, st: &mut usize, dir: Dir, event: Event<'_>) {
        if let Event::Data { bytes, .. } = event {
            let (data, segments) = &mut self.streams[*st][dir.index()];
            data.extend_from_slice(bytes);
            segments.push(bytes.len());
        }
    }

    fn close(&mut self, _: usize, _: &StreamInfo, _: &StreamStats) {}
}

fn run(path: &PathBuf) -> Result<bool, String> {
    let own = analyze(path, FrameSpec::Custom(Custom::new(U32LengthFraming)))?;
    let builtin = analyze(
        path,
        FrameSpec::parse("length:4").map_err(|e| e.to_string())?,
    )?;
    println!("{}", output::summary_table(&output::ranked(&own.streams)));

    let rows = |c: &Collector| -> Result<Vec<String>, String> {
        c.messages
            .iter()
            .map(|m| serde_json::to_string(&m).map_err(|e| e.to_string()))
            .collect()
    };
    let (mine, theirs) = (rows(&own)?, rows(&builtin)?);
    let mut ok = true;
    if mine != theirs {
        ok = false;
        let at = mine.iter().zip(&theirs).position(|(a, b)| a != b);
        println!(
            "messages differ from length:4 ({} vs {}), first at {at:?}",
            mine.len(),
            theirs.len()
        );
    } else {
        println!(
            "{} messages, each as framescope's length:4 reports it",
            mine.len()
        );
    }

    let done = framescope::read(
        path.as_path(),
        &Reading::default(),
        Directions::default(),
        &mut |_| {},
    )
    .map_err(|e| e.to_string())?;
    for (n, dirs) in done.sink.streams.iter().enumerate() {
        for (dir, (bytes, segments)) in ["client", "server"].iter().zip(dirs) {
            let config = Config {
                chunkings: vec![harness::cuts_from_lengths(segments)],
                ..Config::default()
            };
            let mut subject = Frames::new(|| Box::new(U32Length::new()));
            match harness::check(&mut subject, bytes, &config) {
                Ok(passed) => println!(
                    "stream {n} {dir}: split invariant over {} chunkings ({} messages, {} segments)",
                    passed.runs,
                    passed.items,
                    segments.len()
                ),
                Err(failure) => {
                    ok = false;
                    println!("stream {n} {dir}: {failure}");
                }
            }
        }
    }
    Ok(ok)
}

fn main() -> ExitCode {
    let Some(path) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: framescope-external CAPTURE");
        return ExitCode::from(2);
    };
    match run(&path) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            ExitCode::from(2)
        }
    }
}
