#!/usr/bin/env bash
# Real redis-server on 127.0.0.1:16379 driven by redis-cli, redis-benchmark
# (pipelined) and a raw socket sending inline commands.
# Output: captures/servers/redis.pcap, captures/servers/redis.tshark.json
source "$(dirname "$0")/lib.sh"
fs_init redis
PORT="${REDIS_PORT:-16379}"
fs_ensure_base redis-server redis-tools
fs_port_free "$PORT"

redis-server --bind 127.0.0.1 --port "$PORT" --dir "$FS_TMP" --save '' \
    --appendonly no --daemonize no --protected-mode no --loglevel warning \
    --logfile "$FS_TMP/redis.log" --unixsocket '' &
fs_track_pid $! redis-server
fs_wait_port "$PORT" $!

CLI=(redis-cli -h 127.0.0.1 -p "$PORT")
# 200 KB value (deterministic content)
python3 -c 'import sys; sys.stdout.write(("0123456789abcdef" * 12800))' > "$FS_TMP/big.txt"

fs_capture_start "tcp port $PORT"

# 1. One connection, several commands with different reply types.
"${CLI[@]}" >/dev/null <<'CMDS'
PING
SET greeting "hello world"
GET greeting
INCR counter
INCRBY counter 41
MSET k1 v1 k2 v2 k3 v3
MGET k1 k2 k3 missing
RPUSH list a b c d e f g h i j k l m n o p q r s t u v w x y z
LRANGE list 0 -1
HSET h f1 1 f2 2 f3 3
HGETALL h
GET list
DEL k1 k2 k3
EXISTS greeting
CMDS

# 2. Large value: 200 KB SET (value from stdin) then GET on new connections.
"${CLI[@]}" -x SET bigkey < "$FS_TMP/big.txt" >/dev/null
"${CLI[@]}" GET bigkey > "$FS_TMP/big.out"
"${CLI[@]}" STRLEN bigkey

# 3. RESP3: HELLO 3 then map / set / double / null replies.
"${CLI[@]}" -3 >/dev/null <<'CMDS'
HELLO 3
HGETALL h
SADD s x y z
SMEMBERS s
ZADD z 1.5 a 2.5 b
ZSCORE z a
GET nothing
CMDS

# 4. Inline commands (no RESP array framing) on a raw socket.
python3 - "$PORT" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"PING\r\nSET inline value\r\nGET inline\r\n")
buf = b""
while buf.count(b"\r\n") < 4:          # +PONG, +OK, $5 + value
    buf += s.recv(4096)
s.sendall(b"QUIT\r\n")
while s.recv(4096):
    pass
s.close()
PY

# 5. Pipelining: 16 commands per write, 4 clients, 2000 requests per test.
redis-benchmark -h 127.0.0.1 -p "$PORT" -t set,get -n 2000 -P 16 -c 4 -d 64 -q \
    > "$FS_TMP/bench.txt"
cat "$FS_TMP/bench.txt" >&2

fs_capture_stop
fs_summarize --port "$PORT" --proto resp --decode-as "tcp.port==$PORT,resp" \
    --server-pkgs "$(fs_pkg_versions redis-server redis-tools)" \
    --traffic "redis-cli (14 commands on one connection; 200 KB SET via -x and GET; RESP3 HELLO 3 session), raw socket with inline commands, redis-benchmark -t set,get -n 2000 -P 16 -c 4 -d 64"
