#!/usr/bin/env python3
"""Sticky-packet scenarios: the server/client programs behind
captures/scenarios/*.pcap, and the step that turns what they recorded plus
what the capture shows into NAME.truth.json.

    scenarios.py list
    scenarios.py server NAME --state DIR     # listens, writes DIR/NAME.server.json
    scenarios.py client NAME --state DIR     # waits for the server, writes DIR/NAME.client.json
    scenarios.py finalize NAME --state DIR --pcap FILE --out FILE.truth.json

Every send()/recv() the programs make is recorded: call, size asked for,
size returned, stream offset, wall-clock time (same clock as the capture's
timestamps) and, for small ones, the bytes. make-captures.sh runs the pair
under tcpdump on loopback and calls finalize.

Only the Python 3 standard library is used.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import socket
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import pcapwire  # noqa: E402

HOST = "127.0.0.1"
SMALL = 16  # record the bytes of calls at most this long

# --------------------------------------------------------------------------
# Scenario table. Ports are fixed and outside Linux's default ephemeral range
# (32768-60999) so a client's source port never collides with a server port.
# --------------------------------------------------------------------------

SCENARIOS: dict[str, dict] = {
    "unframed-lagging-reader": {
        "port": 61101,
        "transport": "tcp",
        "framing": {"spec": "none", "params": {"kind": "none"}},
        "demonstrates": "Four separate writes (TCP_NODELAY, 20 ms apart) are four segments on the wire, "
        "but a reader that starts 300 ms late gets them glued: recv(10) returns 'musibii1'.",
    },
    "big-reply-small-recv": {
        "port": 61102,
        "transport": "tcp",
        "framing": {"spec": "none", "params": {"kind": "none"}},
        "demonstrates": "A 10240-byte reply written with one send() is read with one recv(4096): the reader "
        "sees a truncated reply; the rest stays in the socket buffer.",
    },
    "remote-command": {
        "port": 61103,
        "transport": "tcp",
        "framing": {"spec": "none", "params": {"kind": "none"}},
        "demonstrates": "Remote shell with recv(1024) per command: a ~5000-byte output spills into the "
        "answers of the following commands, and the tail is glued to later replies.",
    },
    "length-prefix": {
        "port": 61104,
        "transport": "tcp",
        "framing": {
            "spec": "length:4",
            "params": {"length_field_offset": 0, "length_field_length": 4, "byte_order": "big", "signed": False,
                       "length_adjustment": 0, "initial_bytes_to_strip": 0, "length_includes_header": False},
        },
        "demonstrates": "struct.pack('!I', n) + body, one write per message (10, 300, 5000, 70000 bytes); "
        "the 70000-byte message needs several segments; a correct reader recv()s exactly.",
    },
    "length-prefix-two-writes": {
        "port": 61105,
        "transport": "tcp",
        "framing": {
            "spec": "length:4",
            "params": {"length_field_offset": 0, "length_field_length": 4, "byte_order": "big", "signed": False,
                       "length_adjustment": 0, "initial_bytes_to_strip": 0, "length_includes_header": False},
        },
        "demonstrates": "Same messages, header and body as two send() calls, Nagle on: the header goes out "
        "alone, bodies and following headers are coalesced or held by Nagle.",
    },
    "native-int-header": {
        "port": 61106,
        "transport": "tcp",
        "framing": {
            "spec": "length:width=4,endian=little",
            "params": {"length_field_offset": 0, "length_field_length": 4, "byte_order": "little", "signed": True,
                       "length_adjustment": 0, "initial_bytes_to_strip": 0, "length_includes_header": False,
                       "python": "struct.pack('i', n) on x86-64 (native order = little endian)"},
        },
        "demonstrates": "Native-order int header (struct.pack('i', n), little endian on x86): read as "
        "big-endian the lengths are nonsense.",
    },
    "json-header": {
        "port": 61107,
        "transport": "tcp",
        "framing": {
            "spec": "json-header",
            "params": {"header_length_field": {"length": 4, "byte_order": "little", "signed": True,
                                               "python": "struct.pack('i', len(header_json))"},
                       "header_encoding": "utf-8 JSON object", "body_length_key": "total_size"},
        },
        "demonstrates": "Classic file transfer: 4-byte native int header length, JSON header "
        "{file_name, total_size, md5}, then total_size body bytes written in 4096-byte chunks; receiver "
        "reads the body with recv(1024).",
    },
    "ndjson": {
        "port": 61108,
        "transport": "tcp",
        "framing": {"spec": "line", "params": {"delimiter": "\\n", "strip_delimiter": False}},
        "demonstrates": "Newline-delimited JSON written one message per send() (TCP_NODELAY, so one segment "
        "each) in bursts; a busy reader's recv(4096) returns several lines glued, and a message written in "
        "two halves shows up split.",
    },
    "udp-recvfrom": {
        "port": 61109,
        "transport": "udp",
        "framing": {"spec": "none", "params": {"kind": "none", "note": "each datagram is one message"}},
        "demonstrates": "UDP keeps message boundaries but recvfrom(1024) silently truncates the 1500- and "
        "4000-byte datagrams (the rest is discarded, MSG_TRUNC).",
    },
    "nagle-on": {
        "port": 61110,
        "transport": "tcp",
        "framing": {
            "spec": "length:4",
            "params": {"length_field_offset": 0, "length_field_length": 4, "byte_order": "big", "signed": False,
                       "length_adjustment": 0, "initial_bytes_to_strip": 0, "length_includes_header": False},
        },
        "demonstrates": "Without TCP_NODELAY: phase A, 200 small messages in a tight burst on a fresh "
        "connection; phase B, 20 write-write-read requests (header and body as two writes) each stall "
        "~40 ms on the peer's delayed ACK; phase C, the same 200-message burst once the peer delays its "
        "ACKs: Nagle sends the first write alone and holds the rest.",
    },
    "nagle-off": {
        "port": 61111,
        "transport": "tcp",
        "framing": {
            "spec": "length:4",
            "params": {"length_field_offset": 0, "length_field_length": 4, "byte_order": "big", "signed": False,
                       "length_adjustment": 0, "initial_bytes_to_strip": 0, "length_includes_header": False},
        },
        "demonstrates": "Same traffic as nagle-on (phases A, B, C) with TCP_NODELAY on both sides: "
        "write-write-read requests do not stall and small writes are not held back by Nagle (a long "
        "burst can still be merged when the congestion window is full).",
    },
}


# --------------------------------------------------------------------------
# Recording helpers
# --------------------------------------------------------------------------


def small_bytes(b: bytes) -> dict:
    out = {"hex": b.hex()}
    try:
        s = b.decode("ascii")
        if all(32 <= ord(c) < 127 or c in "\n\r\t" for c in s):
            out["text"] = s
    except UnicodeDecodeError:
        pass
    return out


class Side:
    """One endpoint: records its writes (outgoing stream) and reads (incoming stream)."""

    def __init__(self, role: str):
        self.role = role
        self.nodelay = False
        self.writes: list[dict] = []
        self.messages: list[dict] = []
        self.recvs: list[dict] = []
        self.out_off = 0
        self.in_off = 0
        self.out_hash = hashlib.sha256()
        self.in_hash = hashlib.sha256()
        self.notes: dict = {}

    # -- writing ----------------------------------------------------------
    def send(self, sock: socket.socket, data: bytes, call: str = "send", **tags) -> int:
        t0 = time.time()
        if call == "sendall":
            sock.sendall(data)
            n = len(data)
        else:
            n = sock.send(data)
        rec = {"i": len(self.writes), "call": call, "offset": self.out_off, "length": len(data), "returned": n,
               "t": t0}
        if len(data) <= SMALL:
            rec["bytes"] = small_bytes(data)
        rec.update(tags)
        self.writes.append(rec)
        self.out_hash.update(data[:n])
        self.out_off += n
        if n != len(data):  # keep the stream honest: finish a partial send
            self.send(sock, data[n:], "sendall", continuation_of=rec["i"], **tags)
        return len(data)

    def message(self, offset: int, length: int, **tags) -> None:
        rec = {"i": len(self.messages), "offset": offset, "length": length}
        rec.update(tags)
        self.messages.append(rec)

    # -- reading ----------------------------------------------------------
    def recv(self, sock: socket.socket, n: int, **tags) -> bytes:
        t0 = time.time()
        data = sock.recv(n)
        t1 = time.time()
        rec = {"i": len(self.recvs), "call": "recv", "requested": n, "returned": len(data),
               "offset": self.in_off, "t_call": t0, "t": t1}
        if len(data) == 0:
            rec["eof"] = True
        if len(data) <= SMALL:
            rec["bytes"] = small_bytes(data)
        rec.update(tags)
        self.recvs.append(rec)
        self.in_hash.update(data)
        self.in_off += len(data)
        return data

    def recv_exact(self, sock: socket.socket, n: int, chunk: int = 65536, **tags) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            d = self.recv(sock, min(chunk, n - len(buf)), **tags)
            if not d:
                raise EOFError(f"EOF after {len(buf)} of {n} bytes")
            buf += d
        return bytes(buf)

    def set_nodelay(self, sock: socket.socket, on: bool) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1 if on else 0)
        self.nodelay = bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    def dump(self) -> dict:
        return {"role": self.role, "nodelay": self.nodelay, "writes": self.writes, "messages": self.messages,
                "recvs": self.recvs, "sent_bytes": self.out_off, "sent_sha256": self.out_hash.hexdigest(),
                "received_bytes": self.in_off, "received_sha256": self.in_hash.hexdigest(), "notes": self.notes}


def pattern(tag: int, n: int) -> bytes:
    """Deterministic body bytes, different per message."""
    seed = hashlib.sha256(f"framescope-{tag}".encode()).digest()
    reps = n // len(seed) + 1
    return (seed * reps)[:n]


def text_lines(n: int, prefix: str) -> bytes:
    """n bytes of readable numbered 64-byte lines."""
    out = bytearray()
    i = 0
    while len(out) < n:
        line = f"{prefix} line {i:04d} ".ljust(63, ".") + "\n"
        out += line.encode()
        i += 1
    return bytes(out[:n])


# --------------------------------------------------------------------------
# Connection setup
# --------------------------------------------------------------------------


def listen_tcp(port: int, ready: str) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((HOST, port))
    s.listen(1)
    s.settimeout(20)
    open(ready, "w").close()
    return s


def wait_ready(ready: str, timeout: float = 10.0) -> None:
    end = time.time() + timeout
    while not os.path.exists(ready):
        if time.time() > end:
            raise SystemExit(f"server not ready ({ready})")
        time.sleep(0.01)


def connect_tcp(port: int) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect((HOST, port))
    return s


# --------------------------------------------------------------------------
# 1. unframed-lagging-reader
# --------------------------------------------------------------------------

UNFRAMED_WRITES = [b"hello", b"world", b"musibii", b"1"]


def s_unframed(port, ready, srv: Side, _cli):
    ls = listen_tcp(port, ready)
    conn, _ = ls.accept()
    srv.notes["lag_before_first_recv_s"] = 0.3
    time.sleep(0.3)
    for n in (5, 5, 10, 5):
        srv.recv(conn, n)
    conn.close()
    ls.close()


def c_unframed(port, ready, cli: Side):
    wait_ready(ready)
    s = connect_tcp(port)
    cli.set_nodelay(s, True)
    for k, w in enumerate(UNFRAMED_WRITES):
        if k:
            time.sleep(0.02)
        cli.message(cli.out_off, len(w))
        cli.send(s, w)
    s.close()


# --------------------------------------------------------------------------
# 2. big-reply-small-recv
# --------------------------------------------------------------------------

BIG_REPLY = 10240


def s_bigreply(port, ready, srv: Side, _cli):
    ls = listen_tcp(port, ready)
    conn, _ = ls.accept()
    srv.recv(conn, 1024, purpose="request")
    body = text_lines(BIG_REPLY, "reply")
    srv.message(srv.out_off, len(body), what="reply")
    srv.send(conn, body)  # one send() of 10240 bytes
    while srv.recv(conn, 1024, purpose="wait-for-close"):
        pass
    conn.close()
    ls.close()


def c_bigreply(port, ready, cli: Side):
    wait_ready(ready)
    s = connect_tcp(port)
    req = b"GET /big HTTP/0.9\r\n"
    cli.message(0, len(req), what="request")
    cli.send(s, req)
    cli.recv(s, 4096, naive=True, purpose="the one recv(4096) a naive client makes")
    # What further recv() calls would have returned (the naive client never makes them).
    time.sleep(0.05)
    while cli.in_off < BIG_REPLY:
        if not cli.recv(s, 4096, naive=False, purpose="diagnostic drain"):
            break
    s.close()


# --------------------------------------------------------------------------
# 3. remote-command
# --------------------------------------------------------------------------

LISTING_SNIPPET = r"""
import sys
names = ["awk","base32","base64","basename","bash","cat","chgrp","chmod","chown","cksum","cmp","comm",
         "cp","csplit","cut","date","dd","df","diff","dir","dirname","du","echo","env","expand","expr",
         "factor","false","find","fmt","fold","grep","groups","gzip","head","hostid","id","install","join",
         "kill","less","link","ln","logname","ls","md5sum","mkdir","mkfifo","mknod","mktemp","mv","nice",
         "nl","nohup","nproc","numfmt","od","paste","pathchk","pr","printenv","printf","ptx","pwd",
         "readlink","realpath","rm","rmdir","sed","seq","sha1sum","sha256sum","shred","shuf","sleep","sort",
         "split","stat","stty","sum","sync","tac","tail","tar","tee","test","timeout","touch","tr","true"]
