#!/usr/bin/env bash
# Runs the README's two set-up commands as a new user would, on a bare
# Debian machine: a fresh `debootstrap --variant=minbase` root (apt and a
# shell; no compiler, no CA certificates), this machine's rustup toolchains
# brought in read-only with an empty cargo home, and a clean `git clone` of
# this repository's HEAD (uncommitted changes are not in it). The commands
# are read from the README's first code block and run exactly as written,
# one after the other, each timed; everything else they need they must
# install themselves. CI=true is set, so a test that would skip for want of
# a program fails instead.
#
# Before changing the set-up scripts, and before a release (see the README's
# section for maintainers). A cold build and the whole test suite take tens
# of minutes, so neither CI nor scripts/test runs it.
#
#   scripts/bare-check.sh [--keep]
#
# Needs root on a Debian or Ubuntu host with rustup; installs debootstrap
# when missing. Works in target/bare-check/: the root (removed when done,
# kept with --keep), the downloaded packages, one log per command. Exits 0
# when every command exited 0. Environment: BARE_SUITE (default bookworm),
# BARE_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail

keep=false
for arg in "$@"; do
  case "$arg" in
    --keep) keep=true ;;
    *) echo "usage: scripts/bare-check.sh [--keep]" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "bare-check: needs root (debootstrap, chroot, mounts)" >&2; exit 2; }

# Everything below runs in a mount namespace of its own: the root's mounts
# are invisible to the rest of the machine and vanish with the namespace,
# even when this script is killed.
if [ -z "${BARE_CHECK_NAMESPACE:-}" ]; then
  BARE_CHECK_NAMESPACE=1 exec unshare --mount --propagation private -- "$0" "$@"
fi

repo="$(cd "$(dirname "$0")/.." && pwd -P)"
work="$repo/target/bare-check"
root="$work/root"
suite="${BARE_SUITE:-bookworm}"
mirror="${BARE_MIRROR:-http://deb.debian.org/debian}"
rustup_bin="$(command -v rustup)" || { echo "bare-check: no rustup on PATH" >&2; exit 2; }
rustup_home="${RUSTUP_HOME:-$HOME/.rustup}"
[ -d "$rustup_home/toolchains" ] || { echo "bare-check: no toolchains in $rustup_home" >&2; exit 2; }

say() { echo "bare-check: $*"; }

# Ends what is still running inside the root (by process id), unmounts
# what was mounted there, innermost first, and removes the root.
cleanup() {
  local status=$? pid left
  for pid in $(ls /proc | grep -E '^[0-9]+$'); do
    [ "$(readlink "/proc/$pid/root" 2>/dev/null)" = "$root" ] || continue
    say "ending process $pid left in the root: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"
    kill -KILL "$pid" 2>/dev/null || true
  done
  for m in $(awk -v r="$root" '$2 == r || index($2, r "/") == 1 { print $2 }' /proc/self/mounts | sort -r); do
    umount "$m" 2>/dev/null || umount --lazy "$m"
  done
  left=$(awk -v r="$root" '$2 == r || index($2, r "/") == 1' /proc/self/mounts)
  if [ -n "$left" ]; then
    say "still mounted, root kept: $left"
  elif [ "$keep" = true ]; then
    say "root kept in $root"
  else
    rm -rf --one-file-system "$root"
  fi
  exit "$status"
}

if [ -e "$root" ]; then
  say "removing the previous root"
  rm -rf --one-file-system "$root"
fi
mkdir -p "$work/debs"
trap cleanup EXIT

if ! command -v debootstrap >/dev/null && [ ! -x /usr/sbin/debootstrap ]; then
  say "installing debootstrap"
  apt=(env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600)
  "${apt[@]}" update -qq
  "${apt[@]}" install -y -qq --no-install-recommends debootstrap
fi
PATH="$PATH:/usr/sbin:/sbin"

t0=$SECONDS
say "debootstrap --variant=minbase $suite $mirror"
debootstrap --variant=minbase --cache-dir="$work/debs" "$suite" "$root" "$mirror" \
  >"$work/debootstrap.log" 2>&1 || { tail -n 30 "$work/debootstrap.log"; exit 1; }
boot_time=$((SECONDS - t0))
say "root ready in ${boot_time} s ($(du -sh --one-file-system "$root" | cut -f1))"

# What an installed Debian machine on this network has and minbase leaves
# out: the loopback's names, the name servers and the certificate
# authorities this machine's administrator added (a TLS-inspecting proxy's,
# say); the latter are trusted once ca-certificates is installed.
[ -s "$root/etc/hosts" ] || printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
cp /etc/resolv.conf "$root/etc/resolv.conf"
if [ -d /usr/local/share/ca-certificates ]; then
  mkdir -p "$root/usr/local/share/ca-certificates"
  cp -r /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/"
fi

# The kernel's file systems, for the tests (live capture on the loopback,
# chromium's shared memory).
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --rbind /dev "$root/dev"

# The toolchain as rustup installs it: the toolchains, read-only, and the
# rustup binary under the names of its proxies; cargo's home starts empty.
mkdir -p "$root/opt/rustup" "$root/opt/rust/bin" "$root/root/.cargo"
mount --bind "$rustup_home" "$root/opt/rustup"
mount -o remount,bind,ro "$root/opt/rustup"
cp "$rustup_bin" "$root/opt/rust/bin/rustup"
for name in cargo cargo-clippy cargo-fmt clippy-driver rustc rustdoc rustfmt rust-gdb rust-lldb; do
  ln -f "$root/opt/rust/bin/rustup" "$root/opt/rust/bin/$name"
done

[ -z "$(git -C "$repo" status --porcelain --untracked-files=no)" ] ||
  say "uncommitted changes in $repo are not checked: the clone has HEAD only"
git clone --quiet "$repo" "$root/root/framescope"
say "cloned $(git -C "$root/root/framescope" log -1 --format='%h %s')"

mapfile -t commands < <(awk '/^```/ { if (open) exit; open = 1; next } open && NF' \
  "$root/root/framescope/README.md")
[ ${#commands[@]} -gt 0 ] || { say "no commands in the README's first code block"; exit 1; }

failed=0
summary=()
for i in "${!commands[@]}"; do
  cmd="${commands[$i]}"
  log="$work/command-$((i + 1)).log"
  say "\$ $cmd"
  t0=$SECONDS
  status=0
  env -i HOME=/root USER=root LOGNAME=root LANG=C.UTF-8 TERM="${TERM:-dumb}" CI=true \
    PATH=/root/.cargo/bin:/opt/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    RUSTUP_HOME=/opt/rustup CARGO_HOME=/root/.cargo \
    chroot "$root" /bin/bash -c 'cd /root/framescope && eval "$1"' bash "$cmd" \
    </dev/null 2>&1 | tee "$log" || status=${PIPESTATUS[0]}
  took=$((SECONDS - t0))
  [ "$status" -eq 0 ] || failed=1
  summary+=("$(printf '%6d s  exit %-3d  %s' "$took" "$status" "$cmd")")
done

say "summary (root: debootstrap $suite minbase, ${boot_time} s; logs in $work)"
printf '  %s\n' "${summary[@]}"
if [ "$failed" -eq 0 ]; then
  say "passed"
else
  say "FAILED"
  exit 1
fi
