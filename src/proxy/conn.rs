//! One proxied connection: connect to the target, then two pumps (one
//! thread per direction) that read from one peer and write to the other,
//! re-cut, noting every read and write for the analysis before it is made.
//!
//! This module owns the sockets of a connection and how its two sides
//! ended ([`End`]). A close (FIN) from one peer is passed on as a close
//! (half-close: the other direction goes on); a reset from one peer, or a
//! peer that can no longer be written to, resets the other peer. Memory per
//! connection is bounded: one read buffer of [`READ_BUF`] bytes per
//! direction, at most [`MAX_HELD`] bytes held by `coalesce:MS`, two threads
//! with small stacks.
//!
//! When a direction is re-cut (any pattern but `original`), each write
//! waits until the receiving application has read the one before
//! ([`crate::replay::peer_read`], for a peer on this host), so that every
//! piece reaches a `recv()` of its own instead of merging with the next in
//! the peer's receive queue. A peer that does not read within
//! [`READ_WAIT`] gets the next piece anyway: the proxy never stalls on it.
//! Peers on other hosts cannot be watched; their pieces go at once.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::capture::Timestamp;
use crate::flow::Dir;

use super::cut::{Cut, Cutter, MAX_HELD};
use super::LegKind;
use crate::decode::spec::FrameSpec;
use crate::replay::peer_read::PeerReadWatch;

/// Bytes one read takes at most.
pub const READ_BUF: usize = 64 * 1024;

/// The stack of each pump thread.
pub const STACK: usize = 256 * 1024;

/// The longest a re-cut piece waits for the receiver to read the one
/// before.
pub const READ_WAIT: Duration = Duration::from_secs(1);

/// How one side of a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum End {
    /// It closed (FIN).
    Closed,
    /// It reset the connection, or could no longer be written to.
    Reset,
    /// It was still open when the proxy stopped.
    Hung,
    /// The target refused the connection.
    Refused,
    /// The target could not be reached (timeout, no route).
    Unreachable,
    /// The proxy reset it because its peer reset or could not be reached.
    Cut,
}

impl End {
    /// The word in tables.
    pub fn name(self) -> &'static str {
        match self {
            End::Closed => "closed",
            End::Reset => "reset",
            End::Hung => "hung",
            End::Refused => "refused",
            End::Unreachable => "unreachable",
            End::Cut => "cut by the proxy",
        }
    }
}

/// What the analysis is told, in the order things happen.
pub(crate) enum Note {
    /// A client was accepted: its leg opens.
    Open {
        conn: u64,
        client: SocketAddr,
        listen: SocketAddr,
        ts: Timestamp,
    },
    /// The target accepted: the server leg opens.
    Connected {
        conn: u64,
        local: SocketAddr,
        target: SocketAddr,
        ts: Timestamp,
    },
    /// Bytes of `flow` read (`In`), written (`Out`) or both.
    Data {
        conn: u64,
        flow: Dir,
        legs: Legs,
        bytes: Vec<u8>,
        ts: Timestamp,
    },
    /// `dir` closed its side of `leg`.
    Fin {
        conn: u64,
        leg: LegKind,
        dir: Dir,
        ts: Timestamp,
    },
    /// `dir` reset `leg`.
    Reset {
        conn: u64,
        leg: LegKind,
        dir: Dir,
        ts: Timestamp,
    },
    /// The connection is over.
    Done(super::ConnReport),
    /// A client was turned away: `open` connections at the bound.
    Rejected {
        client: SocketAddr,
        open: usize,
        bound: usize,
    },
}

/// Which legs a [`Note::Data`] is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Legs {
    /// Read from the sender.
    In,
    /// Written to the receiver.
    Out,
    /// Read and written as is.
    Both,
}

/// The leg on which `flow`'s bytes are read.
pub(crate) fn in_leg(flow: Dir) -> LegKind {
    match flow {
        Dir::Client => LegKind::Client,
        Dir::Server => LegKind::Server,
    }
}

