#!/usr/bin/env bash
# Robustness against hostile captures.
#
#  (a) Wireshark's method: every capture under captures/ corrupted with
#      `editcap -E RATE --seed SEED` at several rates and seeds, then read by
#      `framescope analyze --frame none` and `framescope flows`, each under a
#      timeout. Counts panics (exit 101), hangs (timeout), other crashes
#      (signals), and the peak RSS.
#  (b) Adversarial captures from scripts/hostile-gen.py, each analysed with
#      the framing it attacks; prints exit code, time, peak RSS and the
#      anomalies reported.
#
# Usage: scripts/hostile-captures.sh [WORK_DIR]     (default target/hostile)
# Environment: FRAMESCOPE (binary; default target/release/framescope, built
# if missing), HOSTILE_TIMEOUT (seconds, default 20), HOSTILE_RATES,
# HOSTILE_SEEDS. Exits 1 if any run panicked, hung or crashed.
set -u
cd "$(dirname "$0")/.."

work=${1:-target/hostile}
timeout_s=${HOSTILE_TIMEOUT:-20}
rates=${HOSTILE_RATES:-"0.001 0.01 0.05"}
seeds=${HOSTILE_SEEDS:-"1 2 3"}
bin=${FRAMESCOPE:-target/release/framescope}
mkdir -p "$work/corrupt" "$work/adversarial"

if [ ! -x "$bin" ]; then
    cargo build --release --quiet || exit 2
fi
if [ ! -x /usr/bin/time ]; then
    echo "hostile-captures: /usr/bin/time is required (apt-get install time)" >&2
    exit 2
fi

failures=0
peak_kb=0

# run OUTFILE ARGS...: runs the binary under a timeout and
# /usr/bin/time; sets $rc, $secs, $rss_kb.
run() {
    local out=$1
    shift
    /usr/bin/time -f "%M %e" -o "$work/time.txt" \
        timeout "$timeout_s" "$bin" "$@" >"$out" 2>"$out.err"
    rc=$?
    # time(1) prefixes "Command exited with non-zero status N" lines.
    rss_kb=$(tail -n 1 "$work/time.txt" | cut -d' ' -f1)
    secs=$(tail -n 1 "$work/time.txt" | cut -d' ' -f2)
    [ "$rss_kb" -gt "$peak_kb" ] 2>/dev/null && peak_kb=$rss_kb
}

verdict() {
    case $rc in
    0 | 1 | 2) echo ok ;;
    101) echo PANIC ;;
    124) echo HANG ;;
    *) echo "CRASH($rc)" ;;
    esac
}

echo "== (a) corrupted captures: editcap -E {$rates} --seed {$seeds}, timeout ${timeout_s}s"
if ! command -v editcap >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wireshark-common >/dev/null 2>&1
    fi
fi
if command -v editcap >/dev/null; then
    runs=0
    bad=0
    corrupt_peak=0
    shopt -s globstar nullglob
    for cap in captures/**/*.pcap captures/**/*.pcapng captures/**/*.cap; do
        name=$(basename "$cap")
        for rate in $rates; do
            for seed in $seeds; do
                f="$work/corrupt/$name.$rate.$seed"
                if ! editcap -E "$rate" --seed "$seed" "$cap" "$f" >/dev/null 2>&1; then
                    continue
                fi
                for cmd in analyze flows; do
                    if [ $cmd = analyze ]; then
                        run "$work/out.txt" analyze --frame none "$f"
                    else
                        run "$work/out.txt" flows "$f"
                    fi
                    runs=$((runs + 1))
                    [ "$rss_kb" -gt "$corrupt_peak" ] 2>/dev/null && corrupt_peak=$rss_kb
                    v=$(verdict)
                    if [ "$v" != ok ]; then
                        bad=$((bad + 1))
                        echo "  $v: framescope $cmd $f"
                        tail -n 3 "$work/out.txt.err" | sed 's/^/    /'
                    fi
                done
                rm -f "$f"
            done
        done
    done
    failures=$((failures + bad))
    echo "  $runs runs, $bad panics/hangs/crashes, peak RSS $((corrupt_peak / 1024)) MiB"
else
    echo "  editcap not found (install wireshark-common); skipped"
fi

echo
echo "== (b) adversarial captures"
python3 scripts/hostile-gen.py "$work/adversarial" || exit 2

summarize() {
    python3 - "$1" <<'EOF'
import json, sys
totals, agg = {}, {}
keys = ["malformed_messages", "truncated_messages", "gap_messages"]
rkeys = ["retransmissions", "gaps", "gap_bytes", "forced_gaps"]
for line in open(sys.argv[1]):
    try:
        doc = json.loads(line)
    except ValueError:
        continue
    if doc.get("type") == "stream":
        for d in doc["dirs"].values():
            for k in keys:
                agg[k] = agg.get(k, 0) + d[k]
        for d in doc["reassembly"]["dirs"].values():
            for k in rkeys:
                agg[k] = agg.get(k, 0) + d[k]
    elif doc.get("type") == "capture":
        totals = doc["totals"]
parts = [f"{k.replace('_messages', '')}={v}" for k, v in agg.items() if v]
parts.append(f"streams={totals.get('tcp_streams', 0)} peak_open={totals.get('peak_open', 0)}")
parts.append(f"peak_buffered={totals.get('peak_buffered', 0)}")
print(" ".join(parts))
EOF
}

printf '%-22s %-22s %5s %8s %10s  %s\n' capture framing exit seconds "peak RSS" "anomalies reported"
for spec in "seq-jump length:4" "syn-flood none" "ooo-1byte none" \
    "length-ffffffff length:4" "json-1g json-header"; do
    set -- $spec
    f="$work/adversarial/$1.pcap"
    run "$work/out.jsonl" analyze --frame "$2" --format jsonl "$f"
    v=$(verdict)
    [ "$v" = ok ] || failures=$((failures + 1))
    printf '%-22s %-22s %5s %8s %7s MiB  %s\n' "$1" "$2" "$rc" "$secs" \
        "$((rss_kb / 1024))" "$( [ "$v" = ok ] && summarize "$work/out.jsonl" || echo "$v")"
    run "$work/out.txt" flows "$f"
    v=$(verdict)
    [ "$v" = ok ] || failures=$((failures + 1))
    printf '%-22s %-22s %5s %8s %7s MiB  %s\n' "" "(flows)" "$rc" "$secs" "$((rss_kb / 1024))" "$v"
done

echo
echo "peak RSS over all runs: $((peak_kb / 1024)) MiB; failures: $failures"
[ "$failures" = 0 ]
