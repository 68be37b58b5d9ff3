//! `framescope replay --serve`: the captured server side of the seed
//! clients' sessions (`captures/clients/`, made by
//! `scripts/clients/capture-sessions.sh` against `scripts/clients/server.py`)
//! played to the seed clients themselves, buggy and fixed, run by
//! `--client-cmd`, under every write pattern (`--matrix`).
//!
//! The buggy clients must be flagged, with the patterns that changed what
//! they print named; the fixed ones must pass. Nothing here sleeps: the
//! command waits for each client to connect, to send, to read and to exit,
//! and the tests wait for the command.
//!
//! The clients are Python programs; without `python3` the tests are
//! skipped with a message, except under CI (`CI=true`), where that fails.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::thread;

mod common;

use common::{framescope, json_output, root, row, runs, text, BIN, MATRIX};

/// Whether python3 runs ([`runs`]).
fn have_python(test: &str) -> bool {
    runs(test, "python3", &["-c", "pass"], "python3")
}

fn capture(name: &str) -> String {
    root()
        .join("captures/clients")
        .join(format!("{name}.pcap"))
        .display()
        .to_string()
}

fn client(name: &str) -> String {
    format!(
        "python3 {} {{port}}",
        root().join("scripts/clients").join(name).display()
    )
}

/// `replay --serve --matrix --client-cmd` on the capture `name` with the
/// client program `program`.
fn matrix(name: &str, program: &str, extra: &[&str]) -> (Option<i32>, String) {
    let (cap, cmd) = (capture(name), client(program));
    let o = framescope(&matrix_args(&cap, &cmd, extra));
    (o.status.code(), text(&o))
}

/// The arguments of [`matrix`]: the capture `cap` served to the client
/// command `cmd`, then `extra`.
fn matrix_args<'a>(cap: &'a str, cmd: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "replay",
        cap,
        "--stream",
        "0",
        "--serve",
        "127.0.0.1:0",
        "--matrix",
        "--client-cmd",
        cmd,
    ];
    args.extend_from_slice(extra);
    args
}

/// The patterns the summary line names as having changed the client.
fn changed(out: &str) -> Vec<String> {
    let line = out
        .lines()
        .find(|l| l.contains("depends on how its input is segmented"))
        .unwrap_or_else(|| panic!("no summary in\n{out}"));
    let list = line.rsplit_once(": ").map_or("", |(_, l)| l);
    list.trim_end_matches(" changed it")
        .split(", ")
        .map(str::to_string)
        .collect()
}

/// Every pattern row of a passing matrix says `same`, with the client's
/// exit 0.
fn assert_passes(out: &str) {
    for split in MATRIX {
        let r = row(out, split);
        assert!(r.contains("same") && r.contains("exit 0"), "{split}: {out}");
    }
    assert!(
        out.contains("the client behaved the same under every write pattern"),
        "{out}"
    );
}

#[test]
fn remote_command_client_reading_with_recv_1024_is_flagged_and_its_fix_passes() {
    let test = "remote_command";
    if !have_python(test) {
        return;
    }
    let (code, out) = matrix("remote-command", "remote_command_buggy.py", &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("framing line (detected")
            && out.contains("5 turns, 5 client requests captured")
            && out.contains("each write waits until the client has read the one before"),
        "{out}"
    );
    // Every pattern that cuts the replies finer than the capture changes
    // what the client prints; the captured segments and one write per turn
    // do not.
    let names = changed(&out);
    for split in ["bytes:1", "random:1", "header-body", "frames"] {
        assert!(names.iter().any(|n| n == split), "{split}: {out}");
        let r = row(&out, split);
        assert!(r.contains("DIFFERS") && r.contains("output line"), "{r}");
    }
    // One byte per recv(): the uptime output is read as an empty line.
    assert!(
        row(&out, "bytes:1").contains(
            "output line 2: reference \" 12:00:00 up 10 days,  3:04,  1 user,  load average: 0.00, 0.01, 0.05\", got \"\""
        ),
        "{out}"
    );

    let (code, out) = matrix("remote-command", "remote_command_fixed.py", &[]);
    assert_eq!(code, Some(0), "{out}");
    assert_passes(&out);
    // bytes:1 wrote every byte of the replies alone and the client read
    // them all.
    let fields: Vec<&str> = row(&out, "bytes:1").split_whitespace().collect();
    assert_eq!(fields.get(2..4), Some(&["5705", "5705"][..]), "{out}");
}