names += ["uname", "uniq", "unlink", "users", "vdir", "wc", "who", "whoami", "yes", "zcat"]
out = ["total %d" % (len(names) * 4)]
for i, n in enumerate(names):
    size = (i * 7919) % 150000 + 1024
    out.append("-rwxr-xr-x  1 root root  %8d Jan  1  2026 %s" % (size, n))
sys.stdout.write("\n".join(out) + "\n")
"""

COMMANDS = {
    "ls -l /usr/bin": LISTING_SNIPPET,
    "pwd": "print('/home/framescope')",
    "whoami": "print('framescope')",
    "date": "print('Sun Nov 22 00:00:00 UTC 2026')",
    "echo done": "print('done')",
    "echo bye": "print('bye')",
}
CLIENT_COMMANDS = ["ls -l /usr/bin", "pwd", "whoami", "date", "echo done", "echo bye"]
COMMAND_THINK_TIME = 0.3


def s_remote(port, ready, srv: Side, _cli):
    ls = listen_tcp(port, ready)
    conn, _ = ls.accept()
    while True:
        cmd = srv.recv(conn, 1024, purpose="command")
        if not cmd:
            break
        snippet = COMMANDS.get(cmd.decode(errors="replace").strip(), "print('command not found')")
        res = subprocess.run([sys.executable, "-c", snippet], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = res.stdout or b"(no output)\n"
        srv.message(srv.out_off, len(out), command=cmd.decode(errors="replace"))
        srv.send(conn, out, call="sendall", command=cmd.decode(errors="replace"))
    conn.close()
    ls.close()


def c_remote(port, ready, cli: Side):
    wait_ready(ready)
    s = connect_tcp(port)
    for cmd in CLIENT_COMMANDS:
        b = cmd.encode()
        cli.message(cli.out_off, len(b), command=cmd)
        cli.send(s, b, command=cmd)
        time.sleep(COMMAND_THINK_TIME)  # the output has arrived by now
        cli.recv(s, 1024, command=cmd)
    s.close()


# --------------------------------------------------------------------------
# 4/5/6. length-prefixed messages
# --------------------------------------------------------------------------

LP_SIZES = [10, 300, 5000, 70000]
NATIVE_SIZES = [7, 256, 1500, 6000]


def _lp_receiver(port, ready, srv: Side, fmt: str):
    ls = listen_tcp(port, ready)
    conn, _ = ls.accept()
    while True:
        hdr = srv.recv(conn, 4, part="header")
        if not hdr:
            break
        while len(hdr) < 4:
            more = srv.recv(conn, 4 - len(hdr), part="header")
            if not more:
                raise EOFError("EOF inside a header")
            hdr += more
        (n,) = struct.unpack(fmt, hdr)
        srv.recv_exact(conn, n, part="body")
    conn.close()
    ls.close()


def _lp_sender(port, ready, cli: Side, fmt: str, sizes, two_writes: bool):
    wait_ready(ready)
    s = connect_tcp(port)
    cli.set_nodelay(s, False)
    for k, n in enumerate(sizes):
        body = pattern(k, n)
        hdr = struct.pack(fmt, n)
        cli.message(cli.out_off, 4 + n, body_length=n)
        if two_writes:
            cli.send(s, hdr, call="send", part="header", msg=k)
            cli.send(s, body, call="sendall", part="body", msg=k)
        else:
            cli.send(s, hdr + body, call="sendall", part="message", msg=k)
    s.close()


def s_lp(port, ready, srv, _cli):
    _lp_receiver(port, ready, srv, "!I")


def c_lp(port, ready, cli):
    _lp_sender(port, ready, cli, "!I", LP_SIZES, two_writes=False)


def c_lp2(port, ready, cli):
    _lp_sender(port, ready, cli, "!I", LP_SIZES, two_writes=True)


def s_native(port, ready, srv, _cli):
    _lp_receiver(port, ready, srv, "i")


def c_native(port, ready, cli):
    _lp_sender(port, ready, cli, "i", NATIVE_SIZES, two_writes=False)


# --------------------------------------------------------------------------
# 7. json-header (file transfer)
# --------------------------------------------------------------------------

FILES = [("hello.txt", 13), ("report.csv", 2345), ("photo.jpg", 24000)]


def file_body(name: str, n: int) -> bytes:
    if name == "hello.txt":
        return b"hello, world\n"[:n]
    if name.endswith(".csv"):
        rows = b"".join(f"{i},{i * i},{(i * 37) % 101}\n".encode() for i in range(2000))
        return (b"n,square,mod\n" + rows)[:n]
    return pattern(7, n)


def s_jsonhdr(port, ready, srv: Side, _cli):
    ls = listen_tcp(port, ready)
    conn, _ = ls.accept()
    received = []
    while True:
        hl = srv.recv(conn, 4, part="header-length")
        if not hl:
            break
        (hlen,) = struct.unpack("i", hl)
        hdr = json.loads(srv.recv(conn, hlen, part="json-header"))  # classic: one recv(hlen)
        got = 0
        h = hashlib.md5()
        while got < hdr["total_size"]:
            d = srv.recv(conn, min(1024, hdr["total_size"] - got), part="body", file=hdr["file_name"])
            if not d:
                break
            h.update(d)
            got += len(d)
        received.append({"file_name": hdr["file_name"], "received": got, "md5_ok": h.hexdigest() == hdr["md5"]})
    srv.notes["files_received"] = received
    conn.close()
    ls.close()


def c_jsonhdr(port, ready, cli: Side):
    wait_ready(ready)
    s = connect_tcp(port)
    cli.set_nodelay(s, False)
    for name, n in FILES:
        body = file_body(name, n)
        header = {"file_name": name, "total_size": len(body), "md5": hashlib.md5(body).hexdigest()}
        hb = json.dumps(header).encode()
        start = cli.out_off
        cli.send(s, struct.pack("i", len(hb)), part="header-length", file=name)
        cli.send(s, hb, call="sendall", part="json-header", file=name)
        for i in range(0, len(body), 4096):  # "read the file in 4096-byte chunks and send each"
            cli.send(s, body[i : i + 4096], call="sendall", part="body", file=name)
        cli.message(start, cli.out_off - start, file=name, header_length=len(hb), header=header)
    s.close()


# --------------------------------------------------------------------------
# 8. ndjson
# --------------------------------------------------------------------------

ND_BURSTS = 5
ND_PER_BURST = 8
ND_READER_WORK = 0.010


def nd_message(i: int) -> bytes:
    return (json.dumps({"seq": i, "kind": "tick", "value": (i * 7919) % 1000, "tag": "x" * (i % 5)},
                       separators=(",", ":")) + "\n").encode()


def s_ndjson(port, ready, srv: Side, _cli):
    ls = listen_tcp(port, ready)
    conn, _ = ls.accept()
    pending = b""
    while True:
        d = srv.recv(conn, 4096)
        if not d:
            break
        rec = srv.recvs[-1]
        try:
            json.loads(d)
            rec["naive_json_loads"] = "ok"
        except ValueError:
            rec["naive_json_loads"] = "error"
        buf = pending + d
        rec["complete_lines"] = buf.count(b"\n")
        rec["starts_mid_line"] = bool(pending)
        pending = buf.rsplit(b"\n", 1)[1] if b"\n" in buf else buf
        rec["ends_mid_line"] = bool(pending)
        time.sleep(ND_READER_WORK)  # the reader has other work to do
    srv.notes["reader_work_after_each_recv_s"] = ND_READER_WORK
    conn.close()
    ls.close()


def c_ndjson(port, ready, cli: Side):
    wait_ready(ready)
    s = connect_tcp(port)
    cli.set_nodelay(s, True)
    i = 0
    for burst in range(ND_BURSTS):
        if burst:
            time.sleep(0.05)
        for _ in range(ND_PER_BURST):
            m = nd_message(i)
            cli.message(cli.out_off, len(m), seq=i, burst=burst)
            if burst == 2 and _ == 3:  # one message written in two halves, 30 ms apart
                h = len(m) // 2
                cli.send(s, m[:h], seq=i, burst=burst, part="first-half")
                time.sleep(0.03)
                cli.send(s, m[h:], seq=i, burst=burst, part="second-half")
            else:
                cli.send(s, m, seq=i, burst=burst)
            i += 1
    s.close()


# --------------------------------------------------------------------------
# 9. udp-recvfrom
# --------------------------------------------------------------------------

UDP_SIZES = [100, 1024, 1500, 4000]


def s_udp(port, ready, srv: Side, _cli):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.bind((HOST, port))
    s.settimeout(5)
    open(ready, "w").close()
    for _ in UDP_SIZES:
        t0 = time.time()
        # recvmsg(1024) is recvfrom(1024) plus the flags word, so MSG_TRUNC is visible.
        data, _anc, flags, addr = s.recvmsg(1024)
        t1 = time.time()
        rec = {"i": len(srv.recvs), "call": "recvfrom", "requested": 1024, "returned": len(data),
               "truncated": bool(flags & socket.MSG_TRUNC), "t_call": t0, "t": t1, "from": f"{addr[0]}:{addr[1]}"}
        if len(data) <= SMALL:
            rec["bytes"] = small_bytes(data)
        srv.recvs.append(rec)
        srv.in_hash.update(data)
        srv.in_off += len(data)
    s.close()


def c_udp(port, ready, cli: Side):
    wait_ready(ready)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for k, n in enumerate(UDP_SIZES):
        if k:
            time.sleep(0.01)
        d = pattern(100 + k, n)
        t0 = time.time()
        r = s.sendto(d, (HOST, port))
        cli.writes.append({"i": k, "call": "sendto", "offset": cli.out_off, "length": n, "returned": r, "t": t0})
        cli.message(cli.out_off, n)
        cli.out_hash.update(d)
        cli.out_off += n
    s.close()


# --------------------------------------------------------------------------
# 10/11. nagle-on / nagle-off
# --------------------------------------------------------------------------

NAGLE_BURST = 200
NAGLE_REQUESTS = 20


def nagle_body(i: int) -> bytes:
    n = 20 + (i * 37) % 41  # 20..60 bytes
    return (f"m{i:03d}:".encode() + b"abcdefghijklmnopqrstuvwxyz0123456789" * 2)[:n]


def _nagle_server(port, ready, srv: Side, nodelay: bool):
    ls = listen_tcp(port, ready)
    conn, _ = ls.accept()
    srv.set_nodelay(conn, nodelay)
    buf = bytearray()
    count = 0

    def frames():
        nonlocal buf
        while len(buf) >= 4:
            (n,) = struct.unpack("!I", buf[:4])
            if len(buf) < 4 + n:
                return
            body = bytes(buf[4 : 4 + n])
            del buf[: 4 + n]
            yield body

    def phase_of(k: int) -> str:
        if k < NAGLE_BURST:
            return "A"
        if k < NAGLE_BURST + NAGLE_REQUESTS:
            return "B"
        return "C"

    eof = False
    while not eof:
        d = srv.recv(conn, 65536, phase=phase_of(count))
        if not d:
            eof = True
        buf += d
        for body in frames():
            count += 1
            ph = phase_of(count - 1)
            if ph == "B":
                r = f"ok {count - NAGLE_BURST - 1:04d}".encode()
            elif count in (NAGLE_BURST, 2 * NAGLE_BURST + NAGLE_REQUESTS):
                r = f"got {count}".encode()
            else:
                continue
            srv.message(srv.out_off, 4 + len(r), phase=ph, reply_to=count - 1)
            srv.send(conn, struct.pack("!I", len(r)) + r, call="sendall", phase=ph)
    conn.close()
    ls.close()


def _nagle_burst(s, cli: Side, phase: str, first: int):
    """A tight burst of small length-prefixed messages, one write each, then
    wait for the peer's single reply."""
    for i in range(first, first + NAGLE_BURST):
        b = nagle_body(i)
        cli.message(cli.out_off, 4 + len(b), phase=phase, msg=i)
        cli.send(s, struct.pack("!I", len(b)) + b, call="sendall", phase=phase, msg=i)
    t0 = time.time()
    hdr = cli.recv_exact(s, 4, phase=phase)
    cli.recv_exact(s, struct.unpack("!I", hdr)[0], phase=phase)
    cli.notes[f"phase_{phase.lower()}_reply_wait_ms"] = round((time.time() - t0) * 1000, 3)


