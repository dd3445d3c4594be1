#!/usr/bin/env bash
# Open vSwitch with its DPDK datapath as the peer of pmipgw's throughput benchmark ("why not OVS?"). As root:
#
#   bash bench/ovs.sh --direction lma-up-v6 --bindings 1000 [--seconds 10] [--pcap FILE] [--huge-dir DIR]
#
# Same input and device as the harness: the traffic model's pcap (every binding once, shuffled; pcapgen) replayed
# forever by a net_pcap port (rx_pcap=...,infinite_rx=1, transmit dropped and counted), one PMD thread on CPU 1 and
# everything else on CPU 0 (pmipgw: main lcore 0, worker 1). OVS does what pmipgw does with flow-based GRE:
#
#   br-phy (netdev, MAC = the frames' destination, tap with the tunnel addresses in a private netns)
#     p0..  dpdk net_pcap ports, ofport 1..K        GRE in  -> LOCAL (native tunnel termination: tnl_pop)
#     patch-phy                                     plain IP -> br-int;  from br-int or tnl_push -> ofport 1
#   br-int
#     gre0  type=gre remote_ip=flow key=flow packet_type=legacy_l3 local_ip=<this end>
#           decapsulation: one rule per key  in_port=gre0,tun_id=K -> set MACs, out to br-phy
#           encapsulation: one rule per UE   ip nw_dst/ipv6_dst (MAG uplink: the source) -> tun_id, tun_dst, gre0
#
# Tuned for many keys: flow-limit, signature match cache, max-idle, EMC insertion off above a few thousand keys.
# First a check (the first --check-frames frames sent once through the same rules, output recorded: every frame
# out once, with the right key for its UE), then the port rate over a sustained window after warm-up, upcalls,
# megaflows, the dynamic flow limit and PMD cache hits. Tools: openvswitch-switch-dpdk, wireshark-common
# (editcap, capinfos), python3, pcapgen (cargo build --release -p bench --bins) unless --pcap is given.
# Last line: `ovs <direction> <bindings> <Mpps> Mpps upcalls=<window> megaflows=<n> ... load=<1,5,15 min>`.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  cat >&2 <<'EOF'
usage: bash bench/ovs.sh [--direction lma-up-v6|lma-up-v4|lma-down-v6|lma-down-v4|mag-{up,down}-v{6,4}]
         [--bindings N] [--size INNER_BYTES] [--seconds S] [--warmup S] [--warmup-max S] [--pcap FILE]
         [--huge-dir MOUNTED_HUGETLBFS | --reserve-huge MB|auto] [--flow-limit N] [--max-idle MS]
         [--emc-inv-prob P] [--check-frames M|0] [--work DIR] [--keep]
EOF
  exit 2
}

direction=lma-up-v6 bindings=1000 size=64 seconds=10 warmup=5 warmup_max= pcap= huge_dir= reserve_mb=0
flow_limit=2000000 max_idle=60000 emc_prob=auto check_frames=10000 work= keep=0 argv=("$@")
while [ $# -gt 0 ]; do
  case "$1" in
    --direction) direction="$2"; shift ;;
    --bindings) bindings="$2"; shift ;;
    --size) size="$2"; shift ;;
    --seconds) seconds="$2"; shift ;;
    --warmup) warmup="$2"; shift ;;
    --warmup-max) warmup_max="$2"; shift ;;
    --pcap) pcap="$(realpath "$2")"; shift ;;
    --huge-dir) huge_dir="$2"; shift ;;
    --reserve-huge) reserve_mb="$2"; shift ;;
    --flow-limit) flow_limit="$2"; shift ;;
    --max-idle) max_idle="$2"; shift ;;
    --emc-inv-prob) emc_prob="$2"; shift ;;
    --check-frames) check_frames="$2"; shift ;;
    --work) work="$2"; shift ;;
    --keep) keep=1 ;;
    *) usage ;;
  esac
  shift
done
if [ "$(id -u)" -ne 0 ]; then exec sudo -E bash "$0" "${argv[@]}"; fi
[ -n "$warmup_max" ] || warmup_max=$(( 60 + bindings / 2000 ))

