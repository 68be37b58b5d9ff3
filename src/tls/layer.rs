//! A [`Sink`] in front of another that hands it each TLS stream's
//! decrypted application data instead of the TCP bytes.
//!
//! ```text
//! Tracker ──► Decrypting ──► inner sink (the analysis)
//!               TLS stream with keys: plaintext, at plaintext offsets, each
//!                 record's bytes carried by the capture record that
//!                 completed it
//!               anything else (not TLS, no key, a suite not decrypted):
//!                 the TCP bytes, unchanged
//! ```
//!
//! A stream is held while its handshake decides (at most
//! [`MAX_HELD`] bytes, then it goes through unchanged): once the
//! ServerHello is read and the key log has the session's secrets, its
//! application data is decrypted; otherwise the held events are replayed
//! to the inner sink as they came. What the decryption had to say (no key
//! for a client random, a record that did not open) is kept in
//! its notes (`Decrypting::into_parts`).

use super::conn::{Conn, Event as TlsEvent, Record, TlsLimits};
use super::keylog::KeyLog;
use crate::capture::Timestamp;
use crate::flow::reassembly::Event;
use crate::flow::{Datagram, Dir, PacketMeta, Sink, StreamInfo, StreamStats};

/// Bytes of a stream held while its handshake decides: 256 KiB.
pub const MAX_HELD: usize = 256 << 10;

/// Notes kept for the caller; later ones are counted.
pub const MAX_NOTES: usize = 1000;

/// A note about one stream's TLS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamNote {
    /// The stream (`tcp.stream`).
    pub stream: u64,
    /// The direction.
    pub dir: Dir,
    /// The stream offset it is about.
    pub offset: u64,
    /// What.
    pub text: String,
}

enum Held {
    Data {
        dir: Dir,
        offset: u64,
        bytes: Vec<u8>,
        record: u64,
        ts: Timestamp,
    },
    Gap {
        dir: Dir,
        event_offset: u64,
        len: u64,
        reason: crate::flow::reassembly::GapReason,
    },
}

enum Mode {
    Deciding {
        conn: Box<Conn>,
        held: Vec<Held>,
        bytes: usize,
    },
    Decrypting(Box<Conn>),
    Through,
}

/// A sink that wants to know which TLS record carried the decrypted bytes
/// it is given: before the [`Event::Data`] of a record's plaintext,
/// [`RecordSink::tls_record`] names the record and where its plaintext
/// lies. The default ignores it.
pub trait RecordSink: Sink {
    /// `record` of `dir` carried the `plain_len` bytes of application data
    /// at plaintext offset `plain_offset`; their [`Event::Data`] follows.
    fn tls_record(
        &mut self,
        _st: &mut Self::Stream,
        _dir: Dir,
        _record: &Record,
        _plain_offset: u64,
        _plain_len: u64,
    ) {
    }
}

/// Detection reads the plaintext; which record carried it does not matter.
impl<F> RecordSink for crate::detect::Sampler<F> where
    F: FnMut(&StreamInfo, &crate::detect::Sample<'_>, crate::detect::Detection)
{
}

/// Per-stream state: the inner sink's, and the decryption's.
pub struct Stream<T> {
    inner: T,
    number: u64,
    mode: Mode,
}

/// The decrypting sink. See the module documentation.
pub struct Decrypting<S: RecordSink> {
    inner: S,
    /// `None`: every stream goes through unchanged.
    keys: Option<KeyLog>,
    limits: TlsLimits,
    notes: Vec<StreamNote>,
    more_notes: u64,
    decrypted: u64,
}

impl<S: RecordSink> Decrypting<S> {
    /// Decrypts with `keys` in front of `inner` (with `None`, passes every
    /// event through).
    pub fn new(inner: S, keys: Option<KeyLog>, limits: TlsLimits) -> Self {
        Decrypting {
            inner,
            keys,
            limits,
            notes: Vec::new(),
            more_notes: 0,
            decrypted: 0,
        }
    }

    /// Streams decrypted so far.
    pub fn decrypted(&self) -> u64 {
        self.decrypted
    }

    /// The inner sink.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The inner sink and the notes (with the count of notes past
    /// [`MAX_NOTES`]).
    pub fn into_parts(self) -> (S, Vec<StreamNote>, u64) {
        (self.inner, self.notes, self.more_notes)
    }
}

/// Feeds one TCP event to `conn`, passing decrypted data to the inner sink
/// (as carried by `record` at `ts`) and keeping notes.
#[allow(clippy::too_many_arguments)]
fn feed<S: RecordSink>(
    inner: &mut S,
    st: &mut S::Stream,
    conn: &mut Conn,
    keys: &mut KeyLog,
    notes: &mut Vec<StreamNote>,
    more: &mut u64,
    stream: u64,
    dir: Dir,
    event: &Held,
) {
    let (record, ts) = match event {
        Held::Data { record, ts, .. } => (*record, *ts),
        Held::Gap { .. } => (0, Timestamp::default()),
    };
    let mut out = |d: Dir, e: TlsEvent<'_>| match e {
        TlsEvent::Data {
            offset,
            bytes,
            record: tls,
        } => {
            inner.tls_record(st, d, tls, offset, bytes.len() as u64);
            inner.event(
                st,
                d,
                Event::Data {
                    offset,
                    bytes,
                    record,
                    ts,
                },
            );
        }
        TlsEvent::Note { offset, note } => keep_note(notes, more, stream, d, offset, note),
        TlsEvent::Record(_) => {}
    };
    match event {
        Held::Data {
            offset,
            bytes,
            record,
            ..
        } => conn.data(keys, dir, *offset, bytes, *record, &mut out),
        Held::Gap {
            event_offset, len, ..
        } => conn.gap(dir, *event_offset, *len, &mut out),
    }
}