def _nagle_client(port, ready, cli: Side, nodelay: bool):
    wait_ready(ready)
    s = connect_tcp(port)
    cli.set_nodelay(s, nodelay)
    # Phase A: burst on a fresh connection (the receiver still acks quickly).
    _nagle_burst(s, cli, "A", 0)
    # Phase B: write-write-read.
    rtts = []
    for j in range(NAGLE_REQUESTS):
        i = NAGLE_BURST + j
        b = nagle_body(i)
        cli.message(cli.out_off, 4 + len(b), phase="B", msg=i, request=j)
        t0 = time.time()
        cli.send(s, struct.pack("!I", len(b)), call="send", phase="B", msg=i, request=j, part="header")
        cli.send(s, b, call="send", phase="B", msg=i, request=j, part="body")
        hdr = cli.recv_exact(s, 4, phase="B", request=j)
        cli.recv_exact(s, struct.unpack("!I", hdr)[0], phase="B", request=j)
        rtts.append(round((time.time() - t0) * 1000, 3))
    cli.notes["phase_b_rtt_ms"] = rtts
    # Phase C: the same burst again, now that request/response traffic has
    # put the receiver into delayed-ACK ("pingpong") mode.
    _nagle_burst(s, cli, "C", NAGLE_BURST + NAGLE_REQUESTS)
    s.close()


