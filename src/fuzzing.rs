//! Bodies of the fuzz targets, in the library so that `cargo test` replays
//! every seed and every past crash on a stable toolchain.
//!
//! Each target takes raw fuzzer bytes, derives a structured input from them
//! with [`arbitrary::Unstructured`], runs one part of the library and
//! asserts the invariants that part promises, not only that it does not
//! panic. A failed invariant panics, which is what a fuzzer reports.
//!
//! | target           | input                                   | invariants |
//! | ---------------- | --------------------------------------- | ---------- |
//! | [`decoder`]      | a framing, cut points, stream bytes     | split invariance; `decode_run` gives the frames `decode` gives; `consumed` within the chunk; frames within `max_frame`; errors inside the input and repeated once failed |
//! | [`reassembly`]   | a stream, segments cut from it, flags   | equal to the [`FirstSeen`] model without bounds; with small bounds, buffered bytes stay under them and every delivered byte is the first seen |
//! | [`packet`]       | link type, original length, bytes       | payload lies within the record; missing bytes only past the record |
//! | [`capture_file`] | a pcap or pcapng header, then bytes     | reading and analysing ends with a report in bounded records |
//! | [`frame_spec`]   | a string                                | accepted specs round-trip through `Display` and build decoders |
//!
//! This module owns no behaviour of framescope itself: it only calls the
//! public API.

use std::io::Cursor;
use std::ops::Range;

use arbitrary::{Result, Unstructured};

use crate::analysis::{Analyzer, Message, Options, Report, StreamResult};
use crate::capture::{CaptureReader, LinkType, Timestamp};
use crate::decode::ahead::Found;
use crate::decode::spec::FrameSpec;
use crate::decode::{proto, Collected, DecodeError, Decoder, Frame, Run, Step};
use crate::dissect::{dissect, Dissected, TcpFlags, Transport};
use crate::flow::reassembly::{Assembler, Budget, Event, Limits, SegmentIn};
use crate::flow::{Dir, FlowLimits, StreamInfo, Tracker};
use crate::pipeline::{self, CaptureSummary};

/// Every link type [`dissect`] supports, and one it does not.
pub const LINK_TYPES: [LinkType; 11] = [
    LinkType::NULL,
    LinkType::ETHERNET,
    LinkType::RAW_12,
    LinkType::RAW_14,
    LinkType::RAW,
    LinkType::LOOP,
    LinkType::LINUX_SLL,
    LinkType::IPV4,
    LinkType::IPV6,
    LinkType::LINUX_SLL2,
    LinkType(147),
];

// ---------------------------------------------------------------- decoder

/// Decoder target: a framing chosen by the input (a generic kind with
/// small limits, or a registered protocol), fed a stream whole and cut at
/// points the input chooses. Both runs must give the same frames, labels,
/// error and end.
pub fn decoder(data: &[u8]) {
    let _ = try_decoder(data);
}