/// Keeps a note (past [`MAX_NOTES`], counts it).
fn keep_note(
    notes: &mut Vec<StreamNote>,
    more: &mut u64,
    stream: u64,
    dir: Dir,
    offset: u64,
    note: &super::conn::Note,
) {
    if notes.len() < MAX_NOTES {
        notes.push(StreamNote {
            stream,
            dir,
            offset,
            text: note.text(),
        });
    } else {
        *more += 1;
    }
}

fn replay<S: Sink>(inner: &mut S, st: &mut S::Stream, held: Vec<Held>) {
    for h in held {
        match h {
            Held::Data {
                dir,
                offset,
                bytes,
                record,
                ts,
            } => inner.event(
                st,
                dir,
                Event::Data {
                    offset,
                    bytes: &bytes,
                    record,
                    ts,
                },
            ),
            Held::Gap {
                dir,
                event_offset,
                len,
                reason,
            } => inner.event(
                st,
                dir,
                Event::Gap {
                    offset: event_offset,
                    len,
                    reason,
                },
            ),
        }
    }
}

impl<S: RecordSink> Sink for Decrypting<S> {
    type Stream = Stream<S::Stream>;

    fn open(&mut self, info: &StreamInfo) -> Self::Stream {
        let tcp = info.proto == crate::flow::Proto::Tcp;
        Stream {
            inner: self.inner.open(info),
            number: info.number,
            mode: if tcp && self.keys.is_some() {
                Mode::Deciding {
                    conn: Box::new(Conn::new(self.limits)),
                    held: Vec::new(),
                    bytes: 0,
                }
            } else {
                Mode::Through
            },
        }
    }

    fn packet(&mut self, st: &mut Self::Stream, dir: Dir, meta: &PacketMeta) {
        // Packet timing is about TCP offsets: it goes with the TCP bytes.
        if let Mode::Through = st.mode {
            self.inner.packet(&mut st.inner, dir, meta);
        }
    }

    fn event(&mut self, st: &mut Self::Stream, dir: Dir, event: Event<'_>) {
        let held = match event {
            Event::Data {
                offset,
                bytes,
                record,
                ts,
            } => {
                if let Mode::Through = st.mode {
                    return self.inner.event(&mut st.inner, dir, event);
                }
                Held::Data {
                    dir,
                    offset,
                    bytes: bytes.to_vec(),
                    record,
                    ts,
                }
            }
            Event::Gap {
                offset,
                len,
                reason,
            } => Held::Gap {
                dir,
                event_offset: offset,
                len,
                reason,
            },
            Event::Conflict { .. } => {
                if let Mode::Through = st.mode {
                    self.inner.event(&mut st.inner, dir, event);
                }
                return;
            }
        };
        let Decrypting {
            inner,
            keys: Some(keys),
            notes,
            more_notes,
            ..
        } = self
        else {
            return replay(&mut self.inner, &mut st.inner, vec![held]);
        };
        match &mut st.mode {
            Mode::Through => replay(inner, &mut st.inner, vec![held]),
            Mode::Decrypting(conn) => feed(
                inner,
                &mut st.inner,
                conn,
                keys,
                notes,
                more_notes,
                st.number,
                dir,
                &held,
            ),
            Mode::Deciding {
                conn,
                held: h,
                bytes,
            } => {
                feed(
                    inner,
                    &mut st.inner,
                    conn,
                    keys,
                    notes,
                    more_notes,
                    st.number,
                    dir,
                    &held,
                );
                if let Held::Data { bytes: b, .. } = &held {
                    *bytes += b.len();
                }
                h.push(held);
                let decided = conn.decided();
                if decided == Some(true) {
                    let Mode::Deciding { conn, .. } =
                        std::mem::replace(&mut st.mode, Mode::Through)
                    else {
                        return;
                    };
                    st.mode = Mode::Decrypting(conn);
                    self.decrypted += 1;
                } else if decided == Some(false) || *bytes > MAX_HELD {
                    if let Mode::Deciding { held, .. } =
                        std::mem::replace(&mut st.mode, Mode::Through)
                    {
                        replay(inner, &mut st.inner, held);
                    }
                }
            }
        }
    }

    fn datagram(&mut self, st: &mut Self::Stream, dir: Dir, dg: &Datagram<'_>) {
        self.inner.datagram(&mut st.inner, dir, dg);
    }

    fn scan_ahead(&self) -> Option<Box<dyn crate::capture::scan::ScanAhead>> {
        self.inner.scan_ahead()
    }

    fn scanned(&mut self, found: crate::capture::scan::ChunkScan) {
        self.inner.scanned(found);
    }

    fn close(&mut self, mut st: Self::Stream, info: &StreamInfo, stats: &StreamStats) {
        let (notes, more, n) = (&mut self.notes, &mut self.more_notes, st.number);
        let mut keep = |d: Dir, e: TlsEvent<'_>| {
            if let TlsEvent::Note { offset, note } = e {
                keep_note(notes, more, n, d, offset, note);
            }
        };
        match std::mem::replace(&mut st.mode, Mode::Through) {
            Mode::Deciding { mut conn, held, .. } => {
                // The stream ended before its handshake decided (or its
                // keys came): what was held is the stream.
                conn.finish(&mut keep);
                replay(&mut self.inner, &mut st.inner, held);
            }
            Mode::Decrypting(mut conn) => conn.finish(&mut keep),
            Mode::Through => {}
        }
        self.inner.close(st.inner, info, stats);
    }
}
