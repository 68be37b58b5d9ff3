#!/usr/bin/env python3
"""Regenerates the seed corpora under fuzz/seeds/TARGET/.

Each seed starts with the bytes the target's arbitrary::Unstructured reads
first (a framing choice, cut points, a header choice), followed by real
bytes: captures from captures/, streams that `framescope follow` extracts
from them, packets cut out of them. Run from the repository root after
`cargo build`; the output is deterministic.
"""

import glob
import os
import random
import shutil
import struct
import subprocess

ROOT = "fuzz/seeds"
CAP = 12 * 1024  # bytes of a capture kept in a seed
LINKS = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 147]  # fuzzing::LINK_TYPES


def write(target, name, data):
    os.makedirs(os.path.join(ROOT, target), exist_ok=True)
    with open(os.path.join(ROOT, target, name), "wb") as f:
        f.write(data)


def pcap_records(path, limit):
    """(link, [packet bytes]) of a little-endian microsecond pcap."""
    raw = open(path, "rb").read()
    if raw[:4] != b"\xd4\xc3\xb2\xa1":
        return None, []
    link = struct.unpack("<I", raw[20:24])[0]
    out, at = [], 24
    while at + 16 <= len(raw) and len(out) < limit:
        incl = struct.unpack("<I", raw[at + 8 : at + 12])[0]
        out.append(raw[at + 16 : at + 16 + incl])
        at += 16 + incl
    return link, out


def follow(path, stream, direction):
    run = subprocess.run(
        ["target/debug/framescope", "follow", path, "--stream", str(stream),
         "--dir", direction, "--format", "raw"],
        capture_output=True, check=False)
    return run.stdout[:CAP]


def decoder_prefix(kind, params, cuts):
    """max=4096, the framing kind and its parameters, then cut points."""
    head = bytes([0x0F, 0xFF, kind]) + bytes(params) + bytes([len(cuts)])
    return head + b"".join(struct.pack("<H", c) for c in cuts)


def main():
    shutil.rmtree(ROOT, ignore_errors=True)
    captures = sorted(glob.glob("captures/*/*.pcap*") + glob.glob("captures/*/*.cap"))

    # capture_file: [format, spec, link, big-endian] then the file. Format 3
    # takes the input as the whole file; format 0 prefixes a pcap header.
    for i, path in enumerate(captures):
        name = os.path.basename(path)
        data = open(path, "rb").read()[:CAP]
        write("capture_file", name, bytes([3, i % 6, 0, 0]) + data)
        link, _ = pcap_records(path, 0)
        if link in LINKS and i % 3 == 0:
            write("capture_file", name + ".body",
                  bytes([0, i % 6, LINKS.index(link), 0]) + data[24:])

    # packet: [link, no extra length] then one packet.
    for path in captures:
        link, packets = pcap_records(path, 3)
        if link not in LINKS:
            continue
        # The third packet: past the handshake, usually with data.
        pkt = packets[-1]
        write("packet", os.path.basename(path), bytes([LINKS.index(link), 0]) + pkt)

    # decoder: real streams under the framing that fits them.
    streams = [
        ("captures/real/zeek_http_pipelined-requests.pcap", 1, [0], "client"),
        ("captures/real/zeek_redis_pipelining-example.pcap", 1, [0], "client"),
        ("captures/servers/redis.pcap", 1, [0], "server"),
        ("captures/servers/nginx-http1.pcap", 1, [0], "server"),
        ("captures/servers/memcached.pcap", 2, [0, 1, 0x0D, 0x0A, 0], "client"),
        # length:4 big unsigned (Kafka), offset 0, adjust 0, strip 0
        ("captures/real/gosniffer_kafka.pcap", 3, [0, 3, 0, 1, 0, 8, 0], "client"),
        # length:4, offset=1, adjust=-4 (PostgreSQL after the startup)
        ("captures/servers/postgres.pcap", 3, [0, 3, 0, 1, 1, 4, 0], "server"),
        # length:3 little, offset 0 (MySQL packets: 3-byte length, 1 seq)
        ("captures/real/zeek_mysql_mysql.pcap", 3, [0, 2, 1, 1, 0, 9, 0], "server"),
        ("captures/servers/mosquitto.pcap", 4, [3], "client"),
        ("captures/servers/dns.pcap", 3, [0, 1, 0, 1, 0, 8, 0], "client"),
    ]
    for path, kind, params, direction in streams:
        stream = follow(path, 0, direction)
        if not stream:
            continue
        cuts = [len(stream) // 3, len(stream) // 2, len(stream) - 1]
        name = f"{os.path.basename(path)}.{direction}"
        write("decoder", name, decoder_prefix(kind, params, cuts) + stream)
        write("decoder", name + ".whole", decoder_prefix(kind, params, []) + stream)
        write("decoder", name + ".none", decoder_prefix(0, [], [7]) + stream)

    def json_message(body, label):
        header = ('{"total_size": %d, "type": "%s"}' % (len(body), label)).encode()
        return struct.pack("<i", len(header)) + header + body

    json_stream = b"".join(json_message(b"x" * n, "t%d" % n) for n in (0, 1, 5, 300))
    # width=4, little, signed, key=total_size, label=type, max-header=512
    write("decoder", "json-header", decoder_prefix(5, [0, 1, 0, 0, 1, 1, 0xFF], [3, 9])
          + json_stream)
    ascii_stream = b"".join(b"%04d" % len(m) + m for m in (b"0200", b"", b"hello world"))
    write("decoder", "ascii", decoder_prefix(3, [1, 3, 0, 8, 0], [2]) + ascii_stream)

    def varint(n):
        out = b""
        while True:
            if n < 0x80:
                return out + bytes([n])
            out += bytes([n & 0x7F | 0x80])
            n >>= 7

    var_stream = b"".join(varint(len(m)) + m for m in (b"a" * 200, b"", b"bc"))
    write("decoder", "varint", decoder_prefix(3, [2, 0, 8, 0], [1, 150]) + var_stream)
    write("decoder", "fixed", decoder_prefix(4, [15], [5]) + bytes(range(100)))
    write("decoder", "too-long", bytes([0, 8, 3, 0, 3, 0, 1, 0, 8, 0, 0])
          + b"\x7f\xff\xff\xff" + b"x" * 32)

    # frame_spec: the spellings of the help text and a few refusals.
    specs = [
        "none", "line", "line:strip,max=64K", "delim:\\r\\n|\\n,strip,max=8K",
        "delim:0x0d0a", "delim:\\x00", "delim:a\\|b|\\,", "length", "length:2",
        "length:width=2,endian=little,offset=1,adjust=-3,strip=3",
        "length:ascii=4", "length:varint", "length:8,signed,max=1G",
        "length:signed,max=16M,2", "fixed:188", "fixed:1", "json-header",
        "json-header:width=8,endian=big,key=size",
        "json-header:unsigned,label=type,max-header=1K,key=a\\,b",
        "length:ascii=4,endian=little", "fixed:0", "delim:", "line:max=0",
        "length:adjust=-99999999999999999999", "h\u00e9:\u00e9",
    ]
    for i, spec in enumerate(specs):
        write("frame_spec", "spec%02d" % i, spec.encode())

    # reassembly: structured from arbitrary bytes; random seeds of several
    # sizes, half of them near the sequence-number wrap.
    rng = random.Random(7)
    for i in range(24):
        size = rng.choice([16, 64, 256, 1024, 3000])
        data = bytes([i % 2]) + bytes(rng.randrange(256) for _ in range(size))
        write("reassembly", "random%02d" % i, data)


if __name__ == "__main__":
    main()
