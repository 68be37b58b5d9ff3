//! Whether the peer application has read what this side wrote: the wait
//! that lets each write reach the peer's `recv()` on its own, with no time
//! wasted and no guessed pause.
//!
//! This module owns [`PeerReadWatch`]. Given a connected socket whose peer
//! runs on this host (a loopback target, or a client connected to a local
//! server), it finds the peer's socket by the connection's 4-tuple, seen
//! from the other end, and reads two numbers the kernel keeps for it: the
//! bytes its TCP has received from us, and the bytes still waiting in its
//! receive queue, not yet copied out by the application's `recv()`:
//!
//! ```text
//!  this side                         peer (same host)
//!  write() -> [send queue] ---lo---> [receive queue] -> recv()
//!             not yet sent           received, unread
//!  pending = written - received  +   unread
//! ```
//!
//! When both are zero the peer application has read every byte written so
//! far. The numbers come from the kernel's `sock_diag` netlink interface
//! (`inet_diag`, an exact lookup of one socket: `idiag_rqueue` and
//! `tcp_info.tcpi_bytes_received`), or, where netlink is not available,
//! from `/proc/net/tcp` and `/proc/net/tcp6` (`rx_queue` of the peer's
//! line, and `tx_queue` of ours, which counts bytes not yet acknowledged).
//! Linux only: elsewhere, and for a peer on another host, [`PeerReadWatch::new`]
//! says the peer cannot be watched and the caller paces by time instead.
//!
//! It does not write or read the connection itself; the caller says how
//! many bytes it has written, and [`PeerReadWatch::wait_read`] waits, up to
//! a bound, until the peer has read them. A peer that does not read within
//! the bound is reported as [`ReadWait::Stalled`] with the bytes it did
//! read: that a server stops reading is a finding, not an error.

use std::io::{self, Read as _};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

/// How the peer's queues are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `sock_diag` netlink: an exact lookup of the peer's socket.
    SockDiag,
    /// `/proc/net/tcp` and `/proc/net/tcp6`: a scan of every TCP socket.
    ProcNet,
}

impl Method {
    /// A short name.
    pub fn name(self) -> &'static str {
        match self {
            Method::SockDiag => "sock_diag",
            Method::ProcNet => "/proc/net/tcp",
        }
    }
}

/// What a wait found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadWait {
    /// The peer application has read every byte written.
    Read,
    /// The peer's socket is gone (closed, reset) or no longer connected:
    /// there is nothing left to wait for.
    Gone,
    /// The bound passed with bytes unread.
    Stalled {
        /// Bytes the peer application had read.
        read: u64,
        /// Bytes written that it had not read.
        unread: u64,
    },
}

/// Watches the peer of one connected TCP socket on this host.
#[derive(Debug)]
pub struct PeerReadWatch {
    method: Method,
    diag: Option<Socket>,
    /// Our end of the connection.
    local: SocketAddr,
    /// The peer's end.
    peer: SocketAddr,
    seq: u32,
    buf: Vec<u8>,
}

/// Why a peer cannot be watched.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The socket has no addresses (not connected).
    #[error("the socket is not connected: {0}")]
    NotConnected(io::Error),
    /// Neither netlink nor /proc shows the peer's socket: it runs on
    /// another host, in another network namespace, or on a system without
    /// either interface.
    #[error("the peer {peer} is not visible from this host's socket tables")]
    NotVisible {
        /// The peer's address.
        peer: SocketAddr,
    },
}

/// The kernel's answer for one socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Queues {
    /// Bytes received by the peer's TCP (`tcpi_bytes_received`), when the
    /// kernel reports it.
    received: Option<u64>,
    /// Bytes in the peer's receive queue, unread.
    unread: u64,
}

