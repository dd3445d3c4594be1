#!/usr/bin/env bash
# Installs what pmipgw needs to build and test on Debian 12 / Ubuntu 22.04+: DPDK 22.11+ (with testpmd and the
# virtual-device drivers), clang for bindgen, libpcap, pkg-config, tshark + scapy for independent decoding, and for the
# end-to-end demonstration and test iproute2 (namespaces, veth, bridges), ethtool, ping and python3; for the Debian
# package and its test dpkg-dev, binutils and xz-utils, and systemd (systemd-analyze) and man-db to check the units
# and pages; mmdebstrap for the container's root filesystem; and in a virtualenv of their own
# (/opt/pmipgw-tools) the Kubernetes manifests' checkers, kubernetes-validate and checkov. kubectl (for its
# kustomize) comes with the machine: Debian 12 has none recent enough.
# Idempotent: packages already present are not touched. Needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(dpdk dpdk-dev libdpdk-dev clang libclang-dev libpcap-dev pkg-config tshark python3-scapy iproute2
  python3 ethtool iputils-ping dpkg-dev binutils xz-utils systemd man-db mmdebstrap python3-venv)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "pmipgw: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  # tshark asks whether non-root users may capture; answer for it.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | $sudo debconf-set-selections
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

tools=/opt/pmipgw-tools
if ! [ -x "$tools/bin/checkov" ] || ! [ -x "$tools/bin/kubernetes-validate" ]; then
  echo "pmipgw: installing kubernetes-validate and checkov in $tools"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo /usr/bin/python3 -m venv "$tools"
  $sudo "$tools/bin/pip" install --quiet --disable-pip-version-check kubernetes-validate==1.37.0 checkov==3.3.30
fi

if ! command -v cargo >/dev/null 2>&1; then
  [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "pmipgw: no Rust toolchain found. Install Rust 1.75 or newer with rustup (https://rustup.rs), then re-run." >&2
  exit 1
fi
pkg-config --atleast-version=22.11 libdpdk || { echo "pmipgw: DPDK >= 22.11 is required (pkg-config libdpdk)" >&2; exit 1; }