vswitchd=${OVS_VSWITCHD_DPDK:-/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk}
pcapgen=${PCAPGEN:-${CARGO_TARGET_DIR:-$PWD/target}/release/pcapgen}
# Debian's OVS built with DPDK (its ovs-vswitchd-dpdk beside the plain one), and editcap for the check.
for p in openvswitch-switch-dpdk wireshark-common; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" && continue
  echo "ovs.sh: installing $p" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$p" >/dev/null
done
for tool in "$vswitchd" ovsdb-server ovsdb-tool ovs-vsctl ovs-appctl ovs-ofctl editcap python3; do
  command -v "$tool" >/dev/null || { echo "ovs.sh: $tool not found (openvswitch-switch-dpdk, wireshark-common)" >&2; exit 1; }
done

# The traffic model (bench/src/traffic.rs): binding i has uplink key 0x10000000+i, downlink key 0x20000000+i,
# UE 10.0.0.0+i+1 and prefix 2001:db8:(0x8000+(i>>16)):(i&0xffff)::/64; MAG 2001:db8:1::1 / 192.0.2.1, LMA
# 2001:db8:2::1 / 198.51.100.1; frames are sent to GATEWAY_MAC, the gateway writes NEXT_HOP_MAC.
GATEWAY_MAC=02:00:00:00:00:10 NEXT_HOP_MAC=02:00:00:00:00:20
case "$direction" in
  lma-up-v6|lma-up-v4|lma-down-v6|lma-down-v4|mag-up-v6|mag-up-v4|mag-down-v6|mag-down-v4) ;;
  *) echo "ovs.sh: unknown direction $direction" >&2; usage ;;
esac
IFS=- read -r role way family <<<"$direction"
# The peer is reached through a next hop on this end's subnet (OVS 3.1 takes a route's source address from the
# bridge address sharing the destination's or gateway's subnet); the next hop has NEXT_HOP_MAC.
if [ "$role" = lma ]; then local4=198.51.100.1 local6=2001:db8:2::1 remote4=192.0.2.1 remote6=2001:db8:1::1
  gw4=198.51.100.254 gw6=2001:db8:2::fe
else local4=192.0.2.1 local6=2001:db8:1::1 remote4=198.51.100.1 remote6=2001:db8:2::1
  gw4=192.0.2.254 gw6=2001:db8:1::fe; fi
if [ "$family" = v6 ]; then local_ip=$local6 remote_ip=$remote6; else local_ip=$local4 remote_ip=$remote4; fi
# LMA uplink and MAG downlink receive GRE; the LMA encapsulates downlink with the downlink key, the MAG uplink
# with the uplink key, classifying by the UE's address (destination at the LMA, source at the MAG).
case "$role-$way" in
  lma-up) encap=0 key_base=$((0x10000000)) ;;
  mag-down) encap=0 key_base=$((0x20000000)) ;;
  lma-down) encap=1 key_base=$((0x20000000)) ue_side=dst ;;
  mag-up) encap=1 key_base=$((0x10000000)) ue_side=src ;;
esac
# EMC (8k entries per PMD) thrashes with more keys than it holds (decapsulation takes two entries per key:
# before and after recirculation); then the SMC (1M entries, but it can only point at the first 65,535 slots of
# the PMD's flow table: a fraction of the flows at 100k) and the megaflow classifier remain.
if [ "$emc_prob" = auto ]; then emc_prob=$(( bindings <= 2000 ? 100 : 0 )); fi

[ -n "$work" ] || work=$(mktemp -d /tmp/pmipgw-ovs.XXXXXX)
mkdir -p "$work"/{run,db,log,pcap}
work=$(realpath "$work")
run=$work/run id=$$
ns=pmipgw-ovs-$id prefix=pmipgw-ovs-$id
export OVS_RUNDIR=$run OVS_DBDIR=$work/db OVS_LOGDIR=$work/log
ovsdb_pid= vswitchd_pid= mounted=0 prev_pages=$(cat /proc/sys/vm/nr_hugepages)

