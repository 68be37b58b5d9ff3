//! HTTP/1.x (RFC 9112): requests and responses, and the protocols an HTTP/1
//! connection turns into.
//!
//! ```text
//!  request   GET /a HTTP/1.1\r\n          start line   ─┐ header block, held
//!            Host: x\r\n                  field lines   │ line by line, at most
//!            Content-Length: 5\r\n                      │ 64 KiB (and max_frame)
//!            \r\n                         end of header ─┘
//!            hello                        body: counted
//!
//!  chunked   HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n
//!            5;ext\r\n  hello  \r\n       chunk-size line, data (counted), CRLF
//!            0\r\n                        last chunk
//!            Trailer: v\r\n  \r\n         trailer section, then the message ends
//! ```
//!
//! One message is one request or one response, header block and body. The
//! body length follows RFC 9112 §6.3, in this order:
//!
//! 1. a response to `HEAD`, a `1xx`, `204` or `304` response has no body;
//! 2. a `2xx` response to `CONNECT` and a `101 Switching Protocols` response
//!    end the message at their header block and switch the connection;
//! 3. `Transfer-Encoding` whose final coding is `chunked`: chunked body;
//!    other codings: a response body runs to the close of the connection, a
//!    request is an error. A request with both `Transfer-Encoding` and
//!    `Content-Length` is an error (the smuggling ambiguity); a response
//!    with both follows `Transfer-Encoding`;
//! 4. `Content-Length` (identical repeated values allowed);
//! 5. otherwise a request has no body and a response runs to the close of
//!    the connection ([`End::Frame`] at finish).
//!
//! The two directions share state: the request decoder queues each request's
//! method (at most 1024 outstanding, the oldest dropped beyond) so that the
//! response decoder knows a response to `HEAD` or `CONNECT`; a response
//! with no request seen (a capture that starts mid-stream) counts as a
//! response to `GET`. Interim `1xx` responses other than `101` do not use
//! up a request.
//!
//! After a switch, both directions stop speaking HTTP/1 at their next
//! message: `Upgrade: websocket` gives WebSocket frames, `Upgrade: h2c`
//! gives HTTP/2 (client preface, then frames), anything else (including a
//! `CONNECT` tunnel) is a tunnel: TLS records when its first byte is a TLS
//! content type, otherwise one opaque message running to the close of the
//! connection, labelled `tunnel`. Labels: the request method, the response
//! status code.
//!
//! After an error, [`Decoder::resync`] resumes at the next line that starts
//! like a start line (an upper-case letter for requests, `H` for
//! responses).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use super::line::{Fed, Line, Resume};
use super::{http2, tls, websocket};
use crate::decode::{DecodeError, DecodeErrorKind, Decoder, End, Label, Step};

/// The most bytes of a header block (or trailer section).
pub const HEADER_LIMIT: u64 = 64 * 1024;
/// The most bytes of a chunk-size line (chunk extensions included).
const CHUNK_LINE_LIMIT: u64 = 4096;
/// The most requests awaiting a response that are remembered.
const MAX_PENDING: usize = 1024;

/// The two decoders of one HTTP/1 connection: `[requests, responses]`.
pub(super) fn pair(max_frame: u64) -> [Box<dyn Decoder>; 2] {
    let shared = Rc::new(RefCell::new(Shared::default()));
    [
        Box::new(Http1::new(Side::Request, Rc::clone(&shared), max_frame)),
        Box::new(Http1::new(Side::Response, shared, max_frame)),
    ]
}

#[derive(Default)]
struct Shared {
    pending: VecDeque<Request>,
    switch: Option<Switch>,
}

#[derive(Clone, Copy, Default)]
struct Request {
    head: bool,
    connect: bool,
}

/// What the connection turns into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Switch {
    WebSocket,
    Http2,
    Tunnel,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Request,
    Response,
}

/// What a completed header line leads to.
enum Next {
    /// More header lines follow.
    More,
    /// The message ended with its header block.
    Ended,
    /// A body follows (the phase is set).
    Body,
}

