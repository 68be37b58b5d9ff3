//! `framescope proxy` between clients and servers of the test's own on
//! 127.0.0.1: bytes arrive intact under every pattern, the live counts
//! equal those of `analyze` on the file the proxy wrote, a server that takes
//! each `recv()` as one message is flagged (and a correct one is not), and
//! the faults: a target that refuses, a client gone mid-message, a server
//! that resets, twice as many clients as the bound.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

mod common;

use common::{counts, echo, lines, msg, naive, naive_noting, read_message, serve, Scratch, BIN};

/// How long any single wait in these tests may take before it is a failure.
const BOUND: Duration = Duration::from_secs(30);

/// A running proxy.
struct Proxy {
    child: Child,
    port: u16,
    stderr: mpsc::Receiver<String>,
}

impl Proxy {
    /// Starts `framescope proxy --listen 127.0.0.1:0 --to TARGET ARGS` and
    /// waits for the line naming its port.
    fn start(target: SocketAddr, args: &[&str]) -> Proxy {
        let mut child = Command::new(BIN)
            .args([
                "proxy",
                "--listen",
                "127.0.0.1:0",
                "--to",
                &target.to_string(),
            ])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start framescope proxy");
        let rx = lines(child.stderr.take().expect("stderr"));
        let mut seen = String::new();
        let port = loop {
            let Ok(line) = rx.recv_timeout(BOUND) else {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the proxy did not say where it listens: {seen}");
            };
            let port = line
                .split("proxying 127.0.0.1:")
                .nth(1)
                .and_then(|rest| rest.split(' ').next())
                .and_then(|p| p.parse().ok());
            if let Some(port) = port {
                break port;
            }
            seen.push_str(&line);
            seen.push('\n');
        };
        Proxy {
            child,
            port,
            stderr: rx,
        }
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Waits for the proxy to exit: its code, stdout and stderr.
    fn finish(mut self) -> (Option<i32>, String, String) {
        let mut out = String::new();
        if let Some(mut o) = self.child.stdout.take() {
            o.read_to_string(&mut out).expect("stdout");
        }
        let status = self.child.wait().expect("wait");
        let err: Vec<String> = self.stderr.try_iter().collect();
        (status.code(), out, err.join("\n"))
    }

    /// The `--format json` document of a finished run.
    fn json(self) -> (Option<i32>, Value) {
        let (code, out, err) = self.finish();
        let doc = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {out}\nstderr: {err}"));
        (code, doc)
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(BOUND)).expect("timeout");
    s
}

fn analyze_json(file: &Path, frame: &str) -> Value {
    let out = Command::new(BIN)
        .args(["analyze", &file.to_string_lossy(), "--format", "json"])
        .args(if frame.is_empty() {
            vec![]
        } else {
            vec!["--frame", frame]
        })
        .output()
        .expect("analyze");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("analyze JSON")
}

/// Bodies of 1 to 3,000 bytes.
fn bodies() -> Vec<Vec<u8>> {
    (0..20u32)
        .map(|i| {
            (0..(1 + i * i * 7) as usize)
                .map(|b| (b as u8) ^ (i as u8))
                .collect()
        })
        .collect()
}

#[test]
fn bytes_arrive_intact_and_counts_match_the_written_capture() {
    let server = serve(echo);
    let scratch = Scratch::new("intact");
    for (i, (to_server, to_client)) in [
        ("bytes:1", "random"),
        ("random:7", "bytes:1"),
        ("original", "original"),
        ("header-body", "frames"),
        ("coalesce:5", "bytes:100"),
    ]
    .into_iter()
    .enumerate()
    {
        let pcap = scratch.path(&format!("run{i}.pcap"));
        let proxy = Proxy::start(
            server,
            &[
                "--split-client",
                to_server,
                "--split-server",
                to_client,
                "--frame",
                "length:4",
                "--connections",
                "1",
                "--format",
                "json",
                "--write",
                &pcap.to_string_lossy(),
            ],
        );
        let mut c = connect(proxy.addr());
        for body in bodies() {
            c.write_all(&msg(&body)).expect("send");
            assert_eq!(
                read_message(&mut c).as_deref(),
                Some(&body[..]),
                "{to_server}"
            );
        }
        c.shutdown(Shutdown::Write).expect("shutdown");
        assert_eq!(
            c.read(&mut [0u8; 1]).expect("end"),
            0,
            "the server's close arrives"
        );
        let (code, doc) = proxy.json();
        assert_eq!(code, Some(0), "{doc}");
        let p = &doc["proxy"];
        assert_eq!(p["connections"], 1);
        assert_eq!(p["rows"][0]["client_end"], "closed");
        assert_eq!(p["rows"][0]["server_end"], "closed");
        assert_eq!(p["findings"].as_array().map(Vec::len), Some(0), "{p}");
        let total: u64 = bodies().iter().map(|b| b.len() as u64 + 4).sum();
        assert_eq!(p["rows"][0]["bytes"], serde_json::json!([total, total]));
        // Both legs, 20 messages each way, as live and as written.
        let live = counts(&doc);
        assert_eq!(live.len(), 2, "{live:?}");
        assert!(live.iter().all(|s| s.2 == 20 && s.3 == 20), "{live:?}");
        assert_eq!(
            counts(&analyze_json(&pcap, "length:4")),
            live,
            "{to_server}"
        );
        // The re-cut legs show the cuts: with bytes:1 every message is split.
        if to_server == "bytes:1" {
            let server_leg = doc["streams"]
                .as_array()
                .and_then(|s| s.iter().find(|s| s["stream"] == 1))
                .expect("stream 1");
            assert_eq!(server_leg["dirs"]["client"]["split_messages"], 20);
            assert_eq!(server_leg["dirs"]["client"]["segments"], total);
        }
    }
}

#[test]
fn the_written_capture_replays() {
    let server = serve(echo);
    let scratch = Scratch::new("replays");
    let pcap = scratch.path("p.pcap");
    let proxy = Proxy::start(
        server,
        &[
            "--connections",
            "1",
            "--format",
            "json",
            "--write",
            &pcap.to_string_lossy(),
        ],
    );
    let mut c = connect(proxy.addr());
    for body in bodies().iter().take(5) {
        c.write_all(&msg(body)).expect("send");
        assert!(read_message(&mut c).is_some());
    }
    drop(c);
    let (code, _) = proxy.json();
    assert_eq!(code, Some(0));
    // Stream 1 is the server leg: the proxy's own connection to the server.
    let out = Command::new(BIN)
        .args(["replay", &pcap.to_string_lossy(), "--stream", "1", "--to"])
        .arg(server.to_string())
        .args(["--frame", "length:4", "--split", "bytes:3"])
        .output()
        .expect("replay");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("5 client messages"), "{text}");
}

