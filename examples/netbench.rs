//! Network measurements for the proxy benchmark (`benches/proxy.sh`): a
//! server and a client on 127.0.0.1, so that a direct connection, socat and
//! `framescope proxy` can be measured the same way in the same run.
//!
//! ```text
//! netbench serve PORT                 # sink for bulk, echo for round trips; one thread per connection
//! netbench bulk ADDR MIB              # send MIB MiB in 256 KiB writes, half-close, wait for the close;
//!                                     #   prints MB/s (10^6 bytes per second)
//! netbench rtt ADDR ROUNDS SIZE       # ROUNDS requests of SIZE bytes, each echoed; prints the
//!                                     #   median and 99th percentile round trip in microseconds
//! ```
//!
//! The first byte a client sends says what it wants (`B` bulk, `E` echo).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread;
use std::time::Instant;

fn serve(port: &str) {
    let listener = TcpListener::bind(format!("127.0.0.1:{port}")).expect("bind");
    for conn in listener.incoming().flatten() {
        thread::spawn(move || {
            let mut s = conn;
            let _ = s.set_nodelay(true);
            let mut kind = [0u8; 1];
            if s.read_exact(&mut kind).is_err() {
                return;
            }
            let mut buf = vec![0u8; 256 * 1024];
            if kind[0] == b'B' {
                while let Ok(1..) = s.read(&mut buf) {}
                return;
            }
            // Echo: a 4-byte length, then that many bytes, sent back.
            loop {
                let mut head = [0u8; 4];
                if s.read_exact(&mut head).is_err() {
                    return;
                }
                let n = u32::from_be_bytes(head) as usize;
                let body = &mut buf[..n.min(256 * 1024)];
                if s.read_exact(body).is_err() {
                    return;
                }
                let mut reply = head.to_vec();
                reply.extend_from_slice(body);
                if s.write_all(&reply).is_err() {
                    return;
                }
            }
        });
    }
}

fn bulk(addr: &str, mib: u64) {
    let mut s = TcpStream::connect(addr).expect("connect");
    let chunk = vec![0x5au8; 256 * 1024];
    let start = Instant::now();
    s.write_all(b"B").expect("write");
    for _ in 0..mib * 4 {
        s.write_all(&chunk).expect("write");
    }
    s.shutdown(Shutdown::Write).expect("shutdown");
    // The server closes once it has read everything.
    let _ = s.read(&mut [0u8; 1]);
    let secs = start.elapsed().as_secs_f64();
    println!("{:.0}", (mib << 20) as f64 / secs / 1e6);
}

fn rtt(addr: &str, rounds: usize, size: usize) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_nodelay(true).expect("nodelay");
    s.write_all(b"E").expect("write");
    let mut request = (size as u32).to_be_bytes().to_vec();
    request.resize(4 + size, 0x61);
    let mut reply = vec![0u8; request.len()];
    let mut times = Vec::with_capacity(rounds);
    for i in 0..rounds + rounds / 10 {
        let start = Instant::now();
        s.write_all(&request).expect("write");
        s.read_exact(&mut reply).expect("read");
        // The first tenth warms up.
        if i >= rounds / 10 {
            times.push(start.elapsed().as_secs_f64() * 1e6);
        }
    }
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
    println!("{:.1} {:.1}", at(0.5), at(0.99));
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or_default();
    match arg(0) {
        "serve" => serve(arg(1)),
        "bulk" => bulk(arg(1), arg(2).parse().expect("MIB")),
        "rtt" => rtt(
            arg(1),
            arg(2).parse().expect("ROUNDS"),
            arg(3).parse().expect("SIZE"),
        ),
        _ => eprintln!("usage: netbench serve PORT | bulk ADDR MIB | rtt ADDR ROUNDS SIZE"),
    }
}
