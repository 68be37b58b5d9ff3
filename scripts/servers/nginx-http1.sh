#!/usr/bin/env bash
# Real nginx on 127.0.0.1:18080 speaking HTTP/1.1, driven by curl and a
# python client that pipelines requests.
# Output: captures/servers/nginx-http1.pcap, captures/servers/nginx-http1.tshark.json
source "$(dirname "$0")/lib.sh"
fs_init nginx-http1
PORT="${NGINX_HTTP1_PORT:-18080}"
fs_ensure_base nginx curl
fs_port_free "$PORT"
fs_nginx_start "$PORT" ""
B="http://127.0.0.1:$PORT"
python3 -c 'import sys; sys.stdout.write("field=" + "x" * 50000)' > "$FS_TMP/post.txt"
python3 -c 'import sys; sys.stdout.write("".join("chunked body line %d\n" % i for i in range(2000)))' > "$FS_TMP/chunked.txt"

expect_codes() {  # expect_codes "200 200 404" <actual codes, one per line>
    local got
    got="$(tr '\n' ' ' | sed 's/ *$//')"
    [[ "$got" == "$1" ]] || fs_die "expected HTTP codes '$1', got '$got'"
}
C=(curl -sS --http1.1 -o /dev/null -w '%{http_code}\n')

fs_capture_start "tcp port $PORT"

# 1. keep-alive: four requests on one connection (incl. 300 KB body and a 404)
"${C[@]}" "$B/index.html" "$B/big.bin" "$B/data.json" "$B/nope" -o /dev/null -o /dev/null -o /dev/null \
    | expect_codes "200 200 200 404"
# 2. gzip-compressed response of unknown length -> Transfer-Encoding: chunked
"${C[@]}" --compressed "$B/data.json" | expect_codes "200"
# 3. HEAD
curl -sS --http1.1 -I -o /dev/null -w '%{http_code}\n' "$B/big.bin" | expect_codes "200"
# 4. conditional GET -> 304 Not Modified
"${C[@]}" -H 'If-Modified-Since: Mon, 01 Jan 2024 00:00:00 GMT' "$B/old.txt" | expect_codes "304"
# 5. POST with a 50 KB Content-Length body (curl may send Expect: 100-continue)
"${C[@]}" --data-binary "@$FS_TMP/post.txt" "$B/echo" | expect_codes "200"
# 6. POST with a chunked request body
"${C[@]}" -H 'Transfer-Encoding: chunked' --data-binary "@$FS_TMP/chunked.txt" "$B/echo" | expect_codes "200"
# 7. pipelining: 8 requests in one write, answers read afterwards
python3 - "$PORT" <<'PY'
import socket, sys
port = int(sys.argv[1])
h = "Host: 127.0.0.1:%d\r\nUser-Agent: framescope-pipeline/1\r\n" % port
body = b"a=1&b=2&c=" + b"z" * 1000
reqs = [
    b"GET /index.html HTTP/1.1\r\n" + h.encode() + b"\r\n",
    b"HEAD /big.bin HTTP/1.1\r\n" + h.encode() + b"\r\n",
    b"GET /data.json HTTP/1.1\r\n" + h.encode() + b"Accept-Encoding: gzip\r\n\r\n",
    b"GET /missing.txt HTTP/1.1\r\n" + h.encode() + b"\r\n",
    b"GET /old.txt HTTP/1.1\r\n" + h.encode() + b"If-Modified-Since: Mon, 01 Jan 2024 00:00:00 GMT\r\n\r\n",
    b"POST /echo HTTP/1.1\r\n" + h.encode() + b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n" % len(body) + body,
    b"GET /small.txt HTTP/1.1\r\n" + h.encode() + b"\r\n",
    b"GET /index.html HTTP/1.1\r\n" + h.encode() + b"Connection: close\r\n\r\n",
]
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"".join(reqs))
data = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    data += d
s.close()
import re
codes = re.findall(rb"HTTP/1\.1 (\d{3}) ", data)   # bodies here never contain that
want = [b"200", b"200", b"200", b"404", b"304", b"200", b"200", b"200"]
if codes != want:
    raise SystemExit("pipelined answers: %r" % codes)
PY

fs_capture_stop
fs_summarize --port "$PORT" --proto http --decode-as "tcp.port==$PORT,http" \
    --server-pkgs "$(fs_pkg_versions nginx nginx-common curl)" \
    --traffic "curl --http1.1: 4 GETs on one keep-alive connection (index.html, 300 KB big.bin, data.json, 404); --compressed data.json (gzip, chunked); HEAD; If-Modified-Since -> 304; POST 50 KB Content-Length body; POST chunked request body; python client: 8 pipelined requests in one write (GET, HEAD, gzip GET, 404, 304, POST, GET, GET Connection: close)"
