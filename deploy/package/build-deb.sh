#!/usr/bin/env bash
# Builds the Debian package: pmipgw and pmipctl, the systemd units, the host-setup script and its boot unit, the
# udev rule for vfio, example configurations and man pages made from each program's --help.
#
#   bash deploy/package/build-deb.sh                  # cargo build --release, then target/debian/pmipgw_<v>_<arch>.deb
#   bash deploy/package/build-deb.sh --bin-dir DIR --out DIR   # package binaries built elsewhere
#
# Depends are computed from the binaries (dpkg-shlibdeps), plus dpdk (its PMD plugins, dpdk-devbind.py and
# dpdk-hugepages.py) and adduser (the service user). Needs dpkg-dev.
set -euo pipefail
cd "$(dirname "$0")/../.."

bin_dir="" out="target/debian"
while (($#)); do
  case "$1" in
    --bin-dir) bin_dir="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "build-deb.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
if [ -z "$bin_dir" ]; then
  cargo build --release --bin pmipgw --bin pmipctl
  bin_dir="target/release"
fi
for b in pmipgw pmipctl; do
  [ -x "$bin_dir/$b" ] || { echo "build-deb.sh: $bin_dir/$b is missing" >&2; exit 1; }
done

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
arch=$(dpkg --print-architecture)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stage="$work/pmipgw"
doc="$stage/usr/share/doc/pmipgw"

install -d "$stage/DEBIAN" "$stage/usr/bin" "$stage/usr/sbin" "$stage/lib/systemd/system" \
  "$stage/lib/udev/rules.d" "$doc/examples" "$stage/usr/share/man/man8" "$stage/etc/pmipgw"
for b in pmipgw pmipctl; do
  install -m 0755 "$bin_dir/$b" "$stage/usr/bin/$b"
  strip --strip-debug "$stage/usr/bin/$b"
done
install -m 0755 deploy/host-setup.sh "$stage/usr/sbin/pmipgw-host-setup"
install -m 0644 deploy/systemd/pmipgw@.service deploy/systemd/pmipgw-host-setup.service "$stage/lib/systemd/system/"
install -m 0644 deploy/systemd/60-pmipgw-vfio.rules "$stage/lib/udev/rules.d/"
install -m 0644 deploy/package/examples/*.toml "$doc/examples/"
install -m 0644 README.md "$doc/README.md"
cat > "$doc/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: pmipgw
License: Apache-2.0

Files: *
Copyright: the pmipgw developers
License: Apache-2.0
 On Debian systems, the full text is in /usr/share/common-licenses/Apache-2.0.
EOF
printf 'pmipgw (%s) unstable; urgency=medium\n\n  * Package built from the repository.\n\n -- pmipgw developers <pmipgw@localhost>  %s\n' \
  "$version" "$(date -R)" | gzip -9n > "$doc/changelog.Debian.gz"

# A man page per program, from its --help: the options stay in one place, the code.
man_page() { # NAME SECTION-TEXT HELP-TEXT
  local name=$1 what=$2 help=$3 upper
  upper=$(echo "$name" | tr '[:lower:]' '[:upper:]')
  {
    echo ".TH $upper 8 \"$(date +%Y-%m-%d)\" \"pmipgw $version\" \"System Administration\""
    echo ".SH NAME"
    echo "$name \\- $what"
    echo ".SH DESCRIPTION"
    echo ".nf"
    sed -e 's/\\/\\\\/g' -e 's/^\./\\\&./' -e "s/^'/\\\\\\&'/" <<< "$help"
    echo ".fi"
    echo ".SH FILES"
    echo "/etc/pmipgw/NAME.toml, run by pmipgw@NAME.service; examples in /usr/share/doc/pmipgw/examples."
    echo ".SH SEE ALSO"
    echo "pmipgw(8), pmipctl(8), pmipgw-host-setup(8), /usr/share/doc/pmipgw/README.md"
  } | gzip -9n > "$stage/usr/share/man/man8/$name.8.gz"
}
man_page pmipgw "DPDK PMIPv6 (3GPP TS 29.275) MAG/LMA user-plane gateway" "$("$bin_dir/pmipgw" --help)"
man_page pmipctl "inspect and drive a running pmipgw" "$("$bin_dir/pmipctl" --help)"
man_page pmipgw-host-setup "hugepages, vfio-pci and isolated cores for pmipgw" "$(bash deploy/host-setup.sh --help)"

cat > "$stage/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
  if ! getent passwd pmipgw >/dev/null; then
    adduser --system --group --no-create-home --home /var/lib/pmipgw --quiet pmipgw
  fi
  if command -v udevadm >/dev/null 2>&1; then
    udevadm control --reload-rules >/dev/null 2>&1 || true
    udevadm trigger --subsystem-match=vfio >/dev/null 2>&1 || true
  fi
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || true
  fi
fi
exit 0
EOF
cat > "$stage/DEBIAN/postrm" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = purge ]; then
  rm -rf /var/lib/pmipgw /etc/pmipgw/host.conf
fi
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
EOF
chmod 0755 "$stage/DEBIAN/postinst" "$stage/DEBIAN/postrm"

# dpkg-shlibdeps reads debian/control from the directory it runs in.
mkdir -p "$work/debian"
printf 'Source: pmipgw\n\nPackage: pmipgw\nArchitecture: any\n' > "$work/debian/control"
shlibs=$(cd "$work" && dpkg-shlibdeps -O -e pmipgw/usr/bin/pmipgw -e pmipgw/usr/bin/pmipctl 2>/dev/null |
  sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { echo "build-deb.sh: dpkg-shlibdeps found no libraries" >&2; exit 1; }
# DPDK loads its drivers as plugins, which no linker records: the mempool and bus drivers every run needs, and
# the NIC drivers of deploy/container/pmds.txt as recommendations, at the ABI the binaries link (librte-eal23).
abi=$(grep -o 'librte-eal[0-9]*' <<<"$shlibs" | head -1 | sed 's/librte-eal//')
[ -n "$abi" ] || { echo "build-deb.sh: the binaries link no librte-eal" >&2; exit 1; }
recommends=$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' -e "s/ABI/$abi/" deploy/container/pmds.txt | paste -sd, - | sed 's/,/, /g')
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<EOF
Package: pmipgw
Version: $version
Architecture: $arch
Maintainer: pmipgw developers <pmipgw@localhost>
Installed-Size: $size
Depends: $shlibs, dpdk, adduser, librte-mempool-ring$abi, librte-bus-pci$abi, librte-bus-vdev$abi
Recommends: $recommends
Section: net
Priority: optional
Description: DPDK PMIPv6 user-plane gateway (3GPP TS 29.275 MAG and LMA)
 pmipgw forwards PMIPv6 GRE tunnels at DPDK speed as an LMA (PGW side) or a
 MAG (S-GW side), with the signalling (PBU/PBA, heartbeats, revocation) of
 3GPP TS 29.275 and RFC 5213/5844/5845/5846/5847. One instance per
 configuration runs under systemd as pmipgw@NAME.
EOF

mkdir -p "$out"
deb="$out/pmipgw_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
