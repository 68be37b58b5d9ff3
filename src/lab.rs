//! Built-in demonstrations: a small server and client on 127.0.0.1 that
//! show one sticky-packet or Nagle effect each, and what their own reader
//! saw.
//!
//! This module owns the scenarios (the traffic, the framing to analyse it
//! with, the explanation). It does not capture or print: the `lab` command
//! captures the listener's port live while [`Scenario::run`] exchanges the
//! bytes, then prints the reader's lines next to the analysis.
//!
//! Every socket has a timeout, so a scenario ends even when its peer does
//! not behave.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

/// How long any one socket operation of a scenario may block.
pub const SOCKET_TIMEOUT: Duration = Duration::from_secs(5);

/// The messages of `lagging-reader` and `length-prefix`.
pub const WORDS: [&str; 4] = ["hello", "world", "musibii", "1"];

/// A scenario failed to exchange its bytes.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A socket operation failed.
    #[error("{side} {step}: {source}")]
    Io {
        /// `client` or `server`.
        side: &'static str,
        /// What it was doing.
        step: &'static str,
        /// The error.
        source: io::Error,
    },
    /// The server thread panicked.
    #[error("the server thread stopped abnormally")]
    Server,
}

type Steps = Result<Vec<String>, LabError>;

fn at(side: &'static str, step: &'static str) -> impl FnOnce(io::Error) -> LabError {
    move |source| LabError::Io { side, step, source }
}

/// One demonstration.
pub struct Scenario {
    /// Its name on the command line.
    pub name: &'static str,
    /// One line on what it does.
    pub about: &'static str,
    /// The `--frame` it is analysed with.
    pub frame: &'static str,
    /// The `--recv` sizes it is analysed with.
    pub recv: Option<&'static str>,
    /// What the diagnosis shows, and what to do about it.
    pub explanation: &'static str,
    client: fn(TcpStream) -> Steps,
    server: fn(TcpStream) -> Steps,
}

/// Every scenario, in the order `lab --list` shows them.
pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "lagging-reader",
        about: "4 small writes; the server reads late with recv(5),recv(5),recv(10),recv(5)",
        frame: "none",
        recv: Some("5,5,10,5"),
        explanation: "TCP is a byte stream: it keeps no write boundaries. The client wrote \
            \"musibii\" and \"1\" separately, each in its own segment, but the server read \
            after both had arrived, so recv(10) returned both glued together as \"musibii1\". \
            Fix: frame the messages (a length prefix or a delimiter) and read by frame, \
            never by segment or by recv() call.",
        client: lagging_client,
        server: lagging_server,
    },
    Scenario {
        name: "long-reply",
        about: "a 10 KB reply read by one recv(4096)",
        frame: "none",
        recv: Some("4096"),
        explanation: "One write of 10240 bytes travels as one segment on loopback, yet a \
            single recv(4096) returns at most 4096 bytes: the reply is cut and the rest \
            waits in the socket. Fix: loop until the whole message, as its framing says, \
            has been read.",
        client: long_reply_client,
        server: long_reply_server,
    },
    Scenario {
        name: "length-prefix",
        about: "the lagging-reader's messages, each after a 4-byte big-endian length",
        frame: "length:4",
        recv: None,
        explanation: "The same late reader, but each message carries its length: the reader \
            reads 4 bytes, then exactly that many, and gets every message whole however \
            the bytes were segmented or glued in its socket buffer.",
        client: prefix_client,
        server: prefix_server,
    },
    Scenario {
        name: "nagle",
        about: "40 small writes, then 8 header/body/reply rounds, Nagle on (no TCP_NODELAY)",
        frame: "length:4",
        recv: None,
        explanation: "Without TCP_NODELAY, Nagle's algorithm holds a small write while an \
            earlier one is unacknowledged, so small writes leave coalesced in fewer \
            segments. In the write-write-read rounds, the body waits for the ACK of the \
            header, and the server delays that ACK (up to ~40 ms on Linux) hoping to \
            piggyback it: each round stalls. Fix: build header and body into one buffer \
            and write once (or writev), or set TCP_NODELAY.",
        client: nagle_client,
        server: nagle_server,
    },
    Scenario {
        name: "nodelay",
        about: "the nagle scenario with TCP_NODELAY on both ends",
        frame: "length:4",
        recv: None,
        explanation: "With TCP_NODELAY every write leaves at once: no stall waits for a \
            delayed ACK, and round trips take microseconds. Messages are still split \
            (header and body in two segments): the reader must still frame them.",
        client: nodelay_client,
        server: nodelay_server,
    },
];

