//! Handshake messages: where each ends, and what the hellos say.
//!
//! ```text
//! handshake message   type(1) | length(3, BE) | body
//! ClientHello body    version(2) | random(32) | ...
//! ServerHello body    version(2) | random(32) | session id<0..32> |
//!                     cipher suite(2) | compression(1) | extensions<0..2^16-1>
//! extension           type(2) | length(2) | data
//! ```
//!
//! A handshake message may span records and a record may hold several;
//! [`Scanner`] follows them across record boundaries. Only the two hellos
//! are held (at most [`MAX_HELLO`] bytes); every other body (certificates,
//! tickets) is counted, not copied. The decryption state machine in
//! `conn.rs` acts on what the scanner reports: the client random, the
//! suite and version, encrypt-then-MAC, a HelloRetryRequest, and, in TLS
//! 1.3, Finished and KeyUpdate, after which a direction changes keys.

use super::keylog::ClientRandom;

/// The longest hello held: 64 KiB.
pub const MAX_HELLO: usize = 64 << 10;

/// Handshake message types acted on.
pub const CLIENT_HELLO: u8 = 1;
/// ServerHello (and HelloRetryRequest).
pub const SERVER_HELLO: u8 = 2;
/// Finished.
pub const FINISHED: u8 = 20;
/// KeyUpdate (TLS 1.3).
pub const KEY_UPDATE: u8 = 24;

/// The random of a HelloRetryRequest (RFC 8446 §4.1.3): SHA-256 of
/// "HelloRetryRequest".
const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// A complete handshake message, as the scanner reports it.
#[derive(Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// The message type.
    pub kind: u8,
    /// The body, for the hellos only (`None` when too long to hold).
    pub body: Option<&'a [u8]>,
}

/// Follows the handshake messages of one direction.
#[derive(Debug, Default)]
pub struct Scanner {
    head: [u8; 4],
    have: usize,
    left: usize,
    body: Vec<u8>,
    holding: bool,
}

impl Scanner {
    /// Feeds handshake bytes; `found` is called for every message that ends
    /// in them.
    pub fn feed(&mut self, mut bytes: &[u8], found: &mut dyn FnMut(Message<'_>)) {
        while !bytes.is_empty() {
            if self.have < 4 {
                let take = (4 - self.have).min(bytes.len());
                self.head[self.have..self.have + take].copy_from_slice(&bytes[..take]);
                self.have += take;
                bytes = &bytes[take..];
                if self.have < 4 {
                    return;
                }
                self.left = usize::from(self.head[1]) << 16
                    | usize::from(self.head[2]) << 8
                    | usize::from(self.head[3]);
                let kind = self.head[0];
                self.holding =
                    matches!(kind, CLIENT_HELLO | SERVER_HELLO) && self.left <= MAX_HELLO;
                self.body.clear();
            }
            let take = self.left.min(bytes.len());
            if self.holding {
                self.body.extend_from_slice(&bytes[..take]);
            }
            self.left -= take;
            bytes = &bytes[take..];
            if self.left == 0 {
                self.have = 0;
                found(Message {
                    kind: self.head[0],
                    body: self.holding.then_some(self.body.as_slice()),
                });
            }
        }
    }
}

/// What a ServerHello says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerHello {
    /// The server random.
    pub random: [u8; 32],
    /// The cipher suite chosen.
    pub suite: u16,
    /// The version chosen (`supported_versions` when present).
    pub version: u16,
    /// Whether the server accepted encrypt-then-MAC.
    pub encrypt_then_mac: bool,
    /// Whether this is a HelloRetryRequest.
    pub retry: bool,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// The client random of a ClientHello body.
pub fn client_random(body: &[u8]) -> Option<ClientRandom> {
    body.get(2..34)?.try_into().ok()
}

/// Reads a ServerHello body; `None` when it is too short to hold what the
/// decryption needs.
pub fn server_hello(body: &[u8]) -> Option<ServerHello> {
    let random: [u8; 32] = body.get(2..34)?.try_into().ok()?;
    let sid = usize::from(*body.get(34)?);
    let at = 35 + sid;
    let suite = u16_at(body, at)?;
    let mut hello = ServerHello {
        random,
        suite,
        version: u16_at(body, 0)?,
        encrypt_then_mac: false,
        retry: random == HRR_RANDOM,
    };
    // Extensions are optional (TLS 1.2 without any).
    let Some(ext_len) = u16_at(body, at + 3) else {
        return Some(hello);
    };
    let exts = body.get(at + 5..at + 5 + usize::from(ext_len))?;
    let mut pos = 0;
    while let (Some(kind), Some(len)) = (u16_at(exts, pos), u16_at(exts, pos + 2)) {
        let data = exts.get(pos + 4..pos + 4 + usize::from(len))?;
        match kind {
            22 => hello.encrypt_then_mac = true,
            43 => hello.version = u16_at(data, 0)?,
            _ => {}
        }
        pos += 4 + usize::from(len);
    }
    Some(hello)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::keys::tests::unhex;

    /// RFC 8448 §3's ServerHello.
    const SERVER_HELLO_8448: &str = "02 00 00 56 03 03 a6 af 06 a4 12 18 60 dc 5e 6e 60 24 9c d3
         4c 95 93 0c 8a c5 cb 14 34 da c1 55 77 2e d3 e2 69 28 00 13 01 00 00 2e 00 33 00 24 00 1d
         00 20 c9 82 88 76 11 20 95 fe 66 76 2b db f7 c6 72 e1 56 d6 cc 25 3b 83 3d f1 dd 69 b1 b0
         4e 75 1f 0f 00 2b 00 02 03 04";

    #[test]
    fn rfc8448_server_hello_is_tls13_aes128() {
        let msg = unhex(SERVER_HELLO_8448);
        let mut seen = Vec::new();
        let mut scanner = Scanner::default();
        // Fed one byte at a time: the same message.
        for b in &msg {
            scanner.feed(std::slice::from_ref(b), &mut |m| {
                seen.push(server_hello(m.body.unwrap()))
            });
        }
        let hello = seen.pop().flatten().unwrap();
        assert!(seen.is_empty());
        assert_eq!((hello.suite, hello.version), (0x1301, 0x0304));
        assert_eq!(hello.random[0], 0xa6);
        assert!(!hello.retry && !hello.encrypt_then_mac);
    }

    #[test]
    fn messages_are_followed_across_feeds_and_only_hellos_held() {
        let mut kinds = Vec::new();
        let mut s = Scanner::default();
        let bytes = [11, 0, 0, 3, 1, 2, 3, 20, 0, 0, 1, 9, 1, 0, 0, 0];
        s.feed(&bytes[..5], &mut |m| {
            kinds.push((m.kind, m.body.map(<[u8]>::len)))
        });
        s.feed(&bytes[5..], &mut |m| {
            kinds.push((m.kind, m.body.map(<[u8]>::len)))
        });
        assert_eq!(kinds, [(11, None), (20, None), (1, Some(0))]);
        assert_eq!(client_random(&[]), None);
    }

    #[test]
    fn short_or_lying_hellos_give_none() {
        let msg = unhex(SERVER_HELLO_8448);
        let body = &msg[4..];
        for n in 0..body.len() {
            // Cut before the suite or inside the extensions: nothing to
            // trust. Cut right after the compression method, it reads as a
            // hello without extensions.
            let cut = server_hello(&body[..n]);
            assert_eq!(cut.is_some(), (37..40).contains(&n), "{n}");
        }
        let mut hrr = body.to_vec();
        hrr[2..34].copy_from_slice(&HRR_RANDOM);
        assert!(server_hello(&hrr).unwrap().retry);
    }
}
