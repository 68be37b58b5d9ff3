#!/usr/bin/env python3
"""A client that reads a 10 KB reply with one recv(4096): it gets at most
4 KB of it, and the rest is read as the start of the next reply.

    long_reply_buggy.py PORT   (or FRAMESCOPE_PORT)
"""
import hashlib
import os
import socket
import sys

port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ["FRAMESCOPE_PORT"])
s = socket.create_connection((os.environ.get("FRAMESCOPE_HOST", "127.0.0.1"), port))
for i in range(3):
    s.sendall(f"report {i}\n".encode())
    data = s.recv(4096)
    print(f"reply {i}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()[:16]}")
s.close()
