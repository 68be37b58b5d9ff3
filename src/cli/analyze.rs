//! `framescope analyze`: frame every stream and report the sticky-packet
//! verdicts.

use std::io::{self, Write};

use anyhow::{Context, Result};

use super::args::{AnalysisArgs, AnalyzeArgs, AnalyzeFormat};
use crate::analysis::recv::RecvSizes;
use crate::analysis::{Analyzer, DirSummary, Options};
use crate::decode::spec::FrameSpec;
use crate::flow::{Dir, Tracker, TrackerStats};
use crate::live::LiveStats;
use crate::pipeline::{self, CaptureSummary};
use crate::report::{self, Collector, JsonLines, SCHEMA};

impl AnalysisArgs {
    /// Validates the flags into analysis options.
    pub fn options(&self) -> Result<Options> {
        let framing = match &self.frame {
            Some(spec) => FrameSpec::parse(spec)?,
            None => FrameSpec::None,
        };
        let recv = self
            .recv
            .as_deref()
            .map(RecvSizes::parse)
            .transpose()
            .map_err(anyhow::Error::msg)
            .context("--recv")?;
        Ok(Options {
            framing,
            recv,
            stall_threshold: (self.stall_threshold * 1e6) as i64,
        })
    }
}

pub(super) fn run(args: &AnalyzeArgs) -> Result<u8> {
    let opts = args.analysis.options()?;
    let path = args.input.file.display().to_string();
    if args.analysis.frame.is_none() {
        eprintln!(
            "framescope: no --frame given: each TCP segment and UDP datagram is taken as one message"
        );
    }
    if args.format == AnalyzeFormat::Jsonl {
        let out = io::BufWriter::with_capacity(1 << 16, io::stdout().lock());
        let analyzer = Analyzer::new(opts, JsonLines::new(out, args.messages));
        let mut tracker = Tracker::new(analyzer, args.input.limits());
        let summary = pipeline::run(&args.input.file, args.input.filter.as_deref(), &mut tracker)?;
        let read_something = super::warn_summary(&path, &summary);
        let (analyzer, totals) = tracker.finish();
        let mut lines = analyzer.into_report();
        lines.write(
            "capture",
            &serde_json::json!({"schema": SCHEMA, "file": path, "capture": summary, "totals": totals}),
        );
        lines.finish()?;
        return Ok(if read_something { 0 } else { 2 });
    }

    let collector = Collector::new(args.messages, args.max_messages, 10);
    let framing = opts.framing.to_string();
    let analyzer = Analyzer::new(opts, collector);
    let mut tracker = Tracker::new(analyzer, args.input.limits());
    let summary = pipeline::run(&args.input.file, args.input.filter.as_deref(), &mut tracker)?;
    let read_something = super::warn_summary(&path, &summary);
    let (analyzer, totals) = tracker.finish();
    let mut out = io::BufWriter::new(io::stdout().lock());
    let finished = Finished {
        source: &path,
        framing: &framing,
        summary: &summary,
        totals: &totals,
        live: None,
    };
    let all = print_report(
        &mut out,
        args.format,
        args.messages,
        &finished,
        analyzer.into_report(),
    )?;
    out.flush()?;
    if !read_something {
        return Ok(2);
    }
    Ok(u8::from(report::fails(&all, &args.analysis.fail_on)))
}

/// What a finished run read, for the report's header.
pub(super) struct Finished<'a> {
    /// The file, or `live:IFACE`.
    pub source: &'a str,
    /// The framing, as given.
    pub framing: &'a str,
    /// What the capture held.
    pub summary: &'a CaptureSummary,
    /// The flow table's totals.
    pub totals: &'a TrackerStats,
    /// libpcap's counters, for a live capture.
    pub live: Option<&'a LiveStats>,
}

/// Prints the table or JSON report of a finished [`Collector`] and returns
/// the totals over every stream. `Jsonl` prints the table: its records were
/// streamed already.
pub(super) fn print_report(
    out: &mut impl Write,
    format: AnalyzeFormat,
    all_messages: bool,
    f: &Finished<'_>,
    mut c: Collector,
) -> Result<DirSummary> {
    c.sort();
    let all = c.totals();
    match format {
        AnalyzeFormat::Json => {
            let mut doc = serde_json::json!({
                "schema": SCHEMA,
                "file": f.source,
                "framing": f.framing,
                "capture": f.summary,
                "totals": f.totals,
                "summary": all,
                "streams": c.streams,
                "messages": c.messages,
                "messages_dropped": c.messages_dropped,
            });
            if let (Some(live), Some(obj)) = (f.live, doc.as_object_mut()) {
                obj.insert("live".into(), serde_json::to_value(live)?);
            }
            serde_json::to_writer_pretty(&mut *out, &doc)?;
            writeln!(out)?;
        }
        AnalyzeFormat::Table | AnalyzeFormat::Jsonl => {
            writeln!(out, "framing: {}", f.framing)?;
            writeln!(out, "{}", report::summary_table(&c.streams))?;
            writeln!(
                out,
                "{} messages: {} split, {} coalesced segments, {} truncated, {} malformed, {} holed by capture gaps",
                all.messages,
                all.split_messages,
                all.coalesced_segments,
                all.truncated_messages,
                all.malformed_messages,
                all.gap_messages
            )?;
            if !c.messages.is_empty() {
                let what = if all_messages {
                    "Messages"
                } else {
                    "Flagged messages (first 10 per direction; --messages lists all)"
                };
                writeln!(out, "\n{what}:\n{}", report::message_table(&c.messages))?;
                if c.messages_dropped > 0 {
                    writeln!(
                        out,
                        "({} more not kept: --max-messages)",
                        c.messages_dropped
                    )?;
                }
            }
            for s in &c.streams {
                if let Some(r) = &s.recv {
                    for dir in Dir::BOTH {
                        let text = report::recv_text(&s.info, dir, &r[dir.index()]);
                        if !text.is_empty() {
                            writeln!(out, "\n{text}")?;
                        }
                    }
                }
            }
            let stalls = report::stalls_text(&c.streams);
            if !stalls.is_empty() {
                writeln!(out, "\n{stalls}")?;
            }
        }
    }
    Ok(all)
}