enum Phase {
    Idle,
    Head,
    Body(u64),
    ChunkSize,
    ChunkData(u64),
    /// Bytes of the CRLF after chunk data seen so far (0 or 1).
    ChunkEnd(u8),
    Trailer,
    UntilClose,
    Switched {
        inner: Box<dyn Decoder>,
        base: u64,
    },
    Failed(DecodeError),
}

/// What the header block of the message in progress said.
#[derive(Default)]
struct Message {
    start: u64,
    len: u64,
    label: Option<Label>,
    started: bool,
    /// Bytes of the header block (or trailer section) so far.
    head_bytes: u64,
    line_start: u64,
    content_length: Option<(u64, u64)>,
    transfer_encoding: Option<u64>,
    chunked: bool,
    upgrade: Option<Switch>,
    status: u16,
    request: Request,
}

/// One direction of an HTTP/1 connection.
pub(super) struct Http1 {
    side: Side,
    shared: Rc<RefCell<Shared>>,
    max: u64,
    header_limit: u64,
    pos: u64,
    phase: Phase,
    msg: Message,
    line: Line,
    resume: Resume,
}

impl Http1 {
    fn new(side: Side, shared: Rc<RefCell<Shared>>, max_frame: u64) -> Self {
        Http1 {
            side,
            shared,
            max: max_frame,
            header_limit: HEADER_LIMIT.min(max_frame),
            pos: 0,
            phase: Phase::Idle,
            msg: Message::default(),
            line: Line::default(),
            resume: Resume::default(),
        }
    }

    fn fail(&mut self, offset: u64, kind: DecodeErrorKind) -> DecodeError {
        let error = DecodeError::new(offset, kind);
        self.phase = Phase::Failed(error.clone());
        error
    }

    fn consume(&mut self, n: usize) {
        self.pos += n as u64;
        self.msg.len += n as u64;
    }

    /// The message ends: go idle and hand back its label.
    fn end(&mut self) -> Option<Label> {
        self.phase = Phase::Idle;
        self.msg.label.take()
    }

    fn header_line(&mut self) -> Result<Next, DecodeError> {
        let at = self.msg.line_start;
        if !self.msg.started {
            if self.line.text().is_empty() {
                // RFC 9112 §2.2: empty lines before a start line are ignored.
                return Ok(Next::More);
            }
            self.start_line(at)?;
            return Ok(Next::More);
        }
        let text = self.line.text();
        if text.is_empty() {
            return self.header_end();
        }
        if text.starts_with(b" ") || text.starts_with(b"\t") {
            // An obsolete line folding continues the previous field: framing
            // does not depend on it.
            return Ok(Next::More);
        }
        let Some(colon) = text.iter().position(|&b| b == b':') else {
            return Err(self.bad_header(at, "header field line without a colon"));
        };
        let (name, value) = text.split_at(colon);
        let value = trim(value.get(1..).unwrap_or_default());
        if name.is_empty() || name.iter().any(|b| !is_tchar(*b)) {
            return Err(self.bad_header(at, "invalid header field name"));
        }
        if name.eq_ignore_ascii_case(b"content-length") {
            let value = value.to_vec();
            self.content_length(&value, at)?;
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            self.msg.transfer_encoding = Some(at);
            let last = value.rsplit(|&b| b == b',').next().unwrap_or_default();
            let coding = trim(last.split(|&b| b == b';').next().unwrap_or_default());
            self.msg.chunked = coding.eq_ignore_ascii_case(b"chunked");
        } else if name.eq_ignore_ascii_case(b"upgrade") {
            let first = value.split(|&b| b == b',').next().unwrap_or_default();
            let proto = trim(first.split(|&b| b == b'/').next().unwrap_or_default());
            self.msg.upgrade = Some(if proto.eq_ignore_ascii_case(b"websocket") {
                Switch::WebSocket
            } else if proto.eq_ignore_ascii_case(b"h2c") {
                Switch::Http2
            } else {
                Switch::Tunnel
            });
        }
        Ok(Next::More)
    }

