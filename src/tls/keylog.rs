//! The NSS key log format: the secrets a TLS stack wrote, by client random.
//!
//! ```text
//! # comment
//! CLIENT_RANDOM <client random, 64 hex> <TLS 1.2 master secret, 96 hex>
//! CLIENT_HANDSHAKE_TRAFFIC_SECRET <client random> <secret, 64 or 96 hex>
//! SERVER_HANDSHAKE_TRAFFIC_SECRET <client random> <secret>
//! CLIENT_TRAFFIC_SECRET_0 <client random> <secret>
//! SERVER_TRAFFIC_SECRET_0 <client random> <secret>
//! ```
//!
//! Browsers, curl, OpenSSL (`-keylogfile`), Python's `ssl`, Go and rustls
//! write it (`SSLKEYLOGFILE`). Other labels (`EXPORTER_SECRET`,
//! `CLIENT_EARLY_TRAFFIC_SECRET`, ...) are read and ignored. A line that does
//! not parse is reported with its line number and skipped; the rest is
//! still used. This module owns the parsing and the table; it does not
//! derive keys ([`super::keys`] does).
//!
//! The table holds at most [`MAX_SESSIONS`] client randoms; lines past
//! that bound are reported once and dropped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The most sessions (client randoms) a key log may name: 1,048,576
/// (about 250 bytes each when every secret is present).
pub const MAX_SESSIONS: usize = 1 << 20;

/// The longest line read: longer lines are reported and skipped.
const MAX_LINE: usize = 1024;

/// A TLS session's client random: the key log's name for it.
pub type ClientRandom = [u8; 32];

/// A TLS 1.3 traffic secret (32 bytes for SHA-256 suites, 48 for SHA-384).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    len: u8,
    bytes: [u8; 48],
}

impl Secret {
    /// A secret of 32 or 48 bytes; `None` for any other length.
    pub fn new(bytes: &[u8]) -> Option<Secret> {
        if bytes.len() != 32 && bytes.len() != 48 {
            return None;
        }
        let mut buf = [0u8; 48];
        buf[..bytes.len()].copy_from_slice(bytes);
        Some(Secret {
            len: bytes.len() as u8,
            bytes: buf,
        })
    }

    /// The secret's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({} bytes)", self.len)
    }
}

/// Everything a key log says about one session.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Secrets {
    /// The TLS 1.2 (and earlier) master secret (`CLIENT_RANDOM`).
    pub master: Option<[u8; 48]>,
    /// `CLIENT_HANDSHAKE_TRAFFIC_SECRET`.
    pub client_handshake: Option<Secret>,
    /// `SERVER_HANDSHAKE_TRAFFIC_SECRET`.
    pub server_handshake: Option<Secret>,
    /// `CLIENT_TRAFFIC_SECRET_0`.
    pub client_traffic: Option<Secret>,
    /// `SERVER_TRAFFIC_SECRET_0`.
    pub server_traffic: Option<Secret>,
}

/// A line the key log parser skipped, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("key log line {line}: {why}")]
pub struct KeyLogProblem {
    /// The line's number, from 1.
    pub line: u64,
    /// What was wrong.
    pub why: String,
}

/// A key log that could not be read at all.
#[derive(Debug, thiserror::Error)]
#[error("cannot read key log {path}: {source}")]
pub struct KeyLogError {
    /// The file.
    pub path: PathBuf,
    /// The I/O error.
    #[source]
    pub source: std::io::Error,
}

/// The secrets of a key log file, by client random.
#[derive(Clone, Debug)]
pub struct KeyLog {
    sessions: HashMap<ClientRandom, Secrets>,
    /// Lines read so far (for line numbers of appended text).
    lines: u64,
    /// Bytes of the file consumed (whole lines only).
    consumed: u64,
    path: Option<PathBuf>,
    problems: Vec<KeyLogProblem>,
    full_reported: bool,
    max_sessions: usize,
}

impl Default for KeyLog {
    fn default() -> Self {
        KeyLog {
            sessions: HashMap::new(),
            lines: 0,
            consumed: 0,
            path: None,
            problems: Vec::new(),
            full_reported: false,
            max_sessions: MAX_SESSIONS,
        }
    }
}

impl KeyLog {
    /// An empty key log.
    pub fn new() -> KeyLog {
        KeyLog::default()
    }

    /// Holds at most `max` sessions (default [`MAX_SESSIONS`]).
    pub fn with_max_sessions(mut self, max: usize) -> KeyLog {
        self.max_sessions = max;
        self
    }

