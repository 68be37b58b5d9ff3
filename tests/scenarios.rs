//! framescope's verdicts on real loopback captures of the classic
//! sticky-packet scenarios (`captures/scenarios/`), against the ground truth
//! the programs that made them recorded: every `send()` the sender made,
//! every `recv()` the receiver got, and the segments the wire carried.
//!
//! The expected split and coalesced counts are computed here from the
//! truth (messages the sender wrote against the segments on the wire), not
//! copied from framescope's output.

use std::path::{Path, PathBuf};

use framescope::analysis::recv::{RecvSizes, Verdict};
use framescope::analysis::{Analyzer, Message, Options, Report, StreamResult};
use framescope::decode::spec::FrameSpec;
use framescope::flow::{endpoint, Dir, FlowLimits, StreamInfo, Tracker};
use framescope::pipeline;
use serde_json::Value;

#[derive(Default)]
struct Results(Vec<StreamResult>);

impl Report for Results {
    fn message(&mut self, _: &StreamInfo, _: Dir, _: &Message) {}
    fn stream(&mut self, r: StreamResult) {
        self.0.push(r);
    }
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/scenarios")
}

fn truth(name: &str) -> Value {
    let text = std::fs::read_to_string(dir().join(format!("{name}.truth.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn analyse(name: &str, recv: Option<&str>) -> Vec<StreamResult> {
    let t = truth(name);
    let opts = Options {
        framing: FrameSpec::parse(t["framing"]["spec"].as_str().unwrap()).unwrap(),
        recv: recv.map(|r| RecvSizes::parse(r).unwrap()),
        ..Options::default()
    };
    let mut tracker = Tracker::new(
        Analyzer::new(opts, Results::default()),
        FlowLimits::default(),
    );
    let path = dir().join(t["capture"].as_str().unwrap());
    let summary = pipeline::run(&path, None, &mut tracker).unwrap();
    assert!(summary.error.is_none(), "{name}: {:?}", summary.error);
    let (analyzer, _) = tracker.finish();
    analyzer.into_report().0
}

/// (offset, len) pairs from a truth list.
fn ranges(list: &Value, len_key: &str) -> Vec<(u64, u64)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|m| (m["offset"].as_u64().unwrap(), m[len_key].as_u64().unwrap()))
        .collect()
}

fn overlaps(a: (u64, u64), b: (u64, u64)) -> bool {
    a.0 < b.0 + b.1 && b.0 < a.0 + a.1
}

/// Every scenario: segments and bytes per direction as the wire had them,
/// and the split / coalesced verdicts the truth implies.
#[test]
fn verdicts_match_the_ground_truth() {
    let mut checked = 0;
    for entry in std::fs::read_dir(dir()).unwrap() {
        let path = entry.unwrap().path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".truth.json"))
        else {
            continue;
        };
        let t = truth(name);
        let spec = t["framing"]["spec"].as_str().unwrap();
        let streams = analyse(name, None);
        let client = t["client"].as_str().unwrap();
        let s = streams
            .iter()
            .find(|s| endpoint(&s.info.client) == client || endpoint(&s.info.server) == client)
            .unwrap_or_else(|| panic!("{name}: no stream for {client}"));
        for (key, sender) in [("client_to_server", client), ("server_to_client", "")] {
            let d = &t["directions"][key];
            let wire = &d["wire"];
            let dir = if key == "client_to_server" {
                if endpoint(&s.info.client) == sender {
                    Dir::Client
                } else {
                    Dir::Server
                }
            } else if endpoint(&s.info.client) == client {
                Dir::Server
            } else {
                Dir::Client
            };
            let got = &s.dirs[dir.index()];
            let segments = wire["data_segments"].as_u64().unwrap();
            assert_eq!(got.segments, segments, "{name} {key}: segments");
            assert_eq!(
                got.bytes,
                wire["bytes"].as_u64().unwrap(),
                "{name} {key}: bytes"
            );
            let seg_ranges = match wire.get("segments") {
                Some(list) => ranges(list, "len"),
                None => continue, // UDP: checked in its own test
            };
            let msgs = if spec == "none" {
                seg_ranges.clone()
            } else {
                ranges(&d["messages"], "length")
            };
            let split = msgs
                .iter()
                .filter(|&&m| seg_ranges.iter().filter(|&&s| overlaps(m, s)).count() >= 2)
                .count() as u64;
            let coalesced = seg_ranges
                .iter()
                .filter(|&&s| msgs.iter().filter(|&&m| overlaps(m, s)).count() >= 2)
                .count() as u64;
            assert_eq!(got.messages, msgs.len() as u64, "{name} {key}: messages");
            assert_eq!(got.split_messages, split, "{name} {key}: split");
            assert_eq!(got.coalesced_segments, coalesced, "{name} {key}: coalesced");
            assert_eq!(got.truncated_messages, 0, "{name} {key}: truncated");
            assert_eq!(got.malformed_messages, 0, "{name} {key}: malformed");
            checked += 1;
        }
    }
    assert!(checked >= 18, "only {checked} directions checked");
}

