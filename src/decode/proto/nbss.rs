//! NetBIOS session service (RFC 1002 §4.3.1) and direct-hosted SMB
//! (MS-SMB2 §2.1).
//!
//! ```text
//!  0        1        2        3        4 ...
//! ┌────────┬───────┬─┬────────┬────────┬──────────────────────┐
//! │ type   │ flags │E│ length (BE)     │ trailer (counted)    │
//! └────────┴───────┴─┴────────┴────────┴──────────────────────┘
//!            RFC 1002: 7 reserved bits, E extends the length to 17 bits
//! ```
//!
//! One message is the 4-byte header and its trailer. For a session message
//! (type 0x00) the length is read as 24 bits, which is what direct-hosted
//! SMB on port 445 uses and equals the 17-bit reading whenever the reserved
//! bits are zero. For the other types (0x81 session request, 0x82 positive,
//! 0x83 negative response, 0x84 retarget, 0x85 keep-alive) the reserved bits
//! must be zero. Label: `message`, `request`, `positive`, `negative`,
//! `retarget`, `keepalive`.

use super::framed::{be, byte, Bad, Framed, Framing, Inspect};
use crate::decode::{Decoder, Label};

/// A NetBIOS session decoder (either direction).
pub(super) fn decoder(max_frame: u64) -> Box<dyn Decoder> {
    Box::new(Framed::new(Nbss, max_frame))
}

struct Nbss;

impl Framing for Nbss {
    fn begin(&mut self) -> usize {
        4
    }

    fn inspect(&mut self, head: &[u8]) -> Result<Inspect, Bad> {
        let kind = byte(head, 0);
        let name = match kind {
            0x00 => "message",
            0x81 => "request",
            0x82 => "positive",
            0x83 => "negative",
            0x84 => "retarget",
            0x85 => "keepalive",
            _ => {
                let why = format!("unknown NetBIOS session packet type {kind:#04x}");
                return Err(Bad::protocol(0, why));
            }
        };
        let len = if kind == 0 {
            be(head, 1, 3)
        } else {
            if byte(head, 1) & 0xfe != 0 {
                return Err(Bad::protocol(1, "reserved NetBIOS session flag bits set"));
            }
            be(head, 1, 3) & 0x1_ffff
        };
        Ok(Inspect::Body {
            len,
            label: Some(Label::new(name)),
        })
    }
}
