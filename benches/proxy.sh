#!/usr/bin/env bash
# What `framescope proxy` costs on loopback, against a direct connection
# and socat, in the same run: bulk throughput and the request/reply round
# trip.
#
#   benches/proxy.sh               # 2 GiB bulk per run, 20,000 round trips of 64 bytes, 3 rounds
#   MIB=512 ROUNDS=5 benches/proxy.sh
#
# A sink/echo server (examples/netbench.rs) listens on 127.0.0.1; socat and
# the proxy (`original` both ways, the default analysis: framing detected
# per stream) forward to it. Each round runs every path in turn; the table
# gives the medians of the rounds: bulk MB/s (10^6 bytes per second, from
# the first byte written to the server's close after the last), and the
# median and 99th-percentile round trip of 64-byte requests echoed, in
# microseconds, with what the path adds to the direct connection's median.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"
mib="${MIB:-2048}"
rounds="${ROUNDS:-3}"
trips="${TRIPS:-20000}"

command -v socat >/dev/null || {
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq socat >/dev/null
}
scripts/deps.sh
cargo build --release --quiet --bin framescope --example netbench
fs="$here/target/release/framescope"
nb="$here/target/release/examples/netbench"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 200); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1',$1)).close()" 2>/dev/null && return
    sleep 0.05
  done
  echo "nothing listens on $1" >&2; exit 1
}

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

server=$(free_port); "$nb" serve "$server" & pids+=($!); wait_port "$server"
socat_port=$(free_port)
socat "TCP-LISTEN:$socat_port,bind=127.0.0.1,reuseaddr,fork" "TCP:127.0.0.1:$server" & pids+=($!)
wait_port "$socat_port"
proxy_port=$(free_port)
"$fs" proxy --listen "127.0.0.1:$proxy_port" --to "127.0.0.1:$server" >/dev/null 2>&1 & pids+=($!)
wait_port "$proxy_port"

declare -A bulk p50 p99
paths=(direct socat proxy)
port_of() { case "$1" in direct) echo "$server" ;; socat) echo "$socat_port" ;; proxy) echo "$proxy_port" ;; esac; }
for r in $(seq "$rounds"); do
  for p in "${paths[@]}"; do
    addr="127.0.0.1:$(port_of "$p")"
    bulk[$p]+="$("$nb" bulk "$addr" "$mib") "
    read -r a b < <("$nb" rtt "$addr" "$trips" 64)
    p50[$p]+="$a "; p99[$p]+="$b "
  done
  echo "round $r done" >&2
done

median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
d50=$(echo "${p50[direct]}" | median)
printf '| path | bulk MB/s | round trip p50 | p99 | added to p50 |\n| --- | ---: | ---: | ---: | ---: |\n'
for p in "${paths[@]}"; do
  b=$(echo "${bulk[$p]}" | median)
  m=$(echo "${p50[$p]}" | median)
  n=$(echo "${p99[$p]}" | median)
  added=$(python3 -c "print(f'{$m - $d50:.1f} µs')")
  printf '| %s | %s | %s µs | %s µs | %s |\n' "$p" "$b" "$m" "$n" "$added"
done