def s_nagle_on(port, ready, srv, _cli):
    _nagle_server(port, ready, srv, False)


def c_nagle_on(port, ready, cli):
    _nagle_client(port, ready, cli, False)


def s_nagle_off(port, ready, srv, _cli):
    _nagle_server(port, ready, srv, True)


def c_nagle_off(port, ready, cli):
    _nagle_client(port, ready, cli, True)


PROGRAMS = {
    "unframed-lagging-reader": (s_unframed, c_unframed),
    "big-reply-small-recv": (s_bigreply, c_bigreply),
    "remote-command": (s_remote, c_remote),
    "length-prefix": (s_lp, c_lp),
    "length-prefix-two-writes": (s_lp, c_lp2),
    "native-int-header": (s_native, c_native),
    "json-header": (s_jsonhdr, c_jsonhdr),
    "ndjson": (s_ndjson, c_ndjson),
    "udp-recvfrom": (s_udp, c_udp),
    "nagle-on": (s_nagle_on, c_nagle_on),
    "nagle-off": (s_nagle_off, c_nagle_off),
}


# --------------------------------------------------------------------------
# finalize: programs' records + the capture -> NAME.truth.json
# --------------------------------------------------------------------------


def _rel(records: list[dict], base: float) -> list[dict]:
    out = []
    for r in records:
        r = dict(r)
        for k in ("t", "t_call"):
            if k in r:
                r[k + "_rel" if k == "t_call" else "t_rel"] = round(r.pop(k) - base, 6)
        out.append(r)
    return out


