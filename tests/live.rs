//! Live capture on the loopback: the library's capture against a known
//! exchange, the written file against the live report, the clear errors,
//! and every `lab` scenario's verdict.
//!
//! Capturing needs root or CAP_NET_RAW. Without it these tests say why and
//! pass, except under CI (`CI=true`), where they must run.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use framescope::analysis::{Analyzer, Message, Options, Report, StreamResult};
use framescope::capture::live::{LiveCapture, LiveConfig, LiveError};
use framescope::capture::CaptureReader;
use framescope::decode::spec::FrameSpec;
use framescope::flow::{Dir, FlowLimits, StreamInfo, Tracker};
use framescope::output::Collector;
use framescope::pipeline;

mod common;

use common::may_capture;

const BIN: &str = env!("CARGO_BIN_EXE_framescope");

fn options() -> Options {
    Options {
        framing: FrameSpec::parse("length:4").expect("length:4 parses"),
        stall_threshold: 30_000_000,
        ..Options::default()
    }
}

fn analyser() -> Tracker<Analyzer<Collector>> {
    Tracker::new(
        Analyzer::new(options(), Collector::new(true, 10_000, 10)),
        FlowLimits::default(),
    )
}

const BODIES: [&[u8]; 5] = [
    b"alpha",
    b"",
    b"a somewhat longer message body",
    b"x",
    b"omega",
];

/// The acknowledgement the server sends after each frame: an empty frame.
const ACK: [u8; 4] = [0; 4];

/// The client writes each body as a frame and waits for the server's
/// acknowledgement before the next, so each write is read before the next
/// is sent: segments and timing follow the exchange, not a clock.
fn exchange(listener: TcpListener) {
    let addr = listener.local_addr().expect("local addr");
    let server = thread::spawn(move || {
        let (mut c, _) = listener.accept().expect("accept");
        let mut all = Vec::new();
        for b in BODIES {
            let mut frame = vec![0; b.len() + 4];
            c.read_exact(&mut frame).expect("server read");
            all.extend_from_slice(&frame);
            c.write_all(&ACK).expect("server ack");
        }
        let mut rest = Vec::new();
        c.read_to_end(&mut rest).expect("server read to the end");
        assert!(rest.is_empty());
        all
    });
    let mut c = TcpStream::connect(addr).expect("connect");
    c.set_nodelay(true).expect("nodelay");
    for b in BODIES {
        let mut frame = (b.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(b);
        c.write_all(&frame).expect("write");
        let mut ack = [1u8; 4];
        c.read_exact(&mut ack)
            .expect("the server's acknowledgement");
        assert_eq!(ack, ACK);
    }
    drop(c);
    let got = server.join().expect("server thread");
    let want: usize = BODIES.iter().map(|b| b.len() + 4).sum();
    assert_eq!(got.len(), want);
}

/// A report that raises the capture's stop flag when a stream is done:
/// the capture stops on the event, not after a pause.
struct StopWhenClosed(Arc<AtomicBool>);

impl Report for StopWhenClosed {
    fn message(&mut self, _: &StreamInfo, _: Dir, _: &Message) {}

    fn stream(&mut self, _: StreamResult) {
        self.0.store(true, Ordering::Relaxed);
    }
}

fn report_json(c: &mut Collector) -> serde_json::Value {
    c.sort();
    serde_json::json!({ "streams": c.streams, "messages": c.messages, "summary": c.totals() })
}

#[test]
fn live_report_matches_the_written_file() {
    if !may_capture("live_report_matches_the_written_file") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("framescope-live-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("exchange.pcap");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let config = LiveConfig {
        filter: Some(format!("tcp port {port}")),
        write: Some(file.clone()),
        ..LiveConfig::new("lo")
    };
    let cap = LiveCapture::open(&config).expect("open lo");
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = thread::spawn(move || exchange(listener));
    // A bound on the wait for the stream's close, polled: the capture
    // normally stops on the close itself.
    let watchdog = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            let start = Instant::now();
            while !stop.load(Ordering::Relaxed) && start.elapsed() < Duration::from_secs(30) {
                thread::sleep(Duration::from_millis(10));
            }
            stop.store(true, Ordering::Relaxed);
        })
    };
    let report = (
        Collector::new(true, 10_000, 10),
        StopWhenClosed(Arc::clone(&stop)),
    );
    let mut tracker = Tracker::new(Analyzer::new(options(), report), FlowLimits::default());
    let live = cap.run(&stop, &mut tracker).expect("capture");
    traffic.join().expect("traffic thread");
    watchdog.join().expect("watchdog thread");
    let (analyzer, _) = tracker.finish();
    let mut live_report = analyzer.into_report().0;
    let live_json = report_json(&mut live_report);

    assert_eq!(live.stats.dropped, 0, "{:?}", live.stats);
    assert!(
        live.stats.captured >= 8,
        "handshake, 5 data, FINs: {:?}",
        live.stats
    );
    // The stream closed while captured: the capture stopped on it.
    assert_eq!(live_report.streams.len(), 1);
    let all = live_report.totals();
    let dirs = &live_report.streams[0].dirs;
    assert_eq!(dirs[0].messages, BODIES.len() as u64);
    assert_eq!(dirs[1].messages, BODIES.len() as u64);
    assert_eq!(
        all.truncated_messages + all.malformed_messages + all.gap_messages,
        0
    );
    assert_eq!(
        dirs[0].bytes,
        BODIES.iter().map(|b| b.len() as u64 + 4).sum::<u64>()
    );
    assert_eq!(dirs[1].bytes, (BODIES.len() * ACK.len()) as u64);

    let mut reader = CaptureReader::open(&file).expect("the written file opens");
    let mut records = 0;
    while reader.next_record().expect("record").is_some() {
        records += 1;
    }
    assert_eq!(records, live.stats.captured);

    let mut tracker = analyser();
    let summary = pipeline::run(&file, None, &mut tracker).expect("analyse file");
    assert!(summary.error.is_none(), "{:?}", summary.error);
    let (analyzer, _) = tracker.finish();
    let file_json = report_json(&mut analyzer.into_report());
    assert_eq!(live_json, file_json);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_interface_lists_the_available_ones() {
    if !may_capture("bad_interface_lists_the_available_ones") {
        return;
    }
    let e = LiveCapture::open(&LiveConfig::new("nosuchif0"))
        .err()
        .expect("nosuchif0 must not open");
    match &e {
        LiveError::NoSuchInterface { available, .. } => {
            assert!(available.iter().any(|n| n == "lo"), "{available:?}")
        }
        other => panic!("wrong error: {other}"),
    }
    let out = run(&["capture", "--interface", "nosuchif0", "--duration", "1"]);
    assert_eq!(out.0, Some(2));
    assert!(out.2.contains("no interface \"nosuchif0\""), "{}", out.2);
    assert!(out.2.contains("available: "), "{}", out.2);
}