/// Sends 12 messages in one write, half-closes, and reads to the end.
fn pipelined(addr: SocketAddr) -> Vec<u8> {
    let mut c = connect(addr);
    let all: Vec<u8> = bodies().iter().take(12).flat_map(|b| msg(b)).collect();
    c.write_all(&all).expect("send");
    c.shutdown(Shutdown::Write).expect("shutdown");
    let mut got = Vec::new();
    c.read_to_end(&mut got).expect("replies");
    got
}

#[test]
fn a_correct_server_under_cuts_is_not_flagged() {
    let args = |cut: &'static str| {
        [
            "--split-client",
            cut,
            "--frame",
            "length:4",
            "--connections",
            "1",
            "--format",
            "json",
        ]
    };
    // The correct server with each message cut in 3-byte writes.
    let proxy = Proxy::start(serve(echo), &args("bytes:3"));
    let expected: Vec<u8> = bodies().iter().take(12).flat_map(|b| msg(b)).collect();
    assert_eq!(pipelined(proxy.addr()), expected);
    let (code, doc) = proxy.json();
    assert_eq!(code, Some(0), "{doc}");
    assert_eq!(doc["proxy"]["findings"].as_array().map(Vec::len), Some(0));
    // The naive server, one message per request and nothing re-cut: it
    // gets away with it.
    let proxy = Proxy::start(serve(naive), &args("original"));
    let mut c = connect(proxy.addr());
    for body in bodies().iter().take(5) {
        c.write_all(&msg(body)).expect("send");
        assert_eq!(read_message(&mut c).as_deref(), Some(&body[..]));
    }
    drop(c);
    let (code, doc) = proxy.json();
    assert_eq!(code, Some(0), "{doc}");
    assert_eq!(doc["proxy"]["findings"].as_array().map(Vec::len), Some(0));
}

