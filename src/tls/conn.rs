//! One TLS connection: records out of each direction's bytes, keys out of
//! the hellos and the key log, plaintext out of the records.
//!
//! ```text
//! bytes of a direction ──► records (5-byte headers, decode::proto's parser)
//!        plaintext handshake ──► hellos: client random, suite, version
//!        protected records ──► Opener (keys from the key log) ──► plaintext
//!                                  application data ──► Event::Data
//! ```
//!
//! When a direction turns protected: TLS 1.2 after its ChangeCipherSpec;
//! TLS 1.3 right after the ServerHello, for records of outer type
//! `application_data` (handshake traffic secrets), switching to the
//! application traffic secrets after the direction's Finished and to the
//! next generation after each KeyUpdate. A HelloRetryRequest is passed
//! over: the next ServerHello decides.
//!
//! Bounds: a direction holds one record in assembly (at most 2^14 + 2048
//! bytes of fragment) and, while the ServerHello (or, for a key log
//! written while the capture runs, the session's keys) is not yet known, at most
//! [`TlsLimits::max_pending_records`] records and
//! [`TlsLimits::max_pending_bytes`] bytes waiting; past that, the direction
//! stops waiting and its records are reported undecrypted. A connection holds the keys of its
//! current generation only.

use std::collections::VecDeque;

use super::handshake::{self, Scanner, FINISHED, KEY_UPDATE};
use super::keylog::{random_hex, ClientRandom, KeyLog, Secret, Secrets};
use super::keys::{next_secret, tls12_keys, tls13_keys, DirKeys};
use super::protect::Opener;
use super::suite::{self, Suite};
use crate::analysis::Records;
use crate::decode::proto::tls_record_header;
use crate::flow::Dir;

/// Bounds on what one connection holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlsLimits {
    /// Records a direction holds while the ServerHello is not yet known
    /// (default 64).
    pub max_pending_records: usize,
    /// Bytes of those records (default 256 KiB).
    pub max_pending_bytes: usize,
}

impl Default for TlsLimits {
    fn default() -> Self {
        TlsLimits {
            max_pending_records: 64,
            max_pending_bytes: 256 << 10,
        }
    }
}

/// One TLS record of a direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    /// The record's number in its direction, from 0.
    pub index: u64,
    /// Stream offset of its header.
    pub offset: u64,
    /// Its length, header included.
    pub len: u64,
    /// The content type of its header.
    pub kind: u8,
    /// The content type of its plaintext, when it was protected and opened
    /// (TLS 1.3: the inner type) or was never protected.
    pub plain_kind: Option<u8>,
    /// Whether it was protected (encrypted).
    pub protected: bool,
    /// Capture record that carried its first byte.
    pub first_capture: u64,
    /// Capture record that carried its last byte.
    pub last_capture: u64,
    /// Capture records that carried some of it (segments).
    pub segments: u32,
    /// The first [`crate::analysis::MAX_RECORDS`] of those capture
    /// records, in stream order.
    pub frames: Records,
    /// Whether a segment that carried it also carried bytes of another
    /// record: its first segment the end of the record before, or its last
    /// segment (in the same delivery) the start of the next.
    pub coalesced: bool,
}

/// Something the connection has to say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Note {
    /// The key log has no secrets for this session: its records are
    /// reported but not decrypted.
    NoKey {
        /// The session's client random.
        client_random: ClientRandom,
        /// What was missing (`CLIENT_RANDOM`, `SERVER_TRAFFIC_SECRET_0`).
        missing: &'static str,
    },
    /// Protected records without a hello to say which keys open them (the
    /// capture began after the handshake).
    NoHello,
    /// A suite or version framescope does not decrypt.
    Unsupported(String),
    /// A record that did not open.
    Failed {
        /// The record's number in its direction.
        record: u64,
        /// Why.
        why: &'static str,
    },
    /// The bytes are not TLS records from here on.
    Malformed(String),
    /// A capture gap cost a record (inside it), or the record layer its
    /// place (between records: nothing more is read in this direction).
    Gap {
        /// Bytes missing.
        len: u64,
        /// Whether the direction goes on (the gap was inside a record).
        survived: bool,
    },
    /// Records waiting for the ServerHello passed the bound and were
    /// reported undecrypted.
    PendingFull,
    /// The stream ended inside a record.
    Truncated,
}

