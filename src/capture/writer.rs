//! Writing capture files: a classic pcap file with nanosecond timestamps,
//! record by record, for captures made by framescope itself (the proxy's
//! `--write`).
//!
//! This module owns the file layout written (a 24-byte file header, then a
//! 16-byte header before each record). It does not build packets: callers
//! hand it whole link-layer frames.
//!
//! ```text
//! a1b23c4d  2.4  0 0  snaplen  link      file header (magic: nanosecond pcap)
//! secs nanos caplen len | frame bytes    one per record
//! ```

use std::io::{self, Write};

use super::{LinkType, Timestamp};

/// The snapshot length the header declares: whole loopback frames fit.
pub const SNAPLEN: u32 = 262_144;

/// A pcap file being written.
pub struct PcapWriter<W: Write> {
    out: W,
    records: u64,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header for frames of link type `link`.
    pub fn new(mut out: W, link: LinkType) -> io::Result<Self> {
        let mut head = Vec::with_capacity(24);
        head.extend_from_slice(&0xa1b2_3c4du32.to_le_bytes());
        head.extend_from_slice(&2u16.to_le_bytes());
        head.extend_from_slice(&4u16.to_le_bytes());
        for v in [0u32, 0, SNAPLEN, link.0] {
            head.extend_from_slice(&v.to_le_bytes());
        }
        out.write_all(&head)?;
        Ok(PcapWriter { out, records: 0 })
    }

    /// Appends one record holding `frame`, captured at `ts`. Frames longer
    /// than [`SNAPLEN`] are refused, not cut.
    pub fn record(&mut self, ts: Timestamp, frame: &[u8]) -> io::Result<()> {
        let len = u32::try_from(frame.len())
            .ok()
            .filter(|&l| l <= SNAPLEN)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "a frame of {} bytes exceeds the snapshot length {SNAPLEN}",
                        frame.len()
                    ),
                )
            })?;
        let secs = u32::try_from(ts.0.div_euclid(1_000_000_000)).unwrap_or(0);
        let nanos = ts.0.rem_euclid(1_000_000_000) as u32;
        let mut head = [0u8; 16];
        for (i, v) in [secs, nanos, len, len].into_iter().enumerate() {
            head[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
        }
        self.out.write_all(&head)?;
        self.out.write_all(frame)?;
        self.records += 1;
        Ok(())
    }

    /// Records written so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Flushes and returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::CaptureReader;

    #[test]
    fn written_records_read_back() {
        let path = std::env::temp_dir().join(format!("fs-writer-{}.pcap", std::process::id()));
        let file = std::fs::File::create(&path).unwrap();
        let mut w = PcapWriter::new(io::BufWriter::new(file), LinkType::ETHERNET).unwrap();
        w.record(Timestamp(1_700_000_000_123_456_789), b"abc")
            .unwrap();
        w.record(Timestamp(1_700_000_001_000_000_001), &[7u8; 100])
            .unwrap();
        assert!(w
            .record(Timestamp(0), &vec![0u8; SNAPLEN as usize + 1])
            .is_err());
        assert_eq!(w.records(), 2);
        w.finish().unwrap();
        let mut r = CaptureReader::open(&path).unwrap();
        let a = r.next_record().unwrap().unwrap();
        assert_eq!(
            (a.ts, a.data, a.link),
            (
                Timestamp(1_700_000_000_123_456_789),
                &b"abc"[..],
                LinkType::ETHERNET
            )
        );
        let b = r.next_record().unwrap().unwrap();
        assert_eq!((b.ts.0, b.data.len()), (1_700_000_001_000_000_001, 100));
        assert!(r.next_record().unwrap().is_none());
        let _ = std::fs::remove_file(&path);
    }
}
