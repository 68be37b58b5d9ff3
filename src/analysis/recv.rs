//! What a naive reader would have seen: `recv()` sizes replayed over a
//! direction's bytes, or `recvfrom()` sizes over its datagrams.
//!
//! A naive reader assumes one `recv()` returns one message. On a TCP
//! stream two readers are simulated, each doing read `i` for message `i`:
//!
//! * a reader that **keeps up** with the sender: each read returns at most
//!   what one segment brought (`min(size, bytes of the segment not yet
//!   read)`), so reads cut long messages but never glue two segments;
//! * a reader that **lags** behind: everything has arrived when it reads, so
//!   each read returns `min(size, bytes left in the stream)` and glues
//!   messages together.
//!
//! ```text
//! sender writes:   hello | world | musibii | 1
//! lagging reader:  recv(5) recv(5) recv(10)   recv(5)
//!                  hello   world   musibii1   ""      <- glued, then EOF
//! ```
//!
//! On a decrypted TLS stream, one reader is simulated (`SSL_read`): what
//! OpenSSL's `SSL_read()` does, each read returning at most the plaintext
//! of one TLS record (`min(size, bytes of the record not yet read)`),
//! however much has arrived. A message split over records is cut, messages
//! coalesced in one record are glued.
//!
//! ```text
//! records:          | 00 00 00 05 | 's' 'p' 'l' 'i' 't' | 00 00 00 03 one 00 00 00 03 two |
//! SSL_read(65536):    4 bytes (cut)  5 bytes (cut)        14 bytes (glued)
//! ```
//!
//! On UDP, `recvfrom()` returns one datagram per call whatever the timing:
//! at most the size asked for, the rest of a larger datagram discarded
//! (`MSG_TRUNC`), never bytes of the next datagram. One reader is simulated
//! (`recvfrom`), read `i` taking datagram `i`.
//!
//! ```text
//! datagrams:          100 | 1024 | 1500         | 4000
//! recvfrom(1024):     100   1024   1024 (476 lost) 1024 (2976 lost)
//! ```
//!
//! One size (`1024`) repeats until the direction is read; a list
//! (`5,5,10,5`) is exactly those reads.
//!
//! Cost and bounds: each result is computed in one pass over the reads,
//! arrivals and messages (linear). At most [`MAX_TRACKED`] messages,
//! arrivals and reads are simulated per direction, and at most
//! [`MAX_TOTAL`] over all streams of a run ([`Budget`]); a result says when
//! it stopped short (`incomplete`).

use std::fmt;

/// Messages, arrivals (segments or datagrams) and reads simulated per
/// direction.
pub const MAX_TRACKED: usize = 10_000;

/// Messages, arrivals and reads simulated over all streams of one run.
pub const MAX_TOTAL: u64 = 1_000_000;

/// What the simulations of one run may still track, shared by all streams.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    left: u64,
}

impl Default for Budget {
    fn default() -> Self {
        Budget::new(MAX_TOTAL)
    }
}

impl Budget {
    /// A budget of `total` entries.
    pub fn new(total: u64) -> Self {
        Budget { left: total }
    }

    /// Takes one entry; `false` when none is left.
    fn take(&mut self) -> bool {
        if self.left == 0 {
            return false;
        }
        self.left -= 1;
        true
    }
}

/// The `--recv` sizes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecvSizes {
    /// One size, repeated.
    Repeat(u64),
    /// Exactly these reads.
    List(Vec<u64>),
}

impl RecvSizes {
    /// Parses `1024` or `5,5,10,5` (sizes may take K/M suffixes).
    pub fn parse(s: &str) -> Result<RecvSizes, String> {
        let sizes: Vec<u64> = s
            .split(',')
            .map(|p| crate::size::parse_size(p.trim()).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?;
        if sizes.contains(&0) {
            return Err(format!("{s:?}: a recv() size must be at least 1"));
        }
        match sizes.as_slice() {
            [] => Err("no recv() size given".to_string()),
            [one] => Ok(RecvSizes::Repeat(*one)),
            _ => Ok(RecvSizes::List(sizes)),
        }
    }

    fn size(&self, i: usize) -> Option<u64> {
        match self {
            RecvSizes::Repeat(n) => Some(*n),
            RecvSizes::List(v) => v.get(i).copied(),
        }
    }
}

impl fmt::Display for RecvSizes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvSizes::Repeat(n) => write!(f, "{n}"),
            RecvSizes::List(v) => {
                let parts: Vec<String> = v.iter().map(u64::to_string).collect();
                f.write_str(&parts.join(","))
            }
        }
    }
}

