#!/usr/bin/env bash
# The fast-path examples on DPDK virtual devices (formerly README command 1; command 1 is now deploy/demo.sh, the
# end-to-end demonstration). Installs what is missing, builds the gateway, runs the LMA and MAG examples with static
# bindings on net_pcap ports fed by shipped pcaps and prints their counters (per port, per drop reason, per binding).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  # Root is needed (network namespaces, DPDK); from a user shell, sudo, keeping the user's PATH (cargo).
  command -v sudo >/dev/null 2>&1 || { echo "$0: run it as root (sudo is not installed)" >&2; exit 1; }
  exec sudo -E env "PATH=$PATH" bash "$0" "$@"
fi
bash deploy/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"

echo "== building pmipgw (release)"
cargo build --release --quiet --bin pmipgw
mkdir -p /tmp/pmipgw-example
gateway="${CARGO_TARGET_DIR:-target}/release/pmipgw"
echo "== running deploy/examples/lma-pcap.toml: an LMA on net_pcap ports core + sgi with two static bindings"
"$gateway" --config deploy/examples/lma-pcap.toml
echo
echo "== running deploy/examples/mag-pcap.toml: a MAG on net_pcap ports core + access with two static bindings"
"$gateway" --config deploy/examples/mag-pcap.toml
echo
for out in lma-core lma-sgi mag-core mag-access; do
  echo "== output: /tmp/pmipgw-example/$out-out.pcap ($(tshark -r "/tmp/pmipgw-example/$out-out.pcap" 2>/dev/null | wc -l) frames; open it in Wireshark)"
done
