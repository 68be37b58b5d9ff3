//! LDAP messages (RFC 4511 §4.1.1, BER as restricted by §5.1) and SASL
//! buffers (RFC 4422 §3.7).
//!
//! ```text
//!  LDAPMessage:
//! ┌──────┬───────────────────────┬──────┬─────┬────────────┬───────────┬─────┐
//! │ 0x30 │ length: 0xxxxxxx, or  │ 0x02 │ len │ message ID │ protocolOp│ ... │
//! │      │ 1000nnnn + n (1..=4)  │      │     │            │ tag       │     │
//! │      │ length bytes (BE)     │      │     │            │           │     │
//! └──────┴───────────────────────┴──────┴─────┴────────────┴───────────┴─────┘
//!  SASL buffer (after a SASL bind negotiated a security layer):
//! ┌───────────────────────────────────┬────────────────────────────────────┐
//! │ length (4 bytes BE)               │ wrapped data (counted)             │
//! └───────────────────────────────────┴────────────────────────────────────┘
//! ```
//!
//! One message is one LDAPMessage SEQUENCE. A message that does not start
//! with 0x30 is taken as a SASL buffer (its first byte is the top byte of a
//! 4-byte length, 0x00 for any buffer under 16 MiB); its content is opaque
//! (label `sasl`). Indefinite lengths (0x80), forbidden in LDAP, and length
//! fields over 4 bytes are rejected. Label: the protocolOp name
//! (`bindRequest`, `searchResEntry`, ...), when the message ID is a short
//! INTEGER and the operation tag lies inside the message.

use super::framed::{be, byte, Bad, Framed, Framing, Inspect};
use crate::decode::{Decoder, Label};

/// An LDAP decoder (either direction).
pub(super) fn decoder(max_frame: u64) -> Box<dyn Decoder> {
    Box::new(Framed::new(Ldap::default(), max_frame))
}

#[derive(Default)]
struct Ldap {
    /// Header bytes of the SEQUENCE tag and length, and its content length.
    outer: Option<(usize, u64)>,
}

fn op_name(tag: u8) -> Option<&'static str> {
    Some(match tag {
        0x60 => "bindRequest",
        0x61 => "bindResponse",
        0x42 => "unbindRequest",
        0x63 => "searchRequest",
        0x64 => "searchResEntry",
        0x65 => "searchResDone",
        0x73 => "searchResRef",
        0x66 => "modifyRequest",
        0x67 => "modifyResponse",
        0x68 => "addRequest",
        0x69 => "addResponse",
        0x4a => "delRequest",
        0x6b => "delResponse",
        0x6c => "modDNRequest",
        0x6d => "modDNResponse",
        0x6e => "compareRequest",
        0x6f => "compareResponse",
        0x50 => "abandonRequest",
        0x77 => "extendedReq",
        0x78 => "extendedResp",
        0x79 => "intermediateResponse",
        _ => return None,
    })
}

impl Framing for Ldap {
    fn begin(&mut self) -> usize {
        self.outer = None;
        2
    }

    fn inspect(&mut self, head: &[u8]) -> Result<Inspect, Bad> {
        if byte(head, 0) != 0x30 {
            if head.len() < 4 {
                return Ok(Inspect::More(4));
            }
            return Ok(Inspect::Body {
                len: be(head, 0, 4),
                label: Some(Label::new("sasl")),
            });
        }
        let Some((hlen, content)) = self.outer else {
            let first = byte(head, 1);
            let (hlen, content) = match first {
                0x00..=0x7f => (2, u64::from(first)),
                0x80 => return Err(Bad::protocol(1, "indefinite BER length in LDAP")),
                0x81..=0x84 => {
                    let n = usize::from(first & 0x7f);
                    if head.len() < 2 + n {
                        return Ok(Inspect::More(2 + n));
                    }
                    (2 + n, be(head, 2, n))
                }
                _ => return Err(Bad::length(1, first, "BER length field over 4 bytes")),
            };
            self.outer = Some((hlen, content));
            // Peek at the message ID's tag and length byte.
            if content >= 3 {
                return Ok(Inspect::More(hlen + 2));
            }
            return Ok(self.body(head, hlen, content, None));
        };
        let id_tag = byte(head, hlen);
        let id_len = usize::from(byte(head, hlen + 1));
        let op_at = hlen + 2 + id_len;
        if id_tag == 0x02 && (1..=4).contains(&id_len) && ((op_at - hlen) as u64) < content {
            if head.len() <= op_at {
                return Ok(Inspect::More(op_at + 1));
            }
            let name = op_name(byte(head, op_at)).map(Label::new);
            return Ok(self.body(head, hlen, content, name));
        }
        Ok(self.body(head, hlen, content, None))
    }
}

impl Ldap {
    fn body(&self, head: &[u8], hlen: usize, content: u64, label: Option<Label>) -> Inspect {
        let held = head.len().saturating_sub(hlen) as u64;
        Inspect::Body {
            len: content.saturating_sub(held),
            label,
        }
    }
}
