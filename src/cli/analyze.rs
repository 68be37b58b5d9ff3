//! `framescope analyze`: frame every stream and report the sticky-packet
//! verdicts.

use std::io::{self, IsTerminal, Write};

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

mod pictures;

use super::args::{AnalysisArgs, AnalyzeArgs, AnalyzeFormat, ReportArgs};
use crate::analysis::recv::RecvSizes;
use crate::analysis::{Analyzer, DirSummary, Options};
use crate::annotate::Annotator;
use crate::capture::live::LiveStats;
use crate::decode::spec::FrameSpec;
use crate::flow::{Dir, Proto, Tracker, TrackerStats};
use crate::output::timeline::Timeline;
use crate::output::{self, Collector, JsonLines, SCHEMA};
use crate::pipeline::{self, CaptureSummary, Progress};
use crate::tls::{Decrypting, TlsLimits};

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
            detect: self.frame.is_none(),
            recv,
            stall_threshold: (self.stall_threshold * 1e6) as i64,
            sampling: crate::detect::SampleLimits::default(),
            only: None,
        })
    }
}

/// Flagged messages kept for the table without `--messages`: enough for
/// the sample it shows.
const FLAGGED_ROWS: usize = 100;

/// The `--format json` document (schema in the README). It is written by
/// [`Document::write`]; its `Serialize`, which writes the same bytes on one
/// thread, is what that is tested against.
#[derive(serde::Serialize)]
struct Document<'a> {
    schema: &'a str,
    file: &'a str,
    framing: &'a str,
    capture: &'a CaptureSummary,
    totals: &'a TrackerStats,
    summary: &'a crate::analysis::DirSummary,
    streams: &'a [crate::analysis::StreamResult],
    messages: &'a output::rows::Rows,
    messages_dropped: u64,
    stalls_dropped: u64,
    streams_without_data: u64,
    streams_dropped: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    live: Option<&'a LiveStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    proxy: Option<&'a crate::proxy::ProxySummary>,
}

impl<'a> Document<'a> {
    /// The document of a finished, sorted collector whose totals are `all`.
    fn of(f: &Finished<'a>, c: &'a Collector, all: &'a crate::analysis::DirSummary) -> Self {
        Document {
            schema: SCHEMA,
            file: f.source,
            framing: f.framing,
            capture: f.summary,
            totals: f.totals,
            summary: all,
            streams: &c.streams,
            messages: &c.messages,
            messages_dropped: c.messages_dropped,
            stalls_dropped: c.stalls_dropped,
            streams_without_data: c.streams_without_data,
            streams_dropped: c.dropped.streams,
            live: f.live,
            proxy: f.proxy,
        }
    }

    /// Threads rendering the stream and message lists, at most.
    const THREADS: usize = 4;

    /// Writes the document: the bytes [`crate::output::pretty::to_writer`]
    /// writes for it, field by field, with the stream and message lists
    /// rendered on up to [`Document::THREADS`] threads (no more than the
    /// machine's cores). The analysis is over by then: its threads are
    /// idle.
    fn write(&self, out: impl Write) -> serde_json::Result<()> {
        let threads = pipeline::cores().min(Self::THREADS);
        let mut o = crate::output::pretty::Object::begin(out)?;
        o.field("schema", self.schema)?;
        o.field("file", self.file)?;
        o.field("framing", self.framing)?;
        o.field("capture", self.capture)?;
        o.field("totals", self.totals)?;
        o.field("summary", self.summary)?;
        o.streams("streams", self.streams, threads)?;
        o.rows("messages", self.messages, threads)?;
        o.field("messages_dropped", &self.messages_dropped)?;
        o.field("stalls_dropped", &self.stalls_dropped)?;
        o.field("streams_without_data", &self.streams_without_data)?;
        o.field("streams_dropped", &self.streams_dropped)?;
        if let Some(live) = self.live {
            o.field("live", live)?;
        }
        if let Some(proxy) = self.proxy {
            o.field("proxy", proxy)?;
        }
        o.end().map(drop)
    }
}

