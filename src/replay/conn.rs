//! One replay connection: connect, send the writes while a reader thread
//! collects the replies, half-close, and wait for the server to close, reset
//! or fall silent.
//!
//! This module owns the socket and the [`Outcome`] of one run. It does not
//! frame or judge the replies ([`super::compare`] does). Replies are kept up
//! to a bound ([`MAX_REPLY_BYTES`]); past it reading stops and the outcome
//! says so.

use std::io::{ErrorKind, Read, Write as _};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::{ReplayError, Write};

/// The most reply bytes one run keeps: 64 MiB.
pub const MAX_REPLY_BYTES: usize = 64 << 20;

/// How a connection ended, as seen from the replaying side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ending {
    /// The peer closed normally (FIN).
    Closed,
    /// The peer reset the connection (RST).
    Reset,
    /// The peer neither answered nor closed within the timeout.
    Silent,
    /// The connection was refused: nothing listens (a crashed server).
    Refused,
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
            Ending::Refused => "refused",
            Ending::ReplyLimit => "reply limit",
        }
    }
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
    /// Wall time of the run.
    pub elapsed: Duration,
}

/// Connects to `addr`, sends `writes` with TCP_NODELAY and their pauses,
/// half-closes, and reads replies until the server closes, resets, or stays
/// silent for `timeout` after the last write.
pub fn exchange(
    addr: SocketAddr,
    writes: &[Write],
    timeout: Duration,
) -> Result<Outcome, ReplayError> {
    let start = Instant::now();
    let io = |what: &str| {
        let what = what.to_string();
        move |source| ReplayError::Io { what, source }
    };
    let mut stream = match TcpStream::connect_timeout(&addr, timeout.max(Duration::from_millis(1)))
    {
        Ok(s) => s,
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
            return Ok(Outcome {
                replies: Vec::new(),
                ending: Ending::Refused,
                sent: 0,
                writes: 0,
                send_error: None,
                elapsed: start.elapsed(),
            })
        }
        Err(e) => return Err(io(&format!("connecting to {addr}"))(e)),
    };
    stream
        .set_nodelay(true)
        .map_err(io("setting TCP_NODELAY"))?;
    let poll = timeout.clamp(Duration::from_millis(1), Duration::from_millis(50));
    stream
        .set_read_timeout(Some(poll))
        .map_err(io("setting the read timeout"))?;
    let mut reader = stream.try_clone().map_err(io("cloning the socket"))?;
    let done = Arc::new(AtomicBool::new(false));
    let done_r = Arc::clone(&done);
    let handle = thread::spawn(move || read_replies(&mut reader, &done_r, timeout));

    let mut sent = 0;
    let mut count = 0;
    let mut send_error = None;
    for w in writes {
        if !w.pause.is_zero() {
            thread::sleep(w.pause);
        }
        if let Err(e) = stream.write_all(&w.bytes) {
            send_error = Some(e.to_string());
            break;
        }
        sent += w.bytes.len();
        count += 1;
    }
    let _ = stream.shutdown(Shutdown::Write);
    done.store(true, Ordering::SeqCst);
    let (replies, ending) = handle.join().unwrap_or((Vec::new(), Ending::Reset));
    Ok(Outcome {
        replies,
        ending,
        sent,
        writes: count,
        send_error,
        elapsed: start.elapsed(),
    })
}

fn read_replies(stream: &mut TcpStream, done: &AtomicBool, timeout: Duration) -> (Vec<u8>, Ending) {
    let mut replies = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut quiet_since: Option<Instant> = None;
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return (replies, Ending::Closed),
            Ok(n) => {
                quiet_since = None;
                replies.extend_from_slice(buf.get(..n).unwrap_or(&[]));
                if replies.len() > MAX_REPLY_BYTES {
                    replies.truncate(MAX_REPLY_BYTES);
                    return (replies, Ending::ReplyLimit);
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if done.load(Ordering::SeqCst) {
                    let since = *quiet_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= timeout {
                        return (replies, Ending::Silent);
                    }
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return (replies, Ending::Reset),
        }
    }
}

/// Whether something listens on `addr` (a connection succeeds within
/// `timeout`).
pub fn alive(addr: SocketAddr, timeout: Duration) -> bool {
    TcpStream::connect_timeout(&addr, timeout.max(Duration::from_millis(1))).is_ok()
}
