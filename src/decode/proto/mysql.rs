//! MySQL client/server protocol packets.
//!
//! ```text
//!  0        1        2        3        4 ...
//! ┌────────┬────────┬────────┬────────┬────────────────────────────────┐
//! │ payload length (LE, 24-bit)│ seq id │ payload (counted)              │
//! └────────┴────────┴────────┴────────┴────────────────────────────────┘
//!  a payload of 0xFFFFFF bytes continues in the next packet:
//!  [ffffff seq][16 MiB - 1] [len seq+1][len]   = one logical message
//! ```
//!
//! One message is one logical packet: packets of 0xFFFFFF payload bytes and
//! the packet that completes them (possibly empty) are one message. Below
//! 16 MiB this is one wire packet, as tshark counts them.
//!
//! The client's SSL request (a 32-byte payload with sequence id 1 whose
//! capability flags hold `CLIENT_SSL`, 0x0800) turns both directions into
//! TLS records after it, which is why the two directions share state.
//!
//! Labels, from the first payload byte: client packets with sequence id 0
//! carry the command name (`QUERY`, `QUIT`, `INIT_DB`, `STMT_PREPARE`, ...),
//! the handshake response is `login` and the SSL request `ssl`; server
//! packets are `handshake` (the greeting), `OK`, `ERR` or `EOF` by their
//! first byte, unlabelled otherwise (result set rows and columns).

use std::cell::Cell;
use std::rc::Rc;

use super::framed::{byte, le, Bad, Framed, Framing, Inspect};
use super::tls::Records;
use crate::decode::{Decoder, Label};

const CONTINUED: u64 = 0xff_ffff;
const CLIENT_SSL: u64 = 0x0800;

/// The decoders of one connection: `[client, server]`.
pub(super) fn pair(max_frame: u64) -> [Box<dyn Decoder>; 2] {
    let tls = Rc::new(Cell::new(false));
    [
        Box::new(Framed::new(Mysql::new(true, Rc::clone(&tls)), max_frame)),
        Box::new(Framed::new(Mysql::new(false, tls), max_frame)),
    ]
}

struct Mysql {
    client: bool,
    /// Both directions speak TLS from their next message.
    tls: Rc<Cell<bool>>,
    in_tls: bool,
    /// The current packet has a 0xFFFFFF payload: the message goes on.
    continued: bool,
    /// The client's login (or SSL request) is still to come.
    greeting: bool,
    ssl_request: bool,
}

impl Mysql {
    fn new(client: bool, tls: Rc<Cell<bool>>) -> Self {
        Mysql {
            client,
            tls,
            in_tls: false,
            continued: false,
            greeting: true,
            ssl_request: false,
        }
    }

    fn label(&mut self, head: &[u8], len: u64) -> Option<Label> {
        let seq = byte(head, 3);
        let first = byte(head, 4);
        if self.client {
            if seq == 1 && self.greeting {
                self.greeting = false;
                return Some(Label::new("login"));
            }
            if seq != 0 {
                return None;
            }
            self.greeting = false;
            let name = match first {
                0x01 => "QUIT",
                0x02 => "INIT_DB",
                0x03 => "QUERY",
                0x04 => "FIELD_LIST",
                0x05 => "CREATE_DB",
                0x06 => "DROP_DB",
                0x07 => "REFRESH",
                0x08 => "SHUTDOWN",
                0x09 => "STATISTICS",
                0x0a => "PROCESS_INFO",
                0x0c => "PROCESS_KILL",
                0x0d => "DEBUG",
                0x0e => "PING",
                0x11 => "CHANGE_USER",
                0x12 => "BINLOG_DUMP",
                0x16 => "STMT_PREPARE",
                0x17 => "STMT_EXECUTE",
                0x18 => "STMT_SEND_LONG_DATA",
                0x19 => "STMT_CLOSE",
                0x1a => "STMT_RESET",
                0x1b => "SET_OPTION",
                0x1c => "STMT_FETCH",
                0x1e => "BINLOG_DUMP_GTID",
                0x1f => "RESET_CONNECTION",
                _ => return Some(Label::new(&format!("COM_{first:#04x}"))),
            };
            return Some(Label::new(name));
        }
        let name = match first {
            0x0a if seq == 0 && self.greeting => "handshake",
            0x00 if len >= 7 => "OK",
            0xff => "ERR",
            0xfe if len < 9 => "EOF",
            _ => {
                self.greeting = false;
                return None;
            }
        };
        self.greeting = false;
        Some(Label::new(name))
    }
}

impl Framing for Mysql {
    fn begin(&mut self) -> usize {
        if self.tls.get() {
            self.in_tls = true;
        }
        if self.in_tls {
            Records.begin()
        } else {
            4
        }
    }

    fn inspect(&mut self, head: &[u8]) -> Result<Inspect, Bad> {
        if self.in_tls {
            return Records.inspect(head);
        }
        let len = le(head, 0, 3);
        let seq = byte(head, 3);
        let continuing = self.continued;
        self.continued = len == CONTINUED;
        if continuing || len == 0 {
            return Ok(Inspect::Body { len, label: None });
        }
        if self.client && self.greeting && seq == 1 && len == 32 {
            if head.len() < 8 {
                return Ok(Inspect::More(8));
            }
            if le(head, 4, 4) & CLIENT_SSL != 0 {
                self.ssl_request = true;
                self.greeting = false;
                return Ok(Inspect::Body {
                    len: len - 4,
                    label: Some(Label::new("ssl")),
                });
            }
        }
        if head.len() < 5 {
            // Put the length back: this packet is inspected again.
            self.continued = continuing;
            return Ok(Inspect::More(5));
        }
        let held = head.len() as u64 - 4;
        let label = self.label(head, len);
        Ok(Inspect::Body {
            len: len - held,
            label,
        })
    }

    fn done(&mut self) -> Option<usize> {
        if self.ssl_request {
            self.ssl_request = false;
            self.tls.set(true);
            self.in_tls = true;
        }
        if self.continued && !self.in_tls {
            return Some(4);
        }
        None
    }
}
