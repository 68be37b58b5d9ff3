//! Reading a capture file through a sliding memory map.
//!
//! Records are lent straight out of the page cache: no copy into a buffer,
//! on any thread. The file is mapped a window at a time ([`WINDOW`] bytes,
//! more when one record needs more), and the window is replaced, not grown,
//! when the reader reaches its end, so the pages a read maps into the
//! process stay within two windows (the one read and the next, mapped
//! ahead) whatever the file's size: peak memory does not grow with the
//! capture.
//!
//! ```text
//!  file:    |....... window k .......|
//!                          |....... window k+1 .......|
//!                          ^ up to OVERLAP before window k's end, rounded
//!                            down to the mapping granularity
//! ```
//!
//! The next window is mapped while the current one is read
//! ([`MapAhead`]): on a thread of its own when the machine has a core to
//! spare, else by a worker thread with nothing else to do, and by the
//! reader itself when nobody has started on it by the time it gets there.
//! A window mapped ahead is read when it holds the record the reader is
//! at; otherwise (a record longer than the overlap, a file that grew since)
//! the reader maps one from that record, from the file's length at that
//! moment, so a capture still being written is read up to where it has
//! got.
//!
//! A window can be shared ([`Mapped::window`], a [`Window`]): other threads
//! read records out of it while the reader goes on, and it is unmapped
//! when the last of them lets it go. The file is then mapped once, by the
//! reader, however many threads read it.
//!
//! # The one hazard
//! A mapped file that another process truncates while it is read makes
//! the pages past the new end unreadable, and touching them kills the
//! process with SIGBUS (a copying reader would see a short file instead).
//! Only regular files are mapped, and only where mapping is the faster
//! way ([`super::way`]); setting `FRAMESCOPE_READ=copy` (or
//! `FRAMESCOPE_NO_MMAP`) in the environment makes
//! [`super::CaptureReader::open`] read every file by copying instead, for
//! captures that may be truncated while they are analysed.

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use memmap2::{Advice, Mmap, MmapOptions};

/// Bytes mapped at once, at least.
pub const WINDOW: usize = 2 << 20;

/// Bytes mapped at once by a reader of records' headers only
/// ([`Mapped::headers_only`]): other threads read the records' bytes out
/// of its windows ([`Window`]) while it maps the next ones, so a few of
/// them are mapped at once, and they are smaller.
pub const HEADERS_WINDOW: usize = 1 << 20;

/// Window offsets are multiples of this: the largest page size of the
/// platforms Linux runs on (64 KiB), so the offset is valid everywhere.
const GRANULE: u64 = 64 << 10;

/// The environment variable that turns mapping off.
pub const NO_MMAP_ENV: &str = "FRAMESCOPE_NO_MMAP";

/// A window of a mapped file, shared: it stays mapped while any clone of
/// it is held, and is unmapped when the last one is dropped.
#[derive(Clone)]
pub struct Window {
    map: Arc<Mmap>,
    /// The file offset of the window's first byte.
    base: u64,
}

impl Window {
    /// The bytes of the window.
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// The `len` bytes at file offset `offset`, or those of them within
    /// the window (none when it does not hold `offset`).
    #[inline]
    pub fn at(&self, offset: u64, len: usize) -> &[u8] {
        let bytes = self.bytes();
        let from = offset
            .checked_sub(self.base)
            .and_then(|from| usize::try_from(from).ok())
            .filter(|&from| from <= bytes.len());
        match from {
            Some(from) => &bytes[from..from.saturating_add(len).min(bytes.len())],
            None => &[],
        }
    }

    /// Whether `other` is this same window.
    #[inline]
    pub fn same(&self, other: &Window) -> bool {
        Arc::ptr_eq(&self.map, &other.map)
    }
}

/// A file read through a window of it mapped into memory.
pub struct Mapped {
    file: Arc<File>,
    /// Bytes mapped at once, at least ([`WINDOW`]; smaller in tests).
    window: usize,
    map: Option<Window>,
    /// The window's bytes before this index have been touched.
    touched: usize,
    /// Bytes between two touches of [`Mapped::touch_ahead`]: a cache line,
    /// or a page when only headers are read.
    stride: usize,
    /// The sizes of the records read so far.
    sizes: Sizes,
    /// How the next window is mapped ahead of the reader.
    ahead: MapAhead,
    /// With [`MapAhead::Thread`], once started: its jobs.
    thread: Option<Helper>,
    /// The next window, asked for.
    pending: Option<Arc<MapJob>>,
    /// With [`MapAhead::HandedOut`]: the job not handed out yet.
    handout: Option<Arc<MapJob>>,
    /// The file's length when a window was last mapped.
    file_len: u64,
    /// Windows read that were mapped ahead.
    taken_ahead: u64,
}

