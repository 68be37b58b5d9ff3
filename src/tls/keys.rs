//! Key schedules: from the secrets of a key log to the keys and IVs of
//! each direction.
//!
//! TLS 1.2 (RFC 5246 §5, §6.3): the key block is
//! `PRF(master_secret, "key expansion", server_random + client_random)`,
//! where the PRF is P_SHA256 or P_SHA384 (the suite's hash), cut into
//!
//! ```text
//! client MAC key | server MAC key | client key | server key | client IV | server IV
//! ```
//!
//! (MAC keys only for CBC suites; IVs only for AEAD suites.)
//!
//! TLS 1.3 (RFC 8446 §7.1, §7.3): each traffic secret gives
//! `key = HKDF-Expand-Label(secret, "key", "", key_len)` and
//! `iv = HKDF-Expand-Label(secret, "iv", "", 12)`; a KeyUpdate replaces the
//! secret by `HKDF-Expand-Label(secret, "traffic upd", "", hash_len)`.
//!
//! HMAC and HKDF come from `ring`; nothing here is hand-written crypto,
//! only the concatenations the RFCs define.

use ring::{hkdf, hmac};

use super::suite::{Hash, Suite};

/// The keys of one direction.
#[derive(Clone, PartialEq, Eq)]
pub struct DirKeys {
    /// CBC suites: the MAC key (empty for AEAD suites).
    pub mac: Vec<u8>,
    /// The cipher key.
    pub key: Vec<u8>,
    /// The implicit IV or salt (empty for CBC suites).
    pub iv: Vec<u8>,
}

impl std::fmt::Debug for DirKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DirKeys(..)")
    }
}

/// The TLS 1.2 PRF with `hash` (P_hash of RFC 5246 §5), `out.len()` bytes.
pub fn prf(hash: Hash, secret: &[u8], label: &[u8], seed: &[u8], out: &mut [u8]) {
    let key = hmac::Key::new(hash.hmac(), secret);
    let mut label_seed = Vec::with_capacity(label.len() + seed.len());
    label_seed.extend_from_slice(label);
    label_seed.extend_from_slice(seed);
    // A(1) = HMAC(secret, label + seed); A(i) = HMAC(secret, A(i-1)).
    let mut a = hmac::sign(&key, &label_seed);
    let mut filled = 0;
    while filled < out.len() {
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(a.as_ref());
        ctx.update(&label_seed);
        let block = ctx.sign();
        let n = block.as_ref().len().min(out.len() - filled);
        out[filled..filled + n].copy_from_slice(&block.as_ref()[..n]);
        filled += n;
        a = hmac::sign(&key, a.as_ref());
    }
}

/// TLS 1.2: the client's and the server's keys.
pub fn tls12_keys(
    suite: &Suite,
    master: &[u8; 48],
    client_random: &[u8; 32],
    server_random: &[u8; 32],
) -> [DirKeys; 2] {
    let mac_len = suite.mac.map_or(0, Hash::output_len);
    let key_len = suite.key_len();
    let iv_len = suite.fixed_iv_len();
    let mut block = vec![0u8; 2 * (mac_len + key_len + iv_len)];
    let mut seed = [0u8; 64];
    seed[..32].copy_from_slice(server_random);
    seed[32..].copy_from_slice(client_random);
    prf(suite.prf, master, b"key expansion", &seed, &mut block);
    let mut rest = block.as_slice();
    let mut take = |n: usize| {
        let (a, b) = rest.split_at(n);
        rest = b;
        a.to_vec()
    };
    let (cmac, smac) = (take(mac_len), take(mac_len));
    let (ckey, skey) = (take(key_len), take(key_len));
    let (civ, siv) = (take(iv_len), take(iv_len));
    [
        DirKeys {
            mac: cmac,
            key: ckey,
            iv: civ,
        },
        DirKeys {
            mac: smac,
            key: skey,
            iv: siv,
        },
    ]
}

