//! Record protection: opening one direction's records with its keys.
//!
//! ```text
//! TLS 1.2 GCM     hdr(5) | explicit nonce(8) | ciphertext | tag(16)
//!                 nonce = salt(4) + explicit; AAD = seq(8) type version len
//! TLS 1.2 ChaCha  hdr(5) | ciphertext | tag(16)
//!                 nonce = iv(12) xor seq; AAD as for GCM
//! TLS 1.2 CBC     hdr(5) | IV(16) | E(content | MAC | padding | padlen)
//!   encrypt-then-MAC: hdr(5) | IV(16) | E(content | padding | padlen) | MAC
//!                 MAC = HMAC(seq(8) type version len | content), or over
//!                 IV + ciphertext with encrypt-then-MAC (RFC 7366)
//! TLS 1.3         hdr(5) | AEAD(content | type | zeros) | tag(16)
//!                 nonce = iv(12) xor seq; AAD = the header
//! ```
//!
//! The AEADs (AES-GCM, ChaCha20-Poly1305) and HMAC come from `ring`, AES-CBC
//! from RustCrypto's `aes` and `cbc` (ring has no CBC mode). This module
//! checks lengths, builds nonces and additional data, strips padding and
//! compares MACs; it never implements a primitive.

use aes::cipher::{block_padding::NoPadding, BlockDecryptMut, InnerIvInit, KeyInit};
use ring::{aead, hmac};

use super::keys::DirKeys;
use super::suite::{Bulk, Suite};

const TAG: usize = 16;

/// Why a record did not open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenError {
    /// Shorter than the suite's overhead.
    TooShort,
    /// The AEAD tag or the MAC did not verify: wrong key, or altered bytes.
    Authentication,
    /// CBC padding that is not TLS padding.
    BadPadding,
    /// TLS 1.3: the plaintext holds only zeros, no content type.
    NoContentType,
}

impl OpenError {
    /// A short description.
    pub fn text(self) -> &'static str {
        match self {
            OpenError::TooShort => "record shorter than the cipher's overhead",
            OpenError::Authentication => "authentication failed (tag or MAC)",
            OpenError::BadPadding => "bad CBC padding",
            OpenError::NoContentType => "no inner content type",
        }
    }
}

/// What a record held once opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Opened {
    /// The content type (TLS 1.3: the inner one).
    pub kind: u8,
    /// The plaintext's range in the record body.
    pub start: usize,
    /// End of that range.
    pub end: usize,
}

/// The expanded AES key of a CBC suite (boxed: the schedules are large and
/// a connection holds one per direction).
enum Cbc {
    Aes128(Box<aes::Aes128>),
    Aes256(Box<aes::Aes256>),
}

enum Kind {
    /// TLS 1.2 AES-GCM: 4-byte salt, explicit nonce in the record.
    Gcm12 {
        key: aead::LessSafeKey,
        salt: [u8; 4],
    },
    /// TLS 1.2 ChaCha20-Poly1305 and every TLS 1.3 suite: IV xor sequence.
    Xor {
        key: aead::LessSafeKey,
        iv: [u8; 12],
        tls13: bool,
    },
    Cbc {
        cipher: Cbc,
        mac: hmac::Key,
        mac_len: usize,
        etm: bool,
    },
}

/// One direction's record protection: keys and sequence number.
pub struct Opener {
    kind: Kind,
    seq: u64,
}

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Opener(seq {})", self.seq)
    }
}

fn aead_key(suite: &Suite, key: &[u8]) -> Option<aead::LessSafeKey> {
    let alg = match suite.bulk {
        Bulk::AesGcm(16) => &aead::AES_128_GCM,
        Bulk::AesGcm(_) => &aead::AES_256_GCM,
        Bulk::ChaCha20Poly1305 => &aead::CHACHA20_POLY1305,
        Bulk::AesCbc(_) => return None,
    };
    aead::UnboundKey::new(alg, key)
        .ok()
        .map(aead::LessSafeKey::new)
}

impl Opener {
    /// An opener for `suite` with `keys`, sequence number 0; `etm` when the
    /// server accepted encrypt-then-MAC (CBC suites only). `None` when the
    /// keys do not fit the suite.
    pub fn new(suite: &Suite, keys: &DirKeys, etm: bool) -> Option<Opener> {
        let kind = match suite.bulk {
            Bulk::AesCbc(n) => {
                let cipher = if n == 16 {
                    Cbc::Aes128(Box::new(aes::Aes128::new_from_slice(&keys.key).ok()?))
                } else {
                    Cbc::Aes256(Box::new(aes::Aes256::new_from_slice(&keys.key).ok()?))
                };
                let hash = suite.mac?;
                Kind::Cbc {
                    cipher,
                    mac: hmac::Key::new(hash.hmac(), &keys.mac),
                    mac_len: hash.output_len(),
                    etm,
                }
            }
            Bulk::AesGcm(_) if !suite.tls13 => Kind::Gcm12 {
                key: aead_key(suite, &keys.key)?,
                salt: keys.iv.as_slice().try_into().ok()?,
            },
            _ => Kind::Xor {
                key: aead_key(suite, &keys.key)?,
                iv: keys.iv.as_slice().try_into().ok()?,
                tls13: suite.tls13,
            },
        };
        Some(Opener { kind, seq: 0 })
    }

