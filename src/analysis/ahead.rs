//! The analysis's work for the thread that reads a capture ahead: finding
//! whole messages in each TCP payload ([`crate::decode::ahead`]) while the
//! analysis is still on earlier records.
//!
//! Only a framing fixed for every stream (`--frame resp`) asks for it:
//! under detection most payloads are read before their framing is known.

use std::any::Any;

use crate::capture::scan::{ChunkScan, ScanAhead};
use crate::capture::LinkType;
use crate::decode::ahead::{Found, Scan, Spares};
use crate::decode::Run;
use crate::dissect::{dissect, Dissected, Transport};

/// Dissects each record a chunk holds and lists the messages at the
/// start of its TCP payload.
pub struct PayloadScan {
    scan: Scan,
    found: Found,
    spares: Spares,
}

impl PayloadScan {
    /// Lists messages with `scan`, each chunk's in a list from `spares`
    /// when one is there.
    pub fn new(scan: Scan, spares: Spares) -> Self {
        PayloadScan {
            scan,
            found: Found::default(),
            spares,
        }
    }
}

impl ScanAhead for PayloadScan {
    fn record(&mut self, link: LinkType, data: &[u8], orig_len: u32) {
        if self.found.is_full() {
            return;
        }
        if let Dissected::Packet(p) = dissect(link, data, orig_len) {
            if let Transport::Tcp(t) = p.transport {
                (self.scan)(t.payload, &mut self.found);
            }
        }
    }

    fn take(&mut self) -> Box<dyn Any + Send> {
        let next = self.spares.next(&self.found);
        Box::new(std::mem::replace(&mut self.found, next))
    }
}

