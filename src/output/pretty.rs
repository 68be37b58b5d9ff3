//! Indented JSON, written with fewer writes.
//!
//! This module owns [`to_writer`]: the bytes `serde_json::to_writer_pretty`
//! writes (two spaces per level), made by a formatter that writes each line
//! break and its indentation in one call. `serde_json`'s own writes a
//! line's indentation two bytes at a time, and a document of tens of
//! megabytes (the streams of a thousand connections, their stalls, the
//! message rows) is mostly such lines, each a call into the writer. It does
//! not own what is written: that is the types' `Serialize`.

use std::io::{self, Write};

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
