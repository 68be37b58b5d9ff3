//! Encapsulations: the headers framescope opens to reach the flow inside a
//! tunnel or a point-to-point link, and the context it keeps of the outside.
//!
//! This module owns the wire layouts below and nothing else: it says where
//! the inner packet starts and what it is ([`Inner`]); [`crate::dissect`]
//! reads the inner packet with the same code as an outer one, and counts
//! the depth against [`MAX_DEPTH`]. `etherparse` 0.21 reads none of these
//! headers (its lax slicing stops at an unknown ether type or IP protocol
//! and says where), so they are read here, by hand, with every length
//! checked against the captured bytes.
//!
//! ```text
//! VXLAN (UDP 4789), RFC 7348        Geneve (UDP 6081), RFC 8926
//! +--------+--------+--------+      +--+------+--------+----------------+
//! | flags  | rsvd 3 | VNI 3  |+1    |V |optlen| flags  | protocol type  |
//! | 0x08=I |        |        |      +--+------+--------+----------------+
//! +--------+--------+--------+      | VNI 3                    | rsvd   |
//! then an Ethernet frame            +---------------------------+--------+
//!                                   | options: optlen x 4 bytes          |
//!                                   then Ethernet (0x6558) or IP
//!
//! GRE (IP protocol 47), RFC 2784/2890, and PPTP's version 1 (RFC 2637)
//! +-+-+-+-+-----+-----+----------------+  then, each when its flag is set:
//! |C|R|K|S|     | ver | protocol type  |  C: checksum 2, reserved 2
//! +-+-+-+-+-----+-----+----------------+  K: key 4 (v1: length 2, call 2)
//!                                         S: sequence number 4
//!                                         A (v1, 0x0080): ack number 4
//! protocol 0x0800/0x86dd: IP; 0x6558: Ethernet; 0x880b: PPP;
//! 0x88be: ERSPAN type I (no S flag: Ethernet follows) or II (8-byte
//! header); 0x22eb: ERSPAN type III (12 bytes, 8 more when its O bit is set).
//!
//! GTP-U (UDP 2152), 3GPP TS 29.281
//! +-----+--+-+-+-+-+--------+----------------+---------------------------+
//! | ver |PT|*|E|S|N| type   | length         | TEID 4                    |
//! +-----+--+-+-+-+-+--------+----------------+---------------------------+
//! with E, S or N: sequence 2, N-PDU 1, next extension type 1; then each
//! extension: length in 4-byte units, content, next extension type.
//! Only type 0xff (G-PDU) carries a user packet, IPv4 or IPv6.
//!
//! IP in IP: IPv4 protocol or IPv6 next header 4 (IPv4 inside) or 41 (IPv6
//! inside: 6in4 when the outside is IPv4, 6in6 otherwise).
//!
//! PPPoE session (ether type 0x8864): ver/type 1, code 1, session 2,
//! length 2, then a PPP protocol number 2 (0x0021 IPv4, 0x0057 IPv6).
//! PPP (link types 9 and 50): optional 0xff 0x03, protocol 1 or 2 bytes.
//! Cisco HDLC (link type 104): address 1, control 1, ether type 2.
//! 802.1BR E-tag (ether type 0x893f): 6 bytes of tag, then an ether type.
//! ```

use std::net::IpAddr;

/// Tunnel layers opened in one packet (a tunnel inside a tunnel counts
/// two). Deeper packets are reported as malformed at the layer that went
/// past the bound.
pub const MAX_DEPTH: u8 = 4;

/// The kind of tunnel a stream was found in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TunnelKind {
    /// VXLAN (UDP 4789).
    Vxlan,
    /// Geneve (UDP 6081).
    Geneve,
    /// GRE (IP protocol 47), PPTP's enhanced GRE included.
    Gre,
    /// ERSPAN type I (GRE without its header).
    ErspanI,
    /// ERSPAN type II.
    ErspanII,
    /// ERSPAN type III.
    ErspanIII,
    /// GTP-U (UDP 2152).
    GtpU,
    /// IPv4 in IPv4 (IP protocol 4).
    IpInIp,
    /// IPv6 in IPv4 (IP protocol 41).
    SixInFour,
    /// IPv4 in IPv6.
    FourInSix,
    /// IPv6 in IPv6.
    SixInSix,
}

