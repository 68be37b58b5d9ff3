//! The read loop: records from a capture, through the BPF filter and the
//! dissector, into a [`Tracker`].
//!
//! This module owns what the whole capture says about itself
//! ([`CaptureSummary`]): records read, records skipped and why, records that
//! could not be dissected (with the first few reasons and their record
//! numbers), and the damage that stopped reading, if any. Reading stops at
//! damage, but everything read before it is still followed and reported.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use crate::capture::filter::{Filter, FilterError};
use crate::capture::{CaptureError, CaptureReader, Record};
use crate::dissect::{dissect, Dissected};
use crate::flow::{Sink, Tracker};

/// How many malformed-record messages a summary keeps verbatim.
pub const MAX_EXAMPLES: usize = 10;

/// What the capture as a whole held.
#[derive(Debug, Default, serde::Serialize)]
pub struct CaptureSummary {
    /// Records read.
    pub records: u64,
    /// Bytes of the file read.
    pub bytes: u64,
    /// Records the filter rejected.
    pub filtered_out: u64,
    /// Records with nothing to follow, by reason (`not IP`, `IP protocol 1`).
    pub skipped: BTreeMap<String, u64>,
    /// Records that could not be dissected.
    pub malformed: u64,
    /// The first few of those: `record N: reason`.
    pub malformed_examples: Vec<String>,
    /// The damage that stopped reading, if any.
    pub error: Option<String>,
}

/// Why a capture could not be analysed at all.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The file could not be opened or its header is bad.
    #[error("{path}: {source}")]
    Open {
        /// The path.
        path: String,
        /// The reader's error.
        source: CaptureError,
    },
    /// The filter does not compile.
    #[error(transparent)]
    Filter(#[from] FilterError),
}

/// Reads `path` (or `-`), applies `filter`, and feeds `tracker`.
pub fn run<K: Sink>(
    path: &Path,
    filter: Option<&str>,
    tracker: &mut Tracker<K>,
) -> Result<CaptureSummary, InputError> {
    run_observed(path, filter, tracker, &mut |_| {})
}

/// How far a read has come, for progress displays.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// Records read.
    pub records: u64,
    /// Bytes of the file read.
    pub bytes: u64,
    /// Streams open now.
    pub open_streams: usize,
}

/// Records between two calls of the progress observer.
pub const PROGRESS_EVERY: u64 = 1 << 14;

/// [`run`], calling `observe` every [`PROGRESS_EVERY`] records.
pub fn run_observed<K: Sink>(
    path: &Path,
    filter: Option<&str>,
    tracker: &mut Tracker<K>,
    observe: &mut dyn FnMut(Progress),
) -> Result<CaptureSummary, InputError> {
    let mut filter = filter.map(Filter::new).transpose()?;
    let mut reader = CaptureReader::open(path).map_err(|source| InputError::Open {
        path: path.display().to_string(),
        source,
    })?;
    read(&mut reader, filter.as_mut(), tracker, observe)
}

/// The loop of [`run_observed`] over a capture already opened: any
/// [`Read`] source, such as a capture held in memory.
pub fn read<R: Read, K: Sink>(
    reader: &mut CaptureReader<R>,
    mut filter: Option<&mut Filter>,
    tracker: &mut Tracker<K>,
    observe: &mut dyn FnMut(Progress),
) -> Result<CaptureSummary, InputError> {
    let mut summary = CaptureSummary::default();
    loop {
        match reader.next_record() {
            Ok(Some(rec)) => {
                summary.records += 1;
                feed(&rec, filter.as_deref_mut(), tracker, &mut summary)?;
                if summary.records % PROGRESS_EVERY == 0 {
                    observe(Progress {
                        records: summary.records,
                        bytes: reader.bytes_read(),
                        open_streams: tracker.open_streams(),
                    });
                }
            }
            Ok(None) => break,
            Err(e) => {
                summary.error = Some(e.to_string());
                break;
            }
        }
    }
    summary.bytes = reader.bytes_read();
    Ok(summary)
}

/// Feeds one record: filter, dissect, track.
pub fn feed<K: Sink>(
    rec: &Record<'_>,
    filter: Option<&mut Filter>,
    tracker: &mut Tracker<K>,
    summary: &mut CaptureSummary,
) -> Result<(), FilterError> {
    if let Some(f) = filter {
        if !f.matches(rec.link, rec.data)? {
            summary.filtered_out += 1;
            return Ok(());
        }
    }
    match dissect(rec.link, rec.data, rec.orig_len) {
        Dissected::Packet(p) => tracker.packet(&p, rec.number, rec.ts),
        Dissected::Fragment(f) => tracker.fragment(&f, rec.number, rec.ts),
        Dissected::IcmpError(e) => tracker.icmp_error(&e, rec.number, rec.ts),
        Dissected::Skipped(why) => *summary.skipped.entry(why.to_string()).or_default() += 1,
        Dissected::Malformed(e) => {
            summary.malformed += 1;
            if summary.malformed_examples.len() < MAX_EXAMPLES {
                summary
                    .malformed_examples
                    .push(format!("record {}: {e}", rec.number));
            }
        }
    }
    Ok(())
}
