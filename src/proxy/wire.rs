//! The proxy's own capture: every read and write it makes, as TCP/IP
//! packets, fed to the analysis and, with `--write`, to a pcap file.
//!
//! This module owns [`Wire`]. Each proxied connection is two TCP streams
//! (legs), with their real addresses and ports: the client leg (client to
//! the listening address) and the server leg (the proxy's outgoing port to
//! the target). A leg opens with a three-way handshake; each read the proxy
//! makes from a peer and each write it makes to a peer is one data packet
//! (split at [`MAX_PAYLOAD`] bytes), with sequence and acknowledgement
//! numbers that follow the bytes; a close is a FIN and the peer's ACK, a
//! reset an RST. The records go through [`pipeline::feed`], the same path
//! as a file's records, so that analysing the written file gives the same
//! report as the live analysis. It does not touch sockets.
//!
//! ```text
//! client ──reads──> [proxy] ──writes (re-cut)──> server
//!   client leg: client -> listen        server leg: local port -> target
//! ```

use std::io::{self, BufWriter};
use std::net::{IpAddr, SocketAddr};

use etherparse::PacketBuilder;

use crate::capture::writer::PcapWriter;
use crate::capture::{LinkType, Record, Timestamp};
use crate::flow::{Dir, Sink, Tracker};
use crate::pipeline::{self, CaptureSummary};

/// The largest payload of one synthesized packet: a read or write larger
/// than this becomes several packets (IPv4's total length is 16 bits).
pub const MAX_PAYLOAD: usize = 65_000;

/// The initial sequence numbers of every leg (client, server).
const ISN: [u32; 2] = [1_000, 500_000];

/// One leg of a connection.
#[derive(Clone, Copy, Debug)]
pub struct Leg {
    /// The side that connected.
    pub client: SocketAddr,
    /// The side that accepted.
    pub server: SocketAddr,
    /// The stream number the analysis gives it.
    pub stream: u64,
    seq: [u32; 2],
    closed: [bool; 2],
}

/// Packet flags, as the builder takes them.
#[derive(Clone, Copy, Default)]
struct Flags {
    syn: bool,
    ack: bool,
    fin: bool,
    rst: bool,
}

/// The synthesized capture and the tracker it feeds.
pub struct Wire<K: Sink> {
    tracker: Tracker<K>,
    summary: CaptureSummary,
    out: Option<PcapWriter<BufWriter<std::fs::File>>>,
    frame: Vec<u8>,
    record: u64,
    last_ts: Timestamp,
    next_stream: u64,
    /// The first error writing the file; writing stops there.
    pub write_error: Option<io::Error>,
}

impl<K: Sink> Wire<K> {
    /// Feeds `tracker`, and writes the capture to `file` when given.
    pub fn new(tracker: Tracker<K>, file: Option<std::fs::File>) -> Self {
        let mut write_error = None;
        let out = file.and_then(|f| {
            PcapWriter::new(BufWriter::with_capacity(1 << 20, f), LinkType::ETHERNET)
                .map_err(|e| write_error = Some(e))
                .ok()
        });
        Wire {
            tracker,
            summary: CaptureSummary::default(),
            out,
            frame: Vec::with_capacity(MAX_PAYLOAD + 128),
            record: 0,
            last_ts: Timestamp(0),
            next_stream: 0,
            write_error,
        }
    }

    /// The tracker.
    pub fn tracker_mut(&mut self) -> &mut Tracker<K> {
        &mut self.tracker
    }

    /// Flushes the file and returns the tracker and the capture summary.
    pub fn finish(mut self) -> (Tracker<K>, CaptureSummary, Option<io::Error>) {
        if let Some(out) = self.out.take() {
            if let Err(e) = out.finish() {
                self.write_error.get_or_insert(e);
            }
        }
        (self.tracker, self.summary, self.write_error)
    }