/// How the window after the current one is mapped while the current one
/// is read. Mapping a window's pages and unmapping them is the kernel's
/// work, a tenth to a seventh of reading a capture of small records and
/// most of reading one of large records: done beside the reading, it is
/// not in its way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapAhead {
    /// Not ahead: the reader maps each window when it gets there.
    Off,
    /// On a thread of its own, which also unmaps the windows the reader is
    /// done with.
    Thread,
    /// By whoever takes the job ([`Mapped::take_job`], then
    /// [`MapJob::run`]): a thread with nothing else to do. When nobody has
    /// started on it by the time the reader needs it, the reader maps the
    /// window itself.
    HandedOut,
}

/// A window to map ahead of the reader, by whoever starts on it first: a
/// thread that maps ahead ([`MapJob::run`]), or the reader itself.
pub struct MapJob {
    file: Arc<File>,
    base: u64,
    len: usize,
    state: Mutex<JobState>,
    done: Condvar,
}

enum JobState {
    Waiting,
    Running,
    Done(io::Result<(Option<Window>, u64)>),
    /// Taken back by the reader, or its result taken.
    Over,
}

impl MapJob {
    fn new(file: Arc<File>, base: u64, len: usize) -> Self {
        MapJob {
            file,
            base,
            len,
            state: Mutex::new(JobState::Waiting),
            done: Condvar::new(),
        }
    }

    /// Maps the window, unless the reader has taken the job back or
    /// another thread is on it.
    pub fn run(&self) {
        {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if !matches!(*state, JobState::Waiting) {
                return;
            }
            *state = JobState::Running;
        }
        let mapped = map_window(&self.file, self.base, self.len);
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        *state = JobState::Done(mapped);
        self.done.notify_all();
    }

    /// The reader's side: the window, waiting for it while it is being
    /// mapped; `None` when nobody started on it (nobody will now).
    fn take(&self) -> Option<io::Result<(Option<Window>, u64)>> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            match std::mem::replace(&mut *state, JobState::Over) {
                JobState::Running => {
                    *state = JobState::Running;
                    state = self.done.wait(state).unwrap_or_else(|e| e.into_inner());
                }
                JobState::Done(mapped) => return Some(mapped),
                JobState::Waiting | JobState::Over => return None,
            }
        }
    }
}

/// What the thread that maps ahead does.
enum Job {
    Map(Arc<MapJob>),
    /// Unmap this window (unless another clone of it is held).
    Unmap(Window),
}

/// The thread of [`MapAhead::Thread`].
struct Helper {
    jobs: Sender<Job>,
    /// Windows sent to it to unmap that it has not unmapped yet.
    unmapping: Arc<AtomicUsize>,
}

/// Windows waiting for the helper thread to unmap them, at most: when it
/// falls behind (its core busy with something else), the reader unmaps
/// them itself, so no more windows are mapped at once than the one read,
/// the next and one of these.
const UNMAPPING: usize = 1;

impl Helper {
    fn start() -> Option<Helper> {
        let (jobs, todo) = channel::<Job>();
        let unmapping = Arc::new(AtomicUsize::new(0));
        let done = Arc::clone(&unmapping);
        thread::Builder::new()
            .name("map-ahead".into())
            .spawn(move || {
                for job in todo {
                    match job {
                        Job::Map(job) => job.run(),
                        Job::Unmap(window) => {
                            drop(window);
                            done.fetch_sub(1, Ordering::Release);
                        }
                    }
                }
            })
            .ok()?;
        Some(Helper { jobs, unmapping })
    }
}

