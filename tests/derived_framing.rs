//! Message counts on the public real captures, framed with plain generic
//! specs (and protocol decoders where no generic spec describes the
//! protocol), against `derived_framing` in `captures/real/oracles-public.json`:
//! complete messages per direction, counted over tshark's reassembled bytes.

use std::collections::BTreeMap;
use std::path::Path;

use framescope::analysis::{Analyzer, Message, Options, Report, Status, StreamResult};
use framescope::decode::spec::FrameSpec;
use framescope::flow::{endpoint, Dir, FlowLimits, StreamInfo, Tracker};
use framescope::pipeline;
use serde_json::Value;

#[derive(Default)]
struct Results {
    streams: BTreeMap<u64, StreamResult>,
    complete: BTreeMap<(u64, usize), u64>,
}

impl Report for Results {
    fn message(&mut self, stream: &StreamInfo, dir: Dir, m: &Message) {
        if matches!(m.status, Status::Ok | Status::Split) {
            *self
                .complete
                .entry((stream.number, dir.index()))
                .or_default() += 1;
        }
    }
    fn stream(&mut self, r: StreamResult) {
        self.streams.insert(r.info.number, r);
    }
}

/// The generic spec (or protocol) for each `derived_framing` parser.
fn spec_for(parser: &str) -> Option<&'static str> {
    Some(match parser {
        "dns_tcp" => "length:2",
        "kafka" => "length:4",
        "nbss" => "length:3,offset=1",
        "bgp" => "length:2,offset=16,adjust=-18",
        "tls" => "length:2,offset=3",
        "mysql" => "length:3,endian=little,adjust=1",
        "mqtt" => "length:varint,offset=1",
        "pgsql" => "pgsql",
        "resp" => "resp",
        _ => return None,
    })
}

fn protocol_available(spec: &str) -> bool {
    FrameSpec::parse(spec).is_ok()
}

#[test]
fn generic_specs_give_the_derived_message_counts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/real");
    let text = std::fs::read_to_string(root.join("oracles-public.json")).unwrap();
    let oracles: Value = serde_json::from_str(&text).unwrap();
    let mut checked = 0;
    let mut failures = Vec::new();
    for (name, oracle) in oracles["files"].as_object().unwrap() {
        let streams = oracle["tcp"].as_array().cloned().unwrap_or_default();
        let Some(parser) = streams
            .iter()
            .find_map(|s| s["derived_framing"]["parser"].as_str())
        else {
            continue;
        };
        let spec = spec_for(parser).unwrap_or_else(|| panic!("no spec for {parser}"));
        if !protocol_available(spec) {
            failures.push(format!("{name}: spec {spec} does not parse"));
            continue;
        }
        let opts = Options {
            framing: FrameSpec::parse(spec).unwrap(),
            ..Options::default()
        };
        let mut tracker = Tracker::new(
            Analyzer::new(opts, Results::default()),
            FlowLimits::default(),
        );
        let path = root.join(name.trim_start_matches("real/"));
        pipeline::run(&path, None, &mut tracker).unwrap();
        let (analyzer, _) = tracker.finish();
        let got = analyzer.into_report();
        for s in &streams {
            let Some(df) = s["derived_framing"].as_object() else {
                continue;
            };
            let number = s["stream"].as_u64().unwrap();
            let info = &got.streams[&number].info;
            for (key, node) in [("dir0", "node0"), ("dir1", "node1")] {
                let dir = if endpoint(&info.client) == s[node].as_str().unwrap() {
                    Dir::Client
                } else {
                    Dir::Server
                };
                let want = df[key]["messages"].as_u64().unwrap();
                let have = got
                    .complete
                    .get(&(number, dir.index()))
                    .copied()
                    .unwrap_or(0);
                let summary = &got.streams[&number].dirs[dir.index()];
                if have != want || summary.malformed_messages != 0 {
                    failures.push(format!(
                        "{name} stream {number} {key} ({spec}): {have} complete messages, want {want}; {} malformed",
                        summary.malformed_messages
                    ));
                }
                checked += 1;
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 30, "only {checked} directions checked");
}
