#!/usr/bin/env python3
"""The servers the seed clients talk to, on 127.0.0.1.

    server.py remote-command PORT   # each line is a command; the reply is a
                                    # 4-byte big-endian length and its output
    server.py long-reply PORT       # each line gets a 10,240-byte reply
                                    # (4-byte length, then the body)
    server.py length-prefixed PORT  # echoes each length-prefixed message

PORT 0 takes a free port; the port is printed on the first line of stdout.
Serves connections one after the other until killed. The commands of
remote-command are a fixed table (no shell): their outputs are longer than
1024 bytes, as a real `ls -l /usr/bin` or `ps aux` would be.
"""
import socket
import struct
import sys

COMMANDS = {
    "ls": "\n".join(f"-rwxr-xr-x 1 root root {1000 + i * 37:>8} Jan  1 00:00 program-{i:03d}" for i in range(40)),
    "ps": "\n".join(f"root {100 + i:>6} 0.0 0.1 {2000 + i * 11:>8} ? S 00:00 /usr/sbin/daemon-{i}" for i in range(30)),
    "uptime": " 12:00:00 up 10 days,  3:04,  1 user,  load average: 0.00, 0.01, 0.05",
    "df": "\n".join(f"/dev/sda{i} {10_000_000 + i:>10} {5_000_000 + i:>10} {5_000_000 - i:>10}  50% /mnt/disk{i}" for i in range(25)),
}


def read_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def read_line(conn, buffered):
    while b"\n" not in buffered[0]:
        chunk = conn.recv(4096)
        if not chunk:
            return None
        buffered[0] += chunk
    line, _, rest = buffered[0].partition(b"\n")
    buffered[0] = rest
    return line.decode()


def framed(body):
    return struct.pack(">I", len(body)) + body


def serve(mode, conn):
    buffered = [b""]
    while True:
        if mode == "length-prefixed":
            head = read_exact(conn, 4)
            if head is None:
                return
            body = read_exact(conn, struct.unpack(">I", head)[0])
            if body is None:
                return
            conn.sendall(framed(body))
            continue
        line = read_line(conn, buffered)
        if line is None:
            return
        if mode == "remote-command":
            out = COMMANDS.get(line.strip(), f"{line.strip()}: command not found") + "\n"
            conn.sendall(framed(out.encode()))
        else:
            body = bytes((i * 7 + len(line)) % 26 + 65 for i in range(10240))
            conn.sendall(framed(body))


def main():
    mode, port = sys.argv[1], int(sys.argv[2])
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(16)
    print(listener.getsockname()[1], flush=True)
    while True:
        conn, _ = listener.accept()
        with conn:
            serve(mode, conn)


if __name__ == "__main__":
    main()
