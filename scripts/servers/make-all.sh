#!/usr/bin/env bash
# Run every real-server capture script, then rebuild captures/servers/README.md.
# Usage: scripts/servers/make-all.sh [name...]   (default: all)
set -Eeuo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
all=(redis postgres memcached mosquitto nginx-http1 nginx-h2c dns)
names=("$@")
[[ ${#names[@]} -gt 0 ]] || names=("${all[@]}")
failed=()
for n in "${names[@]}"; do
    echo "=== $n" >&2
    if ! bash "$here/$n.sh"; then
        failed+=("$n")
    fi
done
python3 "$here/readme.py"
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "all captures made: ${names[*]}" >&2
