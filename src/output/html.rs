//! The HTML page: one self-contained file (inline CSS, JS and SVG; nothing
//! fetched) with the summary table and, per stream, a timeline.
//!
//! ```text
//!  client  ▯ ▯▯   ▯        segments (rect.seg), one per capture record
//!          ▭▭ ▭▭▭  ▭       messages (rect.msg), from first to last byte
//!  ──────────────────────> time since the stream's first packet
//!          ▭ ▭▭▭    ▭      server messages
//!  server  ▯ ▯  ▯   ▯      server segments
//! ```
//!
//! Every shape carries `data-*` attributes and a `<title>` tooltip;
//! clicking one shows its details (offsets, records, timestamps, label,
//! Wireshark filter) in the side panel. Flagged messages have the class
//! `flagged` and one of `split`, `gap`, `truncated`, `malformed`,
//! `coalesced`. A stream's shapes are drawn [`PAGE`] at a time, in time
//! order, with paging buttons, so that large captures stay responsive.

use std::collections::HashMap;
use std::fmt::Write;

use super::timeline::StreamTimeline;
use super::{summary_rows, SUMMARY_COLUMNS};
use crate::analysis::{Message, StreamResult};
use crate::capture::Timestamp;
use crate::flow::{endpoint, Dir, Proto};

/// Shapes drawn per page of a stream's timeline.
pub const PAGE: usize = 500;

const LEFT: f64 = 70.0;
const PLOT: f64 = 1100.0;

