#!/bin/bash
# pmipgw-entrypoint: the container's entrypoint. Fills the config template's ${NAME} placeholders from the
# environment, then runs pmipgw with the result (and any arguments given, e.g. --check-config).
#
# Only PMIPGW_* and PCIDEVICE_* variables are substituted: PCIDEVICE_* are the PCI addresses the SR-IOV device
# plugin gave the pod (PCIDEVICE_INTEL_COM_PMIPGW_CORE for resource intel.com/pmipgw_core), and PMIPGW_LCORES
# defaults to the CPUs this process may run on (the kubelet's static CPU manager pins a Guaranteed pod's
# containers), the first of which runs the control thread. A placeholder left unfilled is an error that names it.
set -euo pipefail
template=${PMIPGW_CONFIG_TEMPLATE:-/etc/pmipgw/pmipgw.toml}
config=${PMIPGW_CONFIG:-/run/pmipgw/pmipgw.toml}
if [ -z "${PMIPGW_LCORES:-}" ]; then
  PMIPGW_LCORES=$(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' /proc/self/status)
  export PMIPGW_LCORES
fi

text=$(<"$template")
while IFS='=' read -r name _; do
  text=${text//"\${$name}"/"${!name}"}
done < <(env | grep -E '^(PMIPGW|PCIDEVICE)_[A-Za-z0-9_]*=' || true)
if left=$(grep -oE '\$\{[A-Za-z0-9_]+\}' <<<"$text" | sort -u | tr '\n' ' ') && [ -n "$left" ]; then
  echo "pmipgw-entrypoint: $template: no value in the environment for $left" >&2
  exit 2
fi
mkdir -p "$(dirname "$config")"
printf '%s\n' "$text" > "$config"
exec pmipgw --config "$config" "$@"
