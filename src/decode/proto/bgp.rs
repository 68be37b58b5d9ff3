//! BGP-4 messages, RFC 4271 §4.1, with extended messages (RFC 8654).
//!
//! ```text
//!  0                                              16       18       19
//! ┌──────────────────────────────────────────────┬────────┬────────┬────────┬──────┐
//! │ marker: 16 × 0xFF                            │ length (BE)     │ type   │ body │
//! └──────────────────────────────────────────────┴────────┴────────┴────────┴──────┘
//! ```
//!
//! One message is one BGP message; the length includes the 19-byte header
//! and is at most 4096, or 65535 once both speakers' OPENs advertised the
//! Extended Message capability (code 6), which is why the two directions
//! share state and an OPEN is held whole (it is at most 4096 bytes).
//! Per-type minimum lengths are checked (KEEPALIVE is exactly 19 bytes).
//! Label: `OPEN`, `UPDATE`, `NOTIFICATION`, `KEEPALIVE`, `ROUTE-REFRESH`.
//!
//! The marker makes resynchronisation possible: after an error (or a gap),
//! decoding resumes at the first 0xFF byte, after the bytes examined, that
//! follows a byte other than 0xFF: a choice that depends on the bytes
//! alone, never on chunking.

use std::cell::RefCell;
use std::rc::Rc;

use super::framed::{be, byte, Bad, Framed, Framing, Inspect};
use crate::decode::{Decoder, Label};

const HEADER: u64 = 19;
const MAX_LEN: u64 = 4096;
const MAX_EXTENDED: u64 = 65535;

/// The decoders of one session: `[client, server]`.
pub(super) fn pair(max_frame: u64) -> [Box<dyn Decoder>; 2] {
    let shared = Rc::new(RefCell::new([false; 2]));
    [
        Box::new(Framed::new(Bgp::new(0, Rc::clone(&shared)), max_frame)),
        Box::new(Framed::new(Bgp::new(1, shared), max_frame)),
    ]
}

struct Bgp {
    side: usize,
    /// Whether each side's OPEN advertised extended messages.
    extended: Rc<RefCell<[bool; 2]>>,
    /// Resynchronising inside a run of 0xFF bytes that already failed.
    in_run: bool,
}

impl Bgp {
    fn new(side: usize, extended: Rc<RefCell<[bool; 2]>>) -> Self {
        Bgp {
            side,
            extended,
            in_run: false,
        }
    }
}

impl Framing for Bgp {
    fn begin(&mut self) -> usize {
        1
    }

    fn inspect(&mut self, head: &[u8]) -> Result<Inspect, Bad> {
        // The marker is checked byte by byte, so that a broken one is found
        // (and resynchronisation starts) at its first wrong byte.
        if head.len() <= 16 {
            let at = head.len() - 1;
            if byte(head, at) != 0xff {
                return Err(Bad::header(at, "BGP marker is not 16 bytes of 0xFF"));
            }
            let next = if head.len() == 16 {
                HEADER as usize
            } else {
                head.len() + 1
            };
            return Ok(Inspect::More(next));
        }
        let len = be(head, 16, 2);
        let kind = byte(head, 18);
        let max = if self.extended.borrow().iter().all(|&e| e) {
            MAX_EXTENDED
        } else {
            MAX_LEN
        };
        if !(HEADER..=max).contains(&len) {
            return Err(Bad::length(
                16,
                len,
                "BGP length outside 19..=4096 (65535 extended)",
            ));
        }
        let (name, min) = match kind {
            1 => ("OPEN", 29),
            2 => ("UPDATE", 23),
            3 => ("NOTIFICATION", 21),
            4 => ("KEEPALIVE", 19),
            5 => ("ROUTE-REFRESH", 23),
            _ => {
                return Err(Bad::protocol(
                    18,
                    format!("unknown BGP message type {kind}"),
                ))
            }
        };
        if len < min || (kind == 4 && len != 19) || (kind == 1 && len > MAX_LEN) {
            return Err(Bad::length(
                16,
                len,
                "BGP length wrong for the message type",
            ));
        }
        let label = Some(Label::new(name));
        if kind != 1 {
            return Ok(Inspect::Body {
                len: len - HEADER,
                label,
            });
        }
        if (head.len() as u64) < len {
            return Ok(Inspect::More(len as usize));
        }
        if advertises_extended(head) {
            if let Some(flag) = self.extended.borrow_mut().get_mut(self.side) {
                *flag = true;
            }
        }
        Ok(Inspect::Body { len: 0, label })
    }

    fn resync(&mut self, input: &[u8]) -> Option<usize> {
        for (i, &b) in input.iter().enumerate() {
            if b != 0xff {
                self.in_run = false;
            } else if !self.in_run {
                self.in_run = true;
                return Some(i);
            }
        }
        None
    }

    fn can_resync(&self) -> bool {
        true
    }

    fn failed(&mut self, last: Option<u8>) {
        self.in_run = last == Some(0xff);
    }
}

/// Whether a whole OPEN message advertises the Extended Message capability.
fn advertises_extended(open: &[u8]) -> bool {
    let opt_len = usize::from(byte(open, 28));
    let params = open.get(29..29 + opt_len).unwrap_or_default();
    let mut i = 0;
    while let (Some(&ptype), Some(&plen)) = (params.get(i), params.get(i + 1)) {
        let value = params
            .get(i + 2..i + 2 + usize::from(plen))
            .unwrap_or_default();
        if ptype == 2 {
            let mut j = 0;
            while let (Some(&code), Some(&clen)) = (value.get(j), value.get(j + 1)) {
                if code == 6 {
                    return true;
                }
                j += 2 + usize::from(clen);
            }
        }
        i += 2 + usize::from(plen);
    }
    false
}