/// A progress bar on stderr for long reads of regular files, drawn only
/// when stderr is a terminal.
fn progress_bar(path: &std::path::Path) -> Option<ProgressBar> {
    if !io::stderr().is_terminal() {
        return None;
    }
    let len = std::fs::metadata(path).ok().filter(|m| m.is_file())?.len();
    let bar = ProgressBar::new(len);
    let style =
        ProgressStyle::with_template("{bar:30} {bytes}/{total_bytes} {bytes_per_sec} {msg}")
            .ok()?;
    bar.set_style(style);
    Some(bar)
}

/// What a run of the analysis leaves: the results, the pictures' timeline
/// and the packet comments when asked for, the capture summary and the
/// tracker's counters.
type Collected = (
    Collector,
    (Option<Timeline>, Option<Annotator>),
    CaptureSummary,
    TrackerStats,
);

/// Set, `analyze` says on stderr how much CPU time each thread that
/// followed flows took (`benches/run.sh` reads it for its estimate of more
/// cores).
pub const THREAD_TIMES_ENV: &str = "FRAMESCOPE_THREAD_TIMES";

/// The CPU time the calling thread has run for, from
/// `/proc/thread-self/schedstat` (Linux; `None` elsewhere or when it
/// cannot be read).
fn thread_cpu_time() -> Option<std::time::Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns = text.split_whitespace().next()?.parse().ok()?;
    Some(std::time::Duration::from_nanos(ns))
}

/// `CPU time by thread: main 31.204 ms (1 share of the flows), worker-1
/// 36.412 ms (3 shares)`: the threads of [`collect`] in order, the reader
/// first, with the shares of the flows they followed
/// ([`pipeline::WORKER_SHARE`]).
fn thread_times_text<T>(finished: &[(T, Option<std::time::Duration>)]) -> String {
    let threads: Vec<String> = finished
        .iter()
        .enumerate()
        .map(|(k, (_, cpu))| {
            let name = if k == 0 {
                "main".to_string()
            } else {
                format!("worker-{k}")
            };
            let time = cpu.map_or("unknown".to_string(), |d| {
                format!("{:.3} ms", d.as_secs_f64() * 1e3)
            });
            let shares = match (finished.len(), k) {
                (1, _) => "all flows".to_string(),
                (_, 0) => "1 share of the flows".to_string(),
                _ => format!("{} shares", pipeline::WORKER_SHARE),
            };
            format!("{name} {time} ({shares})")
        })
        .collect();
    format!("CPU time by thread: {}", threads.join(", "))
}

/// The packet comments `--annotate` asks for.
fn annotator(args: &AnalyzeArgs) -> Option<Annotator> {
    args.annotate
        .as_ref()
        .map(|_| Annotator::new(args.output.messages))
}

/// Writes the `--annotate` capture and says what it holds.
fn write_annotated(args: &AnalyzeArgs, annotator: Option<Annotator>) -> Result<()> {
    let (Some(out), Some(annotator)) = (&args.annotate, annotator) else {
        return Ok(());
    };
    let dropped = annotator.dropped();
    let comments = annotator.comments();
    let (w, damage) = crate::annotate::write_annotated(&args.input.file, &comments, out)?;
    let mut err = io::stderr().lock();
    writeln!(
        err,
        "framescope: wrote {}: {} records, {} comments on {} of them",
        out.display(),
        w.records,
        w.comments,
        w.commented_records
    )?;
    if let Some(e) = damage {
        writeln!(
            err,
            "framescope: warning: {}: the copy stops at the damage: {e}",
            out.display()
        )?;
    }
    if w.uncommentable > 0 {
        writeln!(
            err,
            "framescope: warning: {} records are simple packet blocks, which hold no comments",
            w.uncommentable
        )?;
    }
    if dropped > 0 {
        writeln!(
            err,
            "framescope: warning: {dropped} comments not written: at most {} are kept",
            crate::annotate::MAX_COMMENTS
        )?;
    }
    Ok(())
}

