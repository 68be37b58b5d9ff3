//! Answers to partial messages: the sign of a peer that takes each `recv()`
//! as one message.
//!
//! This module owns [`Answers`], a [`Report`] that passes every result on to
//! the report it wraps and watches the order of the two directions of each
//! stream. A peer that begins a message of its own while the other side's
//! message is still incomplete, and while no complete message of the other
//! side is waiting for an answer, has answered a partial message:
//!
//! ```text
//! proxy -> server:  [00 00 00 05 h]           (bytes:5 cut, the message is 9 bytes)
//! server -> proxy:              [00 00 00 01 h]  <- began after 5 of the 9 bytes,
//!                                                   with nothing complete to answer
//! ```
//!
//! Complete messages of the other side are counted as owed answers, one
//! each; each message begun uses one up, and a message begun at a message
//! boundary of the other side is never flagged (replies of several
//! messages, greetings, pipelined replies). A message is judged when it
//! begins and reported once it is complete (or the stream ends): a
//! delivery the server pushes on its own, an MQTT `PUBLISH`, is not an
//! answer and is never reported. Other server pushes (publish/subscribe)
//! that happen to start while a request is half sent are the rule's known
//! false alarm. The order is that of the records, which the proxy writes
//! before each write it makes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::analysis::{Message, Report, StreamResult};
use crate::capture::Timestamp;
use crate::flow::{Dir, StreamInfo};

/// Findings kept; past it they are counted.
pub const MAX_FINDINGS: usize = 10_000;

/// A message begun while the other side's message was incomplete.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// The stream (one leg of one proxied connection).
    pub stream: u64,
    /// Who began the message.
    pub dir: Dir,
    /// That message's index in its direction.
    pub index: u64,
    /// The capture record that carried its first byte.
    pub record: u64,
    /// The other side's incomplete message: its index...
    pub partial_index: u64,
    /// ...and the bytes of it sent so far.
    pub partial_bytes: u64,
}

impl Finding {
    /// One line: who answered what.
    pub fn text(&self) -> String {
        format!(
            "the {} began message #{} (record {}) after only {} bytes of {} message #{}, with no complete message to answer: it answered a partial message",
            self.dir.name(),
            self.index,
            self.record,
            self.partial_bytes,
            self.dir.other().name(),
            self.partial_index
        )
    }
}

/// What [`Answers`] found, shared with whoever drains it.
#[derive(Debug, Default)]
pub struct Found {
    /// Findings not yet taken.
    pub findings: Vec<Finding>,
    /// Findings past [`MAX_FINDINGS`] not kept.
    pub dropped: u64,
    /// Streams whose results are complete, not yet taken.
    pub finished: Vec<u64>,
}

#[derive(Default)]
struct Side {
    /// Stream offset after the last byte seen.
    seen: u64,
    /// Stream offset after the last complete message.
    done_end: u64,
    /// Complete messages.
    done: u64,
    /// Messages whose beginning was judged.
    begun: u64,
    /// Complete messages of the other side not answered yet.
    owed: u64,
    /// The message in progress began as an answer to a partial message:
    /// reported once it is complete, unless it is a push.
    suspect: Option<Finding>,
}

/// Labels of server messages that are deliveries the server pushes on its
/// own, never answers: MQTT's `PUBLISH` (a broker delivering to a
/// subscriber).
const PUSHES: [&str; 1] = ["PUBLISH"];

/// The wrapping report. See the module documentation.
pub struct Answers<R: Report> {
    inner: R,
    streams: HashMap<u64, [Side; 2]>,
    found: Arc<Mutex<Found>>,
}

impl<R: Report> Answers<R> {
    /// Wraps `inner`; findings go to `found`.
    pub fn new(inner: R, found: Arc<Mutex<Found>>) -> Self {
        Answers {
            inner,
            streams: HashMap::new(),
            found,
        }
    }

    /// The wrapped report.
    pub fn inner_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// Takes the wrapped report back.
    pub fn into_inner(self) -> R {
        self.inner
    }

    fn report(&self, finding: Finding) {
        if let Ok(mut f) = self.found.lock() {
            if f.findings.len() < MAX_FINDINGS {
                f.findings.push(finding);
            } else {
                f.dropped += 1;
            }
        }
    }

    /// A message of `dir` begins: is it an answer to a partial message?
    fn begins(&mut self, info: &StreamInfo, dir: Dir, record: u64) {
        let sides = self.streams.entry(info.number).or_default();
        let other = &sides[dir.other().index()];
        let partial = other.seen > other.done_end;
        let (partial_index, partial_bytes) = (other.done, other.seen - other.done_end);
        let me = &mut sides[dir.index()];
        // Clients speak first: only a server answers.
        if partial && me.owed == 0 && dir == Dir::Server {
            me.suspect = Some(Finding {
                stream: info.number,
                dir,
                index: me.done,
                record,
                partial_index,
                partial_bytes,
            });
        }
        me.owed = me.owed.saturating_sub(1);
        me.begun = me.done + 1;
    }
}

impl<R: Report> Report for Answers<R> {
    fn message(&mut self, stream: &StreamInfo, dir: Dir, message: &Message) {
        let sides = self.streams.entry(stream.number).or_default();
        if sides[dir.index()].begun <= message.index {
            // It began after another message in the same segment.
            self.begins(stream, dir, message.first_record);
        }
        let sides = self.streams.entry(stream.number).or_default();
        let me = &mut sides[dir.index()];
        me.done = message.index + 1;
        me.done_end = message.offset + message.len;
        let suspect = me.suspect.take();
        sides[dir.other().index()].owed += 1;
        let push = message
            .label
            .as_ref()
            .is_some_and(|l| PUSHES.contains(&l.as_str()));
        if let Some(f) = suspect.filter(|_| !push) {
            self.report(f);
        }
        self.inner.message(stream, dir, message);
    }