const AF_NETLINK: i32 = 16;
const NETLINK_SOCK_DIAG: i32 = 4;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLM_F_REQUEST: u16 = 1;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
const IPPROTO_TCP: u8 = 6;
/// `INET_DIAG_INFO`: the attribute carrying `struct tcp_info`.
const INET_DIAG_INFO: u16 = 2;
/// `tcpi_bytes_received`'s offset in `struct tcp_info` (Linux 4.1 on).
const TCPI_BYTES_RECEIVED: usize = 128;
/// TCP states of `include/net/tcp_states.h` that carry a connection's data.
const TCP_ESTABLISHED: u8 = 1;
const TCP_FIN_WAIT1: u8 = 4;
const TCP_FIN_WAIT2: u8 = 5;
const TCP_CLOSE_WAIT: u8 = 8;
/// The longest pause between two looks at the peer.
const MAX_POLL: Duration = Duration::from_millis(1);
/// Looks made back to back (yielding the processor) before pausing.
const SPINS: u32 = 64;

impl PeerReadWatch {
    /// Watches the peer of `stream`, through netlink when it works, else
    /// `/proc/net/tcp`. Fails when neither shows the peer's socket.
    pub fn new(stream: &TcpStream) -> Result<PeerReadWatch, WatchError> {
        let local = stream.local_addr().map_err(WatchError::NotConnected)?;
        let peer = stream.peer_addr().map_err(WatchError::NotConnected)?;
        PeerReadWatch::between(local, peer)
    }

    /// Watches the socket at `peer` connected to `local` (this side).
    pub fn between(local: SocketAddr, peer: SocketAddr) -> Result<PeerReadWatch, WatchError> {
        let mut watch = PeerReadWatch {
            method: Method::SockDiag,
            diag: diag_socket().ok(),
            local,
            peer,
            seq: 0,
            buf: vec![0; 8192],
        };
        if watch.diag.is_some() && matches!(watch.query(), Ok(Some(_))) {
            return Ok(watch);
        }
        watch.diag = None;
        watch.method = Method::ProcNet;
        match watch.query() {
            Ok(Some(_)) => Ok(watch),
            _ => Err(WatchError::NotVisible { peer }),
        }
    }

    /// How the queues are read.
    pub fn method(&self) -> Method {
        self.method
    }

    /// Bytes of the `written` so far that the peer application has not read
    /// yet; `None` when the peer's socket is gone.
    pub fn pending(&mut self, written: u64) -> io::Result<Option<u64>> {
        Ok(self.query()?.map(|q| match q.received {
            Some(received) => written.saturating_sub(received).saturating_add(q.unread),
            None => q.unread.min(written),
        }))
    }

    /// Waits until the peer application has read all `written` bytes, the
    /// peer's socket is gone, or `bound` has passed.
    pub fn wait_read(&mut self, written: u64, bound: Duration) -> io::Result<ReadWait> {
        let start = Instant::now();
        let mut looks = 0u32;
        let mut pause = Duration::from_micros(10);
        loop {
            let pending = match self.pending(written)? {
                None => return Ok(ReadWait::Gone),
                Some(0) => return Ok(ReadWait::Read),
                Some(n) => n,
            };
            if start.elapsed() >= bound {
                return Ok(ReadWait::Stalled {
                    read: written.saturating_sub(pending),
                    unread: pending,
                });
            }
            looks += 1;
            if looks < SPINS {
                thread::yield_now();
            } else {
                thread::sleep(pause);
                pause = (pause * 2).min(MAX_POLL);
            }
        }
    }

    /// The peer's queues, or `None` when its socket is gone. With the
    /// `/proc` method, bytes not yet acknowledged on our side count as not
    /// received.
    fn query(&mut self) -> io::Result<Option<Queues>> {
        match self.method {
            Method::SockDiag => self.query_diag(),
            Method::ProcNet => {
                let peer = proc_lookup(self.peer, self.local)?;
                let ours = proc_lookup(self.local, self.peer)?;
                Ok(match (peer, ours) {
                    (Some(p), Some(o)) => Some(Queues {
                        received: None,
                        unread: u64::from(p.1).saturating_add(u64::from(o.0)),
                    }),
                    (Some(p), None) => Some(Queues {
                        received: None,
                        unread: u64::from(p.1),
                    }),
                    _ => None,
                })
            }
        }
    }

