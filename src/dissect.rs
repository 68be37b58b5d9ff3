//! Packet dissection: from a captured record to addresses, ports, TCP
//! sequence numbers and payload.
//!
//! This module owns the link layers framescope reads (Ethernet with 802.1Q
//! and QinQ tags, BSD and OpenBSD loopback, raw IP under its several link
//! type numbers, Linux cooked captures v1 and v2, PPP, PPPoE and Cisco
//! HDLC), the walk through tunnels to the packet inside them (whose headers
//! [`crate::tunnel`] reads), IPv4 and IPv6 with
//! extension headers (through `etherparse`'s lax slicing, which keeps what it
//! could read and says where it stopped), and the TCP and UDP headers. It
//! does not follow connections; [`crate::flow`] and [`crate::flow::reassembly`] do.
//!
//! A payload cut by the capture's snapshot length is not data: the segment
//! is returned with its captured bytes and `missing > 0`, and the
//! reassembler treats its whole range as capture loss. Lengths come from the
//! IP header, never from the record's lengths, which some capturers get
//! wrong (go-sniffer's Kafka capture states every packet 16 bytes longer
//! than the wire).

use std::fmt;
use std::net::IpAddr;

use etherparse::{EtherType, LaxNetSlice, LaxSlicedPacket, TransportSlice};

use crate::capture::LinkType;
use crate::fragments::Fragment;
use crate::icmp::{self, IcmpError};
use crate::tunnel::{self, Decap, DecapError, Inner, Tunnel};

/// TCP flag bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;

    /// Whether all bits of `mask` are set.
    pub fn has(self, mask: u8) -> bool {
        self.0 & mask == mask
    }
}

/// A TCP segment's header fields and payload.
#[derive(Clone, Copy, Debug)]
pub struct TcpSegment<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number (meaningful when the ACK flag is set).
    pub ack: u32,
    /// Flags.
    pub flags: TcpFlags,
    /// Advertised window (unscaled).
    pub window: u16,
    /// The window scale option's shift, read from SYN segments only (it
    /// means nothing elsewhere).
    pub window_scale: Option<u8>,
    /// The payload bytes captured.
    pub payload: &'a [u8],
    /// Payload bytes the IP header declares but the capture did not keep
    /// (snapshot length); when non-zero, `payload` is incomplete.
    pub missing: u32,
}

impl TcpSegment<'_> {
    /// The payload length on the wire.
    pub fn wire_len(&self) -> u32 {
        self.payload.len() as u32 + self.missing
    }
}

/// A UDP datagram's ports and payload.
#[derive(Clone, Copy, Debug)]
pub struct UdpDatagram<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// The payload bytes captured.
    pub payload: &'a [u8],
    /// Payload bytes cut by the snapshot length.
    pub missing: u32,
}

/// The transport layer of a dissected packet.
#[derive(Clone, Copy, Debug)]
pub enum Transport<'a> {
    /// TCP.
    Tcp(TcpSegment<'a>),
    /// UDP.
    Udp(UdpDatagram<'a>),
}

/// A packet framescope can follow.
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// The tunnel the packet was found in, if any.
    pub tunnel: Option<Tunnel>,
    /// Whether an IPv4 option's length ran past the options (the packet
    /// is still followed, as the receiver's stack may have).
    pub bad_ip_options: bool,
    /// TCP or UDP.
    pub transport: Transport<'a>,
}

/// Why a record carries nothing to follow (not an error: ARP, ICMP...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Skip {
    /// Not IP (ARP, LLDP, STP...).
    NotIp,
    /// IP, but neither TCP nor UDP (ICMP, ...): the IP protocol number.
    OtherProtocol(u8),
    /// An IP fragment whose fragment header could not be read.
    Fragment,
    /// A tunnel's or a link's own signalling (GTP-U echo, PPP LCP...): no
    /// user packet.
    Signalling,
}

/// A record that could not be dissected: the layer, the byte offset within
/// the record, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{layer} at packet offset {offset}: {why}")]
pub struct DissectError {
    /// The layer that failed.
    pub layer: &'static str,
    /// Where, in bytes from the start of the captured data.
    pub offset: usize,
    /// What was wrong.
    pub why: String,
}

