//! `analyze --diagram` and `--html` end to end: the diagram of the seed
//! scenario (four segments `hello`, `world`, `musibii`, `1`), and the HTML
//! page opened in headless Chromium, whose shape counts must match
//! `analyze --format json`.
//!
//! The browser checks skip, saying so, when no Chromium is installed,
//! unless `CI=true`, where they fail instead (`scripts/deps.sh --test`
//! installs it).

use std::path::{Path, PathBuf};
use std::process::Command;

use etherparse::PacketBuilder;

mod common;

use common::skip;

const BIN: &str = env!("CARGO_BIN_EXE_framescope");

/// A classic pcap file (Ethernet, microsecond timestamps) from frames.
fn pcap(frames: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65_535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (micros, data) in frames {
        out.extend_from_slice(&((1_700_000_000 + micros / 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&((micros % 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(data);
    }
    out
}

/// One TCP packet of the seed connection (client 10.0.0.1:40000, server
/// 10.0.0.2:7000).
fn tcp(from_client: bool, seq: u32, ack: u32, flags: &str, payload: &[u8]) -> Vec<u8> {
    let (src, dst, sport, dport) = if from_client {
        ([10, 0, 0, 1], [10, 0, 0, 2], 40000, 7000)
    } else {
        ([10, 0, 0, 2], [10, 0, 0, 1], 7000, 40000)
    };
    let mut b = PacketBuilder::ethernet2([1; 6], [2; 6])
        .ipv4(src, dst, 64)
        .tcp(sport, dport, seq, 65_535);
    for f in flags.chars() {
        b = match f {
            'S' => b.syn(),
            'A' => b.ack(ack),
            'P' => b.psh(),
            'F' => b.fin(),
            _ => b,
        };
    }
    let mut out = Vec::new();
    b.write(&mut out, payload).expect("packet");
    out
}

/// The seed scenario: the client writes `hello`, `world`, `musibii`, `1`
/// in four segments, 10 ms apart, the server acknowledges each.
fn seed_capture() -> Vec<u8> {
    let (c, s) = (1000u32, 5000u32);
    let mut frames = vec![
        (0, tcp(true, c, 0, "S", b"")),
        (100, tcp(false, s, c + 1, "SA", b"")),
        (200, tcp(true, c + 1, s + 1, "A", b"")),
    ];
    let mut seq = c + 1;
    let mut t = 10_000;
    for part in [&b"hello"[..], b"world", b"musibii", b"1"] {
        frames.push((t, tcp(true, seq, s + 1, "PA", part)));
        seq += part.len() as u32;
        frames.push((t + 200, tcp(false, s + 1, seq, "A", b"")));
        t += 10_000;
    }
    frames.push((t, tcp(true, seq, s + 1, "FA", b"")));
    frames.push((t + 100, tcp(false, s + 1, seq + 1, "FA", b"")));
    frames.push((t + 200, tcp(true, seq + 1, s + 2, "A", b"")));
    pcap(&frames)
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pictures");
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name)
}

/// The seed capture: the shipped scenario when present, else synthesized
/// into `name`.
fn seed_path(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/scenarios/seed.pcap");
    if p.exists() {
        return p;
    }
    let p = scratch(name);
    std::fs::write(&p, seed_capture()).expect("write seed pcap");
    p
}

fn framescope(args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .env("COLUMNS", "100")
        .env("NO_COLOR", "1")
        .output()
        .expect("run framescope");
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "framescope {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

#[test]
fn seed_diagram_shows_segments_messages_and_the_lagging_reads() {
    // Always the synthesized capture: the expected text pins its records.
    let seed = scratch("seed-diagram.pcap");
    std::fs::write(&seed, seed_capture()).expect("write seed pcap");
    let out = framescope(&[
        "analyze",
        seed.to_str().expect("path"),
        "--frame",
        "none",
        "--recv",
        "5,5,10,5",
        "--diagram",
    ]);
    let start = out.find("tcp stream 0 client").expect("a diagram");
    let diagram = &out[start..];
    let expected = "\
tcp stream 0 client 10.0.0.1:40000 -> 10.0.0.2:7000: bytes 0..18, 4 segments, 4 messages
segments |#4 hello       |#6 world       |#8 musibii           |#10 1|
messages |hello          |world          |musibii              |1    |
recv()   |hello          |world          |musibii1 glued~~~~~~~~~~~~~| +1 empty
";
    assert!(diagram.starts_with(expected), "diagram:\n{diagram}");
}

/// Chromium's path, or `None` (skipping) when absent outside CI.
fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join(name))
                    .find(|p| p.is_file())
            })
        });
    if found.is_none() {
        skip(
            "pictures",
            "chromium is not installed (scripts/deps.sh --test installs it)",
        );
    }
    found
}

