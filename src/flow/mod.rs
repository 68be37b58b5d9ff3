//! Connections and flows: which stream a packet belongs to, and the life of
//! each stream from first packet to final report.
//!
//! This module owns the [`Tracker`], which numbers each packet's stream
//! as Wireshark's `tcp.stream` and `udp.stream` do (numbers in order of
//! first appearance; a SYN whose sequence number differs from the one that
//! opened the conversation starts a new stream on the same ports) and names
//! its directions (the `client` sent the SYN; without one, the first
//! packet's sender is the client, or the receiver of a SYN-ACK), feeds each
//! TCP direction through an [`Assembler`] ([`reassembly`], with the
//! sequence arithmetic of [`seq`]), and hands the results to a [`Sink`].
//! The numbering itself lives in a file of its own (`numbering.rs`). This
//! module does not decide what the bytes mean: sinks do.
//!
//! # Bounds
//!
//! * [`FlowLimits::max_streams`] streams are open at once (default 262,144).
//!   When the table is full, the least recently active stream is finalized
//!   early and counted in [`TrackerStats::evicted`].
//! * A closed stream (FIN both ways, or RST) is finalized once
//!   [`FlowLimits::linger`] of capture time has passed without a packet for
//!   it; a UDP flow after [`FlowLimits::udp_idle`]. Packets that arrive for
//!   a stream already finalized are counted in [`TrackerStats::late_packets`]
//!   and otherwise ignored.
//! * Out-of-order bytes are bounded per direction by [`Limits`] and over all
//!   streams by a shared [`Budget`].
//! * The numbering table keeps one small entry per connection ever seen
//!   (105 bytes in a hash table at most 7/8 full), up to
//!   [`FlowLimits::max_numbered`] (default 4,194,304); past that the oldest
//!   quarter is forgotten at once, and a packet of a forgotten connection
//!   would start a new stream number.

mod numbering;
pub mod reassembly;
pub mod seq;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

use crate::capture::scan::{ChunkScan, ScanAhead};
use crate::capture::LinkType;
use crate::capture::Timestamp;
use crate::dissect::{dissect, Dissected, Packet, TcpFlags, Transport};
use crate::flow::reassembly::{Assembler, Budget, Event, GapReason, HalfStats, Limits, SegmentIn};
use crate::flow::seq::SeqNum;
use crate::fragments::{Defragmenter, Fragment, FragmentLimits, FragmentStats};
use crate::icmp::{IcmpError, IcmpErrors, QuotedProto};
use crate::tunnel::Tunnel;
use numbering::{flow_hash, flow_key, Numbering};

type FastMap<K, V> = HashMap<K, V, ahash::RandomState>;

/// The transport protocol of a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP: a reassembled byte stream per direction.
    Tcp,
    /// UDP: datagrams per direction.
    Udp,
}

/// A direction within a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dir {
    /// From the client (the SYN sender) to the server.
    Client,
    /// From the server to the client.
    Server,
}

impl Dir {
    /// 0 for client, 1 for server.
    pub fn index(self) -> usize {
        match self {
            Dir::Client => 0,
            Dir::Server => 1,
        }
    }

    /// The other direction.
    pub fn other(self) -> Dir {
        match self {
            Dir::Client => Dir::Server,
            Dir::Server => Dir::Client,
        }
    }

    /// Both directions, client first.
    pub const BOTH: [Dir; 2] = [Dir::Client, Dir::Server];

    /// `client` or `server`.
    pub fn name(self) -> &'static str {
        match self {
            Dir::Client => "client",
            Dir::Server => "server",
        }
    }
}

/// Serializes a client/server pair as `{"client": .., "server": ..}`.
pub fn per_dir<T: serde::Serialize, S: serde::Serializer>(
    pair: &[T; 2],
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(2))?;
    m.serialize_entry("client", &pair[0])?;
    m.serialize_entry("server", &pair[1])?;
    m.end()
}

