//! Redis serialization protocol, RESP2 and RESP3.
//!
//! ```text
//!  *3\r\n  $3\r\n SET \r\n  $1\r\n k \r\n  $1\r\n v \r\n    one command: an array
//!  └┬─┘    └┬─┘   └┬┘       element count, bulk length lines held (≤ 64 bytes),
//!  count   length  payload  payloads counted, never copied
//!
//!  PING\r\n                                             an inline command
//!  +OK\r\n   -ERR x\r\n   :42\r\n   $-1\r\n   *-1\r\n     RESP2 replies
//!  _\r\n ,1.5\r\n #t\r\n (123\r\n !3\r\nerr\r\n =7\r\ntxt:abc\r\n
//!  %1\r\n+k\r\n+v\r\n  ~1\r\n:1\r\n  >2\r\n...  |1\r\n+k\r\n+v\r\n +OK\r\n
//!  $?\r\n;4\r\nabcd\r\n;0\r\n     *?\r\n:1\r\n.\r\n      RESP3 (streamed)
//! ```
//!
//! One message is one top-level value, or one inline command line. An
//! attribute (`|`) belongs to the value that follows it. Aggregates nest
//! at most [`MAX_DEPTH`] deep, and an aggregate's announced element count
//! must fit the maximum frame size at 3 bytes an element, so neither a
//! depth bomb nor a huge count allocates anything.
//!
//! The client direction follows the server's reading: a message starting
//! with `*` is an array, anything else an inline command (one line, at most
//! 64 KiB). The server direction accepts every RESP2 and RESP3 type and
//! rejects unknown type bytes. Lines must end in CRLF where they are held
//! (lengths and counts); bulk payloads must be followed by CRLF.
//!
//! Labels: a command (an array whose first element is a bulk string, or an
//! inline line) is labelled with its name, upper-cased (`SET`, `PING`);
//! other client arrays `*`, an empty inline line nothing. A reply is labelled with its type byte (`+`,
//! `-`, `:`, `$`, `*`, `%`, `>`, ...).
//!
//! After an error, decoding resumes at the next line that starts with a
//! type byte (server) or `*` (client; an inline command is too easily
//! confused with the payload of a bulk string to resume at).

use super::block::{Block, Fill};
use super::http1::{decimal_i128, parse_decimal};
use super::line::{self, Fed, Flow, Text};
use crate::decode::ahead::{Found, NO_LABEL};
use crate::decode::{DecodeError, DecodeErrorKind, Decoder, End, Label, Run, Step};

/// The deepest nesting of aggregates accepted.
pub const MAX_DEPTH: usize = 64;
/// The longest length or count line (type byte excluded).
const NUMBER_LINE: u64 = 64;
/// The longest inline command.
const INLINE_LIMIT: u64 = 64 * 1024;

/// The decoders of one connection: `[client, server]`.
pub(super) fn pair(max_frame: u64) -> [Box<dyn Decoder>; 2] {
    [
        Box::new(Resp::new(true, max_frame)),
        Box::new(Resp::new(false, max_frame)),
    ]
}

/// Where the decoder stands in a value (or an inline command).
#[derive(Debug)]
enum State {
    Idle,
    /// The next byte is a value's type byte.
    Type,
    /// The rest of a line whose type byte is given.
    Line(u8),
    Inline,
    /// A bulk payload and its CRLF.
    Bulk(Block),
    Failed(DecodeError),
}

line::place!(State, Bulk);

/// An open aggregate.
#[derive(Debug)]
struct Level {
    left: u64,
    attribute: bool,
    streamed: bool,
}

/// One direction of a RESP connection.
///
/// Invariants: `stack.len() <= MAX_DEPTH`; `name.len() <= Label::CAPACITY`;
/// `text.len <= text.max` outside `Failed` once a line or payload is
/// complete.
struct Resp {
    client: bool,
    text: Text<State>,
    stack: Vec<Level>,
    /// Type byte of the top-level value.
    top: u8,
    /// A top-level client array still waits for its first element.
    first: bool,
    /// The bulk payload being counted is the command name.
    capture: bool,
    name: Vec<u8>,
    /// Inside a streamed string (`$?`): chunks (`;n`) follow.
    streamed_string: bool,
    /// The last few command names (as [`name_key`]s) and their labels.
    recent: [([u64; 4], Label); 4],
}

fn is_type(b: u8) -> bool {
    b"+-:$*_,#!=(%~>|".contains(&b)
}