    /// A leg opens: SYN, SYN-ACK, ACK at `ts`.
    pub fn open(&mut self, client: SocketAddr, server: SocketAddr, ts: Timestamp) -> Leg {
        let mut leg = Leg {
            client,
            server,
            stream: self.next_stream,
            seq: ISN,
            closed: [false, false],
        };
        self.next_stream += 1;
        let syn = Flags {
            syn: true,
            ..Flags::default()
        };
        self.packet(&mut leg, Dir::Client, syn, &[], ts);
        self.packet(&mut leg, Dir::Server, Flags { ack: true, ..syn }, &[], ts);
        self.packet(&mut leg, Dir::Client, ACK, &[], ts);
        leg
    }

    /// Bytes sent by `dir` on `leg`.
    pub fn data(&mut self, leg: &mut Leg, dir: Dir, bytes: &[u8], ts: Timestamp) {
        for chunk in bytes.chunks(MAX_PAYLOAD) {
            self.packet(leg, dir, ACK, chunk, ts);
        }
    }

    /// `dir` closes its side of `leg`: a FIN, acknowledged by the peer.
    pub fn fin(&mut self, leg: &mut Leg, dir: Dir, ts: Timestamp) {
        if std::mem::replace(&mut leg.closed[dir.index()], true) {
            return;
        }
        self.packet(leg, dir, Flags { fin: true, ..ACK }, &[], ts);
        self.packet(leg, dir.other(), ACK, &[], ts);
    }

    /// `dir` resets `leg`.
    pub fn reset(&mut self, leg: &mut Leg, dir: Dir, ts: Timestamp) {
        if leg.closed.iter().all(|&c| c) {
            return;
        }
        leg.closed = [true, true];
        self.packet(leg, dir, Flags { rst: true, ..ACK }, &[], ts);
    }

    fn packet(&mut self, leg: &mut Leg, dir: Dir, flags: Flags, payload: &[u8], ts: Timestamp) {
        // Records are in time order even when threads noted them out of it.
        let ts = ts.max(self.last_ts);
        self.last_ts = ts;
        let (src, dst) = match dir {
            Dir::Client => (leg.client, leg.server),
            Dir::Server => (leg.server, leg.client),
        };
        let mac = |d: Dir| [2, 0, 0, 0, 0, 1 + d.index() as u8];
        let eth = PacketBuilder::ethernet2(mac(dir), mac(dir.other()));
        let ip = match (src.ip(), dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => eth.ipv4(s.octets(), d.octets(), 64),
            (s, d) => eth.ipv6(v6(s), v6(d), 64),
        };
        let mut b = ip.tcp(src.port(), dst.port(), leg.seq[dir.index()], 65535);
        if flags.syn {
            b = b.syn();
        }
        if flags.fin {
            b = b.fin();
        }
        if flags.rst {
            b = b.rst();
        }
        if flags.ack {
            b = b.ack(leg.seq[dir.other().index()]);
        }
        if !payload.is_empty() {
            b = b.psh();
        }
        self.frame.clear();
        if b.write(&mut self.frame, payload).is_err() {
            return; // a payload over MAX_PAYLOAD cannot reach here
        }
        let advance = payload.len() as u32 + u32::from(flags.syn) + u32::from(flags.fin);
        leg.seq[dir.index()] = leg.seq[dir.index()].wrapping_add(advance);
        self.record += 1;
        let rec = Record {
            number: self.record,
            offset: 0,
            data_offset: 0,
            ts,
            link: LinkType::ETHERNET,
            interface: 0,
            data: &self.frame,
            orig_len: self.frame.len() as u32,
        };
        self.summary.records += 1;
        self.summary.bytes += self.frame.len() as u64 + 16;
        // No filter: feeding cannot fail.
        let _ = pipeline::feed(&rec, None, &mut self.tracker, &mut self.summary);
        if self.write_error.is_none() {
            if let Some(out) = &mut self.out {
                if let Err(e) = out.record(ts, &self.frame) {
                    self.write_error = Some(e);
                }
            }
        }
    }
}

const ACK: Flags = Flags {
    syn: false,
    ack: true,
    fin: false,
    rst: false,
};

fn v6(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}