/// An output length for ring's HKDF.
struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-Expand-Label(secret, label, "", len) of RFC 8446 §7.1.
pub fn expand_label(hash: Hash, secret: &[u8], label: &[u8], len: usize) -> Vec<u8> {
    let alg = match hash {
        Hash::Sha384 => hkdf::HKDF_SHA384,
        Hash::Sha256 | Hash::Sha1 => hkdf::HKDF_SHA256,
    };
    let prk = hkdf::Prk::new_less_safe(alg, secret);
    // struct { uint16 length; opaque label<7..255> = "tls13 " + label;
    //          opaque context<0..255> = ""; } HkdfLabel;
    let mut info = Vec::with_capacity(4 + 6 + label.len());
    info.extend_from_slice(&(len as u16).to_be_bytes());
    info.push((6 + label.len()) as u8);
    info.extend_from_slice(b"tls13 ");
    info.extend_from_slice(label);
    info.push(0);
    let mut out = vec![0u8; len];
    // The lengths asked for (12 to 48 bytes) are far below HKDF's limit of
    // 255 hash lengths, so expand and fill cannot fail.
    let infos = [info.as_slice()];
    if let Ok(okm) = prk.expand(&infos, Len(len)) {
        let _ = okm.fill(&mut out);
    }
    out
}

/// TLS 1.3: the key and IV of a traffic secret.
pub fn tls13_keys(suite: &Suite, secret: &[u8]) -> DirKeys {
    DirKeys {
        mac: Vec::new(),
        key: expand_label(suite.prf, secret, b"key", suite.key_len()),
        iv: expand_label(suite.prf, secret, b"iv", 12),
    }
}

/// TLS 1.3: the traffic secret after a KeyUpdate.
pub fn next_secret(suite: &Suite, secret: &[u8]) -> Vec<u8> {
    expand_label(suite.prf, secret, b"traffic upd", suite.prf.output_len())
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::tls::suite::find;

    pub(crate) fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 8448 §3: the handshake traffic secrets and their keys and IVs.
    #[test]
    fn rfc8448_handshake_keys() {
        let suite = find(0x1301).unwrap();
        let server = unhex("b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38");
        let k = tls13_keys(suite, &server);
        assert_eq!(k.key, unhex("3fce516009c21727d0f2e4e86ee403bc"));
        assert_eq!(k.iv, unhex("5d313eb2671276ee13000b30"));
        let client = unhex("b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21");
        let k = tls13_keys(suite, &client);
        assert_eq!(k.key, unhex("dbfaa693d1762c5b666af5d950258d01"));
        assert_eq!(k.iv, unhex("5bd3c71b836e0b76bb73265f"));
    }

    /// The TLS 1.2 PRF test vector published on the IETF TLS list
    /// (P_SHA256, 100 bytes).
    #[test]
    fn prf_sha256_known_answer() {
        let secret = unhex("9bbe436ba940f017b17652849a71db35");
        let seed = unhex("a0ba9f936cda311827a6f796ffd5198c");
        let mut out = [0u8; 100];
        prf(Hash::Sha256, &secret, b"test label", &seed, &mut out);
        let want = unhex(
            "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a\
             6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab\
             4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff701\
             87347b66",
        );
        assert_eq!(out.as_slice(), want.as_slice());
    }

    #[test]
    fn key_block_is_cut_in_rfc_order() {
        let suite = find(0xc013).unwrap();
        let master = [7u8; 48];
        let (cr, sr) = ([1u8; 32], [2u8; 32]);
        let [c, s] = tls12_keys(suite, &master, &cr, &sr);
        let mut block = [0u8; 2 * (20 + 16)];
        let mut seed = [2u8; 64];
        seed[32..].fill(1);
        prf(Hash::Sha256, &master, b"key expansion", &seed, &mut block);
        assert_eq!(c.mac, &block[..20]);
        assert_eq!(s.mac, &block[20..40]);
        assert_eq!(c.key, &block[40..56]);
        assert_eq!(s.key, &block[56..72]);
        assert!(c.iv.is_empty());
        let gcm = tls12_keys(find(0xc030).unwrap(), &master, &cr, &sr);
        assert_eq!((gcm[0].key.len(), gcm[0].iv.len()), (32, 4));
    }

    #[test]
    fn key_update_changes_the_secret_and_keeps_its_length() {
        let suite = find(0x1302).unwrap();
        let s0 = [9u8; 48];
        let s1 = next_secret(suite, &s0);
        assert_eq!(s1.len(), 48);
        assert_ne!(s1, s0);
        assert_eq!(next_secret(suite, &s0), s1);
    }
}
