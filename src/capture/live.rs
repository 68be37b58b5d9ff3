//! Live capture from a network interface through libpcap.
//!
//! This module owns the capture handle: opening the interface (immediate
//! mode, a large kernel buffer, a full snapshot length, a short read timeout
//! so that stop conditions are checked), compiling the BPF filter into the
//! kernel, writing every captured packet to a pcap file when asked, and
//! libpcap's own drop counters at the end. Every packet becomes a
//! [`Record`] numbered from 1 and goes through [`pipeline::feed`], the same
//! path as a file's records, so a capture analysed live and the file it
//! wrote give the same report.
//!
//! It does not own signal handling: the caller passes a stop flag that a
//! Ctrl-C handler (or a test, or a lab scenario) sets.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::capture::{LinkType, Record, Timestamp};
use crate::flow::{Sink, Tracker};
use crate::pipeline::{self, CaptureSummary};

/// Kernel buffer asked for by default: large, so that bursts are not dropped.
pub const DEFAULT_BUFFER: i32 = 32 << 20;
/// Snapshot length: whole packets, loopback's 64 KiB segments included.
pub const SNAPLEN: i32 = 262_144;
/// The read timeout given to libpcap. On Linux a blocking read may ignore
/// it (TPACKET_V3 waits for a packet), so the handle is non-blocking and
/// the loop sleeps [`IDLE_SLEEP`] when nothing is waiting.
pub const READ_TIMEOUT_MS: i32 = 100;
/// The pause when no packet is waiting: stop conditions are checked this
/// often. Timestamps come from the kernel, so the pause does not skew them,
/// and the kernel buffer holds what arrives meanwhile.
pub const IDLE_SLEEP: Duration = Duration::from_millis(5);

/// What to capture and when to stop.
#[derive(Clone, Debug)]
pub struct LiveConfig {
    /// The interface, e.g. `lo`.
    pub interface: String,
    /// A BPF filter compiled into the kernel.
    pub filter: Option<String>,
    /// A pcap file that receives every captured packet.
    pub write: Option<PathBuf>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Stop after this many packets.
    pub count: Option<u64>,
}

impl LiveConfig {
    /// Captures everything on `interface` until stopped.
    pub fn new(interface: &str) -> Self {
        LiveConfig {
            interface: interface.to_string(),
            filter: None,
            write: None,
            duration: None,
            count: None,
        }
    }
}

/// The filter that `--port P` stands for.
pub fn port_filter(port: u16) -> String {
    format!("tcp port {port} or udp port {port}")
}

/// The loopback interface's usual name on this platform.
pub fn default_interface() -> &'static str {
    if cfg!(any(
        target_os = "macos",
        target_os = "freebsd",
        target_os = "openbsd"
    )) {
        "lo0"
    } else {
        "lo"
    }
}

/// Why a live capture could not start or go on.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The process may not capture.
    #[error(
        "not permitted to capture on {interface}: {message}\n  fix: run as root, or once: \
         sudo setcap cap_net_raw,cap_net_admin=eip $(which framescope)"
    )]
    Permission {
        /// The interface.
        interface: String,
        /// libpcap's message.
        message: String,
    },
    /// The interface does not exist.
    #[error("no interface {interface:?} ({message}); available: {}", available.join(", "))]
    NoSuchInterface {
        /// The interface asked for.
        interface: String,
        /// libpcap's message.
        message: String,
        /// The interfaces libpcap lists.
        available: Vec<String>,
    },
    /// The BPF filter does not compile.
    #[error("filter {expr:?} does not compile: {message}")]
    Filter {
        /// The expression.
        expr: String,
        /// libpcap's message.
        message: String,
    },
    /// The output file could not be created or written.
    #[error("cannot write {path}: {message}")]
    Write {
        /// The path.
        path: String,
        /// libpcap's message.
        message: String,
    },
    /// Any other libpcap failure.
    #[error("capture on {interface} failed: {message}")]
    Capture {
        /// The interface.
        interface: String,
        /// libpcap's message.
        message: String,
    },
}

/// libpcap's counters, plus what was read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct LiveStats {
    /// Packets read and fed to the analysis.
    pub captured: u64,
    /// Packets the kernel received (libpcap's `ps_recv`).
    pub received: u32,
    /// Packets dropped because the buffer was full (`ps_drop`).
    pub dropped: u32,
    /// Packets dropped by the interface or its driver (`ps_ifdrop`).
    pub if_dropped: u32,
}

impl LiveStats {
    /// Whether libpcap reports any loss.
    pub fn lost_any(&self) -> bool {
        self.dropped > 0 || self.if_dropped > 0
    }

    /// The warning to print when packets were lost, if any were.
    pub fn warning(&self) -> Option<String> {
        self.lost_any().then(|| {
            format!(
                "WARNING: {} packets dropped by the kernel buffer and {} by the interface: \
                 each looks exactly like a capture gap, so verdicts near them are unreliable \
                 (narrow the filter or capture less at once)",
                self.dropped, self.if_dropped
            )
        })
    }
}

/// What a finished live capture holds.
#[derive(Debug)]
pub struct LiveSummary {
    /// The same summary a file gives.
    pub capture: CaptureSummary,
    /// libpcap's counters.
    pub stats: LiveStats,
    /// The link type of the interface.
    pub link: LinkType,
}

