//! Asking the processor for a record's bytes before they are read.
//!
//! The chunks of a copied file are copied by two cores ([`super::ahead`]):
//! a chunk the read-ahead thread copied, and walked to find its messages
//! ([`super::scan`]), sits in that core's cache, not in the analysing
//! thread's. Without a hint, the analysing thread's first load from each
//! of its records waits for the line to come over. On the RESP capture of
//! 2.4 million messages (pipelined commands and their replies), one load
//! (a payload's last byte, read to know where the next message starts)
//! had 22-24% of the samples of the function that frames whole messages;
//! with only that byte asked for, the check of a bulk string's CRLF, on
//! payloads read whole, took its place (17%).
//!
//! So while one record is analysed, the lines of the next one are asked
//! for ([`record`]): its last, and its first [`LIMIT`] bytes (the first
//! line aside, which the reader loads at once for the record's header).
//! The hint does not wait and cannot fault; on a processor without one
//! (or an architecture it is not written for) it does nothing.
//!
//! Measured with one build that could turn the hint off, each run paired
//! with a run without the hint in the same round, on 2 cores (AMD EPYC):
//! the median of the rounds' ratios of wall times, and the rounds in
//! which the run with the hint was the faster.
//!
//! | capture, output | 31 rounds | 41 rounds, later |
//! | --- | --- | --- |
//! | redis-mix (RESP, 2.4 million messages), json | 0.91 (23) | 0.93 (29) |
//! | redis-mix, table | 0.97 (18) | 0.98 (23) |
//! | many-small (length-prefixed, 1,020 connections), json | 0.89 (23) | |
//! | many-small, table | 0.88 (25) | 0.95 (28) |
//! | redis (bench), json | 0.93 (24) | 1.00 (18) |
//! | redis, table | 0.94 (22) | |
//!
//! On many and bulk, whose messages are larger or not walked, 21 rounds
//! gave 0.98-1.01. Where files are mapped ([`super::way`]) the hint
//! changed nothing measurable (0.99 and 1.00 on redis-mix's and
//! many-small's json). Two builds compared with each other differ by
//! more than the hint: one set gave 0.92 to 1.22 either way.

/// The bytes of a record, from its start, whose lines are asked for (and
/// its last line). A record of small messages is about a kilobyte; the
/// lines of a longer one are met in order, which the processor's own
/// prefetcher follows.
pub const LIMIT: usize = 2048;

/// A cache line's size on the processors this is written for.
const LINE: usize = 64;

/// Asks for the cache lines of `record` (its second to the one holding
/// byte [`LIMIT`], and its last) to be loaded, without waiting for them.
#[inline(always)]
pub fn record(record: &[u8]) {
    let head = &record[..record.len().min(LIMIT)];
    for byte in head.iter().skip(LINE).step_by(LINE) {
        line(byte);
    }
    if let Some(last) = record.last() {
        line(last);
    }
}

/// Asks for the cache line holding `byte`.
#[inline(always)]
fn line(byte: &u8) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let at: *const i8 = (byte as *const u8).cast();
        // SAFETY: `prefetcht0` (SSE, which every x86_64 processor has) is
        // a hint: it does not fault, changes no architectural state, and
        // is given the address of a byte of a live slice.
        #[allow(unsafe_code)]
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(at)
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = byte;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_of_every_size_are_asked_for_within_their_bytes() {
        let bytes: Vec<u8> = (0..3 * LIMIT).map(|i| i as u8).collect();
        for len in [0, 1, LINE - 1, LINE, LINE + 1, LIMIT - 1, LIMIT, 3 * LIMIT] {
            record(&bytes[..len]);
            record(&bytes[bytes.len() - len..]);
        }
        assert_eq!(bytes[5], 5, "the bytes are only read");
    }
}