fn try_decoder(data: &[u8]) -> Result<()> {
    let mut u = Unstructured::new(data);
    let text = decoder_spec(&mut u)?;
    let Ok(spec) = FrameSpec::parse(&text) else {
        return Ok(());
    };
    let ncuts = u.int_in_range(0..=16)?;
    let mut cuts = Vec::with_capacity(ncuts);
    for _ in 0..ncuts {
        cuts.push(usize::from(u.arbitrary::<u16>()?));
    }
    let stream = u.take_rest();
    for cut in &mut cuts {
        *cut %= stream.len() + 1;
    }
    cuts.sort_unstable();
    let mut chunks = Vec::with_capacity(cuts.len() + 1);
    let mut from = 0;
    for &cut in &cuts {
        chunks.push(&stream[from..cut]);
        from = cut;
    }
    chunks.push(&stream[from..]);

    let [mut whole_dec, _] = spec.decoders();
    let [mut split_dec, _] = spec.decoders();
    let max = whole_dec.max_frame();
    assert_eq!(max, spec.max_frame(), "{text}: max_frame");
    let [mut run_dec, _] = spec.decoders();
    let whole = checked_frames(whole_dec.as_mut(), &[stream]);
    let split = checked_frames(split_dec.as_mut(), &chunks);
    assert_eq!(whole, split, "{text}: split at {cuts:?}");
    let runs = checked_frames_with_runs(run_dec.as_mut(), &chunks);
    assert_eq!(whole, runs, "{text}: decode_run, split at {cuts:?}");
    // Told labels are not wanted (as detection's candidates are), a
    // decoder finds the same messages and errors.
    let [mut unlabelled_dec, _] = spec.decoders();
    unlabelled_dec.want_labels(false);
    let mut unlabelled = checked_frames(unlabelled_dec.as_mut(), &chunks);
    let mut labelled = whole.clone();
    for f in labelled
        .frames
        .iter_mut()
        .chain(unlabelled.frames.iter_mut())
    {
        f.label = None;
    }
    assert_eq!(
        labelled, unlabelled,
        "{text}: labels not wanted, split at {cuts:?}"
    );
    if spec.scan_ahead().is_some() {
        // Messages found ahead in each chunk, as the read-ahead thread
        // finds them in each payload, give the same frames, on both sides.
        let [client, server] = spec.decoders();
        let [mut client_hinted, mut server_hinted] = spec.decoders();
        for (mut plain, hinted, side) in [
            (client, client_hinted.as_mut(), "client"),
            (server, server_hinted.as_mut(), "server"),
        ] {
            let expected = checked_frames(plain.as_mut(), &[stream]);
            let got = frames_of(hinted, &chunks, Some(found_ahead(&spec, &chunks)));
            assert_eq!(
                expected, got,
                "{text}: found ahead ({side}), split at {cuts:?}"
            );
        }
    }
    for frame in &whole.frames {
        assert!(
            frame.bytes.len() as u64 <= max,
            "{text}: frame of {} bytes over max {max}",
            frame.bytes.len()
        );
    }
    if let Some(e) = &whole.error {
        assert!(
            e.offset < stream.len() as u64,
            "{text}: error offset {} outside {} input bytes",
            e.offset,
            stream.len()
        );
    }
    Ok(())
}

/// A framing spec string with small limits, so that the size checks fire.
fn decoder_spec(u: &mut Unstructured<'_>) -> Result<String> {
    let max = u.int_in_range(1u64..=4096)?;
    let kinds = 6 + proto::PROTOCOLS.len();
    let spec = match u.choose_index(kinds)? {
        0 => "none".to_string(),
        1 => {
            let strip = if u.arbitrary()? { ",strip" } else { "" };
            format!("line:max={max}{strip}")
        }
        2 => {
            let mut alts = Vec::new();
            for _ in 0..u.int_in_range(1..=3)? {
                let len = u.int_in_range(1..=4)?;
                let hex: String = u.bytes(len)?.iter().map(|b| format!("{b:02x}")).collect();
                alts.push(format!("0x{hex}"));
            }
            let strip = if u.arbitrary()? { ",strip" } else { "" };
            format!("delim:{},max={max}{strip}", alts.join("|"))
        }
        3 => {
            let mut opts = vec![format!("max={max}")];
            match u.int_in_range(0..=2)? {
                0 => {
                    opts.push(u.choose(&["1", "2", "3", "4", "8"])?.to_string());
                    opts.push(u.choose(&["endian=big", "endian=little"])?.to_string());
                    opts.push(u.choose(&["signed", "unsigned"])?.to_string());
                }
                1 => opts.push(format!("ascii={}", u.int_in_range(1..=6)?)),
                _ => opts.push("varint".to_string()),
            }
            opts.push(format!("offset={}", u.int_in_range(0..=4)?));
            opts.push(format!("adjust={}", u.int_in_range(-8i32..=8)?));
            opts.push(format!("strip={}", u.int_in_range(0..=4)?));
            format!("length:{}", opts.join(","))
        }
        4 => format!("fixed:{}", u.int_in_range(1..=64)?),
        5 => {
            let mut opts = vec![format!("max={max}")];
            opts.push(u.choose(&["width=4", "width=8"])?.to_string());
            opts.push(u.choose(&["endian=big", "endian=little"])?.to_string());
            opts.push(u.choose(&["signed", "unsigned"])?.to_string());
            opts.push(
                u.choose(&["key=total_size", "key=size", "key=len"])?
                    .to_string(),
            );
            if u.arbitrary()? {
                opts.push("label=type".to_string());
            }
            opts.push(format!("max-header={}", u.int_in_range(1..=512)?));
            format!("json-header:{}", opts.join(","))
        }
        n => format!("{}:max={max}", proto::PROTOCOLS[n - 6].name),
    };
    Ok(spec)
}