/// Runs headless Chromium on `page` with `extra` arguments.
fn browse(browser: &Path, page: &Path, extra: &[&str]) -> String {
    let profile = scratch(&format!(
        "profile-{}",
        page.file_stem().and_then(|s| s.to_str()).unwrap_or("p")
    ));
    let child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run chromium");
    // Chromium may hang (a locked profile, a GPU probe): its output is
    // read on a thread, and a run that does not end within two minutes is
    // killed and fails the test.
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(std::time::Duration::from_secs(120)) {
        Ok(out) => out.expect("chromium's output"),
        Err(_) => {
            let _ = Command::new("kill").arg(pid.to_string()).status();
            panic!("chromium did not finish within 120 s on {}", page.display());
        }
    };
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `data-NAME="N"` on the rendered page's body, set by the page's script.
fn counted(dom: &str, name: &str) -> u64 {
    let key = format!("data-{name}=\"");
    let at = dom
        .find(&key)
        .unwrap_or_else(|| panic!("no {key} in the rendered DOM"))
        + key.len();
    dom[at..]
        .split('"')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a count")
}

/// Segment, message and flagged-message counts from `--format json`.
fn json_counts(args: &[&str]) -> (u64, u64, u64) {
    let mut all = args.to_vec();
    all.extend(["--format", "json", "--messages"]);
    let doc: serde_json::Value = serde_json::from_str(&framescope(&all)).expect("json");
    let segments = doc["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .map(|s| {
            s["dirs"]["client"]["segments"].as_u64().unwrap_or(0)
                + s["dirs"]["server"]["segments"].as_u64().unwrap_or(0)
        })
        .sum();
    let messages = doc["summary"]["messages"].as_u64().expect("messages");
    let flagged = doc["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["status"] != "ok" || m["coalesced"] == true)
        .count() as u64;
    (segments, messages, flagged)
}

fn check_page(name: &str, args: &[&str]) {
    let Some(browser) = chromium() else { return };
    let page = scratch(&format!("{name}.html"));
    let mut with_html = args.to_vec();
    let page_arg = page.to_str().expect("path").to_string();
    with_html.extend(["--html", &page_arg]);
    framescope(&with_html);
    let (segments, messages, flagged) = json_counts(args);
    let dom = browse(&browser, &page, &["--dump-dom"]);
    assert_eq!(counted(&dom, "segs"), segments, "segment shapes of {name}");
    assert_eq!(counted(&dom, "msgs"), messages, "message shapes of {name}");
    assert_eq!(
        counted(&dom, "flagged"),
        flagged,
        "flagged shapes of {name}"
    );
    assert!(messages > 0 && segments > 0, "{name} draws something");
    // scripts/browser-check.sh --screenshot: the picture in the README.
    if let Ok(shot) = std::env::var("FRAMESCOPE_SCREENSHOT") {
        if name == "http" {
            browse(
                &browser,
                &page,
                &[&format!("--screenshot={shot}"), "--window-size=1400,900"],
            );
        }
    }
}

#[test]
fn browser_renders_the_seed_timeline() {
    let seed = seed_path("seed-html.pcap");
    check_page(
        "seed",
        &["analyze", seed.to_str().expect("path"), "--frame", "none"],
    );
}

#[test]
fn browser_renders_a_real_capture() {
    let cap = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/captures/real/zeek_redis_pipelining-example.pcap"
    );
    check_page("redis", &["analyze", cap, "--frame", "line"]);
}

#[test]
fn browser_renders_pipelined_http_lines() {
    let cap = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/captures/real/zeek_http_pipelined-requests.pcap"
    );
    check_page("http", &["analyze", cap, "--frame", "line"]);
}
