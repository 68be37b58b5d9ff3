//! Reading a capture ahead of its analysis, on a thread of its own.
//!
//! Copying a file from the page cache into the reader's buffer is the
//! kernel's work, and on captures of small messages it is a fifth of the
//! time the analysis takes. A thread that reads the next chunks while the
//! records of the current one are analysed takes that copy off the
//! analysing thread.
//!
//! ```text
//!  read-ahead thread                       analysing thread
//!  read() -> [ headroom | chunk data ] ==> [ tail | chunk data ] records
//!            ^ HEADROOM bytes left free      ^ the previous chunk's cut
//!                                              record, moved in front
//! ```
//!
//! Chunks are handed over whole, never copied: each is read [`HEADROOM`]
//! bytes into its buffer, so that the tail of the previous chunk (a record
//! cut by the chunk boundary, usually a few hundred bytes) can be put in
//! front of it. Used buffers go back to the thread. At most [`DEPTH`]
//! chunks wait to be analysed, so memory stays at a few buffers of
//! `HEADROOM + CHUNK` bytes whatever the file's size.
//!
//! Reading ahead pays only while the analysis is the slower side. When it
//! is not (a few bulk transfers, whose payload is counted, not read), the
//! analysing thread waits for nearly every chunk, and the copy into
//! buffers passed between two cores is slower than into one buffer kept
//! warm by one core. So the reader counts its waits: when it waited for
//! [`WAITS`] of the last [`WINDOW`] chunks, it asks the thread to stop,
//! takes the rest of the chunks already read, then the source itself, and
//! reads it in place from there on.
//!
//! A regular file is shared out instead ([`ReadAhead::spawn_file`]): the
//! thread and the reader take its chunks by number from one counter, and
//! the reader, rather than wait for the chunk it needs, copies the next
//! unclaimed one itself (`pread`), so that both cores copy when copying is
//! the slower side. The reader holds at most one chunk of its own ahead of
//! the one it analyses, and one spare buffer for it (six buffers in all,
//! at most); chunks still come out in the file's order. The
//! file's length is taken when it is opened: what it grows by later is
//! read in place after the chunks, as is the rest of a file found shorter
//! than that.

use std::any::Any;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread;

use super::scan::Walker;

/// Bytes left free in front of each chunk for the previous chunk's tail.
pub const HEADROOM: usize = 256 * 1024;
/// Bytes read into one chunk, at most.
pub const CHUNK: usize = 1 << 20;
/// Chunks read and waiting, at most.
pub const DEPTH: usize = 2;
/// Chunks over which waits are counted.
pub const WINDOW: u32 = 16;
/// Waits within [`WINDOW`] chunks that end reading ahead.
pub const WAITS: u32 = 12;

/// One chunk of the file: `len` bytes at `buf[HEADROOM..]`.
pub struct Chunk {
    /// The buffer, `HEADROOM + CHUNK` bytes or more.
    pub buf: Vec<u8>,
    /// Bytes of file data after the headroom.
    pub len: usize,
    /// What the thread's [`ScanAhead`](super::scan::ScanAhead) found in
    /// the chunk's whole records, when it walked them.
    pub scanned: Option<Box<dyn Any + Send>>,
}

/// What the thread sends.
enum Message {
    /// A chunk and its number (counted from the start of the source).
    Chunk(u64, Chunk),
    End,
    Error(io::Error),
    /// Asked to stop: the source, to be read in place from here on.
    Source(Box<dyn Read + Send>),
}

/// A source read ahead by a thread. See the module documentation.
pub struct ReadAhead {
    filled: Receiver<Message>,
    spare: Sender<Vec<u8>>,
    stop: Arc<AtomicBool>,
    done: bool,
    /// The source, once the thread handed it back.
    source: Option<Box<dyn Read + Send>>,
    /// Chunks received and waited for in the current window.
    received: u32,
    waited: u32,
    /// A regular file shared out between the thread and the reader.
    shared: Option<Shared>,
}

/// The reader's side of a file shared out by chunk number.
struct Shared {
    file: Arc<File>,
    claims: Arc<Claims>,
    /// The number of the chunk the reader needs next.
    want: u64,
    /// A chunk the reader copied itself, ahead of `want`.
    mine: Option<(u64, Chunk)>,
    /// A buffer kept for the reader's own copies.
    spare: Option<Vec<u8>>,
    /// Where the rest is read in place from, once a chunk came back short.
    cut: Option<u64>,
    /// The walk the thread is to do on the chunks it copies, until it
    /// takes it.
    walk: Arc<Mutex<Option<Walker>>>,
}

