//! Indented JSON, written with fewer writes.
//!
//! This module owns [`to_writer`]: the bytes `serde_json::to_writer_pretty`
//! writes (two spaces per level), made by a formatter that writes each line
//! break and its indentation in one call. `serde_json`'s own writes a
//! line's indentation two bytes at a time, and a document of tens of
//! megabytes (the streams of a thousand connections, their stalls, the
//! message rows) is mostly such lines, each a call into the writer. It does
//! not own what is written: that is the types' `Serialize`.
//!
//! [`Object`] writes the same bytes for an object given field by field,
//! with its long arrays ([`Object::array`]) rendered on several threads in
//! batches of [`BATCH`] elements, each at its own level: a value's bytes
//! depend only on the level it starts at.

use std::io::{self, Write};
use std::sync::mpsc::{channel, sync_channel};
use std::thread;

use serde::Serialize;
use serde_json::ser::Formatter;

/// Levels whose indentation is written in one piece; deeper ones (none of
/// the documents written here) take one more write per extra level.
const DEPTH: usize = 32;

/// `,` then a line break then the spaces of [`DEPTH`] levels: every line
/// break and indentation is a slice of it.
static BREAK: [u8; 2 + 2 * DEPTH] = {
    let mut b = [b' '; 2 + 2 * DEPTH];
    b[0] = b',';
    b[1] = b'\n';
    b
};

/// `serde_json`'s pretty formatter with the line breaks written whole.
struct Indented {
    level: usize,
    has_value: bool,
}

impl Indented {
    /// A line break (after a comma unless `first`) and the indentation of
    /// the current level.
    fn line<W: ?Sized + Write>(&self, w: &mut W, first: bool) -> io::Result<()> {
        let from = usize::from(first);
        let deep = self.level.min(DEPTH);
        w.write_all(&BREAK[from..2 + 2 * deep])?;
        for _ in deep..self.level {
            w.write_all(b"  ")?;
        }
        Ok(())
    }

    fn begin<W: ?Sized + Write>(&mut self, w: &mut W, open: &[u8]) -> io::Result<()> {
        self.level += 1;
        self.has_value = false;
        w.write_all(open)
    }

    fn end<W: ?Sized + Write>(&mut self, w: &mut W, close: &[u8]) -> io::Result<()> {
        self.level -= 1;
        if self.has_value {
            self.line(w, true)?;
        }
        w.write_all(close)
    }
}

