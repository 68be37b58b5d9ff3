//! `framescope replay` and `fuzz-server` against servers on 127.0.0.1:
//! small ones of our own (a correct length-prefixed echo server, and a
//! naive one that treats every `recv()` as one message), and real servers
//! from Debian packages (redis-server, memcached, mosquitto, nginx) started
//! by `scripts/servers/serve.sh` and replayed the client sessions that
//! `scripts/servers/replay-sessions.sh` captured (`captures/replay/`).
//!
//! Nothing here sleeps to synchronise: servers are polled until they
//! listen, live captures are open before the traffic starts and stop when
//! the stream closes, and replay itself waits until the server has read.
//! A real server or a live capture that is not available is skipped with a
//! message, except under CI (`CI=true`), where that fails.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use framescope::capture::live::{LiveCapture, LiveConfig, LiveError};
use framescope::flow::reassembly::Event;
use framescope::flow::{Dir, FlowLimits, Sink, StreamInfo, StreamStats, Tracker};
use framescope::replay::synth::{write_pcap, SynthSession, SynthWrite};
use framescope::replay::Ending;

mod common;

use common::{echo as correct, framescope, msg, naive, naive_noting, read_message, row, serve};
use common::{json_output, skip, text, Scratch, MATRIX};

/// The naive server; with `reads`, it records each connection's reads and
/// bytes there when the connection ends.
fn naive_counting(s: TcpStream, reads: Option<&Mutex<Vec<(usize, usize)>>>) {
    let (mut count, mut bytes) = (0, 0);
    naive_noting(s, |n| {
        count += 1;
        bytes += n;
    });
    if let Some(r) = reads {
        r.lock().expect("reads").push((count, bytes));
    }
}

fn scratch(name: &str) -> Scratch {
    Scratch::new(&format!("replay-{name}"))
}

/// A captured echo session: four messages, each echoed, then both close.
fn echo_capture(dir: &Path) -> PathBuf {
    let mut s = SynthSession {
        server_end: Some(Ending::Closed),
        ..SynthSession::default()
    };
    for body in [
        &b"hello"[..],
        b"sticky packets",
        b"",
        b"a longer message of forty bytes, or so..",
    ] {
        for dir in [Dir::Client, Dir::Server] {
            s.writes.push(SynthWrite {
                dir,
                pause: Duration::from_millis(2),
                bytes: msg(body),
            });
        }
    }
    let path = dir.join("echo.pcap");
    write_pcap(&path, &s).expect("write pcap");
    path
}

fn replay_args<'a>(cap: &'a str, addr: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["replay", cap, "--stream", "0", "--to", addr];
    v.extend_from_slice(extra);
    v
}

/// `replay` of the echo capture (in scratch directory `name`) to `server`
/// on 127.0.0.1, with `extra` arguments: its exit code and its output.
fn replay_echo<F: Fn(TcpStream) + Send + Sync + 'static>(
    name: &str,
    server: F,
    extra: &[&str],
) -> (Option<i32>, String) {
    let dir = scratch(name);
    let cap = echo_capture(&dir);
    let addr = serve(server).to_string();
    let o = framescope(&replay_args(cap.to_str().unwrap(), &addr, extra));
    (o.status.code(), text(&o))
}

/// The correct server, except that on its third connection (the first
/// pattern's run, after the two reference runs) it sends one reply too
/// many: a difference that a second run of the same writes does not show.
fn wrong_on_the_third_connection(mut s: TcpStream) {
    static CONNECTIONS: AtomicUsize = AtomicUsize::new(0);
    let third = CONNECTIONS.fetch_add(1, Ordering::SeqCst) == 2;
    let mut replies = 0;
    while let Some(body) = read_message(&mut s) {
        if s.write_all(&msg(&body)).is_err() {
            return;
        }
        replies += 1;
        if third && replies == 1 && s.write_all(&msg(b"once")).is_err() {
            return;
        }
    }
}

