//! Reassembly checked against Wireshark on the public captures made by other
//! projects: every TCP stream and direction must give tshark's reassembled
//! bytes (as the first-seen rebuild has them where tshark's overlap policy
//! differs), tshark's gaps, and tshark's `tcp.stream` numbering; every UDP
//! flow tshark's datagram and byte counts. The figures come from
//! `captures/real/oracles-public.json` (see `ORACLES-public.md` beside it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use framescope::flow::reassembly::{Event, GapReason};
use framescope::flow::{
    endpoint, Datagram, Dir, FlowLimits, Proto, Sink, StreamInfo, StreamStats, Tracker,
};
use framescope::pipeline::{self, CaptureSummary};
use serde_json::Value;
use sha2::{Digest, Sha256};

#[derive(Default, Debug)]
struct Half {
    bytes: Vec<u8>,
    /// (offset in the gap-free bytes, missing)
    gaps: Vec<(u64, u64)>,
    conflicts: u64,
    datagrams: u64,
}

type Collected = (StreamInfo, [Half; 2], Option<StreamStats>);

#[derive(Default)]
struct Collect {
    streams: BTreeMap<(Proto, u64), Collected>,
}

struct Key(Proto, u64);

impl Sink for Collect {
    type Stream = Key;
    fn open(&mut self, info: &StreamInfo) -> Key {
        self.streams
            .insert((info.proto, info.number), (*info, Default::default(), None));
        Key(info.proto, info.number)
    }
    fn event(&mut self, k: &mut Key, dir: Dir, e: Event<'_>) {
        let half = &mut self.streams.get_mut(&(k.0, k.1)).unwrap().1[dir.index()];
        match e {
            Event::Data { bytes, .. } => half.bytes.extend_from_slice(bytes),
            // tshark marks no gap where the snapshot length cut a segment.
            Event::Gap {
                reason: GapReason::SnapLen,
                ..
            } => {}
            Event::Gap { len, .. } => half.gaps.push((half.bytes.len() as u64, len)),
            Event::Conflict { len, .. } => half.conflicts += len,
        }
    }
    fn datagram(&mut self, k: &mut Key, dir: Dir, dg: &Datagram<'_>) {
        let half = &mut self.streams.get_mut(&(k.0, k.1)).unwrap().1[dir.index()];
        half.bytes.extend_from_slice(dg.payload);
        half.datagrams += 1;
    }
    fn close(&mut self, k: Key, _: &StreamInfo, stats: &StreamStats) {
        self.streams.get_mut(&(k.0, k.1)).unwrap().2 = Some(*stats);
    }
}

fn captures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/real")
}

fn analyse(path: &Path) -> (Collect, CaptureSummary) {
    let mut tracker = Tracker::new(Collect::default(), FlowLimits::default());
    let summary = pipeline::run(path, None, &mut tracker).expect("capture opens");
    let (sink, _) = tracker.finish();
    (sink, summary)
}

