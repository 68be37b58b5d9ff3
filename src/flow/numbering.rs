//! Stream numbering: which stream a packet belongs to, and which side is
//! the client.
//!
//! This module owns Wireshark's `tcp.stream` and `udp.stream` numbering
//! (numbers in order of first appearance, in separate spaces for TCP and
//! UDP; a SYN whose sequence number differs from the one that opened the
//! conversation starts a new stream on the same ports) and the naming of
//! directions (the `client` sent the SYN; without one, the first packet's
//! sender is the client, or the receiver of a SYN-ACK). It keeps one small
//! entry per connection ever seen, up to a bound; past it the oldest
//! quarter is forgotten. It does not hold streams open or follow their
//! bytes: the tracker ([`super::Tracker`]) does.

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

/// The numbering entry of a connection: cheap (32 bytes beside its key),
/// kept long after the stream.
struct Conversation {
    stream: u64,
    /// When it was numbered, over both protocols: the oldest are forgotten
    /// first.
    age: u64,
    /// First sequence number seen per direction (client, server), for
    /// Wireshark's port-reuse rule, where [`Conversation::HAS_BASE`] says.
    base_seq: [u32; 2],
    /// [`Conversation::CLIENT_LO`] and [`Conversation::HAS_BASE`] bits.
    flags: u8,
}

// An entry of the table, key and conversation: 104 bytes on 64-bit
// targets (and a control byte of the hash table's).
const _: () = assert!(std::mem::size_of::<(FlowKey, Conversation)>() <= 104);

impl Conversation {
    /// The client is the key's `lo` end.
    const CLIENT_LO: u8 = 1;
    /// `base_seq[d]` is set, as bit `d` of this.
    const HAS_BASE: u8 = 2;

    fn new(stream: u64, age: u64, key: &FlowKey, client: SocketAddr) -> Self {
        let lo = if key.lo == client { Self::CLIENT_LO } else { 0 };
        Conversation {
            stream,
            age,
            base_seq: [0, 0],
            flags: lo,
        }
    }

    /// Which direction `src` of the connection `key` sends.
    fn dir_of(&self, key: &FlowKey, src: SocketAddr) -> Dir {
        if (self.flags & Self::CLIENT_LO != 0) == (key.lo == src) {
            Dir::Client
        } else {
            Dir::Server
        }
    }

    fn base(&self, d: usize) -> Option<u32> {
        (self.flags & Self::HAS_BASE << d != 0).then_some(self.base_seq[d])
    }

    /// Sets direction `d`'s first sequence number unless it is set.
    fn set_base(&mut self, d: usize, seq: u32) {
        if self.base(d).is_none() {
            self.base_seq[d] = seq;
            self.flags |= Self::HAS_BASE << d;
        }
    }
}

/// The numbers given so far and the connections they were given to.
pub(super) struct Numbering {
    conversations: FastMap<FlowKey, Conversation>,
    /// The next [`Conversation::age`].
    next_age: u64,
    /// The next TCP and UDP stream numbers: also the streams numbered.
    next_number: [u64; 2],
    /// Connections remembered at most.
    max_numbered: usize,
    /// The last TCP conversation a packet was found in, once both its
    /// sequence bases are set (nothing but a SYN changes it then): the
    /// packets of a connection come in runs (a segment, then its ACK), and
    /// a run costs one comparison of keys instead of a hash and a probe.
    last: Option<(FlowKey, u64, u8)>,
}

