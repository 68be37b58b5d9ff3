//! Protocol decoders against captures of real servers driven by real
//! clients (`captures/servers/`, made by `scripts/servers/make-all.sh`):
//! redis-server with redis-cli and redis-benchmark, PostgreSQL with psql and
//! pgbench, memcached, mosquitto, nginx over HTTP/1.1 and h2c, dnsmasq.
//!
//! For every stream and direction, framescope's complete-message count must
//! equal the count recorded beside the capture, with no malformed message.
//! The recorded count is tshark's own where tshark counts messages; where
//! `captures/servers/README.md` shows tshark 4.0 counting something else
//! (RESP per segment, memcache per line, pgsql without the one-byte SSL
//! answer, a pipelined HEAD response swallowing its followers) it is the
//! recorded `derived` count, and the test also checks that tshark and the
//! derived count agree wherever tshark is right (MQTT, HTTP/2, DNS).

use std::collections::BTreeMap;

use framescope::analysis::{Analyzer, Message, Options, Report, Status, StreamResult};
use framescope::decode::spec::FrameSpec;
use framescope::flow::{endpoint, Dir, FlowLimits, StreamInfo, Tracker};
use framescope::pipeline;

mod common;

use common::{server_framing, server_oracles, servers_dir};

#[derive(Default)]
struct Results {
    streams: BTreeMap<u64, StreamResult>,
    complete: BTreeMap<(u64, usize), u64>,
}

impl Report for Results {
    fn message(&mut self, s: &StreamInfo, dir: Dir, m: &Message) {
        if matches!(m.status, Status::Ok | Status::Split) {
            *self.complete.entry((s.number, dir.index())).or_default() += 1;
        }
    }
    fn stream(&mut self, r: StreamResult) {
        self.streams.insert(r.info.number, r);
    }
}

/// Protocols whose tshark field counts are message counts.
fn tshark_counts_messages(protocol: &str) -> bool {
    matches!(protocol, "mqtt" | "http2" | "dns")
}

#[test]
fn real_server_captures_frame_exactly() {
    check(false);
}

/// The same counts when `analyze` chooses each stream's framing itself
/// (no `--frame`): detection runs inside the streaming analysis, holding
/// each stream's first bytes until it decides.
#[test]
fn detected_framing_gives_the_same_counts() {
    check(true);
}

fn check(detect: bool) {
    let dir = servers_dir();
    let mut checked = 0;
    let mut failures = Vec::new();
    for oracle in server_oracles() {
        let protocol = oracle["protocol"].as_str().unwrap();
        let spec = server_framing(protocol);
        let opts = Options {
            framing: FrameSpec::parse(spec).unwrap(),
            detect,
            ..Options::default()
        };
        let mut tracker = Tracker::new(
            Analyzer::new(opts, Results::default()),
            FlowLimits::default(),
        );
        let capture = dir.join(oracle["capture"].as_str().unwrap());
        let summary = pipeline::run(&capture, None, &mut tracker).unwrap();
        assert!(summary.error.is_none());
        let (analyzer, _) = tracker.finish();
        let got = analyzer.into_report();
        let fields: Vec<&str> = oracle["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        for s in oracle["streams"].as_array().unwrap() {
            let number = s["stream"].as_u64().unwrap();
            let Some(result) = got.streams.get(&number) else {
                failures.push(format!("{spec}: no stream {number}"));
                continue;
            };
            assert_eq!(endpoint(&result.info.client), s["client"].as_str().unwrap());
            for (key, dir) in [
                ("client_to_server", Dir::Client),
                ("server_to_client", Dir::Server),
            ] {
                let want = s["derived"][key]["count"].as_u64().unwrap();
                let have = got
                    .complete
                    .get(&(number, dir.index()))
                    .copied()
                    .unwrap_or(0);
                let d = &result.dirs[dir.index()];
                if have != want || d.malformed_messages > 0 || d.truncated_messages > 0 {
                    failures.push(format!(
                        "{spec} stream {number} {key} (framed as {}): {have} messages, want {want}; {} malformed, {} truncated",
                        result.framing, d.malformed_messages, d.truncated_messages
                    ));
                }
                if tshark_counts_messages(protocol) {
                    let tshark: u64 = fields
                        .iter()
                        .map(|f| s["tshark"][*f][key]["count"].as_u64().unwrap_or(0))
                        .sum();
                    if tshark != have {
                        failures.push(format!(
                            "{spec} stream {number} {key}: {have} messages, tshark {tshark}"
                        ));
                    }
                }
                checked += 1;
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 100, "only {checked} directions checked");
}