/// The outcome of dissecting one record.
#[derive(Clone, Debug)]
pub enum Dissected<'a> {
    /// A TCP or UDP packet.
    Packet(Packet<'a>),
    /// An IP fragment, to reassemble ([`crate::fragments`]).
    Fragment(Fragment<'a>),
    /// An ICMP error about a TCP or UDP packet ([`crate::icmp`]).
    IcmpError(IcmpError),
    /// Nothing to follow.
    Skipped(Skip),
    /// Malformed or of an unsupported link type.
    Malformed(DissectError),
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Skip::NotIp => f.write_str("not IP"),
            Skip::OtherProtocol(p) => write!(f, "IP protocol {p}"),
            Skip::Fragment => f.write_str("IP fragment"),
            Skip::Signalling => f.write_str("tunnel or link signalling"),
        }
    }
}

fn malformed(layer: &'static str, offset: usize, why: impl Into<String>) -> Dissected<'static> {
    Dissected::Malformed(DissectError {
        layer,
        offset,
        why: why.into(),
    })
}

/// Dissects one captured packet of link type `link`, whose length on the
/// wire the capture states as `orig_len`.
///
/// Bytes are missing (snapshot length) only when the record says the
/// packet was longer than what was captured: an IP length beyond the
/// record's own length is a short frame, whose payload is what it holds, as
/// Wireshark reads it.
pub fn dissect(link: LinkType, data: &[u8], orig_len: u32) -> Dissected<'_> {
    let uncaptured = (orig_len as usize).saturating_sub(data.len());
    if let Some(tcp) = fast_tcp(link, data, uncaptured) {
        return Dissected::Packet(tcp);
    }
    dissect_general(link, data, uncaptured)
}

/// The common case, read straight from the bytes without building
/// `etherparse`'s full lax slice (whose copies dominated the profile on
/// captures of small packets): Ethernet (with VLAN tags), Linux cooked or
/// raw IP, then IPv4 without fragmentation or IPv6 without extension
/// headers, then a complete TCP header. Anything else returns `None` and
/// takes the general path, which gives the same answer for what this
/// accepts (`fast_path_agrees_with_the_general_path` holds it there).
fn fast_tcp(link: LinkType, data: &[u8], uncaptured: usize) -> Option<Packet<'_>> {
    let be16 = |b: &[u8], at: usize| -> Option<u16> {
        Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
    };
    let ip_start = match link {
        LinkType::ETHERNET => {
            let mut at = 12;
            let mut ether_type = be16(data, at)?;
            let mut tags = 0;
            while matches!(ether_type, 0x8100 | 0x88a8 | 0x9100) {
                // More tags than the general path reads: leave it to it.
                tags += 1;
                if tags > LaxSlicedPacket::LINK_EXTS_CAP {
                    return None;
                }
                at += 4;
                ether_type = be16(data, at)?;
            }
            if !matches!(ether_type, 0x0800 | 0x86dd) {
                return None;
            }
            at + 2
        }
        LinkType::LINUX_SLL => 16,
        LinkType::LINUX_SLL2 => 20,
        LinkType::RAW | LinkType::RAW_12 | LinkType::RAW_14 | LinkType::IPV4 | LinkType::IPV6 => 0,
        _ => return None,
    };
    if matches!(link, LinkType::LINUX_SLL | LinkType::LINUX_SLL2) {
        let at = if link == LinkType::LINUX_SLL { 14 } else { 0 };
        if !matches!(be16(data, at)?, 0x0800 | 0x86dd) || data.len() < ip_start {
            return None;
        }
    }
    let ip = data.get(ip_start..)?;
    let mut bad_ip_options = false;
    let (src, dst, header_len, declared) = match ip.first()? >> 4 {
        4 => {
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            let total = usize::from(be16(ip, 2)?);
            let fragment = be16(ip, 6)? & 0x3fff;
            if ihl < 20 || ip.len() < ihl || total < ihl || fragment != 0 || ip[9] != 6 {
                return None;
            }
            let a: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            let b: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
            if ihl > 20 {
                bad_ip_options = !ipv4_options_ok(&ip[20..ihl]);
            }
            (IpAddr::from(a), IpAddr::from(b), ihl, total - ihl)
        }
        6 => {
            let payload_len = usize::from(be16(ip, 4)?);
            if ip.len() < 40 || ip[6] != 6 || payload_len == 0 {
                return None;
            }
            let a: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let b: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            (IpAddr::from(a), IpAddr::from(b), 40, payload_len)
        }
        _ => return None,
    };
    let available = ip.len() - header_len;
    let captured = declared.min(available);
    let tcp = ip.get(header_len..header_len + captured)?;
    let missing = (declared - captured).min(uncaptured);
    let data_offset = usize::from(*tcp.get(12)? >> 4) * 4;
    if data_offset < 20 || tcp.len() < data_offset {
        return None;
    }
    let u32_at = |at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(tcp.get(at..at + 4)?.try_into().ok()?))
    };
    Some(Packet {
        src,
        dst,
        tunnel: None,
        bad_ip_options,
        transport: Transport::Tcp(TcpSegment {
            src_port: be16(tcp, 0)?,
            dst_port: be16(tcp, 2)?,
            seq: u32_at(4)?,
            ack: u32_at(8)?,
            flags: TcpFlags(tcp[13]),
            window: be16(tcp, 14)?,
            window_scale: syn_window_scale(tcp[13], &tcp[20..data_offset]),
            payload: &tcp[data_offset..],
            missing: missing as u32,
        }),
    })
}

