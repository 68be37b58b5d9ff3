//! Rendering analysis results: readable tables, one JSON document, or JSON
//! lines streamed as messages and streams complete.
//!
//! This module owns the output schemas (documented in the README) and the
//! [`Report`] implementations: [`Collector`] keeps what the table and JSON
//! outputs print, within bounds; [`JsonLines`] writes each record as it
//! comes and keeps nothing. The pictures are its submodules: [`timeline`]
//! keeps what they draw, [`diagram`] draws it for a terminal and [`html`]
//! as one page.

pub mod diagram;
pub mod html;
pub mod pretty;
pub mod rows;
pub mod timeline;

use std::io::{self, IsTerminal, Write};
use std::net::SocketAddr;
use std::sync::mpsc::{channel, sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

use comfy_table::{presets::UTF8_BORDERS_ONLY, Cell, CellAlignment, ContentArrangement, Table};
use serde::Serialize;

use crate::analysis::nagle;
use crate::analysis::recv::{ReaderResult, RecvResult};
use crate::analysis::{DirSummary, Message, Report, StreamResult};
use crate::capture::Timestamp;
use crate::flow::{endpoint, Dir, Proto, StreamInfo};

/// Identifies the JSON documents' layout.
pub const SCHEMA: &str = "framescope.analyze/1";

/// A callback that sees each flagged message as it completes.
pub type FlaggedHook = Box<dyn FnMut(&MessageRow) + Send>;

/// A message with the stream and direction it belongs to, as serialized:
/// its fields, then `filter` ([`MessageRow::filter`]).
#[derive(Clone, Debug)]
pub struct MessageRow {
    /// Stream number.
    pub stream: u64,
    /// `tcp` or `udp`.
    pub proto: Proto,
    /// `client` or `server`.
    pub dir: Dir,
    /// The message.
    pub message: Message,
    /// The address and port it came from (its filter names them when its
    /// records are not all known).
    pub from: SocketAddr,
}

impl MessageRow {
    /// The row for `message` of `stream`'s direction `dir`.
    pub fn new(stream: &StreamInfo, dir: Dir, message: &Message) -> Self {
        MessageRow {
            stream: stream.number,
            proto: stream.proto,
            dir,
            message: message.clone(),
            from: match dir {
                Dir::Client => stream.client,
                Dir::Server => stream.server,
            },
        }
    }

    /// A Wireshark display filter selecting its packets
    /// ([`Message::write_filter`]). It is made when asked for, not kept:
    /// rows are kept by the thousand to the end of a capture.
    pub fn filter(&self) -> String {
        // Room for the stream and a few records, most filters.
        let mut f = String::with_capacity(32 + 24 * self.message.records.as_slice().len());
        self.message
            .write_filter_from(&mut f, self.proto, self.stream, self.from);
        f
    }
}

/// A [`MessageRow`] as written: its fields, the message's, then its filter.
#[derive(Serialize)]
struct RowOut<'a> {
    stream: u64,
    proto: Proto,
    dir: Dir,
    #[serde(flatten)]
    message: &'a Message,
    filter: String,
}

impl Serialize for MessageRow {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        RowOut {
            stream: self.stream,
            proto: self.proto,
            dir: self.dir,
            message: &self.message,
            filter: self.filter(),
        }
        .serialize(s)
    }
}

/// The rank of a stream among others, [`ranked`]'s order: most in need of
/// attention first, then by protocol and number. Smaller ranks first.
type Rank = (std::cmp::Reverse<u64>, Proto, u64);

fn rank(s: &StreamResult) -> Rank {
    (std::cmp::Reverse(attention(s)), s.info.proto, s.info.number)
}

/// What the streams a [`Collector`] did not keep (past
/// [`Collector::keep_streams`]) added up to: counted, so that totals stay
/// those of every stream.
#[derive(Clone, Copy, Debug, Default)]
pub struct DroppedStreams {
    /// Streams not kept.
    pub streams: u64,
    /// Of those, TCP streams (the others are UDP flows).
    pub tcp: u64,
    /// Of those, streams that needed attention ([`attention`] above 0).
    pub needing_attention: u64,
    /// Of those, streams framed as TLS records only.
    pub tls_records: u64,
    /// Their stalls listed (at most [`nagle::MAX_STALLS`] per direction).
    pub stall_records: u64,
    /// Their directions' counters, summed.
    pub totals: DirSummary,
}

impl DroppedStreams {
    fn add(&mut self, s: &StreamResult) {
        self.streams += 1;
        self.tcp += u64::from(s.info.proto == Proto::Tcp);
        self.needing_attention += u64::from(attention(s) > 0);
        self.tls_records += u64::from(s.framing == "tls");
        self.stall_records += s.stalls.len() as u64;
        for d in &s.dirs {
            add_dir(&mut self.totals, d);
        }
    }

    fn merge(&mut self, other: &DroppedStreams) {
        self.streams += other.streams;
        self.tcp += other.tcp;
        self.needing_attention += other.needing_attention;
        self.tls_records += other.tls_records;
        self.stall_records += other.stall_records;
        add_dir(&mut self.totals, &other.totals);
    }
}

/// Adds `d`'s counters to `t`.
fn add_dir(t: &mut DirSummary, d: &DirSummary) {
    t.messages += d.messages;
    t.flagged_messages += d.flagged_messages;
    t.split_messages += d.split_messages;
    t.coalesced_segments += d.coalesced_segments;
    t.truncated_messages += d.truncated_messages;
    t.malformed_messages += d.malformed_messages;
    t.gap_messages += d.gap_messages;
    t.segments += d.segments;
    t.bytes += d.bytes;
    t.gaps += d.gaps;
    t.undecoded_bytes += d.undecoded_bytes;
    t.stalls += d.stalls;
    t.multi_message_datagrams += d.multi_message_datagrams;
    t.partial_datagrams += d.partial_datagrams;
    t.oversized_datagrams += d.oversized_datagrams;
}

/// Keeps results for the table and JSON outputs: streams' summaries (all
/// of them, or the [`Collector::keep_streams`] most in need of attention),
/// and messages up to a bound.
pub struct Collector {
    /// Streams kept, in the order they finished.
    pub streams: Vec<StreamResult>,
    /// What the streams not kept added up to.
    pub dropped: DroppedStreams,
    /// Streams kept at most.
    max_streams: usize,
    /// The ranks of the streams kept and their places in `streams`, the
    /// last-ranked on top (only while a bound is set).
    ranks: std::collections::BinaryHeap<(Rank, usize)>,
    /// Messages kept, packed ([`rows`]).
    pub messages: rows::Rows,
    /// Messages not kept because of the bound.
    pub messages_dropped: u64,
    /// Stalls that streams' lists left out because of
    /// [`Collector::keep_stalls`]'s bound (their counters count them),
    /// counted as the lists are cut: a stream dropped afterwards by
    /// [`Collector::keep_streams`]'s bound leaves its count here.
    pub stalls_dropped: u64,
    /// Stalls listed in the streams kept, at most `max_stalls`.
    stalls_kept: usize,
    max_stalls: usize,
    /// Streams that carried no payload (counted, not kept).
    pub streams_without_data: u64,
    keep_all: bool,
    max_messages: usize,
    /// Flagged messages kept per stream direction when not keeping all.
    flagged_per_dir: usize,
    /// Callback for live output of each flagged message.
    on_flagged: Option<FlaggedHook>,
}

