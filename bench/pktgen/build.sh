#!/usr/bin/env bash
# Builds pktgen-dpdk 23.06.1 (not packaged in Debian) against the system DPDK 22.11, for bench/pktgen/memif.sh.
#
#   bash bench/pktgen/build.sh [--tarball PATH] [--out DIR]     # last line printed: the pktgen binary
#
# --tarball: the release tarball (default: the shared copy; elsewhere download pktgen-dpdk-23.06.1.tar.gz from
# the project's release page). --out: build directory (default target/pktgen). Re-running is cheap: the source is
# extracted and patched once, then ninja only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/../.."

tarball=/work/shared/third_party/pktgen-dpdk-23.06.1.tar.gz
out=target/pktgen
usage() { echo "usage: bash bench/pktgen/build.sh [--tarball PATH] [--out DIR]" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --tarball) [ $# -ge 2 ] || { echo "build.sh: $1 needs a value" >&2; usage; }; tarball="$2"; shift ;;
    --out) [ $# -ge 2 ] || { echo "build.sh: $1 needs a value" >&2; usage; }; out="$2"; shift ;;
    -h|--help) usage ;;
    *) echo "build.sh: unknown option $1" >&2; usage ;;
  esac
  shift
done
[ -f "$tarball" ] || { echo "build.sh: no tarball at $tarball (get pktgen-dpdk-23.06.1.tar.gz)" >&2; exit 1; }

# Build dependencies (Lua 5.3 for -f scripts; DPDK itself from the same apt source). Only what is missing.
packages=(meson ninja-build pkg-config liblua5.3-dev libnuma-dev libpcap-dev libdpdk-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "build.sh: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
src="$out/pktgen-dpdk-23.06.1"
if [ ! -f "$src/.pmipgw-patched" ]; then
  rm -rf "$src"
  tar -xzf "$tarball" -C "$out"
  # pktgen panics when a port refuses an MTU change; virtual ports (net_memif, net_pcap) answer "not supported".
  # Downgrade that one panic to a warning: the frames we send fit the default MTU anyway.
  sed -i 's/pktgen_log_panic("Cannot set MTU/pktgen_log_warning("Cannot set MTU/' "$src/app/pktgen-port-cfg.c"
  grep -q 'pktgen_log_warning("Cannot set MTU' "$src/app/pktgen-port-cfg.c" ||
    { echo "build.sh: MTU patch did not apply (not 23.06.1?)" >&2; exit 1; }
  # With Lua on, lib/lua includes rte_version.h but its meson.build does not depend on DPDK: add it.
  sed -i 's/dependencies: \[common, utils, vec, lua_dep\]/dependencies: [common, utils, vec, lua_dep, dpdk]/' \
    "$src/lib/lua/meson.build"
  grep -q 'lua_dep, dpdk' "$src/lib/lua/meson.build" || { echo "build.sh: Lua patch did not apply" >&2; exit 1; }
  touch "$src/.pmipgw-patched"
fi

# Lua is off by default in pktgen's meson options; pmipgw.lua needs it. nproc jobs (PKTGEN_JOBS to change).
[ -f "$out/build/build.ninja" ] || meson setup "$out/build" "$src" -Denable_lua=true >"$out/meson.log" ||
  { tail -30 "$out/meson.log" >&2; exit 1; }
ninja -C "$out/build" -j "${PKTGEN_JOBS:-$(nproc)}" >"$out/ninja.log" || { tail -30 "$out/ninja.log" >&2; exit 1; }
echo "$out/build/app/pktgen"
