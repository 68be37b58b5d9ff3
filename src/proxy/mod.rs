//! A TCP proxy for live traffic that re-cuts what it forwards and analyses
//! both directions as it goes.
//!
//! This module owns [`Proxy`]: it listens, connects each client to the
//! target, forwards both directions re-cut with a [`Cut`] per direction
//! ([`cut`]; one pair of threads per connection, [`conn`]), and feeds every
//! read and write it makes, as synthesized TCP/IP packets ([`wire`]), to
//! the same [`Analyzer`] that `analyze` runs on a capture, with [`answers`]
//! watching for a peer that answers a message it has only part of. It
//! optionally writes those packets as a pcap file. It does not print: a
//! caller's [`Observer`] sees each event, and [`Proxy::run`] returns the
//! report and a [`ProxySummary`].
//!
//! ```text
//! client ──> listen [proxy] local ──> target
//!              │  re-cut: --split-client (to the server), --split-server (to the client)
//!              └─ every read and write ─> analysis (two streams per connection)
//! ```
//!
//! # Bounds
//!
//! * Connections open at once: [`ProxyConfig::max_connections`]; a client
//!   past it is reset at once and reported ([`Event::Rejected`]).
//! * Per connection: two threads of [`conn::STACK`] bytes of stack, one
//!   read buffer of [`conn::READ_BUF`] bytes per direction, at most
//!   [`cut::MAX_HELD`] bytes held by `coalesce:MS`.
//! * Notes waiting for the analysis: [`MAX_NOTES`] (a pump waits when the
//!   analysis is behind), each at most one read.
//! * The analysis: the bounds of [`FlowLimits`] and of the analyzer.
//! * Connection rows and findings kept for the report: [`MAX_ROWS`] and
//!   [`answers::MAX_FINDINGS`]; past them they are counted.
//!
//! Only loopback addresses are listened on and connected to unless the
//! caller allows remote ones.

pub mod answers;
pub mod conn;
pub mod cut;
pub mod wire;

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub use answers::{Answers, Finding};
pub use conn::End;
pub use cut::{Cut, Cutter};

use crate::analysis::{Analyzer, Options, Report};
use crate::decode::spec::FrameSpec;
use crate::flow::{Dir, FlowLimits, Tracker, TrackerStats};
use crate::pipeline::CaptureSummary;
use conn::{Legs, Note, Pump, Shared};
use wire::{Leg, Wire};

/// Notes queued for the analysis at most.
pub const MAX_NOTES: usize = 256;

/// Connection rows kept for the report; past it they are counted.
pub const MAX_ROWS: usize = 10_000;

/// The default bound on connections open at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// The two legs of a proxied connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LegKind {
    /// Client to the proxy's listening address.
    Client,
    /// The proxy's outgoing port to the target.
    Server,
}

impl LegKind {
    /// The other leg.
    pub fn other(self) -> LegKind {
        match self {
            LegKind::Client => LegKind::Server,
            LegKind::Server => LegKind::Client,
        }
    }

    /// `client` or `server`.
    pub fn name(self) -> &'static str {
        match self {
            LegKind::Client => "client",
            LegKind::Server => "server",
        }
    }

    fn index(self) -> usize {
        match self {
            LegKind::Client => 0,
            LegKind::Server => 1,
        }
    }
}

/// What to proxy and how.
#[derive(Clone, Debug)]
pub struct ProxyConfig {
    /// `HOST:PORT` to listen on.
    pub listen: String,
    /// `HOST:PORT` to connect each client to.
    pub target: String,
    /// Allow addresses that are not loopback.
    pub allow_remote: bool,
    /// How bytes toward the server are cut.
    pub client_cut: Cut,
    /// How bytes toward the client are cut.
    pub server_cut: Cut,
    /// The framing `frames` and `header-body` cut by.
    pub framing: Option<FrameSpec>,
    /// Connections open at once.
    pub max_connections: usize,
    /// Stop once this many connections have finished.
    pub connections: Option<u64>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// How long connecting to the target may take.
    pub connect_timeout: Duration,
    /// Write every packet of both legs to this pcap file.
    pub write: Option<PathBuf>,
}

