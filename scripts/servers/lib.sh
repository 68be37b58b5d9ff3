# shellcheck shell=bash
# Shared helpers for the real-server capture scripts in scripts/servers/.
#
# Every script sources this file, then:
#   fs_init NAME              # temp dir, EXIT trap, output paths
#   fs_ensure_pkgs pkg...     # install missing Debian packages
#   fs_port_free PORT         # refuse to run if something already listens there
#   ... start the server in $FS_TMP as a plain background process ...
#   fs_track_pid PID "what"   # stopped (SIGTERM, then SIGKILL) on exit
#   fs_wait_port PORT         # wait until it listens on 127.0.0.1:PORT
#   fs_capture_start "tcp port PORT"
#   ... drive the server with its real clients ...
#   fs_capture_stop
#   fs_summarize --port PORT --proto PROTO [--decode-as tcp.port==PORT,PROTO]
#
# Only 127.0.0.1 and high ports are used. Servers are never started through
# systemd; each one is a child of the script and is stopped by the EXIT trap,
# also when the script fails half way.

set -Eeuo pipefail

FS_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
FS_REPO="$(cd "$FS_LIB_DIR/../.." && pwd)"
FS_OUT_DIR="${FS_OUT_DIR:-$FS_REPO/captures/servers}"

FS_NAME=""
FS_TMP=""
FS_PCAP_TMP=""
FS_TCPDUMP_PID=""
FS_PIDS=()       # "pid:signal:description"
FS_CLEANUP=()    # extra shell snippets run on exit (in reverse order)
FS_APT_UPDATED=0

fs_log() { printf '[%s %s] %s\n' "${FS_NAME:-servers}" "$(date +%H:%M:%S)" "$*" >&2; }
fs_die() { fs_log "ERROR: $*"; exit 1; }

fs_init() {
    FS_NAME="$1"
    [[ $(id -u) -eq 0 ]] || fs_die "run as root (tcpdump on lo, apt-get, postgres user switch)"
    FS_TMP="$(mktemp -d "/tmp/framescope-$FS_NAME.XXXXXX")"
    chmod 755 "$FS_TMP"
    FS_PCAP_TMP="$FS_TMP/$FS_NAME.pcap"
    mkdir -p "$FS_OUT_DIR"
    trap fs_on_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    fs_log "temp dir $FS_TMP"
}

fs_on_cleanup() { FS_CLEANUP+=("$1"); }

fs_track_pid() {
    # fs_track_pid PID DESCRIPTION [SIGNAL]
    FS_PIDS+=("$1:${3:-TERM}:$2")
}

