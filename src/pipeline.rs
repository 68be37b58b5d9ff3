//! The read loop: records from a capture, through the BPF filter and the
//! dissector, into a [`Tracker`].
//!
//! This module owns what the whole capture says about itself
//! ([`CaptureSummary`]): records read, records skipped and why, records that
//! could not be dissected (with the first few reasons and their record
//! numbers), and the damage that stopped reading, if any. Reading stops at
//! damage, but everything read before it is still followed and reported.
//!
//! [`run_parallel`] spreads the work over N threads, one of which reads;
//! [`jobs_for`] says how many a machine's cores make worth running.
//!
//! ```text
//!  reader: read, filter, dissect, number, follow its own share of the flows
//!  record --> stream number, direction --> batch --> thread k: Tracker
//!             owner: a range of the flow hash            (given numbers) -> sink
//! ```
//!
//! The reader's tracker numbers every stream, so the numbers are those of
//! the whole capture, and follows the flows whose hash falls in its share;
//! every other record goes into the batch of the thread that owns its flow
//! (fragments, whose flow is known only once rebuilt, go to every thread):
//! as its offset in the file when the file is mapped, the batch keeping the
//! reader's window of the file mapped ([`crate::capture::mapped::Window`]),
//! so the file is mapped once however many threads read it; copied
//! otherwise. Without a core to spare, the reader's next window is mapped
//! by a worker with nothing else to do
//! ([`crate::capture::mapped::MapAhead::HandedOut`]). The reader's share
//! is a quarter of the flows with two threads ([`WORKER_SHARE`]): reading
//! and numbering are its work too. The other threads dissect their records
//! again (cheap) and follow them with the numbers given. Memory stays
//! bounded: [`QUEUE`] batches per thread wait at most, each of [`BATCH`]
//! bytes of copied records, or of [`MAPPED_BATCH`] bytes of records in at
//! most [`MAPPED_WINDOWS`] of the reader's windows.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::mpsc::{channel, sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread;

use crate::capture::filter::{Filter, FilterError};
use crate::capture::mapped::{spare_core, MapAhead, MapJob, Sizes, Window};
use crate::capture::scan::ChunkScan;
use crate::capture::{CaptureError, CaptureReader, LinkType, Record, Timestamp};
use crate::dissect::{dissect, Dissected, Transport};
use crate::flow::{Dir, Proto, Shard, Sink, Tracker, TrackerStats};
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
    // A sink with work for the read-ahead thread has the file copied.
    let opened = if tracker.sink().scan_ahead().is_some() {
        CaptureReader::open_for_scan(path)
    } else {
        CaptureReader::open(path)
    };
    let mut reader = opened.map_err(|source| InputError::Open {
        path: path.display().to_string(),
        source,
    })?;
    read(&mut reader, filter.as_mut(), tracker, observe)
}

/// The loop of [`run_observed`] over a capture already opened: any
/// [`Read`] source, such as a capture held in memory.
pub fn read<R: Read, K: Sink>(
    reader: &mut CaptureReader<R>,
    filter: Option<&mut Filter>,
    tracker: &mut Tracker<K>,
    observe: &mut dyn FnMut(Progress),
) -> Result<CaptureSummary, InputError> {
    let mut summary = CaptureSummary::default();
    // The work the read-ahead thread can do for the sink, if any.
    let scanning = match tracker.sink().scan_ahead() {
        Some(scan) => reader.scan_ahead(scan),
        None => false,
    };
    let failed = if scanning {
        records::<true, R, K>(reader, filter, tracker, observe, &mut summary)
    } else {
        records::<false, R, K>(reader, filter, tracker, observe, &mut summary)
    };
    if scanning {
        // The chunks' buffers go with the reader: what was found in them
        // must not outlive them.
        tracker.sink_mut().scanned(ChunkScan::Nothing);
    }
    failed?;
    summary.bytes = reader.bytes_read();
    Ok(summary)
}