#[test]
fn a_difference_that_a_second_run_does_not_show_is_not_counted() {
    let (code, out) = replay_echo(
        "matrix-once",
        wrong_on_the_third_connection,
        &["--frame", "length", "--matrix"],
    );
    assert_eq!(code, Some(0), "{out}");
    let first = row(&out, "original");
    assert!(
        first.contains("same") && first.contains("first run only, not on a second"),
        "{out}"
    );
    assert!(row(&out, "frames").contains("same"), "{out}");
    assert!(
        out.contains("the server behaved the same under every write pattern"),
        "{out}"
    );
}

#[test]
fn matrix_passes_a_correct_server() {
    let (code, out) = replay_echo("matrix-ok", correct, &["--frame", "length", "--matrix"]);
    assert_eq!(code, Some(0), "{out}");
    for split in MATRIX {
        let r = row(&out, split);
        assert!(r.contains("same") && r.contains("closed"), "{r}");
    }
    assert!(
        out.contains("framing length:4 (--frame); 4 client messages to send, 4 replies captured")
            && out.contains("matches the capture")
            && out.contains("each write waits until the server has read the one before"),
        "{out}"
    );
}

#[test]
fn matrix_flags_split_and_coalesced_writes_on_a_naive_server() {
    let (code, out) = replay_echo("matrix-naive", naive, &["--frame", "length", "--matrix"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(row(&out, "frames").contains("same"), "{out}");
    for split in ["bytes:1", "header-body", "coalesce"] {
        assert!(row(&out, split).contains("DIFFERS"), "{split}: {out}");
    }
    // A naive server's own reference runs may differ by a reply (a write
    // copied into a recv() still under way): "4" or "3 to 4".
    let coalesce = row(&out, "coalesce");
    assert!(
        coalesce.contains("1 reply, ") && coalesce.contains("4 in the reference"),
        "{out}"
    );
    // The reference itself matches the capture: the naive server answers
    // one write per message correctly.
    assert!(out.contains("matches the capture"), "{out}");
}

/// The patterns whose verdict in `doc` (`replay --format json`) is
/// `differs`, after checking that `changed_by` names the same ones and
/// `differs` says whether there are any.
fn changed_in(doc: &serde_json::Value) -> Vec<String> {
    let patterns = doc["patterns"].as_array().expect("patterns");
    let splits: Vec<&str> = patterns
        .iter()
        .filter_map(|p| p["split"].as_str())
        .collect();
    assert_eq!(splits, MATRIX, "{doc}");
    let changed: Vec<String> = patterns
        .iter()
        .filter(|p| p["verdict"] == "differs")
        .map(|p| p["split"].as_str().unwrap().to_string())
        .collect();
    for p in patterns {
        let verdict_differs = p["verdict"] == "differs";
        let listed = !p["differences"].as_array().unwrap().is_empty();
        assert_eq!(verdict_differs, listed, "{p}");
    }
    assert_eq!(doc["changed_by"], serde_json::json!(changed), "{doc}");
    assert_eq!(doc["differs"], !changed.is_empty(), "{doc}");
    changed
}

/// `replay --format json` says what the text says, as one document that
/// matches `docs/schema/replay.schema.json`: every pattern the same on the
/// correct server (exit 0), split and coalesced writes changing the naive
/// one (exit 1), with the difference located.
#[test]
fn json_verdicts_hold_on_both_servers_and_match_the_schema() {
    let test = "json_verdicts_hold_on_both_servers_and_match_the_schema";
    let dir = scratch("json");
    let cap = echo_capture(&dir);
    let cap = cap.to_str().unwrap();
    let extra = ["--frame", "length", "--matrix", "--format", "json"];

    let addr = serve(correct).to_string();
    let (code, doc) = json_output(test, "replay", &replay_args(cap, &addr, &extra));
    assert_eq!(code, Some(0), "{doc}");
    assert!(changed_in(&doc).is_empty(), "{doc}");
    assert_eq!(
        (&doc["mode"], &doc["peer"], &doc["address"], &doc["sent"]),
        (
            &serde_json::json!("replay"),
            &serde_json::json!("server"),
            &serde_json::json!(addr),
            &serde_json::json!("client")
        ),
        "{doc}"
    );
    assert_eq!(
        doc["framing"],
        serde_json::json!({"spec": "length:4", "chosen": "given"})
    );
    assert_eq!(
        (&doc["messages"], &doc["captured"]["replies"]),
        (&4.into(), &4.into())
    );
    let reference = &doc["reference"];
    assert_eq!(reference["matches_capture"], true, "{doc}");
    assert_eq!(
        (&reference["replies"], &reference["ending"]),
        (&4.into(), &"closed".into())
    );
    assert!(
        reference["paced"]
            .as_str()
            .unwrap()
            .starts_with("until read"),
        "{doc}"
    );
    let bytes1 = &doc["patterns"][2];
    assert_eq!(
        bytes1["writes"], bytes1["bytes"],
        "one byte a write: {bytes1}"
    );

    let addr = serve(naive).to_string();
    let (code, doc) = json_output(test, "replay", &replay_args(cap, &addr, &extra));
    assert_eq!(code, Some(1), "{doc}");
    let changed = changed_in(&doc);
    for split in ["bytes:1", "header-body", "coalesce"] {
        assert!(changed.iter().any(|c| c == split), "{split}: {doc}");
    }
    assert!(!changed.iter().any(|c| c == "frames"), "{doc}");
    // One write of all four messages: one recv(), one reply.
    let coalesce = &doc["patterns"][5];
    let first = &coalesce["differences"][0];
    assert_eq!(
        (&first["kind"], &first["got"], &first["max"]),
        (&"count".into(), &1.into(), &4.into()),
        "{coalesce}"
    );
    assert!(
        first["text"]
            .as_str()
            .unwrap()
            .contains("4 in the reference"),
        "{first}"
    );
    assert_eq!(doc["reference"]["matches_capture"], true, "{doc}");
}

#[test]
fn patterns_choose_the_runs_and_a_byte_difference_is_located() {
    let dir = scratch("single");
    let cap = echo_capture(&dir);
    let addr = serve(naive).to_string();
    let c = cap.to_str().unwrap();
    let o = framescope(&replay_args(
        c,
        &addr,
        &["--frame", "length", "--split", "header-body"],
    ));
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("header-body: 7 writes")
            && out.contains("7 replies, ")
            && out.contains("4 in the reference"),
        "{out}"
    );
    let o = framescope(&replay_args(
        c,
        &addr,
        &["--frame", "length", "--patterns", "random:3,coalesce"],
    ));
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("random:3") && !out.contains("bytes:1"),
        "{out}"
    );
    assert!(row(&out, "random:3").contains("DIFFERS"), "{out}");
    // random:3 cuts the first message: its reply holds other bytes, shown
    // on both sides around the first that differs.
    let single = framescope(&replay_args(
        c,
        &addr,
        &["--frame", "length", "--split", "random:3"],
    ));
    let detail = text(&single);
    assert!(
        detail.contains("differs at byte")
            && detail.contains("reference \"")
            && detail.contains("got \""),
        "{detail}"
    );
}

