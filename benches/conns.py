#!/usr/bin/env python3
"""Writes a pcap of N short TCP connections, one after another, each with
two length-prefixed messages (4-byte big-endian length) from the client,
the second split across two segments, and one from the server:

    benches/conns.py 200000 conns.pcap
    /usr/bin/time -f '%M KiB' framescope analyze conns.pcap --frame length:4

It measures what finished streams cost in memory (README, Limits): every
stream needs attention, so none is dropped for being uninteresting.
"""
import struct
import sys


def checksum(b: bytes) -> int:
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def main() -> None:
    n, path = int(sys.argv[1]), sys.argv[2]
    out = open(path, "wb")
    out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    clock = [0]

    def packet(src, dst, sport, dport, seq, ack, flags, payload=b""):
        tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
        tcp += payload
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0, 64, 6, 0,
                         bytes(src), bytes(dst))
        ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
        frame = b"\0" * 11 + b"\1" + b"\x08\x00" + ip + tcp
        clock[0] += 1
        sec, usec = 1700000000 + clock[0] // 1000000, clock[0] % 1000000
        out.write(struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame)

    msg = struct.pack("!I", 6) + b"hello!"
    server = [10, 255, 0, 1]
    for i in range(n):
        client = [10, (i >> 16) & 255, (i >> 8) & 255, i & 255]
        port = 1024 + i % 60000
        c = (client, server, port, 80)
        s = (server, client, 80, port)
        packet(*c, 1000, 0, 0x02)
        packet(*s, 5000, 1001, 0x12)
        packet(*c, 1001, 5001, 0x10)
        packet(*c, 1001, 5001, 0x18, msg + msg[:5])
        packet(*c, 1016, 5001, 0x18, msg[5:])
        packet(*s, 5001, 1021, 0x18, msg)
        packet(*c, 1021, 5011, 0x11)
        packet(*s, 5011, 1022, 0x11)
        packet(*c, 1022, 5012, 0x10)
    out.close()


if __name__ == "__main__":
    main()