/// Escapes text for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
body{font:14px/1.4 system-ui,sans-serif;margin:1em;color:#222;display:flex;gap:1em}
main{flex:1;min-width:0;overflow-x:auto}
aside{width:22em;position:sticky;top:1em;align-self:flex-start}
pre#detail{white-space:pre-wrap;word-break:break-all;background:#f6f6f6;padding:.6em;min-height:8em;border:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}
td:nth-child(-n+4),th{text-align:left}
svg{background:#fff;border:1px solid #ddd}

rect.seg{fill:#8aa4c8}
rect.msg{fill:#9bc89b;stroke:#fff;stroke-width:.5}
rect.coalesced{fill:#3cb6c8}
rect.split{fill:#e8b923}
rect.truncated,rect.malformed{fill:#d9363e}
rect.gap{fill:#b04fc4}
rect:hover{stroke:#000;stroke-width:1.5}
.lane{font:12px monospace;fill:#555}
.key span{display:inline-block;width:1em;height:1em;vertical-align:middle;margin:0 .3em 0 1em}
nav button{margin-right:.5em}
"#;

const SCRIPT: &str = r#"
function show(el){const d=el.dataset;let t='';for(const k in d){t+=k+': '+d[k]+'\n';}document.getElementById('detail').textContent=t;}
document.addEventListener('click',e=>{if(e.target.matches('rect.seg,rect.msg'))show(e.target);});
function page(id,delta){const s=document.getElementById(id);const ps=s.querySelectorAll('svg.page');let cur=+s.dataset.page+delta;
if(cur<0||cur>=ps.length)return;s.dataset.page=cur;ps.forEach((p,i)=>p.style.display=i===cur?'':'none');
s.querySelector('.pageno').textContent=(cur+1)+' / '+ps.length;}
document.addEventListener('DOMContentLoaded',()=>{const b=document.body.dataset,q=s=>document.querySelectorAll(s).length;
b.segs=q('rect.seg');b.msgs=q('rect.msg');b.flagged=q('rect.msg.flagged');});
"#;

enum Shape<'a> {
    Seg(Dir, &'a super::timeline::Segment),
    Msg(Dir, &'a Message),
}

impl Shape<'_> {
    fn start(&self) -> Timestamp {
        match self {
            Shape::Seg(_, s) => s.ts,
            Shape::Msg(_, m) => m.first_ts,
        }
    }
    fn end(&self) -> Timestamp {
        match self {
            Shape::Seg(_, s) => s.ts,
            Shape::Msg(_, m) => m.last_ts,
        }
    }
}

impl Shape<'_> {
    /// Which of the four lanes it is drawn in.
    fn lane(&self) -> usize {
        match self {
            Shape::Seg(d, _) => d.index() * 2,
            Shape::Msg(d, _) => d.index() * 2 + 1,
        }
    }
}

/// Columns of one shape where several start at the same time.
const SLOT: f64 = 5.0;

/// Where a time falls: proportional to time, plus room for the shapes
/// that start at each earlier instant, so that shapes captured together
/// sit side by side instead of on top of each other, and all four lanes
/// stay aligned.
struct Layout {
    a: Timestamp,
    span: f64,
    /// Distinct start times, with the room taken before each.
    times: Vec<(Timestamp, f64)>,
    extra: f64,
}

impl Layout {
    fn new(shapes: &[Shape<'_>], a: Timestamp, z: Timestamp) -> Self {
        let mut count: HashMap<(usize, Timestamp), usize> = HashMap::new();
        for sh in shapes {
            *count.entry((sh.lane(), sh.start())).or_default() += 1;
        }
        let mut need: Vec<(Timestamp, usize)> =
            count.into_iter().map(|((_, t), n)| (t, n)).collect();
        need.sort_unstable();
        let mut times: Vec<(Timestamp, f64)> = Vec::new();
        let mut extra = 0.0;
        for (t, n) in need {
            match times.last_mut() {
                Some((last, _)) if *last == t => {}
                _ => times.push((t, extra)),
            }
            // Each instant gets the room of its most crowded lane.
            let room = n as f64 * SLOT;
            let before = times.last().map_or(0.0, |&(_, e)| e);
            extra = extra.max(before + room);
        }
        Layout {
            a,
            span: secs(z, a).max(1e-6),
            times,
            extra,
        }
    }

    fn x(&self, t: Timestamp) -> f64 {
        let i = self.times.partition_point(|&(s, _)| s < t);
        let room = match self.times.get(i) {
            Some(&(s, e)) if s == t => e,
            _ => self.times.get(i).map_or(self.extra, |&(_, e)| e),
        };
        LEFT + secs(t, self.a) / self.span * PLOT + room
    }

    fn width(&self) -> f64 {
        LEFT + PLOT + self.extra + 20.0
    }
}

fn secs(ts: Timestamp, t0: Timestamp) -> f64 {
    ts.secs_since(t0)
}

/// Draws one shape at `x`, `w` wide.
fn shape(
    out: &mut String,
    info: &crate::flow::StreamInfo,
    sh: &Shape<'_>,
    x: f64,
    w: f64,
    t0: Timestamp,
) {
    match sh {
        Shape::Seg(dir, s) => {
            let y = if *dir == Dir::Client { 22.0 } else { 152.0 };
            let _ = write!(
                out,
                r#"<rect class="seg" x="{x:.1}" y="{y}" width="{w:.1}" height="22" data-dir="{}" data-record="{}" data-offset="{}" data-len="{}" data-time="{:.6}"><title>segment #{} ({}) offset {} len {} at +{:.6} s</title></rect>"#,
                dir.name(),
                s.record,
                s.offset,
                s.len,
                secs(s.ts, t0),
                s.record,
                dir.name(),
                s.offset,
                s.len,
                secs(s.ts, t0),
            );
        }
        Shape::Msg(dir, m) => {
            let y = if *dir == Dir::Client { 52.0 } else { 122.0 };
            let mut class = String::from("msg ");
            class.push_str(m.status.name());
            if m.coalesced {
                class.push_str(" coalesced");
            }
            if m.is_flagged() {
                class.push_str(" flagged");
            }
            let label = m.label.as_ref().map_or("", |l| l.as_str());
            let detail = match (&m.error, m.missing) {
                (Some(e), _) => e.clone(),
                (None, Some(n)) => format!("{n} bytes missing"),
                _ => String::new(),
            };
            let (name, index, status) = (dir.name(), m.index, m.status.name());
            let coalesced = if m.coalesced { ", coalesced" } else { "" };
            let (offset, len, first, last) = (m.offset, m.len, m.first_record, m.last_record);
            let (from, to) = (secs(m.first_ts, t0), secs(m.last_ts, t0));
            let (label, detail) = (escape(label), escape(&detail));
            let filter = escape(&m.filter(info, *dir));
            let segments = m.segments;
            let _ = write!(
                out,
                r#"<rect class="{class}" x="{x:.1}" y="{y}" width="{w:.1}" height="18" data-dir="{name}" data-index="{index}" data-status="{status}{coalesced}" data-offset="{offset}" data-len="{len}" data-records="{first}-{last}" data-segments="{segments}" data-first-time="{from:.6}" data-last-time="{to:.6}" data-label="{label}" data-detail="{detail}" data-filter="{filter}"><title>{name} message {index} ({status}{coalesced}) offset {offset} len {len}, records {first}-{last}, +{from:.6}..{to:.6} s {label}{detail}&#10;{filter}</title></rect>"#,
            );
        }
    }
}

fn timeline(out: &mut String, st: &StreamTimeline) {
    let mut shapes: Vec<Shape<'_>> = Vec::new();
    for dir in Dir::BOTH {
        let d = &st.dirs[dir.index()];
        shapes.extend(d.segments.iter().map(|s| Shape::Seg(dir, s)));
        shapes.extend(d.messages.iter().map(|m| Shape::Msg(dir, m)));
    }
    if shapes.is_empty() {
        return;
    }
    shapes.sort_by_key(|s| s.start());
    let t0 = st.info.first_ts;
    let id = format!(
        "s-{}-{}",
        if st.info.proto == Proto::Tcp {
            "tcp"
        } else {
            "udp"
        },
        st.info.number
    );
    let pages = shapes.len().div_ceil(PAGE);
    let _ = write!(out, r#"<section class="stream" id="{id}" data-page="0">"#);
    if pages > 1 {
        let _ = write!(
            out,
            r#"<nav><button onclick="page('{id}',-1)">&#9664; earlier</button><span class="pageno">1 / {pages}</span> <button onclick="page('{id}',1)">later &#9654;</button> ({PAGE} shapes a page)</nav>"#
        );
    }
    for (i, chunk) in shapes.chunks(PAGE).enumerate() {
        let a = chunk.iter().map(Shape::start).min().unwrap_or(t0);
        let z = chunk.iter().map(Shape::end).max().unwrap_or(a);
        let layout = Layout::new(chunk, a, z);
        let width = layout.width();
        let hidden = if i == 0 {
            ""
        } else {
            r#" style="display:none""#
        };
        let _ = write!(
            out,
            r#"<svg class="page" data-page="{i}" width="{width:.0}" height="200" viewBox="0 0 {width:.0} 200" xmlns="http://www.w3.org/2000/svg"{hidden}>"#
        );
        let _ = write!(
            out,
            r##"<text class="lane" x="4" y="37">client</text><text class="lane" x="4" y="67">msgs</text><text class="lane" x="4" y="137">msgs</text><text class="lane" x="4" y="167">server</text><line x1="{LEFT}" y1="95" x2="{:.0}" y2="95" stroke="#999"/><text class="lane" x="{LEFT}" y="110">+{:.6} s</text><text class="lane" x="{:.0}" y="110" text-anchor="end">+{:.6} s &#8594; time</text>"##,
            width - 10.0,
            secs(a, t0),
            width - 10.0,
            secs(z, t0),
        );
        let mut rank: HashMap<(usize, Timestamp), usize> = HashMap::new();
        for sh in chunk {
            let r = rank.entry((sh.lane(), sh.start())).or_default();
            let x = layout.x(sh.start()) + *r as f64 * SLOT;
            *r += 1;
            let w = match sh {
                Shape::Seg(..) => SLOT - 1.0,
                Shape::Msg(..) => (layout.x(sh.end()) - x).max(0.0) + SLOT - 1.0,
            };
            shape(out, &st.info, sh, x, w, t0);
        }
        out.push_str("</svg>");
    }
    let mut more = Vec::new();
    for dir in Dir::BOTH {
        let d = &st.dirs[dir.index()];
        if d.more_messages + d.more_segments > 0 {
            more.push(format!(
                "{}: {} more messages and {} more segments not drawn",
                dir.name(),
                d.more_messages,
                d.more_segments
            ));
        }
    }
    if !more.is_empty() {
        let _ = write!(out, "<p>{}</p>", escape(&more.join("; ")));
    }
    out.push_str("</section>");
}

/// The summary table of [`super::summary_rows`].
fn summary(out: &mut String, streams: &[StreamResult]) {
    out.push_str("<table><tr>");
    for column in SUMMARY_COLUMNS {
        let _ = write!(out, "<th>{column}</th>");
    }
    out.push_str("</tr>");
    let streams: Vec<&StreamResult> = streams.iter().collect();
    for row in summary_rows(&streams) {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{}</td>", escape(&cell));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
}

/// The whole page. `heading` names the capture and framing.
pub fn page(heading: &str, streams: &[StreamResult], timelines: &[StreamTimeline]) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>framescope: {}</title><style>{STYLE}</style></head><body><main><h1>framescope analyze</h1><p>{}</p>",
        escape(heading),
        escape(heading)
    );
    summary(&mut out, streams);
    out.push_str(r##"<p class="key"><span style="background:#8aa4c8"></span>segment <span style="background:#9bc89b"></span>message <span style="background:#e8b923"></span>split <span style="background:#3cb6c8"></span>coalesced <span style="background:#d9363e"></span>truncated/malformed <span style="background:#b04fc4"></span>capture gap</p>"##);
    for st in timelines {
        let proto = if st.info.proto == Proto::Tcp {
            "tcp"
        } else {
            "udp"
        };
        let _ = write!(
            out,
            "<h2>{proto} stream {}: {} &#8596; {}</h2>",
            st.info.number,
            escape(&endpoint(&st.info.client)),
            escape(&endpoint(&st.info.server))
        );
        timeline(&mut out, st);
    }
    let _ = writeln!(
        out,
        "</main><aside><h3>Details</h3><pre id=\"detail\">Click a shape.</pre></aside><script>{SCRIPT}</script></body></html>"
    );
    out
}
