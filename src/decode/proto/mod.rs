//! Protocol-aware framing: decoders that know where the messages of a named
//! application protocol end (HTTP/1, Redis RESP, PostgreSQL, memcached,
//! MQTT, DNS over TCP, TLS, Kafka, NetBIOS sessions, BGP, MySQL, WebSocket,
//! HTTP/2, LDAP, gRPC).
//!
//! This module owns the registry ([`PROTOCOLS`], [`build`]) and one file per
//! protocol, each of which draws its wire layout and says what one message
//! is. It does not know about captures or flows: [`build`] gives the two
//! decoders of one connection, and the caller feeds them the bytes of each
//! direction in capture order.
//!
//! The two decoders of a connection may share state, because a protocol's
//! framing in one direction can depend on the other: an HTTP response to
//! `HEAD` has no body, a PostgreSQL server answers an SSL request with one
//! byte, a `101 Switching Protocols` turns both directions into WebSocket
//! frames. Shared state is read when a message starts, so it is current as
//! long as a request is fed before its response.
//!
//! Every decoder keeps the [`Decoder`] contract: it counts bodies without
//! copying them, holds only header bytes (bounded by small per-protocol
//! limits and by the maximum frame size), gives the same frames however its
//! input is chunked and reports corrupt input as a [`DecodeError`] with the
//! stream offset of the offending bytes.
//!
//! # Errors, gaps and resynchronisation
//!
//! A failed `decode` reports nothing of its chunk consumed, so a caller
//! that wants to go on offers that same chunk to `resync`. Every decoder
//! here rolls its position back to the start of the failed chunk and
//! resumes only at or after the end of the bytes it had examined when it
//! found the error: resume points, like frames and errors, depend on the
//! bytes alone. The line protocols (HTTP/1, RESP, memcached) resume at the
//! next line that starts like a message, BGP at the next marker; the other
//! length-prefixed protocols cannot resynchronise. A capture gap (`skip`)
//! is survived when it lies strictly inside a body of known length (at
//! least one body byte after it); otherwise the place is lost and, where
//! possible, decoding resumes at the first plausible message start after
//! the gap.
//!
//! [`DecodeError`]: crate::decode::DecodeError

use crate::decode::Decoder;

mod bgp;
mod block;
mod dns;
mod framed;
mod grpc;
mod http1;
mod http2;
mod kafka;
mod ldap;
mod line;
mod memcached;
mod mqtt;
mod mysql;
mod nbss;
mod pgsql;
mod resp;
mod tls;
mod websocket;

pub use http1::HEADER_LIMIT as HTTP1_HEADER_LIMIT;
pub use resp::MAX_DEPTH as RESP_MAX_DEPTH;
pub(crate) use tls::header as tls_record_header;

/// A protocol [`build`] knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProtocolInfo {
    /// The name [`build`] takes.
    pub name: &'static str,
    /// One line: what a message is.
    pub summary: &'static str,
    /// The TCP ports the protocol usually uses (for guessing; may be empty).
    pub ports: &'static [u16],
}

/// Every protocol [`build`] knows, most common first. Detection breaks
/// ties in this order, so `tls` comes before `pgsql`, whose decoder also
/// frames a stream that starts with TLS (PostgreSQL 17's direct TLS): off
/// port 5432, TLS is the better name for it.
pub const PROTOCOLS: &[ProtocolInfo] = &[
    ProtocolInfo {
        name: "http1",
        summary: "HTTP/1.x request or response (Content-Length, chunked, to close), then WebSocket/h2c/tunnel after a switch",
        ports: &[80, 8080, 8000, 8008, 8888, 3128],
    },
    ProtocolInfo {
        name: "resp",
        summary: "Redis RESP2/RESP3: one top-level value or one inline command line",
        ports: &[6379],
    },
    ProtocolInfo {
        name: "tls",
        summary: "TLS record: 5-byte header (type, version, length)",
        ports: &[443, 8443, 993, 995, 465, 636, 853, 5061],
    },
    ProtocolInfo {
        name: "pgsql",
        summary: "PostgreSQL: startup/SSL/cancel requests, 1-byte SSL answer, type byte + 4-byte length; TLS after S",
        ports: &[5432],
    },
    ProtocolInfo {
        name: "memcached",
        summary: "memcached text protocol: a command line (with its data block), a whole reply up to END",
        ports: &[11211],
    },
    ProtocolInfo {
        name: "mqtt",
        summary: "MQTT control packet: fixed header byte + varint remaining length",
        ports: &[1883],
    },
    ProtocolInfo {
        name: "dns-tcp",
        summary: "DNS over TCP: 2-byte big-endian length + message",
        ports: &[53],
    },
    ProtocolInfo {
        name: "kafka",
        summary: "Kafka request or response: 4-byte big-endian length",
        ports: &[9092],
    },
    ProtocolInfo {
        name: "nbss",
        summary: "NetBIOS session (and direct SMB): type byte + 17-bit (24-bit for session messages) length",
        ports: &[139, 445],
    },
    ProtocolInfo {
        name: "bgp",
        summary: "BGP message: 16-byte marker + 2-byte length (19..=4096, 65535 with extended messages)",
        ports: &[179],
    },
    ProtocolInfo {
        name: "mysql",
        summary: "MySQL logical packet: 3-byte LE length + sequence id, 16 MiB packets joined; TLS after an SSL request",
        ports: &[3306],
    },
    ProtocolInfo {
        name: "websocket",
        summary: "WebSocket frame (2-byte header, 16/64-bit lengths, mask)",
        ports: &[],
    },
    ProtocolInfo {
        name: "http2",
        summary: "HTTP/2 frame (9-byte header); the client preface is its own message",
        ports: &[],
    },
    ProtocolInfo {
        name: "ldap",
        summary: "LDAP message: BER SEQUENCE with definite length, or a SASL buffer (4-byte length)",
        ports: &[389, 3268],
    },
    ProtocolInfo {
        name: "grpc",
        summary: "gRPC over h2c: HTTP/2 frames (gRPC messages travel inside DATA frames)",
        ports: &[50051],
    },
];