/// Checks that the fast path, where it answers, answers as the general
/// path does; for the fuzz targets.
#[doc(hidden)]
pub fn check_fast_path(link: LinkType, data: &[u8], orig_len: u32) {
    let uncaptured = (orig_len as usize).saturating_sub(data.len());
    if let Some(fast) = fast_tcp(link, data, uncaptured) {
        let general = dissect_general(link, data, uncaptured);
        assert_eq!(
            format!("{:?}", Dissected::Packet(fast)),
            format!("{general:?}"),
            "{link}: the fast path disagrees with the general path"
        );
    }
}

/// Where a layer starts in the record, and what it is.
#[derive(Clone, Copy, Debug)]
enum Layer {
    /// The record's link layer.
    Link(LinkType),
    /// An Ethernet frame (inside VXLAN, Geneve, GRE or ERSPAN).
    Ethernet,
    /// A payload of this ether type.
    EtherType(u16),
    /// An IPv4 or IPv6 packet.
    Ip,
}

/// What the layers read so far say about the ones inside.
#[derive(Clone, Copy, Debug)]
struct Context {
    /// Bytes of the packet the snapshot length cut.
    uncaptured: usize,
    /// The tunnel the packet was found in, once one was opened.
    tunnel: Option<Tunnel>,
    /// Encapsulation layers read (tunnels and link-layer ones), bounded
    /// by [`MAX_LAYERS`] so that a record of nested headers ends.
    layers: u8,
}

/// Encapsulation headers read per record, tunnels and link-layer ones
/// (PPPoE, E-tags) together: more than [`tunnel::MAX_DEPTH`] tunnels can
/// never be reached through fewer.
const MAX_LAYERS: u8 = 2 * tunnel::MAX_DEPTH;

/// Every link type and layer: `etherparse`'s lax slicing for Ethernet,
/// VLAN tags, IP and TCP/UDP; [`crate::tunnel`] for the encapsulations
/// `etherparse` does not read.
fn dissect_general(link: LinkType, data: &[u8], uncaptured: usize) -> Dissected<'_> {
    let ctx = Context {
        uncaptured,
        tunnel: None,
        layers: 0,
    };
    dissect_layer(data, 0, Layer::Link(link), ctx)
}