    fn bad_header(&mut self, at: u64, why: &str) -> DecodeError {
        self.fail(at, DecodeErrorKind::BadHeader(why.to_string()))
    }

    fn start_line(&mut self, at: u64) -> Result<(), DecodeError> {
        let text = self.line.text();
        match self.side {
            Side::Request => {
                let Some(method) = parse_request_line(text) else {
                    return Err(self.bad_header(at, "malformed request line"));
                };
                let request = Request {
                    head: method == b"HEAD",
                    connect: method == b"CONNECT",
                };
                self.msg.label = Some(Label::from_bytes(method));
                let mut shared = self.shared.borrow_mut();
                if shared.pending.len() >= MAX_PENDING {
                    shared.pending.pop_front();
                }
                shared.pending.push_back(request);
            }
            Side::Response => {
                let Some(status) = parse_status_line(text) else {
                    return Err(self.bad_header(at, "malformed status line"));
                };
                self.msg.status = status;
                self.msg.label = Some(Label::new(&status.to_string()));
                if status >= 200 || status == 101 {
                    let mut shared = self.shared.borrow_mut();
                    self.msg.request = shared.pending.pop_front().unwrap_or_default();
                }
            }
        }
        self.msg.started = true;
        Ok(())
    }

    fn content_length(&mut self, value: &[u8], at: u64) -> Result<(), DecodeError> {
        let mut found: Option<u64> = None;
        for part in value.split(|&b| b == b',') {
            let part = trim(part);
            if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
                return Err(self.bad_header(at, "invalid Content-Length"));
            }
            let Some(n) = parse_decimal(part) else {
                let kind = DecodeErrorKind::BadLength {
                    value: decimal_i128(part),
                    why: "Content-Length does not fit in 64 bits",
                };
                return Err(self.fail(at, kind));
            };
            if found.is_some_and(|f| f != n) {
                return Err(self.bad_header(at, "conflicting Content-Length values"));
            }
            found = Some(n);
        }
        if let (Some(n), Some((old, _))) = (found, self.msg.content_length) {
            if n != old {
                return Err(self.bad_header(at, "conflicting Content-Length values"));
            }
        }
        if let Some(n) = found {
            self.msg.content_length = Some((n, at));
        }
        Ok(())
    }

    /// The header block ended: decide the body.
    fn header_end(&mut self) -> Result<Next, DecodeError> {
        let msg = &self.msg;
        let te = msg.transfer_encoding;
        if self.side == Side::Response {
            let status = msg.status;
            if status == 101 {
                self.shared.borrow_mut().switch = Some(msg.upgrade.unwrap_or(Switch::Tunnel));
                return Ok(Next::Ended);
            }
            if (100..200).contains(&status) || status == 204 || status == 304 || msg.request.head {
                return Ok(Next::Ended);
            }
            if msg.request.connect && (200..300).contains(&status) {
                self.shared.borrow_mut().switch = Some(Switch::Tunnel);
                return Ok(Next::Ended);
            }
            if te.is_some() {
                if msg.chunked {
                    return self.body(Phase::ChunkSize);
                }
                return self.body(Phase::UntilClose);
            }
        } else if let Some(at) = te {
            if msg.content_length.is_some() {
                return Err(
                    self.bad_header(at, "request has both Transfer-Encoding and Content-Length")
                );
            }
            if !msg.chunked {
                return Err(self.bad_header(at, "request Transfer-Encoding is not chunked"));
            }
            return self.body(Phase::ChunkSize);
        }
        match self.msg.content_length {
            Some((0, _)) => Ok(Next::Ended),
            Some((n, at)) => {
                let total = self.msg.len.saturating_add(n);
                if total > self.max {
                    let max = self.max;
                    return Err(self.fail(at, DecodeErrorKind::TooLong { len: total, max }));
                }
                self.body(Phase::Body(n))
            }
            None if self.side == Side::Request => Ok(Next::Ended),
            None => self.body(Phase::UntilClose),
        }
    }

    /// A body follows the header block.
    fn body(&mut self, phase: Phase) -> Result<Next, DecodeError> {
        self.line.clear();
        self.msg.line_start = self.pos;
        self.phase = phase;
        Ok(Next::Body)
    }

    fn switch(&mut self, switch: Switch) {
        let inner: Box<dyn Decoder> = match (switch, self.side) {
            (Switch::WebSocket, _) => websocket::decoder(self.max),
            (Switch::Http2, Side::Request) => http2::decoder(true, self.max),
            (Switch::Http2, Side::Response) => http2::decoder(false, self.max),
            (Switch::Tunnel, _) => Box::new(Tunnel::new(self.max)),
        };
        self.phase = Phase::Switched {
            inner,
            base: self.pos,
        };
    }

    /// One decode call, without the resume bookkeeping.
    fn step(&mut self, input: &[u8]) -> Result<Step, DecodeError> {
        let mut used = 0usize;
        loop {
            let rest = input.get(used..).unwrap_or_default();
            match &mut self.phase {
                Phase::Failed(error) => return Err(error.clone()),
                Phase::Switched { inner, base } => {
                    let base = *base;
                    return match inner.decode(rest) {
                        Ok(Step::NeedMore) => {
                            self.pos += rest.len() as u64;
                            Ok(Step::NeedMore)
                        }
                        Ok(Step::Frame { consumed, label }) => {
                            self.pos += consumed as u64;
                            Ok(Step::Frame {
                                consumed: used + consumed,
                                label,
                            })
                        }
                        Err(mut error) => {
                            error.offset = error.offset.saturating_add(base);
                            Err(error)
                        }
                    };
                }
                Phase::Idle => {
                    if rest.is_empty() {
                        return Ok(Step::NeedMore);
                    }
                    let switch = self.shared.borrow().switch;
                    if let Some(switch) = switch {
                        self.switch(switch);
                        continue;
                    }
                    self.msg = Message {
                        start: self.pos,
                        line_start: self.pos,
                        ..Message::default()
                    };
                    self.line.clear();
                    self.phase = Phase::Head;
                }
                Phase::Head | Phase::Trailer => {
                    // The current line's bytes fed so far are in head_bytes
                    // already: the limit counts from the line's start.
                    let before = self.msg.head_bytes.saturating_sub(self.line.fed());
                    let limit = self.header_limit.saturating_sub(before);
                    match self.line.feed(rest, usize::MAX, limit) {
                        Fed::More => {
                            self.msg.head_bytes += rest.len() as u64;
                            self.consume(rest.len());
                            return Ok(Step::NeedMore);
                        }
                        Fed::TooLong(n) => {
                            self.msg.head_bytes += n as u64;
                            self.consume(n);
                            let at = self.msg.start;
                            let kind = DecodeErrorKind::TooLong {
                                len: self.header_limit + 1,
                                max: self.header_limit,
                            };
                            return Err(self.fail(at, kind));
                        }
                        Fed::Done(n) => {
                            used += n;
                            self.msg.head_bytes += n as u64;
                            self.consume(n);
                            if matches!(self.phase, Phase::Trailer) {
                                if self.line.text().is_empty() {
                                    let label = self.end();
                                    return Ok(Step::Frame {
                                        consumed: used,
                                        label,
                                    });
                                }
                                self.line.clear();
                                self.msg.line_start = self.pos;
                                continue;
                            }
                            match self.header_line()? {
                                Next::More => {
                                    self.line.clear();
                                    self.msg.line_start = self.pos;
                                }
                                Next::Body => {}
                                Next::Ended => {
                                    let label = self.end();
                                    return Ok(Step::Frame {
                                        consumed: used,
                                        label,
                                    });
                                }
                            }
                        }
                    }
                }
                Phase::Body(left) | Phase::ChunkData(left) => {
                    let take = (*left).min(rest.len() as u64);
                    *left -= take;
                    let done = *left == 0;
                    used += take as usize;
                    self.consume(take as usize);
                    if !done {
                        return Ok(Step::NeedMore);
                    }
                    if matches!(self.phase, Phase::ChunkData(_)) {
                        self.phase = Phase::ChunkEnd(0);
                    } else {
                        let label = self.end();
                        return Ok(Step::Frame {
                            consumed: used,
                            label,
                        });
                    }
                }
                Phase::ChunkEnd(seen) => {
                    let seen = *seen;
                    let Some(&b) = rest.first() else {
                        return Ok(Step::NeedMore);
                    };
                    match (seen, b) {
                        (0, b'\r') => self.phase = Phase::ChunkEnd(1),
                        (_, b'\n') => {
                            self.phase = Phase::ChunkSize;
                            self.line.clear();
                            self.msg.line_start = self.pos + 1;
                        }
                        _ => {
                            let at = self.pos;
                            let why = "chunk data not followed by CRLF".to_string();
                            return Err(self.fail(at, DecodeErrorKind::Protocol(why)));
                        }
                    }
                    used += 1;
                    self.consume(1);
                }
                Phase::ChunkSize => match self.line.feed(rest, 64, CHUNK_LINE_LIMIT) {
                    Fed::More => {
                        self.consume(rest.len());
                        return Ok(Step::NeedMore);
                    }
                    Fed::TooLong(n) => {
                        self.consume(n);
                        let at = self.msg.line_start;
                        let why = format!("chunk-size line longer than {CHUNK_LINE_LIMIT} bytes");
                        return Err(self.bad_header(at, &why));
                    }
                    Fed::Done(n) => {
                        used += n;
                        self.consume(n);
                        self.chunk_size()?;
                    }
                },
                Phase::UntilClose => {
                    let total = self.msg.len.saturating_add(rest.len() as u64);
                    if total > self.max {
                        // Fail at the first byte past the maximum.
                        let past = self.max + 1 - self.msg.len;
                        self.consume(past as usize);
                        let at = self.msg.start;
                        let kind = DecodeErrorKind::TooLong {
                            len: self.max + 1,
                            max: self.max,
                        };
                        return Err(self.fail(at, kind));
                    }
                    self.consume(rest.len());
                    return Ok(Step::NeedMore);
                }
            }
        }
    }

    fn chunk_size(&mut self) -> Result<(), DecodeError> {
        let at = self.msg.line_start;
        let text = self.line.text();
        let size = text.split(|&b| b == b';').next().unwrap_or_default();
        let size = trim(size);
        if size.is_empty() || !size.iter().all(u8::is_ascii_hexdigit) {
            return Err(self.bad_header(at, "invalid chunk size"));
        }
        let digits = trim_leading_zeros(size);
        if digits.len() > 16 {
            let kind = DecodeErrorKind::BadLength {
                value: i128::MAX,
                why: "chunk size does not fit in 64 bits",
            };
            return Err(self.fail(at, kind));
        }
        let n = digits
            .iter()
            .fold(0u64, |acc, &b| (acc << 4) | u64::from(hex_value(b)));
        // The chunk's data and its CRLF must fit.
        let total = self.msg.len.saturating_add(n).saturating_add(2);
        if n > 0 && total > self.max {
            let max = self.max;
            return Err(self.fail(at, DecodeErrorKind::TooLong { len: total, max }));
        }
        self.line.clear();
        self.msg.line_start = self.pos;
        self.phase = if n == 0 {
            self.msg.head_bytes = 0;
            Phase::Trailer
        } else {
            Phase::ChunkData(n)
        };
        Ok(())
    }
}