#[test]
fn a_naive_server_under_cuts_is_flagged_each_piece_read_alone() {
    let reads = Arc::new(Mutex::new(Vec::new()));
    let noted = Arc::clone(&reads);
    let target = serve(move |s| naive_noting(s, |n| noted.lock().expect("reads").push(n)));
    let proxy = Proxy::start(
        target,
        &[
            "--split-client",
            "bytes:3",
            "--frame",
            "length:4",
            "--connections",
            "1",
            "--format",
            "json",
        ],
    );
    let sent: Vec<u8> = bodies().iter().take(12).flat_map(|b| msg(b)).collect();
    let got = pipelined(proxy.addr());
    let (code, doc) = proxy.json();
    assert_eq!(code, Some(1), "{doc}");
    let findings = doc["proxy"]["findings"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!findings.is_empty(), "{doc}");
    assert!(
        findings
            .iter()
            .all(|f| f["dir"] == "server" && f["leg"] == "server"),
        "{doc}"
    );
    // Each finding names a message the client had only partly sent. Which
    // messages they are depends on when the proxy read each reply, so any
    // message will do, as long as the bytes named are fewer than its own.
    let lens: Vec<u64> = bodies().iter().map(|b| msg(b).len() as u64).collect();
    for f in &findings {
        let index = f["partial_index"].as_u64().expect("partial_index") as usize;
        let bytes = f["partial_bytes"].as_u64().expect("partial_bytes");
        assert!(bytes > 0 && bytes < lens[index], "{f}");
    }
    // Each 3-byte piece waited until the server had read the one before:
    // no recv() got more than one piece, and every byte arrived.
    let reads = reads.lock().expect("reads").clone();
    assert_eq!(reads.iter().sum::<usize>(), sent.len());
    assert!(reads.iter().all(|&n| n <= 3), "{reads:?}");
    assert!(reads.len() >= sent.len() / 3, "{reads:?}");
    // What the client got back is the naive server's answers to pieces.
    assert_ne!(got, sent);
    assert_eq!(
        got.len(),
        reads.len() * 4 + reads.iter().map(|n| n.saturating_sub(4)).sum::<usize>()
    );
}

#[test]
fn a_refusing_target_is_reported() {
    let gone = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let proxy = Proxy::start(gone, &["--connections", "1", "--format", "json"]);
    let mut c = connect(proxy.addr());
    let got = c.read(&mut [0u8; 16]);
    assert!(
        matches!(got, Ok(0))
            || got
                .as_ref()
                .is_err_and(|e| e.kind() == ErrorKind::ConnectionReset),
        "{got:?}"
    );
    let (code, doc) = proxy.json();
    assert_eq!(code, Some(0), "{doc}");
    let row = &doc["proxy"]["rows"][0];
    assert_eq!(row["server_end"], "refused", "{row}");
    assert_eq!(row["client_end"], "cut", "{row}");
    assert!(
        row["error"]
            .as_str()
            .is_some_and(|e| e.contains(&gone.to_string())),
        "{row}"
    );
}

#[test]
fn a_client_gone_mid_message_loses_nothing() {
    let received = Arc::new(AtomicU64::new(0));
    let r = Arc::clone(&received);
    let server = serve(move |mut s: TcpStream| {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = s.read(&mut buf) {
            r.fetch_add(n as u64, Ordering::SeqCst);
        }
    });
    let proxy = Proxy::start(
        server,
        &[
            "--split-client",
            "bytes:5",
            "--frame",
            "length:4",
            "--connections",
            "1",
            "--format",
            "json",
        ],
    );
    let mut c = connect(proxy.addr());
    // A header announcing 100 bytes, then 10 of them, then gone.
    let mut partial = 100u32.to_be_bytes().to_vec();
    partial.extend_from_slice(b"0123456789");
    c.write_all(&partial).expect("send");
    drop(c);
    let (code, doc) = proxy.json();
    assert_eq!(code, Some(0), "{doc}");
    assert_eq!(
        received.load(Ordering::SeqCst),
        14,
        "every byte reached the server"
    );
    let row = &doc["proxy"]["rows"][0];
    assert_eq!(
        (&row["client_end"], &row["server_end"]),
        (&"closed".into(), &"closed".into())
    );
    for s in doc["streams"].as_array().expect("streams") {
        assert_eq!(s["dirs"]["client"]["truncated_messages"], 1, "{s}");
        assert_eq!(s["dirs"]["client"]["bytes"], 14, "{s}");
    }
}