impl Collector {
    /// Keeps every message (up to `max_messages`) when `keep_all`, else
    /// the first `flagged_per_dir` flagged messages of each direction.
    pub fn new(keep_all: bool, max_messages: usize, flagged_per_dir: usize) -> Self {
        Collector {
            streams: Vec::new(),
            dropped: DroppedStreams::default(),
            max_streams: usize::MAX,
            ranks: std::collections::BinaryHeap::new(),
            messages: rows::Rows::new(),
            messages_dropped: 0,
            stalls_dropped: 0,
            stalls_kept: 0,
            max_stalls: usize::MAX,
            streams_without_data: 0,
            keep_all,
            max_messages,
            flagged_per_dir,
            on_flagged: None,
        }
    }

    /// Calls `f` with every flagged message as soon as it completes.
    pub fn on_flagged(&mut self, f: FlaggedHook) {
        self.on_flagged = Some(f);
    }

    /// [`totals_line`] over every stream seen, kept or not.
    pub fn totals_line(&self) -> String {
        totals_text(
            &self.streams,
            &self.dropped,
            self.streams_without_data,
            &self.totals(),
        )
    }

    /// Keeps at most `max` streams' results: those most in need of
    /// attention, in [`ranked`]'s order. The others are counted in
    /// [`Collector::dropped`], which [`Collector::totals`] includes, so a
    /// capture of millions of connections does not hold a result for each.
    /// Set it before any result arrives.
    pub fn keep_streams(&mut self, max: usize) {
        self.max_streams = max;
    }

    /// Lists at most `max` stalls over all the streams kept: a stream's
    /// stall list ([`StreamResult::stalls`], itself at most
    /// [`nagle::MAX_STALLS`] a direction) is cut to what is left, and the
    /// stalls left out are counted in [`Collector::stalls_dropped`]; the
    /// streams' counters ([`DirSummary::stalls`]) count every one. A
    /// thousand connections that each stall on every exchange would
    /// otherwise hold a list of thousands for each. Set it before any
    /// result arrives.
    pub fn keep_stalls(&mut self, max: usize) {
        self.max_stalls = max;
    }

    /// Cuts `result`'s stall list to the room left under the bound.
    fn cut_stalls(&mut self, result: &mut StreamResult) {
        let room = self.max_stalls.saturating_sub(self.stalls_kept);
        if result.stalls.len() > room {
            self.stalls_dropped += (result.stalls.len() - room) as u64;
            result.stalls.truncate(room);
            result.stalls.shrink_to_fit();
        }
        self.stalls_kept += result.stalls.len();
    }

    /// Keeps `result`. When as many results as [`Collector::keep_streams`]
    /// allows are kept already, the one ranked last of them and `result`
    /// goes, counted in [`Collector::dropped`].
    fn keep(&mut self, mut result: StreamResult) {
        if self.max_streams == usize::MAX {
            self.cut_stalls(&mut result);
            self.streams.push(result);
            return;
        }
        let key = rank(&result);
        if self.streams.len() < self.max_streams {
            self.cut_stalls(&mut result);
            self.ranks.push((key, self.streams.len()));
            self.streams.push(result);
            return;
        }
        let slot = match self.ranks.peek_mut() {
            Some(mut last) if key < last.0 => {
                last.0 = key;
                Some(last.1)
            }
            _ => None,
        };
        let dropped = match slot {
            Some(slot) => {
                // The stream it replaces takes its stalls out of the
                // lists first, leaving their room to it.
                self.stalls_kept -= self.streams[slot].stalls.len();
                self.cut_stalls(&mut result);
                std::mem::replace(&mut self.streams[slot], result)
            }
            None => result,
        };
        self.dropped.add(&dropped);
    }

    /// Adds another collector's results (from another shard of the same
    /// capture).
    pub fn merge(&mut self, mut other: Collector) {
        self.dropped.merge(&other.dropped);
        self.stalls_dropped += other.stalls_dropped;
        if self.max_streams == usize::MAX {
            // The longer lists become the base and the shorter are added
            // to them: merging one worker's results into an empty
            // collector moves them instead of holding two copies at once.
            if other.streams.len() > self.streams.len() {
                std::mem::swap(&mut self.streams, &mut other.streams);
            }
            self.streams.append(&mut other.streams);
            // Each side kept up to the bound: the two together are cut to
            // it again, in the merged order.
            self.stalls_kept = 0;
            let mut streams = std::mem::take(&mut self.streams);
            for s in &mut streams {
                self.cut_stalls(s);
            }
            self.streams = streams;
        } else {
            for s in other.streams.drain(..) {
                self.keep(s);
            }
        }
        self.messages_dropped += other.messages_dropped;
        self.streams_without_data += other.streams_without_data;
        self.messages_dropped += self.messages.append(other.messages, self.max_messages);
    }

    /// Sorts streams by protocol and number, messages likewise.
    pub fn sort(&mut self) {
        sort_rows(&mut self.streams, |s| (s.info.proto, s.info.number));
        if self.max_streams != usize::MAX {
            // The streams kept moved.
            self.ranks = self.streams.iter().map(rank).zip(0..).collect();
        }
        self.messages
            .sort_by_key(|m| (m.proto, m.stream, m.dir.index(), m.index));
    }

    /// Drops the messages of streams not kept ([`Collector::keep_streams`]):
    /// a document lists messages with their streams. (The table's sample
    /// keeps them: it shows the kept streams' messages first, then others.)
    pub fn drop_messages_of_dropped_streams(&mut self) {
        if self.dropped.streams == 0 {
            return;
        }
        let kept: std::collections::HashSet<(Proto, u64)> = self
            .streams
            .iter()
            .map(|s| (s.info.proto, s.info.number))
            .collect();
        self.messages
            .retain(|m| kept.contains(&(m.proto, m.stream)));
    }

    /// The directions' counters summed over every stream seen, kept or
    /// not ([`Collector::dropped`]).
    pub fn totals(&self) -> DirSummary {
        let mut t = self.dropped.totals;
        for s in &self.streams {
            for d in &s.dirs {
                add_dir(&mut t, d);
            }
        }
        t
    }
}

impl Collector {
    /// Whether `message` is kept.
    #[inline]
    fn keeps(&self, message: &Message) -> bool {
        self.keep_all
            || message
                .flagged_index
                .is_some_and(|n| n < self.flagged_per_dir as u64)
    }

    /// Shows and keeps `message`, as [`Collector::keeps`] and the hook say.
    #[inline(never)]
    fn take(&mut self, stream: &StreamInfo, dir: Dir, message: &Message) {
        if let (Some(f), true) = (&mut self.on_flagged, message.is_flagged()) {
            f(&MessageRow::new(stream, dir, message));
        }
        if !self.keeps(message) {
            return;
        }
        if self.messages.len() >= self.max_messages {
            self.messages_dropped += 1;
            return;
        }
        self.messages.push(stream, dir, message);
    }
}

/// Sorts `rows` by `key`, ties in their order, moving each row about once:
/// the keys are sorted beside the rows' places, then the rows follow the
/// cycles of that permutation. Rows are hundreds of bytes (a stream's
/// result is 952), which a sort of the rows themselves would move
/// many times.
fn sort_rows<T, K: Ord>(rows: &mut [T], key: impl Fn(&T) -> K) {
    let mut order: Vec<(K, usize)> = rows.iter().map(&key).zip(0..).collect();
    order.sort_unstable();
    // `from[i]`: where the row that belongs at `i` is now.
    let mut from: Vec<usize> = order.into_iter().map(|(_, i)| i).collect();
    for start in 0..rows.len() {
        let mut at = start;
        while from[at] != start {
            let next = from[at];
            rows.swap(at, next);
            from[at] = at;
            at = next;
        }
        from[at] = at;
    }
}

impl Report for Collector {
    #[inline]
    fn message(&mut self, stream: &StreamInfo, dir: Dir, message: &Message) {
        // Most messages are only counted: nothing to show or keep.
        if self.on_flagged.is_some() || self.keeps(message) {
            self.take(stream, dir, message);
        }
    }