    fn query_diag(&mut self) -> io::Result<Option<Queues>> {
        let Some(sock) = &self.diag else {
            return Ok(None);
        };
        self.seq = self.seq.wrapping_add(1);
        let request = diag_request(self.peer, self.local, self.seq);
        sock.send(&request)?;
        let mut found = None;
        loop {
            let n = (&*sock).read(&mut self.buf)?;
            let mut at = 0;
            let mut done = false;
            while let Some(msg) = self.buf.get(at..n) {
                let Some((len, kind, seq)) = nl_header(msg) else {
                    break;
                };
                let body = msg.get(16..len).unwrap_or(&[]);
                if seq == self.seq {
                    match kind {
                        NLMSG_ERROR => {
                            // 0 acknowledges; -ENOENT: no such socket.
                            done = true;
                        }
                        NLMSG_DONE => done = true,
                        SOCK_DIAG_BY_FAMILY => {
                            found = parse_diag(body, self.peer, self.local);
                            done = true;
                        }
                        _ => {}
                    }
                }
                at += align4(len.max(16));
            }
            if done {
                return Ok(found);
            }
        }
    }
}

/// Whether a socket in TCP state `state` still belongs to an application
/// that may read it: connected, and either held (it has an inode) or not
/// yet accepted (established without one, in the listener's queue). A
/// closing socket without an inode was closed by its application.
fn held(state: u8, inode: bool) -> bool {
    match state {
        TCP_ESTABLISHED | TCP_CLOSE_WAIT => true,
        TCP_FIN_WAIT1 | TCP_FIN_WAIT2 => inode,
        _ => false,
    }
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn diag_socket() -> io::Result<Socket> {
    let sock = Socket::new(
        Domain::from(AF_NETLINK),
        Type::DGRAM,
        Some(Protocol::from(NETLINK_SOCK_DIAG)),
    )?;
    sock.set_read_timeout(Some(Duration::from_secs(1)))?;
    Ok(sock)
}

/// `(length, type, sequence)` of the netlink message at the start of `msg`.
fn nl_header(msg: &[u8]) -> Option<(usize, u16, u32)> {
    let len = u32::from_ne_bytes(msg.get(0..4)?.try_into().ok()?) as usize;
    let kind = u16::from_ne_bytes(msg.get(4..6)?.try_into().ok()?);
    let seq = u32::from_ne_bytes(msg.get(8..12)?.try_into().ok()?);
    (len >= 16 && len <= msg.len()).then_some((len, kind, seq))
}

fn family(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => AF_INET,
        IpAddr::V6(_) => AF_INET6,
    }
}

fn ip_bytes(ip: IpAddr) -> [u8; 16] {
    let mut out = [0u8; 16];
    match ip {
        IpAddr::V4(v4) => out[..4].copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => out = v6.octets(),
    }
    out
}

/// A `SOCK_DIAG_BY_FAMILY` request for the one TCP socket whose own end is
/// `src` and whose remote end is `dst`, asking for its `tcp_info`:
///
/// ```text
/// nlmsghdr (16)  len, type=20, flags=REQUEST, seq, pid=0
/// inet_diag_req_v2 (56)
///   family, protocol=TCP, ext=1<<(INFO-1), pad, states=all
///   sockid: sport(be16) dport(be16) src[16] dst[16] if(4) cookie=~0 (8)
/// ```
fn diag_request(src: SocketAddr, dst: SocketAddr, seq: u32) -> Vec<u8> {
    let mut m = Vec::with_capacity(72);
    m.extend_from_slice(&72u32.to_ne_bytes());
    m.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    m.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&[family(src.ip()), IPPROTO_TCP, 1 << (INET_DIAG_INFO - 1), 0]);
    m.extend_from_slice(&u32::MAX.to_ne_bytes());
    m.extend_from_slice(&src.port().to_be_bytes());
    m.extend_from_slice(&dst.port().to_be_bytes());
    m.extend_from_slice(&ip_bytes(src.ip()));
    m.extend_from_slice(&ip_bytes(dst.ip()));
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&[0xff; 8]);
    m
}

