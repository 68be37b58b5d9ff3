//! `framescope replay` and `framescope fuzz-server`: a captured session
//! sent to a live server, or its server side played to live clients
//! (`replay --serve`). Exit code 1 when a write pattern changed the peer's
//! behaviour (replay) or a finding was made (fuzz-server); 2 when the
//! target cannot be reached or the address cannot be listened on.

use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::json;

use super::args::{FuzzFormat, FuzzServerArgs, ReplayArgs, ReplayFormat, SideArg, TargetArgs};
use crate::decode::spec::FrameSpec;
use crate::flow::Dir;
use crate::replay::compare::Against;
use crate::replay::conn::Paced;
use crate::replay::json::{self as replay_json, Setup};
use crate::replay::mutate::{self, FuzzConfig};
use crate::replay::serve::ServeProgress;
use crate::replay::{
    check_target, run_patterns, serve_patterns, ClientCommand, Difference, Framing, Pace,
    PatternOptions, PatternReport, Peer, Replay, RunProgress, RunReport, ServeListener, Session,
    Split,
};

/// The server to send to (`--to`), checked.
fn target(t: &TargetArgs) -> Result<std::net::SocketAddr> {
    let to = t
        .to
        .as_deref()
        .context("give --to HOST:PORT, the server to send to (or, for replay, --serve HOST:PORT to play the server side to clients)")?;
    Ok(check_target(to, t.allow_remote)?)
}

/// The stream, prepared for sending `side`.
fn load(t: &TargetArgs, side: Dir) -> Result<Replay> {
    let spec = t.frame.as_deref().map(FrameSpec::parse).transpose()?;
    let session = Session::load(&t.file, t.stream)
        .with_context(|| format!("loading stream {} of {}", t.stream, t.file.display()))?;
    Ok(Replay::new(&session, spec, side))
}

/// `framing resp (detected, confidence 1.00)` or `framing length (given)`.
fn framing_text(replay: &Replay) -> String {
    match &replay.framing {
        Framing::Given => format!("framing {} (--frame)", replay.spec),
        Framing::Detected(d) => {
            let mut s = format!(
                "framing {} (detected, confidence {:.2})",
                replay.spec, d.chosen.confidence
            );
            if replay.spec == FrameSpec::None {
                s.push_str("; every captured segment is one message, give --frame to choose");
            }
            s
        }
    }
}

fn paced_text(r: &RunReport, peer: Peer) -> String {
    let who = peer.name();
    match r.outcome.paced {
        Paced::UntilRead(m) => format!(
            "each write waits until the {who} has read the one before ({})",
            m.name()
        ),
        Paced::Pauses => format!("writes paced by pauses (the {who}'s socket is not visible here)"),
    }
}

/// Prints progress on stderr for runs that take more than a second: the
/// run, writes done of total, and the time left at the pace so far.
struct Progress {
    tty: bool,
    last: Option<Instant>,
    shown: bool,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            tty: io::stderr().is_terminal(),
            last: None,
            shown: false,
        }
    }

    fn update(&mut self, p: RunProgress<'_>) {
        if p.elapsed < Duration::from_secs(1) {
            return;
        }
        let now = Instant::now();
        let every = if self.tty {
            Duration::from_millis(200)
        } else {
            Duration::from_secs(2)
        };
        let done = p.done == p.total;
        if !done && self.last.is_some_and(|l| now.duration_since(l) < every) {
            return;
        }
        self.last = Some(now);
        let left = if p.done == 0 {
            0.0
        } else {
            p.elapsed.as_secs_f64() * (p.total - p.done) as f64 / p.done as f64
        };
        let line = format!(
            "{}: {} of {} writes, {:.0} s left",
            p.run, p.done, p.total, left
        );
        let mut err = io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r\x1b[K{line}");
            self.shown = true;
        } else {
            let _ = writeln!(err, "framescope: {line}");
        }
    }

    fn finish(&mut self) {
        if self.shown {
            let _ = write!(io::stderr().lock(), "\r\x1b[K");
            self.shown = false;
        }
    }
}

/// How a difference seen on a first run only is introduced.
const UNCONFIRMED: &str = "first run only, not on a second";

fn verdict(differences: &[Difference]) -> &'static str {
    if differences.is_empty() {
        "same"
    } else {
        "DIFFERS"
    }
}