    #[inline]
    fn flagged_wanted(&self) -> u64 {
        if self.keep_all || self.on_flagged.is_some() {
            u64::MAX
        } else {
            self.flagged_per_dir as u64
        }
    }

    fn stream(&mut self, result: StreamResult) {
        // Streams that carried no payload have nothing to frame: counted,
        // not kept (`flows` lists them), so a scan or a SYN flood does not
        // fill memory with empty rows.
        if result
            .dirs
            .iter()
            .all(|d| d.bytes == 0 && d.messages == 0 && d.gaps == 0)
        {
            self.streams_without_data += 1;
            return;
        }
        self.keep(result);
    }
}

/// Writes one JSON object per line as results arrive: `{"type":"message",..}`
/// per message, `{"type":"stream",..}` per stream. Keeps nothing but the
/// lines not yet written: they go to the writer in blocks of
/// [`JSONL_BLOCK`] bytes (or the size given to [`JsonLines::block`]), and
/// the rest at [`JsonLines::finish`]. Made with [`JsonLines::in_background`],
/// it hands each full block to a thread that writes it, so the next block
/// is made while the last is written.
pub struct JsonLines<W: Write> {
    out: Out<W>,
    /// The first write error; later writes are skipped.
    pub error: Option<io::Error>,
    /// Whether to write non-flagged messages too.
    pub all_messages: bool,
    /// Lines not written yet.
    pending: Vec<u8>,
    /// Bytes pending that make a block.
    block: usize,
    /// The last timestamps written.
    stamps: Stamps,
}

/// The JSON text of the last two timestamps written: the messages a
/// segment holds share its timestamp, and a split message starts at the
/// timestamp the one before it ended at, so most are written again, and
/// formatting a float's shortest digits (serde_json's way) was 15% of
/// writing the redis capture's 4.8 million lines.
#[derive(Default)]
struct Stamps {
    kept: [(Option<Timestamp>, Vec<u8>); 2],
    /// The entry to replace next.
    next: usize,
}

impl Stamps {
    /// Appends `ts` as serde_json writes it.
    fn write(&mut self, line: &mut Vec<u8>, ts: Timestamp) {
        if let Some((_, text)) = self.kept.iter().find(|(t, _)| *t == Some(ts)) {
            line.extend_from_slice(text);
            return;
        }
        let (t, text) = &mut self.kept[self.next];
        self.next = 1 - self.next;
        text.clear();
        let _ = serde_json::to_writer(&mut *text, &ts);
        *t = Some(ts);
        line.extend_from_slice(text);
    }
}

/// Bytes of lines [`JsonLines`] writes at once by default. Each block
/// handed to the writer thread costs a wake-up and a switch on each side;
/// 256 KiB blocks took 8-17% less processor time than 64 KiB ones on the
/// bench captures' jsonl (many, many-small, redis and redis-mix, 9-11
/// interleaved rounds on 2 cores), and 4 MiB ones were slower than
/// either.
pub const JSONL_BLOCK: usize = 256 << 10;

/// Room a block's buffer has past the block, for the line that fills it:
/// most lines fit, so the buffer is rarely grown.
const BLOCK_SLACK: usize = 1024;

/// Full blocks waiting for [`JsonLines::in_background`]'s writer thread,
/// at most: memory stays within a few blocks however fast lines are made.
pub const BACKGROUND_BLOCKS: usize = 4;

/// Where [`JsonLines`] writes.
enum Out<W> {
    /// Here, on the caller's thread.
    Here(W),
    /// On a thread of its own.
    Thread {
        /// Full blocks, to the writer.
        full: Option<SyncSender<Vec<u8>>>,
        /// Written blocks, back for reuse.
        empty: Receiver<Vec<u8>>,
        /// The writer, returning its first error.
        thread: Option<JoinHandle<io::Result<()>>>,
    },
}

impl<W: Write> JsonLines<W> {
    /// Writes to `out`.
    pub fn new(out: W, all_messages: bool) -> Self {
        JsonLines {
            out: Out::Here(out),
            error: None,
            all_messages,
            pending: Vec::with_capacity(JSONL_BLOCK + BLOCK_SLACK),
            block: JSONL_BLOCK,
            stamps: Stamps::default(),
        }
    }

    /// Writes to `out` on a thread of its own: formatting lines and
    /// writing them go side by side, with at most [`BACKGROUND_BLOCKS`]
    /// full blocks between them. A write error stops the writer; lines
    /// made after it are dropped and [`JsonLines::finish`] returns it.
    pub fn in_background(out: W, all_messages: bool) -> io::Result<Self>
    where
        W: Send + 'static,
    {
        let (full, blocks) = sync_channel::<Vec<u8>>(BACKGROUND_BLOCKS);
        let (done, empty) = channel::<Vec<u8>>();
        let thread = std::thread::Builder::new()
            .name("jsonl-writer".into())
            .spawn(move || {
                let mut out = out;
                for mut block in blocks {
                    out.write_all(&block)?;
                    block.clear();
                    // The maker gone: nothing more to reuse it for.
                    let _ = done.send(block);
                }
                out.flush()
            })?;
        Ok(JsonLines {
            out: Out::Thread {
                full: Some(full),
                empty,
                thread: Some(thread),
            },
            error: None,
            all_messages,
            pending: Vec::with_capacity(JSONL_BLOCK + BLOCK_SLACK),
            block: JSONL_BLOCK,
            stamps: Stamps::default(),
        })
    }

    /// Writes blocks of `bytes` (at least one line each) instead of
    /// [`JSONL_BLOCK`]: smaller blocks show lines sooner.
    pub fn block(mut self, bytes: usize) -> Self {
        self.block = bytes;
        self.pending.reserve(bytes.saturating_add(BLOCK_SLACK));
        self
    }

    /// Writes one tagged record.
    pub fn write<T: Serialize>(&mut self, kind: &str, value: &T) {
        if self.error.is_some() {
            return;
        }
        #[derive(Serialize)]
        struct Tagged<'a, T> {
            #[serde(rename = "type")]
            kind: &'a str,
            #[serde(flatten)]
            value: &'a T,
        }
        let mark = self.pending.len();
        if let Err(e) = serde_json::to_writer(&mut self.pending, &Tagged { kind, value }) {
            self.pending.truncate(mark);
            self.error = Some(e.into());
            return;
        }
        self.pending.push(b'\n');
        self.spill();
    }

    /// Writes the pending lines once they make a block.
    #[inline]
    fn spill(&mut self) {
        if self.pending.len() >= self.block {
            self.write_pending();
        }
    }

    /// Writes the pending lines, or hands them to the writer thread.
    fn write_pending(&mut self) {
        match &mut self.out {
            Out::Here(out) => {
                if let Err(e) = out.write_all(&self.pending) {
                    self.error = Some(e);
                }
                self.pending.clear();
            }
            Out::Thread { full, empty, .. } => {
                let next = empty
                    .try_recv()
                    .unwrap_or_else(|_| Vec::with_capacity(self.block.saturating_add(BLOCK_SLACK)));
                let block = std::mem::replace(&mut self.pending, next);
                let sent = full.as_ref().is_some_and(|f| f.send(block).is_ok());
                if !sent {
                    // The writer stopped at an error, which finish() returns.
                    self.error = Some(io::Error::other("the writer thread stopped"));
                }
            }
        }
    }

    /// Writes what is pending, flushes, and returns the first error, if
    /// any.
    pub fn finish(mut self) -> io::Result<()> {
        if self.error.is_none() && !self.pending.is_empty() {
            self.write_pending();
        }
        let mine = self.error.take();
        match &mut self.out {
            Out::Here(out) => match mine {
                Some(e) => Err(e),
                None => out.flush(),
            },
            Out::Thread { full, thread, .. } => {
                // No more blocks: the writer flushes and ends.
                drop(full.take());
                let theirs = match thread.take().map(JoinHandle::join) {
                    Some(Ok(result)) => result,
                    Some(Err(_)) => Err(io::Error::other("the writer thread panicked")),
                    None => Ok(()),
                };
                // The writer's own error says what happened; ours only
                // that it had stopped.
                theirs.and(mine.map_or(Ok(()), Err))
            }
        }
    }
}

