//! Protocol decoders on real and hand-written exchanges: frame boundaries
//! and labels, agreement with tshark's counts on the public captures, split
//! invariance, every prefix of a valid input, and hostile input.

use std::path::Path;

use framescope::decode::proto::{build, PROTOCOLS, RESP_MAX_DEPTH};
use framescope::decode::{DecodeError, DecodeErrorKind, Decoder, End, Step};
use proptest::prelude::*;

const MAX: u64 = 16 << 20;
const C: usize = 0;
const S: usize = 1;

/// One event of a connection, in capture order.
#[derive(Clone, Debug)]
enum Ev {
    Data(usize, Vec<u8>),
    Gap(usize, u64),
}

/// A frame as seen by the driver: `[start, end)` in its direction's stream.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    start: u64,
    end: u64,
    label: String,
}

/// Everything one direction produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Dir {
    frames: Vec<Seen>,
    errors: Vec<DecodeError>,
    end: Option<End>,
}

struct Driver {
    decoder: Box<dyn Decoder>,
    pos: u64,
    start: u64,
    resyncing: bool,
    dead: bool,
    out: Dir,
}

impl Driver {
    fn feed(&mut self, mut chunk: &[u8]) {
        while !chunk.is_empty() && !self.dead {
            if self.resyncing {
                match self.decoder.resync(chunk) {
                    Some(at) => {
                        self.pos += at as u64;
                        self.start = self.pos;
                        chunk = &chunk[at..];
                        self.resyncing = false;
                    }
                    None => {
                        self.pos += chunk.len() as u64;
                        return;
                    }
                }
                continue;
            }
            match self.decoder.decode(chunk) {
                Ok(Step::NeedMore) => {
                    self.pos += chunk.len() as u64;
                    return;
                }
                Ok(Step::Frame { consumed, label }) => {
                    assert!(consumed >= 1 && consumed <= chunk.len(), "bad consumed");
                    self.pos += consumed as u64;
                    self.out.frames.push(Seen {
                        start: self.start,
                        end: self.pos,
                        label: label.map(|l| l.to_string()).unwrap_or_default(),
                    });
                    self.start = self.pos;
                    chunk = &chunk[consumed..];
                }
                Err(error) => {
                    // A failed decoder keeps returning the same error.
                    assert_eq!(self.decoder.decode(chunk), Err(error.clone()));
                    self.out.errors.push(error);
                    if !self.decoder.can_resync() {
                        self.dead = true;
                        return;
                    }
                    self.resyncing = true;
                }
            }
        }
    }

    fn gap(&mut self, len: u64) {
        if self.dead {
            return;
        }
        self.pos += len;
        if !self.resyncing && !self.decoder.skip(len) {
            self.resyncing = true;
        }
    }
}

/// Runs `events` through the pair of decoders for `name`, cutting every
/// data event into pieces of the sizes `cuts` gives in turn (whole when
/// `cuts` is empty).
fn run(name: &str, max: u64, events: &[Ev], cuts: &[usize]) -> [Dir; 2] {
    let [c, s] = build(name, max).expect("known protocol");
    let mut drivers = [c, s].map(|decoder| Driver {
        decoder,
        pos: 0,
        start: 0,
        resyncing: false,
        dead: false,
        out: Dir::default(),
    });
    let mut cut = cuts.iter().copied().cycle();
    for ev in events {
        match ev {
            Ev::Data(dir, bytes) => {
                let d = &mut drivers[*dir];
                let mut rest = &bytes[..];
                while !rest.is_empty() {
                    let n = if cuts.is_empty() {
                        rest.len()
                    } else {
                        cut.next().unwrap_or(1).clamp(1, rest.len())
                    };
                    d.feed(&rest[..n]);
                    rest = &rest[n..];
                }
            }
            Ev::Gap(dir, len) => drivers[*dir].gap(*len),
        }
    }
    drivers.map(|mut d| {
        if !d.dead && !d.resyncing {
            let end = d.decoder.finish();
            if let End::Frame { label } = &end {
                d.out.frames.push(Seen {
                    start: d.start,
                    end: d.pos,
                    label: label.map(|l| l.to_string()).unwrap_or_default(),
                });
            }
            d.out.end = Some(end);
        }
        d.out
    })
}

/// Reads a `tests/data/proto/*.chunks` file (format in `extract.py`).
fn load(file: &str) -> Vec<Ev> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/proto")
        .join(file);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut events = Vec::new();
    let mut rest = &bytes[..];
    while let [kind, a, b, c, d, tail @ ..] = rest {
        let len = u32::from_be_bytes([*a, *b, *c, *d]) as usize;
        match kind {
            b'C' | b'S' => {
                let dir = if *kind == b'C' { C } else { S };
                events.push(Ev::Gap(dir, len as u64));
                rest = tail;
            }
            _ => {
                let dir = if *kind == b'c' { C } else { S };
                events.push(Ev::Data(dir, tail[..len].to_vec()));
                rest = &tail[len..];
            }
        }
    }
    events
}

fn labels(dir: &Dir) -> Vec<&str> {
    dir.frames.iter().map(|f| f.label.as_str()).collect()
}

fn count(dir: &Dir, label: &str) -> usize {
    dir.frames.iter().filter(|f| f.label == label).count()
}

fn bytes_of(events: &[Ev], dir: usize) -> u64 {
    events
        .iter()
        .map(|e| match e {
            Ev::Data(d, b) if *d == dir => b.len() as u64,
            Ev::Gap(d, n) if *d == dir => *n,
            _ => 0,
        })
        .sum()
}

/// A capture decodes without error into `[client, server]` frames that
/// tile each direction exactly, and the same frames come out one byte at a
/// time and in odd chunks.
fn clean_capture(name: &str, file: &str, counts: [usize; 2]) -> [Dir; 2] {
    let events = load(file);
    let out = run(name, MAX, &events, &[]);
    for (dir, d) in out.iter().enumerate() {
        assert!(d.errors.is_empty(), "{file} dir {dir}: {:?}", d.errors);
        assert_eq!(
            d.frames.len(),
            counts[dir],
            "{file} dir {dir}: {:?}",
            labels(d)
        );
        let mut at = 0;
        for f in &d.frames {
            assert_eq!(f.start, at, "{file}: frames tile the stream");
            at = f.end;
        }
        if d.end == Some(End::Clean) {
            assert_eq!(
                at,
                bytes_of(&events, dir),
                "{file} dir {dir}: all bytes framed"
            );
        }
    }
    assert_eq!(run(name, MAX, &events, &[1]), out, "{file}: byte by byte");
    assert_eq!(
        run(name, MAX, &events, &[7, 1, 300, 2]),
        out,
        "{file}: odd chunks"
    );
    out
}

fn data(dir: usize, bytes: &[u8]) -> Ev {
    Ev::Data(dir, bytes.to_vec())
}

// ---------------------------------------------------------------- registry

#[test]
fn registry_lists_ports_and_builds() {
    let find = |n: &str| PROTOCOLS.iter().find(|p| p.name == n).expect(n);
    assert!(find("http1").ports.contains(&80));
    assert!(find("resp").ports.contains(&6379));
    assert!(find("pgsql").ports.contains(&5432));
    assert!(find("tls").ports.contains(&443));
    for p in PROTOCOLS {
        assert!(build(p.name, 1000).is_some());
        assert!(!p.summary.is_empty());
    }
}

