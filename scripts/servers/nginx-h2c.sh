#!/usr/bin/env bash
# Real nginx on 127.0.0.1:18081 speaking cleartext HTTP/2 (prior knowledge,
# nginx 1.22 `listen ... http2;`), driven by curl --http2-prior-knowledge and nghttp.
# Output: captures/servers/nginx-h2c.pcap, captures/servers/nginx-h2c.tshark.json
source "$(dirname "$0")/lib.sh"
fs_init nginx-h2c
PORT="${NGINX_H2C_PORT:-18081}"
fs_ensure_base nginx curl nghttp2-client
fs_port_free "$PORT"
fs_nginx_start "$PORT" "http2"
B="http://127.0.0.1:$PORT"
python3 -c 'import sys; sys.stdout.write("field=" + "y" * 40000)' > "$FS_TMP/post.txt"

expect_codes() {
    local got
    got="$(tr '\n' ' ' | sed 's/ *$//')"
    [[ "$got" == "$1" ]] || fs_die "expected HTTP codes '$1', got '$got'"
}
C=(curl -sS --http2-prior-knowledge -w '%{http_version} %{http_code}\n')

fs_capture_start "tcp port $PORT"

# curl 7.88.1 (bookworm) cannot reuse a prior-knowledge h2c connection: the
# 2nd request on it fails with "(16) Error in the HTTP2 framing layer", also
# with -Z. So curl makes one request per connection, and nghttp (nghttp2's
# client, h2c with prior knowledge for http:// URIs) puts several requests on
# one connection, concurrently.
# 1. curl, one connection each: page, 300 KB, gzip, HEAD, 304, 404, POST 40 KB
"${C[@]}" -o /dev/null "$B/index.html" | expect_codes "2 200"
"${C[@]}" -o /dev/null "$B/big.bin" | expect_codes "2 200"
"${C[@]}" --compressed -o /dev/null "$B/data.json" | expect_codes "2 200"
"${C[@]}" -I -o /dev/null "$B/big.bin" | expect_codes "2 200"
"${C[@]}" -o /dev/null -H 'If-Modified-Since: Mon, 01 Jan 2024 00:00:00 GMT' "$B/old.txt" | expect_codes "2 304"
"${C[@]}" -o /dev/null "$B/nope" | expect_codes "2 404"
"${C[@]}" -o /dev/null --data-binary "@$FS_TMP/post.txt" "$B/echo" | expect_codes "2 200"
# 2. nghttp: 6 concurrent requests multiplexed on one connection (interleaved
#    DATA frames of two 300 KB bodies), then a POST on another connection
nghttp -n -s "$B/index.html" "$B/big.bin?copy=1" "$B/data.json" "$B/big.bin?copy=2" "$B/small.txt" "$B/nope" \
    > "$FS_TMP/nghttp1.txt"
[[ $(grep -Ec ' (200|404) +[0-9.]+K? /' "$FS_TMP/nghttp1.txt") -eq 6 ]] \
    || { cat "$FS_TMP/nghttp1.txt" >&2; fs_die "nghttp multiplexed fetch failed"; }
nghttp -n -s -d "$FS_TMP/post.txt" "$B/echo" > "$FS_TMP/nghttp2.txt"
grep -Eq ' 200 ' "$FS_TMP/nghttp2.txt" || { cat "$FS_TMP/nghttp2.txt" >&2; fs_die "nghttp POST failed"; }

fs_capture_stop
fs_summarize --port "$PORT" --proto http2 --decode-as "tcp.port==$PORT,http2" \
    --server-pkgs "$(fs_pkg_versions nginx nginx-common curl nghttp2-client)" \
    --traffic "curl --http2-prior-knowledge, one request per connection: index.html, 300 KB big.bin, --compressed data.json, HEAD, If-Modified-Since -> 304, 404, POST 40 KB; nghttp -n: 6 concurrent requests on one connection (index.html, 2x 300 KB big.bin, data.json, small.txt, 404); nghttp -d: POST 40 KB" \
    --note "curl 7.88.1 fails to reuse a prior-knowledge h2c connection ((16) Error in the HTTP2 framing layer), so curl makes one request per connection; multiplexing comes from nghttp."
