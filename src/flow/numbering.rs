//! Stream numbering: which stream a packet belongs to, and which side is
//! the client.
//!
//! This module owns Wireshark's `tcp.stream` and `udp.stream` numbering
//! (numbers in order of first appearance, in separate spaces for TCP and
//! UDP; a SYN whose sequence number differs from the one that opened the
//! conversation starts a new stream on the same ports) and the naming of
//! directions (the `client` sent the SYN; without one, the first packet's
//! sender is the client, or the receiver of a SYN-ACK). It keeps one small
//! entry per connection ever seen, up to a bound; past it the oldest are
//! forgotten. It does not hold streams open or follow their bytes: the
//! tracker ([`super::Tracker`]) does.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};

use super::{Dir, FastMap, Proto};
use crate::dissect::{TcpFlags, TcpSegment};

/// A connection's addresses and ports, in the same order for both
/// directions.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct FlowKey {
    proto: Proto,
    lo: SocketAddr,
    hi: SocketAddr,
}

/// The numbering entry of a connection: cheap, kept long after the stream.
struct Conversation {
    stream: u64,
    client: SocketAddr,
    /// First sequence number seen per direction (client, server), for
    /// Wireshark's port-reuse rule.
    base_seq: [Option<u32>; 2],
}

/// The numbers given so far and the connections they were given to.
pub(super) struct Numbering {
    conversations: FastMap<FlowKey, Conversation>,
    numbered: VecDeque<(FlowKey, u64)>,
    /// The next TCP and UDP stream numbers: also the streams numbered.
    next_number: [u64; 2],
    /// Connections remembered at most.
    max_numbered: usize,
}

impl Numbering {
    /// Numbering that remembers at most `max_numbered` connections.
    pub(super) fn new(max_numbered: usize) -> Self {
        Numbering {
            conversations: FastMap::default(),
            numbered: VecDeque::new(),
            next_number: [0, 0],
            max_numbered,
        }
    }

    /// Streams numbered so far of `proto`.
    pub(super) fn streams(&self, proto: Proto) -> u64 {
        self.next_number[usize::from(proto == Proto::Udp)]
    }

    /// The `tcp.stream` number and direction of a TCP packet.
    #[inline]
    pub(super) fn tcp(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        tcp: &TcpSegment<'_>,
    ) -> (u64, Dir) {
        let key = flow_key(Proto::Tcp, src, dst);
        let syn_only = tcp.flags.has(TcpFlags::SYN) && !tcp.flags.has(TcpFlags::ACK);
        if let Some(conv) = self.conversations.get_mut(&key) {
            let dir = if conv.client == src {
                Dir::Client
            } else {
                Dir::Server
            };
            let d = dir.index();
            let syn_ack = tcp.flags.has(TcpFlags::SYN | TcpFlags::ACK);
            // A SYN with another ISN is a new connection on reused ports;
            // so is a SYN-ACK with another ISN that answers another SYN
            // than the one seen (the new connection's SYN was not
            // captured). A SYN-ACK that answers the same SYN is a
            // retransmission or another answer to it.
            let reused = (syn_only && conv.base_seq[d].is_some_and(|b| b != tcp.seq))
                || (syn_ack
                    && conv.base_seq[d].is_some_and(|b| b != tcp.seq)
                    && conv.base_seq[1 - d].is_some_and(|b| b.wrapping_add(1) != tcp.ack));
            if !reused {
                conv.base_seq[dir.index()].get_or_insert(tcp.seq);
                return (conv.stream, dir);
            }
        }
        // A new conversation (or a new one on reused ports).
        let client = if tcp.flags.has(TcpFlags::SYN) && tcp.flags.has(TcpFlags::ACK) {
            dst
        } else {
            src
        };
        let dir = if client == src {
            Dir::Client
        } else {
            Dir::Server
        };
        let stream = self.next_number[0];
        self.next_number[0] += 1;
        let mut base_seq = [None, None];
        base_seq[dir.index()] = Some(tcp.seq);
        self.remember(
            key,
            Conversation {
                stream,
                client,
                base_seq,
            },
        );
        (stream, dir)
    }

    /// The stream of a UDP datagram, or of a TCP packet quoted in an ICMP
    /// error: its conversation's, or a new one whose client is the sender
    /// `src`. Neither sets a sequence number base.
    #[inline]
    pub(super) fn by_sender(
        &mut self,
        proto: Proto,
        src: SocketAddr,
        dst: SocketAddr,
    ) -> (u64, Dir) {
        let key = flow_key(proto, src, dst);
        if let Some(conv) = self.conversations.get(&key) {
            let dir = if conv.client == src {
                Dir::Client
            } else {
                Dir::Server
            };
            return (conv.stream, dir);
        }
        let next = &mut self.next_number[usize::from(proto == Proto::Udp)];
        let stream = *next;
        *next += 1;
        self.remember(
            key,
            Conversation {
                stream,
                client: src,
                base_seq: [None, None],
            },
        );
        (stream, Dir::Client)
    }

    fn remember(&mut self, key: FlowKey, conv: Conversation) {
        let stream = conv.stream;
        self.conversations.insert(key, conv);
        self.numbered.push_back((key, stream));
        while self.conversations.len() > self.max_numbered {
            let Some((old, number)) = self.numbered.pop_front() else {
                break;
            };
            if self
                .conversations
                .get(&old)
                .is_some_and(|c| c.stream == number)
            {
                self.conversations.remove(&old);
            }
        }
        if self.numbered.len() > 2 * self.max_numbered.max(1) {
            let convs = &self.conversations;
            self.numbered
                .retain(|(k, n)| convs.get(k).is_some_and(|c| c.stream == *n));
        }
    }
}

/// A hash of a flow key, stable across runs and machines: the key's
/// fields packed into 64-bit words, each folded in with a mixing function
/// (splitmix64's finalizer), so every bit of the key reaches every bit of
/// the hash.
pub(super) fn flow_hash(key: &FlowKey) -> u64 {
    fn mix(x: u64) -> u64 {
        let x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        let x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^ (x >> 31)
    }
    let mut h = mix(u64::from(key.proto == Proto::Udp) << 32
        | u64::from(key.lo.port()) << 16
        | u64::from(key.hi.port()));
    for addr in [key.lo, key.hi] {
        match addr.ip() {
            IpAddr::V4(v4) => h = mix(h ^ u64::from(u32::from(v4))),
            IpAddr::V6(v6) => {
                let bits = u128::from(v6);
                h = mix(h ^ (bits >> 64) as u64);
                h = mix(h ^ bits as u64 ^ 1 << 63);
            }
        }
    }
    h
}

/// The key of the connection between `a` and `b`, whichever sent.
#[inline]
pub(super) fn flow_key(proto: Proto, a: SocketAddr, b: SocketAddr) -> FlowKey {
    if (a.ip(), a.port()) <= (b.ip(), b.port()) {
        FlowKey {
            proto,
            lo: a,
            hi: b,
        }
    } else {
        FlowKey {
            proto,
            lo: b,
            hi: a,
        }
    }
}