fn dissect_layer(data: &[u8], base: usize, layer: Layer, ctx: Context) -> Dissected<'_> {
    let rest = data.get(base..).unwrap_or(&[]);
    let sliced = match layer {
        Layer::Link(LinkType::ETHERNET) | Layer::Ethernet => {
            match LaxSlicedPacket::from_ethernet(rest) {
                Ok(p) => p,
                Err(e) => return malformed("Ethernet header", base, e.to_string()),
            }
        }
        Layer::Link(link @ (LinkType::NULL | LinkType::LOOP)) => {
            let Some(family) = rest.get(0..4) else {
                return malformed("loopback header", base, "shorter than 4 bytes");
            };
            let family = [family[0], family[1], family[2], family[3]];
            let host = if link == LinkType::LOOP {
                u32::from_be_bytes(family)
            } else if u32::from_le_bytes(family) < 256 {
                u32::from_le_bytes(family)
            } else {
                u32::from_be_bytes(family)
            };
            if !matches!(host, 2 | 10 | 24 | 28 | 30) {
                return Dissected::Skipped(Skip::NotIp);
            }
            return dissect_layer(data, base + 4, Layer::Ip, ctx);
        }
        Layer::Link(
            LinkType::RAW | LinkType::RAW_12 | LinkType::RAW_14 | LinkType::IPV4 | LinkType::IPV6,
        )
        | Layer::Ip => match from_ip(rest, base) {
            Ok(p) => p,
            Err(e) => return Dissected::Malformed(e),
        },
        Layer::Link(LinkType::LINUX_SLL) => match rest.get(14..16) {
            Some(t) => {
                return dissect_layer(
                    data,
                    base + 16,
                    Layer::EtherType(u16::from_be_bytes([t[0], t[1]])),
                    ctx,
                )
            }
            None => return malformed("Linux cooked header", base, "shorter than 16 bytes"),
        },
        Layer::Link(LinkType::LINUX_SLL2) => match rest.get(0..2) {
            Some(t) if rest.len() >= 20 => {
                return dissect_layer(
                    data,
                    base + 20,
                    Layer::EtherType(u16::from_be_bytes([t[0], t[1]])),
                    ctx,
                )
            }
            _ => return malformed("Linux cooked v2 header", base, "shorter than 20 bytes"),
        },
        Layer::Link(LinkType::PPP | LinkType::PPP_HDLC) => {
            return encapsulated(data, base, tunnel::ppp(rest), ctx)
        }
        Layer::Link(LinkType::PPP_ETHER) => {
            return encapsulated(data, base, tunnel::pppoe_session(rest), ctx)
        }
        Layer::Link(LinkType::C_HDLC) => {
            return encapsulated(data, base, tunnel::cisco_hdlc(rest), ctx)
        }
        Layer::Link(other) => {
            return malformed(
                "link layer",
                base,
                format!("unsupported link type {}", other.0),
            )
        }
        Layer::EtherType(t) => {
            if let Some(d) = link_encapsulation(t, rest) {
                return encapsulated(data, base, d, ctx);
            }
            LaxSlicedPacket::from_ether_type(EtherType(t), rest)
        }
    };
    from_sliced(sliced, data, base, ctx)
}

/// The link-layer encapsulations behind an ether type that `etherparse`
/// does not read (it stops there, with no network layer).
fn link_encapsulation(ether_type: u16, b: &[u8]) -> Option<Result<Decap, DecapError>> {
    match ether_type {
        0x8864 => Some(tunnel::pppoe_session(b)),
        0x893f => Some(tunnel::e_tag(b)),
        0x6558 => Some(Ok(Decap {
            kind: None,
            id: None,
            len: 0,
            inner: Inner::Ethernet,
        })),
        _ => None,
    }
}

/// Goes on past an encapsulation header read at `base`.
fn encapsulated(
    data: &[u8],
    base: usize,
    decap: Result<Decap, DecapError>,
    mut ctx: Context,
) -> Dissected<'_> {
    let d = match decap {
        Ok(d) => d,
        Err(e) => return malformed(e.layer, base + e.offset, e.why),
    };
    ctx.layers += 1;
    if ctx.layers > MAX_LAYERS || ctx.tunnel.is_some_and(|t| t.depth > tunnel::MAX_DEPTH) {
        return malformed(
            "encapsulation",
            base,
            format!(
                "more than {} tunnels or {MAX_LAYERS} encapsulation headers",
                tunnel::MAX_DEPTH
            ),
        );
    }
    let at = base + d.len;
    match d.inner {
        Inner::Ethernet => dissect_layer(data, at, Layer::Ethernet, ctx),
        Inner::Ip => dissect_layer(data, at, Layer::Ip, ctx),
        Inner::EtherType(t) => dissect_layer(data, at, Layer::EtherType(t), ctx),
        Inner::Nothing => Dissected::Skipped(Skip::Signalling),
    }
}