/// Maps up to `len` bytes of `file` from `base`, or as many as it has:
/// the window and the file's length (no window past the end).
fn map_window(file: &File, base: u64, len: usize) -> io::Result<(Option<Window>, u64)> {
    let file_len = file.metadata()?.len();
    let len = file_len.saturating_sub(base).min(len as u64) as usize;
    if len == 0 {
        return Ok((None, file_len));
    }
    let map = map_range(file, base, len)?;
    // Read once, front to back: the kernel reads ahead and may drop pages
    // behind.
    let _ = map.advise(Advice::Sequential);
    fault_in(&map);
    let window = Window {
        map: Arc::new(map),
        base,
    };
    Ok((Some(window), file_len))
}

/// Bytes before the end of the current window where the window mapped
/// ahead starts, at most: a record that starts there and does not fit in
/// the current window is read from the next one.
const OVERLAP: u64 = 256 << 10;

/// How far ahead of the reader [`Mapped::touch_ahead`] keeps the window
/// touched.
pub const AHEAD: usize = 256 << 10;
/// How much [`Mapped::touch_ahead`] touches at a time.
pub const TOUCH: usize = 64 << 10;
/// Records of this many bytes or more, on average, are touched for their
/// first [`HEAD`] bytes only: their headers, where a parser that skips
/// what it does not read (the payload of a long message) starts.
pub const LARGE: usize = 16 << 10;
/// Bytes of a record touched when records are [`LARGE`].
pub const HEAD: usize = 4 << 10;
/// Bytes between two touches: a cache line.
const LINE: usize = 64;
/// Bytes between two touches of a reader of headers only: a page.
const PAGE: usize = 4096;

impl Mapped {
    /// `file`, a regular file, to be read through a map (whether it is
    /// the way to read it is [`super::way`]'s to say).
    pub fn new(file: File) -> Self {
        let ahead = if spare_core(1) {
            MapAhead::Thread
        } else {
            MapAhead::Off
        };
        Mapped::with(file, WINDOW, ahead)
    }

    /// A file mapped [`GRANULE`] bytes at a time, so that small files
    /// cross many windows (tests).
    #[cfg(test)]
    pub fn small_windows(file: File) -> Self {
        Mapped::with(file, GRANULE as usize, MapAhead::Thread)
    }

    fn with(file: File, window: usize, ahead: MapAhead) -> Self {
        Mapped {
            file: Arc::new(file),
            window,
            map: None,
            touched: 0,
            stride: LINE,
            sizes: Sizes::default(),
            ahead,
            thread: None,
            pending: None,
            handout: None,
            file_len: 0,
            taken_ahead: 0,
        }
    }

