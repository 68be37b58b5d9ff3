//! `framescope replay` and `framescope fuzz-server`: a captured session
//! sent to a live server. Exit code 1 when the server behaved differently
//! (replay) or a finding was made (fuzz-server).

use std::io::{self, IsTerminal, Write};
use std::time::Duration;

use anyhow::{Context, Result};
use comfy_table::{presets::UTF8_BORDERS_ONLY, Table};

use super::args::{FuzzServerArgs, ReplayArgs, SideArg, TargetArgs};
use crate::decode::spec::FrameSpec;
use crate::flow::Dir;
use crate::replay::fuzz::{self, FuzzConfig};
use crate::replay::{check_target, Pace, Replay, RunReport, Session, Split};

fn prepare(t: &TargetArgs, side: Dir) -> Result<(Replay, std::net::SocketAddr)> {
    let spec = FrameSpec::parse(t.frame.as_deref().unwrap_or("none"))?;
    let addr = check_target(&t.to, t.allow_remote)?;
    let session = Session::load(&t.file, t.stream)
        .with_context(|| format!("loading stream {} of {}", t.stream, t.file.display()))?;
    Ok((Replay::new(&session, spec, side), addr))
}

fn verdict(r: &RunReport) -> String {
    if r.differences.is_empty() {
        "same".to_string()
    } else {
        "DIFFERS".to_string()
    }
}

/// `framescope replay`.
pub fn run(a: &ReplayArgs) -> Result<u8> {
    let side = match a.side {
        SideArg::Client => Dir::Client,
        SideArg::Server => Dir::Server,
    };
    let (replay, addr) = prepare(&a.target, side)?;
    let timeout = Duration::from_millis(a.target.timeout);
    let pace = a.pace.unwrap_or(Pace::Auto);
    let mut out = io::stdout().lock();
    let expected = &replay.expected;
    let ending = expected.ending.map_or("not captured", |e| e.name());
    writeln!(
        out,
        "stream {} to {addr}: {} {} messages to send, {} replies expected, then {ending}",
        a.target.stream,
        replay.frames.len(),
        side.name(),
        expected.frames.len(),
    )?;
    let splits: Vec<Split> = if a.matrix {
        Split::MATRIX.to_vec()
    } else {
        vec![a.split]
    };
    let mut table = Table::new();
    table.load_style(UTF8_BORDERS_ONLY).set_header([
        "split",
        "writes",
        "bytes",
        "replies",
        "ending",
        "verdict",
        "first difference",
    ]);
    let mut differs = false;
    for split in splits {
        let writes = replay.writes(split, pace)?;
        let r = replay.run(addr, &writes, expected, timeout, a.compare)?;
        differs |= !r.differences.is_empty();
        if !a.matrix {
            writeln!(
                out,
                "{split}: {} writes, {} bytes sent, {} replies, connection {} after {:.0} ms: {}",
                r.outcome.writes,
                r.outcome.sent,
                r.replies.len(),
                r.outcome.ending.name(),
                r.outcome.elapsed.as_secs_f64() * 1e3,
                verdict(&r)
            )?;
            for d in &r.differences {
                writeln!(out, "  {d}")?;
            }
            if let Some(e) = &r.outcome.send_error {
                writeln!(out, "  sending stopped: {e}")?;
            }
            continue;
        }
        table.add_row([
            split.to_string(),
            r.outcome.writes.to_string(),
            r.outcome.sent.to_string(),
            r.replies.len().to_string(),
            r.outcome.ending.name().to_string(),
            verdict(&r),
            r.differences
                .first()
                .map_or_else(String::new, ToString::to_string),
        ]);
    }
    if a.matrix {
        writeln!(out, "{table}")?;
        writeln!(
            out,
            "{}",
            if differs {
                "the server's behaviour depends on how its input is segmented"
            } else {
                "the server behaved the same under every write pattern"
            }
        )?;
    }
    Ok(u8::from(differs))
}

/// `framescope fuzz-server`.
pub fn fuzz(a: &FuzzServerArgs) -> Result<u8> {
    let (replay, addr) = prepare(&a.target, Dir::Client)?;
    let config = FuzzConfig {
        seed: a.seed,
        runs: a.runs.or(if a.duration.is_none() {
            Some(100)
        } else {
            None
        }),
        duration: a.duration.map(Duration::from_secs),
        timeout: Duration::from_millis(a.target.timeout),
        pace: Duration::from_millis(a.pace),
        out: a.out.clone(),
    };
    let tty = io::stderr().is_terminal();
    let mut progress = |p: fuzz::Progress| {
        let mut err = io::stderr().lock();
        if tty {
            let _ = write!(err, "\rrun {}  findings {}  ", p.runs, p.findings);
        } else if p.runs.is_multiple_of(25) {
            let _ = writeln!(err, "fuzz-server: run {}, findings {}", p.runs, p.findings);
        }
    };
    let summary = fuzz::fuzz(&replay, addr, &config, &mut progress)?;
    if tty {
        let _ = writeln!(io::stderr());
    }
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "baseline: {} messages sent, {} replies, connection {}; {} mutated runs (seed {}), {} findings{}",
        replay.frames.len(),
        summary.baseline.replies.len(),
        summary.baseline.outcome.ending.name(),
        summary.runs,
        a.seed,
        summary.findings.len(),
        if summary.crashed { "; stopped: the server went away" } else { "" }
    )?;
    if !summary.findings.is_empty() {
        let mut table = Table::new();
        table.load_style(UTF8_BORDERS_ONLY).set_header([
            "run",
            "kind",
            "mutation",
            "what happened",
            "reproducer",
        ]);
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
        let frame = a.target.frame.as_deref().unwrap_or("none");
        writeln!(
            out,
            "replay one: framescope replay REPRODUCER --stream 0 --to {} --frame {frame} --compare shape",
            a.target.to
        )?;
    }
    Ok(u8::from(!summary.findings.is_empty()))
}
