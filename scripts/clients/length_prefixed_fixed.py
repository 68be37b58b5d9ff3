#!/usr/bin/env python3
"""The length-prefixed client, fixed: header and body are each read until
complete.

    length_prefixed_fixed.py PORT   (or FRAMESCOPE_PORT)
"""
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
for i in range(5):
    body = f"message {i} ".encode() * (1 + i * 20)
    s.sendall(struct.pack(">I", len(body)) + body)
    (n,) = struct.unpack(">I", read_exact(s, 4))
    reply = read_exact(s, n)
    print(f"message {i}: {len(reply)} of {n} bytes, {'same' if reply == body else 'different'}")
s.close()