/// [`read`]'s loop over the records, handing the sink what the read-ahead
/// thread found when `SCANNED` (a loop of its own, as the other needs
/// none of it).
fn records<const SCANNED: bool, R: Read, K: Sink>(
    reader: &mut CaptureReader<R>,
    mut filter: Option<&mut Filter>,
    tracker: &mut Tracker<K>,
    observe: &mut dyn FnMut(Progress),
    summary: &mut CaptureSummary,
) -> Result<(), FilterError> {
    loop {
        let next = if SCANNED {
            reader.next_scanned()
        } else {
            reader.next_record().map(|r| r.map(|rec| (rec, None)))
        };
        match next {
            Ok(Some((rec, found))) => {
                if let Some(found) = found {
                    tracker.sink_mut().scanned(found);
                }
                summary.records += 1;
                feed(&rec, filter.as_deref_mut(), tracker, summary)?;
                if summary.records.is_multiple_of(PROGRESS_EVERY) {
                    observe(Progress {
                        records: summary.records,
                        bytes: reader.bytes_read(),
                        open_streams: tracker.open_streams(),
                    });
                }
            }
            Ok(None) => return Ok(()),
            Err(e) => {
                summary.error = Some(e.to_string());
                return Ok(());
            }
        }
    }
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
/// Bytes of records in one batch of offsets into a mapped file, about:
/// the batches waiting keep the windows their records are in mapped, so
/// with [`QUEUE`] of them per thread a few MiB of the file stay mapped
/// behind the reader (measured with two threads: the same speed as 4 MiB
/// batches, and 3.7-4.6 MiB less memory for the table).
pub const MAPPED_BATCH: usize = 512 << 10;
/// Mapped windows the records of one batch are in, at most: the batches
/// waiting keep their windows mapped, so a thread that follows few flows
/// gets batches of few records rather than keeping much of the file
/// mapped.
pub const MAPPED_WINDOWS: usize = 2;
/// Batches waiting for one worker, at most.
pub const QUEUE: usize = 4;

/// One record handed to a worker.
struct Handed {
    number: u64,
    ts: Timestamp,
    link: LinkType,
    orig_len: u32,
    /// Where its bytes are.
    bytes: Held,
    /// The stream number and direction the reader gave it.
    given: Option<(u64, Dir)>,
}

/// What the reader hands a worker.
enum ToWorker {
    /// Records to follow.
    Batch(Batch),
    /// The reader's next window, to map if nobody has yet.
    Map(Arc<MapJob>),
}

/// Where the bytes of a record handed to a worker are.
enum Held {
    /// Copied, at these indices of [`Batch::data`].
    Copied { start: usize, end: usize },
    /// In the file, at `offset`, in [`Batch::windows`]`[window]`.
    Mapped {
        window: usize,
        offset: u64,
        len: usize,
    },
}

/// Records for one worker.
#[derive(Default)]
struct Batch {
    data: Vec<u8>,
    records: Vec<Handed>,
    /// The mapped windows its records are in, in file order: the batch
    /// keeps them mapped.
    windows: Vec<Window>,
    /// Bytes of the records, copied or not.
    bytes: usize,
}

impl Batch {
    /// Whether the batch is to be sent: [`BATCH`] bytes of records copied,
    /// [`MAPPED_BATCH`] bytes of records in the map or records in
    /// [`MAPPED_WINDOWS`] of its windows, or as many records as [`BATCH`]
    /// bytes of 16-byte ones.
    fn full(&self) -> bool {
        let most = if self.windows.is_empty() {
            BATCH
        } else {
            MAPPED_BATCH
        };
        self.bytes >= most
            || self.records.len() >= BATCH / 16
            || self.windows.len() >= MAPPED_WINDOWS
    }

    /// Adds `rec`: its bytes copied, or, when the reader lent them out of
    /// a mapped `window`, that window kept.
    fn push(&mut self, rec: &Record<'_>, given: Option<(u64, Dir)>, window: Option<&Window>) {
        self.bytes += rec.data.len();
        let bytes = match window {
            Some(window) => {
                if !self.windows.last().is_some_and(|w| w.same(window)) {
                    self.windows.push(window.clone());
                }
                Held::Mapped {
                    window: self.windows.len() - 1,
                    offset: rec.data_offset,
                    len: rec.data.len(),
                }
            }
            None => {
                let start = self.data.len();
                self.data.extend_from_slice(rec.data);
                Held::Copied {
                    start,
                    end: self.data.len(),
                }
            }
        };
        self.records.push(Handed {
            number: rec.number,
            ts: rec.ts,
            link: rec.link,
            orig_len: rec.orig_len,
            bytes,
            given,
        });
    }

    /// The bytes of `c`, one of its records; those in the map are touched
    /// first ([`Sizes::touch`]), so their lines come in together, not one
    /// load at a time as the dissector follows the headers.
    fn bytes_of(&self, c: &Handed, sizes: &mut Sizes) -> &[u8] {
        match c.bytes {
            Held::Copied { start, end } => &self.data[start..end],
            Held::Mapped {
                window,
                offset,
                len,
            } => {
                let bytes = self.windows[window].at(offset, len);
                sizes.touch(bytes);
                bytes
            }
        }
    }

    fn clear(&mut self) {
        self.data.clear();
        self.records.clear();
        // The windows are let go: the last holder unmaps each.
        self.windows.clear();
        self.bytes = 0;
    }
}

/// Gives the reader's next window to map to the first worker from
/// `next` on with room in its queue; when none has, the reader maps it
/// itself when it gets there.
fn hand_out(job: Arc<MapJob>, workers: &[SyncSender<ToWorker>], next: &mut usize) {
    let mut job = ToWorker::Map(job);
    for _ in 0..workers.len() {
        *next = (*next + 1) % workers.len();
        match workers[*next].try_send(job) {
            Ok(()) => return,
            Err(TrySendError::Full(back) | TrySendError::Disconnected(back)) => job = back,
        }
    }
}

/// The share of the flows a worker thread follows, in units of the
/// reader's: the reader also reads, numbers and hands out every record, so
/// it follows fewer flows than each worker (a quarter of them with two
/// threads).
pub const WORKER_SHARE: u64 = 3;

/// The environment variable that lets [`jobs_for`] give every thread
/// asked for, cores or not (to measure the threads' speed-up on a small
/// machine).
pub const JOBS_UNCAPPED_ENV: &str = "FRAMESCOPE_JOBS_UNCAPPED";

/// How many threads of analysis to run when `asked` are asked for: at most
/// one less than the machine's cores, since one job already keeps two busy
/// (the reader, and the thread that maps or copies the file ahead of it),
/// and more threads than cores are slower, not faster. Measured on 2 cores,
/// `--jobs 2` against one job, 5 interleaved rounds: 4-48% slower on many,
/// bulk and many-small, the same on redis, 4% faster on redis-mix. Setting
/// [`JOBS_UNCAPPED_ENV`] gives `asked`.
pub fn jobs_for(asked: usize) -> usize {
    jobs_given(
        asked,
        cores(),
        std::env::var_os(JOBS_UNCAPPED_ENV).is_some(),
    )
}

/// The cores this process may run on (1 when that cannot be found out).
pub fn cores() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get())
}

