#!/usr/bin/env python3
"""Writes adversarial captures into the directory given as argument.

Each file is an Ethernet/IPv4/TCP pcap built with the standard library
only; checksums are left at zero (framescope does not verify them).

  seq-jump.pcap        a connection whose sequence number jumps by 2^31
  syn-flood.pcap       100,000 SYNs from distinct ports, no data
  ooo-1byte.pcap       one connection, 100,000 one-byte segments, reversed
  length-ffffffff.pcap a length field of 0xFFFFFFFF (--frame length:4)
  json-1g.pcap         a JSON header declaring a 1 GiB body (--frame json-header)
"""

import os
import struct
import sys

CLIENT = bytes([10, 0, 0, 1])
SERVER = bytes([10, 0, 0, 2])
SYN, FIN, ACK, PSH = 0x02, 0x01, 0x10, 0x08


class Pcap:
    def __init__(self, path):
        self.f = open(path, "wb")
        self.f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        self.t = 1_700_000_000_000_000  # microseconds

    def tcp(self, src, dst, sport, dport, seq, ack, flags, payload=b""):
        tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF,
                          ack & 0xFFFFFFFF, 5 << 4, flags, 65535, 0, 0)
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(payload),
                         0, 0x4000, 64, 6, 0, src, dst)
        eth = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00"
        frame = eth + ip + tcp + payload
        self.t += 100
        self.f.write(struct.pack("<IIII", self.t // 1_000_000, self.t % 1_000_000,
                                 len(frame), len(frame)))
        self.f.write(frame)

    def handshake(self, sport, cisn, sisn):
        self.tcp(CLIENT, SERVER, sport, 9000, cisn, 0, SYN)
        self.tcp(SERVER, CLIENT, 9000, sport, sisn, cisn + 1, SYN | ACK)
        self.tcp(CLIENT, SERVER, sport, 9000, cisn + 1, sisn + 1, ACK)

    def close(self):
        self.f.close()


def seq_jump(p):
    cisn, sisn = 1000, 5000
    p.handshake(40000, cisn, sisn)
    seq = cisn + 1
    for i in range(20):
        msg = struct.pack("!I", 12) + b"message %04d" % i
        if i == 10:
            # The same bytes again, half the sequence space away.
            p.tcp(CLIENT, SERVER, 40000, 9000, seq + 2**31, sisn + 1, PSH | ACK, msg)
        p.tcp(CLIENT, SERVER, 40000, 9000, seq, sisn + 1, PSH | ACK, msg)
        seq += len(msg)
        p.tcp(SERVER, CLIENT, 9000, 40000, sisn + 1, seq, ACK)
    p.tcp(CLIENT, SERVER, 40000, 9000, seq, sisn + 1, FIN | ACK)


def syn_flood(p):
    for i in range(100_000):
        src = bytes([10, 1, (i >> 8) & 0xFF, i & 0xFF])
        p.tcp(src, SERVER, 1024 + i % 60000, 9000, i * 7919, 0, SYN)


def ooo_1byte(p):
    cisn, sisn, n = 7, 9, 100_000
    p.handshake(40001, cisn, sisn)
    for k in reversed(range(n)):
        p.tcp(CLIENT, SERVER, 40001, 9000, cisn + 1 + k, sisn + 1, ACK,
              bytes([k & 0xFF]))
    p.tcp(SERVER, CLIENT, 9000, 40001, sisn + 1, cisn + 1 + n, ACK)
    p.tcp(CLIENT, SERVER, 40001, 9000, cisn + 1 + n, sisn + 1, FIN | ACK)


def one_message(p, payload):
    cisn, sisn = 100, 200
    p.handshake(40002, cisn, sisn)
    seq = cisn + 1
    for at in range(0, len(payload), 1400):
        chunk = payload[at:at + 1400]
        p.tcp(CLIENT, SERVER, 40002, 9000, seq, sisn + 1, PSH | ACK, chunk)
        seq += len(chunk)
    p.tcp(SERVER, CLIENT, 9000, 40002, sisn + 1, seq, ACK)
    p.tcp(CLIENT, SERVER, 40002, 9000, seq, sisn + 1, FIN | ACK)


def length_ffffffff(p):
    one_message(p, b"\xff\xff\xff\xff" + b"A" * 64 * 1024)


def json_1g(p):
    header = b'{"total_size": 1073741824, "type": "upload"}'
    one_message(p, struct.pack("<i", len(header)) + header + b"B" * 64 * 1024)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    os.makedirs(out, exist_ok=True)
    for name, build in [("seq-jump", seq_jump), ("syn-flood", syn_flood),
                        ("ooo-1byte", ooo_1byte), ("length-ffffffff", length_ffffffff),
                        ("json-1g", json_1g)]:
        p = Pcap(os.path.join(out, name + ".pcap"))
        build(p)
        p.close()


if __name__ == "__main__":
    main()