/// `framescope replay`.
pub fn run(a: &ReplayArgs) -> Result<u8> {
    let splits: Vec<Split> = match (&a.patterns, a.matrix) {
        (Some(list), _) => list.0.clone(),
        (None, true) => Split::MATRIX.to_vec(),
        (None, false) => vec![a.split],
    };
    let options = PatternOptions {
        splits,
        pace: a.pace.unwrap_or(Pace::Auto),
        timeout: Duration::from_millis(a.target.timeout),
        compare: a.compare,
        half_close: a.target.half_close,
    };
    if let Some(listen) = &a.serve {
        return serve(a, listen, &options);
    }
    let side = match a.side {
        SideArg::Client => Dir::Client,
        SideArg::Server => Dir::Server,
    };
    let addr = target(&a.target)?;
    let replay = load(&a.target, side)?;
    let mut out = io::stdout().lock();
    let expected = &replay.expected;
    let ending = expected.ending.map_or("not captured", |e| e.name());
    if a.format == ReplayFormat::Text {
        writeln!(
            out,
            "stream {} to {addr}: {}; {} {} messages to send, {} replies captured, then {ending}",
            a.target.stream,
            framing_text(&replay),
            replay.frames.len(),
            side.name(),
            expected.frames.len(),
        )?;
        out.flush()?;
    }
    let mut progress = Progress::new();
    let report = run_patterns(&replay, addr, &options, &mut |p| progress.update(p));
    progress.finish();
    let setup = Setup {
        stream: a.target.stream,
        address: addr,
        replay: &replay,
        peer: Peer::Server,
        compare: options.compare,
        client_command: None,
    };
    write_report(&mut out, &report?, a, &setup)
}

/// The report in the format asked for; the exit code: 1 when a pattern
/// changed the peer's behaviour.
fn write_report(
    out: &mut impl Write,
    report: &PatternReport,
    a: &ReplayArgs,
    setup: &Setup<'_>,
) -> Result<u8> {
    match a.format {
        ReplayFormat::Text => print_report(out, report, a, setup.peer),
        ReplayFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, &replay_json::document(setup, report))?;
            writeln!(out)?;
            Ok(u8::from(report.differs()))
        }
    }
}

/// `framescope replay --serve`.
fn serve(a: &ReplayArgs, listen: &str, options: &PatternOptions) -> Result<u8> {
    let replay = load(&a.target, Dir::Server)?;
    let mut listener = ServeListener::bind(listen, a.target.allow_remote)?;
    let addr = listener.local_addr();
    let client = a.client_cmd.as_ref().map(|command| ClientCommand {
        command: command.clone(),
        timeout: Duration::from_millis(a.client_timeout),
    });
    let mut out = io::stdout().lock();
    let expected = &replay.expected;
    let ending = expected.ending.map_or("not captured", |e| e.name());
    let mut head = Vec::new();
    writeln!(
        head,
        "stream {} served on {addr}: {}; {} server messages to play in {} turns, {} client requests captured, then {ending}",
        a.target.stream,
        framing_text(&replay),
        replay.frames.len(),
        replay.turns.len().max(1),
        expected.frames.len(),
    )?;
    match &client {
        Some(c) => writeln!(
            head,
            "client: {} (one run each, killed after {} ms)",
            c.line(addr.port()),
            c.timeout.as_millis()
        )?,
        None => writeln!(
            head,
            "{} runs, one client connection each: the reference twice, then {}",
            2 + options.splits.len(),
            options
                .splits
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )?,
    }
    // Without a client command the user starts the clients, and needs the
    // address: with JSON on standard output it goes to standard error.
    match a.format {
        ReplayFormat::Text => out.write_all(&head)?,
        ReplayFormat::Json => io::stderr().lock().write_all(&head)?,
    }
    out.flush()?;
    let mut progress = Progress::new();
    let report = serve_patterns(
        &replay,
        &mut listener,
        options,
        client.as_ref(),
        &mut |p| match p {
            ServeProgress::Waiting { run, addr } => {
                progress.finish();
                let _ = writeln!(
                    io::stderr().lock(),
                    "framescope: waiting for a client on {addr} ({run})"
                );
            }
            ServeProgress::Writes(p) => progress.update(p),
        },
    );
    progress.finish();
    let setup = Setup {
        stream: a.target.stream,
        address: addr,
        replay: &replay,
        peer: Peer::Client,
        compare: options.compare,
        client_command: a.client_cmd.as_deref(),
    };
    write_report(&mut out, &report?, a, &setup)
}

/// `closed`, `closed, exit 0`.
fn ending_text(r: &RunReport) -> String {
    match &r.observed.client {
        Some(c) => format!("{}, {}", r.outcome.ending.name(), c.exit.text()),
        None => r.outcome.ending.name().to_string(),
    }
}

