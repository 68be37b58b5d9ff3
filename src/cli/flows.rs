//! `framescope flows`: one row per stream.

use std::io::{self, Write};

use anyhow::Result;
use comfy_table::{Cell, CellAlignment, Table};

use super::args::{FlowsArgs, TableFormat};
use crate::flow::reassembly::{Event, HalfStats};
use crate::flow::{endpoint, late_text, Dir, Proto, Sink, StreamInfo, StreamStats};
use crate::pipeline;

/// One finished stream.
#[derive(serde::Serialize)]
struct Row {
    #[serde(flatten)]
    info: StreamInfo,
    duration: f64,
    /// Per direction, as `{"client": .., "server": ..}`.
    #[serde(serialize_with = "crate::flow::per_dir")]
    dirs: [HalfStats; 2],
    evicted: bool,
    icmp: crate::icmp::IcmpErrors,
}

#[derive(Default)]
struct Rows(Vec<Row>);

impl Sink for Rows {
    type Stream = ();
    fn open(&mut self, _: &StreamInfo) {}
    fn event(&mut self, _: &mut (), _: Dir, _: Event<'_>) {}
    fn close(&mut self, _: (), info: &StreamInfo, stats: &StreamStats) {
        self.0.push(Row {
            info: *info,
            duration: stats.last_ts.secs_since(info.first_ts),
            dirs: stats.dirs,
            evicted: stats.evicted,
            icmp: stats.icmp,
        });
    }
}

pub(super) fn run(args: &FlowsArgs) -> Result<u8> {
    let done = crate::read(
        args.input.file.as_path(),
        &args.input.reading(args.shard.shard),
        Rows::default(),
        &mut |_| {},
    )?;
    let (summary, tstats) = (done.capture, done.totals);
    let path = args.input.file.display().to_string();
    let read_something = super::warn_summary(&path, &summary);
    let mut rows = done.sink.0;
    rows.sort_by_key(|r| (r.info.proto == Proto::Udp, r.info.number));
    let mut out = io::BufWriter::new(io::stdout().lock());
    match args.format {
        TableFormat::Json => {
            // Serialized straight from the rows: no document tree in memory.
            #[derive(serde::Serialize)]
            struct Doc<'a> {
                file: &'a str,
                capture: &'a pipeline::CaptureSummary,
                totals: &'a crate::flow::TrackerStats,
                streams: &'a [Row],
            }
            let doc = Doc {
                file: &path,
                capture: &summary,
                totals: &tstats,
                streams: &rows,
            };
            crate::output::pretty::to_writer(&mut out, &doc)?;
            writeln!(out)?;
        }
        TableFormat::Table => {
            writeln!(out, "{}", table(&rows))?;
            writeln!(
                out,
                "{} records, {} TCP streams, {} UDP flows",
                summary.records, tstats.tcp_streams, tstats.udp_streams
            )?;
            if let Some(late) = late_text(&tstats) {
                writeln!(out, "{late}")?;
            }
        }
    }
    out.flush()?;
    Ok(if read_something { 0 } else { 2 })
}

fn table(rows: &[Row]) -> Table {
    let mut t = crate::output::table();
    t.set_header(vec![
        "stream",
        "proto",
        "client",
        "server",
        "pkts c>s",
        "pkts s>c",
        "bytes c>s",
        "bytes s>c",
        "duration",
        "anomalies",
    ]);
    for r in rows {
        let mut cells = vec![
            Cell::new(r.info.number),
            Cell::new(match r.info.proto {
                Proto::Tcp => "tcp",
                Proto::Udp => "udp",
            }),
            Cell::new(endpoint(&r.info.client)),
            Cell::new(endpoint(&r.info.server)),
            Cell::new(r.dirs[0].packets),
            Cell::new(r.dirs[1].packets),
            Cell::new(r.dirs[0].bytes),
            Cell::new(r.dirs[1].bytes),
            Cell::new(format!("{:.3}s", r.duration)),
            Cell::new(anomalies(r)),
        ];
        for c in cells.iter_mut().skip(4).take(5) {
            *c = c.clone().set_alignment(CellAlignment::Right);
        }
        t.add_row(cells);
    }
    t
}

/// A compact list of what went wrong, per direction: `c: 3 retrans, 1 gap (1380 B)`.
fn anomalies(r: &Row) -> String {
    let mut parts = Vec::new();
    for (name, h) in [("c", &r.dirs[0]), ("s", &r.dirs[1])] {
        let mut p = Vec::new();
        if h.retransmissions > 0 {
            p.push(format!("{} retrans", h.retransmissions));
        }
        if h.out_of_order > 0 {
            p.push(format!("{} out-of-order", h.out_of_order));
        }
        if h.overlaps > 0 {
            p.push(format!("{} overlaps", h.overlaps));
        }
        if h.conflict_bytes > 0 {
            p.push(format!("{} conflicting bytes", h.conflict_bytes));
        }
        if h.gaps > 0 {
            p.push(format!("{} gaps ({} B)", h.gaps, h.gap_bytes));
        }
        if h.snaplen_cut > 0 {
            p.push(format!("{} cut by snaplen", h.snaplen_cut));
        }
        if let Some(first) = h.first_beyond_window {
            p.push(format!(
                "{} beyond the window (first: record {first})",
                h.beyond_window
            ));
        }
        if h.acked_unseen_tail > 1 {
            p.push(format!("{} B acked, not captured", h.acked_unseen_tail));
        }
        if h.rst > 0 {
            p.push("RST".to_string());
        }
        if !p.is_empty() {
            parts.push(format!("{name}: {}", p.join(", ")));
        }
    }
    if let (Some(kind), Some(record)) = (r.icmp.first, r.icmp.first_record) {
        parts.push(format!(
            "{} ICMP errors (first: {kind}, record {record})",
            r.icmp.count
        ));
    }
    if let Some(t) = &r.info.tunnel {
        parts.push(format!("in {:?} {} > {}", t.kind, t.outer_src, t.outer_dst));
    }
    if r.evicted {
        parts.push("evicted early".to_string());
    }
    parts.join("; ")
}
