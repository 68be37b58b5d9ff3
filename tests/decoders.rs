//! The generic decoders against their contract: Netty's worked examples,
//! every prefix of valid input, split invariance on random streams, hostile
//! lengths, capture gaps and the end of the stream.

use framescope::decode::delimiter::{DelimiterConfig, DelimiterDecoder};
use framescope::decode::length::{Endian, LengthConfig, LengthDecoder, LengthField, Width};
use framescope::decode::spec::FrameSpec;
use framescope::decode::{
    collect_frames, proto, Collected, DecodeErrorKind, Decoder, End, Label, Step, DEFAULT_MAX_FRAME,
};
use proptest::prelude::*;

/// A fresh client-direction decoder for `spec`.
fn decoder(spec: &str) -> Box<dyn Decoder> {
    let [client, _] = FrameSpec::parse(spec)
        .unwrap_or_else(|e| panic!("{e}"))
        .decoders();
    client
}

fn collect(decoder: &mut dyn Decoder, chunks: &[&[u8]]) -> Collected {
    collect_frames(decoder, chunks.iter().copied())
}

fn frame_bytes(collected: &Collected) -> Vec<Vec<u8>> {
    collected.frames.iter().map(|f| f.bytes.clone()).collect()
}

/// `input` cut before each of `cuts` (any order, duplicates allowed).
fn chunks<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = cuts.iter().map(|&c| c.min(input.len())).collect();
    cuts.push(0);
    cuts.push(input.len());
    cuts.sort_unstable();
    cuts.windows(2).map(|w| &input[w[0]..w[1]]).collect()
}

/// The stream fed whole, one byte at a time and in the given chunks gives
/// the same frames, labels, offsets, error and end.
fn assert_split_invariant(
    make: &dyn Fn() -> Box<dyn Decoder>,
    input: &[u8],
    cuts: &[usize],
) -> Collected {
    let whole = collect(&mut *make(), &[input]);
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(collect(&mut *make(), &bytes), whole, "one byte at a time");
    assert_eq!(
        collect(&mut *make(), &chunks(input, cuts)),
        whole,
        "cut at {cuts:?}"
    );
    whole
}

/// Every prefix of `frames` concatenated: the complete frames come out,
/// then a clean end exactly at boundaries and a truncation elsewhere.
fn assert_every_prefix(spec: &str, frames: &[&[u8]]) {
    let input = frames.concat();
    for cut in 0..=input.len() {
        let got = collect(&mut *decoder(spec), &[&input[..cut]]);
        assert_eq!(got.error, None, "{spec} at {cut}");
        let mut end = 0;
        let mut expected = Vec::new();
        for frame in frames {
            if end + frame.len() > cut {
                break;
            }
            end += frame.len();
            expected.push(frame.to_vec());
        }
        assert_eq!(frame_bytes(&got), expected, "{spec} at {cut}");
        let clean = end == cut;
        assert_eq!(
            got.end == Some(End::Clean),
            clean,
            "{spec} at {cut}: {:?}",
            got.end
        );
        // Fed as prefix then rest, the stream frames as a whole.
        let split = assert_split_invariant(&|| decoder(spec), &input, &[cut]);
        assert_eq!(
            frame_bytes(&split),
            frames.iter().map(|f| f.to_vec()).collect::<Vec<_>>()
        );
    }
}

// Netty's LengthFieldBasedFrameDecoder javadoc, examples 1 to 7: the
// configuration, the bytes before decoding and the bytes after stripping.

const HELLO: &[u8] = b"HELLO, WORLD";

fn netty(offset: u64, width: Width, adjust: i64, strip: u64) -> LengthConfig {
    LengthConfig {
        offset,
        adjust,
        strip,
        ..LengthConfig::new(LengthField::big_endian(width))
    }
}

fn check_netty(config: LengthConfig, spec: &str, before: &[u8], after: &[u8]) {
    assert_eq!(
        FrameSpec::parse(spec),
        Ok(FrameSpec::Length(config.clone())),
        "{spec}"
    );
    let stream = [before, before].concat();
    let got = collect(&mut LengthDecoder::new(config.clone()), &[&stream]);
    assert_eq!(got.error, None);
    assert_eq!(got.end, Some(End::Clean));
    assert_eq!(frame_bytes(&got), [before, before]);
    assert_eq!(got.frames[1].offset, before.len() as u64);
    for frame in &got.frames {
        assert_eq!(config.payload(&frame.bytes), after, "{spec}");
        assert_eq!(frame.label, None);
    }
    assert_every_prefix(spec, &[before, before]);
}

