//! `framescope follow`: the reassembled bytes of one stream.

use std::io::{self, Write};

use anyhow::{bail, Result};

use super::args::{DirArg, FollowArgs, FollowFormat};
use crate::flow::{gap_reason_text, Dir, Proto};
use crate::jobs::Piece;
use crate::tls::{self, Conn, KeyLog, TlsLimits};

/// Notes about TLS kept for printing; the rest are counted.
const MAX_TLS_NOTES: usize = 100;

/// With a key log: the followed stream's TLS state.
struct TlsFollow {
    keys: KeyLog,
    conn: Conn,
    notes: Vec<String>,
    more_notes: u64,
}

struct Follow<W: Write> {
    dir: DirArg,
    format: FollowFormat,
    out: W,
    error: Option<io::Error>,
    gaps: Vec<String>,
    tls: Option<TlsFollow>,
}

impl<W: Write> Follow<W> {
    fn wanted(&self, dir: Dir) -> bool {
        match self.dir {
            DirArg::Both => true,
            DirArg::Client => dir == Dir::Client,
            DirArg::Server => dir == Dir::Server,
        }
    }

    fn write(&mut self, dir: Dir, offset: u64, bytes: &[u8], record: u64) {
        if self.error.is_some() {
            return;
        }
        let r = match self.format {
            FollowFormat::Raw => self.out.write_all(bytes),
            FollowFormat::Hex => hex_chunk(&mut self.out, dir, offset, bytes, record),
            FollowFormat::Ascii => ascii_chunk(&mut self.out, dir, offset, bytes, record),
        };
        if let Err(e) = r {
            self.error = Some(e);
        }
    }

    fn gap(&mut self, dir: Dir, offset: u64, len: u64, why: &str) {
        let text = format!(
            "{} offset {offset}: {len} bytes missing ({why})",
            dir.name()
        );
        if self.format == FollowFormat::Raw {
            self.gaps.push(text);
        } else if self.error.is_none() {
            if let Err(e) = writeln!(self.out, "[gap] {text}") {
                self.error = Some(e);
            }
        }
    }
}

impl<W: Write> Follow<W> {
    /// Feeds the followed stream's bytes to its TLS state and prints the
    /// decrypted application data of the wanted directions.
    fn tls_piece(&mut self, t: &mut TlsFollow, dir: Dir, piece: Piece<'_>) {
        let TlsFollow {
            keys,
            conn,
            notes,
            more_notes,
        } = t;
        let mut out = |d: Dir, e: tls::Event<'_>| match e {
            tls::Event::Data {
                record,
                offset,
                bytes,
            } => {
                if self.wanted(d) {
                    self.write(d, offset, bytes, record.last_capture);
                }
            }
            tls::Event::Note { offset, note } => {
                let text = format!("{} stream offset {offset}: {}", d.name(), note.text());
                if self.format != FollowFormat::Raw && self.wanted(d) {
                    if let Err(e) = writeln!(self.out, "[tls] {text}") {
                        self.error.get_or_insert(e);
                    }
                } else if notes.len() < MAX_TLS_NOTES {
                    notes.push(text);
                } else {
                    *more_notes += 1;
                }
            }
            tls::Event::Record(_) => {}
        };
        match piece {
            Piece::Data {
                offset,
                bytes,
                record,
            } => conn.data(keys, dir, offset, bytes, record, &mut out),
            Piece::Gap { offset, len, .. } => conn.gap(dir, offset, len, &mut out),
            // UDP is refused with a key log.
            Piece::Datagram { .. } => {}
        }
    }

    /// Prints (or decrypts, then prints) a piece of the followed stream.
    fn piece(&mut self, dir: Dir, piece: Piece<'_>) {
        if let Some(mut t) = self.tls.take() {
            self.tls_piece(&mut t, dir, piece);
            self.tls = Some(t);
            return;
        }
        if !self.wanted(dir) {
            return;
        }
        match piece {
            Piece::Data {
                offset,
                bytes,
                record,
            } => self.write(dir, offset, bytes, record),
            Piece::Gap {
                offset,
                len,
                reason,
            } => self.gap(dir, offset, len, gap_reason_text(reason)),
            Piece::Datagram { bytes, record } => self.write(dir, 0, bytes, record),
        }
    }

    /// The stream is over: what TLS has left to say.
    fn finish_tls(&mut self) {
        if let Some(t) = &mut self.tls {
            let mut notes = Vec::new();
            t.conn.finish(&mut |d, e| {
                if let tls::Event::Note { offset, note } = e {
                    notes.push(format!(
                        "{} stream offset {offset}: {}",
                        d.name(),
                        note.text()
                    ));
                }
            });
            t.notes.extend(notes);
        }
    }
}

