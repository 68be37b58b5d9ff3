//! TLS decryption checked against tshark on captures of real TLS stacks
//! (`captures/tls/`, made by `scripts/tls/`): openssl s_server/s_client with
//! every TLS 1.2 and 1.3 suite, KeyUpdate, HelloRetryRequest and resumed
//! sessions; nginx with curl over HTTP/1.1 and HTTP/2; Python's ssl. Every
//! decrypted direction must be tshark's bytes (`follow,tls,raw`, recorded in
//! `NAME.oracle.json`), or, where a program recorded what it sent
//! (`NAME.truth.json`), those bytes. Without a key, the records are still
//! counted as tshark counts them and a note names the session.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use framescope::flow::{endpoint, Dir, FlowLimits, Sink, StreamInfo, StreamStats, Tracker};
use framescope::pipeline;
use framescope::reassembly::Event;
use framescope::tls::{self, Conn, KeyLog, Note, TlsLimits};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn tls_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/tls")
}

/// What one stream gave, per direction (client, server).
#[derive(Default, Debug)]
struct Decrypted {
    ends: [String; 2],
    plain: [Vec<u8>; 2],
    records: [u64; 2],
    opened: [u64; 2],
    notes: Vec<(Dir, u64, Note)>,
}

struct Collect {
    keys: KeyLog,
    limits: TlsLimits,
    /// Bytes of `(stream, dir)` to alter before decrypting: (offset, xor).
    tamper: Option<(u64, Dir, u64, u8)>,
    /// Feed the bytes in pieces of at most this many.
    chunk: usize,
    streams: BTreeMap<u64, Decrypted>,
}

struct Stream {
    number: u64,
    conn: Conn,
}

impl Collect {
    fn emit(
        streams: &mut BTreeMap<u64, Decrypted>,
        n: u64,
    ) -> impl FnMut(Dir, tls::Event<'_>) + '_ {
        move |d: Dir, e: tls::Event<'_>| {
            let s = streams.entry(n).or_default();
            match e {
                tls::Event::Record(r) => {
                    s.records[d.index()] += 1;
                    if r.protected && r.plain_kind.is_some() {
                        s.opened[d.index()] += 1;
                    }
                }
                tls::Event::Data { bytes, offset, .. } => {
                    assert_eq!(offset, s.plain[d.index()].len() as u64);
                    s.plain[d.index()].extend_from_slice(bytes);
                }
                tls::Event::Note { offset, note } => s.notes.push((d, offset, note.clone())),
            }
        }
    }
}

impl Sink for Collect {
    type Stream = Stream;
    fn open(&mut self, info: &StreamInfo) -> Stream {
        let s = self.streams.entry(info.number).or_default();
        s.ends = [endpoint(&info.client), endpoint(&info.server)];
        Stream {
            number: info.number,
            conn: Conn::new(self.limits),
        }
    }
    fn event(&mut self, st: &mut Stream, dir: Dir, e: Event<'_>) {
        let n = st.number;
        let mut out = Collect::emit(&mut self.streams, n);
        match e {
            Event::Data {
                offset,
                bytes,
                record,
                ..
            } => {
                let mut owned;
                let mut bytes = bytes;
                if let Some((stream, d, at, xor)) = self.tamper {
                    if stream == n
                        && d == dir
                        && (offset..offset + bytes.len() as u64).contains(&at)
                    {
                        owned = bytes.to_vec();
                        owned[(at - offset) as usize] ^= xor;
                        bytes = &owned;
                    }
                }
                for (i, piece) in bytes.chunks(self.chunk).enumerate() {
                    let at = offset + (i * self.chunk) as u64;
                    st.conn
                        .data(&mut self.keys, dir, at, piece, record, &mut out);
                }
            }
            Event::Gap { offset, len, .. } => st.conn.gap(dir, offset, len, &mut out),
            Event::Conflict { .. } => {}
        }
    }
    fn close(&mut self, mut st: Stream, _: &StreamInfo, _: &StreamStats) {
        let n = st.number;
        st.conn.finish(&mut Collect::emit(&mut self.streams, n));
    }
}