/// Runs `decoder` over `chunks` as [`crate::decode::collect_frames`] does,
/// asserting the [`Decoder`] contract at every step: `consumed` is at least
/// one and at most the chunk, and a failed decoder repeats its error.
pub fn checked_frames(decoder: &mut dyn Decoder, chunks: &[&[u8]]) -> Collected {
    frames_of_calls(decoder, chunks, false, None)
}

/// [`checked_frames`], with [`Decoder::decode_run`] called at every message
/// boundary first, as the analysis calls it.
pub fn checked_frames_with_runs(decoder: &mut dyn Decoder, chunks: &[&[u8]]) -> Collected {
    frames_of_calls(decoder, chunks, true, None)
}

/// [`checked_frames_with_runs`], with `found` (the messages found ahead
/// in `chunks`, [`found_ahead`]) given to the decoder's runs.
pub fn frames_of(decoder: &mut dyn Decoder, chunks: &[&[u8]], found: Option<Found>) -> Collected {
    frames_of_calls(decoder, chunks, true, found)
}

/// The messages `spec`'s scan finds ahead in each of `chunks`, taken as
/// the payloads of one chunk of a capture (empty without a scan).
pub fn found_ahead(spec: &FrameSpec, chunks: &[&[u8]]) -> Found {
    let mut found = Found::default();
    if let Some(mut scan) = spec.scan_ahead() {
        for chunk in chunks {
            scan(chunk, &mut found);
        }
    }
    found
}

fn frames_of_calls(
    decoder: &mut dyn Decoder,
    chunks: &[&[u8]],
    runs: bool,
    found: Option<Found>,
) -> Collected {
    let mut run = Run::default();
    run.found_ahead(found.map(Box::new));
    let mut frames = Vec::new();
    let mut current = Vec::new();
    let mut start = 0u64;
    let mut pos = 0u64;
    for chunk in chunks {
        let mut rest: &[u8] = chunk;
        loop {
            if runs && current.is_empty() && !rest.is_empty() {
                run.clear();
                decoder.decode_run(rest, &mut run);
                let mut from = 0;
                for i in 0..run.len() {
                    let (end, label) = run.get(i);
                    assert!(
                        from < end && end <= rest.len(),
                        "run frame {from}..{end} of a {}-byte chunk",
                        rest.len()
                    );
                    pos += (end - from) as u64;
                    frames.push(Frame {
                        offset: start,
                        bytes: rest[from..end].to_vec(),
                        label,
                    });
                    start = pos;
                    from = end;
                }
                rest = &rest[from..];
                if rest.is_empty() {
                    break;
                }
            }
            match decoder.decode(rest) {
                Ok(Step::NeedMore) => {
                    current.extend_from_slice(rest);
                    pos += rest.len() as u64;
                    break;
                }
                Ok(Step::Frame { consumed, label }) => {
                    assert!(
                        (1..=rest.len()).contains(&consumed),
                        "consumed {consumed} of a {}-byte chunk",
                        rest.len()
                    );
                    current.extend_from_slice(&rest[..consumed]);
                    pos += consumed as u64;
                    frames.push(Frame {
                        offset: start,
                        bytes: std::mem::take(&mut current),
                        label,
                    });
                    start = pos;
                    rest = &rest[consumed..];
                    if rest.is_empty() {
                        break;
                    }
                }
                Err(error) => {
                    assert_repeats(decoder, rest, &error);
                    return Collected {
                        frames,
                        error: Some(error),
                        end: None,
                    };
                }
            }
        }
    }
    let end = decoder.finish();
    if let crate::decode::End::Frame { label } = end {
        frames.push(Frame {
            offset: start,
            bytes: current,
            label,
        });
    }
    Collected {
        frames,
        error: None,
        end: Some(end),
    }
}

fn assert_repeats(decoder: &mut dyn Decoder, rest: &[u8], error: &DecodeError) {
    let again = decoder.decode(rest);
    assert_eq!(
        again.as_ref().err(),
        Some(error),
        "a failed decoder moved on"
    );
}

// ------------------------------------------------------------- reassembly

/// One segment of a [`FirstSeen`] scenario, at a position of the true
/// stream (which may lie before the first segment's).
#[derive(Clone, Debug)]
pub struct ModelSegment {
    /// Position of the first byte.
    pub start: u64,
    /// The bytes (possibly altered: a conflicting retransmission).
    pub data: Vec<u8>,
}