impl<W: Write> Report for JsonLines<W> {
    fn message(&mut self, stream: &StreamInfo, dir: Dir, message: &Message) {
        if !(self.all_messages || message.is_flagged()) {
            return;
        }
        if self.error.is_some() {
            return;
        }
        message_line(&mut self.pending, &mut self.stamps, stream, dir, message);
        self.spill();
    }

    fn stream(&mut self, result: StreamResult) {
        self.write("stream", &result);
    }
}

/// Appends `message`'s JSON line (with its newline) to `line`: the bytes
/// `serde_json` writes for its tagged [`MessageRow`], without building the
/// row (a copy of the message and its filter) or going through a map.
/// Millions of messages go through here.
fn message_line(
    line: &mut Vec<u8>,
    stamps: &mut Stamps,
    stream: &StreamInfo,
    dir: Dir,
    m: &Message,
) {
    let from = match dir {
        Dir::Client => stream.client,
        Dir::Server => stream.server,
    };
    let row = RowRef {
        stream: stream.number,
        proto: stream.proto,
        dir,
        from,
        message: m,
    };
    write_row::<false>(line, stamps, &row);
}

impl<W: Write> pretty::Object<W> {
    /// Writes a field whose value is the message rows `rows`, on up to
    /// `threads` threads: the bytes [`pretty::to_writer`] writes for them
    /// (a [`MessageRow`] each). Rows are written by hand, as JSON lines
    /// are, rather than through `Serialize`, whose flattening of the
    /// message goes through a map; a unit test holds the two to the same
    /// bytes.
    pub fn rows(&mut self, key: &str, rows: &rows::Rows, threads: usize) -> serde_json::Result<()> {
        let row = |stamps: &mut Stamps, i: usize, buf: &mut Vec<u8>| {
            document_row(buf, stamps, &rows.get(i));
            Ok(())
        };
        self.array_with(key, rows.len(), row, threads, pretty::BATCH)
    }

    /// Writes a field whose value is the streams `streams`, on up to
    /// `threads` threads: the bytes [`pretty::to_writer`] writes for them.
    /// A stream's stalls are written by hand (`document_stream`); the
    /// rest of it through `Serialize`.
    pub fn streams(
        &mut self,
        key: &str,
        streams: &[StreamResult],
        threads: usize,
    ) -> serde_json::Result<()> {
        let stream = |_: &mut (), i: usize, buf: &mut Vec<u8>| document_stream(buf, &streams[i]);
        self.array_with(key, streams.len(), stream, threads, STREAM_BATCH)
    }
}

/// Streams rendered in one piece by one thread of the document's writing:
/// fewer than the message rows' [`pretty::BATCH`], as a stream's size
/// ranges from a few hundred bytes to tens of KB (its stalls), and the
/// threads, which write their pieces in turn, wait less for an uneven one.
/// Measured with the report timed apart, 31 interleaved rounds on
/// many-small (1,017 streams, 55,189 stalls): 13.29 ms with 64 streams to
/// a piece, 11.89 with 16, 10.41 with 8; on redis-mix 3.36, 3.35 and
/// 3.40 ms.
const STREAM_BATCH: usize = 8;

/// A stream's `stalls` field as [`pretty::to_writer`] writes it in the
/// document's stream list, empty: the stream's own fields are three levels
/// deep, and a line break in the document is never inside a string (JSON
/// escapes it), so these bytes occur once in a stream's, at that field.
const NO_STALLS: &[u8] = b"\n      \"stalls\": []";

/// Appends `stream` as an element of the JSON document's stream list: the
/// bytes [`pretty::to_writer`] writes for it there (two levels deep), from
/// its first `{` to its last `}`. The stream is written through
/// `Serialize` with no stalls, and its stalls, written by hand, go in
/// their place: through `Serialize`, writing the 55,483 stalls of the
/// many-small bench capture was most of the time its document took more
/// than the table.
fn document_stream(out: &mut Vec<u8>, stream: &StreamResult) -> serde_json::Result<()> {
    if stream.stalls.is_empty() {
        return pretty::at_level(out, 2, stream);
    }
    // Every field but the stalls: a field added to the struct fails to
    // compile here rather than go missing.
    let without = StreamResult {
        info: stream.info,
        framing: stream.framing.clone(),
        detected: stream.detected.clone(),
        dirs: stream.dirs,
        reassembly: stream.reassembly,
        recv: stream.recv.clone(),
        stalls: nagle::Stalls::new(),
        tls: stream.tls,
    };
    let start = out.len();
    pretty::at_level(&mut *out, 2, &without)?;
    let Some(at) = out[start..]
        .windows(NO_STALLS.len())
        .rposition(|w| w == NO_STALLS)
    else {
        // Not where it is expected: the slow way, the same bytes.
        out.truncate(start);
        return pretty::at_level(out, 2, stream);
    };
    // After the `[`: the stalls, the array's close, then what followed.
    let open = start + at + NO_STALLS.len() - 1;
    let rest = out.split_off(open);
    document_stalls(out, &stream.stalls);
    out.extend_from_slice(b"\n      ]");
    out.extend_from_slice(&rest[1..]);
    Ok(())
}

/// Appends the elements of a stream's stall list in the document (each
/// three levels deep, after the list's `[`), as [`pretty::to_writer`]
/// writes them: field by field, the durations through `serde_json`.
fn document_stalls(out: &mut Vec<u8>, stalls: &nagle::Stalls) {
    let mut first = true;
    for stall in stalls {
        out.extend_from_slice(if first { b"\n" } else { b",\n" });
        first = false;
        out.extend_from_slice(match stall.dir {
            Dir::Client => b"        {\n          \"dir\": \"client\",\n          \"record\": ",
            Dir::Server => b"        {\n          \"dir\": \"server\",\n          \"record\": ",
        });
        let mut ints = itoa::Buffer::new();
        out.extend_from_slice(ints.format(stall.record).as_bytes());
        out.extend_from_slice(b",\n          \"offset\": ");
        out.extend_from_slice(ints.format(stall.offset).as_bytes());
        out.extend_from_slice(b",\n          \"previous_record\": ");
        out.extend_from_slice(ints.format(stall.previous_record).as_bytes());
        out.extend_from_slice(b",\n          \"ack_record\": ");
        out.extend_from_slice(ints.format(stall.ack_record).as_bytes());
        out.extend_from_slice(b",\n          \"stalled\": ");
        // Writing to a `Vec` cannot fail.
        let _ = serde_json::to_writer(&mut *out, &stall.stalled);
        out.extend_from_slice(b",\n          \"ack_delay\": ");
        let _ = serde_json::to_writer(&mut *out, &stall.ack_delay);
        out.extend_from_slice(b"\n        }");
    }
}

/// Appends `row` as an element of the JSON document's message list: the
/// bytes [`pretty::to_writer`] writes for it there (two levels deep), from
/// its first `{` to its last `}`.
fn document_row(out: &mut Vec<u8>, stamps: &mut Stamps, row: &MessageRow) {
    let row = RowRef {
        stream: row.stream,
        proto: row.proto,
        dir: row.dir,
        from: row.from,
        message: &row.message,
    };
    write_row::<true>(out, stamps, &row);
}