def _overlaps(spans: list[dict], off: int, length: int) -> list[int]:
    return [s["i"] for s in spans if s["length"] and s["offset"] < off + length and off < s["offset"] + s["length"]]


def write_vs_segments(writes: list[dict], segments: list[dict]) -> dict:
    """How the sender's write() calls map onto first-transmission segments."""
    segs = [s for s in segments if not s.get("retransmission")]
    ws = [w for w in writes if w["length"]]
    per_seg = []
    for s in segs:
        idx = _overlaps(ws, s["offset"], s["len"])
        per_seg.append(idx)
        s["writes"] = idx
    split = []
    for w in ws:
        n = sum(1 for s in segs if s["offset"] < w["offset"] + w["length"] and w["offset"] < s["offset"] + s["len"])
        if n > 1:
            split.append({"write": w["i"], "segments": n})
    return {
        "writes": len(ws),
        "data_segments": len(segs),
        "segments_carrying_several_writes": sum(1 for p in per_seg if len(p) > 1),
        "max_writes_in_one_segment": max((len(p) for p in per_seg), default=0),
        "writes_split_across_segments": split,
    }


def tshark_cross_check(pcap: str, port: int, transport: str, directions: dict) -> dict:
    exe = shutil.which("tshark")
    if not exe:
        return {"tool": None, "note": "tshark not installed; not cross-checked"}
    fld = "tcp.len" if transport == "tcp" else "udp.length"
    sp = "tcp.srcport" if transport == "tcp" else "udp.srcport"
    try:
        out = subprocess.run([exe, "-r", pcap, "-T", "fields", "-e", "frame.number", "-e", sp, "-e", fld],
                             capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as e:
        return {"tool": "tshark", "error": str(e)}
    got = {"client_to_server": [], "server_to_client": []}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) < 3 or not parts[2]:
            continue
        n = int(parts[2]) - (8 if transport == "udp" else 0)
        if n <= 0:
            continue
        key = "server_to_client" if int(parts[1]) == port else "client_to_server"
        got[key].append([int(parts[0]), n])
    mine = {k: [[s["frame"], s["len"]] for s in d["wire"].get("segments", d["wire"].get("datagrams", []))]
            for k, d in directions.items()}
    return {"tool": "tshark", "match": got == mine}


