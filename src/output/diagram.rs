//! The terminal picture of one stream direction: its segments as a row of
//! boxes, its messages as a row beneath, and optionally what a lagging
//! `recv()` reader got, all aligned on stream offsets.
//!
//! ```text
//! segments |#1 hello     |#2 world     |#3 musibii          |#4 1 |
//! messages |hello        |world        |musibii             |1    |
//! recv()   |hello        |world        |musibii1 glued~~~~~~~~~~~~| +1 empty
//! ```
//!
//! Widths follow byte counts (at most 3 columns a byte, at least one
//! column a box, and the median message at least 8 columns); a box
//! narrower than its label is widened up to 16 columns; a row longer
//! than the terminal continues in the next block. Flagged boxes are filled
//! with `~` (or coloured), and tagged. This module is pure: data in,
//! `String` out; the caller decides the width and colour.

use std::fmt::Write;

use super::timeline::{text, Segment};
use crate::analysis::recv::{Read, Verdict};
use crate::analysis::{Message, Status};

/// Width of the row names.
const LABEL: usize = 9;

/// Columns a small box may be widened to, to show its label.
const MAX_LABEL: usize = 16;

/// How to draw.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Columns available.
    pub width: usize,
    /// ANSI colours instead of `~` fills.
    pub color: bool,
    /// Messages drawn per direction.
    pub max_messages: usize,
}

/// One direction's data.
#[derive(Clone, Copy, Debug)]
pub struct View<'a> {
    /// The heading, e.g. `tcp stream 0 client 10.0.0.1:1 -> 10.0.0.2:2`.
    pub title: &'a str,
    /// Segments, in stream order.
    pub segments: &'a [Segment],
    /// The direction's first bytes, for labels.
    pub bytes: &'a [u8],
    /// Messages, in stream order.
    pub messages: &'a [Message],
    /// The lagging reader's reads, when simulated.
    pub reads: Option<&'a [Read]>,
    /// Messages known but not in `messages`.
    pub more_messages: u64,
    /// Segments known but not in `segments`.
    pub more_segments: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Style {
    Plain,
    Split,
    Coalesced,
    Bad,
    Gap,
}

impl Style {
    fn ansi(self) -> &'static str {
        match self {
            Style::Plain => "",
            Style::Split => "\x1b[30;43m",
            Style::Coalesced => "\x1b[30;46m",
            Style::Bad => "\x1b[97;41m",
            Style::Gap => "\x1b[97;45m",
        }
    }
}

struct BoxSpec {
    start: u64,
    end: u64,
    label: String,
    style: Style,
}

/// A message's box, and its box in the flags row when it is flagged.
fn message_boxes(bytes: &[u8], m: &Message) -> (BoxSpec, Option<BoxSpec>) {
    let end = m.offset + m.len;
    let mut tags = Vec::new();
    if m.status.is_flagged() {
        tags.push(m.status.name());
    }
    if m.coalesced {
        tags.push("coalesced");
    }
    let style = match m.status {
        Status::Truncated | Status::Malformed => Style::Bad,
        Status::Gap => Style::Gap,
        Status::Split => Style::Split,
        Status::Ok if m.coalesced => Style::Coalesced,
        Status::Ok => Style::Plain,
    };
    let message = BoxSpec {
        start: m.offset,
        end,
        label: text(bytes, m.offset, end, 40),
        style: Style::Plain,
    };
    let flag = (!tags.is_empty()).then(|| BoxSpec {
        start: m.offset,
        end,
        label: tags.join("+"),
        style,
    });
    (message, flag)
}