fs_stop_pid() {
    local pid="$1" sig="$2" what="$3" i
    kill -0 "$pid" 2>/dev/null || return 0
    fs_log "stopping $what (pid $pid, SIG$sig)"
    kill -s "$sig" "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        fs_log "$what did not stop, SIGKILL"
        kill -s KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

fs_on_exit() {
    local rc=$? i entry pid sig what
    set +e
    if [[ -n "$FS_TCPDUMP_PID" ]]; then
        fs_stop_pid "$FS_TCPDUMP_PID" INT tcpdump
        FS_TCPDUMP_PID=""
    fi
    for (( i=${#FS_CLEANUP[@]}-1; i>=0; i-- )); do
        eval "${FS_CLEANUP[$i]}"
    done
    for (( i=${#FS_PIDS[@]}-1; i>=0; i-- )); do
        entry="${FS_PIDS[$i]}"
        pid="${entry%%:*}"; entry="${entry#*:}"
        sig="${entry%%:*}"; what="${entry#*:}"
        fs_stop_pid "$pid" "$sig" "$what"
    done
    if [[ -n "$FS_TMP" && -d "$FS_TMP" ]]; then
        if [[ $rc -ne 0 || -n "${FS_KEEP_TMP:-}" ]]; then
            fs_log "keeping $FS_TMP for inspection (exit $rc)"
        else
            rm -rf "$FS_TMP"
        fi
    fi
    if [[ $rc -ne 0 ]]; then fs_log "FAILED (exit $rc)"; fi
    exit "$rc"
}

# Install Debian packages that are not installed yet (apt-get update at most once).
fs_ensure_pkgs() {
    local missing=() p
    for p in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$p")
        fi
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    fs_log "installing ${missing[*]}"
    if [[ $FS_APT_UPDATED -eq 0 ]]; then
        apt-get update -qq
        FS_APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# "pkg=version pkg=version" for the JSON / README.
fs_pkg_versions() {
    local p out=()
    for p in "$@"; do
        out+=("$p=$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null || echo missing)")
    done
    echo "${out[*]}"
}

fs_listening() {
    # true if something listens on TCP 127.0.0.1:PORT (or any address on PORT)
    [[ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]]
}

fs_port_free() {
    local port
    for port in "$@"; do
        if fs_listening "$port"; then fs_die "TCP port $port is already in use"; fi
    done
}

# Wait until PORT listens (checked with ss, so no probe connection ends up in
# the capture). Optional second arg: PID that must stay alive meanwhile.
fs_wait_port() {
    local port="$1" pid="${2:-}" i
    for i in $(seq 1 300); do
        if fs_listening "$port"; then return 0; fi
        if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
            fs_die "server (pid $pid) exited before listening on port $port"
        fi
        sleep 0.1
    done
    fs_die "nothing listens on port $port after 30 s"
}

fs_wait_port_closed() {
    local port="$1" i
    for i in $(seq 1 100); do
        fs_listening "$port" || return 0
        sleep 0.1
    done
    fs_log "port $port still listening"
}

# fs_capture_start FILTER   (e.g. "tcp port 16379")
fs_capture_start() {
    local filter="$1" i
    rm -f "$FS_PCAP_TMP"
    # -Z root: write the file as root (tcpdump would otherwise drop to the
    # tcpdump user, which cannot write into our temp dir).
    # -U (flush each packet to the file) but NOT --immediate-mode: with
    # immediate mode libpcap falls back to TPACKET_V2, whose ring has fixed
    # slots sized for lo's 64 KiB MTU, so a 4 MiB buffer holds only ~60
    # packets and a redis-benchmark burst is dropped by the kernel. Without
    # it TPACKET_V3 packs packets into blocks; fs_capture_stop waits longer
    # than the 1 s block timeout before stopping, so nothing is left behind.
    tcpdump -i lo -n -s 0 -U -B 4096 -Z root \
        -w "$FS_PCAP_TMP" "$filter" 2>"$FS_TMP/tcpdump.err" &
    FS_TCPDUMP_PID=$!
    for i in $(seq 1 100); do
        if grep -q 'listening on' "$FS_TMP/tcpdump.err" 2>/dev/null; then
            sleep 0.3
            fs_log "capturing on lo: $filter"
            return 0
        fi
        kill -0 "$FS_TCPDUMP_PID" 2>/dev/null || break
        sleep 0.1
    done
    cat "$FS_TMP/tcpdump.err" >&2 || true
    fs_die "tcpdump did not start"
}

fs_capture_stop() {
    [[ -n "$FS_TCPDUMP_PID" ]] || fs_die "no capture running"
    sleep 2   # last FIN/ACKs, and > the 1 s TPACKET_V3 block timeout
    fs_stop_pid "$FS_TCPDUMP_PID" INT tcpdump
    FS_TCPDUMP_PID=""
    fs_log "$(tr '\n' ' ' < "$FS_TMP/tcpdump.err")"
    local captured received dropped
    captured=$(sed -n 's/^\([0-9]*\) packets\{0,1\} captured.*/\1/p' "$FS_TMP/tcpdump.err")
    received=$(sed -n 's/^\([0-9]*\) packets\{0,1\} received by filter.*/\1/p' "$FS_TMP/tcpdump.err")
    dropped=$(sed -n 's/^\([0-9]*\) packets\{0,1\} dropped by kernel.*/\1/p' "$FS_TMP/tcpdump.err")
    # On lo "received by filter" counts every packet twice (the outgoing copy
    # is seen by the socket and discarded by libpcap), so only drops matter.
    if [[ "${dropped:-x}" != 0 || "${captured:-0}" == 0 ]]; then
        fs_die "incomplete capture: captured=$captured received=$received dropped=$dropped"
    fi
    cp "$FS_PCAP_TMP" "$FS_OUT_DIR/$FS_NAME.pcap"
    fs_log "wrote $FS_OUT_DIR/$FS_NAME.pcap ($(stat -c %s "$FS_OUT_DIR/$FS_NAME.pcap") bytes)"
}

# fs_summarize ARGS... -> captures/servers/NAME.tshark.json
# (arguments go to tshark_summary.py; --pcap/--out/--name are added here)
fs_summarize() {
    python3 "$FS_LIB_DIR/tshark_summary.py" \
        --name "$FS_NAME" \
        --pcap "$FS_OUT_DIR/$FS_NAME.pcap" \
        --out "$FS_OUT_DIR/$FS_NAME.tshark.json" \
        "$@"
    fs_log "wrote $FS_OUT_DIR/$FS_NAME.tshark.json"
}

# Common tool set every script needs.
fs_ensure_base() {
    fs_ensure_pkgs tcpdump tshark python3 iproute2 "$@"
}

# fs_nginx_start PORT LISTEN_FLAGS
# Start nginx (foreground master, 1 worker) serving a small document root from
# $FS_TMP/www on 127.0.0.1:PORT. LISTEN_FLAGS e.g. "" or "http2" (nginx 1.22
# syntax for cleartext HTTP/2 with prior knowledge: `listen ADDR:PORT http2;`).
# Files: index.html, small.txt, data.json (gzip-able -> chunked), big.bin
# (300 KB), old.txt (mtime 2024-01-01 for a 304), /echo accepts POST bodies.
# Uses port PORT+1000 too (internal, not captured). FS_NGINX_EXTRA, when
# set, is added to the server block (TLS certificates, say).
fs_nginx_start() {
    local port="$1" flags="${2:-}" d="$FS_TMP"
    # /echo is proxied to a second server block on PORT+1000 (outside the
    # capture filter): the proxy reads the whole request body before it
    # answers. A plain `return 200` answers early and discards the body, and
    # over HTTP/2 that ends the stream with RST_STREAM while curl is still
    # uploading ("(92) Stream error" from curl 7.88, intermittently).
    local inner=$((port + 1000))
    fs_port_free "$inner"
    mkdir -p "$d/www" "$d/nginx-temp"
    python3 - "$d/www" <<'PY'
import os, sys, json
w = sys.argv[1]
open(os.path.join(w, "index.html"), "w").write(
    "<!doctype html><html><head><title>framescope</title></head>"
    "<body><h1>framescope test page</h1></body></html>\n")
open(os.path.join(w, "small.txt"), "w").write("small file\n")
rows = [{"id": i, "name": f"row-{i}", "tags": ["a", "b", "c"], "value": i * 3.5} for i in range(1200)]
open(os.path.join(w, "data.json"), "w").write(json.dumps(rows, indent=1) + "\n")
open(os.path.join(w, "big.bin"), "wb").write(bytes((i * 13 + 5) % 256 for i in range(300 * 1024)))
open(os.path.join(w, "old.txt"), "w").write("unchanged since 2024\n")
PY
    touch -d '2024-01-01 00:00:00 UTC' "$d/www/old.txt"
    chmod -R a+rX "$d/www"
    cat > "$d/nginx.conf" <<CONF
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 64; }
http {
    access_log $d/access.log;
    client_body_temp_path $d/nginx-temp/body;
    proxy_temp_path $d/nginx-temp/proxy;
    fastcgi_temp_path $d/nginx-temp/fastcgi;
    uwsgi_temp_path $d/nginx-temp/uwsgi;
    scgi_temp_path $d/nginx-temp/scgi;
    types {
        text/html html;
        text/plain txt;
        application/json json;
        application/octet-stream bin;
    }
    default_type application/octet-stream;
    keepalive_requests 1000;
    keepalive_timeout 30s;
    server_tokens on;
    server {
        listen 127.0.0.1:$port $flags;
        server_name localhost;
        ${FS_NGINX_EXTRA:-}
        root $d/www;
        # gzip drops Content-Length: an HTTP/1.1 response becomes chunked
        gzip on;
        gzip_types application/json text/plain;
        gzip_min_length 256;
        location = /echo {
            client_max_body_size 10m;
            proxy_http_version 1.1;
            proxy_pass http://127.0.0.1:$inner/echo;
        }
    }
    server {
        listen 127.0.0.1:$inner;
        location / {
            client_max_body_size 10m;
            return 200 "received\n";
        }
    }
}
CONF
    nginx -t -p "$d/" -e "$d/error.log" -c "$d/nginx.conf" -g 'daemon off;' >/dev/null 2>&1 \
        || { nginx -t -p "$d/" -e "$d/error.log" -c "$d/nginx.conf" -g 'daemon off;'; fs_die "bad nginx config"; }
    nginx -p "$d/" -e "$d/error.log" -c "$d/nginx.conf" -g 'daemon off;' &
    # SIGQUIT = graceful shutdown of the master and its worker
    fs_track_pid $! nginx QUIT
    fs_wait_port "$port" $!
}