impl Note {
    /// A one-line description.
    pub fn text(&self) -> String {
        match self {
            Note::NoKey {
                client_random,
                missing,
            } => format!(
                "no key: the key log has no {missing} for client random {}",
                random_hex(client_random)
            ),
            Note::NoHello => "protected records before any ServerHello: not decrypted".into(),
            Note::Unsupported(what) => format!("not decrypted: {what}"),
            Note::Failed { record, why } => format!("TLS record {record} did not open: {why}"),
            Note::Malformed(why) => format!("not a TLS record: {why}"),
            Note::Gap { len, survived } => {
                if *survived {
                    format!("capture gap of {len} bytes inside a TLS record: record not decrypted")
                } else {
                    format!("capture gap of {len} bytes between TLS records: record layer lost")
                }
            }
            Note::PendingFull => {
                "too many records waiting for the ServerHello: not decrypted".into()
            }
            Note::Truncated => "stream ended inside a TLS record".into(),
        }
    }
}

/// What a connection reports, in stream order within a direction.
#[derive(Debug)]
pub enum Event<'a> {
    /// A whole record.
    Record(&'a Record),
    /// Application data decrypted from `record`, at `offset` in the
    /// direction's plaintext stream.
    Data {
        /// The record that carried it.
        record: &'a Record,
        /// Offset in the direction's decrypted application data.
        offset: u64,
        /// The plaintext.
        bytes: &'a [u8],
    },
    /// A note, at stream offset `offset`.
    Note {
        /// Stream offset it is about.
        offset: u64,
        /// What.
        note: &'a Note,
    },
}

/// The receiver of a connection's events.
pub type Out<'o> = dyn FnMut(Dir, Event<'_>) + 'o;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Version {
    /// No ServerHello yet.
    Unknown,
    Tls12,
    Tls13,
    /// A version or suite not decrypted: records only.
    Opaque,
}

struct Pending {
    record: Record,
    header: [u8; 5],
    body: Vec<u8>,
}

#[derive(Default)]
struct Half {
    head: [u8; 5],
    have: usize,
    body: Vec<u8>,
    /// Fragment bytes still to come.
    need: usize,
    /// The record in assembly.
    cur: Option<Record>,
    /// A gap fell inside the record in assembly.
    holed: bool,
    next_index: u64,
    /// The record layer lost its place: nothing more is read.
    dead: bool,
    /// TLS 1.2: a ChangeCipherSpec was seen.
    ccs: bool,
    opener: Option<Opener>,
    /// TLS 1.3: the current traffic secret (for KeyUpdate).
    secret: Option<Vec<u8>>,
    scanner: Scanner,
    /// Offset of the next plaintext byte.
    plain: u64,
    /// The capture record that carried the last byte of the previous
    /// record.
    prev_capture: Option<u64>,
    pending: VecDeque<Pending>,
    pending_bytes: usize,
    pending_full: bool,
    /// TLS 1.3: the direction finished its handshake before the key log
    /// named its application traffic secret: its records wait, as for
    /// [`Conn::awaiting_keys`], and the note is said if it never comes.
    awaiting_traffic: Option<(u64, Note)>,
}

/// The TLS state of one TCP connection, fed both directions' bytes.
pub struct Conn {
    halves: [Half; 2],
    limits: TlsLimits,
    version: Version,
    suite: Option<&'static Suite>,
    client: Dir,
    client_random: Option<ClientRandom>,
    server_random: [u8; 32],
    etm: bool,
    secrets: Option<Secrets>,
    /// TLS 1.2 keys, until each direction's ChangeCipherSpec.
    keys12: Option<[DirKeys; 2]>,
    no_hello_noted: bool,
    /// The key log did not name the session when its ServerHello was read:
    /// protected records wait (within the pending bounds) while the key
    /// log is read again, since a live capture's key log is written while
    /// the handshake runs. The note is said when the waiting ends.
    awaiting_keys: Option<(Dir, u64, Note)>,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("version", &self.version)
            .field("suite", &self.suite.map(|s| s.name))
            .finish_non_exhaustive()
    }
}