cleanup() {
  local rc=$?
  set +e
  # vswitchd and ovsdb-server each run as the child of `timeout`: stopping timeout forwards the signal.
  if [ -n "$vswitchd_pid" ] && kill -0 "$vswitchd_pid" 2>/dev/null; then
    ovs-appctl -t "$run/ovs-vswitchd.ctl" --timeout=20 exit >/dev/null 2>&1
    for _ in $(seq 50); do kill -0 "$vswitchd_pid" 2>/dev/null || break; sleep 0.2; done
    kill "$vswitchd_pid" 2>/dev/null; wait "$vswitchd_pid" 2>/dev/null
  fi
  if [ -n "$ovsdb_pid" ]; then kill "$ovsdb_pid" 2>/dev/null; wait "$ovsdb_pid" 2>/dev/null; fi
  ip netns del "$ns" 2>/dev/null
  rm -rf "/var/run/dpdk/$prefix"
  if [ "$mounted" -eq 1 ]; then umount "$huge_dir"; echo "$prev_pages" > /proc/sys/vm/nr_hugepages; fi
  if [ "$rc" -ne 0 ] && [ -f "$work/log/ovs-vswitchd.log" ]; then
    echo "ovs.sh: failed; end of the vswitchd log:" >&2; grep -E '\|(ERR|EMER|WARN)\|' "$work/log/ovs-vswitchd.log" | tail -n 15 >&2
  fi
  if [ "$keep" -eq 1 ]; then echo "ovs.sh: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "ovs: $*" >&2; }
vsctl() { ovs-vsctl --db="unix:$run/db.sock" --timeout=600 "$@"; }
appctl() { ovs-appctl -t "$run/ovs-vswitchd.ctl" --timeout=600 "$@"; }
ofctl() { local br=$1; shift; ovs-ofctl -O OpenFlow13 -vconsole:err "$1" "unix:$run/$br.mgmt" "${@:2}"; }

# Input: the harness's pcap (or the given one). net_pcap's infinite_rx copies the whole pcap into mbufs of the
# port's mempool, and OVS sizes a shared mempool at 262,144 mbufs whatever the device: above 250k frames the
# pcap is split over several ports, each with a different MTU (a mempool is shared per buffer size) so each gets
# its own pool; all of them transmit through port 1.
if [ -z "$pcap" ]; then
  [ -x "$pcapgen" ] || { echo "ovs.sh: $pcapgen missing: cargo build --release -p bench --bins" >&2; exit 1; }
  pcap=$("$pcapgen" --out "$work/pcap" --bindings "$bindings" --sizes "$size" --directions "$direction" |
    sed -n 's/: [0-9]* frames$//p')
fi
frames=$(capinfos -T -r -c "$pcap" | awk '{print $2}')
per_port=250000
ports=$(( (frames + per_port - 1) / per_port ))
if [ "$ports" -gt 1 ]; then
  editcap -F pcap -c "$per_port" "$pcap" "$work/pcap/part.pcap"
  mapfile -t inputs < <(ls "$work"/pcap/part_*.pcap)
else
  inputs=("$pcap")
fi
log "$direction, $bindings bindings, $frames frames of $pcap on $ports port(s)"

# DPDK memory: hugepages (dynamic, as much as the mempools need) or --no-huge with room for every pool.
if [ "$reserve_mb" = auto ]; then   # what the pools took in practice: ~3,000 B per mbuf + 1 KB per port index
  reserve_mb=512
  for ((k = 0; k < ports; k++)); do reserve_mb=$(( reserve_mb + 262144 * (3000 + 1024 * k) / 1048576 )); done
fi
if [ "$reserve_mb" -gt 0 ]; then
  want=$(( reserve_mb / 2 ))
  huge_dir=$work/huge
  echo 1 > /proc/sys/vm/compact_memory   # free 2 MB blocks may be fragmented
  echo $(( prev_pages + want )) > /proc/sys/vm/nr_hugepages
  if [ "$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)" -lt "$want" ]; then
    echo "$prev_pages" > /proc/sys/vm/nr_hugepages; echo "ovs.sh: could not reserve $want hugepages" >&2; exit 1
  fi
  mkdir -p "$huge_dir" && mount -t hugetlbfs -o pagesize=2M nodev "$huge_dir" && mounted=1
fi
extra="--no-pci --file-prefix $prefix --log-level lib.eal:warning"
mem_config=()
if [ -n "$huge_dir" ]; then
  mem_config=("other_config:dpdk-hugepage-dir=\"$huge_dir\"")
  mode=hugepages
else
  # One 262,144-mbuf pool per port, buffers 2 KB + 1 KB per port, on 4 KB pages.
  mb=512
  for ((k = 0; k < ports; k++)); do mb=$(( mb + 262144 * ((2900 + 1024 * k + 4095) / 4096 * 4096) / 1048576 )); done
  # --no-huge implies legacy memory, which conflicts with the --in-memory OVS adds unless told --legacy-mem.
  extra="$extra --no-huge --legacy-mem -m $mb"
  mode=no-huge
fi

# The database, then vswitchd in a private network namespace (the tap of br-phy carries the tunnel addresses,
# which userspace tunnelling needs, without touching the host's interfaces), under timeout.
limit=$(( 900 + bindings / 1000 + seconds + warmup_max ))
ovsdb-tool create "$work/db/conf.db" /usr/share/openvswitch/vswitch.ovsschema
timeout -k 5 "$limit" ovsdb-server "$work/db/conf.db" --remote="punix:$run/db.sock" --pidfile="$run/ovsdb-server.pid" \
  --unixctl="$run/ovsdb-server.ctl" --log-file="$work/log/ovsdb-server.log" -vconsole:off &
ovsdb_pid=$!
for _ in $(seq 100); do [ -S "$run/db.sock" ] && break; sleep 0.1; done
vsctl --no-wait init
vsctl --no-wait set Open_vSwitch . other_config:dpdk-init=true "other_config:dpdk-extra=\"$extra\"" \
  other_config:pmd-cpu-mask=0x2 other_config:flow-limit="$flow_limit" other_config:max-idle="$max_idle" \
  other_config:smc-enable=true other_config:emc-insert-inv-prob="$emc_prob" \
  other_config:n-revalidator-threads=1 other_config:n-handler-threads=1 "${mem_config[@]}"
ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
# CPU 0 for everything but the PMD (EAL's main lcore follows this affinity); the PMD pins itself to CPU 1.
timeout -k 10 "$limit" ip netns exec "$ns" taskset -c 0 "$vswitchd" "unix:$run/db.sock" \
  --pidfile="$run/ovs-vswitchd.pid" --unixctl="$run/ovs-vswitchd.ctl" --log-file="$work/log/ovs-vswitchd.log" \
  -vconsole:off -vfile:info &
vswitchd_pid=$!
for _ in $(seq 300); do
  appctl version >/dev/null 2>&1 && break
  kill -0 "$vswitchd_pid" 2>/dev/null || { echo "ovs.sh: ovs-vswitchd exited" >&2; exit 1; }
  sleep 0.2
done
appctl version | head -1 >&2

# Bridges and the flow-based GRE port. fail_mode=secure: no NORMAL flow, only ours. The bridge's MAC is the
# frames' destination, which native tunnel termination requires.
vsctl add-br br-phy -- set bridge br-phy datapath_type=netdev fail_mode=secure \
    other-config:hwaddr="\"$GATEWAY_MAC\"" \
  -- add-br br-int -- set bridge br-int datapath_type=netdev fail_mode=secure \
  -- add-port br-int gre0 -- set Interface gre0 type=gre ofport_request=10 options:remote_ip=flow \
    options:key=flow options:packet_type=legacy_l3 options:local_ip="\"$local_ip\"" \
  -- add-port br-int patch-int -- set Interface patch-int type=patch options:peer=patch-phy ofport_request=11 \
  -- add-port br-phy patch-phy -- set Interface patch-phy type=patch options:peer=patch-int ofport_request=20
# Userspace tunnelling: the tunnel addresses on br-phy (a tap), a route to the peer through br-phy and the next
# hop (which also makes br-phy's addresses tunnel termination points), and the next hop's MAC for tnl_push.
ip netns exec "$ns" ip link set br-phy up
ip netns exec "$ns" ip addr add "$local4/24" dev br-phy
ip netns exec "$ns" ip -6 addr add "$local6/64" dev br-phy nodad
for _ in $(seq 50); do   # vswitchd learns the tap's addresses asynchronously
  appctl ovs/route/add "$remote4/32" br-phy "$gw4" >/dev/null 2>&1 &&
    appctl ovs/route/add "$remote6/128" br-phy "$gw6" >/dev/null 2>&1 && break
  sleep 0.1
done
appctl ovs/route/add "$remote4/32" br-phy "$gw4" >/dev/null
appctl ovs/route/add "$remote6/128" br-phy "$gw6" >/dev/null
appctl tnl/neigh/set br-phy "$gw4" "$NEXT_HOP_MAC" >/dev/null
appctl tnl/neigh/set br-phy "$gw6" "$NEXT_HOP_MAC" >/dev/null

cat > "$work/br-phy.flows" <<EOF
priority=40,in_port=LOCAL,ip,nw_proto=47,actions=output:1
priority=40,in_port=LOCAL,ipv6,nw_proto=47,actions=output:1
priority=39,in_port=LOCAL,actions=drop
priority=30,in_port=20,actions=output:1
priority=20,ip,nw_proto=47,actions=LOCAL
priority=20,ipv6,nw_proto=47,actions=LOCAL
priority=10,ip,actions=output:20
priority=10,ipv6,actions=output:20
priority=0,actions=drop
EOF
# One rule per binding (cookie 1), written by awk: 1M lines take a few seconds.
awk -v n="$bindings" -v encap="$encap" -v base="$key_base" -v fam="$family" -v side="${ue_side:-dst}" \
    -v r4="$remote4" -v r6="$remote6" -v gw="$GATEWAY_MAC" -v nh="$NEXT_HOP_MAC" 'BEGIN {
  for (i = 0; i < n; i++) {
    key = sprintf("0x%x", base + i)
    if (!encap) {
      printf "cookie=0x1,priority=100,in_port=10,tun_id=%s,actions=mod_dl_src:%s,mod_dl_dst:%s,output:11\n", key, gw, nh
    } else if (fam == "v4") {
      ue = 167772160 + i + 1
      printf "cookie=0x1,priority=100,in_port=11,ip,nw_%s=%d.%d.%d.%d,actions=set_field:%s->tun_id,set_field:%s->tun_dst,output:10\n",
        side, int(ue / 16777216), int(ue / 65536) % 256, int(ue / 256) % 256, ue % 256, key, r4
    } else {
      printf "cookie=0x1,priority=100,in_port=11,ipv6,ipv6_%s=2001:db8:%x:%x::/64,actions=set_field:%s->tun_id,set_field:%s->tun_ipv6_dst,output:10\n",
        side, 32768 + int(i / 65536), i % 65536, key, r6
    }
  }
  print "priority=0,actions=drop"
}' > "$work/br-int.flows"
ofctl br-phy add-flows "$work/br-phy.flows"
t0=$(date +%s.%N)
ofctl br-int add-flows --bundle "$work/br-int.flows"
load_s=$(printf '%.1f' "$(echo "$(date +%s.%N) - $t0" | bc)")
log "$bindings OpenFlow rules loaded in ${load_s} s ($(ofctl br-int dump-aggregate | grep -o 'flow_count=[0-9]*'))"