/// The scenario called `name`.
pub fn find(name: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.name == name)
}

impl Scenario {
    /// Accepts one connection on `listener` in a server thread, runs the
    /// client against it, and returns what each side observed, client's
    /// lines first.
    pub fn run(&self, listener: TcpListener) -> Steps {
        let addr = listener.local_addr().map_err(at("server", "local_addr"))?;
        let server = self.server;
        let handle = thread::spawn(move || -> Steps {
            let (conn, _) = listener.accept().map_err(at("server", "accept"))?;
            set_timeouts(&conn).map_err(at("server", "set timeouts"))?;
            server(conn)
        });
        let client = TcpStream::connect_timeout(&addr, SOCKET_TIMEOUT)
            .map_err(at("client", "connect"))
            .and_then(|c| {
                set_timeouts(&c).map_err(at("client", "set timeouts"))?;
                Ok(c)
            });
        let client_lines = client.and_then(self.client);
        let server_lines = handle.join().map_err(|_| LabError::Server)?;
        let mut lines = client_lines?;
        lines.extend(server_lines?);
        Ok(lines)
    }
}

fn set_timeouts(s: &TcpStream) -> io::Result<()> {
    s.set_read_timeout(Some(SOCKET_TIMEOUT))?;
    s.set_write_timeout(Some(SOCKET_TIMEOUT))
}

fn lagging_client(mut c: TcpStream) -> Steps {
    c.set_nodelay(true).map_err(at("client", "TCP_NODELAY"))?;
    for w in WORDS {
        c.write_all(w.as_bytes()).map_err(at("client", "write"))?;
        thread::sleep(Duration::from_millis(20));
    }
    c.shutdown(Shutdown::Write)
        .map_err(at("client", "shutdown"))?;
    Ok(vec![format!(
        "client: wrote {WORDS:?}, 20 ms apart, TCP_NODELAY"
    )])
}

fn lagging_server(mut c: TcpStream) -> Steps {
    thread::sleep(Duration::from_millis(150));
    let mut lines = Vec::new();
    let mut buf = [0u8; 10];
    for n in [5usize, 5, 10, 5] {
        let got = c
            .read(buf.get_mut(..n).unwrap_or_default())
            .map_err(at("server", "recv"))?;
        let text = String::from_utf8_lossy(buf.get(..got).unwrap_or_default());
        lines.push(format!("server: recv({n}) -> {got} bytes {text:?}"));
    }
    Ok(lines)
}

const LONG_REPLY: usize = 10 * 1024;

fn long_reply_client(mut c: TcpStream) -> Steps {
    c.write_all(b"GET /report\n")
        .map_err(at("client", "write"))?;
    thread::sleep(Duration::from_millis(50));
    let mut buf = vec![0u8; 4096];
    let got = c.read(&mut buf).map_err(at("client", "recv"))?;
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).map_err(at("client", "drain"))?;
    Ok(vec![
        "client: sent \"GET /report\\n\"".to_string(),
        format!(
            "client: recv(4096) -> {got} bytes of the {LONG_REPLY}-byte reply; {} more were still waiting",
            rest.len()
        ),
    ])
}

fn long_reply_server(mut c: TcpStream) -> Steps {
    let mut buf = [0u8; 64];
    let got = c.read(&mut buf).map_err(at("server", "recv"))?;
    let reply: Vec<u8> = (0..LONG_REPLY).map(|i| b'a' + (i % 26) as u8).collect();
    c.write_all(&reply).map_err(at("server", "write"))?;
    c.shutdown(Shutdown::Write)
        .map_err(at("server", "shutdown"))?;
    Ok(vec![format!(
        "server: read the {got}-byte request, wrote {LONG_REPLY} bytes in one write"
    )])
}

fn framed(body: &[u8]) -> Vec<u8> {
    let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
    let mut v = len.to_be_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

fn read_framed(c: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut head = [0u8; 4];
    c.read_exact(&mut head)?;
    let len = u32::from_be_bytes(head) as usize;
    if len > 1 << 20 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "frame over 1 MiB",
        ));
    }
    let mut body = vec![0u8; len];
    c.read_exact(&mut body)?;
    Ok(body)
}

