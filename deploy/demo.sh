#!/usr/bin/env bash
# README command 1: the gateway's demonstration on DPDK virtual devices. Installs what is missing, builds the
# gateway, runs the example configuration on net_pcap ports and prints the counters.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"

echo "== building pmipgw (release)"
cargo build --release --quiet --bin pmipgw
mkdir -p /tmp/pmipgw-example
echo "== running deploy/examples/l2fwd-pcap.toml: net_pcap0 (shipped pcap) -> L2 forward -> net_pcap1"
"${CARGO_TARGET_DIR:-target}/release/pmipgw" --config deploy/examples/l2fwd-pcap.toml
echo "== output: /tmp/pmipgw-example/out.pcap ($(tshark -r /tmp/pmipgw-example/out.pcap 2>/dev/null | wc -l) frames; open it in Wireshark)"