/// An open capture handle, ready to [`run`](LiveCapture::run).
pub struct LiveCapture {
    cap: pcap::Capture<pcap::Active>,
    savefile: Option<pcap::Savefile>,
    config: LiveConfig,
}

fn classify(interface: &str, e: pcap::Error) -> LiveError {
    let message = e.to_string();
    let lower = message.to_lowercase();
    if lower.contains("permission")
        || lower.contains("not permitted")
        || lower.contains("eperm")
        || lower.contains("privilege")
    {
        LiveError::Permission {
            interface: interface.to_string(),
            message,
        }
    } else if lower.contains("no such device")
        || lower.contains("doesn't exist")
        || lower.contains("does not exist")
        || lower.contains("no such interface")
    {
        let available = pcap::Device::list()
            .map(|l| l.into_iter().map(|d| d.name).collect())
            .unwrap_or_default();
        LiveError::NoSuchInterface {
            interface: interface.to_string(),
            message,
            available,
        }
    } else {
        LiveError::Capture {
            interface: interface.to_string(),
            message,
        }
    }
}

impl LiveCapture {
    /// Opens the interface and installs the filter; packets are buffered
    /// by the kernel from here on.
    pub fn open(config: &LiveConfig) -> Result<LiveCapture, LiveError> {
        let iface = config.interface.as_str();
        let mut cap = pcap::Capture::from_device(iface)
            .map_err(|e| classify(iface, e))?
            .immediate_mode(true)
            .buffer_size(DEFAULT_BUFFER)
            .snaplen(SNAPLEN)
            .timeout(READ_TIMEOUT_MS)
            .open()
            .and_then(pcap::Capture::setnonblock)
            .map_err(|e| classify(iface, e))?;
        if let Some(expr) = &config.filter {
            cap.filter(expr, true).map_err(|e| LiveError::Filter {
                expr: expr.clone(),
                message: e.to_string(),
            })?;
        }
        let savefile = match &config.write {
            Some(path) => Some(cap.savefile(path).map_err(|e| write_error(path, e))?),
            None => None,
        };
        Ok(LiveCapture {
            cap,
            savefile,
            config: config.clone(),
        })
    }

    /// The interface's link type.
    pub fn link(&self) -> LinkType {
        LinkType(u32::try_from(self.cap.get_datalink().0).unwrap_or(u32::MAX))
    }

    /// Reads packets into `tracker` until `stop` is set, the duration has
    /// passed or the count is reached; then flushes the written file and
    /// reads libpcap's counters.
    pub fn run<K: Sink>(
        mut self,
        stop: &AtomicBool,
        tracker: &mut Tracker<K>,
    ) -> Result<LiveSummary, LiveError> {
        let link = self.link();
        let started = Instant::now();
        let mut summary = LiveSummary {
            capture: CaptureSummary::default(),
            stats: LiveStats::default(),
            link,
        };
        loop {
            if stop.load(Ordering::Relaxed)
                || self.config.duration.is_some_and(|d| started.elapsed() >= d)
                || self
                    .config
                    .count
                    .is_some_and(|n| summary.stats.captured >= n)
            {
                break;
            }
            let packet = match self.cap.next_packet() {
                Ok(p) => p,
                Err(pcap::Error::TimeoutExpired) => {
                    std::thread::sleep(IDLE_SLEEP);
                    continue;
                }
                Err(e) => return Err(classify(&self.config.interface, e)),
            };
            summary.stats.captured += 1;
            summary.capture.records += 1;
            let len = packet.header.len;
            summary.capture.bytes += u64::from(packet.header.caplen);
            if let Some(s) = &mut self.savefile {
                s.write(&packet);
            }
            let rec = Record {
                number: summary.stats.captured,
                offset: 0,
                data_offset: 0,
                ts: Timestamp::from_parts(
                    packet.header.ts.tv_sec as i64,
                    (packet.header.ts.tv_usec as i64).saturating_mul(1000),
                ),
                link,
                interface: 0,
                data: packet.data,
                orig_len: len,
            };
            // The kernel already applied the filter.
            pipeline::feed(&rec, None, tracker, &mut summary.capture).map_err(|e| {
                LiveError::Filter {
                    expr: e.expr,
                    message: e.message,
                }
            })?;
        }
        if let (Some(s), Some(path)) = (&mut self.savefile, &self.config.write) {
            s.flush().map_err(|e| write_error(path, e))?;
        }
        let st = self
            .cap
            .stats()
            .map_err(|e| classify(&self.config.interface, e))?;
        summary.stats.received = st.received;
        summary.stats.dropped = st.dropped;
        summary.stats.if_dropped = st.if_dropped;
        Ok(summary)
    }
}

fn write_error(path: &Path, e: pcap::Error) -> LiveError {
    LiveError::Write {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_filter_covers_both_protocols() {
        assert_eq!(port_filter(6379), "tcp port 6379 or udp port 6379");
    }

    #[test]
    fn loss_gives_a_warning() {
        let mut s = LiveStats::default();
        assert!(s.warning().is_none());
        s.dropped = 3;
        let w = s.warning().unwrap_or_default();
        assert!(w.contains("3 packets dropped"), "{w}");
    }

    #[test]
    fn permission_errors_name_the_fix() {
        let e = classify(
            "lo",
            pcap::Error::PcapError("socket: Operation not permitted".into()),
        );
        assert!(matches!(e, LiveError::Permission { .. }));
        assert!(e
            .to_string()
            .contains("setcap cap_net_raw,cap_net_admin=eip"));
    }
}
