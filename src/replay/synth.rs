//! Synthetic captures: a session written as a classic pcap file of
//! Ethernet/IPv4/TCP packets (handshake, one packet per write of at most
//! [`MSS`] bytes, then the closes), so that `framescope replay` can send it
//! again. Used for fuzzing reproducers and for test fixtures.
//!
//! This module owns that writer. The pcap format is written directly (a
//! 24-byte file header, a 16-byte header per record, microsecond times):
//! it needs no libpcap handle and gives the same bytes on every platform.

use std::io::{self, Write as _};
use std::path::Path;
use std::time::Duration;

use etherparse::PacketBuilder;

use crate::flow::Dir;

use super::Ending;

/// The largest payload per synthetic packet.
pub const MSS: usize = 1460;

/// One write of a synthetic session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SynthWrite {
    /// Who writes.
    pub dir: Dir,
    /// Time since the previous write.
    pub pause: Duration,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// A session to write as a capture.
#[derive(Clone, Debug, Default)]
pub struct SynthSession {
    /// The writes, in order.
    pub writes: Vec<SynthWrite>,
    /// How the server ends: `Closed` (FIN), `Reset` (RST), else no packet.
    pub server_end: Option<Ending>,
}

const CLIENT: ([u8; 4], u16) = ([10, 0, 0, 1], 40000);
const SERVER: ([u8; 4], u16) = ([10, 0, 0, 2], 7000);
const BASE_SECS: u64 = 1_700_000_000;

struct Writer {
    out: Vec<u8>,
    now: Duration,
    seq: [u32; 2],
}

impl Writer {
    fn packet(&mut self, dir: Dir, flags: &[&str], payload: &[u8]) -> io::Result<()> {
        let ((src, sport), (dst, dport)) = match dir {
            Dir::Client => (CLIENT, SERVER),
            Dir::Server => (SERVER, CLIENT),
        };
        let mac = |d: Dir| [2, 0, 0, 0, 0, 1 + d.index() as u8];
        let mut b = PacketBuilder::ethernet2(mac(dir), mac(dir.other()))
            .ipv4(src, dst, 64)
            .tcp(sport, dport, self.seq[dir.index()], 65535);
        let syn = flags.contains(&"syn");
        if syn {
            b = b.syn();
        }
        if flags.contains(&"fin") {
            b = b.fin();
        }
        if flags.contains(&"rst") {
            b = b.rst();
        }
        if !(syn && dir == Dir::Client) {
            b = b.ack(self.seq[dir.other().index()]);
        }
        if !payload.is_empty() {
            b = b.psh();
        }
        let mut frame = Vec::with_capacity(54 + payload.len());
        b.write(&mut frame, payload)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        let advance = payload.len() as u32 + u32::from(syn) + u32::from(flags.contains(&"fin"));
        self.seq[dir.index()] = self.seq[dir.index()].wrapping_add(advance);
        let secs = BASE_SECS + self.now.as_secs();
        let len = frame.len() as u32;
        for v in [secs as u32, self.now.subsec_micros(), len, len] {
            self.out.extend_from_slice(&v.to_le_bytes());
        }
        self.out.extend_from_slice(&frame);
        Ok(())
    }
}

/// The pcap bytes of `session`.
pub fn pcap_bytes(session: &SynthSession) -> io::Result<Vec<u8>> {
    let mut w = Writer {
        out: Vec::new(),
        now: Duration::ZERO,
        seq: [1000, 5000],
    };
    w.out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    w.out.extend_from_slice(&2u16.to_le_bytes());
    w.out.extend_from_slice(&4u16.to_le_bytes());
    for v in [0u32, 0, 65535, 1] {
        w.out.extend_from_slice(&v.to_le_bytes());
    }
    let tick = Duration::from_micros(100);
    w.packet(Dir::Client, &["syn"], &[])?;
    w.now += tick;
    w.packet(Dir::Server, &["syn"], &[])?;
    w.now += tick;
    w.packet(Dir::Client, &[], &[])?;
    for write in &session.writes {
        w.now += write.pause.max(tick);
        for chunk in write.bytes.chunks(MSS) {
            w.packet(write.dir, &[], chunk)?;
        }
    }
    w.now += tick;
    w.packet(Dir::Client, &["fin"], &[])?;
    w.now += tick;
    match session.server_end {
        Some(Ending::Closed) => w.packet(Dir::Server, &["fin"], &[])?,
        Some(Ending::Reset) => w.packet(Dir::Server, &["rst"], &[])?,
        _ => {}
    }
    Ok(w.out)
}

/// Writes `session` as a pcap file at `path`.
pub fn write_pcap(path: &Path, session: &SynthSession) -> io::Result<()> {
    let bytes = pcap_bytes(session)?;
    let mut f = std::fs::File::create(path)?;
    f.write_all(&bytes)
}