/// The chunk counter the thread and the reader claim from.
struct Claims {
    next: AtomicU64,
    /// The reader found no chunk of the thread's ready when it last
    /// needed one: the thread then hands chunks over without scanning
    /// their payloads ([`super::scan`]) until it is ahead again.
    behind: AtomicBool,
    /// The file's length when opened, and its chunks.
    len: u64,
    chunks: u64,
}

impl Claims {
    fn claim(&self) -> Option<u64> {
        let index = self.next.fetch_add(1, Ordering::Relaxed);
        (index < self.chunks).then_some(index)
    }

    /// The bytes chunk `index` should hold.
    fn expected(&self, index: u64) -> usize {
        // At most CHUNK, so the cast cannot truncate.
        (self.len - index * CHUNK as u64).min(CHUNK as u64) as usize
    }

    /// Copies chunk `index` of `file` into `buf` (after its headroom),
    /// resizing `buf` if needed; short only where the file is.
    fn copy(&self, file: &File, index: u64, buf: Vec<u8>) -> io::Result<Chunk> {
        let mut buf = full_size(buf);
        let want = self.expected(index);
        let at = index * CHUNK as u64;
        let mut len = 0;
        while len < want {
            match file.read_at(&mut buf[HEADROOM + len..HEADROOM + want], at + len as u64) {
                Ok(0) => break,
                Ok(n) => len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Chunk {
            buf,
            len,
            scanned: None,
        })
    }
}

/// `buf` if it is `HEADROOM + CHUNK` bytes or more, else a new buffer of
/// that size. A new one is allocated zeroed, not filled with zeros: fresh
/// pages from the system are zero already, so the ones the copy does not
/// write (most of the headroom) are never touched, and the others are
/// faulted in once, by the copy.
fn full_size(buf: Vec<u8>) -> Vec<u8> {
    if buf.len() >= HEADROOM + CHUNK {
        buf
    } else {
        vec![0; HEADROOM + CHUNK]
    }
}

/// A file read from an offset on, in place.
struct ReadFrom {
    file: Arc<File>,
    at: u64,
}

impl Read for ReadFrom {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(out, self.at)?;
        self.at += n as u64;
        Ok(n)
    }
}