/// The current time as a capture timestamp.
pub(crate) fn now() -> Timestamp {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// State both pumps and the stopping proxy share.
pub(crate) struct Shared {
    pub id: u64,
    /// The client's and the server's sockets.
    pub sockets: [TcpStream; 2],
    /// How each side ended, once known.
    pub ends: Mutex<[Option<End>; 2]>,
    /// A reset is being passed on: reads that end now mean nothing.
    pub aborting: AtomicBool,
    /// The proxy is stopping: everything still open hung.
    pub stopping: AtomicBool,
}

impl Shared {
    fn quitting(&self) -> bool {
        self.aborting.load(Ordering::SeqCst) || self.stopping.load(Ordering::SeqCst)
    }

    fn set_end(&self, side: Dir, end: End) {
        if let Ok(mut e) = self.ends.lock() {
            e[side.index()].get_or_insert(end);
        }
    }

    /// The proxy stops: wakes both pumps.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        for s in &self.sockets {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// Resets `s` when its last descriptor closes.
pub(crate) fn reset_on_close(s: &TcpStream) {
    let _ = socket2::SockRef::from(s).set_linger(Some(Duration::ZERO));
}

/// One direction of a connection.
pub(crate) struct Pump {
    pub flow: Dir,
    pub from: TcpStream,
    pub to: TcpStream,
    /// The pattern and, for `frames` and `header-body`, the framing: the
    /// cutter is built on the pump's own thread.
    pub cut: (Cut, Option<FrameSpec>),
    pub notes: SyncSender<Note>,
    pub shared: Arc<Shared>,
}

/// What a pump moved.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Moved {
    pub bytes: u64,
    pub writes: u64,
}

/// Spaces the re-cut writes of one direction: each waits until the
/// receiver has read everything written before it.
struct ReadPacer {
    watch: Option<PeerReadWatch>,
}

impl ReadPacer {
    /// Watches the receiver of `to` when it runs on this host.
    fn new(to: &TcpStream) -> ReadPacer {
        ReadPacer {
            watch: PeerReadWatch::new(to).ok(),
        }
    }

    /// Waits (up to [`READ_WAIT`]) until the receiver has read the
    /// `written` bytes written so far.
    fn wait(&mut self, written: u64) {
        if written == 0 {
            return;
        }
        if let Some(w) = &mut self.watch {
            if w.wait_read(written, READ_WAIT).is_err() {
                // The socket tables cannot be read any more: go on unpaced.
                self.watch = None;
            }
        }
    }
}

impl Pump {
    fn note(&self, note: Note) {
        // The analysis ends only after every pump: sending cannot fail
        // before that.
        let _ = self.notes.send(note);
    }

    /// The sender closed: pass the close on.
    fn closed(&self) {
        let conn = self.shared.id;
        self.shared.set_end(self.flow, End::Closed);
        let leg = in_leg(self.flow);
        let dir = self.flow;
        self.note(Note::Fin {
            conn,
            leg,
            dir,
            ts: now(),
        });
        let _ = self.to.shutdown(Shutdown::Write);
        self.note(Note::Fin {
            conn,
            leg: leg.other(),
            dir,
            ts: now(),
        });
    }

    /// Side `gone` reset (or cannot be written to): reset the other.
    fn abort(&self, gone: Dir) {
        if self.shared.aborting.swap(true, Ordering::SeqCst) {
            return;
        }
        let conn = self.shared.id;
        self.shared.set_end(gone, End::Reset);
        self.shared.set_end(gone.other(), End::Cut);
        // The gone side's leg: it reset. The other leg: the proxy resets
        // its peer, playing the gone side.
        let gone_leg = in_leg(gone);
        self.note(Note::Reset {
            conn,
            leg: gone_leg,
            dir: gone,
            ts: now(),
        });
        self.note(Note::Reset {
            conn,
            leg: gone_leg.other(),
            dir: gone,
            ts: now(),
        });
        let other = &self.shared.sockets[gone.other().index()];
        reset_on_close(other);
        let _ = other.shutdown(Shutdown::Read);
        let _ = self.shared.sockets[gone.index()].shutdown(Shutdown::Both);
    }

    /// Writes `bytes` to the receiver once it has read what went before,
    /// noting it first.
    fn send(&self, pacer: &mut ReadPacer, bytes: &[u8], moved: &mut Moved) -> bool {
        pacer.wait(moved.bytes);
        self.note(Note::Data {
            conn: self.shared.id,
            flow: self.flow,
            legs: Legs::Out,
            bytes: bytes.to_vec(),
            ts: now(),
        });
        self.write(bytes, moved)
    }

    fn write(&self, bytes: &[u8], moved: &mut Moved) -> bool {
        match (&self.to).write_all(bytes) {
            Ok(()) => {
                moved.bytes += bytes.len() as u64;
                moved.writes += 1;
                true
            }
            Err(_) => {
                if !self.shared.quitting() {
                    self.abort(self.flow.other());
                }
                false
            }
        }
    }

    /// Forwards until the sender closes or resets, the receiver goes away,
    /// or the proxy stops.
    pub fn run(self) -> Moved {
        let (cut, spec) = self.cut.clone();
        let framing = spec.map(|spec| {
            let [c, s] = spec.decoders();
            let decoder = if self.flow == Dir::Client { c } else { s };
            (spec, decoder)
        });
        let mut cutter = Cutter::new(cut, framing);
        let mut moved = Moved::default();
        let mut buf = vec![0u8; READ_BUF];
        let mut held: Vec<u8> = Vec::new();
        let mut held_since: Option<Instant> = None;
        let mut lens = Vec::new();
        let original = cutter.cut() == Cut::Split(crate::replay::Split::Original);
        let mut pacer = if original {
            ReadPacer { watch: None }
        } else {
            ReadPacer::new(&self.to)
        };
        loop {
            if let Some(hold) = cutter.hold() {
                let wait = held_since.map(|t| hold.saturating_sub(t.elapsed()));
                if wait == Some(Duration::ZERO) {
                    held_since = None;
                    if !self.send(&mut pacer, &std::mem::take(&mut held), &mut moved) {
                        return moved;
                    }
                    continue;
                }
                let _ = self
                    .from
                    .set_read_timeout(wait.map(|w| w.max(Duration::from_millis(1))));
            }
            match (&self.from).read(&mut buf) {
                Ok(0) => {
                    if self.shared.quitting() {
                        return moved;
                    }
                    if !held.is_empty()
                        && !self.send(&mut pacer, &std::mem::take(&mut held), &mut moved)
                    {
                        return moved;
                    }
                    self.closed();
                    return moved;
                }
                Ok(n) => {
                    let bytes = &buf[..n];
                    let ts = now();
                    let (conn, flow) = (self.shared.id, self.flow);
                    if original {
                        self.note(Note::Data {
                            conn,
                            flow,
                            legs: Legs::Both,
                            bytes: bytes.to_vec(),
                            ts,
                        });
                        if !self.write(bytes, &mut moved) {
                            return moved;
                        }
                        continue;
                    }
                    self.note(Note::Data {
                        conn,
                        flow,
                        legs: Legs::In,
                        bytes: bytes.to_vec(),
                        ts,
                    });
                    if cutter.hold().is_some() {
                        held.extend_from_slice(bytes);
                        held_since.get_or_insert_with(Instant::now);
                        if held.len() >= MAX_HELD {
                            held_since = None;
                            if !self.send(&mut pacer, &std::mem::take(&mut held), &mut moved) {
                                return moved;
                            }
                        }
                        continue;
                    }
                    lens.clear();
                    cutter.lengths(bytes, &mut lens);
                    let mut at = 0;
                    for &len in &lens {
                        if !self.send(&mut pacer, &bytes[at..at + len], &mut moved) {
                            return moved;
                        }
                        at += len;
                    }
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    if !held.is_empty() {
                        held_since = None;
                        if !self.send(&mut pacer, &std::mem::take(&mut held), &mut moved) {
                            return moved;
                        }
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    if !self.shared.quitting() {
                        self.abort(self.flow);
                    }
                    return moved;
                }
            }
        }
    }
}

/// Starts a pump on a thread of its own.
pub(crate) fn spawn(pump: Pump) -> std::io::Result<thread::JoinHandle<Moved>> {
    thread::Builder::new()
        .name(format!("proxy-{}-{}", pump.shared.id, pump.flow.name()))
        .stack_size(STACK)
        .spawn(move || pump.run())
}
