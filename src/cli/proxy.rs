//! `framescope proxy`: a TCP proxy that re-cuts live traffic and analyses
//! both directions. Flagged messages, answers to partial messages and
//! finished connections are printed as they happen; at the end, the report
//! of `analyze` and what each side did.

use std::io::{self, Write};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::analyze::{print_report, Finished};
use super::args::{AnalyzeFormat, ProxyArgs};
use super::capture::flagged_line;
use crate::analysis::{Message, Report, StreamResult};
use crate::capture::Timestamp;
use crate::decode::spec::FrameSpec;
use crate::flow::{Dir, StreamInfo};
use crate::output::{self, Collector, JsonLines, SCHEMA};
use crate::proxy::{End, Event, Observer, Proxy, ProxyConfig, ProxySummary};

/// Connection rows the table shows.
const CONNECTION_ROWS: usize = 40;

/// Prints one live line: to stdout with the table, else to stderr.
fn live_line(to_stdout: bool, line: &str) {
    if to_stdout {
        let mut out = io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    } else {
        eprintln!("{line}");
    }
}

fn event_line(event: &Event<'_>) -> String {
    match event {
        Event::Listening { listen, target } => {
            format!("proxying {listen} -> {target}")
        }
        Event::Ended(c) => c.text(),
        Event::Finding(f) => format!("FINDING: {}", f.text()),
        Event::Rejected {
            client,
            open,
            bound,
        } => format!(
            "connection from {client} rejected (reset): {open} connections open, the bound is {bound} (--max-connections)"
        ),
    }
}

/// The table and JSON outputs: a collector, with live lines.
struct Lines {
    collector: Collector,
    to_stdout: bool,
}

impl Report for Lines {
    fn message(&mut self, stream: &StreamInfo, dir: Dir, message: &Message) {
        self.collector.message(stream, dir, message);
    }

    fn stream(&mut self, result: StreamResult) {
        self.collector.stream(result);
    }
}

impl Observer for Lines {
    fn proxy_event(&mut self, event: &Event<'_>) {
        if matches!(event, Event::Listening { .. }) {
            eprintln!("framescope: {}; Ctrl-C to stop", event_line(event));
            return;
        }
        live_line(self.to_stdout, &event_line(event));
    }
}

/// `--format jsonl`: every record as it comes.
struct Records {
    lines: JsonLines<io::BufWriter<io::Stdout>>,
}

impl Report for Records {
    fn message(&mut self, stream: &StreamInfo, dir: Dir, message: &Message) {
        self.lines.message(stream, dir, message);
    }

    fn stream(&mut self, result: StreamResult) {
        self.lines.stream(result);
    }

    fn segment(
        &mut self,
        stream: &StreamInfo,
        dir: Dir,
        record: u64,
        offset: u64,
        bytes: &[u8],
        ts: Timestamp,
    ) {
        self.lines.segment(stream, dir, record, offset, bytes, ts);
    }
}

impl Observer for Records {
    fn proxy_event(&mut self, event: &Event<'_>) {
        match event {
            Event::Listening { listen, target } => {
                eprintln!("framescope: proxying {listen} -> {target}; Ctrl-C to stop");
            }
            Event::Ended(c) => self.lines.write("connection", c),
            Event::Finding(f) => self.lines.write("finding", f),
            Event::Rejected {
                client,
                open,
                bound,
            } => self.lines.write(
                "rejected",
                &serde_json::json!({"client": client, "open": open, "bound": bound}),
            ),
        }
    }
}

impl ProxyArgs {
    fn config(&self) -> Result<ProxyConfig> {
        let duration = match self.duration {
            Some(s) if !(s.is_finite() && s > 0.0) => {
                bail!("--duration {s}: give a positive number of seconds")
            }
            Some(s) => Some(Duration::from_secs_f64(s.min(1e9))),
            None => None,
        };
        if self.max_connections == 0 {
            bail!("--max-connections 0: give at least 1");
        }
        let framing = self
            .analysis
            .frame
            .as_deref()
            .map(FrameSpec::parse)
            .transpose()?;
        Ok(ProxyConfig {
            allow_remote: self.allow_remote,
            client_cut: self.split_client,
            server_cut: self.split_server,
            framing,
            max_connections: self.max_connections,
            connections: self.connections,
            duration,
            connect_timeout: Duration::from_millis(self.connect_timeout.max(1)),
            write: self.write.clone(),
            ..ProxyConfig::new(&self.listen, &self.to)
        })
    }
}

