#!/usr/bin/env python3
"""The long-reply client, fixed: it reads the 4-byte length, then loops on
recv() until the whole reply is in.

    long_reply_fixed.py PORT   (or FRAMESCOPE_PORT)
"""
import hashlib
import os
import socket
import struct
import sys


def read_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise ConnectionError("the server closed early")
        data += chunk
    return data


port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ["FRAMESCOPE_PORT"])
s = socket.create_connection((os.environ.get("FRAMESCOPE_HOST", "127.0.0.1"), port))
for i in range(3):
    s.sendall(f"report {i}\n".encode())
    (n,) = struct.unpack(">I", read_exact(s, 4))
    data = read_exact(s, n)
    print(f"reply {i}: {n} bytes, sha256 {hashlib.sha256(data).hexdigest()[:16]}")
s.close()
