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

/// The binary run with `args`. `--jobs N` runs N threads however few cores
/// the machine has, so that threads are tested on every machine.
fn framescope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_framescope"))
        .args(args)
        .env("FRAMESCOPE_JOBS_UNCAPPED", "1")
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
    // Each shard cut again among threads: the same streams, once each.
    let mut threaded = Vec::new();
    for k in ["1/3", "2/3", "3/3"] {
        let part = json(&[
            "analyze", f, "--frame", "resp", "--format", "json", "--shard", k, "--jobs", "3",
        ]);
        threaded.extend(part["streams"].as_array().unwrap().clone());
    }
    threaded.sort_by_key(|s| s["stream"].as_u64());
    assert_eq!(Value::Array(threaded), one["streams"]);
}

/// On one core (`taskset -c 0`), `--jobs 2` runs one thread of analysis
/// and says so; the document is the same. With
/// `FRAMESCOPE_JOBS_UNCAPPED` it runs two, and says nothing.
#[test]
fn jobs_leave_a_core_to_read_ahead_and_say_so() {
    let f = capture("servers/redis.pcap");
    let f = f.to_str().unwrap();
    let run = |jobs: &str, uncapped: bool| {
        let mut cmd = Command::new("taskset");
        cmd.args(["-c", "0", env!("CARGO_BIN_EXE_framescope")]);
        cmd.args([
            "analyze", f, "--frame", "resp", "--format", "json", "--jobs", jobs,
        ]);
        cmd.env_remove("FRAMESCOPE_JOBS_UNCAPPED");
        if uncapped {
            cmd.env("FRAMESCOPE_JOBS_UNCAPPED", "1");
        }
        let out = cmd.output().expect("taskset runs (util-linux)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        (doc, String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (one, quiet) = run("1", false);
    assert!(!quiet.contains("--jobs"), "{quiet}");
    let (capped, note) = run("2", false);
    assert!(
        note.contains("--jobs 2 runs 1 thread of analysis here: this machine has 1 core"),
        "{note}"
    );
    let (uncapped, quiet) = run("2", true);
    assert!(!quiet.contains("--jobs"), "{quiet}");
    for key in ["streams", "messages", "summary", "capture", "framing"] {
        assert_eq!(one[key], capped[key], "{key}");
        assert_eq!(one[key], uncapped[key], "{key}");
    }
}

/// `FRAMESCOPE_THREAD_TIMES` has each thread that followed flows say its
/// CPU time on stderr, the reader first with its share; the document is
/// the same, and without it nothing is said.
#[test]
fn thread_times_are_said_when_asked() {
    let f = capture("servers/redis.pcap");
    let f = f.to_str().unwrap();
    let run = |jobs: &str, timed: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_framescope"));
        cmd.args(["analyze", f, "--frame", "resp", "--format", "json"]);
        cmd.args(["--jobs", jobs])
            .env("FRAMESCOPE_JOBS_UNCAPPED", "1");
        if timed {
            cmd.env("FRAMESCOPE_THREAD_TIMES", "1");
        } else {
            cmd.env_remove("FRAMESCOPE_THREAD_TIMES");
        }
        let out = cmd.output().expect("runs");
        assert!(out.status.success(), "{out:?}");
        let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        (doc, String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (plain, quiet) = run("3", false);
    assert!(!quiet.contains("CPU time"), "{quiet}");
    let (doc, said) = run("3", true);
    assert_eq!(plain, doc);
    let line = said
        .lines()
        .find(|l| l.starts_with("framescope: CPU time by thread: "))
        .unwrap_or_else(|| panic!("{said}"));
    let times: Vec<f64> = line
        .split(" ms")
        .filter_map(|part| part.rsplit(' ').next()?.parse().ok())
        .collect();
    assert_eq!(times.len(), 3, "{line}");
    // The reader read the capture: its time cannot be nothing.
    assert!(times[0] > 0.0 && times.iter().all(|&t| t >= 0.0), "{line}");
    assert!(
        line.contains("main ") && line.contains("(1 share of the flows)"),
        "{line}"
    );
    assert!(
        line.contains("worker-1 ") && line.contains("worker-2 "),
        "{line}"
    );
    assert!(line.contains("(3 shares)"), "{line}");
    let (_, said) = run("1", true);
    assert!(
        said.contains("CPU time by thread: main ") && said.contains("(all flows)"),
        "{said}"
    );
}

/// `--max-stalls` bounds the stalls listed over all streams, with one job
/// or several; the document counts the rest in `stalls_dropped`, and the
/// streams' counters count every stall.
#[test]
fn stalls_listed_stay_within_max_stalls() {
    let f = capture("scenarios/nagle-on.pcap");
    let f = f.to_str().unwrap();
    let listed = |doc: &Value| -> u64 {
        let streams = doc["streams"].as_array().unwrap();
        streams
            .iter()
            .map(|s| s["stalls"].as_array().unwrap().len() as u64)
            .sum()
    };
    let all = json(&["analyze", f, "--format", "json"]);
    let stalls = all["summary"]["stalls"].as_u64().unwrap();
    assert!(stalls > 5, "the capture stalls: {}", all["summary"]);
    assert_eq!(
        (listed(&all), all["stalls_dropped"].as_u64()),
        (stalls, Some(0))
    );
    for jobs in ["1", "3"] {
        let cut = json(&[
            "analyze",
            f,
            "--format",
            "json",
            "--max-stalls",
            "5",
            "--jobs",
            jobs,
        ]);
        assert_eq!(listed(&cut), 5, "--jobs {jobs}");
        assert_eq!(
            cut["stalls_dropped"].as_u64(),
            Some(stalls - 5),
            "--jobs {jobs}"
        );
        assert_eq!(cut["summary"], all["summary"], "--jobs {jobs}");
    }
}

#[test]
fn jobs_out_of_range_are_refused() {
    let f = capture("servers/redis.pcap");
    for jobs in ["0", "257"] {
        let out = framescope(&["analyze", f.to_str().unwrap(), "--jobs", jobs]);
        assert_eq!(out.status.code(), Some(2), "--jobs {jobs}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--jobs"));
    }
}

/// Every capture file under `captures/`.
fn every_capture() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("captures")];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "pcap" || x == "pcapng") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// N threads (`--jobs N`), one of them reading, give the document of one
/// pass, on every capture: streams and their numbers, messages, summary,
/// capture counters and totals (but the peaks, which each worker has of
/// its own). Workers read their records out of the reader's mapped windows
/// (the larger captures span several), or, with mapping off, get them
/// copied.
#[test]
fn jobs_give_the_document_of_one_pass_on_every_capture() {
    let run = |f: &str, jobs: &str, no_mmap: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_framescope"));
        cmd.args(["analyze", f, "--format", "json", "--jobs", jobs]);
        cmd.env("FRAMESCOPE_JOBS_UNCAPPED", "1");
        if no_mmap {
            cmd.env("FRAMESCOPE_NO_MMAP", "1");
        }
        let out = cmd.output().expect("runs");
        // Not a capture: nothing printed.
        let mut d: Value = serde_json::from_slice(&out.stdout).ok()?;
        for peak in ["peak_open", "peak_buffered"] {
            d["totals"][peak] = Value::Null;
        }
        Some(d)
    };
    let mut compared = 0;
    for (i, f) in every_capture().iter().enumerate() {
        let f = f.to_str().unwrap();
        let Some(one) = run(f, "1", false) else {
            continue;
        };
        for (jobs, no_mmap) in [("2", false), ("4", false), ("3", i % 4 == 0)] {
            let many = run(f, jobs, no_mmap).expect("a document");
            for key in [
                "streams", "messages", "summary", "capture", "totals", "framing",
            ] {
                assert_eq!(one[key], many[key], "{f} --jobs {jobs}: {key}");
            }
        }
        compared += 1;
    }
    assert!(compared >= 45, "{compared} captures compared");
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

