//! memcached text protocol (protocol.txt), including the meta commands.
//!
//! ```text
//!  client   get k1 k2\r\n                               a command line
//!           set k 0 60 5 [noreply]\r\n hello \r\n        storage: line, data
//!           cas k 0 60 5 99\r\n hello \r\n               block of <bytes>
//!           ms k 5 T60\r\n hello \r\n                    (counted), CRLF
//!  server   VALUE k1 0 5\r\n hello \r\n VALUE ... END\r\n   one reply to get
//!           STAT pid 1\r\n STAT ... \r\n END\r\n             one reply to stats
//!           VA 5 f\r\n hello \r\n                            meta value reply
//!           STORED\r\n  NOT_FOUND\r\n  42\r\n  HD\r\n         one-line replies
//! ```
//!
//! One message is one command with its data block, or one whole reply: a
//! retrieval reply is every `VALUE` item up to and including `END` (a miss
//! is `END` alone), a statistics reply every `STAT` (or `ITEM`) line up to
//! and including `END`, a meta `VA` reply its line and data block, and
//! anything else one line. tshark counts the lines of these replies
//! instead. Lines keep at most 512 bytes for inspection (enough for every
//! field a storage command has) and may be as long as the maximum frame.
//! The binary protocol (first byte 0x80 or 0x81) is rejected.
//!
//! Labels: the command name (`get`, `set`, `ms`, ...) or the reply's first
//! keyword (`VALUE`, `STAT`, `END`, `STORED`, `VA`, ...; `NUMBER` for an
//! incr/decr result). After an error, decoding resumes at the next line
//! that starts with a lower-case letter (commands) or an upper-case letter
//! or digit (replies).

use super::block::{Block, Fill};
use super::http1::parse_decimal;
use super::line::{self, Fed, Flow, Text};
use crate::decode::{DecodeError, Decoder, End, Label, Step};

/// Bytes of a line kept for inspection.
const KEEP: usize = 512;

/// The decoders of one connection: `[client, server]`.
pub(super) fn pair(max_frame: u64) -> [Box<dyn Decoder>; 2] {
    [
        Box::new(Memcached::new(true, max_frame)),
        Box::new(Memcached::new(false, max_frame)),
    ]
}

/// Where the decoder stands in a command or reply.
#[derive(Debug)]
enum State {
    Idle,
    Line,
    /// The data block after a line, and its CRLF.
    Data(Block),
    Failed(DecodeError),
}

line::place!(State, Data);

/// Which lines a multi-line reply in progress may still hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Multi {
    No,
    Values,
    Stats,
}

struct Memcached {
    client: bool,
    text: Text<State>,
    label: Option<Label>,
    /// Whether labels are worked out ([`Decoder::want_labels`]).
    labels: bool,
    multi: Multi,
}

const STORAGE: &[&[u8]] = &[b"set", b"add", b"replace", b"append", b"prepend", b"cas"];

/// What a line's first word says to the framing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Word {
    /// A storage command (`set`, `add`, ...): a data block follows.
    Storage,
    /// `ms` (meta set): a data block follows.
    Ms,
    /// `VALUE`: a retrieval reply's item, its data block following.
    Value,
    /// `VA`: a meta reply with a data block.
    Va,
    /// `STAT` or `ITEM`: a line of a statistics reply.
    Stat,
    /// `END`: the end of a multi-line reply.
    End,
    /// Anything else.
    Other,
}

impl Word {
    fn of(word: &[u8]) -> Word {
        match word {
            b"ms" => Word::Ms,
            b"VALUE" => Word::Value,
            b"VA" => Word::Va,
            b"STAT" | b"ITEM" => Word::Stat,
            b"END" => Word::End,
            w if STORAGE.contains(&w) => Word::Storage,
            _ => Word::Other,
        }
    }
}

impl Memcached {
    fn new(client: bool, max: u64) -> Self {
        Memcached {
            client,
            text: Text::new(max),
            label: None,
            labels: true,
            multi: Multi::No,
        }
    }

    /// A data block of the size in field `index` of the line follows.
    fn data(&mut self, index: usize) -> Result<Flow, DecodeError> {
        let at = self.text.line_start;
        if !self.text.line.complete() {
            return Err(self
                .text
                .protocol(at, "memcached line with a data block too long"));
        }
        let size = self
            .text
            .line
            .text()
            .split(|&b| b == b' ')
            .filter(|t| !t.is_empty())
            .nth(index);
        let n = match size {
            Some(t) if !t.is_empty() && t.iter().all(u8::is_ascii_digit) => parse_decimal(t),
            _ => None,
        };
        let Some(n) = n else {
            return Err(self.text.protocol(at, "missing or invalid data block size"));
        };
        let total = self.text.len.saturating_add(n).saturating_add(2);
        if total > self.text.max {
            return Err(self.text.too_long(at, total));
        }
        self.text.state = State::Data(Block::new(n, true));
        Ok(Flow::Continue)
    }