    /// Reads a key log file; lines that do not parse are kept in
    /// [`KeyLog::problems`].
    pub fn from_file(path: &Path) -> Result<KeyLog, KeyLogError> {
        let mut log = KeyLog {
            path: Some(path.to_path_buf()),
            ..KeyLog::default()
        };
        log.reload()?;
        Ok(log)
    }

    /// Parses key log text (whole lines; a last line without a newline is
    /// read too).
    pub fn parse(text: &[u8]) -> KeyLog {
        let mut log = KeyLog::new();
        log.add_text(text, true);
        log
    }

    /// Adds key log text, as [`KeyLog::parse`] reads it.
    pub fn extend(&mut self, text: &[u8]) {
        self.add_text(text, true);
    }

    /// Reads what was appended to the file since it was last read (a live
    /// capture's key log grows while the capture runs). Returns whether
    /// anything new was read.
    pub fn reload(&mut self) -> Result<bool, KeyLogError> {
        let Some(path) = self.path.clone() else {
            return Ok(false);
        };
        let err = |source| KeyLogError {
            path: path.clone(),
            source,
        };
        // Unchanged length: nothing appended (checked without reading).
        if std::fs::metadata(&path).map_err(err)?.len() <= self.consumed {
            return Ok(false);
        }
        let bytes = std::fs::read(&path).map_err(err)?;
        let start = usize::try_from(self.consumed).unwrap_or(usize::MAX);
        let Some(new) = bytes.get(start..) else {
            return Ok(false);
        };
        if new.is_empty() {
            return Ok(false);
        }
        let before = self.consumed;
        self.add_text(new, false);
        Ok(self.consumed != before)
    }

    /// Adds whole lines of `text`; with `all`, also a last line without
    /// its newline.
    fn add_text(&mut self, text: &[u8], all: bool) {
        let mut rest = text;
        while !rest.is_empty() {
            let (line, next) = match rest.iter().position(|&b| b == b'\n') {
                Some(n) => (&rest[..n], &rest[n + 1..]),
                None if all => (rest, &rest[rest.len()..]),
                None => break,
            };
            self.consumed += (rest.len() - next.len()) as u64;
            self.lines += 1;
            self.add_line(line);
            rest = next;
        }
    }

    fn problem(&mut self, why: impl Into<String>) {
        // Problems are kept up to a small bound: a file of garbage is
        // reported by its first lines.
        if self.problems.len() < 100 {
            self.problems.push(KeyLogProblem {
                line: self.lines,
                why: why.into(),
            });
        }
    }

    fn add_line(&mut self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() > MAX_LINE {
            return self.problem(format!("line of {} bytes is too long", line.len()));
        }
        let Ok(text) = std::str::from_utf8(line) else {
            return self.problem("not text");
        };
        let text = text.trim();
        if text.is_empty() || text.starts_with('#') {
            return;
        }
        let mut words = text.split_ascii_whitespace();
        let (Some(label), Some(random), Some(secret), None) =
            (words.next(), words.next(), words.next(), words.next())
        else {
            return self.problem("expected three fields: LABEL CLIENT_RANDOM SECRET");
        };
        let known = matches!(
            label,
            "CLIENT_RANDOM"
                | "CLIENT_HANDSHAKE_TRAFFIC_SECRET"
                | "SERVER_HANDSHAKE_TRAFFIC_SECRET"
                | "CLIENT_TRAFFIC_SECRET_0"
                | "SERVER_TRAFFIC_SECRET_0"
        );
        if !known {
            return;
        }
        let Some(random) = hex::<32>(random) else {
            return self.problem(format!("{label}: client random is not 64 hex digits"));
        };
        let Some(secret_bytes) = hex_vec(secret) else {
            return self.problem(format!("{label}: secret is not hex"));
        };
        if !self.sessions.contains_key(&random) && self.sessions.len() >= self.max_sessions {
            if !self.full_reported {
                self.full_reported = true;
                self.problem(format!(
                    "more than {} sessions; this and later new sessions dropped",
                    self.max_sessions
                ));
            }
            return;
        }
        let entry = self.sessions.entry(random).or_default();
        let ok = if label == "CLIENT_RANDOM" {
            match <[u8; 48]>::try_from(secret_bytes.as_slice()) {
                Ok(master) => {
                    entry.master = Some(master);
                    true
                }
                Err(_) => false,
            }
        } else {
            let Some(s) = Secret::new(&secret_bytes) else {
                return self.problem(format!("{label}: secret is not 32 or 48 bytes"));
            };
            let slot = match label {
                "CLIENT_HANDSHAKE_TRAFFIC_SECRET" => &mut entry.client_handshake,
                "SERVER_HANDSHAKE_TRAFFIC_SECRET" => &mut entry.server_handshake,
                "CLIENT_TRAFFIC_SECRET_0" => &mut entry.client_traffic,
                _ => &mut entry.server_traffic,
            };
            *slot = Some(s);
            true
        };
        if !ok {
            self.problem("CLIENT_RANDOM: master secret is not 48 bytes");
        }
    }