/// `--max-streams`: past it the least recently active stream is finalized
/// early (evicted); its later packets are counted as late, and every
/// stream is still accounted for.
#[test]
fn max_streams_evicts_and_accounts_for_every_stream() {
    let f = capture("servers/redis.pcap");
    let f = f.to_str().unwrap();
    let all = json(&["analyze", f, "--format", "json"]);
    let one = json(&["analyze", f, "--format", "json", "--max-streams", "1"]);
    assert_eq!(all["totals"]["evicted"], 0);
    assert_eq!(all["totals"]["late_packets"], 0);
    assert!(all["totals"]["peak_open"].as_u64().unwrap() > 1);
    let evicted = one["totals"]["evicted"].as_u64().unwrap();
    assert!(evicted >= 1, "{evicted} evicted");
    assert_eq!(one["totals"]["peak_open"], 1);
    assert!(one["totals"]["late_packets"].as_u64().unwrap() > 0);
    for d in [&all, &one] {
        let listed = d["streams"].as_array().unwrap().len() as u64;
        let empty = d["streams_without_data"].as_u64().unwrap();
        assert_eq!(listed + empty, d["totals"]["tcp_streams"].as_u64().unwrap());
    }
}

/// The out-of-order bounds, per direction and over all streams: reaching
/// one closes the hole as a forced gap; the default bounds do not.
#[test]
fn out_of_order_budgets_force_gaps_when_reached() {
    let f = capture("real/zeek_tcp_reassembly.pcap");
    let f = f.to_str().unwrap();
    let forced = |extra: &[&str]| {
        let mut args = vec!["analyze", f, "--frame", "none", "--format", "json"];
        args.extend_from_slice(extra);
        let d = json(&args);
        let c = &d["streams"][0]["reassembly"]["dirs"]["client"];
        (
            c["forced_gaps"].as_u64().unwrap(),
            d["totals"]["peak_buffered"].as_u64().unwrap(),
        )
    };
    let (none, peak) = forced(&[]);
    assert_eq!(none, 0);
    assert!(peak > 1000, "{peak}");
    for flag in ["--max-buffered-total", "--max-buffered"] {
        let (n, peak) = forced(&[flag, "1"]);
        assert!(n > 0, "{flag}: no forced gap");
        assert!(peak <= 1, "{flag}: {peak} bytes buffered");
    }
    let (n, _) = forced(&["--max-buffered-segments", "1"]);
    assert!(n > 0, "--max-buffered-segments: no forced gap");
}

