//! `framescope capture`: live capture with live analysis. Each flagged
//! message is printed as one line as soon as it completes; at the end, the
//! same report as `analyze`, plus libpcap's drop counters.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::analyze::{print_report, Finished};
use super::args::{AnalyzeFormat, CaptureArgs};
use crate::analysis::Analyzer;
use crate::capture::live::{self, LiveCapture, LiveConfig, LiveStats};
use crate::flow::Tracker;
use crate::output::{self, Collector, JsonLines, MessageRow, SCHEMA};
use crate::tls::{Decrypting, TlsLimits};

/// One compact line for a flagged message.
pub(super) fn flagged_line(r: &MessageRow) -> String {
    let m = &r.message;
    let mut status = m.status.name().to_string();
    if m.coalesced {
        status.push_str(",coalesced");
    }
    let records = if m.first_record == m.last_record {
        m.first_record.to_string()
    } else {
        format!("{}-{}", m.first_record, m.last_record)
    };
    let mut line = format!(
        "stream {} {} #{} {} len={} records={}",
        r.stream,
        r.dir.name(),
        m.index,
        status,
        m.len,
        records
    );
    if let Some(label) = &m.label {
        line.push(' ');
        line.push_str(label.as_str());
    }
    line
}

/// Prints libpcap's counters and, when anything was lost, the warning.
pub(super) fn warn_live(stats: &LiveStats) {
    let mut err = io::stderr().lock();
    let _ = writeln!(
        err,
        "framescope: {} packets captured; libpcap: {} received, {} dropped, {} dropped by the interface",
        stats.captured, stats.received, stats.dropped, stats.if_dropped
    );
    if let Some(w) = stats.warning() {
        let _ = writeln!(err, "framescope: {w}");
    }
}

impl CaptureArgs {
    fn config(&self) -> Result<LiveConfig> {
        let duration = match self.duration {
            Some(s) if !(s.is_finite() && s > 0.0) => {
                bail!("--duration {s}: give a positive number of seconds")
            }
            Some(s) => Some(Duration::from_secs_f64(s.min(1e9))),
            None => None,
        };
        Ok(LiveConfig {
            interface: self.interface.clone(),
            filter: self
                .filter
                .clone()
                .or_else(|| self.port.map(live::port_filter)),
            write: self.write.clone(),
            duration,
            count: self.count,
        })
    }
}

pub(super) fn run(args: &CaptureArgs) -> Result<u8> {
    let mut opts = args.analysis.options()?;
    // Live output is not held back while a stream's framing is detected.
    opts.sampling = crate::detect::SampleLimits::live();
    let config = args.config()?;
    let keys = super::load_keylog(&args.tls)?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        ctrlc::set_handler(move || stop.store(true, Ordering::Relaxed))
            .context("installing the Ctrl-C / SIGTERM handler")?;
    }
    let cap = LiveCapture::open(&config)?;
    let source = format!("live:{}", config.interface);
    eprintln!(
        "framescope: capturing on {} ({}){}; Ctrl-C to stop",
        config.interface,
        cap.link(),
        config
            .filter
            .as_deref()
            .map(|f| format!(", filter {f:?}"))
            .unwrap_or_default()
    );

    if args.output.format == AnalyzeFormat::Jsonl {
        let out = io::BufWriter::new(io::stdout().lock());
        let analyzer = Decrypting::new(
            Analyzer::new(opts, JsonLines::new(out, args.output.messages).block(0)),
            keys,
            TlsLimits::default(),
        );
        let mut tracker = Tracker::new(analyzer, args.limits.limits());
        let summary = cap.run(&stop, &mut tracker)?;
        warn_live(&summary.stats);
        let (decrypting, totals) = tracker.finish();
        let (analyzer, notes, more) = decrypting.into_parts();
        super::warn_tls(&notes, more);
        let mut lines = analyzer.into_report();
        lines.write(
            "capture",
            &serde_json::json!({
                "schema": SCHEMA, "file": source, "capture": summary.capture,
                "totals": totals, "live": summary.stats,
            }),
        );
        lines.finish()?;
        return Ok(0);
    }

    let mut collector = Collector::new(args.output.messages, args.output.max_messages, 10);
    collector.keep_streams(args.output.streams_kept(false));
    collector.keep_stalls(args.output.max_stalls);
    let to_stdout = args.output.format == AnalyzeFormat::Table;
    collector.on_flagged(Box::new(move |row| {
        let line = flagged_line(row);
        if to_stdout {
            let mut out = io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        } else {
            eprintln!("{line}");
        }
    }));
    let framing = super::analyze::framing_title(&opts);
    let analyzer = Decrypting::new(Analyzer::new(opts, collector), keys, TlsLimits::default());
    let mut tracker = Tracker::new(analyzer, args.limits.limits());
    let summary = cap.run(&stop, &mut tracker)?;
    let (decrypting, totals) = tracker.finish();
    let (analyzer, notes, more) = decrypting.into_parts();
    super::warn_tls(&notes, more);
    let mut out = io::BufWriter::new(io::stdout().lock());
    if to_stdout {
        writeln!(out)?;
    }
    let finished = Finished {
        source: &source,
        framing: &framing,
        summary: &summary.capture,
        totals: &totals,
        live: Some(&summary.stats),
        proxy: None,
    };
    let all = print_report(
        &mut out,
        &args.output,
        &finished,
        &mut analyzer.into_report(),
    )?;
    out.flush()?;
    drop(out);
    super::warn_summary(&source, &summary.capture);
    warn_live(&summary.stats);
    Ok(u8::from(output::fails(&all, &args.analysis.fail_on)))
}
