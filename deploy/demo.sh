#!/usr/bin/env bash
# README command 1: the end-to-end demonstration. Installs what is missing, builds the gateway, then runs
# deploy/e2e/pmipgw_e2e.py: a UE host, a PDN server host, two MAGs and an LMA in network namespaces, PDN connections
# of type ipv4, ipv6 and ipv4v6 (PBU/PBA, ping, TCP transfers, bindings on both sides, delete) and a handover from
# MAG1 to MAG2, once over IPv6 and once over IPv4 transport between the gateways. Leaves the core-link captures in
# /tmp/pmipgw-demo/ and nothing else: namespaces, processes and files go, on Ctrl-C and on failure too.
#
#   bash deploy/demo.sh                 # both transports (as root, or it re-runs itself with sudo)
#   bash deploy/demo.sh v6              # one of them (v6 or v4); further arguments go to the driver (--quiet, ...)
#
# Exits 0 only if every step of every run passed.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  # Root is needed (network namespaces, DPDK); from a user shell, sudo, keeping the user's PATH (cargo).
  command -v sudo >/dev/null 2>&1 || { echo "$0: run it as root (sudo is not installed)" >&2; exit 1; }
  exec sudo -E env "PATH=$PATH" bash "$0" "$@"
fi
transports=(v6 v4)
case "${1:-}" in
  v6 | v4) transports=("$1"); shift ;;
  both) shift ;;
esac

bash deploy/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"
echo "== building pmipgw and pmipctl (release)"
cargo build --release --quiet --bin pmipgw --bin pmipctl
binaries="$(realpath "${CARGO_TARGET_DIR:-target}")/release"

out=/tmp/pmipgw-demo
mkdir -p "$out"
# The driver tears down before it exits; afterwards stop here instead of starting the next transport.
trap 'exit 130' INT TERM
declare -A result
status=0
for transport in "${transports[@]}"; do
  echo
  rc=0
  python3 deploy/e2e/pmipgw_e2e.py --transport "$transport" --binary-dir "$binaries" \
    --pcap "$out/core-$transport.pcap" --access-pcap "$out/air-$transport.pcap" \
    --summary "$out/summary-$transport.json" "$@" || rc=$?
  [ "$rc" -eq 130 ] && exit 130
  if [ "$rc" -eq 0 ]; then result[$transport]=passed; else result[$transport]="FAILED (exit $rc)"; status=1; fi
done

echo
echo "== pmipgw end-to-end demonstration"
for transport in "${transports[@]}"; do
  echo "   $transport transport: ${result[$transport]}"
  if [ -f "$out/core-$transport.pcap" ]; then
    echo "     core link (MAGs ⇄ LMA): $out/core-$transport.pcap ($(capinfos -c -M "$out/core-$transport.pcap" 2>/dev/null | awk '/Number of packets/ {print $NF}') frames)"
    echo "     air link (UE side):     $out/air-$transport.pcap"
    echo "     results (JSON):         $out/summary-$transport.json"
  fi
done
cat <<EOF

Open a capture in Wireshark (wireshark $out/core-v6.pcap) or with tshark:
  tshark -r $out/core-v6.pcap -Y mipv6                         # the PBU / PBA / BRI exchanges
  tshark -r $out/core-v6.pcap -Y gre -T fields -e gre.key | sort | uniq -c   # GRE frames per key
Over IPv4 transport the MAGs signal with TS 29.275 IPv4-UDP (an IPv6 header behind UDP 5436): in Wireshark use
Decode As… UDP port 5436 → IPv6, with tshark add -d udp.port==5436,ipv6.
EOF
exit $status
