#!/usr/bin/env bash
# Captures real client sessions for `framescope replay` and `fuzz-server`:
# each server is started by scripts/servers/serve.sh (as tests/replay.rs
# starts it to replay them), driven by its real clients, and captured on lo.
#
#   scripts/servers/replay-sessions.sh [redis memcached mosquitto nginx]
#
# Output, in captures/replay/:
#   redis.pcap      stream 0: redis-cli, SET / INCR / INCRBY / GET (counters
#                   change from run to run); stream 1: redis-cli, 200 SETs of
#                   500-byte values (about 100 KB)
#   memcached.pcap  stream 0: a text-protocol session (set, get, incr,
#                   append, delete) ending in `quit`
#   mosquitto.pcap  stream 0: mosquitto_rr, QoS 1 subscribe and publish on one
#                   connection (it receives its own message); stream 1:
#                   mosquitto_pub, 5 QoS 1 messages on one connection
#   nginx.pcap      stream 0: curl, 4 static pages on one keep-alive
#                   connection (one of them missing: 404)
# Needs root (tcpdump on lo); installs missing packages with apt-get.
source "$(dirname "$0")/lib.sh"
FS_OUT_DIR="$FS_REPO/captures/replay"
SERVE="$FS_LIB_DIR/serve.sh"

serve() {  # serve NAME PORT: start the server in the background, wait for it
    bash "$SERVE" "$1" "$2" "$FS_TMP/$1" &
    fs_track_pid $! "$1"
    fs_wait_port "$2" $!
}

session_redis() {
    fs_init redis
    fs_ensure_base redis-server redis-tools
    local port=26379
    fs_port_free "$port"
    serve redis "$port"
    fs_capture_start "tcp port $port"
    redis-cli -h 127.0.0.1 -p "$port" >/dev/null <<'CMDS'
SET greeting "hello world"
GET greeting
INCR counter
INCRBY counter 41
GET counter
SET session:42 active
INCR visits
GET session:42
DEL greeting
CMDS
    python3 -c '
for i in range(200):
    print("SET key:%03d %s" % (i, ("%03d" % i) * 166 + "xy"))' \
        | redis-cli -h 127.0.0.1 -p "$port" >/dev/null
    fs_capture_stop
}

session_memcached() {
    fs_init memcached
    fs_ensure_base memcached
    local port=21711
    fs_port_free "$port"
    serve memcached "$port"
    fs_capture_start "tcp port $port"
    python3 - "$port" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
buf = b""
def req(data, end):
    global buf
    s.sendall(data)
    while end not in buf:
        d = s.recv(65536)
        if not d:
            raise SystemExit("connection closed")
        buf += d
    i = buf.index(end) + len(end)
    buf = buf[i:]
req(b"set greeting 0 0 11\r\nhello world\r\n", b"\r\n")
req(b"get greeting\r\n", b"END\r\n")
req(b"set n 0 0 2\r\n10\r\n", b"\r\n")
req(b"incr n 5\r\n", b"\r\n")
req(b"append greeting 0 0 1\r\n!\r\n", b"\r\n")
req(b"get greeting n\r\n", b"END\r\n")
req(b"delete n\r\n", b"\r\n")
s.sendall(b"quit\r\n")
while s.recv(65536):
    pass
s.close()
PY
    fs_capture_stop
}

session_mosquitto() {
    fs_init mosquitto
    fs_ensure_base mosquitto mosquitto-clients
    local port=21883
    fs_port_free "$port"
    serve mosquitto "$port"
    fs_capture_start "tcp port $port"
    # One connection: subscribe to fs/echo (QoS 1), publish to it (QoS 1),
    # receive the message back, disconnect.
    mosquitto_rr -h 127.0.0.1 -p "$port" -i fs-rr -q 1 -t fs/echo -e fs/echo -m 'request' -W 10 >/dev/null
    printf 'message %d\n' 1 2 3 4 5 \
        | mosquitto_pub -h 127.0.0.1 -p "$port" -i fs-pub -q 1 -t fs/lines -l
    fs_capture_stop
}

session_nginx() {
    fs_init nginx
    fs_ensure_base nginx-light curl
    local port=28080
    fs_port_free "$port"
    serve nginx "$port"
    fs_capture_start "tcp port $port"
    local b="http://127.0.0.1:$port"
    curl -sS --http1.1 "$b/index.html" "$b/small.txt" "$b/page.txt" "$b/missing.html" \
        -o /dev/null -o /dev/null -o /dev/null -o /dev/null
    fs_capture_stop
}

names=("$@")
[[ ${#names[@]} -gt 0 ]] || names=(redis memcached mosquitto nginx)
failed=()
for n in "${names[@]}"; do
    ( "session_$n" ) || failed+=("$n")
done
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "FAILED: ${failed[*]}" >&2
    exit 1
fi