impl Decoder for Http1 {
    fn decode(&mut self, input: &[u8]) -> Result<Step, DecodeError> {
        if let Phase::Failed(error) = &self.phase {
            return Err(error.clone());
        }
        let call = self.pos;
        let step = self.step(input);
        self.resume.track(input, &mut self.pos, call, step)
    }

    fn finish(&mut self) -> End {
        match &mut self.phase {
            Phase::Idle => End::Clean,
            Phase::Body(left) => End::Truncated {
                missing: Some(*left),
            },
            Phase::UntilClose => End::Frame {
                label: self.msg.label.take(),
            },
            Phase::Switched { inner, .. } => inner.finish(),
            _ => End::Truncated { missing: None },
        }
    }

    fn skip(&mut self, len: u64) -> bool {
        let at = self.pos;
        self.pos = self.pos.saturating_add(len);
        match &mut self.phase {
            Phase::Body(left) | Phase::ChunkData(left) if len < *left => {
                *left -= len;
                self.msg.len += len;
                return true;
            }
            Phase::UntilClose if self.msg.len.saturating_add(len) <= self.max => {
                self.msg.len += len;
                return true;
            }
            Phase::Switched { inner, .. } => return inner.skip(len),
            _ => {}
        }
        // The place is lost from the gap's start.
        self.pos = at;
        self.phase = Phase::Failed(self.resume.lost(&mut self.pos, len));
        false
    }