#[test]
fn each_write_of_bytes_1_reaches_its_own_recv() {
    let dir = scratch("bytes1");
    let cap = echo_capture(&dir);
    let reads: &'static Mutex<Vec<(usize, usize)>> = Box::leak(Box::new(Mutex::new(Vec::new())));
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            thread::spawn(move || naive_counting(conn, Some(reads)));
        }
    });
    let o = framescope(&replay_args(
        cap.to_str().unwrap(),
        &addr,
        &["--frame", "length", "--split", "bytes:1"],
    ));
    let out = text(&o);
    assert!(
        out.contains("bytes:1: 75 writes, 75 bytes sent, 75 replies"),
        "{out}"
    );
    let seen = reads.lock().expect("reads").clone();
    // The server read 75 bytes in 75 reads of its 64 KiB buffer: one byte a
    // recv(), on the connection of the bytes:1 run; one message a recv() on
    // the reference runs'.
    assert!(seen.contains(&(75, 75)), "{seen:?}");
    assert!(seen.contains(&(4, 75)), "{seen:?}");
}

#[test]
fn a_refused_target_is_an_error_naming_it() {
    let dir = scratch("refused");
    let cap = echo_capture(&dir);
    // A port that was free a moment ago: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    for cmd in ["replay", "fuzz-server"] {
        let o = framescope(&[
            cmd,
            cap.to_str().unwrap(),
            "-s",
            "0",
            "--to",
            &addr,
            "--frame",
            "length",
        ]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(
            text(&o).contains(&format!("cannot connect to {addr}")),
            "{}",
            text(&o)
        );
    }
}

