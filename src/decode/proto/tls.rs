//! TLS (and SSL 3.0) records, RFC 8446 §5.1.
//!
//! ```text
//!  0        1        2        3        4        5
//! ┌────────┬────────┬────────┬────────┬────────┬──────────────────────┐
//! │ type   │ version (3, x)  │ length (BE)     │ fragment (counted)   │
//! └────────┴────────┴────────┴────────┴────────┴──────────────────────┘
//! ```
//!
//! One message is one record (as tshark's `tls.record` counts them; a
//! handshake message may span records and a record may hold several).
//! The content type must be 20..=24 and the major version 3; the length may
//! not exceed 2^14 + 2048 (the TLS 1.2 ciphertext limit). Label: the content
//! type (`handshake`, `application_data`, `alert`, `change_cipher_spec`,
//! `heartbeat`). Used by itself and after STARTTLS-like switches (pgsql
//! `S`, MySQL SSL request, HTTP `CONNECT` tunnels).

use super::framed::{be, byte, Bad, Framed, Framing, Inspect};
use crate::decode::{Decoder, Label};

/// The longest record fragment allowed.
const MAX_FRAGMENT: u64 = (1 << 14) + 2048;

/// Whether `b` is a TLS record content type.
pub(super) fn is_content_type(b: u8) -> bool {
    (20..=24).contains(&b)
}

/// A TLS record decoder.
pub(super) fn decoder(max_frame: u64) -> Box<dyn Decoder> {
    Box::new(Framed::new(Records, max_frame))
}

/// TLS record framing, reusable inside other framings.
#[derive(Debug, Default)]
pub(super) struct Records;

/// A TLS record header, as [`header`] reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    /// The content type (20..=24).
    pub(crate) kind: u8,
    /// The record's protocol version (major 3).
    pub(crate) version: u16,
    /// The fragment's length.
    pub(crate) len: u16,
    /// The content type's name.
    pub(crate) label: &'static str,
}

/// Reads and checks the 5-byte record header at the start of `head` (at
/// least 5 bytes; missing bytes read as zero).
pub(crate) fn header(head: &[u8]) -> Result<Header, Bad> {
    let kind = byte(head, 0);
    let label = match kind {
        20 => "change_cipher_spec",
        21 => "alert",
        22 => "handshake",
        23 => "application_data",
        24 => "heartbeat",
        _ => {
            return Err(Bad::protocol(
                0,
                format!("unknown TLS content type {kind:#04x}"),
            ))
        }
    };
    if byte(head, 1) != 3 {
        let why = format!("unknown TLS major version {}", byte(head, 1));
        return Err(Bad::protocol(1, why));
    }
    let len = be(head, 3, 2);
    if len > MAX_FRAGMENT {
        return Err(Bad::length(3, len, "TLS record longer than 2^14 + 2048"));
    }
    Ok(Header {
        kind,
        version: be(head, 1, 2) as u16,
        len: len as u16,
        label,
    })
}

impl Framing for Records {
    fn begin(&mut self) -> usize {
        5
    }

    fn inspect(&mut self, head: &[u8]) -> Result<Inspect, Bad> {
        let h = header(head)?;
        Ok(Inspect::Body {
            len: u64::from(h.len),
            label: Some(Label::new(h.label)),
        })
    }
}