/// Types whose line holds a length or a count (held and checked).
fn is_counted(b: u8) -> bool {
    b"$!=*~>%|;.".contains(&b)
}

impl Resp {
    fn new(client: bool, max: u64) -> Self {
        Resp {
            client,
            text: Text::new(max),
            stack: Vec::new(),
            top: 0,
            first: false,
            capture: false,
            name: Vec::new(),
            streamed_string: false,
            recent: recent_names(),
        }
    }

    fn label(&self) -> Option<Label> {
        if !self.client {
            Some(Label::from_bytes(&[self.top]))
        } else if !self.name.is_empty() {
            Some(Label::from_bytes(&self.name))
        } else if self.top == b'*' {
            Some(Label::new("*"))
        } else {
            None
        }
    }

    /// The number on a length or count line; `Ok(None)` for `?`.
    fn number(&mut self) -> Result<Option<i64>, DecodeError> {
        let at = self.text.line_start;
        if !self.text.line.has_crlf() {
            return Err(self.text.protocol(at, "RESP line does not end in CRLF"));
        }
        let text = self.text.line.text();
        if text == b"?" {
            return Ok(None);
        }
        let (negative, digits) = match text.strip_prefix(b"-") {
            Some(d) => (true, d),
            None => (false, text),
        };
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return Err(self.text.protocol(at, "invalid RESP length or count"));
        }
        match parse_decimal(digits).and_then(|n| i64::try_from(n).ok()) {
            Some(n) if negative => Ok(Some(-n)),
            Some(n) => Ok(Some(n)),
            None => {
                let value = decimal_i128(digits);
                let kind = DecodeErrorKind::BadLength {
                    value: if negative { -value } else { value },
                    why: "RESP length or count does not fit in 64 bits",
                };
                Err(self.text.fail(at, kind))
            }
        }
    }

    /// A line (type byte `kind`) is complete.
    fn line_done(&mut self, kind: u8) -> Result<Flow, DecodeError> {
        let at = self.text.line_start;
        if self.text.len > self.text.max {
            let len = self.text.len;
            return Err(self.text.too_long(at, len));
        }
        match kind {
            b'$' | b'!' | b'=' | b';' => {
                let Some(n) = self.number()? else {
                    if kind == b'$' && !self.streamed_string {
                        self.streamed_string = true;
                        self.text.state = State::Type;
                        return Ok(Flow::Continue);
                    }
                    return Err(self
                        .text
                        .protocol(at, "streamed length where none is allowed"));
                };
                if n == -1 && kind != b';' {
                    return Ok(self.value_done());
                }
                if n < 0 {
                    let kind = DecodeErrorKind::BadLength {
                        value: i128::from(n),
                        why: "negative RESP length",
                    };
                    return Err(self.text.fail(at, kind));
                }
                let n = n.unsigned_abs();
                if kind == b';' && n == 0 {
                    self.streamed_string = false;
                    return Ok(self.value_done());
                }
                let total = self.text.len.saturating_add(n).saturating_add(2);
                if total > self.text.max {
                    return Err(self.text.too_long(at, total));
                }
                self.capture = self.client && kind == b'$' && self.first && self.stack.len() == 1;
                self.text.state = State::Bulk(Block::new(n, true));
                Ok(Flow::Continue)
            }
            b'*' | b'~' | b'>' | b'%' | b'|' => {
                if self.stack.len() >= MAX_DEPTH {
                    let why = format!("RESP aggregates nested deeper than {MAX_DEPTH}");
                    return Err(self.text.protocol(at, why));
                }
                let Some(n) = self.number()? else {
                    if kind == b'|' {
                        return Err(self.text.protocol(at, "streamed attribute"));
                    }
                    self.push(kind, u64::MAX, true);
                    return Ok(Flow::Continue);
                };
                if n == -1 {
                    return Ok(self.value_done());
                }
                if n < 0 {
                    let kind = DecodeErrorKind::BadLength {
                        value: i128::from(n),
                        why: "negative RESP count",
                    };
                    return Err(self.text.fail(at, kind));
                }
                let pairs = matches!(kind, b'%' | b'|');
                let elements = n.unsigned_abs().saturating_mul(if pairs { 2 } else { 1 });
                let least = self.text.len.saturating_add(elements.saturating_mul(3));
                if least > self.text.max {
                    return Err(self.text.too_long(at, least));
                }
                if elements == 0 {
                    if kind == b'|' {
                        self.text.state = State::Type;
                        return Ok(Flow::Continue);
                    }
                    return Ok(self.value_done());
                }
                self.push(kind, elements, false);
                Ok(Flow::Continue)
            }
            b'.' => {
                if !self.text.line.text().is_empty() || !self.text.line.has_crlf() {
                    return Err(self
                        .text
                        .protocol(at, "malformed end of a streamed aggregate"));
                }
                if !self.stack.last().is_some_and(|l| l.streamed) {
                    return Err(self
                        .text
                        .protocol(at, "end of a streamed aggregate outside one"));
                }
                self.stack.pop();
                Ok(self.value_done())
            }
            _ => Ok(self.value_done()),
        }
    }

    fn push(&mut self, kind: u8, left: u64, streamed: bool) {
        if self.stack.is_empty() && kind == b'*' && self.client {
            self.first = true;
        }
        self.stack.push(Level {
            left,
            attribute: kind == b'|',
            streamed,
        });
        self.text.state = State::Type;
    }

    /// A value is complete: close the aggregates it completes.
    fn value_done(&mut self) -> Flow {
        self.text.state = State::Type;
        self.capture = false;
        loop {
            let depth = self.stack.len();
            let Some(level) = self.stack.last_mut() else {
                return Flow::Ended;
            };
            if depth == 1 {
                self.first = false;
            }
            if level.streamed {
                return Flow::Continue;
            }
            level.left = level.left.saturating_sub(1);
            if level.left > 0 {
                return Flow::Continue;
            }
            if self.stack.pop().is_some_and(|l| l.attribute) {
                // The attributed value itself follows.
                return Flow::Continue;
            }
        }
    }

    /// Bulk payload bytes: while they are the command's name, keep them
    /// for its label.
    fn capture_name(&mut self, body: &[u8]) {
        if self.capture {
            let room = Label::CAPACITY.saturating_sub(self.name.len());
            self.name
                .extend(body.iter().take(room).map(u8::to_ascii_uppercase));
        }
    }

    fn start(&mut self, first: u8) {
        self.text.len = 0;
        self.stack.clear();
        self.name.clear();
        self.first = false;
        self.capture = false;
        self.streamed_string = false;
        self.top = first;
        self.text.start_line();
        self.text.state = if self.client && first != b'*' {
            State::Inline
        } else {
            State::Type
        };
    }

    fn end(&mut self, used: usize) -> Result<Step, DecodeError> {
        let label = self.label();
        self.text.frame(used, label)
    }
}