/// The fragment bounds are flags: a datagram in three fragments is rebuilt
/// by default, and dropped and counted when the bytes held may not hold it
/// or its fragments may not wait for each other.
#[test]
fn fragment_bounds_are_flags_and_reached() {
    let f = capture("real/sv_defrag_bug-6887-defrag-ipv4-tcp-syn_frag-ip-tcp-syn.pcap");
    let f = f.to_str().unwrap();
    let frags = |extra: &[&str]| {
        let mut args = vec!["analyze", f, "--frame", "none", "--format", "json"];
        args.extend_from_slice(extra);
        json(&args)["totals"]["fragments"].clone()
    };
    let d = frags(&[]);
    assert_eq!(
        (d["fragments"].as_u64(), d["reassembled"].as_u64()),
        (Some(3), Some(1)),
        "{d}"
    );
    let d = frags(&["--max-fragment-bytes", "100"]);
    assert_eq!(d["reassembled"].as_u64(), Some(0), "{d}");
    assert!(d["over_bound"].as_u64().unwrap() > 0, "{d}");
    // A timeout of 0: no fragment waits for the next.
    let d = frags(&["--fragment-timeout", "0"]);
    assert_eq!(d["reassembled"].as_u64(), Some(0), "{d}");
    assert_eq!(d["expired"].as_u64(), Some(3), "{d}");
}