/// Who a stream is between.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StreamInfo {
    /// TCP or UDP.
    pub proto: Proto,
    /// Wireshark's `tcp.stream` / `udp.stream` number (`"stream"` in JSON,
    /// as in message records).
    #[serde(rename = "stream")]
    pub number: u64,
    /// The client's address and port.
    pub client: SocketAddr,
    /// The server's address and port.
    pub server: SocketAddr,
    /// Record number of the stream's first packet.
    pub first_record: u64,
    /// Timestamp of the first packet.
    pub first_ts: Timestamp,
    /// The tunnel the stream's first packet was found in, if any: the
    /// stream is the flow inside, and the tunnel's outer addresses are
    /// context.
    pub tunnel: Option<Tunnel>,
}

/// Counters for a whole stream, handed to [`Sink::close`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct StreamStats {
    /// Per direction: client, server.
    #[serde(serialize_with = "per_dir")]
    pub dirs: [HalfStats; 2],
    /// Timestamp of the last packet.
    pub last_ts: Timestamp,
    /// Record number of the last packet.
    pub last_record: u64,
    /// Whether the stream was finalized before it ended, to bound memory.
    pub evicted: bool,
    /// ICMP errors about the stream's packets.
    pub icmp: IcmpErrors,
}

/// Per-packet facts a sink may want (timing analyses look at every packet,
/// pure ACKs included).
#[derive(Clone, Copy, Debug)]
pub struct PacketMeta {
    /// Record number.
    pub record: u64,
    /// Capture time.
    pub ts: Timestamp,
    /// TCP flags (empty for UDP).
    pub flags: TcpFlags,
    /// Payload length on the wire.
    pub len: u32,
    /// Acknowledgement number as a stream offset of the *other* direction,
    /// when the ACK flag is set and that direction's start is known.
    pub ack_offset: Option<u64>,
    /// Stream offset of this segment's first payload byte (TCP), when known.
    pub offset: Option<u64>,
}

/// A UDP datagram as delivered to a sink.
#[derive(Clone, Copy, Debug)]
pub struct Datagram<'a> {
    /// The payload captured.
    pub payload: &'a [u8],
    /// Bytes cut by the snapshot length.
    pub missing: u32,
    /// Record number.
    pub record: u64,
    /// Capture time.
    pub ts: Timestamp,
}

