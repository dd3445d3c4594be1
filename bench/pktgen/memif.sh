#!/usr/bin/env bash
# pktgen → net_memif → DUT → net_memif → pktgen on one machine, no NIC: first pmipgw as the DUT, then
# dpdk-testpmd --forward-mode=macswap on the same input, and the ratio of the two forwarded rates.
#
#   sudo bash bench/pktgen/memif.sh [--direction lma-up-v6] [--seconds 5] [--pktgen PATH] [--no-build]
#
# Rates are packets per second counted at pktgen's receiving port (bench/pktgen/pmipgw.lua, one fixed-rate
# trial at 100 %). The floor is testpmd macswap, not io: like the gateway it reads and rewrites every frame's
# Ethernet header and sends it out of the other port, so the ratio is the gateway's own lookup/encap/decap cost;
# io forwards without touching the frame, and the harness (bench/README.md) also takes macswap as its floor.
#
# Quirks this script handles (each met here):
#  - pktgen needs a terminal (else it exits 255: "scrn_constructor: tcgetattr failed"): run under
#    `script -qfec` (stdin /dev/null; its screen goes to a log the result line is read from).
#  - pktgen aborts when a port refuses an MTU change, as net_memif does ("Cannot set MTU 1500 on port 0,
#    (95)Operation not supported"): build.sh patches that panic into a warning.
#  - memif: the server must exist before the client connects (else pktgen: "memif_connect_client(): Failed to
#    connect socket" then "PANIC: rte_eth_dev_start: port=0, Operation not permitted"), so the DUT is the server
#    (both ports) and is started first; pktgen, the client, starts once the DUT has logged that its ports are
#    up. DPDK 22.11 puts memif sockets in the abstract namespace by default: socket-abstract=no puts them in
#    this run's directory, unique per run and removed with it.
#  - memif resets its port counters when the peer disconnects, so both DUTs print zero port stats at exit:
#    the DUTs' own view comes from pmipgw's --counters-json (fast-path counters) and testpmd's TX-dropped.
#  - testpmd --auto-start exits at once when stdin reads EOF ("Press enter to exit"): it gets a FIFO held
#    open instead, and SIGINT to stop. It also waits up to ~9 s for link up, until pktgen connects.
#  - pktgen reserves ~1.3 GB per port (with -m 2048: "Cannot create mbuf pool (Range TX 1:0) port 1 ... Cannot
#    allocate memory"): 2 MB hugepages (4 GB, reserved for the run and given back) or, if the kernel cannot find
#    them, --no-huge with -m 4096 (memif's rings are its own memfd regions, so memif works either way; slower).
#  - pmipgw.lua does `require "Pktgen"`: LUA_PATH points at Pktgen.lua in pktgen's source tree.
#  - 2 cores: each DUT's forwarding lcore has CPU 1 to itself (its main/control lcore sleeps on CPU 0), pktgen's
#    main lcore and one worker lcore serving both ports share CPU 0. pktgen is then co-limiting: what the DUT
#    cannot hand to pktgen's full rx ring shows as the DUT's tx drops, the same way for both DUTs.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD

direction=lma-up-v6
seconds=5
pktgen=
build=1
usage() {
  echo "usage: bash bench/pktgen/memif.sh [--direction {lma,mag}-{up,down}-{v4,v6}] [--seconds N] [--pktgen PATH] [--no-build]" >&2
  exit 2
}
while [ $# -gt 0 ]; do
  case "$1" in
    --direction) [ $# -ge 2 ] || { echo "memif.sh: $1 needs a value" >&2; usage; }; direction="$2"; shift ;;
    --seconds) [ $# -ge 2 ] || { echo "memif.sh: $1 needs a value" >&2; usage; }; seconds="$2"; shift ;;
    --pktgen) [ $# -ge 2 ] || { echo "memif.sh: $1 needs a value" >&2; usage; }; pktgen="$2"; shift ;;
    --no-build) build=0 ;;
    -h|--help) usage ;;
    *) echo "memif.sh: unknown option $1" >&2; usage ;;
  esac
  shift
