//! Load generator for the benchmark: many connections on 127.0.0.1
//! exchanging length-prefixed messages, for a capture to be taken of.
//!
//! ```text
//! loadgen many  PORT CONNS CONCURRENT MESSAGES SEED   # 10..2000-byte messages, 1..4 writes each
//! loadgen bulk  PORT CONNS MESSAGES SEED [MB/S]       # 64 KiB..4 MiB messages, one write each
//! ```
//!
//! `MB/S`, for bulk, paces the connections together to that many megabytes
//! a second (none: as fast as loopback goes, faster than tcpdump writes a
//! capture without dropping packets).
//!
//! Every message is a 4-byte big-endian length and a body; writes go out
//! without TCP_NODELAY, so the kernel coalesces and splits them as it would
//! for a real application. The server reads and discards, then closes.
//! Deterministic for a given seed (xorshift).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// Serves connections until `stop` holds the number of clients that
/// connected (one more connection, from `main`, wakes it to see that), so a
/// client that failed to connect does not leave it waiting for ever.
fn serve(listener: TcpListener, stop: Arc<AtomicUsize>) {
    let mut handles = Vec::new();
    let mut accepted = 0;
    for stream in listener.incoming() {
        let wanted = stop.load(Ordering::SeqCst);
        if wanted != usize::MAX && accepted >= wanted {
            break;
        }
        let Ok(mut s) = stream else { continue };
        accepted += 1;
        handles.push(thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 16];
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    break;
                }
            }
        }));
    }
    for h in handles {
        let _ = h.join();
    }
}

/// Listens on 127.0.0.1:`port` with room in the accept queue for every
/// client at once. std's backlog of 128 is less than the 200 clients of
/// the "many" capture connecting together: the kernel then drops or
/// cookies their handshakes, and some are reset before they are accepted.
fn listen(port: u16) -> TcpListener {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    socket.set_reuse_address(true).expect("SO_REUSEADDR");
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    socket.bind(&addr.into()).expect("bind 127.0.0.1");
    socket.listen(4096).expect("listen");
    socket.into()
}

fn client(
    port: u16,
    messages: usize,
    seed: u64,
    bulk: bool,
    bytes_per_sec: u64,
    connected: &AtomicUsize,
) -> std::io::Result<()> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    connected.fetch_add(1, Ordering::SeqCst);
    let mut rng = Rng(seed | 1);
    let body = vec![0x5au8; 4 << 20];
    let started = std::time::Instant::now();
    let mut sent = 0u64;
    for _ in 0..messages {
        let len = if bulk {
            rng.range(64 << 10, 4 << 20) as usize
        } else {
            rng.range(10, 2000) as usize
        };
        let mut msg = Vec::with_capacity(len + 4);
        msg.extend_from_slice(&(len as u32).to_be_bytes());
        msg.extend_from_slice(&body[..len]);
        let pieces = if bulk { 1 } else { rng.range(1, 4) as usize };
        let mut at = 0;
        for p in 0..pieces {
            let end = if p + 1 == pieces {
                msg.len()
            } else {
                (at + rng.range(1, (msg.len() - at).max(2) as u64 - 1) as usize).min(msg.len())
            };
            s.write_all(&msg[at..end])?;
            at = end;
        }
        sent += msg.len() as u64;
        if bytes_per_sec > 0 {
            // Pacing, not waiting for an event: the next write is due once
            // the rate allows it.
            let due = std::time::Duration::from_secs_f64(sent as f64 / bytes_per_sec as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                thread::sleep(wait);
            }
        }
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let num = |i: usize| -> u64 { args.get(i).and_then(|a| a.parse().ok()).unwrap_or(0) };
    let bulk = args.get(1).map(String::as_str) == Some("bulk");
    let port = num(2) as u16;
    let conns = num(3).max(1) as usize;
    let (concurrent, messages, seed) = if bulk {
        (conns, num(4) as usize, num(5))
    } else {
        (num(4).max(1) as usize, num(5) as usize, num(6))
    };
    let bytes_per_sec = if bulk {
        num(6) * 1_000_000 / conns as u64
    } else {
        0
    };
    let listener = listen(port);
    let port = listener.local_addr().expect("local address").port();
    let stop = Arc::new(AtomicUsize::new(usize::MAX));
    let server = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || serve(listener, stop))
    };
    let next = Arc::new(AtomicUsize::new(0));
    let connected = Arc::new(AtomicUsize::new(0));
    let per_conn = messages / conns;
    let workers: Vec<_> = (0..concurrent)
        .map(|_| {
            let next = Arc::clone(&next);
            let connected = Arc::clone(&connected);
            thread::spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= conns {
                    break;
                }
                let seed = seed.wrapping_add(i as u64 * 7919);
                if let Err(e) = client(port, per_conn, seed, bulk, bytes_per_sec, &connected) {
                    eprintln!("loadgen: connection {i}: {e}");
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
    stop.store(connected.load(Ordering::SeqCst), Ordering::SeqCst);
    // Wakes the server's accept; it sees that every client was served.
    let _ = TcpStream::connect(("127.0.0.1", port));
    let _ = server.join();
}
