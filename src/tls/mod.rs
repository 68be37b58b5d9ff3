//! TLS decryption with a key log: the application data inside TLS
//! records, and which records carried it.
//!
//! ```text
//! TCP bytes  |hdr|  fragment  |hdr| fragment |hdr|   fragment   |
//!              record 0          record 1        record 2
//! plaintext       |  data 0  |    | data 1  |     |   data 2   |
//! ```
//!
//! Most protocols run inside TLS, where framing happens twice: messages
//! are cut into records, records into segments. [`Conn`] follows one TCP
//! connection's two directions: it reads the records (with the record
//! header parser of [`crate::decode::proto`]), the hellos (client random,
//! version, cipher suite, encrypt-then-MAC, HelloRetryRequest), finds the
//! session's secrets in a [`KeyLog`] (the NSS format `SSLKEYLOGFILE`
//! names), derives the keys ([`keys`]) and opens each protected record
//! ([`protect`]), reporting every record and the decrypted application
//! data as [`Event`]s. TLS 1.2 (AES-GCM, ChaCha20-Poly1305, AES-CBC with
//! HMAC-SHA1/256/384, with or without encrypt-then-MAC) and TLS 1.3
//! (AES-GCM, ChaCha20-Poly1305, KeyUpdate) are decrypted; resumed sessions
//! too, since key logs name every session by its client random.
//!
//! This module owns the record and key state of a connection; it knows
//! nothing of captures or framing: callers feed it reassembled bytes and
//! frame the plaintext themselves. The primitives come from `ring`
//! (AEADs, HMAC, HKDF) and RustCrypto's `aes` and `cbc`.

mod conn;
pub mod handshake;
pub mod keylog;
pub mod keys;
pub mod layer;
pub mod protect;
pub mod suite;

pub use conn::{Conn, Event, Note, Out, Record, TlsLimits};
pub use keylog::{ClientRandom, KeyLog, KeyLogError, KeyLogProblem};
pub use layer::{Decrypting, RecordSink, StreamNote};