    /// The sequence number of the next record.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Passes over a record that cannot be opened (a capture gap inside
    /// it): the next record has the next sequence number.
    pub fn skip(&mut self) {
        self.seq = self.seq.wrapping_add(1);
    }

    /// Opens one record in place: `header` is its 5-byte header, `body` its
    /// fragment. The sequence number advances whether or not it opens.
    pub fn open(&mut self, header: &[u8; 5], body: &mut [u8]) -> Result<Opened, OpenError> {
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        let kind = header[0];
        // TLS 1.2 additional data: seq, type, version, plaintext length.
        let aad12 = |len: usize| {
            let mut aad = [0u8; 13];
            aad[..8].copy_from_slice(&seq.to_be_bytes());
            aad[8..11].copy_from_slice(&header[..3]);
            aad[11..].copy_from_slice(&(len as u16).to_be_bytes());
            aad
        };
        match &self.kind {
            Kind::Gcm12 { key, salt } => {
                if body.len() < 8 + TAG {
                    return Err(OpenError::TooShort);
                }
                let mut nonce = [0u8; 12];
                nonce[..4].copy_from_slice(salt);
                nonce[4..].copy_from_slice(&body[..8]);
                let aad = aad12(body.len() - 8 - TAG);
                let plain = key
                    .open_in_place(
                        aead::Nonce::assume_unique_for_key(nonce),
                        aead::Aad::from(aad),
                        &mut body[8..],
                    )
                    .map_err(|_| OpenError::Authentication)?;
                let end = 8 + plain.len();
                Ok(Opened {
                    kind,
                    start: 8,
                    end,
                })
            }
            Kind::Xor { key, iv, tls13 } => {
                if body.len() < TAG {
                    return Err(OpenError::TooShort);
                }
                let mut nonce = *iv;
                for (n, s) in nonce[4..].iter_mut().zip(seq.to_be_bytes()) {
                    *n ^= s;
                }
                let nonce = aead::Nonce::assume_unique_for_key(nonce);
                let plain_len = if *tls13 {
                    key.open_in_place(nonce, aead::Aad::from(*header), body)
                } else {
                    key.open_in_place(nonce, aead::Aad::from(aad12(body.len() - TAG)), body)
                }
                .map_err(|_| OpenError::Authentication)?
                .len();
                if !*tls13 {
                    return Ok(Opened {
                        kind,
                        start: 0,
                        end: plain_len,
                    });
                }
                let plain = &body[..plain_len];
                let last = plain
                    .iter()
                    .rposition(|&b| b != 0)
                    .ok_or(OpenError::NoContentType)?;
                Ok(Opened {
                    kind: plain[last],
                    start: 0,
                    end: last,
                })
            }
            Kind::Cbc {
                cipher,
                mac,
                mac_len,
                etm,
            } => open_cbc(cipher, mac, *mac_len, *etm, seq, header, body),
        }
    }
}

fn decrypt_cbc(cipher: &Cbc, iv: &[u8], data: &mut [u8]) -> Result<(), OpenError> {
    let done = match cipher {
        Cbc::Aes128(c) => cbc::Decryptor::inner_iv_slice_init((**c).clone(), iv)
            .map_err(|_| OpenError::TooShort)?
            .decrypt_padded_mut::<NoPadding>(data)
            .is_ok(),
        Cbc::Aes256(c) => cbc::Decryptor::inner_iv_slice_init((**c).clone(), iv)
            .map_err(|_| OpenError::TooShort)?
            .decrypt_padded_mut::<NoPadding>(data)
            .is_ok(),
    };
    if done {
        Ok(())
    } else {
        Err(OpenError::TooShort)
    }
}

/// The length of `plain` without its TLS padding (`padlen` bytes of value
/// `padlen`, then `padlen` itself).
fn unpad(plain: &[u8]) -> Result<usize, OpenError> {
    let pad = usize::from(*plain.last().ok_or(OpenError::BadPadding)?);
    if pad + 1 > plain.len() {
        return Err(OpenError::BadPadding);
    }
    let body = plain.len() - pad - 1;
    if plain[body..].iter().any(|&b| usize::from(b) != pad) {
        return Err(OpenError::BadPadding);
    }
    Ok(body)
}

fn mac_ok(mac: &hmac::Key, seq: u64, header: &[u8; 5], data: &[u8], tag: &[u8]) -> bool {
    let mut ctx = hmac::Context::with_key(mac);
    ctx.update(&seq.to_be_bytes());
    ctx.update(&header[..3]);
    ctx.update(&(data.len() as u16).to_be_bytes());
    ctx.update(data);
    // A capture is read, not attacked: no need for a constant-time compare.
    ctx.sign().as_ref() == tag
}