/// Gives `run` what the scan found in the chunk now being read, and the
/// last chunk's list to `spares`.
pub(super) fn found(run: &mut Run, found: ChunkScan, spares: &Spares) {
    let found = match found {
        ChunkScan::Found(any) => any.downcast::<Found>().ok(),
        ChunkScan::Nothing => None,
    };
    if let Some(last) = run.found_ahead(found) {
        spares.give(*last);
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;
    use std::time::Duration;

    use crate::analysis::{Analyzer, Options};
    use crate::capture::CaptureReader;
    use crate::decode::spec::FrameSpec;
    use crate::flow::{Dir, FlowLimits, Tracker};
    use crate::output::Collector;
    use crate::pipeline;
    use crate::replay::synth::{pcap_bytes, SynthSession, SynthWrite};

    /// Pipelined Redis commands and replies over several MiB: writes
    /// begin at message boundaries, and writes over a segment cut
    /// messages, as a client's and a server's do. Command names vary in
    /// case and length; values include ones over a segment.
    fn session() -> SynthSession {
        let names = [
            "SET", "get", "LPUSH", "Incr", "HSET", "ZADD", "mset", "PING",
        ];
        let mut writes = Vec::new();
        let mut x: u64 = 7;
        let mut next = |n: u64| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 33) % n
        };
        for i in 0..3000u64 {
            let mut out = Vec::new();
            let mut replies = Vec::new();
            for _ in 0..1 + next(40) {
                let name = names[next(names.len() as u64) as usize];
                let value = "v".repeat(match next(50) {
                    0 => 3000,
                    k => k as usize * 7,
                });
                let args = [name, "key:000042", value.as_str()];
                out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
                for a in args {
                    out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
                }
                replies.extend_from_slice(match next(4) {
                    0 => b"+OK\r\n".as_slice(),
                    1 => b":1042\r\n",
                    2 => b"$5\r\nhello\r\n",
                    _ => b"*2\r\n$1\r\na\r\n$2\r\nbc\r\n",
                });
            }
            let pause = Duration::from_micros(100 + i % 7);
            writes.push(SynthWrite {
                dir: Dir::Client,
                pause,
                bytes: out,
            });
            writes.push(SynthWrite {
                dir: Dir::Server,
                pause,
                bytes: replies,
            });
        }
        SynthSession {
            writes,
            server_end: None,
        }
    }

    /// Analyses `reader`'s capture, keeping every message when `all`, else
    /// the first three flagged of each direction (the others are then
    /// counted, not built); returns the streams and messages as JSON and
    /// the payloads taken from what was found ahead.
    fn analyse<R: std::io::Read>(reader: &mut CaptureReader<R>, all: bool) -> (String, u64) {
        let opts = Options {
            framing: FrameSpec::parse("resp").expect("a spec"),
            ..Default::default()
        };
        let collector = Collector::new(all, usize::MAX, if all { usize::MAX } else { 3 });
        let mut tracker = Tracker::new(Analyzer::new(opts, collector), FlowLimits::default());
        pipeline::read(reader, None, &mut tracker, &mut |_| {}).expect("read");
        let hinted = tracker.sink().run.hinted;
        let (analyzer, _) = tracker.finish();
        let c = analyzer.into_report();
        let json = serde_json::to_string(&(&c.streams, &c.messages)).expect("json");
        (json, hinted)
    }

    /// Keeps every message handed over and every stream, as JSON; wants
    /// the first `wanted` flagged messages of each direction.
    struct Recording {
        wanted: u64,
        messages: Vec<String>,
        streams: Vec<String>,
    }

    impl crate::analysis::Report for Recording {
        fn message(
            &mut self,
            stream: &crate::flow::StreamInfo,
            dir: Dir,
            message: &crate::analysis::Message,
        ) {
            let row = (stream.number, dir.index(), message.flagged_index, message);
            self.messages
                .push(serde_json::to_string(&row).expect("json"));
        }

        fn stream(&mut self, result: crate::analysis::StreamResult) {
            self.streams
                .push(serde_json::to_string(&result).expect("json"));
        }

        fn flagged_wanted(&self) -> u64 {
            self.wanted
        }
    }

    /// The pipelined RESP capture `bytes` analysed in place (nothing found
    /// ahead) into a [`Recording`] that wants `wanted` flagged messages.
    fn recorded(bytes: &[u8], wanted: u64) -> Recording {
        let opts = Options {
            framing: FrameSpec::parse("resp").expect("a spec"),
            ..Default::default()
        };
        let report = Recording {
            wanted,
            messages: Vec::new(),
            streams: Vec::new(),
        };
        let mut tracker = Tracker::new(Analyzer::new(opts, report), FlowLimits::default());
        let mut reader = CaptureReader::new(Cursor::new(bytes)).expect("read");
        pipeline::read(&mut reader, None, &mut tracker, &mut |_| {}).expect("read");
        let (analyzer, _) = tracker.finish();
        analyzer.into_report()
    }

    /// The messages of a segment that holds several, past the flagged
    /// messages a report wants, are counted without being handed over:
    /// every count and every message handed over is as when the report
    /// wants them all, and nothing is left out of a report that does.
    #[test]
    fn messages_a_report_does_not_want_are_only_counted() {
        let bytes = pcap_bytes(&session()).expect("a capture");
        let all = recorded(&bytes, u64::MAX);
        let some = recorded(&bytes, 3);
        assert_eq!(some.streams, all.streams, "the streams' counts");
        let messages: usize = all
            .streams
            .iter()
            .map(|s| {
                let v: serde_json::Value = serde_json::from_str(s).expect("json");
                ["client", "server"]
                    .iter()
                    .map(|d| v["dirs"][d]["messages"].as_u64().expect("a count") as usize)
                    .sum::<usize>()
            })
            .sum();
        assert_eq!(all.messages.len(), messages, "every message handed over");
        // What the report wants is handed over, as it is when every message
        // is; others may be, and most are not.
        let flagged_index = |m: &String| {
            let v: serde_json::Value = serde_json::from_str(m).expect("json");
            v[2].as_u64()
        };
        let mut got = some.messages.iter().peekable();
        for m in &all.messages {
            if got.peek() == Some(&m) {
                got.next();
            } else {
                assert!(
                    flagged_index(m).is_some_and(|n| n >= 3),
                    "a message wanted was not handed over: {m}"
                );
            }
        }
        assert!(
            got.next().is_none(),
            "messages handed over in order, as with all"
        );
        assert!(
            some.messages.len() * 2 < all.messages.len(),
            "{} of {} messages handed over",
            some.messages.len(),
            all.messages.len()
        );
    }

    /// A capture read from a file, whose payloads' messages the read-ahead
    /// thread finds, gives every stream and message exactly as the same
    /// bytes read in place (where nothing is found ahead) do.
    #[test]
    fn messages_found_ahead_change_nothing() {
        let bytes = pcap_bytes(&session()).expect("a capture");
        assert!(bytes.len() > 4 << 20, "{} bytes: a few chunks", bytes.len());
        let dir = std::env::temp_dir().join(format!("framescope-scan-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a directory");
        let path = dir.join("resp.pcap");
        std::fs::write(&path, &bytes).expect("written");
        // Keeping every message, and keeping a few (the rest counted).
        let mut hinted = 0;
        for all in [true, false] {
            let mut in_place = CaptureReader::new(Cursor::new(bytes.clone())).expect("read");
            let (plain, none) = analyse(&mut in_place, all);
            assert_eq!(none, 0, "nothing found ahead in place");
            // Whether the thread or the reader copies each chunk depends
            // on timing: read it a few times.
            for _ in 0..3 {
                let mut reader = CaptureReader::open_for_scan(&path).expect("opened");
                let (scanned, n) = analyse(&mut reader, all);
                assert!(
                    scanned == plain,
                    "the analysis differs with messages found ahead (all: {all})"
                );
                hinted += n;
            }
        }
        std::fs::remove_dir_all(&dir).ok();
        if crate::capture::way::Way::from_env() == Some(crate::capture::way::Way::Mapped) {
            return; // FRAMESCOPE_READ=map: the file is mapped, nothing found ahead
        }
        assert!(
            hinted > 1000,
            "{hinted} payloads taken from what was found ahead"
        );
    }
}