/// A message row's parts, borrowed.
struct RowRef<'a> {
    stream: u64,
    proto: Proto,
    dir: Dir,
    from: SocketAddr,
    message: &'a Message,
}

/// The bytes before a row's value: its key `$name`, with the separators
/// of a JSON line (`$doc` false) or of the document's indented list
/// (`$doc` true), and the text `$then` after it. Constants: a key is one
/// copy, with a value that is constant too.
macro_rules! key {
    ($doc:expr, $name:literal) => {
        key!($doc, $name, "")
    };
    ($doc:expr, $name:literal, $then:literal) => {
        if $doc {
            concat!(",\n      \"", $name, "\": ", $then).as_bytes()
        } else {
            concat!(",\"", $name, "\":", $then).as_bytes()
        }
    };
}

/// Writes `row` as serde_json writes it: as a JSON line, compact, tagged
/// `"type":"message"` and with its newline (`DOC` false), or as an
/// element of the document's message list, indented as [`pretty`] indents
/// it (`DOC` true).
fn write_row<const DOC: bool>(line: &mut Vec<u8>, stamps: &mut Stamps, row: &RowRef<'_>) {
    /// `line`, as `fmt::Write` for the filter.
    struct Text<'a>(&'a mut Vec<u8>);
    impl std::fmt::Write for Text<'_> {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0.extend_from_slice(s.as_bytes());
            Ok(())
        }
    }
    fn int(line: &mut Vec<u8>, key: &[u8], v: u64) {
        line.extend_from_slice(key);
        line.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    }
    /// A string serde_json writes itself (escapes). Writing to a `Vec`
    /// cannot fail.
    fn text(line: &mut Vec<u8>, key: &[u8], v: &str) {
        line.extend_from_slice(key);
        let _ = serde_json::to_writer(&mut *line, v);
    }
    let m = row.message;
    line.extend_from_slice(if DOC {
        b"{\n      \"stream\": "
    } else {
        br#"{"type":"message","stream":"#
    });
    line.extend_from_slice(itoa::Buffer::new().format(row.stream).as_bytes());
    line.extend_from_slice(match row.proto {
        Proto::Tcp => key!(DOC, "proto", r#""tcp""#),
        Proto::Udp => key!(DOC, "proto", r#""udp""#),
    });
    line.extend_from_slice(match row.dir {
        Dir::Client => key!(DOC, "dir", r#""client""#),
        Dir::Server => key!(DOC, "dir", r#""server""#),
    });
    int(line, key!(DOC, "index"), m.index);
    int(line, key!(DOC, "offset"), m.offset);
    int(line, key!(DOC, "len"), m.len);
    int(line, key!(DOC, "first_record"), m.first_record);
    int(line, key!(DOC, "last_record"), m.last_record);
    line.extend_from_slice(key!(DOC, "first_ts"));
    stamps.write(line, m.first_ts);
    line.extend_from_slice(key!(DOC, "last_ts"));
    stamps.write(line, m.last_ts);
    int(line, key!(DOC, "segments"), m.segments);
    line.extend_from_slice(if m.coalesced {
        key!(DOC, "coalesced", "true")
    } else {
        key!(DOC, "coalesced", "false")
    });
    line.extend_from_slice(key!(DOC, "status", "\""));
    line.extend_from_slice(m.status.name().as_bytes());
    line.push(b'"');
    match &m.label {
        Some(label) => text(line, key!(DOC, "label"), label.as_str()),
        None => line.extend_from_slice(key!(DOC, "label", "null")),
    }
    match m.missing {
        Some(n) => int(line, key!(DOC, "missing"), n),
        None => line.extend_from_slice(key!(DOC, "missing", "null")),
    }
    match &m.error {
        Some(e) => text(line, key!(DOC, "error"), e),
        None => line.extend_from_slice(key!(DOC, "error", "null")),
    }
    line.extend_from_slice(key!(DOC, "records", "["));
    let records = m.records.as_slice();
    for (i, r) in records.iter().enumerate() {
        match (DOC, i) {
            (false, 0) => {}
            (false, _) => line.push(b','),
            (true, 0) => line.extend_from_slice(b"\n        "),
            (true, _) => line.extend_from_slice(b",\n        "),
        }
        line.extend_from_slice(itoa::Buffer::new().format(*r).as_bytes());
    }
    if DOC && !records.is_empty() {
        line.extend_from_slice(b"\n      ");
    }
    line.push(b']');
    if let Some(tls) = &m.tls {
        line.extend_from_slice(key!(DOC, "tls"));
        let _ = if DOC {
            pretty::at_level(&mut *line, 3, tls)
        } else {
            serde_json::to_writer(&mut *line, tls)
        };
    }
    // A filter holds no character JSON escapes.
    line.extend_from_slice(key!(DOC, "filter", "\""));
    m.write_filter_from(&mut Text(line), row.proto, row.stream, row.from);
    line.extend_from_slice(if DOC { b"\"\n    }" } else { b"\"}\n" });
}

/// A table in the house style. Columns wrap to the terminal's width only
/// when stdout is a terminal: piped output keeps whole rows (and skips the
/// width computation, which dominates on captures of thousands of streams).
pub fn table() -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_BORDERS_ONLY);
    if io::stdout().is_terminal() {
        t.set_content_arrangement(ContentArrangement::Dynamic);
    }
    t
}

fn right(v: impl ToString) -> Cell {
    Cell::new(v).set_alignment(CellAlignment::Right)
}

/// How much a stream needs attention: its flagged messages (split,
/// truncated, malformed, holed), coalesced segments and stalls.
pub fn attention(s: &StreamResult) -> u64 {
    s.dirs
        .iter()
        .map(|d| {
            d.split_messages
                + d.coalesced_segments
                + d.truncated_messages
                + d.malformed_messages
                + d.gap_messages
                + d.stalls
                + d.gaps
        })
        .sum()
}

/// The streams, most in need of attention first (then by protocol and
/// number).
pub fn ranked(streams: &[StreamResult]) -> Vec<&StreamResult> {
    let mut v: Vec<&StreamResult> = streams.iter().collect();
    v.sort_by_key(|s| (std::cmp::Reverse(attention(s)), s.info.proto, s.info.number));
    v
}

/// The totals line: streams, messages and what was flagged (`all`, the
/// totals over `streams`). [`Collector::totals_line`] says it of every
/// stream a collector saw, kept or not.
pub fn totals_line(streams: &[StreamResult], without_data: u64, all: &DirSummary) -> String {
    totals_text(streams, &DroppedStreams::default(), without_data, all)
}

fn totals_text(
    streams: &[StreamResult],
    dropped: &DroppedStreams,
    without_data: u64,
    all: &DirSummary,
) -> String {
    let tcp = streams
        .iter()
        .filter(|s| s.info.proto == Proto::Tcp)
        .count() as u64
        + dropped.tcp;
    let udp = streams.len() as u64 + dropped.streams - tcp;
    let attention =
        streams.iter().filter(|s| attention(s) > 0).count() as u64 + dropped.needing_attention;
    format!(
        "{tcp} TCP streams and {udp} UDP flows with data ({without_data} without), {attention} needing attention; \
         {} messages: {} split, {} coalesced segments, {} truncated, {} malformed, {} holed by capture gaps; {} stalls",
        all.messages,
        all.split_messages,
        all.coalesced_segments,
        all.truncated_messages,
        all.malformed_messages,
        all.gap_messages,
        all.stalls
    )
}

/// The columns of the per-direction summary, in the order
/// [`summary_rows`] fills them.
pub const SUMMARY_COLUMNS: [&str; 15] = [
    "stream",
    "dir",
    "from",
    "to",
    "framing",
    "messages",
    "split",
    "coalesced segs",
    "truncated",
    "malformed",
    "gap msgs",
    "segments",
    "bytes",
    "stalls",
    "notes",
];

/// Which of [`SUMMARY_COLUMNS`] hold counts (aligned right).
pub const SUMMARY_COUNTS: std::ops::Range<usize> = 5..14;

/// The per-direction summary as text, one row per stream direction that
/// carried anything, cells in the order of [`SUMMARY_COLUMNS`]: the one
/// source of the table and of the HTML page's summary.
pub fn summary_rows<'a>(
    streams: &'a [&'a StreamResult],
) -> impl Iterator<Item = [String; 15]> + 'a {
    streams.iter().flat_map(|s| {
        Dir::BOTH.into_iter().filter_map(move |dir| {
            let d = &s.dirs[dir.index()];
            if d.bytes == 0 && d.messages == 0 && d.gaps == 0 {
                return None;
            }
            let (from, to) = match dir {
                Dir::Client => (&s.info.client, &s.info.server),
                Dir::Server => (&s.info.server, &s.info.client),
            };
            let proto = match s.info.proto {
                Proto::Tcp => "tcp",
                Proto::Udp => "udp",
            };
            Some([
                format!("{proto} {}", s.info.number),
                dir.name().to_string(),
                endpoint(from),
                endpoint(to),
                match &s.detected {
                    Some(found) => format!("{} ({:.2})", s.framing, found.confidence),
                    None => s.framing.clone(),
                },
                d.messages.to_string(),
                d.split_messages.to_string(),
                d.coalesced_segments.to_string(),
                d.truncated_messages.to_string(),
                d.malformed_messages.to_string(),
                d.gap_messages.to_string(),
                d.segments.to_string(),
                d.bytes.to_string(),
                d.stalls.to_string(),
                notes(s, dir),
            ])
        })
    })
}

