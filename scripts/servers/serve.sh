#!/usr/bin/env bash
# Runs one real server in the foreground on 127.0.0.1:PORT, with its files
# (configuration, document root, logs) in DIR:
#
#   scripts/servers/serve.sh redis|memcached|mosquitto|nginx PORT DIR
#
# The server replaces this shell (exec), so the caller's process id is the
# server's: stopping it stops the server. scripts/servers/replay-sessions.sh
# captures client sessions against these servers (captures/replay/), and
# tests/replay.rs replays those sessions to servers started the same way, so
# that the served content is the same. Needs the server's Debian package
# (scripts/deps.sh --test installs them).
set -euo pipefail

if [[ $# -ne 3 ]]; then
    echo "usage: $0 redis|memcached|mosquitto|nginx PORT DIR" >&2
    exit 2
fi
name=$1 port=$2 dir=$3
mkdir -p "$dir"
root=0
[[ $(id -u) -eq 0 ]] && root=1

case $name in
redis)
    exec redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save '' \
        --appendonly no --daemonize no --protected-mode no --loglevel warning \
        --logfile "$dir/redis.log" --unixsocket ''
    ;;
memcached)
    user=()
    [[ $root -eq 1 ]] && user=(-u root)
    # -U 0: no UDP.
    exec memcached -l 127.0.0.1 -p "$port" -U 0 -m 64 -c 64 -t 2 "${user[@]}"
    ;;
mosquitto)
    {
        echo "listener $port 127.0.0.1"
        echo "allow_anonymous true"
        echo "persistence false"
        echo "log_dest file $dir/mosquitto.log"
        # subscribe: the capture script waits for a subscription in the log
        echo "log_type error"
        echo "log_type warning"
        echo "log_type subscribe"
        [[ $root -eq 1 ]] && echo "user root"
    } > "$dir/mosquitto.conf"
    exec mosquitto -c "$dir/mosquitto.conf"
    ;;
nginx)
    mkdir -p "$dir/www" "$dir/temp"
    printf '%s\n' '<!doctype html><html><head><title>framescope</title></head><body><h1>framescope test page</h1></body></html>' \
        > "$dir/www/index.html"
    printf 'small file\n' > "$dir/www/small.txt"
    for i in $(seq 1 200); do printf 'line %03d of a static text page\n' "$i"; done > "$dir/www/page.txt"
    # Fixed modification times: Last-Modified and ETag are the same on every
    # start, so only the Date header changes between runs.
    touch -d '2024-01-01 00:00:00 UTC' "$dir"/www/*
    cat > "$dir/nginx.conf" <<CONF
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 64; }
http {
    access_log $dir/access.log;
    client_body_temp_path $dir/temp/body;
    proxy_temp_path $dir/temp/proxy;
    fastcgi_temp_path $dir/temp/fastcgi;
    uwsgi_temp_path $dir/temp/uwsgi;
    scgi_temp_path $dir/temp/scgi;
    types { text/html html; text/plain txt; }
    default_type application/octet-stream;
    keepalive_requests 1000;
    keepalive_timeout 30s;
    server {
        listen 127.0.0.1:$port;
        server_name localhost;
        root $dir/www;
    }
}
CONF
    # One process (no master): stopping this pid stops nginx.
    exec nginx -p "$dir/" -e "$dir/error.log" -c "$dir/nginx.conf" \
        -g 'daemon off; master_process off;'
    ;;
*)
    echo "$0: unknown server $name (redis, memcached, mosquitto, nginx)" >&2
    exit 2
    ;;
esac
