#!/usr/bin/env bash
# Throughput and peak memory of `framescope analyze` against libpcap's own
# read speed and `cat` (the copy from the page cache), with tcpflow and
# tshark for context, on captures generated here on loopback.
#
#   benches/run.sh                 # full size: ~300 MB, ~500 MB, ~200 MB captures
#   SCALE=0.1 benches/run.sh       # a tenth of that, for a quick look
#   ROUNDS=5 benches/run.sh        # more interleaved rounds (default 3)
#   TOOLS="table json" benches/run.sh   # only these (cat and libpcap always run)
#   TOOLS="table,-j2 uncap" benches/run.sh   # commas when a name has a space
#
# Captures (not committed) go to bench-out/. Two more are included when they
# exist (build them with ../shared/bench/make_caps.sh many-small redis, as
# root; CAPS=DIR says where they are, default /tmp/perf/caps): many-small, a
# thousand connections of small length-prefixed messages with Nagle on, and
# redis-mix, redis-benchmark -P 16 over 12 command types.
#
# benches/run.py runs every tool on each capture in interleaved rounds and
# prints the table: median MB/s, the ratios to libpcap and to cat, peak RSS
# per output format. It exits 1, naming the goal, when a goal is missed.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
out="$here/bench-out"
scale="${SCALE:-1}"
rounds="${ROUNDS:-3}"
mkdir -p "$out" "$out/tcpflow"
cd "$here"

need=()
command -v tcpdump >/dev/null || need+=(tcpdump)
command -v tcpflow >/dev/null || need+=(tcpflow)
command -v tshark >/dev/null || need+=(tshark)
command -v redis-server >/dev/null || need+=(redis-server)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq && $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
scripts/deps.sh
cargo build --release --quiet --bin framescope --example loadgen
fs="$here/target/release/framescope"
gen="$here/target/release/examples/loadgen"

n() { python3 -c "print(max(1, int($1 * $scale)))"; }

# capture NAME PORT CMD...: runs CMD while tcpdump records loopback traffic on
# PORT. A capture made before by the same command line (in NAME.scale) is kept.
# A capture that lost packets (holes the analysis skips) is made again, up to
# three times in all, then kept with a warning.
capture() {
  local name="$1" port="$2"; shift 2
  local file="$out/$name.pcap" made="$scale $*"
  if [ -s "$file" ] && [ -f "$out/$name.scale" ] && [ "$(cat "$out/$name.scale")" = "$made" ]; then
    return
  fi
  local attempt
  for attempt in 1 2 3; do
    # A 512 MiB kernel buffer, and the file written in blocks (no -U): the
    # bulk transfers come faster than per-packet writes keep up with.
    tcpdump -i lo -s 262144 -B 524288 -w "$file" "tcp port $port" 2>"$out/$name.tcpdump" &
    local pid=$!
    # Capturing starts when tcpdump says it listens.
    until grep -q "listening on" "$out/$name.tcpdump" 2>/dev/null; do
      kill -0 "$pid" || { cat "$out/$name.tcpdump" >&2; exit 1; }
      sleep 0.05
    done
    "$@"
    # tcpdump writes what the kernel queued for it; a moment lets the last
    # packets reach it before it is stopped (this is a benchmark, not a test).
    sleep 1
    kill -INT "$pid"; wait "$pid" || true
    grep -q "[1-9][0-9]* packets dropped by kernel" "$out/$name.tcpdump" || break
    echo "warning: tcpdump dropped packets for $name (attempt $attempt of 3):" >&2
    cat "$out/$name.tcpdump" >&2
  done
  echo "$made" >"$out/$name.scale"
}

echo "generating captures in $out (scale $scale)" >&2
capture many 21101 "$gen" many 21101 "$(n 1020)" 200 "$(n 268512)" 1
# Paced at 200 MB/s: faster, tcpdump drops packets and the streams have holes.
capture bulk 21102 "$gen" bulk 21102 4 "$(n 240)" 2 200
redis_bench() {
  local dir; dir=$(mktemp -d)
  redis-server --port 21103 --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" --daemonize no >/dev/null &
  local rpid=$!
  for _ in $(seq 50); do redis-cli -p 21103 ping >/dev/null 2>&1 && break; sleep 0.1; done
  redis-benchmark -p 21103 -P 16 -n "$(n 1200000)" -c 50 -t set,get -d 64 -q >/dev/null
  kill "$rpid"; wait "$rpid" 2>/dev/null || true
  rm -rf "$dir"
}
capture redis 21103 redis_bench

caps_dir="${CAPS:-/tmp/perf/caps}"
list="["
add() {  # add NAME FILE FRAME PORT TSHARK_PROTO TCPFLOW
  [ -s "$2" ] || return 0
  [ "$list" = "[" ] || list+=","
  list+="{\"name\":\"$1\",\"file\":\"$2\",\"frame\":\"$3\",\"port\":$4,\"tshark\":\"$5\",\"tcpflow\":$6}"
}
add many "$out/many.pcap" length:4 21101 kafka true
add bulk "$out/bulk.pcap" length:4 21102 kafka true
add redis "$out/redis.pcap" resp 21103 resp true
add many-small "$caps_dir/many-small.pcap" length:4 9001 "" false
add redis-mix "$caps_dir/redis.pcap" resp 6390 "" false
list+="]"
[ -s "$caps_dir/many-small.pcap" ] || echo "note: no $caps_dir/many-small.pcap (../shared/bench/make_caps.sh many-small builds it)" >&2
FS="$fs" python3 benches/run.py "$list" "$out" | tee "$out/results.txt"
exit "${PIPESTATUS[0]}"
