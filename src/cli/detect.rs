//! `framescope detect`: the framing of every TCP stream, as
//! [`crate::detect`](mod@crate::detect) infers it from the stream's first bytes.

use std::io::{self, Write};

use anyhow::Result;
use comfy_table::{Cell, CellAlignment, Table};

use super::args::{DetectArgs, TableFormat};
use crate::detect::Candidate;
use crate::flow::endpoint;

/// One stream's answer.
#[derive(serde::Serialize)]
struct Row {
    stream: u64,
    client: String,
    server: String,
    chosen: Candidate,
    runner_up: Option<Candidate>,
    note: Option<String>,
}

pub(super) fn run(args: &DetectArgs) -> Result<u8> {
    let found = crate::detect(
        args.input.file.as_path(),
        &args.input.reading(args.shard.shard),
    )?;
    let path = args.input.file.display().to_string();
    let read_something = super::warn_summary(&path, &found.capture);
    let rows: Vec<Row> = found
        .streams
        .into_iter()
        .map(|(info, d)| Row {
            stream: info.number,
            client: endpoint(&info.client),
            server: endpoint(&info.server),
            chosen: d.chosen,
            runner_up: d.runner_up,
            note: d.note,
        })
        .collect();
    let mut out = io::stdout().lock();
    match args.format {
        TableFormat::Json => {
            let doc = serde_json::json!({ "file": path, "streams": rows });
            serde_json::to_writer_pretty(&mut out, &doc)?;
            writeln!(out)?;
        }
        TableFormat::Table => {
            writeln!(out, "{}", table(&rows))?;
            writeln!(out, "{} TCP streams", rows.len())?;
        }
    }
    Ok(if read_something { 0 } else { 2 })
}

fn table(rows: &[Row]) -> Table {
    let mut t = crate::output::table();
    t.set_header(vec![
        "stream",
        "client",
        "server",
        "framing",
        "confidence",
        "msgs c>s",
        "msgs s>c",
        "runner-up",
        "note",
    ]);
    for r in rows {
        let runner_up = r.runner_up.as_ref().map_or(String::new(), |c| {
            format!("{} ({:.2})", c.spec, c.confidence)
        });
        t.add_row(vec![
            Cell::new(r.stream),
            Cell::new(&r.client),
            Cell::new(&r.server),
            Cell::new(r.chosen.spec.to_string()),
            Cell::new(format!("{:.2}", r.chosen.confidence)).set_alignment(CellAlignment::Right),
            Cell::new(r.chosen.messages[0]).set_alignment(CellAlignment::Right),
            Cell::new(r.chosen.messages[1]).set_alignment(CellAlignment::Right),
            Cell::new(runner_up),
            Cell::new(r.note.as_deref().unwrap_or("")),
        ]);
    }
    t
}