write_checker() { cat > "$work/check.py" <<'EOF'
# send IFACE PCAP: sends the frames on IFACE, at 10k/s: the capture ring holds 2 MB, and with 1M rules the
# first packet of each key (an upcall) is handled at 30-60k/s.
# verify IN OUT DIRECTION HITS: every input frame must come out once, from GATEWAY_MAC to NEXT_HOP_MAC:
# decapsulated (the inner packet as sent) or encapsulated from this end to the peer with the key of the binding
# whose UE the inner packet has; and the per-binding rules must have counted every frame.
import ipaddress, socket, struct, sys, time
def frames(path):
    data = open(path, 'rb').read()
    endian = '<' if data[:4] in (b'\xd4\xc3\xb2\xa1', b'\x4d\x3c\xb2\xa1') else '>'
    off, out = 24, []
    while off + 16 <= len(data):
        incl = struct.unpack(endian + 'I', data[off + 8:off + 12])[0]
        out.append(data[off + 16:off + 16 + incl]); off += 16 + incl
    return out
if sys.argv[1] == 'send':
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind((sys.argv[2], 0))
    for n, f in enumerate(frames(sys.argv[3])):
        s.send(f)
        if n % 100 == 99: time.sleep(0.01)
    sys.exit(0)
def strip_ip(pkt, v6):   # (src, dst, proto, payload)
    if v6: return pkt[8:24], pkt[24:40], pkt[6], pkt[40:]
    return pkt[12:16], pkt[16:20], pkt[9], pkt[(pkt[0] & 15) * 4:]
def binding(addr):
    a = int.from_bytes(addr, 'big')
    return (a >> 64 & 0x7fffffff) if len(addr) == 16 else a - 0x0a000000 - 1
src, out, d, hits = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5] or 0)
role, way, fam = d.split('-'); v6 = fam == 'v6'
encap = (role, way) in (('lma', 'down'), ('mag', 'up'))
base = 0x20000000 if way == 'down' else 0x10000000
lma = ipaddress.ip_address('2001:db8:2::1' if v6 else '198.51.100.1').packed
mag = ipaddress.ip_address('2001:db8:1::1' if v6 else '192.0.2.1').packed
local, peer = (lma, mag) if role == 'lma' else (mag, lma)
ins, outs, bad = frames(src), frames(out), []
want = {}   # expected inner IP packet -> count
for f in ins:
    inner = f[14:] if encap else strip_ip(f[14:], v6)[3][8:]
    want[inner] = want.get(inner, 0) + 1
