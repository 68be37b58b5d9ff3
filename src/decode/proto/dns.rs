//! DNS over TCP, RFC 1035 §4.2.2 and RFC 7766.
//!
//! ```text
//!  0        1        2        3        4        5 ...
//! ┌────────┬────────┬────────┬────────┬────────┬──────────────────────────┐
//! │ length (BE)     │ ID              │QR|op...│ rest of the message      │
//! └────────┴────────┴────────┴────────┴────────┴──────────────────────────┘
//! ```
//!
//! One message is the length prefix and the DNS message it announces,
//! which must hold at least the 12-byte DNS header. Label: `query` or
//! `response`, from the QR bit.

use super::framed::{be, byte, Bad, Framed, Framing, Inspect};
use crate::decode::{Decoder, Label};

/// A DNS-over-TCP decoder (either direction).
pub(super) fn decoder(max_frame: u64) -> Box<dyn Decoder> {
    Box::new(Framed::new(DnsTcp, max_frame))
}

struct DnsTcp;

impl Framing for DnsTcp {
    fn begin(&mut self) -> usize {
        2
    }

    fn inspect(&mut self, head: &[u8]) -> Result<Inspect, Bad> {
        let len = be(head, 0, 2);
        if head.len() == 2 {
            if len < 12 {
                return Err(Bad::length(0, len, "shorter than the 12-byte DNS header"));
            }
            return Ok(Inspect::More(5));
        }
        let qr = if byte(head, 4) & 0x80 != 0 {
            "response"
        } else {
            "query"
        };
        Ok(Inspect::Body {
            len: len - 3,
            label: Some(Label::new(qr)),
        })
    }
}