impl Resp {
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
                    self.start(b);
                }
                State::Type => {
                    let Some(&b) = rest.first() else {
                        return Ok(Step::NeedMore);
                    };
                    let streamed = self.stack.last().is_some_and(|l| l.streamed);
                    let ok = if self.streamed_string {
                        b == b';'
                    } else {
                        is_type(b) || (b == b'.' && streamed)
                    };
                    if !ok {
                        let at = self.text.pos;
                        let why = format!("unknown RESP type byte {b:#04x}");
                        return Err(self.text.protocol(at, why));
                    }
                    self.text.start_line();
                    used += 1;
                    self.text.consume(1);
                    self.text.state = State::Line(b);
                }
                State::Line(kind) => {
                    let text = &self.text;
                    let (keep, limit) = if is_counted(kind) {
                        (NUMBER_LINE as usize, NUMBER_LINE)
                    } else {
                        (
                            0,
                            text.max
                                .saturating_sub(text.len.saturating_sub(text.line.fed())),
                        )
                    };
                    match self.text.feed_line(rest, keep, limit) {
                        Fed::More => return Ok(Step::NeedMore),
                        Fed::TooLong(_) if is_counted(kind) => {
                            let at = self.text.line_start;
                            return Err(self.text.protocol(at, "RESP length line too long"));
                        }
                        Fed::TooLong(_) => {
                            let at = self.text.line_start;
                            let len = self.text.max.saturating_add(1);
                            return Err(self.text.too_long(at, len));
                        }
                        Fed::Done(n) => {
                            used += n;
                            if let Flow::Ended = self.line_done(kind)? {
                                return self.end(used);
                            }
                        }
                    }
                }
                State::Inline => {
                    let limit = INLINE_LIMIT.min(self.text.max);
                    match self.text.feed_line(rest, Label::CAPACITY + 1, limit) {
                        Fed::More => return Ok(Step::NeedMore),
                        Fed::TooLong(_) => {
                            let at = self.text.line_start;
                            return Err(self.text.too_long(at, limit + 1));
                        }
                        Fed::Done(n) => {
                            used += n;
                            let text = self.text.line.text();
                            let word = text
                                .split(|b| b.is_ascii_whitespace())
                                .find(|w| !w.is_empty())
                                .unwrap_or_default();
                            self.name = word
                                .iter()
                                .take(Label::CAPACITY)
                                .map(u8::to_ascii_uppercase)
                                .collect();
                            return self.end(used);
                        }
                    }
                }
                State::Bulk(ref mut block) => {
                    let fill = block.feed(rest);
                    match self.text.fill(rest, fill) {
                        Fill::More { body } => {
                            self.capture_name(body);
                            return Ok(Step::NeedMore);
                        }
                        Fill::NoCrlf { .. } => {
                            let at = self.text.pos;
                            let why = "RESP bulk payload not followed by CRLF";
                            return Err(self.text.protocol(at, why));
                        }
                        Fill::Done { used: n, body } => {
                            self.capture_name(body);
                            used += n;
                            if self.streamed_string {
                                self.text.state = State::Type;
                            } else if let Flow::Ended = self.value_done() {
                                return self.end(used);
                            }
                        }
                    }
                }
            }
        }
    }
}