for n, f in enumerate(outs):
    if f[:12] != bytes.fromhex('020000000020' '020000000010'):
        bad.append(f'{n}: MACs'); continue
    inner = f[14:]
    if encap:
        s, t, proto, gre = strip_ip(f[14:], v6)
        flags, ptype, key = struct.unpack('>HHI', gre[:8]) if len(gre) >= 8 else (0, 0, 0)
        inner = gre[8:]
        ue = strip_ip(inner, v6)[1 if way == 'down' else 0]
        if (s, t, proto) != (local, peer, 47) or flags & 0x2000 == 0 or ptype != (0x86dd if v6 else 0x800):
            bad.append(f'{n}: outer header'); continue
        if key != base + binding(ue):
            bad.append(f'{n}: key {key:#x} for UE {ipaddress.ip_address(ue)}'); continue
    if want.get(inner, 0) == 0:
        bad.append(f'{n}: not an expected packet'); continue
    want[inner] -= 1
missing = sum(want.values())
ok = not bad and missing == 0 and hits == len(ins)
print(('ok' if ok else 'FAILED') + f' ({len(outs)}/{len(ins)} frames out, {missing} missing, {len(bad)} wrong,'
      f' per-binding rules hit {hits} times)' + ('; ' + '; '.join(bad[:3]) if bad else ''))