/// Runs the analysis over the capture with `jobs` workers and returns the
/// merged collector.
fn collect(args: &AnalyzeArgs, opts: &Options) -> Result<Collected> {
    // Pictures are drawn from one worker's timeline: they run single-threaded.
    let jobs = if pictures::timeline(args).is_some() {
        1
    } else {
        args.jobs.max(1)
    };
    if jobs > 1 && args.input.file.as_os_str() == "-" {
        bail!("--jobs needs a file: standard input can be read only once");
    }
    let jobs = match pipeline::jobs_for(jobs) {
        fewer if fewer < jobs => {
            let cores = pipeline::cores();
            eprintln!(
                "framescope: --jobs {jobs} runs {fewer} thread{} of analysis here: this machine \
                 has {cores} core{}, and one is left for reading ahead, which is faster than \
                 more threads than cores ({}=1 runs {jobs})",
                if fewer == 1 { "" } else { "s" },
                if cores == 1 { "" } else { "s" },
                pipeline::JOBS_UNCAPPED_ENV
            );
            fewer
        }
        all => all,
    };
    let keys = super::load_keylog(&args.tls)?;
    let bar = progress_bar(&args.input.file);
    let make = || {
        // The table shows a sample of flagged messages: keep only that
        // many, so memory does not grow with the number of streams; JSON
        // keeps 10 per direction.
        let keep = match (args.output.messages, args.output.format) {
            (false, AnalyzeFormat::Table) => FLAGGED_ROWS,
            _ => args.output.max_messages,
        };
        let mut collector = Collector::new(args.output.messages, keep, 10);
        collector.keep_streams(
            args.output
                .streams_kept(args.diagram || args.html.is_some()),
        );
        collector.keep_stalls(args.output.max_stalls);
        let analyzer = Decrypting::new(
            Analyzer::new(
                opts.clone(),
                (collector, (pictures::timeline(args), annotator(args))),
            ),
            keys.clone(),
            TlsLimits::default(),
        );
        Tracker::new(analyzer, args.input.limits.limits())
    };
    // What a worker hands back: its report, without the decoders (which
    // stay on its thread).
    type Worker = Decrypting<
        Analyzer<(
            Collector,
            (Option<Timeline>, Option<crate::annotate::Annotator>),
        )>,
    >;
    let timed = std::env::var_os(THREAD_TIMES_ENV).is_some();
    // Runs on the thread that followed the flows, once it has finished.
    let done = |decrypting: Worker, _stats: TrackerStats| {
        let (analyzer, notes, more) = decrypting.into_parts();
        super::warn_tls(&notes, more);
        let cpu = timed.then(thread_cpu_time).flatten();
        (analyzer.into_report(), cpu)
    };
    let mut observe = |p: Progress| {
        if let Some(b) = &bar {
            b.set_position(p.bytes);
            if p.open_streams > 0 {
                b.set_message(format!(
                    "{} records, {} flows open",
                    p.records, p.open_streams
                ));
            } else {
                b.set_message(format!("{} records", p.records));
            }
        }
    };
    let user = args.shard.shard.unwrap_or_default();
    let (summary, stats, finished) = if jobs == 1 {
        let mut tracker = make().with_shard(user);
        let summary = pipeline::run_observed(
            &args.input.file,
            args.input.filter.as_deref(),
            &mut tracker,
            &mut observe,
        )?;
        let (sink, stats) = tracker.finish();
        (summary, stats, vec![done(sink, stats)])
    } else {
        // One thread reads, numbers and hands out records; every thread
        // (the reader too) follows its share of the flows.
        pipeline::run_parallel(
            &args.input.file,
            args.input.filter.as_deref(),
            user,
            jobs,
            &make,
            &done,
            &mut observe,
        )?
    };
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if timed {
        eprintln!("framescope: {}", thread_times_text(&finished));
    }
    let mut merged: Option<Collected> = None;
    for ((c, extras), _) in finished {
        match &mut merged {
            None => merged = Some((c, extras, CaptureSummary::default(), stats)),
            Some((m, (_, mnotes), _, _)) => {
                m.merge(c);
                if let (Some(mine), (_, Some(theirs))) = (mnotes, extras) {
                    mine.merge(theirs);
                }
            }
        }
    }
    let mut merged = merged.ok_or_else(|| anyhow::anyhow!("no worker ran"))?;
    merged.2 = summary;
    Ok(merged)
}