#[test]
fn netty_1_two_byte_length() {
    let before = [&[0x00, 0x0c][..], HELLO].concat();
    check_netty(netty(0, Width::W2, 0, 0), "length:2", &before, &before);
}

#[test]
fn netty_2_strip_the_header() {
    let before = [&[0x00, 0x0c][..], HELLO].concat();
    check_netty(
        netty(0, Width::W2, 0, 2),
        "length:2,strip=2",
        &before,
        HELLO,
    );
}

#[test]
fn netty_3_length_includes_the_header() {
    let before = [&[0x00, 0x0e][..], HELLO].concat();
    check_netty(
        netty(0, Width::W2, -2, 0),
        "length:2,adjust=-2",
        &before,
        &before,
    );
}

#[test]
fn netty_4_header_before_a_three_byte_length() {
    let before = [&[0xca, 0xfe, 0x00, 0x00, 0x0c][..], HELLO].concat();
    check_netty(
        netty(2, Width::W3, 0, 0),
        "length:3,offset=2",
        &before,
        &before,
    );
}

#[test]
fn netty_5_header_after_a_three_byte_length() {
    let before = [&[0x00, 0x00, 0x0c, 0xca, 0xfe][..], HELLO].concat();
    check_netty(
        netty(0, Width::W3, 2, 0),
        "length:3,adjust=2",
        &before,
        &before,
    );
}

#[test]
fn netty_6_headers_around_the_length_stripped() {
    let before = [&[0xca, 0x00, 0x0c, 0xfe][..], HELLO].concat();
    let after = [&[0xfe][..], HELLO].concat();
    check_netty(
        netty(1, Width::W2, 1, 3),
        "length:2,offset=1,adjust=1,strip=3",
        &before,
        &after,
    );
}

#[test]
fn netty_7_length_of_the_whole_message_stripped() {
    let before = [&[0xca, 0x00, 0x10, 0xfe][..], HELLO].concat();
    let after = [&[0xfe][..], HELLO].concat();
    check_netty(
        netty(1, Width::W2, -3, 3),
        "length:2,offset=1,adjust=-3,strip=3",
        &before,
        &after,
    );
}

