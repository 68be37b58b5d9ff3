"""Minimal, stdlib-only pcap reader: what the wire showed for one scenario.

Reads classic pcap files (microsecond or nanosecond, either byte order) with
Ethernet, Linux cooked (v1/v2), BSD null/loopback or raw-IP link types, and
decodes IPv4/IPv6 + TCP/UDP. Only what the ground-truth files need: per
direction data segments (frame number, time, relative sequence offset,
payload length, flags), retransmissions, SYN/FIN/RST, and the reassembled
byte stream so it can be compared with what the sender wrote.
"""

from __future__ import annotations

import hashlib
import ipaddress
import struct
from dataclasses import dataclass, field

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_RAW_ALT = 12
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

TCP_FLAGS = [(0x01, "F"), (0x02, "S"), (0x04, "R"), (0x08, "P"), (0x10, "A"), (0x20, "U"), (0x40, "E"), (0x80, "C")]


@dataclass
class Packet:
    frame: int  # 1-based, over the whole capture (like tshark's frame.number)
    ts: float  # epoch seconds
    src: str
    sport: int
    dst: str
    dport: int
    proto: str  # "tcp" | "udp"
    payload: bytes
    wire_len: int  # payload length on the wire (may exceed len(payload) if snapped)
    seq: int = 0
    ack: int = 0
    flags: int = 0
    window: int = 0

    def flag_str(self) -> str:
        return "".join(ch for bit, ch in TCP_FLAGS if self.flags & bit)


def read_pcap(path: str) -> tuple[int, list[Packet]]:
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        raise ValueError(f"{path}: too short for a pcap header")
    magic = data[:4]
    if magic == b"\xd4\xc3\xb2\xa1":
        endian, nano = "<", False
    elif magic == b"\xa1\xb2\xc3\xd4":
        endian, nano = ">", False
    elif magic == b"\x4d\x3c\xb2\xa1":
        endian, nano = "<", True
    elif magic == b"\xa1\xb2\x3c\x4d":
        endian, nano = ">", True
    else:
        raise ValueError(f"{path}: not a classic pcap file (pcapng is not supported)")
    _vmaj, _vmin, _tz, _sig, _snap, linktype = struct.unpack(endian + "HHiIII", data[4:24])
    linktype &= 0x0FFFFFFF
    pos = 24
    frame = 0
    packets: list[Packet] = []
    while pos + 16 <= len(data):
        sec, frac, caplen, _origlen = struct.unpack(endian + "IIII", data[pos : pos + 16])
        pos += 16
        raw = data[pos : pos + caplen]
        pos += caplen
        frame += 1
        ts = sec + frac / (1e9 if nano else 1e6)
        pkt = _decode_link(linktype, raw, frame, ts)
        if pkt is not None:
            packets.append(pkt)
    return linktype, packets


def _decode_link(linktype: int, raw: bytes, frame: int, ts: float) -> Packet | None:
    if linktype == LINKTYPE_ETHERNET:
        if len(raw) < 14:
            return None
        etype = struct.unpack("!H", raw[12:14])[0]
        off = 14
        while etype in (0x8100, 0x88A8) and len(raw) >= off + 4:
            etype = struct.unpack("!H", raw[off + 2 : off + 4])[0]
            off += 4
        return _decode_ip(etype, raw[off:], frame, ts)
    if linktype == LINKTYPE_LINUX_SLL:
        if len(raw) < 16:
            return None
        return _decode_ip(struct.unpack("!H", raw[14:16])[0], raw[16:], frame, ts)
    if linktype == LINKTYPE_LINUX_SLL2:
        if len(raw) < 20:
            return None
        return _decode_ip(struct.unpack("!H", raw[0:2])[0], raw[20:], frame, ts)
    if linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
        if len(raw) < 4:
            return None
        fam = struct.unpack("<I", raw[:4])[0]
        if fam > 0xFFFF:
            fam = struct.unpack(">I", raw[:4])[0]
        etype = 0x0800 if fam == 2 else 0x86DD
        return _decode_ip(etype, raw[4:], frame, ts)
    if linktype in (LINKTYPE_RAW, LINKTYPE_RAW_ALT, LINKTYPE_IPV4, LINKTYPE_IPV6):
        if not raw:
            return None
        return _decode_ip(0x0800 if raw[0] >> 4 == 4 else 0x86DD, raw, frame, ts)
    raise ValueError(f"unsupported link type {linktype}")


def _decode_ip(etype: int, ip: bytes, frame: int, ts: float) -> Packet | None:
    if etype == 0x0800:
        if len(ip) < 20:
            return None
        ihl = (ip[0] & 0x0F) * 4
        total = struct.unpack("!H", ip[2:4])[0]
        frag = struct.unpack("!H", ip[6:8])[0]
        if frag & 0x1FFF:  # non-first fragment: no transport header
            return None
        proto = ip[9]
        src = str(ipaddress.IPv4Address(ip[12:16]))
        dst = str(ipaddress.IPv4Address(ip[16:20]))
        l4 = ip[ihl:total]
        l4_wire = total - ihl
    elif etype == 0x86DD:
        if len(ip) < 40:
            return None
        plen = struct.unpack("!H", ip[4:6])[0]
        proto = ip[6]
        src = str(ipaddress.IPv6Address(ip[8:24]))
        dst = str(ipaddress.IPv6Address(ip[24:40]))
        l4 = ip[40 : 40 + plen]
        l4_wire = plen
    else:
        return None
    if proto == 6 and len(l4) >= 20:
        sport, dport, seq, ack, off_flags, window = struct.unpack("!HHIIHH", l4[:16])
        doff = (off_flags >> 12) * 4
        flags = off_flags & 0xFF
        payload = l4[doff:]
        return Packet(frame, ts, src, sport, dst, dport, "tcp", payload, l4_wire - doff, seq, ack, flags, window)
    if proto == 17 and len(l4) >= 8:
        sport, dport, ulen = struct.unpack("!HHH", l4[:6])
        payload = l4[8:ulen]
        return Packet(frame, ts, src, sport, dst, dport, "udp", payload, ulen - 8)
    return None