pub(super) fn run(args: &AnalyzeArgs) -> Result<u8> {
    let mut opts = args.analysis.options()?;
    opts.only = args.stream.map(|n| {
        let proto = if args.udp { Proto::Udp } else { Proto::Tcp };
        (proto, n)
    });
    let path = args.input.file.display().to_string();
    if args.diagram && args.output.format != AnalyzeFormat::Table {
        anyhow::bail!("--diagram draws with --format table only");
    }
    if args.annotate.is_some() && args.input.file.as_os_str() == "-" {
        anyhow::bail!("--annotate needs a file: standard input can be read only once");
    }
    if args.output.format == AnalyzeFormat::Jsonl {
        if args.html.is_some() {
            anyhow::bail!("--html needs --format table or json");
        }
        // JsonLines writes in blocks of its own, on a thread of its own.
        let lines = JsonLines::in_background(io::stdout(), args.output.messages)?;
        let analyzer = Decrypting::new(
            Analyzer::new(opts, (lines, annotator(args))),
            super::load_keylog(&args.tls)?,
            TlsLimits::default(),
        );
        let done = crate::read(
            args.input.file.as_path(),
            &args.input.reading(args.shard.shard),
            analyzer,
            &mut |_| {},
        )?;
        let (summary, totals) = (done.capture, done.totals);
        let read_something = super::warn_summary(&path, &summary);
        let (analyzer, tls_notes, more) = done.sink.into_parts();
        super::warn_tls(&tls_notes, more);
        let (mut lines, notes) = analyzer.into_report();
        lines.write(
            "capture",
            &serde_json::json!({"schema": SCHEMA, "file": path, "capture": summary, "totals": totals}),
        );
        lines.finish()?;
        write_annotated(args, notes)?;
        return Ok(if read_something { 0 } else { 2 });
    }

    let framing = framing_title(&opts);
    let (mut c, (timeline, notes), summary, totals) = collect(args, &opts)?;
    let read_something = super::warn_summary(&path, &summary);
    warn_encrypted(&c);
    let mut out = io::BufWriter::new(io::stdout().lock());
    let finished = Finished {
        source: &path,
        framing: &framing,
        summary: &summary,
        totals: &totals,
        live: None,
        proxy: None,
    };
    let all = print_report(&mut out, &args.output, &finished, &mut c)?;
    if let Some(t) = timeline {
        pictures::write(args, &format!("{path}, framing {framing}"), &c, t, &mut out)?;
    }
    out.flush()?;
    write_annotated(args, notes)?;
    if !read_something {
        return Ok(2);
    }
    Ok(u8::from(output::fails(&all, &args.analysis.fail_on)))
}

/// Says on stderr how many streams were framed as TLS records only, and
/// what would decrypt them.
fn warn_encrypted(c: &Collector) {
    let tls =
        c.streams.iter().filter(|s| s.framing == "tls").count() as u64 + c.dropped.tls_records;
    if tls > 0 {
        eprintln!(
            "framescope: {tls} TCP streams framed as TLS records: {}",
            output::TLS_RECORDS_ONLY
        );
    }
}

/// The framing as the report's header names it.
pub(super) fn framing_title(opts: &Options) -> String {
    if opts.detect {
        "detected per stream (confidence in brackets; --frame SPEC sets it)".to_string()
    } else {
        opts.framing.to_string()
    }
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
    /// What the proxy did, for `proxy`.
    pub proxy: Option<&'a crate::proxy::ProxySummary>,
}

