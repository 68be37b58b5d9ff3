//! `framescope replay` and `fuzz-server` against small servers of our own on
//! 127.0.0.1: a correct length-prefixed echo server, and a naive one that
//! treats every `recv()` as one message.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::thread;
use std::time::Duration;

use framescope::flow::Dir;
use framescope::replay::synth::{write_pcap, SynthSession, SynthWrite};
use framescope::replay::Ending;

fn msg(body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

/// Reads one message: 4-byte big-endian length, then the body; `None` at
/// the end of the stream or past 1 MiB.
fn read_message(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut head = [0u8; 4];
    s.read_exact(&mut head).ok()?;
    let len = u32::from_be_bytes(head) as usize;
    if len > 1 << 20 {
        return None;
    }
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).ok()?;
    Some(body)
}

fn serve(handler: fn(TcpStream)) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            thread::spawn(move || handler(conn));
        }
    });
    addr
}

fn correct(mut s: TcpStream) {
    while let Some(body) = read_message(&mut s) {
        if s.write_all(&msg(&body)).is_err() {
            return;
        }
    }
}

fn naive(mut s: TcpStream) {
    let mut buf = vec![0u8; 65536];
    loop {
        let n = match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let body = &buf[4.min(n)..n];
        if s.write_all(&msg(body)).is_err() {
            return;
        }
    }
}

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

fn scratch(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("framescope-replay-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    Scratch(dir)
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

fn framescope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_framescope"))
        .args(args)
        .output()
        .expect("run framescope")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn row<'a>(out: &'a str, split: &str) -> &'a str {
    out.lines()
        .find(|l| l.split_whitespace().nth(1) == Some(split))
        .unwrap_or_else(|| panic!("no row for {split} in\n{out}"))
}

#[test]
fn matrix_passes_a_correct_server() {
    let dir = scratch("matrix-ok");
    let cap = echo_capture(&dir);
    let addr = serve(correct).to_string();
    let o = framescope(&[
        "replay",
        cap.to_str().unwrap(),
        "--stream",
        "0",
        "--to",
        &addr,
        "--frame",
        "length",
        "--matrix",
    ]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    for split in [
        "original",
        "frames",
        "bytes:1",
        "random:1",
        "header-body",
        "coalesce",
    ] {
        let r = row(&out, split);
        assert!(r.contains("same") && r.contains("closed"), "{r}");
    }
    assert!(
        out.contains("4 client messages to send, 4 replies expected"),
        "{out}"
    );
}

#[test]
fn matrix_flags_split_and_coalesced_writes_on_a_naive_server() {
    let dir = scratch("matrix-naive");
    let cap = echo_capture(&dir);
    let addr = serve(naive).to_string();
    let o = framescope(&[
        "replay",
        cap.to_str().unwrap(),
        "--stream",
        "0",
        "--to",
        &addr,
        "--frame",
        "length",
        "--matrix",
    ]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(row(&out, "frames").contains("same"), "{out}");
    for split in ["bytes:1", "header-body", "coalesce"] {
        assert!(row(&out, split).contains("DIFFERS"), "{split}: {out}");
    }
    assert!(
        row(&out, "coalesce").contains("1 reply messages, expected 4"),
        "{out}"
    );
}

#[test]
fn single_replay_reports_each_difference() {
    let dir = scratch("single");
    let cap = echo_capture(&dir);
    let addr = serve(naive).to_string();
    let o = framescope(&[
        "replay",
        cap.to_str().unwrap(),
        "-s",
        "0",
        "--to",
        &addr,
        "--frame",
        "length",
        "--split",
        "header-body",
    ]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("header-body: 7 writes") && out.contains("reply messages, expected 4"),
        "{out}"
    );
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

/// A redis-server on a free loopback port, stopped when dropped.
struct Redis {
    child: std::process::Child,
    addr: SocketAddr,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_redis() -> Option<Redis> {
    let port = TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let redis = Redis {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    };
    for _ in 0..100 {
        if TcpStream::connect(redis.addr).is_ok() {
            return Some(redis);
        }
        thread::sleep(Duration::from_millis(50));
    }
    None
}

fn resp(args: &[&str]) -> Vec<u8> {
    let mut v = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        v.extend(format!("${}\r\n{a}\r\n", a.len()).into_bytes());
    }
    v
}

#[test]
fn matrix_passes_real_redis() {
    let Some(redis) = start_redis() else {
        eprintln!("skipped: redis-server is not installed or did not start (scripts/deps.sh --test installs it)");
        return;
    };
    // Record a real session: each command's reply as redis sends it.
    let commands: Vec<Vec<u8>> = [
        &["PING"][..],
        &["SET", "framescope:key", "sticky"],
        &["GET", "framescope:key"],
        &["ECHO", "split me"],
        &["DEL", "framescope:key"],
    ]
    .iter()
    .map(|c| resp(c))
    .collect();
    let mut conn = TcpStream::connect(redis.addr).expect("connect to redis");
    let mut session = SynthSession {
        server_end: Some(Ending::Closed),
        ..SynthSession::default()
    };
    for c in &commands {
        conn.write_all(c).expect("send");
        let mut buf = [0u8; 256];
        let n = conn.read(&mut buf).expect("reply");
        for (dir, bytes) in [(Dir::Client, c.clone()), (Dir::Server, buf[..n].to_vec())] {
            session.writes.push(SynthWrite {
                dir,
                pause: Duration::from_millis(1),
                bytes,
            });
        }
    }
    drop(conn);
    let dir = scratch("redis");
    let cap = dir.join("redis.pcap");
    write_pcap(&cap, &session).expect("write pcap");
    let addr = redis.addr.to_string();
    let o = framescope(&[
        "replay",
        cap.to_str().unwrap(),
        "-s",
        "0",
        "--to",
        &addr,
        "--frame",
        "resp",
        "--compare",
        "shape",
        "--matrix",
    ]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("the server behaved the same under every write pattern"),
        "{out}"
    );
}
