#!/usr/bin/env bash
# README command 1: the gateway's demonstration on DPDK virtual devices. Installs what is missing, builds the
# gateway, runs the LMA and MAG fast-path examples on net_pcap ports and prints their counters (per port, per
# drop reason, per binding).
set -euo pipefail
cd "$(dirname "$0")/.."
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