/// [`jobs_for`] on a machine of `cores` cores.
pub fn jobs_given(asked: usize, cores: usize, uncapped: bool) -> usize {
    if uncapped {
        asked.max(1)
    } else {
        asked.min(cores.saturating_sub(1)).max(1)
    }
}

/// [`run_observed`] on `jobs` threads (at least 2; [`jobs_for`] says how
/// many pay on this machine), following the flows of
/// the `user` shard. The calling thread reads, numbers every stream, and
/// follows a share of the flows; each other thread follows a share
/// [`WORKER_SHARE`] times as large (the shares are ranges of the flows'
/// hash, [`Shard::index_of`]). Each thread builds its tracker with `make`
/// and hands the finished sink and its counters to `done`, whose results
/// come back in thread order with the summary and the whole capture's
/// counters (numbering, packets, fragments and ICMP errors from the
/// reader; evictions, late packets and peaks summed over all).
pub fn run_parallel<K: Sink, R: Send>(
    path: &Path,
    filter: Option<&str>,
    user: Shard,
    jobs: usize,
    make: &(dyn Fn() -> Tracker<K> + Sync),
    done: &(dyn Fn(K, TrackerStats) -> R + Sync),
    observe: &mut dyn FnMut(Progress),
) -> Result<(CaptureSummary, TrackerStats, Vec<R>), InputError> {
    let mut filter = filter.map(Filter::new).transpose()?;
    let mut reader = CaptureReader::open(path).map_err(|source| InputError::Open {
        path: path.display().to_string(),
        source,
    })?;
    // Each shard of the user's is cut in `per_user` finer ones: the first
    // is the reader's, then WORKER_SHARE for each other thread.
    let workers = jobs.max(2) as u64 - 1;
    let per_user = 1 + WORKER_SHARE * workers;
    let count = user.count.checked_mul(per_user).ok_or_else(|| {
        InputError::Thread(format!(
            "{jobs} threads cannot share shard {} of {}",
            user.index + 1,
            user.count
        ))
    })?;
    let base = user.index * per_user;
    // The thread that follows a flow, if any follows it here (flows of
    // other shards of the user's are another process's).
    let owner_of = |proto: Proto, a: SocketAddr, b: SocketAddr| {
        let at = Shard::index_of(proto, a, b, count).checked_sub(base)?;
        match at {
            0 => Some(0),
            at if at < per_user => Some(1 + ((at - 1) / WORKER_SHARE) as usize),
            _ => None,
        }
    };
    let first = Shard { index: base, count };
    let others: Vec<Shard> = (0..workers)
        .map(|k| Shard {
            index: base + 1 + k * WORKER_SHARE,
            count,
        })
        .collect();
    // A mapped file is mapped once, by the reader: the records of other
    // threads stay in its windows, which their batches keep mapped, and
    // the reader itself reads only their headers.
    let by_offset = reader.is_mapped();
    if by_offset {
        reader.headers_only();
        // The threads keep `jobs` cores busy: without a core to spare, the
        // workers map the reader's next window when they have nothing else
        // to do.
        reader.map_ahead(if spare_core(jobs) {
            MapAhead::Thread
        } else {
            MapAhead::HandedOut
        });
    }
    // The reader's tracker numbers every stream and follows the first
    // shard's.
    let mut own = make().with_shard(first);
    let mut summary = CaptureSummary::default();
    // The sizes of the records the reader follows itself.
    let mut own_sizes = Sizes::default();
    let finished = thread::scope(|scope| {
        let mut senders: Vec<SyncSender<ToWorker>> = Vec::new();
        // Emptied batches come back, so their memory is reused, not
        // allocated (and zeroed by the kernel) again.
        let mut spares: Vec<Receiver<Batch>> = Vec::new();
        let mut handles = Vec::new();
        for &shard in &others {
            let (tx, rx) = sync_channel::<ToWorker>(QUEUE);
            let (spare_tx, spare_rx) = channel::<Batch>();
            senders.push(tx);
            spares.push(spare_rx);
            let worker = thread::Builder::new().name(format!("worker-{}", senders.len()));
            let spawned = worker.spawn_scoped(scope, move || {
                let mut tracker = make().with_shards(shard, WORKER_SHARE);
                let mut sizes = Sizes::default();
                for message in rx {
                    let mut batch = match message {
                        ToWorker::Batch(batch) => batch,
                        ToWorker::Map(job) => {
                            job.run();
                            continue;
                        }
                    };
                    for c in &batch.records {
                        let d = dissect(c.link, batch.bytes_of(c, &mut sizes), c.orig_len);
                        if let Some((number, dir)) = c.given {
                            tracker.give_number(number, dir);
                        }
                        follow(&d, c.number, c.ts, &mut tracker);
                        tracker.take_numbered();
                    }
                    batch.clear();
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
                data: Vec::with_capacity(if by_offset { 0 } else { BATCH + 64 * 1024 }),
                records: Vec::with_capacity(BATCH / 64),
                windows: Vec::new(),
                bytes: 0,
            });
            let full = std::mem::replace(&mut batches[k], next);
            // A worker gone (it panicked) shows at the join.
            let _ = senders[k].send(ToWorker::Batch(full));
        };
        let mut next_worker = 0;
        loop {
            if let Some(job) = reader.take_map_job() {
                hand_out(job, &senders, &mut next_worker);
            }
            let (rec, window) = match reader.next_shared() {
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
            // Which shard's: `Some(0)` is the reader's own, `None` nobody's
            // here (another process's --shard, or a fragment, which every
            // thread rebuilds for itself).
            let owner = match &d {
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
                Dissected::Fragment(_) | Dissected::Skipped(_) | Dissected::Malformed(_) => None,
            };
            if by_offset && owner == Some(0) {
                // Read headers only, the reader brings in its own records'
                // bytes before following them.
                own_sizes.touch(rec.data);
            }
            follow(&d, rec.number, rec.ts, &mut own);
            not_followed(&mut summary, rec.number, &d);
            let given = own.take_numbered().map(|(_, n, dir)| (n, dir));
            match (&d, owner) {
                (Dissected::Fragment(_), _) => {
                    for k in 0..batches.len() {
                        batches[k].push(&rec, given, window);
                        if batches[k].full() {
                            send(k, &mut batches);
                        }
                    }
                }
                (_, Some(owner)) if owner > 0 => {
                    let k = owner - 1;
                    batches[k].push(&rec, given, window);
                    if batches[k].full() {
                        send(k, &mut batches);
                    }
                }
                _ => {}
            }
            if summary.records % PROGRESS_EVERY == 0 {
                observe(Progress {
                    records: summary.records,
                    bytes: reader.bytes_read(),
                    open_streams: own.open_streams(),
                });
            }
        }
        for k in 0..batches.len() {
            send(k, &mut batches);
        }
        drop(senders);
        let (sink, stats) = own.finish();
        let mut finished = vec![(done(sink, stats), stats)];
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
    let mut results = Vec::with_capacity(finished.len());
    let mut stats = finished[0].1;
    for (k, (r, w)) in finished.into_iter().enumerate() {
        results.push(r);
        if k == 0 {
            continue;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_leave_a_core_for_reading_ahead_unless_uncapped() {
        assert_eq!(jobs_given(2, 2, false), 1);
        assert_eq!(jobs_given(4, 2, false), 1);
        assert_eq!(jobs_given(2, 3, false), 2);
        assert_eq!(jobs_given(8, 4, false), 3);
        assert_eq!(jobs_given(1, 16, false), 1);
        assert_eq!(jobs_given(3, 1, false), 1);
        assert_eq!(jobs_given(0, 0, false), 1);
        assert_eq!(jobs_given(4, 2, true), 4);
        assert_eq!(jobs_given(0, 2, true), 1);
    }
}
