#!/usr/bin/env bash
# What of the pktgen setup can be tested without pktgen-dpdk and NICs (it is not packaged in Debian):
#  1. the shipped pcaps are what the generator writes today (bench/pktgen/pcap, regenerated and compared);
#  2. the gateway configurations for a two-port DUT pass `pmipgw --check-config`;
#  3. the two-port back-to-back run, with net_pcap devices standing in for the NICs: pmipgw reads the uplink
#     pcap on its core port and the downlink pcap on its PDN/UE port and must forward every frame of both;
#  4. pmipgw.lua runs against a stand-in of pktgen's Lua API (mock_pktgen.lua), fixed-rate and search modes.
# As root, from anywhere: bash bench/pktgen/check.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release -q -p pmipgw -p bench --bin pmipgw --bin pcapgen
bin="$CARGO_TARGET_DIR/release"
tmp=$(mktemp -d /tmp/pmipgw-pktgen-check.XXXXXX)
trap 'rm -rf "$tmp" /var/run/dpdk/pmipgw-pktgen-check' EXIT

echo "1. shipped pcaps"
"$bin/pcapgen" --out "$tmp/pcap" --bindings 1000 --sizes 64 >/dev/null
for f in bench/pktgen/pcap/*.pcap; do
  cmp -s "$f" "$tmp/pcap/$(basename "$f")" || { echo "  $f differs from the generator's output" >&2; exit 1; }
done
echo "   $(ls bench/pktgen/pcap/*.pcap | wc -l) pcaps match the generator"

echo "2. DUT configurations"
"$bin/pcapgen" --out "$tmp/dut" --bindings 1000 --sizes 64 --directions lma-up-v6 --dut-configs >/dev/null
for c in "$tmp"/dut/*-dut.toml; do "$bin/pmipgw" --config "$c" --check-config | sed 's/^/   /'; done

echo "3. back to back on net_pcap"
for role in lma mag; do
  for family in v6 v4; do
    up="$tmp/pcap/$role-up-$family-1k-64.pcap"
    down="$tmp/pcap/$role-down-$family-1k-64.pcap"
    # The core port receives GRE (LMA uplink, MAG downlink); the other port plain IP.
    if [ "$role" = lma ]; then core_in=$up; pdn_in=$down; else core_in=$down; pdn_in=$up; fi
    out="$tmp/b2b-$role-$family"
    mkdir -p "$out"
    "$bin/pcapgen" --out "$out" --bindings 1000 --sizes 64 --directions "$role-up-$family" --dut-configs \
      --core net_pcap0 --core-devargs "rx_pcap=$core_in,tx_pcap=$out/core-out.pcap" \
      --pdn net_pcap1 --pdn-devargs "rx_pcap=$pdn_in,tx_pcap=$out/pdn-out.pcap" --lcores 0 \
      --eal=--no-huge,-m,512,--no-pci,--file-prefix,pmipgw-pktgen-check >/dev/null
    timeout 60 "$bin/pmipgw" --config "$out/$role-$family-1k-dut.toml" --exit-when-idle-ms 300 \
      --counters-json "$out/c.json" >"$out/log" 2>&1 || { tail "$out/log" >&2; exit 1; }
    python3 - "$out/c.json" "$role-$family" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))["fastpath"]["total"]
ok = c["encapsulated"] == 1000 and c["decapsulated"] == 1000 and c["dropped"] == 0
print("   %-7s encapsulated %d, decapsulated %d, dropped %d: %s" % (sys.argv[2], c["encapsulated"], c["decapsulated"], c["dropped"], "ok" if ok else "FAILED"))
sys.exit(0 if ok else 1)
PY
  done
done

echo "4. pmipgw.lua against the pktgen stand-in"
command -v lua5.3 >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends lua5.3 >/dev/null
PMIPGW_SECONDS=1 lua5.3 bench/pktgen/mock_pktgen.lua bench/pktgen/pmipgw.lua | sed 's/^/   /'
PMIPGW_SEARCH=1 PMIPGW_SECONDS=1 lua5.3 bench/pktgen/mock_pktgen.lua bench/pktgen/pmipgw.lua | tail -1 | sed 's/^/   /'
echo "pktgen check: ok"