fn prefix_client(mut c: TcpStream) -> Steps {
    c.set_nodelay(true).map_err(at("client", "TCP_NODELAY"))?;
    for w in WORDS {
        c.write_all(&framed(w.as_bytes()))
            .map_err(at("client", "write"))?;
        thread::sleep(Duration::from_millis(20));
    }
    c.shutdown(Shutdown::Write)
        .map_err(at("client", "shutdown"))?;
    Ok(vec![format!(
        "client: wrote {WORDS:?}, each after its length, 20 ms apart"
    )])
}

fn prefix_server(mut c: TcpStream) -> Steps {
    thread::sleep(Duration::from_millis(150));
    let mut lines = Vec::new();
    for _ in WORDS {
        let body = read_framed(&mut c).map_err(at("server", "read frame"))?;
        lines.push(format!(
            "server: read 4-byte length {}, then {:?}",
            body.len(),
            String::from_utf8_lossy(&body)
        ));
    }
    Ok(lines)
}

const TICKS: usize = 40;
const ROUNDS: usize = 8;

fn nagle_client(c: TcpStream) -> Steps {
    rounds_client(c, false)
}

fn nodelay_client(c: TcpStream) -> Steps {
    c.set_nodelay(true).map_err(at("client", "TCP_NODELAY"))?;
    rounds_client(c, true)
}

fn rounds_client(mut c: TcpStream, nodelay: bool) -> Steps {
    for i in 0..TICKS {
        c.write_all(&framed(format!("tick {i:02}").as_bytes()))
            .map_err(at("client", "write"))?;
    }
    read_framed(&mut c).map_err(at("client", "read tick reply"))?;
    let mut lines = vec![format!(
        "client: {TICKS} small writes (TCP_NODELAY {})",
        if nodelay { "on" } else { "off" }
    )];
    let mut times = Vec::new();
    for i in 0..ROUNDS {
        let body = format!("request {i}");
        let started = Instant::now();
        let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
        c.write_all(&len.to_be_bytes())
            .map_err(at("client", "write header"))?;
        c.write_all(body.as_bytes())
            .map_err(at("client", "write body"))?;
        read_framed(&mut c).map_err(at("client", "read reply"))?;
        times.push(format!("{:.1}", started.elapsed().as_secs_f64() * 1e3));
    }
    c.shutdown(Shutdown::Write)
        .map_err(at("client", "shutdown"))?;
    lines.push(format!(
        "client: {ROUNDS} rounds of write(header), write(body), read(reply): round trips {} ms",
        times.join(", ")
    ));
    Ok(lines)
}

fn nagle_server(c: TcpStream) -> Steps {
    rounds_server(c)
}

fn nodelay_server(c: TcpStream) -> Steps {
    c.set_nodelay(true).map_err(at("server", "TCP_NODELAY"))?;
    rounds_server(c)
}

/// Reads the ticks as they come, counting recv() calls, answers once they
/// are all in (so that no request is read with them), then answers each
/// request.
fn rounds_server(mut c: TcpStream) -> Steps {
    let mut reads = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    let mut pending = Vec::new();
    let mut ticks = 0usize;
    while ticks < TICKS {
        let got = c.read(&mut buf).map_err(at("server", "recv"))?;
        if got == 0 {
            break;
        }
        reads += 1;
        pending.extend_from_slice(buf.get(..got).unwrap_or_default());
        while let Some(head) = pending.get(..4).and_then(|h| <[u8; 4]>::try_from(h).ok()) {
            let len = u32::from_be_bytes(head) as usize;
            if pending.len() < 4 + len {
                break;
            }
            pending.drain(..4 + len);
            ticks += 1;
        }
    }
    c.write_all(&framed(b"ok"))
        .map_err(at("server", "write tick reply"))?;
    for _ in 0..ROUNDS {
        read_framed(&mut c).map_err(at("server", "read request"))?;
        c.write_all(&framed(b"ok"))
            .map_err(at("server", "write reply"))?;
    }
    Ok(vec![format!(
        "server: the {ticks} small messages arrived in {reads} recv() calls; answered {ROUNDS} requests"
    )])
}
