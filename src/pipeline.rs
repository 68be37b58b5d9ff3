//! The read loop: records from a capture, through the BPF filter and the
//! dissector, into a [`Tracker`].
//!
//! This module owns what the whole capture says about itself
//! ([`CaptureSummary`]): records read, records skipped and why, records that
//! could not be dissected (with the first few reasons and their record
//! numbers), and the damage that stopped reading, if any. Reading stops at
//! damage, but everything read before it is still followed and reported.
//!
//! [`run_parallel`] spreads the work over threads: one reader, N workers.
//!
//! ```text
//!  reader: read, filter, dissect, number        worker k of N: its flows
//!  record --> stream number, direction -------> batch --> Tracker (given
//!             owner: hash of the flow % N                 numbers) -> sink
//! ```
//!
//! The reader numbers every stream with a tracker that follows none, so
//! the numbers are those of the whole capture, then copies each record
//! into the batch of the worker that owns its flow (fragments, whose flow
//! is known only once rebuilt, go to every worker). Workers dissect their
//! records again (cheap) and follow them with the numbers given. Memory
//! stays bounded: [`QUEUE`] batches of [`BATCH`] bytes per worker wait at
//! most.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::mpsc::{channel, sync_channel, Receiver, SyncSender};
use std::thread;

use crate::capture::filter::{Filter, FilterError};
use crate::capture::mapped::Mapped;
use crate::capture::{CaptureError, CaptureReader, LinkType, Record, Timestamp};
use crate::dissect::{dissect, Dissected, Transport};
use crate::flow::reassembly::Event;
use crate::flow::{Dir, Proto, Shard, Sink, StreamInfo, StreamStats, Tracker, TrackerStats};
use crate::icmp::QuotedProto;

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
    /// A worker thread could not be started, or stopped by a panic.
    #[error("worker thread: {0}")]
    Thread(String),
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

/// Counts a record with nothing to follow, or that could not be dissected.
fn not_followed(summary: &mut CaptureSummary, number: u64, d: &Dissected<'_>) {
    match d {
        Dissected::Skipped(why) => *summary.skipped.entry(why.to_string()).or_default() += 1,
        Dissected::Malformed(e) => {
            summary.malformed += 1;
            if summary.malformed_examples.len() < MAX_EXAMPLES {
                summary
                    .malformed_examples
                    .push(format!("record {number}: {e}"));
            }
        }
        Dissected::Packet(_) | Dissected::Fragment(_) | Dissected::IcmpError(_) => {}
    }
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
    let d = dissect(rec.link, rec.data, rec.orig_len);
    follow(&d, rec.number, rec.ts, tracker);
    not_followed(summary, rec.number, &d);
    Ok(())
}

/// Feeds a dissected record to `tracker`, if it has something to follow.
fn follow<K: Sink>(d: &Dissected<'_>, number: u64, ts: Timestamp, tracker: &mut Tracker<K>) {
    match d {
        Dissected::Packet(p) => tracker.packet(p, number, ts),
        Dissected::Fragment(f) => tracker.fragment(f, number, ts),
        Dissected::IcmpError(e) => tracker.icmp_error(e, number, ts),
        Dissected::Skipped(_) | Dissected::Malformed(_) => {}
    }
}

/// Bytes of records in one batch handed to a worker, about.
pub const BATCH: usize = 256 << 10;
/// Batches waiting for one worker, at most.
pub const QUEUE: usize = 4;

/// One record copied for a worker.
struct Copied {
    number: u64,
    ts: Timestamp,
    link: LinkType,
    orig_len: u32,
    /// Where its bytes are in [`Batch::data`].
    start: usize,
    end: usize,
    /// Or where they are in the file, and how many.
    at: Option<(u64, usize)>,
    /// The stream number and direction the reader gave it.
    given: Option<(u64, Dir)>,
}

/// Records for one worker.
#[derive(Default)]
struct Batch {
    data: Vec<u8>,
    records: Vec<Copied>,
}

impl Batch {
    /// Adds `rec`, its bytes copied unless the worker maps the file itself
    /// (`by_offset`: they are then found at [`Record::data_offset`]).
    fn push(&mut self, rec: &Record<'_>, given: Option<(u64, Dir)>, by_offset: bool) {
        let start = self.data.len();
        if by_offset {
            self.records.push(Copied {
                number: rec.number,
                ts: rec.ts,
                link: rec.link,
                orig_len: rec.orig_len,
                start: 0,
                end: 0,
                at: Some((rec.data_offset, rec.data.len())),
                given,
            });
            return;
        }
        self.data.extend_from_slice(rec.data);
        self.records.push(Copied {
            number: rec.number,
            ts: rec.ts,
            link: rec.link,
            orig_len: rec.orig_len,
            start,
            end: self.data.len(),
            at: None,
            given,
        });
    }
}

