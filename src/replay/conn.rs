//! One replay connection: connect (or take a client's connection, for
//! `replay --serve`), send the writes while a reader thread collects what
//! the peer sends, end the sending side the way the captured peer did, and
//! wait for the peer to close, reset or fall silent.
//!
//! This module owns the socket and the [`Outcome`] of one run. Each write
//! is paced by [`Pacing`]: on a target on this host, the next write waits
//! until the server application has read the previous one
//! ([`super::peer_read`]), so that every cut reaches a `recv()` of its own
//! and no time is spent on guessed pauses; elsewhere a pause stands in. A
//! server that stops reading for longer than the timeout is an outcome
//! ([`Outcome::stalled`]), not an error. How the sending side ends is
//! [`Close`]. A write may also wait for its turn ([`Turns`]): until the
//! peer has sent what preceded it in the capture, as a server's reply waits
//! for the request. Replies are kept up to a bound ([`MAX_REPLY_BYTES`]);
//! past it reading stops and the outcome says so. It does not judge the
//! replies ([`super::compare`] does).

use std::io::{ErrorKind, Read, Write as _};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crate::decode::spec::FrameSpec;
use crate::decode::{Decoder, Step};
use crate::flow::Dir;

use super::peer_read::{Method, PeerReadWatch, ReadWait};
use super::{ReplayError, Write};

/// The most reply bytes one run keeps: 64 MiB.
pub const MAX_REPLY_BYTES: usize = 64 << 20;

/// How a connection ended, as seen from the replaying side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ending {
    /// The peer closed normally (FIN).
    Closed,
    /// The peer reset the connection (RST).
    Reset,
    /// The peer neither answered nor closed within the timeout.
    Silent,
    /// The replies exceeded [`MAX_REPLY_BYTES`]; reading stopped.
    ReplyLimit,
}

impl Ending {
    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Ending::Closed => "closed",
            Ending::Reset => "reset",
            Ending::Silent => "silent",
            Ending::ReplyLimit => "reply limit",
        }
    }
}

/// How writes are spaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pacing {
    /// Each write waits until the server application has read the one
    /// before (bounded by the run's timeout); where the server's socket is
    /// not visible from this host, each write's own [`Write::pause`].
    UntilRead,
    /// Each write's own [`Write::pause`] before it, nothing else.
    Pauses,
}

/// What the sending side does after its last write.
#[derive(Clone, Debug)]
pub enum Close {
    /// Shut down the sending direction at once (after the server has read
    /// the last write): a client that half-closed.
    HalfClose,
    /// Wait for this many reply messages (framed with the spec of the reply
    /// direction), or for the replies to stay silent for the timeout, then
    /// shut down the sending direction: a client that closed once it had
    /// its answers.
    AfterReplies {
        /// The framing of both directions.
        spec: FrameSpec,
        /// The direction of the replies.
        dir: Dir,
        /// How many reply messages to wait for.
        count: usize,
    },
    /// Keep the connection open until the server closes it or falls silent.
    Keep,
}

/// What the peer must have sent before each write: a served client's
/// requests before each captured reply.
#[derive(Clone, Debug)]
pub struct Turns {
    /// The framing the peer's messages are counted with (its direction's
    /// decoder); `None`: its bytes are counted.
    pub count: Option<(FrameSpec, Dir)>,
    /// For each write, the messages (or bytes) the peer must have sent
    /// before it; writes past the end of the list wait for nothing.
    pub after: Vec<u64>,
}

/// How one run is made.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Silence after the sending ends that counts as [`Ending::Silent`];
    /// also the longest wait for the server to read one write.
    pub timeout: Duration,
    /// How writes are spaced.
    pub pacing: Pacing,
    /// How the sending side ends.
    pub close: Close,
    /// When each write may go; `None`: at once.
    pub turns: Option<Turns>,
}

/// How writes were actually spaced in a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Paced {
    /// Each write waited until the server had read the one before.
    UntilRead(Method),
    /// By pauses: asked for, or the server's socket was not visible.
    Pauses,
}

/// What one run saw.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Every reply byte received, in order.
    pub replies: Vec<u8>,
    /// How the connection ended.
    pub ending: Ending,
    /// Bytes written before the last write (or the end).
    pub sent: usize,
    /// Writes made.
    pub writes: usize,
    /// Why sending stopped early, if it did.
    pub send_error: Option<String>,
    /// The server stopped reading: the bytes it had read when the wait for
    /// it to read passed the timeout (sending stopped there).
    pub stalled: Option<u64>,
    /// How the writes were spaced.
    pub paced: Paced,
    /// Wall time of the run.
    pub elapsed: Duration,
}