def compact_json(v, indent: int = 0, width: int = 200) -> str:
    """Indented JSON whose small objects and lists stay on one line (one
    record per line), so the truth files are both diffable and short."""
    flat = json.dumps(v, separators=(", ", ": "), ensure_ascii=False)
    if len(flat) + indent <= width or not isinstance(v, (dict, list)) or not v:
        return flat
    if isinstance(v, dict) and all(not isinstance(x, (dict, list)) or
                                   (isinstance(x, dict) and len(json.dumps(x)) < 120) for x in v.values()):
        return flat  # a record: one line
    pad = " " * (indent + 1)
    if isinstance(v, dict):
        items = [f"{pad}{json.dumps(k)}: {compact_json(x, indent + 1, width)}" for k, x in v.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    if all(not isinstance(x, (dict, list)) for x in v):  # long list of scalars: wrap
        lines, cur = [], ""
        for x in v:
            t = json.dumps(x)
            if cur and len(cur) + len(t) + 2 + indent > width:
                lines.append(cur)
                cur = ""
            cur = f"{cur}, {t}" if cur else t
        lines.append(cur)
        return "[\n" + ",\n".join(pad + line for line in lines) + "\n" + " " * indent + "]"
    items = [pad + compact_json(x, indent + 1, width) for x in v]
    return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"


def finalize(name: str, state: str, pcap: str, out_path: str) -> int:
    sc = SCENARIOS[name]
    port = sc["port"]
    srv = json.load(open(os.path.join(state, f"{name}.server.json")))
    cli = json.load(open(os.path.join(state, f"{name}.client.json")))
    wire = pcapwire.analyse(pcap, port)
    if len(wire["connections"]) != 1:
        raise SystemExit(f"{name}: expected one conversation, found {len(wire['connections'])}")
    conn = wire["connections"][0]
    base = wire["first_frame_epoch"]
    directions = {}
    checks: dict[str, dict] = {}
    for key, sender, receiver in (("client_to_server", cli, srv), ("server_to_client", srv, cli)):
        w, stream = conn["directions"][key]
        d = {
            "sender": sender["role"],
            "receiver": receiver["role"],
            "sender_tcp_nodelay": sender["nodelay"] if sc["transport"] == "tcp" else None,
            "bytes": sender["sent_bytes"],
            "sha256": sender["sent_sha256"],
            "writes": _rel(sender["writes"], base),
            "messages": sender["messages"],
            "receiver_reads": _rel(receiver["recvs"], base),
            "receiver_got_bytes": receiver["received_bytes"],
            "wire": w,
        }
        if sc["transport"] == "tcp":
            d["writes_vs_segments"] = write_vs_segments(d["writes"], w["segments"])
        checks[f"{key}: capture holds exactly the bytes written"] = {
            "ok": w["bytes"] == sender["sent_bytes"] and w["sha256"] == sender["sent_sha256"],
            "detail": f"wire {w['bytes']} bytes, written {sender['sent_bytes']}",
        }
        if sc["transport"] == "tcp":
            checks[f"{key}: receiver read exactly the bytes written"] = {
                "ok": receiver["received_bytes"] == sender["sent_bytes"]
                and receiver["received_sha256"] == sender["sent_sha256"],
                "detail": f"read {receiver['received_bytes']} of {sender['sent_bytes']}",
            }
        directions[key] = d
    truth = {
        "scenario": name,
        "capture": f"{name}.pcap",
        "transport": sc["transport"],
        "server": f"{HOST}:{port}",
        "client": conn["client"],
        "framing": sc["framing"],
        "demonstrates": sc["demonstrates"],
        "provenance": {
            "made_by": "scripts/scenarios/make-captures.sh (programs: scripts/scenarios/scenarios.py)",
            "interface": "lo (127.0.0.1)",
            "capture_filter": f"port {port}",
            "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(base)),
            "kernel": platform.release(),
            "python": platform.python_version(),
        },
        "time_base": {"first_frame_epoch": base,
                      "note": "every t_rel / t_call_rel is seconds since the capture's first frame; "
                              "program times are time.time() on the same host"},
        "directions": directions,
    }
    summary, more_checks = SUMMARIES[name](truth, srv, cli)
    truth["naive_reader"] = summary
    checks.update(more_checks)
    truth["checks"] = checks
    truth["cross_check"] = tshark_cross_check(pcap, port, sc["transport"], directions)
    if truth["cross_check"].get("match") is False:
        checks["tshark agrees with the stdlib parser"] = {"ok": False, "detail": "segment lists differ"}
    with open(out_path, "w") as f:
        f.write(compact_json(truth) + "\n")
    bad = [k for k, v in checks.items() if not v["ok"]]
    for k, v in checks.items():
        print(f"  [{'ok' if v['ok'] else 'FAIL'}] {k}: {v.get('detail', '')}")
    print(f"  summary: {json.dumps(summary)[:600]}")
    return 1 if bad else 0


def _texts(reads):
    return [r.get("bytes", {}).get("text") if "bytes" in r else f"<{r['returned']} bytes>" for r in reads]


def sum_unframed(t, srv, cli):
    c2s = t["directions"]["client_to_server"]
    got = [r.get("bytes", {}).get("text") for r in c2s["receiver_reads"]]
    lens = c2s["wire"]["payload_lengths"]
    return (
        {"reads": [{"requested": r["requested"], "returned": r["returned"], "text": r["bytes"].get("text")}
                   for r in c2s["receiver_reads"]]},
        {
            "four writes are four segments": {"ok": lens == [5, 5, 7, 1], "detail": str(lens)},
            "lagging reader got hello/world/musibii1/EOF": {"ok": got == ["hello", "world", "musibii1", ""],
                                                             "detail": str(got)},
        },
    )


def sum_bigreply(t, srv, cli):
    s2c = t["directions"]["server_to_client"]
    reads = s2c["receiver_reads"]
    naive = [r for r in reads if r.get("naive")]
    further = [r["returned"] for r in reads if not r.get("naive")]
    return (
        {"naive_recv": {"requested": 4096, "returned": naive[0]["returned"]},
         "reply_bytes": s2c["bytes"], "unread_by_naive_client": s2c["bytes"] - naive[0]["returned"],
         "further_recv_4096_would_return": further},
        {"one recv(4096) truncates the reply": {"ok": naive[0]["returned"] < s2c["bytes"],
                                                 "detail": f"{naive[0]['returned']} of {s2c['bytes']}"}},
    )


def sum_remote(t, srv, cli):
    s2c = t["directions"]["server_to_client"]
    msgs = s2c["messages"]
    rows = []
    for r in s2c["receiver_reads"]:
        pieces = []
        for m in msgs:
            a, b = max(r["offset"], m["offset"]), min(r["offset"] + r["returned"], m["offset"] + m["length"])
            if a < b:
                pieces.append({"reply_to": m["command"], "from": a - m["offset"], "to": b - m["offset"],
                               "reply_length": m["length"]})
        rows.append({"command": r["command"], "requested": r["requested"], "returned": r["returned"],
                     "offset": r["offset"], "contains": pieces,
                     "got_own_reply_only": len(pieces) == 1 and pieces[0]["reply_to"] == r["command"]
                     and pieces[0]["from"] == 0 and pieces[0]["to"] == pieces[0]["reply_length"]})
    glued = [x for x in rows if len(x["contains"]) > 1]
    second = rows[1] if len(rows) > 1 else None
    return (
        {"reply_lengths": {m["command"]: m["length"] for m in msgs}, "reads": rows},
        {
            "second command gets leftover of the first": {
                "ok": bool(second and second["contains"] and second["contains"][0]["reply_to"] == rows[0]["command"]),
                "detail": str(second and second["contains"])},
            "leftover glued to later replies": {"ok": bool(glued),
                                                "detail": f"{len(glued)} recv(1024) calls mix replies"},
        },
    )


def _lp_summary(t, fmt):
    c2s = t["directions"]["client_to_server"]
    segs = [s for s in c2s["wire"]["segments"] if not s.get("retransmission")]
    per_msg = []
    for m in c2s["messages"]:
        n = sum(1 for s in segs if s["offset"] < m["offset"] + m["length"] and m["offset"] < s["offset"] + s["len"])
        per_msg.append({"offset": m["offset"], "length": m["length"], "body_length": m["body_length"],
                        "segments": n})
    reads = c2s["receiver_reads"]
    return per_msg, reads


def sum_lp(t, srv, cli, big=True):
    per_msg, reads = _lp_summary(t, "!I")
    c2s = t["directions"]["client_to_server"]
    checks = {"exact reader framed every message": {
        "ok": c2s["receiver_got_bytes"] == c2s["bytes"] and reads[-1]["returned"] == 0
        and sum(1 for r in reads if r.get("part") == "header" and r["returned"]) == len(per_msg),
        "detail": f"{len(per_msg)} messages, {len(reads)} recv calls"}}
    if big:
        checks["70000-byte message spans several segments"] = {"ok": per_msg[-1]["segments"] > 1,
                                                              "detail": f"{per_msg[-1]['segments']} segments"}
    return (
        {"messages": per_msg, "recv_calls": len(reads),
         "recv_sizes": [[r["requested"], r["returned"]] for r in reads]},
        checks,
    )


def sum_lp2(t, srv, cli):
    summary, checks = sum_lp(t, srv, cli)
    wvs = t["directions"]["client_to_server"]["writes_vs_segments"]
    segs = [s for s in t["directions"]["client_to_server"]["wire"]["segments"] if not s.get("retransmission")]
    summary["segments"] = [{"len": s["len"], "writes": s["writes"], "t_rel": s["t_rel"]} for s in segs]
    checks["header and body are separate writes"] = {"ok": wvs["writes"] == 2 * len(LP_SIZES),
                                                     "detail": f"{wvs['writes']} writes, {wvs['data_segments']} segments"}
    return summary, checks


def sum_native(t, srv, cli):
    summary, checks = sum_lp(t, srv, cli, big=False)
    c2s = t["directions"]["client_to_server"]
    summary["length_fields"] = []
    for m in c2s["messages"]:
        le = struct.pack("<i", m["body_length"])
        summary["length_fields"].append({"hex": le.hex(), "little_endian": m["body_length"],
                                         "if_read_big_endian": struct.unpack(">I", le)[0]})
    checks["native int is little endian here"] = {"ok": struct.pack("i", 1) == b"\x01\0\0\0", "detail": sys.byteorder}
    return summary, checks


def sum_jsonhdr(t, srv, cli):
    c2s = t["directions"]["client_to_server"]
    files = srv["notes"]["files_received"]
    summary = {
        "files": [{"file_name": m["file"], "offset": m["offset"], "length": m["length"],
                   "header_length": m["header_length"], "total_size": m["header"]["total_size"]}
                  for m in c2s["messages"]],
        "received": files,
        "header_reads": [[r["requested"], r["returned"]] for r in c2s["receiver_reads"]
                         if r.get("part") in ("header-length", "json-header")],
        "body_reads": sum(1 for r in c2s["receiver_reads"] if r.get("part") == "body"),
    }
    return summary, {"all files arrived intact": {"ok": all(f["md5_ok"] for f in files) and len(files) == len(FILES),
                                                  "detail": str(files)}}


def sum_ndjson(t, srv, cli):
    c2s = t["directions"]["client_to_server"]
    reads = [r for r in c2s["receiver_reads"] if r["returned"]]
    rows = [{"returned": r["returned"], "complete_lines": r["complete_lines"], "starts_mid_line": r["starts_mid_line"],
             "ends_mid_line": r["ends_mid_line"], "naive_json_loads": r["naive_json_loads"]} for r in reads]
    glued = sum(1 for r in rows if r["complete_lines"] > 1)
    split = sum(1 for r in rows if r["ends_mid_line"])
    return (
        {"messages": len(c2s["messages"]), "writes": len(c2s["writes"]),
         "data_segments": c2s["wire"]["data_segments"], "recvs": rows,
         "recvs_with_several_lines": glued, "recvs_ending_mid_line": split,
         "naive_json_loads_failures": sum(1 for r in rows if r["naive_json_loads"] == "error")},
        {"segments follow writes (TCP_NODELAY)": {"ok": c2s["wire"]["data_segments"] == len(c2s["writes"]),
                                                  "detail": f"{c2s['wire']['data_segments']} segs / {len(c2s['writes'])} writes"},
         "reader sees glued lines": {"ok": glued > 0, "detail": f"{glued} recvs with >1 line"},
         "reader sees a split line": {"ok": split > 0, "detail": f"{split} recvs end mid-line"}},
    )


def sum_udp(t, srv, cli):
    c2s = t["directions"]["client_to_server"]
    reads = [{"requested": r["requested"], "returned": r["returned"], "truncated": r["truncated"]}
             for r in c2s["receiver_reads"]]
    wire = c2s["wire"]["payload_lengths"]
    return (
        {"sent": UDP_SIZES, "wire": wire, "recvfrom": reads},
        {"wire shows one datagram per sendto": {"ok": wire == UDP_SIZES, "detail": str(wire)},
         "recvfrom(1024) truncates": {"ok": [r["returned"] for r in reads] == [min(n, 1024) for n in UDP_SIZES]
                                      and [r["truncated"] for r in reads] == [n > 1024 for n in UDP_SIZES],
                                      "detail": str(reads)}},
    )


def _burst_stats(c2s: dict, segs: list, phase: str, cli: dict) -> dict:
    ms = [m for m in c2s["messages"] if m["phase"] == phase]
    lo, hi = ms[0]["offset"], ms[-1]["offset"] + ms[-1]["length"]
    seg = [s for s in segs if lo <= s["offset"] < hi]
    multi = [s for s in seg if len(s["writes"]) > 1]
    writes = [w for w in c2s["writes"] if w.get("phase") == phase]
    reads = [r["returned"] for r in c2s["receiver_reads"] if r.get("phase") == phase and r["returned"]]
    gaps = [round((b["t_rel"] - a["t_rel"]) * 1000, 3) for a, b in zip(seg, seg[1:])]
    return {
        "messages": len(ms), "writes": len(writes), "bytes": hi - lo, "stream_range": [lo, hi],
        "writes_span_ms": round((writes[-1]["t_rel"] - writes[0]["t_rel"]) * 1000, 3),
        "data_segments": len(seg),
        "segments_carrying_several_writes": len(multi),
        "max_writes_in_one_segment": max((len(s["writes"]) for s in seg), default=0),
        "writes_sent_alone_before_first_coalesced_segment": multi[0]["writes"][0] - writes[0]["i"] if multi else len(writes),
        "wire_span_ms": round((seg[-1]["t_rel"] - seg[0]["t_rel"]) * 1000, 3),
        "longest_gap_between_segments_ms": max(gaps, default=0.0),
        "payload_lengths": [s["len"] for s in seg],
        "receiver_recv_sizes": reads,
        "reply_wait_ms": cli["notes"][f"phase_{phase.lower()}_reply_wait_ms"],
    }


def _nagle(t, srv, cli, nagle: bool):
    c2s = t["directions"]["client_to_server"]
    segs = [s for s in c2s["wire"]["segments"] if not s.get("retransmission")]
    mb = [m for m in c2s["messages"] if m["phase"] == "B"]
    b_lo, b_hi = mb[0]["offset"], mb[-1]["offset"] + mb[-1]["length"]
    seg_b = [s for s in segs if b_lo <= s["offset"] < b_hi]
    writes_b = [w for w in c2s["writes"] if w.get("phase") == "B"]
    holds = []
    for j in range(NAGLE_REQUESTS):
        hw = next(w for w in writes_b if w["request"] == j and w["part"] == "header")
        bw = next(w for w in writes_b if w["request"] == j and w["part"] == "body")
        hs = next(s for s in seg_b if s["offset"] <= hw["offset"] < s["offset"] + s["len"])
        bs = next(s for s in seg_b if s["offset"] <= bw["offset"] < s["offset"] + s["len"])
        holds.append({"request": j, "header_segment_frame": hs["frame"], "body_segment_frame": bs["frame"],
                      "same_segment": hs is bs, "body_after_header_ms": round((bs["t_rel"] - hs["t_rel"]) * 1000, 3),
                      "body_write_to_wire_ms": round((bs["t_rel"] - bw["t_rel"]) * 1000, 3)})
    rtts = cli["notes"]["phase_b_rtt_ms"]
    srt = sorted(rtts)
    a = _burst_stats(c2s, segs, "A", cli)
    c = _burst_stats(c2s, segs, "C", cli)
    summary = {
        "phase_a": a,
        "phase_b": {"requests": NAGLE_REQUESTS, "writes": 2 * NAGLE_REQUESTS, "data_segments": len(seg_b),
                    "rtt_ms": rtts, "rtt_median_ms": srt[len(srt) // 2], "rtt_max_ms": srt[-1],
                    "requests_over_30ms": sum(1 for x in rtts if x > 30),
                    "header_body_on_wire": holds},
        "phase_c": c,
    }
    over = summary["phase_b"]["requests_over_30ms"]
    if nagle:
        checks = {
            "phase A: fewer segments than writes": {"ok": a["data_segments"] < NAGLE_BURST,
                                                    "detail": f"{a['data_segments']} segments for {NAGLE_BURST} writes"},
            "phase B: delayed-ACK stalls (>30 ms)": {"ok": over > 0,
                                                     "detail": f"{over} of {NAGLE_REQUESTS}, median {srt[len(srt) // 2]} ms"},
            "phase C: Nagle coalesced the burst": {"ok": c["data_segments"] < NAGLE_BURST / 4,
                                                   "detail": f"{c['data_segments']} segments for {NAGLE_BURST} writes"},
        }
    else:
        checks = {
            # TCP_NODELAY removes Nagle, not the congestion window: once the
            # receiver stops acking every segment, writes queued behind a
            # full window leave together, so a long burst is not one segment
            # per write throughout. Only Nagle's pairwise coalescing is absent.
            "phase A: few segments carry several writes": {
                "ok": a["segments_carrying_several_writes"] <= 5,
                "detail": f"{a['data_segments']} segments for {NAGLE_BURST} writes, "
                          f"{a['segments_carrying_several_writes']} carry several"},
            "phase B: one segment per write": {"ok": len(seg_b) == 2 * NAGLE_REQUESTS,
                                               "detail": f"{len(seg_b)} segments for {2 * NAGLE_REQUESTS} writes"},
            "phase B: no stalls": {"ok": over == 0, "detail": f"max {srt[-1]} ms"},
        }
    return summary, checks


SUMMARIES = {
    "unframed-lagging-reader": sum_unframed,
    "big-reply-small-recv": sum_bigreply,
    "remote-command": sum_remote,
    "length-prefix": sum_lp,
    "length-prefix-two-writes": sum_lp2,
    "native-int-header": sum_native,
    "json-header": sum_jsonhdr,
    "ndjson": sum_ndjson,
    "udp-recvfrom": sum_udp,
    "nagle-on": lambda t, s, c: _nagle(t, s, c, True),
    "nagle-off": lambda t, s, c: _nagle(t, s, c, False),
}


# --------------------------------------------------------------------------
# README table, regenerated from the truth files
# --------------------------------------------------------------------------

BEGIN_MARK = "<!-- BEGIN GENERATED TABLE (scripts/scenarios/scenarios.py readme) -->"
END_MARK = "<!-- END GENERATED TABLE -->"


def _lens(xs, cap=8):
    xs = list(xs)
    head = ", ".join(str(x) for x in xs[:cap])
    return f"[{head}{', ...' if len(xs) > cap else ''}]"


def _wire_cell(t: dict) -> str:
    out = []
    for key, label in (("client_to_server", "c→s"), ("server_to_client", "s→c")):
        w = t["directions"][key]["wire"]
        n = w["data_segments"]
        if not n:
            continue
        unit = "datagrams" if t["transport"] == "udp" else "segs"
        extra = f", {w['retransmissions']} retx" if w.get("retransmissions") else ""
        out.append(f"{label}: {n} {unit} {_lens(w['payload_lengths'], 6)}{extra}")
    return "<br>".join(out)


def _naive_cell(t: dict) -> str:
    n, s = t["scenario"], t["naive_reader"]
    if n == "unframed-lagging-reader":
        return ", ".join(f"recv({r['requested']})→{r['text']!r}" for r in s["reads"])
    if n == "big-reply-small-recv":
        return (f"recv(4096)→{s['naive_recv']['returned']} of {s['reply_bytes']} bytes; "
                f"further recv(4096)→{s['further_recv_4096_would_return']}")
    if n == "remote-command":
        parts = []
        for r in s["reads"]:
            src = "+".join(f"{p['reply_to']}[{p['from']}:{p['to']}]" for p in r["contains"])
            parts.append(f"`{r['command']}`→{r['returned']} ({src})")
        return "; ".join(parts)
    if n in ("length-prefix", "length-prefix-two-writes", "native-int-header"):
        txt = f"exact reader: {s['recv_calls']} recv calls, all messages framed"
        if n == "native-int-header":
            txt += "; as big-endian the lengths read " + ", ".join(str(x["if_read_big_endian"]) for x in s["length_fields"])
        return txt
    if n == "json-header":
        return (f"header reads {s['header_reads'][:-1]}, {s['body_reads']} body recv(≤1024) calls; "
                f"all {len(s['received'])} files md5-ok")
    if n == "ndjson":
        return (f"{len(s['recvs'])} recv(4096): {s['recvs_with_several_lines']} carry several lines, "
                f"{s['recvs_ending_mid_line']} end mid-line; naive json.loads fails on "
                f"{s['naive_json_loads_failures']}")
    if n == "udp-recvfrom":
        return "recvfrom(1024)→" + ", ".join(f"{r['returned']}{' (MSG_TRUNC)' if r['truncated'] else ''}"
                                           for r in s["recvfrom"])
    if n in ("nagle-on", "nagle-off"):
        a, b, c = s["phase_a"], s["phase_b"], s["phase_c"]
        return (f"A: 200 writes→{a['data_segments']} segs; "
                f"B: RTT median {b['rtt_median_ms']} ms, max {b['rtt_max_ms']} ms; "
                f"C: 200 writes→{c['data_segments']} segs, longest gap {c['longest_gap_between_segments_ms']} ms")
    return ""


SHORT = {
    "unframed-lagging-reader": "4 writes, 4 segments; a late reader's recv(10) glues two messages",
    "big-reply-small-recv": "one recv(4096) sees a third of a 10240-byte reply",
    "remote-command": "recv(1024) per command: output spills into later commands' answers",
    "length-prefix": "!I length + body, one write each; 70000-byte message spans segments",
    "length-prefix-two-writes": "header and body as two writes, Nagle on",
    "native-int-header": "struct.pack('i') little-endian length header",
    "json-header": "file transfer: int32 header length, JSON header, body",
    "ndjson": "one line per write (NODELAY), busy reader gets lines glued/split",
    "udp-recvfrom": "datagrams of 100/1024/1500/4000 read with recvfrom(1024)",
    "nagle-on": "Nagle + delayed ACK: coalesced bursts, ~40 ms write-write-read stalls",
    "nagle-off": "same traffic with TCP_NODELAY: no stalls",
}


def readme_table(out_dir: str) -> str:
    rows = ["| scenario | file | framing spec | demonstrates | wire (data segments per direction, payload lengths) "
            "| what the reader got |", "|---|---|---|---|---|---|"]
    for name in SCENARIOS:
        path = os.path.join(out_dir, f"{name}.truth.json")
        if not os.path.exists(path):
            continue
        t = json.load(open(path))
        rows.append(f"| {name} | `{name}.pcap` | `{t['framing']['spec']}` | {SHORT[name]} | {_wire_cell(t)} "
                     f"| {_naive_cell(t)} |")
    return "\n".join(rows)


def update_readme(out_dir: str) -> None:
    path = os.path.join(out_dir, "README.md")
    text = open(path).read()
    a, b = text.index(BEGIN_MARK) + len(BEGIN_MARK), text.index(END_MARK)
    dates = sorted(json.load(open(os.path.join(out_dir, f"{n}.truth.json")))["provenance"]["date_utc"]
                   for n in SCENARIOS if os.path.exists(os.path.join(out_dir, f"{n}.truth.json")))
    stamp = f"\n\nCaptured {dates[0][:10]} (UTC) on this machine's loopback (kernel {platform.release()}).\n\n"
    text = text[:a] + stamp + readme_table(out_dir) + "\n\n" + text[b:]
    open(path, "w").write(text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=["list", "server", "client", "finalize", "port", "readme"])
    ap.add_argument("name", nargs="?")
    ap.add_argument("--state", default="/var/tmp/sticky-scenarios")
    ap.add_argument("--pcap")
    ap.add_argument("--out")
    a = ap.parse_args()
    if a.action == "list":
        print("\n".join(SCENARIOS))
        return 0
    if a.action == "readme":
        update_readme(a.out or os.path.join(HERE, "..", "..", "captures", "scenarios"))
        return 0
    if a.name not in SCENARIOS:
        ap.error(f"unknown scenario {a.name!r}")
    sc = SCENARIOS[a.name]
    if a.action == "port":
        print(f"{sc['transport']} {sc['port']}")
        return 0
    if a.action == "finalize":
        return finalize(a.name, a.state, a.pcap, a.out)
    os.makedirs(a.state, exist_ok=True)
    ready = os.path.join(a.state, f"{a.name}.ready")
    server_fn, client_fn = PROGRAMS[a.name]
    side = Side(a.action)
    if a.action == "server":
        if os.path.exists(ready):
            os.unlink(ready)
        server_fn(sc["port"], ready, side, None)
    else:
        client_fn(sc["port"], ready, side)
    with open(os.path.join(a.state, f"{a.name}.{a.action}.json"), "w") as f:
        json.dump(side.dump(), f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
