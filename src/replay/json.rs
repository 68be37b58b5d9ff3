//! A replay's verdicts as one JSON document (`replay --format json`),
//! for programs and CI jobs that act on them.
//!
//! This module owns the document's layout: [`document`] turns a
//! [`PatternReport`] and the [`Setup`] it was made with into a
//! `serde_json::Value`, and [`difference`] one [`Difference`]. It runs
//! nothing: the runs are made by [`super::run_patterns`] and
//! [`super::serve_patterns`]. The schema, `framescope.replay/1`, is
//! `docs/schema/replay.schema.json`; the text output says the same things
//! in words.
//!
//! ```text
//! {"schema", "mode": "replay" | "serve", "peer": "server" | "client",
//!  "address", "stream", "framing": {"spec", "chosen", "confidence"},
//!  "sent", "messages", "captured": {"replies", "ending"}, "compare",
//!  "client_command", "reference": {...}, "patterns": [...], "differs",
//!  "changed_by": [...]}
//! ```
//!
//! Each difference is an object with its `kind` (`count`, `bytes`,
//! `shape`, `undecodable`, `truncated`, `ending`, `stalled`, `output`,
//! `exit`, `no_connection`), the values of that kind, and `text`, the
//! sentence the text output prints for it. Bytes around a byte difference
//! are given in hex, at most [`super::compare::CONTEXT`] each side.

use std::fmt::Write as _;
use std::net::SocketAddr;

use serde_json::{json, Map, Value};

use super::compare::{Against, Context};
use super::conn::Paced;
use super::{
    ClientRun, Compare, Difference, Framing, PatternReport, PatternResult, Peer, Replay, RunReport,
};

/// The document's `schema`.
pub const SCHEMA: &str = "framescope.replay/1";

/// How the runs of a report were made, for the document's head.
#[derive(Clone, Copy, Debug)]
pub struct Setup<'a> {
    /// The stream of the capture replayed.
    pub stream: u64,
    /// The server sent to, or the address listened on (`--serve`).
    pub address: SocketAddr,
    /// The prepared session.
    pub replay: &'a Replay,
    /// Whom the verdicts are about: the server sent to, or the clients
    /// served.
    pub peer: Peer,
    /// How replies were compared.
    pub compare: Compare,
    /// The client program run for each run (`--serve --client-cmd`).
    pub client_command: Option<&'a str>,
}

/// The whole document.
pub fn document(setup: &Setup<'_>, report: &PatternReport) -> Value {
    let replay = setup.replay;
    let peer = setup.peer;
    let framing = match &replay.framing {
        Framing::Given => json!({"spec": replay.spec.to_string(), "chosen": "given"}),
        Framing::Detected(d) => json!({
            "spec": replay.spec.to_string(),
            "chosen": "detected",
            "confidence": d.chosen.confidence,
        }),
    };
    json!({
        "schema": SCHEMA,
        "mode": match peer {
            Peer::Server => "replay",
            Peer::Client => "serve",
        },
        "peer": peer.name(),
        "address": setup.address.to_string(),
        "stream": setup.stream,
        "framing": framing,
        "sent": replay.side.name(),
        "messages": replay.frames.len(),
        "captured": {
            "replies": replay.expected.frames.len(),
            "ending": replay.expected.ending,
        },
        "compare": match setup.compare {
            Compare::Bytes => "bytes",
            Compare::Shape => "shape",
        },
        "client_command": setup.client_command,
        "reference": reference(report, peer),
        "patterns": report.patterns.iter().map(|p| pattern(p, peer)).collect::<Vec<_>>(),
        "differs": report.differs(),
        "changed_by": report.changed_by(),
    })
}

/// The reference runs: what they got, and how the first compares with the
/// capture.
fn reference(report: &PatternReport, peer: Peer) -> Value {
    let mut o = Map::new();
    o.insert("runs".into(), json!(report.reference_runs.len()));
    if let Some(first) = report.reference_runs.first() {
        run_fields(&mut o, first);
    }
    o.insert("matches_capture".into(), json!(report.capture.is_empty()));
    o.insert(
        "capture_differences".into(),
        list(&report.capture, Against::Capture, peer),
    );
    o.insert("varying".into(), json!(report.reference.varying()));
    Value::Object(o)
}

/// One pattern's run and verdict.
fn pattern(p: &PatternResult, peer: Peer) -> Value {
    let mut o = Map::new();
    o.insert("split".into(), json!(p.split.to_string()));
    run_fields(&mut o, &p.report);
    o.insert(
        "verdict".into(),
        json!(if p.differences.is_empty() {
            "same"
        } else {
            "differs"
        }),
    );
    o.insert(
        "differences".into(),
        list(&p.differences, Against::Reference, peer),
    );
    o.insert(
        "unconfirmed".into(),
        list(&p.unconfirmed, Against::Reference, peer),
    );
    Value::Object(o)
}

