//! Framing detection against every capture whose framing is known: the
//! real-server captures (`captures/servers/`), the public captures with a
//! `derived_framing` in `captures/real/oracles-public.json` and the HTTP ones,
//! and the seed scenarios (`captures/scenarios/`).
//!
//! A detection is right when it chooses an expected spec, or a spec that
//! frames the stream's sample exactly as an expected one does (`length:4`
//! for a Kafka stream on a port that is not Kafka's, say).
//!
//! The scenarios framed `none` hold unframed bytes. Where those bytes are
//! text made of whole lines (a command's output), `line` explains them as
//! well as anything can, and detection may answer `line`: the test accepts
//! `none` or `line` there, and nothing else.

use std::path::Path;

use framescope::decode::spec::FrameSpec;
use framescope::decode::Step;
use framescope::detect::{detect, Detection, Sample, Sampler};
use framescope::flow::{endpoint, FlowLimits, StreamInfo, Tracker};
use framescope::pipeline;
use serde_json::Value;

mod common;

use common::{captures, framescope, root, server_framing, server_oracles, servers_dir};

/// One stream's detection and its sample.
struct Seen {
    info: StreamInfo,
    data: [Vec<u8>; 2],
    complete: [bool; 2],
    detection: Detection,
}

impl Seen {
    fn sample(&self) -> Sample<'_> {
        Sample {
            client: &self.data[0],
            server: &self.data[1],
            complete: self.complete,
            client_port: self.info.client.port(),
            server_port: self.info.server.port(),
        }
    }
}

fn detect_all(path: &Path) -> Vec<Seen> {
    let mut seen = Vec::new();
    let sampler = Sampler::new(|info: &StreamInfo, s: &Sample<'_>, detection: Detection| {
        seen.push(Seen {
            info: *info,
            data: [s.client.to_vec(), s.server.to_vec()],
            complete: s.complete,
            detection,
        });
    });
    let mut tracker = Tracker::new(sampler, FlowLimits::default());
    pipeline::run(path, None, &mut tracker).unwrap();
    let _ = tracker.finish();
    seen.sort_by_key(|s| s.info.number);
    seen
}

/// Frame ends per direction, the decoders fed one message at a time in
/// turn, as detection feeds them.
fn boundaries(spec: &FrameSpec, sample: &Sample<'_>) -> [Vec<usize>; 2] {
    let mut decoders = spec.decoders();
    let data = [sample.client, sample.server];
    let mut pos = [0usize; 2];
    let mut ends: [Vec<usize>; 2] = [Vec::new(), Vec::new()];
    let mut done = [false; 2];
    while done.iter().any(|d| !d) {
        for i in 0..2 {
            if done[i] || pos[i] >= data[i].len() {
                done[i] = true;
                continue;
            }
            match decoders[i].decode(&data[i][pos[i]..]) {
                Ok(Step::Frame { consumed, .. }) => {
                    pos[i] += consumed;
                    ends[i].push(pos[i]);
                }
                Ok(Step::NeedMore) | Err(_) => done[i] = true,
            }
        }
    }
    ends
}

/// Whether `seen`'s detection is one of `expected`, or frames its sample
/// exactly as one of them does. Returns a failure line otherwise.
fn check(name: &str, seen: &Seen, expected: &[&str]) -> Option<String> {
    let chosen = &seen.detection.chosen.spec;
    let text = chosen.to_string();
    if expected.contains(&text.as_str()) {
        return None;
    }
    let sample = seen.sample();
    let got = boundaries(chosen, &sample);
    for spec in expected {
        let spec = FrameSpec::parse(spec).unwrap();
        if spec != FrameSpec::None && boundaries(&spec, &sample) == got {
            return None;
        }
    }
    let d = &seen.detection;
    Some(format!(
        "{name} stream {} ({} -> {}): chose {text} ({:.2}, {:?} messages), want {}; runner-up {}; note {}",
        seen.info.number,
        endpoint(&seen.info.client),
        endpoint(&seen.info.server),
        d.chosen.confidence,
        d.chosen.messages,
        expected.join(" or "),
        d.runner_up
            .as_ref()
            .map_or("-".to_string(), |c| format!("{} ({:.2})", c.spec, c.confidence)),
        d.note.as_deref().unwrap_or("-"),
    ))
}