EOF
}

add_port() { # name ofport mtu devargs
  vsctl add-port br-phy "$1" -- set Interface "$1" type=dpdk ofport_request="$2" mtu_request="$3" \
    options:dpdk-devargs="\"$4\""
  local ofport; ofport=$(vsctl get Interface "$1" ofport)
  if [ "$ofport" != "$2" ]; then
    echo "ovs.sh: port $1 not added (ofport $ofport): $(vsctl get Interface "$1" error)" >&2; exit 1
  fi
}

# Correctness: the first frames (up to --check-frames) sent once, after the port is configured, into a veth
# that a net_pcap port reads (rx_iface_in) and whose output it records (tx_pcap). A replayed rx_pcap would not do:
# a port forwards before ofproto knows it, and those first packets fail their upcalls (datapath_drop_upcall_error).
check=skipped
if [ "$check_frames" -gt 0 ]; then
  m=$(( check_frames < frames ? check_frames : frames ))
  editcap -F pcap -r "$pcap" "$work/check-in.pcap" "1-$m"
  write_checker
  nsx() { ip netns exec "$ns" "$@"; }
  nsx ip link add vchk0 type veth peer name vchk1
  for v in vchk0 vchk1; do nsx sysctl -qw "net.ipv6.conf.$v.disable_ipv6=1"; nsx ip link set "$v" up; done
  add_port chk 1 1500 "net_pcap9,rx_iface_in=vchk0,tx_pcap=$work/check-out.pcap"
  sleep 2
  nsx python3 "$work/check.py" send vchk1 "$work/check-in.pcap"
  last=-1
  for _ in $(seq $(( 30 + m / 2000 ))); do
    sleep 1
    sent=$(appctl dpctl/show -s | awk '/: chk /{p=1; next} /port [0-9]+:/{p=0} p && /TX packets/ {sub("packets:", "", $2); s = $2} END {print s + 0}')
    if [ "$sent" -ge "$m" ] || [ "$sent" -eq "$last" ]; then break; fi
    last=$sent
  done
  appctl dpctl/show -s | awk '/: chk /{p=1; next} /port [0-9]+:/{p=0} p' > "$work/check-port"
  appctl revalidator/wait >/dev/null   # rule statistics are pushed by the revalidator
  hits=$(ofctl br-int dump-aggregate cookie=0x1/-1 | grep -o 'packet_count=[0-9]*' | cut -d= -f2)
  vsctl del-port br-phy chk
  nsx ip link del vchk0
  check=$(python3 "$work/check.py" verify "$work/check-in.pcap" "$work/check-out.pcap" "$direction" "$hits")
  log "check: $check; port: $(grep -E 'RX packets|TX packets' "$work/check-port" | awk '{print $1, $2, $4}' | paste -sd ' ' -)"
  command -v tshark >/dev/null && tshark -r "$work/check-out.pcap" -c 2 2>/dev/null | sed 's/^/ovs:   /' >&2
  appctl revalidator/purge >/dev/null   # the measurement starts from empty caches
