#!/usr/bin/env bash
# Installs the system packages framescope needs to build and test, when they
# are missing: libpcap's headers (the `pcap` crate links libpcap) and, with
# `--test`, the programs the test suite drives (chromium opens the HTML
# page in tests/pictures.rs; tests/replay.rs replays sessions to real
# redis-server, memcached, mosquitto and nginx). Debian/Ubuntu (apt-get).
set -euo pipefail

want=()
[ -e /usr/include/pcap.h ] || [ -e /usr/include/pcap/pcap.h ] || want+=(libpcap-dev)
command -v pkg-config >/dev/null || want+=(pkg-config)
if [ "${1:-}" = "--test" ]; then
  command -v tcpdump >/dev/null || want+=(tcpdump)
  command -v python3 >/dev/null || want+=(python3)
  command -v chromium >/dev/null || want+=(chromium)
  command -v redis-server >/dev/null || want+=(redis-server)
  command -v memcached >/dev/null || want+=(memcached)
  command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || want+=(mosquitto)
  command -v mosquitto_pub >/dev/null || want+=(mosquitto-clients)
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || want+=(nginx-light)
fi
[ ${#want[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "framescope: installing ${want[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
$sudo apt-get install -y -qq --no-install-recommends "${want[@]}" >&2