pub(super) fn run(args: &FollowArgs) -> Result<u8> {
    let keys = super::load_keylog(&args.tls)?;
    if keys.is_some() && args.udp {
        bail!("--keylog decrypts TLS over TCP; a UDP flow cannot be decrypted");
    }
    let proto = if args.udp { Proto::Udp } else { Proto::Tcp };
    let mut sink = Follow {
        dir: args.dir,
        format: args.format,
        out: io::BufWriter::with_capacity(1 << 16, io::stdout().lock()),
        error: None,
        gaps: Vec::new(),
        tls: keys.map(|keys| TlsFollow {
            keys,
            conn: Conn::new(TlsLimits::default()),
            notes: Vec::new(),
            more_notes: 0,
        }),
    };
    let (summary, found) = crate::follow_with(
        args.input.file.as_path(),
        &args.input.reading(None),
        proto,
        args.stream,
        |dir, piece| sink.piece(dir, piece),
    )?;
    let path = args.input.file.display().to_string();
    let read_something = super::warn_summary(&path, &summary);
    if found.is_some() {
        sink.finish_tls();
    }
    if let Some(e) = sink.error.take() {
        return Err(e.into());
    }
    sink.out.flush()?;
    if found.is_none() {
        if !read_something {
            return Ok(2);
        }
        bail!(
            "{path}: no {} stream {} (run `framescope flows {path}` to list them)",
            if args.udp { "UDP" } else { "TCP" },
            args.stream
        );
    }
    let mut err = io::stderr().lock();
    for g in &sink.gaps {
        writeln!(err, "framescope: gap: {g}")?;
    }
    if let Some(t) = &sink.tls {
        for n in &t.notes {
            writeln!(err, "framescope: tls: {n}")?;
        }
        if t.more_notes > 0 {
            writeln!(err, "framescope: tls: and {} more notes", t.more_notes)?;
        }
    }
    if !sink.gaps.is_empty() {
        writeln!(
            err,
            "framescope: the raw output joins the bytes on both sides of each gap with no mark \
             (--format hex or ascii marks them)"
        )?;
    }
    Ok(if read_something { 0 } else { 2 })
}

/// The line that opens a chunk in the hex and ascii formats.
fn chunk_header<W: Write>(
    out: &mut W,
    dir: Dir,
    offset: u64,
    len: usize,
    record: u64,
) -> io::Result<()> {
    writeln!(
        out,
        "[{}] offset {offset}, {len} bytes, record {record}",
        dir.name()
    )
}

fn hex_chunk<W: Write>(
    out: &mut W,
    dir: Dir,
    offset: u64,
    bytes: &[u8],
    record: u64,
) -> io::Result<()> {
    chunk_header(out, dir, offset, bytes.len(), record)?;
    for (i, line) in bytes.chunks(16).enumerate() {
        let at = offset + (i * 16) as u64;
        let hex: Vec<String> = line.iter().map(|b| format!("{b:02x}")).collect();
        let text: String = line.iter().map(|&b| printable(b)).collect();
        writeln!(out, "{at:08x}  {:<47}  |{text}|", hex.join(" "))?;
    }
    Ok(())
}

fn ascii_chunk<W: Write>(
    out: &mut W,
    dir: Dir,
    offset: u64,
    bytes: &[u8],
    record: u64,
) -> io::Result<()> {
    chunk_header(out, dir, offset, bytes.len(), record)?;
    let text: String = bytes
        .iter()
        .map(|&b| {
            if b == b'\n' || b == b'\t' {
                b as char
            } else {
                printable(b)
            }
        })
        .collect();
    writeln!(out, "{text}")
}

fn printable(b: u8) -> char {
    if b.is_ascii_graphic() || b == b' ' {
        b as char
    } else {
        '.'
    }
}