impl ProxyConfig {
    /// Proxies `listen` to `target` with the defaults: both directions
    /// `original`, 1,024 connections, until stopped.
    pub fn new(listen: &str, target: &str) -> Self {
        ProxyConfig {
            listen: listen.to_string(),
            target: target.to_string(),
            allow_remote: false,
            client_cut: Cut::Split(crate::replay::Split::Original),
            server_cut: Cut::Split(crate::replay::Split::Original),
            framing: None,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            connections: None,
            duration: None,
            connect_timeout: Duration::from_secs(5),
            write: None,
        }
    }
}

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// An address does not resolve.
    #[error("cannot resolve {what} address {addr:?}: {why}")]
    Resolve {
        /// `listen` or `target`.
        what: &'static str,
        /// As given.
        addr: String,
        /// Why.
        why: String,
    },
    /// An address is not loopback and remote ones are not allowed.
    #[error("{what} address {addr} is not a loopback address; the proxy listens on and connects to 127.0.0.0/8 and ::1 only, unless --allow-remote is given")]
    NotLoopback {
        /// `listen` or `target`.
        what: &'static str,
        /// The resolved address.
        addr: SocketAddr,
    },
    /// `frames` or `header-body` without a framing.
    #[error("--split-{side} {cut} cuts at message boundaries: give the framing with --frame")]
    NeedsFraming {
        /// `client` or `server`.
        side: &'static str,
        /// The pattern.
        cut: Cut,
    },
    /// A socket, thread or file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: io::Error,
    },
}

fn io_error(what: impl Into<String>) -> impl FnOnce(io::Error) -> ProxyError {
    let what = what.into();
    move |source| ProxyError::Io { what, source }
}

/// Resolves `addr` and refuses non-loopback addresses unless allowed.
fn resolve(what: &'static str, addr: &str, allow_remote: bool) -> Result<SocketAddr, ProxyError> {
    let resolved = addr
        .to_socket_addrs()
        .map_err(|e| ProxyError::Resolve {
            what,
            addr: addr.to_string(),
            why: e.to_string(),
        })?
        .next()
        .ok_or_else(|| ProxyError::Resolve {
            what,
            addr: addr.to_string(),
            why: "no address".to_string(),
        })?;
    if !allow_remote && !resolved.ip().is_loopback() {
        return Err(ProxyError::NotLoopback {
            what,
            addr: resolved,
        });
    }
    Ok(resolved)
}

/// One finished (or cut short) connection.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ConnReport {
    /// Connections are numbered from 0 in the order they were accepted.
    pub id: u64,
    /// The client's address.
    pub client: SocketAddr,
    /// The proxy's outgoing address, once connected.
    pub local: Option<SocketAddr>,
    /// The analysis' stream numbers of the client leg and the server leg.
    pub streams: [Option<u64>; 2],
    /// How the client ended.
    pub client_end: End,
    /// How the server ended.
    pub server_end: End,
    /// Bytes forwarded toward the server and toward the client.
    pub bytes: [u64; 2],
    /// Writes made toward the server and toward the client.
    pub writes: [u64; 2],
    /// Findings of [`answers`] on either leg.
    pub findings: u64,
    /// Why connecting to the target failed.
    pub error: Option<String>,
    /// Milliseconds from accept to the end.
    pub millis: u64,
}

impl ConnReport {
    /// One line: the connection, its streams and how each side ended.
    pub fn text(&self) -> String {
        let streams = match self.streams {
            [Some(c), Some(s)] => format!("streams {c} (client leg) and {s} (server leg)"),
            [Some(c), None] => format!("stream {c} (client leg)"),
            _ => "no stream".to_string(),
        };
        let mut line = format!(
            "connection {} from {}: {streams}; client {}, server {}; {} bytes in {} writes to the server, {} bytes in {} writes to the client, {} ms",
            self.id,
            self.client,
            self.client_end.name(),
            self.server_end.name(),
            self.bytes[0],
            self.writes[0],
            self.bytes[1],
            self.writes[1],
            self.millis
        );
        if let Some(e) = &self.error {
            line.push_str(&format!(" ({e})"));
        }
        line
    }
}

