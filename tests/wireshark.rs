//! The round trip with Wireshark, with tshark as the oracle: captures
//! annotated by `analyze --annotate` read back by tshark, and Lua
//! dissectors printed by `framescope dissector` run by tshark; and the
//! manual pages (rendered by `man -l`) and bash completions generated from
//! the command line's definition.
//!
//! tshark and man are installed by `scripts/deps.sh --test`; without them
//! these tests pass with a message, except under CI (`CI=true`), where they
//! fail.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use framescope::capture::file::parse_options;
use framescope::capture::{CaptureReader, LinkType, Timestamp};
use serde_json::Value;

mod common;

use common::{have, root};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("framescope-ws-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
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
    if !have("annotated_captures_read_back_in_tshark", "tshark") {
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
    if !have(
        "only_flagged_messages_are_commented_without_messages",
        "tshark",
    ) {
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
    if !have("existing_comments_and_nanoseconds_survive", "tshark") {
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

/// Whether tshark runs Lua scripts; panics when it was built without Lua.
fn tshark_has_lua() {
    let out = Command::new("tshark").arg("-v").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("with Lua"),
        "tshark was built without Lua, so it cannot run dissectors:\n{text}"
    );
}

/// The server port of every stream with data, from framescope's JSON.
fn server_ports(doc: &Value) -> BTreeMap<u64, (u16, u16)> {
    let port = |endpoint: &Value| -> u16 {
        endpoint
            .as_str()
            .unwrap()
            .rsplit_once(':')
            .unwrap()
            .1
            .parse()
            .unwrap()
    };
    doc["streams"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["proto"] == "tcp")
        .map(|s| {
            (
                s["stream"].as_u64().unwrap(),
                (port(&s["client"]), port(&s["server"])),
            )
        })
        .collect()
}

/// Message lengths per (stream, source port), in order.
type Lengths = BTreeMap<(u64, u16), Vec<u64>>;

/// framescope's complete messages (whole, in one segment or split).
fn complete_messages(doc: &Value) -> Lengths {
    let ports = server_ports(doc);
    let mut out = Lengths::new();
    for m in doc["messages"].as_array().unwrap() {
        if m["proto"] != "tcp" || !(m["status"] == "ok" || m["status"] == "split") {
            continue;
        }
        let stream = m["stream"].as_u64().unwrap();
        let (client, server) = ports[&stream];
        let port = if m["dir"] == "client" { client } else { server };
        out.entry((stream, port))
            .or_default()
            .push(m["len"].as_u64().unwrap());
    }
    out
}

/// The messages tshark finds with the generated dissector.
fn dissected(capture: &Path, script: &Path, name: &str, decode_as: Option<u16>) -> Lengths {
    let lua = format!("lua_script:{}", script.display());
    let mut args = vec![
        "-r".to_string(),
        capture.display().to_string(),
        "-X".to_string(),
        lua,
        "-o".to_string(),
        "tcp.reassemble_out_of_order:TRUE".to_string(),
    ];
    if let Some(port) = decode_as {
        args.push("-d".to_string());
        args.push(format!("tcp.port=={port},{name}"));
    }
    for a in [
        "-Y",
        name,
        "-T",
        "fields",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=,",
    ] {
        args.push(a.to_string());
    }
    for field in ["tcp.stream", "tcp.srcport", &format!("{name}.len")] {
        args.push("-e".to_string());
        args.push(field.to_string());
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut out = Lengths::new();
    for line in tshark(&refs).lines() {
        let cols: Vec<&str> = line.split('\t').collect();
        let key = (cols[0].parse().unwrap(), cols[1].parse().unwrap());
        let lens = out.entry(key).or_default();
        lens.extend(cols[2].split(',').map(|n| n.parse::<u64>().unwrap()));
    }
    out
}

#[test]
fn generated_dissectors_frame_as_framescope_does() {
    if !have("generated_dissectors_frame_as_framescope_does", "tshark") {
        return;
    }
    tshark_has_lua();
    let dir = scratch("dissector");
    let cases = [
        // The scenarios' framings.
        ("scenarios/nagle-on.pcap", "length:4"),
        ("scenarios/length-prefix.pcap", "length:4"),
        ("scenarios/length-prefix-two-writes.pcap", "length:4"),
        (
            "scenarios/native-int-header.pcap",
            "length:width=4,endian=little",
        ),
        ("scenarios/json-header.pcap", "json-header"),
        ("scenarios/ndjson.pcap", "line"),
        ("scenarios/unframed-lagging-reader.pcap", "none"),
        ("scenarios/remote-command.pcap", "none"),
        // derived_framing in captures/real/ (tests/derived_framing.rs).
        ("real/gosniffer_kafka.pcap", "length:4"),
        (
            "real/tcpdump_bgp-4byte-asn.pcap",
            "length:2,offset=16,adjust=-18",
        ),
        ("real/zeek_dns-edns-tcp-keepalive.pcap", "length:2"),
        ("real/zeek_mqtt.pcap", "length:varint,offset=1"),
        (
            "real/zeek_mysql_mysql.pcap",
            "length:3,endian=little,adjust=1",
        ),
        ("real/zeek_smb_smb2readwrite.pcap", "length:3,offset=1"),
        ("real/zeek_tls_ml-dsa-44-cert.pcap", "length:2,offset=3"),
        (
            "real/zeek_tls_openjdk-25.0.2-zeek.org.pcap",
            "length:2,offset=3",
        ),
    ];
    let mut messages = 0;
    for (i, (capture, spec)) in cases.iter().enumerate() {
        let path = root().join("captures").join(capture);
        let run = framescope(&[
            "analyze",
            path.to_str().unwrap(),
            "--frame",
            spec,
            "--messages",
            "--format",
            "json",
        ]);
        let doc: Value = serde_json::from_slice(&run.stdout).unwrap();
        assert_eq!(doc["messages_dropped"], 0, "{capture}");
        let want = complete_messages(&doc);
        let ports: BTreeSet<u16> = server_ports(&doc).values().map(|p| p.1).collect();
        assert_eq!(ports.len(), 1, "{capture}: one server port");
        let port = *ports.first().unwrap();
        // Half the cases register the port in the script, half use Decode As.
        let name = format!("fs{i}");
        let by_script = i % 2 == 0;
        let mut args = vec!["dissector", "--frame", spec, "--name", &name];
        let port_text = port.to_string();
        if by_script {
            args.extend(["--port", &port_text]);
        }
        let script = dir.join(format!("{name}.lua"));
        std::fs::write(&script, framescope(&args).stdout).unwrap();
        let got = dissected(&path, &script, &name, (!by_script).then_some(port));
        assert_eq!(
            got, want,
            "{capture} with {spec}: message lengths per direction"
        );
        messages += want.values().map(Vec::len).sum::<usize>();
    }
    assert!(messages >= 700, "only {messages} messages compared");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A manual page as man renders it for a terminal.
fn man(page: &Path) -> String {
    let out = Command::new("man")
        .args(["-P", "cat", "-l"])
        .arg(page)
        .env("MANWIDTH", "100")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "man -l {}: {}",
        page.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_manual_pages_render() {
    if !have("the_manual_pages_render", "man") {
        return;
    }
    let dir = scratch("man");
    let page = dir.join("framescope.1");
    std::fs::write(&page, framescope(&["manpage"]).stdout).unwrap();
    let text = man(&page);
    for word in [
        "framescope",
        "analyze",
        "dissector",
        "completions",
        "manpage",
    ] {
        assert!(text.contains(word), "framescope.1 lacks {word}:\n{text}");
    }
    framescope(&["manpage", "--dir", dir.join("man1").to_str().unwrap()]);
    let analyze = man(&dir.join("man1/framescope-analyze.1"));
    assert!(analyze.contains("--annotate"), "{analyze}");
    assert!(analyze.contains("ISO 8583"), "the framing specs: {analyze}");
    let dissector = man(&dir.join("man1/framescope-dissector.1"));
    assert!(dissector.contains("--port"), "{dissector}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// What bash completes for `line`, the cursor at its end.
fn complete(script: &Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source '{}' && complete -p framescope >/dev/null && COMP_WORDS=({}) && COMP_CWORD={} \
         && COMP_LINE='{}' && COMP_POINT=${{#COMP_LINE}} && _framescope framescope '{}' '{}' \
         && printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        quoted.join(" "),
        words.len() - 1,
        words.join(" "),
        words[words.len() - 1],
        words[words.len().saturating_sub(2)],
    );
    let out = Command::new("bash")
        .args(["--norc", "-c", &program])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bash: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.trim().to_string())
        .collect()
}

#[test]
fn bash_completions_load_and_complete() {
    if !have("bash_completions_load_and_complete", "bash") {
        return;
    }
    let dir = scratch("completions");
    let script = dir.join("framescope.bash");
    std::fs::write(&script, framescope(&["completions", "bash"]).stdout).unwrap();
    assert_eq!(complete(&script, &["framescope", "diss"]), ["dissector"]);
    let options = complete(&script, &["framescope", "analyze", "--ann"]);
    assert_eq!(options, ["--annotate"]);
    let subcommands = complete(&script, &["framescope", ""]);
    for name in ["analyze", "dissector", "completions", "manpage"] {
        assert!(subcommands.iter().any(|s| s == name), "{subcommands:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
