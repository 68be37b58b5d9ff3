//! `analyze --diagram` and `--html`: what to keep while analysing, and
//! where the pictures go.

use std::io::Write;

use anyhow::{Context, Result};

use crate::cli::args::AnalyzeArgs;
use crate::flow::{endpoint, Dir, Proto};
use crate::output::timeline::{self, Timeline};
use crate::output::Collector;
use crate::output::{diagram, html};

/// Segments and messages kept per direction for the HTML page.
const HTML_PER_DIR: usize = 5_000;

/// Bytes kept per direction to label the diagram's boxes.
const DIAGRAM_BYTES: usize = 16 << 10;

/// The timeline to fill, when a picture is asked for. The diagram keeps
/// eight segments per message drawn, so that split messages are covered.
pub(super) fn timeline(args: &AnalyzeArgs) -> Option<Timeline> {
    let diagram = if args.diagram {
        args.diagram_messages.saturating_mul(8).max(8)
    } else {
        0
    };
    let html = if args.html.is_some() { HTML_PER_DIR } else { 0 };
    let bytes = if args.diagram { DIAGRAM_BYTES } else { 0 };
    (args.diagram || args.html.is_some()).then(|| Timeline::new(diagram.max(html), bytes))
}

/// Prints the diagram to `out` and writes the HTML page.
pub(super) fn write(
    args: &AnalyzeArgs,
    heading: &str,
    c: &Collector,
    t: Timeline,
    out: &mut impl Write,
) -> Result<()> {
    let timelines = t.into_streams();
    if let Some(file) = &args.html {
        let page = html::page(heading, &c.streams, &timelines);
        std::fs::write(file, page).with_context(|| format!("--html {}", file.display()))?;
    }
    if !args.diagram {
        return Ok(());
    }
    let color = timeline::use_color();
    let opts = diagram::Options {
        width: timeline::terminal_width(),
        color,
        max_messages: args.diagram_messages,
    };
    writeln!(out)?;
    for st in &timelines {
        let result = c
            .streams
            .iter()
            .find(|s| s.info.proto == st.info.proto && s.info.number == st.info.number);
        for dir in Dir::BOTH {
            let d = &st.dirs[dir.index()];
            let (from, to) = match dir {
                Dir::Client => (&st.info.client, &st.info.server),
                Dir::Server => (&st.info.server, &st.info.client),
            };
            let title = format!(
                "{} stream {} {} {} -> {}",
                if st.info.proto == Proto::Tcp {
                    "tcp"
                } else {
                    "udp"
                },
                st.info.number,
                dir.name(),
                endpoint(from),
                endpoint(to)
            );
            let reads = result
                .and_then(|r| r.recv.as_ref())
                .and_then(|r| {
                    let r = &r[dir.index()];
                    r.lagging.as_ref().or(r.recvfrom.as_ref())
                })
                .map(|r| r.reads.as_slice());
            let view = diagram::View {
                title: &title,
                segments: &d.segments,
                bytes: &d.bytes,
                messages: &d.messages,
                reads,
                more_messages: d.more_messages,
                more_segments: d.more_segments,
            };
            let text = diagram::render(&view, &opts);
            if !text.is_empty() {
                writeln!(out, "{text}")?;
            }
        }
    }
    write!(out, "{}", diagram::legend(color))?;
    Ok(())
}
