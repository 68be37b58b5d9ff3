//! The Wireshark display filters framescope prints, run through tshark: on
//! the captures shipped in `captures/`, each flagged message's filter must
//! be accepted and select exactly the packets that carried the message.
//!
//! Needs `tshark` (`scripts/deps.sh --test` installs it); without it the
//! test says so and passes, except under `CI=true`, where it fails.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

mod common;

use common::{captures, have};

/// Filters checked per capture: tshark starts in about a third of a second.
const PER_CAPTURE: usize = 3;

/// Frame numbers tshark selects with `filter`.
fn select(file: &Path, filter: &str) -> Result<BTreeSet<u64>, String> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(["-Y", filter, "-T", "fields", "-e", "frame.number"])
        .output()
        .unwrap();
    // A capture damaged part-way makes tshark exit 2 after what it read;
    // a filter it refuses selects nothing.
    if !out.status.success() && out.stdout.is_empty() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect())
}

/// The packets that carried `m`: its records when it kept them all, else
/// those of its direction with payload from its first to its last record.
fn expected(file: &Path, m: &Value, stream: &Value) -> BTreeSet<u64> {
    let records: BTreeSet<u64> = m["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_u64().unwrap())
        .collect();
    if m["segments"].as_u64().unwrap() <= records.len() as u64 {
        return records;
    }
    let from = &stream[m["dir"].as_str().unwrap()];
    let (ip, port) = from.as_str().unwrap().rsplit_once(':').unwrap();
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    let (first, last) = (
        m["first_record"].as_u64().unwrap(),
        m["last_record"].as_u64().unwrap(),
    );
    let proto = m["proto"].as_str().unwrap();
    // Independently of framescope's filter: every frame of the stream,
    // sorted out here.
    let out = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(["-Y", &format!("{proto}.stream eq {}", m["stream"])])
        .args(["-T", "fields"])
        .args(["-e", "frame.number", "-e", "ip.src", "-e", "ipv6.src"])
        .args(["-e", "tcp.srcport", "-e", "tcp.len"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let n: u64 = f.first()?.parse().ok()?;
            let src = f.get(1).filter(|s| !s.is_empty()).or(f.get(2))?;
            let same = src.split(',').any(|s| s == ip) && f.get(3) == Some(&port);
            let payload = f.get(4)?.parse::<u64>().ok()? > 0;
            (same && payload && (first..=last).contains(&n)).then_some(n)
        })
        .collect()
}

#[test]
fn every_flagged_message_filter_selects_exactly_its_packets() {
    if !have(
        "every_flagged_message_filter_selects_exactly_its_packets",
        "tshark",
    ) {
        return;
    }
    let all = captures();
    let half = all.len() / 2;
    let (a, b) = all.split_at(half);
    let (x, y) = std::thread::scope(|s| {
        let t = s.spawn(|| check(a));
        (check(b), t.join().unwrap())
    });
    let files = x.files + y.files;
    let (checked, lists, ranges) = (
        x.checked + y.checked,
        x.lists + y.lists,
        x.ranges + y.ranges,
    );
    let failures = [x.failures, y.failures].concat();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(files >= 45, "{files} captures analysed");
    assert!(
        checked >= 80 && lists >= 20 && ranges >= 1,
        "{checked} filters, {lists} of several packets, {ranges} by range"
    );
}

/// What checking some captures found.
#[derive(Default)]
struct Checked {
    files: usize,
    checked: usize,
    lists: usize,
    ranges: usize,
    failures: Vec<String>,
}

fn check(files: &[PathBuf]) -> Checked {
    let mut c = Checked::default();
    for file in files {
        let out = Command::new(env!("CARGO_BIN_EXE_framescope"))
            .arg("analyze")
            .arg(file)
            .args(["--format", "json"])
            .output()
            .unwrap();
        if !out.status.success() {
            continue;
        }
        c.files += 1;
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        let streams = doc["streams"].as_array().unwrap();
        // The messages of most interest first: those of many records.
        let mut messages: Vec<&Value> = doc["messages"].as_array().unwrap().iter().collect();
        messages.sort_by_key(|m| std::cmp::Reverse(m["segments"].as_u64()));
        for m in messages.into_iter().take(PER_CAPTURE) {
            let filter = m["filter"].as_str().unwrap();
            let stream = streams
                .iter()
                .find(|s| s["stream"] == m["stream"] && s["proto"] == m["proto"])
                .unwrap();
            let want = expected(file, m, stream);
            c.checked += 1;
            if want.len() > 1 {
                c.lists += 1;
            }
            if filter.contains(">=") {
                c.ranges += 1;
            }
            match select(file, filter) {
                Ok(got) if got == want => {}
                Ok(got) => c.failures.push(format!(
                    "{}: {filter}: selected {got:?}, want {want:?}",
                    file.display()
                )),
                Err(e) => c
                    .failures
                    .push(format!("{}: {filter}: {e}", file.display())),
            }
        }
    }
    c
}
