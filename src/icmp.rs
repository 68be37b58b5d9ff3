//! ICMP errors about TCP and UDP packets: what went wrong, and which flow
//! the packet that caused it belonged to.
//!
//! This module owns the reading of an ICMP or ICMPv6 error and of the IP
//! header and first transport bytes it quotes. The quoted TCP or UDP header
//! is not data: [`crate::flow`] reports the error against the stream whose
//! packet it quotes ("port unreachable", "fragmentation needed (MTU
//! 1400)"), creating the stream when the capture holds nothing else of it,
//! as Wireshark numbers it.
//!
//! ```text
//! ICMP error: | type | code | checksum 2 | rest 4 (MTU in 2..4, or 0..4 in v6) |
//!             | quoted IP header | at least 8 bytes of TCP or UDP |
//! TCP quoted: | src port 2 | dst port 2 | sequence number 4 | ...
//! UDP quoted: | src port 2 | dst port 2 | length 2 | checksum 2 |
//! ```

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use crate::tunnel::Tunnel;

/// The kind of an ICMP error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct IcmpKind {
    /// ICMPv6 rather than ICMP.
    pub v6: bool,
    /// The type.
    #[serde(rename = "type")]
    pub icmp_type: u8,
    /// The code.
    pub code: u8,
    /// The next hop's MTU, for "fragmentation needed" and "packet too big".
    pub mtu: Option<u32>,
}

impl fmt::Display for IcmpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match (self.v6, self.icmp_type, self.code) {
            (false, 3, 0) | (true, 1, 0) => "network unreachable",
            (false, 3, 1) | (true, 1, 3) => "host unreachable",
            (false, 3, 2) => "protocol unreachable",
            (false, 3, 3) | (true, 1, 4) => "port unreachable",
            (false, 3, 4) => "fragmentation needed",
            (false, 3, 9 | 10 | 13) | (true, 1, 1) => "administratively prohibited",
            (false, 3, _) | (true, 1, _) => "destination unreachable",
            (true, 2, _) => "packet too big",
            (false, 11, 1) | (true, 3, 1) => "fragment reassembly time exceeded",
            (false, 11, _) | (true, 3, _) => "time to live exceeded",
            (false, 12, _) | (true, 4, _) => "parameter problem",
            (false, 4, _) => "source quench",
            (false, 5, _) => "redirect",
            _ => "ICMP error",
        };
        f.write_str(text)?;
        if let Some(mtu) = self.mtu {
            write!(f, " (MTU {mtu})")?;
        }
        Ok(())
    }
}

/// Which transport a quoted header belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuotedProto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

/// An ICMP error that quotes a TCP or UDP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IcmpError {
    /// Who sent the error.
    pub reporter: IpAddr,
    /// What it says.
    pub kind: IcmpKind,
    /// The quoted packet's transport.
    pub proto: QuotedProto,
    /// The quoted packet's sender.
    pub src: SocketAddr,
    /// The quoted packet's destination.
    pub dst: SocketAddr,
    /// The tunnel the error was found in.
    pub tunnel: Option<Tunnel>,
}

/// Reads an ICMP (`v6` false) or ICMPv6 message from `reporter`: an error
/// that quotes a TCP or UDP header, or `None` (echo, a quote too short to
/// hold the ports, another protocol quoted...).
pub fn error(v6: bool, reporter: IpAddr, b: &[u8]) -> Option<IcmpError> {
    let (&icmp_type, &code) = (b.first()?, b.get(1)?);
    let is_error = if v6 {
        (1..=4).contains(&icmp_type)
    } else {
        matches!(icmp_type, 3 | 4 | 5 | 11 | 12)
    };
    if !is_error {
        return None;
    }
    let word = |at: usize| {
        Some(u32::from(u16::from_be_bytes([
            *b.get(at)?,
            *b.get(at + 1)?,
        ])))
    };
    let mtu = match (v6, icmp_type, code) {
        (false, 3, 4) => word(6),
        (true, 2, _) => Some(u32::from_be_bytes(b.get(4..8)?.try_into().ok()?)),
        _ => None,
    };
    let quoted = b.get(8..)?;
    let (src, dst, protocol, transport) = quoted_ip(quoted)?;
    let proto = match protocol {
        6 => QuotedProto::Tcp,
        17 => QuotedProto::Udp,
        _ => return None,
    };
    let port = |at: usize| {
        Some(u16::from_be_bytes([
            *transport.get(at)?,
            *transport.get(at + 1)?,
        ]))
    };
    Some(IcmpError {
        reporter,
        kind: IcmpKind {
            v6,
            icmp_type,
            code,
            mtu,
        },
        proto,
        src: SocketAddr::new(src, port(0)?),
        dst: SocketAddr::new(dst, port(2)?),
        tunnel: None,
    })
}