    /// The bytes of the current window.
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        self.map.as_ref().map_or(&[], Window::bytes)
    }

    /// The current window, to share: reading on maps new windows, and this
    /// one stays mapped while the clone is held.
    #[inline]
    pub fn window(&self) -> Option<&Window> {
        self.map.as_ref()
    }

    /// Maps a window that starts at or before `offset` and holds `want`
    /// bytes from it, or as many as the file has. Returns where `offset`
    /// is within the window ([`Mapped::bytes`]); past the file's end, the
    /// window is empty and the answer 0.
    pub fn window_at(&mut self, offset: u64, want: usize) -> io::Result<usize> {
        // The old window goes first (to the thread that maps ahead, if
        // any, to be unmapped there), unless another thread still holds it.
        if let Some(old) = self.map.take() {
            self.unmap(old);
        }
        self.touched = 0;
        if let Some((window, file_len)) = self.mapped_ahead() {
            self.file_len = self.file_len.max(file_len);
            let end = window.base + window.bytes().len() as u64;
            if window.base <= offset && offset.saturating_add(want as u64) <= end {
                let skip = (offset - window.base) as usize;
                self.map = Some(window);
                self.taken_ahead += 1;
                self.ask_ahead();
                return Ok(skip);
            }
            self.unmap(window);
        }
        let base = offset - offset % GRANULE;
        let skip = (offset - base) as usize;
        let (window, file_len) = map_window(&self.file, base, skip + want.max(self.window))?;
        self.file_len = file_len;
        match window {
            Some(window) if window.bytes().len() > skip => {
                self.map = Some(window);
                self.ask_ahead();
                Ok(skip)
            }
            _ => Ok(0),
        }
    }

    /// The window asked for ahead, when one was and somebody mapped it
    /// (waiting for it while it is being mapped). A mapping ahead that
    /// failed is not the reader's error: it maps the window itself, and
    /// reports what that meets.
    fn mapped_ahead(&mut self) -> Option<(Window, u64)> {
        self.handout = None;
        match self.pending.take()?.take()? {
            Ok((Some(window), file_len)) => Some((window, file_len)),
            Ok((None, _)) | Err(_) => None,
        }
    }

    /// Asks for the window after the current one, when the file was longer
    /// than it at the last look: it starts up to [`OVERLAP`] bytes before
    /// the current one's end and holds a whole window past it.
    fn ask_ahead(&mut self) {
        let Some(current) = &self.map else {
            return;
        };
        let end = current.base + current.bytes().len() as u64;
        if end >= self.file_len || self.ahead == MapAhead::Off {
            return;
        }
        let back = OVERLAP.min(self.window as u64 / 2);
        let from = end.saturating_sub(back).max(current.base + 1);
        let base = from - from % GRANULE;
        let base = if base <= current.base {
            from.next_multiple_of(GRANULE)
        } else {
            base
        };
        // Windows are at least a granule long, so the next one starts
        // within this one; were it not to, nothing is asked for (its
        // length would not be a window's).
        if base >= end {
            return;
        }
        let len = self.window + (end - base) as usize;
        let job = Arc::new(MapJob::new(Arc::clone(&self.file), base, len));
        match self.ahead {
            MapAhead::Thread => {
                if self.thread.is_none() {
                    self.thread = Helper::start();
                }
                let sent = self
                    .thread
                    .as_ref()
                    .is_some_and(|t| t.jobs.send(Job::Map(Arc::clone(&job))).is_ok());
                if !sent {
                    // No thread: map here from now on.
                    self.thread = None;
                    self.ahead = MapAhead::Off;
                    return;
                }
            }
            MapAhead::HandedOut => self.handout = Some(Arc::clone(&job)),
            MapAhead::Off => return,
        }
        self.pending = Some(job);
    }

    /// With [`MapAhead::HandedOut`]: the next window to map, once, for a
    /// thread with nothing else to do to [`MapJob::run`].
    pub fn take_job(&mut self) -> Option<Arc<MapJob>> {
        self.handout.take()
    }

    /// Lets `window` go: on the thread that maps ahead, if there is one
    /// and it has unmapped the last window it was sent, so that unmapping
    /// its pages is not in the reader's way; here otherwise.
    fn unmap(&mut self, window: Window) {
        match &self.thread {
            Some(helper) if helper.unmapping.load(Ordering::Acquire) < UNMAPPING => {
                helper.unmapping.fetch_add(1, Ordering::AcqRel);
                if let Err(e) = helper.jobs.send(Job::Unmap(window)) {
                    helper.unmapping.fetch_sub(1, Ordering::AcqRel);
                    drop(e);
                }
            }
            _ => drop(window),
        }
    }

    /// Windows read so far that were mapped ahead.
    pub fn taken_ahead(&self) -> u64 {
        self.taken_ahead
    }

    /// How the next window is mapped ahead of the reader. By default on a
    /// thread of its own when the machine has a core more than the one
    /// reading ([`spare_core`]), else not ahead.
    pub fn map_ahead(&mut self, how: MapAhead) {
        self.ahead = how;
        if how != MapAhead::Thread {
            self.thread = None;
        }
    }

    /// Tells the map that only the records' headers will be read (other
    /// threads read their bytes out of its [`Window`]s): windows of
    /// [`HEADERS_WINDOW`] bytes, and [`Mapped::touch_ahead`] touches one byte per page, which
    /// brings the page's translation and first line in ahead of the reader
    /// without loading every line (measured: 2-5% faster `--jobs 2` on
    /// many and bulk than no touch, where every line cost 10-18%).
    pub fn headers_only(&mut self) {
        self.stride = PAGE;
        self.window = HEADERS_WINDOW;
    }

    /// Reads one byte per cache line of the window up to [`AHEAD`] bytes
    /// past `at`, [`TOUCH`] bytes at a time; when the records read so far
    /// are [`LARGE`] ([`Sizes`]; `last` is the size of the one just read),
    /// only the first [`HEAD`] bytes from `at`, the next record's headers.
    ///
    /// A parser follows length fields, so each of its loads waits for the
    /// one before, and in a mapped file each new cache line comes from
    /// memory: the parse runs at memory latency. These loads are
    /// independent of each other, so the processor has many of them in
    /// flight at once, and by the time the parser gets there its lines are
    /// in the cache. Of large records, most bytes are often not read at all
    /// (a length decoder skips a long message's payload), and loading them
    /// would cost more than the parser's own loads of what it does read
    /// (measured on the bulk capture: 0.058 s touching every line, 0.032 s
    /// touching the heads).
    #[inline]
    pub fn touch_ahead(&mut self, at: usize, last: usize) {
        let bytes = self.map.as_ref().map_or(&[][..], Window::bytes);
        let to = if self.sizes.add(last) {
            (at + HEAD).min(bytes.len())
        } else {
            if self.touched > at + AHEAD {
                return;
            }
            (self.touched.max(at) + TOUCH).min(bytes.len())
        };
        let from = self.touched.max(at);
        if from >= to {
            return;
        }
        load_every(&bytes[from..to], self.stride);
        self.touched = to;
    }
}