/// How one read compares with the message it was meant to return.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Exactly message `i`.
    Exact,
    /// Bytes of two or more messages.
    Glued,
    /// Part of one message only (on UDP: a datagram truncated).
    Cut,
    /// Nothing: the stream had ended (a real `recv()` returns 0).
    Empty,
}

impl Verdict {
    /// The lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Exact => "exact",
            Verdict::Glued => "glued",
            Verdict::Cut => "cut",
            Verdict::Empty => "empty",
        }
    }
}

/// One simulated read.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Read {
    /// The size asked for.
    pub size: u64,
    /// Stream offset of the first byte returned (UDP: of the datagram, its
    /// datagrams' bytes counted one after the other).
    pub offset: u64,
    /// Bytes returned.
    pub len: u64,
    /// The messages it returned bytes of (indexes).
    pub messages: Vec<u64>,
    /// Compared with message `i`.
    pub verdict: Verdict,
    /// UDP: bytes of the datagram past the size asked for, discarded.
    pub discarded: u64,
}

/// One reader's reads and their tally.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ReaderResult {
    /// The reads, in order.
    pub reads: Vec<Read>,
    /// Reads that returned exactly their message.
    pub exact: u64,
    /// Reads that glued messages.
    pub glued: u64,
    /// Reads that cut a message.
    pub cut: u64,
    /// Reads that returned nothing.
    pub empty: u64,
    /// Bytes no read returned (a list of sizes ran out first, or the
    /// simulation stopped at its bound); on UDP, discarded bytes excluded.
    pub unread_bytes: u64,
}

/// The readers of one direction.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct RecvResult {
    /// The sizes simulated.
    pub sizes: String,
    /// TCP: the reader that keeps up with the sender.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keeping_up: Option<ReaderResult>,
    /// TCP: the reader that lags behind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lagging: Option<ReaderResult>,
    /// A decrypted TLS stream: `SSL_read()`, at most one record per read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssl_read: Option<ReaderResult>,
    /// UDP: one `recvfrom()` per datagram.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recvfrom: Option<ReaderResult>,
    /// UDP: datagrams larger than the size of the `recvfrom()` that read
    /// them.
    pub truncated_datagrams: u64,
    /// Whether a bound ([`MAX_TRACKED`] per direction, [`MAX_TOTAL`] over
    /// the run) stopped the simulation, so only the direction's beginning
    /// was simulated.
    pub incomplete: bool,
}

impl RecvResult {
    /// The readers simulated, with their names, in the order shown.
    pub fn readers(&self) -> impl Iterator<Item = (&'static str, &ReaderResult)> {
        [
            ("keeping up", self.keeping_up.as_ref()),
            ("lagging", self.lagging.as_ref()),
            ("SSL_read", self.ssl_read.as_ref()),
            ("recvfrom", self.recvfrom.as_ref()),
        ]
        .into_iter()
        .filter_map(|(name, r)| r.map(|r| (name, r)))
    }
}

/// A segment's (or datagram's) bytes as they arrived.
#[derive(Clone, Copy, Debug)]
struct Arrival {
    offset: u64,
    /// Bytes the capture holds.
    len: u64,
    /// UDP: the datagram's length on the wire.
    wire: u64,
}

/// The simulation state of one direction.
pub struct RecvSim {
    sizes: RecvSizes,
    datagrams: bool,
    /// Arrivals are TLS records, read by `SSL_read()`.
    ssl_read: bool,
    messages: Vec<(u64, u64)>,
    arrivals: Vec<Arrival>,
    total: u64,
    truncated_datagrams: u64,
    incomplete: bool,
}

impl RecvSim {
    /// A simulation with these sizes, of a byte stream or (`datagrams`) of
    /// UDP datagrams.
    pub fn new(sizes: &RecvSizes, datagrams: bool) -> Self {
        RecvSim {
            sizes: sizes.clone(),
            datagrams,
            ssl_read: false,
            messages: Vec::new(),
            arrivals: Vec::new(),
            total: 0,
            truncated_datagrams: 0,
            incomplete: false,
        }
    }

    /// The arrivals are TLS records' plaintext, read by `SSL_read()`
    /// (called before the first).
    pub fn ssl_read(&mut self) {
        self.ssl_read = true;
    }

