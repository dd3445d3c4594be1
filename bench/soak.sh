#!/usr/bin/env bash
# Soak and churn, the real gateways for minutes (see bench/README.md "Soak"). As root (it re-runs itself with sudo
# otherwise):
#
#   bash bench/soak.sh                  # 10-minute soak, then 3 rounds of 1M PDN connections (10k alive) at the LMA
#   bash bench/soak.sh --duration 3600  # a longer soak
#   bash bench/soak.sh --quick          # 60 s soak, 3 rounds of 100k
#   bash bench/soak.sh --only soak|cycle
#
# Writes bench/results/soak.json, pdn-cycle.json (every check, figure and memory sample) and soak.md (the figures),
# override with PMIPGW_BENCH_OUT. Exits 0 only if every check passed.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  exec sudo -E bash "$0" "$@"
fi

duration=600
creates=1000000
live=10000
only=all
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration="$2"; shift ;;
    --quick) duration=60; creates=100000 ;;
    --only) only="$2"; shift ;;
    *) echo "usage: bash bench/soak.sh [--duration SECONDS] [--quick] [--only soak|cycle]" >&2; exit 2 ;;
  esac
  shift
done

bash deploy/install-deps.sh
command -v cargo >/dev/null 2>&1 || export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release --quiet -p pmipgw -p bench --bin pmipgw --bin pmipctl --bin pdncycle
bin="$CARGO_TARGET_DIR/release"
out="${PMIPGW_BENCH_OUT:-$PWD/bench/results}"
mkdir -p "$out"
trap 'exit 130' INT TERM

status=0
if [ "$only" = all ] || [ "$only" = soak ]; then
  echo "== soak: ${duration} s (load $(cut -d' ' -f1-3 /proc/loadavg))"
  python3 deploy/e2e/pmipgw_soak.py --duration "$duration" --binary-dir "$bin" --summary "$out/soak.json" \
    --quiet || status=1
fi
if [ "$only" = all ] || [ "$only" = cycle ]; then
  echo "== PDN cycle: 3 x $creates created and deleted, $live alive (load $(cut -d' ' -f1-3 /proc/loadavg))"
  python3 deploy/e2e/pmipgw_soak.py --pdn-cycle "$creates" --cycle-live "$live" --binary-dir "$bin" \
    --summary "$out/pdn-cycle.json" --quiet || status=1
fi

# The figures, as Markdown.
python3 - "$out" <<'PY'
import json, os, sys, time
out = sys.argv[1]
lines = [f"# Soak and churn ({time.strftime('%Y-%m-%d')}, load {open('/proc/loadavg').read().split()[0]})", ""]
for name in ("soak", "pdn-cycle"):
    path = os.path.join(out, f"{name}.json")
    if not os.path.exists(path):
        continue
    s = json.load(open(path))
    lines += [f"## {name}: {'PASSED' if s.get('passed') else 'FAILED: ' + str(s.get('error'))}", ""]
    lines += ["| check | result |", "|---|---|"]
    lines += [f"| {c['name']} | {'ok' if c['ok'] else 'FAILED'}: {c['detail']} |" for c in s.get("checks", [])]
    lines.append("")
open(os.path.join(out, "soak.md"), "w").write("\n".join(lines))
print("\n".join(lines))
PY
exit "$status"