/// The obviously correct slow model of the reassembler: every byte of every
/// segment placed at its position, first seen wins, positions before the
/// first segment's start dropped (the capture began after them).
#[derive(Clone, Debug, Default)]
pub struct FirstSeen {
    /// Byte at each offset after the first segment's start, if any copy
    /// was seen.
    pub map: Vec<Option<u8>>,
}

impl FirstSeen {
    /// Places `segs`, in capture order.
    pub fn new(segs: &[ModelSegment]) -> FirstSeen {
        let Some(base) = segs.first().map(|s| s.start) else {
            return FirstSeen::default();
        };
        let end = segs
            .iter()
            .map(|s| s.start + s.data.len() as u64)
            .max()
            .unwrap_or(base);
        let mut map: Vec<Option<u8>> = vec![None; end.saturating_sub(base) as usize];
        for s in segs {
            for (i, &b) in s.data.iter().enumerate() {
                let Some(at) = (s.start + i as u64).checked_sub(base) else {
                    continue;
                };
                let slot = &mut map[at as usize];
                if slot.is_none() {
                    *slot = Some(b);
                }
            }
        }
        FirstSeen { map }
    }

    /// The bytes in order, and the holes `(offset, len)` between them.
    pub fn bytes_and_gaps(&self) -> (Vec<u8>, Vec<(u64, u64)>) {
        let mut bytes = Vec::new();
        let mut gaps = Vec::new();
        let mut hole: Option<(u64, u64)> = None;
        for (i, b) in self.map.iter().enumerate() {
            match b {
                Some(b) => {
                    if let Some(h) = hole.take() {
                        gaps.push(h);
                    }
                    bytes.push(*b);
                }
                None => hole.get_or_insert((i as u64, 0)).1 += 1,
            }
        }
        (bytes, gaps)
    }
}

/// What an [`Assembler`] emitted, checked for contiguity on the way.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reassembled {
    /// Data bytes, in order.
    pub bytes: Vec<u8>,
    /// `(offset, byte)` runs as delivered: offsets of the data events.
    pub data_at: Vec<(u64, usize)>,
    /// Gaps `(offset, len)`.
    pub gaps: Vec<(u64, u64)>,
    /// Next offset after the last event.
    pub next: u64,
}

impl Reassembled {
    fn event(&mut self, e: Event<'_>) {
        match e {
            Event::Data { offset, bytes, .. } => {
                assert_eq!(offset, self.next, "data event out of order");
                assert!(!bytes.is_empty(), "empty data event");
                self.data_at.push((offset, self.bytes.len()));
                self.next += bytes.len() as u64;
                self.bytes.extend_from_slice(bytes);
            }
            Event::Gap { offset, len, .. } => {
                assert_eq!(offset, self.next, "gap event out of order");
                assert!(len > 0, "empty gap event");
                self.next += len;
                self.gaps.push((offset, len));
            }
            Event::Conflict { .. } => {}
        }
    }
}

/// A reassembly scenario: segments at stream positions, with their flags
/// and the acknowledgements the peer sends after each.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Sequence number of position `segs[0].start`.
    pub isn: u32,
    /// The segments, in capture order.
    pub segs: Vec<ModelSegment>,
    /// Flags per segment (SYN shifts the sequence number down by one).
    pub flags: Vec<TcpFlags>,
    /// A peer acknowledgement (a position) after each segment, if any.
    pub acks: Vec<Option<u64>>,
}

impl Scenario {
    fn seq_of(&self, i: usize) -> u32 {
        let base = self.segs[0].start;
        let seq = self
            .isn
            .wrapping_add(self.segs[i].start.wrapping_sub(base) as u32);
        seq.wrapping_sub(u32::from(self.flags[i].has(TcpFlags::SYN)))
    }