fn decrypt(
    pcap: &Path,
    keys: KeyLog,
    limits: TlsLimits,
    tamper: Option<(u64, Dir, u64, u8)>,
) -> BTreeMap<u64, Decrypted> {
    decrypt_in(pcap, keys, limits, tamper, usize::MAX)
}

fn decrypt_in(
    pcap: &Path,
    keys: KeyLog,
    limits: TlsLimits,
    tamper: Option<(u64, Dir, u64, u8)>,
    chunk: usize,
) -> BTreeMap<u64, Decrypted> {
    let sink = Collect {
        keys,
        limits,
        tamper,
        chunk,
        streams: BTreeMap::new(),
    };
    let mut tracker = Tracker::new(sink, FlowLimits::default());
    let summary = pipeline::run(pcap, None, &mut tracker).expect("capture opens");
    assert!(summary.error.is_none(), "{:?}", summary.error);
    tracker.finish().0.streams
}

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Every capture in captures/tls/ with its key log and oracle.
fn captures() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(tls_dir())
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".oracle.json").map(str::to_string)
        })
        .collect();
    names.sort();
    assert!(names.len() >= 5, "{names:?}");
    names
}

/// The oracle's direction data for the endpoint that sent it.
fn oracle_dir<'a>(stream: &'a Value, sender: &str) -> &'a Value {
    if stream["node0"] == sender {
        &stream["dir0"]
    } else {
        assert_eq!(stream["node1"], sender, "{stream}");
        &stream["dir1"]
    }
}