#[test]
fn framing_is_detected_when_not_given() {
    let dir = scratch("detect");
    let cap = echo_capture(&dir);
    let addr = serve(naive).to_string();
    let o = framescope(&replay_args(cap.to_str().unwrap(), &addr, &["--matrix"]));
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("framing length:4 (detected, confidence"),
        "{out}"
    );
    assert!(row(&out, "coalesce").contains("DIFFERS"), "{out}");
    // `--frame none` is still there when asked for: every write is a
    // message, and the naive server's answers to whole writes look right.
    let o = framescope(&replay_args(
        cap.to_str().unwrap(),
        &addr,
        &["--frame", "none"],
    ));
    let out = text(&o);
    assert!(out.contains("framing none (--frame)"), "{out}");
}

/// A [`Sink`] that sets a flag when the stream it saw closes.
struct StopOnClose(Arc<AtomicBool>);

impl Sink for StopOnClose {
    type Stream = ();
    fn open(&mut self, _: &StreamInfo) {}
    fn event(&mut self, _: &mut (), _: Dir, _: Event<'_>) {}
    fn close(&mut self, _: (), _: &StreamInfo, _: &StreamStats) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Captures, with the library's live capture on `lo`, one session that
/// `client` makes to `server`, into `path`. The capture is open (listening)
/// before the client starts, and stops when the stream has closed (at most
/// 30 s). `None` when capturing is not permitted here.
fn capture_session(
    test: &str,
    server: SocketAddr,
    path: &Path,
    client: fn(SocketAddr),
) -> Option<()> {
    let config = LiveConfig {
        filter: Some(format!("tcp port {}", server.port())),
        write: Some(path.to_path_buf()),
        ..LiveConfig::new("lo")
    };
    let cap = match LiveCapture::open(&config) {
        Ok(c) => c,
        Err(e @ LiveError::Permission { .. }) => {
            skip(test, &format!("live capture is not permitted here ({e})"));
            return None;
        }
        Err(e) => panic!("{test}: cannot capture on lo: {e}"),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let (done, watchdog) = mpsc::channel::<()>();
    {
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            let _ = watchdog.recv_timeout(Duration::from_secs(30));
            stop.store(true, Ordering::SeqCst);
        });
    }
    let capture = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            let mut tracker = Tracker::new(StopOnClose(Arc::clone(&stop)), FlowLimits::default());
            cap.run(&stop, &mut tracker).expect("capture")
        })
    };
    client(server);
    let summary = capture.join().expect("capture thread");
    drop(done);
    assert_eq!(summary.stats.dropped, 0, "{:?}", summary.stats);
    Some(())
}

/// A client of the length-prefixed echo servers: one message, two messages
/// in one write, one more, then it half-closes and reads to the end.
fn pipelining_client(addr: SocketAddr) {
    let mut c = TcpStream::connect(addr).expect("connect");
    c.set_nodelay(true).expect("nodelay");
    c.write_all(&msg(b"hello")).expect("write");
    read_message(&mut c).expect("first reply");
    c.write_all(&[msg(b"sticky"), msg(b"packets")].concat())
        .expect("write two");
    read_message(&mut c).expect("a reply to the two");
    c.write_all(&msg(b"the last message")).expect("write");
    c.shutdown(Shutdown::Write).expect("half-close");
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).expect("read to the end");
}

