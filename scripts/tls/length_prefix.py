#!/usr/bin/env python3
"""Python's ssl speaking a 4-byte length-prefixed protocol on 127.0.0.1.

Two connections, the client writing the same steps on each (each step
waits for the server's answers to the one before):

  1. one message in one write              (one TLS record)
  2. one message in two writes, 4 + rest   (a message split over records)
  3. three messages in one write           (three messages in one record)
  4. one 40,000-byte message in one write  (one message over three records)

Connection 0 is answered by a correct reader, which reads exactly the
prefixed length and answers each message with "ok N". Connection 1 by the
classic bug: one SSL_read() taken as one message, answered with "got N";
what each SSL_read() returned is recorded in the truth file, with the
length and SHA-256 of everything each side sent (the plaintext).

    length_prefix.py --port P --cert C --key K --keylog F --truth T.json
"""
import argparse
import hashlib
import json
import socket
import ssl
import struct
import sys
import threading

STEPS = [
    [[b"hello"]],
    [[b"split", "header-then-body"]],
    [[b"one", b"two", b"three"]],
    [[b"z" * 40000]],
]


def frame(body):
    return struct.pack(">I", len(body)) + body


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        d = s.recv(n - len(buf))
        if not d:
            raise EOFError
        buf += d
    return buf


def serve(listener, ctx, truth):
    for conn_no in range(2):
        raw, _ = listener.accept()
        s = ctx.wrap_socket(raw, server_side=True)
        reads = []
        sent = hashlib.sha256()
        sent_len = 0
        try:
            while True:
                if conn_no == 0:
                    try:
                        n = struct.unpack(">I", recv_exact(s, 4))[0]
                        recv_exact(s, n)
                    except EOFError:
                        break
                    answer = frame(b"ok %d" % n)
                    s.sendall(answer)
                    sent.update(answer)
                    sent_len += len(answer)
                else:
                    d = s.recv(65536)  # the bug: one SSL_read() = one message
                    if not d:
                        break
                    reads.append(len(d))
                    answer = frame(b"got %d" % len(d))
                    s.sendall(answer)
                    sent.update(answer)
                    sent_len += len(answer)
        finally:
            truth["connections"][conn_no]["server_reads"] = reads
            truth["connections"][conn_no]["server_sent"] = {
                "len": sent_len, "sha256": sent.hexdigest()}
            try:
                s.unwrap()
            except (ssl.SSLError, OSError):
                pass
            s.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--keylog", required=True)
    ap.add_argument("--truth", required=True)
    a = ap.parse_args()

    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(a.cert, a.key)
    cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cctx.check_hostname = False
    cctx.verify_mode = ssl.CERT_NONE
    cctx.keylog_filename = a.keylog
    truth = {"protocol": "4-byte big-endian length + body",
             "connections": [{"reader": "exact", "client_writes": []},
                             {"reader": "one SSL_read() = one message", "client_writes": []}]}
    listener = socket.create_server(("127.0.0.1", a.port))
    server = threading.Thread(target=serve, args=(listener, sctx, truth), daemon=True)
    server.start()
    for conn_no in range(2):
        s = cctx.wrap_socket(socket.create_connection(("127.0.0.1", a.port)))
        writes = truth["connections"][conn_no]["client_writes"]
        client_hash = hashlib.sha256()
        for step in STEPS:
            msgs = step[0]
            if len(msgs) == 2 and isinstance(msgs[1], str):
                whole = frame(msgs[0])
                parts = [whole[:4], whole[4:]]
                msgs = msgs[:1]
            else:
                parts = [b"".join(frame(m) for m in msgs)]
            for p in parts:
                s.sendall(p)
                client_hash.update(p)
                writes.append(len(p))
            # Wait for the answers that cover every byte just sent.
            sent = sum(len(p) for p in parts)
            seen = 0
            while seen < (len(msgs) if conn_no == 0 else sent):
                n = struct.unpack(">I", recv_exact(s, 4))[0]
                answer = recv_exact(s, n)
                seen += 1 if conn_no == 0 else int(answer.split()[1])
        truth["connections"][conn_no]["client_sent"] = {
            "len": sum(writes), "sha256": client_hash.hexdigest()}
        s.unwrap()
        s.close()
    server.join(timeout=20)
    listener.close()
    if server.is_alive():
        sys.exit("server did not finish")
    with open(a.truth, "w") as f:
        json.dump(truth, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