// ------------------------------------------------ public captures vs tshark

#[test]
fn http1_captures_match_tshark() {
    // tshark: http.request.method / http.response.code per file.
    let out = clean_capture("http1", "zeek_http_pipelined-requests.0.chunks", [5, 5]);
    assert_eq!(labels(&out[S]), ["200"; 5]);
    clean_capture("http1", "zeek_http_get_nosyn.0.chunks", [1, 1]);
    let (mut requests, mut responses, mut interim) = (0, 0, 0);
    for n in 0..9 {
        let file = format!("zeek_http_http-body-match.{n}.chunks");
        let events = load(&file);
        let out = run("http1", MAX, &events, &[]);
        assert!(out
            .iter()
            .all(|d| d.errors.is_empty() && d.end == Some(End::Clean)));
        assert_eq!(run("http1", MAX, &events, &[3]), out, "{file}");
        requests += out[C].frames.len();
        responses += out[S].frames.len();
        interim += count(&out[S], "100");
    }
    assert_eq!((requests, responses, interim), (10, 13, 3));
}

#[test]
fn http1_gap_inside_a_body_is_counted_past() {
    // 1380 bytes of the 206 response body are missing: the framing goes on.
    let events = load("zeek_http_content-range-gap.0.chunks");
    let out = run("http1", MAX, &events, &[]);
    assert_eq!(labels(&out[C]), ["GET"]);
    assert_eq!(labels(&out[S]), ["206"]);
    assert_eq!(out[S].end, Some(End::Clean));
    assert_eq!(out[S].frames[0].end, bytes_of(&events, S));
}

#[test]
fn websocket_capture_after_upgrade() {
    // tshark: 1 request, 1 response, 14 websocket opcodes.
    let out = clean_capture(
        "http1",
        "zeek_websocket_jupyter-websocket.0.chunks",
        [3, 13],
    );
    assert_eq!(labels(&out[C]), ["GET", "binary", "close"]);
    assert_eq!(out[S].frames[0].label, "101");
    assert_eq!(count(&out[S], "binary"), 11);
}

#[test]
fn resp_captures_match_derived_framing() {
    let out = clean_capture("resp", "zeek_redis_pipelining-example.0.chunks", [3, 3]);
    assert_eq!(labels(&out[C]), ["PING"; 3]);
    assert_eq!(labels(&out[S]), ["+"; 3]);
    let out = clean_capture(
        "resp",
        "zeek_redis_large-requests-responses.0.chunks",
        [5, 5],
    );
    assert_eq!(labels(&out[C]), ["COMMAND", "SET", "SET", "GET", "GET"]);
    assert_eq!(labels(&out[S]), ["*", "+", "+", "$", "$"]);
}

#[test]
fn pgsql_capture_matches_tshark() {
    // tshark pgsql.type = 49 = 11 + 38.
    let file = "zeek_postgresql_psql-create-insert-select-delete-drop.0.chunks";
    let out = clean_capture("pgsql", file, [11, 38]);
    assert_eq!(out[C].frames[0].label, "startup");
    assert_eq!(count(&out[C], "Q"), 7);
    assert_eq!(out[S].frames.last().map(|f| f.label.as_str()), Some("Z"));
}

#[test]
fn mysql_capture_matches_tshark() {
    // tshark mysql.packet_length = 74 = 18 + 56.
    let out = clean_capture("mysql", "zeek_mysql_mysql.0.chunks", [18, 56]);
    assert_eq!(out[C].frames[0].label, "login");
    assert_eq!(out[C].frames[17].label, "QUIT");
    assert_eq!(out[S].frames[0].label, "handshake");
}

#[test]
fn memcached_capture_is_one_command_one_reply() {
    // tshark counts 49 lines (stats + 48 STAT); one message is the whole reply.
    let out = clean_capture("memcached", "ndpi_memcached.0.chunks", [1, 1]);
    assert_eq!(labels(&out[C]), ["stats"]);
    assert_eq!(labels(&out[S]), ["STAT"]);
}

#[test]
fn length_prefixed_captures_match_tshark() {
    // mqtt.hdrflags = 20
    let a = clean_capture("mqtt", "zeek_mqtt.0.chunks", [7, 9]);
    let b = clean_capture("mqtt", "zeek_mqtt.1.chunks", [3, 1]);
    assert_eq!(labels(&b[C]), ["CONNECT", "PUBLISH", "DISCONNECT"]);
    assert_eq!(count(&a[S], "PINGRESP"), 5);
    // dns.id = 4
    for n in 0..2 {
        let out = clean_capture(
            "dns-tcp",
            &format!("zeek_dns-edns-tcp-keepalive.{n}.chunks"),
            [1, 1],
        );
        assert_eq!(
            (labels(&out[C]), labels(&out[S])),
            (vec!["query"], vec!["response"])
        );
    }
    // kafka.len = 4
    let out = clean_capture("kafka", "gosniffer_kafka.0.chunks", [1, 1]);
    assert_eq!(labels(&out[C]), ["Metadata"]);
    let out = clean_capture("kafka", "gosniffer_kafka.1.chunks", [1, 1]);
    assert_eq!(labels(&out[C]), ["Produce"]);
    // nbss.type = 48
    clean_capture("nbss", "zeek_smb_smb2readwrite.0.chunks", [23, 25]);
    // bgp.type = 35
    let mut total = 0;
    for (n, counts) in [(0, [4, 5]), (3, [6, 3]), (4, [6, 3]), (5, [4, 4])] {
        let out = clean_capture("bgp", &format!("tcpdump_bgp-4byte-asn.{n}.chunks"), counts);
        assert_eq!(out[C].frames[0].label, "OPEN");
        total += out[C].frames.len() + out[S].frames.len();
    }
    assert_eq!(total, 35);
    // http2.type = 12, http2.magic = 1
    let out = clean_capture("http2", "ndpi_http2.0.chunks", [6, 7]);
    assert_eq!(out[C].frames[0].label, "preface");
    assert_eq!(out[S].frames[6].label, "GOAWAY");
}

#[test]
fn tls_captures_match_tshark() {
    clean_capture("tls", "zeek_tls_ml-dsa-44-cert.0.chunks", [1, 2]);
    // The capture stops inside the server's fourth record.
    let out = clean_capture("tls", "zeek_tls_openjdk-25.0.2-zeek.org.0.chunks", [1, 3]);
    assert_eq!(
        labels(&out[S]),
        ["handshake", "change_cipher_spec", "application_data"]
    );
    assert_eq!(out[S].end, Some(End::Truncated { missing: Some(305) }));
}

