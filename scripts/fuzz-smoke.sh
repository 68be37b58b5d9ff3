#!/usr/bin/env bash
# Builds every cargo-fuzz target and runs each for ${FUZZ_SECONDS:-20}
# seconds, one after the other, starting from the committed seeds. With
# FUZZ_RUNS=N each target instead runs exactly N inputs from a fixed seed
# (FUZZ_SEED, default 1) and a fresh corpus: the same inputs on every
# machine, so a CI result does not depend on the machine's speed.
#
# Needs a nightly toolchain and cargo-fuzz; installs cargo-fuzz when it is
# missing and cargo can. Without nightly it prints a note and exits 0, so
# it is safe in any CI job. Exits 1 if a target finds a crash (the input is
# left in fuzz/artifacts/TARGET/).
set -eu
cd "$(dirname "$0")/../fuzz"

seconds=${FUZZ_SECONDS:-20}
targets=${FUZZ_TARGETS:-"decoder reassembly packet capture_file frame_spec"}

if ! RUSTUP_AUTO_INSTALL=0 cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz-smoke: no nightly toolchain (rustup toolchain install nightly); skipped"
    exit 0
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz-smoke: installing cargo-fuzz"
    if ! cargo install --locked cargo-fuzz >/dev/null 2>&1; then
        echo "fuzz-smoke: cargo-fuzz could not be installed; skipped"
        exit 0
    fi
fi

cargo +nightly fuzz build -O
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for t in $targets; do
    mkdir -p "corpus/$t"
    dict=()
    [ -f "dict/$t.dict" ] && dict=("-dict=dict/$t.dict")
    if [ -n "${FUZZ_RUNS:-}" ]; then
        echo "== $t ($FUZZ_RUNS runs)"
    else
        echo "== $t (${seconds}s)"
    fi
    status=0
    if [ -n "${FUZZ_RUNS:-}" ]; then
        fresh=$(mktemp -d)
        cargo +nightly fuzz run -O "$t" "$fresh" "seeds/$t" -- \
            -runs="$FUZZ_RUNS" -seed="${FUZZ_SEED:-1}" -print_final_stats=1 "${dict[@]}" \
            >"$log" 2>&1 || status=$?
        rm -rf "$fresh"
    else
        cargo +nightly fuzz run -O "$t" "corpus/$t" "seeds/$t" -- \
            -max_total_time="$seconds" -print_final_stats=1 "${dict[@]}" >"$log" 2>&1 || status=$?
    fi
    grep -E '^#[0-9]+[[:space:]]+DONE|average_exec_per_sec|^SUMMARY|panicked at' "$log" || true
    if [ "$status" != 0 ]; then
        echo "fuzz-smoke: $t failed (exit $status); the input is in fuzz/artifacts/$t/"
        tail -n 30 "$log"
        exit 1
    fi
done