/// Opens a tunnel found at `base` between `src` and `dst`.
fn enter_tunnel(
    data: &[u8],
    base: usize,
    decap: Result<Decap, DecapError>,
    (src, dst): (IpAddr, IpAddr),
    mut ctx: Context,
) -> Dissected<'_> {
    if let Ok(Decap {
        kind: Some(kind),
        id,
        ..
    }) = decap
    {
        ctx.tunnel = Some(match ctx.tunnel {
            None => Tunnel {
                kind,
                outer_src: src,
                outer_dst: dst,
                id,
                depth: 1,
            },
            Some(t) => Tunnel {
                depth: t.depth.saturating_add(1),
                ..t
            },
        });
    }
    encapsulated(data, base, decap, ctx)
}

fn from_ip(rest: &[u8], base: usize) -> Result<LaxSlicedPacket<'_>, DissectError> {
    let error = |why: String| DissectError {
        layer: "IP header",
        offset: base,
        why,
    };
    match rest.first().map(|b| b >> 4) {
        None => Err(error("no bytes after the link header".into())),
        Some(4 | 6) => LaxSlicedPacket::from_ip(rest).map_err(|e| error(e.to_string())),
        Some(v) => Err(error(format!("IP version {v} is not 4 or 6"))),
    }
}

/// Where `part` starts in `data`.
fn offset_in(data: &[u8], part: &[u8]) -> usize {
    (part.as_ptr() as usize).saturating_sub(data.as_ptr() as usize)
}

