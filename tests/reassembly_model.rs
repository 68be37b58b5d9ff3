//! The reassembler held against an obviously correct slow model on random
//! segment lists: reordering, duplicates, overlaps with conflicting bytes,
//! sequence-number wraparound and holes.
//!
//! The model ([`FirstSeen`], shared with the reassembly fuzz target) places
//! every byte of every segment at its position, first seen
//! wins, and reads the result back in order: the bytes are the set
//! positions, the gaps the unset runs that later bytes follow.

use framescope::capture::Timestamp;
use framescope::dissect::TcpFlags;
use framescope::flow::reassembly::{Assembler, Budget, Event, Limits, SegmentIn};
use framescope::fuzzing::{FirstSeen, ModelSegment as Seg};
use proptest::prelude::*;

fn model(segs: &[Seg]) -> (Vec<u8>, Vec<(u64, u64)>) {
    FirstSeen::new(segs).bytes_and_gaps()
}

fn run(isn: u32, segs: &[Seg]) -> (Vec<u8>, Vec<(u64, u64)>) {
    let mut a = Assembler::new();
    let mut budget = Budget::default();
    let limits = Limits {
        max_buffered_bytes: usize::MAX,
        max_buffered_segments: usize::MAX,
    };
    let mut bytes = Vec::new();
    let mut gaps = Vec::new();
    let mut next = 0u64;
    let mut sink = |e: Event<'_>| match e {
        Event::Data {
            offset, bytes: b, ..
        } => {
            assert_eq!(offset, next, "data out of order");
            next += b.len() as u64;
            bytes.extend_from_slice(b);
        }
        Event::Gap { offset, len, .. } => {
            assert_eq!(offset, next, "gap out of order");
            next += len;
            gaps.push((offset, len));
        }
        Event::Conflict { .. } => {}
    };
    let base = segs.first().map_or(0, |s| s.start);
    for (i, s) in segs.iter().enumerate() {
        let seq = isn.wrapping_add((s.start.wrapping_sub(base)) as u32);
        // Positions before the base are "before the capture started".
        let seq = if s.start < base {
            isn.wrapping_sub((base - s.start) as u32)
        } else {
            seq
        };
        a.segment(
            &SegmentIn {
                seq,
                flags: TcpFlags(TcpFlags::ACK),
                payload: &s.data,
                missing: 0,
                record: i as u64 + 1,
                ts: Timestamp(i as i64),
            },
            &limits,
            &mut budget,
            &mut sink,
        );
    }
    a.finish(&mut budget, &mut sink);
    assert_eq!(budget.used, 0, "budget not returned");
    (bytes, gaps)
}

fn segments() -> impl Strategy<Value = Vec<Seg>> {
    // A true stream, cut into segments; some are dropped (holes), some
    // duplicated with changed bytes (conflicts), and the order shuffled
    // locally.
    (
        proptest::collection::vec(any::<u8>(), 1..400),
        proptest::collection::vec((0usize..400, 1usize..60, any::<bool>(), any::<u8>()), 1..40),
    )
        .prop_map(|(stream, cuts)| {
            cuts.into_iter()
                .map(|(start, len, flip, xor)| {
                    let start = start % stream.len();
                    let end = (start + len).min(stream.len());
                    let mut data = stream[start..end].to_vec();
                    if flip {
                        for b in &mut data {
                            *b ^= xor | 1;
                        }
                    }
                    Seg {
                        start: start as u64 + 1000,
                        data,
                    }
                })
                .collect()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn assembler_equals_first_seen_model(segs in segments(), isn in any::<u32>()) {
        let (want_bytes, want_gaps) = model(&segs);
        let (got_bytes, got_gaps) = run(isn, &segs);
        prop_assert_eq!(got_bytes, want_bytes);
        // The model's gaps are in stream offsets too.
        prop_assert_eq!(got_gaps, want_gaps);
    }

    #[test]
    fn wraparound_does_not_matter(segs in segments()) {
        let near_wrap = run(u32::MAX - 100, &segs);
        let far = run(12_345, &segs);
        prop_assert_eq!(near_wrap, far);
    }
}
