#!/usr/bin/env bash
# What decrypting costs: `framescope analyze --keylog` on a TLS 1.3
# AES-128-GCM capture against `framescope analyze` on the same messages in
# the clear, with cat, libpcap's read and tshark decrypting with the same
# key log, in one interleaved run.
#
#   benches/tls.sh                 # 200 MB of messages each way
#   MB=50 ROUNDS=5 benches/tls.sh
#
# benches/tls_traffic.py makes the traffic (length-prefixed messages of 10
# to 2,000 bytes, one connection, seeded), captured by tcpdump on lo into
# bench-out/tls-*.pcap (not committed). Goal (exit 1 when missed):
# decrypting analysis at no less than half the speed of the plaintext one.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
out="$here/bench-out"
mb="${MB:-200}"
rounds="${ROUNDS:-3}"
mkdir -p "$out"
cd "$here"
scripts/deps.sh --test
cargo build --release --quiet --bin framescope
fs="$here/target/release/framescope"

# capture NAME PORT ARGS...: runs the traffic while tcpdump records it.
capture() {
  local name="$1" port="$2"; shift 2
  local file="$out/$name.pcap"
  if [ -s "$file" ] && [ "$(cat "$out/$name.mb" 2>/dev/null)" = "$mb" ]; then
    return
  fi
  tcpdump -i lo -s 262144 -B 524288 -U -w "$file" "tcp port $port" 2>"$out/$name.tcpdump" &
  local pid=$!
  until grep -q "listening on" "$out/$name.tcpdump" 2>/dev/null; do
    kill -0 "$pid" || { cat "$out/$name.tcpdump" >&2; exit 1; }
    sleep 0.05
  done
  python3 benches/tls_traffic.py "$port" "$mb" "$@"
  # tcpdump writes what the kernel queued for it; a moment lets the last
  # packets reach it before it is stopped (a benchmark, not a test).
  sleep 1
  kill -INT "$pid"; wait "$pid" || true
  if grep -q "[1-9][0-9]* packets dropped by kernel" "$out/$name.tcpdump"; then
    echo "warning: tcpdump dropped packets for $name" >&2
  fi
  echo "$mb" >"$out/$name.mb"
}
capture tls-plain 21104 plain
capture tls-gcm 21105 tls "$out/tls-gcm.keys"

# run CMD...: prints the seconds one run took.
run() {
  local start end code=0
  start=$(date +%s%N)
  "$@" >/dev/null 2>"$out/stderr.txt" || code=$?
  end=$(date +%s%N)
  # analyze exits 1 when it flags something: not a failure here.
  [ "$code" -le 1 ] || { echo "failed: $*" >&2; tail -3 "$out/stderr.txt" >&2; exit 1; }
  python3 -c "print(($end - $start) / 1e9)"
}
declare -A t
plain="$out/tls-plain.pcap" gcm="$out/tls-gcm.pcap" keys="$out/tls-gcm.keys"
for r in $(seq "$rounds"); do
  t[cat]+="$(run cat "$gcm") "
  t[libpcap]+="$(run tcpdump -r "$gcm" -w /dev/null) "
  t[plain]+="$(run "$fs" analyze "$plain" --frame length:4) "
  t[decrypting]+="$(run "$fs" analyze "$gcm" --frame length:4 --keylog "$keys") "
  if [ "$r" = 1 ]; then
    # tshark decrypting every record of the connection with the same key log.
    t[tshark]+="$(run tshark -n -r "$gcm" -o "tls.keylog_file:$keys" -q -z follow,tls,raw,0) "
  fi
done
# The decrypted analysis must frame what the plaintext one frames.
a=$("$fs" analyze "$plain" --frame length:4 --format json | python3 -c 'import json,sys; print(sum(d["messages"] for s in json.load(sys.stdin)["streams"] for d in s["dirs"].values()))')
b=$("$fs" analyze "$gcm" --frame length:4 --keylog "$keys" --format json | python3 -c 'import json,sys; print(sum(d["messages"] for s in json.load(sys.stdin)["streams"] for d in s["dirs"].values()))')
python3 - "$gcm" "$plain" "$a" "$b" <<EOF
import os, statistics, sys
t = {k: [float(x) for x in v.split()] for k, v in {
    "cat": "${t[cat]}", "libpcap": "${t[libpcap]}", "plain": "${t[plain]}",
    "decrypting": "${t[decrypting]}", "tshark": "${t[tshark]}"}.items()}
gcm, plain = os.path.getsize(sys.argv[1]), os.path.getsize(sys.argv[2])
med = {k: statistics.median(v) for k, v in t.items()}
print(f"TLS 1.3 AES-128-GCM capture: {gcm / 1e6:.0f} MB; the same messages in the clear: {plain / 1e6:.0f} MB")
print(f"messages framed: {sys.argv[3]} in the clear, {sys.argv[4]} decrypted")
print(f"{'tool':<34} {'seconds':>8} {'MB/s':>7}")
names = {"cat": "cat (TLS capture)", "libpcap": "libpcap read (TLS capture)",
         "plain": "framescope, plaintext capture", "decrypting": "framescope --keylog, TLS capture",
         "tshark": "tshark -o tls.keylog_file (1 round)"}
for k, label in names.items():
    size = plain if k == "plain" else gcm
    print(f"{label:<34} {med[k]:>8.3f} {size / 1e6 / med[k]:>7.0f}")
ratio = (gcm / med["decrypting"]) / (plain / med["plain"])
print(f"decrypting analysis at {ratio:.2f} x the speed (MB/s) of the plaintext one; "
      f"{med['tshark'] / med['decrypting']:.0f} x faster than tshark")
ok = ratio >= 0.5 and sys.argv[3] == sys.argv[4]
if not ok:
    print("GOAL MISSED: decrypting analysis below half the plaintext speed, or counts differ")
sys.exit(0 if ok else 1)
EOF