fn from_sliced<'a>(
    p: LaxSlicedPacket<'a>,
    data: &'a [u8],
    base: usize,
    ctx: Context,
) -> Dissected<'a> {
    let uncaptured = ctx.uncaptured;
    let Some(net) = p.net else {
        if let Some(ep) = p.ether_payload() {
            if let Some(d) = link_encapsulation(ep.ether_type.0, ep.payload) {
                return encapsulated(data, offset_in(data, ep.payload), d, ctx);
            }
        }
        if let Some((err, layer)) = p.stop_err {
            if !matches!(layer, etherparse::err::Layer::Ethernet2Header) {
                return malformed("link layer", base, format!("{layer}: {err}"));
            }
        }
        return Dissected::Skipped(Skip::NotIp);
    };
    let mut bad_ip_options = false;
    let (src, dst, payload, declared) = match &net {
        LaxNetSlice::Ipv4(v4) => {
            let h = v4.header();
            bad_ip_options = !ipv4_options_ok(h.options());
            let payload = v4.payload();
            let header_len = usize::from(h.ihl()) * 4;
            let total = usize::from(h.total_len());
            let declared = if payload.incomplete && total > header_len {
                total - header_len
            } else {
                payload.payload.len()
            };
            (
                IpAddr::V4(h.source_addr()),
                IpAddr::V4(h.destination_addr()),
                payload.clone(),
                declared,
            )
        }
        LaxNetSlice::Ipv6(v6) => {
            let h = v6.header();
            let payload = v6.payload();
            let exts = v6.extensions().slice().len();
            let stated = usize::from(h.payload_length());
            let declared = if payload.incomplete && stated > exts {
                stated - exts
            } else {
                payload.payload.len()
            };
            (
                IpAddr::V6(h.source_addr()),
                IpAddr::V6(h.destination_addr()),
                payload.clone(),
                declared,
            )
        }
        LaxNetSlice::Arp(_) => return Dissected::Skipped(Skip::NotIp),
    };
    let ip_missing = declared
        .saturating_sub(payload.payload.len())
        .min(uncaptured);
    if payload.fragmented {
        let l4 = offset_in(data, payload.payload);
        let (start, end) = match &net {
            LaxNetSlice::Ipv4(v4) => (l4.saturating_sub(usize::from(v4.header().ihl()) * 4), l4),
            _ => {
                let exts = match &net {
                    LaxNetSlice::Ipv6(v6) => v6.extensions().slice().len(),
                    _ => 0,
                };
                (l4.saturating_sub(exts + 40), l4.saturating_sub(exts))
            }
        };
        let header = data.get(start..end).unwrap_or(&[]);
        return fragment(&net, header, payload.payload, ip_missing, ctx.tunnel);
    }
    let l4_offset = (payload.payload.as_ptr() as usize).saturating_sub(data.as_ptr() as usize);
    let ends = (src, dst);
    match p.transport {
        Some(TransportSlice::Tcp(tcp)) => Dissected::Packet(Packet {
            src,
            dst,
            tunnel: ctx.tunnel,
            bad_ip_options,
            transport: Transport::Tcp(TcpSegment {
                src_port: tcp.source_port(),
                dst_port: tcp.destination_port(),
                seq: tcp.sequence_number(),
                ack: tcp.acknowledgment_number(),
                flags: tcp_flags(tcp.slice()),
                window: tcp.window_size(),
                window_scale: syn_window_scale(
                    tcp_flags(tcp.slice()).0,
                    tcp.slice()
                        .get(20..tcp.slice().len() - tcp.payload().len())
                        .unwrap_or(&[]),
                ),
                payload: tcp.payload(),
                missing: ip_missing as u32,
            }),
        }),
        Some(TransportSlice::Udp(udp)) => {
            let (sp, dp) = (udp.source_port(), udp.destination_port());
            if let Some(d) = tunnel::udp(sp, dp, udp.payload()) {
                return enter_tunnel(data, offset_in(data, udp.payload()), Ok(d), ends, ctx);
            }
            let stated = usize::from(udp.length()).saturating_sub(8);
            let got = udp.payload().len();
            Dissected::Packet(Packet {
                src,
                dst,
                tunnel: ctx.tunnel,
                bad_ip_options,
                transport: Transport::Udp(UdpDatagram {
                    src_port: udp.source_port(),
                    dst_port: udp.destination_port(),
                    payload: udp.payload(),
                    // As for IP: a length beyond the record is a short
                    // datagram unless the snapshot length cut the record.
                    missing: stated.saturating_sub(got).min(uncaptured).max(ip_missing) as u32,
                }),
            })
        }
        _ => match payload.ip_number.0 {
            6 => truncated_tcp(
                Packet {
                    src,
                    dst,
                    tunnel: ctx.tunnel,
                    bad_ip_options,
                    transport: Transport::Udp(UdpDatagram {
                        src_port: 0,
                        dst_port: 0,
                        payload: &[],
                        missing: 0,
                    }),
                },
                payload.payload,
                payload.payload.len() + ip_missing,
                l4_offset,
            ),
            47 => enter_tunnel(data, l4_offset, tunnel::gre(payload.payload), ends, ctx),
            n @ (1 | 58) => match icmp::error(n == 58, src, payload.payload) {
                Some(e) => Dissected::IcmpError(IcmpError {
                    tunnel: ctx.tunnel,
                    ..e
                }),
                None => Dissected::Skipped(Skip::OtherProtocol(n)),
            },
            n @ (4 | 41) => {
                let kind = tunnel::ip_in_ip(matches!(net, LaxNetSlice::Ipv6(_)), n);
                let decap = Decap {
                    kind,
                    id: None,
                    len: 0,
                    inner: Inner::Ip,
                };
                enter_tunnel(data, l4_offset, Ok(decap), ends, ctx)
            }
            17 => malformed(
                "UDP header",
                l4_offset,
                format!("needs 8 bytes, {} captured", payload.payload.len()),
            ),
            other => Dissected::Skipped(Skip::OtherProtocol(other)),
        },
    }
}

/// An IP fragment, for [`crate::fragments`].
fn fragment<'a>(
    net: &LaxNetSlice<'_>,
    header: &'a [u8],
    payload: &'a [u8],
    missing: usize,
    tunnel: Option<Tunnel>,
) -> Dissected<'a> {
    let f = match net {
        LaxNetSlice::Ipv4(v4) => {
            let h = v4.header();
            Fragment {
                src: IpAddr::V4(h.source_addr()),
                dst: IpAddr::V4(h.destination_addr()),
                id: u32::from(h.identification()),
                protocol: h.protocol().0,
                offset: usize::from(h.fragments_offset().byte_offset()),
                more: h.more_fragments(),
                payload,
                missing,
                header,
                tunnel,
            }
        }
        LaxNetSlice::Ipv6(v6) => {
            let Some(fh) = v6.extensions().clone().into_iter().find_map(|e| match e {
                etherparse::Ipv6ExtensionSlice::Fragment(f) => Some(f),
                _ => None,
            }) else {
                return Dissected::Skipped(Skip::Fragment);
            };
            let h = v6.header();
            Fragment {
                src: IpAddr::V6(h.source_addr()),
                dst: IpAddr::V6(h.destination_addr()),
                id: fh.identification(),
                protocol: fh.next_header().0,
                offset: usize::from(fh.fragment_offset().byte_offset()),
                more: fh.more_fragments(),
                payload,
                missing,
                header,
                tunnel,
            }
        }
        LaxNetSlice::Arp(_) => return Dissected::Skipped(Skip::NotIp),
    };
    Dissected::Fragment(f)
}

