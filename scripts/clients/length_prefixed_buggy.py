#!/usr/bin/env python3
"""A length-prefixed client that reads the header with one recv(4) and the
body with one recv(n). On loopback each message arrives whole and it works;
across a real network, a short read leaves it out of step.

    length_prefixed_buggy.py PORT   (or FRAMESCOPE_PORT)
"""
import os
import socket
import struct
import sys

port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ["FRAMESCOPE_PORT"])
s = socket.create_connection((os.environ.get("FRAMESCOPE_HOST", "127.0.0.1"), port))
for i in range(5):
    body = f"message {i} ".encode() * (1 + i * 20)
    s.sendall(struct.pack(">I", len(body)) + body)
    head = s.recv(4)
    if len(head) < 4:
        print(f"message {i}: short header {head!r}")
        continue
    (n,) = struct.unpack(">I", head)
    reply = s.recv(n)
    print(f"message {i}: {len(reply)} of {n} bytes, {'same' if reply == body else 'different'}")
s.close()