/// A finding with the connection it belongs to.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FindingRow {
    /// The connection.
    pub connection: u64,
    /// The leg it was seen on.
    pub leg: LegKind,
    /// What was found.
    #[serde(flatten)]
    pub finding: Finding,
}

impl FindingRow {
    /// One line.
    pub fn text(&self) -> String {
        format!(
            "connection {}, stream {} ({} leg): {}",
            self.connection,
            self.finding.stream,
            self.leg.name(),
            self.finding.text()
        )
    }
}

/// What a proxy run did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ProxySummary {
    /// The address listened on.
    pub listen: Option<SocketAddr>,
    /// The target.
    pub target: Option<SocketAddr>,
    /// The patterns toward the server and toward the client.
    pub split_client: String,
    /// See `split_client`.
    pub split_server: String,
    /// Connections accepted and proxied.
    pub connections: u64,
    /// Clients turned away at the bound.
    pub rejected: u64,
    /// The bound.
    pub max_connections: usize,
    /// Most connections open at once.
    pub peak_open: usize,
    /// How clients ended, by kind.
    pub client_ends: HashMap<End, u64>,
    /// How servers ended, by kind.
    pub server_ends: HashMap<End, u64>,
    /// Connection rows (the first [`MAX_ROWS`]).
    pub rows: Vec<ConnReport>,
    /// Rows not kept.
    pub rows_dropped: u64,
    /// Answers to partial messages.
    pub findings: Vec<FindingRow>,
    /// Findings not kept.
    pub findings_dropped: u64,
    /// Writing the pcap file failed.
    pub write_error: Option<String>,
}