/// The verdicts of a set of runs: the reference, then one line or table
/// row per pattern. Exit code 1 when a pattern changed the peer's
/// behaviour.
fn print_report(
    out: &mut impl Write,
    report: &PatternReport,
    a: &ReplayArgs,
    peer: Peer,
) -> Result<u8> {
    let table_view = a.matrix || a.patterns.is_some();
    let noun = |n: usize| peer.messages(n);
    if let Some(first) = report.reference_runs.first() {
        writeln!(out, "{}", paced_text(first, peer))?;
        let capture = if report.capture.is_empty() {
            "matches the capture".to_string()
        } else {
            let details: Vec<String> = report
                .capture
                .iter()
                .take(2)
                .map(|d| d.describe_as(Against::Capture, peer))
                .collect();
            format!("differs from the capture: {}", details.join("; "))
        };
        let client = match &first.observed.client {
            Some(c) => {
                let n = c.lines().len();
                let lines = if n == 1 { "line" } else { "lines" };
                format!(", client {}, {n} {lines} of output", c.exit.text())
            }
            None => String::new(),
        };
        writeln!(
            out,
            "reference ({}, {} runs): {} {}, connection {}{client}; {capture}",
            match peer {
                Peer::Server => "one write per message",
                Peer::Client => "the captured segments",
            },
            report.reference_runs.len(),
            first.replies().len(),
            noun(first.replies().len()),
            first.outcome.ending.name(),
        )?;
    }
    let varying = report.reference.varying();
    if !varying.is_empty() {
        let shown: Vec<String> = varying.iter().take(8).map(|i| format!("#{i}")).collect();
        let more = varying.len().saturating_sub(shown.len());
        writeln!(
            out,
            "{} that varied between the reference runs, compared by shape: {}{}",
            noun(2),
            shown.join(" "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        )?;
    }
    let mut table = crate::output::table();
    table.set_header([
        "split",
        "writes",
        "bytes",
        noun(2),
        "ending",
        "verdict",
        "first difference",
    ]);
    for p in &report.patterns {
        let r = &p.report;
        if !table_view {
            writeln!(
                out,
                "{}: {} writes, {} bytes sent, {} {}, connection {} after {:.0} ms: {}",
                p.split,
                r.outcome.writes,
                r.outcome.sent,
                r.replies().len(),
                noun(r.replies().len()),
                ending_text(r),
                r.outcome.elapsed.as_secs_f64() * 1e3,
                verdict(&p.differences)
            )?;
            for d in &p.differences {
                writeln!(out, "  {}", d.describe_as(Against::Reference, peer))?;
            }
            for d in &p.unconfirmed {
                writeln!(
                    out,
                    "  {UNCONFIRMED}: {}",
                    d.describe_as(Against::Reference, peer)
                )?;
            }
            if let Some(e) = &r.outcome.send_error {
                writeln!(out, "  sending stopped: {e}")?;
            }
            if let Some(line) = r.observed.client.as_ref().and_then(|c| c.last_error_line()) {
                writeln!(out, "  client's last error line: {line}")?;
            }
            continue;
        }
        table.add_row([
            p.split.to_string(),
            r.outcome.writes.to_string(),
            r.outcome.sent.to_string(),
            r.replies().len().to_string(),
            ending_text(r),
            verdict(&p.differences).to_string(),
            match (p.differences.first(), p.unconfirmed.first()) {
                (Some(d), _) => d.describe_as(Against::Reference, peer),
                (None, Some(d)) => {
                    format!("{UNCONFIRMED}: {}", d.describe_as(Against::Reference, peer))
                }
                (None, None) => String::new(),
            },
        ]);
    }
    let differs = report.differs();
    if table_view {
        writeln!(out, "{table}")?;
        let changed = report.changed_by();
        if differs {
            writeln!(
                out,
                "the {}'s behaviour depends on how its input is segmented: {} changed it",
                peer.name(),
                changed.join(", ")
            )?;
        } else {
            writeln!(
                out,
                "the {} behaved the same under every write pattern",
                peer.name()
            )?;
        }
    }
    Ok(u8::from(differs))
}

/// `framescope fuzz-server`.
pub fn fuzz(a: &FuzzServerArgs) -> Result<u8> {
    let addr = target(&a.target)?;
    let replay = load(&a.target, Dir::Client)?;
    let config = FuzzConfig {
        seed: a.seed,
        runs: a.runs.or(if a.duration.is_none() {
            Some(100)
        } else {
            None
        }),
        duration: a.duration.map(Duration::from_secs),
        timeout: Duration::from_millis(a.target.timeout),
        pace: a.pace.unwrap_or(Pace::Auto),
        half_close: a.target.half_close,
        out: a.out.clone(),
    };
    let jsonl = a.format == FuzzFormat::Jsonl;
    let tty = io::stderr().is_terminal();
    if !jsonl {
        writeln!(
            io::stdout().lock(),
            "stream {} to {addr}: {}; {} messages",
            a.target.stream,
            framing_text(&replay),
            replay.frames.len()
        )?;
    }
    let mut write_err = None;
    let mut baseline_done = |runs: &[RunReport], capture: &[Difference]| {
        let result = (|| -> io::Result<()> {
            let mut out = io::stdout().lock();
            let first = runs.first();
            if jsonl {
                let line = json!({
                    "type": "baseline",
                    "framing": replay.spec.to_string(),
                    "messages": replay.frames.len(),
                    "replies": runs.iter().map(|r| r.replies().len()).collect::<Vec<_>>(),
                    "endings": runs.iter().map(|r| r.outcome.ending.name()).collect::<Vec<_>>(),
                    "captured_replies": replay.expected.frames.len(),
                    "differs_from_capture": capture.iter().map(|d| d.describe(Against::Capture)).collect::<Vec<_>>(),
                });
                writeln!(out, "{line}")?;
            } else if !capture.is_empty() {
                writeln!(
                    out,
                    "WARNING: the baseline differs from the capture ({}); reproducers carry the live server's replies",
                    capture
                        .iter()
                        .take(2)
                        .map(|d| d.describe(Against::Capture))
                        .collect::<Vec<_>>()
                        .join("; ")
                )?;
            }
            if let (false, Some(first)) = (jsonl, first) {
                writeln!(out, "{}", paced_text(first, Peer::Server))?;
            }
            out.flush()
        })();
        if let Err(e) = result {
            write_err.get_or_insert(e);
        }
    };
    let mut each = |log: mutate::RunLog<'_>| {
        if jsonl {
            let line = json!({
                "type": "run",
                "run": log.run,
                "mutation": log.mutation.to_string(),
                "writes": log.report.outcome.writes,
                "bytes": log.report.outcome.sent,
                "replies": log.report.replies().len(),
                "ending": log.report.outcome.ending.name(),
                "finding": log.finding.map(|f| json!({
                    "kind": f.kind.name(),
                    "detail": f.detail,
                    "reproducer": f.reproducer.display().to_string(),
                })),
            });
            let mut out = io::stdout().lock();
            if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
                return;
            }
        }
        let mut err = io::stderr().lock();
        let runs = log.run + 1;
        if tty {
            let _ = write!(err, "\rrun {runs}  findings {}  ", log.findings);
        } else if runs.is_multiple_of(25) {
            let _ = writeln!(err, "fuzz-server: run {runs}, findings {}", log.findings);
        }
    };
    let summary = mutate::fuzz(&replay, addr, &config, &mut baseline_done, &mut each)?;
    if let Some(e) = write_err {
        return Err(e.into());
    }
    if tty {
        let _ = writeln!(io::stderr());
    }
    let mut out = io::stdout().lock();
    if jsonl {
        let line = json!({
            "type": "summary",
            "runs": summary.runs,
            "seed": a.seed,
            "findings": summary.findings.len(),
            "crashed": summary.crashed,
        });
        writeln!(out, "{line}")?;
        return Ok(u8::from(!summary.findings.is_empty()));
    }
    let base = summary.baseline.first();
    writeln!(
        out,
        "baseline: {} messages sent, {} replies, connection {}; {} mutated runs (seed {}), {} findings{}",
        replay.frames.len(),
        base.map_or(0, |b| b.replies().len()),
        base.map_or("?", |b| b.outcome.ending.name()),
        summary.runs,
        a.seed,
        summary.findings.len(),
        if summary.crashed { "; stopped: the server went away" } else { "" }
    )?;
    if !summary.findings.is_empty() {
        let mut table = crate::output::table();
        table.set_header(["run", "kind", "mutation", "what happened", "reproducer"]);
        for f in &summary.findings {
            table.add_row([
                f.run.to_string(),
                f.kind.name().to_string(),
                f.mutation.to_string(),
                f.detail.clone(),
                f.reproducer.display().to_string(),
            ]);
        }
        writeln!(out, "{table}")?;
        writeln!(
            out,
            "replay one: framescope replay REPRODUCER --stream 0 --to {} --frame {} --compare shape",
            a.target.to.as_deref().unwrap_or_default(), replay.spec
        )?;
    }
    Ok(u8::from(!summary.findings.is_empty()))
}