fn has_data(seen: &Seen) -> bool {
    seen.data.iter().any(|d| !d.is_empty())
}

#[test]
fn detects_the_real_server_protocols() {
    let dir = servers_dir();
    let mut checked = 0;
    let mut failures = Vec::new();
    for oracle in server_oracles() {
        let expected = server_framing(oracle["protocol"].as_str().unwrap());
        let capture = oracle["capture"].as_str().unwrap();
        for seen in detect_all(&dir.join(capture))
            .iter()
            .filter(|s| has_data(s))
        {
            failures.extend(check(capture, seen, &[expected]));
            checked += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 50, "only {checked} streams checked");
}

/// The specs a `derived_framing` parser accepts.
fn accepted(parser: &str) -> &'static [&'static str] {
    match parser {
        "dns_tcp" => &["dns-tcp", "length:2"],
        "kafka" => &["kafka", "length:4"],
        "mqtt" => &["mqtt"],
        "mysql" => &["mysql"],
        "pgsql" => &["pgsql"],
        "resp" => &["resp"],
        "tls" => &["tls"],
        "bgp" => &["bgp"],
        "nbss" => &["nbss"],
        other => panic!("no framing for {other}"),
    }
}

#[test]
fn detects_the_public_capture_protocols() {
    let real = root().join("captures/real");
    let text = std::fs::read_to_string(real.join("oracles-public.json")).unwrap();
    let oracles: Value = serde_json::from_str(&text).unwrap();
    let mut checked = 0;
    let mut failures = Vec::new();
    for (name, oracle) in oracles["files"].as_object().unwrap() {
        let file = name.trim_start_matches("real/");
        let streams = oracle["tcp"].as_array().cloned().unwrap_or_default();
        let http = file.contains("_http") && !file.contains("http2");
        let framed: Vec<(u64, &'static [&'static str])> = streams
            .iter()
            .filter_map(|s| {
                let parser = s["derived_framing"]["parser"].as_str()?;
                Some((s["stream"].as_u64()?, accepted(parser)))
            })
            .collect();
        if framed.is_empty() && !http {
            continue;
        }
        for seen in detect_all(&real.join(file)).iter().filter(|s| has_data(s)) {
            let expected: &[&str] = if http {
                &["http1"]
            } else {
                match framed.iter().find(|(n, _)| *n == seen.info.number) {
                    Some((_, specs)) => specs,
                    None => continue,
                }
            };
            failures.extend(check(file, seen, expected));
            checked += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 20, "only {checked} streams checked");
}

#[test]
fn detects_the_scenario_framings() {
    let dir = root().join("captures/scenarios");
    let mut checked = 0;
    let mut failures = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if !path.to_string_lossy().ends_with(".truth.json") {
            continue;
        }
        let truth: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let spec = truth["framing"]["spec"].as_str().unwrap();
        let expected: Vec<&str> = if spec == "none" {
            vec!["none", "line"]
        } else {
            vec![spec]
        };
        let capture = truth["capture"].as_str().unwrap();
        for seen in detect_all(&dir.join(capture))
            .iter()
            .filter(|s| has_data(s))
        {
            failures.extend(check(capture, seen, &expected));
            checked += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 9, "only {checked} streams checked");
}

/// A little-endian 2-byte length at offset 2 (after a 2-byte type), and a
/// big-endian 4-byte length that counts the whole frame.
#[test]
fn infers_offsets_byte_order_and_whole_frame_lengths() {
    let mut le = Vec::new();
    let mut be = Vec::new();
    for i in 0..12u16 {
        let body: Vec<u8> = (0..(i * 7 % 40 + 3)).map(|b| (b * 31 + i) as u8).collect();
        le.extend_from_slice(&[0x10, i as u8]);
        le.extend_from_slice(&(body.len() as u16).to_le_bytes());
        le.extend_from_slice(&body);
        be.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        be.extend_from_slice(&body);
    }
    for (data, want) in [
        (&le, "length:2,endian=little,offset=2"),
        (&be, "length:4,adjust=-4"),
    ] {
        let d = detect(&Sample {
            client: data,
            server: &[],
            complete: [true, true],
            client_port: 40000,
            server_port: 7000,
        });
        assert_eq!(d.chosen.spec.to_string(), want);
        assert_eq!(d.chosen.messages, [12, 0]);
        assert!(d.chosen.confidence > 0.8, "{}", d.chosen.confidence);
    }
}