    /// Feeds the scenario to a fresh assembler; with `acks`, the peer's
    /// acknowledgements too. Checks the memory bound after every segment.
    pub fn run(&self, limits: &Limits, budget_max: usize, acks: bool) -> Reassembled {
        let mut a = Assembler::new();
        let mut budget = Budget {
            used: 0,
            max: budget_max,
        };
        let mut out = Reassembled::default();
        let base = self.segs.first().map_or(0, |s| s.start);
        for (i, s) in self.segs.iter().enumerate() {
            let seg = SegmentIn {
                seq: self.seq_of(i),
                flags: self.flags[i],
                payload: &s.data,
                missing: 0,
                record: i as u64 + 1,
                ts: Timestamp(i as i64),
            };
            a.segment(&seg, limits, &mut budget, &mut |e| out.event(e));
            if let (true, Some(at)) = (acks, self.acks[i]) {
                let ack = self.isn.wrapping_add(at.wrapping_sub(base) as u32);
                a.peer_ack(ack, &mut budget, &mut |e| out.event(e));
            }
            assert!(
                a.buffered_bytes() <= limits.max_buffered_bytes,
                "{} bytes buffered, bound {}",
                a.buffered_bytes(),
                limits.max_buffered_bytes
            );
            assert_eq!(budget.used, a.buffered_bytes(), "budget out of step");
            assert_eq!(a.next_offset(), out.next, "next offset out of step");
        }
        a.finish(&mut budget, &mut |e| out.event(e));
        assert_eq!(a.buffered_bytes(), 0, "bytes left buffered at the end");
        assert_eq!(budget.used, 0, "budget not returned");
        out
    }
}

/// Reassembly target: the assembler against the [`FirstSeen`] model, then
/// under small bounds with acknowledgements.
pub fn reassembly(data: &[u8]) {
    let _ = try_reassembly(data);
}

fn try_reassembly(data: &[u8]) -> Result<()> {
    let mut u = Unstructured::new(data);
    let isn = if u.arbitrary()? {
        u32::MAX - u.int_in_range(0..=4096)?
    } else {
        u.arbitrary()?
    };
    let len = u.int_in_range(1u64..=2048)?;
    let nsegs = u.int_in_range(1..=64)?;
    let mut cuts = Vec::with_capacity(nsegs);
    let mut flags = Vec::with_capacity(nsegs);
    let mut acks = Vec::with_capacity(nsegs);
    for _ in 0..nsegs {
        let start = u.int_in_range(0..=len - 1)?;
        let seg_len = u.int_in_range(1..=96)?;
        let xor = if u.ratio(1, 5)? {
            Some(u.arbitrary::<u8>()? | 1)
        } else {
            None
        };
        cuts.push((start, seg_len, xor));
        let mut f = TcpFlags::ACK;
        for (bit, one_in) in [
            (TcpFlags::SYN, 12),
            (TcpFlags::FIN, 10),
            (TcpFlags::RST, 16),
        ] {
            if u.ratio(1, one_in)? {
                f |= bit;
            }
        }
        flags.push(TcpFlags(f));
        acks.push(if u.ratio(1, 4)? {
            Some(u.int_in_range(0..=len + 8)?)
        } else {
            None
        });
    }
    let max_bytes = u.int_in_range(1..=512)?;
    let max_segments = u.int_in_range(1..=16)?;
    let budget_max = u.int_in_range(1..=1024)?;
    let fill = u.take_rest();
    let stream: Vec<u8> = (0..len as usize)
        .map(|i| fill.get(i).copied().unwrap_or(i as u8))
        .collect();
    let segs = cuts
        .into_iter()
        .map(|(start, seg_len, xor)| {
            let end = (start + seg_len).min(len);
            let mut data = stream[start as usize..end as usize].to_vec();
            if let Some(x) = xor {
                data.iter_mut().for_each(|b| *b ^= x);
            }
            ModelSegment {
                start: start + 1000,
                data,
            }
        })
        .collect();
    let scenario = Scenario {
        isn,
        segs,
        flags,
        acks,
    };
    check_reassembly(
        &scenario,
        &Limits {
            max_buffered_bytes: max_bytes,
            max_buffered_segments: max_segments,
        },
        budget_max,
    );
    Ok(())
}

/// The checks of the reassembly target on one scenario.
pub fn check_reassembly(scenario: &Scenario, small: &Limits, budget_max: usize) {
    let model = FirstSeen::new(&scenario.segs);
    let (want_bytes, want_gaps) = model.bytes_and_gaps();
    let unbounded = Limits {
        max_buffered_bytes: usize::MAX,
        max_buffered_segments: usize::MAX,
    };
    let got = scenario.run(&unbounded, usize::MAX, false);
    assert_eq!(got.bytes, want_bytes, "bytes differ from the model");
    assert_eq!(got.gaps, want_gaps, "gaps differ from the model");
    assert_eq!(got.next, model.map.len() as u64, "stream end differs");

    // Under small bounds and acknowledgements, holes close early, but every
    // byte delivered is still the first seen at its offset.
    let got = scenario.run(small, budget_max, true);
    for (i, &(offset, at)) in got.data_at.iter().enumerate() {
        let until = got.data_at.get(i + 1).map_or(got.bytes.len(), |d| d.1);
        for (k, &b) in got.bytes[at..until].iter().enumerate() {
            let want = model.map.get(offset as usize + k).copied().flatten();
            assert_eq!(
                Some(b),
                want,
                "byte at offset {} not first seen",
                offset + k as u64
            );
        }
    }
    assert_eq!(
        got.next,
        model.map.len() as u64,
        "bounded stream end differs"
    );
}