    fn stream(&mut self, result: StreamResult) {
        // A message that never completed: what began of it was an answer.
        if let Some(sides) = self.streams.remove(&result.info.number) {
            for f in sides.into_iter().filter_map(|s| s.suspect) {
                self.report(f);
            }
        }
        if let Ok(mut f) = self.found.lock() {
            f.finished.push(result.info.number);
        }
        self.inner.stream(result);
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
        let sides = self.streams.entry(stream.number).or_default();
        let me = &sides[dir.index()];
        if offset == me.done_end && me.begun == me.done && !bytes.is_empty() {
            self.begins(stream, dir, record);
        }
        let me = &mut self.streams.entry(stream.number).or_default()[dir.index()];
        me.seen = me.seen.max(offset + bytes.len() as u64);
        self.inner.segment(stream, dir, record, offset, bytes, ts);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Proto;

    struct Nothing;
    impl Report for Nothing {
        fn message(&mut self, _: &StreamInfo, _: Dir, _: &Message) {}
        fn stream(&mut self, _: StreamResult) {}
    }

    fn info() -> StreamInfo {
        StreamInfo {
            proto: Proto::Tcp,
            number: 3,
            client: "127.0.0.1:1".parse().unwrap(),
            server: "127.0.0.1:2".parse().unwrap(),
            first_record: 1,
            first_ts: Timestamp(0),
            tunnel: None,
        }
    }

    /// Feeds (dir, bytes, message lengths completed by them).
    fn run(steps: &[(Dir, u64, &[u64])]) -> Vec<Finding> {
        let found = Arc::new(Mutex::new(Found::default()));
        let mut a = Answers::new(Nothing, Arc::clone(&found));
        let info = info();
        let mut pos = [0u64; 2];
        let mut end = [0u64; 2];
        let mut done = [0u64; 2];
        for (record, (dir, n, msgs)) in steps.iter().enumerate() {
            let d = dir.index();
            let bytes = vec![0u8; *n as usize];
            a.segment(&info, *dir, record as u64 + 1, pos[d], &bytes, Timestamp(0));
            pos[d] += n;
            for &len in *msgs {
                let m = Message {
                    index: done[d],
                    offset: end[d],
                    len,
                    first_record: record as u64 + 1,
                    ..Message::default()
                };
                end[d] += len;
                done[d] += 1;
                a.message(&info, *dir, &m);
            }
        }
        let f = found.lock().unwrap();
        f.findings.clone()
    }

    #[test]
    fn an_answer_to_a_partial_message_is_found() {
        use Dir::{Client as C, Server as S};
        // request of 9 bytes cut 5 + 4; the server answers after 5
        let f = run(&[(C, 5, &[]), (S, 5, &[5]), (C, 4, &[9])]);
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].dir, f[0].index, f[0].partial_index, f[0].partial_bytes),
            (S, 0, 0, 5)
        );
        assert!(f[0]
            .text()
            .contains("after only 5 bytes of client message #0"));
    }

    #[test]
    fn a_pushed_delivery_is_not_an_answer() {
        let found = Arc::new(Mutex::new(Found::default()));
        let mut a = Answers::new(Nothing, Arc::clone(&found));
        let info = info();
        // The client has sent 1 byte of a 14-byte SUBSCRIBE when the
        // broker begins a delivery, then another message.
        a.segment(&info, Dir::Client, 1, 0, &[0x82], Timestamp(0));
        for (i, label) in [Some("PUBLISH"), None].into_iter().enumerate() {
            let i = i as u64;
            a.segment(&info, Dir::Server, 2 + i, 5 * i, &[0; 5], Timestamp(0));
            a.message(
                &info,
                Dir::Server,
                &Message {
                    index: i,
                    offset: 5 * i,
                    len: 5,
                    first_record: 2 + i,
                    label: label.map(crate::decode::Label::new),
                    ..Message::default()
                },
            );
        }
        // The unlabelled one is reported; the delivery is not.
        let f = found.lock().unwrap().findings.clone();
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!((f[0].index, f[0].partial_bytes), (1, 1));
    }

    #[test]
    fn answers_to_whole_messages_are_not() {
        use Dir::{Client as C, Server as S};
        // request/reply, the reply in two segments and of two messages
        assert!(run(&[(C, 9, &[9]), (S, 3, &[]), (S, 7, &[5, 5])]).is_empty());
        // pipelined: two requests, the second reply arrives while a third
        // request is half sent
        assert!(run(&[(C, 18, &[9, 9]), (C, 2, &[]), (S, 5, &[5]), (S, 5, &[5])]).is_empty());
        // a greeting before any request, and a reply at a boundary
        assert!(run(&[(S, 4, &[4]), (C, 9, &[9]), (S, 4, &[4])]).is_empty());
        // the same pipelined exchange with one reply too many is found
        let f = run(&[
            (C, 18, &[9, 9]),
            (C, 2, &[]),
            (S, 5, &[5]),
            (S, 5, &[5]),
            (S, 5, &[5]),
        ]);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].index, 2);
    }
}