impl ReadAhead {
    /// Starts a thread reading `src` ahead.
    pub fn spawn(src: Box<dyn Read + Send>) -> io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        Self::start(stop, None, move |filled, spare| {
            read_ahead(src, &filled, &spare, &stopped)
        })
    }

    /// Starts a thread sharing out the chunks of `file`, `len` bytes long
    /// (see the module documentation).
    pub fn spawn_file(file: File, len: u64) -> io::Result<Self> {
        let file = Arc::new(file);
        let claims = Arc::new(Claims {
            next: AtomicU64::new(0),
            behind: AtomicBool::new(false),
            len,
            chunks: len.div_ceil(CHUNK as u64),
        });
        let (thread_file, thread_claims) = (Arc::clone(&file), Arc::clone(&claims));
        let walk = Arc::new(Mutex::new(None));
        let thread_walk = Arc::clone(&walk);
        let shared = Shared {
            file,
            claims,
            want: 0,
            mine: None,
            spare: None,
            cut: None,
            walk,
        };
        Self::start(Arc::default(), Some(shared), move |filled, spare| {
            share_out(&thread_file, &thread_claims, &thread_walk, &filled, &spare)
        })
    }

    /// Starts the thread running `body`, which sends chunks on its first
    /// argument and takes spare buffers from its second.
    fn start(
        stop: Arc<AtomicBool>,
        shared: Option<Shared>,
        body: impl FnOnce(SyncSender<Message>, Receiver<Vec<u8>>) + Send + 'static,
    ) -> io::Result<Self> {
        let (filled_tx, filled) = sync_channel(DEPTH);
        let (spare, spare_rx) = channel();
        thread::Builder::new()
            .name("read-ahead".into())
            .spawn(move || body(filled_tx, spare_rx))?;
        Ok(ReadAhead {
            filled,
            spare,
            stop,
            done: false,
            source: None,
            received: 0,
            waited: 0,
            shared,
        })
    }

    /// The next chunk, waiting for it if needed; `Ok(None)` at the end of
    /// the file, after an error was returned once, and once the source was
    /// handed back ([`ReadAhead::source`] then reads on).
    pub fn next_chunk(&mut self) -> io::Result<Option<Chunk>> {
        if self.done {
            return Ok(None);
        }
        if self.shared.is_some() {
            return self.next_shared();
        }
        let message = match self.filled.try_recv() {
            Ok(message) => message,
            Err(_) => {
                self.waited += 1;
                self.filled.recv().unwrap_or_else(|_| {
                    Message::Error(io::Error::other("the read-ahead thread stopped"))
                })
            }
        };
        self.received += 1;
        if self.received == WINDOW {
            if self.waited >= WAITS {
                // Reading is the slower side: read in place instead.
                self.stop.store(true, Ordering::Relaxed);
            }
            self.received = 0;
            self.waited = 0;
        }
        match message {
            Message::Chunk(_, chunk) => Ok(Some(chunk)),
            Message::End => {
                self.done = true;
                Ok(None)
            }
            Message::Error(e) => {
                self.done = true;
                Err(e)
            }
            Message::Source(src) => {
                self.done = true;
                self.source = Some(src);
                Ok(None)
            }
        }
    }

    /// The source, once the thread has handed it back: the rest of the
    /// file is read from it in place.
    pub fn source(&mut self) -> Option<&mut (dyn Read + Send + 'static)> {
        self.source.as_deref_mut()
    }

    /// Whether the thread has handed the source back.
    pub fn handed_back(&self) -> bool {
        self.source.is_some()
    }

    /// [`ReadAhead::next_chunk`] for a shared-out file.
    fn next_shared(&mut self) -> io::Result<Option<Chunk>> {
        let Some(shared) = self.shared.as_mut() else {
            return Ok(None);
        };
        let want = shared.want;
        let end = match shared.cut {
            Some(at) => Some(at),
            None => (want >= shared.claims.chunks).then_some(shared.claims.len),
        };
        if let Some(at) = end {
            // The rest, if any, in place.
            self.done = true;
            self.source = Some(Box::new(ReadFrom {
                file: Arc::clone(&shared.file),
                at,
            }));
            return Ok(None);
        }
        let chunk = match shared.mine.take() {
            Some((index, chunk)) if index == want => chunk,
            mine => {
                shared.mine = mine;
                self.shared_from_thread()?
            }
        };
        let Some(shared) = self.shared.as_mut() else {
            return Ok(None);
        };
        if chunk.len < shared.claims.expected(want) {
            // The file is shorter than it was: what follows is read in
            // place, from the end of this chunk.
            shared.cut = Some(want * CHUNK as u64 + chunk.len as u64);
            if chunk.len == 0 {
                self.recycle(chunk.buf);
                return self.next_shared();
            }
        }
        shared.want += 1;
        Ok(Some(chunk))
    }

    /// The chunk the reader wants from the thread, copying the next
    /// unclaimed chunk itself rather than wait for it.
    fn shared_from_thread(&mut self) -> io::Result<Chunk> {
        let Some(shared) = self.shared.as_mut() else {
            return Err(io::Error::other("not a shared-out file"));
        };
        let message = match self.filled.try_recv() {
            Ok(message) => {
                shared.claims.behind.store(false, Ordering::Relaxed);
                message
            }
            Err(_) => {
                shared.claims.behind.store(true, Ordering::Relaxed);
                if shared.mine.is_none() {
                    if let Some(index) = shared.claims.claim() {
                        let buf = shared.spare.take().unwrap_or_default();
                        let chunk = match shared.claims.copy(&shared.file, index, buf) {
                            Ok(chunk) => chunk,
                            Err(e) => {
                                self.done = true;
                                return Err(e);
                            }
                        };
                        if index == shared.want {
                            return Ok(chunk);
                        }
                        shared.mine = Some((index, chunk));
                    }
                }
                self.filled.recv().unwrap_or(Message::End)
            }
        };
        match message {
            Message::Chunk(index, chunk) if index == shared.want => Ok(chunk),
            Message::Error(e) => {
                self.done = true;
                Err(e)
            }
            _ => {
                self.done = true;
                Err(io::Error::other(format!(
                    "the read-ahead thread stopped before chunk {}",
                    shared.want
                )))
            }
        }
    }

    /// Has the thread walk the records of the chunks it copies from now
    /// on ([`super::scan`]); false when it cannot (a source that is not a
    /// regular file shared out).
    pub(super) fn walk(&mut self, walker: Walker) -> bool {
        match &self.shared {
            Some(shared) => match shared.walk.lock() {
                Ok(mut slot) => {
                    *slot = Some(walker);
                    true
                }
                Err(_) => false,
            },
            None => false,
        }
    }

    /// Gives a used buffer back to the thread.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        if let Some(shared) = self.shared.as_mut() {
            if shared.spare.is_none() {
                shared.spare = Some(buf);
                return;
            }
        }
        // The thread may have ended (end of file): the buffer is dropped.
        let _ = self.spare.send(buf);
    }
}