/// The quoted IP header's addresses, protocol and the bytes after it.
fn quoted_ip(b: &[u8]) -> Option<(IpAddr, IpAddr, u8, &[u8])> {
    match b.first()? >> 4 {
        4 => {
            let ihl = usize::from(b[0] & 0x0f) * 4;
            if ihl < 20 {
                return None;
            }
            let src: [u8; 4] = b.get(12..16)?.try_into().ok()?;
            let dst: [u8; 4] = b.get(16..20)?.try_into().ok()?;
            Some((src.into(), dst.into(), *b.get(9)?, b.get(ihl..)?))
        }
        6 => {
            let src: [u8; 16] = b.get(8..24)?.try_into().ok()?;
            let dst: [u8; 16] = b.get(24..40)?.try_into().ok()?;
            // Extension headers in a quote are rare; only the transport
            // right after the fixed header is read.
            Some((src.into(), dst.into(), *b.get(6)?, b.get(40..)?))
        }
        _ => None,
    }
}

/// The ICMP errors a stream received.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct IcmpErrors {
    /// How many.
    pub count: u64,
    /// The first one.
    pub first: Option<IcmpKind>,
    /// Its record.
    pub first_record: Option<u64>,
}

impl IcmpErrors {
    /// Counts an error seen in `record`.
    pub fn add(&mut self, kind: IcmpKind, record: u64) {
        self.count += 1;
        self.first.get_or_insert(kind);
        self.first_record.get_or_insert(record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quoted_v4(protocol: u8) -> Vec<u8> {
        let mut q = vec![0x45, 0, 0, 40, 0, 0, 0, 0, 64, protocol, 0, 0];
        q.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        q.extend_from_slice(&[0x9c, 0x40, 0, 53, 0, 8, 0, 0]);
        q
    }

    #[test]
    fn port_unreachable_names_the_flow() {
        let mut b = vec![3, 3, 0, 0, 0, 0, 0, 0];
        b.extend_from_slice(&quoted_v4(17));
        let e = error(false, "10.0.0.2".parse().unwrap(), &b).unwrap();
        assert_eq!(e.proto, QuotedProto::Udp);
        assert_eq!(e.src.to_string(), "10.0.0.1:40000");
        assert_eq!(e.dst.to_string(), "10.0.0.2:53");
        assert_eq!(e.kind.to_string(), "port unreachable");
    }

    #[test]
    fn fragmentation_needed_carries_the_mtu() {
        let mut b = vec![3, 4, 0, 0, 0, 0, 0x05, 0x78];
        b.extend_from_slice(&quoted_v4(6));
        let e = error(false, "10.0.0.9".parse().unwrap(), &b).unwrap();
        assert_eq!(e.kind.to_string(), "fragmentation needed (MTU 1400)");
    }

    #[test]
    fn echo_and_short_quotes_are_not_errors_of_a_flow() {
        assert!(error(
            false,
            "10.0.0.1".parse().unwrap(),
            &[8, 0, 0, 0, 0, 0, 0, 0]
        )
        .is_none());
        let mut b = vec![3, 3, 0, 0, 0, 0, 0, 0];
        b.extend_from_slice(&quoted_v4(6)[..22]);
        assert!(error(false, "10.0.0.1".parse().unwrap(), &b).is_none());
    }
}