/// What each side did, and the answers to partial messages.
fn proxy_text(out: &mut impl Write, s: &ProxySummary) -> Result<()> {
    let ends = |m: &std::collections::HashMap<End, u64>| {
        let mut v: Vec<String> = [
            End::Closed,
            End::Reset,
            End::Hung,
            End::Refused,
            End::Unreachable,
            End::Cut,
        ]
        .iter()
        .filter_map(|e| m.get(e).map(|n| format!("{n} {}", e.name())))
        .collect();
        if v.is_empty() {
            v.push("none".to_string());
        }
        v.join(", ")
    };
    writeln!(
        out,
        "\nproxy {} -> {}: to the server {}, to the client {}",
        s.listen.map(|a| a.to_string()).unwrap_or_default(),
        s.target.map(|a| a.to_string()).unwrap_or_default(),
        s.split_client,
        s.split_server
    )?;
    writeln!(
        out,
        "{} connections ({} rejected at the bound of {}; at most {} open at once)",
        s.connections, s.rejected, s.max_connections, s.peak_open
    )?;
    writeln!(out, "clients: {}", ends(&s.client_ends))?;
    writeln!(out, "servers: {}", ends(&s.server_ends))?;
    if !s.rows.is_empty() {
        let mut t = output::table();
        t.set_header([
            "conn",
            "client",
            "streams",
            "client end",
            "server end",
            "to server",
            "to client",
            "findings",
        ]);
        for r in s.rows.iter().take(CONNECTION_ROWS) {
            let streams = r
                .streams
                .iter()
                .flatten()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(" ");
            t.add_row([
                r.id.to_string(),
                r.client.to_string(),
                streams,
                r.client_end.name().to_string(),
                r.server_end.name().to_string(),
                format!("{} B / {} writes", r.bytes[0], r.writes[0]),
                format!("{} B / {} writes", r.bytes[1], r.writes[1]),
                r.findings.to_string(),
            ]);
        }
        writeln!(out, "{t}")?;
        let more = s.rows.len().saturating_sub(CONNECTION_ROWS) as u64 + s.rows_dropped;
        if more > 0 {
            writeln!(out, "({more} more connections: --format json lists them)")?;
        }
    }
    if s.findings.is_empty() {
        writeln!(out, "no peer answered a partial message")?;
    } else {
        writeln!(
            out,
            "{} answers to partial messages (a peer that takes each recv() as a message):",
            s.findings.len() as u64 + s.findings_dropped
        )?;
        for f in s.findings.iter().take(CONNECTION_ROWS) {
            writeln!(out, "  {}", f.text())?;
        }
    }
    Ok(())
}

pub(super) fn run(args: &ProxyArgs) -> Result<u8> {
    let opts = args.analysis.options()?;
    let config = args.config()?;
    let proxy = Proxy::bind(config)?;
    {
        let stopper = proxy.stopper();
        ctrlc::set_handler(move || stopper.stop())
            .context("installing the Ctrl-C / SIGTERM handler")?;
    }
    let limits = args.limits.limits();
    let source = format!("proxy:{}", proxy.local_addr());

    if args.output.format == AnalyzeFormat::Jsonl {
        let lines = JsonLines::new(io::BufWriter::new(io::stdout()), args.output.messages).block(0);
        let outcome = proxy.run(opts, limits, Records { lines })?;
        let mut lines = outcome.report.lines;
        lines.write(
            "capture",
            &serde_json::json!({
                "schema": SCHEMA, "file": source, "capture": outcome.capture,
                "totals": outcome.totals, "proxy": outcome.summary,
            }),
        );
        lines.finish()?;
        warn_write(&outcome.summary);
        return Ok(u8::from(!outcome.summary.findings.is_empty()));
    }

    let to_stdout = args.output.format == AnalyzeFormat::Table;
    let mut collector = Collector::new(args.output.messages, args.output.max_messages, 10);
    collector.keep_streams(args.output.streams_kept(false));
    collector.keep_stalls(args.output.max_stalls);
    collector.on_flagged(Box::new(move |row| {
        live_line(to_stdout, &flagged_line(row))
    }));
    let framing = if opts.detect {
        "detected per stream (confidence in brackets; --frame SPEC sets it)".to_string()
    } else {
        opts.framing.to_string()
    };
    let outcome = proxy.run(
        opts,
        limits,
        Lines {
            collector,
            to_stdout,
        },
    )?;
    let mut out = io::BufWriter::new(io::stdout().lock());
    if to_stdout {
        writeln!(out)?;
    }
    let finished = Finished {
        source: &source,
        framing: &framing,
        summary: &outcome.capture,
        totals: &outcome.totals,
        live: None,
        proxy: Some(&outcome.summary),
    };
    let mut collector = outcome.report.collector;
    let all = print_report(&mut out, &args.output, &finished, &mut collector)?;
    if to_stdout {
        proxy_text(&mut out, &outcome.summary)?;
    }
    out.flush()?;
    drop(out);
    warn_write(&outcome.summary);
    let found = !outcome.summary.findings.is_empty();
    Ok(u8::from(
        found || output::fails(&all, &args.analysis.fail_on),
    ))
}

fn warn_write(s: &ProxySummary) {
    if let Some(e) = &s.write_error {
        eprintln!("framescope: warning: writing the capture failed: {e}; it is incomplete");
    }
}
