#!/usr/bin/env bash
# Throughput and peak memory of framescope against libpcap's own read speed,
# tcpflow and tshark, on captures generated here on loopback.
#
#   benches/run.sh                 # full size: ~300 MB, ~500 MB, ~200 MB captures
#   SCALE=0.1 benches/run.sh       # a tenth of that, for a quick look
#   ROUNDS=5 benches/run.sh        # more interleaved rounds (default 3)
#
# Captures (not committed) go to bench-out/. Every tool runs on the same file
# in the same round, rounds interleave the tools, and the table reports the
# median of the rounds: MB/s, the ratio to libpcap's read speed
# (`tcpdump -r F -w /dev/null`), and peak RSS from /usr/bin/time.
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

# capture NAME PORT CMD...: runs CMD while tcpdump records loopback traffic on PORT.
capture() {
  local name="$1" port="$2"; shift 2
  local file="$out/$name.pcap"
  if [ -s "$file" ] && [ -f "$out/$name.scale" ] && [ "$(cat "$out/$name.scale")" = "$scale" ]; then
    return
  fi
  tcpdump -i lo -s 262144 -B 262144 -U -w "$file" "tcp port $port" 2>"$out/$name.tcpdump" &
  local pid=$!
  sleep 1.5
  "$@"
  sleep 1.5
  kill -INT "$pid"; wait "$pid" || true
  if grep -q "[1-9][0-9]* packets dropped by kernel" "$out/$name.tcpdump"; then
    echo "warning: tcpdump dropped packets for $name:" >&2
    cat "$out/$name.tcpdump" >&2
  fi
  echo "$scale" >"$out/$name.scale"
}

echo "generating captures in $out (scale $scale)" >&2
capture many 21101 "$gen" many 21101 "$(n 1020)" 200 "$(n 268512)" 1
capture bulk 21102 "$gen" bulk 21102 4 "$(n 240)" 2
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

# run TOOL FILE: prints "seconds peak_kib" for one run.
run() {
  local tool="$1" file="$2" port="$3" frame="$4" proto="$5"
  local cmd
  case "$tool" in
    cat) cmd=(cat "$file") ;;
    libpcap) cmd=(tcpdump -r "$file" -w /dev/null) ;;
    # tcpflow writes report.xml into its output directory.
    tcpflow) cmd=(tcpflow -C -B -o "$out/tcpflow" -r "$file") ;;
    # The display filter makes tshark dissect (and reassemble) every
    # message of the protocol, as framing them needs.
    tshark) cmd=(tshark -n -r "$file" -d "tcp.port==$port,$proto" -Y "$proto" -T fields -e frame.number) ;;
    framescope) cmd=("$fs" analyze "$file" --frame "$frame") ;;
    framescope-j2) cmd=("$fs" analyze "$file" --frame "$frame" --jobs 2) ;;
  esac
  local start end
  start=$(date +%s%N)
  /usr/bin/time -f "%M" -o "$out/time.txt" "${cmd[@]}" >/dev/null 2>"$out/stderr.txt" || {
    echo "$tool failed on $file:" >&2; tail -3 "$out/stderr.txt" >&2; echo "nan 0"; return; }
  end=$(date +%s%N)
  echo "$(python3 -c "print(($end - $start) / 1e9)") $(cat "$out/time.txt")"
}

tools=(cat libpcap tcpflow tshark framescope framescope-j2)
declare -A results
for name in many bulk redis; do
  case "$name" in
    many) port=21101 frame=length:4 proto=kafka ;;
    bulk) port=21102 frame=length:4 proto=kafka ;;
    redis) port=21103 frame=resp proto=resp ;;
  esac
  file="$out/$name.pcap"
  [ -s "$file" ] || continue
  for r in $(seq "$rounds"); do
    for tool in "${tools[@]}"; do
      # tshark is slow: one round is enough to place it.
      if [ "$tool" = tshark ] && [ "$r" -gt 1 ]; then continue; fi
      results["$name,$tool"]+="$(run "$tool" "$file" "$port" "$frame" "$proto");"
    done
  done
done

{
  echo "date: $(date -u +%Y-%m-%dT%H:%MZ)  machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
  printf "%-6s %-14s %10s %10s %10s %12s\n" capture tool MB/s "x libpcap" seconds "peak RSS MiB"
  for name in many bulk redis; do
    file="$out/$name.pcap"; [ -s "$file" ] || continue
    size=$(stat -c %s "$file")
    base=""
    for tool in "${tools[@]}"; do
      runs="${results[$name,$tool]:-}"
      [ -n "$runs" ] || continue
      read -r secs rss < <(python3 -c "
import statistics,sys
runs=[r.split() for r in sys.argv[1].strip(';').split(';') if r]
secs=statistics.median(float(r[0]) for r in runs)
rss=max(int(r[1]) for r in runs)
print(secs, rss)" "$runs")
      mbs=$(python3 -c "print(f'{$size/1e6/max($secs,0.001):.0f}')")
      [ "$tool" = libpcap ] && base="$mbs"
      ratio=$([ -n "$base" ] && python3 -c "print(f'{$mbs/$base:.2f}')" || echo "-")
      printf "%-6s %-14s %10s %10s %10s %12s\n" "$name" "$tool" "$mbs" "$ratio" "$secs" "$((rss/1024))"
    done
    echo "  ($name.pcap: $((size/1000000)) MB)"
  done
} | tee "$out/results.txt"