/// The consumer of reassembled streams. The tracker owns one `Stream` value
/// per open stream and passes it back with every event for that stream, so
/// a sink keeps per-stream state without a lookup of its own.
pub trait Sink {
    /// Per-stream state.
    type Stream;
    /// A stream begins.
    fn open(&mut self, info: &StreamInfo) -> Self::Stream;
    /// Every packet of the stream, before its data events.
    fn packet(&mut self, _st: &mut Self::Stream, _dir: Dir, _meta: &PacketMeta) {}
    /// Reassembly output for one TCP direction.
    fn event(&mut self, st: &mut Self::Stream, dir: Dir, event: Event<'_>);
    /// A UDP datagram.
    fn datagram(&mut self, _st: &mut Self::Stream, _dir: Dir, _dg: &Datagram<'_>) {}
    /// The stream is over; no more events for it.
    fn close(&mut self, st: Self::Stream, info: &StreamInfo, stats: &StreamStats);
    /// Work for the thread that reads the capture ahead to do on each
    /// record ([`crate::capture::scan`]), if the sink has any.
    fn scan_ahead(&self) -> Option<Box<dyn ScanAhead>> {
        None
    }
    /// What that work found in the chunk the next records come from
    /// ([`ChunkScan::Nothing`]: nothing; what was found before no longer
    /// holds).
    fn scanned(&mut self, _found: ChunkScan) {}
}

/// Bounds on the flow table.
#[derive(Clone, Copy, Debug)]
pub struct FlowLimits {
    /// Streams open at once.
    pub max_streams: usize,
    /// Connections remembered for numbering.
    pub max_numbered: usize,
    /// Capture time a closed TCP stream waits for stragglers, in ns.
    pub linger: i64,
    /// Capture time after which an idle UDP flow is finalized, in ns.
    pub udp_idle: i64,
    /// Per-direction reassembly bounds.
    pub reassembly: Limits,
    /// Out-of-order bytes over all streams.
    pub max_buffered_total: usize,
    /// IP fragments held, and for how long.
    pub fragments: FragmentLimits,
}

impl Default for FlowLimits {
    fn default() -> Self {
        FlowLimits {
            max_streams: 262_144,
            max_numbered: 4_194_304,
            linger: 10_000_000_000,
            udp_idle: 60_000_000_000,
            reassembly: Limits::default(),
            max_buffered_total: 64 << 20,
            fragments: FragmentLimits::default(),
        }
    }
}

/// Whole-capture counters kept by the tracker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TrackerStats {
    /// TCP packets seen.
    pub tcp_packets: u64,
    /// UDP packets seen.
    pub udp_packets: u64,
    /// TCP streams.
    pub tcp_streams: u64,
    /// UDP flows.
    pub udp_streams: u64,
    /// Streams finalized early because the table was full.
    pub evicted: u64,
    /// Packets for streams already finalized: data or resets that arrived
    /// after the stream was reported (its linger time had passed). They are
    /// not part of any stream.
    pub late_packets: u64,
    /// The record number of the first of those.
    pub first_late_record: Option<u64>,
    /// Packets whose IPv4 option lengths ran past the options (followed
    /// anyway).
    pub bad_ip_options: u64,
    /// The record number of the first of those.
    pub first_bad_ip_options: Option<u64>,
    /// Peak number of streams open at once. Trackers' stats merged
    /// (`--jobs`) add their peaks up: an upper bound on the whole's, as
    /// the threads' peaks need not fall at the same time.
    pub peak_open: u64,
    /// Peak out-of-order bytes buffered over all streams (merged, the
    /// sum of the trackers' peaks, likewise).
    pub peak_buffered: u64,
    /// IP fragment reassembly.
    pub fragments: FragmentStats,
    /// ICMP errors that quote a TCP or UDP packet.
    pub icmp_errors: u64,
}

struct Open<S> {
    info: StreamInfo,
    state: S,
    halves: [Assembler; 2],
    /// Record number of the stream's last packet.
    last_record: u64,
    closed: bool,
    last_seen: Timestamp,
    /// What each direction's sender advertised as its receive window.
    windows: [Window; 2],
    icmp: IcmpErrors,
}

/// The receive window one side advertises, as far as the capture tells.
#[derive(Clone, Copy, Debug, Default)]
struct Window {
    /// Whether this side's SYN was seen, and its window scale option.
    syn: Option<Option<u8>>,
    /// The latest advertised window field, once seen, and whether it came
    /// from a SYN (whose window is never scaled).
    field: Option<(u16, bool)>,
}

impl Window {
    fn advertise(&mut self, tcp: &crate::dissect::TcpSegment<'_>) {
        let syn = tcp.flags.has(TcpFlags::SYN);
        if syn {
            self.syn = Some(tcp.window_scale);
        }
        self.field = Some((tcp.window, syn));
    }

    /// The window in bytes, with the scale both SYNs agreed on (RFC 7323);
    /// the largest scale when the handshake was not captured, and 1 GiB
    /// when no window was seen at all.
    fn bytes(&self, peer: &Window) -> u64 {
        let Some((field, in_syn)) = self.field else {
            return 1 << 30;
        };
        let shift = match (self.syn, peer.syn) {
            _ if in_syn => 0,
            (Some(Some(mine)), Some(Some(_))) => mine,
            (Some(_), Some(_)) => 0,
            _ => 14,
        };
        u64::from(field) << shift
    }
}

/// Follows every stream of a capture and reports to a sink.
pub struct Tracker<K: Sink> {
    sink: K,
    limits: FlowLimits,
    budget: Budget,
    numbering: Numbering,
    open: FastMap<u64, Open<K::Stream>>,
    /// Finalized streams, one bit per stream number and protocol.
    finalized: [Vec<u64>; 2],
    lingering: VecDeque<(u64, Timestamp)>,
    now: Timestamp,
    stats: TrackerStats,
    shard: Shard,
    /// Consecutive shards followed, from `shard` on.
    shard_width: u64,
    defrag: Defragmenter,
    /// The stream number and direction the next packet is to have, given
    /// by whoever numbered the whole capture ([`Tracker::give_number`]).
    given: Option<(u64, Dir)>,
    /// The stream number and direction of the last packet numbered.
    numbered_last: Option<(Proto, u64, Dir)>,
}

/// A share of the flows: shard `index` of `count`. Flows are assigned by a
/// fixed hash of their addresses and ports, so every run, thread or machine
/// analysing shard K of N of a capture agrees on which flows are its own;
/// stream numbers stay those of the whole capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// 0-based shard index.
    pub index: u64,
    /// Number of shards (at least 1).
    pub count: u64,
}

