//! Capture records: reading pcap and pcapng files, capturing live traffic,
//! and the record type every later stage consumes.
//!
//! This module owns the record sources and the [`Record`] they yield: one
//! captured packet with its record number (Wireshark's `frame.number`), the
//! byte offset of its record in the file, its timestamp and its link type.
//! Files are read by [`mod@file`] (with [`mapped`], [`ahead`] and
//! [`prefetch`] underneath),
//! live traffic is captured through libpcap by `live` (feature `pcap`).
//! It does not look inside packets ([`crate::dissect`] does).
//!
//! Files are read by a native streaming reader ([`file::CaptureReader`])
//! rather than by libpcap, for three reasons measured on real captures:
//! libpcap 1.10 refuses pcapng files whose interfaces differ in link type or
//! snapshot length (Zeek's `ldap/gap-data-missing.pcapng` has 126 such
//! interfaces), it gives no byte offset when a file is damaged, and it cannot
//! tell a record cut short by the end of the file from one cut by a damaged
//! length. BPF filters are still libpcap's own ([`filter`]), applied to each
//! record with the filter compiled for that record's link type.

pub mod ahead;
pub mod file;
pub mod filter;
#[cfg(feature = "pcap")]
pub mod live;
pub mod mapped;
pub mod prefetch;
pub mod scan;
pub mod way;
pub mod writer;

use std::fmt;

pub use file::{
    CaptureError, CaptureErrorKind, CaptureFormat, CaptureReader, PcapFileHeader, RawBlock,
};

/// A capture timestamp: nanoseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Builds a timestamp from seconds and nanoseconds.
    pub fn from_parts(secs: i64, nanos: i64) -> Self {
        Timestamp(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
    }

    /// Seconds since the epoch, as a float (for display and JSON).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }

    /// `self - earlier` in seconds.
    pub fn secs_since(self, earlier: Timestamp) -> f64 {
        (self.0.saturating_sub(earlier.0)) as f64 / 1e9
    }
}

impl serde::Serialize for Timestamp {
    /// Seconds since the epoch, as a number with nanosecond digits.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.as_secs_f64())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.div_euclid(1_000_000_000);
        let nanos = self.0.rem_euclid(1_000_000_000);
        write!(f, "{secs}.{nanos:09}")
    }
}

/// A link-layer header type, as numbered by tcpdump.org's LINKTYPE_ values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkType(pub u32);

impl LinkType {
    /// BSD loopback: a 4-byte address family in the capturing host's order.
    pub const NULL: LinkType = LinkType(0);
    /// Ethernet II (with 802.1Q / 802.1ad tags).
    pub const ETHERNET: LinkType = LinkType(1);
    /// Raw IP as OpenBSD numbers it (DLT_RAW 12 on some systems).
    pub const RAW_12: LinkType = LinkType(12);
    /// OpenBSD loopback: a 4-byte address family in network order.
    pub const LOOP: LinkType = LinkType(108);
    /// Raw IP, the portable number.
    pub const RAW: LinkType = LinkType(101);
    /// Raw IP as DLT_RAW 14 on some systems.
    pub const RAW_14: LinkType = LinkType(14);
    /// Linux cooked capture v1.
    pub const LINUX_SLL: LinkType = LinkType(113);
    /// Raw IPv4.
    pub const IPV4: LinkType = LinkType(228);
    /// Raw IPv6.
    pub const IPV6: LinkType = LinkType(229);
    /// Linux cooked capture v2.
    pub const LINUX_SLL2: LinkType = LinkType(276);
    /// PPP (RFC 1661), optionally with RFC 1662's address and control bytes.
    pub const PPP: LinkType = LinkType(9);
    /// PPP in HDLC-like framing (RFC 1662).
    pub const PPP_HDLC: LinkType = LinkType(50);
    /// PPPoE: a PPPoE session header, then PPP.
    pub const PPP_ETHER: LinkType = LinkType(51);
    /// Cisco HDLC.
    pub const C_HDLC: LinkType = LinkType(104);

    /// A short name for messages.
    pub fn name(self) -> &'static str {
        match self {
            LinkType::NULL => "NULL/loopback",
            LinkType::ETHERNET => "Ethernet",
            LinkType::RAW | LinkType::RAW_12 | LinkType::RAW_14 => "raw IP",
            LinkType::LOOP => "OpenBSD loopback",
            LinkType::LINUX_SLL => "Linux cooked v1",
            LinkType::IPV4 => "raw IPv4",
            LinkType::IPV6 => "raw IPv6",
            LinkType::LINUX_SLL2 => "Linux cooked v2",
            LinkType::PPP | LinkType::PPP_HDLC => "PPP",
            LinkType::PPP_ETHER => "PPPoE",
            LinkType::C_HDLC => "Cisco HDLC",
            _ => "unsupported",
        }
    }

    /// Whether [`crate::dissect`] understands this link type.
    pub fn is_supported(self) -> bool {
        self.name() != "unsupported"
    }
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.0, self.name())
    }
}

/// One captured packet, borrowed from the reader's buffer.
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    /// 1-based record number: Wireshark's `frame.number`.
    pub number: u64,
    /// Byte offset of the record (its header) in the file.
    pub offset: u64,
    /// Byte offset of `data` in the file (0 for packets not read from one).
    pub data_offset: u64,
    /// When it was captured.
    pub ts: Timestamp,
    /// The link type of the interface it was captured on.
    pub link: LinkType,
    /// The pcapng interface index (0 for pcap files).
    pub interface: u32,
    /// The bytes captured (at most the snapshot length).
    pub data: &'a [u8],
    /// The packet's length on the wire, as the capture states it.
    pub orig_len: u32,
}