fi

# The measured ports: ofport 1 (which every rule transmits on) and, for large inputs, more.
for ((k = 0; k < ports; k++)); do
  add_port "p$k" $(( k + 1 )) $(( 1500 + 1024 * k )) "net_pcap$k,rx_pcap=${inputs[$k]},infinite_rx=1"
done

# "rx tx megaflows upcalls" now, summed over the measured ports; the datapath's missed lookups are its upcalls.
sample() {
  appctl dpctl/show -s | awk '
    /lookups:/ { for (i = 1; i <= NF; i++) if ($i ~ /^missed:/) { sub("missed:", "", $i); miss = $i } }
    /^  flows:/ { flows = $2 }
    /port [0-9]+: p[0-9]+ / { p = 1; next } /port [0-9]+:/ { p = 0 }
    p && /RX packets/ { sub("packets:", "", $2); rx += $2 }
    p && /TX packets/ { sub("packets:", "", $2); tx += $2 }
    END { printf "%.0f %.0f %d %.0f\n", rx, tx, flows, miss }'
}
pmd_stat() { awk -v k="$1" -F': ' '$1 == "  " k { split($2, a, " "); s += a[1] } END { printf "%.0f", s }' "$work/pmd"; }

# Warm-up: at least --warmup seconds, then until the upcalls die down (every key has its megaflow) or the
# megaflow count stops growing (OVS's dynamic flow limit, which shrinks when a revalidator dump takes over a
# second, caps it: then the window measures that steady state), for at most --warmup-max seconds.
start=$(date +%s)
sleep "$warmup"
read -r _ tx_a _ miss_a < <(sample)
best=0 best_t=$start warm=capped i=0
while [ $(( $(date +%s) - start )) -lt "$warmup_max" ]; do
  sleep 2
  read -r _ tx_b flows miss_b < <(sample)
  now=$(date +%s)
  if [ $(( i++ % 5 )) -eq 0 ]; then
    log "warm-up $(( now - start )) s: $(( (tx_b - tx_a) / 2 )) pps, $flows megaflows, $(( (miss_b - miss_a) / 2 )) upcalls/s"
  fi
  if [ $(( (miss_b - miss_a) * 1000 )) -le $(( tx_b - tx_a )) ]; then warm=converged; break; fi
  if [ $(( flows * 100 )) -gt $(( best * 101 )) ]; then best=$flows best_t=$now; fi
  if [ $(( now - best_t )) -ge 20 ]; then warm=plateau; break; fi
  tx_a=$tx_b miss_a=$miss_b