// ----------------------------------------------------------------- packet

/// Packet target: the bytes as a record of a link type chosen by the
/// input; whatever the dissector makes of them stays within the record.
pub fn packet(data: &[u8]) {
    let _ = try_packet(data);
}

fn try_packet(data: &[u8]) -> Result<()> {
    let mut u = Unstructured::new(data);
    let link = *u.choose(&LINK_TYPES)?;
    let extra = if u.arbitrary()? {
        u.arbitrary::<u16>()?.into()
    } else {
        0u32
    };
    let bytes = u.take_rest();
    let orig_len = (bytes.len() as u32).saturating_add(extra);
    check_packet(link, bytes, orig_len);
    Ok(())
}

/// The checks of the packet target on one record.
pub fn check_packet(link: LinkType, data: &[u8], orig_len: u32) {
    let within = |part: &[u8]| {
        let r: Range<*const u8> = data.as_ptr_range();
        part.is_empty() || (r.start <= part.as_ptr() && part.as_ptr_range().end <= r.end)
    };
    let uncaptured = orig_len.saturating_sub(data.len() as u32);
    crate::dissect::check_fast_path(link, data, orig_len);
    match dissect(link, data, orig_len) {
        Dissected::Packet(p) => {
            let (payload, missing) = match p.transport {
                Transport::Tcp(t) => (t.payload, t.missing),
                Transport::Udp(d) => (d.payload, d.missing),
            };
            assert!(within(payload), "{link}: payload outside the record");
            assert!(
                missing <= uncaptured,
                "{link}: {missing} bytes missing, {uncaptured} uncaptured"
            );
        }
        Dissected::Fragment(f) => {
            assert!(within(f.payload), "{link}: fragment outside the record");
            assert!(f.missing <= uncaptured as usize, "{link}: fragment cut");
        }
        Dissected::IcmpError(_) | Dissected::Skipped(_) => {}
        Dissected::Malformed(e) => {
            assert!(e.offset <= data.len(), "{link}: error offset {e} outside");
        }
    }
}

// ----------------------------------------------------------- capture_file

/// A report that keeps nothing but counts.
#[derive(Debug, Default)]
pub struct Discard {
    /// Messages reported.
    pub messages: u64,
    /// Streams reported.
    pub streams: u64,
}

impl Report for Discard {
    fn message(&mut self, _stream: &StreamInfo, _dir: Dir, _message: &Message) {
        self.messages += 1;
    }

    fn stream(&mut self, _result: StreamResult) {
        self.streams += 1;
    }
}

/// Framings the capture target analyses with.
const CAPTURE_SPECS: [&str; 6] = [
    "none",
    "line:max=4K",
    "length:4,max=64K",
    "length:2,endian=little,adjust=-2",
    "json-header:max=64K",
    "fixed:16",
];

/// Capture target: a valid pcap or pcapng header chosen by the input, then
/// the input's bytes (or the input as a whole file), read and analysed end
/// to end.
pub fn capture_file(data: &[u8]) {
    let _ = try_capture_file(data);
}

fn try_capture_file(data: &[u8]) -> Result<()> {
    let mut u = Unstructured::new(data);
    let format = u.int_in_range(0..=3)?;
    let spec = *u.choose(&CAPTURE_SPECS)?;
    let link = u.choose(&LINK_TYPES)?.0;
    let big = u.arbitrary::<bool>()?;
    let mut file = match format {
        0 => pcap_header(big, false, link),
        1 => pcap_header(big, true, link),
        2 => pcapng_header(big, link),
        // The input is the whole file, header included.
        _ => Vec::new(),
    };
    file.extend_from_slice(u.take_rest());
    analyze_bytes(&file, spec);
    Ok(())
}

