#!/usr/bin/env bash
# Warm start of pmipgw as an LMA from a journal of N bindings: spawn to "fast path running" (every restored binding
# in the worker's table, the ports about to be polled), three rounds from the same journal.
#
#   bash bench/warmstart.sh [--bindings N] [--rounds R] [--huge-dir DIR] [--bin DIR] [--work DIR]
#
# The journal is written once by the in-process signalling path (`signalling --path codec+lma+journal
# --keep-journal`: N initial attaches through the LMA's procedures, each durable before its PBA), then each round
# starts the real binary on two net_null ports over a fresh copy of it. The gateway's own log lines give the
# phases: "durable state read back" (the journal read while EAL starts), "durable state: journal started"
# (ms: the procedures' restore and the fast-path replica), "fast path running" (the worker's table filled). Prints one line per round and the
# median; the binary's configuration matches the in-process LMA's (bench/src/bin/signalling.rs, `config`).
set -euo pipefail

bindings=1000000
rounds=3
huge_dir=
bin="${CARGO_TARGET_DIR:-$PWD/target}/release"
work=/tmp/pmipgw-bench/warmstart
while [ $# -gt 0 ]; do
  case "$1" in
    --bindings) bindings="$2"; shift ;;
    --rounds) rounds="$2"; shift ;;
    --huge-dir) huge_dir="$2"; shift ;;
    --bin) bin="$2"; shift ;;
    --work) work="$2"; shift ;;
    *) echo "usage: bash bench/warmstart.sh [--bindings N] [--rounds R] [--huge-dir DIR] [--bin DIR] [--work DIR]" >&2
       exit 2 ;;
  esac
  shift
done

mkdir -p "$work"
prefix="pmipgw-warmstart-$$"
cleanup() { rm -rf "/var/run/dpdk/$prefix"; }
trap cleanup EXIT

pristine="$work/pristine-$bindings.journal"
# The bindings' lifetimes are an hour from when the journal was written: a journal older than half that would
# come back partly expired, which is another measurement.
if [ ! -s "$pristine" ] || [ -n "$(find "$pristine" -mmin +30)" ]; then
  rm -rf "$work/write" && mkdir -p "$work/write"
  timeout -k 10 900 "$bin/signalling" --bindings "$bindings" --path codec+lma+journal \
    --keep-journal "$work/write/lma.journal" | grep -v '^{'
  mv "$work/write/lma.journal" "$pristine"
fi

if [ -n "$huge_dir" ]; then
  memory="\"--huge-dir\", \"$huge_dir\""
else
  memory="\"--no-huge\", \"-m\", \"1024\""
fi
state="$work/state"
config="$work/lma.toml"
cat > "$config" <<EOF
# Written by bench/warmstart.sh: the in-process LMA of bench/src/bin/signalling.rs as a gateway.
[dpdk]
lcores = "0"
eal_args = ["--no-shconf", "--no-pci", "--file-prefix", "$prefix", $memory, "--log-level", "lib.eal:warning"]
mempool_size = 8191

[run.idle]
policy = "sleep"

[gateway]
lmaa = ["2001:db8:2::1"]
table_capacity = $(( bindings + 1 ))

[[port]]
name = "core"
device = "net_null0"
roles = ["core"]
next_hop_mac = "02:00:00:00:c0:01"

[[port]]
name = "sgi"
device = "net_null1"
roles = ["sgi"]
next_hop_mac = "02:00:00:00:5a:01"

[lma]
allowed_mags = ["2001:db8:1::/48"]
max_bindings = $(( bindings + 1 ))
default_apn = "internet"
[[lma.apns]]
name = "internet"
ipv6_pool = "2001:db8:100::/40"
ipv4_pool = "10.0.0.0/8"
[lma.heartbeat]
restart_counter_file = "$state/restart-counter"

[state]
dir = "$state"

[api]
socket = "$work/api.sock"
[metrics]
enabled = false
EOF

field() { grep -o "$1=[0-9]*" <<<"$2" | head -1 | cut -d= -f2; }
results=()
for round in $(seq 1 "$rounds"); do
  rm -rf "$state" && mkdir -p "$state"
  cp "$pristine" "$state/lma.journal"
  echo 1 > "$state/restart-counter"
  sync
  log="$work/round-$round.log"
  # A log left by an earlier run would be read before the new process truncates it.
  rm -f "$log"
  start_ns=$(date +%s%N)
  timeout -k 5 300 "$bin/pmipgw" --config "$config" > "$log" 2>&1 &
  pid=$!
  running=
  while kill -0 "$pid" 2>/dev/null; do
    if grep -q "fast path running" "$log"; then running=$(date +%s%N); break; fi
    sleep 0.02
  done
  kill -INT "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if [ -z "$running" ]; then echo "warmstart: round $round did not reach forwarding; log $log" >&2; tail -5 "$log" >&2; exit 1; fi
  total_ms=$(( (running - start_ns) / 1000000 ))
  restored=$(grep "journal started" "$log" | sed 's/\x1b\[[0-9;]*m//g')
  read_at=$(grep "durable state read back" "$log" | cut -c1-27)
  running_at=$(grep "fast path running" "$log" | cut -c1-27)
  echo "warmstart: round $round: spawn to forwarding ${total_ms} ms; restored $(field restored "$restored") (expired $(field expired "$restored")) in $(field ' ms' "$restored") ms (read back at ${read_at:11}, forwarding at ${running_at:11}); load $(cut -d' ' -f1 /proc/loadavg)"
  results+=("$total_ms")
done
median=$(printf '%s\n' "${results[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}')
echo "warmstart: $bindings bindings, $rounds rounds: spawn to forwarding $(IFS=/; echo "${results[*]}") ms, median $median ms"
