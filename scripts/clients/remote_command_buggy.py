#!/usr/bin/env python3
"""A remote-command client with the classic bug: it reads each command's
output with one recv(1024). An output longer than that is cut, and its rest
is printed as the answer to the next command; on loopback, where a reply
usually arrives in one piece, only the length of the first read hides it.

    remote_command_buggy.py PORT   (or FRAMESCOPE_PORT)
"""
import os
import socket
import sys

port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ["FRAMESCOPE_PORT"])
s = socket.create_connection((os.environ.get("FRAMESCOPE_HOST", "127.0.0.1"), port))
for cmd in ["uptime", "ls", "ps", "df", "uptime"]:
    s.sendall(cmd.encode() + b"\n")
    data = s.recv(1024)
    # The first 4 bytes are the length; the bug takes the rest as it comes.
    print(f"$ {cmd}")
    print(data[4:].decode(errors="replace"))
s.close()