#[allow(unsafe_code)]
fn map_range(file: &File, base: u64, len: usize) -> io::Result<Mmap> {
    // SAFETY: the map is private and read-only, `len` bytes from `base`
    // were within the file a moment ago, and the slices lent out of it
    // borrow the reader or a clone of the [`Window`], whose `Arc` keeps
    // the mapping, so none outlives it. What a mapping
    // cannot rule out is another process changing the file while it is
    // read: bytes that change under a reader are checked like any
    // other (every length and offset is validated before use, so they
    // read as a malformed record), and a truncation raises SIGBUS
    // (module documentation; FRAMESCOPE_READ=copy turns mapping off).
    unsafe { MmapOptions::new().offset(base).len(len).map(file) }
}

/// The bytes the kernel maps at once on a page fault in a file mapping
/// (its `fault_around_bytes`, 64 KiB unless changed in debugfs).
const FAULT_AROUND: usize = 64 << 10;

/// Maps `map`'s pages in by loading one byte of every [`FAULT_AROUND`]
/// bytes: each load's fault maps that many bytes of pages at once, which
/// costs the kernel less than `MAP_POPULATE` mapping them one at a time
/// (the 287 MB redis capture in 2 MiB windows, mapped and unmapped: 20.6
/// against 28.4 ms; one job, `FRAMESCOPE_READ=map`: many 0.047 to
/// 0.037 s, bulk 0.034 to 0.024, the other three the same). Had
/// the kernel been set to map fewer, the reader's own loads fault in the
/// rest.
fn fault_in(map: &[u8]) {
    load_every(map, FAULT_AROUND);
}

/// How long mapping the first `len` bytes of `file`, reading a byte of
/// each cache line and unmapping them takes ([`super::way::Way::probe`]).
pub fn time_map(file: &File, len: usize) -> io::Result<Duration> {
    let started = Instant::now();
    let map = map_range(file, 0, len)?;
    fault_in(&map);
    touch(&map);
    drop(map);
    Ok(started.elapsed())
}

/// Whether the machine has more cores than `busy` threads keep busy, so
/// that mapping ahead on a thread of its own runs beside them, not in
/// their way (measured with `--jobs 2` on 2 cores: 2-22% slower on many,
/// redis and redis-mix with a third thread, the same on bulk and
/// many-small; [`MapAhead::HandedOut`] gives the jobs to the workers).
pub fn spare_core(busy: usize) -> bool {
    thread::available_parallelism().is_ok_and(|n| n.get() > busy)
}

/// Loads one byte of each cache line of `bytes` (a record about to be
/// parsed): the loads are independent of each other, so they are in
/// flight together, where the parser's would wait one for another.
#[inline]
pub fn touch(bytes: &[u8]) {
    load_every(bytes, LINE);
}

/// Loads one byte of every `stride` bytes of `bytes`, for its side
/// effects only (the page mapped, the line in the cache).
#[inline]
fn load_every(bytes: &[u8], stride: usize) {
    let mut sum = 0u8;
    for b in bytes.iter().step_by(stride) {
        sum ^= b;
    }
    std::hint::black_box(sum);
}

/// The sizes of the records a reader reads, as a running average (each
/// record weighs an eighth): whether they are [`LARGE`], so that only
/// their heads are worth touching ahead.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sizes {
    average: usize,
}

impl Sizes {
    /// Counts a record of `len` bytes; says whether records are now
    /// [`LARGE`].
    #[inline]
    pub fn add(&mut self, len: usize) -> bool {
        self.average = (self.average.saturating_mul(7)).saturating_add(len) / 8;
        self.average >= LARGE
    }