#[test]
fn every_prefix_of_each_framing() {
    assert_every_prefix(
        "length:4",
        &[b"\0\0\0\x05hello", b"\0\0\0\0", b"\0\0\0\x01!"],
    );
    assert_every_prefix("length:2,endian=little", &[b"\x05\0world", b"\x01\0!"]);
    assert_every_prefix("length:ascii=4", &[b"0005hello", b"0000", b"0007musibii"]);
    assert_every_prefix("length:varint", &[b"\x05hello", b"\x00", b"\x01\x31"]);
    assert_every_prefix(
        "line",
        &[b"hello\r\n", b"world\n", b"\n", b"musibii\r\n", b"1\n"],
    );
    assert_every_prefix("delim:\\0|END", &[b"hello\0", b"worldEND", b"END", b"EN\0"]);
    assert_every_prefix("fixed:5", &[b"hello", b"world", b"musib"]);
    let json = |header: &str, body: &[u8]| {
        [
            &(header.len() as i32).to_le_bytes()[..],
            header.as_bytes(),
            body,
        ]
        .concat()
    };
    assert_every_prefix(
        "json-header",
        &[
            &json(r#"{"total_size":5,"name":"hello"}"#, b"hello"),
            &json(r#"{"total_size":0}"#, b""),
            &json(r#"{"total_size":1}"#, b"1"),
        ],
    );
}

#[test]
fn none_leaves_boundaries_to_segments() {
    let mut none = decoder("none");
    assert!(none.segment_is_message());
    let got = collect(&mut *none, &[b"hello", b"world"]);
    assert_eq!(got.frames, []);
    assert_eq!(got.end, Some(End::Clean));
    for spec in ["line", "length:4", "fixed:3", "json-header"] {
        assert!(!decoder(spec).segment_is_message(), "{spec}");
    }
}

// Hostile input.

#[test]
fn huge_length_is_too_long_at_the_length_field() {
    let got = collect(
        &mut *decoder("length:4"),
        &[b"\0\0\0\x01x\xff\xff\xff\xffabc"],
    );
    assert_eq!(got.frames.len(), 1);
    let error = got.error.unwrap();
    assert_eq!(error.offset, 5);
    assert_eq!(
        *error.kind,
        DecodeErrorKind::TooLong {
            len: 0xffff_ffff + 4,
            max: DEFAULT_MAX_FRAME
        }
    );
    // With a header before the field, the offset is the field's.
    let got = collect(
        &mut *decoder("length:4,offset=3"),
        &[b"abc\xff\xff\xff\xff"],
    );
    assert_eq!(got.error.unwrap().offset, 3);
    // A frame of exactly the maximum passes, one byte more does not.
    let mut exact = decoder("length:1,max=4");
    assert_eq!(
        exact.decode(b"\x03abc"),
        Ok(Step::Frame {
            consumed: 4,
            label: None
        })
    );
    let error = exact.decode(b"\x04abcd").unwrap_err();
    assert_eq!(*error.kind, DecodeErrorKind::TooLong { len: 5, max: 4 });
    assert_eq!(error.offset, 4);
    // A failed decoder keeps failing, and cannot resynchronise.
    assert_eq!(exact.decode(b"\x00"), Err(error));
    assert!(!exact.can_resync());
    assert_eq!(exact.resync(b"\x00"), None);
}

#[test]
fn negative_signed_length_is_bad() {
    let error = decoder("length:2,signed")
        .decode(b"\xff\xfeab")
        .unwrap_err();
    assert_eq!(error.offset, 0);
    assert!(matches!(
        *error.kind,
        DecodeErrorKind::BadLength { value: -2, .. }
    ));
    let error = decoder("length:4,endian=little,signed")
        .decode(b"\xff\xff\xff\xff")
        .unwrap_err();
    assert!(matches!(
        *error.kind,
        DecodeErrorKind::BadLength { value: -1, .. }
    ));
    // The same bytes unsigned are merely too long.
    let error = decoder("length:2,max=1K").decode(b"\xff\xfe").unwrap_err();
    assert_eq!(
        *error.kind,
        DecodeErrorKind::TooLong {
            len: 0xfffe + 2,
            max: 1024
        }
    );
}

#[test]
fn adjusted_length_before_the_field_is_bad() {
    let error = decoder("length:2,adjust=-3")
        .decode(b"\x00\x02")
        .unwrap_err();
    assert!(matches!(
        *error.kind,
        DecodeErrorKind::BadLength { value: 2, .. }
    ));
    let error = decoder("length:1,strip=5").decode(b"\x02ab").unwrap_err();
    assert!(matches!(
        *error.kind,
        DecodeErrorKind::BadLength { value: 2, .. }
    ));
}

fn json_frame(header: &str, body: &[u8]) -> Vec<u8> {
    [
        &(header.len() as i32).to_le_bytes()[..],
        header.as_bytes(),
        body,
    ]
    .concat()
}

#[test]
fn json_header_declaring_a_gigabyte_is_refused_before_its_body() {
    let frame = json_frame(r#"{"total_size":1073741824}"#, b"");
    let mut json = decoder("json-header");
    let error = json.decode(&frame).unwrap_err();
    assert_eq!(error.offset, 4);
    assert_eq!(
        *error.kind,
        DecodeErrorKind::TooLong {
            len: frame.len() as u64 + (1 << 30),
            max: DEFAULT_MAX_FRAME
        }
    );
    // Allowed, the gigabyte is counted, never held.
    let mut json = decoder("json-header:max=2G");
    assert_eq!(json.decode(&frame), Ok(Step::NeedMore));
    assert_eq!(json.decode(&[0; 4096]), Ok(Step::NeedMore));
    assert_eq!(
        json.finish(),
        End::Truncated {
            missing: Some((1 << 30) - 4096)
        }
    );
}

#[test]
fn json_header_length_beyond_the_header_limit() {
    let error = decoder("json-header")
        .decode(&0x7fff_ffff_i32.to_le_bytes())
        .unwrap_err();
    assert_eq!(error.offset, 0);
    assert_eq!(
        *error.kind,
        DecodeErrorKind::TooLong {
            len: 0x7fff_ffff,
            max: 64 * 1024
        }
    );
    let error = decoder("json-header")
        .decode(&(-1i32).to_le_bytes())
        .unwrap_err();
    assert!(matches!(
        *error.kind,
        DecodeErrorKind::BadLength { value: -1, .. }
    ));
    let error = decoder("json-header:max-header=16")
        .decode(&json_frame(r#"{"total_size":0,"pad":"xx"}"#, b""))
        .unwrap_err();
    assert!(matches!(
        *error.kind,
        DecodeErrorKind::TooLong { max: 16, .. }
    ));
}

#[test]
fn json_header_bad_size_keys() {
    for header in [
        r#"{"size":1}"#,
        r#"{"total_size":-5}"#,
        r#"{"total_size":"5"}"#,
        r#"{"total_size":2.5}"#,
        r#"not json"#,
    ] {
        let input = [
            json_frame(r#"{"total_size":0}"#, b""),
            json_frame(header, b""),
        ]
        .concat();
        let got = collect(&mut *decoder("json-header"), &[&input]);
        assert_eq!(got.frames.len(), 1);
        let error = got.error.unwrap();
        assert_eq!(error.offset, 4 + 16 + 4, "{header}");
        assert!(
            matches!(*error.kind, DecodeErrorKind::BadHeader(_)),
            "{header}"
        );
    }
    let got = collect(
        &mut *decoder("json-header:key=size"),
        &[&json_frame(r#"{"size":1}"#, b"x")],
    );
    assert_eq!(got.error, None);
    assert_eq!(got.frames.len(), 1);
}

#[test]
fn delimiter_past_max_errors_then_resyncs_at_the_next_delimiter() {
    let mut line = decoder("line:max=8");
    let input = b"ok\nabcdefghijk\r\nxy\n";
    assert_eq!(
        line.decode(input),
        Ok(Step::Frame {
            consumed: 3,
            label: None
        })
    );
    let rest = &input[3..];
    let error = line.decode(rest).unwrap_err();
    assert_eq!(error.offset, 3);
    assert_eq!(*error.kind, DecodeErrorKind::TooLong { len: 9, max: 8 });
    assert_eq!(line.decode(rest), Err(error));
    assert!(line.can_resync());
    // The error consumed nothing: resync scans the same bytes.
    assert_eq!(line.resync(rest), Some(13));
    assert_eq!(
        line.decode(&rest[13..]),
        Ok(Step::Frame {
            consumed: 3,
            label: None
        })
    );
    assert_eq!(line.finish(), End::Clean);
}

#[test]
fn delimiter_resync_across_chunks() {
    let mut delim = decoder("delim:END,max=4");
    assert_eq!(delim.decode(b"abc"), Ok(Step::NeedMore));
    assert!(delim.decode(b"defE").is_err());
    assert_eq!(delim.resync(b"defE"), None);
    assert_eq!(delim.resync(b"N"), None);
    assert_eq!(delim.resync(b"Dz\n"), Some(1));
    assert_eq!(delim.decode(b"z\n"), Ok(Step::NeedMore));
    assert_eq!(delim.finish(), End::Truncated { missing: None });
}

#[test]
fn delimiter_gap_loses_the_place_until_resync() {
    let mut line = decoder("line");
    assert_eq!(line.decode(b"abc"), Ok(Step::NeedMore));
    assert!(!line.skip(10));
    let error = line.decode(b"x\n").unwrap_err();
    assert_eq!(error.offset, 3);
    assert_eq!(line.resync(b"x\ny\n"), Some(2));
    assert_eq!(
        line.decode(b"y\n"),
        Ok(Step::Frame {
            consumed: 2,
            label: None
        })
    );
}

#[test]
fn delimiter_payload_strips_the_delimiter() {
    let FrameSpec::Delimiter(config) = FrameSpec::parse("line:strip").unwrap() else {
        panic!("line is a delimiter framing");
    };
    let got = collect(&mut DelimiterDecoder::new(config.clone()), &[b"a\r\nb\n"]);
    let payloads: Vec<&[u8]> = got
        .frames
        .iter()
        .map(|f| config.payload(&f.bytes))
        .collect();
    assert_eq!(payloads, [b"a", b"b"]);
    // The wire frames keep their delimiter either way.
    assert_eq!(frame_bytes(&got), [&b"a\r\n"[..], b"b\n"]);
}

// Capture gaps and the end of the stream.

#[test]
fn gap_inside_a_body_keeps_the_framing() {
    // (spec, header of a 10-byte body, a whole frame with a 1-byte body)
    let cases: [(&str, &[u8], &[u8]); 2] = [
        ("length:2", b"\x00\x0a", b"\x00\x01z"),
        (
            "length:2,endian=little,adjust=-2",
            b"\x0c\x00",
            b"\x03\x00z",
        ),
    ];
    for (spec, header, next) in cases {
        let mut length = decoder(spec);
        assert_eq!(length.decode(header), Ok(Step::NeedMore));
        assert_eq!(length.decode(b"abc"), Ok(Step::NeedMore));
        assert!(length.skip(4));
        assert_eq!(
            length.decode(&[b"hij", next].concat()),
            Ok(Step::Frame {
                consumed: 3,
                label: None
            })
        );
        assert_eq!(
            length.decode(next),
            Ok(Step::Frame {
                consumed: 3,
                label: None
            })
        );
        assert_eq!(length.finish(), End::Clean);
    }
    // A gap that reaches the end of the body would hide the frame's end.
    let mut length = decoder("length:2");
    assert_eq!(length.decode(b"\x00\x0aabc"), Ok(Step::NeedMore));
    assert!(!length.skip(7));
    let error = length.decode(b"\x00").unwrap_err();
    assert_eq!(error.offset, 5);
    // The same for JSON-header bodies.
    let mut json = decoder("json-header");
    assert_eq!(
        json.decode(&json_frame(r#"{"total_size":10}"#, b"ab")),
        Ok(Step::NeedMore)
    );
    assert!(json.skip(5));
    assert_eq!(
        json.decode(b"hij"),
        Ok(Step::Frame {
            consumed: 3,
            label: None
        })
    );
    assert!(!json.skip(1));
}

#[test]
fn finish_reports_what_is_missing() {
    let cases: &[(&str, &[u8], End)] = &[
        ("length:4", b"", End::Clean),
        ("length:4", b"\0\0", End::Truncated { missing: None }),
        (
            "length:4",
            b"\0\0\0\x0aabc",
            End::Truncated { missing: Some(7) },
        ),
        ("length:2,offset=2", b"xy", End::Truncated { missing: None }),
        ("length:varint", b"\x80", End::Truncated { missing: None }),
        ("fixed:4", b"abcdef", End::Truncated { missing: Some(2) }),
        ("fixed:4", b"abcd", End::Clean),
        ("line", b"abc\nde", End::Truncated { missing: None }),
        ("line", b"abc\n", End::Clean),
        ("json-header", b"\x10\0", End::Truncated { missing: None }),
        (
            "json-header",
            b"\x10\0\0\0{\"total_size\":",
            End::Truncated { missing: None },
        ),
    ];
    for (spec, input, end) in cases {
        let got = collect(&mut *decoder(spec), &[input]);
        assert_eq!(got.end.as_ref(), Some(end), "{spec} {input:?}");
    }
    let got = collect(
        &mut *decoder("json-header"),
        &[&json_frame(r#"{"total_size":9}"#, b"1234")],
    );
    assert_eq!(got.end, Some(End::Truncated { missing: Some(5) }));
}

#[test]
fn json_header_labels() {
    let input = [
        json_frame(r#"{"total_size":1,"op":"upload"}"#, b"x"),
        json_frame(r#"{"total_size":0}"#, b""),
    ]
    .concat();
    let got = collect(&mut *decoder("json-header:label=op"), &[&input]);
    let labels: Vec<Option<Label>> = got.frames.iter().map(|f| f.label).collect();
    assert_eq!(labels, [Some(Label::new("upload")), None]);
}

#[test]
fn decoder_pairs_are_fresh_and_independent() {
    let spec = FrameSpec::parse("length:1").unwrap();
    let [mut client, mut server] = spec.decoders();
    assert_eq!(client.decode(b"\x02a"), Ok(Step::NeedMore));
    assert_eq!(
        server.decode(b"\x00"),
        Ok(Step::Frame {
            consumed: 1,
            label: None
        })
    );
    assert_eq!(client.max_frame(), DEFAULT_MAX_FRAME);
    assert_eq!(spec.max_frame(), DEFAULT_MAX_FRAME);
}

#[test]
fn every_registered_protocol_parses_and_builds() {
    for protocol in proto::PROTOCOLS {
        let spec = FrameSpec::parse(protocol.name).unwrap();
        assert_eq!(spec.to_string(), protocol.name);
        let bounded = FrameSpec::parse(&format!("{}:max=1M", protocol.name)).unwrap();
        assert_eq!(bounded.max_frame(), 1 << 20);
        assert_eq!(FrameSpec::parse(&bounded.to_string()), Ok(bounded));
        assert!(
            proto::build(protocol.name, 1 << 20).is_some(),
            "{}",
            protocol.name
        );
    }
}

// Split invariance on random streams: for each framing, random messages
// encoded in it (plus, sometimes, random bytes after them) give the same
// frames, labels, errors and end however the stream is cut.

/// A length-prefixed configuration and the frames to encode in it.
fn length_case() -> impl Strategy<Value = (LengthConfig, Vec<Vec<u8>>)> {
    let field = prop_oneof![
        (
            prop::sample::select(vec![Width::W1, Width::W2, Width::W3, Width::W4, Width::W8]),
            any::<bool>(),
            any::<bool>()
        )
            .prop_map(|(width, little, signed)| LengthField::Binary {
                width,
                endian: if little { Endian::Little } else { Endian::Big },
                signed,
            }),
        (2u8..=5).prop_map(|digits| LengthField::Ascii {
            digits: digits.try_into().unwrap()
        }),
        Just(LengthField::Varint),
    ];
    (field, 0u64..4, -4i64..=4, 0u64..4)
        .prop_flat_map(|(field, offset, adjust, strip)| {
            let config = LengthConfig {
                offset,
                adjust,
                strip: strip.min(offset),
                ..LengthConfig::new(field)
            };
            let bodies = prop::collection::vec(
                (
                    prop::collection::vec(any::<u8>(), offset as usize),
                    prop::collection::vec(any::<u8>(), 0..300),
                ),
                0..6,
            );
            (Just(config), bodies)
        })
        .prop_map(|(config, bodies)| {
            let frames = bodies
                .into_iter()
                .map(|(prefix, mut rest)| {
                    // Bytes after the field = value + adjust, value >= 0.
                    let most = max_value(config.field).saturating_add(config.adjust);
                    rest.truncate(most.clamp(0, 1 << 20) as usize);
                    if (rest.len() as i64) < config.adjust {
                        rest.resize(config.adjust as usize, 0);
                    }
                    let value = rest.len() as i64 - config.adjust;
                    [prefix, encode_length(config.field, value), rest].concat()
                })
                .collect();
            (config, frames)
        })
}

/// The largest value `field` can hold (capped: tests use small values).
fn max_value(field: LengthField) -> i64 {
    match field {
        LengthField::Binary { width, signed, .. } => {
            let bits = 8 * u32::from(width.bytes()) - u32::from(signed);
            i64::try_from((1i128 << bits) - 1).unwrap_or(i64::MAX)
        }
        LengthField::Ascii { digits } => 10i64.pow(u32::from(digits.get())) - 1,
        LengthField::Varint => i64::MAX,
    }
}

fn encode_length(field: LengthField, value: i64) -> Vec<u8> {
    match field {
        LengthField::Binary { width, endian, .. } => {
            let n = usize::from(width.bytes());
            let be = value.to_be_bytes();
            let mut bytes = be[8 - n..].to_vec();
            if endian == Endian::Little {
                bytes.reverse();
            }
            bytes
        }
        LengthField::Ascii { digits } => {
            format!("{value:0width$}", width = usize::from(digits.get())).into_bytes()
        }
        LengthField::Varint => {
            let mut value = value as u64;
            let mut out = Vec::new();
            loop {
                let group = (value & 0x7f) as u8;
                value >>= 7;
                if value == 0 {
                    out.push(group);
                    return out;
                }
                out.push(group | 0x80);
            }
        }
    }
}

fn json_case() -> impl Strategy<Value = (String, Vec<Vec<u8>>, Vec<Option<Label>>)> {
    let messages = prop::collection::vec(
        (
            prop::collection::vec(any::<u8>(), 0..200),
            prop::option::of("[a-z]{1,30}"),
        ),
        0..5,
    );
    (any::<bool>(), any::<bool>(), messages).prop_map(|(wide, big, messages)| {
        let spec = format!(
            "json-header:width={},endian={},label=op",
            if wide { 8 } else { 4 },
            if big { "big" } else { "little" }
        );
        let mut frames = Vec::new();
        let mut labels = Vec::new();
        for (body, op) in messages {
            let header = match &op {
                Some(op) => format!(r#"{{"op":"{op}","total_size":{}}}"#, body.len()),
                None => format!(r#"{{"total_size":{}}}"#, body.len()),
            };
            let len = header.len() as u64;
            let mut prefix = match (wide, big) {
                (true, true) => len.to_be_bytes().to_vec(),
                (true, false) => len.to_le_bytes().to_vec(),
                (false, true) => (len as u32).to_be_bytes().to_vec(),
                (false, false) => (len as u32).to_le_bytes().to_vec(),
            };
            prefix.extend_from_slice(header.as_bytes());
            prefix.extend_from_slice(&body);
            frames.push(prefix);
            labels.push(op.map(|op| Label::new(&op)));
        }
        (spec, frames, labels)
    })
}

/// The obviously correct delimiter framing: a frame ends at the first byte
/// where some delimiter is a suffix of it; a frame that grows past `max`
/// without one is an error at its start.
fn delimiter_model(
    delimiters: &[Vec<u8>],
    max: usize,
    input: &[u8],
) -> (Vec<Vec<u8>>, Option<u64>) {
    let mut frames = Vec::new();
    let mut start = 0;
    for end in 1..=input.len() {
        let frame = &input[start..end];
        if frame.len() > max {
            return (frames, Some(start as u64));
        }
        if delimiters.iter().any(|d| frame.ends_with(d)) {
            frames.push(frame.to_vec());
            start = end;
        }
    }
    (frames, None)
}

fn cuts() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0usize..2000, 0..8)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn length_frames_are_split_invariant(
        (config, frames) in length_case(),
        garbage in prop::collection::vec(any::<u8>(), 0..12),
        cuts in cuts(),
    ) {
        let spec = FrameSpec::Length(config.clone());
        let spec = FrameSpec::parse(&spec.to_string()).unwrap();
        prop_assert_eq!(&spec, &FrameSpec::Length(config));
        let valid = frames.concat();
        let make = || { let [client, _] = spec.decoders(); client };
        let got = assert_split_invariant(&make, &valid, &cuts);
        prop_assert_eq!(frame_bytes(&got), frames);
        prop_assert_eq!(got.end, Some(End::Clean));
        assert_split_invariant(&make, &[valid, garbage].concat(), &cuts);
    }

    #[test]
    fn json_header_frames_are_split_invariant(
        (spec, frames, labels) in json_case(),
        garbage in prop::collection::vec(any::<u8>(), 0..12),
        cuts in cuts(),
    ) {
        let valid = frames.concat();
        let make = || decoder(&spec);
        let got = assert_split_invariant(&make, &valid, &cuts);
        prop_assert_eq!(frame_bytes(&got), frames);
        prop_assert_eq!(got.frames.iter().map(|f| f.label).collect::<Vec<_>>(), labels);
        prop_assert_eq!(got.end, Some(End::Clean));
        assert_split_invariant(&make, &[valid, garbage].concat(), &cuts);
    }

    #[test]
    fn delimiter_frames_match_the_model_and_are_split_invariant(
        delimiters in prop::collection::vec(
            prop::collection::vec(prop::sample::select(b"\r\n\0|".to_vec()), 1..4), 1..4),
        strip in any::<bool>(),
        max in 1usize..40,
        input in prop::collection::vec(prop::sample::select(b"ab\r\n\0|".to_vec()), 0..300),
        cuts in cuts(),
    ) {
        let mut config = DelimiterConfig::new(delimiters.clone()).unwrap();
        config.strip = strip;
        config.max_frame = max as u64;
        let spec = FrameSpec::Delimiter(config);
        prop_assert_eq!(FrameSpec::parse(&spec.to_string()), Ok(spec.clone()));
        let make = || { let [client, _] = spec.decoders(); client };
        let got = assert_split_invariant(&make, &input, &cuts);
        let (frames, error_at) = delimiter_model(&delimiters, max, &input);
        prop_assert_eq!(frame_bytes(&got), frames);
        prop_assert_eq!(got.error.map(|e| e.offset), error_at);
    }

    #[test]
    fn delimiter_resync_finds_the_models_next_frame(
        input in prop::collection::vec(prop::sample::select(b"ab\n".to_vec()), 0..200),
        cut in 0usize..200,
    ) {
        // After an error, resync drops through the next delimiter whatever
        // the chunking, and decoding goes on from there.
        let (head, tail) = input.split_at(cut.min(input.len()));
        let run = |chunks: &[&[u8]]| {
            let mut line = decoder("line:max=5");
            let mut events = Vec::new();
            let mut pos = 0u64;
            let mut failed = false;
            for chunk in chunks {
                let mut rest: &[u8] = chunk;
                while !rest.is_empty() {
                    if failed {
                        match line.resync(rest) {
                            Some(drop) => {
                                failed = false;
                                pos += drop as u64;
                                events.push(("resync", pos));
                                rest = &rest[drop..];
                            }
                            None => {
                                pos += rest.len() as u64;
                                rest = &[];
                            }
                        }
                        continue;
                    }
                    match line.decode(rest) {
                        Ok(Step::NeedMore) => {
                            pos += rest.len() as u64;
                            rest = &[];
                        }
                        Ok(Step::Frame { consumed, .. }) => {
                            pos += consumed as u64;
                            events.push(("frame", pos));
                            rest = &rest[consumed..];
                        }
                        Err(error) => {
                            failed = true;
                            events.push(("error", error.offset));
                        }
                    }
                }
            }
            events
        };
        prop_assert_eq!(run(&[head, tail]), run(&[&input]));
    }

    #[test]
    fn spec_parser_never_panics_and_round_trips(
        spec in "(none|line|delim|length|fixed|json-header|x)(:([a-z0-9=,|\\\\+-]|max|width|endian|little|ascii|varint|strip|offset|adjust|signed|key|label|0x|\\\\r|\\\\n|é){0,12})?",
    ) {
        match FrameSpec::parse(&spec) {
            Ok(parsed) => {
                let canonical = parsed.to_string();
                prop_assert_eq!(FrameSpec::parse(&canonical), Ok(parsed), "{}", canonical);
            }
            Err(error) => {
                prop_assert_eq!(&error.spec, &spec);
                prop_assert!(error.at <= spec.chars().count());
            }
        }
    }

    #[test]
    fn fixed_and_none_are_split_invariant(
        size in 1usize..12,
        input in prop::collection::vec(any::<u8>(), 0..200),
        cuts in cuts(),
    ) {
        let spec = format!("fixed:{size}");
        let got = assert_split_invariant(&|| decoder(&spec), &input, &cuts);
        let whole: Vec<Vec<u8>> = input.chunks_exact(size).map(<[u8]>::to_vec).collect();
        prop_assert_eq!(frame_bytes(&got), whole);
        let rem = (input.len() % size) as u64;
        let end = if rem == 0 { End::Clean } else { End::Truncated { missing: Some(size as u64 - rem) } };
        prop_assert_eq!(got.end, Some(end));

        let got = assert_split_invariant(&|| decoder("none"), &input, &cuts);
        prop_assert_eq!(got.frames, vec![]);
        prop_assert_eq!(got.end, Some(End::Clean));
    }
}

/// RESP messages of every kind the fast path takes or leaves: commands in
/// any case, names over a label's length, values over a segment, replies
/// of each type and nulls, then what it leaves to the general path (an
/// inline command, a nested array, a null written another way, RESP3
/// types, a count over its limit, a bulk string whose CRLF is wrong).
fn resp_stream() -> Vec<u8> {
    let mut s = Vec::new();
    let long = "X".repeat(40);
    let value = "v".repeat(2000);
    for (i, name) in ["SET", "get", "LpUsH", long.as_str(), "", "PING"]
        .iter()
        .enumerate()
    {
        let arg = if i == 2 { value.as_str() } else { "k" };
        s.extend_from_slice(
            format!(
                "*2\r\n${}\r\n{name}\r\n${}\r\n{arg}\r\n",
                name.len(),
                arg.len()
            )
            .as_bytes(),
        );
    }
    s.extend_from_slice(b"+OK\r\n:42\r\n-ERR no\r\n$5\r\nhello\r\n$0\r\n\r\n*1\r\n$1\r\nx\r\n");
    // Nulls, as a server's fast path takes them, then one it leaves.
    s.extend_from_slice(b"$-1\r\n*-1\r\n$-1\r\n$-01\r\n");
    s.extend_from_slice(b"*3\r\n$3\r\nDEL\r\n$1\r\na\r\n$1\r\nb\r\n");
    s.extend_from_slice(b"PING\r\n*1\r\n*1\r\n$1\r\na\r\n$-1\r\n_\r\n#t\r\n*5000\r\n");
    s.extend_from_slice(b"*1\r\n$4\r\nQUIT\r\n$3\r\nabcXY*1\r\n$1\r\nz\r\n");
    s
}

/// The messages the read-ahead thread finds in each payload give the
/// frames the decoder finds alone, on both sides, whatever the payloads
/// (cut at every point, in pairs) and the largest frame; the fuzz target
/// `decoder` checks the same on random streams.
#[test]
fn resp_messages_found_ahead_give_the_same_frames() {
    let stream = resp_stream();
    for spec in ["resp", "resp:max=64", "resp:max=2K"] {
        let spec = FrameSpec::parse(spec).unwrap_or_else(|e| panic!("{e}"));
        for side in 0..2 {
            let whole = collect(spec.decoders()[side].as_mut(), &[&stream]);
            assert!(
                whole.frames.len() > 1,
                "{spec}: {} frames",
                whole.frames.len()
            );
            for a in (0..=stream.len()).step_by(7) {
                for b in [a, a + 1, a + 5, a + 40, a + 1500] {
                    let cut = chunks(&stream, &[a, b]);
                    let found = framescope::fuzzing::found_ahead(&spec, &cut);
                    let mut hinted = spec.decoders();
                    let got =
                        framescope::fuzzing::frames_of(hinted[side].as_mut(), &cut, Some(found));
                    assert_eq!(whole, got, "{spec} side {side}: cut at {a} and {b}");
                }
            }
        }
    }
}
