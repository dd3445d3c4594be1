#!/usr/bin/env bash
# README command 2: the whole test suite. Installs what is missing, then builds everything, checks formatting and
# lints, and runs every test (unit, property, tshark cross-checks, and the integration tests that run the real
# gateway on DPDK virtual devices).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  # Root is needed (network namespaces, DPDK); from a user shell, sudo, keeping the user's PATH (cargo).
  command -v sudo >/dev/null 2>&1 || { echo "$0: run it as root (sudo is not installed)" >&2; exit 1; }
  exec sudo -E env "PATH=$PATH" bash "$0" "$@"
fi
bash deploy/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== cargo test"
# DPDK integration tests each spawn a gateway; two at a time suit a 2-core machine.
cargo test --workspace -- --test-threads 2