/// What the proxy reports as it runs.
#[derive(Debug)]
pub enum Event<'a> {
    /// Listening.
    Listening {
        /// The address.
        listen: SocketAddr,
        /// The target.
        target: SocketAddr,
    },
    /// A connection ended.
    Ended(&'a ConnReport),
    /// A peer answered a partial message.
    Finding(&'a FindingRow),
    /// A client was turned away.
    Rejected {
        /// Its address.
        client: SocketAddr,
        /// Connections open.
        open: usize,
        /// The bound.
        bound: usize,
    },
}

/// Sees the proxy's events, on the analysis thread, in order with the
/// analysis' own results.
pub trait Observer {
    /// One event.
    fn proxy_event(&mut self, event: &Event<'_>);
}

/// What [`Proxy::run`] returns.
pub struct Outcome<R> {
    /// The report, with every stream's results.
    pub report: R,
    /// The proxy's own summary.
    pub summary: ProxySummary,
    /// The synthesized capture, as `analyze` summarizes a file.
    pub capture: CaptureSummary,
    /// The flow table's totals.
    pub totals: TrackerStats,
}

/// Stops a running proxy from another thread (a Ctrl-C handler).
#[derive(Clone)]
pub struct Stopper(Sender<Wake>);

impl Stopper {
    /// Asks the proxy to stop; connections still open are reported hung.
    pub fn stop(&self) {
        let _ = self.0.send(Wake::Stop);
    }
}

enum Wake {
    Stop,
    Finished,
}

/// A bound proxy, ready to run.
pub struct Proxy {
    config: ProxyConfig,
    listener: TcpListener,
    listen: SocketAddr,
    target: SocketAddr,
    wake: (Sender<Wake>, Receiver<Wake>),
}

/// What every connection thread needs.
struct Common {
    config: ProxyConfig,
    target: SocketAddr,
    notes: SyncSender<Note>,
    wake: Sender<Wake>,
    active: AtomicUsize,
    peak: AtomicUsize,
    stopping: AtomicBool,
    open: Mutex<HashMap<u64, Arc<Shared>>>,
}

impl Proxy {
    /// Checks the configuration, resolves the addresses and listens.
    pub fn bind(config: ProxyConfig) -> Result<Proxy, ProxyError> {
        for (side, cut) in [("client", config.client_cut), ("server", config.server_cut)] {
            if cut.needs_framing() && config.framing.is_none() {
                return Err(ProxyError::NeedsFraming { side, cut });
            }
        }
        let listen = resolve("listen", &config.listen, config.allow_remote)?;
        let target = resolve("target", &config.target, config.allow_remote)?;
        let listener =
            TcpListener::bind(listen).map_err(io_error(format!("listening on {listen}")))?;
        let listen = listener
            .local_addr()
            .map_err(io_error("reading the listening address"))?;
        Ok(Proxy {
            config,
            listener,
            listen,
            target,
            wake: mpsc::channel(),
        })
    }

    /// The address listened on (its port, when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.listen
    }

    /// A handle that stops [`Proxy::run`].
    pub fn stopper(&self) -> Stopper {
        Stopper(self.wake.0.clone())
    }

    /// Proxies until stopped (by the [`Stopper`], `duration` or
    /// `connections`), analysing with `opts` into `report`.
    pub fn run<R>(
        self,
        opts: Options,
        limits: FlowLimits,
        report: R,
    ) -> Result<Outcome<R>, ProxyError>
    where
        R: Report + Observer + Send + 'static,
    {
        let Proxy {
            config,
            listener,
            listen,
            target,
            wake: (wake_tx, wake_rx),
        } = self;
        let file = match &config.write {
            Some(p) => Some(
                std::fs::File::create(p).map_err(io_error(format!("creating {}", p.display())))?,
            ),
            None => None,
        };
        let (notes, notes_rx) = mpsc::sync_channel(MAX_NOTES);
        let mut summary = ProxySummary {
            listen: Some(listen),
            target: Some(target),
            split_client: config.client_cut.to_string(),
            split_server: config.server_cut.to_string(),
            max_connections: config.max_connections,
            ..ProxySummary::default()
        };
        let analysis = thread::Builder::new()
            .name("proxy-analysis".into())
            .spawn(move || {
                // Decoders live on this thread: the analysis is built here.
                let found = Arc::new(Mutex::new(answers::Found::default()));
                let analyzer = Analyzer::new(opts, Answers::new(report, Arc::clone(&found)));
                let wire = Wire::new(Tracker::new(analyzer, limits), file);
                analyse(wire, notes_rx, found, listen, target)
            })
            .map_err(io_error("starting the analysis thread"))?;
        let common = Arc::new(Common {
            config,
            target,
            notes,
            wake: wake_tx.clone(),
            active: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            stopping: AtomicBool::new(false),
            open: Mutex::new(HashMap::new()),
        });
        let acceptor = {
            let common = Arc::clone(&common);
            thread::Builder::new()
                .name("proxy-accept".into())
                .spawn(move || accept(listener, &common))
                .map_err(io_error("starting the accepting thread"))?
        };

        // Wait for the end: a stop, the duration, or enough connections.
        let deadline = common.config.duration.map(|d| Instant::now() + d);
        let mut finished = 0u64;
        loop {
            let got = match deadline {
                Some(d) => {
                    match wake_rx.recv_timeout(d.saturating_duration_since(Instant::now())) {
                        Ok(w) => Some(w),
                        Err(mpsc::RecvTimeoutError::Timeout) => None,
                        Err(mpsc::RecvTimeoutError::Disconnected) => None,
                    }
                }
                None => wake_rx.recv().ok(),
            };
            match got {
                Some(Wake::Finished) => {
                    finished += 1;
                    if common.config.connections.is_some_and(|n| finished >= n) {
                        break;
                    }
                }
                Some(Wake::Stop) | None => break,
            }
        }

        // Stop accepting, then stop what is still open: it hung.
        common.stopping.store(true, Ordering::SeqCst);
        let wake_addr = match listen {
            SocketAddr::V4(a) if a.ip().is_unspecified() => {
                SocketAddr::from(([127, 0, 0, 1], a.port()))
            }
            SocketAddr::V6(a) if a.ip().is_unspecified() => {
                SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, a.port()))
            }
            a => a,
        };
        let _ = TcpStream::connect_timeout(&wake_addr, Duration::from_secs(1));
        let _ = acceptor.join();
        if let Ok(open) = common.open.lock() {
            for shared in open.values() {
                shared.stop();
            }
        }
        while common.active.load(Ordering::SeqCst) > 0 {
            if wake_rx.recv_timeout(Duration::from_secs(1)).is_err() {
                // A connection registers after the loop above saw the
                // table: stop it too.
                if let Ok(open) = common.open.lock() {
                    for shared in open.values() {
                        shared.stop();
                    }
                }
            }
        }
        summary.peak_open = common.peak.load(Ordering::SeqCst);
        drop(common);
        let finished = analysis
            .join()
            .map_err(|_| io_error("the analysis thread")(io::Error::other("it panicked")))?;
        let Finished {
            report,
            done,
            capture,
            totals,
            write_error,
        } = finished;
        summary.connections = done.connections;
        summary.rejected = done.rejected;
        summary.client_ends = done.client_ends;
        summary.server_ends = done.server_ends;
        summary.rows = done.rows;
        summary.rows_dropped = done.rows_dropped;
        summary.findings = done.findings;
        summary.findings_dropped = done.findings_dropped;
        summary.write_error = write_error.map(|e| e.to_string());
        Ok(Outcome {
            report,
            summary,
            capture,
            totals,
        })
    }
}