impl Default for Shard {
    fn default() -> Self {
        Shard { index: 0, count: 1 }
    }
}

impl Shard {
    /// Parses `K/N` (1-based K, as users count: `--shard 1/4` .. `4/4`).
    pub fn parse(s: &str) -> Result<Shard, String> {
        let err = || format!("{s:?}: a shard is K/N with 1 <= K <= N, e.g. 2/8");
        let (k, n) = s.split_once('/').ok_or_else(err)?;
        let k: u64 = k.trim().parse().map_err(|_| err())?;
        let n: u64 = n.trim().parse().map_err(|_| err())?;
        if n == 0 || k == 0 || k > n {
            return Err(err());
        }
        Ok(Shard {
            index: k - 1,
            count: n,
        })
    }

    /// Whether the flow between `a` and `b` belongs to this shard.
    pub fn owns(&self, proto: Proto, a: SocketAddr, b: SocketAddr) -> bool {
        self.count <= 1 || Shard::index_of(proto, a, b, self.count) == self.index
    }

    /// The shard of `count` the flow between `a` and `b` belongs to: the
    /// flow's hash scaled to `0..count` (a multiply and a shift, where a
    /// remainder would divide).
    pub fn index_of(proto: Proto, a: SocketAddr, b: SocketAddr, count: u64) -> u64 {
        let hash = flow_hash(&flow_key(proto, a, b));
        ((u128::from(hash) * u128::from(count.max(1))) >> 64) as u64
    }
}

/// Stream numbers of the two protocols live in separate spaces; the
/// tracker keys open streams by `number * 2 + proto`.
fn slot(proto: Proto, number: u64) -> u64 {
    number * 2 + u64::from(proto == Proto::Udp)
}

impl<K: Sink> Tracker<K> {
    /// A tracker with the given bounds.
    pub fn new(sink: K, limits: FlowLimits) -> Self {
        Tracker {
            sink,
            budget: Budget {
                used: 0,
                max: limits.max_buffered_total,
            },
            limits,
            numbering: Numbering::new(limits.max_numbered),
            open: FastMap::default(),
            finalized: [Vec::new(), Vec::new()],
            lingering: VecDeque::new(),
            now: Timestamp::default(),
            stats: TrackerStats::default(),
            shard: Shard::default(),
            shard_width: 1,
            defrag: Defragmenter::new(limits.fragments),
            given: None,
            numbered_last: None,
        }
    }

    /// Gives the next packet fed (or the packet the next fragment
    /// completes, or the stream the next ICMP error quotes) its stream
    /// number and direction, instead of numbering it here: for a tracker
    /// that sees only its own flows while another numbers the whole
    /// capture ([`crate::pipeline::run_parallel`]). Cleared by the next
    /// packet numbered, or by [`Tracker::take_numbered`].
    pub fn give_number(&mut self, number: u64, dir: Dir) {
        self.given = Some((number, dir));
    }

    /// The protocol, stream number and direction of the last packet
    /// numbered since the last call (none: the record numbered nothing),
    /// and clears what [`Tracker::give_number`] left unused.
    pub fn take_numbered(&mut self) -> Option<(Proto, u64, Dir)> {
        self.given = None;
        self.numbered_last.take()
    }

    /// The flows this tracker follows.
    pub fn shard(&self) -> Shard {
        self.shard
    }

    /// Follows only the flows of `shard`; the others are numbered, then
    /// ignored.
    pub fn with_shard(mut self, shard: Shard) -> Self {
        self.shard = shard;
        self.shard_width = 1;
        self
    }

    /// Follows the flows of `width` consecutive shards, `first` and the
    /// ones after it: a larger share of the flows in one tracker
    /// ([`crate::pipeline::run_parallel`] gives its threads unequal ones).
    pub(crate) fn with_shards(mut self, first: Shard, width: u64) -> Self {
        self.shard = first;
        self.shard_width = width.max(1);
        self
    }

