//! framescope's whole analysis with a decoder written here: each message is
//! a 4-byte big-endian length, then that many bytes.
//!
//! ```text
//! +--------+--------+--------+--------+----------------------+
//! |       body length (u32, big-endian)     | body (length bytes) |
//! +--------+--------+--------+--------+----------------------+
//! ```
//!
//! ```text
//! cargo run --example custom_decoder -- captures/scenarios/length-prefix.pcap
//! ```
//!
//! prints every stream's verdicts and every message, as
//! `framescope analyze --messages` does for a built-in framing. The
//! decoder reaches the analysis through [`DecoderFactory`] and
//! [`FrameSpec::Custom`]; [`framescope::analyze`] does the rest.

use std::process::ExitCode;

use framescope::decode::spec::{Custom, DecoderFactory, FrameSpec};
use framescope::decode::{DecodeError, DecodeErrorKind, Decoder, End, Step};
use framescope::{analysis, output, AnalyzeOptions};

/// Messages longer than this (header included) are malformed: 16 MiB.
const MAX_MESSAGE: u64 = 16 << 20;

/// One direction's decoder: the header bytes gathered so far, then the
/// body bytes still to come.
#[derive(Default)]
struct LengthPrefixed {
    header: Vec<u8>,
    body_left: Option<u64>,
    /// Bytes consumed before the current call, for error offsets.
    consumed: u64,
    failed: Option<DecodeError>,
}

impl Decoder for LengthPrefixed {
    fn decode(&mut self, input: &[u8]) -> Result<Step, DecodeError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let mut at = 0;
        loop {
            match self.body_left {
                None => {
                    let take = (4 - self.header.len()).min(input.len() - at);
                    self.header.extend_from_slice(&input[at..at + take]);
                    at += take;
                    let Ok(head) = <[u8; 4]>::try_from(self.header.as_slice()) else {
                        self.consumed += at as u64;
                        return Ok(Step::NeedMore);
                    };
                    let len = u64::from(u32::from_be_bytes(head));
                    if len + 4 > MAX_MESSAGE {
                        let offset = self.consumed + at as u64 - 4;
                        let kind = DecodeErrorKind::TooLong {
                            len: len + 4,
                            max: MAX_MESSAGE,
                        };
                        return Err(self.failed.insert(DecodeError::new(offset, kind)).clone());
                    }
                    self.body_left = Some(len);
                }
                Some(left) => {
                    let take = left.min((input.len() - at) as u64);
                    at += take as usize;
                    if take < left {
                        self.body_left = Some(left - take);
                        self.consumed += at as u64;
                        return Ok(Step::NeedMore);
                    }
                    self.header.clear();
                    self.body_left = None;
                    self.consumed += at as u64;
                    return Ok(Step::Frame {
                        consumed: at,
                        label: None,
                    });
                }
            }
        }
    }

    fn finish(&mut self) -> End {
        match (self.header.len(), self.body_left) {
            (0, None) => End::Clean,
            (_, Some(left)) => End::Truncated {
                missing: Some(left),
            },
            (_, None) => End::Truncated { missing: None },
        }
    }

    fn skip(&mut self, len: u64) -> bool {
        // A gap inside a body of known length is counted past.
        match self.body_left {
            Some(left) if len < left => {
                self.body_left = Some(left - len);
                self.consumed += len;
                true
            }
            _ => false,
        }
    }

    fn max_frame(&self) -> u64 {
        MAX_MESSAGE
    }
}

/// Makes the two decoders (client, server) of every stream.
struct LengthPrefixedFraming;

impl DecoderFactory for LengthPrefixedFraming {
    fn name(&self) -> &str {
        "u32be-length"
    }

    fn decoders(&self) -> [Box<dyn Decoder>; 2] {
        [
            Box::new(LengthPrefixed::default()),
            Box::new(LengthPrefixed::default()),
        ]
    }

    fn max_frame(&self) -> u64 {
        MAX_MESSAGE
    }
}

/// Analyses `capture` with [`LengthPrefixedFraming`], keeping every message.
fn analyze(capture: &str) -> Result<framescope::jobs::Analysis, framescope::jobs::Error> {
    let opts = AnalyzeOptions {
        analysis: analysis::Options {
            framing: FrameSpec::Custom(Custom::new(LengthPrefixedFraming)),
            ..analysis::Options::default()
        },
        all_messages: true,
        ..AnalyzeOptions::default()
    };
    framescope::analyze(capture, &opts)
}

fn main() -> ExitCode {
    let Some(capture) = std::env::args().nth(1) else {
        eprintln!("usage: custom_decoder CAPTURE");
        return ExitCode::from(2);
    };
    let a = match analyze(&capture) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("custom_decoder: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(e) = &a.capture.error {
        eprintln!("custom_decoder: {capture}: {e}; the records before it are analysed");
    }
    let c = &a.report;
    println!("{}", c.totals_line());
    println!("{}", output::summary_table(&output::ranked(&c.streams)));
    println!("{}", output::message_table(&c.messages.to_vec()));
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same capture, framed by the built-in `length:4`.
    fn builtin(capture: &str) -> Vec<String> {
        let opts = AnalyzeOptions {
            analysis: analysis::Options {
                framing: FrameSpec::parse("length:4").unwrap(),
                ..analysis::Options::default()
            },
            all_messages: true,
            ..AnalyzeOptions::default()
        };
        rows(&framescope::analyze(capture, &opts).unwrap())
    }

    fn rows(a: &framescope::jobs::Analysis) -> Vec<String> {
        a.report
            .messages
            .iter()
            .map(|m| serde_json::to_string(&m).unwrap())
            .collect()
    }

    #[test]
    fn frames_as_the_builtin_length_framing_does() {
        for capture in [
            "captures/scenarios/length-prefix.pcap",
            "captures/scenarios/length-prefix-two-writes.pcap",
        ] {
            let mine = analyze(capture).unwrap();
            let totals = mine.report.totals();
            assert!(totals.messages >= 4, "{capture}: {totals:?}");
            assert_eq!(totals.malformed_messages, 0, "{capture}");
            assert_eq!(rows(&mine), builtin(capture), "{capture}");
        }
    }

    #[test]
    fn text_is_not_length_prefixed() {
        // Newline-delimited JSON read as lengths: the first four bytes
        // (`{"se`) give a length over the bound.
        let a = analyze("captures/scenarios/ndjson.pcap").unwrap();
        let totals = a.report.totals();
        assert!(totals.malformed_messages > 0, "{totals:?}");
        assert_eq!(rows(&a).len() as u64, totals.messages);
    }
}