#[test]
fn long_reply_read_by_one_recv_4096_is_flagged_and_its_fix_passes() {
    let test = "long_reply";
    if !have_python(test) {
        return;
    }
    // The requests are lines; the replies hold no line end, so `frames`
    // and `header-body` write each reply whole.
    let (code, out) = matrix("long-reply", "long_reply_buggy.py", &["--frame", "line"]);
    assert_eq!(code, Some(1), "{out}");
    let names = changed(&out);
    for split in ["bytes:1", "random:1"] {
        assert!(names.iter().any(|n| n == split), "{split}: {out}");
    }
    assert!(
        row(&out, "bytes:1").contains(
            "output line 1: reference \"reply 0: 4096 bytes, sha256 dba0e93ef30598b1\", got \"reply 0: 1 bytes, sha256 6e340b9cffb37a98\""
        ),
        "{out}"
    );

    let (code, out) = matrix("long-reply", "long_reply_fixed.py", &["--frame", "line"]);
    assert_eq!(code, Some(0), "{out}");
    assert_passes(&out);
    assert!(
        out.contains("reference (the captured segments, 2 runs): 3 requests, connection closed, client exit 0, 3 lines of output; matches the capture"),
        "{out}"
    );
}

#[test]
fn length_prefixed_client_with_single_recvs_is_flagged_and_its_fix_passes() {
    let test = "length_prefixed";
    if !have_python(test) {
        return;
    }
    let (code, out) = matrix("length-prefixed", "length_prefixed_buggy.py", &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("framing length:4 (detected"), "{out}");
    let names = changed(&out);
    for split in ["bytes:1", "random:1"] {
        assert!(names.iter().any(|n| n == split), "{split}: {out}");
    }
    // Its recv(4) got the first byte alone: each cut reached a recv().
    assert!(
        row(&out, "bytes:1").contains("got \"message 0: short header b'\\\\x00'\""),
        "{out}"
    );
    // Header and body written apart: its two recv() calls still get one
    // each, and it copes.
    assert!(row(&out, "header-body").contains("same"), "{out}");

    let (code, out) = matrix("length-prefixed", "length_prefixed_fixed.py", &[]);
    assert_eq!(code, Some(0), "{out}");
    assert_passes(&out);
}