    fn owns(&self, proto: Proto, a: SocketAddr, b: SocketAddr) -> bool {
        let Shard { index, count } = self.shard;
        // Below `index`, the difference wraps to a large number.
        count <= 1 || Shard::index_of(proto, a, b, count).wrapping_sub(index) < self.shard_width
    }

    /// The sink.
    pub fn sink(&self) -> &K {
        &self.sink
    }

    /// The sink, mutably.
    pub fn sink_mut(&mut self) -> &mut K {
        &mut self.sink
    }

    /// Counters so far.
    pub fn stats(&self) -> &TrackerStats {
        &self.stats
    }

    /// Streams open now.
    pub fn open_streams(&self) -> usize {
        self.open.len()
    }

    /// Feeds one dissected packet.
    pub fn packet(&mut self, pkt: &Packet<'_>, record: u64, ts: Timestamp) {
        if ts > self.now {
            self.now = ts;
            self.expire();
        }
        if pkt.bad_ip_options {
            self.stats.bad_ip_options += 1;
            self.stats.first_bad_ip_options.get_or_insert(record);
        }
        match pkt.transport {
            Transport::Tcp(tcp) => {
                self.stats.tcp_packets += 1;
                let src = SocketAddr::new(pkt.src, tcp.src_port);
                let dst = SocketAddr::new(pkt.dst, tcp.dst_port);
                let (number, dir) = self.number_tcp(src, dst, &tcp);
                let key = slot(Proto::Tcp, number);
                if !self.owns(Proto::Tcp, src, dst) {
                    return;
                }
                if self.is_finalized(Proto::Tcp, number) {
                    // The last ACK of a closed connection is expected;
                    // data or a reset after the end is worth counting.
                    if tcp.wire_len() > 0 || tcp.flags.has(TcpFlags::RST) {
                        self.late(record);
                    }
                    return;
                }
                // One lookup for a stream already open, most packets'.
                let open = match self.open.get_mut(&key) {
                    Some(open) => open,
                    None => {
                        self.ensure_open(
                            Proto::Tcp,
                            number,
                            (src, dst, pkt.tunnel),
                            dir,
                            record,
                            ts,
                        );
                        let Some(open) = self.open.get_mut(&key) else {
                            return;
                        };
                        open
                    }
                };
                open.last_seen = ts;
                open.last_record = record;
                let d = dir.index();
                let o = 1 - d;
                open.windows[d].advertise(&tcp);
                let seg = SegmentIn {
                    seq: tcp.seq,
                    flags: tcp.flags,
                    payload: tcp.payload,
                    missing: tcp.missing,
                    record,
                    ts,
                };
                let limits = self.limits.reassembly;
                let budget = &mut self.budget;
                let sink = &mut self.sink;
                let meta = PacketMeta {
                    record,
                    ts,
                    flags: tcp.flags,
                    len: tcp.wire_len(),
                    ack_offset: ack_offset(&open.halves[o], &tcp),
                    offset: seq_offset(&open.halves[d], &tcp),
                };
                sink.packet(&mut open.state, dir, &meta);
                // The receiver's window, to judge resets and data far ahead.
                let window = open.windows[o].bytes(&open.windows[d]);
                let rst = tcp.flags.has(TcpFlags::RST);
                // A reset counts when it falls in the window, or when it
                // refuses the peer's SYN (RST-ACK acknowledging ISN + 1).
                let accepted_rst = rst
                    && (open.halves[d].in_window(tcp.seq, window)
                        || (tcp.flags.has(TcpFlags::ACK)
                            && open.halves[d].base().is_none()
                            && open.halves[o].base() == Some(tcp.ack)));
                let delivered = open.halves[d].next_offset();
                open.halves[d].check_window(tcp.seq, tcp.wire_len(), window, record);
                let state = &mut open.state;
                open.halves[d].segment(&seg, &limits, budget, &mut |e| sink.event(state, dir, e));
                if tcp.flags.has(TcpFlags::ACK) {
                    let other = dir.other();
                    open.halves[o].peer_ack(tcp.ack, budget, &mut |e| sink.event(state, other, e));
                }
                self.stats.peak_buffered = self.stats.peak_buffered.max(budget.used as u64);
                let was_closed = open.closed;
                let both_fins = open.halves[0].finished() && open.halves[1].finished();
                // A reset ends the connection, but a new SYN or new data
                // after it says the connection went on (a refused SYN
                // retried, a reset out of the blue): it is open again.
                let revived = !rst
                    && (tcp.flags.has(TcpFlags::SYN) || open.halves[d].next_offset() > delivered);
                open.closed = accepted_rst || both_fins || (was_closed && !revived);
                if open.halves[0].fin_acked() && open.halves[1].fin_acked() {
                    // Both FINs sent and acknowledged: nothing more belongs
                    // to the stream, so its memory is freed now.
                    self.finalize(key, false);
                } else if open.closed && !was_closed {
                    self.lingering.push_back((key, ts));
                }
            }
            Transport::Udp(udp) => {
                self.stats.udp_packets += 1;
                let src = SocketAddr::new(pkt.src, udp.src_port);
                let dst = SocketAddr::new(pkt.dst, udp.dst_port);
                let (number, dir) = self.number_by_sender(Proto::Udp, src, dst);
                if !self.owns(Proto::Udp, src, dst) {
                    return;
                }
                if self.is_finalized(Proto::Udp, number) {
                    self.late(record);
                    return;
                }
                let key = slot(Proto::Udp, number);
                let fresh = !self.open.contains_key(&key);
                self.ensure_open(Proto::Udp, number, (src, dst, pkt.tunnel), dir, record, ts);
                let Some(open) = self.open.get_mut(&key) else {
                    return;
                };
                if fresh {
                    self.lingering.push_back((key, ts));
                }
                open.last_seen = ts;
                open.last_record = record;
                open.halves[dir.index()].datagram(udp.payload.len(), udp.missing);
                let meta = PacketMeta {
                    record,
                    ts,
                    flags: TcpFlags(0),
                    len: udp.payload.len() as u32 + udp.missing,
                    ack_offset: None,
                    offset: None,
                };
                self.sink.packet(&mut open.state, dir, &meta);
                let dg = Datagram {
                    payload: udp.payload,
                    missing: udp.missing,
                    record,
                    ts,
                };
                self.sink.datagram(&mut open.state, dir, &dg);
            }
        }
    }