/// The per-direction summary table.
pub fn summary_table(streams: &[&StreamResult]) -> Table {
    let mut t = table();
    t.set_header(SUMMARY_COLUMNS);
    for row in summary_rows(streams) {
        t.add_row(row.into_iter().enumerate().map(|(i, cell)| {
            if SUMMARY_COUNTS.contains(&i) {
                right(cell)
            } else {
                Cell::new(cell)
            }
        }));
    }
    t
}

fn notes(s: &StreamResult, dir: Dir) -> String {
    let d = &s.dirs[dir.index()];
    let h = &s.reassembly.dirs[dir.index()];
    let mut n = Vec::new();
    if d.gaps > 0 {
        n.push(format!("{} capture gaps ({} B)", d.gaps, h.gap_bytes));
    }
    if let Some(at) = d.decoding_stopped_at {
        n.push(format!(
            "decoding stopped at offset {at}, {} B undecoded",
            d.undecoded_bytes
        ));
    } else if d.undecoded_bytes > 0 {
        n.push(format!(
            "{} B skipped, {} resyncs",
            d.undecoded_bytes, d.resyncs
        ));
    }
    if h.retransmissions > 0 {
        n.push(format!("{} retransmissions", h.retransmissions));
    }
    if h.conflict_bytes > 0 {
        n.push(format!("{} conflicting bytes", h.conflict_bytes));
    }
    if d.multi_message_datagrams > 0 {
        n.push(format!(
            "{} datagrams hold several messages",
            d.multi_message_datagrams
        ));
    }
    if d.partial_datagrams > 0 {
        n.push(format!(
            "{} datagrams end inside a message",
            d.partial_datagrams
        ));
    }
    if d.oversized_datagrams > 0 {
        n.push(format!(
            "{} datagrams truncated by recvfrom()",
            d.oversized_datagrams
        ));
    }
    if s.framing == "tls" {
        n.push(TLS_RECORDS_ONLY.to_string());
    }
    if let Some(t) = s.tls.as_ref().map(|t| &t[dir.index()]) {
        n.push(format!(
            "decrypted: split and coalesced are over {} TLS records; {} records split over segments, {} segments carry several records{}",
            t.records,
            t.split_records,
            t.coalesced_segments,
            if t.incomplete { " (record map incomplete)" } else { "" }
        ));
    }
    n.join("; ")
}

/// What a stream framed as TLS records says: its messages are records,
/// and what decrypts them.
pub const TLS_RECORDS_ONLY: &str =
    "encrypted: TLS records only; a key log naming the session decrypts it (--keylog FILE or SSLKEYLOGFILE)";

/// The table of messages.
pub fn message_table(rows: &[MessageRow]) -> Table {
    let mut t = table();
    t.set_header(vec![
        "stream", "dir", "#", "offset", "len", "records", "segs", "status", "label", "detail",
    ]);
    for r in rows {
        let m = &r.message;
        let records = if m.first_record == m.last_record {
            m.first_record.to_string()
        } else {
            format!("{}-{}", m.first_record, m.last_record)
        };
        let mut status = m.status.name().to_string();
        if m.coalesced {
            status.push_str(", coalesced");
        }
        let mut detail = match (&m.error, m.missing) {
            (Some(e), _) => e.clone(),
            (None, Some(missing)) => format!("{missing} bytes missing"),
            _ if m.is_flagged() => r.filter(),
            _ => String::new(),
        };
        if let Some(tls) = &m.tls {
            // The record layer first: the status is about records.
            let sep = if detail.is_empty() { "" } else { "; " };
            detail = format!("{}{sep}{detail}", tls.text());
        }
        t.add_row(vec![
            Cell::new(r.stream),
            Cell::new(r.dir.name()),
            right(m.index),
            right(m.offset),
            right(m.len),
            Cell::new(records),
            right(m.segments),
            Cell::new(status),
            Cell::new(m.label.as_ref().map_or("", |l| l.as_str())),
            Cell::new(detail),
        ]);
    }
    t
}

/// The naive-reader tables for one stream direction.
pub fn recv_text(info: &StreamInfo, dir: Dir, r: &RecvResult) -> String {
    let mut out = String::new();
    for (name, reader) in r.readers() {
        if reader.reads.is_empty() {
            continue;
        }
        let who = if name == "recvfrom" {
            format!("recvfrom({}), one datagram per call", r.sizes)
        } else if name == "SSL_read" {
            format!("SSL_read({}), at most one TLS record per call", r.sizes)
        } else {
            format!("recv({}) by a reader {name}", r.sizes)
        };
        let discarded: u64 = reader.reads.iter().map(|r| r.discarded).sum();
        out.push_str(&format!(
            "{who}, stream {} {}: {} exact, {} glued, {} cut, {} empty{}{}{}\n",
            info.number,
            dir.name(),
            reader.exact,
            reader.glued,
            reader.cut,
            reader.empty,
            if r.truncated_datagrams > 0 {
                format!(
                    "; {} datagrams truncated, {discarded} bytes discarded",
                    r.truncated_datagrams
                )
            } else {
                String::new()
            },
            if reader.unread_bytes > 0 {
                format!(", {} bytes left unread", reader.unread_bytes)
            } else {
                String::new()
            },
            if r.incomplete {
                "; only the beginning was simulated (bound reached)"
            } else {
                ""
            }
        ));
        out.push_str(&reads_table(reader).to_string());
        out.push('\n');
    }
    out
}

const MAX_READ_ROWS: usize = 50;

fn reads_table(r: &ReaderResult) -> Table {
    let mut t = table();
    let datagrams = r.reads.iter().any(|read| read.discarded > 0);
    let mut header = vec!["read", "size", "offset", "returned"];
    if datagrams {
        header.push("discarded");
    }
    header.extend(["messages", "verdict"]);
    t.set_header(header);
    for (i, read) in r.reads.iter().take(MAX_READ_ROWS).enumerate() {
        let msgs: Vec<String> = read.messages.iter().map(u64::to_string).collect();
        let mut row = vec![
            right(i),
            right(read.size),
            right(read.offset),
            right(read.len),
        ];
        if datagrams {
            row.push(right(read.discarded));
        }
        row.extend([Cell::new(msgs.join(" ")), Cell::new(read.verdict.name())]);
        t.add_row(row);
    }
    if r.reads.len() > MAX_READ_ROWS {
        t.add_row(vec![Cell::new(format!(
            "... {} more reads (see --format json)",
            r.reads.len() - MAX_READ_ROWS
        ))]);
    }
    t
}

