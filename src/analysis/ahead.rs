//! The analysis's work for the thread that reads a capture ahead: finding
//! whole messages in each TCP payload ([`crate::decode::ahead`]) while the
//! analysis is still on earlier records.
//!
//! Only a framing fixed for every stream (`--frame resp`) asks for it:
//! under detection most payloads are read before their framing is known.

use std::any::Any;

use crate::capture::scan::{ChunkScan, ScanAhead};
use crate::capture::LinkType;
use crate::decode::ahead::{Found, Scan};
use crate::decode::Run;
use crate::dissect::{dissect, Dissected, Transport};

/// Dissects each record a chunk holds and lists the messages at the
/// start of its TCP payload.
pub struct PayloadScan {
    scan: Scan,
    found: Found,
}

impl PayloadScan {
    /// Lists messages with `scan`.
    pub fn new(scan: Scan) -> Self {
        PayloadScan {
            scan,
            found: Found::default(),
        }
    }
}

impl ScanAhead for PayloadScan {
    fn record(&mut self, link: LinkType, data: &[u8], orig_len: u32) {
        if self.found.is_full() {
            return;
        }
        if let Dissected::Packet(p) = dissect(link, data, orig_len) {
            if let Transport::Tcp(t) = p.transport {
                (self.scan)(t.payload, &mut self.found);
            }
        }
    }

    fn take(&mut self) -> Box<dyn Any + Send> {
        let next = self.found.next();
        Box::new(std::mem::replace(&mut self.found, next))
    }
}

/// Gives `run` what the scan found in the chunk now being read.
pub(super) fn found(run: &mut Run, found: ChunkScan) {
    let found = match found {
        ChunkScan::Found(any) => any.downcast::<Found>().ok(),
        ChunkScan::Nothing => None,
    };
    run.found_ahead(found);
}