#[test]
fn every_direction_decrypts_to_tsharks_bytes() {
    let mut checked = 0;
    for name in captures() {
        let dir = tls_dir();
        let keys = KeyLog::from_file(&dir.join(format!("{name}.keys"))).unwrap();
        assert!(keys.problems().is_empty(), "{name}: {:?}", keys.problems());
        let got = decrypt(
            &dir.join(format!("{name}.pcap")),
            keys,
            TlsLimits::default(),
            None,
        );
        let oracle = json(&dir.join(format!("{name}.oracle.json")));
        let truth_path = dir.join(format!("{name}.truth.json"));
        let truth = truth_path.exists().then(|| json(&truth_path));
        let streams = oracle["streams"].as_array().unwrap();
        assert_eq!(streams.len(), got.len(), "{name}: stream count");
        for st in streams {
            let n = st["stream"].as_u64().unwrap();
            let d = &got[&n];
            for (i, dir) in Dir::BOTH.into_iter().enumerate() {
                let want = oracle_dir(st, &d.ends[i]);
                let plain = &d.plain[i];
                let what = format!("{name} stream {n} {}", dir.name());
                let failed: Vec<_> = d
                    .notes
                    .iter()
                    .filter(|(_, _, n)| matches!(n, Note::Failed { .. } | Note::NoKey { .. }))
                    .collect();
                assert!(failed.is_empty(), "{what}: {failed:?}");
                assert_eq!(
                    want["tls_records"].as_u64(),
                    Some(d.records[i]),
                    "{what}: records"
                );
                let tshark = (
                    want["len"].as_u64().unwrap(),
                    want["sha256"].as_str().unwrap(),
                );
                let ours = (plain.len() as u64, sha(plain));
                if (tshark.0, tshark.1) == (ours.0, ours.1.as_str()) {
                    checked += 1;
                    continue;
                }
                // Where the program that made the capture recorded what it
                // sent, those bytes decide; tshark 4.0 loses its place in
                // one direction of python-length (it fails to authenticate
                // the server's records after a record pair in one segment).
                let truth = truth
                    .as_ref()
                    .unwrap_or_else(|| panic!("{what}: {ours:?}, tshark {tshark:?}"));
                let conn = &truth["connections"][n as usize];
                let sent = &conn[if dir == Dir::Client {
                    "client_sent"
                } else {
                    "server_sent"
                }];
                assert_eq!(sent["len"].as_u64(), Some(ours.0), "{what}");
                assert_eq!(sent["sha256"].as_str(), Some(ours.1.as_str()), "{what}");
                assert!(tshark.0 < ours.0, "{what}: tshark has more: {tshark:?}");
                eprintln!(
                    "{what}: tshark gives {} of the {} bytes sent; ours match the sender",
                    tshark.0, ours.0
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 60, "{checked}");
}

#[test]
fn without_a_key_records_are_counted_and_the_session_named() {
    let dir = tls_dir();
    for name in ["openssl-tls12", "openssl-tls13"] {
        let got = decrypt(
            &dir.join(format!("{name}.pcap")),
            KeyLog::new(),
            TlsLimits::default(),
            None,
        );
        let oracle = json(&dir.join(format!("{name}.oracle.json")));
        let keys = std::fs::read_to_string(dir.join(format!("{name}.keys"))).unwrap();
        for st in oracle["streams"].as_array().unwrap() {
            let d = &got[&st["stream"].as_u64().unwrap()];
            assert!(d.plain.iter().all(Vec::is_empty));
            for i in 0..2 {
                assert_eq!(
                    oracle_dir(st, &d.ends[i])["tls_records"].as_u64(),
                    Some(d.records[i])
                );
            }
            let named: Vec<_> = d
                .notes
                .iter()
                .filter_map(|(_, _, n)| match n {
                    Note::NoKey { client_random, .. } => {
                        Some(tls::keylog::random_hex(client_random))
                    }
                    _ => None,
                })
                .collect();
            assert_eq!(named.len(), 1, "{name}: {:?}", d.notes);
            assert!(
                keys.contains(&named[0]),
                "{name}: {} not in the key log",
                named[0]
            );
        }
    }
}

#[test]
fn a_record_that_fails_authentication_is_reported_and_the_stream_goes_on() {
    let dir = tls_dir();
    let pcap = dir.join("openssl-tls13.pcap");
    let keys = || KeyLog::from_file(&dir.join("openssl-tls13.keys")).unwrap();
    let clean = decrypt(&pcap, keys(), TlsLimits::default(), None);
    let whole = &clean[&0].plain[0];
    // The client's first application data record carries "hello\n";
    // altering the last byte of its tag must fail it and leave the rest.
    let hello_end = find_record_end(&pcap, &keys(), 0, Dir::Client, 0);
    let bad = decrypt(
        &pcap,
        keys(),
        TlsLimits::default(),
        Some((0, Dir::Client, hello_end - 1, 0x80)),
    );
    let d = &bad[&0];
    let failed: Vec<_> = d
        .notes
        .iter()
        .filter(|(_, _, n)| matches!(n, Note::Failed { .. }))
        .collect();
    assert_eq!(failed.len(), 1, "{:?}", d.notes);
    assert_eq!(failed[0].0, Dir::Client);
    assert!(failed[0].1 < hello_end);
    assert_eq!(
        &d.plain[0][..],
        &whole[6..],
        "the stream goes on after \"hello\\n\""
    );
    assert_eq!(&whole[..6], b"hello\n");
    assert_eq!(d.plain[1], clean[&0].plain[1]);
}

/// The stream offset just past the `nth` (from 0) record of `dir` that
/// carried application data.
fn find_record_end(pcap: &Path, keys: &KeyLog, stream: u64, dir: Dir, nth: usize) -> u64 {
    struct Ends {
        keys: KeyLog,
        stream: u64,
        dir: Dir,
        ends: Vec<u64>,
    }
    impl Sink for Ends {
        type Stream = Option<Conn>;
        fn open(&mut self, info: &StreamInfo) -> Option<Conn> {
            (info.number == self.stream).then(|| Conn::new(TlsLimits::default()))
        }
        fn event(&mut self, st: &mut Option<Conn>, d: Dir, e: Event<'_>) {
            let (
                Some(conn),
                Event::Data {
                    offset,
                    bytes,
                    record,
                    ..
                },
            ) = (st.as_mut(), e)
            else {
                return;
            };
            let (want, ends) = (self.dir, &mut self.ends);
            conn.data(&mut self.keys, d, offset, bytes, record, &mut |d, e| {
                if let tls::Event::Data { record, .. } = e {
                    if d == want {
                        ends.push(record.offset + record.len);
                    }
                }
            });
        }
        fn close(&mut self, _: Option<Conn>, _: &StreamInfo, _: &StreamStats) {}
    }
    let mut tracker = Tracker::new(
        Ends {
            keys: keys.clone(),
            stream,
            dir,
            ends: Vec::new(),
        },
        FlowLimits::default(),
    );
    pipeline::run(pcap, None, &mut tracker).unwrap();
    tracker.finish().0.ends[nth]
}

#[test]
fn records_waiting_for_a_server_hello_are_bounded() {
    // Only the client's direction is fed: its TLS 1.3 records wait for a
    // ServerHello that never comes, with room for one.
    let dir = tls_dir();
    let limits = TlsLimits {
        max_pending_records: 1,
        max_pending_bytes: 1 << 20,
    };
    struct Client {
        keys: KeyLog,
        conn: Conn,
        notes: Vec<Note>,
        records: u64,
    }
    impl Sink for Client {
        type Stream = bool;
        fn open(&mut self, info: &StreamInfo) -> bool {
            info.number == 0
        }
        fn event(&mut self, st: &mut bool, d: Dir, e: Event<'_>) {
            let (
                true,
                Dir::Client,
                Event::Data {
                    offset,
                    bytes,
                    record,
                    ..
                },
            ) = (*st, d, e)
            else {
                return;
            };
            let (notes, records) = (&mut self.notes, &mut self.records);
            self.conn.data(
                &mut self.keys,
                d,
                offset,
                bytes,
                record,
                &mut |_, e| match e {
                    tls::Event::Note { note, .. } => notes.push(note.clone()),
                    tls::Event::Record(_) => *records += 1,
                    tls::Event::Data { .. } => panic!("nothing can be decrypted"),
                },
            );
        }
        fn close(&mut self, _: bool, _: &StreamInfo, _: &StreamStats) {}
    }
    let mut tracker = Tracker::new(
        Client {
            keys: KeyLog::from_file(&dir.join("openssl-tls13.keys")).unwrap(),
            conn: Conn::new(limits),
            notes: Vec::new(),
            records: 0,
        },
        FlowLimits::default(),
    );
    pipeline::run(&dir.join("openssl-tls13.pcap"), None, &mut tracker).unwrap();
    let sink = tracker.finish().0;
    let notes = &sink.notes;
    assert!(notes.contains(&Note::PendingFull), "{notes:?}");
    let oracle = json(&dir.join("openssl-tls13.oracle.json"));
    let st = &oracle["streams"][0];
    let client_records = if st["node0"].as_str().unwrap().ends_with(":24430") {
        &st["dir1"]
    } else {
        &st["dir0"]
    };
    // Past the bound nothing waits: every record was reported.
    assert_eq!(
        sink.records,
        client_records["tls_records"].as_u64().unwrap()
    );
}

fn framescope() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_framescope"));
    c.env_remove("SSLKEYLOGFILE");
    c
}

#[test]
fn follow_with_a_key_log_prints_tsharks_bytes_and_sslkeylogfile_is_the_default() {
    let dir = tls_dir();
    let oracle = json(&dir.join("nginx-http1.oracle.json"));
    let st = &oracle["streams"][0];
    let pcap = dir.join("nginx-http1.pcap");
    let keys = dir.join("nginx-http1.keys");
    for (flag, env) in [(true, false), (false, true)] {
        for which in ["client", "server"] {
            let mut c = framescope();
            c.args([
                "follow",
                pcap.to_str().unwrap(),
                "--stream",
                "0",
                "--dir",
                which,
            ]);
            if flag {
                c.args(["--keylog", keys.to_str().unwrap()]);
            }
            if env {
                c.env("SSLKEYLOGFILE", &keys);
            }
            let out = c.output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            // nginx listened on port 24460.
            let server_is_node0 = st["node0"].as_str().unwrap().ends_with(":24460");
            let want = &st[if server_is_node0 == (which == "server") {
                "dir0"
            } else {
                "dir1"
            }];
            assert_eq!(
                Some(out.stdout.len() as u64),
                want["len"].as_u64(),
                "{which}"
            );
            assert_eq!(sha(&out.stdout), want["sha256"].as_str().unwrap());
        }
    }
    // Without a key log: the TLS records themselves.
    let out = framescope()
        .args([
            "follow",
            pcap.to_str().unwrap(),
            "--stream",
            "0",
            "--dir",
            "client",
        ])
        .output()
        .unwrap();
    assert_eq!(out.stdout.first(), Some(&0x16));
}

#[test]
fn a_key_log_that_cannot_be_read_is_an_error_naming_it() {
    let pcap = tls_dir().join("nginx-http1.pcap");
    let out = framescope()
        .args([
            "follow",
            pcap.to_str().unwrap(),
            "--stream",
            "0",
            "--keylog",
            "/nonexistent/k.log",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/k.log"));
}

/// `analyze --keylog --format json`: per stream and direction, messages.
fn analyze_counts(name: &str, frame: Option<&str>) -> BTreeMap<(u64, String), u64> {
    let dir = tls_dir();
    let mut c = framescope();
    c.arg("analyze")
        .arg(dir.join(format!("{name}.pcap")))
        .arg("--keylog")
        .arg(dir.join(format!("{name}.keys")))
        .args(["--format", "json"]);
    if let Some(f) = frame {
        c.args(["--frame", f]);
    }
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut counts = BTreeMap::new();
    for s in v["streams"].as_array().unwrap() {
        let n = s["stream"].as_u64().unwrap();
        for (d, end) in [("client", "client"), ("server", "server")] {
            let sender = s[end].as_str().unwrap().to_string();
            counts.insert((n, sender), s["dirs"][d]["messages"].as_u64().unwrap());
        }
    }
    counts
}

#[test]
fn analyze_frames_decrypted_data_as_tshark_dissects_it() {
    let dir = tls_dir();
    for (name, frame, fields) in [
        (
            "nginx-http1",
            None,
            &["http:http.request.method", "http:http.response.code"][..],
        ),
        (
            "nginx-h2",
            Some("http2"),
            &["http2:http2.type", "http2:http2.magic"][..],
        ),
        ("python-length", Some("length:4"), &["kafka:kafka.len"][..]),
    ] {
        let ours = analyze_counts(name, frame);
        let oracle = json(&dir.join(format!("{name}.oracle.json")));
        for st in oracle["streams"].as_array().unwrap() {
            let n = st["stream"].as_u64().unwrap();
            for (node, d) in [("node0", "dir0"), ("node1", "dir1")] {
                let sender = st[node].as_str().unwrap().to_string();
                let tshark: u64 = fields.iter().map(|f| st[d][*f].as_u64().unwrap()).sum();
                let got = ours.get(&(n, sender.clone()));
                assert_eq!(got, Some(&tshark), "{name} stream {n} from {sender}");
            }
        }
    }
}

#[test]
fn the_bytes_decrypted_do_not_depend_on_how_the_stream_is_cut() {
    let dir = tls_dir();
    for name in ["openssl-tls12", "openssl-tls13", "python-length"] {
        let pcap = dir.join(format!("{name}.pcap"));
        let keys = || KeyLog::from_file(&dir.join(format!("{name}.keys"))).unwrap();
        let whole = decrypt(&pcap, keys(), TlsLimits::default(), None);
        for chunk in [1, 2, 3, 5, 7, 4096] {
            let cut = decrypt_in(&pcap, keys(), TlsLimits::default(), None, chunk);
            for (n, w) in &whole {
                let c = &cut[n];
                assert_eq!(
                    (&c.plain, c.records),
                    (&w.plain, w.records),
                    "{name} {n} by {chunk}"
                );
                assert_eq!(c.notes, w.notes, "{name} {n} by {chunk}");
            }
        }
    }
}
