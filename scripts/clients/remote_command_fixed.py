#!/usr/bin/env python3
"""The remote-command client, fixed: it reads the 4-byte length, then
exactly that many bytes, however the stream is cut.

    remote_command_fixed.py PORT   (or FRAMESCOPE_PORT)
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
for cmd in ["uptime", "ls", "ps", "df", "uptime"]:
    s.sendall(cmd.encode() + b"\n")
    (n,) = struct.unpack(">I", read_exact(s, 4))
    print(f"$ {cmd}")
    print(read_exact(s, n).decode(errors="replace"))
s.close()
