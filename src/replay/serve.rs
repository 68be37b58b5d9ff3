//! Playing the captured server side to live clients: `replay --serve`.
//!
//! This module owns [`ServeListener`] (the listening socket, loopback only
//! unless allowed, and the thread that accepts on it) and
//! [`serve_patterns`], which makes the runs of an invocation as
//! [`super::run_patterns`] does toward servers: two reference runs with the
//! captured segments ([`super::SERVE_REFERENCE_SPLIT`]), then one run per
//! write pattern, each judged against the reference with the same
//! [`super::Reference`].
//!
//! A run serves one connection: the captured server side, cut by the
//! pattern and cut again at every turn of the conversation, so that each
//! captured reply is written only after the client has sent what preceded
//! it in the capture (its messages, framed with the stream's framing, or
//! its bytes where the stream does not frame). Each write waits until the
//! client application has read the one before ([`super::peer_read`]), so
//! that every cut reaches a `recv()` of its own.
//!
//! ```text
//! capture:  C: uptime\n          S: [len|output]        C: ls\n      S: [len|output...2.3 KB]
//! run:      wait for 1 message -> write(s) of reply 1 -> wait for 2 -> write(s) of reply 2
//!                                 each cut read by the client before the next goes
//! ```
//!
//! With a [`ClientCommand`], each run starts the client program, serves
//! its first connection (later ones are reset and counted), and waits for
//! it to exit, killing it at its bound; its exit status and output join the
//! verdict. Without one, each run serves the next client that connects
//! (a client that connects early waits in line for its run).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::client::{kill_group, ClientCommand, ClientRun, Exit};
use super::conn::{self, Outcome, Paced};
use super::{
    judge_patterns, resolve, Ending, PatternOptions, PatternReport, Replay, ReplayError,
    RunOptions, RunProgress, RunReport, Split, SERVE_REFERENCE_SPLIT,
};

/// How long a killed client program may take to be reaped before the run
/// goes on without it.
const REAP_BOUND: Duration = Duration::from_secs(5);

/// What the accepting thread and the client programs' waiters report.
enum Arrival {
    /// A client connected.
    Connection(TcpStream),
    /// The client program of run `run` exited.
    Exited { run: u64, exit: Exit },
}

/// A listening socket for `replay --serve`, with a thread accepting on it.
pub struct ServeListener {
    addr: SocketAddr,
    arrivals: Receiver<Arrival>,
    sender: Sender<Arrival>,
    stop: Arc<AtomicBool>,
    runs: u64,
}

impl ServeListener {
    /// Listens on `addr` (`HOST:PORT`; port 0 takes a free one), a loopback
    /// address unless `allow_remote`.
    pub fn bind(addr: &str, allow_remote: bool) -> Result<ServeListener, ReplayError> {
        let wanted = resolve(addr)?;
        if !allow_remote && !wanted.ip().is_loopback() {
            return Err(ReplayError::ListenNotLoopback { addr: wanted });
        }
        let listener = TcpListener::bind(wanted).map_err(|source| ReplayError::Listen {
            addr: wanted,
            source,
        })?;
        let addr = listener
            .local_addr()
            .map_err(|source| ReplayError::Listen {
                addr: wanted,
                source,
            })?;
        let (sender, arrivals) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        {
            let sender = sender.clone();
            let stop = Arc::clone(&stop);
            thread::Builder::new()
                .name("serve-accept".into())
                .spawn(move || {
                    for conn in listener.incoming() {
                        if stop.load(Ordering::SeqCst) {
                            return;
                        }
                        if let Ok(c) = conn {
                            if sender.send(Arrival::Connection(c)).is_err() {
                                return;
                            }
                        }
                    }
                })
                .map_err(|source| ReplayError::Io {
                    what: "starting the accepting thread".into(),
                    source,
                })?;
        }
        Ok(ServeListener {
            addr,
            arrivals,
            sender,
            stop,
            runs: 0,
        })
    }

    /// The address listened on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Resets the connections that arrived between runs: they belong to no
    /// run. Returns how many.
    fn turn_away_stale(&self) -> usize {
        let mut n = 0;
        while let Ok(a) = self.arrivals.try_recv() {
            if let Arrival::Connection(c) = a {
                reset(c);
                n += 1;
            }
        }
        n
    }
}

impl Drop for ServeListener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let wake = match self.addr {
            SocketAddr::V4(a) if a.ip().is_unspecified() => {
                SocketAddr::from(([127, 0, 0, 1], a.port()))
            }
            SocketAddr::V6(a) if a.ip().is_unspecified() => {
                SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, a.port()))
            }
            a => a,
        };
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
    }
}

/// Closes `c` with a reset.
fn reset(c: TcpStream) {
    let _ = socket2::SockRef::from(&c).set_linger(Some(Duration::ZERO));
}