done
warm_s=$(( $(date +%s) - start ))

# The window: a sample a second; the rate is the window's, the slowest second shows whether it holds. Clearing
# the PMD statistics also zeroes the datapath's lookup counters: the upcalls so far are read first.
read -r _ _ _ warm_upcalls < <(sample)
appctl dpif-netdev/pmd-stats-clear >/dev/null
read -r rx0 tx0 _ miss0 < <(sample); t0=$(date +%s.%N)
prev=$tx0 tprev=$t0 min=
for ((s = 0; s < seconds; s++)); do
  sleep 1
  read -r rx1 tx1 flows1 miss1 < <(sample); t1=$(date +%s.%N)
  pps=$(echo "($tx1 - $prev) / ($t1 - $tprev)" | bc -l)
  if [ -z "$min" ] || [ "$(echo "$pps < $min" | bc)" -eq 1 ]; then min=$pps; fi
  prev=$tx1 tprev=$t1
done
appctl dpif-netdev/pmd-stats-show | sed '/^main thread/,$d' > "$work/pmd"
load=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' ,)
mpps=$(printf '%.2f' "$(echo "($tx1 - $tx0) / ($t1 - $t0) / 1000000" | bc -l)")
rx_mpps=$(printf '%.2f' "$(echo "($rx1 - $rx0) / ($t1 - $t0) / 1000000" | bc -l)")
min_mpps=$(printf '%.2f' "$(echo "$min / 1000000" | bc -l)")
upcall_show=$(appctl upcall/show)
dyn_limit=$(grep -o 'limit [0-9]*' <<<"$upcall_show" | head -1 | cut -d' ' -f2)
dump_ms=$(grep -o 'dump duration : [0-9]*' <<<"$upcall_show" | head -1 | grep -o '[0-9]*$')
passes=$(( $(pmd_stat "packets received") + $(pmd_stat "packet recirculations") ))   # cache lookups
pct() { if [ "$passes" -gt 0 ]; then printf '%.1f' "$(echo "100 * $1 / $passes" | bc -l)"; else echo 0; fi; }
log "window ${seconds} s: rx $rx_mpps Mpps, tx $mpps Mpps (slowest second $min_mpps); PMD: $(grep -E 'passes per|emc hits|smc hits|megaflow hits|miss with|processing cycles per' "$work/pmd" | sed 's/^ *//; s/ (.*//' | paste -sd ';' -)"
log "upcall/show: $(grep -E 'flows|dump duration' <<<"$upcall_show" | sed 's/^ *//' | paste -sd ';' -)"
echo "ovs $direction $bindings $mpps Mpps upcalls=$(( miss1 - miss0 )) megaflows=$flows1 upcalls_before=$warm_upcalls" \
  "failed_upcalls=$(pmd_stat "miss with failed upcall") rx=$rx_mpps min1s=$min_mpps" \
  "emc=$(pct "$(pmd_stat "emc hits")")% smc=$(pct "$(pmd_stat "smc hits")")%" \
  "megaflow=$(pct "$(pmd_stat "megaflow hits")")% flow_limit=$dyn_limit dump_ms=$dump_ms rules_load_s=$load_s" \
  "warmup=${warm}_${warm_s}s ports=$ports mode=$mode check=${check%% *} load=$load"
[ "${check%% *}" != FAILED ]   # a rate of wrong forwarding is no result: exit status 1