    /// Feeds one IP fragment; the datagram it completes, if any, is
    /// followed as a packet of record `record`.
    pub fn fragment(&mut self, frag: &Fragment<'_>, record: u64, ts: Timestamp) {
        let mut defrag = std::mem::replace(
            &mut self.defrag,
            Defragmenter::new(FragmentLimits::default()),
        );
        if let Some(rebuilt) = defrag.add(frag, record, ts) {
            match dissect(LinkType::RAW, rebuilt.packet, rebuilt.packet.len() as u32) {
                Dissected::Packet(mut p) => {
                    p.tunnel = p.tunnel.or(rebuilt.tunnel);
                    self.packet(&p, record, ts);
                }
                // A datagram that is itself a fragment (fragments inside a
                // tunnel's fragments) or holds nothing to follow.
                Dissected::IcmpError(e) => self.icmp_error(&e, record, ts),
                Dissected::Fragment(_) | Dissected::Skipped(_) | Dissected::Malformed(_) => {}
            }
        }
        self.stats.fragments = *defrag.stats();
        self.defrag = defrag;
    }

    /// Feeds one ICMP error: it is counted against the stream of the
    /// packet it quotes, which is opened (and numbered, as Wireshark does)
    /// when nothing else of it was seen. The quoted header is not data.
    pub fn icmp_error(&mut self, e: &IcmpError, record: u64, ts: Timestamp) {
        if ts > self.now {
            self.now = ts;
            self.expire();
        }
        self.stats.icmp_errors += 1;
        let proto = match e.proto {
            QuotedProto::Tcp => Proto::Tcp,
            QuotedProto::Udp => Proto::Udp,
        };
        let (number, dir) = self.number_by_sender(proto, e.src, e.dst);
        if !self.owns(proto, e.src, e.dst) || self.is_finalized(proto, number) {
            return;
        }
        let key = slot(proto, number);
        let fresh = !self.open.contains_key(&key);
        self.ensure_open(proto, number, (e.src, e.dst, e.tunnel), dir, record, ts);
        if fresh {
            // A stream of nothing but ICMP errors closes like an idle UDP
            // flow.
            self.lingering.push_back((key, ts));
            if let Some(open) = self.open.get_mut(&key) {
                open.closed = true;
            }
        }
        if let Some(open) = self.open.get_mut(&key) {
            open.icmp.add(e.kind, record);
            open.last_record = record;
            open.last_seen = ts;
        }
    }