/// `replay --serve --format json` judges the clients as the text does, in
/// a document that matches `docs/schema/replay.schema.json`: the buggy
/// length-prefixed client's output changes under one-byte writes (exit 1),
/// its fix prints the same under every pattern (exit 0).
#[test]
fn serve_verdicts_as_json_flag_the_buggy_client_and_pass_its_fix() {
    let test = "serve_json";
    if !have_python(test) {
        return;
    }
    let cap = capture("length-prefixed");
    let run = |program: &str| {
        let cmd = client(program);
        json_output(
            test,
            "replay",
            &matrix_args(&cap, &cmd, &["--format", "json"]),
        )
    };
    let (code, doc) = run("length_prefixed_buggy.py");
    assert_eq!((code, &doc["differs"]), (Some(1), &true.into()), "{doc}");
    assert_eq!(
        (&doc["mode"], &doc["peer"], &doc["sent"]),
        (&"serve".into(), &"client".into(), &"server".into()),
        "{doc}"
    );
    assert!(
        doc["client_command"]
            .as_str()
            .unwrap()
            .contains("length_prefixed_buggy.py"),
        "{doc}"
    );
    assert_eq!(doc["framing"]["chosen"], "detected", "{doc}");
    let changed: Vec<&str> = doc["changed_by"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    for split in ["bytes:1", "random:1"] {
        assert!(changed.contains(&split), "{split}: {doc}");
    }
    let patterns = doc["patterns"].as_array().unwrap();
    let bytes1 = patterns.iter().find(|p| p["split"] == "bytes:1").unwrap();
    assert_eq!(bytes1["verdict"], "differs", "{bytes1}");
    let output = bytes1["differences"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == "output")
        .unwrap_or_else(|| panic!("no output difference: {bytes1}"));
    assert!(
        output["got"].as_str().unwrap().contains("short header"),
        "{output}"
    );
    assert_eq!(bytes1["client"]["connections"], 1, "{bytes1}");
    let header_body = patterns
        .iter()
        .find(|p| p["split"] == "header-body")
        .unwrap();
    assert_eq!(header_body["verdict"], "same", "{header_body}");

    let (code, doc) = run("length_prefixed_fixed.py");
    assert_eq!(code, Some(0), "{doc}");
    assert_eq!(doc["differs"], false, "{doc}");
    for p in doc["patterns"].as_array().unwrap() {
        assert_eq!(
            (&p["verdict"], &p["client"]["exit"]),
            (&"same".into(), &serde_json::json!({"code": 0})),
            "{p}"
        );
    }
}

#[test]
fn a_client_that_hangs_on_a_pattern_is_killed_and_flagged() {
    let test = "hang";
    if !have_python(test) {
        return;
    }
    // It reads the first reply's header with one recv(4), and waits for
    // ever when it gets less.
    let program = "import os, socket, sys, threading\n\
        s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n\
        s.sendall(b'\\x00\\x00\\x00\\x0amessage 0 ')\n\
        head = s.recv(4)\n\
        print(len(head), flush=True)\n\
        if len(head) < 4:\n\
        \x20   threading.Event().wait()\n";
    let dir = std::env::temp_dir().join(format!("framescope-serve-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("hangs.py");
    std::fs::write(&path, program).expect("client");
    let cmd = format!("python3 {} {{port}}", path.display());
    let cap = capture("length-prefixed");
    let o = framescope(&[
        "replay",
        &cap,
        "-s",
        "0",
        "--serve",
        "127.0.0.1:0",
        "--patterns",
        "bytes:2",
        "--client-cmd",
        &cmd,
        "--client-timeout",
        "3000",
        "--timeout",
        "500",
    ]);
    let _ = std::fs::remove_dir_all(&dir);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    let r = row(&out, "bytes:2");
    assert!(
        r.contains("DIFFERS")
            && r.contains("hung")
            && r.contains("output line 1: reference \"4\", got \"2\""),
        "{out}"
    );
    assert!(
        out.contains(": 1 request, connection") && out.contains("client exit 0, 1 line of output"),
        "{out}"
    );
}

/// A client of the length-prefixed capture's protocol, connecting until
/// nothing listens: each run sends the captured messages and reads each
/// reply whole (`correct`), or gives up on a reply whose first read is not
/// whole.
fn external_client(port: u16, correct: bool) -> usize {
    let mut sessions = 0;
    while let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
        sessions += 1;
        for i in 0..5 {
            let body = format!("message {i} ").repeat(1 + i * 20).into_bytes();
            let mut msg = (body.len() as u32).to_be_bytes().to_vec();
            msg.extend_from_slice(&body);
            if s.write_all(&msg).is_err() {
                break;
            }
            let mut reply = vec![0u8; msg.len()];
            if correct {
                if s.read_exact(&mut reply).is_err() {
                    break;
                }
            } else {
                let n = s.read(&mut reply).unwrap_or(0);
                if n < reply.len() {
                    break;
                }
            }
        }
        drop(s);
    }
    sessions
}

/// `replay --serve` without a client command, `--split bytes:3`, and the
/// external client connecting once per run; returns the exit code, the
/// output and the sessions the client made.
fn serve_external(correct: bool) -> (Option<i32>, String, usize) {
    let cap = capture("length-prefixed");
    let mut child = Command::new(BIN)
        .args([
            "replay",
            &cap,
            "-s",
            "0",
            "--serve",
            "127.0.0.1:0",
            "--split",
            "bytes:3",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run framescope");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("first line");
    let port: u16 = first
        .split("served on 127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {first:?}"));
    let client = thread::spawn(move || external_client(port, correct));
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).expect("output");
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    let status = child.wait().expect("wait");
    let sessions = client.join().expect("client");
    (status.code(), format!("{first}{rest}{err}"), sessions)
}

#[test]
fn without_a_client_command_each_connection_is_a_run_judged_by_its_requests() {
    let (code, out, sessions) = serve_external(true);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("3 runs, one client connection each: the reference twice, then bytes:3")
            && out.contains("waiting for a client on 127.0.0.1:")
            && out.contains("2070 bytes sent, 5 requests, connection closed")
            && out.contains(": same"),
        "{out}"
    );
    assert!(sessions >= 3, "{sessions}: {out}");

    // A client that takes each read as a whole reply gives up on the
    // first cut one: fewer requests than the reference.
    let (code, out, _) = serve_external(false);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("bytes:3: ") && out.contains("1 request, 5 in the reference"),
        "{out}"
    );
}

#[test]
fn serving_on_a_remote_address_needs_permission() {
    let cap = capture("length-prefixed");
    let o = framescope(&["replay", &cap, "-s", "0", "--serve", "0.0.0.0:0"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains(
            "0.0.0.0:0 is not a loopback address; replay --serve listens only on 127.0.0.1 / ::1 unless --allow-remote is given"
        ),
        "{out}"
    );
    let o = framescope(&["replay", &cap, "-s", "0"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(out.contains("give --to HOST:PORT"), "{out}");
}