/// Where a set of served runs stands.
#[derive(Clone, Copy, Debug)]
pub enum ServeProgress<'a> {
    /// Waiting for a client to connect, for the run named.
    Waiting {
        /// The run.
        run: &'a str,
        /// The address listened on.
        addr: SocketAddr,
    },
    /// Writes made in a run.
    Writes(RunProgress<'a>),
}

/// Serves the reference runs, then each pattern, one connection each, and
/// judges each pattern against the reference. With `client`, each run
/// starts the client program and its exit and output join the verdict.
pub fn serve_patterns(
    replay: &Replay,
    listener: &mut ServeListener,
    options: &PatternOptions,
    client: Option<&ClientCommand>,
    progress: &mut dyn FnMut(ServeProgress<'_>),
) -> Result<PatternReport, ReplayError> {
    let mut run = |name: &str, split: Split, replies: usize| -> Result<RunReport, ReplayError> {
        serve_run(
            replay,
            listener,
            options,
            client,
            (name, split, replies),
            progress,
        )
    };
    judge_patterns(replay, options, SERVE_REFERENCE_SPLIT, &mut run)
}

/// One served run: the pattern's writes, cut at the turns, on the next
/// connection (of the client program, when there is one).
fn serve_run(
    replay: &Replay,
    listener: &mut ServeListener,
    options: &PatternOptions,
    client: Option<&ClientCommand>,
    (name, split, replies): (&str, Split, usize),
    progress: &mut dyn FnMut(ServeProgress<'_>),
) -> Result<RunReport, ReplayError> {
    let writes = replay.writes(split, options.pace)?;
    let (writes, turns) = replay.in_turns(writes);
    let run_options = RunOptions {
        timeout: options.timeout,
        pacing: options.pace.pacing(),
        close: replay.close(replies, options.half_close),
        turns: Some(turns),
    };
    let total = writes.len();
    let serve = |stream: TcpStream,
                 progress: &mut dyn FnMut(ServeProgress<'_>)|
     -> Result<Outcome, ReplayError> {
        let start = Instant::now();
        conn::exchange_on(stream, &writes, &run_options, &mut |done| {
            progress(ServeProgress::Writes(RunProgress {
                run: name,
                done,
                total,
                elapsed: start.elapsed(),
            }))
        })
    };
    listener.runs += 1;
    let Some(command) = client else {
        progress(ServeProgress::Waiting {
            run: name,
            addr: listener.addr,
        });
        loop {
            match listener.arrivals.recv() {
                Ok(Arrival::Connection(c)) => return Ok(replay.observe(serve(c, progress)?, None)),
                Ok(Arrival::Exited { .. }) => {}
                Err(_) => {
                    return Err(ReplayError::Io {
                        what: "accepting a client".into(),
                        source: std::io::Error::other("the accepting thread ended"),
                    })
                }
            }
        }
    };
    // Connections made between runs belong to no client program.
    listener.turn_away_stale();
    let run = listener.runs;
    let started = Instant::now();
    let running = command.start(listener.addr)?;
    let group = running.id();
    let sender = listener.sender.clone();
    let waiter = running.wait_on_thread(move |exit| {
        let _ = sender.send(Arrival::Exited { run, exit });
    });
    let deadline = started + command.timeout;
    let mut outcome = None;
    let mut connections = 0;
    let mut killed = false;
    let exit = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let bound = if killed { REAP_BOUND } else { left };
        match listener.arrivals.recv_timeout(bound) {
            Ok(Arrival::Connection(c)) => {
                connections += 1;
                if outcome.is_none() {
                    match serve(c, progress) {
                        Ok(o) => outcome = Some(o),
                        Err(e) => {
                            // The run cannot go on: the client goes too.
                            kill_group(group);
                            return Err(e);
                        }
                    }
                } else {
                    reset(c);
                }
            }
            Ok(Arrival::Exited { run: r, exit }) if r == run => {
                break if killed { Exit::Hung } else { exit };
            }
            Ok(Arrival::Exited { .. }) => {}
            Err(RecvTimeoutError::Timeout) if !killed => {
                kill_group(group);
                killed = true;
            }
            Err(_) => break Exit::Hung,
        }
    };
    connections += listener.turn_away_stale();
    let (stdout, stderr) = waiter.join().unwrap_or_default();
    let outcome = outcome.unwrap_or_else(|| Outcome {
        replies: Vec::new(),
        ending: Ending::Silent,
        sent: 0,
        writes: 0,
        send_error: Some("the client never connected".into()),
        stalled: None,
        paced: Paced::Pauses,
        elapsed: started.elapsed(),
    });
    Ok(replay.observe(
        outcome,
        Some(ClientRun {
            exit,
            stdout,
            stderr,
            connections,
        }),
    ))
}