/// Each error is said once; a closed output pipe ends quietly with status 0.
#[test]
fn errors_are_said_once_and_a_closed_pipe_is_quiet() {
    let readme = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let out = framescope(&["analyze", readme.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("not a pcap or pcapng file").count(), 1, "{err}");
    for format in ["table", "json", "jsonl"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_framescope"))
            .args(["analyze", capture("servers/redis.pcap").to_str().unwrap()])
            .args(["--messages", "--format", format])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Read one line, then close the pipe, as `head -1` does.
        let mut stdout = child.stdout.take().unwrap();
        let mut byte = [0u8; 1];
        std::io::Read::read_exact(&mut stdout, &mut byte).unwrap();
        drop(stdout);
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{format}");
        assert!(
            out.stderr.is_empty(),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `--stream N` analyses that stream only; `--help` lists the protocols.
#[test]
fn one_stream_and_the_framings_in_help() {
    let f = capture("servers/redis.pcap");
    let d = json(&[
        "analyze",
        f.to_str().unwrap(),
        "--format",
        "json",
        "--stream",
        "3",
    ]);
    let streams = d["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 1);
    assert_eq!(streams[0]["stream"], 3);
    assert!(d["messages"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["stream"] == 3));
    let help = String::from_utf8(framescope(&["analyze", "--help"]).stdout).unwrap();
    for name in ["length:", "json-header", "http1", "resp", "pgsql", "grpc"] {
        assert!(help.contains(name), "--help lacks {name}");
    }
}

/// The default table on a capture of many streams: the totals, at most
/// `--top` streams (two rows each), and how many more there are.
#[test]
fn the_table_shows_the_top_streams_and_counts_the_rest() {
    let f = capture("real/zeek_http_http-body-match.pcap");
    let out = framescope(&["analyze", f.to_str().unwrap(), "--top", "2"]);
    let text = String::from_utf8(out.stdout).unwrap();
    let rows = text.lines().filter(|l| l.starts_with("│ tcp ")).count();
    assert!((2..=4).contains(&rows), "{rows} rows:\n{text}");
    let d = json(&["analyze", f.to_str().unwrap(), "--format", "json"]);
    let total = d["streams"].as_array().unwrap().len();
    assert!(total > 2, "{total} streams");
    assert!(
        text.contains(&format!("and {} more streams (--top 0", total - 2)),
        "{text}"
    );
}

/// A stream's need of attention, as the table ranks streams.
fn attention(s: &Value) -> u64 {
    ["client", "server"]
        .iter()
        .map(|d| {
            [
                "split_messages",
                "coalesced_segments",
                "truncated_messages",
                "malformed_messages",
                "gap_messages",
                "stalls",
                "gaps",
            ]
            .iter()
            .map(|k| s["dirs"][d][k].as_u64().unwrap())
            .sum::<u64>()
        })
        .sum()
}

/// `--max-stream-results` keeps the streams most in need of attention,
/// counts the others, and keeps the totals of all; the table keeps only
/// the streams it shows and says the same totals.
#[test]
fn stream_results_past_the_bound_are_counted_and_totals_stay_whole() {
    let f = capture("servers/redis.pcap");
    let f = f.to_str().unwrap();
    let full = json(&["analyze", f, "--format", "json"]);
    let all = full["streams"].as_array().unwrap();
    assert!(all.len() > 6, "{} streams", all.len());
    assert_eq!(full["streams_dropped"], 0);
    let mut ranked: Vec<&Value> = all.iter().collect();
    ranked.sort_by_key(|s| {
        (
            std::cmp::Reverse(attention(s)),
            s["stream"].as_u64().unwrap(),
        )
    });
    // Streams differ in attention: the ranking, not only their numbers,
    // decides which are kept.
    assert!(attention(ranked[0]) > attention(ranked[ranked.len() - 1]));
    let keep = 4;
    let d = json(&[
        "analyze",
        f,
        "--format",
        "json",
        "--max-stream-results",
        &keep.to_string(),
    ]);
    let mut expected: Vec<u64> = ranked[..keep]
        .iter()
        .map(|s| s["stream"].as_u64().unwrap())
        .collect();
    expected.sort_unstable();
    let got: Vec<u64> = d["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stream"].as_u64().unwrap())
        .collect();
    assert_eq!(got, expected);
    assert_eq!(d["streams_dropped"], (all.len() - keep) as u64);
    assert_eq!(d["summary"], full["summary"]);
    let kept_messages: Vec<&Value> = full["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| expected.contains(&m["stream"].as_u64().unwrap()))
        .collect();
    assert!(!kept_messages.is_empty());
    assert_eq!(
        d["messages"].as_array().unwrap().iter().collect::<Vec<_>>(),
        kept_messages
    );
    // The table keeps two streams and says what --top 0 says of all.
    let table = |top: &str| {
        let out = framescope(&["analyze", f, "--top", top]);
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let (two, every) = (table("2"), table("0"));
    let totals = |t: &str| t.lines().nth(1).unwrap().to_string();
    assert_eq!(totals(&two), totals(&every));
    assert!(
        two.contains(&format!("and {} more streams", all.len() - 2)),
        "{two}"
    );
    // Stalls of streams the table did not keep are still counted: with
    // --top 2 the table lists one stall of all those in the document.
    let f = capture("servers/mosquitto.pcap");
    let f = f.to_str().unwrap();
    let d = json(&["analyze", f, "--format", "json"]);
    let stalls: usize = d["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stalls"].as_array().unwrap().len())
        .sum();
    assert!(stalls > 1, "{stalls} stalls");
    let out = framescope(&["analyze", f, "--top", "2"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(&format!("and {} more stalls", stalls - 1)),
        "{text}"
    );
    // The bound is a number.
    let out = framescope(&["analyze", f, "--max-stream-results", "many"]);
    assert_eq!(out.status.code(), Some(2));
}