    /// The secrets of the session with this client random.
    pub fn get(&self, random: &ClientRandom) -> Option<&Secrets> {
        self.sessions.get(random)
    }

    /// Sessions named.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Whether no session is named.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Lines skipped (at most the first 100).
    pub fn problems(&self) -> &[KeyLogProblem] {
        &self.problems
    }
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn hex_vec(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    b.chunks_exact(2)
        .map(|p| Some(nibble(p[0])? << 4 | nibble(p[1])?))
        .collect()
}

fn hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    <[u8; N]>::try_from(hex_vec(s)?.as_slice()).ok()
}

/// A client random as the key log writes it (64 lowercase hex digits).
pub fn random_hex(random: &ClientRandom) -> String {
    random.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: &str = "0101010101010101010101010101010101010101010101010101010101010101";

    #[test]
    fn reads_every_label_and_skips_bad_lines() {
        let text = format!(
            "# a comment\n\
             CLIENT_RANDOM {R} {m}\n\
             CLIENT_HANDSHAKE_TRAFFIC_SECRET {R} {s}\r\n\
             SERVER_TRAFFIC_SECRET_0 {R} {s48}\n\
             EXPORTER_SECRET {R} {s}\n\
             CLIENT_RANDOM zz {m}\n\
             CLIENT_RANDOM {R}\n\
             SERVER_HANDSHAKE_TRAFFIC_SECRET {R} abc",
            m = "22".repeat(48),
            s = "33".repeat(32),
            s48 = "44".repeat(48),
        );
        let log = KeyLog::parse(text.as_bytes());
        assert_eq!(log.len(), 1);
        let s = log.get(&[1; 32]).unwrap();
        assert_eq!(s.master, Some([0x22; 48]));
        assert_eq!(s.client_handshake.as_ref().unwrap().bytes(), &[0x33; 32]);
        assert_eq!(s.server_traffic.as_ref().unwrap().bytes(), &[0x44; 48]);
        assert!(s.server_handshake.is_none());
        let lines: Vec<u64> = log.problems().iter().map(|p| p.line).collect();
        assert_eq!(lines, [6, 7, 8]);
        assert!(log.problems()[0].why.contains("client random"));
    }

    #[test]
    fn sessions_past_the_bound_are_dropped_and_reported_once() {
        let mut log = KeyLog::new().with_max_sessions(2);
        let mut text = String::new();
        for i in 0..4u8 {
            let random = format!("{i:02x}").repeat(32);
            text += &format!("CLIENT_RANDOM {random} {}\n", "22".repeat(48));
        }
        text += &format!("CLIENT_RANDOM {} {}\n", "00".repeat(32), "33".repeat(48));
        log.extend(text.as_bytes());
        assert_eq!(log.len(), 2);
        assert_eq!(log.get(&[0; 32]).unwrap().master, Some([0x33; 48]));
        assert!(log.get(&[2; 32]).is_none());
        assert_eq!(log.problems().len(), 1);
        assert_eq!(log.problems()[0].line, 3);
    }

    #[test]
    fn an_empty_or_binary_file_names_no_session() {
        assert!(KeyLog::parse(b"").is_empty());
        let log = KeyLog::parse(&[0xff, 0xfe, b'\n', 0]);
        assert!(log.is_empty());
        assert_eq!(log.problems().len(), 2);
    }

    #[test]
    fn a_growing_file_is_read_by_whole_lines() {
        let dir = std::env::temp_dir().join(format!("framescope-keylog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("keys.log");
        let line = format!("CLIENT_RANDOM {R} {}\n", "22".repeat(48));
        std::fs::write(&path, &line[..20]).unwrap();
        let mut log = KeyLog::from_file(&path).unwrap();
        assert!(log.is_empty());
        std::fs::write(&path, &line).unwrap();
        assert!(log.reload().unwrap());
        assert_eq!(log.len(), 1);
        assert!(!log.reload().unwrap());
        assert!(log.problems().is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let e = KeyLog::from_file(Path::new("/nonexistent/keys.log")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/keys.log"));
    }
}