/// What a run did: its writes, replies, ending, pacing and client.
fn run_fields(o: &mut Map<String, Value>, r: &RunReport) {
    let out = &r.outcome;
    o.insert("writes".into(), json!(out.writes));
    o.insert("bytes".into(), json!(out.sent));
    o.insert("replies".into(), json!(r.replies().len()));
    o.insert("ending".into(), json!(out.ending));
    o.insert(
        "paced".into(),
        json!(match out.paced {
            Paced::UntilRead(m) => format!("until read ({})", m.name()),
            Paced::Pauses => "pauses".to_string(),
        }),
    );
    o.insert(
        "elapsed_ms".into(),
        json!((out.elapsed.as_secs_f64() * 1e6).round() / 1e3),
    );
    o.insert("send_error".into(), json!(out.send_error));
    o.insert("stalled_at".into(), json!(out.stalled));
    o.insert(
        "client".into(),
        r.observed.client.as_ref().map_or(Value::Null, client),
    );
}

/// What the client program did in a run.
fn client(c: &ClientRun) -> Value {
    json!({
        "exit": c.exit,
        "lines": c.lines().len(),
        "connections": c.connections,
        "last_error_line": c.last_error_line(),
    })
}

fn list(differences: &[Difference], against: Against, peer: Peer) -> Value {
    Value::Array(
        differences
            .iter()
            .map(|d| difference(d, against, peer))
            .collect(),
    )
}

/// One difference: its `kind`, its values, and the `text` the text
/// output prints for it.
pub fn difference(d: &Difference, against: Against, peer: Peer) -> Value {
    let mut v = match d {
        Difference::Count { min, max, got } => {
            json!({"kind": "count", "min": min, "max": max, "got": got})
        }
        Difference::Bytes {
            index,
            offset,
            expected_len,
            got_len,
            expected,
            got,
        } => json!({
            "kind": "bytes",
            "index": index,
            "offset": offset,
            "expected_len": expected_len,
            "got_len": got_len,
            "expected": excerpt(expected),
            "got": excerpt(got),
        }),
        Difference::Shape {
            index,
            expected_len,
            got_len,
            expected_label,
            got_label,
        } => json!({
            "kind": "shape",
            "index": index,
            "expected_len": expected_len,
            "got_len": got_len,
            "expected_label": expected_label,
            "got_label": got_label,
        }),
        Difference::Undecodable { error } => json!({"kind": "undecodable", "error": error}),
        Difference::Truncated { tail } => json!({"kind": "truncated", "tail": tail}),
        Difference::Ending { expected, got } => {
            json!({"kind": "ending", "expected": expected, "got": got})
        }
        Difference::Stalled { read } => json!({"kind": "stalled", "read": read}),
        Difference::Output {
            line,
            expected,
            got,
        } => json!({"kind": "output", "line": line, "expected": expected, "got": got}),
        Difference::Exit { expected, got } => {
            json!({"kind": "exit", "expected": expected, "got": got})
        }
        Difference::NoConnection => json!({"kind": "no_connection"}),
    };
    v["text"] = json!(d.describe_as(against, peer));
    v
}

/// The bytes around a byte difference, in hex, and whether more precede
/// and follow them.
fn excerpt(c: &Context) -> Value {
    let mut hex = String::with_capacity(2 * c.bytes.len());
    for b in &c.bytes {
        let _ = write!(hex, "{b:02x}");
    }
    json!({"hex": hex, "cut_before": c.cut_before, "cut_after": c.cut_after})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::{Ending, Exit};

    /// Every kind of difference has its kind, its values and its text.
    #[test]
    fn differences_carry_kind_values_and_text() {
        let ctx = Context {
            cut_before: true,
            bytes: b"\x00ab".to_vec(),
            cut_after: false,
        };
        let all = [
            Difference::Count {
                min: 3,
                max: 4,
                got: 1,
            },
            Difference::Bytes {
                index: 2,
                offset: 5,
                expected_len: 9,
                got_len: 9,
                expected: ctx.clone(),
                got: ctx,
            },
            Difference::Shape {
                index: 0,
                expected_len: 4,
                got_len: 5,
                expected_label: "GET".into(),
                got_label: "-ERR".into(),
            },
            Difference::Undecodable {
                error: "bad".into(),
            },
            Difference::Truncated { tail: 3 },
            Difference::Ending {
                expected: Ending::Closed,
                got: Ending::Reset,
            },
            Difference::Stalled { read: Some(7) },
            Difference::Output {
                line: 1,
                expected: Some("a".into()),
                got: None,
            },
            Difference::Exit {
                expected: Exit::Code(0),
                got: Exit::Signal(11),
            },
            Difference::NoConnection,
        ];
        let kinds = [
            "count",
            "bytes",
            "shape",
            "undecodable",
            "truncated",
            "ending",
            "stalled",
            "output",
            "exit",
            "no_connection",
        ];
        for (d, kind) in all.iter().zip(kinds) {
            let v = difference(d, Against::Reference, Peer::Server);
            assert_eq!(v["kind"], kind, "{v}");
            assert_eq!(
                v["text"],
                d.describe_as(Against::Reference, Peer::Server),
                "{v}"
            );
        }
        let bytes = difference(&all[1], Against::Capture, Peer::Client);
        assert_eq!(
            bytes["expected"],
            json!({"hex": "006162", "cut_before": true, "cut_after": false})
        );
        let ending = difference(&all[5], Against::Reference, Peer::Server);
        assert_eq!(
            (&ending["expected"], &ending["got"]),
            (&json!("closed"), &json!("reset"))
        );
        let exit = difference(&all[8], Against::Reference, Peer::Client);
        assert_eq!(exit["got"], json!({"signal": 11}));
    }
}
