#!/usr/bin/env python3
"""pmipgw end to end: a UE host, a PDN server host, two MAGs and an LMA on one machine, real traffic between them.

Builds the topology in network namespaces (every name carries the run id), starts a capture of the core link and
the three gateways (each a `pmipgw` process on `net_af_packet` ports), runs the scenario and tears everything down
again, on success, on failure and on SIGINT/SIGTERM:

    ue ── air (bridge: the "radio") ──┬── mag1 ──┐
                                      └── mag2 ──┴── core (bridge, captured) ── lma ── pdn

Scenario, for one transport between MAGs and LMA (IPv6 or IPv4):
  ipv4    PDN connection on MAG1 (PBU/PBA), ping and TCP both ways, bindings on MAG1 and LMA agree, delete
  ipv6    the same over IPv6; the UE configures its address by SLAAC from the MAG's Router Advertisement
  ipv4v6  both families, then a handover to MAG2 (HI 3): traffic continues, the uplink key stays, MAG1 is cleaned
          up by the LMA's Binding Revocation Indication; delete

DHCP is not part of it: the UE gets its IPv4 home address from `pmipctl pdn create` (the PBA's IPv4 Home Address
Reply) and configures it statically, with 10.45.0.1 (the MAG) as default router.

Standard library only. Run as root: python3 deploy/e2e/pmipgw_e2e.py --transport v6 --pcap /tmp/core.pcap
"""

import argparse
import hashlib
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

APN = "internet"
MN_IDS = {
    "ipv4": "001010000000001@nai.epc.mnc001.mcc001.3gppnetwork.org",
    "ipv6": "001010000000002@nai.epc.mnc001.mcc001.3gppnetwork.org",
    "ipv4v6": "001010000000003@nai.epc.mnc001.mcc001.3gppnetwork.org",
}
# Tunnel (transport) addresses between the MAGs and the LMA.
TRANSPORTS = {
    "v6": {"mag1": "2001:db8:1::1", "mag2": "2001:db8:1::2", "lma": "2001:db8:2::1", "allowed": "2001:db8:1::/64"},
    "v4": {"mag1": "198.51.100.11", "mag2": "198.51.100.12", "lma": "198.51.100.1", "allowed": "198.51.100.0/24"},
}
# Home addresses: the LMA's pools for APN "internet". The IPv4 pool never hands out its network address, its first
# host (10.45.0.1, the UE's default router: the MAG answers ARP for it) or its broadcast address.
POOL_V4 = "10.45.0.0/16"
POOL_V6 = "2001:db8:aaaa::/48"
UE_ROUTER_V4 = "10.45.0.1"
# SGi: the LMA and the PDN server host.
LMA_SGI_V4, PDN_V4 = "203.0.113.1", "203.0.113.10"
LMA_SGI_V6, PDN_V6 = "2001:db8:50::1", "2001:db8:50::10"
TCP_PORT = 5001
# Fixed MACs make captures readable. Both MAGs show the UE the same link-layer (and so link-local) address on the
# access link (RFC 5213 §6.8, §6.9.3), so the UE does not notice a handover between them.
MACS = {
    ("ue", "eth0"): "02:00:00:00:ee:01",
    ("pdn", "eth0"): "02:00:00:00:50:10",
    ("mag1", "access"): "02:00:00:00:aa:01",
    ("mag2", "access"): "02:00:00:00:aa:01",
    ("mag1", "core"): "02:00:00:00:c0:11",
    ("mag2", "core"): "02:00:00:00:c0:12",
    ("lma", "core"): "02:00:00:00:c0:01",
    ("lma", "sgi"): "02:00:00:00:50:01",
}
DOWNLINK_KEYS = {"mag1": (0x00010001, 0x0001FFFF), "mag2": (0x00020001, 0x0002FFFF)}
UPLINK_KEYS = (0x0A0B0C01, 0x0A0BFFFF)
# The ipv6 group's uplink key is reserved on the LMA beforehand, as for a PDN connection moved from GTP-based S5
# whose default bearer's TEID must become the key (TS 29.275 §6.3): outside the LMA's range, chosen by the operator.
RESERVED_UPLINK_KEY = 0x5EED0001
# --l2 static (diagnostic): the UE's interface identifier and the router's link-local address, set by hand.
STATIC_UE_IID = "::ff:fe00:ee01"
STATIC_ROUTER_V6 = "fe80::ff:fe00:aa01"
# Hosts and core links alike: 1500. GRE over IPv6 adds 48 bytes, over IPv4 28: the gateways tell the hosts the tunnel
# MTU (ICMP Fragmentation Needed / Packet Too Big) and path MTU discovery does the rest.
UE_MTU = 1500
GATEWAYS = ("lma", "mag1", "mag2")