@dataclass
class Direction:
    name: str
    src: tuple
    dst: tuple
    packets: int = 0
    isn: int | None = None
    syn: bool = False
    fin_frames: list = field(default_factory=list)
    rst_frames: list = field(default_factory=list)
    pure_acks: int = 0
    segments: list = field(default_factory=list)
    stream: bytearray = field(default_factory=bytearray)
    max_end: int = 0
    retransmissions: int = 0
    snapped: int = 0


def _u32diff(a: int, b: int) -> int:
    return (a - b) & 0xFFFFFFFF


def analyse(path: str, server_port: int, base_ts: float | None = None) -> dict:
    """Everything the truth files record about the wire, for the single
    conversation on `server_port` (client = the other endpoint)."""
    linktype, packets = read_pcap(path)
    first_ts = packets[0].ts if packets else 0.0
    if base_ts is None:
        base_ts = first_ts
    mine = [p for p in packets if p.sport == server_port or p.dport == server_port]
    if not mine:
        raise ValueError(f"{path}: no packets on port {server_port}")
    proto = mine[0].proto
    clients = sorted({(p.src, p.sport) for p in mine if p.dport == server_port})
    server = (mine[0].dst, server_port) if mine[0].dport == server_port else (mine[0].src, server_port)
    dirs: dict[tuple, Direction] = {}
    for c in clients:
        dirs[(c, server)] = Direction("client_to_server", c, server)
        dirs[(server, c)] = Direction("server_to_client", server, c)
    for p in mine:
        d = dirs.get(((p.src, p.sport), (p.dst, p.dport)))
        if d is None:
            continue
        d.packets += 1
        t_rel = round(p.ts - base_ts, 6)
        if proto == "udp":
            d.segments.append(
                {"frame": p.frame, "t_rel": t_rel, "len": p.wire_len}
            )
            d.stream += p.payload
            continue
        if p.flags & 0x02:
            d.syn = True
            d.isn = p.seq
        if d.isn is None:
            d.isn = (p.seq - 1) & 0xFFFFFFFF
        off = _u32diff(p.seq, d.isn) - 1  # byte offset in the stream
        if p.flags & 0x01:
            d.fin_frames.append(p.frame)
        if p.flags & 0x04:
            d.rst_frames.append(p.frame)
        if p.wire_len == 0:
            if not (p.flags & 0x07):
                d.pure_acks += 1
            continue
        if len(p.payload) < p.wire_len:
            d.snapped += 1
        end = off + p.wire_len
        seg = {"frame": p.frame, "t_rel": t_rel, "offset": off, "len": p.wire_len, "flags": p.flag_str()}
        if end <= d.max_end:
            seg["retransmission"] = True
            d.retransmissions += 1
        else:
            if off > d.max_end:
                seg["gap_before"] = off - d.max_end
            new_from = max(off, d.max_end)
            d.stream[new_from:end] = p.payload[new_from - off :]
            d.max_end = end
        d.segments.append(seg)
    conns = []
    for c in clients:
        out = {}
        for key in ((c, server), (server, c)):
            d = dirs[key]
            first = [s for s in d.segments if not s.get("retransmission")]
            entry = {
                "packets": d.packets,
                "data_segments": len(first),
                "payload_lengths": [s["len"] for s in first],
                "bytes": len(d.stream),
                "sha256": hashlib.sha256(bytes(d.stream)).hexdigest(),
            }
            if proto == "tcp":
                entry.update(
                    {
                        "retransmissions": d.retransmissions,
                        "retransmitted_lengths": [s["len"] for s in d.segments if s.get("retransmission")],
                        "pure_acks": d.pure_acks,
                        "syn": d.syn,
                        "fin_frames": d.fin_frames,
                        "rst_frames": d.rst_frames,
                        "max_segment": max((s["len"] for s in d.segments), default=0),
                        "snapped_segments": d.snapped,
                    }
                )
            else:
                entry["max_datagram"] = max((s["len"] for s in d.segments), default=0)
            entry["segments" if proto == "tcp" else "datagrams"] = d.segments
            out[d.name] = (entry, bytes(d.stream))
        conns.append({"client": f"{c[0]}:{c[1]}", "directions": out})
    return {
        "linktype": linktype,
        "frames_in_file": len(packets),
        "first_frame_epoch": first_ts,
        "transport": proto,
        "server": f"{server[0]}:{server[1]}",
        "connections": conns,
    }


if __name__ == "__main__":  # debugging aid: python3 pcapwire.py FILE PORT
    import json
    import sys

    res = analyse(sys.argv[1], int(sys.argv[2]))
    for conn in res["connections"]:
        for k, (entry, _stream) in conn["directions"].items():
            conn["directions"][k] = entry
    print(json.dumps(res, indent=1))