/// The thread's loop: reads chunks into spare buffers until the end of
/// the file, an error, the reader going away, or being asked to stop.
fn read_ahead(
    mut src: Box<dyn Read + Send>,
    filled: &SyncSender<Message>,
    spare: &Receiver<Vec<u8>>,
    stop: &AtomicBool,
) {
    loop {
        if stop.load(Ordering::Relaxed) {
            let _ = filled.send(Message::Source(src));
            return;
        }
        let mut buf = full_size(spare.try_recv().unwrap_or_default());
        let message = loop {
            match src.read(&mut buf[HEADROOM..HEADROOM + CHUNK]) {
                Ok(0) => break Message::End,
                Ok(len) => {
                    break Message::Chunk(
                        0,
                        Chunk {
                            buf,
                            len,
                            scanned: None,
                        },
                    )
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Message::Error(e),
            }
        };
        let more = matches!(message, Message::Chunk(..));
        if filled.send(message).is_err() || !more {
            return;
        }
    }
}

/// The thread's loop for a shared-out file: claims and copies chunks
/// until none is left, an error, or the reader going away; walks the
/// records of each once it is given a walk.
fn share_out(
    file: &File,
    claims: &Claims,
    walk: &Mutex<Option<Walker>>,
    filled: &SyncSender<Message>,
    spare: &Receiver<Vec<u8>>,
) {
    let mut walker: Option<Walker> = None;
    while let Some(index) = claims.claim() {
        let buf = spare.try_recv().unwrap_or_default();
        let (message, more) = match claims.copy(file, index, buf) {
            Ok(mut chunk) => {
                if walker.is_none() {
                    walker = walk.lock().ok().and_then(|mut slot| slot.take());
                }
                if let Some(w) = walker.as_mut() {
                    // Behind the reader, the chunk goes sooner unscanned
                    // (its records still walked, to keep the place).
                    let scan = !claims.behind.load(Ordering::Relaxed);
                    let data = &chunk.buf[HEADROOM..HEADROOM + chunk.len];
                    chunk.scanned = Some(w.chunk(index, index * CHUNK as u64, data, scan));
                }
                (Message::Chunk(index, chunk), true)
            }
            Err(e) => (Message::Error(e), false),
        };
        if filled.send(message).is_err() || !more {
            return;
        }
    }
    let _ = filled.send(Message::End);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that returns at most `step` bytes per call, like a pipe.
    struct Trickle {
        data: Vec<u8>,
        at: usize,
        step: usize,
        /// Time each read takes.
        delay: std::time::Duration,
    }

    impl Read for Trickle {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            std::thread::sleep(self.delay);
            let n = self.step.min(out.len()).min(self.data.len() - self.at);
            out[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    /// A buffer of full size is used as it is (its contents do not
    /// matter); a shorter one is replaced by a zeroed one of full size.
    #[test]
    fn buffers_are_used_when_full_size_and_made_new_when_not() {
        let mut full = vec![7u8; HEADROOM + CHUNK];
        full[0] = 1;
        let at = full.as_ptr();
        let kept = full_size(full);
        assert_eq!(
            (kept.as_ptr(), kept[0], kept.len()),
            (at, 1, HEADROOM + CHUNK)
        );
        for short in [Vec::new(), vec![9u8; HEADROOM]] {
            let made = full_size(short);
            assert_eq!(made.len(), HEADROOM + CHUNK);
            assert!(made.iter().all(|&b| b == 0));
        }
    }

    #[test]
    fn chunks_carry_every_byte_in_order() {
        let data: Vec<u8> = (0..3 * CHUNK + 12_345).map(|i| (i % 251) as u8).collect();
        for step in [CHUNK, 65_536, 1_000_003] {
            let src = Trickle {
                data: data.clone(),
                at: 0,
                step,
                delay: std::time::Duration::ZERO,
            };
            let mut ahead = ReadAhead::spawn(Box::new(src)).unwrap();
            let mut got = Vec::new();
            while let Some(chunk) = ahead.next_chunk().unwrap() {
                assert!(chunk.len > 0 && chunk.len <= CHUNK);
                got.extend_from_slice(&chunk.buf[HEADROOM..HEADROOM + chunk.len]);
                ahead.recycle(chunk.buf);
            }
            // The thread may hand the source back (this reader waits for
            // every chunk): the rest is read from it.
            if let Some(src) = ahead.source() {
                src.read_to_end(&mut got).unwrap();
            }
            assert_eq!(got, data, "read {step} bytes at a time");
            assert!(ahead.next_chunk().unwrap().is_none());
        }
    }

    #[test]
    fn a_reader_that_keeps_waiting_gets_the_source_back() {
        let data: Vec<u8> = (0..40 * CHUNK).map(|i| (i % 253) as u8).collect();
        // A source slower than its reader: every chunk is waited for.
        let src = Trickle {
            data: data.clone(),
            at: 0,
            step: CHUNK,
            delay: std::time::Duration::from_millis(3),
        };
        let mut ahead = ReadAhead::spawn(Box::new(src)).unwrap();
        let mut got = Vec::new();
        let mut chunks = 0;
        while let Some(chunk) = ahead.next_chunk().unwrap() {
            got.extend_from_slice(&chunk.buf[HEADROOM..HEADROOM + chunk.len]);
            ahead.recycle(chunk.buf);
            chunks += 1;
        }
        assert!(ahead.handed_back(), "read all {chunks} chunks ahead");
        assert!(chunks < 40, "read all {chunks} chunks ahead");
        if let Some(src) = ahead.source() {
            src.read_to_end(&mut got).unwrap();
        }
        assert_eq!(got, data, "the bytes, in order, across the hand-back");
    }

    /// A scratch file holding `data`.
    fn scratch(name: &str, data: &[u8]) -> (std::path::PathBuf, File) {
        let dir = std::env::temp_dir().join(format!("framescope-ahead-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, data).unwrap();
        let file = File::open(&path).unwrap();
        (path, file)
    }

    /// Every chunk of a shared-out file, then what is read in place.
    fn shared_bytes(ahead: &mut ReadAhead, chunks: &mut usize) -> Vec<u8> {
        let mut got = Vec::new();
        while let Some(chunk) = ahead.next_chunk().unwrap() {
            assert!(chunk.len > 0 && chunk.len <= CHUNK);
            got.extend_from_slice(&chunk.buf[HEADROOM..HEADROOM + chunk.len]);
            ahead.recycle(chunk.buf);
            *chunks += 1;
        }
        assert!(ahead.handed_back(), "the rest is read in place");
        if let Some(src) = ahead.source() {
            src.read_to_end(&mut got).unwrap();
        }
        assert!(ahead.next_chunk().unwrap().is_none());
        got
    }

    #[test]
    fn a_shared_out_file_comes_out_whole_and_in_order() {
        for len in [1, CHUNK - 1, CHUNK, 5 * CHUNK + 12_345] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let (path, file) = scratch(&format!("whole-{len}"), &data);
            let mut ahead = ReadAhead::spawn_file(file, len as u64).unwrap();
            let mut chunks = 0;
            assert_eq!(shared_bytes(&mut ahead, &mut chunks), data, "{len} bytes");
            assert_eq!(chunks, len.div_ceil(CHUNK), "{len} bytes");
            std::fs::remove_file(path).ok();
        }
    }

    #[test]
    fn a_shared_out_file_that_grows_or_shrinks_is_read_to_its_end() {
        use std::io::Write;
        let data: Vec<u8> = (0..4 * CHUNK + 99).map(|i| (i % 241) as u8).collect();
        // Grown after being opened: the new bytes are read in place.
        let (path, file) = scratch("grows", &data[..2 * CHUNK + 7]);
        let mut ahead = ReadAhead::spawn_file(file, 2 * CHUNK as u64 + 7).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(&data[2 * CHUNK + 7..])
            .unwrap();
        let mut chunks = 0;
        assert_eq!(shared_bytes(&mut ahead, &mut chunks), data, "grown");
        assert_eq!(chunks, 3);
        std::fs::remove_file(path).ok();
        // Cut after being opened: the chunks stop where the file does,
        // and what was read is its start.
        let (path, file) = scratch("shrinks", &data);
        let mut ahead = ReadAhead::spawn_file(file, data.len() as u64).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(CHUNK as u64 + 5)
            .unwrap();
        let got = shared_bytes(&mut ahead, &mut 0);
        // Chunks copied before the cut keep their bytes.
        assert!(got.len() >= CHUNK + 5, "{} bytes", got.len());
        assert_eq!(got[..], data[..got.len()], "a start of the file");
        std::fs::remove_file(path).ok();
    }

    #[test]
    fn a_read_error_is_returned_once() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk on fire"))
            }
        }
        let mut ahead = ReadAhead::spawn(Box::new(Broken)).unwrap();
        let e = ahead.next_chunk().err().expect("the error");
        assert!(e.to_string().contains("disk on fire"));
        assert!(ahead.next_chunk().unwrap().is_none());
    }
}