done
[[ "$direction" =~ ^(lma|mag)-(up|down)-(v4|v6)$ ]] || { echo "memif.sh: bad --direction $direction" >&2; usage; }
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || { echo "memif.sh: bad --seconds $seconds" >&2; usage; }
role=${direction%%-*}; way=$(cut -d- -f2 <<<"$direction"); family=${direction##*-}
[ "$(id -u)" -eq 0 ] || exec sudo -E bash "$0" "$@"

command -v cargo >/dev/null 2>&1 || export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
[ "$build" -eq 0 ] || cargo build --release -q -p pmipgw -p bench --bin pmipgw --bin pcapgen
bin="$CARGO_TARGET_DIR/release"
[ -n "$pktgen" ] || pktgen=$(bash bench/pktgen/build.sh | tail -1)
[ -x "$pktgen" ] || { echo "memif.sh: no pktgen binary at $pktgen" >&2; exit 1; }
# Pktgen.lua sits at the top of pktgen's source tree: ../.. of build/app/pktgen, or build.sh's extracted copy.
lua_dir=$(dirname "$(ls "$(dirname "$pktgen")"/../../Pktgen.lua "$(dirname "$pktgen")"/../../pktgen-dpdk-*/Pktgen.lua \
  2>/dev/null | head -1)")
[ -f "$lua_dir/Pktgen.lua" ] || { echo "memif.sh: Pktgen.lua not found near $pktgen" >&2; exit 1; }
testpmd=$(command -v dpdk-testpmd) || { echo "memif.sh: dpdk-testpmd missing (apt-get install dpdk)" >&2; exit 1; }
pcap="$repo/bench/pktgen/pcap/$direction-1k-64.pcap"
[ -f "$pcap" ] || { echo "memif.sh: no $pcap" >&2; exit 1; }
# The core port (pktgen port 0) receives GRE: LMA uplink and MAG downlink. The other way pktgen port 1 sends.
if [ "$role-$way" = lma-up ] || [ "$role-$way" = mag-down ]; then tx=0; else tx=1; fi

work=$(mktemp -d /tmp/pmipgw-memif.XXXXXX)
prefix="pmipgw-memif-$$"
want=2048   # 2 MB pages: pktgen ~2.7 GB for 2 ports, a DUT a few hundred MB
dut_pid=
mounted=0
cleanup() {
  [ -z "$dut_pid" ] || { kill -INT "$dut_pid" 2>/dev/null && wait "$dut_pid" 2>/dev/null; } || true
  if [ "$mounted" -eq 1 ]; then
    umount "$work/huge" 2>/dev/null || true
    # Give back only what this run added (another run may hold pages too).
    echo $(( $(cat /proc/sys/vm/nr_hugepages) - want )) >/proc/sys/vm/nr_hugepages 2>/dev/null || true
  fi
  rm -rf "$work" /var/run/dpdk/"$prefix"-*
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$work/huge"
pages=$(cat /proc/sys/vm/nr_hugepages)
if echo $(( pages + want )) >/proc/sys/vm/nr_hugepages 2>/dev/null &&
   [ "$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)" -ge "$want" ] &&
   mount -t hugetlbfs -o pagesize=2M nodev "$work/huge" 2>/dev/null; then
  mounted=1; mode=hugepages
  mem() { echo "--huge-dir $work/huge --huge-unlink"; }
else
  echo "$pages" >/proc/sys/vm/nr_hugepages 2>/dev/null || true
  mode=no-huge
  mem() { echo "--no-huge -m $1"; }
fi

memif() { echo "net_memif$1,role=$2,id=$1,socket=$work/$3.sock,socket-abstract=no"; }
eal_gw=$(mem 1024 | tr ' ' ,)
"$bin/pcapgen" --out "$work/gen" --bindings 1000 --sizes 64 --directions "$direction" --dut-configs \
  --core net_memif0 --core-devargs "$(memif 0 server core | cut -d, -f2-)" \
  --pdn net_memif1 --pdn-devargs "$(memif 1 server pdn | cut -d, -f2-)" --lcores 0-1 \
  --eal="$eal_gw,--no-pci,--file-prefix,$prefix-gw" >/dev/null
config="$work/gen/$role-$family-1k-dut.toml"

# Starts a DUT (server side) in the background and waits for the line that says its ports are started.
start_dut() { # name ready-regex argv...
  local name=$1 ready=$2; shift 2
  mkfifo "$work/$name.in"
  timeout -s INT -k 10 $(( seconds + 90 )) "$@" <"$work/$name.in" >"$work/$name.log" 2>&1 &
  dut_pid=$!
  exec 3>"$work/$name.in"   # held open: testpmd's stdin never reaches EOF
  for _ in $(seq 300); do
    grep -Eq "$ready" "$work/$name.log" && [ -S "$work/core.sock" ] && [ -S "$work/pdn.sock" ] && return 0
    kill -0 "$dut_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "memif.sh: $name did not come up:" >&2; tail -20 "$work/$name.log" >&2; exit 1
}
stop_dut() {
  kill -INT "$dut_pid" 2>/dev/null || true
  wait "$dut_pid" 2>/dev/null || true
  dut_pid=
  exec 3>&-
}
# pktgen as the memif client, one fixed-rate trial of pmipgw.lua; prints the forwarded packets per second.
run_pktgen() { # name
  local log="$work/pktgen-$1.log"
  (cd "$work" && LUA_PATH="$lua_dir/?.lua;;" PMIPGW_TX=$tx PMIPGW_SECONDS=$seconds PMIPGW_RATE=100 \
    script -qfec "timeout -k 10 $(( seconds + 60 )) $pktgen --lcores=0@0,1@0 $(mem 4096) --no-pci \
      --file-prefix $prefix-pg --log-level lib.eal:warning --vdev $(memif 0 client core) \
      --vdev $(memif 1 client pdn) -- -P -m '1.[0-1]' -s $tx:$pcap -f $repo/bench/pktgen/pmipgw.lua" \
    "$log" </dev/null >/dev/null) || true
  local line
  line=$(grep -ao 'pmipgw: rate .*' "$log" | tr -d '\r' | tail -1)
  [ -n "$line" ] || { echo "memif.sh: pktgen gave no result ($1), see its screen:" >&2;
    tail -c 1500 "$log" | tr -d '\033' >&2; exit 1; }
  echo "$line" >"$work/$1.result"
  # "(LOST of SENT)": forwarded = SENT - LOST over the trial's seconds.
  sed -E 's/.*\(([0-9-]+) of ([0-9]+)\).*/\2 \1/' <<<"$line" | awk -v s="$seconds" '{ printf "%d", ($1 - $2) / s }'
}

echo "memif bench: $direction, 1k bindings, 64 B, ${seconds} s per DUT, $mode, pktgen port $tx sends;" \
  "load $(cut -d' ' -f1-3 /proc/loadavg)"

start_dut pmipgw 'fast path running' "$bin/pmipgw" --config "$config" --counters-json "$work/gw.json"
gw_pps=$(run_pktgen pmipgw)
stop_dut
gw_own=$(python3 -c '
import json, sys
t = json.load(open(sys.argv[1]))["fastpath"]["total"]
rx = sum(p["rx_packets"] for p in t["ports"]); out = sum(p["tx_packets"] for p in t["ports"])
drops = ", ".join("%s %d" % (k, v) for k, v in t["drops"].items() if v) or "none"
print("received %d, sent %d, dropped: %s" % (rx, out, drops))' "$work/gw.json" 2>/dev/null || echo "no counters")

start_dut testpmd 'Checking link statuses|Press enter' "$testpmd" -l 0-1 $(mem 1024) --no-pci \
  --file-prefix "$prefix-tp" --log-level lib.eal:warning --vdev "$(memif 0 server core)" \
  --vdev "$(memif 1 server pdn)" -- --forward-mode=macswap --auto-start --total-num-mbufs=65535 \
  --mbcache=256 --burst=64
tp_pps=$(run_pktgen testpmd)
stop_dut
tp_drop=$(grep -A2 'Accumulated forward statistics' "$work/testpmd.log" | grep -o 'TX-dropped: [0-9]*' || echo '?')

printf '  pmipgw           %12s pps forwarded   (%s)\n' "$gw_pps" "$(sed 's/^pmipgw: //' "$work/pmipgw.result")"
printf '                   pmipgw counters: %s\n' "$gw_own"
printf '  testpmd macswap  %12s pps forwarded   (%s)\n' "$tp_pps" "$(sed 's/^pmipgw: //' "$work/testpmd.result")"
printf '                   testpmd %s\n' "$tp_drop"
awk -v g="$gw_pps" -v t="$tp_pps" 'BEGIN { if (t > 0) printf "  ratio pmipgw/testpmd  %.2f\n", g / t; else print "  ratio: n/a" }'
echo "  load average $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min; 2 CPUs)"
