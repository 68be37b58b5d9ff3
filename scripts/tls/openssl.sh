#!/usr/bin/env bash
# openssl s_server -rev and s_client on 127.0.0.1, one connection per case,
# the client writing its secrets to a key log.
# Output: captures/tls/openssl-tls12.{pcap,keys,oracle.json} (every TLS 1.2
# suite decrypted, CBC with and without encrypt-then-MAC, sessions resumed
# by ID and by ticket) and captures/tls/openssl-tls13.{pcap,keys,oracle.json}
# (the three suites, KeyUpdate both ways, HelloRetryRequest, resumption).
source "$(dirname "$0")/lib.sh"
BASE="${TLS_PORT_BASE:-24430}"

pair() {  # pair PORT [openssl_pair.py options...] LINES...
    local port="$1"; shift
    fs_port_free "$port"
    python3 "$TLS_DIR/openssl_pair.py" --port "$port" --cert "$FS_TMP/cert.pem" \
        --key "$FS_TMP/key.pem" --keylog "$TLS_KEYLOG" "$@"
    fs_wait_port_closed "$port"
}

LINES=(hello "a longer line, long enough to be worth framing" "$(printf 'x%.0s' $(seq 3000))" bye)

run12() {
    tls_init openssl-tls12
    fs_capture_start "tcp portrange $BASE-$((BASE + 19))"
    local p=$BASE c
    for c in ECDHE-RSA-AES128-GCM-SHA256 ECDHE-RSA-AES256-GCM-SHA384 \
             ECDHE-RSA-CHACHA20-POLY1305 \
             ECDHE-RSA-AES128-SHA ECDHE-RSA-AES256-SHA \
             ECDHE-RSA-AES128-SHA256 ECDHE-RSA-AES256-SHA384; do
        pair $p --server="-tls1_2 -cipher $c" "--client=-tls1_2 -cipher $c" "${LINES[@]}"
        p=$((p + 1))
        case $c in *GCM*|*CHACHA*) continue;; esac
        # CBC again without encrypt-then-MAC (MAC-then-encrypt).
        pair $p --server="-tls1_2 -cipher $c -no_etm" "--client=-tls1_2 -cipher $c -no_etm" "${LINES[@]}"
        p=$((p + 1))
    done
    # Resumption by session ID, then by ticket.
    pair $p --connections 2 --session "$FS_TMP/id.sess" --server=-tls1_2 \
        "--client=-tls1_2 -no_ticket" hello bye
    pair $((p + 1)) --connections 2 --session "$FS_TMP/ticket.sess" --server=-tls1_2 \
        --client=-tls1_2 hello bye
    fs_capture_stop
    tls_finish
}

run13() {
    tls_init openssl-tls13
    fs_capture_start "tcp portrange $BASE-$((BASE + 19))"
    local p=$BASE s
    for s in TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384 TLS_CHACHA20_POLY1305_SHA256; do
        pair $p --server="-tls1_3 -ciphersuites $s" "--client=-tls1_3 -ciphersuites $s" \
            "${LINES[@]}"
        p=$((p + 1))
    done
    # KeyUpdate asking the peer to update too (both directions change keys).
    pair $p --server=-tls1_3 --client=-tls1_3 hello K "after the update" K bye
    # HelloRetryRequest: the client's key share is for X25519, the server
    # takes P-256 only.
    pair $((p + 1)) "--server=-tls1_3 -groups P-256" "--client=-tls1_3 -groups X25519:P-256" \
        hello bye
    # Resumption with a ticket (PSK).
    pair $((p + 2)) --connections 2 --session "$FS_TMP/t13.sess" --server=-tls1_3 \
        --client=-tls1_3 hello bye
    fs_capture_stop
    tls_finish
}

case "${1:-all}" in
    12) run12 ;;
    13) run13 ;;
    all) "$0" 12 && "$0" 13 ;;
    *) fs_die "usage: $0 [12|13|all]" ;;
esac