    fn resync(&mut self, input: &[u8]) -> Option<usize> {
        if let Phase::Switched { inner, .. } = &mut self.phase {
            let found = inner.resync(input);
            self.pos += found.unwrap_or(input.len()) as u64;
            return found;
        }
        let accept = match self.side {
            Side::Request => |b: u8| b.is_ascii_uppercase(),
            Side::Response => |b: u8| b == b'H',
        };
        let at = self.resume.resync(input, &mut self.pos, accept)?;
        self.phase = Phase::Idle;
        Some(at)
    }

    fn can_resync(&self) -> bool {
        match &self.phase {
            Phase::Switched { inner, .. } => inner.can_resync(),
            _ => true,
        }
    }

    fn max_frame(&self) -> u64 {
        self.max
    }
}

/// A tunnel: TLS records when the first byte is a TLS content type, else
/// one opaque message to the close of the connection.
struct Tunnel {
    max: u64,
    tls: Option<Box<dyn Decoder>>,
    len: u64,
}

impl Tunnel {
    fn new(max: u64) -> Self {
        Tunnel {
            max,
            tls: None,
            len: 0,
        }
    }
}

impl Decoder for Tunnel {
    fn decode(&mut self, input: &[u8]) -> Result<Step, DecodeError> {
        if self.len == 0 && self.tls.is_none() {
            match input.first() {
                None => return Ok(Step::NeedMore),
                Some(b) if tls::is_content_type(*b) => self.tls = Some(tls::decoder(self.max)),
                Some(_) => {}
            }
        }
        if let Some(tls) = &mut self.tls {
            return tls.decode(input);
        }
        self.len = self.len.saturating_add(input.len() as u64);
        if self.len > self.max {
            let kind = DecodeErrorKind::TooLong {
                len: self.max + 1,
                max: self.max,
            };
            return Err(DecodeError::new(0, kind));
        }
        Ok(Step::NeedMore)
    }

