#!/usr/bin/env bash
# Installs the system packages framescope needs to build and test, when they
# are missing, on Debian or Ubuntu (apt-get). Each is checked by what it
# provides, so a machine that has them all installs nothing.
#
# To build: a C compiler and linker (Rust's build scripts and the final link
# call `cc`), pkg-config and libpcap's headers (the `pcap` crate links
# libpcap), and the CA certificates cargo needs to fetch crates.
# With `--test`, also what the test suite drives: tshark (the Wireshark
# oracle; editcap and capinfos come with it), man and nroff (man-db and
# groff-base: tests/wireshark.rs renders the manual pages), chromium
# (tests/pictures.rs opens the HTML page), redis-server, memcached,
# mosquitto and nginx (tests/replay.rs replays sessions to them;
# mosquitto-clients for scripts/servers/replay-sessions.sh), the servers and
# clients tests/proxy_servers.rs puts the proxy between (redis-benchmark,
# mosquitto and its clients, nginx and curl, PostgreSQL and psql), tcpdump
# and python3 (the capture scripts; tcpdump also for tests/proxy_servers.rs),
# Python's jsonschema (tests/schemas.rs checks the JSON outputs) and, when
# a nightly toolchain is present (scripts/fuzz-smoke.sh then runs), a C++
# compiler: libFuzzer is C++.
set -euo pipefail

# True when `$1` compiles and links a program written in language `$2`.
links() {
  command -v "$1" >/dev/null || return 1
  local out
  out=$(mktemp)
  if printf 'int main(void) { return 0; }\n' | "$1" -x "$2" - -o "$out" 2>/dev/null; then
    rm -f "$out"
    return 0
  fi
  rm -f "$out"
  return 1
}

want=()
links cc c || want+=(gcc libc6-dev)
command -v pkg-config >/dev/null || want+=(pkg-config)
[ -e /usr/include/pcap.h ] || [ -e /usr/include/pcap/pcap.h ] || want+=(libpcap-dev)
[ -e /etc/ssl/certs/ca-certificates.crt ] || want+=(ca-certificates)
if [ "${1:-}" = "--test" ]; then
  command -v tshark >/dev/null || want+=(tshark)
  command -v man >/dev/null || want+=(man-db)
  command -v nroff >/dev/null || want+=(groff-base)
  command -v chromium >/dev/null || want+=(chromium)
  command -v redis-server >/dev/null || want+=(redis-server)
  command -v memcached >/dev/null || want+=(memcached)
  command -v redis-benchmark >/dev/null || want+=(redis-tools)
  command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || want+=(mosquitto)
  command -v mosquitto_pub >/dev/null || want+=(mosquitto-clients)
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || want+=(nginx-light)
  command -v curl >/dev/null || want+=(curl)
  command -v psql >/dev/null || want+=(postgresql-client)
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || want+=(postgresql)
  command -v tcpdump >/dev/null || want+=(tcpdump)
  command -v python3 >/dev/null || want+=(python3)
  # tests/schemas.rs validates the JSON outputs with Python's jsonschema.
  python3 -c 'import jsonschema' 2>/dev/null || want+=(python3-jsonschema)
  if RUSTUP_AUTO_INSTALL=0 cargo +nightly --version >/dev/null 2>&1; then
    links c++ c++ || want+=(g++)
  fi
fi
[ ${#want[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "framescope: installing ${want[*]}" >&2
# No questions (tshark's debconf asks about its setuid helper: the default,
# no, is kept), and wait for another apt-get holding dpkg's lock.
apt=($sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600)
"${apt[@]}" update -qq >&2
"${apt[@]}" install -y -qq --no-install-recommends "${want[@]}" >&2
