#!/usr/bin/env bash
# pmipgw benchmarks in one command (see bench/README.md). As root (it re-runs itself with sudo otherwise):
#
#   bash bench/run.sh                 # everything: throughput, scaling, churn, signalling, warm start (~1 h on 2 cores)
#   bash bench/run.sh --quick         # a smoke run: 1k bindings, 64 B, short windows (~5 min)
#   bash bench/run.sh --only throughput|scaling|churn|signalling|warmstart [--quick]
#   bash bench/run.sh --only throughput --peer ovs   # and Open vSwitch's DPDK datapath on the same pcaps (bench/ovs.sh)
#
# It installs what it needs (Debian packages: DPDK with testpmd, libpcap, clang, a TrueType font for the chart),
# builds pmipgw and the bench binaries in release mode, reserves 2 MB hugepages and mounts a hugetlbfs for the
# run when the machine allows it (and gives them back afterwards), and writes its results to bench/results/
# (override with PMIPGW_BENCH_OUT): CSV, Markdown tables, the PNG chart and the console log.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  exec sudo -E bash "$0" "$@"
fi

quick=0
only=all
peer=
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --only) only="$2"; shift ;;
    --peer) peer="$2"; shift ;;
    *) echo "usage: bash bench/run.sh [--quick] [--only throughput|scaling|churn|signalling|warmstart] [--peer ovs]" >&2; exit 2 ;;
  esac
  shift
done

bash deploy/install-deps.sh
if ! dpkg-query -W -f='${Status}' fonts-dejavu-core 2>/dev/null | grep -q "install ok installed"; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends fonts-dejavu-core >/dev/null
fi
command -v cargo >/dev/null 2>&1 || export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release -p pmipgw -p bench --bins
bin="$CARGO_TARGET_DIR/release"

out="${PMIPGW_BENCH_OUT:-$PWD/bench/results}"
work="${PMIPGW_BENCH_WORK:-/tmp/pmipgw-bench}"
mkdir -p "$out" "$work"

if [ "$quick" -eq 1 ]; then
  bindings=1000; sizes=64; seconds=1; churn_bindings=1000; scaling_bindings=1000; signalling_bindings=100000
  punt_pbus=100000
  suffix=-quick
else
  bindings=1000,100000,1000000; sizes=64,512; seconds=3; churn_bindings=1000,1000000; scaling_bindings=1000,1000000
  signalling_bindings=1000000; punt_pbus=1000000; suffix=
fi

# Hugepages: enough for the largest run (1M packets of input held in mbufs), if the kernel can find them.
huge_mb=$(( quick == 1 ? 1024 : 3584 ))
huge_dir="$work/hugetlbfs"
prev_pages=$(cat /proc/sys/vm/nr_hugepages)
mounted=0
cleanup() {
  if [ "$mounted" -eq 1 ]; then umount "$huge_dir" 2>/dev/null || true; fi
  echo "$prev_pages" > /proc/sys/vm/nr_hugepages 2>/dev/null || true
}
trap cleanup EXIT
mode_args=()
want=$(( huge_mb / 2 ))
if echo $(( prev_pages + want )) > /proc/sys/vm/nr_hugepages 2>/dev/null &&
   [ "$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)" -ge "$want" ] &&
   mkdir -p "$huge_dir" && mount -t hugetlbfs -o pagesize=2M nodev "$huge_dir" 2>/dev/null; then
  mounted=1
  mode_args=(--huge-dir "$huge_dir")
  echo "bench: mode hugepages ($want x 2 MB reserved at $huge_dir, returned at exit)"
else
  echo "$prev_pages" > /proc/sys/vm/nr_hugepages 2>/dev/null || true
  echo "bench: mode no-huge (could not reserve $want hugepages)"
fi

log="$out/run$suffix.log"   # appended to: one section per run
{
  echo "bench: $(date -u '+%F %T') UTC on $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)); load $(cut -d' ' -f1-3 /proc/loadavg)"
  git log -1 --format='bench: commit %h %s' 2>/dev/null || true
  echo "bench: stages $only$( [ "$quick" -eq 1 ] && echo ', quick')"
} | tee -a "$log"
harness=("$bin/harness" --out "$out" --work "$work" --pmipgw "$bin/pmipgw" --fastpath "$bin/fastpath" "${mode_args[@]}")

