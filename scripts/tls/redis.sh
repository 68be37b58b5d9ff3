#!/usr/bin/env bash
# Real redis-server (Debian's build, TLS on) on 127.0.0.1 with only a TLS
# port, driven by redis-py (Debian's python3-redis) writing its secrets to
# SSLKEYLOGFILE (scripts/tls/redis_client.py): single commands, a pipeline
# of 20 commands in one write, a 200 KB value, a transaction.
# Output: captures/tls/redis-tls.{pcap,keys,oracle.json,truth.json}
source "$(dirname "$0")/lib.sh"
tls_init redis-tls
fs_ensure_pkgs redis-server python3-redis
PORT="${TLS_REDIS_PORT:-24480}"
fs_port_free "$PORT"
redis-server --bind 127.0.0.1 --port 0 --tls-port "$PORT" \
    --tls-cert-file "$FS_TMP/cert.pem" --tls-key-file "$FS_TMP/key.pem" \
    --tls-ca-cert-file "$FS_TMP/cert.pem" --tls-auth-clients no \
    --dir "$FS_TMP" --save '' --appendonly no --daemonize no --protected-mode no \
    --loglevel warning --logfile "$FS_TMP/redis.log" --unixsocket '' &
fs_track_pid $! redis-server
fs_wait_port "$PORT" $!
fs_capture_start "tcp port $PORT"
# Debian's python3-redis is installed for the system interpreter.
SSLKEYLOGFILE="$TLS_KEYLOG" /usr/bin/python3 "$TLS_DIR/redis_client.py" --port "$PORT" \
    --ca "$FS_TMP/cert.pem" --truth "$FS_OUT_DIR/redis-tls.truth.json"
fs_capture_stop
tls_finish