impl Numbering {
    /// Numbering that remembers at most `max_numbered` connections.
    pub(super) fn new(max_numbered: usize) -> Self {
        Numbering {
            conversations: FastMap::default(),
            next_age: 0,
            next_number: [0, 0],
            max_numbered,
            last: None,
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
        let syn = tcp.flags.has(TcpFlags::SYN);
        if let Some((last, stream, flags)) = &self.last {
            if !syn && *last == key {
                let lo = (flags & Conversation::CLIENT_LO != 0) == (key.lo == src);
                return (*stream, if lo { Dir::Client } else { Dir::Server });
            }
        }
        let syn_only = syn && !tcp.flags.has(TcpFlags::ACK);
        if let Some(conv) = self.conversations.get_mut(&key) {
            let dir = conv.dir_of(&key, src);
            let d = dir.index();
            let syn_ack = tcp.flags.has(TcpFlags::SYN | TcpFlags::ACK);
            // A SYN with another ISN is a new connection on reused ports;
            // so is a SYN-ACK with another ISN that answers another SYN
            // than the one seen (the new connection's SYN was not
            // captured). A SYN-ACK that answers the same SYN is a
            // retransmission or another answer to it.
            let reused = (syn_only && conv.base(d).is_some_and(|b| b != tcp.seq))
                || (syn_ack
                    && conv.base(d).is_some_and(|b| b != tcp.seq)
                    && conv
                        .base(1 - d)
                        .is_some_and(|b| b.wrapping_add(1) != tcp.ack));
            if !reused {
                conv.set_base(d, tcp.seq);
                let both = Conversation::HAS_BASE | Conversation::HAS_BASE << 1;
                self.last = (conv.flags & both == both).then_some((key, conv.stream, conv.flags));
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
        let mut conv = Conversation::new(stream, self.next_age, &key, client);
        conv.set_base(dir.index(), tcp.seq);
        self.remember(key, conv);
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
            return (conv.stream, conv.dir_of(&key, src));
        }
        let next = &mut self.next_number[usize::from(proto == Proto::Udp)];
        let stream = *next;
        *next += 1;
        let conv = Conversation::new(stream, self.next_age, &key, src);
        self.remember(key, conv);
        (stream, Dir::Client)
    }

    /// Remembers `conv`; past [`Numbering::max_numbered`] connections,
    /// forgets the oldest quarter of them at once (so that forgetting costs
    /// a pass over the table per quarter of it numbered, not a queue entry
    /// per connection).
    fn remember(&mut self, key: FlowKey, conv: Conversation) {
        // The conversation last found may be forgotten or replaced.
        self.last = None;
        self.next_age += 1;
        self.conversations.insert(key, conv);
        if self.conversations.len() > self.max_numbered {
            let keep = self.max_numbered - self.max_numbered / 4;
            let oldest_kept = self.next_age.saturating_sub(keep as u64);
            self.conversations.retain(|_, c| c.age >= oldest_kept);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(i: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1], 1000 + i))
    }

    #[test]
    fn past_the_bound_the_oldest_are_forgotten_and_the_newest_kept() {
        let server = SocketAddr::from(([10, 0, 0, 2], 53));
        let mut n = Numbering::new(8);
        for i in 0..20 {
            assert_eq!(
                n.by_sender(Proto::Udp, addr(i), server),
                (u64::from(i), Dir::Client)
            );
            assert!(n.conversations.len() <= 8, "{}", n.conversations.len());
        }
        // The last 6 (8 less a quarter) are remembered, from either side.
        for i in 14..20 {
            assert_eq!(
                n.by_sender(Proto::Udp, server, addr(i)),
                (u64::from(i), Dir::Server)
            );
        }
        // The first were forgotten: a packet of one starts a new stream.
        assert_eq!(n.by_sender(Proto::Udp, addr(0), server), (20, Dir::Client));
        assert_eq!(n.streams(Proto::Udp), 21);
        assert_eq!(n.streams(Proto::Tcp), 0);
    }

    #[test]
    fn a_server_sending_first_is_named_from_the_flags_both_ways() {
        // The client is whichever end the key does not order first, and
        // stays the client for packets from either side.
        let (lo, hi) = (addr(1), addr(2));
        for (client, server) in [(lo, hi), (hi, lo)] {
            let mut n = Numbering::new(4);
            assert_eq!(n.by_sender(Proto::Udp, client, server), (0, Dir::Client));
            assert_eq!(n.by_sender(Proto::Udp, server, client), (0, Dir::Server));
            assert_eq!(n.by_sender(Proto::Udp, client, server), (0, Dir::Client));
        }
        // Both ends the same address and port: always the client.
        let mut n = Numbering::new(4);
        assert_eq!(n.by_sender(Proto::Udp, lo, lo), (0, Dir::Client));
        assert_eq!(n.by_sender(Proto::Udp, lo, lo), (0, Dir::Client));
    }
}