    /// Counts `record` and touches it ([`touch`]): all of it, or its first
    /// [`HEAD`] bytes when records are [`LARGE`].
    #[inline]
    pub fn touch(&mut self, record: &[u8]) {
        if self.add(record.len()) {
            touch(&record[..HEAD.min(record.len())]);
        } else {
            touch(record);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A file of `len` bytes, byte `i` being `i % 251`, mapped.
    fn mapped(name: &str, len: usize) -> (Mapped, std::path::PathBuf) {
        let path =
            std::env::temp_dir().join(format!("framescope-mapped-{name}-{}", std::process::id()));
        let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        std::fs::File::create(&path)
            .and_then(|mut f| f.write_all(&bytes))
            .expect("written");
        let file = File::open(&path).expect("opened");
        (Mapped::small_windows(file), path)
    }

    #[test]
    fn a_shared_window_outlives_the_readers_next_one() {
        let granule = GRANULE as usize;
        let (mut m, path) = mapped("shared", 3 * granule + 100);
        // The first window, then one from the third granule on.
        assert_eq!(m.window_at(10, 10).expect("mapped"), 10);
        let first = m.window().expect("a window").clone();
        let at = m.window_at(2 * granule as u64 + 5, 10).expect("mapped");
        assert_eq!(at, 5);
        let second = m.window().expect("a window");
        assert!(!first.same(second));
        assert!(first.same(&first.clone()));
        // The first is still readable, by file offset.
        assert_eq!(first.at(10, 3), &[10, 11, 12]);
        let byte = |i: usize| (i % 251) as u8;
        assert_eq!(
            second.at(2 * granule as u64 + 5, 2),
            &[byte(2 * granule + 5), byte(2 * granule + 6)]
        );
        // Offsets outside a window give what it holds of them: nothing
        // before it, the part up to its end past it.
        assert_eq!(second.at(3, 4), &[] as &[u8]);
        let end = 2 * granule as u64 + second.bytes().len() as u64;
        assert_eq!(second.at(end - 2, 10).len(), 2);
        assert_eq!(second.at(end + 1, 10), &[] as &[u8]);
        assert_eq!(first.at(u64::MAX, usize::MAX), &[] as &[u8]);
        drop(m);
        assert_eq!(first.at(granule as u64 - 1, 1), &[byte(granule - 1)]);
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn records_are_large_when_their_running_average_is() {
        let mut sizes = Sizes::default();
        // Small records, then large ones: the average crosses LARGE after a
        // few, not at the first.
        assert!(!(0..100).any(|_| sizes.add(100)));
        let crossed = (1..=20).find(|_| sizes.add(64 << 10)).expect("crosses");
        assert!((2..=4).contains(&crossed), "{crossed}");
        // One small record among large ones (an ACK) does not switch back.
        assert!(sizes.add(66));
        // Many do.
        assert!((0..30).any(|_| !sizes.add(66)));
        // No overflow at the extremes.
        let mut huge = Sizes::default();
        assert!((0..4).any(|_| huge.add(usize::MAX)));
        assert!(huge.add(0));
    }

    #[test]
    fn a_map_job_is_mapped_once_by_whoever_starts_first() {
        let granule = GRANULE as usize;
        let (m, path) = mapped("job", 3 * granule);
        let job = |base: u64| MapJob::new(Arc::clone(&m.file), base, granule);
        // Run first: the reader takes the window, once.
        let first = job(GRANULE);
        first.run();
        let (window, file_len) = first.take().expect("run").expect("mapped");
        let window = window.expect("within the file");
        assert_eq!((window.base, window.bytes().len()), (GRANULE, granule));
        assert_eq!(file_len, 3 * GRANULE);
        assert!(first.take().is_none());
        // Taken back before anyone ran it: running it later maps nothing.
        let second = job(0);
        assert!(second.take().is_none());
        second.run();
        assert!(second.take().is_none());
        // Past the end: no window, and the file's length.
        let past = job(4 * GRANULE);
        past.run();
        let (none, len) = past.take().expect("run").expect("no error");
        assert!(none.is_none());
        assert_eq!(len, 3 * GRANULE);
        let _ = std::fs::remove_file(path);
    }
}
