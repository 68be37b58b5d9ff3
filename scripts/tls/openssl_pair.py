#!/usr/bin/env python3
"""Run one openssl s_server / s_client conversation on 127.0.0.1.

The server is `openssl s_server -rev` (it sends every line back reversed);
the client sends LINES one by one and waits, after each, for its reversed
echo on the client's standard output (the event, never a timer). `K` as a
line asks the client for a KeyUpdate that also updates the server's keys.
The client writes its secrets to --keylog (the NSS key log format).

    openssl_pair.py --port P --cert C --key K --keylog F [--server=ARGS]...
        [--client=ARGS]... [--connections N --session FILE] LINE...

With --connections N the client connects N times, saving the session after
the first and resuming it after (`-sess_out`, `-sess_in`).
"""
import argparse
import os
import select
import subprocess
import sys
import time

DEADLINE = 20.0


def wait_for(proc, stream, needle, what):
    """Read `stream` until `needle` appears; fail after DEADLINE seconds."""
    buf = b""
    end = time.monotonic() + DEADLINE
    fd = stream.fileno()
    while needle not in buf:
        left = end - time.monotonic()
        if left <= 0:
            sys.exit(f"timed out waiting for {what}: {buf[-400:]!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                sys.exit(f"{what}: stream closed (exit {proc.poll()}): {buf[-400:]!r}")
            buf += chunk
    return buf


def words(args):
    """Options given as `--server="-tls1_3 -groups P-256"`, split on spaces."""
    return [w for a in args for w in a.split()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--keylog", required=True)
    ap.add_argument("--server", action="append", default=[])
    ap.add_argument("--client", action="append", default=[])
    ap.add_argument("--connections", type=int, default=1)
    ap.add_argument("--session", default=None, help="session file for resumption")
    ap.add_argument("lines", nargs="+")
    a = ap.parse_args()

    server = subprocess.Popen(
        ["openssl", "s_server", "-accept", f"127.0.0.1:{a.port}", "-cert", a.cert,
         "-key", a.key, "-rev", "-naccept", str(a.connections)] + words(a.server),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for(server, server.stdout, b"ACCEPT", "s_server to listen")
        for n in range(a.connections):
            sess = []
            if a.connections > 1:
                sess = ["-sess_out", a.session] if n == 0 else ["-sess_in", a.session]
            client = subprocess.Popen(
                ["openssl", "s_client", "-connect", f"127.0.0.1:{a.port}",
                 "-keylogfile", a.keylog] + sess + words(a.client),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            # "New, TLSv1.3, Cipher is ..." or "Reused, ...": the handshake
            # summary.
            out = wait_for(client, client.stdout, b", Cipher is ", "the handshake")
            if n > 0 and b"Reused," not in out:
                sys.exit("session was not resumed")
            for line in a.lines:
                client.stdin.write(line.encode() + b"\n")
                client.stdin.flush()
                if line in ("K", "k"):
                    wait_for(client, client.stdout, b"KEYUPDATE", "the key update")
                    continue
                wait_for(client, client.stdout, line[::-1].encode(), f"echo of {line!r}")
            client.stdin.close()
            if client.wait(timeout=DEADLINE) != 0:
                sys.exit(f"s_client exited with {client.returncode}")
        server.wait(timeout=DEADLINE)
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