    fn finish(&mut self) -> End {
        match &mut self.tls {
            Some(tls) => tls.finish(),
            None if self.len > 0 => End::Frame {
                label: Some(Label::new("tunnel")),
            },
            None => End::Clean,
        }
    }

    fn skip(&mut self, len: u64) -> bool {
        match &mut self.tls {
            Some(tls) => tls.skip(len),
            None if self.len > 0 => {
                self.len = self.len.saturating_add(len);
                self.len <= self.max
            }
            None => false,
        }
    }

    fn max_frame(&self) -> u64 {
        self.max
    }
}

/// `method SP target SP HTTP/d.d`: the method, when well formed.
fn parse_request_line(text: &[u8]) -> Option<&[u8]> {
    let sp = text.iter().position(|&b| b == b' ')?;
    let (method, rest) = text.split_at(sp);
    let last = rest.iter().rposition(|&b| b == b' ')?;
    let target = rest.get(1..last)?;
    let version = rest.get(last + 1..)?;
    let ok = !method.is_empty()
        && method.len() <= 32
        && method.iter().all(|&b| is_tchar(b))
        && !target.is_empty()
        && !target.contains(&b' ')
        && is_version(version);
    ok.then_some(method)
}

/// `HTTP/d.d SP ddd [SP reason]`: the status code, when well formed.
fn parse_status_line(text: &[u8]) -> Option<u16> {
    let version = text.get(..8)?;
    if !is_version(version) || text.get(8) != Some(&b' ') {
        return None;
    }
    let code = text.get(9..12)?;
    if !code.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if !matches!(text.get(12), None | Some(b' ')) {
        return None;
    }
    let status = code
        .iter()
        .fold(0u16, |acc, &b| acc * 10 + u16::from(b - b'0'));
    (status >= 100).then_some(status)
}