impl Formatter for Indented {
    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.begin(w, b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.end(w, b"]")
    }

    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.line(w, first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.begin(w, b"{")
    }

    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.end(w, b"}")
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.line(w, first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

/// Writes `value` as `serde_json::to_writer_pretty` does, byte for byte.
pub fn to_writer<W: Write, T: ?Sized + Serialize>(writer: W, value: &T) -> serde_json::Result<()> {
    let formatter = Indented {
        level: 0,
        has_value: false,
    };
    value.serialize(&mut serde_json::Serializer::with_formatter(
        writer, formatter,
    ))
}

/// Writes `value` as it is written nested `level` levels deep.
pub(crate) fn at_level<W: Write, T: ?Sized + Serialize>(
    writer: W,
    level: usize,
    value: &T,
) -> serde_json::Result<()> {
    let formatter = Indented {
        level,
        has_value: false,
    };
    value.serialize(&mut serde_json::Serializer::with_formatter(
        writer, formatter,
    ))
}

/// Elements of an [`Object::array`] rendered in one piece by one thread,
/// unless the caller of [`Object::array_with`] says otherwise.
pub const BATCH: usize = 64;

/// An object of the top level, written field by field: the bytes
/// [`to_writer`] writes for a struct with the same fields in the same
/// order.
pub struct Object<W: Write> {
    out: W,
    first: bool,
}

impl<W: Write> Object<W> {
    /// Opens the object.
    pub fn begin(mut out: W) -> serde_json::Result<Self> {
        put(&mut out, b"{")?;
        Ok(Object { out, first: true })
    }

    fn key(&mut self, key: &str) -> serde_json::Result<()> {
        let from = usize::from(self.first);
        self.first = false;
        put(&mut self.out, &BREAK[from..4])?;
        serde_json::to_writer(&mut self.out, key)?;
        put(&mut self.out, b": ")
    }

    /// Writes a field.
    pub fn field<T: ?Sized + Serialize>(&mut self, key: &str, value: &T) -> serde_json::Result<()> {
        self.key(key)?;
        at_level(&mut self.out, 1, value)
    }

    /// Writes a field whose value is the array `items`, rendered on up to
    /// `threads` threads (this one included), in order.
    pub fn array<T: Serialize + Sync>(
        &mut self,
        key: &str,
        items: &[T],
        threads: usize,
    ) -> serde_json::Result<()> {
        let write = |_: &mut (), i: usize, buf: &mut Vec<u8>| at_level(buf, 2, &items[i]);
        self.array_with(key, items.len(), write, threads, BATCH)
    }

    /// Writes a field whose value is an array of `len` elements, `write`
    /// appending element `i`'s bytes as [`to_writer`] writes them two
    /// levels deep, from its first byte to its last (no line break before
    /// it), on up to `threads` threads, `batch` elements (at least one) to
    /// a piece. Each thread rendering has a state `S` of its own, which
    /// `write` is given.
    pub fn array_with<S: Default>(
        &mut self,
        key: &str,
        len: usize,
        write: impl Fn(&mut S, usize, &mut Vec<u8>) -> serde_json::Result<()> + Sync,
        threads: usize,
        batch: usize,
    ) -> serde_json::Result<()> {
        self.key(key)?;
        if len == 0 {
            return put(&mut self.out, b"[]");
        }
        put(&mut self.out, b"[")?;
        let batch = batch.max(1);
        let batches = len.div_ceil(batch);
        let write = &write;
        let threads = threads.clamp(1, batches);
        let out = &mut self.out;
        thread::scope(|scope| {
            // Thread `k` renders batches k, k + threads, ...; at most one
            // waits rendered, and written ones come back to be filled
            // again, so memory stays at a few batches and is not faulted
            // in anew for each.
            let helpers: Vec<_> = (1..threads)
                .map(|k| {
                    let (tx, rx) = sync_channel(1);
                    let (spare_tx, spare_rx) = channel::<Vec<u8>>();
                    scope.spawn(move || {
                        let mut state = S::default();
                        for b in (k..batches).step_by(threads) {
                            let buf = spare_rx.try_recv().unwrap_or_default();
                            if tx
                                .send(render(len, write, &mut state, (b, batch), buf))
                                .is_err()
                            {
                                return;
                            }
                        }
                    });
                    (rx, spare_tx)
                })
                .collect();
            let mut own = Vec::new();
            let mut state = S::default();
            for b in 0..batches {
                match b % threads {
                    0 => {
                        own = render(len, write, &mut state, (b, batch), own)?;
                        put(out, &own)?;
                    }
                    k => {
                        let (rx, spare) = &helpers[k - 1];
                        let piece = rx.recv().map_err(|_| {
                            serde_json::Error::io(io::Error::other("a thread writing JSON stopped"))
                        })??;
                        put(out, &piece)?;
                        // The thread may be done: the buffer is then dropped.
                        let _ = spare.send(piece);
                    }
                }
            }
            Ok::<(), serde_json::Error>(())
        })?;
        put(&mut self.out, &BREAK[1..4])?;
        put(&mut self.out, b"]")
    }

    /// Closes the object; returns the writer.
    pub fn end(mut self) -> serde_json::Result<W> {
        let close: &[u8] = if self.first { b"}" } else { b"\n}" };
        put(&mut self.out, close)?;
        Ok(self.out)
    }
}

/// `write_all`, its error as `serde_json`'s.
fn put<W: Write>(out: &mut W, bytes: &[u8]) -> serde_json::Result<()> {
    out.write_all(bytes).map_err(serde_json::Error::io)
}

/// Batch `b`, of `batch` elements, of the `len` elements `write` writes,
/// as elements of an array of the top level's field: each after its line
/// break (and comma, but for the first element). `buf` is emptied first
/// and returned.
fn render<S>(
    len: usize,
    write: &impl Fn(&mut S, usize, &mut Vec<u8>) -> serde_json::Result<()>,
    state: &mut S,
    (b, batch): (usize, usize),
    mut buf: Vec<u8>,
) -> serde_json::Result<Vec<u8>> {
    buf.clear();
    for i in b * batch..((b + 1) * batch).min(len) {
        let from = usize::from(i == 0);
        buf.extend_from_slice(&BREAK[from..6]);
        write(state, i, &mut buf)?;
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(value: &serde_json::Value) -> (Vec<u8>, Vec<u8>) {
        let mut ours = Vec::new();
        to_writer(&mut ours, value).expect("ours");
        let theirs = serde_json::to_vec_pretty(value).expect("theirs");
        (ours, theirs)
    }

    #[test]
    fn writes_what_serde_json_writes() {
        let value = serde_json::json!({
            "empty_object": {},
            "empty_array": [],
            "nested": {"a": [1, 2, {"b": null, "c": [[], [[]], {}]}], "d": "e\n\"f\""},
            "numbers": [0.5, -3, 18446744073709551615u64, 1e300],
            "top": true,
        });
        let (ours, theirs) = both(&value);
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&theirs)
        );
        assert_eq!(both(&serde_json::json!(7)).0, b"7");
    }

    #[derive(Serialize)]
    struct Doc {
        name: &'static str,
        rows: Vec<serde_json::Value>,
        empty: Vec<u8>,
        tail: Option<u8>,
    }

    #[test]
    fn an_object_field_by_field_is_what_serde_json_writes() {
        for rows in [0, 1, BATCH - 1, BATCH, 5 * BATCH + 3] {
            let doc = Doc {
                name: "a \"name\"\n",
                rows: (0..rows)
                    .map(|i| serde_json::json!({"i": i, "nested": {"list": [i, {}, []], "f": 0.5}}))
                    .collect(),
                empty: Vec::new(),
                tail: None,
            };
            let theirs = serde_json::to_vec_pretty(&doc).expect("theirs");
            for threads in [0, 1, 2, 3, 8] {
                let mut o = Object::begin(Vec::new()).expect("begin");
                o.field("name", &doc.name).expect("name");
                o.array("rows", &doc.rows, threads).expect("rows");
                o.array("empty", &doc.empty, threads).expect("empty");
                o.field("tail", &doc.tail).expect("tail");
                let ours = o.end().expect("end");
                assert_eq!(
                    String::from_utf8_lossy(&ours),
                    String::from_utf8_lossy(&theirs),
                    "{rows} rows, {threads} threads"
                );
            }
        }
        let empty = Object::begin(Vec::new())
            .expect("begin")
            .end()
            .expect("end");
        assert_eq!(
            empty,
            serde_json::to_vec_pretty(&serde_json::json!({})).expect("{}")
        );
    }

    #[test]
    fn levels_past_the_buffer_are_indented_too() {
        let mut value = serde_json::json!({"leaf": [1]});
        for i in 0..(DEPTH + 5) {
            value = if i % 2 == 0 {
                serde_json::json!([value, 2])
            } else {
                serde_json::json!({ "k": value, "z": {} })
            };
        }
        let (ours, theirs) = both(&value);
        assert!(ours.len() > 4 * DEPTH * DEPTH);
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&theirs)
        );
    }
}
