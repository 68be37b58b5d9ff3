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
    /// Bytes dropped while resynchronising.
    dropped: u64,
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
                        self.out.dropped += at as u64;
                        self.pos += at as u64;
                        self.start = self.pos;
                        chunk = &chunk[at..];
                        self.resyncing = false;
                    }
                    None => {
                        self.out.dropped += chunk.len() as u64;
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
        assert_eq!(d.frames.len(), counts[dir], "{file} dir {dir}: {:?}", labels(d));
        let mut at = 0;
        for f in &d.frames {
            assert_eq!(f.start, at, "{file}: frames tile the stream");
            at = f.end;
        }
        if d.end == Some(End::Clean) {
            assert_eq!(at, bytes_of(&events, dir), "{file} dir {dir}: all bytes framed");
        }
    }
    assert_eq!(run(name, MAX, &events, &[1]), out, "{file}: byte by byte");
    assert_eq!(run(name, MAX, &events, &[7, 1, 300, 2]), out, "{file}: odd chunks");
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
        assert!(out.iter().all(|d| d.errors.is_empty() && d.end == Some(End::Clean)));
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
    let out = clean_capture("http1", "zeek_websocket_jupyter-websocket.0.chunks", [3, 13]);
    assert_eq!(labels(&out[C]), ["GET", "binary", "close"]);
    assert_eq!(out[S].frames[0].label, "101");
    assert_eq!(count(&out[S], "binary"), 11);
}

#[test]
fn resp_captures_match_derived_framing() {
    let out = clean_capture("resp", "zeek_redis_pipelining-example.0.chunks", [3, 3]);
    assert_eq!(labels(&out[C]), ["PING"; 3]);
    assert_eq!(labels(&out[S]), ["+"; 3]);
    let out = clean_capture("resp", "zeek_redis_large-requests-responses.0.chunks", [5, 5]);
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
        let out = clean_capture("dns-tcp", &format!("zeek_dns-edns-tcp-keepalive.{n}.chunks"), [1, 1]);
        assert_eq!((labels(&out[C]), labels(&out[S])), (vec!["query"], vec!["response"]));
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
    assert_eq!(labels(&out[S]), ["handshake", "change_cipher_spec", "application_data"]);
    assert_eq!(out[S].end, Some(End::Truncated { missing: Some(305) }));
}

#[test]
fn ldap_captures_match_tshark() {
    // ldap.protocolOp = 7
    let out = clean_capture("ldap", "zeek_ldap_simpleauth.0.chunks", [3, 4]);
    assert_eq!(labels(&out[C]), ["bindRequest", "searchRequest", "bindRequest"]);
    assert_eq!(out[S].frames[1].label, "searchResEntry");
    // SASL-wrapped after the bind; a gap outside any known body in the
    // server direction loses the place for good (ldap.protocolOp = 2).
    let events = load("zeek_ldap_gap-data-missing.0.chunks");
    let out = run("ldap", MAX, &events, &[]);
    assert_eq!(labels(&out[C]), ["bindRequest", "sasl", "sasl", "sasl", "sasl"]);
    assert_eq!(labels(&out[S]), ["bindResponse"]);
    assert_eq!(out[S].end, None);
    assert_eq!(run("ldap", MAX, &events, &[1]), out);
}
