#!/usr/bin/env python3
"""The traffic of benches/tls.sh: one connection on 127.0.0.1 carrying
length-prefixed messages (4-byte big-endian length, 10 to 2,000 bytes of
body, seeded), in TLS 1.3 with AES-128-GCM (the client writes its secrets
to a key log), or in the clear: the same messages in the same writes.

    tls_traffic.py PORT MEGABYTES tls KEYLOG
    tls_traffic.py PORT MEGABYTES plain

The server reads everything and answers each batch of 64 messages with 4
bytes, so both directions carry data. Needs `openssl` to make a throwaway
certificate.
"""
import os
import random
import socket
import ssl
import subprocess
import sys
import tempfile
import threading


def messages(total):
    rng = random.Random(7)
    body = bytes(rng.getrandbits(8) for _ in range(2000))
    sent = 0
    while sent < total:
        batch = bytearray()
        for _ in range(64):
            n = rng.randint(10, 2000)
            batch += n.to_bytes(4, "big") + body[:n]
        sent += len(batch)
        yield bytes(batch)


def main():
    port, mb, mode = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    total = int(mb * 1e6)
    listener = socket.create_server(("127.0.0.1", port))
    server_ctx = client_ctx = None
    if mode == "tls":
        tmp = tempfile.mkdtemp()
        cert, key = os.path.join(tmp, "c.pem"), os.path.join(tmp, "k.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj",
                        "/CN=localhost", "-keyout", key, "-out", cert],
                       check=True, capture_output=True)
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(cert, key)
        server_ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        client_ctx.check_hostname = False
        client_ctx.verify_mode = ssl.CERT_NONE
        client_ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        client_ctx.keylog_filename = sys.argv[4]
        # TLS 1.3 suites are set through OpenSSL's defaults: AES-128-GCM
        # comes first.

    def serve():
        conn, _ = listener.accept()
        if server_ctx:
            conn = server_ctx.wrap_socket(conn, server_side=True)
        got = 0
        while True:
            try:
                chunk = conn.recv(1 << 16)
            except (ssl.SSLError, OSError):
                break
            if not chunk:
                break
            got += len(chunk)
            while got >= 64 * 1000:
                got -= 64 * 1000
                conn.sendall(b"ack\n")
        conn.close()

    t = threading.Thread(target=serve)
    t.start()
    sock = socket.create_connection(("127.0.0.1", port))
    if client_ctx:
        sock = client_ctx.wrap_socket(sock, server_hostname="localhost")
    for batch in messages(total):
        sock.sendall(batch)
    # FIN without close_notify: the server's read ends there either way.
    sock.shutdown(socket.SHUT_WR)
    try:
        while sock.recv(1 << 16):
            pass
    except (ssl.SSLError, OSError):
        pass
    sock.close()
    t.join()


if __name__ == "__main__":
    main()