#[test]
fn lagging_reader_gets_musibii1() {
    let t = truth("unframed-lagging-reader");
    let want: Vec<u64> = t["naive_reader"]["reads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["returned"].as_u64().unwrap())
        .collect();
    assert_eq!(want, vec![5, 5, 8, 0]);
    let s = &analyse("unframed-lagging-reader", Some("5,5,10,5"))[0];
    let recv = &s.recv.as_ref().unwrap()[Dir::Client.index()];
    let lagging = recv.lagging.as_ref().unwrap();
    let got: Vec<u64> = lagging.reads.iter().map(|r| r.len).collect();
    assert_eq!(got, want);
    let verdicts: Vec<Verdict> = lagging.reads.iter().map(|r| r.verdict).collect();
    assert_eq!(
        verdicts,
        [
            Verdict::Exact,
            Verdict::Exact,
            Verdict::Glued,
            Verdict::Empty
        ]
    );
    // A reader keeping up gets each write on its own.
    assert_eq!(recv.keeping_up.as_ref().unwrap().exact, 4);
}

#[test]
fn one_recv_4096_cuts_the_10k_reply() {
    let t = truth("big-reply-small-recv");
    let naive = &t["naive_reader"];
    let s = &analyse("big-reply-small-recv", Some("4096"))[0];
    let client_ip = t["client"].as_str().unwrap();
    let reply_dir = if endpoint(&s.info.client) == client_ip {
        Dir::Server
    } else {
        Dir::Client
    };
    let lagging = s.recv.as_ref().unwrap()[reply_dir.index()]
        .lagging
        .as_ref()
        .unwrap();
    let mut want = vec![naive["naive_recv"]["returned"].as_u64().unwrap()];
    want.extend(
        naive["further_recv_4096_would_return"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap()),
    );
    let got: Vec<u64> = lagging.reads.iter().map(|r| r.len).collect();
    assert_eq!(got, want);
    assert_eq!(lagging.cut, 3);
}

#[test]
fn recvfrom_1024_truncates_the_larger_datagrams() {
    let t = truth("udp-recvfrom");
    let truncated = t["naive_reader"]["recvfrom"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["truncated"] == Value::Bool(true))
        .count() as u64;
    let s = &analyse("udp-recvfrom", Some("1024"))[0];
    let sent = &s.dirs[Dir::Client.index()];
    assert_eq!(sent.messages, 4);
    assert_eq!(sent.oversized_datagrams, truncated);
    assert_eq!(truncated, 2);
    // Each datagram is one message: none ends inside one.
    assert_eq!(sent.partial_datagrams, 0);
}

/// `recvfrom(1024)` returns one datagram per call, truncated to 1024 bytes,
/// the rest discarded: what the receiver's calls returned, call by call.
#[test]
fn recvfrom_reads_as_the_receiver_did() {
    let t = truth("udp-recvfrom");
    let reads = t["directions"]["client_to_server"]["receiver_reads"]
        .as_array()
        .unwrap();
    let want: Vec<(u64, u64, bool)> = reads
        .iter()
        .map(|r| {
            (
                r["requested"].as_u64().unwrap(),
                r["returned"].as_u64().unwrap(),
                r["truncated"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(want.len(), 4);
    let s = &analyse("udp-recvfrom", Some("1024"))[0];
    let recv = &s.recv.as_ref().unwrap()[Dir::Client.index()];
    assert!(recv.keeping_up.is_none() && recv.lagging.is_none());
    let r = recv.recvfrom.as_ref().unwrap();
    let got: Vec<(u64, u64, bool)> = r
        .reads
        .iter()
        .map(|read| (read.size, read.len, read.discarded > 0))
        .collect();
    assert_eq!(got, want);
    // No read holds bytes of two datagrams.
    assert!(r.reads.iter().all(|read| read.messages.len() == 1));
    assert_eq!((r.exact, r.cut, r.glued), (2, 2, 0));
}

#[test]
fn nagle_stalls_found_only_without_nodelay() {
    let on: u64 = analyse("nagle-on", None)
        .iter()
        .flat_map(|s| s.dirs.iter())
        .map(|d| d.stalls)
        .sum();
    let off: u64 = analyse("nagle-off", None)
        .iter()
        .flat_map(|s| s.dirs.iter())
        .map(|d| d.stalls)
        .sum();
    // 20 write-write-read requests stalled on the delayed ACK.
    assert!(on >= 20, "nagle-on: {on} stalls");
    assert_eq!(off, 0, "nagle-off: {off} stalls");
}