impl Resp {
    /// The common messages read in one pass when the whole message is in
    /// `input`: an array of bulk strings (every command, most array
    /// replies), a bulk string, or a simple line (`+OK`, `-ERR`, `:1`).
    /// Returns the message's length and label, or `None` for anything else,
    /// including anything the general path would reject, which then reads
    /// it (and reports what is wrong) byte by byte. The answer is the
    /// general path's: the decoder fuzz target feeds the same bytes whole
    /// (this path) and in pieces (the general one) and compares.
    /// The label is `None` when not `labelled`.
    #[inline(always)]
    fn fast_message(&mut self, input: &[u8], labelled: bool) -> Option<(usize, Option<Label>)> {
        let (end, top, name) = whole_message(input, self.client)?;
        let label = if !labelled {
            None
        } else if top != b'*' || !self.client {
            Some(Label::of_byte(top))
        } else {
            Some(self.command_label(input, name.0, name.1.min(Label::CAPACITY)))
        };
        (end as u64 <= self.text.max).then_some((end, label))
    }

    /// The messages the fast path finds at the start of `input`, taken
    /// from what was found ahead ([`crate::decode::ahead`]) when `input` is a payload (or
    /// the rest of one) listed there. Returns where the messages taken end,
    /// and whether the fast path is to go on from there (it is not after a
    /// message a client does not send, one past `input`'s end or one
    /// over the largest frame: there the fast path would stop too).
    fn hinted(&mut self, input: &[u8], run: &mut Run) -> (usize, bool) {
        let Some(hints) = run.hints.as_mut() else {
            return (0, true);
        };
        let Some(listed) = hints.at(input) else {
            return (0, true);
        };
        run.hinted += 1;
        let mut at = 0usize;
        let mut index = listed.from;
        while index < listed.to && !run.is_full() {
            let Some(hints) = run.hints.as_ref() else {
                break;
            };
            let m = hints.msg(index);
            let end = (m.end - listed.base) as usize;
            if end > input.len() || (end - at) as u64 > self.text.max {
                return (at, false);
            }
            if self.client && m.top != b'*' {
                return (at, false);
            }
            let label = if !run.wants_label() {
                None
            } else if !self.client {
                Some(Label::of_byte(m.top))
            } else {
                match hints.label(m.label) {
                    Some(label) => Some(label),
                    None => break,
                }
            };
            run.push(end, label);
            at = end;
            index += 1;
        }
        if let Some(hints) = run.hints.as_mut() {
            hints.taken(&listed, index, listed.base + at as u32);
        }
        (at, true)
    }
}

