//! `framescope detect`: the framing of every TCP stream, as
//! [`crate::detect`](mod@crate::detect) infers it from the stream's first bytes.

use std::io::{self, Write};

use anyhow::Result;
use comfy_table::{Cell, CellAlignment, Table};

use super::args::{DetectArgs, TableFormat};
use crate::detect::{Candidate, Sampler};
use crate::flow::{endpoint, StreamInfo};
use crate::tls::{Decrypting, TlsLimits};

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
    let mut rows = Vec::new();
    let sampler = Sampler::new(|info: &StreamInfo, _: &_, d: crate::detect::Detection| {
        rows.push(Row {
            stream: info.number,
            client: endpoint(&info.client),
            server: endpoint(&info.server),
            chosen: d.chosen,
            runner_up: d.runner_up,
            note: d.note,
        });
    });
    let keys = super::load_keylog(&args.tls)?;
    let decrypting = Decrypting::new(sampler, keys, TlsLimits::default());
    let done = crate::read(
        args.input.file.as_path(),
        &args.input.reading(args.shard.shard),
        decrypting,
        &mut |_| {},
    )?;
    let path = args.input.file.display().to_string();
    let read_something = super::warn_summary(&path, &done.capture);
    let decrypting = done.sink;
    let decrypted = decrypting.decrypted();
    let (_, notes, more) = decrypting.into_parts();
    super::warn_tls(&notes, more);
    rows.sort_by_key(|r| r.stream);
    let mut out = io::stdout().lock();
    match args.format {
        TableFormat::Json => {
            let doc = serde_json::json!({ "file": path, "streams": rows });
            crate::output::pretty::to_writer(&mut out, &doc)?;
            writeln!(out)?;
        }
        TableFormat::Table => {
            writeln!(out, "{}", table(&rows))?;
            if args.tls.keylog.is_some() {
                writeln!(
                    out,
                    "{} TCP streams, {decrypted} decrypted with the key log",
                    rows.len()
                )?;
            } else {
                writeln!(out, "{} TCP streams", rows.len())?;
            }
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
