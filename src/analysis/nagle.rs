//! Nagle / delayed-ACK stalls.
//!
//! With Nagle's algorithm on (no `TCP_NODELAY`), a sender holds a small
//! segment while earlier data is unacknowledged. If the receiver delays its
//! ACK (Linux: about 40 ms, up to 200 ms; other systems 200 ms), because it
//! is itself waiting for the rest of a message before it answers, both
//! sides wait: the classic write-write-read stall.
//!
//! ```text
//! client  write(header) ──seg #1──▶          server: reads header, waits for body
//! client  write(body)     (held: #1 unacked)
//!                          ◀── pure ACK after ~40 ms (delayed-ACK timer)
//! client  body ──────────seg #3──▶            ~40 ms late
//! ```
//!
//! A stall is reported when a data segment follows the previous data
//! segment of its direction by at least the threshold (default 30 ms) and
//! leaves within [`RELEASE_WINDOW`] of a pure ACK from the peer that
//! acknowledged everything sent before it. The fix: one write per message
//! (build the message, then send it), or `TCP_NODELAY`.

use crate::capture::Timestamp;
use crate::flow::Dir;

/// Default threshold: gaps shorter than this are not called stalls.
pub const DEFAULT_THRESHOLD: i64 = 30_000_000;

/// How soon after the releasing ACK the held segment must leave.
pub const RELEASE_WINDOW: i64 = 5_000_000;

/// Stalls kept per direction; more are counted, not listed.
pub const MAX_STALLS: usize = 1000;

/// The advice printed with stalls.
pub const ADVICE: &str = "small writes held by Nagle's algorithm until a delayed ACK released \
     them: write each message in one send() (build it first), or set TCP_NODELAY";

/// One stall.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Stall {
    /// The direction whose data was held.
    pub dir: Dir,
    /// Record of the held segment.
    pub record: u64,
    /// Its stream offset.
    pub offset: u64,
    /// Record of the data segment before it.
    pub previous_record: u64,
    /// Record of the ACK that released it.
    pub ack_record: u64,
    /// Seconds between the previous data segment and this one.
    pub stalled: f64,
    /// Seconds the peer took to acknowledge the previous segment.
    pub ack_delay: f64,
}

#[derive(Clone, Copy)]
struct Seen {
    end: u64,
    ts: Timestamp,
    record: u64,
}

/// Finds stalls in one direction.
pub struct Detector {
    threshold: i64,
    last: Option<Seen>,
    ack: Option<(u64, Timestamp, u64)>,
    stalls: Vec<Stall>,
    count: u64,
}

impl Detector {
    /// A detector calling gaps of at least `threshold` ns stalls.
    pub fn new(threshold: i64) -> Self {
        Detector {
            threshold,
            last: None,
            ack: None,
            stalls: Vec::new(),
            count: 0,
        }
    }

    /// The peer acknowledged up to `offset` of this direction.
    pub fn peer_ack(&mut self, offset: u64, pure: bool, ts: Timestamp, record: u64) {
        if pure {
            self.ack = Some((offset, ts, record));
        } else {
            // Data from the peer: a reply, not a delayed-ACK timer.
            self.ack = None;
        }
    }

    /// A data segment of this direction left.
    pub fn segment(&mut self, offset: u64, len: u32, ts: Timestamp, record: u64) {
        let end = offset + u64::from(len);
        if let Some(prev) = self.last {
            if offset < prev.end {
                return; // a retransmission
            }
            if let Some((acked, ack_ts, ack_record)) = self.ack {
                let waited = ts.0 - prev.ts.0;
                if waited >= self.threshold
                    && acked >= prev.end
                    && ack_ts > prev.ts
                    && ack_ts <= ts
                    && ts.0 - ack_ts.0 <= RELEASE_WINDOW
                {
                    self.count += 1;
                    if self.stalls.len() < MAX_STALLS {
                        self.stalls.push(Stall {
                            dir: Dir::Client,
                            record,
                            offset,
                            previous_record: prev.record,
                            ack_record,
                            stalled: ts.secs_since(prev.ts),
                            ack_delay: ack_ts.secs_since(prev.ts),
                        });
                    }
                }
            }
        }
        self.last = Some(Seen { end, ts, record });
    }

    /// The stalls found, tagged with their direction.
    pub fn take(&mut self, dir: Dir) -> Vec<Stall> {
        let mut out = std::mem::take(&mut self.stalls);
        for s in &mut out {
            s.dir = dir;
        }
        out
    }

    /// Stalls found, including those not listed.
    pub fn count(&self) -> u64 {
        self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;

    #[test]
    fn write_write_read_stall() {
        let mut d = Detector::new(DEFAULT_THRESHOLD);
        d.segment(0, 4, Timestamp(0), 1);
        d.peer_ack(4, true, Timestamp(41 * MS), 2);
        d.segment(4, 100, Timestamp(41 * MS + 50_000), 3);
        let s = d.take(Dir::Client);
        assert_eq!(s.len(), 1);
        assert_eq!((s[0].record, s[0].ack_record), (3, 2));
        assert!((s[0].ack_delay - 0.041).abs() < 1e-9);
    }

    #[test]
    fn reply_is_not_a_stall() {
        let mut d = Detector::new(DEFAULT_THRESHOLD);
        d.segment(0, 4, Timestamp(0), 1);
        d.peer_ack(4, false, Timestamp(41 * MS), 2);
        d.segment(4, 100, Timestamp(41 * MS + 50_000), 3);
        assert!(d.take(Dir::Client).is_empty());
    }
}
