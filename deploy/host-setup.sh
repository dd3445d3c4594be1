#!/usr/bin/env bash
# pmipgw-host-setup: prepares a bare-metal host for pmipgw — hugepages, NICs on vfio-pci, and advice on isolated
# cores — now, and (with --persist) at every boot through /etc/pmipgw/host.conf and pmipgw-host-setup.service.
#
#   pmipgw-host-setup --hugepages 4096 --bind 0000:3b:00.0,0000:3b:00.1 --isolate 2-5 --persist
#   pmipgw-host-setup --apply       # what the boot unit runs: the settings of /etc/pmipgw/host.conf
#   pmipgw-host-setup --status      # hugepages, IOMMU, vfio-pci and each device's driver
#
# --dry-run prints the commands and files instead of running and writing them; --root DIR writes the files under
# DIR (for packaging and tests). Needs root for anything but --dry-run and --status.
set -euo pipefail

hugepages="" bind="" isolate="" persist=0 apply=0 status=0 dry=0 root=""
usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }
fail() { echo "pmipgw-host-setup: $*" >&2; exit 2; }

while (($#)); do
  case "$1" in
    --hugepages) hugepages="${2:-}"; shift 2 ;;
    --bind) bind="${2:-}"; shift 2 ;;
    --isolate) isolate="${2:-}"; shift 2 ;;
    --persist) persist=1; shift ;;
    --apply) apply=1; shift ;;
    --status) status=1; shift ;;
    --dry-run) dry=1; shift ;;
    --root) root="${2:-}"; shift 2 ;;
    -h|--help) usage 0 ;;
    *) fail "unknown option $1 (--help lists them)" ;;
  esac
done

conf="$root/etc/pmipgw/host.conf"
if ((apply)); then
  [ -r "$conf" ] || fail "--apply: $conf is missing (write it with --persist)"
  # shellcheck disable=SC1090
  . "$conf"
  hugepages="${HUGEPAGES:-}" bind="${BIND:-}" isolate=""
fi

# Checks before anything runs: a typo must not half-configure a host.
[ -z "$hugepages" ] || [[ "$hugepages" =~ ^[0-9]+$ ]] || fail "--hugepages: '$hugepages' is not a number of 2 MiB pages"
pci_re='^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$'
IFS=',' read -r -a devices <<< "$bind"
for d in "${devices[@]}"; do
  [[ "$d" =~ $pci_re ]] || fail "--bind: '$d' is not a PCI address such as 0000:3b:00.0"
done
[ -z "$isolate" ] || [[ "$isolate" =~ ^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$ ]] ||
  fail "--isolate: '$isolate' is not a CPU list such as 2-5 or 2,4,6"

run() {
  if ((dry)); then echo "run: $*"; else "$@"; fi
}
write() { # write FILE CONTENT
  if ((dry)); then printf 'write: %s\n%s\n' "$1" "$2"; return; fi
  mkdir -p "$(dirname "$1")"
  printf '%s\n' "$2" > "$1"
}

if ((status)); then
  echo "hugepages (2 MiB): total $(cat /proc/sys/vm/nr_hugepages), free $(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages 2>/dev/null || echo ?)"
  groups=$(find /sys/kernel/iommu_groups -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
  echo "IOMMU groups: $groups$( ((groups)) || echo ' (no IOMMU: enable VT-d/AMD-Vi and intel_iommu=on iommu=pt)')"
  echo "vfio-pci module: $(grep -q '^vfio_pci ' /proc/modules 2>/dev/null && echo loaded || echo 'not loaded')"
  if command -v dpdk-devbind.py >/dev/null 2>&1; then dpdk-devbind.py --status-dev net || true; fi
  exit 0
fi

if [ -z "$hugepages$bind$isolate" ]; then usage; fi
if ((!dry)) && [ "$(id -u)" -ne 0 ]; then fail "needs root (or --dry-run)"; fi

if [ -n "$hugepages" ]; then
  # 2 MiB pages can be reserved at run time; 1 GiB pages only on the kernel command line (printed below).
  run sysctl -q -w "vm.nr_hugepages=$hugepages"
fi
if ((${#devices[@]})); then
  run modprobe vfio-pci
  for d in "${devices[@]}"; do
    run dpdk-devbind.py --bind=vfio-pci "$d"
  done
fi

if ((persist)); then
  write "$conf" "# Written by pmipgw-host-setup --persist; applied at boot by pmipgw-host-setup.service.
HUGEPAGES=$hugepages
BIND=$bind"
  write "$root/etc/modules-load.d/pmipgw.conf" "vfio-pci"
  if ((!dry)) && [ -z "$root" ] && command -v systemctl >/dev/null 2>&1; then
    systemctl enable pmipgw-host-setup.service >/dev/null 2>&1 || echo "note: enable pmipgw-host-setup.service by hand"
  fi
fi

if [ -n "$isolate" ]; then
  cat <<ADVICE
Cores for the workers: keep the kernel off CPUs $isolate. Add to GRUB_CMDLINE_LINUX in /etc/default/grub, then
update-grub and reboot:
  isolcpus=$isolate nohz_full=$isolate rcu_nocbs=$isolate intel_iommu=on iommu=pt
and for 1 GiB pages instead of 2 MiB ones: default_hugepagesz=1G hugepagesz=1G hugepages=<count>.
In the gateway's configuration, [dpdk] lcores = the control lcore on a housekeeping CPU and one lcore per worker on
$isolate.
ADVICE
fi
