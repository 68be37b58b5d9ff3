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

use std::io::{self, Read};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::thread;

/// Bytes left free in front of each chunk for the previous chunk's tail.
pub const HEADROOM: usize = 256 * 1024;
/// Bytes read into one chunk, at most.
pub const CHUNK: usize = 1 << 20;
/// Chunks read and waiting, at most.
pub const DEPTH: usize = 2;

/// One chunk of the file: `len` bytes at `buf[HEADROOM..]`.
pub struct Chunk {
    /// The buffer, `HEADROOM + CHUNK` bytes or more.
    pub buf: Vec<u8>,
    /// Bytes of file data after the headroom.
    pub len: usize,
}

/// What the thread sends: a chunk, the end of the file, or a read error.
type Message = io::Result<Option<Chunk>>;

/// A source read ahead by a thread. See the module documentation.
pub struct ReadAhead {
    filled: Receiver<Message>,
    spare: Sender<Vec<u8>>,
    done: bool,
}

impl ReadAhead {
    /// Starts a thread reading `src` ahead.
    pub fn spawn(src: Box<dyn Read + Send>) -> io::Result<Self> {
        let (filled_tx, filled) = sync_channel(DEPTH);
        let (spare, spare_rx) = channel();
        thread::Builder::new()
            .name("read-ahead".into())
            .spawn(move || read_ahead(src, &filled_tx, &spare_rx))?;
        Ok(ReadAhead {
            filled,
            spare,
            done: false,
        })
    }

    /// The next chunk, waiting for it if needed; `Ok(None)` at the end of
    /// the file (and after an error was returned once).
    pub fn next_chunk(&mut self) -> io::Result<Option<Chunk>> {
        if self.done {
            return Ok(None);
        }
        let message = self
            .filled
            .recv()
            .unwrap_or_else(|_| Err(io::Error::other("the read-ahead thread stopped")));
        if !matches!(message, Ok(Some(_))) {
            self.done = true;
        }
        message
    }

    /// Gives a used buffer back to the thread.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        // The thread may have ended (end of file): the buffer is dropped.
        let _ = self.spare.send(buf);
    }
}

/// The thread's loop: reads chunks into spare buffers until the end of
/// the file, an error, or the reader going away.
fn read_ahead(
    mut src: Box<dyn Read + Send>,
    filled: &SyncSender<Message>,
    spare: &Receiver<Vec<u8>>,
) {
    loop {
        let mut buf = spare.try_recv().unwrap_or_default();
        if buf.len() < HEADROOM + CHUNK {
            buf.resize(HEADROOM + CHUNK, 0);
        }
        let message = loop {
            match src.read(&mut buf[HEADROOM..HEADROOM + CHUNK]) {
                Ok(0) => break Ok(None),
                Ok(len) => break Ok(Some(Chunk { buf, len })),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        let more = matches!(message, Ok(Some(_)));
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
    }

    impl Read for Trickle {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
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
            };
            let mut ahead = ReadAhead::spawn(Box::new(src)).unwrap();
            let mut got = Vec::new();
            while let Some(chunk) = ahead.next_chunk().unwrap() {
                assert!(chunk.len > 0 && chunk.len <= CHUNK);
                got.extend_from_slice(&chunk.buf[HEADROOM..HEADROOM + chunk.len]);
                ahead.recycle(chunk.buf);
            }
            assert_eq!(got, data, "read {step} bytes at a time");
            assert!(ahead.next_chunk().unwrap().is_none());
        }
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
