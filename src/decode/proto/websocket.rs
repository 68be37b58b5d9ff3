//! WebSocket frames, RFC 6455 §5.2.
//!
//! ```text
//!  0               1               2 ...
//! ┌─┬───┬───────┬─┬─────────────┬───────────────────┬──────────────┬─────────┐
//! │F│RSV│opcode │M│ len7        │ len16 | len64     │ masking key  │ payload │
//! │I│   │ (4)   │A│ (0..=125,   │ (when len7 = 126  │ (4 bytes,    │(counted)│
//! │N│   │       │S│  126, 127)  │  or 127)          │  when MASK)  │         │
//! └─┴───┴───────┴─┴─────────────┴───────────────────┴──────────────┴─────────┘
//! ```
//!
//! One message is one frame: a fragmented message is several frames (the
//! first with its opcode, then `continuation` frames), exactly as they
//! travel. Masking changes no length, so both directions frame alike.
//! Rejected: reserved opcodes (3-7, 11-15), a 64-bit length with its most
//! significant bit set, control frames (close, ping, pong) that are
//! fragmented or longer than 125 bytes. Label: the opcode name
//! (`continuation`, `text`, `binary`, `close`, `ping`, `pong`).

use super::framed::{be, byte, Bad, Framed, Framing, Inspect};
use crate::decode::{Decoder, Label};

/// A WebSocket frame decoder (either direction).
pub(super) fn decoder(max_frame: u64) -> Box<dyn Decoder> {
    Box::new(Framed::new(Frames, max_frame))
}

struct Frames;

impl Framing for Frames {
    fn begin(&mut self) -> usize {
        2
    }

    fn inspect(&mut self, head: &[u8]) -> Result<Inspect, Bad> {
        let (b0, b1) = (byte(head, 0), byte(head, 1));
        let opcode = b0 & 0x0f;
        let name = match opcode {
            0 => "continuation",
            1 => "text",
            2 => "binary",
            8 => "close",
            9 => "ping",
            10 => "pong",
            _ => {
                return Err(Bad::protocol(
                    0,
                    format!("reserved WebSocket opcode {opcode}"),
                ))
            }
        };
        let len7 = b1 & 0x7f;
        let ext = match len7 {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let mask = if b1 & 0x80 != 0 { 4 } else { 0 };
        let need = 2 + ext + mask;
        if head.len() < need {
            return Ok(Inspect::More(need));
        }
        let len = match ext {
            0 => u64::from(len7),
            n => be(head, 2, n),
        };
        if len >> 63 != 0 {
            return Err(Bad::length(
                2,
                len,
                "64-bit payload length with its top bit set",
            ));
        }
        if opcode >= 8 && (len > 125 || b0 & 0x80 == 0) {
            return Err(Bad::protocol(
                0,
                "control frame fragmented or longer than 125 bytes",
            ));
        }
        Ok(Inspect::Body {
            len,
            label: Some(Label::new(name)),
        })
    }
}