/// A TCP header cut by the snapshot length: its fixed part still says who
/// talks and where in the sequence space, so keep it as a segment whose whole
/// payload is missing.
fn truncated_tcp<'a>(ip: Packet<'a>, b: &'a [u8], declared: usize, offset: usize) -> Dissected<'a> {
    if b.len() < 14 {
        return malformed(
            "TCP header",
            offset,
            format!("needs 20 bytes, {} captured", b.len()),
        );
    }
    let header_len = usize::from(b[12] >> 4) * 4;
    if header_len < 20 {
        return malformed(
            "TCP header",
            offset,
            format!("data offset {header_len} is below 20"),
        );
    }
    Dissected::Packet(Packet {
        transport: Transport::Tcp(TcpSegment {
            src_port: u16::from_be_bytes([b[0], b[1]]),
            dst_port: u16::from_be_bytes([b[2], b[3]]),
            seq: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            ack: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
            flags: TcpFlags(b[13]),
            window: b
                .get(14..16)
                .map_or(0, |w| u16::from_be_bytes([w[0], w[1]])),
            window_scale: syn_window_scale(b[13], b.get(20..header_len).unwrap_or(&[])),
            payload: &[],
            missing: declared.saturating_sub(header_len) as u32,
        }),
        ..ip
    })
}

/// The shift of a SYN's window scale option (RFC 7323, kind 3), capped at
/// 14 as the RFC says; `None` for other segments or without the option.
fn syn_window_scale(flags: u8, mut options: &[u8]) -> Option<u8> {
    if flags & TcpFlags::SYN == 0 {
        return None;
    }
    while let Some(&kind) = options.first() {
        match kind {
            0 => return None,
            1 => options = &options[1..],
            _ => {
                let len = usize::from(*options.get(1)?);
                if len < 2 || options.len() < len {
                    return None;
                }
                if kind == 3 && len == 3 {
                    return Some(options[2].min(14));
                }
                options = &options[len..];
            }
        }
    }
    None
}

/// Whether every IPv4 option's length stays within the options (RFC 791:
/// kinds 0 and 1 are one byte, every other kind has a length of at least
/// 2 that counts its kind and length bytes).
fn ipv4_options_ok(mut options: &[u8]) -> bool {
    while let Some(&kind) = options.first() {
        match kind {
            0 => return true,
            1 => options = &options[1..],
            _ => match options.get(1) {
                Some(&len) if len >= 2 && usize::from(len) <= options.len() => {
                    options = &options[usize::from(len)..];
                }
                _ => return false,
            },
        }
    }
    true
}

