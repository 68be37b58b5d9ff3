#!/usr/bin/env bash
# Real nginx over TLS on 127.0.0.1, driven by curl writing its secrets to
# SSLKEYLOGFILE: HTTP/1.1 (keep-alive, a 300 KB body, chunked gzip, a 404,
# POST bodies) and HTTP/2 (the same requests multiplexed on one connection).
# Output: captures/tls/nginx-http1.{pcap,keys,oracle.json},
#         captures/tls/nginx-h2.{pcap,keys,oracle.json}
source "$(dirname "$0")/lib.sh"

run() {  # run NAME PORT LISTEN_FLAGS CURL_VERSION_FLAG
    local name="$1" port="$2" flags="$3" version="$4"
    tls_init "$name"
    fs_ensure_pkgs nginx curl
    fs_port_free "$port"
    FS_NGINX_EXTRA="ssl_certificate $FS_TMP/cert.pem; ssl_certificate_key $FS_TMP/key.pem; ssl_protocols TLSv1.2 TLSv1.3;" \
        fs_nginx_start "$port" "$flags"
    local B="https://127.0.0.1:$port"
    python3 -c 'import sys; sys.stdout.write("field=" + "x" * 50000)' > "$FS_TMP/post.txt"
    local C=(curl -sS -k "$version" -o /dev/null -w '%{http_code}\n')
    fs_capture_start "tcp port $port"
    export SSLKEYLOGFILE="$TLS_KEYLOG"
    codes="$("${C[@]}" "$B/index.html" "$B/big.bin" "$B/data.json" "$B/nope" \
        -o /dev/null -o /dev/null -o /dev/null | tr '\n' ' ')"
    [[ "$codes" == "200 200 200 404 " ]] || fs_die "keep-alive: got $codes"
    [[ "$("${C[@]}" --compressed "$B/data.json")" == 200 ]] || fs_die "gzip"
    [[ "$("${C[@]}" --data-binary "@$FS_TMP/post.txt" "$B/echo")" == 200 ]] || fs_die "post"
    # TLS 1.2 too (ECDHE-RSA-AES256-GCM-SHA384), one request.
    [[ "$("${C[@]}" --tls-max 1.2 "$B/small.txt")" == 200 ]] || fs_die "tls 1.2"
    unset SSLKEYLOGFILE
    fs_capture_stop
    shift 4
    tls_finish "$@"
}

P="${TLS_NGINX_PORT:-24460}"
case "${1:-all}" in
    http1) run nginx-http1 "$P" "ssl" --http1.1 \
        --count http:http.request.method --count http:http.response.code ;;
    h2) run nginx-h2 "$((P + 1))" "ssl http2" --http2 \
        --count http2:http2.type --count http2:http2.magic ;;
    all) "$0" http1 && "$0" h2 ;;
    *) fs_die "usage: $0 [http1|h2|all]" ;;
esac
