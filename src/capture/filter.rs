//! BPF filters (`--filter`), compiled and run by libpcap.
//!
//! A pcapng file may mix link types, and a BPF program is compiled for one,
//! so the filter is compiled once per link type, on first use, against a
//! libpcap "dead" handle, and each record is run through the program for its
//! own link type with `pcap_offline_filter`, exactly as tcpdump would.
//! The program sees the captured bytes; `len` in a filter expression is the
//! captured length.
//!
//! Without the `pcap` feature there is no compiler: every expression is
//! refused with a [`FilterError`] that says so.

#[cfg(feature = "pcap")]
use std::collections::HashMap;

use super::LinkType;

/// A filter expression that libpcap would not compile.
#[derive(Debug, thiserror::Error)]
#[error("filter {expr:?} does not compile for link type {link}: {message}")]
pub struct FilterError {
    /// The expression as given.
    pub expr: String,
    /// The link type it was compiled for.
    pub link: LinkType,
    /// libpcap's own message.
    pub message: String,
}

/// A BPF filter expression, compiled per link type as records need it.
pub struct Filter {
    expr: String,
    #[cfg(feature = "pcap")]
    programs: HashMap<u32, pcap::BpfProgram>,
}

/// libpcap's words when it is not linked in.
#[cfg(not(feature = "pcap"))]
const NO_PCAP: &str = "BPF filters need libpcap (the `pcap` feature)";

impl Filter {
    /// Checks that `expr` compiles (for Ethernet, the common case) and keeps
    /// it for use.
    pub fn new(expr: &str) -> Result<Filter, FilterError> {
        let mut filter = Filter {
            expr: expr.to_string(),
            #[cfg(feature = "pcap")]
            programs: HashMap::new(),
        };
        filter.program(LinkType::ETHERNET)?;
        Ok(filter)
    }

    /// The expression.
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// Whether a packet of link type `link` passes the filter.
    pub fn matches(&mut self, link: LinkType, data: &[u8]) -> Result<bool, FilterError> {
        Ok(self.program(link)?.filter(data))
    }

    #[cfg(not(feature = "pcap"))]
    fn program(&mut self, link: LinkType) -> Result<&Never, FilterError> {
        Err(FilterError {
            expr: self.expr.clone(),
            link,
            message: NO_PCAP.to_string(),
        })
    }

    #[cfg(feature = "pcap")]
    fn program(&mut self, link: LinkType) -> Result<&pcap::BpfProgram, FilterError> {
        use std::collections::hash_map::Entry;
        match self.programs.entry(link.0) {
            Entry::Occupied(e) => Ok(e.into_mut()),
            Entry::Vacant(v) => {
                let fail = |message: String| FilterError {
                    expr: self.expr.clone(),
                    link,
                    message,
                };
                let dead = pcap::Capture::dead(pcap::Linktype(link.0 as i32))
                    .map_err(|e| fail(e.to_string()))?;
                let program = dead
                    .compile(&self.expr, true)
                    .map_err(|e| fail(e.to_string()))?;
                Ok(v.insert(program))
            }
        }
    }
}

/// The program a build without libpcap never has.
#[cfg(not(feature = "pcap"))]
enum Never {}

#[cfg(not(feature = "pcap"))]
impl Never {
    fn filter(&self, _: &[u8]) -> bool {
        match *self {}
    }
}

#[cfg(all(test, not(feature = "pcap")))]
mod tests_without_pcap {
    use super::*;

    #[test]
    fn every_expression_is_refused() {
        let err = Filter::new("tcp").err().unwrap();
        assert!(err.to_string().contains("the `pcap` feature"), "{err}");
    }
}

#[cfg(all(test, feature = "pcap"))]
mod tests {
    use super::*;

    #[test]
    fn bad_expression_gives_libpcaps_message() {
        let err = Filter::new("tcp port nonsense").err().unwrap();
        assert!(err.to_string().contains("tcp port nonsense"), "{err}");
    }

    #[test]
    fn filters_by_port_on_ethernet() {
        // Ethernet + IPv4 + TCP 1234 -> 80.
        let mut pkt = vec![0u8; 14];
        pkt[12] = 0x08;
        let mut ip = vec![
            0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        ip.extend_from_slice(&[0x04, 0xd2, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0, 0]);
        ip.extend_from_slice(&[0, 0, 0, 0]);
        pkt.extend_from_slice(&ip);
        let mut f = Filter::new("tcp port 80").unwrap();
        assert!(f.matches(LinkType::ETHERNET, &pkt).unwrap());
        let mut g = Filter::new("udp").unwrap();
        assert!(!g.matches(LinkType::ETHERNET, &pkt).unwrap());
    }
}
