#!/usr/bin/env bash
# Python's ssl (client and server in one program) speaking a 4-byte
# length-prefixed protocol, with a correct reader and with the reader that
# takes one SSL_read() for one message (scripts/tls/length_prefix.py).
# Output: captures/tls/python-length.{pcap,keys,oracle.json,truth.json}
source "$(dirname "$0")/lib.sh"
tls_init python-length
PORT="${TLS_PYTHON_PORT:-24470}"
fs_port_free "$PORT"
fs_capture_start "tcp port $PORT"
python3 "$TLS_DIR/length_prefix.py" --port "$PORT" --cert "$FS_TMP/cert.pem" \
    --key "$FS_TMP/key.pem" --keylog "$TLS_KEYLOG" --truth "$FS_OUT_DIR/python-length.truth.json"
fs_capture_stop
# tshark's Kafka dissector frames 4-byte big-endian lengths (kafka.len).
tls_finish --decode-as "tls.port==$PORT,kafka" --count kafka:kafka.len