/// One whole message at the start of `input` as the fast path reads it
/// (a client's: arrays of bulk strings only): its length, its first byte,
/// and where the bytes of an array's first element (a command's name)
/// are. `None` when the message is not whole in `input`, or anything the
/// fast path leaves to the general one.
#[inline(always)]
fn whole_message(input: &[u8], client: bool) -> Option<(usize, u8, (usize, usize))> {
    let top = *input.first()?;
    match top {
        b'*' => {
            let Some((count, mut at)) = count_line(input, 1) else {
                return null(input, client);
            };
            if count == 0 || count > 4096 {
                return None;
            }
            let mut name = (0, 0);
            for i in 0..count {
                if *input.get(at)? != b'$' {
                    return None;
                }
                let (len, body) = count_line(input, at + 1)?;
                let end = body.checked_add(len)?;
                if input.get(end..end + 2)? != b"\r\n" {
                    return None;
                }
                if i == 0 {
                    name = (body, len);
                }
                at = end + 2;
            }
            Some((at, top, name))
        }
        b'$' if !client => {
            let Some((len, body)) = count_line(input, 1) else {
                return null(input, client);
            };
            let end = body.checked_add(len)?;
            if input.get(end..end + 2)? != b"\r\n" {
                return None;
            }
            Some((end + 2, top, (0, 0)))
        }
        b'+' | b'-' | b':' if !client => {
            let nl = input.iter().position(|&b| b == b'\n')?;
            Some((nl + 1, top, (0, 0)))
        }
        _ => None,
    }
}

/// A server's null bulk string or array (`$-1\r\n`, `*-1\r\n`) at the
/// start of `input`, as [`whole_message`] gives it: Redis replies so to a
/// read of a missing key or an empty list.
#[cold]
fn null(input: &[u8], client: bool) -> Option<(usize, u8, (usize, usize))> {
    let top = *input.first()?;
    (!client && input.get(1..5)? == b"-1\r\n").then_some((5, top, (0, 0)))
}

/// Lists in `found` the whole messages at the start of `payload` that the
/// fast path finds, read as a server's (a client's are the arrays among
/// the first of them), each with its command's label when it is an array;
/// the bytes alone decide (see [`crate::decode::ahead`]). `recent` keeps
/// the last names' label indices in `found` (which keeps its labels from
/// chunk to chunk, [`Found::next`]). Stops at a bound of `found`.
pub(crate) fn scan_ahead(payload: &[u8], found: &mut Found, recent: &mut [([u64; 4], u8); 4]) {
    let mut at = 0;
    if payload.is_empty() || !found.begin(payload) {
        return;
    }
    while let Some((len, top, name)) = whole_message(&payload[at..], false) {
        let mut label = NO_LABEL;
        if top == b'*' {
            let (start, n) = (at + name.0, name.1.min(Label::CAPACITY));
            let key = name_key(payload, start, n);
            // Word by word, as in `command_label`.
            let seen = recent.iter().find(|(seen, _)| {
                seen[0] == key[0] && seen[3] == key[3] && seen[1] == key[1] && seen[2] == key[2]
            });
            label = match seen {
                Some(&(_, index)) => index,
                None => {
                    let Some(index) = found.intern(name_label(&payload[start..start + n])) else {
                        break;
                    };
                    recent.rotate_right(1);
                    recent[0] = (key, index);
                    index
                }
            };
        }
        at += len;
        if !found.push(at, top, label) {
            break;
        }
    }
    found.finish();
}

/// A cache of the last command names' labels, filled with the empty
/// name's (labelled `*`, as the general path does).
fn recent_names() -> [([u64; 4], Label); 4] {
    [(name_key(b"", 0, 0), Label::new("*")); 4]
}

/// A cache of the last command names' label indices for [`scan_ahead`],
/// filled with a key no name has (a length byte above
/// [`Label::CAPACITY`]).
pub(super) fn recent_indices() -> [([u64; 4], u8); 4] {
    [([0, 0, 0, u64::MAX], NO_LABEL); 4]
}

/// The label of a command name of at most [`Label::CAPACITY`] bytes: the
/// name in capitals, `*` when empty.
fn name_label(name: &[u8]) -> Label {
    let mut upper = [0u8; Label::CAPACITY];
    for (u, b) in upper.iter_mut().zip(name) {
        *u = b.to_ascii_uppercase();
    }
    if name.is_empty() {
        Label::new("*")
    } else {
        Label::from_bytes(&upper[..name.len()])
    }
}

impl Resp {
    /// The label of a command named `raw` (at most [`Label::CAPACITY`]
    /// bytes, any case). Commands repeat, so the last few labels are kept
    /// and a repeated name costs a short comparison.
    fn command_label(&mut self, input: &[u8], start: usize, n: usize) -> Label {
        let key = name_key(input, start, n);
        for (seen, label) in &self.recent {
            // Word by word: the key was just stored in words, and one
            // wider load of it would wait for the stores.
            if seen[0] == key[0] && seen[3] == key[3] && seen[1] == key[1] && seen[2] == key[2] {
                return *label;
            }
        }
        let label = name_label(&input[start..start + n]);
        self.recent.rotate_right(1);
        self.recent[0] = (key, label);
        label
    }
}