/// The stall list, with the advice: at most `max` rows (0: all), and a
/// count of the rest, `elsewhere` of which are in other streams than
/// `streams` (streams a [`Collector`] did not keep).
pub fn stalls_text(streams: &[&StreamResult], elsewhere: u64, max: usize) -> String {
    let mut t = table();
    t.set_header(vec![
        "stream",
        "dir",
        "held segment",
        "after",
        "released by ACK",
        "ACK delay",
        "stalled",
    ]);
    let listed: usize = streams.iter().map(|s| s.stalls.len()).sum();
    let total = listed as u64 + elsewhere;
    let max = if max == 0 { listed } else { max };
    let mut shown = 0;
    for s in streams {
        for st in &s.stalls {
            if shown == max {
                break;
            }
            shown += 1;
            t.add_row(vec![
                Cell::new(s.info.number),
                Cell::new(st.dir.name()),
                right(format!("#{} @{}", st.record, st.offset)),
                right(format!("#{}", st.previous_record)),
                right(format!("#{}", st.ack_record)),
                right(format!("{:.1} ms", st.ack_delay * 1e3)),
                right(format!("{:.1} ms", st.stalled * 1e3)),
            ]);
        }
    }
    if total == 0 {
        return String::new();
    }
    let more = if (shown as u64) < total {
        format!(
            "and {} more stalls (--top 0 or --format json for all)\n",
            total - shown as u64
        )
    } else {
        String::new()
    };
    format!(
        "Nagle / delayed-ACK stalls:\n{t}\n{more}advice: {}\n",
        nagle::ADVICE
    )
}

/// What `--fail-on` looks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum FailOn {
    /// Truncated, malformed or holed messages.
    Anomalies,
    /// Any flagged message (split and coalesced included) or stall.
    Any,
    /// Split messages.
    Split,
    /// Messages sharing a segment.
    Coalesced,
    /// Truncated messages.
    Truncated,
    /// Malformed messages.
    Malformed,
    /// Messages holed by a capture gap.
    Gap,
    /// Nagle / delayed-ACK stalls.
    Stall,
}