fn verdicts_on_both_servers(test: &str, against_naive: bool) {
    let dir = scratch(test);
    let cap = dir.join("session.pcap");
    let naive_addr = serve(naive);
    let correct_addr = serve(correct);
    let server = if against_naive {
        naive_addr
    } else {
        correct_addr
    };
    if capture_session(test, server, &cap, pipelining_client).is_none() {
        return;
    }
    let c = cap.to_str().unwrap();

    let to_correct = correct_addr.to_string();
    let o = framescope(&replay_args(c, &to_correct, &["--matrix"]));
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("framing length:4 (detected"), "{out}");
    if against_naive {
        assert!(
            out.contains("differs from the capture: 3 replies captured, 4 now"),
            "{out}"
        );
    } else {
        assert!(out.contains("matches the capture"), "{out}");
    }

    let to_naive = naive_addr.to_string();
    let o = framescope(&replay_args(c, &to_naive, &["--matrix"]));
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    // The captured segments glue two messages; the other patterns cut or
    // glue them too.
    for split in ["original", "bytes:1", "header-body", "coalesce"] {
        assert!(row(&out, split).contains("DIFFERS"), "{split}: {out}");
    }
    assert!(row(&out, "frames").contains("same"), "{out}");
    assert!(
        out.contains("the server's behaviour depends on how its input is segmented"),
        "{out}"
    );
}

#[test]
fn a_capture_against_the_naive_server_judges_both_servers() {
    verdicts_on_both_servers("capture-naive", true);
}

#[test]
fn a_capture_against_the_correct_server_judges_both_servers() {
    verdicts_on_both_servers("capture-correct", false);
}

#[test]
fn fuzzing_finds_the_naive_server_and_the_reproducer_replays_it() {
    let dir = scratch("fuzz");
    let cap = echo_capture(&dir);
    let out_dir = dir.join("findings");
    let naive_addr = serve(naive).to_string();
    let args = |addr: &str, out: &Path| {
        vec![
            "fuzz-server".to_string(),
            cap.display().to_string(),
            "--stream".into(),
            "0".into(),
            "--to".into(),
            addr.to_string(),
            "--frame".into(),
            "length".into(),
            "--seed".into(),
            "7".into(),
            "--runs".into(),
            "20".into(),
            "--out".into(),
            out.display().to_string(),
            "--timeout".into(),
            "500".into(),
        ]
    };
    let a = args(&naive_addr, &out_dir);
    let o = framescope(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("20 mutated runs (seed 7)"), "{out}");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&out_dir)
        .expect("findings dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.to_string_lossy().ends_with("-differs.pcap"))
        .collect();
    found.sort();
    let repro = found
        .first()
        .unwrap_or_else(|| panic!("no differs finding:\n{out}"));
    let note = std::fs::read_to_string(repro.with_extension("txt")).expect("the note");
    assert!(
        note.contains("live server's reference run") && note.contains("the capture's replies"),
        "{note}"
    );
    let r = repro.to_str().unwrap();
    let replay = |addr: &str| {
        framescope(&[
            "replay",
            r,
            "--stream",
            "0",
            "--to",
            addr,
            "--frame",
            "length",
            "--compare",
            "shape",
        ])
    };
    let again = replay(&naive_addr);
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    let correct_addr = serve(correct).to_string();
    let fine = replay(&correct_addr);
    assert_eq!(fine.status.code(), Some(0), "{}", text(&fine));

    // The same seed finds nothing wrong with the correct server.
    let clean_dir = dir.join("clean");
    let a = args(&correct_addr, &clean_dir);
    let o = framescope(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn fuzzing_logs_every_run_as_jsonl_and_warns_when_the_baseline_differs_from_the_capture() {
    let dir = scratch("fuzz-jsonl");
    let cap = echo_capture(&dir);
    // A server that answers every message with "ok": a consistent server
    // whose replies are not the captured ones.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            thread::spawn(move || {
                while read_message(&mut conn).is_some() {
                    if conn.write_all(&msg(b"ok")).is_err() {
                        return;
                    }
                }
            });
        }
    });
    let run = |format: &str| {
        framescope(&[
            "fuzz-server",
            cap.to_str().unwrap(),
            "-s",
            "0",
            "--to",
            &addr,
            "--frame",
            "length",
            "--runs",
            "10",
            "--timeout",
            "300",
            "--format",
            format,
            "--out",
            dir.join("f").to_str().unwrap(),
        ])
    };
    let o = run("jsonl");
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 12, "{out}");
    assert_eq!(lines[0]["type"], "baseline");
    assert_eq!(
        lines[0]["differs_from_capture"][0],
        "reply #0 differs at byte 3 (9 bytes captured, 6 now): captured \"\\x00\\x00\\x00\\x05hello\", now \"\\x00\\x00\\x00\\x02ok\""
    );
    assert!(lines[1..11].iter().all(|l| l["type"] == "run"), "{out}");
    assert_eq!(lines[11]["type"], "summary");
    assert_eq!(lines[11]["runs"], 10);
    let o = run("table");
    assert!(
        text(&o).contains("WARNING: the baseline differs from the capture"),
        "{}",
        text(&o)
    );
}