/// Prints the table or JSON report of a finished [`Collector`] (sorting it)
/// and returns the totals over every stream. `Jsonl` prints the table: its
/// records were streamed already.
pub(super) fn print_report(
    out: &mut impl Write,
    shown: &ReportArgs,
    f: &Finished<'_>,
    c: &mut Collector,
) -> Result<DirSummary> {
    let (format, all_messages, top) = (shown.format, shown.messages, shown.top);
    c.sort();
    let all = c.totals();
    match format {
        AnalyzeFormat::Json => {
            c.drop_messages_of_dropped_streams();
            Document::of(f, c, &all).write(&mut *out)?;
            writeln!(out)?;
        }
        AnalyzeFormat::Table | AnalyzeFormat::Jsonl => {
            let limit = |n: usize| if top == 0 { n } else { n.min(top) };
            // The message sample and the stall table take half as many rows
            // each, so that the whole report stays within a screen or two.
            let rows = if top == 0 { 0 } else { top.div_ceil(2) };
            let sample = |n: usize| if rows == 0 { n } else { n.min(rows) };
            writeln!(out, "framing: {}", f.framing)?;
            writeln!(out, "{}", c.totals_line())?;
            if let Some(late) = crate::flow::late_text(f.totals) {
                writeln!(out, "{late}")?;
            }
            let ranked = output::ranked(&c.streams);
            let shown = &ranked[..limit(ranked.len())];
            if !shown.is_empty() {
                writeln!(out, "{}", output::summary_table(shown))?;
            }
            let more = (ranked.len() - shown.len()) as u64 + c.dropped.streams;
            if more > 0 {
                writeln!(
                    out,
                    "and {more} more streams (--top 0 or --format jsonl for all)"
                )?;
            }
            if !c.messages.is_empty() {
                // Messages of the streams shown first, in their order, then
                // those of others (not kept: the table keeps the streams it
                // shows) stream by stream.
                let rank: std::collections::HashMap<_, usize> = ranked
                    .iter()
                    .enumerate()
                    .map(|(i, s)| ((s.info.proto, s.info.number), i))
                    .collect();
                c.messages.sort_by_key(|m| {
                    let r = rank
                        .get(&(m.proto, m.stream))
                        .copied()
                        .unwrap_or(usize::MAX);
                    (r, m.proto, m.stream, m.dir.index(), m.index)
                });
                let (what, rows) = if all_messages {
                    ("Messages", c.messages.len())
                } else {
                    (
                        "Flagged messages (a sample; --messages lists all)",
                        sample(c.messages.len()),
                    )
                };
                writeln!(
                    out,
                    "\n{what}:\n{}",
                    output::message_table(&c.messages.iter().take(rows).collect::<Vec<_>>())
                )?;
                let listed = if all_messages {
                    all.messages
                } else {
                    all.flagged_messages
                };
                let more = listed.saturating_sub(rows as u64);
                if more > 0 {
                    writeln!(
                        out,
                        "and {more} more {} (--top 0, --messages, or --format json)",
                        if all_messages {
                            "messages"
                        } else {
                            "flagged messages"
                        }
                    )?;
                }
            }
            for s in shown {
                if let Some(r) = &s.recv {
                    for dir in Dir::BOTH
                        .into_iter()
                        .filter(|d| s.dirs[d.index()].bytes > 0)
                    {
                        let text = output::recv_text(&s.info, dir, &r[dir.index()]);
                        if !text.is_empty() {
                            writeln!(out, "\n{text}")?;
                        }
                    }
                }
            }
            let stalls = output::stalls_text(&ranked, c.dropped.stall_records, rows);
            if !stalls.is_empty() {
                writeln!(out, "\n{stalls}")?;
            }
        }
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    /// The document written field by field, its lists on several threads,
    /// is the one `Serialize` writes, on a real capture whose lists take
    /// many batches, with and without the optional fields.
    #[test]
    fn the_document_written_in_parallel_is_the_serialized_one() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/captures/servers/redis.pcap");
        let cli = Cli::try_parse_from([
            "framescope",
            "analyze",
            path,
            "--frame",
            "resp",
            "--messages",
        ])
        .expect("arguments");
        let Command::Analyze(args) = &cli.command else {
            panic!("not analyze");
        };
        let opts = args.analysis.options().expect("options");
        let (mut c, _, summary, totals) = collect(args, &opts).expect("the analysis");
        c.sort();
        let all = c.totals();
        c.drop_messages_of_dropped_streams();
        assert!(
            c.messages.len() > 10 * crate::output::pretty::BATCH,
            "{}",
            c.messages.len()
        );
        assert!(c.streams.len() > 1, "{}", c.streams.len());
        let (live, proxy) = (LiveStats::default(), crate::proxy::ProxySummary::default());
        for extras in [false, true] {
            let finished = Finished {
                source: path,
                framing: "resp",
                summary: &summary,
                totals: &totals,
                live: extras.then_some(&live),
                proxy: extras.then_some(&proxy),
            };
            let doc = Document::of(&finished, &c, &all);
            let mut ours = Vec::new();
            doc.write(&mut ours).expect("written");
            let mut theirs = Vec::new();
            crate::output::pretty::to_writer(&mut theirs, &doc).expect("serialized");
            assert!(ours == theirs, "the documents differ (extras: {extras})");
        }
    }
}