/// Random bytes explain nothing: `none`, with a low confidence.
#[test]
fn random_bytes_are_not_framed() {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut random = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect()
    };
    for (len, complete) in [(100, true), (5000, true), (65536, false), (3000, false)] {
        let client = random(len);
        let server = random(len / 2);
        let d = detect(&Sample {
            client: &client,
            server: &server,
            complete: [complete, complete],
            client_port: 40000,
            server_port: 7000,
        });
        assert_eq!(d.chosen.spec, FrameSpec::None, "{len} bytes: {d:?}");
        assert!(d.chosen.confidence <= 0.25);
        assert!(d.note.is_some());
    }
}

fn framescope_json(args: &[&str]) -> Vec<Value> {
    let out = framescope(args);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `analyze` without `--frame` frames every TCP stream as `detect` says,
/// on every capture shipped: one sampler, one decision.
#[test]
fn analyze_chooses_what_detect_chooses_on_every_stream() {
    let captures = captures();
    assert!(captures.len() >= 50, "{} captures", captures.len());
    let (mut compared, mut failures) = (0, Vec::new());
    for path in &captures {
        let file = path.to_str().unwrap();
        let detect = framescope(&["detect", file, "--format", "json"]);
        if !detect.status.success() {
            // Not readable at all (a capture kept for its damaged header).
            continue;
        }
        let detect: Value = serde_json::from_slice(&detect.stdout).unwrap();
        let chosen: std::collections::HashMap<u64, String> = detect["streams"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let spec = s["chosen"]["spec"].as_str().unwrap().to_string();
                (s["stream"].as_u64().unwrap(), spec)
            })
            .collect();
        for record in framescope_json(&["analyze", file, "--format", "jsonl"]) {
            if record["type"] != "stream" || record["proto"] != "tcp" {
                continue;
            }
            let n = record["stream"].as_u64().unwrap();
            let framing = record["framing"].as_str().unwrap();
            compared += 1;
            match chosen.get(&n) {
                Some(spec) if spec == framing => {}
                other => failures.push(format!(
                    "{}: stream {n}: analyze {framing}, detect {other:?}",
                    path.display()
                )),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(compared >= 120, "{compared} streams compared");
}

/// The chosen spec of every stream with data in `path`.
fn chosen(path: &Path) -> Vec<(u64, String)> {
    detect_all(path)
        .iter()
        .filter(|s| has_data(s))
        .map(|s| (s.info.number, s.detection.chosen.spec.to_string()))
        .collect()
}

/// A stream that starts with TLS records is named `tls`, not a protocol
/// whose decoder also frames TLS (PostgreSQL 17's direct TLS frames those
/// bytes identically); real PostgreSQL sessions stay `pgsql`. Names, not
/// boundaries: the name is what a user reads and what `--frame` repeats.
#[test]
fn tls_streams_are_named_tls_and_postgresql_stays_pgsql() {
    let mut tls = 0;
    for entry in std::fs::read_dir(root().join("captures/tls")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "pcap") {
            continue;
        }
        for (stream, spec) in chosen(&path) {
            assert_eq!(spec, "tls", "{} stream {stream}", path.display());
            tls += 1;
        }
    }
    assert!(tls >= 20, "only {tls} TLS streams");
    let mut pgsql = 0;
    for path in [
        "captures/servers/postgres.pcap",
        "captures/real/zeek_postgresql_psql-create-insert-select-delete-drop.pcap",
    ] {
        for (stream, spec) in chosen(&root().join(path)) {
            assert_eq!(spec, "pgsql", "{path} stream {stream}");
            pgsql += 1;
        }
    }
    assert!(pgsql >= 2, "only {pgsql} PostgreSQL streams");
}