    fn track(&mut self, arrival: Arrival, budget: &mut Budget) {
        if self.arrivals.len() < MAX_TRACKED && budget.take() {
            self.arrivals.push(arrival);
        } else {
            self.incomplete = true;
        }
    }

    /// Bytes of a segment arrived. Ignored on UDP, where
    /// [`RecvSim::datagram`] says what arrived.
    pub fn data(&mut self, offset: u64, len: u64, budget: &mut Budget) {
        if self.datagrams {
            return;
        }
        self.total = self.total.max(offset.saturating_add(len));
        self.track(
            Arrival {
                offset,
                len,
                wire: len,
            },
            budget,
        );
    }

    /// A capture gap: the bytes existed, the reader would have read them.
    pub fn gap(&mut self, offset: u64, len: u64, budget: &mut Budget) {
        self.data(offset, len, budget);
    }

    /// A UDP datagram at offset `offset` of the direction's bytes: `len`
    /// bytes captured of `wire`. Returns whether the `recvfrom()` that
    /// reads it would truncate it.
    pub fn datagram(&mut self, offset: u64, len: u64, wire: u64, budget: &mut Budget) -> bool {
        let size = self.sizes.size(self.arrivals.len());
        self.total = self.total.max(offset.saturating_add(len));
        self.track(Arrival { offset, len, wire }, budget);
        let cut = size.is_some_and(|s| wire > s);
        self.truncated_datagrams += u64::from(cut);
        cut
    }

    /// A message was decoded at `offset`, `len` bytes long.
    pub fn message(&mut self, offset: u64, len: u64, budget: &mut Budget) {
        if self.messages.len() < MAX_TRACKED && budget.take() {
            self.messages.push((offset, len));
        } else {
            self.incomplete = true;
        }
    }

    /// The simulation's outcome.
    pub fn result(&self, budget: &mut Budget) -> RecvResult {
        let mut result = RecvResult {
            sizes: self.sizes.to_string(),
            truncated_datagrams: self.truncated_datagrams,
            incomplete: self.incomplete,
            ..RecvResult::default()
        };
        if self.datagrams {
            result.recvfrom = Some(self.datagram_reads(budget, &mut result.incomplete));
        } else if self.ssl_read {
            result.ssl_read =
                Some(self.stream_reads(&self.arrivals, budget, &mut result.incomplete));
        } else {
            let whole = [Arrival {
                offset: 0,
                len: self.total,
                wire: self.total,
            }];
            result.keeping_up =
                Some(self.stream_reads(&self.arrivals, budget, &mut result.incomplete));
            result.lagging = Some(self.stream_reads(&whole, budget, &mut result.incomplete));
        }
        result
    }

    /// The reads of a reader that gets the stream in `arrivals` (each one
    /// readable only once the reader has drained the previous ones).
    fn stream_reads(
        &self,
        arrivals: &[Arrival],
        budget: &mut Budget,
        incomplete: &mut bool,
    ) -> ReaderResult {
        let mut out = Reads::new(self);
        let mut i = 0usize;
        'arrivals: for a in arrivals {
            let mut pos = a.offset;
            let end = a.offset.saturating_add(a.len);
            while pos < end {
                let Some(size) = self.sizes.size(i) else {
                    break 'arrivals;
                };
                if out.full(budget) {
                    *incomplete = true;
                    break 'arrivals;
                }
                let n = size.min(end - pos);
                out.push(i, size, pos, n, 0);
                pos += n;
                i += 1;
            }
        }
        let mut out = out.result;
        let read: u64 = out.reads.iter().map(|r| r.len).sum();
        out.unread_bytes = self.total.saturating_sub(read);
        // A list of sizes longer than the stream: the remaining reads
        // return 0 (end of stream).
        if let RecvSizes::List(sizes) = &self.sizes {
            for &size in sizes.iter().skip(i) {
                if out.reads.len() >= MAX_TRACKED || !budget.take() {
                    *incomplete = true;
                    break;
                }
                out.empty += 1;
                out.reads.push(Read {
                    size,
                    offset: self.total,
                    len: 0,
                    messages: Vec::new(),
                    verdict: Verdict::Empty,
                    discarded: 0,
                });
            }
        }
        out
    }

    /// One `recvfrom()` per datagram: read `i` returns at most its size of
    /// datagram `i`, the rest discarded. A list of sizes that runs out
    /// leaves the later datagrams unread; one longer than the datagrams
    /// would wait (UDP has no end of stream), so its later reads are not
    /// shown.
    fn datagram_reads(&self, budget: &mut Budget, incomplete: &mut bool) -> ReaderResult {
        let mut out = Reads::new(self);
        let mut unread = 0u64;
        for (i, a) in self.arrivals.iter().enumerate() {
            let Some(size) = self.sizes.size(i) else {
                unread = unread.saturating_add(a.len);
                continue;
            };
            if out.full(budget) {
                *incomplete = true;
                unread = unread.saturating_add(a.len);
                continue;
            }
            let returned = size.min(a.wire);
            let discarded = a.wire - returned;
            out.push(i, size, a.offset, returned.min(a.len), discarded);
        }
        let mut out = out.result;
        out.unread_bytes = unread;
        out
    }
}