fn sha(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

fn oracles() -> Value {
    let text = std::fs::read_to_string(captures().join("oracles-public.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn every_stream_matches_wireshark() {
    let oracles = oracles();
    let files = oracles["files"].as_object().unwrap();
    let mut checked = 0;
    let mut failures = Vec::new();
    for (name, oracle) in files {
        let path = captures().join(name.trim_start_matches("real/"));
        let opened = framescope::capture::CaptureReader::open(&path);
        if oracle["tshark_packets_read"].as_u64() == Some(0) {
            // Damaged beyond reading: a clean error, no packet.
            match opened {
                Err(_) => {}
                Ok(mut r) => assert!(r.next_record().is_err(), "{name}: expected an error"),
            }
            continue;
        }
        let (got, summary) = analyse(&path);
        assert_eq!(
            Some(summary.records),
            oracle["tshark_packets_read"].as_u64(),
            "{name}: records read"
        );
        let tcp: Vec<_> = got
            .streams
            .values()
            .filter(|s| s.0.proto == Proto::Tcp)
            .collect();
        if Some(tcp.len() as u64) != oracle["tcp_streams"].as_u64() {
            failures.push(format!(
                "{name}: {} TCP streams, want {}",
                tcp.len(),
                oracle["tcp_streams"]
            ));
        }
        for o in oracle["tcp"].as_array().unwrap() {
            let number = o["stream"].as_u64().unwrap();
            let Some((info, halves, stats)) = got.streams.get(&(Proto::Tcp, number)) else {
                continue;
            };
            let ends = [endpoint(&info.client), endpoint(&info.server)];
            let node0 = o["node0"].as_str().unwrap();
            let node1 = o["node1"].as_str().unwrap();
            if !(ends.contains(&node0.to_string()) && ends.contains(&node1.to_string())) {
                failures.push(format!(
                    "{name} stream {number}: endpoints {ends:?}, want {node0} {node1}"
                ));
                continue;
            }
            for (key, node) in [("dir0", node0), ("dir1", node1)] {
                let dir = if ends[0] == node {
                    Dir::Client
                } else {
                    Dir::Server
                };
                let half = &halves[dir.index()];
                let want = &o[key];
                let seqmap = &want["seqmap"];
                let want_sha = seqmap["sha256"].as_str().unwrap();
                let got_sha = sha(&half.bytes);
                if got_sha != want_sha {
                    failures.push(format!(
                        "{name} stream {number} {key}: {} bytes {got_sha}, want {} bytes {want_sha}",
                        half.bytes.len(),
                        seqmap["len"]
                    ));
                }
                let want_gaps: Vec<(u64, u64)> = want["gaps"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|g| {
                        (
                            g["offset"].as_u64().unwrap(),
                            g["missing"].as_u64().unwrap(),
                        )
                    })
                    .collect();
                if half.gaps != want_gaps {
                    failures.push(format!(
                        "{name} stream {number} {key}: gaps {:?}, want {want_gaps:?}",
                        half.gaps
                    ));
                }
                if seqmap["equals_follow_clean"] == Value::Bool(false) {
                    // tshark kept other bytes than the first-seen ones: the
                    // conflict must be reported.
                    let reported = stats.unwrap().dirs[dir.index()].conflict_bytes;
                    assert!(
                        half.conflicts > 0 && reported > 0,
                        "{name} {key}: conflict not reported"
                    );
                }
                checked += 1;
            }
            let icmp = stats.map_or(0, |s| s.icmp.count);
            if Some(icmp) != o["icmp_quoted"].as_u64().or(Some(0)) {
                failures.push(format!(
                    "{name} stream {number}: {icmp} ICMP errors, want {}",
                    o["icmp_quoted"]
                ));
            }
        }
        // tshark numbers the UDP flows that carry a tunnel too; framescope
        // follows what is inside them, so those are left out and the rest
        // keep tshark's order.
        let udp: Vec<_> = oracle["udp"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["tunnel"] != Value::Bool(true))
            .collect();
        let got_udp: Vec<_> = got
            .streams
            .values()
            .filter(|s| s.0.proto == Proto::Udp)
            .collect();
        if got_udp.len() != udp.len() {
            failures.push(format!(
                "{name}: {} UDP flows, want {}",
                got_udp.len(),
                udp.len()
            ));
        }
        for (o, (_, halves, stats)) in udp.iter().zip(got_udp) {
            let icmp = stats.map_or(0, |s| s.icmp.count);
            if Some(icmp) != o["icmp_quoted"].as_u64().or(Some(0)) {
                failures.push(format!(
                    "{name} udp stream {}: {icmp} ICMP errors, want {}",
                    o["stream"], o["icmp_quoted"]
                ));
            }
            let datagrams: u64 = halves.iter().map(|h| h.datagrams).sum();
            let bytes: u64 = halves.iter().map(|h| h.bytes.len() as u64).sum();
            if (Some(datagrams), Some(bytes))
                != (o["datagrams"].as_u64(), o["payload_bytes"].as_u64())
            {
                failures.push(format!(
                    "{name} udp stream {}: {datagrams} datagrams, {bytes} bytes",
                    o["stream"]
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 100, "only {checked} directions checked");
}

#[test]
fn damaged_captures_give_clear_errors_and_keep_what_was_read() {
    let (got, summary) = analyse(&captures().join("sv_http-mime-truncated.pcap"));
    assert_eq!(summary.records, 2696);
    let err = summary.error.expect("damage reported");
    assert!(
        err.contains("record 2697")
            && err.contains("byte offset 2715459")
            && err.contains("cut short"),
        "{err}"
    );
    let (_, halves, _) = &got.streams[&(Proto::Tcp, 0)];
    assert_eq!(halves[1].bytes.len(), 2_388_931);

    let err = framescope::capture::CaptureReader::open(
        &captures().join("libpcap_shb-option-too-long.pcapng"),
    )
    .and_then(|mut r| r.next_record().map(|_| ()))
    .unwrap_err();
    assert!(err.to_string().contains("section header block"), "{err}");
}

#[test]
fn snaplen_cut_payload_is_capture_loss_not_data() {
    for name in [
        "zeek_tcp_retransmit-fast009.pcap",
        "zeek_tcp_truncated-header.pcap",
    ] {
        let (got, _) = analyse(&captures().join(name));
        let (_, halves, stats) = &got.streams[&(Proto::Tcp, 0)];
        assert!(halves.iter().all(|h| h.bytes.is_empty()), "{name}");
        let cut: u64 = stats.unwrap().dirs.iter().map(|d| d.snaplen_cut).sum();
        assert!(cut > 0, "{name}: snaplen loss not reported");
    }
}

#[test]
fn same_bytes_through_different_encapsulations() {
    // The same HTTP transaction captured with QinQ tags and without.
    let (a, _) = analyse(&captures().join("zeek_http-qinq-0.pcap"));
    let (b, _) = analyse(&captures().join("zeek_http_get_nosyn.pcap"));
    let bytes = |c: &Collect| {
        let (_, h, _) = &c.streams[&(Proto::Tcp, 0)];
        (sha(&h[0].bytes), sha(&h[1].bytes))
    };
    assert_eq!(bytes(&a), bytes(&b));
}