    /// Ends the capture: finalizes every open stream in stream-number order
    /// and returns the sink.
    pub fn finish(mut self) -> (K, TrackerStats) {
        self.defrag.finish();
        self.stats.fragments = *self.defrag.stats();
        let mut keys: Vec<u64> = self.open.keys().copied().collect();
        keys.sort_unstable();
        for key in keys {
            self.finalize(key, false);
        }
        (self.sink, self.stats)
    }

    /// Counts a packet for a stream already finalized.
    fn late(&mut self, record: u64) {
        self.stats.late_packets += 1;
        self.stats.first_late_record.get_or_insert(record);
    }

    fn is_finalized(&self, proto: Proto, number: u64) -> bool {
        let bits = &self.finalized[usize::from(proto == Proto::Udp)];
        bits.get((number / 64) as usize)
            .is_some_and(|w| w & (1 << (number % 64)) != 0)
    }

    fn mark_finalized(&mut self, proto: Proto, number: u64) {
        let bits = &mut self.finalized[usize::from(proto == Proto::Udp)];
        let word = (number / 64) as usize;
        if bits.len() <= word {
            bits.resize(word + 1, 0);
        }
        bits[word] |= 1 << (number % 64);
    }

    fn ensure_open(
        &mut self,
        proto: Proto,
        number: u64,
        (src, dst, tunnel): (SocketAddr, SocketAddr, Option<Tunnel>),
        dir: Dir,
        record: u64,
        ts: Timestamp,
    ) {
        let key = slot(proto, number);
        if self.open.contains_key(&key) {
            return;
        }
        if self.open.len() >= self.limits.max_streams {
            self.evict_oldest();
        }
        let (client, server) = match dir {
            Dir::Client => (src, dst),
            Dir::Server => (dst, src),
        };
        let info = StreamInfo {
            proto,
            number,
            client,
            server,
            first_record: record,
            first_ts: ts,
            tunnel,
        };
        let state = self.sink.open(&info);
        self.open.insert(
            key,
            Open {
                info,
                state,
                halves: [Assembler::new(), Assembler::new()],
                last_record: record,
                closed: false,
                last_seen: ts,
                windows: [Window::default(); 2],
                icmp: IcmpErrors::default(),
            },
        );
        self.stats.peak_open = self.stats.peak_open.max(self.open.len() as u64);
    }

    /// The stream number and direction of a TCP packet: given, or this
    /// tracker's own.
    fn number_tcp(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        tcp: &crate::dissect::TcpSegment<'_>,
    ) -> (u64, Dir) {
        let numbered = match self.given.take() {
            Some(given) => given,
            None => self.numbering.tcp(src, dst, tcp),
        };
        self.numbered(Proto::Tcp, numbered)
    }

    /// The stream of a UDP datagram, or of a TCP packet quoted in an ICMP
    /// error: given ([`Tracker::give_number`]), or this tracker's own
    /// (the sender is the client of a new conversation).
    fn number_by_sender(&mut self, proto: Proto, src: SocketAddr, dst: SocketAddr) -> (u64, Dir) {
        let numbered = match self.given.take() {
            Some(given) => given,
            None => self.numbering.by_sender(proto, src, dst),
        };
        self.numbered(proto, numbered)
    }

    /// Notes the stream number and direction just given to a packet of
    /// `proto`, and the streams numbered so far.
    fn numbered(&mut self, proto: Proto, (number, dir): (u64, Dir)) -> (u64, Dir) {
        self.stats.tcp_streams = self.numbering.streams(Proto::Tcp);
        self.stats.udp_streams = self.numbering.streams(Proto::Udp);
        self.numbered_last = Some((proto, number, dir));
        (number, dir)
    }