fn is_version(v: &[u8]) -> bool {
    matches!(v, [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
        if major.is_ascii_digit() && minor.is_ascii_digit())
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(start, |i| i + 1);
    bytes.get(start..end).unwrap_or_default()
}

fn trim_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != b'0').unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

fn hex_value(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        b'A'..=b'F' => b - b'A' + 10,
        _ => 0,
    }
}

/// A run of ASCII digits as a `u64`, `None` on overflow.
pub(super) fn parse_decimal(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |acc, &b| {
        acc.checked_mul(10)?
            .checked_add(u64::from(b.wrapping_sub(b'0')))
    })
}

/// A run of ASCII digits as an `i128`, saturating: for error reports.
pub(super) fn decimal_i128(digits: &[u8]) -> i128 {
    digits.iter().fold(0i128, |acc, &b| {
        acc.saturating_mul(10)
            .saturating_add(i128::from(b.wrapping_sub(b'0')))
    })
}

/// Whether a whole client message asks the server to end the session: a
/// request with `Connection: close`, or an HTTP/1.0 request without
/// `Connection: keep-alive`.
pub(super) fn ends_session(message: &[u8]) -> bool {
    let head = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(message, |end| message.split_at(end).0);
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| trim(l.strip_suffix(b"\r").unwrap_or(l)));
    let Some(request) = lines.next() else {
        return false;
    };
    let mut close = request.ends_with(b"HTTP/1.0");
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = line.split_at(colon);
        if !name.eq_ignore_ascii_case(b"connection") {
            continue;
        }
        for token in value
            .get(1..)
            .unwrap_or_default()
            .split(|&b| b == b',')
            .map(trim)
        {
            if token.eq_ignore_ascii_case(b"close") {
                close = true;
            } else if token.eq_ignore_ascii_case(b"keep-alive") {
                close = false;
            }
        }
    }
    close
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_lines() {
        assert_eq!(
            parse_request_line(b"GET /a b HTTP/1.1"),
            None,
            "a space inside the target"
        );
        assert!(parse_request_line(b"GET /a HTTP/1.1").is_some());
        assert!(parse_request_line(b"GET /a HTTP/1.1 ").is_none());
        assert!(parse_request_line(b"G@T /a HTTP/1.1").is_none());
        assert_eq!(parse_status_line(b"HTTP/1.1 204 No Content"), Some(204));
        assert_eq!(parse_status_line(b"HTTP/1.0 200"), Some(200));
        assert_eq!(parse_status_line(b"HTTP/1.1 2000 x"), None);
        assert_eq!(parse_status_line(b"HTTP/1.1 099 x"), None);
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_decimal(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_decimal(b"18446744073709551616"), None);
        assert_eq!(decimal_i128(b"99999999999"), 99_999_999_999);
        assert_eq!(trim(b" \tx y \t"), b"x y");
        assert_eq!(trim(b"  "), b"");
    }
}
