#!/usr/bin/env bash
# Real memcached on 127.0.0.1:11711 (text protocol) driven by the libmemcached
# tools (memccp, memccat, memcstat, memcslap) and a raw socket client.
# Output: captures/servers/memcached.pcap, captures/servers/memcached.tshark.json
source "$(dirname "$0")/lib.sh"
fs_init memcached
PORT="${MEMCACHED_PORT:-11711}"
fs_ensure_base memcached libmemcached-tools
fs_port_free "$PORT"

# -U 0: no UDP. -I 2m: allow the 500 KB items comfortably. -u root is only
# needed because the script runs as root.
memcached -l 127.0.0.1 -p "$PORT" -U 0 -m 64 -I 2m -c 64 -t 2 -u root &
fs_track_pid $! memcached
fs_wait_port "$PORT" $!

SERVERS="--servers=127.0.0.1:$PORT"
mkdir -p "$FS_TMP/files" "$FS_TMP/got"
python3 - "$FS_TMP/files" <<'PY'
import os, sys
d = sys.argv[1]
open(os.path.join(d, "small.txt"), "w").write("hello memcached\n")
open(os.path.join(d, "medium.txt"), "w").write("".join(f"line {i:05d}\n" for i in range(2000)))
# 500 KB, deterministic
open(os.path.join(d, "large.bin"), "wb").write(bytes((i * 7 + 3) % 251 for i in range(500 * 1024)))
PY

fs_capture_start "tcp port $PORT"

# 1. libmemcached tools: set (memccp), get (memccat), stats (memcstat).
(cd "$FS_TMP/files" && memccp "$SERVERS" small.txt medium.txt large.bin)
memccat "$SERVERS" small.txt medium.txt > "$FS_TMP/got/both.txt"
memccat "$SERVERS" --file="$FS_TMP/got/large.bin" large.bin
cmp "$FS_TMP/got/large.bin" "$FS_TMP/files/large.bin" || fs_die "large value round trip failed"
memcstat "$SERVERS" > "$FS_TMP/got/stats.txt"

# 2. Raw text protocol: set/add/get hit+miss, multi-get, gets/cas, incr/decr,
#    delete, a pipelined burst in one write, a 500 KB set+get, stats, version.
python3 - "$PORT" "$FS_TMP/files/large.bin" <<'PY'
import socket, sys
port, large_path = int(sys.argv[1]), sys.argv[2]
large = open(large_path, "rb").read()
s = socket.create_connection(("127.0.0.1", port))
buf = b""

def until(term, count=1):
    """read until `term` has been seen `count` more times; return the bytes"""
    global buf
    while buf.count(term) < count:
        d = s.recv(65536)
        if not d:
            raise SystemExit("connection closed")
        buf += d
    out = b""
    for _ in range(count):
        i = buf.index(term) + len(term)
        out, buf = out + buf[:i], buf[i:]
    return out

def req(data, term, count=1):
    s.sendall(data)
    return until(term, count)

assert req(b"set a 0 0 5\r\nalpha\r\n", b"\r\n") == b"STORED\r\n"
req(b"set b 5 0 4\r\nbeta\r\n", b"\r\n")
req(b"add a 0 0 1\r\nx\r\n", b"\r\n")                  # NOT_STORED
req(b"get a\r\n", b"END\r\n")
req(b"get nosuchkey\r\n", b"END\r\n")                   # miss: just END
req(b"get a b nosuchkey a\r\n", b"END\r\n")             # multi-get
r = req(b"gets a\r\n", b"END\r\n")
cas = r.split(b"\r\n")[0].split(b" ")[4]
req(b"cas a 0 0 6 " + cas + b"\r\nalpha2\r\n", b"\r\n")  # STORED
req(b"set n 0 0 2\r\n10\r\n", b"\r\n")
req(b"incr n 5\r\n", b"\r\n")
req(b"decr n 3\r\n", b"\r\n")
req(b"append a 0 0 3\r\n+++\r\n", b"\r\n")
req(b"delete b\r\n", b"\r\n")
req(b"delete b\r\n", b"\r\n")                            # NOT_FOUND
req(b"touch a 100\r\n", b"\r\n")
# pipelined: 20 sets and a 20-key multi-get in ONE write
burst = b"".join(b"set p%02d 0 0 %d\r\n%s\r\n" % (i, len(b"v" * (i + 1)), b"v" * (i + 1)) for i in range(20))
burst += b"get " + b" ".join(b"p%02d" % i for i in range(20)) + b"\r\n"
s.sendall(burst)
until(b"STORED\r\n", 20)
until(b"END\r\n")
# 500 KB value
req(b"set big 0 0 %d\r\n" % len(large) + large + b"\r\n", b"\r\n")
got = req(b"get big\r\n", b"END\r\n")
assert large in got
req(b"bogus_command\r\n", b"\r\n")                       # ERROR
req(b"stats\r\n", b"END\r\n")
req(b"stats slabs\r\n", b"END\r\n")
req(b"version\r\n", b"\r\n")
s.sendall(b"quit\r\n")
while s.recv(65536):
    pass
s.close()
PY

# 3. memcslap: a short bounded load (2 concurrent connections, 200 ops).
memcslap "$SERVERS" --concurrency=2 --execute-number=100 > "$FS_TMP/slap.txt" 2>&1 || true
cat "$FS_TMP/slap.txt" >&2

fs_capture_stop
fs_summarize --port "$PORT" --proto memcache --decode-as "tcp.port==$PORT,memcache" \
    --server-pkgs "$(fs_pkg_versions memcached libmemcached-tools)" \
    --traffic "memccp (3 files incl. 500 KB), memccat, memcstat; raw text-protocol socket: set/add/get hit+miss, multi-get, gets/cas, incr/decr, append, delete, touch, 20 sets + 20-key get in one write, 500 KB set+get, unknown command, stats, stats slabs, version, quit; memcslap --concurrency=2 --execute-number=100"