#[test]
fn fuzzing_reports_a_crashed_server() {
    let dir = scratch("crash");
    let cap = echo_capture(&dir);
    // A fragile server that dies (stops listening) on a hostile length.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut head = [0u8; 4];
            while conn.read_exact(&mut head).is_ok() {
                let len = u32::from_be_bytes(head) as usize;
                if len > 1000 {
                    return; // the listener goes with this thread
                }
                let mut body = vec![0u8; len];
                if conn.read_exact(&mut body).is_err() {
                    break;
                }
                let _ = conn.write_all(&msg(&body));
            }
        }
    });
    let o = framescope(&[
        "fuzz-server",
        cap.to_str().unwrap(),
        "-s",
        "0",
        "--to",
        &addr,
        "--frame",
        "length",
        "--seed",
        "3",
        "--runs",
        "40",
        "--timeout",
        "300",
        "--out",
        dir.join("f").to_str().unwrap(),
    ]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("crash") && out.contains("the server went away"),
        "{out}"
    );
}

/// A server that takes what one `recv()` returns as a whole 4-byte header
/// and, when it gets fewer bytes, stops reading (for 30 s, holding the
/// unread bytes).
fn stops_reading_on_a_cut_header(mut s: TcpStream) {
    loop {
        let mut head = [0u8; 4];
        match s.read(&mut head) {
            Ok(4) => {}
            Ok(0) | Err(_) => return,
            Ok(_) => {
                // Waits (for nothing that comes) without reading, then
                // drops the connection.
                let (_tx, rx) = mpsc::channel::<()>();
                let _ = rx.recv_timeout(Duration::from_secs(30));
                return;
            }
        }
        let len = u32::from_be_bytes(head) as usize;
        let mut body = vec![0u8; len];
        if s.read_exact(&mut body).is_err() || s.write_all(&msg(&body)).is_err() {
            return;
        }
    }
}

#[test]
fn a_server_that_stops_reading_is_a_finding() {
    let (code, out) = replay_echo(
        "stall",
        stops_reading_on_a_cut_header,
        &[
            "--frame",
            "length",
            "--timeout",
            "300",
            "--patterns",
            "coalesce,bytes:1",
        ],
    );
    assert_eq!(code, Some(1), "{out}");
    // Whole headers: it reads everything.
    assert!(row(&out, "coalesce").contains("same"), "{out}");
    // One byte a write: it stops after the first.
    assert!(
        row(&out, "bytes:1").contains("DIFFERS")
            && out.contains("the server stopped reading after 1 byte"),
        "{out}"
    );
}