#[test]
fn bad_filter_gives_libpcaps_message() {
    if !may_capture("bad_filter_gives_libpcaps_message") {
        return;
    }
    let config = LiveConfig {
        filter: Some("tcp port nope".into()),
        ..LiveConfig::new("lo")
    };
    let e = LiveCapture::open(&config).err().expect("filter must fail");
    assert!(matches!(e, LiveError::Filter { .. }), "{e}");
    let out = run(&["capture", "--filter", "tcp port nope", "--duration", "1"]);
    assert_eq!(out.0, Some(2));
    assert!(out.2.contains("does not compile"), "{}", out.2);
}

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .output()
        .expect("run framescope");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn lab(name: &str) -> String {
    let (code, out, err) = run(&["lab", name]);
    assert_eq!(code, Some(0), "lab {name}: {err}\n{out}");
    out
}

#[test]
fn lab_list_names_every_scenario() {
    let (code, out, _) = run(&["lab", "--list"]);
    assert_eq!(code, Some(0));
    for s in [
        "lagging-reader",
        "long-reply",
        "length-prefix",
        "nagle",
        "nodelay",
    ] {
        assert!(out.contains(s), "{out}");
    }
}

#[test]
fn lab_scenarios_show_their_verdicts() {
    if !may_capture("lab_scenarios_show_their_verdicts") {
        return;
    }
    let out = lab("lagging-reader");
    assert!(out.contains("recv(10) -> 8 bytes \"musibii1\""), "{out}");
    assert!(
        out.contains("lagging, stream 0 client: 2 exact, 1 glued"),
        "{out}"
    );

    let out = lab("long-reply");
    assert!(
        out.contains("recv(4096) -> 4096 bytes of the 10240-byte reply"),
        "{out}"
    );
    assert!(
        out.contains("stream 0 server: 0 exact, 0 glued, 3 cut"),
        "{out}"
    );

    let out = lab("length-prefix");
    assert!(
        out.contains(
            "4 messages: 0 split, 0 coalesced segments, 0 truncated, 0 malformed, 0 holed"
        ),
        "{out}"
    );

    // The message count is the program's; how many were split depends on
    // the timing of the segments, so only a range is asserted.
    let out = lab("nagle");
    assert!(out.contains("Nagle / delayed-ACK stalls:"), "{out}");
    let (messages, split) = messages_and_split(&out);
    assert_eq!(messages, 57, "{out}");
    assert!((1..=8).contains(&split), "{out}");

    let out = lab("nodelay");
    assert!(!out.contains("Nagle / delayed-ACK stalls:"), "{out}");
    let (messages, split) = messages_and_split(&out);
    assert_eq!(messages, 57, "{out}");
    assert!((1..=8).contains(&split), "{out}");
}

/// `N messages: S split` from a report's totals line.
fn messages_and_split(out: &str) -> (u64, u64) {
    let at = out.find(" messages: ").expect("a totals line");
    let before = out[..at]
        .rsplit(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap_or("");
    let after = &out[at + " messages: ".len()..];
    let split = after.split(' ').next().unwrap_or("");
    (
        before.parse().expect("a message count"),
        split.parse().expect("a split count"),
    )
}