#[test]
fn ldap_captures_match_tshark() {
    // ldap.protocolOp = 7
    let out = clean_capture("ldap", "zeek_ldap_simpleauth.0.chunks", [3, 4]);
    assert_eq!(
        labels(&out[C]),
        ["bindRequest", "searchRequest", "bindRequest"]
    );
    assert_eq!(out[S].frames[1].label, "searchResEntry");
    // SASL-wrapped after the bind; a gap outside any known body in the
    // server direction loses the place for good (ldap.protocolOp = 2).
    let events = load("zeek_ldap_gap-data-missing.0.chunks");
    let out = run("ldap", MAX, &events, &[]);
    assert_eq!(
        labels(&out[C]),
        ["bindRequest", "sasl", "sasl", "sasl", "sasl"]
    );
    assert_eq!(labels(&out[S]), ["bindResponse"]);
    assert_eq!(out[S].end, None);
    assert_eq!(run("ldap", MAX, &events, &[1]), out);
}

// ------------------------------------------------------ hand-written vectors

fn lens(dir: &Dir) -> Vec<u64> {
    dir.frames.iter().map(|f| f.end - f.start).collect()
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// RFC 6455 §5.7: a masked "Hello" from the client, unmasked from the server.
const WS_HELLO_MASKED: &[u8] = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
const WS_HELLO: &[u8] = b"\x81\x05Hello";
const WS_CLOSE: &[u8] = b"\x88\x02\x03\xe8";

fn http_chunked_with_trailers() -> Vec<Ev> {
    vec![
        data(
            C,
            b"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
              5;name=v\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: 1\r\n\r\n",
        ),
        data(
            S,
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
              A\r\n0123456789\r\n0\r\n\r\n",
        ),
    ]
}

fn http_pipelined_head() -> Vec<Ev> {
    vec![
        data(
            C,
            b"HEAD /a HTTP/1.1\r\nHost: x\r\n\r\nGET /a HTTP/1.1\r\nHost: x\r\n\r\n\
              DELETE /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\n\r\n",
        ),
        data(
            S,
            b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n\
              HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello\
              HTTP/1.1 204 No Content\r\n\r\n\
              HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n",
        ),
    ]
}

fn http10_until_close() -> Vec<Ev> {
    vec![
        data(C, b"GET / HTTP/1.0\r\n\r\n"),
        data(S, b"HTTP/1.0 200 OK\r\nServer: old\r\n\r\n<html>"),
        data(S, b"</html>\r\n"),
    ]
}

fn http_websocket_upgrade() -> Vec<Ev> {
    vec![
        data(
            C,
            b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
              Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
              Sec-WebSocket-Version: 13\r\n\r\n",
        ),
        data(
            S,
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
        ),
        data(C, &cat(&[WS_HELLO_MASKED, b"\x89\x80\x01\x02\x03\x04"])),
        data(S, &cat(&[WS_HELLO, b"\x8a\x00", WS_CLOSE])),
        data(C, b"\x88\x82\x00\x00\x00\x00\x03\xe8"),
    ]
}

fn http_connect_tunnel() -> Vec<Ev> {
    vec![
        data(
            C,
            b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
        ),
        data(S, b"HTTP/1.1 200 Connection Established\r\n\r\n"),
        data(C, b"\x16\x03\x01\x00\x04abcd"),
        data(S, b"\x16\x03\x03\x00\x02xy\x17\x03\x03\x00\x01z"),
    ]
}

fn http_h2c_upgrade() -> Vec<Ev> {
    vec![
        data(
            C,
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n\
              Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n",
        ),
        data(
            S,
            b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n\
              \x00\x00\x00\x04\x00\x00\x00\x00\x00",
        ),
        data(
            C,
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x01\x00\x00\x00\x00",
        ),
    ]
}

#[test]
fn http1_chunked_with_trailers_and_interim_response() {
    let out = run("http1", MAX, &http_chunked_with_trailers(), &[]);
    assert_eq!(labels(&out[C]), ["POST"]);
    assert_eq!(labels(&out[S]), ["100", "200"]);
    assert_eq!(
        out[C].frames[0].end,
        bytes_of(&http_chunked_with_trailers(), C)
    );
    assert_eq!(lens(&out[S]), [25, 67]);
    assert!(out.iter().all(|d| d.end == Some(End::Clean)));
}

#[test]
fn http1_head_204_304_have_no_body_and_pipelining_keeps_order() {
    let out = run("http1", MAX, &http_pipelined_head(), &[]);
    assert_eq!(labels(&out[C]), ["HEAD", "GET", "DELETE", "GET"]);
    assert_eq!(labels(&out[S]), ["200", "200", "204", "304"]);
    assert_eq!(lens(&out[S]), [41, 43, 27, 49]);
    assert_eq!(out[S].end, Some(End::Clean));
}

#[test]
fn http1_body_to_close_ends_at_finish() {
    let out = run("http1", MAX, &http10_until_close(), &[]);
    assert_eq!(labels(&out[S]), ["200"]);
    assert_eq!(lens(&out[S]), [bytes_of(&http10_until_close(), S)]);
    assert!(matches!(out[S].end, Some(End::Frame { .. })));
}

#[test]
fn http1_upgrade_switches_both_directions_to_websocket() {
    let out = run("http1", MAX, &http_websocket_upgrade(), &[]);
    assert_eq!(labels(&out[C]), ["GET", "text", "ping", "close"]);
    assert_eq!(labels(&out[S]), ["101", "text", "pong", "close"]);
    assert_eq!(lens(&out[C])[1..], [11, 6, 8]);
}

#[test]
fn http1_connect_tunnel_carries_tls_records() {
    let out = run("http1", MAX, &http_connect_tunnel(), &[]);
    assert_eq!(labels(&out[C]), ["CONNECT", "handshake"]);
    assert_eq!(labels(&out[S]), ["200", "handshake", "application_data"]);
    // An opaque tunnel is one message to the close.
    let opaque = [
        data(C, b"CONNECT h:22 HTTP/1.1\r\n\r\n"),
        data(S, b"HTTP/1.1 200 OK\r\n\r\n"),
        data(C, b"SSH-2.0-OpenSSH\r\n"),
        data(C, b"more"),
    ];
    let out = run("http1", MAX, &opaque, &[]);
    assert_eq!(labels(&out[C]), ["CONNECT", "tunnel"]);
    assert_eq!(lens(&out[C])[1], 21);
}

#[test]
fn http1_h2c_upgrade_gives_http2_frames() {
    let out = run("http1", MAX, &http_h2c_upgrade(), &[]);
    assert_eq!(labels(&out[C]), ["GET", "preface", "SETTINGS"]);
    assert_eq!(labels(&out[S]), ["101", "SETTINGS"]);
}

// RESP: a redis-cli session (pipelined), RESP3 replies, inline commands.

fn resp_pipelined() -> Vec<Ev> {
    vec![
        data(
            C,
            b"*3\r\n$3\r\nset\r\n$3\r\nkey\r\n$5\r\nvalue\r\n*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n\
              *2\r\n$3\r\nGET\r\n$4\r\nnone\r\n*1\r\n$4\r\nEXEC\r\n*2\r\n$4\r\nECHO\r\n$4\r\na\r\nb\r\n",
        ),
        data(
            S,
            b"+OK\r\n$5\r\nvalue\r\n$-1\r\n*-1\r\n$4\r\na\r\nb\r\n",
        ),
        data(C, b"PING\r\nset a b\nfoo bar\r\n\r\n"),
        data(S, b"+PONG\r\n+OK\r\n-ERR unknown command 'foo'\r\n:42\r\n"),
    ]
}

fn resp3_replies() -> Vec<Ev> {
    vec![
        data(C, b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n"),
        data(
            S,
            b"%2\r\n$6\r\nserver\r\n$5\r\nredis\r\n$5\r\nproto\r\n:3\r\n\
              ~2\r\n+x\r\n+y\r\n_\r\n,3.14\r\n#t\r\n(12345678901234567890\r\n\
              !21\r\nSYNTAX invalid syntax\r\n=15\r\ntxt:Some string\r\n\
              >3\r\n$7\r\nmessage\r\n$3\r\nch1\r\n$2\r\nhi\r\n\
              |1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n\
              *2\r\n:2039123\r\n:9543892\r\n\
              $?\r\n;4\r\nHell\r\n;5\r\no wor\r\n;1\r\nd\r\n;0\r\n\
              *?\r\n:1\r\n*1\r\n:2\r\n.\r\n\
              *1\r\n%?\r\n+a\r\n:1\r\n.\r\n",
        ),
    ]
}

#[test]
fn resp_pipelined_commands_and_replies() {
    let out = run("resp", MAX, &resp_pipelined(), &[]);
    assert_eq!(
        labels(&out[C]),
        ["SET", "GET", "GET", "EXEC", "ECHO", "PING", "SET", "FOO", ""]
    );
    assert_eq!(
        labels(&out[S]),
        ["+", "$", "$", "*", "$", "+", "+", "-", ":"]
    );
    assert_eq!(lens(&out[C])[..2], [33, 22]);
    assert_eq!(lens(&out[S])[..5], [5, 11, 5, 5, 10]);
}

#[test]
fn resp_command_labels_survive_the_label_cache() {
    // Names of 1, 8, 9, 30 and 43 bytes, the same name in two cases, more
    // distinct names than the cache holds, and a name that ends the input:
    // fed whole (one pass) and byte by byte (the general path) alike.
    let names: [&[u8]; 10] = [
        b"get",
        b"GET",
        b"x",
        b"exPIREAT",
        b"expireat9",
        b"client-tracking-on-and-off-xyz",
        b"a-name-longer-than-a-label-holds-0123456789",
        b"get",
        b"hello",
        b"get",
    ];
    let mut client = Vec::new();
    for name in names {
        client.extend_from_slice(format!("*1\r\n${}\r\n", name.len()).as_bytes());
        client.extend_from_slice(name);
        client.extend_from_slice(b"\r\n");
    }
    let expected = [
        "GET",
        "GET",
        "X",
        "EXPIREAT",
        "EXPIREAT9",
        "CLIENT-TRACKING-ON-AND-OFF-XYZ",
        "A-NAME-LONGER-THAN-A-LABEL-HOLD",
        "GET",
        "HELLO",
        "GET",
    ];
    let events = [data(C, &client)];
    let whole = run("resp", MAX, &events, &[]);
    let bytewise = run("resp", MAX, &events, &[1]);
    assert_eq!(labels(&whole[C]), expected);
    assert_eq!(labels(&whole[C]), labels(&bytewise[C]));
}

#[test]
fn resp3_every_type_is_one_top_level_value() {
    let out = run("resp", MAX, &resp3_replies(), &[]);
    assert_eq!(labels(&out[C]), ["HELLO"]);
    assert_eq!(
        labels(&out[S]),
        ["%", "~", "_", ",", "#", "(", "!", "=", ">", "|", "$", "*", "*"]
    );
    assert!(out[S].errors.is_empty());
    assert_eq!(out[S].end, Some(End::Clean));
}

// PostgreSQL: psql's SSLRequest refused, then startup and a simple query;
// an SSLRequest accepted, then TLS; a cancel request.

fn pg_typed(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![kind];
    m.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    m.extend_from_slice(body);
    m
}

fn pg_untyped(code: u32, body: &[u8]) -> Vec<u8> {
    let mut m = (body.len() as u32 + 8).to_be_bytes().to_vec();
    m.extend_from_slice(&code.to_be_bytes());
    m.extend_from_slice(body);
    m
}

fn pgsql_ssl_refused() -> Vec<Ev> {
    vec![
        data(C, &pg_untyped(80_877_103, b"")),
        data(S, b"N"),
        data(C, &pg_untyped(196_608, b"user\0postgres\0database\0db\0\0")),
        data(
            S,
            &cat(&[
                &pg_typed(b'R', &[0, 0, 0, 0]),
                &pg_typed(b'S', b"server_version\x0016.2\0"),
                &pg_typed(b'K', &[0, 0, 0, 1, 0, 0, 0, 2]),
                &pg_typed(b'Z', b"I"),
            ]),
        ),
        data(C, &pg_typed(b'Q', b"select 1;\0")),
        data(
            S,
            &cat(&[
                &pg_typed(
                    b'T',
                    b"\0\x01?column?\0\0\0\0\0\0\0\0\0\0\x17\0\x04\xff\xff\xff\xff\0\0",
                ),
                &pg_typed(b'D', b"\0\x01\0\0\0\x011"),
                &pg_typed(b'C', b"SELECT 1\0"),
                &pg_typed(b'Z', b"I"),
            ]),
        ),
        data(C, &pg_typed(b'X', b"")),
    ]
}

fn pgsql_ssl_accepted() -> Vec<Ev> {
    vec![
        data(C, &pg_untyped(80_877_103, b"")),
        data(S, b"S"),
        data(C, b"\x16\x03\x01\x00\x05hello"),
        data(S, b"\x16\x03\x03\x00\x02hi\x14\x03\x03\x00\x01\x01"),
        data(C, b"\x17\x03\x03\x00\x03abc"),
    ]
}

#[test]
fn pgsql_ssl_request_refused_then_startup() {
    let out = run("pgsql", MAX, &pgsql_ssl_refused(), &[]);
    assert_eq!(labels(&out[C]), ["ssl_request", "startup", "Q", "X"]);
    assert_eq!(
        labels(&out[S]),
        ["N", "R", "S", "K", "Z", "T", "D", "C", "Z"]
    );
    assert_eq!(lens(&out[S])[0], 1);
}

#[test]
fn pgsql_ssl_accepted_switches_to_tls() {
    let out = run("pgsql", MAX, &pgsql_ssl_accepted(), &[]);
    assert_eq!(
        labels(&out[C]),
        ["ssl_request", "handshake", "application_data"]
    );
    assert_eq!(labels(&out[S]), ["S", "handshake", "change_cipher_spec"]);
    let cancel = [data(C, &pg_untyped(80_877_102, &[0, 0, 0, 7, 0, 0, 0, 9]))];
    let out = run("pgsql", MAX, &cancel, &[]);
    assert_eq!((labels(&out[C]), lens(&out[C])), (vec!["cancel"], vec![16]));
}

// memcached: storage commands with data blocks (one holding CRLF), a
// multi-get, a miss, noreply, meta commands.

fn memcached_session() -> Vec<Ev> {
    vec![
        data(
            C,
            b"set foo 0 0 3\r\nbar\r\nset crlf 1 60 4\r\na\r\nb\r\nget foo crlf\r\nget nope\r\n\
              cas foo 0 0 2 12345 noreply\r\nhi\r\ndelete foo\r\nms k 2 T0\r\nhi\r\nmg k v\r\n\
              incr n 1\r\nstats\r\n",
        ),
        data(
            S,
            b"STORED\r\nSTORED\r\nVALUE foo 0 3\r\nbar\r\nVALUE crlf 1 4\r\na\r\nb\r\nEND\r\n\
              END\r\nDELETED\r\nHD\r\nVA 2 v\r\nhi\r\n7\r\nSTAT pid 1\r\nSTAT uptime 2\r\nEND\r\n",
        ),
    ]
}

#[test]
fn memcached_commands_and_whole_replies() {
    let out = run("memcached", MAX, &memcached_session(), &[]);
    assert_eq!(
        labels(&out[C]),
        ["set", "set", "get", "get", "cas", "delete", "ms", "mg", "incr", "stats"]
    );
    assert_eq!(
        labels(&out[S]),
        ["STORED", "STORED", "VALUE", "END", "DELETED", "HD", "VA", "NUMBER", "STAT"]
    );
    assert_eq!(lens(&out[C])[..2], [20, 23]);
    assert_eq!(lens(&out[S])[2], 47);
}

/// Told their labels are not wanted, as framing detection's candidates
/// are, memcached's decoders find the same messages and no labels; told
/// nothing, they label every one (above).
#[test]
fn memcached_without_labels_frames_the_same() {
    for (side, ev) in memcached_session().iter().enumerate() {
        let Ev::Data(_, bytes) = ev else {
            panic!("data");
        };
        let one = || {
            build("memcached", MAX)
                .expect("known")
                .into_iter()
                .nth(side)
        };
        let (mut labelled, mut plain) = (one().expect("a side"), one().expect("a side"));
        plain.want_labels(false);
        let with = framescope::decode::collect_frames(labelled.as_mut(), [&bytes[..]]);
        let without = framescope::decode::collect_frames(plain.as_mut(), [&bytes[..]]);
        assert!(with.error.is_none() && with.frames.len() >= 9);
        assert!(with.frames.iter().all(|f| f.label.is_some()));
        assert!(without.frames.iter().all(|f| f.label.is_none()));
        let ends = |c: &framescope::decode::Collected| {
            c.frames
                .iter()
                .map(|f| (f.offset, f.bytes.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(ends(&with), ends(&without));
        assert_eq!(with.end, without.end);
    }
}

// The length-prefixed protocols.

fn mqtt_session() -> Vec<Ev> {
    let mut publish = vec![0x32, 0xcb, 0x01, 0x00, 0x01, b't', 0x00, 0x05];
    publish.extend_from_slice(&[b'x'; 198]);
    vec![
        data(C, b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00"),
        data(S, b"\x20\x02\x00\x00"),
        data(
            C,
            &cat(&[&publish, b"\x82\x06\x00\x01\x00\x01a\x01\xc0\x00"]),
        ),
        data(S, b"\x40\x02\x00\x05\x90\x03\x00\x01\x01\xd0\x00"),
        data(C, b"\xe0\x00"),
    ]
}

#[test]
fn mqtt_packets_with_multi_byte_lengths() {
    let out = run("mqtt", MAX, &mqtt_session(), &[]);
    assert_eq!(
        labels(&out[C]),
        ["CONNECT", "PUBLISH", "SUBSCRIBE", "PINGREQ", "DISCONNECT"]
    );
    assert_eq!(labels(&out[S]), ["CONNACK", "PUBACK", "SUBACK", "PINGRESP"]);
    assert_eq!(lens(&out[C])[1], 206);
}

fn websocket_frames() -> Vec<Ev> {
    let mut medium = vec![0x82, 126, 0x01, 0x00];
    medium.extend_from_slice(&[7u8; 256]);
    let mut large = vec![0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0];
    large.extend_from_slice(&[9u8; 65536]);
    vec![
        data(
            S,
            &cat(&[b"\x01\x03Hel", b"\x80\x02lo", &medium, &large, WS_CLOSE]),
        ),
        data(C, WS_HELLO_MASKED),
    ]
}

#[test]
fn websocket_lengths_and_fragments() {
    let out = run("websocket", MAX, &websocket_frames(), &[]);
    assert_eq!(
        labels(&out[S]),
        ["text", "continuation", "binary", "binary", "close"]
    );
    assert_eq!(lens(&out[S]), [5, 4, 260, 65546, 4]);
    assert_eq!(labels(&out[C]), ["text"]);
}

fn http2_frames() -> Vec<Ev> {
    vec![
        data(
            C,
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x06\x04\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x64\
              \x00\x00\x03\x01\x00\x00\x00\x00\x01abc\x00\x00\x02\x09\x04\x00\x00\x00\x01de",
        ),
        data(S, b"\x00\x00\x00\x04\x01\x00\x00\x00\x00\x00\x00\x01\xfa\x00\x00\x00\x00\x00z"),
    ]
}

#[test]
fn http2_preface_then_frames() {
    let out = run("http2", MAX, &http2_frames(), &[]);
    assert_eq!(
        labels(&out[C]),
        ["preface", "SETTINGS", "HEADERS", "CONTINUATION"]
    );
    assert_eq!(labels(&out[S]), ["SETTINGS", "0xfa"]);
    // A capture that starts mid-connection has no preface.
    let out = run(
        "http2",
        MAX,
        &[data(C, b"\x00\x00\x00\x04\x01\x00\x00\x00\x00")],
        &[],
    );
    assert_eq!(labels(&out[C]), ["SETTINGS"]);
}

fn small_protocols() -> Vec<(&'static str, Vec<Ev>)> {
    let keepalive: Vec<u8> = cat(&[&[0xff; 16], b"\x00\x13\x04"]);
    let mut open_ext = cat(&[
        &[0xff; 16],
        b"\x00\x25\x01\x04\xfd\xe8\x00\xb4\x0a\x00\x00\x01\x08",
    ]);
    open_ext.extend_from_slice(b"\x02\x06\x06\x00\x01\x04\x00\x01");
    let mut big_update = cat(&[&[0xff; 16], b"\x13\x88\x02"]);
    big_update.extend_from_slice(&[0u8; 4981]);
    vec![
        (
            "dns-tcp",
            vec![
                data(C, b"\x00\x0c\x12\x34\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00"),
                data(S, b"\x00\x0c\x12\x34\x81\x80\x00\x00\x00\x00\x00\x00\x00\x00"),
            ],
        ),
        (
            "tls",
            vec![
                data(C, b"\x16\x03\x01\x00\x02ab\x15\x03\x03\x00\x02\x01\x00"),
                data(S, b"\x18\x03\x03\x00\x00\x17\x03\x03\x00\x01z"),
            ],
        ),
        (
            "kafka",
            vec![
                data(C, b"\x00\x00\x00\x0a\x00\x12\x00\x03\x00\x00\x00\x07\x00\x00"),
                data(S, b"\x00\x00\x00\x06\x00\x00\x00\x07\x00\x00"),
            ],
        ),
        (
            "nbss",
            vec![
                data(C, &cat(&[b"\x81\x00\x00\x04abcd", b"\x00\x00\x00\x02xy"])),
                data(S, b"\x82\x00\x00\x00\x85\x00\x00\x00"),
            ],
        ),
        (
            "bgp",
            vec![
                data(C, &open_ext),
                data(S, &cat(&[&open_ext, &keepalive])),
                data(C, &cat(&[&keepalive, &big_update])),
            ],
        ),
        (
            "ldap",
            vec![
                data(C, b"\x30\x0c\x02\x01\x01\x60\x07\x02\x01\x03\x04\x00\x80\x00"),
                data(
                    S,
                    b"\x30\x84\x00\x00\x00\x10\x02\x01\x01\x61\x84\x00\x00\x00\x07\x0a\x01\x00\x04\x00\x04\x00",
                ),
                data(C, b"\x30\x05\x02\x01\x02\x42\x00\x00\x00\x00\x03abc"),
            ],
        ),
    ]
}

#[test]
fn small_protocols_frame_and_label() {
    let expect: &[(&str, &[&str], &[&str])] = &[
        ("dns-tcp", &["query"], &["response"]),
        (
            "tls",
            &["handshake", "alert"],
            &["heartbeat", "application_data"],
        ),
        ("kafka", &["ApiVersions"], &[""]),
        ("nbss", &["request", "message"], &["positive", "keepalive"]),
        (
            "bgp",
            &["OPEN", "KEEPALIVE", "UPDATE"],
            &["OPEN", "KEEPALIVE"],
        ),
        (
            "ldap",
            &["bindRequest", "unbindRequest", "sasl"],
            &["bindResponse"],
        ),
    ];
    for ((name, events), (n, c, s)) in small_protocols().iter().zip(expect) {
        assert_eq!(name, n);
        let out = run(name, MAX, events, &[]);
        assert_eq!(labels(&out[C]), *c, "{name}");
        assert_eq!(labels(&out[S]), *s, "{name}");
        assert!(
            out.iter()
                .all(|d| d.errors.is_empty() && d.end == Some(End::Clean)),
            "{name}"
        );
    }
}

#[test]
fn bgp_extended_messages_need_both_opens() {
    let events = &small_protocols()[4].1;
    // Without the server's OPEN, the 5000-byte UPDATE is too long.
    let one_sided = [events[0].clone(), events[2].clone()];
    let out = run("bgp", MAX, &one_sided, &[]);
    assert_eq!(labels(&out[C]), ["OPEN", "KEEPALIVE"]);
    let e = &out[C].errors[0];
    assert_eq!(e.offset, 37 + 19 + 16);
    assert!(matches!(
        *e.kind,
        DecodeErrorKind::BadLength { value: 5000, .. }
    ));
}

fn mysql_ssl() -> Vec<Ev> {
    let mut greeting = vec![0x0a];
    greeting.extend_from_slice(b"8.0.36\0");
    greeting.extend_from_slice(&[0u8; 40]);
    let mut ssl = vec![32, 0, 0, 1];
    ssl.extend_from_slice(&0x0008_aa05u32.to_le_bytes());
    ssl.extend_from_slice(&[0u8; 28]);
    vec![
        data(S, &cat(&[&[greeting.len() as u8, 0, 0, 0], &greeting])),
        data(C, &ssl),
        data(C, b"\x16\x03\x01\x00\x01x"),
        data(S, b"\x16\x03\x03\x00\x01y"),
    ]
}

#[test]
fn mysql_ssl_request_switches_to_tls() {
    let out = run("mysql", MAX, &mysql_ssl(), &[]);
    assert_eq!(labels(&out[C]), ["ssl", "handshake"]);
    assert_eq!(labels(&out[S]), ["handshake", "handshake"]);
}

#[test]
fn mysql_16_mib_packets_are_joined_into_one_message() {
    let mut first = vec![0xff, 0xff, 0xff, 0x00, 0x03];
    first.resize(4 + 0xff_ffff, b'x');
    let events = [
        data(C, &first),
        data(C, b"\x02\x00\x00\x01ab\x01\x00\x00\x00\x0e"),
    ];
    let out = run("mysql", 32 << 20, &events, &[]);
    assert_eq!(labels(&out[C]), ["QUERY", "PING"]);
    assert_eq!(lens(&out[C]), [4 + 0xff_ffff + 6, 5]);
}

// ------------------------------------------------------------ hostile input

/// A client-direction stream for `name` must fail at `offset` with an error
/// `check` accepts, the same way however it is chunked.
fn rejects(
    name: &str,
    dir: usize,
    bytes: &[u8],
    offset: u64,
    check: impl Fn(&DecodeErrorKind) -> bool,
) {
    let events = [data(dir, bytes)];
    let out = run(name, 1 << 20, &events, &[]);
    let error = out[dir]
        .errors
        .first()
        .unwrap_or_else(|| panic!("{name}: no error for {bytes:?}"));
    assert_eq!(error.offset, offset, "{name}: {error}");
    assert!(check(&error.kind), "{name}: {error}");
    assert_eq!(
        run(name, 1 << 20, &events, &[1]),
        out,
        "{name}: byte by byte"
    );
    assert_eq!(
        run(name, 1 << 20, &events, &[5, 3]),
        out,
        "{name}: in pieces"
    );
}

fn too_long(k: &DecodeErrorKind) -> bool {
    matches!(k, DecodeErrorKind::TooLong { .. })
}

fn bad_length(k: &DecodeErrorKind) -> bool {
    matches!(k, DecodeErrorKind::BadLength { .. })
}

fn protocol(k: &DecodeErrorKind) -> bool {
    matches!(k, DecodeErrorKind::Protocol(_))
}

fn bad_header(k: &DecodeErrorKind) -> bool {
    matches!(k, DecodeErrorKind::BadHeader(_))
}

#[test]
fn resp_hostile_lengths_and_nesting() {
    let huge = |k: &DecodeErrorKind| matches!(k, DecodeErrorKind::TooLong { len, max: 1_048_576 } if *len == 99_999_999_999 + 16);
    rejects("resp", S, b"$99999999999\r\n", 0, huge);
    rejects("resp", C, b"*1\r\n$99999999999\r\n", 4, too_long);
    rejects("resp", S, b"*99999999999999999999\r\n", 0, bad_length);
    rejects("resp", S, b"*-5\r\n", 0, bad_length);
    rejects("resp", S, b"*2000000\r\n", 0, too_long);
    rejects("resp", S, b"$5\r\nhelloXX", 9, protocol);
    rejects("resp", S, b"@foo\r\n", 0, protocol);
    rejects("resp", S, b"$3x\r\n", 0, protocol);
    rejects("resp", S, b"$3\n", 0, protocol);
    rejects("resp", S, b":1\r\n.\r\n", 4, protocol);
    rejects(
        "resp",
        S,
        b"$123456789012345678901234567890123456789012345678901234567890123456789\r\n",
        0,
        protocol,
    );
    // A depth bomb: the 65th nested array is refused, nothing is allocated
    // for the 10000 announced.
    let bomb = b"*1\r\n".repeat(10_000);
    let depth = RESP_MAX_DEPTH as u64;
    rejects("resp", C, &bomb, 4 * depth, protocol);
    // An inline line with no end.
    rejects("resp", C, &vec![b'a'; 70_000], 0, too_long);
}

#[test]
fn http1_hostile_lengths_and_headers() {
    let req = |h: &str| format!("POST / HTTP/1.1\r\nHost: a\r\n{h}\r\n\r\n").into_bytes();
    let at = 26; // the offset of the field line under test
    rejects(
        "http1",
        C,
        &req("Content-Length: 99999999999"),
        at,
        too_long,
    );
    rejects(
        "http1",
        C,
        &req("Content-Length: 99999999999999999999999"),
        at,
        bad_length,
    );
    rejects("http1", C, &req("Content-Length: -1"), at, bad_header);
    rejects("http1", C, &req("Content-Length: 1, 2"), at, bad_header);
    rejects(
        "http1",
        C,
        &req("Content-Length: 1\r\nContent-Length: 2"),
        at + 19,
        bad_header,
    );
    rejects(
        "http1",
        C,
        &req("Transfer-Encoding: chunked\r\nContent-Length: 3"),
        at,
        bad_header,
    );
    rejects("http1", C, &req("Transfer-Encoding: gzip"), at, bad_header);
    rejects("http1", C, &req("No colon here"), at, bad_header);
    rejects("http1", C, &req("Bad Name: x"), at, bad_header);
    rejects("http1", C, b"GET / HTTP/1.1 extra\r\n\r\n", 0, bad_header);
    rejects("http1", S, b"HTTP/1.1 20 OK\r\n\r\n", 0, bad_header);
    let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    let n = chunked.len() as u64;
    rejects(
        "http1",
        S,
        &cat(&[chunked, b"fffffffffffffffff\r\n"]),
        n,
        bad_length,
    );
    rejects("http1", S, &cat(&[chunked, b"ffffffff\r\n"]), n, too_long);
    rejects("http1", S, &cat(&[chunked, b"zz\r\n"]), n, bad_header);
    rejects("http1", S, &cat(&[chunked, b"2\r\nabXY"]), n + 5, protocol);
    rejects("http1", S, &cat(&[chunked, &[b'1'; 5000]]), n, bad_header);
    // A header block past 64 KiB, however it is delivered.
    let mut big = b"GET / HTTP/1.1\r\n".to_vec();
    big.extend(
        std::iter::repeat_n(
            b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n".as_slice(),
            2000,
        )
        .flatten(),
    );
    rejects("http1", C, &big, 0, |k| {
        matches!(k, DecodeErrorKind::TooLong { max: 65536, .. })
    });
}

#[test]
fn http1_resyncs_at_the_next_request_line() {
    let events = [data(
        C,
        b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\ngarbage\r\nGET /next HTTP/1.1\r\n\r\n",
    )];
    let out = run("http1", MAX, &events, &[]);
    assert_eq!(out[C].errors.len(), 1);
    assert_eq!(out[C].errors[0].offset, 16);
    assert_eq!(labels(&out[C]), ["GET"]);
    assert_eq!(out[C].frames[0].start, 46);
    assert_eq!(run("http1", MAX, &events, &[1]), out);
}

#[test]
fn length_prefixed_hostile_headers() {
    rejects(
        "pgsql",
        C,
        b"\x00\x00\x00\x03\x00\x03\x00\x00",
        0,
        bad_length,
    );
    rejects("pgsql", C, b"\x00\x00\x00\x08\x00\x09\x00\x00", 4, protocol);
    rejects("pgsql", S, b"Q\x00\x00\x00\x02", 1, bad_length);
    rejects("pgsql", S, b"\x00\x00\x00\x00\x05", 0, protocol);
    rejects("pgsql", S, b"D\x7f\xff\xff\xff", 0, too_long);
    rejects("pgsql", S, b"D\xff\xff\xff\xff", 1, bad_length);
    rejects("mqtt", C, b"\x30\xff\xff\xff\xff\x01", 1, bad_length);
    rejects("mqtt", C, b"\x00\x00", 0, protocol);
    rejects("mqtt", C, b"\x80\x00", 0, protocol);
    rejects("mqtt", C, b"\x36\x00", 0, protocol);
    rejects("mqtt", C, b"\x30\xff\xff\xff\x7f", 0, too_long);
    rejects(
        "websocket",
        S,
        b"\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00",
        2,
        bad_length,
    );
    rejects(
        "websocket",
        S,
        b"\x82\x7f\x00\x00\x00\x01\x00\x00\x00\x00",
        0,
        too_long,
    );
    rejects("websocket", S, b"\x83\x00", 0, protocol);
    rejects("websocket", S, b"\x09\x00", 0, protocol);
    rejects("websocket", S, b"\x89\x7e\x00\x80", 0, protocol);
    rejects("tls", C, b"\x16\x03\x01\xff\xff", 3, bad_length);
    rejects("tls", C, b"\x99\x03\x01\x00\x00", 0, protocol);
    rejects("tls", C, b"\x16\x02\x00\x00\x00", 1, protocol);
    rejects("kafka", C, b"\xff\xff\xff\xff", 0, bad_length);
    rejects("kafka", C, b"\x00\x00\x00\x02", 0, bad_length);
    rejects("kafka", S, b"\x7f\xff\xff\xff", 0, too_long);
    rejects("nbss", C, b"\x99\x00\x00\x00", 0, protocol);
    rejects("nbss", C, b"\x85\x02\x00\x00", 1, protocol);
    rejects("dns-tcp", C, b"\x00\x05", 0, bad_length);
    rejects("ldap", C, b"\x30\x80", 1, protocol);
    rejects("ldap", C, b"\x30\x85\x01\x00\x00\x00\x00", 1, bad_length);
    rejects(
        "ldap",
        C,
        b"\x30\x84\x7f\xff\xff\xff\x02\x01\x01\x63",
        0,
        too_long,
    );
    rejects(
        "http2",
        C,
        b"PRX * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        2,
        bad_header,
    );
    rejects(
        "http2",
        S,
        b"\xff\xff\xff\x00\x00\x00\x00\x00\x00",
        0,
        too_long,
    );
    rejects("mysql", C, b"\xff\xff\xff\x00\x03", 0, too_long);
    let marker = [0xffu8; 16];
    rejects("bgp", C, &cat(&[&marker[..5], b"\x00"]), 5, bad_header);
    rejects("bgp", C, &cat(&[&marker, b"\x00\x12\x04"]), 16, bad_length);
    rejects(
        "bgp",
        C,
        &cat(&[&marker, b"\x00\x14\x04\x00"]),
        16,
        bad_length,
    );
    rejects("bgp", C, &cat(&[&marker, b"\x10\x01\x02"]), 16, bad_length);
    rejects("bgp", C, &cat(&[&marker, b"\x00\x13\x09"]), 18, protocol);
    rejects("memcached", C, b"set k 0 0 99999999999999\r\n", 0, too_long);
    rejects("memcached", C, b"set k 0 0 abc\r\n", 0, protocol);
    rejects("memcached", C, b"set k 0 0 1\r\nab\r\n", 14, protocol);
    rejects("memcached", C, b"\x80\x01\x00\x00", 0, protocol);
    rejects(
        "memcached",
        S,
        b"VALUE k 0 1\r\na\r\nSTORED\r\n",
        16,
        protocol,
    );
}

#[test]
fn shared_state_hostile_answers() {
    let events = [data(C, &pg_untyped(80_877_103, b"")), data(S, b"X")];
    let out = run("pgsql", MAX, &events, &[]);
    assert_eq!(out[S].errors[0].offset, 0);
    assert!(protocol(&out[S].errors[0].kind));
}

#[test]
fn bgp_resyncs_at_the_next_marker() {
    let keepalive = cat(&[&[0xff; 16], b"\x00\x13\x04"]);
    let events = [data(
        C,
        &cat(&[&keepalive, b"\xff\xff\x00junk", &keepalive, &keepalive]),
    )];
    let out = run("bgp", MAX, &events, &[]);
    assert_eq!(labels(&out[C]), ["KEEPALIVE", "KEEPALIVE", "KEEPALIVE"]);
    assert_eq!(out[C].errors.len(), 1);
    assert_eq!(out[C].errors[0].offset, 21);
    for cuts in [&[1][..], &[2, 17], &[20, 3]] {
        assert_eq!(run("bgp", MAX, &events, cuts), out);
    }
}

#[test]
fn gaps_inside_bodies_are_survived_elsewhere_resynced() {
    // A gap inside a RESP bulk payload is counted past; a gap across a
    // message boundary loses the place until the next line that starts a
    // command.
    let events = [
        data(C, b"*2\r\n$3\r\nGET\r\n$10\r\nabc"),
        Ev::Gap(C, 4),
        data(C, b"def\r\n*1\r\n$4\r\nPING\r\n"),
        Ev::Gap(C, 5),
        data(C, b"\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n"),
    ];
    let out = run("resp", MAX, &events, &[]);
    assert_eq!(labels(&out[C]), ["GET", "PING", "PING"]);
    assert_eq!(out[C].frames[0].end - out[C].frames[0].start, 30);
    assert_eq!(run("resp", MAX, &events, &[1]), out);
}

// ------------------------------------- split invariance and every prefix

/// Exchanges small enough to run many times: the hand-written ones, hostile
/// ones (errors and resyncs must not depend on chunking either) and small
/// captures.
fn corpus() -> Vec<(&'static str, Vec<Ev>)> {
    let keepalive = cat(&[&[0xff; 16], b"\x00\x13\x04"]);
    let mut all = vec![
        ("http1", http_chunked_with_trailers()),
        ("http1", http_pipelined_head()),
        ("http1", http10_until_close()),
        ("http1", http_websocket_upgrade()),
        ("http1", http_connect_tunnel()),
        ("http1", http_h2c_upgrade()),
        (
            "http1",
            vec![data(
                C,
                b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\ngarbage\r\nGET /n HTTP/1.1\r\n\r\n",
            )],
        ),
        ("resp", resp_pipelined()),
        ("resp", resp3_replies()),
        (
            "resp",
            vec![data(
                S,
                b"+OK\r\n$3\r\nabcX\r\n-ERR x\r\n@\r\n:1\r\n*1\r\n*1\r\n:2\r\n",
            )],
        ),
        ("pgsql", pgsql_ssl_refused()),
        ("pgsql", pgsql_ssl_accepted()),
        ("memcached", memcached_session()),
        (
            "memcached",
            vec![data(
                C,
                b"set k 0 0 1\r\nab\r\nget k\r\nset k 0 0 x\r\ndelete k\r\n",
            )],
        ),
        ("mqtt", mqtt_session()),
        ("http2", http2_frames()),
        ("mysql", mysql_ssl()),
        (
            "bgp",
            vec![data(
                C,
                &cat(&[
                    &keepalive,
                    b"\xff\xff\x00junk",
                    &keepalive,
                    &[0xff; 20],
                    &keepalive,
                ]),
            )],
        ),
    ];
    all.extend(small_protocols());
    for (name, file) in [
        ("http1", "zeek_http_http-body-match.0.chunks"),
        ("http1", "zeek_http_content-range-gap.0.chunks"),
        (
            "pgsql",
            "zeek_postgresql_psql-create-insert-select-delete-drop.0.chunks",
        ),
        ("mysql", "zeek_mysql_mysql.0.chunks"),
        ("mqtt", "zeek_mqtt.0.chunks"),
        ("ldap", "zeek_ldap_gap-data-missing.0.chunks"),
        ("http2", "ndpi_http2.0.chunks"),
    ] {
        all.push((name, load(file)));
    }
    all
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// However each direction's bytes are cut, the frames, labels, errors
    /// and ends are those of feeding every capture chunk whole.
    #[test]
    fn frames_never_depend_on_chunking(
        pick in any::<prop::sample::Index>(),
        cuts in prop::collection::vec(1usize..48, 1..24),
    ) {
        let corpus = corpus();
        let (name, events) = &corpus[pick.index(corpus.len())];
        let whole = run(name, MAX, events, &[]);
        prop_assert_eq!(run(name, MAX, events, &cuts), whole);
    }
}

/// The first `n` bytes of an exchange, in capture order.
fn prefix(events: &[Ev], mut n: usize) -> Vec<Ev> {
    let mut out = Vec::new();
    for ev in events {
        match ev {
            Ev::Data(dir, bytes) if n < bytes.len() => {
                if n > 0 {
                    out.push(Ev::Data(*dir, bytes[..n].to_vec()));
                }
                break;
            }
            Ev::Data(_, bytes) => {
                n -= bytes.len();
                out.push(ev.clone());
            }
            Ev::Gap(..) => out.push(ev.clone()),
        }
    }
    out
}

/// Every prefix of a valid exchange gives exactly the frames that end
/// within it, no error, and a clean end only on a message boundary
/// (httparse's test, for both directions at once).
#[test]
fn every_prefix_needs_more_until_its_frames_complete() {
    let mut tested = 0;
    for (name, events) in corpus() {
        let total: usize = events
            .iter()
            .map(|e| match e {
                Ev::Data(_, b) => b.len(),
                Ev::Gap(..) => 0,
            })
            .sum();
        let full = run(name, MAX, &events, &[]);
        let valid = full
            .iter()
            .all(|d| d.errors.is_empty() && d.end == Some(End::Clean));
        if !valid || total > 4096 {
            continue;
        }
        tested += 1;
        for n in 0..total {
            let part = prefix(&events, n);
            let out = run(name, MAX, &part, &[]);
            for dir in [C, S] {
                let fed = bytes_of(&part, dir);
                let expect: Vec<_> = full[dir]
                    .frames
                    .iter()
                    .filter(|f| f.end <= fed)
                    .cloned()
                    .collect();
                let d = &out[dir];
                assert!(d.errors.is_empty(), "{name} prefix {n}: {:?}", d.errors);
                assert_eq!(d.frames, expect, "{name} prefix {n} dir {dir}");
                let boundary = expect.last().map_or(0, |f| f.end) == fed;
                assert_eq!(
                    d.end == Some(End::Clean),
                    boundary,
                    "{name} prefix {n} dir {dir}: {:?}",
                    d.end
                );
            }
        }
    }
    assert!(tested >= 20, "only {tested} exchanges tested");
}