/// Where a packet was found: the outermost tunnel's endpoints, kind and
/// identifier, and how many tunnel layers were opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Tunnel {
    /// The outermost tunnel's kind.
    pub kind: TunnelKind,
    /// Its source address.
    pub outer_src: IpAddr,
    /// Its destination address.
    pub outer_dst: IpAddr,
    /// Its identifier, when it has one: VXLAN or Geneve VNI, GRE key,
    /// GTP-U TEID, ERSPAN session.
    pub id: Option<u32>,
    /// Tunnel layers opened, 1 for a single tunnel.
    pub depth: u8,
}

/// What follows an encapsulation header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inner {
    /// An Ethernet frame.
    Ethernet,
    /// An IPv4 or IPv6 packet.
    Ip,
    /// A payload of this ether type.
    EtherType(u16),
    /// Nothing framescope follows (GTP-U signalling, a PPP control
    /// protocol...).
    Nothing,
}

/// An encapsulation header read: what it is, where the inner packet
/// starts (bytes from the header's start), and what it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decap {
    /// The tunnel kind (`None` for a link-layer encapsulation).
    pub kind: Option<TunnelKind>,
    /// Its identifier.
    pub id: Option<u32>,
    /// The header's length.
    pub len: usize,
    /// What follows.
    pub inner: Inner,
}

/// Why an encapsulation header could not be read: the header, where in
/// it, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecapError {
    /// The header.
    pub layer: &'static str,
    /// Bytes from the header's start.
    pub offset: usize,
    /// What was wrong.
    pub why: String,
}

