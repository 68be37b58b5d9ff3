#!/usr/bin/env python3
"""Drive a TLS redis-server with redis-py (Debian's python3-redis), whose
ssl context is Python's default one, so it writes its secrets to the file
SSLKEYLOGFILE names.

Connections:
  0. single commands, one request and reply at a time;
  1. a pipeline of 20 commands sent in one write (several RESP commands in
     one TLS record), then a 200 KB SET and GET (a message over records);
  2. a transaction (MULTI/EXEC) and a hash.

Writes a truth file: the commands each connection sent (redis-py counts
each pipeline entry), so that the RESP messages framescope frames can be
checked against what was sent.
"""
import argparse
import json

import redis


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--truth", required=True)
    a = ap.parse_args()

    def conn():
        return redis.Redis(host="127.0.0.1", port=a.port, ssl=True,
                           ssl_ca_certs=a.ca, ssl_check_hostname=False)

    sent = []
    r = conn()
    assert r.ping()
    r.set("greeting", "hello over tls")
    assert r.get("greeting") == b"hello over tls"
    assert r.incr("counter") == 1
    assert r.incrby("counter", 41) == 42
    r.rpush("letters", *"abcdefghijklmnopqrstuvwxyz")
    assert len(r.lrange("letters", 0, -1)) == 26
    sent.append(7)
    r.close()

    r = conn()
    p = r.pipeline(transaction=False)
    for i in range(20):
        p.set(f"k{i}", f"v{i}")
    assert all(p.execute())
    big = ("0123456789abcdef" * 12800).encode()
    r.set("bigkey", big)
    assert r.get("bigkey") == big
    sent.append(22)
    r.close()

    r = conn()
    p = r.pipeline(transaction=True)
    p.hset("h", mapping={"f1": 1, "f2": 2, "f3": 3})
    p.hgetall("h")
    p.delete("k0", "k1")
    p.execute()
    assert r.hget("h", "f2") == b"2"
    # MULTI, 3 commands, EXEC; then HGET.
    sent.append(6)
    r.close()

    with open(a.truth, "w") as f:
        json.dump({"protocol": "RESP (redis-py over TLS)",
                   "connections": [{"commands": n} for n in sent]}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