#[test]
fn a_server_reset_reaches_the_client() {
    let server = serve(|mut s: TcpStream| {
        if read_message(&mut s).is_some() {
            let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
        }
    });
    let proxy = Proxy::start(server, &["--connections", "1", "--format", "json"]);
    let mut c = connect(proxy.addr());
    c.write_all(&msg(b"hello")).expect("send");
    let got = c.read(&mut [0u8; 16]);
    assert!(
        got.as_ref()
            .is_err_and(|e| e.kind() == ErrorKind::ConnectionReset),
        "the client sees a reset: {got:?}"
    );
    let (code, doc) = proxy.json();
    assert_eq!(code, Some(0), "{doc}");
    let row = &doc["proxy"]["rows"][0];
    assert_eq!(
        (&row["server_end"], &row["client_end"]),
        (&"reset".into(), &"cut".into()),
        "{row}"
    );
    assert_eq!(row["bytes"][0], 9);
}

#[test]
fn only_loopback_unless_allowed() {
    for args in [
        vec!["--listen", "127.0.0.1:0", "--to", "192.0.2.1:9"],
        vec!["--listen", "0.0.0.0:0", "--to", "127.0.0.1:9"],
    ] {
        let out = Command::new(BIN)
            .arg("proxy")
            .args(&args)
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains("--allow-remote") && err.contains("not a loopback"),
            "{err}"
        );
    }
    let out = Command::new(BIN)
        .args([
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--to",
            "127.0.0.1:9",
            "--split-client",
            "frames",
        ])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--frame"), "{err}");
}

/// The proxy's peak resident memory, from /proc.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn twice_the_bound_of_clients_each_get_an_answer() {
    // 2,000 client sockets, 1,000 server sockets and the proxy's: raise the
    // descriptor limit of this process (prlimit from util-linux).
    let _ = Command::new("prlimit")
        .args([
            "--pid",
            &std::process::id().to_string(),
            "--nofile=16384:16384",
        ])
        .status();
    let server = serve(echo);
    let proxy = Proxy::start(
        server,
        &[
            "--max-connections",
            "1000",
            "--format",
            "json",
            "--duration",
            "600",
        ],
    );
    let pid = proxy.child.id();
    // A client turned away may see the reset already in connect().
    let clients: Vec<Option<TcpStream>> = (0..2000)
        .map(|_| {
            let s = TcpStream::connect(proxy.addr()).ok()?;
            s.set_read_timeout(Some(BOUND)).expect("timeout");
            Some(s)
        })
        .collect();
    let mut answered = 0;
    let mut turned_away = 0;
    for (i, c) in clients.iter().enumerate() {
        let Some(mut c) = c.as_ref() else {
            turned_away += 1;
            continue;
        };
        let body = format!("client {i}");
        let sent = c.write_all(&msg(body.as_bytes()));
        match (sent, read_message(&mut c)) {
            (Ok(()), Some(echoed)) => {
                assert_eq!(echoed, body.as_bytes());
                answered += 1;
            }
            _ => turned_away += 1,
        }
    }
    assert_eq!((answered, turned_away), (1000, 1000));
    let peak = peak_rss_kib(pid);
    drop(clients);
    // Stop it: SIGINT, as Ctrl-C.
    let _ = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status();
    let (code, doc) = proxy.json();
    assert_eq!(code, Some(0));
    let p = &doc["proxy"];
    assert_eq!(
        (&p["connections"], &p["rejected"]),
        (&1000.into(), &1000.into()),
        "{p}"
    );
    assert!(p["peak_open"].as_u64().is_some_and(|n| n <= 1000), "{p}");
    let closed = p["client_ends"]["closed"].as_u64().unwrap_or(0);
    assert_eq!(
        closed, 1000,
        "every admitted client closed: {}",
        p["client_ends"]
    );
    // 1,000 connections open at once, each with two threads and buffers.
    assert!(peak > 0 && peak < 400 * 1024, "peak RSS {peak} KiB");
    eprintln!("peak RSS with 1,000 connections open: {peak} KiB");
}