/// Draws one direction. Empty when it has neither segments nor messages.
pub fn render(view: &View<'_>, opts: &Options) -> String {
    let n = opts.max_messages.min(view.messages.len());
    let messages = &view.messages[..n];
    let (start, end) = match (messages.first(), messages.last()) {
        (Some(f), Some(l)) => (f.offset, l.offset + l.len),
        _ => {
            let segs = &view.segments[..opts.max_messages.min(view.segments.len())];
            match (segs.first(), segs.last()) {
                (Some(f), Some(l)) => (f.offset, l.offset + l.len),
                _ => return String::new(),
            }
        }
    };
    let clip = |a: u64, b: u64| (a.max(start), b.min(end));
    let mut rows: Vec<(&str, Vec<BoxSpec>)> = Vec::new();
    let seg_boxes: Vec<BoxSpec> = view
        .segments
        .iter()
        .filter(|s| s.offset < end && s.offset + s.len > start)
        .map(|s| {
            let (a, b) = clip(s.offset, s.offset + s.len);
            BoxSpec {
                start: a,
                end: b,
                label: format!("#{} {}", s.record, text(view.bytes, a, b, 40))
                    .trim_end()
                    .to_string(),
                style: Style::Plain,
            }
        })
        .collect();
    let drawn_segments = seg_boxes.len();
    rows.push(("segments", seg_boxes));
    let (boxes, flags): (Vec<_>, Vec<_>) = messages
        .iter()
        .map(|m| message_boxes(view.bytes, m))
        .unzip();
    rows.push(("messages", boxes));
    let flags: Vec<BoxSpec> = flags.into_iter().flatten().collect();
    if !flags.is_empty() {
        rows.push(("flags", flags));
    }
    let mut empty_reads = 0;
    if let Some(reads) = view.reads {
        let mut boxes = Vec::new();
        for r in reads {
            if r.len == 0 {
                empty_reads += 1;
            } else if r.offset < end && r.offset + r.len > start {
                let (a, b) = clip(r.offset, r.offset + r.len);
                let mut label = text(view.bytes, a, b, 40);
                let style = match r.verdict {
                    Verdict::Exact | Verdict::Empty => Style::Plain,
                    Verdict::Glued => {
                        label = format!("{label} glued").trim_start().to_string();
                        Style::Split
                    }
                    Verdict::Cut => {
                        label = format!("{label} cut").trim_start().to_string();
                        Style::Bad
                    }
                };
                boxes.push(BoxSpec {
                    start: a,
                    end: b,
                    label,
                    style,
                });
            }
        }
        rows.push(("recv()", boxes));
    }

    // Every box edge is a breakpoint; each interval between two gets a
    // width from its byte count.
    let mut cuts: Vec<u64> = rows
        .iter()
        .flat_map(|(_, bs)| bs.iter().flat_map(|b| [b.start, b.end]))
        .chain([start, end])
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    let avail = opts.width.saturating_sub(LABEL).max(10);
    let total = (end - start).max(1) as f64;
    let fit = avail.saturating_sub(cuts.len()) as f64 / total;
    let mut lens: Vec<u64> = messages.iter().map(|m| m.len.max(1)).collect();
    lens.sort_unstable();
    let readable = lens.get(lens.len() / 2).map_or(0.0, |&m| 8.0 / m as f64);
    let scale = fit.max(readable).min(3.0);
    let mut widths: Vec<usize> = cuts
        .windows(2)
        .map(|w| (((w[1] - w[0]) as f64 * scale).round() as usize).max(1))
        .collect();
    // A box between two neighbouring cuts is widened to show its label.
    for b in rows.iter().flat_map(|(_, bs)| bs) {
        let i = cuts.partition_point(|&c| c < b.start);
        if cuts.get(i + 1) == Some(&b.end) {
            widths[i] = widths[i].max(b.label.chars().count().min(MAX_LABEL));
        }
    }
    let mut pos = Vec::with_capacity(cuts.len());
    let mut col = 0usize;
    for (i, _) in cuts.iter().enumerate() {
        pos.push(col);
        if let Some(w) = widths.get(i) {
            col += 1 + w;
        }
    }
    let grid_width = col + 1;
    let at = |offset: u64| pos[cuts.partition_point(|&c| c < offset)];

    let grids: Vec<(&str, Vec<(char, Style)>)> = rows
        .iter()
        .map(|(name, boxes)| {
            let mut cells = vec![(' ', Style::Plain); grid_width];
            for b in boxes {
                let (a, z) = (at(b.start), at(b.end));
                let fill = if b.style == Style::Plain || opts.color {
                    ' '
                } else {
                    '~'
                };
                let mut label = b.label.chars();
                for cell in &mut cells[a + 1..z] {
                    *cell = (label.next().unwrap_or(fill), b.style);
                }
                cells[a] = ('|', Style::Plain);
                cells[z] = ('|', Style::Plain);
            }
            (*name, cells)
        })
        .collect();

    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: bytes {start}..{end}, {} segments, {} messages",
        view.title,
        drawn_segments,
        messages.len()
    );
    // Blocks end on a cut where one fits, so boxes are seldom broken.
    let mut blocks = Vec::new();
    let mut from = 0;
    while from + 1 < grid_width {
        let limit = from + avail - 1;
        let to = match pos.iter().rev().find(|&&p| p > from && p <= limit) {
            Some(&p) if limit < grid_width - 1 => p,
            _ => limit.min(grid_width - 1),
        };
        blocks.push((from, to + 1));
        from = to;
    }
    let last = blocks.len();
    for (block, &(from, to)) in blocks.iter().enumerate() {
        if block > 0 {
            out.push('\n');
        }
        let blocks = last;
        for (name, cells) in &grids {
            let mut line = format!("{name:<LABEL$}");
            let mut style = Style::Plain;
            for &(ch, st) in &cells[from..to] {
                if opts.color && st != style {
                    line.push_str(if st == Style::Plain {
                        "\x1b[0m"
                    } else {
                        st.ansi()
                    });
                    style = st;
                }
                line.push(ch);
            }
            if style != Style::Plain {
                line.push_str("\x1b[0m");
            }
            if *name == "recv()" && block + 1 == blocks && empty_reads > 0 {
                let _ = write!(line, " +{empty_reads} empty");
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    let more_messages = view.more_messages + (view.messages.len() - n) as u64;
    let more_segments =
        view.more_segments + (view.segments.len() - drawn_segments.min(view.segments.len())) as u64;
    if more_messages + more_segments > 0 {
        let _ = writeln!(
            out,
            "... and {more_messages} more messages, {more_segments} more segments (--diagram-messages)"
        );
    }
    out
}

/// The key to the marks, printed once under the pictures.
pub fn legend(color: bool) -> String {
    if color {
        format!(
            "key: #N capture record; {}split{} {}coalesced{} {}truncated/malformed/cut{} {}capture gap{}; recv() glued is {}yellow{}\n",
            Style::Split.ansi(), "\x1b[0m",
            Style::Coalesced.ansi(), "\x1b[0m",
            Style::Bad.ansi(), "\x1b[0m",
            Style::Gap.ansi(), "\x1b[0m",
            Style::Split.ansi(), "\x1b[0m",
        )
    } else {
        "key: #N capture record; flags: split = one message in several segments, coalesced = shares a segment, truncated/malformed/gap; recv() glued or cut = a naive reader's read was not one message\n".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Timestamp;

    fn seg(record: u64, offset: u64, len: u64) -> Segment {
        Segment {
            record,
            offset,
            len,
            ts: Timestamp(0),
        }
    }

    fn msg(index: u64, offset: u64, len: u64, status: Status, coalesced: bool) -> Message {
        Message {
            index,
            offset,
            len,
            first_record: 0,
            last_record: 0,
            first_ts: Timestamp(0),
            last_ts: Timestamp(0),
            segments: 1,
            coalesced,
            status,
            label: None,
            missing: None,
            error: None,
            flagged_index: None,
            ..Default::default()
        }
    }

    fn read(offset: u64, len: u64, verdict: Verdict) -> Read {
        Read {
            size: 5,
            offset,
            len,
            messages: Vec::new(),
            verdict,
            discarded: 0,
        }
    }

    const OPTS: Options = Options {
        width: 100,
        color: false,
        max_messages: 40,
    };

    #[test]
    fn seed_scenario_with_the_lagging_reader() {
        let segments = [seg(4, 0, 5), seg(6, 5, 5), seg(8, 10, 7), seg(10, 17, 1)];
        let messages = [
            msg(0, 0, 5, Status::Ok, false),
            msg(1, 5, 5, Status::Ok, false),
            msg(2, 10, 7, Status::Ok, false),
            msg(3, 17, 1, Status::Ok, false),
        ];
        let reads = [
            read(0, 5, Verdict::Exact),
            read(5, 5, Verdict::Exact),
            read(10, 8, Verdict::Glued),
            read(18, 0, Verdict::Empty),
        ];
        let view = View {
            title: "seed",
            segments: &segments,
            bytes: b"helloworldmusibii1",
            messages: &messages,
            reads: Some(&reads),
            more_messages: 0,
            more_segments: 0,
        };
        assert_eq!(
            render(&view, &OPTS),
            "\
seed: bytes 0..18, 4 segments, 4 messages
segments |#4 hello       |#6 world       |#8 musibii           |#10 1|
messages |hello          |world          |musibii              |1    |
recv()   |hello          |world          |musibii1 glued~~~~~~~~~~~~~| +1 empty
"
        );
    }

    #[test]
    fn line_framing_marks_split_coalesced_and_truncated_and_wraps() {
        // Segments "ab\ncd" and "\nef\ngh": "cd\n" is split, both
        // segments coalesced, "gh" truncated.
        let segments = [seg(1, 0, 5), seg(2, 5, 6)];
        let messages = [
            msg(0, 0, 3, Status::Ok, true),
            msg(1, 3, 3, Status::Split, true),
            msg(2, 6, 3, Status::Ok, true),
            msg(3, 9, 2, Status::Truncated, false),
        ];
        let view = View {
            title: "lines",
            segments: &segments,
            bytes: b"ab\ncd\nef\ngh",
            messages: &messages,
            reads: None,
            more_messages: 2,
            more_segments: 0,
        };
        let opts = Options { width: 40, ..OPTS };
        assert_eq!(
            render(&view, &opts),
            "\
lines: bytes 0..11, 2 segments, 4 messages
segments |#1 ab.cd       |#2 .ef.gh
messages |ab.      |cd.      |ef.      |
flags    |coalesced|split+coa|coalesced|

segments           |
messages |gh       |
flags    |truncated|
... and 2 more messages, 0 more segments (--diagram-messages)
"
        );
    }

    #[test]
    fn nothing_to_draw_is_empty() {
        let view = View {
            title: "empty",
            segments: &[],
            bytes: b"",
            messages: &[],
            reads: None,
            more_messages: 0,
            more_segments: 0,
        };
        assert_eq!(render(&view, &OPTS), "");
    }
}
