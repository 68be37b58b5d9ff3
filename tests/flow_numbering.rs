//! Stream numbering and direction naming on synthetic connections: port
//! reuse (a SYN with a new sequence number on the same ports is a new
//! stream, as Wireshark's `tcp.stream` has it), a retransmitted SYN (same
//! stream), a capture that starts at the SYN-ACK (the SYN-ACK's sender is
//! the server), and a connection without handshake (the first sender is the
//! client). The expected numbers were checked once against tshark 4.0's
//! `tcp.stream` on the same packets written to a pcap file.

use etherparse::PacketBuilder;
use framescope::capture::Timestamp;
use framescope::dissect::{dissect, Dissected};
use framescope::flow::{Dir, FlowLimits, Sink, StreamInfo, StreamStats, Tracker};
use framescope::reassembly::Event;

#[derive(Default)]
struct Seen {
    streams: Vec<(StreamInfo, Vec<u8>, Vec<u8>)>,
}

impl Sink for Seen {
    type Stream = usize;
    fn open(&mut self, info: &StreamInfo) -> usize {
        self.streams.push((*info, Vec::new(), Vec::new()));
        self.streams.len() - 1
    }
    fn event(&mut self, i: &mut usize, dir: Dir, e: Event<'_>) {
        if let Event::Data { bytes, .. } = e {
            let s = &mut self.streams[*i];
            match dir {
                Dir::Client => s.1.extend_from_slice(bytes),
                Dir::Server => s.2.extend_from_slice(bytes),
            }
        }
    }
    fn close(&mut self, _: usize, _: &StreamInfo, _: &StreamStats) {}
}

/// (from client?, flags "S", "SA", "A", "PA", "FA"), seq, ack, payload
type Pkt<'a> = (bool, &'a str, u32, u32, &'a [u8]);

fn packet(from_a: bool, flags: &str, seq: u32, ack: u32, payload: &[u8]) -> Vec<u8> {
    let (src, dst, sp, dp) = if from_a {
        ([10, 0, 0, 1], [10, 0, 0, 2], 40000, 80)
    } else {
        ([10, 0, 0, 2], [10, 0, 0, 1], 80, 40000)
    };
    let mut b = PacketBuilder::ethernet2([1; 6], [2; 6])
        .ipv4(src, dst, 64)
        .tcp(sp, dp, seq, 65535);
    if flags.contains('S') {
        b = b.syn();
    }
    if flags.contains('A') {
        b = b.ack(ack);
    }
    if flags.contains('P') {
        b = b.psh();
    }
    if flags.contains('F') {
        b = b.fin();
    }
    let mut out = Vec::new();
    b.write(&mut out, payload).unwrap();
    out
}

fn run(pkts: &[Pkt<'_>]) -> Seen {
    let mut t = Tracker::new(Seen::default(), FlowLimits::default());
    for (i, &(a, flags, seq, ack, payload)) in pkts.iter().enumerate() {
        let data = packet(a, flags, seq, ack, payload);
        let Dissected::Packet(p) = dissect(
            framescope::capture::LinkType::ETHERNET,
            &data,
            data.len() as u32,
        ) else {
            panic!("not a packet")
        };
        t.packet(&p, i as u64 + 1, Timestamp(i as i64 * 1_000_000));
    }
    t.finish().0
}

#[test]
fn new_syn_on_the_same_ports_is_a_new_stream() {
    let seen = run(&[
        (true, "S", 100, 0, b""),
        (false, "SA", 900, 101, b""),
        (true, "PA", 101, 901, b"one"),
        (true, "FA", 104, 901, b""),
        (false, "FA", 901, 105, b""),
        // The same ports again, a new ISN: a new connection.
        (true, "S", 5000, 0, b""),
        (false, "SA", 7000, 5001, b""),
        (true, "PA", 5001, 7001, b"two"),
    ]);
    assert_eq!(seen.streams.len(), 2);
    assert_eq!(seen.streams[0].0.number, 0);
    assert_eq!(seen.streams[1].0.number, 1);
    assert_eq!(seen.streams[0].1, b"one");
    assert_eq!(seen.streams[1].1, b"two");
}

#[test]
fn retransmitted_syn_stays_in_its_stream() {
    let seen = run(&[
        (true, "S", 100, 0, b""),
        (true, "S", 100, 0, b""),
        (false, "SA", 900, 101, b""),
        (true, "PA", 101, 901, b"hi"),
    ]);
    assert_eq!(seen.streams.len(), 1);
    assert_eq!(seen.streams[0].1, b"hi");
}

#[test]
fn syn_ack_sender_is_the_server() {
    let seen = run(&[
        (false, "SA", 900, 101, b""),
        (true, "A", 101, 901, b""),
        (true, "PA", 101, 901, b"GET"),
        (false, "PA", 901, 104, b"200"),
    ]);
    let (info, client, server) = &seen.streams[0];
    assert_eq!(info.client.port(), 40000);
    assert_eq!(
        (client.as_slice(), server.as_slice()),
        (&b"GET"[..], &b"200"[..])
    );
}

#[test]
fn without_handshake_the_first_sender_is_the_client() {
    let seen = run(&[
        (false, "PA", 901, 104, b"late reply"),
        (true, "PA", 104, 911, b"next"),
    ]);
    let (info, client, _) = &seen.streams[0];
    assert_eq!(info.client.port(), 80);
    assert_eq!(client.as_slice(), b"late reply");
}