if [ "$only" = all ] || [ "$only" = throughput ]; then
  "${harness[@]}" --name "throughput$suffix" --bindings "$bindings" --sizes "$sizes" --seconds "$seconds" 2>&1 | tee -a "$log"
  # The fast path's UE-address index against DPDK's rte_hash, each looked up the way the pipeline would.
  if [ "$mounted" -eq 1 ]; then hash_mem=(--huge-dir "$huge_dir"); else hash_mem=(--no-huge -m 1536); fi
  hash_prefix="pmipgw-hashcmp-$$"
  timeout -k 10 600 "$bin/hashcmp" --bindings "$bindings" -- -l 0 --no-pci --file-prefix "$hash_prefix" \
    --log-level lib.eal:warning "${hash_mem[@]}" 2>&1 | grep '^|' | tee "$out/hashcmp$suffix.md" | tee -a "$log"
  rm -rf "/var/run/dpdk/$hash_prefix"
  if [ "$peer" = ovs ]; then
    # The same traffic model through Open vSwitch (flow-based GRE, one OpenFlow rule per key or UE, tuned for many
    # keys), one PMD thread on the same kind of port, over a sustained window after its flow cache settles; beside
    # it, pmipgw and testpmd macswap of this run (64 B). OVS reserves its own hugepages (4.6 GB at 1M).
    ovs_md="$out/ovs$suffix.md"
    {
      echo "| direction | bindings | OVS Mpps | pmipgw Mpps | testpmd macswap Mpps | OVS upcalls in window | OVS megaflows | check | load |"
      echo "|---|---:|---:|---:|---:|---:|---:|---|---|"
    } > "$ovs_md"
    for n in ${bindings//,/ }; do
      for d in lma-up-v6 lma-up-v4 lma-down-v6 lma-down-v4 mag-up-v6 mag-up-v4 mag-down-v6 mag-down-v4; do
        line=$(timeout -k 10 2400 bash bench/ovs.sh --direction "$d" --bindings "$n" --seconds "$(( seconds * 3 ))" \
          --reserve-huge auto 2>&1 | tee -a "$log" | grep '^ovs ' | tail -1) || true
        field() { grep -o " $1=[^ ]*" <<<"$line" | cut -d= -f2; }
        ours=$(awk -F, -v d="$d" -v n="$n" '$1 == d && $2 == n && $3 == 64 {print $6 " | " $8}' "$out/throughput$suffix.csv")
        echo "| $d | $n | $(awk '{print $4}' <<<"${line:-x x x failed}") | ${ours:- | } | $(field upcalls) | $(field megaflows) | $(field check) | $(field load) |" >> "$ovs_md"
      done
    done
    tee -a "$log" < "$ovs_md"
  fi
fi
if [ "$only" = all ] || [ "$only" = scaling ]; then
  # pmipgw itself with one and then two workers (EAL --lcores: its sleeping control thread shares CPU 0 with the
  # first worker), against testpmd on one and two cores; one rx_pcap per worker's queue.
  for w in 1 2; do
    "${harness[@]}" --workers "$w" --name "scaling-${w}w$suffix" --bindings "$scaling_bindings" \
      --sizes 64 --directions lma-up-v6,lma-down-v4,mag-up-v6,mag-down-v4 --seconds "$seconds" 2>&1 | tee -a "$log"
  done
fi
if [ "$only" = all ] || [ "$only" = churn ]; then
  "${harness[@]}" --name "churn$suffix" --churn-rate 100000 --bindings "$churn_bindings" --sizes 64 \
    --directions lma-up-v6,lma-down-v4,mag-up-v6,mag-down-v4 --seconds "$(( seconds + 2 ))" 2>&1 | tee -a "$log"
fi
if [ "$only" = all ] || [ "$only" = signalling ]; then
  "$bin/signalling" --bindings "$signalling_bindings" --json "$out/signalling$suffix.json" 2>&1 | grep -v '^{' | tee -a "$log"
  # The same through the binary: pmipgw as an LMA on net_pcap, PBUs punted to its control thread, PBAs sent.
  "${harness[@]}" --name "signalling-punt$suffix" --punt-pbus "$punt_pbus" --seconds "$(( seconds + 2 ))" 2>&1 | tee -a "$log"
  # The same without durable state (the journal off): the cost of writing every binding down before its PBA.
  "${harness[@]}" --name "signalling-punt-not-durable$suffix" --punt-pbus "$punt_pbus" --punt-not-durable \
    --seconds "$(( seconds + 2 ))" 2>&1 | tee -a "$log"
  # Fairness: the same storm from one MAG, and a second MAG with one PBU in 5,000 (about 1 % of the control
  # thread's capacity at the replay's rate), each admitted within its share (gateway.signalling_rate_per_peer).
  "${harness[@]}" --name "signalling-fairness$suffix" --punt-pbus "$punt_pbus" --punt-second-peer-every 5000 \
    --seconds "$(( seconds + 2 ))" 2>&1 | tee -a "$log"
  # New attaches per second: 100k distinct PBUs read once, back to back and then paced by filler frames the
  # gateway drops at once (a 400-filler pcap is 3 GB in the work directory while it runs).
  "${harness[@]}" --name "signalling-attach$suffix" --attach-pbus 100000 --attach-fillers 0,50,100,200,400 2>&1 \
    | tee -a "$log"
fi
if [ "$only" = all ] || [ "$only" = warmstart ]; then
  # A warm start of pmipgw as an LMA from a journal of 1M bindings (100k quick), spawn to forwarding.
  ws_args=(--bindings "$(( quick == 1 ? 100000 : 1000000 ))" --bin "$bin" --work "$work/warmstart")
  if [ "$mounted" -eq 1 ]; then ws_args+=(--huge-dir "$huge_dir"); fi
  bash bench/warmstart.sh "${ws_args[@]}" 2>&1 | tee -a "$log"
fi
echo "bench: done $(date -u '+%F %T') UTC; load $(cut -d' ' -f1-3 /proc/loadavg); results in $out" | tee -a "$log"
