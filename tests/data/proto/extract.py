#!/usr/bin/env python3
"""Rebuilds the stream files in this directory from the public captures.

Usage: extract.py CAPTURE_DIR

Each `<capture>.<stream>.chunks` file holds one TCP stream as tshark's
`follow,tcp,raw` shows it, in capture order across both directions:

    record := kind:u8 len:u32be payload[len]
    kind   := 'c' (client to server) | 's' (server to client)
            | 'C' | 'S' (capture gap in that direction: len bytes
              missing, no payload)

The client is the side that does not use the service port listed below.
"""
import os
import re
import struct
import subprocess
import sys

# capture file -> (server port, streams to keep, extra tshark args)
CAPTURES = {
    "zeek_http_pipelined-requests.pcap": (80, None, []),
    "zeek_http_http-body-match.pcap": (80, None, []),
    "zeek_http_get_nosyn.pcap": (80, None, []),
    "zeek_http_content-range-gap.pcap": (80, None, []),
    "zeek_websocket_jupyter-websocket.pcap": (51185, None, []),
    "zeek_redis_pipelining-example.pcap": (6379, None, []),
    "zeek_redis_large-requests-responses.pcap": (6379, None, []),
    "zeek_postgresql_psql-create-insert-select-delete-drop.pcap": (5432, None, []),
    "zeek_mysql_mysql.pcap": (3306, None, []),
    "ndpi_memcached.cap": (11211, None, []),
    "zeek_mqtt.pcap": (1883, None, []),
    "zeek_dns-edns-tcp-keepalive.pcap": (53, None, []),
    "zeek_tls_ml-dsa-44-cert.pcap": (443, None, []),
    "zeek_tls_openjdk-25.0.2-zeek.org.pcap": (443, None, []),
    "gosniffer_kafka.pcap": (9092, None, []),
    "zeek_smb_smb2readwrite.pcap": (445, None, []),
    "tcpdump_bgp-4byte-asn.pcap": (179, None, []),
    "zeek_ldap_simpleauth.pcap": (3268, None, []),
    "zeek_ldap_gap-data-missing.pcapng": (389, None, []),
    "ndpi_http2.pcapng": (29518, None, []),
}

GAP = re.compile(rb"^\[(\d+) bytes missing in capture file\]\x00$")


def streams(path):
    out = subprocess.run(["tshark", "-n", "-r", path, "-T", "fields", "-e", "tcp.stream"],
                         capture_output=True, check=True, text=True).stdout
    return sorted({int(s) for s in out.split() if s})


def follow(path, n):
    out = subprocess.run(["tshark", "-n", "-r", path, "-q", "-z", f"follow,tcp,raw,{n}"],
                         capture_output=True, check=True, text=True).stdout
    lines = out.splitlines()
    node = {}
    chunks = []
    body = False
    for line in lines:
        m = re.match(r"^Node ([01]): (.*):(\d+)$", line)
        if m:
            node[int(m.group(1))] = int(m.group(3))
            body = m.group(1) == "1"
            continue
        if not body or line.startswith("="):
            continue
        side = 1 if line.startswith("\t") else 0
        chunks.append((side, bytes.fromhex(line.strip())))
    return node, chunks


def main():
    src = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    for name, (port, keep, _extra) in CAPTURES.items():
        path = os.path.join(src, name)
        for n in streams(path):
            if keep is not None and n not in keep:
                continue
            node, chunks = follow(path, n)
            if not chunks:
                continue
            server = 1 if node.get(1) == port else 0
            rec = bytearray()
            for side, data in chunks:
                m = GAP.match(data)
                if m:
                    kind = b"S" if side == server else b"C"
                    rec += kind + struct.pack(">I", int(m.group(1)))
                    continue
                kind = b"s" if side == server else b"c"
                rec += kind + struct.pack(">I", len(data)) + data
            stem = name.rsplit(".", 1)[0]
            with open(os.path.join(here, f"{stem}.{n}.chunks"), "wb") as f:
                f.write(rec)


if __name__ == "__main__":
    main()
