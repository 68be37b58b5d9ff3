//! PostgreSQL frontend/backend protocol 3.0.
//!
//! ```text
//!  untyped (client, before startup):
//! ┌─────────────────────────────────┬───────────────────────┬─────────────┐
//! │ length (i32 BE, counts itself)  │ code: 196608 startup, │ parameters  │
//! │                                 │ 80877103 SSL request, │ (counted)   │
//! │                                 │ 80877104 GSSENC req., │             │
//! │                                 │ 80877102 cancel       │             │
//! └─────────────────────────────────┴───────────────────────┴─────────────┘
//!  SSL/GSSENC answer (server): one byte, N (go on in clear), S (TLS) or
//!  G (GSSAPI encryption)
//!  typed (both directions after startup):
//! ┌────────┬─────────────────────────────────┬──────────────────────────┐
//! │ type   │ length (i32 BE, counts itself)  │ body (counted)           │
//! └────────┴─────────────────────────────────┴──────────────────────────┘
//! ```
//!
//! One message is one of the above. The two directions share state: the
//! client's SSL or GSSENC request makes the server's next message a single
//! answer byte; after `S` both directions carry TLS records, after `G`
//! GSSAPI tokens (4-byte length, not counting itself). A client that opens
//! with a TLS record (direct SSL, PostgreSQL 17) is framed as TLS. An
//! `E` answer (an old server refusing the request) is an ordinary typed
//! message. Type bytes must be ASCII letters or digits and lengths at least
//! 4. Labels: the type letter (`Q`, `T`, `D`, `Z`, ...), `startup`,
//! `ssl_request`, `gssenc_request`, `cancel`, the answer byte (`N`, `S`,
//! `G`), `gss`, or the TLS content type.

use std::cell::RefCell;
use std::rc::Rc;

use super::framed::{be, byte, Bad, Framed, Framing, Inspect};
use super::tls::{self, Records};
use crate::decode::{Decoder, Label};

const SSL_REQUEST: u64 = 80_877_103;
const GSSENC_REQUEST: u64 = 80_877_104;
const CANCEL_REQUEST: u64 = 80_877_102;

/// The decoders of one connection: `[client, server]`.
pub(super) fn pair(max_frame: u64) -> [Box<dyn Decoder>; 2] {
    let shared = Rc::new(RefCell::new(Shared::default()));
    [
        Box::new(Framed::new(Pgsql::new(true, Rc::clone(&shared)), max_frame)),
        Box::new(Framed::new(Pgsql::new(false, shared), max_frame)),
    ]
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Mode {
    /// Client before its startup message.
    #[default]
    Untyped,
    Typed,
    /// Server: the next message is the one-byte answer to the request.
    Answer,
    Tls,
    Gss,
}

#[derive(Default)]
struct Shared {
    /// The client asked for SSL (`false`: GSS encryption), no answer yet.
    asked: Option<bool>,
    /// The connection is encrypted from both sides' next message.
    encrypted: Option<Mode>,
}

struct Pgsql {
    client: bool,
    shared: Rc<RefCell<Shared>>,
    mode: Mode,
}

impl Pgsql {
    fn new(client: bool, shared: Rc<RefCell<Shared>>) -> Self {
        Pgsql {
            client,
            shared,
            mode: if client { Mode::Untyped } else { Mode::Typed },
        }
    }

    fn typed(head: &[u8]) -> Result<Inspect, Bad> {
        let kind = byte(head, 0);
        if !kind.is_ascii_alphanumeric() {
            return Err(Bad::protocol(
                0,
                format!("invalid message type {kind:#04x}"),
            ));
        }
        let len = be(head, 1, 4);
        if !(4..=i32::MAX as u64).contains(&len) {
            return Err(Bad::length(1, len, "message length below 4 or negative"));
        }
        Ok(Inspect::Body {
            len: len - 4,
            label: Some(Label::from_bytes(&[kind])),
        })
    }

    fn untyped(&mut self, head: &[u8]) -> Result<Inspect, Bad> {
        if head.len() == 1 {
            if tls::is_content_type(byte(head, 0)) {
                self.mode = Mode::Tls;
                self.shared.borrow_mut().encrypted = Some(Mode::Tls);
                return Ok(Inspect::More(5));
            }
            return Ok(Inspect::More(8));
        }
        let len = be(head, 0, 4);
        if !(8..=i32::MAX as u64).contains(&len) {
            return Err(Bad::length(
                0,
                len,
                "startup packet length below 8 or negative",
            ));
        }
        let code = be(head, 4, 4);
        let label = match code {
            SSL_REQUEST => {
                self.shared.borrow_mut().asked = Some(true);
                "ssl_request"
            }
            GSSENC_REQUEST => {
                self.shared.borrow_mut().asked = Some(false);
                "gssenc_request"
            }
            CANCEL_REQUEST => "cancel",
            _ if code >> 16 == 3 => {
                self.mode = Mode::Typed;
                "startup"
            }
            _ => {
                let why = format!("unknown startup protocol code {code}");
                return Err(Bad::protocol(4, why));
            }
        };
        Ok(Inspect::Body {
            len: len - 8,
            label: Some(Label::new(label)),
        })
    }

    fn answer(&mut self, head: &[u8]) -> Result<Inspect, Bad> {
        let b = byte(head, 0);
        let mut shared = self.shared.borrow_mut();
        let ssl = shared.asked.take().unwrap_or(true);
        self.mode = Mode::Typed;
        let encrypted = match (b, ssl) {
            (b'N', _) => None,
            (b'S', true) => Some(Mode::Tls),
            (b'G', false) => Some(Mode::Gss),
            (b'E', _) => return Ok(Inspect::More(5)),
            _ => {
                let why = format!("invalid answer {b:#04x} to an SSL or GSSENC request");
                return Err(Bad::protocol(0, why));
            }
        };
        if let Some(mode) = encrypted {
            shared.encrypted = Some(mode);
            self.mode = mode;
        }
        Ok(Inspect::Body {
            len: 0,
            label: Some(Label::from_bytes(&[b])),
        })
    }
}

impl Framing for Pgsql {
    fn begin(&mut self) -> usize {
        let shared = self.shared.borrow();
        if let Some(mode) = shared.encrypted {
            self.mode = mode;
        } else if !self.client && shared.asked.is_some() {
            self.mode = Mode::Answer;
        }
        match self.mode {
            Mode::Untyped | Mode::Answer => 1,
            Mode::Typed | Mode::Tls => 5,
            Mode::Gss => 4,
        }
    }

    fn inspect(&mut self, head: &[u8]) -> Result<Inspect, Bad> {
        match self.mode {
            Mode::Untyped => self.untyped(head),
            Mode::Answer => self.answer(head),
            Mode::Typed => Self::typed(head),
            Mode::Tls => Records.inspect(head),
            Mode::Gss => Ok(Inspect::Body {
                len: be(head, 0, 4),
                label: Some(Label::new("gss")),
            }),
        }
    }
}

/// Whether a whole client message asks the server to end the session:
/// Terminate (`X`, length 4).
pub(super) fn ends_session(message: &[u8]) -> bool {
    message == b"X\0\0\0\x04"
}

/// Whether a whole client message opens the session and may be sent only
/// once: the startup message, or the SSL / GSSAPI encryption request that
/// precedes it (no type byte: a length, then a protocol or request code).
pub(super) fn starts_session(message: &[u8]) -> bool {
    matches!(
        message.get(4..8),
        Some([0, 3, 0, 0] | [4, 210, 22, 47] | [4, 210, 22, 48])
    )
}
