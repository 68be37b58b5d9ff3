#!/usr/bin/env bash
# Regenerates captures/scenarios/*.pcap and *.truth.json on this machine's
# loopback interface.
#
#   scripts/scenarios/make-captures.sh [SCENARIO...]     (default: all)
#
# For each scenario: start tcpdump on lo for the scenario's fixed port, wait
# until it is listening, run the Python server and client
# (scripts/scenarios/scenarios.py), stop tcpdump with SIGINT, then build the
# ground truth from what the programs recorded plus what the capture shows
# (stdlib pcap parser; tshark, when installed, is used only to cross-check
# and to print a conversation summary). Needs root (or CAP_NET_RAW) for
# tcpdump. Exits non-zero if any scenario's checks fail.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
OUT="$ROOT/captures/scenarios"
PY="${PYTHON:-python3}"
# Scratch space for the programs' records (not /tmp: other jobs on a shared
# machine may sweep it while a run is in progress).
STATE="$(mktemp -d "${SCENARIO_SCRATCH:-/var/tmp}/sticky-scenarios.XXXXXX")"
TCPDUMP_PID=""
SERVER_PID=""

cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
    [ -n "$TCPDUMP_PID" ] && kill -INT "$TCPDUMP_PID" 2>/dev/null || true
    rm -rf "$STATE"
}
trap cleanup EXIT

if ! command -v tcpdump >/dev/null 2>&1; then
    echo "tcpdump not found; installing it with apt-get" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tcpdump
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "warning: not root; tcpdump may not be allowed to capture on lo" >&2
fi

mkdir -p "$OUT"
if [ "$#" -gt 0 ]; then
    SCENARIOS=("$@")
else
    mapfile -t SCENARIOS < <("$PY" "$HERE/scenarios.py" list)
fi

failed=()
for name in "${SCENARIOS[@]}"; do
    read -r proto port < <("$PY" "$HERE/scenarios.py" port "$name")
    pcap="$OUT/$name.pcap"
    truth="$OUT/$name.truth.json"
    echo "== $name ($proto port $port)"
    rm -f "$pcap" "$truth" "$STATE/$name".*

    # -U: write each packet to the file as soon as tcpdump gets it.
    # No --immediate-mode on purpose: in immediate mode libpcap uses a
    # TPACKET_V2 ring with one 64 KiB+ slot per packet on lo (MTU 65536), so
    # a 4 MiB buffer holds only ~60 packets and the 200-write bursts lose
    # packets. TPACKET_V3 packs packets into blocks; its only cost is that a
    # partly filled block reaches tcpdump after the 1 s buffer timeout, hence
    # the wait before SIGINT below.
    # -Z root: keep writing into the repository as root (no privilege drop).
    tcpdump -i lo -U -B 8192 -Z root -w "$pcap" "$proto port $port" \
        2>"$STATE/tcpdump.err" &
    TCPDUMP_PID=$!
    for _ in $(seq 1 100); do
        grep -q "listening on" "$STATE/tcpdump.err" 2>/dev/null && break
        kill -0 "$TCPDUMP_PID" 2>/dev/null || { cat "$STATE/tcpdump.err" >&2; exit 1; }
        sleep 0.05
    done
    grep -q "listening on" "$STATE/tcpdump.err" || { echo "tcpdump did not start" >&2; exit 1; }
    sleep 0.3   # the filter is attached when "listening on" is printed; a little margin

    "$PY" "$HERE/scenarios.py" server "$name" --state "$STATE" &
    SERVER_PID=$!
    client_rc=0
    "$PY" "$HERE/scenarios.py" client "$name" --state "$STATE" || client_rc=$?
    server_rc=0
    wait "$SERVER_PID" || server_rc=$?
    SERVER_PID=""

    sleep 1.5   # last ACKs / FINs, and tcpdump's 1 s buffer timeout (see above)
    kill -INT "$TCPDUMP_PID"
    wait "$TCPDUMP_PID" || true
    TCPDUMP_PID=""
    sed 's/^/   tcpdump: /' "$STATE/tcpdump.err" | grep -v "listening on" || true
    if [ "$client_rc" -ne 0 ] || [ "$server_rc" -ne 0 ] \
        || [ ! -s "$STATE/$name.server.json" ] || [ ! -s "$STATE/$name.client.json" ]; then
        echo "   programs failed (client rc $client_rc, server rc $server_rc): $(ls "$STATE")" >&2
        failed+=("$name")
        continue
    fi
    if ! grep -q "^0 packets dropped by kernel" "$STATE/tcpdump.err"; then
        echo "   packets were dropped: the capture is not trustworthy" >&2
        failed+=("$name")
        continue
    fi
    if command -v tshark >/dev/null 2>&1; then
        tshark -r "$pcap" -q -z "conv,$proto" 2>/dev/null | sed -n '/<->/p' | sed 's/^/   conv: /'
    elif command -v tcpdump >/dev/null 2>&1; then
        echo "   frames: $(tcpdump -nn -r "$pcap" 2>/dev/null | wc -l)"
    fi
    if ! "$PY" "$HERE/scenarios.py" finalize "$name" --state "$STATE" --pcap "$pcap" --out "$truth"; then
        failed+=("$name")
    fi
    echo "   $(stat -c %s "$pcap") bytes -> ${pcap#"$ROOT/"}"
done

"$PY" "$HERE/scenarios.py" readme --out "$OUT"   # the table in captures/scenarios/README.md

if [ "${#failed[@]}" -gt 0 ]; then
    echo "checks failed for: ${failed[*]}" >&2
    exit 1
fi
echo "all scenarios ok"
