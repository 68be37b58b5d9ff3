//! The split-invariance harness on tokio-util's codecs, over the client
//! streams of real captures cut at their real segment boundaries, and on a
//! codec with the classic bug (a header assumed whole in one read), which
//! it must catch with a single cut inside a header.

use std::io;
use std::path::Path;

use bytes::{Buf, BytesMut};
use framescope::decode::spec::FrameSpec;
use framescope::flow::reassembly::Event;
use framescope::flow::{Dir, FlowLimits, Sink, StreamInfo, StreamStats, Tracker};
use framescope::harness::{
    check, check_codec, cuts_from_lengths, Check, Codec, Config, Frames, Subject,
};
use framescope::pipeline;
use tokio_util::codec::{Decoder, LengthDelimitedCodec, LinesCodec};

/// The client direction of a capture's one TCP stream: its bytes, and the
/// length of each segment that carried them.
#[derive(Default)]
struct ClientSide {
    bytes: Vec<u8>,
    segments: Vec<usize>,
}

impl Sink for ClientSide {
    type Stream = ();

    fn open(&mut self, _: &StreamInfo) {}

    fn event(&mut self, _: &mut (), dir: Dir, event: Event<'_>) {
        match event {
            Event::Data { bytes, .. } if dir == Dir::Client => {
                self.bytes.extend_from_slice(bytes);
                self.segments.push(bytes.len());
            }
            Event::Gap { .. } => panic!("the scenario captures have no gaps"),
            _ => {}
        }
    }

    fn close(&mut self, _: (), _: &StreamInfo, _: &StreamStats) {}
}

fn client_side(name: &str) -> ClientSide {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("captures/scenarios")
        .join(name);
    let mut tracker = Tracker::new(ClientSide::default(), FlowLimits::default());
    pipeline::run(&path, None, &mut tracker).expect("scenario capture reads");
    tracker.finish().0
}

/// The capture's segments as a chunking to try.
fn config(side: &ClientSide) -> Config {
    Config {
        chunkings: vec![cuts_from_lengths(&side.segments)],
        ..Config::default()
    }
}

/// Frame starts found by framescope's own decoder for `spec`.
fn frame_starts(spec: &str, stream: &[u8]) -> Vec<usize> {
    let spec = FrameSpec::parse(spec).expect("spec parses");
    let mut frames = Frames::new(|| {
        let [client, _] = spec.decoders();
        client
    });
    let passed = check(&mut frames, stream, &Config::default()).expect("own decoder passes");
    let [mut decoder, _] = spec.decoders();
    let collected = framescope::decode::collect_frames(decoder.as_mut(), [stream]);
    assert_eq!(collected.frames.len(), passed.items);
    collected.frames.iter().map(|f| f.offset as usize).collect()
}

#[test]
fn length_delimited_codec_is_split_invariant_on_a_real_capture() {
    let side = client_side("length-prefix-two-writes.pcap");
    assert!(side.segments.len() >= 9, "{:?}", side.segments);
    let passed = check_codec(LengthDelimitedCodec::new, &side.bytes, &config(&side))
        .unwrap_or_else(|f| panic!("{f}"));
    // The 4 messages the sender wrote (the scenario's truth.json), as
    // framescope's `length:4` finds them.
    assert_eq!(passed.items, 4);
    assert_eq!(passed.items, frame_starts("length:4", &side.bytes).len());
}

#[test]
fn lines_codec_is_split_invariant_on_a_real_capture() {
    let side = client_side("ndjson.pcap");
    let passed =
        check_codec(LinesCodec::new, &side.bytes, &config(&side)).unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(passed.items, 40, "40 JSON lines were sent");
    assert_eq!(passed.items, frame_starts("line", &side.bytes).len());
}

/// A 4-byte big-endian length prefix, read from whatever the first read
/// holds: a header cut by the network gives a wrong length.
#[derive(Default)]
struct HastyLength {
    body: Option<usize>,
}

impl Decoder for HastyLength {
    type Item = BytesMut;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> io::Result<Option<BytesMut>> {
        let body = match self.body {
            Some(n) => n,
            None if src.is_empty() => return Ok(None),
            None => {
                let mut header = [0u8; 4];
                let n = src.len().min(4);
                header[..n].copy_from_slice(&src[..n]);
                src.advance(n);
                let n = u32::from_be_bytes(header) as usize;
                self.body = Some(n);
                n
            }
        };
        if src.len() < body {
            return Ok(None);
        }
        self.body = None;
        Ok(Some(src.split_to(body)))
    }
}

#[test]
fn a_header_assumed_whole_is_caught_with_one_cut_inside_a_header() {
    let side = client_side("length-prefix-two-writes.pcap");
    let starts = frame_starts("length:4", &side.bytes);
    let inside_a_header = |cut: usize| starts.iter().any(|&s| s < cut && cut < s + 4);

    // The capture's own segments never cut a header: the bug hides there.
    let mut segments = Vec::new();
    let mut rest = side.bytes.as_slice();
    for &len in &side.segments {
        let (segment, tail) = rest.split_at(len);
        segments.push(segment);
        rest = tail;
    }
    let mut hasty = Codec(HastyLength::default);
    assert_eq!(
        hasty.run(&segments, true),
        hasty.run(&[side.bytes.as_slice()], true)
    );

    // With every check, the first single cut inside a header shows it.
    let failure = check_codec(HastyLength::default, &side.bytes, &config(&side)).unwrap_err();
    assert_eq!(failure.check, Check::Cut);
    assert_eq!(failure.cuts, vec![1]);
    assert_eq!(failure.chunk_lengths(), vec![1, side.bytes.len() - 1]);
    println!("{failure}");
    assert!(failure.to_string().contains("message 0"), "{failure}");

    // Bytewise feeding alone, shrunk: one cut, inside a header.
    let bytewise = Config {
        exhaustive_limit: 0,
        random: 0,
        ..Config::default()
    };
    let failure = check_codec(HastyLength::default, &side.bytes, &bytewise).unwrap_err();
    assert_eq!(failure.check, Check::Bytewise);
    assert_eq!(failure.cuts.len(), 1, "{failure}");
    assert!(inside_a_header(failure.cuts[0]), "{failure}");
}