/// Whether a finished run trips `--fail-on`.
pub fn fails(totals: &DirSummary, what: &[FailOn]) -> bool {
    what.iter().any(|w| match w {
        FailOn::Any => {
            totals.split_messages
                + totals.coalesced_segments
                + totals.truncated_messages
                + totals.malformed_messages
                + totals.gap_messages
                + totals.stalls
                > 0
        }
        FailOn::Anomalies => {
            totals.truncated_messages + totals.malformed_messages + totals.gap_messages > 0
        }
        FailOn::Split => totals.split_messages > 0,
        FailOn::Coalesced => totals.coalesced_segments > 0,
        FailOn::Truncated => totals.truncated_messages > 0,
        FailOn::Malformed => totals.malformed_messages > 0,
        FailOn::Gap => totals.gap_messages > 0,
        FailOn::Stall => totals.stalls > 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::tls::TlsSpan;
    use crate::analysis::Status;
    use crate::capture::Timestamp;
    use crate::decode::Label;

    /// Rows sorted in place by their permutation come out as a stable
    /// sort orders them: shuffled, reversed, sorted, with ties, empty.
    #[test]
    fn rows_sort_as_a_stable_sort_does() {
        let mut rng = crate::replay::Rng::new(0x2545_f491_4f6c_dd1d_u64);
        let mut next = move || rng.next_u64();
        let shuffled: Vec<(u64, usize)> = (0..1000).map(|i| (next() % 50, i)).collect();
        let reversed: Vec<(u64, usize)> = (0..300).rev().map(|i| (i as u64, i)).collect();
        let sorted: Vec<(u64, usize)> = (0..300).map(|i| (i as u64 / 3, i)).collect();
        for rows in [shuffled, reversed, sorted, Vec::new(), vec![(7, 0)]] {
            let mut expected = rows.clone();
            expected.sort_by_key(|r| r.0);
            let mut got = rows;
            sort_rows(&mut got, |r| r.0);
            assert_eq!(got, expected);
        }
    }

    /// A stream result with `flagged` split messages out of `messages`.
    fn result(proto: Proto, number: u64, messages: u64, flagged: u64) -> StreamResult {
        let mut dirs = [DirSummary::default(); 2];
        dirs[0].messages = messages;
        dirs[0].split_messages = flagged;
        dirs[0].flagged_messages = flagged;
        dirs[0].bytes = 10 * messages + 1;
        StreamResult {
            info: info(proto, number, false),
            framing: if number.is_multiple_of(7) {
                "tls"
            } else {
                "length:4"
            }
            .to_string(),
            detected: None,
            dirs,
            reassembly: Default::default(),
            recv: None,
            stalls: nagle::Stalls::new(),
            tls: None,
        }
    }

    /// A result whose client direction stalled `n` times, every one listed.
    fn stalled(number: u64, n: u64) -> StreamResult {
        let mut r = result(Proto::Tcp, number, 5, 1);
        r.dirs[0].stalls = n;
        r.stalls = (0..n)
            .map(|i| nagle::Stall {
                dir: Dir::Client,
                record: number * 100 + i,
                offset: i,
                previous_record: 0,
                ack_record: 0,
                stalled: 0.04,
                ack_delay: 0.04,
            })
            .collect();
        r
    }

    /// Listed stalls over all streams kept stay within the bound, across
    /// merges and with streams dropped by their own bound; what is left
    /// out is counted, and the streams' counters count every stall.
    #[test]
    fn stalls_listed_stay_within_their_bound_and_the_rest_are_counted() {
        let listed = |c: &Collector| c.streams.iter().map(|s| s.stalls.len()).sum::<usize>();
        let mut c = Collector::new(false, 0, 0);
        c.keep_stalls(5);
        for n in 0..3 {
            c.stream(stalled(n, 3));
        }
        let lens: Vec<usize> = c.streams.iter().map(|s| s.stalls.len()).collect();
        assert_eq!((lens, c.stalls_dropped), (vec![3, 2, 0], 4));
        assert_eq!(c.totals().stalls, 9);
        // The ones kept are each stream's first.
        assert_eq!(
            c.streams[1].stalls.iter().nth(1).map(|s| s.record),
            Some(101)
        );

        // Two workers' collectors, each within the bound, merged.
        for workers in [2, 3] {
            let mut parts: Vec<Collector> = (0..workers)
                .map(|_| {
                    let mut c = Collector::new(false, 0, 0);
                    c.keep_stalls(5);
                    c
                })
                .collect();
            for n in 0..9 {
                parts[n as usize % workers].stream(stalled(n, 2));
            }
            let mut merged = parts.remove(0);
            for p in parts {
                merged.merge(p);
            }
            assert_eq!(listed(&merged), 5, "{workers} workers");
            assert_eq!(merged.stalls_dropped, 18 - 5, "{workers} workers");
            assert_eq!(merged.totals().stalls, 18);
        }

        // A stream dropped by the streams' bound leaves room for others.
        let mut c = Collector::new(false, 0, 0);
        c.keep_streams(1);
        c.keep_stalls(4);
        c.stream(stalled(1, 3));
        let mut more_flagged = stalled(2, 3);
        more_flagged.dirs[0].split_messages = 5;
        c.stream(more_flagged);
        assert_eq!(c.streams.len(), 1);
        assert_eq!(c.streams[0].info.number, 2);
        assert_eq!((listed(&c), c.stalls_dropped), (3, 0));

        // Without a bound, nothing is left out.
        let mut c = Collector::new(false, 0, 0);
        c.stream(stalled(1, 2000));
        assert_eq!((listed(&c), c.stalls_dropped), (2000, 0));
    }

    #[test]
    fn kept_streams_are_the_top_ranked_and_totals_count_every_stream() {
        // Results in a scrambled order, with ties in attention, from two
        // collectors merged: the kept ones must be the first `max` of the
        // ranking of all, and the totals those of all.
        let all: Vec<StreamResult> = (0..300u64)
            .map(|i| {
                let n = (i * 113) % 300;
                let proto = if n.is_multiple_of(5) {
                    Proto::Udp
                } else {
                    Proto::Tcp
                };
                result(proto, n, 3 + n % 4, (n * 37) % 9 % 4)
            })
            .collect();
        for max in [0, 1, 17, 150, 299, 300, 1000] {
            let mut whole = Collector::new(false, 0, 0);
            let (mut a, mut b) = (Collector::new(false, 0, 0), Collector::new(false, 0, 0));
            for c in [&mut a, &mut b] {
                c.keep_streams(max);
            }
            for (i, r) in all.iter().enumerate() {
                whole.stream(r.clone());
                if i % 3 == 0 { &mut a } else { &mut b }.stream(r.clone());
            }
            a.merge(b);
            a.sort();
            whole.sort();
            let expected: Vec<(Proto, u64)> = ranked(&whole.streams)
                .iter()
                .take(max)
                .map(|s| (s.info.proto, s.info.number))
                .collect();
            let got: Vec<(Proto, u64)> = ranked(&a.streams)
                .iter()
                .map(|s| (s.info.proto, s.info.number))
                .collect();
            assert_eq!(got, expected, "max {max}");
            assert_eq!(a.totals(), whole.totals(), "max {max}");
            assert_eq!(a.dropped.streams, 300 - expected.len() as u64);
            assert_eq!(a.totals_line(), whole.totals_line());
            assert_eq!(
                whole.totals_line(),
                totals_line(&whole.streams, 0, &whole.totals())
            );
            let tls = |c: &Collector| {
                c.streams.iter().filter(|s| s.framing == "tls").count() as u64
                    + c.dropped.tls_records
            };
            assert_eq!(tls(&a), tls(&whole));
        }
    }

    fn info(proto: Proto, number: u64, v6: bool) -> StreamInfo {
        let (client, server) = if v6 {
            (
                "[::1]:40000".parse().unwrap(),
                "[::1]:6379".parse().unwrap(),
            )
        } else {
            (
                "127.0.0.1:40000".parse().unwrap(),
                "127.0.0.1:6379".parse().unwrap(),
            )
        };
        StreamInfo {
            proto,
            number,
            client,
            server,
            first_record: 1,
            first_ts: Timestamp(0),
            tunnel: None,
        }
    }

    /// A stream of the document's list, stalls written by hand, is the
    /// bytes `Serialize` gives it there: with and without stalls, either
    /// direction, durations kept as nanoseconds or as raw `f64`s (one not
    /// finite), extreme records, a note with a line break and the text of
    /// an empty stall list in it, and fields after the stalls (TLS).
    #[test]
    fn document_streams_are_serde_jsons_bytes() {
        let durations = [0.04, 0.1 + 0.2, 1e-12, 123_456.789_012_345, f64::NAN, -0.0];
        let mut streams = Vec::new();
        for (n, stalls) in [0u64, 1, 2, 7].into_iter().enumerate() {
            let mut r = stalled(n as u64, stalls);
            r.stalls = (0..stalls)
                .map(|i| nagle::Stall {
                    dir: if i % 2 == 0 { Dir::Client } else { Dir::Server },
                    record: if i == 3 { u64::MAX } else { 100 * i },
                    offset: i * 1000,
                    previous_record: i,
                    ack_record: u64::MAX - i,
                    stalled: durations[i as usize % durations.len()],
                    ack_delay: durations[(i as usize + 1) % durations.len()],
                })
                .collect();
            if n == 2 {
                r.tls = Some([Default::default(); 2]);
                r.detected = Some(Box::new(crate::analysis::Detected {
                    confidence: 0.5,
                    runner_up: None,
                    note: Some("a\n      \"stalls\": []\n".to_string()),
                }));
            }
            streams.push(r);
        }
        for stream in &streams {
            let mut ours = Vec::new();
            document_stream(&mut ours, stream).expect("written");
            let mut theirs = Vec::new();
            pretty::at_level(&mut theirs, 2, stream).expect("serialized");
            assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&theirs)
            );
        }
        // In a document, on several threads: the list serde writes.
        #[derive(Serialize)]
        struct Doc<'a> {
            streams: &'a [StreamResult],
        }
        let many: Vec<StreamResult> = (0..3 * pretty::BATCH)
            .map(|i| streams[i % streams.len()].clone())
            .collect();
        let mut ours = pretty::Object::begin(Vec::new()).expect("begun");
        ours.streams("streams", &many, 3).expect("written");
        let ours = ours.end().expect("ended");
        let mut theirs = Vec::new();
        pretty::to_writer(&mut theirs, &Doc { streams: &many }).expect("serialized");
        assert!(ours == theirs, "the stream lists differ");
    }

    /// The fast line writer against serde_json's serialization of the
    /// tagged row, byte for byte, on every field's variants.
    #[test]
    fn message_lines_are_serde_jsons_bytes() {
        let mut messages = Vec::new();
        for (i, status) in [
            Status::Ok,
            Status::Split,
            Status::Gap,
            Status::Truncated,
            Status::Malformed,
        ]
        .into_iter()
        .enumerate()
        {
            let i = i as u64;
            let mut m = Message {
                index: i,
                offset: i * 1000 + 7,
                len: u64::MAX - i,
                first_record: 10 + i,
                last_record: 12 + i,
                first_ts: Timestamp(1_796_051_072_527_881_000 + i as i64),
                last_ts: Timestamp(-1_500_000_001),
                segments: i,
                coalesced: i.is_multiple_of(2),
                status,
                label: (!i.is_multiple_of(2)).then(|| Label::new("GET \"a\\b\"\n\u{1}é")),
                missing: (i == 3).then_some(42),
                error: (i == 4).then(|| "length 4294967295 > \"max\"\t\u{7f}".to_string()),
                ..Message::default()
            };
            for r in 0..i {
                m.records.push(100 + r);
            }
            if i == 2 {
                m.tls = Some(TlsSpan::default());
            }
            messages.push(m);
        }
        // Timestamps written again: the same at both ends, and the one
        // the message before ended at.
        let mut again = messages[1].clone();
        again.first_ts = messages[1].last_ts;
        messages.push(again);
        let mut again = messages[0].clone();
        again.last_ts = again.first_ts;
        messages.push(again);
        let mut line = Vec::new();
        let mut stamps = Stamps::default();
        for m in &messages {
            for (proto, v6) in [(Proto::Tcp, false), (Proto::Udp, true)] {
                for dir in Dir::BOTH {
                    let info = info(proto, 3, v6);
                    line.clear();
                    message_line(&mut line, &mut stamps, &info, dir, m);
                    let mut want = Vec::new();
                    let mut lines = JsonLines::new(&mut want, true);
                    lines.write("message", &MessageRow::new(&info, dir, m));
                    lines.finish().unwrap();
                    assert_eq!(
                        String::from_utf8_lossy(&line),
                        String::from_utf8_lossy(&want)
                    );
                }
            }
        }
    }
}