fn open_cbc(
    cipher: &Cbc,
    mac: &hmac::Key,
    mac_len: usize,
    etm: bool,
    seq: u64,
    header: &[u8; 5],
    body: &mut [u8],
) -> Result<Opened, OpenError> {
    const BLOCK: usize = 16;
    if etm {
        if body.len() < BLOCK * 2 + mac_len {
            return Err(OpenError::TooShort);
        }
        let (data, tag) = body.split_at_mut(body.len() - mac_len);
        if !mac_ok(mac, seq, header, data, tag) {
            return Err(OpenError::Authentication);
        }
        let (iv, ct) = data.split_at_mut(BLOCK);
        if ct.len() % BLOCK != 0 {
            return Err(OpenError::BadPadding);
        }
        decrypt_cbc(cipher, iv, ct)?;
        let len = unpad(ct)?;
        return Ok(Opened {
            kind: header[0],
            start: BLOCK,
            end: BLOCK + len,
        });
    }
    if body.len() < BLOCK * 2 || !body.len().is_multiple_of(BLOCK) {
        return Err(OpenError::TooShort);
    }
    let (iv, ct) = body.split_at_mut(BLOCK);
    decrypt_cbc(cipher, iv, ct)?;
    let len = unpad(ct)?;
    if len < mac_len {
        return Err(OpenError::BadPadding);
    }
    let (content, tag) = ct[..len].split_at(len - mac_len);
    if !mac_ok(mac, seq, header, content, tag) {
        return Err(OpenError::Authentication);
    }
    Ok(Opened {
        kind: header[0],
        start: BLOCK,
        end: BLOCK + content.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::keys::{tests::unhex, tls13_keys};
    use crate::tls::suite::find;

    /// RFC 8448 §3: the client's Finished, as the record on the wire.
    #[test]
    fn rfc8448_client_finished_record_opens() {
        let suite = find(0x1301).unwrap();
        let secret = unhex("b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21");
        let mut opener = Opener::new(suite, &tls13_keys(suite, &secret), false).unwrap();
        let record = unhex(
            "17 03 03 00 35 75 ec 4d c2 38 cc e6 0b 29 80 44 a7 1e 21 9c 56 cc 77 b0 51 7f e9 b9
             3c 7a 4b fc 44 d8 7f 38 f8 03 38 ac 98 fc 46 de b3 84 bd 1c ae ac ab 68 67 d7 26 c4
             05 46",
        );
        let header: [u8; 5] = record[..5].try_into().unwrap();
        let mut body = record[5..].to_vec();
        let opened = opener.open(&header, &mut body).unwrap();
        assert_eq!(opened.kind, 22);
        assert_eq!(
            &body[opened.start..opened.end],
            unhex(
                "14 00 00 20 a8 ec 43 6d 67 76 34 ae 52 5a c1 fc eb e1 1a 03 9e c1 76 94 fa c6
                 e9 85 27 b6 42 f2 ed d5 ce 61"
            )
            .as_slice()
        );
        assert_eq!(opener.seq(), 1);
        // The same record again is record 1 now: its nonce differs.
        let mut body = record[5..].to_vec();
        assert_eq!(
            opener.open(&header, &mut body),
            Err(OpenError::Authentication)
        );
    }

    #[test]
    fn a_flipped_bit_fails_authentication_and_short_records_are_named() {
        let suite = find(0x1301).unwrap();
        let secret = unhex("b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21");
        let keys = tls13_keys(suite, &secret);
        let mut opener = Opener::new(suite, &keys, false).unwrap();
        let mut body = unhex("75 ec 4d c2 38 cc e6 0b 29 80 44 a7 1e 21 9c 56 cc 77 b0 51 7f e9 b9 3c 7a 4b fc 44 d8 7f 38 f8 03 38 ac 98 fc 46 de b3 84 bd 1c ae ac ab 68 67 d7 26 c4 05 47");
        let header = [23, 3, 3, 0, 0x35];
        assert_eq!(
            opener.open(&header, &mut body),
            Err(OpenError::Authentication)
        );
        assert_eq!(
            opener.open(&header, &mut [0u8; 15]),
            Err(OpenError::TooShort)
        );
        let cbc = find(0xc013).unwrap();
        let keys = DirKeys {
            mac: vec![1; 20],
            key: vec![2; 16],
            iv: Vec::new(),
        };
        let mut opener = Opener::new(cbc, &keys, false).unwrap();
        assert_eq!(
            opener.open(&header, &mut [0u8; 40]),
            Err(OpenError::TooShort)
        );
    }

    #[test]
    fn tls_padding_is_checked_byte_by_byte() {
        assert_eq!(unpad(&[9, 9, 2, 2, 2]), Ok(2));
        assert_eq!(unpad(&[9, 0]), Ok(1));
        assert_eq!(unpad(&[9, 3, 2, 2]), Err(OpenError::BadPadding));
        assert_eq!(unpad(&[5, 5]), Err(OpenError::BadPadding));
        assert_eq!(unpad(&[]), Err(OpenError::BadPadding));
    }
}