class Failed(Exception):
    """A scenario step did not do what it should; the message says what and what was seen."""


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived: tear down and exit."""


def now():
    return time.monotonic()


class Output:
    """Readable progress on stdout: step headings, results, details (hidden by --quiet)."""

    def __init__(self, quiet):
        self.quiet = quiet
        self.started = now()

    def _print(self, text):
        print(text, flush=True)

    def step(self, text):
        self._print(f"[{now() - self.started:6.1f}s] == {text}")

    def ok(self, text):
        self._print(f"           ok  {text}")

    def fail(self, text):
        self._print(f"           FAIL {text}")

    def info(self, text):
        self._print(f"           {text}")

    def heading(self, text):
        if not self.quiet:
            self._print(f"           {text}")

    def detail(self, text):
        if not self.quiet:
            for line in text.rstrip("\n").splitlines():
                self._print(f"             {line}")


class Run:
    def __init__(self, args):
        self.args = args
        self.out = Output(args.quiet)
        self.run_id = args.run_id or f"p{os.getpid()}"
        if not re.fullmatch(r"[a-z0-9]{1,12}", self.run_id):
            raise SystemExit("--run-id: 1 to 12 lowercase letters or digits")
        self.transport = TRANSPORTS[args.transport]
        self.bin = args.binary_dir
        self.workdir = tempfile.mkdtemp(prefix=f"pmipgw-e2e-{self.run_id}-")
        self.ns = {}  # role -> namespace name, in creation order
        self.procs = {}  # name -> Popen
        self.gateway_exit = {}
        self.final_counters = {}
        self.summary = {
            "run_id": self.run_id,
            "transport": args.transport,
            "transport_addresses": self.transport,
            "namespaces": [],
            "workdir": self.workdir,
            "eal_prefixes": [self.eal_prefix(g) for g in GATEWAYS],
            "pcap": None,
            "access_pcap": None,
            "passed": False,
            "failed_step": None,
            "error": None,
            "steps": [],
            "groups": {},
            "final_counters": {},
            "gateway_exit": {},
            "capture": {},
            "drops": {},
        }
        self.current_step = None

    # ---------------------------------------------------------------- helpers

    def eal_prefix(self, gateway):
        return f"pmipgw-e2e-{self.run_id}-{gateway}"

    def path(self, name):
        return os.path.join(self.workdir, name)

    def sh(self, argv, ns=None, check=True, timeout=30, input=None):
        """Runs a command (in namespace `ns`, a role name) and returns the CompletedProcess."""
        if ns is not None:
            argv = ["ip", "netns", "exec", self.ns[ns]] + argv
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=input)
        except subprocess.TimeoutExpired as e:
            raise Failed(f"`{' '.join(argv)}` did not finish within {timeout}s") from e
        if check and done.returncode != 0:
            raise Failed(f"`{' '.join(argv)}` failed ({done.returncode}): {(done.stderr or done.stdout).strip()}")
        return done

    def ip(self, ns, *args, check=True):
        return self.sh(["ip", "-n", self.ns[ns]] + list(args), check=check)

    def step(self, name):
        return Step(self, name)

    def ctl(self, gateway, *args, check=True, timeout=30):
        """pmipctl against a gateway's socket; JSON reply."""
        argv = [os.path.join(self.bin, "pmipctl"), "--socket", self.path(f"{gateway}.sock"), "--json"]
        argv += ["--timeout", str(timeout)] + list(args)
        done = self.sh(argv, check=False, timeout=timeout + 5)
        try:
            reply = json.loads(done.stdout)
        except ValueError:
            reply = None
        if check and (done.returncode != 0 or reply is None or reply.get("result") == "error"):
            raise Failed(f"pmipctl {' '.join(args)} on {gateway}: {(done.stdout + done.stderr).strip()}")
        return reply if reply is not None else {"result": "error", "error": (done.stdout + done.stderr).strip()}

    def bindings(self, gateway):
        reply = self.ctl(gateway, "bindings")
        return reply.get("bindings", [])

    def wait_for(self, what, predicate, timeout, interval=0.1):
        """Polls `predicate` until it returns something truthy; Failed with `what` after `timeout` seconds."""
        deadline = now() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if now() > deadline:
                raise Failed(f"{what}: not within {timeout}s")
            time.sleep(interval)

    # ---------------------------------------------------------------- topology

    def add_namespace(self, role):
        name = f"{self.run_id}-{role}"
        self.sh(["ip", "netns", "add", name])
        self.ns[role] = name
        self.summary["namespaces"].append(name)

    def sysctl(self, ns, *settings):
        self.sh(["sysctl", "-q", "-w"] + list(settings), ns=ns)

    def build_topology(self):
        with self.step("topology: namespaces, bridges, veth pairs"):
            for role in ("ue", "pdn", "mag1", "mag2", "lma", "core", "air"):
                self.add_namespace(role)
            # Gateways and bridges: no IPv6 of the kernel's own (no RS, NS, MLD, DAD) before any interface exists;
            # the gateways own their interfaces through DPDK and have no kernel addresses.
            for role in ("mag1", "mag2", "lma", "core", "air"):
                self.sysctl(role, "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
            # The PDN host is a server with static addresses: no router solicitations.
            self.sysctl("pdn", "net.ipv6.conf.all.accept_ra=0", "net.ipv6.conf.default.accept_ra=0")
            # The UE configures IPv6 by SLAAC (EUI-64, no temporary addresses: predictable for the checks).
            self.sysctl(
                "ue",
                "net.ipv6.conf.default.accept_ra=1",
                "net.ipv6.conf.default.autoconf=1",
                "net.ipv6.conf.default.use_tempaddr=0",
                "net.ipv6.conf.default.addr_gen_mode=0",
            )
            for bridge_ns, bridge in (("core", "core0"), ("air", "air0")):
                self.ip(bridge_ns, "link", "add", "name", bridge, "type", "bridge", "stp_state", "0",
                        "mcast_snooping", "0")
            links = [
                ("mag1", "core", "core", "mag1"),
                ("mag2", "core", "core", "mag2"),
                ("lma", "core", "core", "lma"),
                ("mag1", "access", "air", "mag1"),
                ("mag2", "access", "air", "mag2"),
                ("lma", "sgi", "pdn", "eth0"),
                ("ue", "eth0", "air", "ue"),
            ]
            for ns, ifname, peer_ns, peer in links:
                self.ip(ns, "link", "add", "name", ifname, "type", "veth", "peer", "name", peer, "netns",
                        self.ns[peer_ns])
            for (ns, ifname), mac in MACS.items():
                self.ip(ns, "link", "set", "dev", ifname, "address", mac)
            # Hosts: full checksums and no segmentation offloads (af_packet would forward partial checksums and
            # oversized segments as they are), and an MTU that leaves room for the GRE encapsulation.
            for ns in ("ue", "pdn"):
                self.sh(["ethtool", "-K", "eth0", "tx", "off", "tso", "off", "gso", "off", "gro", "off"], ns=ns)
                self.ip(ns, "link", "set", "dev", "eth0", "mtu", str(UE_MTU))
                self.ip(ns, "link", "set", "dev", "lo", "up")
            # The gateways read whole frames: no aggregation on their interfaces either.
            for ns, ifname in (("mag1", "core"), ("mag2", "core"), ("lma", "core"), ("mag1", "access"),
                               ("mag2", "access"), ("lma", "sgi")):
                self.sh(["ethtool", "-K", ifname, "gro", "off", "tso", "off", "gso", "off"], ns=ns)
                self.ip(ns, "link", "set", "dev", ifname, "up")
            for bridge_ns, bridge, ports in (("core", "core0", ("mag1", "mag2", "lma")),
                                             ("air", "air0", ("ue", "mag1", "mag2"))):
                for port in ports:
                    self.ip(bridge_ns, "link", "set", "dev", port, "master", bridge)
                self.ip(bridge_ns, "link", "set", "dev", bridge, "up")
            for port in ("mag1", "mag2", "lma"):
                self.ip("core", "link", "set", "dev", port, "up")
            # The UE is in MAG1's radio coverage only: the air port towards MAG2 stays down until the handover.
            self.ip("air", "link", "set", "dev", "ue", "up")
            self.ip("air", "link", "set", "dev", "mag1", "up")
            # The PDN server host.
            self.ip("pdn", "addr", "add", f"{PDN_V4}/24", "dev", "eth0")
            self.ip("pdn", "addr", "add", f"{PDN_V6}/64", "dev", "eth0", "nodad")
            self.ip("pdn", "link", "set", "dev", "eth0", "up")
            self.ip("pdn", "route", "add", POOL_V4, "via", LMA_SGI_V4)
            self.ip("pdn", "-6", "route", "add", POOL_V6, "via", LMA_SGI_V6)
            if self.args.l2 == "static":
                self.ip("pdn", "neigh", "replace", LMA_SGI_V4, "lladdr", MACS[("lma", "sgi")], "dev", "eth0",
                        "nud", "permanent")
                self.ip("pdn", "neigh", "replace", LMA_SGI_V6, "lladdr", MACS[("lma", "sgi")], "dev", "eth0",
                        "nud", "permanent")
            self.out.detail(
                f"namespaces: {' '.join(self.ns.values())}\n"
                "ue eth0 ─ air0{ue, mag1, mag2(down)} ─ mag1/mag2 access │ mag1/mag2/lma core ─ core0 │ "
                "lma sgi ─ pdn eth0"
            )

    def start_capture(self):
        with self.step("capture: dumpcap on the core bridge port towards the LMA"):
            self.core_pcap = self.path("core.pcap")
            self.access_pcap = self.path("access.pcap")
            for name, ns, iface, path in (("capture-core", "core", "lma", self.core_pcap),
                                          ("capture-access", "air", "ue", self.access_pcap)):
                log = open(self.path(f"{name}.log"), "w")
                self.procs[name] = subprocess.Popen(
                    ["ip", "netns", "exec", self.ns[ns], "dumpcap", "-q", "-P", "-B", "32", "-i", iface, "-w", path],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
                log.close()
            for name, path in (("capture-core", self.core_pcap), ("capture-access", self.access_pcap)):
                self.wait_for(f"{name} writing {path}",
                              lambda p=path, n=name: self.check_alive(n) and os.path.exists(p)
                              and os.path.getsize(p) >= 24, 10)
            keep = {self.core_pcap: self.args.pcap, self.access_pcap: self.args.access_pcap}
            for what, path in (("core link", self.core_pcap), ("air link (UE side)", self.access_pcap)):
                self.out.detail(f"{what}: {path}" + (f" (kept as {keep[path]} after teardown)" if keep[path] else ""))

    def check_alive(self, name):
        proc = self.procs[name]
        if proc.poll() is not None:
            raise Failed(f"{name} exited ({proc.returncode}): {self.log_tail(name)}")
        return True

    def log_tail(self, name, lines=30):
        try:
            with open(self.path(f"{name}.log"), errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return "(no log)"

    # ---------------------------------------------------------------- gateways

    def gateway_config(self, gateway):
        t = self.transport
        # Every gateway's lcore floats over all the CPUs this run may use (EAL --lcores syntax), so the kernel
        # balances three gateways on two cores; the sleep idle policy keeps idle gateways off the CPUs.
        cpus = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
        lcore = f"0@({cpus})"
        lines = [
            "# Generated by deploy/e2e/pmipgw_e2e.py for one run; removed at teardown.",
            "[dpdk]",
            f'lcores = "{lcore}"',
            "eal_args = " + json.dumps(["--no-huge", "--no-shconf", "--no-pci", "-m", "256", "--file-prefix",
                                        self.eal_prefix(gateway), "--log-level", "lib.eal:warning"]),
            "mempool_size = 8191",
            # net_af_packet's kernel socket hands over IP fragments already put back together (DPDK asks for
            # defragmenting fan-out): 4 KiB frames and buffers take a 2000-byte ping whole.
            "mbuf_size = 4096",
            "",
            "[run]",
            'log_level = "info"',
            "[run.idle]",
            'policy = "sleep"',
            "sleep_us = 100",
            "",
            "[gateway]",
        ]
        static = self.args.l2 == "static"
        if gateway == "lma":
            lines += [f'lmaa = ["{t["lma"]}"]', "table_capacity = 1024", ""]
            # Static: one MAC for both MAGs is the broadcast address (the MAG not addressed drops the frame).
            lines += self.port("core", "net_af_packet0", "core",
                               {"next_hop_mac": "ff:ff:ff:ff:ff:ff"} if static else {})
            lines += self.port("sgi", "net_af_packet1", "sgi",
                               {"next_hop_mac": MACS[("pdn", "eth0")], "icmp_source": [LMA_SGI_V4, LMA_SGI_V6]}
                               if static else
                               {"addresses": [LMA_SGI_V4, LMA_SGI_V6], "next_hop": [PDN_V4, PDN_V6]})
            lines += [
                "[lma]",
                f'allowed_mags = ["{t["allowed"]}"]',
                f"uplink_keys = {{ first = {UPLINK_KEYS[0]:#010x}, last = {UPLINK_KEYS[1]:#010x} }}",
                # RFC 5213 MinDelayBeforeBCEDelete is 10 s; 1 s keeps the demonstration short.
                "min_delay_before_bce_delete_ms = 1000",
                "revoke_previous_mag = true",
                "max_bindings = 1024",
                "[[lma.apns]]",
                f'name = "{APN}"',
                f'ipv4_pool = "{POOL_V4}"',
                f'ipv6_pool = "{POOL_V6}"',
                "[lma.heartbeat]",
                f'restart_counter_file = "{self.path("lma-restart-counter")}"',
            ]
        else:
            address = t[gateway]
            lines += [f'proxy_coa = ["{address}"]', "table_capacity = 1024", ""]
            lines += self.port("core", "net_af_packet0", "core",
                               {"next_hop_mac": MACS[("lma", "core")]} if static else {})
            lines += self.port("access", "net_af_packet1", "access",
                               {"next_hop_mac": MACS[("ue", "eth0")], "icmp_source": [UE_ROUTER_V4]} if static
                               else {"addresses": [UE_ROUTER_V4]})
            family_key = "local_ipv6" if ":" in address else "local_ipv4"
            first, last = DOWNLINK_KEYS[gateway]
            lines += [
                "[mag]",
                f'{family_key} = "{address}"',
                f"downlink_keys = {{ first = {first:#010x}, last = {last:#010x} }}",
                "max_bindings = 1024",
                "[mag.heartbeat]",
                f'restart_counter_file = "{self.path(gateway + "-restart-counter")}"',
            ]
        # Each gateway its own durable state (the MAGs would otherwise share `mag.journal`).
        lines += ["[state]", f'dir = "{self.path(gateway + "-state")}"']
        lines += ["[api]", f'socket = "{self.path(gateway + ".sock")}"', "[metrics]", "enabled = false", ""]
        return "\n".join(lines)

    def port(self, name, device, role, keys):
        lines = ["[[port]]", f'name = "{name}"', f'device = "{device}"', f'devargs = "iface={name},framesz=4096,blocksz=4096"',
                 f'roles = ["{role}"]']
        for key, values in keys.items():
            lines.append(f"{key} = {json.dumps(values)}")
        return lines + [""]

    def start_gateways(self):
        with self.step("gateways: LMA, MAG1, MAG2 (pmipgw on net_af_packet ports, one per namespace)"):
            for gateway in GATEWAYS:
                self.start_gateway(gateway)
            for gateway in GATEWAYS:
                self.wait_for_api(gateway)
            for gateway in GATEWAYS:
                self.out.detail(f"{gateway}: pid {self.procs[gateway].pid}, config {self.path(gateway + '.toml')}")

    def start_gateway(self, gateway, log_mode="w", extra=()):
        """Writes the gateway's config and starts `pmipgw` in its namespace (its log appended to with "a", as after
        a restart; `extra`: more command-line arguments)."""
        config = self.path(f"{gateway}.toml")
        with open(config, "w") as f:
            f.write(self.gateway_config(gateway))
        argv = [os.path.join(self.bin, "pmipgw"), "--config", config,
                "--counters-json", self.path(f"{gateway}-counters.json"), *extra]
        with open(self.path(f"{gateway}.log"), log_mode) as log:
            self.procs[gateway] = subprocess.Popen(
                ["ip", "netns", "exec", self.ns[gateway]] + argv,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_for_api(self, gateway):
        """Until the gateway answers `stats` on its management socket (it then forwards too)."""
        self.wait_for(f"{gateway}'s management socket",
                      lambda: self.check_alive(gateway) and self.ctl(gateway, "stats", check=False,
                                                                     timeout=2).get("result") == "stats",
                      30, interval=0.2)

    def stop_gateways(self):
        """SIGTERM, wait, read the final counters; SIGKILL only if a gateway ignores SIGTERM."""
        for gateway in GATEWAYS:
            proc = self.procs.get(gateway)
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for gateway in GATEWAYS:
            proc = self.procs.get(gateway)
            if proc is None:
                continue
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.out.fail(f"{gateway} ignored SIGTERM for 20 s: killed")
                proc.kill()
                proc.wait()
            self.gateway_exit[gateway] = proc.returncode
            try:
                with open(self.path(f"{gateway}-counters.json")) as f:
                    self.final_counters[gateway] = json.load(f)
            except (OSError, ValueError):
                self.final_counters[gateway] = None
        self.summary["gateway_exit"] = self.gateway_exit
        self.summary["final_counters"] = self.final_counters

    # ---------------------------------------------------------------- UE and hosts

    def ue_attach(self):
        """The UE's interface comes up, in MAG1's coverage (it then solicits routers)."""
        self.ip("ue", "link", "set", "dev", "eth0", "up")

    def ue_detach(self):
        """The UE leaves: interface down, addresses and routes gone (the next attach starts clean)."""
        self.ip("ue", "link", "set", "dev", "eth0", "down", check=False)
        self.ip("ue", "addr", "flush", "dev", "eth0", "scope", "global", check=False)
        self.ip("ue", "neigh", "flush", "dev", "eth0", check=False)

    def ue_configure_ipv4(self, address):
        self.ip("ue", "addr", "add", f"{address}/32", "dev", "eth0")
        if self.args.l2 == "static":
            self.ip("ue", "neigh", "replace", UE_ROUTER_V4, "lladdr", MACS[("mag1", "access")], "dev", "eth0",
                    "nud", "permanent")
        self.ip("ue", "route", "replace", "default", "via", UE_ROUTER_V4, "dev", "eth0", "onlink")

    def ue_configure_ipv6_static(self, prefix):
        """--l2 static: what the Router Advertisement would have configured, by hand."""
        host = int(ipaddress.ip_address(STATIC_UE_IID))
        address = ipaddress.ip_network(prefix)[host]
        self.ip("ue", "addr", "add", f"{address}/64", "dev", "eth0", "nodad")
        self.ip("ue", "neigh", "replace", STATIC_ROUTER_V6, "lladdr", MACS[("mag1", "access")], "dev", "eth0",
                "nud", "permanent")
        self.ip("ue", "-6", "route", "replace", "default", "via", STATIC_ROUTER_V6, "dev", "eth0")

    def ue_ipv6_address(self, prefix):
        """The UE's SLAAC address inside `prefix` once it is no longer tentative, with a default route."""
        network = ipaddress.ip_network(prefix)
        addrs = json.loads(self.ip("ue", "-j", "-6", "addr", "show", "dev", "eth0", "scope", "global").stdout or "[]")
        for link in addrs:
            for a in link.get("addr_info", []):
                if "local" not in a or a.get("tentative") or a.get("dadfailed"):
                    continue
                if ipaddress.ip_address(a["local"]) in network:
                    routes = json.loads(self.ip("ue", "-j", "-6", "route", "show", "default").stdout or "[]")
                    if routes:
                        return a["local"], routes[0].get("gateway")
        return None

    def ue_mac(self):
        links = json.loads(self.ip("ue", "-j", "link", "show", "dev", "eth0").stdout)
        return links[0]["address"]

    def ping(self, ns, target, count=3, size=None, wait=2, df=True):
        argv = ["ping", "-n", "-c", str(count), "-i", "0.2", "-W", str(wait)]
        if size is not None:
            argv += ["-s", str(size), "-M", "do" if df else "dont"]
        done = self.sh(argv + [target], ns=ns, check=False, timeout=count * 3 + 10)
        rtts = [float(x) for x in re.findall(r"time=([\d.]+) ms", done.stdout)]
        ttls = [int(x) for x in re.findall(r"ttl=(\d+)", done.stdout)]
        m = re.search(r"(\d+) packets transmitted, (\d+) received", done.stdout)
        sent, received = (int(m.group(1)), int(m.group(2))) if m else (count, 0)
        result = {
            "from": ns,
            "target": target,
            "size": size if size is not None else 56,
            "sent": sent,
            "received": received,
            "rtt_ms": rtts,
            "ttl": sorted(set(ttls)),
        }
        if rtts:
            result["rtt_min_avg_max_ms"] = [min(rtts), round(sum(rtts) / len(rtts), 3), max(rtts)]
        return result

    def ping_step(self, group, ns, target, count=3, size=None, warm_up=True):
        """Pings that must all be answered. With `warm_up`, single pings first until one is answered (next hops
        are being resolved on the way); their number is recorded."""
        attempts = 0
        if warm_up:
            deadline = now() + 10
            while True:
                attempts += 1
                if self.ping(ns, target, count=1)["received"] == 1:
                    break
                if now() > deadline:
                    raise Failed(f"no reply from {target} (from {ns}) to {attempts} single pings over 10 s")
        result = self.ping(ns, target, count=count, size=size)
        result["warm_up_pings"] = attempts
        group["pings"].append(result)
        if result["received"] != result["sent"]:
            raise Failed(f"ping {ns} → {target}: {result['received']} of {result['sent']} answered")
        rtt = result.get("rtt_min_avg_max_ms", [0, 0, 0])
        self.out.ok(f"ping {ns} → {target} ({result['size']} B): {result['received']}/{result['sent']} replies, "
                    f"rtt min/avg/max {rtt[0]}/{rtt[1]}/{rtt[2]} ms, ttl {result['ttl']}"
                    + (f" (after {attempts - 1} unanswered warm-up pings)" if attempts > 1 else ""))
        return result

    def fastpath_totals(self, gateway):
        return ((self.ctl(gateway, "stats").get("dataplane") or {}).get("totals") or {})

    def fragments_step(self, group, target, ue_address):
        """IPv4 without DF larger than the tunnel carries is cut into fragments, not dropped. A 2000-byte ping
        each way: the sender's kernel cuts it at its 1500-byte MTU, and the first piece is still too big for the
        tunnel, so the gateway that puts it in (MAG1 uplink, the LMA downlink) cuts it again inside the tunnel
        (RFC 4459 §3.2); the receiver puts the pieces together. Runs before path MTU discovery has taught either
        end the tunnel's MTU, after clearing what an earlier PDN connection taught them."""
        for ns in ("ue", "pdn"):
            self.sh(["ip", "-4", "route", "flush", "cache"], ns=ns, check=False)
        before = {gw: self.fastpath_totals(gw).get("fragmented", 0) for gw in ("mag1", "lma")}
        for ns, to in (("ue", target), ("pdn", ue_address)):
            result = self.ping(ns, to, count=3, size=2000, df=False)
            group["pings"].append(result)
            if result["received"] != result["sent"]:
                raise Failed(f"ping -M dont -s 2000 {ns} → {to}: {result['received']} of {result['sent']} answered")
        cut = {gw: self.fastpath_totals(gw).get("fragmented", 0) - before[gw] for gw in before}
        group["fragmented"] = cut
        if not any(cut.values()):
            raise Failed(f"2000-byte pings without DF went through, but no gateway fragmented: {cut}")
        self.out.ok(f"ping -M dont -s 2000 ue → {target} and pdn → {ue_address}: 3/3 replies each; "
                    f"packets fragmented into the tunnel: MAG1 {cut['mag1']}, LMA {cut['lma']}")

    def tunnel_mtu(self):
        """The largest packet the MAG-LMA tunnel carries on 1500-byte core links."""
        return 1500 - (48 if ":" in self.transport["lma"] else 28)

    def path_mtu_step(self, group, target, headers):
        """A ping that fills the UE's MTU with DF set is answered by the MAG with the tunnel's MTU (ICMP
        Fragmentation Needed). Over IPv6 the UE knows its MTU before it sends: the MAG's Router Advertisement
        carries the tunnel MTU of IPv6 transport, 1452, whatever the transport (the most GRE can add), and ping
        reports a local error naming it. A ping that fills that MTU gets its reply."""
        mtu = self.tunnel_mtu() if headers == 28 else 1500 - 48
        argv = ["ping", "-n", "-c", "1", "-W", "2", "-M", "do", "-s", str(UE_MTU - headers), target]
        done = self.sh(argv, ns="ue", check=False, timeout=15)
        said = re.findall(r"mtu ?[=:] ?(\d+)", done.stdout + done.stderr)
        told = [line.strip() for line in (done.stdout + done.stderr).splitlines() if "mtu" in line.lower()]
        group["path_mtu"].append({"target": target, "size": UE_MTU - headers, "told": told[:1],
                                  "mtu": int(said[0]) if said else None})
        if not said or int(said[0]) != mtu:
            raise Failed(f"ping -M do -s {UE_MTU - headers} {target} from the UE: expected the tunnel MTU {mtu}, "
                         f"saw {done.stdout + done.stderr!r}")
        self.out.ok(f"ping -M do -s {UE_MTU - headers} → {target}: {told[0] if told else ''}")
        self.ping_step(group, "ue", target, count=1, size=mtu - headers, warm_up=False)

    PING_STREAM_INTERVAL = 0.01

    def start_ping_stream(self, target):
        """A ping every 10 ms from the UE while the handover happens: how long the UE goes without service."""
        log = open(self.path("ping-stream.log"), "w")
        self.procs["ping-stream"] = subprocess.Popen(
            ["ip", "netns", "exec", self.ns["ue"], "ping", "-n", "-i", str(self.PING_STREAM_INTERVAL), "-W", "1",
             "-w", "60", target],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        return self.procs["ping-stream"]

    def stop_ping_stream(self, proc):
        interrupt(proc, 5)  # ping prints its statistics
        with open(self.path("ping-stream.log")) as f:
            sent, received, seqs = ping_statistics(f.read())
        longest = max((b - a - 1 for a, b in zip(seqs, seqs[1:])), default=0)
        return {"interval_ms": self.PING_STREAM_INTERVAL * 1000, "sent": sent, "received": received,
                "lost": sent - received, "longest_gap_packets": longest,
                "longest_gap_ms": round(longest * self.PING_STREAM_INTERVAL * 1000)}

    def report_ping_stream(self, stream, across="the handover"):
        if stream["sent"] == 0:
            raise Failed(f"the ping stream across {across} sent nothing")
        self.out.ok(f"ping stream UE → {PDN_V4} every {stream['interval_ms']:.0f} ms across {across}: "
                    f"{stream['received']}/{stream['sent']} answered, longest gap {stream['longest_gap_packets']} "
                    f"pings (~{stream['longest_gap_ms']} ms without service)")

    def ping_fails_step(self, group, ns, target):
        result = self.ping(ns, target, count=2, wait=1)
        result["expected"] = "no reply"
        group["pings_after_delete"].append(result)
        if result["received"] != 0:
            raise Failed(f"ping {ns} → {target} still answered after the PDN connection was deleted")
        self.out.ok(f"ping {ns} → {target}: {result['sent']} sent, none answered (as expected)")

    def start_tcp_server(self):
        log = open(self.path("tcp-server.log"), "w")
        self.procs["tcp-server"] = subprocess.Popen(
            ["ip", "netns", "exec", self.ns["pdn"], sys.executable, os.path.abspath(__file__), "_tcp-server",
             str(TCP_PORT)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.wait_for("TCP server in the PDN namespace", lambda: self.check_alive("tcp-server") and
                      self.tcp_server_records(raw=True), 10)

    def tcp_server_records(self, raw=False):
        with open(self.path("tcp-server.log")) as f:
            lines = [line for line in f.read().splitlines() if line.strip()]
        if raw:
            return lines
        return [json.loads(line) for line in lines if line.startswith("{")]

    def transfer_step(self, group, target, direction, size):
        """TCP from the UE to the PDN host: `up` sends `size` bytes, `down` receives them; SHA-256 on both ends."""
        seen = len(self.tcp_server_records())
        done = self.sh([sys.executable, os.path.abspath(__file__), "_tcp-client", target, str(TCP_PORT), direction,
                        str(size)], ns="ue", check=False, timeout=120)
        try:
            client = json.loads(done.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise Failed(f"TCP {direction} to {target}: {(done.stdout + done.stderr).strip()}") from None
        server = self.wait_for("the TCP server's record of the transfer",
                               lambda: self.tcp_server_records()[seen:], 10)[0]
        result = {
            "target": target,
            "direction": direction,
            "bytes_sent": client["bytes"] if direction == "up" else server["bytes"],
            "bytes_received": server["bytes"] if direction == "up" else client["bytes"],
            "sha256_sent": client["sha256"] if direction == "up" else server["sha256"],
            "sha256_received": server["sha256"] if direction == "up" else client["sha256"],
            "seconds": client["seconds"],
            "ue_address": server.get("peer"),
        }
        result["mbit_s"] = round(result["bytes_received"] * 8 / max(result["seconds"], 1e-6) / 1e6, 1)
        group["transfers"].append(result)
        if "error" in client or "error" in server:
            raise Failed(f"TCP {direction} to {target}: client {client}, server {server}")
        if result["bytes_received"] != size or result["bytes_sent"] != size:
            raise Failed(f"TCP {direction} to {target}: {result['bytes_sent']} sent, {result['bytes_received']} "
                         f"received of {size}")
        if result["sha256_sent"] != result["sha256_received"]:
            raise Failed(f"TCP {direction} to {target}: SHA-256 differs: sent {result['sha256_sent']}, received "
                         f"{result['sha256_received']}")
        arrow = "UE → PDN" if direction == "up" else "PDN → UE"
        self.out.ok(f"TCP {arrow} [{target}]:{TCP_PORT}: {size} bytes in {result['seconds']:.2f} s "
                    f"({result['mbit_s']} Mbit/s), SHA-256 {result['sha256_received'][:16]}… equal on both ends")
        return result

    # ---------------------------------------------------------------- bindings and counters

    def show_bindings(self, gateways):
        for gateway in gateways:
            rows = self.bindings(gateway)
            if not rows:
                self.out.detail(f"{gateway:4}: no bindings")
            for b in rows:
                c = b.get("counters") or {}
                self.out.detail(
                    f"{gateway:4}: {b['state']:<8} {b['mn_id'].split('@')[0]} peer {b['peer']} "
                    f"uplink-key {fmt_key(b.get('uplink_key'))} downlink-key {fmt_key(b.get('downlink_key'))} "
                    f"hnp {b.get('home_prefix') or '-'} hoa {b.get('ipv4_home_address') or '-'} "
                    f"ul {c.get('uplink_packets', 0)} pkts dl {c.get('downlink_packets', 0)} pkts")

    def stats(self):
        result = {}
        for gateway in GATEWAYS:
            result[gateway] = self.ctl(gateway, "stats")
        return result

    def show_stats(self, stats):
        for gateway, s in stats.items():
            sig = ", ".join(f"{m['direction']} {m['message']}{'/' + m['status'] if m.get('status') else ''} "
                            f"{m['count']}" for m in s.get("signalling", []) if m["count"])
            dp = s.get("dataplane") or {}
            ports = ", ".join(f"{p['name']} rx {p['rx_packets']} tx {p['tx_packets']}" for p in dp.get("ports", []))
            drops = ", ".join(f"{k} {v}" for k, v in sorted((dp.get("drops") or {}).items()) if v) or "none"
            self.out.detail(f"{gateway:4}: signalling: {sig or 'none'}")
            self.out.detail(f"      ports: {ports}")
            self.out.detail(f"      drops: {drops}")

    def check_signalling_latency(self, group, check, mag):
        """The PBU/PBA exchange just made is in both ends' latency histograms (pmipgw_signalling_latency_seconds):
        the LMA's from PBU in to PBA out, the MAG's from its first PBU to the PBA, which holds the LMA's."""
        seen = {}
        for gateway in (mag, "lma"):
            h = self.ctl(gateway, "stats").get("signalling_latency") or {}
            count = sum(h.get("counts") or [])
            if count < 1:
                raise Failed(f"{check}: {gateway} measured no PBU/PBA exchange: {h}")
            seen[gateway] = (count, h["sum_us"] / count)
        group.setdefault("latency", {})[check] = seen
        if not 0 < seen["lma"][1] < 5_000_000 or not 0 < seen[mag][1] < 10_000_000:
            raise Failed(f"{check}: implausible mean latencies (count, µs): {seen}")
        self.out.ok(f"signalling latency: LMA mean {seen['lma'][1]:.0f} µs over {seen['lma'][0]} exchange(s), "
                    f"{mag.upper()} mean {seen[mag][1]:.0f} µs over {seen[mag][0]}")

    def crash_and_restart(self, group, victim, mag, mn_id, size):
        """`kill -9` of a gateway while the UE's PDN connection is up, and a start from its durable state: the
        same keys and addresses on both sides, the same RFC 5847 restart counter, no PBU from or to the restarted
        gateway, and ping and TCP through the tunnel again."""
        before, _ = self.check_bindings_match(group, f"before-kill-{victim}", mag, mn_id, self.transport[mag])
        counter = self.ctl(victim, "peers").get("restart_counter")
        # What the gateway had counted when the stream started: a kill -9 loses its counters, so the checks
        # account for the traffic before it by these, and for the stream by its own counts.
        totals = (self.ctl(victim, "stats").get("dataplane") or {}).get("totals") or {}
        stream = self.start_ping_stream(PDN_V4)
        try:
            time.sleep(0.3)
            proc = self.procs.pop(victim)
            proc.kill()
            proc.wait()
            killed = now()
            self.start_gateway(victim, log_mode="a")
            self.wait_for_api(victim)
            self.out.ok(f"{victim.upper()} killed (SIGKILL) and answering again in {now() - killed:.1f} s")
            time.sleep(0.5)
        finally:
            pings = self.stop_ping_stream(stream)
        self.report_ping_stream(pings, across="the restart")
        after, _ = self.check_bindings_match(group, f"after-restart-{victim}", mag, mn_id, self.transport[mag])
        for field in ("uplink_key", "downlink_key", "home_prefix", "ipv4_home_address"):
            if after.get(field) != before.get(field):
                raise Failed(f"{field} changed across the restart of {victim}: {before.get(field)} → {after.get(field)}")
        if self.ctl(victim, "peers").get("restart_counter") != counter:
            raise Failed(f"{victim}'s restart counter changed across a restart that kept its state (RFC 5847 §5.3)")
        state = self.ctl(victim, "state")
        restored = (state.get("restored") or {}).get("restored")
        pbus = sum(m["count"] for m in self.ctl(victim, "stats").get("signalling", [])
                   if m["message"] in ("pbu", "pba"))
        if pbus:
            raise Failed(f"the restarted {victim} exchanged {pbus} PBU/PBA(s): a warm start needs none")
        self.out.ok(f"restart counter {counter} kept; {restored} binding(s) restored from the journal; no PBU or "
                    f"PBA since; keys and addresses unchanged")
        group.setdefault("restarts", {})[victim] = {"restored": restored, "pings": pings, "counter": counter,
                                                    "counted_before": totals}
        self.ping_step(group, "ue", PDN_V4, warm_up=False)
        self.ping_step(group, "ue", PDN_V6, warm_up=False)
        self.transfer_step(group, PDN_V4, "down", size // 4)

    def check_bindings_match(self, group, check, mag, mn_id, expect_peer):
        """The MAG's and the LMA's view of one PDN connection: same keys, same home addresses."""
        mags = [b for b in self.bindings(mag) if b["mn_id"] == mn_id]
        lmas = [b for b in self.bindings("lma") if b["mn_id"] == mn_id]
        group["bindings"][check] = {mag: mags, "lma": lmas}
        if len(mags) != 1 or len(lmas) != 1:
            raise Failed(f"{check}: expected one binding for {mn_id} on {mag} and on the LMA, saw {len(mags)} "
                         f"and {len(lmas)}")
        m, l = mags[0], lmas[0]
        for field in ("uplink_key", "downlink_key", "home_prefix", "ipv4_home_address"):
            if m.get(field) != l.get(field):
                raise Failed(f"{check}: {field} differs: {mag} {m.get(field)}, LMA {l.get(field)}")
        if m.get("uplink_key") is None or m.get("downlink_key") is None:
            raise Failed(f"{check}: keys missing: {m}")
        if l["peer"] != self.transport[mag] or m["peer"] != self.transport["lma"]:
            raise Failed(f"{check}: tunnel endpoints: {mag} → {m['peer']}, LMA → {l['peer']} (expected "
                         f"{self.transport['lma']} and {expect_peer})")
        if m["state"] != "active" or l["state"] != "active":
            raise Failed(f"{check}: states {m['state']} / {l['state']}")
        self.out.ok(f"bindings agree: {mag} and LMA: uplink key {fmt_key(m['uplink_key'])}, downlink key "
                    f"{fmt_key(m['downlink_key'])}, tunnel {m['local']} ⇄ {m['peer']}")
        return m, l

    def traffic_counters(self, group, check, mag, mn_id, since=None):
        """Per-binding traffic on both ends once the traffic has stopped: what the MAG encapsulated the LMA
        decapsulated and the other way round (the core link loses nothing). The LMA's binding outlives a handover,
        so its counters then include the previous MAG's traffic: `since` names the check to subtract."""
        keys = ("uplink_packets", "downlink_packets")
        base = group["traffic"][since]["lma"] if since else {}

        def read():
            m = [b for b in self.bindings(mag) if b["mn_id"] == mn_id]
            l = [b for b in self.bindings("lma") if b["mn_id"] == mn_id]
            return (m[0].get("counters") or {}) if m else {}, (l[0].get("counters") or {}) if l else {}

        def agree(mc, lc):
            return all(mc.get(k) is not None and mc.get(k) == (lc.get(k) or 0) - base.get(k, 0) for k in keys)

        mc, lc = read()
        for _ in range(10):
            if agree(mc, lc):
                break
            time.sleep(0.2)
            mc, lc = read()
        group["traffic"][check] = {mag: mc, "lma": lc, "lma_before": base}
        if not mc.get("uplink_packets") or not mc.get("downlink_packets"):
            raise Failed(f"{check}: {mag}'s binding counted no traffic: {mc}")
        if not agree(mc, lc):
            raise Failed(f"{check}: per-binding counters disagree: {mag} {mc}, LMA {lc}"
                         + (f" minus {base} counted before" if base else ""))
        self.out.ok(f"per-binding counters agree: uplink {mc['uplink_packets']} packets, downlink "
                    f"{mc['downlink_packets']} packets on {mag} and LMA" + (" (since the handover)" if base else ""))

    def check_neighbours(self, group, check, mag, families):
        """ARP / NDP did their work: each gateway knows the other end of the tunnel and the LMA its PDN next hops,
        at the MACs the topology gave them."""
        seen = {g: self.ctl(g, "neighbours").get("neighbours", []) for g in ("lma", mag)}
        group.setdefault("neighbours", {})[check] = seen
        expected = [(mag, "core", self.transport["lma"], MACS[("lma", "core")]),
                    ("lma", "core", self.transport[mag], MACS[(mag, "core")])]
        if "ipv4" in families:
            expected.append(("lma", "sgi", PDN_V4, MACS[("pdn", "eth0")]))
        if "ipv6" in families:
            expected.append(("lma", "sgi", PDN_V6, MACS[("pdn", "eth0")]))
        for gateway, port, address, mac in expected:
            entries = [n for n in seen[gateway] if n["port"] == port and
                       ipaddress.ip_address(n["address"]) == ipaddress.ip_address(address)]
            if not entries or (entries[0].get("mac") or "").lower() != mac:
                raise Failed(f"{check}: {gateway} has not resolved {address} on {port} to {mac}: "
                             f"{entries or 'no entry'}")
        for gateway, entries in seen.items():
            for n in entries:
                self.out.detail(f"{gateway:4}: neighbour {n['port']:6} {n['address']:<18} {n.get('mac') or '-':17} "
                                f"{n['state']:<10} bindings {n['bindings']}")
        self.out.ok(f"neighbours resolved by ARP/NDP: {mag} ⇄ LMA on core, LMA → PDN host on sgi")

    def bindings_gone(self, group, check, gateways, mn_id, timeout=15):
        def gone():
            left = {g: [b for b in self.bindings(g) if b["mn_id"] == mn_id] for g in gateways}
            return left if not any(left.values()) else None
        try:
            self.wait_for(f"{check}: bindings of {mn_id} removed on {', '.join(gateways)}", gone, timeout, 0.2)
        finally:
            group["bindings"][check] = {g: [b for b in self.bindings(g) if b["mn_id"] == mn_id] for g in gateways}
        self.out.ok(f"no binding left for {mn_id.split('@')[0]} on {', '.join(gateways)}")

    # ---------------------------------------------------------------- scenario

    def pdn_create(self, group, mag, pdn_type, mn_id, handoff=None, binding=None):
        args = ["pdn", "create", "--mn-id", mn_id, "--apn", APN, "--pdn-type", pdn_type, "--lma",
                self.transport["lma"], "--ue-mac", self.ue_mac()]
        if handoff is not None:
            args += ["--handoff", str(handoff)]
            if binding.get("home_prefix"):
                args += ["--home-prefix", binding["home_prefix"].split("/")[0]]
            if binding.get("ipv4_home_address"):
                args += ["--ipv4-home-address", binding["ipv4_home_address"]]
        started = now()
        reply = self.ctl(mag, *args, timeout=60)
        b = reply["binding"]
        group.setdefault("pdn_create", {})[mag] = {"reply": b, "seconds": round(now() - started, 3), "args": args}
        self.out.ok(f"PBU {self.transport[mag]} → {self.transport['lma']}, PBA accepted in "
                    f"{(now() - started) * 1000:.0f} ms: uplink key {fmt_key(b.get('uplink_key'))}, downlink key "
                    f"{fmt_key(b.get('downlink_key'))}, HNP {b.get('home_prefix') or '-'}, "
                    f"IPv4 HoA {b.get('ipv4_home_address') or '-'}")
        return b

    def pdn_delete(self, mag, mn_id):
        self.ctl(mag, "pdn", "delete", "--mn-id", mn_id, "--apn", APN, timeout=60)
        self.out.ok(f"{mag}: de-registration PBU sent and acknowledged")

    def run_group(self, pdn_type):
        mn_id = MN_IDS[pdn_type]
        group = {"pdn_type": pdn_type, "mn_id": mn_id, "pings": [], "path_mtu": [], "pings_after_delete": [],
                 "transfers": [], "bindings": {}, "traffic": {}, "stats": {}}
        self.summary["groups"][pdn_type] = group
        v4, v6 = pdn_type in ("ipv4", "ipv4v6"), pdn_type in ("ipv6", "ipv4v6")
        size = int(self.args.transfer_mib * 1024 * 1024)
        try:
            with self.step(f"{pdn_type}: UE attaches to MAG1; pdn create (PBU/PBA on the core link)"):
                self.ue_attach()
                reserved = RESERVED_UPLINK_KEY if pdn_type == "ipv6" else None
                if reserved is not None:
                    self.ctl("lma", "keys", "reserve", "--key", fmt_key(reserved), "--mn-id", mn_id, "--apn", APN)
                    self.out.ok(f"LMA: uplink key {fmt_key(reserved)} reserved for {mn_id} (a GTP TEID, §6.3)")
                binding = self.pdn_create(group, "mag1", pdn_type, mn_id)
                if reserved is not None:
                    if binding.get("uplink_key") != reserved:
                        raise Failed(f"the PBA carries uplink key {fmt_key(binding.get('uplink_key'))}, not the "
                                     f"reserved {fmt_key(reserved)}")
                    group["reserved_uplink_key"] = reserved
                    self.out.ok(f"the tunnel uses the reserved uplink key {fmt_key(reserved)}")
            with self.step(f"{pdn_type}: UE configures its home address(es)"):
                if v4:
                    hoa = binding.get("ipv4_home_address")
                    if not hoa:
                        raise Failed(f"no IPv4 home address in the PBA: {binding}")
                    if ipaddress.ip_address(hoa) == ipaddress.ip_address(UE_ROUTER_V4):
                        raise Failed(f"the LMA handed out the MAG's own address {hoa}")
                    self.ue_configure_ipv4(hoa)
                    group["ue_ipv4"] = hoa
                    self.out.ok(f"IPv4 {hoa}/32, default via {UE_ROUTER_V4} (static, from the PBA; no DHCP)")
                if v6:
                    prefix = binding.get("home_prefix")
                    if not prefix:
                        raise Failed(f"no home network prefix in the PBA: {binding}")
                    started = now()
                    if self.args.l2 == "static":
                        self.ue_configure_ipv6_static(prefix)
                    address, router = self.wait_for(
                        f"the UE's SLAAC address in {prefix} from the MAG's Router Advertisement",
                        lambda: self.ue_ipv6_address(prefix), 15, 0.2)
                    group["ue_ipv6"] = address
                    group["ue_ipv6_router"] = router
                    self.out.ok(f"IPv6 {address} by SLAAC in {now() - started:.1f} s, default via {router} "
                                f"(Router Advertisement from the MAG)")
            with self.step(f"{pdn_type}: traffic through MAG1 and the LMA"):
                # Per family: pings both ways; for IPv4, 2000-byte pings without DF, fragmented into the tunnel;
                # one that fills the UE's MTU, too big for the tunnel, told the tunnel's MTU, and one that fills the
                # tunnel's (IP + ICMP headers: 28 / 48 bytes); TCP both ways with the default MSS, which path MTU
                # discovery brings down to what the tunnel carries.
                for wanted, pdn_host, ue_address, headers in ((v4, PDN_V4, "ue_ipv4", 28), (v6, PDN_V6, "ue_ipv6", 48)):
                    if not wanted:
                        continue
                    self.ping_step(group, "ue", pdn_host)
                    self.ping_step(group, "pdn", group[ue_address], warm_up=False)
                    if headers == 28:
                        self.fragments_step(group, pdn_host, group[ue_address])
                    self.path_mtu_step(group, pdn_host, headers)
                    self.transfer_step(group, pdn_host, "up", size)
                    self.transfer_step(group, pdn_host, "down", size)
            with self.step(f"{pdn_type}: bindings and neighbours on MAG1 and the LMA"):
                mag_binding, lma_binding = self.check_bindings_match(group, "after-create", "mag1", mn_id,
                                                                     self.transport["mag1"])
                self.traffic_counters(group, "after-traffic", "mag1", mn_id)
                self.check_neighbours(group, "after-traffic", "mag1",
                                      [f for f, on in (("ipv4", v4), ("ipv6", v6)) if on])
                self.check_signalling_latency(group, "after-create", "mag1")
                self.show_bindings(GATEWAYS)
            serving = "mag1"
            if pdn_type == "ipv4v6":
                serving = "mag2"
                with self.step(f"{pdn_type}: handover: the UE moves from MAG1 to MAG2; pdn create --handoff 3"):
                    stream = self.start_ping_stream(PDN_V4)
                    try:
                        time.sleep(0.3)
                        self.ip("air", "link", "set", "dev", "mag1", "down")
                        self.ip("air", "link", "set", "dev", "mag2", "up")
                        self.out.ok("air link: MAG1's port down, MAG2's port up (same MAC and link-local address)")
                        # What the LMA counted through MAG1: the UE can no longer reach MAG1, and the replies in
                        # flight have arrived after 50 ms; until MAG2's PBA the UE's packets stop at MAG2.
                        time.sleep(0.05)
                        lma_view = [b for b in self.bindings("lma") if b["mn_id"] == mn_id]
                        group["traffic"]["before-handover"] = {"lma": (lma_view[0].get("counters") or {})
                                                               if lma_view else {}}
                        moved = self.pdn_create(group, "mag2", pdn_type, mn_id, handoff=3, binding=mag_binding)
                        time.sleep(0.5)
                    finally:
                        group["handover_ping_stream"] = self.stop_ping_stream(stream)
                    self.report_ping_stream(group["handover_ping_stream"])
                    if moved.get("home_prefix") != mag_binding.get("home_prefix") or \
                            moved.get("ipv4_home_address") != mag_binding.get("ipv4_home_address"):
                        raise Failed(f"the home addresses changed in the handover: {mag_binding} → {moved}")
                with self.step(f"{pdn_type}: traffic continues through MAG2; MAG1 cleaned up by BRI"):
                    self.ping_step(group, "ue", PDN_V4)
                    self.ping_step(group, "ue", PDN_V6)
                    self.ping_step(group, "pdn", group["ue_ipv6"], warm_up=False)
                    self.transfer_step(group, PDN_V4, "down", size // 2)
                    self.transfer_step(group, PDN_V6, "up", size // 2)
                    _, lma_after = self.check_bindings_match(group, "after-handover", "mag2", mn_id,
                                                             self.transport["mag2"])
                    if lma_after["uplink_key"] != lma_binding["uplink_key"]:
                        raise Failed(f"the uplink key changed in the handover: {fmt_key(lma_binding['uplink_key'])}"
                                     f" → {fmt_key(lma_after['uplink_key'])}")
                    self.out.ok(f"uplink key unchanged by the handover: {fmt_key(lma_after['uplink_key'])}")
                    self.bindings_gone(group, "mag1-after-bri", ["mag1"], mn_id)
                    self.traffic_counters(group, "after-handover-traffic", "mag2", mn_id, since="before-handover")
                    self.check_neighbours(group, "after-handover-traffic", "mag2", ["ipv4", "ipv6"])
                    self.show_bindings(GATEWAYS)
                for victim in ("lma", serving):
                    with self.step(f"{pdn_type}: kill -9 {victim.upper()} and start it again: its bindings come "
                                   f"back from its journal, with no PBU"):
                        self.crash_and_restart(group, victim, serving, mn_id, size)
            with self.step(f"{pdn_type}: pdn delete on {serving.upper()}; the state goes on both sides"):
                self.pdn_delete(serving, mn_id)
                self.bindings_gone(group, "after-delete", [serving, "lma"], mn_id)
                if v4:
                    self.ping_fails_step(group, "ue", PDN_V4)
                if v6:
                    self.ping_fails_step(group, "ue", PDN_V6)
        finally:
            try:
                group["stats"] = self.stats()
                self.out.heading(f"counters after {pdn_type}:")
                self.show_stats(group["stats"])
            except Failed as e:
                self.out.fail(f"reading counters: {e}")
            self.ue_detach()
            if self.ip("air", "link", "show", "dev", "mag1").stdout.find("state DOWN") >= 0 or pdn_type == "ipv4v6":
                self.ip("air", "link", "set", "dev", "mag2", "down", check=False)
                self.ip("air", "link", "set", "dev", "mag1", "up", check=False)

    def scenario(self):
        self.build_topology()
        self.start_capture()
        self.start_gateways()
        with self.step("PDN host: TCP server"):
            self.start_tcp_server()
        failures = []
        for pdn_type in self.args.groups:
            try:
                self.run_group(pdn_type)
            except Failed as e:
                failures.append(pdn_type)
                if not self.args.keep_going:
                    raise
                self.out.fail(f"{pdn_type}: {e} (--keep-going: next group)")
        if failures:
            raise Failed(f"failed groups: {', '.join(failures)}")

    # ---------------------------------------------------------------- teardown and report

    def stop_captures(self):
        for name in ("capture-core", "capture-access"):
            proc = self.procs.get(name)
            if proc is None:
                continue
            interrupt(proc, 10)
            log = self.log_tail(name, 20)
            m = re.search(r"Packets received/dropped on interface '[^']+': (\d+)/(\d+)", log)
            self.summary["capture"][name] = {"received": int(m.group(1)), "dropped": int(m.group(2))} if m else \
                {"log": log.strip()}

    def report_capture(self):
        if not os.path.exists(getattr(self, "core_pcap", "")):
            return
        done = self.sh(["tshark", "-n", "-r", self.core_pcap] + tshark_decode_as(self.args.transport) +
                       ["-Y", "mipv6", "-T", "fields", "-E", "separator=|",
                        "-e", "frame.time_relative", "-e", "ipv6.src", "-e", "ipv6.dst", "-e", "ip.src", "-e", "ip.dst",
                        "-e", "mip6.mhtype", "-e", "mip6.ba.status", "-e", "mip6.bri_status", "-e", "mip6.hi",
                        "-e", "mip6.gre_key", "-e", "mip6.bu.lifetime", "-e", "mip6.ba.lifetime",
                        "-e", "mip6.mnid.identifier", "-e", "mip6.bri_br.type"], check=False, timeout=60)
        # Binding Revocation (MH type 16) is an Indication or an Acknowledgement by its B.R. Type (RFC 5846).
        names = {"5": "PBU", "6": "PBA", "16/1": "BRI", "16/2": "BRA", "13": "Heartbeat"}
        self.out.heading("signalling on the core link (tshark):")
        for line in done.stdout.splitlines():
            fields = (line.split("|") + [""] * 14)[:14]
            t, s6, d6, s4, d4, mh, status, bri_status, hi, key, bu_life, ba_life, mn, br_type = fields
            mh = mh.split(",")[0] + (f"/{br_type}" if br_type else "")
            # IPv6 signalling inside IPv4 carries mapped addresses: show the outer ones.
            src, dst = (s4.split(",")[0], d4.split(",")[0]) if s4 else (s6.split(",")[0], d6.split(",")[0])
            kind = names.get(mh, f"MH {mh}")
            extra = [mn.split("@")[0]] if mn else []
            if hi:
                extra.append(f"HI {hi}")
            if key:
                extra.append(f"GRE key {fmt_key(int(key.split(',')[0], 0))}")
            if bu_life or ba_life:
                extra.append(f"lifetime {(bu_life or ba_life).split(',')[0]}")
            if status or bri_status:
                extra.append(f"status {status or bri_status}")
            self.out.detail(f"{float(t):8.3f}s {kind:4} {src} → {dst}  {' '.join(extra)}")
        gre = self.sh(["tshark", "-n", "-r", self.core_pcap, "-Y", "gre", "-T", "fields", "-E", "separator=|",
                       "-e", "ipv6.src", "-e", "ipv6.dst", "-e", "ip.src", "-e", "ip.dst", "-e", "gre.key"],
                      check=False, timeout=120)
        flows = {}
        for line in gre.stdout.splitlines():
            s6, d6, s4, d4, key = (line.split("|") + [""] * 5)[:5]
            if self.args.transport == "v6":
                src, dst = s6.split(",")[0], d6.split(",")[0]
            else:
                src, dst = s4.split(",")[0], d4.split(",")[0]
            k = (src, dst, key.split(",")[0])
            flows[k] = flows.get(k, 0) + 1
        self.out.heading("GRE on the core link (tshark): packets per tunnel direction and key")
        for (src, dst, key), n in sorted(flows.items()):
            self.out.detail(f"{src} → {dst}  key {fmt_key(int(key, 0)) if key else '-'}: {n} packets")

    def report_final(self):
        self.out.heading("final counters (pmipgw at exit):")
        for gateway in GATEWAYS:
            c = self.final_counters.get(gateway)
            if not c:
                self.out.detail(f"{gateway}: no counters (exit {self.gateway_exit.get(gateway)})")
                continue
            total = c.get("fastpath", {}).get("total", {})
            drops = {k: v for k, v in (total.get("drops") or {}).items() if v}
            self.summary["drops"][gateway] = drops
            self.out.detail(
                f"{gateway:4}: exit {self.gateway_exit.get(gateway)}, encapsulated {total.get('encapsulated')}, "
                f"decapsulated {total.get('decapsulated')}, punted {total.get('punted')}, drops "
                f"{', '.join(f'{k} {v}' for k, v in sorted(drops.items())) or 'none'}, mbufs in use after shutdown "
                f"{c.get('mempool', {}).get('in_use_after_shutdown')}")

    def teardown(self):
        """Everything this run created goes, whatever happened before. Signals wait until it is done."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        self.out.step("teardown: gateways, captures, namespaces, files")
        try:
            self.stop_gateways()
        except Exception as e:  # teardown goes on whatever fails
            self.out.fail(f"stopping gateways: {e}")
        for name in ("tcp-server",):
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
        self.stop_captures()
        try:
            self.report_final()
            self.report_capture()
        except Exception as e:
            self.out.fail(f"reporting: {e}")
        for path_attr, option, key in (("core_pcap", self.args.pcap, "pcap"),
                                       ("access_pcap", self.args.access_pcap, "access_pcap")):
            source = getattr(self, path_attr, None)
            if option and source and os.path.exists(source):
                os.makedirs(os.path.dirname(os.path.abspath(option)), exist_ok=True)
                shutil.copyfile(source, option)
                self.summary[key] = os.path.abspath(option)
        for name, proc in self.procs.items():  # anything still running (nothing, normally)
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for name in reversed(list(self.ns.values())):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
        for gateway in GATEWAYS:
            shutil.rmtree(os.path.join("/var/run/dpdk", self.eal_prefix(gateway)), ignore_errors=True)
        self.summary["gateway_logs"] = {g: self.log_tail(g, 40) for g in GATEWAYS}
        shutil.rmtree(self.workdir, ignore_errors=True)
        left = [n for n in self.ns.values() if os.path.exists(os.path.join("/run/netns", n))]
        if left:
            self.out.fail(f"namespaces still present: {left}")
        else:
            self.out.ok(f"removed {len(self.ns)} namespaces, {len(self.procs)} processes and {self.workdir}")


class Step:
    def __init__(self, run, name):
        self.run, self.name = run, name

    def __enter__(self):
        self.started = now()
        self.run.out.step(self.name)
        return self

    def __exit__(self, kind, value, tb):
        record = {"name": self.name, "seconds": round(now() - self.started, 3), "ok": kind is None}
        if kind is not None:
            record["error"] = str(value) or kind.__name__
            if self.run.summary["failed_step"] is None:
                self.run.summary["failed_step"] = self.name
                self.run.summary["error"] = record["error"]
            self.run.out.fail(f"{self.name}: {record['error']}")
        self.run.summary["steps"].append(record)
        return False


def interrupt(proc, timeout):
    """SIGINT (a ping or a capture then prints its statistics), a wait, SIGKILL if that was not enough."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def ping_statistics(text):
    """What ping's output says: requests sent, replies received, and the sequence numbers answered (sorted)."""
    m = re.search(r"(\d+) packets transmitted, (\d+) received", text)
    sent, received = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
    return sent, received, sorted(int(x) for x in re.findall(r"icmp_seq=(\d+) ", text))


def tshark_decode_as(transport):
    """IPv4 transport: the MAGs use TS 29.275's IPv4-UDP signalling, an IPv6 header (IPv4-mapped addresses) behind
    UDP 5436, where Wireshark expects a bare Mobility Header (RFC 5844): decode that port as IPv6."""
    return ["-d", "udp.port==5436,ipv6"] if transport == "v4" else []


def fmt_key(key):
    return "-" if key is None else f"{key:#010x}"


# -------------------------------------------------------------------- helpers run inside the host namespaces

def tcp_server(port):
    """PDN host: one connection at a time. `up N`: reads N bytes, answers `<bytes> <sha256>`; `down N`: sends N
    random bytes. Prints one JSON record per connection."""
    listener = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("::", port))
    listener.listen(4)
    print("ready", flush=True)
    while True:
        conn, peer = listener.accept()
        record = {"peer": peer[0].removeprefix("::ffff:")}
        started = now()
        try:
            conn.settimeout(60)
            reader = conn.makefile("rb")
            op, count = reader.readline().decode().split()
            count = int(count)
            digest, got = hashlib.sha256(), 0
            if op == "up":
                while got < count:
                    chunk = reader.read(min(1 << 16, count - got))
                    if not chunk:
                        break
                    digest.update(chunk)
                    got += len(chunk)
                conn.sendall(f"{got} {digest.hexdigest()}\n".encode())
            else:
                while got < count:
                    chunk = os.urandom(min(1 << 16, count - got))
                    conn.sendall(chunk)
                    digest.update(chunk)
                    got += len(chunk)
                conn.shutdown(socket.SHUT_WR)
                conn.recv(1)  # until the client closes
            record.update(op=op, bytes=got, sha256=digest.hexdigest())
        except (OSError, ValueError) as e:
            record["error"] = str(e)
        finally:
            conn.close()
        record["seconds"] = round(now() - started, 3)
        print(json.dumps(record), flush=True)


def tcp_client(address, port, op, count):
    """UE: one transfer; prints a JSON record (bytes, sha256, seconds)."""
    count = int(count)
    record = {"op": op}
    started = now()
    try:
        conn = socket.create_connection((address, int(port)), timeout=60)
        conn.sendall(f"{op} {count}\n".encode())
        digest, got = hashlib.sha256(), 0
        if op == "up":
            while got < count:
                chunk = os.urandom(min(1 << 16, count - got))
                conn.sendall(chunk)
                digest.update(chunk)
                got += len(chunk)
            reply = conn.makefile("rb").readline().decode().split()
            record["server"] = reply
        else:
            while True:
                chunk = conn.recv(1 << 16)
                if not chunk:
                    break
                digest.update(chunk)
                got += len(chunk)
        conn.close()
        record.update(bytes=got, sha256=digest.hexdigest())
    except (OSError, ValueError) as e:
        record.update(bytes=0, sha256="", error=str(e))
    record["seconds"] = round(now() - started, 3)
    print(json.dumps(record), flush=True)


# -------------------------------------------------------------------- main

def preflight(args):
    problems = []
    if os.geteuid() != 0:
        problems.append("must run as root (network namespaces, veth pairs, DPDK af_packet ports)")
    for tool in ("ip", "ethtool", "dumpcap", "tshark", "ping", "sysctl"):
        if shutil.which(tool) is None:
            problems.append(f"{tool} is not installed (deploy/install-deps.sh installs it)")
    for binary in ("pmipgw", "pmipctl"):
        if not os.access(os.path.join(args.binary_dir, binary), os.X_OK):
            problems.append(f"no {binary} in --binary-dir {args.binary_dir} (cargo build --release)")
    return problems


def default_binary_dir():
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(root, "target")
    return os.path.join(target, "release")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "_tcp-server":
        return tcp_server(int(sys.argv[2]))
    if len(sys.argv) > 1 and sys.argv[1] == "_tcp-client":
        return tcp_client(*sys.argv[2:6])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transport", choices=sorted(TRANSPORTS), default="v6",
                        help="tunnel and signalling transport between the MAGs and the LMA (default v6)")
    parser.add_argument("--binary-dir", default=default_binary_dir(),
                        help="directory holding pmipgw and pmipctl (default: the cargo release target directory)")
    parser.add_argument("--pcap", help="keep the core-link capture (towards the LMA) here")
    parser.add_argument("--access-pcap", help="keep the capture of the UE's side of the air link here")
    parser.add_argument("--summary", help="write machine-readable results (JSON) here")
    parser.add_argument("--groups", nargs="+", choices=("ipv4", "ipv6", "ipv4v6"), default=["ipv4", "ipv6", "ipv4v6"],
                        help="PDN types to run, in order (default: all three; ipv4v6 includes the handover)")
    parser.add_argument("--transfer-mib", type=float, default=2.0, help="TCP transfer size each way (default 2)")
    parser.add_argument("--l2", choices=("resolve", "static"), default="resolve",
                        help="resolve (default): the gateways answer and resolve ARP/NDP and the MAG sends Router "
                             "Advertisements; static (diagnostic): fixed MACs in the configs and static neighbours "
                             "and addresses on the hosts, to tell tunnel problems from neighbour-discovery ones")
    parser.add_argument("--run-id", help="names of namespaces and files carry it (default p<pid>)")
    parser.add_argument("--keep-going", action="store_true", help="after a failed group, run the next one")
    parser.add_argument("--quiet", action="store_true", help="steps and results only, no tables")
    args = parser.parse_args()
    args.binary_dir = os.path.abspath(args.binary_dir)
    problems = preflight(args)
    if problems:
        for p in problems:
            print(f"pmipgw_e2e: {p}", file=sys.stderr)
        if args.summary:
            with open(args.summary, "w") as f:
                json.dump({"passed": False, "error": "; ".join(problems), "namespaces": []}, f, indent=1)
        return 2

    run = Run(args)
    return execute(run, args, f"pmipgw end to end, run {run.run_id}, transport {args.transport} "
                              f"(MAG1 {run.transport['mag1']}, MAG2 {run.transport['mag2']}, LMA {run.transport['lma']})")


def execute(run, args, title):
    """Runs `run.scenario()` and always tears down (on failure, on SIGINT / SIGTERM, on a bug here too); writes
    the summary; returns the exit status: 0 passed, 1 failed, 130 interrupted."""
    def interrupted(signum, frame):
        raise Interrupted(signal.Signals(signum).name)

    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    started = now()
    run.out.step(title)
    try:
        run.scenario()
        run.summary["passed"] = True
    except Failed as e:
        if run.summary["error"] is None:
            run.summary["error"] = str(e)
    except Interrupted as e:
        run.summary["error"] = f"interrupted by {e}"
        run.out.fail(f"interrupted by {e}")
    except Exception as e:  # a bug in this script: still tear down, and say what it was
        run.summary["error"] = f"{type(e).__name__}: {e}"
        run.out.fail(f"internal error: {type(e).__name__}: {e}")
        import traceback
        traceback.print_exc()
    finally:
        run.teardown()
        # A gateway that crashed or leaked fails the run even if every step passed.
        bad_exit = {g: c for g, c in run.gateway_exit.items() if c != 0}
        if run.summary["passed"] and bad_exit:
            run.summary["passed"] = False
            run.summary["error"] = f"gateway exit status: {bad_exit}"
        run.summary["seconds"] = round(now() - started, 1)
        if args.summary:
            with open(args.summary, "w") as f:
                json.dump(run.summary, f, indent=1)
    if run.summary["passed"]:
        run.out.step(f"PASSED ({run.summary['seconds']} s)" +
                     (f"; core capture: {run.summary['pcap']}" if run.summary["pcap"] else ""))
        return 0
    run.out.step(f"FAILED: {run.summary['failed_step'] or ''}: {run.summary['error']}")
    if run.summary["error"].startswith("interrupted"):
        return 130
    for gateway in GATEWAYS:  # shown with --quiet too: what a failure needs first
        run.out.info(f"last lines of {gateway}'s log:")
        for line in run.summary.get("gateway_logs", {}).get(gateway, "").splitlines():
            run.out.info(f"  {line}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