    /// Finalizes closed streams whose linger time has passed and idle UDP
    /// flows.
    fn expire(&mut self) {
        while let Some(&(key, since)) = self.lingering.front() {
            let wait = if key % 2 == 1 {
                self.limits.udp_idle
            } else {
                self.limits.linger
            };
            if self.now.0.saturating_sub(since.0) < wait {
                break;
            }
            self.lingering.pop_front();
            let Some(open) = self.open.get(&key) else {
                continue;
            };
            if key % 2 == 0 && !open.closed {
                // Reopened after a reset: it lingers again when it closes.
                continue;
            }
            let quiet = self.now.0.saturating_sub(open.last_seen.0);
            if quiet >= wait {
                self.finalize(key, false);
            } else {
                // Still active: look again once it has been quiet long enough.
                self.lingering.push_back((key, open.last_seen));
            }
        }
    }

    fn evict_oldest(&mut self) {
        // Evict a batch so that a full table costs O(1) amortized per packet.
        let batch = (self.limits.max_streams / 16).max(1);
        let mut by_age: Vec<(Timestamp, u64)> =
            self.open.iter().map(|(k, o)| (o.last_seen, *k)).collect();
        by_age.sort_unstable();
        for (_, key) in by_age.into_iter().take(batch) {
            self.stats.evicted += 1;
            self.finalize(key, true);
        }
    }

    fn finalize(&mut self, key: u64, evicted: bool) {
        let Some(mut open) = self.open.remove(&key) else {
            return;
        };
        let sink = &mut self.sink;
        let budget = &mut self.budget;
        for dir in Dir::BOTH {
            let state = &mut open.state;
            open.halves[dir.index()].finish(budget, &mut |e| sink.event(state, dir, e));
        }
        let stats = StreamStats {
            dirs: [*open.halves[0].stats(), *open.halves[1].stats()],
            last_ts: open.last_seen,
            last_record: open.last_record,
            evicted,
            icmp: open.icmp,
        };
        self.mark_finalized(open.info.proto, open.info.number);
        self.sink.close(open.state, &open.info, &stats);
    }
}

fn ack_offset(peer: &Assembler, tcp: &crate::dissect::TcpSegment<'_>) -> Option<u64> {
    if !tcp.flags.has(TcpFlags::ACK) {
        return None;
    }
    let base = peer.base()?;
    let d = SeqNum(tcp.ack).diff(SeqNum(base));
    u64::try_from(d).ok()
}

fn seq_offset(half: &Assembler, tcp: &crate::dissect::TcpSegment<'_>) -> Option<u64> {
    let syn = u32::from(tcp.flags.has(TcpFlags::SYN));
    let base = half.base().unwrap_or(tcp.seq.wrapping_add(syn));
    let d = SeqNum(tcp.seq).plus(syn).diff(SeqNum(base));
    u64::try_from(d).ok()
}

/// Formats an address for tables: `1.2.3.4:80`, `[::1]:80`.
pub fn endpoint(addr: &SocketAddr) -> String {
    match addr.ip() {
        IpAddr::V4(_) => addr.to_string(),
        IpAddr::V6(_) => format!("[{}]:{}", addr.ip(), addr.port()),
    }
}

/// What a gap event means for reports.
pub fn gap_reason_text(reason: GapReason) -> &'static str {
    match reason {
        GapReason::AckedUnseen => "acknowledged by the peer but not captured",
        GapReason::BufferLimit => "out-of-order buffer bound reached",
        GapReason::StreamEnd => "never captured before the stream ended",
        GapReason::SnapLen => "cut by the snapshot length",
    }
}

/// The note on packets that arrived after their stream was finalized, for
/// reports: `None` when there were none.
pub fn late_text(stats: &TrackerStats) -> Option<String> {
    let first = stats.first_late_record?;
    Some(format!(
        "{} packets with data or resets arrived after their stream was finalized (first: record {first}); \
         they belong to no stream (a closed stream is finalized after {} s without a packet)",
        stats.late_packets,
        FlowLimits::default().linger / 1_000_000_000
    ))
}
