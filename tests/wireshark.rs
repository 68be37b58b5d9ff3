//! The round trip with Wireshark, with tshark as the oracle: captures
//! annotated by `analyze --annotate` read back by tshark, and Lua
//! dissectors printed by `framescope dissector` run by tshark.
//!
//! tshark is installed by `scripts/deps.sh --test`; without it these tests
//! pass with a message, except under CI (`CI=true`), where they fail.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use framescope::capture::file::parse_options;
use framescope::capture::{CaptureReader, LinkType, Timestamp};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("framescope-ws-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Whether tshark can be run; panics under CI when it cannot.
fn have_tshark(test: &str) -> bool {
    let ok = Command::new("tshark")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{test}: tshark is required in CI (scripts/deps.sh --test installs it)"
        );
        eprintln!("{test}: skipped, tshark is not installed (scripts/deps.sh --test)");
    }
    ok
}

/// Runs tshark and returns its standard output.
fn tshark(args: &[&str]) -> String {
    let out = Command::new("tshark").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "tshark {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn framescope(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_framescope"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "framescope {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// One record as the library's reader gives it.
type Rec = (u64, Timestamp, LinkType, u32, Vec<u8>, u32);

fn records(path: &Path) -> Vec<Rec> {
    let mut r = CaptureReader::open(path).unwrap();
    let mut out = Vec::new();
    while let Some(x) = r.next_record().unwrap() {
        out.push((
            x.number,
            x.ts,
            x.link,
            x.interface,
            x.data.to_vec(),
            x.orig_len,
        ));
    }
    out
}

/// A pcapng block split into what annotation may change (the options of a
/// packet block) and what it must keep.
#[derive(Debug, PartialEq, Eq)]
enum Block {
    Packet {
        fixed: Vec<u8>,
        options: Vec<(u16, Vec<u8>)>,
    },
    Other(Vec<u8>),
}

/// Every block of a pcapng file, with framescope's own comments removed
/// from packet blocks and section lengths blanked.
fn blocks_without_framescope(path: &Path) -> Vec<Block> {
    let mut r = CaptureReader::open(path).unwrap();
    let mut out = Vec::new();
    while let Some(b) = r.next_block().unwrap() {
        let be = b.big_endian;
        let u32_at = |at: usize| {
            let a: [u8; 4] = b.bytes[at..at + 4].try_into().unwrap();
            if be {
                u32::from_be_bytes(a)
            } else {
                u32::from_le_bytes(a)
            }
        };
        let kind = u32_at(0);
        if kind == 6 || kind == 2 {
            let caplen = u32_at(20) as usize;
            let start = 28 + caplen.div_ceil(4) * 4;
            let options = parse_options(&b.bytes[start..b.bytes.len() - 4], be)
                .unwrap()
                .into_iter()
                .filter(|(code, v)| !(*code == 1 && v.starts_with(b"framescope: ")))
                .map(|(code, v)| (code, v.to_vec()))
                .collect();
            out.push(Block::Packet {
                fixed: b.bytes[8..start].to_vec(),
                options,
            });
        } else if kind == 0x0a0d_0d0a {
            let mut bytes = b.bytes.to_vec();
            bytes[16..24].fill(0xff);
            out.push(Block::Other(bytes));
        } else {
            out.push(Block::Other(b.bytes.to_vec()));
        }
    }
    out
}

/// The records of each message in the JSON output: exact when the filter
/// lists them, else `None` with the range and segment count.
struct JsonMessage {
    key: (u64, String, u64),
    segments: u64,
    first: u64,
    last: u64,
    listed: Option<BTreeSet<u64>>,
    split: bool,
    coalesced: bool,
    truncated: bool,
}

fn json_messages(doc: &Value) -> Vec<JsonMessage> {
    let mut out = Vec::new();
    for m in doc["messages"].as_array().unwrap() {
        let filter = m["filter"].as_str().unwrap();
        let listed = filter.split_once("frame.number in {").map(|(_, rest)| {
            rest.trim_end_matches('}')
                .split(' ')
                .map(|n| n.parse().unwrap())
                .collect()
        });
        let dir = m["dir"].as_str().unwrap().to_string();
        let proto = m["proto"].as_str().unwrap();
        let stream = m["stream"].as_u64().unwrap();
        // UDP streams are numbered apart from TCP's: keep them apart.
        let stream = if proto == "udp" {
            stream + (1 << 40)
        } else {
            stream
        };
        out.push(JsonMessage {
            key: (stream, dir, m["index"].as_u64().unwrap()),
            segments: m["segments"].as_u64().unwrap(),
            first: m["first_record"].as_u64().unwrap(),
            last: m["last_record"].as_u64().unwrap(),
            listed,
            split: m["segments"].as_u64().unwrap() > 1,
            coalesced: m["coalesced"].as_bool().unwrap(),
            truncated: m["status"] == "truncated",
        });
    }
    out
}

/// Which message a comment names: (stream, dir, index).
fn comment_key(comment: &str) -> (u64, String, u64) {
    let rest = comment.strip_prefix("framescope: ").unwrap();
    let (udp, rest) = match rest.strip_prefix("udp ") {
        Some(rest) => (true, rest),
        None => (false, rest),
    };
    let words: Vec<&str> = rest.split(' ').collect();
    assert_eq!((words[0], words[3]), ("stream", "message"), "{comment}");
    let stream: u64 = words[1].parse().unwrap();
    let index = words[4].trim_start_matches('#').parse().unwrap();
    let stream = if udp { stream + (1 << 40) } else { stream };
    (stream, words[2].to_string(), index)
}

/// Frames tshark selects with a display filter.
fn frames(file: &Path, filter: &str) -> BTreeSet<u64> {
    tshark(&[
        "-r",
        file.to_str().unwrap(),
        "-Y",
        filter,
        "-T",
        "fields",
        "-e",
        "frame.number",
    ])
    .lines()
    .map(|l| l.trim().parse().unwrap())
    .collect()
}

/// Annotates `capture` (every message), checks tshark's view of the
/// comments against the JSON output and the rest of the file against the
/// original; returns how many comments tshark read.
fn check_annotation(capture: &str, frame: Option<&str>, dir: &Path) -> usize {
    let input = root().join(capture);
    let out = dir.join(format!("{}.pcapng", capture.replace('/', "_")));
    let mut args = vec![
        "analyze",
        input.to_str().unwrap(),
        "--messages",
        "--format",
        "json",
        "--annotate",
        out.to_str().unwrap(),
    ];
    if let Some(f) = frame {
        args.extend(["--frame", f]);
    }
    let run = framescope(&args);
    let doc: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(doc["messages_dropped"], 0, "{capture}");
    let messages = json_messages(&doc);

    // Each kind: the frames tshark selects are the records of those
    // messages.
    for (word, is) in [
        (
            "split",
            (|m: &JsonMessage| m.split) as fn(&JsonMessage) -> bool,
        ),
        ("coalesced", |m| m.coalesced),
        ("truncated", |m| m.truncated),
    ] {
        let mut want = BTreeSet::new();
        for m in messages.iter().filter(|m| is(m)) {
            match &m.listed {
                Some(list) => want.extend(list),
                None => {
                    // Past the record list the filter gives a range: the
                    // message's own records are checked one by one below.
                    want.insert(m.first);
                    want.insert(m.last);
                }
            }
        }
        let got = frames(&out, &format!("frame.comment contains \"{word}\""));
        let unlisted = messages.iter().any(|m| is(m) && m.listed.is_none());
        if unlisted {
            assert!(want.is_subset(&got), "{capture} {word}");
        } else {
            assert_eq!(got, want, "{capture}: frames commented {word}");
        }
    }

    // Every message, by its own comments: the records its filter lists, or
    // as many records as it had segments within its range.
    let text = tshark(&[
        "-r",
        out.to_str().unwrap(),
        "-T",
        "fields",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=\u{1}",
        "-e",
        "frame.number",
        "-e",
        "frame.comment",
    ]);
    let mut by_message: BTreeMap<(u64, String, u64), BTreeSet<u64>> = BTreeMap::new();
    let mut comments = 0;
    for line in text.lines() {
        let (number, list) = line.split_once('\t').unwrap();
        let number: u64 = number.parse().unwrap();
        for comment in list
            .split('\u{1}')
            .filter(|c| c.starts_with("framescope: "))
        {
            comments += 1;
            by_message
                .entry(comment_key(comment))
                .or_default()
                .insert(number);
        }
    }
    assert_eq!(
        by_message.len(),
        messages.len(),
        "{capture}: messages commented"
    );
    for m in &messages {
        let got = &by_message[&m.key];
        match &m.listed {
            Some(list) => assert_eq!(got, list, "{capture} message {:?}", m.key),
            None => {
                assert_eq!(got.len() as u64, m.segments, "{capture} {:?}", m.key);
                assert!(got.iter().all(|r| (m.first..=m.last).contains(r)));
                assert!(got.contains(&m.first) && got.contains(&m.last));
            }
        }
    }

    // Everything else as it was.
    assert_eq!(records(&out), records(&input), "{capture}: records");
    if input.extension().is_some_and(|e| e == "pcapng") {
        assert_eq!(
            blocks_without_framescope(&out),
            blocks_without_framescope(&input),
            "{capture}: blocks"
        );
    }
    comments
}

#[test]
fn annotated_captures_read_back_in_tshark() {
    if !have_tshark("annotated_captures_read_back_in_tshark") {
        return;
    }
    let dir = scratch("annotate");
    let mut total = 0;
    for (capture, frame) in [
        ("captures/scenarios/nagle-on.pcap", Some("length:4")),
        // Messages over more than 16 records, and truncated ones.
        ("captures/scenarios/nagle-on.pcap", Some("fixed:1000")),
        ("captures/scenarios/ndjson.pcap", Some("line")),
        ("captures/scenarios/json-header.pcap", Some("json-header")),
        ("captures/scenarios/udp-recvfrom.pcap", None),
        ("captures/servers/memcached.pcap", None),
        ("captures/real/zeek_pcapng-multi-interface.pcapng", None),
        ("captures/real/ndpi_http2.pcapng", None),
        ("captures/real/zeek_ldap_gap-data-missing.pcapng", None),
        ("captures/real/zeek_ftp_ipv6.pcap", None),
    ] {
        total += check_annotation(capture, frame, &dir);
    }
    assert!(total > 1000, "only {total} comments read back");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn only_flagged_messages_are_commented_without_messages() {
    if !have_tshark("only_flagged_messages_are_commented_without_messages") {
        return;
    }
    let dir = scratch("flagged");
    let out = dir.join("a.pcapng");
    let input = root().join("captures/scenarios/nagle-off.pcap");
    framescope(&[
        "analyze",
        input.to_str().unwrap(),
        "--frame",
        "length:4",
        "--annotate",
        out.to_str().unwrap(),
    ]);
    // nagle-off: 20 messages split over two segments each, nothing else
    // flagged.
    let commented = frames(&out, "frame.comment");
    let split = frames(&out, "frame.comment contains \"split\"");
    assert_eq!(commented.len(), 40);
    assert_eq!(commented, split);
    assert!(frames(&out, "frame.comment contains \"ok\"").is_empty());
    assert_eq!(records(&out), records(&input));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn existing_comments_and_nanoseconds_survive() {
    if !have_tshark("existing_comments_and_nanoseconds_survive") {
        return;
    }
    let dir = scratch("keep");
    let input = root().join("captures/scenarios/nagle-on.pcap");
    // A nanosecond pcap, and a pcapng with a comment of its own, made by
    // Wireshark's editcap.
    let nsec = dir.join("nsec.pcap");
    let commented = dir.join("commented.pcapng");
    for args in [
        vec![
            "-F",
            "nsecpcap",
            input.to_str().unwrap(),
            nsec.to_str().unwrap(),
        ],
        vec![
            "-F",
            "pcapng",
            "-a",
            "44:kept from before",
            input.to_str().unwrap(),
            commented.to_str().unwrap(),
        ],
    ] {
        let status = Command::new("editcap").args(&args).status().unwrap();
        assert!(status.success(), "editcap {args:?}");
    }
    for source in [&nsec, &commented] {
        let out = dir.join("out.pcapng");
        framescope(&[
            "analyze",
            source.to_str().unwrap(),
            "--frame",
            "length:4",
            "--annotate",
            out.to_str().unwrap(),
        ]);
        assert_eq!(records(&out), records(source));
        let times = |f: &Path| {
            tshark(&[
                "-r",
                f.to_str().unwrap(),
                "-T",
                "fields",
                "-e",
                "frame.time_epoch",
            ])
        };
        assert_eq!(times(&out), times(source));
        // The timestamp resolution, as Wireshark's capinfos reads it.
        let precision = |f: &Path| {
            let out = Command::new("capinfos").arg(f).output().unwrap();
            let text = String::from_utf8(out.stdout).unwrap();
            text.lines()
                .find(|l| l.contains("precision"))
                .map(|l| l.split_once(':').unwrap().1.trim().to_string())
                .unwrap()
        };
        if source == &nsec {
            assert_eq!(precision(&out), "nanoseconds (9)");
            assert_eq!(precision(source), "nanoseconds (9)");
        } else {
            let both = tshark(&[
                "-r",
                out.to_str().unwrap(),
                "-Y",
                "frame.number == 44",
                "-T",
                "fields",
                "-E",
                "occurrence=a",
                "-E",
                "aggregator=|",
                "-e",
                "frame.comment",
            ]);
            let parts: Vec<&str> = both.trim_end().split('|').collect();
            assert_eq!(parts.len(), 2, "{both}");
            assert_eq!(parts[0], "kept from before");
            assert!(parts[1].starts_with("framescope: stream 0 client message #200 split"));
            assert_eq!(
                blocks_without_framescope(&out),
                blocks_without_framescope(source)
            );
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
