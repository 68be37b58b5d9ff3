//! The cipher suites framescope decrypts, by their TLS code.
//!
//! TLS 1.2: AES-128-GCM, AES-256-GCM and ChaCha20-Poly1305 (AEAD), and
//! AES-128/256-CBC with HMAC-SHA1, SHA256 or SHA384, over every key
//! exchange (RSA, DHE, ECDHE with RSA or ECDSA: the key exchange does not
//! matter once the master secret is known). TLS 1.3: the three AEAD
//! suites. This module only describes suites; [`super::protect`] uses them.

/// The bulk cipher of a suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bulk {
    /// AES-GCM with a key of this many bytes (16 or 32).
    AesGcm(usize),
    /// ChaCha20-Poly1305.
    ChaCha20Poly1305,
    /// AES-CBC with a key of this many bytes (16 or 32).
    AesCbc(usize),
}

/// A hash: the PRF's (TLS 1.2), HKDF's (TLS 1.3), or a CBC suite's MAC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hash {
    /// SHA-1 (CBC MACs only).
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
}

impl Hash {
    /// The digest's length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Hash::Sha1 => 20,
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
        }
    }

    /// ring's HMAC algorithm for this hash.
    pub(super) fn hmac(self) -> ring::hmac::Algorithm {
        match self {
            Hash::Sha1 => ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Hash::Sha256 => ring::hmac::HMAC_SHA256,
            Hash::Sha384 => ring::hmac::HMAC_SHA384,
        }
    }
}

/// A cipher suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Suite {
    /// The suite's code (`0xc02f`).
    pub code: u16,
    /// IANA's name.
    pub name: &'static str,
    /// The bulk cipher.
    pub bulk: Bulk,
    /// CBC suites: the MAC's hash; `None` for AEAD suites.
    pub mac: Option<Hash>,
    /// The PRF's hash (TLS 1.2) or HKDF's (TLS 1.3).
    pub prf: Hash,
    /// Whether this is a TLS 1.3 suite.
    pub tls13: bool,
}

impl Suite {
    /// The key length in bytes.
    pub fn key_len(&self) -> usize {
        match self.bulk {
            Bulk::AesGcm(n) | Bulk::AesCbc(n) => n,
            Bulk::ChaCha20Poly1305 => 32,
        }
    }

    /// TLS 1.2: bytes of IV taken from the key block (GCM's 4-byte salt,
    /// ChaCha20's 12-byte IV; CBC suites carry their IV in each record).
    pub fn fixed_iv_len(&self) -> usize {
        match self.bulk {
            Bulk::AesGcm(_) => 4,
            Bulk::ChaCha20Poly1305 => 12,
            Bulk::AesCbc(_) => 0,
        }
    }
}

const fn s(code: u16, name: &'static str, bulk: Bulk, mac: Option<Hash>, prf: Hash) -> Suite {
    Suite {
        code,
        name,
        bulk,
        mac,
        prf,
        tls13: false,
    }
}

const G128: Bulk = Bulk::AesGcm(16);
const G256: Bulk = Bulk::AesGcm(32);
const CHACHA: Bulk = Bulk::ChaCha20Poly1305;
const C128: Bulk = Bulk::AesCbc(16);
const C256: Bulk = Bulk::AesCbc(32);
const SHA1: Option<Hash> = Some(Hash::Sha1);
const SHA256: Option<Hash> = Some(Hash::Sha256);
const SHA384: Option<Hash> = Some(Hash::Sha384);
use Hash::{Sha256 as P256, Sha384 as P384};

/// Every suite decrypted.
pub const SUITES: &[Suite] = &[
    Suite {
        code: 0x1301,
        name: "TLS_AES_128_GCM_SHA256",
        bulk: G128,
        mac: None,
        prf: P256,
        tls13: true,
    },
    Suite {
        code: 0x1302,
        name: "TLS_AES_256_GCM_SHA384",
        bulk: G256,
        mac: None,
        prf: P384,
        tls13: true,
    },
    Suite {
        code: 0x1303,
        name: "TLS_CHACHA20_POLY1305_SHA256",
        bulk: CHACHA,
        mac: None,
        prf: P256,
        tls13: true,
    },
    s(0x009c, "TLS_RSA_WITH_AES_128_GCM_SHA256", G128, None, P256),
    s(0x009d, "TLS_RSA_WITH_AES_256_GCM_SHA384", G256, None, P384),
    s(
        0x009e,
        "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
        G128,
        None,
        P256,
    ),
    s(
        0x009f,
        "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
        G256,
        None,
        P384,
    ),
    s(
        0xc02b,
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        G128,
        None,
        P256,
    ),
    s(
        0xc02c,
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        G256,
        None,
        P384,
    ),
    s(
        0xc02f,
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        G128,
        None,
        P256,
    ),
    s(
        0xc030,
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        G256,
        None,
        P384,
    ),
    s(
        0xcca8,
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        CHACHA,
        None,
        P256,
    ),
    s(
        0xcca9,
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        CHACHA,
        None,
        P256,
    ),
    s(
        0xccaa,
        "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        CHACHA,
        None,
        P256,
    ),
    s(0x002f, "TLS_RSA_WITH_AES_128_CBC_SHA", C128, SHA1, P256),
    s(0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA", C256, SHA1, P256),
    s(
        0x003c,
        "TLS_RSA_WITH_AES_128_CBC_SHA256",
        C128,
        SHA256,
        P256,
    ),
    s(
        0x003d,
        "TLS_RSA_WITH_AES_256_CBC_SHA256",
        C256,
        SHA256,
        P256,
    ),
    s(0x0033, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA", C128, SHA1, P256),
    s(0x0039, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA", C256, SHA1, P256),
    s(
        0x0067,
        "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256",
        C128,
        SHA256,
        P256,
    ),
    s(
        0x006b,
        "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256",
        C256,
        SHA256,
        P256,
    ),
    s(
        0xc009,
        "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
        C128,
        SHA1,
        P256,
    ),
    s(
        0xc00a,
        "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
        C256,
        SHA1,
        P256,
    ),
    s(
        0xc013,
        "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
        C128,
        SHA1,
        P256,
    ),
    s(
        0xc014,
        "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
        C256,
        SHA1,
        P256,
    ),
    s(
        0xc023,
        "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
        C128,
        SHA256,
        P256,
    ),
    s(
        0xc024,
        "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
        C256,
        SHA384,
        P384,
    ),
    s(
        0xc027,
        "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
        C128,
        SHA256,
        P256,
    ),
    s(
        0xc028,
        "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
        C256,
        SHA384,
        P384,
    ),
];

/// The suite with this code, if framescope decrypts it.
pub fn find(code: u16) -> Option<&'static Suite> {
    SUITES.iter().find(|s| s.code == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_names_match_their_parameters() {
        for (i, a) in SUITES.iter().enumerate() {
            assert!(SUITES[i + 1..].iter().all(|b| b.code != a.code));
            assert_eq!(a.tls13, !a.name.contains("_WITH_"), "{}", a.name);
            assert_eq!(a.mac.is_some(), a.name.contains("CBC"), "{}", a.name);
            assert_eq!(a.prf == Hash::Sha384, a.name.ends_with("SHA384"));
            assert_eq!(a.key_len() == 16, a.name.contains("AES_128"));
        }
        assert_eq!(find(0xc02f).unwrap().fixed_iv_len(), 4);
        assert!(find(0x0005).is_none());
    }
}
