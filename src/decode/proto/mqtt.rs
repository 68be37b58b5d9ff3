//! MQTT control packets (3.1, 3.1.1 and 5.0), fixed header.
//!
//! ```text
//!  0          1 ..= 4                      
//! ┌──────┬────┬────────────────────────────┬───────────────────────────┐
//! │ type │flag│ remaining length (varint:  │ variable header + payload │
//! │ (4)  │(4) │ 7 bits a byte, LSB first,  │ (counted)                 │
//! │      │    │ top bit = more, ≤ 4 bytes) │                           │
//! └──────┴────┴────────────────────────────┴───────────────────────────┘
//! ```
//!
//! One message is one control packet. Rejected: type 0, a remaining length
//! longer than 4 bytes, flags other than the fixed ones (0b0010 for PUBREL,
//! SUBSCRIBE and UNSUBSCRIBE, 0 for the others; any but QoS 3 for PUBLISH).
//! Label: the packet type name (`CONNECT`, `PUBLISH`, ...).

use super::framed::{byte, Bad, Framed, Framing, Inspect};
use crate::decode::{Decoder, Label};

/// An MQTT decoder (either direction).
pub(super) fn decoder(max_frame: u64) -> Box<dyn Decoder> {
    Box::new(Framed::new(Mqtt, max_frame))
}

struct Mqtt;

const NAMES: [&str; 16] = [
    "",
    "CONNECT",
    "CONNACK",
    "PUBLISH",
    "PUBACK",
    "PUBREC",
    "PUBREL",
    "PUBCOMP",
    "SUBSCRIBE",
    "SUBACK",
    "UNSUBSCRIBE",
    "UNSUBACK",
    "PINGREQ",
    "PINGRESP",
    "DISCONNECT",
    "AUTH",
];

impl Framing for Mqtt {
    fn begin(&mut self) -> usize {
        2
    }

    fn inspect(&mut self, head: &[u8]) -> Result<Inspect, Bad> {
        let b0 = byte(head, 0);
        let kind = b0 >> 4;
        let flags = b0 & 0x0f;
        if kind == 0 {
            return Err(Bad::protocol(0, "reserved MQTT packet type 0"));
        }
        let flags_ok = match kind {
            3 => flags & 0b0110 != 0b0110,
            6 | 8 | 10 => flags == 0b0010,
            _ => flags == 0,
        };
        if !flags_ok {
            let why = format!("invalid flags {flags:#06b} for MQTT packet type {kind}");
            return Err(Bad::protocol(0, why));
        }
        let varint = head.get(1..).unwrap_or_default();
        if varint.last().is_some_and(|b| b & 0x80 != 0) {
            if varint.len() == 4 {
                let last = varint.iter().fold(0i128, |a, &b| (a << 8) | i128::from(b));
                return Err(Bad::length(1, last, "remaining length longer than 4 bytes"));
            }
            return Ok(Inspect::More(head.len() + 1));
        }
        let len = varint
            .iter()
            .rev()
            .fold(0u64, |acc, &b| (acc << 7) | u64::from(b & 0x7f));
        let name = NAMES.get(usize::from(kind)).copied().unwrap_or_default();
        Ok(Inspect::Body {
            len,
            label: Some(Label::new(name)),
        })
    }
}

/// Whether a whole client message asks the server to end the session:
/// DISCONNECT (packet type 14).
pub(super) fn ends_session(message: &[u8]) -> bool {
    message.first().is_some_and(|b| b >> 4 == 14)
}

/// Whether a whole client message opens the session and may be sent only
/// once: CONNECT (packet type 1).
pub(super) fn starts_session(message: &[u8]) -> bool {
    message.first().is_some_and(|b| b >> 4 == 1)
}
