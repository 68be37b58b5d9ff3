//! HTTP/2 frames, RFC 9113 §3.4 and §4.1.
//!
//! ```text
//!  client preface (24 bytes, its own message, client direction only):
//!  P R I   *   H T T P / 2 . 0 \r \n \r \n S M \r \n \r \n
//!
//!  frame:
//!  0        1        2        3        4        5 ...    9
//! ┌────────┬────────┬────────┬────────┬────────┬─────────────────┬─────────┐
//! │ length (24-bit BE)       │ type   │ flags  │R│ stream id (31)│ payload │
//! └────────┴────────┴────────┴────────┴────────┴─────────────────┴─────────┘
//! ```
//!
//! One message is one frame; `CONTINUATION` frames are frames like any
//! other. The client direction starts with the preface when its first byte
//! is `P` (a capture that starts mid-connection goes straight to frames).
//! Label: the frame type name (`DATA`, `HEADERS`, `SETTINGS`, ...; unknown
//! types, which receivers must ignore, as `0xNN`), `preface` for the
//! preface.

use super::framed::{be, byte, Bad, Framed, Framing, Inspect};
use crate::decode::{Decoder, Label};

/// The client connection preface.
pub(super) const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// An HTTP/2 decoder for the client (`true`) or server direction.
pub(super) fn decoder(client: bool, max_frame: u64) -> Box<dyn Decoder> {
    Box::new(Framed::new(Frames { preface: client }, max_frame))
}

/// HTTP/2 framing; `preface` while the client preface may still come.
pub(super) struct Frames {
    pub(super) preface: bool,
}

/// The name of frame type `t`.
pub(super) fn type_name(t: u8) -> Label {
    let name = match t {
        0 => "DATA",
        1 => "HEADERS",
        2 => "PRIORITY",
        3 => "RST_STREAM",
        4 => "SETTINGS",
        5 => "PUSH_PROMISE",
        6 => "PING",
        7 => "GOAWAY",
        8 => "WINDOW_UPDATE",
        9 => "CONTINUATION",
        10 => "ALTSVC",
        12 => "ORIGIN",
        16 => "PRIORITY_UPDATE",
        _ => return Label::new(&format!("{t:#04x}")),
    };
    Label::new(name)
}

impl Framing for Frames {
    fn begin(&mut self) -> usize {
        if self.preface {
            1
        } else {
            9
        }
    }

    fn inspect(&mut self, head: &[u8]) -> Result<Inspect, Bad> {
        if self.preface {
            if head.len() == 1 {
                if byte(head, 0) == b'P' {
                    return Ok(Inspect::More(PREFACE.len()));
                }
                self.preface = false;
                return Ok(Inspect::More(9));
            }
            if head.len() == PREFACE.len() {
                self.preface = false;
                if let Some(at) = head.iter().zip(PREFACE).position(|(a, b)| a != b) {
                    return Err(Bad::header(at, "not the HTTP/2 client preface"));
                }
                return Ok(Inspect::Body {
                    len: 0,
                    label: Some(Label::new("preface")),
                });
            }
        }
        Ok(Inspect::Body {
            len: be(head, 0, 3),
            label: Some(type_name(byte(head, 3))),
        })
    }
}
