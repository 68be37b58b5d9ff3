//! Reading a capture file through a sliding memory map.
//!
//! Records are lent straight out of the page cache: no copy into a buffer,
//! on any thread. The file is mapped a window at a time ([`WINDOW`] bytes,
//! more when one record needs more), and the window is replaced, not grown,
//! when the reader reaches its end, so the pages a read maps into the
//! process stay within one window whatever the file's size: peak memory
//! does not grow with the capture.
//!
//! ```text
//!  file:    |....... window k .......|
//!                          |....... window k+1 .......|
//!                          ^ the first byte not yet read, rounded down
//!                            to the mapping granularity
//! ```
//!
//! Each new window is mapped from the file's length at that moment, so a
//! capture still being written is read up to where it has got.
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
//! Only regular files are mapped; setting `FRAMESCOPE_NO_MMAP` in the
//! environment makes [`super::CaptureReader::open`] read every file by
//! copying instead, for captures that may be truncated while they are
//! analysed.

use std::fs::File;
use std::io;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread;

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
    file: File,
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
    /// The thread that maps the next window while this one is read, once
    /// the file is seen to be longer than a window.
    ahead: Option<Ahead>,
    /// The file's length when a window was last mapped.
    file_len: u64,
    /// Whether to map windows ahead on a thread of their own
    /// ([`Mapped::map_ahead`]).
    map_ahead: bool,
    /// Windows read that were mapped ahead.
    taken_ahead: u64,
}

/// A thread that maps the window after the current one ahead of the
/// reader, and unmaps the windows the reader is done with: the kernel's
/// work of mapping and unmapping (a tenth to a seventh of reading a
/// capture of small records, and most of reading one of large records)
/// is then done beside the reading instead of in its way.
struct Ahead {
    jobs: Sender<Job>,
    ready: Receiver<io::Result<(Option<Window>, u64)>>,
    /// Whether a window was asked for and not taken yet.
    asked: bool,
}

enum Job {
    /// Map up to `len` bytes from `base`.
    Map { base: u64, len: usize },
    /// Unmap this window (unless another clone of it is held).
    Unmap(Window),
}

impl Ahead {
    fn start(file: &File) -> Option<Ahead> {
        let file = file.try_clone().ok()?;
        let (jobs, todo) = channel::<Job>();
        let (done, ready) = channel();
        thread::Builder::new()
            .name("map-ahead".into())
            .spawn(move || {
                for job in todo {
                    match job {
                        Job::Map { base, len } => {
                            if done.send(map_window(&file, base, len)).is_err() {
                                break;
                            }
                        }
                        Job::Unmap(window) => drop(window),
                    }
                }
            })
            .ok()?;
        Some(Ahead {
            jobs,
            ready,
            asked: false,
        })
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
    /// The file, to be read through a map, when it is a regular file with
    /// bytes in it and mapping is not turned off; otherwise the file back.
    pub fn new(file: File) -> Result<Self, File> {
        let mappable = std::env::var_os(NO_MMAP_ENV).is_none()
            && file.metadata().is_ok_and(|m| m.is_file() && m.len() > 0);
        if mappable {
            Ok(Mapped {
                file,
                window: WINDOW,
                map: None,
                touched: 0,
                stride: LINE,
                sizes: Sizes::default(),
                ahead: None,
                file_len: 0,
                map_ahead: spare_core(1),
                taken_ahead: 0,
            })
        } else {
            Err(file)
        }
    }

    /// A file mapped [`GRANULE`] bytes at a time, so that small files
    /// cross many windows (tests).
    #[cfg(test)]
    pub fn small_windows(file: File) -> Self {
        Mapped {
            file,
            window: GRANULE as usize,
            map: None,
            touched: 0,
            stride: LINE,
            sizes: Sizes::default(),
            ahead: None,
            file_len: 0,
            map_ahead: true,
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
        // The old window goes first: its pages leave the process before
        // the new ones come in (unless another thread still holds it).
        if let Some(old) = self.map.take() {
            self.unmap(old);
        }
        self.touched = 0;
        if let Some((window, file_len)) = self.mapped_ahead()? {
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

    /// The window asked for ahead, when one was: waits for it.
    fn mapped_ahead(&mut self) -> io::Result<Option<(Window, u64)>> {
        let Some(ahead) = self.ahead.as_mut().filter(|a| a.asked) else {
            return Ok(None);
        };
        ahead.asked = false;
        match ahead.ready.recv() {
            Ok(Ok((Some(window), file_len))) => Ok(Some((window, file_len))),
            Ok(Ok((None, _))) => Ok(None),
            Ok(Err(e)) => Err(e),
            // The thread is gone: map here from now on.
            Err(_) => {
                self.ahead = None;
                Ok(None)
            }
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
        if end >= self.file_len || !self.map_ahead {
            return;
        }
        if self.ahead.is_none() {
            self.ahead = Ahead::start(&self.file);
        }
        let Some(ahead) = self.ahead.as_mut() else {
            return;
        };
        let back = OVERLAP.min(self.window as u64 / 2);
        let from = end.saturating_sub(back).max(current.base + 1);
        let base = from - from % GRANULE;
        let base = if base <= current.base {
            from.next_multiple_of(GRANULE)
        } else {
            base
        };
        let len = self.window + (end - base) as usize;
        if ahead.jobs.send(Job::Map { base, len }).is_ok() {
            ahead.asked = true;
        } else {
            self.ahead = None;
        }
    }

    /// Lets `window` go: on the thread that maps ahead, if there is one,
    /// so that unmapping its pages is not in the reader's way.
    fn unmap(&mut self, window: Window) {
        match &self.ahead {
            Some(ahead) => {
                if let Err(e) = ahead.jobs.send(Job::Unmap(window)) {
                    drop(e);
                }
            }
            None => drop(window),
        }
    }

    /// Windows read so far that were mapped ahead.
    pub fn taken_ahead(&self) -> u64 {
        self.taken_ahead
    }

    /// Whether the next window is mapped ahead, on a thread of its own
    /// ([`Ahead`]), while the current one is read. On by default when the
    /// machine has a core more than the one reading; a caller that keeps
    /// the other cores busy turns it off ([`spare_core`]).
    pub fn map_ahead(&mut self, on: bool) {
        self.map_ahead = on;
    }

    /// Tells the map that only the records' headers will be read (other
    /// threads read their bytes out of its [`Window`]s): windows of [`HEADERS_WINDOW`]
    /// bytes, and [`Mapped::touch_ahead`] touches one byte per page, which
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
        let mut sum = 0u8;
        for b in bytes[from..to].iter().step_by(self.stride) {
            sum ^= b;
        }
        std::hint::black_box(sum);
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
    // (module documentation; FRAMESCOPE_NO_MMAP turns mapping off).
    unsafe {
        MmapOptions::new()
            .offset(base)
            .len(len)
            .populate()
            .map(file)
    }
}

/// Whether the machine has more cores than `busy` threads keep busy, so
/// that mapping ahead on a thread of its own runs beside them, not in
/// their way (measured with `--jobs 2` on 2 cores: 5-25% slower with it).
pub fn spare_core(busy: usize) -> bool {
    thread::available_parallelism().is_ok_and(|n| n.get() > busy)
}

/// Loads one byte of each cache line of `bytes` (a record about to be
/// parsed): the loads are independent of each other, so they are in
/// flight together, where the parser's would wait one for another.
#[inline]
pub fn touch(bytes: &[u8]) {
    let mut sum = 0u8;
    for b in bytes.iter().step_by(LINE) {
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
}