    fn line_done(&mut self) -> Result<Flow, DecodeError> {
        let text = self.text.line.text();
        let word = text
            .split(|&b| b == b' ')
            .find(|t| !t.is_empty())
            .unwrap_or_default();
        // What the first word says, and the label, are taken while the
        // line is borrowed: nothing is copied.
        let what = Word::of(word);
        if !self.labels {
            // Detection's candidates: only where messages end is read.
        } else if self.client {
            self.label = (!word.is_empty()).then(|| Label::from_bytes(word));
        } else if self.multi == Multi::No {
            self.label = Some(if !word.is_empty() && word.iter().all(u8::is_ascii_digit) {
                Label::new("NUMBER")
            } else {
                Label::from_bytes(word)
            });
        }
        if self.client {
            return match what {
                Word::Storage => self.data(4),
                Word::Ms => self.data(2),
                _ => Ok(Flow::Ended),
            };
        }
        match self.multi {
            Multi::No => match what {
                Word::Value => {
                    self.multi = Multi::Values;
                    self.data(3)
                }
                Word::Va => self.data(1),
                Word::Stat => {
                    self.multi = Multi::Stats;
                    self.next_line()
                }
                _ => Ok(Flow::Ended),
            },
            _ if what == Word::End => Ok(Flow::Ended),
            Multi::Values if what == Word::Value => self.data(3),
            Multi::Values => {
                let at = self.text.line_start;
                Err(self
                    .text
                    .protocol(at, "expected VALUE or END in a retrieval reply"))
            }
            Multi::Stats => self.next_line(),
        }
    }

    fn next_line(&mut self) -> Result<Flow, DecodeError> {
        self.text.start_line();
        self.text.state = State::Line;
        Ok(Flow::Continue)
    }

    fn end(&mut self, used: usize) -> Result<Step, DecodeError> {
        let label = self.label.take();
        self.text.frame(used, label)
    }
}

impl Memcached {
    /// One decode call, without the resume bookkeeping.
    fn step(&mut self, input: &[u8]) -> Result<Step, DecodeError> {
        let mut used = 0usize;
        loop {
            let rest = input.get(used..).unwrap_or_default();
            match self.text.state {
                State::Failed(ref error) => return Err(error.clone()),
                State::Idle => {
                    let Some(&b) = rest.first() else {
                        return Ok(Step::NeedMore);
                    };
                    if b == 0x80 || b == 0x81 {
                        let at = self.text.pos;
                        let why = "memcached binary protocol is not supported";
                        return Err(self.text.protocol(at, why));
                    }
                    self.text.len = 0;
                    self.label = None;
                    self.multi = Multi::No;
                    self.next_line()?;
                }
                State::Line => {
                    // The line's own bytes already fed are in both `len` and
                    // the line: the limit counts from the line's start.
                    let text = &self.text;
                    let limit = text
                        .max
                        .saturating_sub(text.len.saturating_sub(text.line.fed()));
                    match self.text.feed_line(rest, KEEP, limit) {
                        Fed::More => return Ok(Step::NeedMore),
                        Fed::TooLong(_) => {
                            let (at, max) = (self.text.line_start, self.text.max);
                            return Err(self.text.too_long(at, max + 1));
                        }
                        Fed::Done(n) => {
                            used += n;
                            if let Flow::Ended = self.line_done()? {
                                return self.end(used);
                            }
                        }
                    }
                }
                State::Data(ref mut block) => {
                    let fill = block.feed(rest);
                    match self.text.fill(rest, fill) {
                        Fill::More { .. } => return Ok(Step::NeedMore),
                        Fill::NoCrlf { .. } => {
                            let at = self.text.pos;
                            return Err(self.text.protocol(at, "data block not followed by CRLF"));
                        }
                        Fill::Done { used: n, .. } => {
                            used += n;
                            if self.multi != Multi::Values {
                                return self.end(used);
                            }
                            self.next_line()?;
                        }
                    }
                }
            }
        }
    }
}

impl Decoder for Memcached {
    fn decode(&mut self, input: &[u8]) -> Result<Step, DecodeError> {
        let call = self.text.begin()?;
        let step = self.step(input);
        self.text.track(input, call, step)
    }

    fn finish(&mut self) -> End {
        self.text.finish(self.multi == Multi::No)
    }

    fn skip(&mut self, len: u64) -> bool {
        self.text.skip(len)
    }

    fn resync(&mut self, input: &[u8]) -> Option<usize> {
        let client = self.client;
        self.text.resync(input, move |b: u8| {
            if client {
                b.is_ascii_lowercase()
            } else {
                b.is_ascii_uppercase() || b.is_ascii_digit()
            }
        })
    }

    fn can_resync(&self) -> bool {
        true
    }

    fn max_frame(&self) -> u64 {
        self.text.max
    }

    fn want_labels(&mut self, wanted: bool) {
        self.labels = wanted;
    }
}

/// Whether a whole client message asks the server to end the session:
/// the `quit` command.
pub(super) fn ends_session(message: &[u8]) -> bool {
    message == b"quit\r\n" || message == b"quit\n"
}