/// The accepting thread: admits clients up to the bound, resets the rest.
fn accept(listener: TcpListener, common: &Arc<Common>) {
    let mut next_id = 0u64;
    for incoming in listener.incoming() {
        if common.stopping.load(Ordering::SeqCst) {
            return;
        }
        let client = match incoming {
            Ok(c) => c,
            Err(e) => {
                // Out of descriptors, say: the client waits in the backlog.
                eprintln!("framescope: accepting a connection failed: {e}");
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let open = common.active.load(Ordering::SeqCst);
        if open >= common.config.max_connections {
            if let Ok(addr) = client.peer_addr() {
                let _ = common.notes.send(Note::Rejected {
                    client: addr,
                    open,
                    bound: common.config.max_connections,
                });
            }
            conn::reset_on_close(&client);
            continue;
        }
        common.active.fetch_add(1, Ordering::SeqCst);
        common.peak.fetch_max(open + 1, Ordering::SeqCst);
        let id = next_id;
        next_id += 1;
        let c = Arc::clone(common);
        let spawned = thread::Builder::new()
            .name(format!("proxy-{id}"))
            .stack_size(conn::STACK)
            .spawn(move || {
                let report = serve(id, client, &c);
                let _ = c.notes.send(Note::Done(report));
                c.active.fetch_sub(1, Ordering::SeqCst);
                let _ = c.wake.send(Wake::Finished);
            });
        if spawned.is_err() {
            common.active.fetch_sub(1, Ordering::SeqCst);
            eprintln!(
                "framescope: connection {id}: no thread could be started for it; it is closed"
            );
        }
        if common.config.connections.is_some_and(|n| next_id >= n) {
            return;
        }
    }
}

/// Runs one connection to its end.
fn serve(id: u64, client: TcpStream, common: &Common) -> ConnReport {
    let start = Instant::now();
    let unknown = SocketAddr::from(([0, 0, 0, 0], 0));
    let client_addr = client.peer_addr().unwrap_or(unknown);
    let listen = client.local_addr().unwrap_or(unknown);
    let send = |note: Note| {
        let _ = common.notes.send(note);
    };
    send(Note::Open {
        conn: id,
        client: client_addr,
        listen,
        ts: conn::now(),
    });
    let mut report = ConnReport {
        id,
        client: client_addr,
        local: None,
        streams: [None, None],
        client_end: End::Hung,
        server_end: End::Hung,
        bytes: [0, 0],
        writes: [0, 0],
        findings: 0,
        error: None,
        millis: 0,
    };
    let server = match TcpStream::connect_timeout(&common.target, common.config.connect_timeout) {
        Ok(s) => s,
        Err(e) => {
            report.server_end = if e.kind() == io::ErrorKind::ConnectionRefused {
                End::Refused
            } else {
                End::Unreachable
            };
            report.client_end = End::Cut;
            report.error = Some(format!("connecting to {}: {e}", common.target));
            send(Note::Reset {
                conn: id,
                leg: LegKind::Client,
                dir: Dir::Server,
                ts: conn::now(),
            });
            conn::reset_on_close(&client);
            report.millis = start.elapsed().as_millis() as u64;
            return report;
        }
    };
    report.local = server.local_addr().ok();
    send(Note::Connected {
        conn: id,
        local: report.local.unwrap_or(unknown),
        target: common.target,
        ts: conn::now(),
    });
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let clones = (|| -> io::Result<_> {
        Ok((
            client.try_clone()?,
            server.try_clone()?,
            client.try_clone()?,
            server.try_clone()?,
        ))
    })();
    let Ok((c2, s2, c3, s3)) = clones else {
        report.error = Some("out of descriptors".to_string());
        return report;
    };
    let shared = Arc::new(Shared {
        id,
        sockets: [c3, s3],
        ends: Mutex::new([None, None]),
        aborting: AtomicBool::new(false),
        stopping: AtomicBool::new(false),
    });
    if let Ok(mut open) = common.open.lock() {
        open.insert(id, Arc::clone(&shared));
    }
    if common.stopping.load(Ordering::SeqCst) {
        shared.stop();
    }
    let pump = |flow: Dir, from: TcpStream, to: TcpStream| Pump {
        flow,
        from,
        to,
        cut: (
            match flow {
                Dir::Client => common.config.client_cut,
                Dir::Server => common.config.server_cut,
            },
            common.config.framing.clone(),
        ),
        notes: common.notes.clone(),
        shared: Arc::clone(&shared),
    };
    let back = conn::spawn(pump(Dir::Server, s2, c2));
    let forth = pump(Dir::Client, client, server).run();
    let back = match back {
        Ok(h) => h.join().unwrap_or_default(),
        Err(e) => {
            report.error = Some(format!("starting a thread: {e}"));
            shared.stop();
            conn::Moved::default()
        }
    };
    if let Ok(mut open) = common.open.lock() {
        open.remove(&id);
    }
    let ends = shared.ends.lock().map(|e| *e).unwrap_or([None, None]);
    report.client_end = ends[0].unwrap_or(End::Hung);
    report.server_end = ends[1].unwrap_or(End::Hung);
    report.bytes = [forth.bytes, back.bytes];
    report.writes = [forth.writes, back.writes];
    report.millis = start.elapsed().as_millis() as u64;
    report
}

/// What the analysis thread tallied.
#[derive(Default)]
struct Done {
    connections: u64,
    rejected: u64,
    client_ends: HashMap<End, u64>,
    server_ends: HashMap<End, u64>,
    rows: Vec<ConnReport>,
    rows_dropped: u64,
    findings: Vec<FindingRow>,
    findings_dropped: u64,
}

type ProxyWire<R> = Wire<Analyzer<Answers<R>>>;

/// What the analysis thread leaves.
struct Finished<R> {
    report: R,
    done: Done,
    capture: CaptureSummary,
    totals: TrackerStats,
    write_error: Option<io::Error>,
}

/// The analysis thread: turns notes into packets, in order, and tells the
/// observer; at the end, finalizes every stream.
fn analyse<R: Report + Observer>(
    mut wire: ProxyWire<R>,
    notes: Receiver<Note>,
    found: Arc<Mutex<answers::Found>>,
    listen: SocketAddr,
    target: SocketAddr,
) -> Finished<R> {
    let mut done = Done::default();
    let mut legs: HashMap<u64, [Option<Leg>; 2]> = HashMap::new();
    let mut stream_conn: HashMap<u64, (u64, LegKind)> = HashMap::new();
    let mut conn_findings: HashMap<u64, u64> = HashMap::new();
    observer(&mut wire).proxy_event(&Event::Listening { listen, target });
    for note in notes {
        match note {
            Note::Open {
                conn,
                client,
                listen,
                ts,
            } => {
                let leg = wire.open(client, listen, ts);
                stream_conn.insert(leg.stream, (conn, LegKind::Client));
                legs.entry(conn).or_default()[LegKind::Client.index()] = Some(leg);
            }
            Note::Connected {
                conn,
                local,
                target,
                ts,
            } => {
                let leg = wire.open(local, target, ts);
                stream_conn.insert(leg.stream, (conn, LegKind::Server));
                legs.entry(conn).or_default()[LegKind::Server.index()] = Some(leg);
            }
            Note::Data {
                conn,
                flow,
                legs: which,
                bytes,
                ts,
            } => {
                let inl = conn::in_leg(flow);
                let on = match which {
                    Legs::In => [Some(inl), None],
                    Legs::Out => [Some(inl.other()), None],
                    Legs::Both => [Some(inl), Some(inl.other())],
                };
                for kind in on.into_iter().flatten() {
                    if let Some(leg) = legs.get_mut(&conn).and_then(|l| l[kind.index()].as_mut()) {
                        wire.data(leg, flow, &bytes, ts);
                    }
                }
            }
            Note::Fin { conn, leg, dir, ts } => {
                if let Some(l) = legs.get_mut(&conn).and_then(|l| l[leg.index()].as_mut()) {
                    wire.fin(l, dir, ts);
                }
            }
            Note::Reset { conn, leg, dir, ts } => {
                if let Some(l) = legs.get_mut(&conn).and_then(|l| l[leg.index()].as_mut()) {
                    wire.reset(l, dir, ts);
                }
            }
            Note::Done(mut report) => {
                if let Some(l) = legs.remove(&report.id) {
                    report.streams = [l[0].map(|l| l.stream), l[1].map(|l| l.stream)];
                }
                drain(
                    &mut wire,
                    &found,
                    &stream_conn,
                    &mut conn_findings,
                    &mut done,
                );
                report.findings = conn_findings.remove(&report.id).unwrap_or(0);
                done.connections += 1;
                *done.client_ends.entry(report.client_end).or_default() += 1;
                *done.server_ends.entry(report.server_end).or_default() += 1;
                observer(&mut wire).proxy_event(&Event::Ended(&report));
                if done.rows.len() < MAX_ROWS {
                    done.rows.push(report);
                } else {
                    done.rows_dropped += 1;
                }
            }
            Note::Rejected {
                client,
                open,
                bound,
            } => {
                done.rejected += 1;
                observer(&mut wire).proxy_event(&Event::Rejected {
                    client,
                    open,
                    bound,
                });
            }
        }
        drain(
            &mut wire,
            &found,
            &stream_conn,
            &mut conn_findings,
            &mut done,
        );
        if let Ok(mut f) = found.lock() {
            for s in f.finished.drain(..) {
                stream_conn.remove(&s);
            }
        }
    }
    let (tracker, capture, write_error) = wire.finish();
    let (analyzer, totals) = tracker.finish();
    let mut answers = analyzer.into_report();
    // Findings made while the last streams were finalized.
    let (taken, dropped) = match found.lock() {
        Ok(mut f) => (std::mem::take(&mut f.findings), f.dropped),
        Err(_) => (Vec::new(), 0),
    };
    done.findings_dropped += dropped;
    for finding in taken {
        let Some(&(connection, leg)) = stream_conn.get(&finding.stream) else {
            continue;
        };
        let row = FindingRow {
            connection,
            leg,
            finding,
        };
        answers.inner_mut().proxy_event(&Event::Finding(&row));
        keep_finding(&mut done, row);
    }
    Finished {
        report: answers.into_inner(),
        done,
        capture,
        totals,
        write_error,
    }
}

fn keep_finding(done: &mut Done, row: FindingRow) {
    if done.findings.len() < answers::MAX_FINDINGS {
        done.findings.push(row);
    } else {
        done.findings_dropped += 1;
    }
}

fn observer<R: Report + Observer>(wire: &mut ProxyWire<R>) -> &mut R {
    wire.tracker_mut().sink_mut().report_mut().inner_mut()
}

/// Passes new findings to the observer and the tally.
fn drain<R: Report + Observer>(
    wire: &mut ProxyWire<R>,
    found: &Mutex<answers::Found>,
    stream_conn: &HashMap<u64, (u64, LegKind)>,
    conn_findings: &mut HashMap<u64, u64>,
    done: &mut Done,
) {
    let (taken, dropped) = match found.lock() {
        Ok(mut f) => (
            std::mem::take(&mut f.findings),
            std::mem::take(&mut f.dropped),
        ),
        Err(_) => return,
    };
    done.findings_dropped += dropped;
    for finding in taken {
        let Some(&(connection, leg)) = stream_conn.get(&finding.stream) else {
            continue;
        };
        *conn_findings.entry(connection).or_default() += 1;
        let row = FindingRow {
            connection,
            leg,
            finding,
        };
        observer(wire).proxy_event(&Event::Finding(&row));
        keep_finding(done, row);
    }
}