/// A reader's result being built: reads in offset order, matched to the
/// messages with a cursor, so that the whole simulation is linear.
struct Reads<'a> {
    sim: &'a RecvSim,
    /// The first message that may overlap the next read.
    cursor: usize,
    result: ReaderResult,
}

impl<'a> Reads<'a> {
    fn new(sim: &'a RecvSim) -> Self {
        Reads {
            sim,
            cursor: 0,
            result: ReaderResult::default(),
        }
    }

    /// Whether no more reads may be simulated.
    fn full(&self, budget: &mut Budget) -> bool {
        self.result.reads.len() >= MAX_TRACKED || !budget.take()
    }

    fn push(&mut self, i: usize, size: u64, offset: u64, len: u64, discarded: u64) {
        let messages = &self.sim.messages;
        let end = offset.saturating_add(len);
        // Messages are in offset order and do not overlap: skip those that
        // end before this read, then take those that start before its end.
        while messages
            .get(self.cursor)
            .is_some_and(|&(s, l)| s.saturating_add(l) <= offset)
        {
            self.cursor += 1;
        }
        let touched: Vec<u64> = messages
            .iter()
            .enumerate()
            .skip(self.cursor)
            .take_while(|(_, &(s, _))| s < end)
            .filter(|(_, &(s, l))| s.saturating_add(l) > offset)
            .map(|(k, _)| k as u64)
            .collect();
        let verdict = if len == 0 {
            Verdict::Empty
        } else if touched.len() >= 2 {
            Verdict::Glued
        } else if discarded == 0 && messages.get(i) == Some(&(offset, len)) {
            Verdict::Exact
        } else {
            Verdict::Cut
        };
        let r = &mut self.result;
        match verdict {
            Verdict::Exact => r.exact += 1,
            Verdict::Glued => r.glued += 1,
            Verdict::Cut => r.cut += 1,
            Verdict::Empty => r.empty += 1,
        }
        r.reads.push(Read {
            size,
            offset,
            len,
            messages: touched,
            verdict,
            discarded,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classic() -> RecvSim {
        let mut b = Budget::default();
        let mut sim = RecvSim::new(&RecvSizes::parse("5,5,10,5").unwrap(), false);
        for (off, len) in [(0, 5), (5, 5), (10, 7), (17, 1)] {
            sim.data(off, len, &mut b);
            sim.message(off, len, &mut b);
        }
        sim
    }

    fn lagging(r: &RecvResult) -> &ReaderResult {
        r.lagging.as_ref().unwrap()
    }

    #[test]
    fn lagging_reader_glues_musibii1() {
        let r = classic().result(&mut Budget::default());
        let lens: Vec<u64> = lagging(&r).reads.iter().map(|r| r.len).collect();
        assert_eq!(lens, vec![5, 5, 8, 0]);
        let verdicts: Vec<Verdict> = lagging(&r).reads.iter().map(|r| r.verdict).collect();
        assert_eq!(
            verdicts,
            vec![
                Verdict::Exact,
                Verdict::Exact,
                Verdict::Glued,
                Verdict::Empty
            ]
        );
        assert_eq!(lagging(&r).reads[2].messages, vec![2, 3]);
    }

    #[test]
    fn reader_keeping_up_gets_each_write() {
        let r = classic().result(&mut Budget::default());
        let k = r.keeping_up.as_ref().unwrap();
        let lens: Vec<u64> = k.reads.iter().map(|r| r.len).collect();
        assert_eq!(lens, vec![5, 5, 7, 1]);
        assert_eq!(k.exact, 4);
    }

    #[test]
    fn one_size_repeats_and_cuts_a_long_reply() {
        let mut b = Budget::default();
        let mut sim = RecvSim::new(&RecvSizes::parse("4096").unwrap(), false);
        sim.data(0, 10240, &mut b);
        sim.message(0, 10240, &mut b);
        let r = sim.result(&mut b);
        let lens: Vec<u64> = lagging(&r).reads.iter().map(|r| r.len).collect();
        assert_eq!(lens, vec![4096, 4096, 2048]);
        assert_eq!(lagging(&r).cut, 3);
    }

    #[test]
    fn recvfrom_reads_one_datagram_and_discards_the_rest() {
        let mut b = Budget::default();
        let mut sim = RecvSim::new(&RecvSizes::Repeat(1024), true);
        let mut off = 0;
        for len in [100, 1024, 1500, 4000] {
            assert_eq!(sim.datagram(off, len, len, &mut b), len > 1024);
            sim.message(off, len, &mut b);
            off += len;
        }
        let r = sim.result(&mut b);
        assert!(r.keeping_up.is_none() && r.lagging.is_none());
        let reads = &r.recvfrom.as_ref().unwrap().reads;
        let got: Vec<(u64, u64, Verdict)> = reads
            .iter()
            .map(|r| (r.len, r.discarded, r.verdict))
            .collect();
        assert_eq!(
            got,
            vec![
                (100, 0, Verdict::Exact),
                (1024, 0, Verdict::Exact),
                (1024, 476, Verdict::Cut),
                (1024, 2976, Verdict::Cut),
            ]
        );
        assert_eq!(r.truncated_datagrams, 2);
    }

    #[test]
    fn a_list_longer_than_the_datagrams_waits_and_a_short_one_leaves_them_unread() {
        let mut b = Budget::default();
        let mut sim = RecvSim::new(&RecvSizes::parse("10,10,10").unwrap(), true);
        sim.datagram(0, 5, 5, &mut b);
        let r = sim.result(&mut b);
        assert_eq!(r.recvfrom.as_ref().unwrap().reads.len(), 1);
        let mut sim = RecvSim::new(&RecvSizes::parse("10,10").unwrap(), true);
        for i in 0..3 {
            sim.datagram(i * 5, 5, 5, &mut b);
        }
        let r = sim.result(&mut b).recvfrom.unwrap();
        assert_eq!((r.reads.len(), r.unread_bytes), (2, 5));
    }

    /// A thousand one-byte messages read by one large read: one pass, each
    /// message listed once.
    #[test]
    fn a_read_over_many_messages_lists_each_once() {
        let mut b = Budget::default();
        let mut sim = RecvSim::new(&RecvSizes::Repeat(1 << 20), false);
        sim.data(0, 1000, &mut b);
        for i in 0..1000 {
            sim.message(i, 1, &mut b);
        }
        let r = sim.result(&mut b);
        let l = lagging(&r);
        assert_eq!(l.reads.len(), 1);
        assert_eq!(l.reads[0].messages, (0..1000).collect::<Vec<u64>>());
    }

    #[test]
    fn the_budget_over_all_streams_stops_the_simulation() {
        let mut b = Budget::new(25);
        let mut sims: Vec<RecvSim> = (0..3)
            .map(|_| RecvSim::new(&RecvSizes::Repeat(1), false))
            .collect();
        for sim in &mut sims {
            for i in 0..10 {
                sim.data(i, 1, &mut b);
                sim.message(i, 1, &mut b);
            }
        }
        // 20 entries for the first stream, 5 for the second, none after.
        assert!(!sims[0].incomplete);
        assert!(sims[1].incomplete && sims[2].incomplete);
        let r = sims[0].result(&mut b);
        assert!(r.incomplete);
        assert_eq!(r.keeping_up.unwrap().reads.len(), 0);
        let mut per_dir = RecvSim::new(&RecvSizes::Repeat(1), false);
        let mut big = Budget::default();
        for i in 0..(MAX_TRACKED as u64 + 5) {
            per_dir.data(i, 1, &mut big);
        }
        let r = per_dir.result(&mut big);
        assert!(r.incomplete);
        assert_eq!(r.keeping_up.unwrap().reads.len(), MAX_TRACKED);
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(RecvSizes::parse("1K").unwrap(), RecvSizes::Repeat(1024));
        assert!(RecvSizes::parse("5,0").is_err());
        assert!(RecvSizes::parse("x").is_err());
    }
}