/// What to do with a record once it is whole.
enum Disposition {
    Plain,
    Protected,
    Wait,
}

impl Conn {
    /// A connection with nothing seen yet.
    pub fn new(limits: TlsLimits) -> Conn {
        Conn {
            halves: [Half::default(), Half::default()],
            limits,
            version: Version::Unknown,
            suite: None,
            client: Dir::Client,
            client_random: None,
            server_random: [0; 32],
            etm: false,
            secrets: None,
            keys12: None,
            no_hello_noted: false,
            awaiting_keys: None,
        }
    }

    /// The suite the ServerHello chose, when decrypted.
    pub fn suite(&self) -> Option<&'static Suite> {
        self.suite
    }

    /// The session's client random, once its ClientHello was read.
    pub fn client_random(&self) -> Option<&ClientRandom> {
        self.client_random.as_ref()
    }

    /// Whether the connection's keys were found (records are decrypted).
    pub fn has_keys(&self) -> bool {
        self.secrets.is_some() && matches!(self.version, Version::Tls12 | Version::Tls13)
    }

    /// Whether the connection's application data is decrypted: `None`
    /// until the ServerHello is read; `Some(true)` once the key log gave
    /// keys; `Some(false)` when it cannot be (no key, a version or suite
    /// not decrypted, or bytes that are not TLS records).
    pub fn decided(&self) -> Option<bool> {
        match self.version {
            Version::Unknown if self.halves.iter().any(|h| h.dead) => Some(false),
            Version::Unknown => None,
            _ if self.awaiting_keys.is_some() => None,
            Version::Tls12 => Some(self.keys12.is_some()),
            Version::Tls13 => Some(self.halves.iter().any(|h| h.opener.is_some())),
            Version::Opaque => Some(false),
        }
    }

    /// Bytes of `dir` at stream offset `offset`, carried by capture record
    /// `capture`. Offsets must follow on from the previous call or gap.
    pub fn data(
        &mut self,
        keys: &mut KeyLog,
        dir: Dir,
        offset: u64,
        mut bytes: &[u8],
        capture: u64,
        out: &mut Out<'_>,
    ) {
        let mut at = offset;
        while !bytes.is_empty() {
            let h = &mut self.halves[dir.index()];
            if h.dead {
                return;
            }
            if h.have < 5 {
                let take = (5 - h.have).min(bytes.len());
                h.head[h.have..h.have + take].copy_from_slice(&bytes[..take]);
                if h.have == 0 {
                    let mut frames = Records::default();
                    frames.push(capture);
                    h.cur = Some(Record {
                        index: h.next_index,
                        offset: at,
                        len: 5,
                        kind: 0,
                        plain_kind: None,
                        protected: false,
                        first_capture: capture,
                        last_capture: capture,
                        segments: 1,
                        frames,
                        coalesced: h.prev_capture == Some(capture),
                    });
                }
                h.have += take;
                bytes = &bytes[take..];
                at += take as u64;
                touch(h, capture);
                if h.have < 5 {
                    continue;
                }
                match tls_record_header(&h.head) {
                    Ok(hdr) => {
                        if let Some(c) = h.cur.as_mut() {
                            c.kind = hdr.kind;
                            c.len = 5 + u64::from(hdr.len);
                        }
                        h.need = usize::from(hdr.len);
                        h.body.clear();
                        if h.need == 0 {
                            ended(h, capture, !bytes.is_empty());
                            self.complete(keys, dir, out);
                        }
                    }
                    Err(bad) => {
                        let start = h.cur.map_or(at, |c| c.offset);
                        h.dead = true;
                        let note = Note::Malformed(bad.kind.to_string());
                        let offset = start + bad.at as u64;
                        report(out, dir, offset, &note);
                        return;
                    }
                }
                continue;
            }
            let take = h.need.min(bytes.len());
            h.body.extend_from_slice(&bytes[..take]);
            h.need -= take;
            bytes = &bytes[take..];
            at += take as u64;
            touch(h, capture);
            if h.need == 0 {
                ended(h, capture, !bytes.is_empty());
                self.complete(keys, dir, out);
            }
        }
    }

    /// `len` bytes of `dir` at `offset` are missing from the capture.
    pub fn gap(&mut self, dir: Dir, offset: u64, len: u64, out: &mut Out<'_>) {
        let h = &mut self.halves[dir.index()];
        if h.dead {
            return;
        }
        let inside = h.have == 5 && (len as u128) < h.need as u128 && h.cur.is_some();
        if inside {
            h.holed = true;
            h.need -= len as usize;
            h.body.resize(h.body.len() + len as usize, 0);
        } else if h.cur.is_none() && h.have == 0 && len == 0 {
            return;
        } else {
            h.dead = true;
        }
        let note = Note::Gap {
            len,
            survived: inside,
        };
        report(out, dir, offset, &note);
    }

    /// The stream ended: records still waiting are reported undecrypted.
    pub fn finish(&mut self, out: &mut Out<'_>) {
        for dir in Dir::BOTH {
            self.flush_pending(dir, out);
            let h = &mut self.halves[dir.index()];
            if let (Some(c), false) = (h.cur.take(), h.dead) {
                let note = Note::Truncated;
                report(out, dir, c.offset, &note);
            }
        }
    }

    fn flush_pending(&mut self, dir: Dir, out: &mut Out<'_>) {
        if let Some((d, offset, note)) = self.awaiting_keys.take() {
            // The keys never came: the note waited with the records.
            self.no_hello_noted = true;
            report(out, d, offset, &note);
        }
        let h = &mut self.halves[dir.index()];
        if let Some((offset, note)) = h.awaiting_traffic.take() {
            report(out, dir, offset, &note);
        }
        if !h.pending.is_empty() && !self.no_hello_noted {
            self.no_hello_noted = true;
            let offset = h.pending.front().map_or(0, |p| p.record.offset);
            report(out, dir, offset, &Note::NoHello);
        }
        while let Some(p) = h.pending.pop_front() {
            let mut r = p.record;
            r.protected = true;
            out(dir, Event::Record(&r));
        }
        h.pending_bytes = 0;
    }

    /// The record in assembly of `dir` is whole.
    fn complete(&mut self, keys: &mut KeyLog, dir: Dir, out: &mut Out<'_>) {
        let h = &mut self.halves[dir.index()];
        let Some(record) = h.cur.take() else {
            return;
        };
        h.have = 0;
        h.next_index += 1;
        let header = h.head;
        let mut body = std::mem::take(&mut h.body);
        if std::mem::take(&mut h.holed) {
            let mut r = record;
            r.protected = self.disposition(dir, header[0]) != Some(false);
            if let Some(o) = self.halves[dir.index()].opener.as_mut() {
                o.skip();
            }
            out(dir, Event::Record(&r));
        } else {
            self.dispatch(keys, dir, record, header, &mut body, out);
        }
        let h = &mut self.halves[dir.index()];
        if h.body.capacity() < body.capacity() {
            body.clear();
            h.body = body;
        }
    }

    /// Whether a record of `kind` is protected in `dir` now (`None`: not
    /// known yet).
    fn disposition(&self, dir: Dir, kind: u8) -> Option<bool> {
        let h = &self.halves[dir.index()];
        match self.version {
            Version::Unknown => None,
            Version::Tls12 => Some(h.ccs),
            Version::Tls13 => Some(kind == 23),
            Version::Opaque => Some(kind == 23),
        }
    }

    fn dispatch(
        &mut self,
        keys: &mut KeyLog,
        dir: Dir,
        record: Record,
        header: [u8; 5],
        body: &mut [u8],
        out: &mut Out<'_>,
    ) {
        let kind = header[0];
        let how = match self.disposition(dir, kind) {
            Some(true) if self.awaiting(dir) && !self.retry_keys(keys, dir, out) => {
                Disposition::Wait
            }
            Some(true) => Disposition::Protected,
            Some(false) => Disposition::Plain,
            // Before the ServerHello: the client's hello (and anything
            // plaintext) goes on; protected-looking records wait.
            None if kind == 22 && self.halves[dir.index()].pending.is_empty() => Disposition::Plain,
            None if kind == 20 || kind == 21 => Disposition::Plain,
            None => Disposition::Wait,
        };
        match how {
            Disposition::Plain => self.plain(keys, dir, record, &header, body, out),
            Disposition::Protected => self.protected(dir, record, &header, body, out),
            Disposition::Wait => {
                let limits = self.limits;
                let h = &mut self.halves[dir.index()];
                if !h.pending_full
                    && h.pending.len() < limits.max_pending_records
                    && h.pending_bytes + body.len() <= limits.max_pending_bytes
                {
                    h.pending_bytes += body.len();
                    h.pending.push_back(Pending {
                        record,
                        header,
                        body: body.to_vec(),
                    });
                    return;
                }
                if !std::mem::replace(&mut h.pending_full, true) {
                    report(out, dir, record.offset, &Note::PendingFull);
                }
                // Waiting for the keys ends for both directions.
                if self.awaiting(dir) {
                    self.flush_pending(dir.other(), out);
                }
                self.flush_pending(dir, out);
                let mut r = record;
                r.protected = kind == 23;
                out(dir, Event::Record(&r));
            }
        }
    }

    fn plain(
        &mut self,
        keys: &mut KeyLog,
        dir: Dir,
        mut record: Record,
        header: &[u8; 5],
        body: &[u8],
        out: &mut Out<'_>,
    ) {
        record.plain_kind = Some(header[0]);
        out(dir, Event::Record(&record));
        match header[0] {
            22 => self.handshake(keys, dir, &record, body, out),
            20 if self.version == Version::Tls12 => {
                let h = &mut self.halves[dir.index()];
                h.ccs = true;
                let keys = self.keys12.as_ref().map(|k| &k[role(self.client, dir)]);
                h.opener = match (self.suite, keys) {
                    (Some(suite), Some(k)) => Opener::new(suite, k, self.etm),
                    _ => None,
                };
            }
            _ => {}
        }
    }

    fn protected(
        &mut self,
        dir: Dir,
        mut record: Record,
        header: &[u8; 5],
        body: &mut [u8],
        out: &mut Out<'_>,
    ) {
        record.protected = true;
        let h = &mut self.halves[dir.index()];
        let Some(opener) = h.opener.as_mut() else {
            out(dir, Event::Record(&record));
            return;
        };
        let opened = match opener.open(header, body) {
            Ok(o) => o,
            Err(e) => {
                out(dir, Event::Record(&record));
                let note = Note::Failed {
                    record: record.index,
                    why: e.text(),
                };
                report(out, dir, record.offset, &note);
                return;
            }
        };
        record.plain_kind = Some(opened.kind);
        out(dir, Event::Record(&record));
        let plain = &body[opened.start..opened.end];
        match opened.kind {
            23 => {
                let offset = h.plain;
                h.plain += plain.len() as u64;
                if !plain.is_empty() {
                    out(
                        dir,
                        Event::Data {
                            record: &record,
                            offset,
                            bytes: plain,
                        },
                    );
                }
            }
            22 => {
                let mut finished = false;
                let mut updates = 0;
                h.scanner.feed(plain, &mut |m| match m.kind {
                    FINISHED => finished = true,
                    KEY_UPDATE => updates += 1,
                    _ => {}
                });
                if self.version == Version::Tls13 {
                    if finished {
                        self.tls13_traffic(dir, record.offset);
                    }
                    for _ in 0..updates {
                        self.key_update(dir);
                    }
                }
            }
            _ => {}
        }
    }

    /// TLS 1.3: `dir` finished its handshake; its application traffic
    /// secret takes over.
    fn tls13_traffic(&mut self, dir: Dir, offset: u64) {
        let client = role(self.client, dir) == 0;
        let (secret, name) = match (&self.secrets, client) {
            (Some(s), true) => (s.client_traffic.clone(), "CLIENT_TRAFFIC_SECRET_0"),
            (Some(s), false) => (s.server_traffic.clone(), "SERVER_TRAFFIC_SECRET_0"),
            (None, _) => (None, ""),
        };
        let h = &mut self.halves[dir.index()];
        h.opener = None;
        h.secret = None;
        h.awaiting_traffic = None;
        let (Some(secret), Some(suite)) = (secret, self.suite) else {
            if let Some(random) = self.client_random.filter(|_| !name.is_empty()) {
                let note = Note::NoKey {
                    client_random: random,
                    missing: name,
                };
                h.awaiting_traffic = Some((offset, note));
            }
            return;
        };
        h.opener = Opener::new(suite, &tls13_keys(suite, secret.bytes()), false);
        h.secret = Some(secret.bytes().to_vec());
    }

    fn key_update(&mut self, dir: Dir) {
        let Some(suite) = self.suite else { return };
        let h = &mut self.halves[dir.index()];
        if let Some(secret) = h.secret.take() {
            let next = next_secret(suite, &secret);
            h.opener = Opener::new(suite, &tls13_keys(suite, &next), false);
            h.secret = Some(next);
        }
    }

    fn handshake(
        &mut self,
        keys: &mut KeyLog,
        dir: Dir,
        record: &Record,
        body: &[u8],
        out: &mut Out<'_>,
    ) {
        let mut client_random = None;
        let mut server_hello = None;
        let mut bad_hello = false;
        self.halves[dir.index()]
            .scanner
            .feed(body, &mut |m| match (m.kind, m.body) {
                (handshake::CLIENT_HELLO, Some(b)) => client_random = handshake::client_random(b),
                (handshake::SERVER_HELLO, Some(b)) => match handshake::server_hello(b) {
                    Some(sh) => server_hello = Some(sh),
                    None => bad_hello = true,
                },
                _ => {}
            });
        if let Some(random) = client_random {
            if self.version == Version::Unknown {
                self.client = dir;
                self.client_random = Some(random);
            }
        }
        if bad_hello {
            let note = Note::Malformed("ServerHello too short".into());
            report(out, dir, record.offset, &note);
        }
        let Some(sh) = server_hello.filter(|sh| !sh.retry) else {
            return;
        };
        if self.version != Version::Unknown {
            return;
        }
        self.server_random = sh.random;
        self.etm = sh.encrypt_then_mac;
        let suite = suite::find(sh.suite);
        self.version = match (sh.version, suite) {
            (0x0304, Some(s)) if s.tls13 => Version::Tls13,
            (0x0303, Some(s)) if !s.tls13 => Version::Tls12,
            _ => Version::Opaque,
        };
        let note = if self.version == Version::Opaque {
            Some(Note::Unsupported(format!(
                "{} with cipher suite {:#06x}{}",
                version_name(sh.version),
                sh.suite,
                suite.map_or(String::new(), |s| format!(" ({})", s.name))
            )))
        } else {
            self.suite = suite;
            self.keys(keys)
        };
        match note {
            Some(note @ Note::NoKey { .. }) => {
                self.awaiting_keys = Some((dir, record.offset, note));
            }
            Some(note) => report(out, dir, record.offset, &note),
            None => {}
        }
        self.dispatch_pending(keys, out);
    }

    /// Dispatches the records that waited (for the ServerHello, or for
    /// the keys).
    fn dispatch_pending(&mut self, keys: &mut KeyLog, out: &mut Out<'_>) {
        for d in Dir::BOTH {
            let waiting = std::mem::take(&mut self.halves[d.index()].pending);
            self.halves[d.index()].pending_bytes = 0;
            for mut p in waiting {
                let rec = p.record;
                self.dispatch(keys, d, rec, p.header, &mut p.body, out);
            }
        }
    }

    /// While the keys are awaited: reads the key log again; when it now
    /// names the session, sets the keys up, dispatches the records that
    /// waited and returns true.
    fn retry_keys(&mut self, keys: &mut KeyLog, dir: Dir, out: &mut Out<'_>) -> bool {
        let Some(random) = self.client_random else {
            return false;
        };
        // A key log written as the handshakes run names a session's
        // secrets one at a time: read what was appended.
        let _ = keys.reload();
        let Some(fresh) = keys.get(&random).cloned() else {
            return false;
        };
        if self.awaiting_keys.is_none() {
            // TLS 1.3 application traffic secrets.
            self.secrets = Some(fresh);
            for d in Dir::BOTH {
                if let Some((offset, _)) = self.halves[d.index()].awaiting_traffic {
                    self.tls13_traffic(d, offset);
                }
            }
            if self.awaiting(dir) {
                return false;
            }
            self.dispatch_pending(keys, out);
            return true;
        }
        let note = self.keys(keys);
        if matches!(note, Some(Note::NoKey { .. })) {
            // Still incomplete (TLS 1.3 secrets come one at a time).
            return false;
        }
        self.awaiting_keys = None;
        if let Some(note) = note {
            let offset = self.halves[self.client.other().index()].plain;
            report(out, self.client.other(), offset, &note);
        }
        // TLS 1.2: a direction past its ChangeCipherSpec opens now.
        if self.version == Version::Tls12 {
            for d in Dir::BOTH {
                let k = self.keys12.as_ref().map(|k| &k[role(self.client, d)]);
                let h = &mut self.halves[d.index()];
                if h.ccs && h.opener.is_none() {
                    h.opener = match (self.suite, k) {
                        (Some(suite), Some(k)) => Opener::new(suite, k, self.etm),
                        _ => None,
                    };
                }
            }
        }
        self.dispatch_pending(keys, out);
        true
    }

    /// Whether `dir`'s protected records wait for keys.
    fn awaiting(&self, dir: Dir) -> bool {
        self.awaiting_keys.is_some() || self.halves[dir.index()].awaiting_traffic.is_some()
    }

    /// Looks the session's secrets up and sets the openers they give now;
    /// a note when they are missing.
    fn keys(&mut self, keys: &mut KeyLog) -> Option<Note> {
        let Some(random) = self.client_random else {
            return Some(Note::NoHello);
        };
        let mut secrets = keys.get(&random).cloned();
        if secrets.is_none() && keys.reload().unwrap_or(false) {
            secrets = keys.get(&random).cloned();
        }
        let suite = self.suite?;
        let missing = |name| {
            Some(Note::NoKey {
                client_random: random,
                missing: name,
            })
        };
        let Some(s) = secrets else {
            return missing(if self.version == Version::Tls13 {
                "SERVER_HANDSHAKE_TRAFFIC_SECRET"
            } else {
                "CLIENT_RANDOM"
            });
        };
        let note = if self.version == Version::Tls12 {
            match &s.master {
                Some(master) => {
                    self.keys12 = Some(tls12_keys(suite, master, &random, &self.server_random));
                    None
                }
                None => missing("CLIENT_RANDOM"),
            }
        } else {
            let mut note = None;
            let server = self.client.other();
            for (dir, secret, name) in [
                (
                    self.client,
                    &s.client_handshake,
                    "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
                ),
                (
                    server,
                    &s.server_handshake,
                    "SERVER_HANDSHAKE_TRAFFIC_SECRET",
                ),
            ] {
                let h = &mut self.halves[dir.index()];
                h.opener = secret.as_ref().and_then(|sec: &Secret| {
                    Opener::new(suite, &tls13_keys(suite, sec.bytes()), false)
                });
                if h.opener.is_none() && note.is_none() {
                    note = missing(name);
                }
            }
            note
        };
        self.secrets = Some(s);
        note
    }
}