#[test]
fn remote_targets_are_refused_without_permission() {
    let dir = scratch("remote");
    let cap = echo_capture(&dir);
    let o = framescope(&[
        "replay",
        cap.to_str().unwrap(),
        "-s",
        "0",
        "--to",
        "192.0.2.1:7",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("--allow-remote"), "{}", text(&o));
}

/// A real server started by `scripts/servers/serve.sh` on a free loopback
/// port, stopped when dropped.
struct RealServer {
    child: Child,
    addr: SocketAddr,
    _dir: Scratch,
}

impl Drop for RealServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `name` (redis, memcached, mosquitto, nginx); `None` (a skip, or
/// a failure under CI) when its program is not installed.
fn start_server(test: &str, name: &str, program: &str) -> Option<RealServer> {
    let installed = Command::new("sh")
        .args([
            "-c",
            &format!("command -v {program} || test -x /usr/sbin/{program}"),
        ])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        skip(
            test,
            &format!("{program} is not installed (scripts/deps.sh --test installs it)"),
        );
        return None;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/servers/serve.sh");
    // A free port can be taken by someone else before the server binds it:
    // then the server exits, and another port is tried.
    for attempt in 0..5 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let dir = scratch(&format!("{test}-{name}-{attempt}"));
        let mut child = Command::new("bash")
            .arg(&script)
            .args([name, &port.to_string()])
            .arg(&*dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run serve.sh");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Some(RealServer {
                    child,
                    addr,
                    _dir: dir,
                });
            }
            if child.try_wait().ok().flatten().is_some() {
                break;
            }
            thread::yield_now();
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("{test}: {name} did not start listening");
}

fn session(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("captures/replay")
        .join(format!("{name}.pcap"))
        .display()
        .to_string()
}

/// With default options, `replay --matrix` finds every write pattern the
/// same, and `fuzz-server --runs 50` finds nothing, on stream `stream` of
/// the captured session `name` replayed to a fresh `server`.
fn real_server_holds(test: &str, server: &str, program: &str, streams: &[&str]) {
    let Some(srv) = start_server(test, server, program) else {
        return;
    };
    let addr = srv.addr.to_string();
    let cap = session(server);
    for stream in streams {
        let o = framescope(&[
            "replay", &cap, "--stream", stream, "--to", &addr, "--matrix",
        ]);
        let out = text(&o);
        assert_eq!(o.status.code(), Some(0), "{server} stream {stream}:\n{out}");
        assert!(
            out.contains("the server behaved the same under every write pattern"),
            "{out}"
        );
        // The same verdicts as a document.
        let (code, doc) = json_output(
            test,
            "replay",
            &[
                "replay", &cap, "--stream", stream, "--to", &addr, "--matrix", "--format", "json",
            ],
        );
        assert_eq!(code, Some(0), "{server} stream {stream}: {doc}");
        assert!(changed_in(&doc).is_empty(), "{doc}");
        assert_eq!(doc["address"], addr.as_str(), "{doc}");
        let findings = scratch(&format!("{test}-findings-{stream}"));
        let o = framescope(&[
            "fuzz-server",
            &cap,
            "--stream",
            stream,
            "--to",
            &addr,
            "--runs",
            "50",
            "--out",
            findings.to_str().unwrap(),
        ]);
        let out = text(&o);
        assert_eq!(o.status.code(), Some(0), "{server} stream {stream}:\n{out}");
        assert!(
            out.contains("50 mutated runs (seed 0), 0 findings"),
            "{out}"
        );
    }
}

#[test]
fn real_redis_holds() {
    real_server_holds("real_redis_holds", "redis", "redis-server", &["0", "1"]);
}

#[test]
fn real_memcached_holds() {
    real_server_holds("real_memcached_holds", "memcached", "memcached", &["0"]);
}

#[test]
fn real_mosquitto_holds() {
    real_server_holds(
        "real_mosquitto_holds",
        "mosquitto",
        "mosquitto",
        &["0", "1"],
    );
}

#[test]
fn real_nginx_holds() {
    real_server_holds("real_nginx_holds", "nginx", "nginx", &["0"]);
}