fn short(layer: &'static str, need: usize, have: usize) -> DecapError {
    DecapError {
        layer,
        offset: have,
        why: format!("needs {need} bytes, {have} captured"),
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The tunnel a UDP datagram carries, by its ports, if it reads as one.
/// A datagram on a tunnel port whose header does not read as that
/// tunnel's is left as UDP (`None`).
pub fn udp(src_port: u16, dst_port: u16, b: &[u8]) -> Option<Decap> {
    if dst_port == 4789 {
        vxlan(b)
    } else if dst_port == 6081 {
        geneve(b)
    } else if dst_port == 2152 || src_port == 2152 {
        gtp_u(b)
    } else {
        None
    }
}

fn vxlan(b: &[u8]) -> Option<Decap> {
    let flags = *b.get(0..8)?.first()?;
    if flags & 0x08 == 0 {
        return None;
    }
    Some(Decap {
        kind: Some(TunnelKind::Vxlan),
        id: Some(be32(b, 4)? >> 8),
        len: 8,
        inner: Inner::Ethernet,
    })
}

fn geneve(b: &[u8]) -> Option<Decap> {
    let first = *b.get(0..8)?.first()?;
    if first >> 6 != 0 {
        return None;
    }
    let len = 8 + usize::from(first & 0x3f) * 4;
    if b.len() < len {
        return None;
    }
    let inner = match be16(b, 2)? {
        0x6558 => Inner::Ethernet,
        t => Inner::EtherType(t),
    };
    Some(Decap {
        kind: Some(TunnelKind::Geneve),
        id: Some(be32(b, 4)? >> 8),
        len,
        inner,
    })
}

fn gtp_u(b: &[u8]) -> Option<Decap> {
    let flags = *b.get(0..8)?.first()?;
    if flags >> 5 != 1 || flags & 0x10 == 0 {
        return None;
    }
    let teid = be32(b, 4)?;
    if b[1] != 0xff {
        // Echo, error indication, end marker: no user packet.
        return Some(Decap {
            kind: Some(TunnelKind::GtpU),
            id: Some(teid),
            len: b.len(),
            inner: Inner::Nothing,
        });
    }
    let mut len = 8;
    if flags & 0x07 != 0 {
        len = 12;
        let mut next = *b.get(11)?;
        while next != 0 {
            let units = usize::from(*b.get(len)?);
            if units == 0 {
                return None;
            }
            len += units * 4;
            next = *b.get(len - 1)?;
        }
    }
    if b.len() < len {
        return None;
    }
    Some(Decap {
        kind: Some(TunnelKind::GtpU),
        id: Some(teid),
        len,
        inner: Inner::Ip,
    })
}

/// A GRE header (IP protocol 47), with ERSPAN and PPP behind it.
pub fn gre(b: &[u8]) -> Result<Decap, DecapError> {
    let (Some(flags), Some(proto)) = (be16(b, 0), be16(b, 2)) else {
        return Err(short("GRE header", 4, b.len()));
    };
    let version = flags & 0x0007;
    if flags & 0x4000 != 0 {
        return Err(DecapError {
            layer: "GRE header",
            offset: 0,
            why: "source routing (R flag) is not supported".into(),
        });
    }
    if version > 1 {
        return Err(DecapError {
            layer: "GRE header",
            offset: 1,
            why: format!("version {version} is not 0 or 1"),
        });
    }
    let mut len = 4;
    if flags & 0x8000 != 0 {
        len += 4;
    }
    let mut id = None;
    if flags & 0x2000 != 0 {
        // Version 1 keys are a payload length and a call id.
        id = be32(b, len).map(|k| if version == 1 { k & 0xffff } else { k });
        len += 4;
    }
    let sequenced = flags & 0x1000 != 0;
    if sequenced {
        len += 4;
    }
    if version == 1 && flags & 0x0080 != 0 {
        len += 4;
    }
    if b.len() < len {
        return Err(short("GRE header", len, b.len()));
    }
    let gre = |inner| {
        Ok(Decap {
            kind: Some(TunnelKind::Gre),
            id,
            len,
            inner,
        })
    };
    match proto {
        0x6558 => gre(Inner::Ethernet),
        0x880b => {
            let ppp = ppp(&b[len..])?;
            gre(ppp.inner).map(|d| Decap {
                len: len + ppp.len,
                ..d
            })
        }
        0x88be if !sequenced => Ok(Decap {
            kind: Some(TunnelKind::ErspanI),
            id,
            len,
            inner: Inner::Ethernet,
        }),
        0x88be => {
            let session =
                be16(b, len + 2).ok_or_else(|| short("ERSPAN II header", 8, b.len() - len))?;
            if b.len() < len + 8 {
                return Err(short("ERSPAN II header", 8, b.len() - len));
            }
            Ok(Decap {
                kind: Some(TunnelKind::ErspanII),
                id: Some(u32::from(session & 0x03ff)),
                len: len + 8,
                inner: Inner::Ethernet,
            })
        }
        0x22eb => {
            let h = &b[len..];
            let (Some(session), Some(&last)) = (be16(h, 2), h.get(11)) else {
                return Err(short("ERSPAN III header", 12, h.len()));
            };
            let extra = if last & 0x01 != 0 { 8 } else { 0 };
            if h.len() < 12 + extra {
                return Err(short("ERSPAN III header", 12 + extra, h.len()));
            }
            Ok(Decap {
                kind: Some(TunnelKind::ErspanIII),
                id: Some(u32::from(session & 0x03ff)),
                len: len + 12 + extra,
                inner: Inner::Ethernet,
            })
        }
        t => gre(Inner::EtherType(t)),
    }
}

/// A PPP frame's header (RFC 1661, with RFC 1662's address and control
/// bytes when present and protocol-field compression).
pub fn ppp(b: &[u8]) -> Result<Decap, DecapError> {
    let skip = if b.starts_with(&[0xff, 0x03]) { 2 } else { 0 };
    let Some(&first) = b.get(skip) else {
        return Err(short("PPP header", skip + 1, b.len()));
    };
    let (proto, len) = if first & 1 == 1 {
        (u16::from(first), skip + 1)
    } else {
        let p = be16(b, skip).ok_or_else(|| short("PPP header", skip + 2, b.len()))?;
        (p, skip + 2)
    };
    let inner = match proto {
        0x0021 => Inner::EtherType(0x0800),
        0x0057 => Inner::EtherType(0x86dd),
        _ => Inner::Nothing,
    };
    Ok(Decap {
        kind: None,
        id: None,
        len,
        inner,
    })
}

/// A PPPoE session header (RFC 2516) and the PPP protocol behind it.
pub fn pppoe_session(b: &[u8]) -> Result<Decap, DecapError> {
    if b.len() < 8 {
        return Err(short("PPPoE header", 8, b.len()));
    }
    let ppp = ppp(&b[6..])?;
    Ok(Decap {
        len: 6 + ppp.len,
        ..ppp
    })
}

/// A Cisco HDLC header (link type 104).
pub fn cisco_hdlc(b: &[u8]) -> Result<Decap, DecapError> {
    let t = be16(b, 2).ok_or_else(|| short("Cisco HDLC header", 4, b.len()))?;
    Ok(Decap {
        kind: None,
        id: None,
        len: 4,
        inner: Inner::EtherType(t),
    })
}

/// An 802.1BR E-tag after its ether type: 6 bytes, then the next ether
/// type.
pub fn e_tag(b: &[u8]) -> Result<Decap, DecapError> {
    let t = be16(b, 6).ok_or_else(|| short("802.1BR E-tag", 8, b.len()))?;
    Ok(Decap {
        kind: None,
        id: None,
        len: 8,
        inner: Inner::EtherType(t),
    })
}

/// The tunnel kind of IP inside IP: `outer_v6` is the outside's version,
/// `protocol` the IP protocol number (4 or 41).
pub fn ip_in_ip(outer_v6: bool, protocol: u8) -> Option<TunnelKind> {
    match (outer_v6, protocol) {
        (false, 4) => Some(TunnelKind::IpInIp),
        (false, 41) => Some(TunnelKind::SixInFour),
        (true, 4) => Some(TunnelKind::FourInSix),
        (true, 41) => Some(TunnelKind::SixInSix),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gre_flags_add_their_fields() {
        // C, K and S: checksum+reserved, key, sequence number.
        let mut b = vec![0xb0, 0x00, 0x08, 0x00, 0, 0, 0, 0, 0, 0, 0, 42, 0, 0, 0, 7];
        b.extend_from_slice(&[0x45; 20]);
        let d = gre(&b).unwrap();
        assert_eq!(
            (d.len, d.id, d.inner),
            (16, Some(42), Inner::EtherType(0x0800))
        );
        assert!(gre(&b[..10]).is_err());
    }

    #[test]
    fn erspan_types() {
        let t1 = gre(&[0x00, 0x00, 0x88, 0xbe]).unwrap();
        assert_eq!((t1.kind, t1.len), (Some(TunnelKind::ErspanI), 4));
        let mut t2 = vec![0x10, 0x00, 0x88, 0xbe, 0, 0, 0, 1];
        t2.extend_from_slice(&[0x10, 0x00, 0x00, 0x05, 0, 0, 0, 0]);
        let d = gre(&t2).unwrap();
        assert_eq!(
            (d.kind, d.len, d.id),
            (Some(TunnelKind::ErspanII), 16, Some(5))
        );
        let mut t3 = vec![0x00, 0x00, 0x22, 0xeb];
        t3.extend_from_slice(&[0x20, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert!(gre(&t3).is_err(), "O bit set: 8 more bytes needed");
        t3.extend_from_slice(&[0; 8]);
        let d = gre(&t3).unwrap();
        assert_eq!(
            (d.kind, d.len, d.id),
            (Some(TunnelKind::ErspanIII), 24, Some(9))
        );
    }

    #[test]
    fn gtp_u_extension_headers() {
        // E flag, one extension of 1 unit (4 bytes), then none.
        let b = [
            0x34, 0xff, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0x85, 1, 0, 0, 0, 0x45,
        ];
        let d = udp(2152, 2152, &b).unwrap();
        assert_eq!((d.len, d.id, d.inner), (16, Some(1), Inner::Ip));
        // Echo request: nothing to follow.
        let echo = [0x32, 0x01, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(udp(2152, 2152, &echo).unwrap().inner, Inner::Nothing);
    }

    #[test]
    fn udp_tunnels_need_their_flags() {
        assert!(udp(1, 4789, &[0x08, 0, 0, 0, 0, 0, 1, 0]).is_some());
        assert!(udp(1, 4789, &[0x00, 0, 0, 0, 0, 0, 1, 0]).is_none());
        assert!(udp(1, 6081, &[0x40, 0, 0x65, 0x58, 0, 0, 1, 0]).is_none());
        assert!(udp(1, 53, &[0x08, 0, 0, 0, 0, 0, 1, 0]).is_none());
    }

    #[test]
    fn ppp_protocol_compression() {
        assert_eq!(ppp(&[0x21, 0x45]).unwrap().len, 1);
        assert_eq!(
            ppp(&[0xff, 0x03, 0x00, 0x57]).unwrap().inner,
            Inner::EtherType(0x86dd)
        );
        assert_eq!(ppp(&[0xc0, 0x21]).unwrap().inner, Inner::Nothing);
    }
}