/// The replies as the reader thread leaves them.
#[derive(Default)]
struct Inbox {
    bytes: Vec<u8>,
    ending: Option<Ending>,
    last: Option<Instant>,
}

type Shared = Arc<(Mutex<Inbox>, Condvar)>;

/// Connects to `addr` and runs `writes` as `options` say. `progress` is
/// called after each write with the writes made so far.
pub fn exchange(
    addr: SocketAddr,
    writes: &[Write],
    options: &RunOptions,
    progress: &mut dyn FnMut(usize),
) -> Result<Outcome, ReplayError> {
    let timeout = options.timeout.max(Duration::from_millis(1));
    let stream = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|source| ReplayError::Connect { addr, source })?;
    exchange_on(stream, writes, options, progress)
}

/// Runs `writes` on the connected `stream` as `options` say, and closes
/// it. `progress` is called after each write with the writes made so far.
pub fn exchange_on(
    mut stream: TcpStream,
    writes: &[Write],
    options: &RunOptions,
    progress: &mut dyn FnMut(usize),
) -> Result<Outcome, ReplayError> {
    let start = Instant::now();
    let timeout = options.timeout.max(Duration::from_millis(1));
    let io = |what: &str| {
        let what = what.to_string();
        move |source| ReplayError::Io { what, source }
    };
    stream
        .set_nodelay(true)
        .map_err(io("setting TCP_NODELAY"))?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(io("setting the write timeout"))?;
    let poll = timeout.clamp(Duration::from_millis(1), Duration::from_millis(50));
    stream
        .set_read_timeout(Some(poll))
        .map_err(io("setting the read timeout"))?;
    let mut watch = match options.pacing {
        Pacing::UntilRead => PeerReadWatch::new(&stream).ok(),
        Pacing::Pauses => None,
    };
    let paced = watch
        .as_ref()
        .map_or(Paced::Pauses, |w| Paced::UntilRead(w.method()));

    let mut reader = stream.try_clone().map_err(io("cloning the socket"))?;
    let shared: Shared = Arc::new((Mutex::new(Inbox::default()), Condvar::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let handle = {
        let shared = Arc::clone(&shared);
        let stop = Arc::clone(&stop);
        thread::spawn(move || read_replies(&mut reader, &shared, &stop))
    };

    let mut sent = 0;
    let mut count = 0;
    let mut send_error = None;
    let mut stalled = None;
    let mut turn = options
        .turns
        .as_ref()
        .map(|t| (t, Counter::new(t.count.as_ref())));
    for (i, w) in writes.iter().enumerate() {
        if let Some((turns, counter)) = &mut turn {
            let need = turns.after.get(i).copied().unwrap_or(0);
            let what = if turns.count.is_some() {
                "messages"
            } else {
                "bytes"
            };
            match counter.wait(&shared, need, timeout) {
                Waited::Done => {}
                Waited::Ended(have) => {
                    send_error = Some(format!(
                        "the peer ended after sending {have} of the {need} {what} that precede write {} in the capture",
                        i + 1
                    ));
                    break;
                }
                Waited::Silent(have) => {
                    send_error = Some(format!(
                        "the peer sent {have} of the {need} {what} that precede write {} in the capture, then nothing for {} ms",
                        i + 1,
                        timeout.as_millis()
                    ));
                    break;
                }
            }
        }
        if i > 0 && watch.is_none() && !w.pause.is_zero() {
            thread::sleep(w.pause);
        }
        if let Err(e) = stream.write_all(&w.bytes) {
            send_error = Some(e.to_string());
            break;
        }
        sent += w.bytes.len();
        count += 1;
        progress(count);
        if let Some(watch) = &mut watch {
            match watch.wait_read(sent as u64, timeout) {
                Ok(ReadWait::Read | ReadWait::Gone) => {}
                Ok(ReadWait::Stalled { read, .. }) => {
                    stalled = Some(read);
                    break;
                }
                Err(e) => return Err(io("reading the server's socket queues")(e)),
            }
        }
    }
    match &options.close {
        Close::HalfClose => {
            let _ = stream.shutdown(Shutdown::Write);
        }
        Close::AfterReplies { spec, dir, count } => {
            let mut counter = Counter::new(Some(&(spec.clone(), *dir)));
            counter.wait(&shared, *count as u64, timeout);
            let _ = stream.shutdown(Shutdown::Write);
        }
        Close::Keep => {}
    }
    let ending = wait_for_end(&shared, timeout);
    stop.store(true, Ordering::SeqCst);
    let _ = handle.join();
    let (lock, _) = &*shared;
    let mut inbox = lock.lock().unwrap_or_else(PoisonError::into_inner);
    Ok(Outcome {
        replies: std::mem::take(&mut inbox.bytes),
        ending,
        sent,
        writes: count,
        send_error,
        stalled,
        paced,
        elapsed: start.elapsed(),
    })
}

/// How a wait for the peer's messages ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Waited {
    /// They are in (or the peer's bytes stopped framing: there is nothing
    /// left to count, and waiting would only stall).
    Done,
    /// The connection ended with this many in.
    Ended(u64),
    /// The peer was silent for the timeout with this many in.
    Silent(u64),
}

/// Counts what the peer has sent: its messages, framed with its
/// direction's decoder, or its bytes.
struct Counter {
    decoder: Option<Box<dyn Decoder>>,
    /// Messages framed, or bytes.
    have: u64,
    /// Bytes of the inbox looked at.
    fed: usize,
    /// The peer's bytes stopped framing.
    broken: bool,
}

impl Counter {
    /// Counts messages framed as `count` says, or bytes.
    fn new(count: Option<&(FrameSpec, Dir)>) -> Counter {
        let decoder = count.map(|(spec, dir)| {
            let [c, s] = spec.decoders();
            if *dir == Dir::Client {
                c
            } else {
                s
            }
        });
        Counter {
            decoder,
            have: 0,
            fed: 0,
            broken: false,
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        let Some(mut rest) = bytes.get(self.fed..) else {
            return;
        };
        self.fed = bytes.len();
        let Some(decoder) = &mut self.decoder else {
            self.have = bytes.len() as u64;
            return;
        };
        while !rest.is_empty() && !self.broken {
            match decoder.decode(rest) {
                Ok(Step::Frame { consumed, .. }) if consumed > 0 => {
                    self.have += 1;
                    rest = rest.get(consumed..).unwrap_or(&[]);
                }
                Ok(_) => break,
                Err(_) => self.broken = true,
            }
        }
    }

    /// Waits until `need` messages (or bytes) have arrived, the connection
    /// ended, or the peer stayed silent for `timeout`.
    fn wait(&mut self, shared: &Shared, need: u64, timeout: Duration) -> Waited {
        let (lock, cvar) = &**shared;
        let mut quiet_since = Instant::now();
        let mut inbox = lock.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if inbox.bytes.len() > self.fed {
                self.feed(&inbox.bytes);
                quiet_since = Instant::now();
            }
            if self.have >= need || self.broken {
                return Waited::Done;
            }
            if inbox.ending.is_some() {
                return Waited::Ended(self.have);
            }
            let left = timeout.saturating_sub(quiet_since.elapsed());
            if left.is_zero() {
                return Waited::Silent(self.have);
            }
            inbox = cvar
                .wait_timeout(inbox, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// Waits until the reader thread saw the end of the connection, or the
/// replies stayed silent for `timeout` (counted from now or from the last
/// reply, whichever is later).
fn wait_for_end(shared: &Shared, timeout: Duration) -> Ending {
    let (lock, cvar) = &**shared;
    let from = Instant::now();
    let mut inbox = lock.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        if let Some(e) = inbox.ending {
            return e;
        }
        let since = inbox.last.map_or(from, |l| l.max(from));
        let left = timeout.saturating_sub(since.elapsed());
        if left.is_zero() {
            return Ending::Silent;
        }
        inbox = cvar
            .wait_timeout(inbox, left)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
}

fn read_replies(stream: &mut TcpStream, shared: &Shared, stop: &AtomicBool) {
    let (lock, cvar) = &**shared;
    let mut buf = vec![0u8; 64 * 1024];
    let finish = |ending: Ending| {
        let mut inbox = lock.lock().unwrap_or_else(PoisonError::into_inner);
        inbox.ending = Some(ending);
        cvar.notify_all();
    };
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return finish(Ending::Closed),
            Ok(n) => {
                let mut inbox = lock.lock().unwrap_or_else(PoisonError::into_inner);
                let room = MAX_REPLY_BYTES.saturating_sub(inbox.bytes.len());
                let got = buf.get(..n).unwrap_or(&[]);
                inbox
                    .bytes
                    .extend_from_slice(got.get(..room.min(n)).unwrap_or(&[]));
                inbox.last = Some(Instant::now());
                cvar.notify_all();
                if n > room {
                    drop(inbox);
                    return finish(Ending::ReplyLimit);
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return finish(Ending::Reset),
        }
    }
}

/// Whether something listens on `addr` (a connection succeeds within
/// `timeout`).
pub fn alive(addr: SocketAddr, timeout: Duration) -> bool {
    TcpStream::connect_timeout(&addr, timeout.max(Duration::from_millis(1))).is_ok()
}