/// Reads an `inet_diag_msg` (after its netlink header): the socket must be
/// the connection asked for (an exact lookup may fall back to a listening
/// socket) and still readable by an application ([`held`]).
///
/// ```text
/// family state timer retrans | sockid (48) | expires rqueue wqueue uid inode | rtattrs...
/// 0      1     2     3         4..52         52      56     60     64  68      72..
/// ```
fn parse_diag(body: &[u8], src: SocketAddr, dst: SocketAddr) -> Option<Queues> {
    let state = *body.get(1)?;
    let sport = u16::from_be_bytes(body.get(4..6)?.try_into().ok()?);
    let dport = u16::from_be_bytes(body.get(6..8)?.try_into().ok()?);
    if sport != src.port() || dport != dst.port() {
        return None;
    }
    let unread = u32::from_ne_bytes(body.get(56..60)?.try_into().ok()?);
    let inode = u32::from_ne_bytes(body.get(68..72)?.try_into().ok()?);
    if !held(state, inode != 0) {
        return None;
    }
    let mut received = None;
    let mut at = 72;
    while let Some(attr) = body.get(at..) {
        let (Some(len), Some(kind)) = (
            attr.get(0..2)
                .and_then(|b| b.try_into().ok())
                .map(u16::from_ne_bytes),
            attr.get(2..4)
                .and_then(|b| b.try_into().ok())
                .map(u16::from_ne_bytes),
        ) else {
            break;
        };
        let len = usize::from(len);
        if len < 4 {
            break;
        }
        if kind == INET_DIAG_INFO {
            received = attr
                .get(4..len.min(attr.len()))
                .and_then(|info| info.get(TCPI_BYTES_RECEIVED..TCPI_BYTES_RECEIVED + 8))
                .and_then(|b| b.try_into().ok())
                .map(u64::from_ne_bytes);
        }
        at += align4(len);
    }
    Some(Queues {
        received,
        unread: u64::from(unread),
    })
}

