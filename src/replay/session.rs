//! One captured TCP stream, kept whole for replay: each direction's bytes in
//! capture order, cut where the captured segments were cut, with the record
//! number and timestamp of each segment, and how each side ended.
//!
//! This module owns loading a session from a capture through the
//! [`Tracker`]. It refuses a stream with missing bytes (a replay sends what
//! was said, not a guess) and bounds what it keeps per direction.

use std::path::Path;

use crate::capture::Timestamp;
use crate::dissect::TcpFlags;
use crate::flow::reassembly::Event;
use crate::flow::{Dir, FlowLimits, PacketMeta, Proto, Sink, StreamInfo, StreamStats, Tracker};
use crate::pipeline;

use super::{Ending, ReplayError};

/// The most bytes a session keeps per direction: 64 MiB.
pub const MAX_SESSION_BYTES: usize = 64 << 20;

/// One captured segment's new bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// Record number of the segment in the capture (0 for synthetic ones).
    pub record: u64,
    /// Capture time.
    pub ts: Timestamp,
}

/// A stream ready to replay.
#[derive(Clone, Debug, Default)]
pub struct Session {
    /// Segments per direction (client, server), in capture order.
    pub dirs: [Vec<Segment>; 2],
    /// How each direction ended in the capture: FIN (`Closed`), RST
    /// (`Reset`), or not seen (`None`).
    pub ends: [Option<Ending>; 2],
    /// The record number of each direction's first FIN or RST.
    pub end_records: [Option<u64>; 2],
    /// The TCP ports: client, server.
    pub ports: [u16; 2],
}

impl Session {
    /// All bytes of `dir`, concatenated.
    pub fn bytes(&self, dir: Dir) -> Vec<u8> {
        self.dirs[dir.index()]
            .iter()
            .flat_map(|s| s.bytes.iter().copied())
            .collect()
    }

    /// Whether `dir` ended its sending (FIN or RST) before the other
    /// direction's last data: it half-closed and still got data after.
    pub fn half_closed(&self, dir: Dir) -> bool {
        let last_other = self.dirs[dir.other().index()].last().map(|s| s.record);
        matches!((self.end_records[dir.index()], last_other), (Some(end), Some(last)) if end < last)
    }

    /// Loads TCP stream `stream` of the capture at `path`.
    pub fn load(path: &Path, stream: u64) -> Result<Session, ReplayError> {
        let mut tracker = Tracker::new(
            Loader {
                stream,
                session: Session::default(),
                sizes: [0, 0],
                error: None,
                found: false,
            },
            FlowLimits::default(),
        );
        pipeline::run(path, None, &mut tracker)?;
        let (loader, stats) = tracker.finish();
        if let Some(e) = loader.error {
            return Err(e);
        }
        if !loader.found {
            return Err(ReplayError::NoStream {
                stream,
                streams: stats.tcp_streams,
            });
        }
        Ok(loader.session)
    }
}

struct Loader {
    stream: u64,
    session: Session,
    sizes: [usize; 2],
    error: Option<ReplayError>,
    found: bool,
}

impl Sink for Loader {
    type Stream = bool;

    fn open(&mut self, info: &StreamInfo) -> bool {
        let target = info.proto == Proto::Tcp && info.number == self.stream;
        self.found |= target;
        if target {
            self.session.ports = [info.client.port(), info.server.port()];
        }
        target
    }

    fn packet(&mut self, target: &mut bool, dir: Dir, meta: &PacketMeta) {
        if !*target {
            return;
        }
        let end = &mut self.session.ends[dir.index()];
        if meta.flags.has(TcpFlags::RST) {
            *end = Some(Ending::Reset);
        } else if meta.flags.has(TcpFlags::FIN) && end.is_none() {
            *end = Some(Ending::Closed);
        }
        if end.is_some() {
            self.session.end_records[dir.index()].get_or_insert(meta.record);
        }
    }

    fn event(&mut self, target: &mut bool, dir: Dir, event: Event<'_>) {
        if !*target || self.error.is_some() {
            return;
        }
        match event {
            Event::Data {
                bytes, record, ts, ..
            } => {
                let size = &mut self.sizes[dir.index()];
                *size = size.saturating_add(bytes.len());
                if *size > MAX_SESSION_BYTES {
                    self.error = Some(ReplayError::TooLarge {
                        dir,
                        limit: MAX_SESSION_BYTES,
                    });
                    return;
                }
                self.session.dirs[dir.index()].push(Segment {
                    bytes: bytes.to_vec(),
                    record,
                    ts,
                });
            }
            Event::Gap { offset, len, .. } => {
                self.error = Some(ReplayError::Gap { dir, offset, len });
            }
            Event::Conflict { .. } => {}
        }
    }

    fn close(&mut self, _st: bool, _info: &StreamInfo, _stats: &StreamStats) {}
}