/// A sink that follows nothing: the reader's tracker only numbers.
struct Numbering;

impl Sink for Numbering {
    type Stream = ();
    fn open(&mut self, _info: &StreamInfo) {}
    fn event(&mut self, _st: &mut (), _dir: Dir, _event: Event<'_>) {}
    fn close(&mut self, _st: (), _info: &StreamInfo, _stats: &StreamStats) {}
}

/// [`run_observed`] with one reader and a worker thread per shard of
/// `shards` (they must split the flows among them: index `k` of the same
/// count, as `--jobs` makes them). Each worker builds its tracker with
/// `make`, follows the flows of its shard, and hands the finished sink and
/// its counters to `done`, whose results come back in shard order with
/// the summary and the whole capture's counters (numbering, packets,
/// fragments and ICMP errors from the reader; evictions, late packets and
/// peaks summed over the workers).
pub fn run_parallel<K: Sink, R: Send>(
    path: &Path,
    filter: Option<&str>,
    shards: &[Shard],
    limits: crate::flow::FlowLimits,
    make: &(dyn Fn() -> Tracker<K> + Sync),
    done: &(dyn Fn(K, TrackerStats) -> R + Sync),
    observe: &mut dyn FnMut(Progress),
) -> Result<(CaptureSummary, TrackerStats, Vec<R>), InputError> {
    let mut filter = filter.map(Filter::new).transpose()?;
    let mut reader = CaptureReader::open(path).map_err(|source| InputError::Open {
        path: path.display().to_string(),
        source,
    })?;
    let count = shards.first().map_or(1, |s| s.count);
    // The worker of each shard index: flows of other indexes (another
    // process's --shard) are followed by nobody.
    let owner_of = |proto: Proto, a: SocketAddr, b: SocketAddr| {
        let index = Shard::index_of(proto, a, b, count);
        shards.iter().position(|s| s.index == index)
    };
    // A mapped file is mapped by each worker too: the reader reads only
    // the headers and hands over offsets, and each worker's own records
    // come into its own cache. Otherwise the reader copies the records.
    let mut maps: Vec<Option<Mapped>> = Vec::new();
    if reader.is_mapped() {
        for _ in shards {
            match std::fs::File::open(path).map(Mapped::new) {
                Ok(Ok(m)) => maps.push(Some(m)),
                _ => break,
            }
        }
    }
    let by_offset = maps.len() == shards.len();
    if by_offset {
        reader.headers_only();
    } else {
        maps = shards.iter().map(|_| None).collect();
    }
    let mut numbering = Tracker::new(Numbering, limits).with_shard(Shard::NOBODY);
    let mut summary = CaptureSummary::default();
    let finished = thread::scope(|scope| {
        let mut senders: Vec<SyncSender<Batch>> = Vec::new();
        // Emptied batches come back, so their memory is reused, not
        // allocated (and zeroed by the kernel) again.
        let mut spares: Vec<Receiver<Batch>> = Vec::new();
        let mut handles = Vec::new();
        for (&shard, mut mapped) in shards.iter().zip(maps) {
            let (tx, rx) = sync_channel::<Batch>(QUEUE);
            let (spare_tx, spare_rx) = channel::<Batch>();
            senders.push(tx);
            spares.push(spare_rx);
            let worker = thread::Builder::new().name(format!("worker-{}", senders.len()));
            let spawned = worker.spawn_scoped(scope, move || {
                let mut tracker = make().with_shard(shard);
                for batch in rx {
                    for c in &batch.records {
                        let bytes = match (c.at, &mut mapped) {
                            // A file cut since the reader read it: what is
                            // left reads as a malformed record.
                            (Some((at, len)), Some(m)) => m.slice(at, len).unwrap_or(&[]),
                            (Some(_), None) => &[],
                            (None, _) => &batch.data[c.start..c.end],
                        };
                        let d = dissect(c.link, bytes, c.orig_len);
                        if let Some((number, dir)) = c.given {
                            tracker.give_number(number, dir);
                        }
                        follow(&d, c.number, c.ts, &mut tracker);
                        tracker.take_numbered();
                    }
                    let mut batch = batch;
                    batch.data.clear();
                    batch.records.clear();
                    let _ = spare_tx.send(batch);
                }
                let (sink, stats) = tracker.finish();
                (done(sink, stats), stats)
            });
            match spawned {
                Ok(handle) => handles.push(handle),
                Err(e) => return Err(InputError::Thread(format!("cannot start: {e}"))),
            }
        }
        let mut batches: Vec<Batch> = (0..senders.len()).map(|_| Batch::default()).collect();
        let send = |k: usize, batches: &mut Vec<Batch>| {
            let next = spares[k].try_recv().unwrap_or_else(|_| Batch {
                data: Vec::with_capacity(BATCH + 64 * 1024),
                records: Vec::with_capacity(BATCH / 64),
            });
            let full = std::mem::replace(&mut batches[k], next);
            // A worker gone (it panicked) shows at the join.
            let _ = senders[k].send(full);
        };
        loop {
            let rec = match reader.next_record() {
                Ok(Some(rec)) => rec,
                Ok(None) => break,
                Err(e) => {
                    summary.error = Some(e.to_string());
                    break;
                }
            };
            summary.records += 1;
            if let Some(f) = filter.as_mut() {
                match f.matches(rec.link, rec.data) {
                    Ok(true) => {}
                    Ok(false) => {
                        summary.filtered_out += 1;
                        continue;
                    }
                    Err(e) => return Err(InputError::Filter(e)),
                }
            }
            let d = dissect(rec.link, rec.data, rec.orig_len);
            follow(&d, rec.number, rec.ts, &mut numbering);
            not_followed(&mut summary, rec.number, &d);
            let given = numbering.take_numbered();
            let to = match &d {
                Dissected::Packet(p) => {
                    let (proto, sp, dp) = match &p.transport {
                        Transport::Tcp(t) => (Proto::Tcp, t.src_port, t.dst_port),
                        Transport::Udp(u) => (Proto::Udp, u.src_port, u.dst_port),
                    };
                    owner_of(
                        proto,
                        SocketAddr::new(p.src, sp),
                        SocketAddr::new(p.dst, dp),
                    )
                }
                Dissected::IcmpError(e) => {
                    let proto = match e.proto {
                        QuotedProto::Tcp => Proto::Tcp,
                        QuotedProto::Udp => Proto::Udp,
                    };
                    owner_of(proto, e.src, e.dst)
                }
                Dissected::Fragment(_) => {
                    for k in 0..batches.len() {
                        batches[k].push(&rec, given.map(|(_, n, dir)| (n, dir)), by_offset);
                        if batches[k].data.len() >= BATCH {
                            send(k, &mut batches);
                        }
                    }
                    None
                }
                Dissected::Skipped(_) | Dissected::Malformed(_) => None,
            };
            if let Some(k) = to {
                batches[k].push(&rec, given.map(|(_, n, dir)| (n, dir)), by_offset);
                if batches[k].data.len() >= BATCH || batches[k].records.len() >= BATCH / 16 {
                    send(k, &mut batches);
                }
            }
            if summary.records % PROGRESS_EVERY == 0 {
                observe(Progress {
                    records: summary.records,
                    bytes: reader.bytes_read(),
                    open_streams: 0,
                });
            }
        }
        for k in 0..batches.len() {
            send(k, &mut batches);
        }
        drop(senders);
        let mut finished = Vec::new();
        let mut panicked = false;
        for h in handles {
            match h.join() {
                Ok(done) => finished.push(done),
                Err(_) => panicked = true,
            }
        }
        if panicked {
            // Its flows' results are lost: an error, not a partial report.
            return Err(InputError::Thread("a worker thread panicked".into()));
        }
        Ok(finished)
    })?;
    summary.bytes = reader.bytes_read();
    let (_, mut stats) = numbering.finish();
    (stats.evicted, stats.late_packets, stats.first_late_record) = (0, 0, None);
    (stats.peak_open, stats.peak_buffered) = (0, 0);
    let mut results = Vec::with_capacity(finished.len());
    for (r, w) in finished {
        results.push(r);
        stats.evicted += w.evicted;
        stats.late_packets += w.late_packets;
        stats.first_late_record = match (stats.first_late_record, w.first_late_record) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        stats.peak_open += w.peak_open;
        stats.peak_buffered += w.peak_buffered;
    }
    Ok((summary, stats, results))
}
