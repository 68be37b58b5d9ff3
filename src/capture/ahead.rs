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

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::Arc;
use std::thread;

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
}

/// What the thread sends.
enum Message {
    Chunk(Chunk),
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
}

impl ReadAhead {
    /// Starts a thread reading `src` ahead.
    pub fn spawn(src: Box<dyn Read + Send>) -> io::Result<Self> {
        let (filled_tx, filled) = sync_channel(DEPTH);
        let (spare, spare_rx) = channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        thread::Builder::new()
            .name("read-ahead".into())
            .spawn(move || read_ahead(src, &filled_tx, &spare_rx, &stopped))?;
        Ok(ReadAhead {
            filled,
            spare,
            stop,
            done: false,
            source: None,
            received: 0,
            waited: 0,
        })
    }

    /// The next chunk, waiting for it if needed; `Ok(None)` at the end of
    /// the file, after an error was returned once, and once the source was
    /// handed back ([`ReadAhead::source`] then reads on).
    pub fn next_chunk(&mut self) -> io::Result<Option<Chunk>> {
        if self.done {
            return Ok(None);
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
            Message::Chunk(chunk) => Ok(Some(chunk)),
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

    /// Gives a used buffer back to the thread.
    pub fn recycle(&mut self, buf: Vec<u8>) {
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
        let mut buf = spare.try_recv().unwrap_or_default();
        if buf.len() < HEADROOM + CHUNK {
            buf.resize(HEADROOM + CHUNK, 0);
        }
        let message = loop {
            match src.read(&mut buf[HEADROOM..HEADROOM + CHUNK]) {
                Ok(0) => break Message::End,
                Ok(len) => break Message::Chunk(Chunk { buf, len }),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Message::Error(e),
            }
        };
        let more = matches!(message, Message::Chunk(_));
        if filled.send(message).is_err() || !more {
            return;
        }
    }
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