/// `(tx_queue, rx_queue)` of the TCP socket whose own end is `src` and
/// remote end `dst`, from `/proc/net/tcp` or `/proc/net/tcp6`; `None` when
/// no such connected socket is listed.
fn proc_lookup(src: SocketAddr, dst: SocketAddr) -> io::Result<Option<(u32, u32)>> {
    let files: &[&str] = match src.ip() {
        IpAddr::V4(_) => &["/proc/net/tcp", "/proc/net/tcp6"],
        IpAddr::V6(_) => &["/proc/net/tcp6"],
    };
    for file in files {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if let Some(found) = text.lines().skip(1).find_map(|l| proc_line(l, src, dst)) {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// One line of `/proc/net/tcp{,6}`:
/// `sl local_address rem_address st tx_queue:rx_queue tr:when retrnsmt uid
/// timeout inode ...`, addresses as hex words in host byte order, then
/// `:PORT` in hex. Sockets without an inode (closed by their application)
/// are not taken.
fn proc_line(line: &str, src: SocketAddr, dst: SocketAddr) -> Option<(u32, u32)> {
    let f: Vec<&str> = line.split_whitespace().collect();
    let (local, remote, state, queues, inode) =
        (f.get(1)?, f.get(2)?, f.get(3)?, f.get(4)?, f.get(9)?);
    let state = u8::from_str_radix(state, 16).ok()?;
    if !held(state, *inode != "0") {
        return None;
    }
    if proc_addr(local)? != src || proc_addr(remote)? != dst {
        return None;
    }
    let (tx, rx) = queues.split_once(':')?;
    Some((
        u32::from_str_radix(tx, 16).ok()?,
        u32::from_str_radix(rx, 16).ok()?,
    ))
}

fn proc_addr(s: &str) -> Option<SocketAddr> {
    let (addr, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        let hex = addr.get(i * 8..i * 8 + 8)?;
        Some(u32::from_str_radix(hex, 16).ok()?.to_ne_bytes())
    };
    let ip = match addr.len() {
        8 => IpAddr::from(word(0)?),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            let v6 = std::net::Ipv6Addr::from(b);
            // A dual-stack socket lists an IPv4 peer as ::ffff:a.b.c.d.
            v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;
    use std::net::TcpListener;

    fn pair(addr: &str) -> Option<(TcpStream, TcpStream)> {
        let listener = TcpListener::bind(addr).ok()?;
        let client = TcpStream::connect(listener.local_addr().ok()?).ok()?;
        let (server, _) = listener.accept().ok()?;
        Some((client, server))
    }

    fn watch_sees_reads(method: Option<Method>, addr: &str) {
        let Some((mut client, mut server)) = pair(addr) else {
            return; // no IPv6 loopback here
        };
        let mut watch = match method {
            Some(Method::ProcNet) => {
                let mut w = PeerReadWatch::new(&client).expect("watch");
                w.diag = None;
                w.method = Method::ProcNet;
                w
            }
            _ => PeerReadWatch::new(&client).expect("watch"),
        };
        assert_eq!(watch.pending(0).unwrap(), Some(0));
        client.write_all(b"hello world").unwrap();
        // Unread bytes: the bound passes and the wait says how many (the
        // /proc method also counts bytes not yet acknowledged).
        let exact = watch.method() == Method::SockDiag;
        let stalled = watch.wait_read(11, Duration::from_millis(30)).unwrap();
        assert!(
            matches!(stalled, ReadWait::Stalled { read: 0, unread } if unread == 11 || !exact),
            "{stalled:?}"
        );
        let mut buf = [0u8; 5];
        server.read_exact(&mut buf).unwrap();
        let stalled = watch.wait_read(11, Duration::from_millis(30)).unwrap();
        assert!(
            stalled == ReadWait::Stalled { read: 5, unread: 6 }
                || (!exact && matches!(stalled, ReadWait::Stalled { .. })),
            "{stalled:?}"
        );
        let mut rest = [0u8; 6];
        server.read_exact(&mut rest).unwrap();
        assert_eq!(
            watch.wait_read(11, Duration::from_secs(5)).unwrap(),
            ReadWait::Read
        );
        drop(server);
        assert_eq!(
            watch.wait_read(11, Duration::from_secs(5)).unwrap(),
            ReadWait::Gone,
            "{:?}",
            watch.method()
        );
    }

    #[test]
    fn netlink_sees_what_the_peer_read() {
        let (client, _server) = pair("127.0.0.1:0").expect("loopback");
        let w = PeerReadWatch::new(&client).expect("watch");
        assert_eq!(w.method(), Method::SockDiag);
        watch_sees_reads(None, "127.0.0.1:0");
        watch_sees_reads(None, "[::1]:0");
    }

    #[test]
    fn proc_net_sees_what_the_peer_read() {
        watch_sees_reads(Some(Method::ProcNet), "127.0.0.1:0");
        watch_sees_reads(Some(Method::ProcNet), "[::1]:0");
    }

    #[test]
    fn a_peer_elsewhere_is_not_visible() {
        let local: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let peer: SocketAddr = "192.0.2.1:9".parse().unwrap();
        assert!(matches!(
            PeerReadWatch::between(local, peer),
            Err(WatchError::NotVisible { .. })
        ));
    }

    #[test]
    fn proc_addresses_parse() {
        assert_eq!(
            proc_addr("0100007F:1F90"),
            Some("127.0.0.1:8080".parse().unwrap())
        );
        assert_eq!(
            proc_addr("00000000000000000000000001000000:0050"),
            Some("[::1]:80".parse().unwrap())
        );
        assert_eq!(
            proc_addr("0000000000000000FFFF00000100007F:0050"),
            Some("127.0.0.1:80".parse().unwrap())
        );
        assert_eq!(proc_addr("zz"), None);
    }
}