/// Fresh decoders for one stream: [client direction, server direction].
/// `None` when `name` is not in [`PROTOCOLS`].
pub fn build(name: &str, max_frame: u64) -> Option<[Box<dyn Decoder>; 2]> {
    let pair: [Box<dyn Decoder>; 2] = match name {
        "http1" => http1::pair(max_frame),
        "resp" => resp::pair(max_frame),
        "pgsql" => pgsql::pair(max_frame),
        "memcached" => memcached::pair(max_frame),
        "mqtt" => [mqtt::decoder(max_frame), mqtt::decoder(max_frame)],
        "dns-tcp" => [dns::decoder(max_frame), dns::decoder(max_frame)],
        "tls" => [tls::decoder(max_frame), tls::decoder(max_frame)],
        "kafka" => kafka::pair(max_frame),
        "nbss" => [nbss::decoder(max_frame), nbss::decoder(max_frame)],
        "bgp" => bgp::pair(max_frame),
        "mysql" => mysql::pair(max_frame),
        "websocket" => [websocket::decoder(max_frame), websocket::decoder(max_frame)],
        "http2" => [
            http2::decoder(true, max_frame),
            http2::decoder(false, max_frame),
        ],
        "ldap" => [ldap::decoder(max_frame), ldap::decoder(max_frame)],
        "grpc" => grpc::pair(max_frame),
        _ => return None,
    };
    Some(pair)
}

/// The scan that finds protocol `name`'s whole messages ahead of the
/// analysis ([`crate::decode::ahead`]), for the protocols that have one.
pub fn scan_ahead(name: &str) -> Option<crate::decode::ahead::Scan> {
    match name {
        "resp" => {
            let mut recent = resp::recent_indices();
            Some(Box::new(move |payload, found| {
                resp::scan_ahead(payload, found, &mut recent)
            }))
        }
        _ => None,
    }
}

/// Whether `message`, one whole client message of protocol `name`, asks
/// the server to end the session: Redis `QUIT`, memcached `quit`, an HTTP/1
/// request with `Connection: close` (or HTTP/1.0 without keep-alive),
/// PostgreSQL Terminate (`X`), MQTT DISCONNECT. False for protocols without
/// such a message and for names not in [`PROTOCOLS`]. A replay that
/// repeats such a message, or moves it before others, ends the session
/// early by its own doing.
pub fn ends_session(name: &str, message: &[u8]) -> bool {
    match name {
        "resp" => resp::ends_session(message),
        "memcached" => memcached::ends_session(message),
        "http1" => http1::ends_session(message),
        "pgsql" => pgsql::ends_session(message),
        "mqtt" => mqtt::ends_session(message),
        _ => false,
    }
}

/// Whether `message`, one whole client message of protocol `name`, opens
/// the session and may be sent only once: MQTT CONNECT, the PostgreSQL
/// startup message (or the SSL request before it). False for protocols
/// without such a message. A replay that repeats it breaks the protocol by
/// its own doing.
pub fn starts_session(name: &str, message: &[u8]) -> bool {
    match name {
        "mqtt" => mqtt::starts_session(message),
        "pgsql" => pgsql::starts_session(message),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ending_messages_are_marked() {
        for (name, yes, no) in [
            (
                "resp",
                &b"*1\r\n$4\r\nquit\r\n"[..],
                &b"*1\r\n$4\r\nPING\r\n"[..],
            ),
            ("resp", b"QUIT\r\n", b"GET quit\r\n"),
            ("memcached", b"quit\r\n", b"get quit\r\n"),
            (
                "http1",
                b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
            ),
            (
                "http1",
                b"GET / HTTP/1.0\r\n\r\n",
                b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
            ),
            ("pgsql", b"X\0\0\0\x04", b"Q\0\0\0\x05\0"),
            ("mqtt", b"\xe0\x00", b"\xc0\x00"),
        ] {
            assert!(ends_session(name, yes), "{name} {yes:?}");
            assert!(!ends_session(name, no), "{name} {no:?}");
        }
        assert!(!ends_session("kafka", b"\xe0\x00"));
        assert!(starts_session("mqtt", b"\x10\x0c\x00\x04MQTT"));
        assert!(!starts_session("mqtt", b"\x30\x02\x00\x00"));
        assert!(starts_session("pgsql", b"\0\0\0\x08\x04\xd2\x16\x2f"));
        assert!(starts_session("pgsql", b"\0\0\0\x09\0\x03\0\0\0"));
        assert!(!starts_session("pgsql", b"Q\0\0\0\x05\0"));
        assert!(!starts_session("resp", b"*1\r\n$5\r\nHELLO\r\n"));
    }

    #[test]
    fn every_listed_protocol_builds_and_nothing_else() {
        for info in PROTOCOLS {
            let pair = build(info.name, 1 << 20);
            assert!(pair.is_some(), "{}", info.name);
            for d in pair.into_iter().flatten() {
                assert_eq!(d.max_frame(), 1 << 20);
            }
        }
        assert!(build("gopher", 100).is_none());
        let mut names: Vec<_> = PROTOCOLS.iter().map(|p| p.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), PROTOCOLS.len());
    }
}
