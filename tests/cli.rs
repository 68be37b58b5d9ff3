//! The binary run on shipped captures: exit codes, error messages, output
//! formats, and that threads and shards give the same results as one pass.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

fn capture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("captures")
        .join(rel)
}

fn framescope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_framescope"))
        .args(args)
        .output()
        .expect("runs")
}

fn json(args: &[&str]) -> Value {
    let out = framescope(args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

#[test]
fn not_a_capture_exits_2_with_a_clear_message() {
    let readme = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let out = framescope(&["analyze", readme.to_str().unwrap(), "--frame", "line"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a pcap or pcapng file"), "{err}");
}

#[test]
fn damage_part_way_is_a_warning_and_the_rest_is_reported() {
    let f = capture("real/sv_http-mime-truncated.pcap");
    let out = framescope(&["flows", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("record 2697 at byte offset 2715459"), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("2388931"));
}

#[test]
fn unreadable_pcapng_exits_2() {
    let f = capture("real/libpcap_shb-option-too-long.pcapng");
    let out = framescope(&["flows", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn bad_frame_spec_names_the_offset() {
    let f = capture("scenarios/ndjson.pcap");
    let out = framescope(&["analyze", f.to_str().unwrap(), "--frame", "length:width=5"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at character"));
}

#[test]
fn fail_on_anomalies_exits_1_on_a_truncated_record() {
    // The TLS capture stops in the middle of a record.
    let f = capture("real/zeek_tls_openjdk-25.0.2-zeek.org.pcap");
    let out = framescope(&[
        "analyze",
        f.to_str().unwrap(),
        "--frame",
        "tls",
        "--fail-on",
        "anomalies",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let clean = capture("real/zeek_dns-edns-tcp-keepalive.pcap");
    let out = framescope(&[
        "analyze",
        clean.to_str().unwrap(),
        "--frame",
        "length:2",
        "--fail-on",
        "anomalies",
    ]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn jobs_and_shards_give_the_same_streams_as_one_pass() {
    let f = capture("servers/redis.pcap");
    let f = f.to_str().unwrap();
    let one = json(&["analyze", f, "--frame", "resp", "--format", "json"]);
    let two = json(&[
        "analyze", f, "--frame", "resp", "--format", "json", "--jobs", "2",
    ]);
    assert_eq!(one["streams"], two["streams"]);
    assert_eq!(one["summary"], two["summary"]);
    let mut sharded = Vec::new();
    for k in ["1/3", "2/3", "3/3"] {
        let part = json(&[
            "analyze", f, "--frame", "resp", "--format", "json", "--shard", k,
        ]);
        sharded.extend(part["streams"].as_array().unwrap().clone());
    }
    sharded.sort_by_key(|s| s["stream"].as_u64());
    assert_eq!(Value::Array(sharded), one["streams"]);
}

#[test]
fn jsonl_streams_one_record_per_line() {
    let f = capture("scenarios/unframed-lagging-reader.pcap");
    let out = framescope(&[
        "analyze",
        f.to_str().unwrap(),
        "--frame",
        "none",
        "--format",
        "jsonl",
        "--messages",
    ]);
    assert!(out.status.success());
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON object per line"))
        .collect();
    let kinds: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["message", "message", "message", "message", "stream", "capture"]
    );
    assert_eq!(lines[2]["len"], 7);
    assert_eq!(lines[4]["dirs"]["client"]["messages"], 4);
}

#[test]
fn follow_gives_the_raw_bytes_and_reports_gaps_on_stderr() {
    let f = capture("real/zeek_http_content-range-gap.pcap");
    let out = framescope(&[
        "follow",
        f.to_str().unwrap(),
        "--stream",
        "0",
        "--dir",
        "server",
    ]);
    assert!(out.status.success());
    assert_eq!(out.stdout.len(), 9578);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("1380 bytes missing"), "{err}");
}

#[test]
fn detect_prints_one_row_per_stream_with_the_chosen_framing() {
    let path = capture("scenarios/native-int-header.pcap");
    let doc = json(&["detect", path.to_str().unwrap(), "--format", "json"]);
    let streams = doc["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 1);
    assert_eq!(streams[0]["chosen"]["spec"], "length:4,endian=little");
    assert_eq!(streams[0]["chosen"]["messages"][0], 4);
    let out = framescope(&["detect", path.to_str().unwrap()]);
    assert!(out.status.success());
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("length:4,endian=little"), "{table}");
}
