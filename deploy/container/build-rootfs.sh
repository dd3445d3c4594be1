#!/usr/bin/env bash
# The container's root filesystem without Docker, from Debian packages (mmdebstrap): Debian bookworm, the pmipgw
# package with the libraries it depends on, and the entrypoint — what deploy/container/Dockerfile's runtime
# stage holds.
#
#   bash deploy/container/build-rootfs.sh                      # builds the package, then target/rootfs/
#   bash deploy/container/build-rootfs.sh --deb PKG --out DIR  # from a package built before
#   bash deploy/container/build-rootfs.sh --tar FILE           # a tarball instead: `podman import FILE pmipgw:0.1.0`
#
# PMIPGW_DEBIAN_MIRROR chooses the mirror (default http://deb.debian.org/debian); PMIPGW_ROOTFS_VERBOSE=1 shows
# mmdebstrap's whole log. Needs root, or an unprivileged user with user namespaces (mmdebstrap picks its mode).
set -euo pipefail
cd "$(dirname "$0")/../.."

deb="" out="target/rootfs" tar=""
while (($#)); do
  case "$1" in
    --deb) deb="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --tar) tar="$2"; shift 2 ;;
    *) echo "build-rootfs.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
command -v mmdebstrap >/dev/null || { echo "build-rootfs.sh: mmdebstrap is missing (apt-get install mmdebstrap)" >&2; exit 1; }
if [ -z "$deb" ]; then
  deb=$(bash deploy/package/build-deb.sh | tail -1)
fi
[ -f "$deb" ] || { echo "build-rootfs.sh: no package at $deb" >&2; exit 1; }
deb=$(realpath "$deb")
# The NIC drivers the package recommends (deploy/container/pmds.txt), and nothing else it would pull in.
drivers=$(dpkg-deb -f "$deb" Recommends | tr -d ,)
target=${tar:-$out}
if [ -z "$tar" ] && [ -e "$out" ]; then
  # mmdebstrap fills an empty directory only: replace an earlier root filesystem, never anything else.
  if [ -n "$(ls -A "$out")" ] && ! [ -x "$out/usr/bin/pmipgw" ]; then
    echo "build-rootfs.sh: $out is not empty and not an earlier pmipgw root filesystem: choose another --out" >&2
    exit 2
  fi
  rm -rf "$out"
fi

# --variant=apt: Debian's essential set and apt, which then installs the package (uploaded into the tree: a
# path outside it is not seen from the chroot) with its dependencies and drivers; no other recommends, no
# documentation but the package's own, apt's lists removed.
mmdebstrap --variant=apt ${PMIPGW_ROOTFS_VERBOSE:+--verbose} \
  --aptopt='APT::Install-Recommends "false"' \
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/pmipgw/*' \
  --customize-hook="upload $deb /tmp/pmipgw.deb" \
  --customize-hook="chroot \"\$1\" apt-get install --yes --quiet /tmp/pmipgw.deb $drivers" \
  --customize-hook='rm "$1/tmp/pmipgw.deb"' \
  --customize-hook='upload deploy/container/entrypoint.sh /usr/bin/pmipgw-entrypoint' \
  --customize-hook='chmod 0755 "$1/usr/bin/pmipgw-entrypoint"' \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
  bookworm "$target" "${PMIPGW_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
echo "$target"