/// The `n` bytes (at most [`Label::CAPACITY`]) of `input` at `start` as
/// four zero-padded little-endian words, with `n` in the last byte: two
/// names are equal when their keys are, and comparing keys costs a few
/// word comparisons instead of a call to compare bytes.
#[inline(always)]
fn name_key(input: &[u8], start: usize, n: usize) -> [u64; 4] {
    const _: () = assert!(Label::CAPACITY < 32);
    let mut words = [0u64; 4];
    match input.get(start..start + 8) {
        Some(window) if n <= 8 => {
            // Most names: one load and a mask.
            let word = u64::from_le_bytes(window.try_into().unwrap_or_default());
            words[0] = if n == 8 {
                word
            } else {
                word & ((1u64 << (n * 8)) - 1)
            };
        }
        _ => {
            for (i, &b) in input[start..start + n].iter().enumerate() {
                words[i / 8] |= u64::from(b) << ((i % 8) * 8);
            }
        }
    }
    words[3] |= (n as u64) << 56;
    words
}

/// A non-negative decimal count or length at `at`, ending in CRLF: the
/// value and the offset after the CRLF. `None` for anything else (signs,
/// `?`, long or malformed lines).
#[inline(always)]
fn count_line(input: &[u8], at: usize) -> Option<(usize, usize)> {
    // Counts and lengths of one or two digits are most of them.
    if let Some(&[a, b, c, d]) = input.get(at..at + 4) {
        let (a, b) = (a.wrapping_sub(b'0'), b.wrapping_sub(b'0'));
        if a <= 9 {
            if b == b'\r'.wrapping_sub(b'0') && c == b'\n' {
                return Some((usize::from(a), at + 3));
            }
            if b <= 9 && c == b'\r' && d == b'\n' {
                return Some((usize::from(a * 10 + b), at + 4));
            }
        }
    }
    count_line_long(input, at)
}

/// [`count_line`] for any number of digits.
fn count_line_long(input: &[u8], at: usize) -> Option<(usize, usize)> {
    let line = input.get(at..)?;
    let mut value: usize = 0;
    let mut digits = 0;
    for &b in line.iter().take(19) {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        value = value * 10 + usize::from(d);
        digits += 1;
    }
    if digits == 0 || digits > 18 || line.get(digits..digits + 2)? != b"\r\n" {
        return None;
    }
    Some((value, at + digits + 2))
}

impl Decoder for Resp {
    fn decode(&mut self, input: &[u8]) -> Result<Step, DecodeError> {
        let call = self.text.begin()?;
        if matches!(self.text.state, State::Idle) {
            if let Some((consumed, label)) = self.fast_message(input, true) {
                self.text.whole(input, consumed);
                return Ok(Step::Frame { consumed, label });
            }
        }
        let step = self.step(input);
        self.text.track(input, call, step)
    }

    fn decode_run(&mut self, input: &[u8], run: &mut Run) {
        if !matches!(self.text.state, State::Idle) {
            return;
        }
        let (mut at, more) = self.hinted(input, run);
        while more && !run.is_full() {
            let Some((len, label)) = self.fast_message(&input[at..], run.wants_label()) else {
                break;
            };
            at += len;
            run.push(at, label);
        }
        self.text.whole(input, at);
    }

    fn finish(&mut self) -> End {
        let last = self.stack.is_empty() && !self.streamed_string;
        self.text.finish(last)
    }

    fn skip(&mut self, len: u64) -> bool {
        let counted = self.text.skip(len);
        if counted {
            self.capture = false;
        }
        counted
    }

    fn resync(&mut self, input: &[u8]) -> Option<usize> {
        let client = self.client;
        self.text.resync(
            input,
            move |b: u8| if client { b == b'*' } else { is_type(b) },
        )
    }

    fn can_resync(&self) -> bool {
        true
    }

    fn max_frame(&self) -> u64 {
        self.text.max
    }
}

/// Whether a whole client message asks the server to end the session:
/// `QUIT`, as an array (`*1\r\n$4\r\nQUIT\r\n`) or inline.
pub(super) fn ends_session(message: &[u8]) -> bool {
    let quit = |m: &[u8]| m.eq_ignore_ascii_case(b"QUIT\r\n") || m.eq_ignore_ascii_case(b"QUIT\n");
    quit(message) || message.strip_prefix(b"*1\r\n$4\r\n").is_some_and(quit)
}