/// A pcap file header (byte order, nanosecond timestamps, link type).
pub fn pcap_header(big: bool, nanos: bool, link: u32) -> Vec<u8> {
    let magic: u32 = if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
    let words = [magic, 0x0004_0002, 0, 0, 65535, link];
    let mut out = Vec::with_capacity(24);
    for (i, w) in words.iter().enumerate() {
        // The version is two 16-bit fields: major 2, minor 4.
        if i == 1 {
            for half in [2u16, 4] {
                out.extend(if big {
                    half.to_be_bytes()
                } else {
                    half.to_le_bytes()
                });
            }
            continue;
        }
        out.extend(if big {
            w.to_be_bytes()
        } else {
            w.to_le_bytes()
        });
    }
    out
}

/// A pcapng section header block and one interface description block.
pub fn pcapng_header(big: bool, link: u32) -> Vec<u8> {
    let w32 = |v: u32| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let w16 = |v: u16| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut out = Vec::with_capacity(48);
    out.extend([0x0a, 0x0d, 0x0d, 0x0a]);
    out.extend(w32(28));
    out.extend(w32(0x1a2b_3c4d));
    out.extend(w16(1));
    out.extend(w16(0));
    out.extend([0xff; 8]);
    out.extend(w32(28));
    out.extend(w32(1));
    out.extend(w32(20));
    out.extend(w16(link as u16));
    out.extend(w16(0));
    out.extend(w32(65535));
    out.extend(w32(20));
    out
}

/// Reads `file` as a capture and analyses it with the framing `spec`,
/// under small flow bounds, as `framescope analyze` does. Returns the
/// capture summary and the report, or `None` when the header is refused.
///
/// Panics if reading returns more records than the file can hold (a
/// reader that loops).
pub fn analyze_bytes(file: &[u8], spec: &str) -> Option<(CaptureSummary, Discard)> {
    let framing = FrameSpec::parse(spec).expect("capture target specs parse");
    let opts = Options {
        framing,
        ..Options::default()
    };
    let limits = FlowLimits {
        max_streams: 64,
        max_numbered: 1024,
        reassembly: Limits {
            max_buffered_bytes: 64 * 1024,
            max_buffered_segments: 64,
        },
        max_buffered_total: 256 * 1024,
        ..FlowLimits::default()
    };
    let mut tracker = Tracker::new(Analyzer::new(opts, Discard::default()), limits);
    let mut reader = CaptureReader::new(Cursor::new(file)).ok()?;
    let mut summary = CaptureSummary::default();
    // The smallest record is a 12-byte pcapng block.
    let most = file.len() as u64 / 12 + 1;
    loop {
        match reader.next_record() {
            Ok(Some(rec)) => {
                summary.records += 1;
                assert!(summary.records <= most, "more records than bytes allow");
                assert!(rec.data.len() <= file.len(), "record larger than the file");
                if pipeline::feed(&rec, None, &mut tracker, &mut summary).is_err() {
                    unreachable!("no filter, no filter error");
                }
            }
            Ok(None) => break,
            Err(e) => {
                summary.error = Some(e.to_string());
                break;
            }
        }
    }
    summary.bytes = reader.bytes_read();
    assert!(summary.bytes <= file.len() as u64, "read past the end");
    let (analyzer, _) = tracker.finish();
    Some((summary, analyzer.into_report()))
}

// ------------------------------------------------------------- frame_spec

/// Frame-spec target: any string; an accepted spec prints in a canonical
/// form that parses back to the same value and builds working decoders;
/// a refused one names a character inside the string (or its end).
pub fn frame_spec(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match FrameSpec::parse(&text) {
        Ok(spec) => {
            let canonical = spec.to_string();
            let again = FrameSpec::parse(&canonical)
                .unwrap_or_else(|e| panic!("{text:?} prints as {canonical:?}, which fails: {e}"));
            assert_eq!(again, spec, "{text:?} -> {canonical:?}");
            assert_eq!(again.to_string(), canonical, "canonical form is not stable");
            for mut d in spec.decoders() {
                assert_eq!(d.max_frame(), spec.max_frame());
                let _ = checked_frames(d.as_mut(), &[data]);
            }
        }
        Err(e) => {
            let chars = text.chars().count();
            assert!(e.at <= chars, "error at {} of {chars} characters", e.at);
        }
    }
}