/// Reports `what` about stream offset `offset` of `dir`.
fn report(out: &mut Out<'_>, dir: Dir, offset: u64, what: &Note) {
    out(dir, Event::Note { offset, note: what });
}

/// 0 when `dir` is the TLS client's direction, 1 for the server's.
fn role(client: Dir, dir: Dir) -> usize {
    usize::from(dir != client)
}

/// Notes that capture record `capture` carried bytes of the record in
/// assembly.
fn touch(h: &mut Half, capture: u64) {
    if let Some(c) = h.cur.as_mut() {
        if c.last_capture != capture {
            c.last_capture = capture;
            c.segments = c.segments.saturating_add(1);
            c.frames.push(capture);
        }
    }
}

/// The record in assembly ends in capture record `capture`; `more`: the
/// same delivery goes on with the next record's bytes.
fn ended(h: &mut Half, capture: u64, more: bool) {
    h.prev_capture = Some(capture);
    if let Some(c) = h.cur.as_mut() {
        c.coalesced |= more;
    }
}

fn version_name(v: u16) -> String {
    match v {
        0x0300 => "SSL 3.0".into(),
        0x0301 => "TLS 1.0".into(),
        0x0302 => "TLS 1.1".into(),
        0x0303 => "TLS 1.2".into(),
        0x0304 => "TLS 1.3".into(),
        _ => format!("version {v:#06x}"),
    }
}