fn tcp_flags(header: &[u8]) -> TcpFlags {
    TcpFlags(header.get(13).copied().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    fn tcp_packet(payload: &[u8]) -> Vec<u8> {
        let builder = PacketBuilder::ethernet2([1; 6], [2; 6])
            .single_vlan(etherparse::VlanId::try_new(7).unwrap())
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(1234, 80, 1000, 4096)
            .psh();
        let mut out = Vec::new();
        builder.write(&mut out, payload).unwrap();
        out
    }

    #[test]
    fn vlan_tcp_payload() {
        let pkt = tcp_packet(b"hello");
        let Dissected::Packet(p) = dissect(LinkType::ETHERNET, &pkt, pkt.len() as u32) else {
            panic!("not a packet")
        };
        let Transport::Tcp(t) = p.transport else {
            panic!("not tcp")
        };
        assert_eq!((t.src_port, t.dst_port, t.seq), (1234, 80, 1000));
        assert_eq!((t.payload, t.missing), (&b"hello"[..], 0));
        assert!(t.flags.has(TcpFlags::PSH));
    }

    #[test]
    fn snaplen_cut_payload_is_missing_not_data() {
        let pkt = tcp_packet(b"hello world");
        let cut = &pkt[..pkt.len() - 6];
        let Dissected::Packet(p) = dissect(LinkType::ETHERNET, cut, pkt.len() as u32) else {
            panic!("not a packet")
        };
        let Transport::Tcp(t) = p.transport else {
            panic!("not tcp")
        };
        assert_eq!((t.payload, t.missing), (&b"hello"[..], 6));
    }

    #[test]
    fn short_frame_is_data_not_loss() {
        // The IP header claims more than the frame holds, but the record
        // says the frame was captured whole: the payload is what is there.
        let pkt = tcp_packet(b"hello world");
        let cut = &pkt[..pkt.len() - 6];
        let Dissected::Packet(p) = dissect(LinkType::ETHERNET, cut, cut.len() as u32) else {
            panic!("not a packet")
        };
        let Transport::Tcp(t) = p.transport else {
            panic!("not tcp")
        };
        assert_eq!((t.payload, t.missing), (&b"hello"[..], 0));
    }

    #[test]
    fn udp_length_beyond_a_whole_record_is_no_loss() {
        // Found by the packet fuzz target: a UDP length field larger than
        // the datagram counted as bytes the snapshot length cut, although
        // the record was captured whole.
        let builder = PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .udp(53, 53);
        let mut pkt = Vec::new();
        builder.write(&mut pkt, b"hello").unwrap();
        // UDP length (offset 14 + 20 + 4) and IP total length (14 + 2).
        pkt[38..40].copy_from_slice(&4000u16.to_be_bytes());
        let whole = pkt.len() as u32;
        for (orig_len, want) in [(whole, 0), (whole + 3, 3)] {
            let Dissected::Packet(p) = dissect(LinkType::ETHERNET, &pkt, orig_len) else {
                panic!("not a packet")
            };
            let Transport::Udp(d) = p.transport else {
                panic!("not udp")
            };
            assert_eq!((d.payload, d.missing), (&b"hello"[..], want));
        }
    }

    #[test]
    fn header_cut_inside_options_keeps_the_fixed_fields() {
        let pkt = tcp_packet(b"");
        // Cut so that only 16 bytes of the 20-byte TCP header remain.
        let cut = &pkt[..pkt.len() - 4];
        let Dissected::Packet(p) = dissect(LinkType::ETHERNET, cut, pkt.len() as u32) else {
            panic!("not a packet")
        };
        let Transport::Tcp(t) = p.transport else {
            panic!("not tcp")
        };
        assert_eq!((t.src_port, t.seq, t.payload.len()), (1234, 1000, 0));
    }

    #[test]
    fn fast_path_agrees_with_the_general_path() {
        use crate::capture::CaptureReader;
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
        let mut checked = 0;
        for dir in ["real", "scenarios", "servers"] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let path = entry.unwrap().path();
                let Ok(mut reader) = CaptureReader::open(&path) else {
                    continue;
                };
                while let Ok(Some(rec)) = reader.next_record() {
                    for cut in [rec.data.len(), rec.data.len().saturating_sub(7), 60, 40] {
                        let data = &rec.data[..cut.min(rec.data.len())];
                        let uncaptured = (rec.orig_len as usize).saturating_sub(data.len());
                        if let Some(fast) = fast_tcp(rec.link, data, uncaptured) {
                            let general = dissect_general(rec.link, data, uncaptured);
                            assert_eq!(
                                format!("{:?}", Dissected::Packet(fast)),
                                format!("{general:?}"),
                                "{} record {}",
                                path.display(),
                                rec.number
                            );
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert!(checked > 10_000, "{checked}");
    }

    #[test]
    fn every_prefix_of_a_packet_dissects_without_panic() {
        let pkt = tcp_packet(b"hello");
        for cut in 0..pkt.len() {
            for link in [
                LinkType::ETHERNET,
                LinkType::NULL,
                LinkType::RAW,
                LinkType::LINUX_SLL,
                LinkType::LINUX_SLL2,
            ] {
                let _ = dissect(link, &pkt[..cut], pkt.len() as u32);
            }
        }
    }
}
