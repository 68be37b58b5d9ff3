//! `framescope lab`: runs a built-in scenario on 127.0.0.1, captures its
//! port live, and prints what the scenario's reader received next to
//! framescope's diagnosis.

use std::io::{self, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};

use super::analyze::{print_report, Finished};
use super::args::{AnalysisArgs, AnalyzeFormat, LabArgs, ReportArgs};
use super::capture::{flagged_line, warn_live};
use crate::analysis::Analyzer;
use crate::capture::live::{LiveCapture, LiveConfig};
use crate::flow::{FlowLimits, Tracker};
use crate::lab::{self, SCENARIOS};
use crate::output::Collector;

/// How long the capture goes on after the exchange, for the last ACKs and FINs.
const SETTLE: Duration = Duration::from_millis(300);
/// The longest a scenario's capture may take.
const MAX_DURATION: Duration = Duration::from_secs(60);

pub(super) fn run(args: &LabArgs) -> Result<u8> {
    let mut out = io::BufWriter::new(io::stdout().lock());
    if args.list {
        for s in SCENARIOS {
            writeln!(out, "{:<16} {}", s.name, s.about)?;
        }
        out.flush()?;
        return Ok(0);
    }
    let name = args.scenario.as_deref().unwrap_or_default();
    let scenario = lab::find(name).ok_or_else(|| {
        let names: Vec<&str> = SCENARIOS.iter().map(|s| s.name).collect();
        anyhow!("no scenario {name:?}; the scenarios: {}", names.join(", "))
    })?;

    let listener = TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1")?;
    let port = listener.local_addr()?.port();
    let config = LiveConfig {
        interface: args.interface.clone(),
        filter: Some(format!("tcp port {port}")),
        write: args.write.clone(),
        duration: Some(MAX_DURATION),
        count: None,
    };
    let cap = LiveCapture::open(&config)?;

    let analysis = AnalysisArgs {
        frame: Some(scenario.frame.to_string()),
        recv: scenario.recv.map(str::to_string),
        stall_threshold: 30.0,
        fail_on: Vec::new(),
    };
    let opts = analysis.options()?;
    let framing = opts.framing.to_string();
    let mut collector = Collector::new(false, 10_000, 10);
    let (tx, rx) = std::sync::mpsc::channel();
    collector.on_flagged(Box::new(move |row| {
        let _ = tx.send(flagged_line(row));
    }));
    let mut tracker = Tracker::new(Analyzer::new(opts, collector), FlowLimits::default());

    let stop = Arc::new(AtomicBool::new(false));
    let exchange = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            let result = scenario.run(listener);
            thread::sleep(SETTLE);
            stop.store(true, Ordering::Relaxed);
            result
        })
    };
    let captured = cap.run(&stop, &mut tracker);
    stop.store(true, Ordering::Relaxed);
    let observed = exchange
        .join()
        .map_err(|_| anyhow!("the scenario's client thread stopped abnormally"))?;
    let summary = captured?;
    let observed = observed.context("the scenario's exchange failed")?;
    let (analyzer, totals) = tracker.finish();

    writeln!(out, "lab {}: {}", scenario.name, scenario.about)?;
    writeln!(
        out,
        "(captured on {} port {port}; analysed as: --frame {}{})\n",
        config.interface,
        scenario.frame,
        scenario
            .recv
            .map(|r| format!(" --recv {r}"))
            .unwrap_or_default()
    )?;
    writeln!(out, "What the program's own sockets saw:")?;
    for line in &observed {
        writeln!(out, "  {line}")?;
    }
    let flagged: Vec<String> = rx.try_iter().collect();
    if !flagged.is_empty() {
        writeln!(out, "\nFlagged as they completed:")?;
        for line in &flagged {
            writeln!(out, "  {line}")?;
        }
    }
    writeln!(out, "\nframescope's diagnosis:")?;
    let source = format!("live:{}", config.interface);
    let finished = Finished {
        source: &source,
        framing: &framing,
        summary: &summary.capture,
        totals: &totals,
        live: Some(&summary.stats),
        proxy: None,
    };
    print_report(
        &mut out,
        &ReportArgs {
            messages: false,
            max_messages: 0,
            max_stalls: usize::MAX,
            top: 0,
            max_stream_results: usize::MAX,
            format: AnalyzeFormat::Table,
        },
        &finished,
        &mut analyzer.into_report(),
    )?;
    writeln!(out, "\nWhy: {}", scenario.explanation)?;
    out.flush()?;
    drop(out);
    if summary.stats.lost_any() {
        warn_live(&summary.stats);
    }
    Ok(0)
}
