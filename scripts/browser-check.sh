#!/usr/bin/env bash
# Opens `analyze --html` pages in headless Chromium (installed from Debian
# when missing) and checks the rendered SVG's segment, message and flagged
# shapes against `analyze --format json` (tests/pictures.rs). With
# `--screenshot`, also refreshes docs/timeline.png from the seed scenario.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"
if ! command -v chromium >/dev/null; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq >&2
  $sudo apt-get install -y -qq chromium >&2
fi
if [ "${1:-}" = "--screenshot" ]; then
  export FRAMESCOPE_SCREENSHOT="$here/docs/timeline.png"
  mkdir -p docs
fi
CI=true cargo test --test pictures -- --nocapture
