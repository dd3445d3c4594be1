#!/usr/bin/env python3
"""pmipgw soak: the end-to-end topology under churn for a set time, then proof that nothing leaked.

The same topology as pmipgw_e2e.py (a UE host, a PDN host, MAG1, MAG2 and the LMA, each gateway a real `pmipgw`
process on net_af_packet ports in its own namespace). For `--duration` seconds:

  traffic     the UE holds an ipv4v6 PDN connection; four ping streams (UE -> PDN host and PDN host -> UE, IPv4 and
              IPv6) cross every fast-path direction: MAG uplink encapsulation, LMA decapsulation, LMA downlink
              encapsulation, MAG decapsulation
  handovers   every --handover-every seconds the UE moves to the other MAG (pdn create --handoff 3); the LMA keeps
              the uplink key and revokes the old MAG's binding (RFC 5846 BRI)
  churn       --rate operations per second on PDN connections of other subscribers (no host behind them), about
              --live of them alive at a time: create (ipv4, ipv6, ipv4v6, on either MAG), handover to the other
              MAG, de-registration, selective de-registration of one family, revocation from the LMA; the MAGs
              refresh every binding as its short lifetime runs out
  restart     half way, MAG2 is killed (SIGKILL) and started again with --discard-state: its bindings at the
              LMA expire (heartbeat clean-up is off here so that the lifetime does it), the LMA sees MAG2's new
              restart counter

Then, with traffic and churn stopped: the LMA and the MAGs hold exactly the PDN connections the driver believes
alive (same subscribers, same peers), and every gauge of their state agrees (bindings, keys, addresses, tunnels,
control replica, each worker's table); each gateway's per-binding counters plus those of removed bindings add up
to its encapsulated and decapsulated totals, and its received packets to its outcomes. Every PDN connection is
deleted and every gauge must return to its value before the first one was created. Resident memory, sampled every
second, must not grow by more than --rss-bound percent after the warm-up. At exit each gateway must have given
back every mbuf and its ports' device counters must equal what the fast path counted.

Standard library only. Run as root: python3 deploy/e2e/pmipgw_soak.py --duration 600 --summary /tmp/soak.json
"""

import argparse
import json
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pmipgw_e2e as e2e  # noqa: E402  (the topology, gateways and helpers of the end-to-end run)

from pmipgw_e2e import APN, PDN_V4, PDN_V6, Failed, now  # noqa: E402

UE_MN_ID = "001010000000009@nai.epc.mnc001.mcc001.3gppnetwork.org"
PHANTOM_MN_ID = "001019{:09d}@nai.epc.mnc001.mcc001.3gppnetwork.org"
# Short lifetimes so that refreshes and expiries happen many times in a soak.
LIFETIME_S = 20
HEARTBEAT_S = 5
CAPACITY = 8192
# State gauges that are not about bindings: learned neighbours (tunnel peers, next hops) stay after the last
# binding goes, and the per-peer heartbeat timers with them; a PBU whose answer never came (its MAG killed) is
# followed for the latency histogram for up to 30 s.
NOT_BINDING_STATE = ("neighbour.entries", "gateway.signalling_exchanges_open")


def phantom_mac(mn_id):
    """A phantom's own MAC: its Router Advertisements go to it (unicast), not to every host on the shared air
    link, where the real UE would take the phantoms' prefixes for its own."""
    n = int(mn_id[6:15])
    return f"02:00:99:{n >> 16 & 0xff:02x}:{n >> 8 & 0xff:02x}:{n & 0xff:02x}"


class Api:
    """One request per connection to a gateway's management socket (JSON lines, controlplane::api)."""

    def __init__(self, path):
        self.path = path

    def call(self, request, timeout=30):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(self.path)
            s.sendall((json.dumps(request) + "\n").encode())
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        reply = json.loads(data)
        if reply.get("result") == "error":
            raise Failed(f"{request['command']}: {reply.get('error')}")
        return reply


class Phantom:
    def __init__(self, mn_id, mag, pdn_type, binding):
        self.mn_id, self.mag, self.pdn_type, self.binding = mn_id, mag, pdn_type, binding


class Churn:
    """Operations on phantom PDN connections at a set rate, from a few threads; the driver's view of what lives."""

    OPS = ("create", "delete", "handover", "release-one-family", "revoke")

    def __init__(self, run, rate, live, seed):
        self.run, self.rate, self.target_live = run, rate, live
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.live = {}  # mn_id -> Phantom, not being operated on
        self.busy = set()
        self.next_id = 0
        self.done = {op: 0 for op in self.OPS}
        self.failed = []
        self.skipped = 0
        self.in_flight = 0
        self.lost = set()  # phantoms on a MAG that restarted
        self.history = {}  # mn_id -> [(seconds, operation, MAG after it, executed)]
        self.mags_up = {"mag1", "mag2"}
        self.stop = threading.Event()
        self.threads = []
        self.jobs = []
        self.job_ready = threading.Condition(self.lock)

    def start(self, workers=4):
        self.scheduler = threading.Thread(target=self.schedule, daemon=True)
        self.threads = [threading.Thread(target=self.worker, daemon=True) for _ in range(workers)]
        for t in [self.scheduler] + self.threads:
            t.start()

    def finish(self):
        """No more operations: the scheduler stops first, then the workers finish what it queued."""
        self.stop.set()
        self.scheduler.join(timeout=60)
        with self.job_ready:
            self.job_ready.notify_all()
        for t in self.threads:
            t.join(timeout=60)
        if self.busy or self.jobs:
            raise Failed(f"churn did not finish: {len(self.busy)} operations in flight, {len(self.jobs)} queued")

    def schedule(self):
        interval = 1.0 / self.rate
        next_at = now()
        while not self.stop.is_set():
            next_at += interval
            delay = next_at - now()
            if delay > 0:
                time.sleep(delay)
            with self.job_ready:
                if self.stop.is_set():
                    return
                if len(self.jobs) < 64:  # a slow gateway backs the schedule up, it does not pile up work
                    self.jobs.append(self.pick())
                    self.job_ready.notify()

    def pick(self):
        """The next operation, on a phantom nobody else is touching (called with the lock held)."""
        idle = [p for p in self.live.values() if p.mn_id not in self.busy and p.mag in self.mags_up]
        if len(self.live) + len(self.busy) < self.target_live or not idle:
            return ("create", None)
        op = self.random.choices(("create", "delete", "handover", "release-one-family", "revoke"),
                                 weights=(20, 35, 25, 10, 10))[0]
        if op == "create":
            return ("create", None)
        phantom = self.random.choice(idle)
        if op == "release-one-family" and phantom.pdn_type != "ipv4v6":
            op = "delete"
        if op == "handover" and len(self.mags_up) < 2:
            op = "delete"
        self.busy.add(phantom.mn_id)
        del self.live[phantom.mn_id]
        return (op, phantom)

    def worker(self):
        while True:
            with self.job_ready:
                while not self.jobs and not self.stop.is_set():
                    self.job_ready.wait(0.5)
                if not self.jobs:
                    return
                op, phantom = self.jobs.pop(0)
                touches = {phantom.mag} if phantom else set()
                if op == "handover":
                    touches.add("mag2" if phantom.mag == "mag1" else "mag1")
                runnable = touches <= self.mags_up and self.mags_up
                self.in_flight += 1
            kept = phantom
            try:
                if runnable:
                    kept = self.execute(op, phantom)
                    with self.lock:
                        self.done[op] += 1
                else:
                    with self.lock:
                        self.skipped += 1  # picked before its MAG went down for the restart
            except (Failed, OSError, ValueError) as e:
                kept = None
                with self.lock:
                    self.failed.append(f"{op} {phantom.mn_id if phantom else ''}: {e}")
            with self.lock:
                who = kept.mn_id if kept is not None else phantom.mn_id if phantom is not None else None
                if who is not None:
                    self.history.setdefault(who, []).append(
                        (round(now() - self.run.started, 2), op, kept.mag if kept else None, runnable and True))
                self.in_flight -= 1
                if phantom is not None:
                    self.busy.discard(phantom.mn_id)
                if kept is not None:
                    if kept.mag in self.mags_up:
                        self.live[kept.mn_id] = kept
                    else:
                        self.lost.add(kept.mn_id)

    def execute(self, op, phantom):
        """Runs one operation; returns the phantom as it lives on, or None if it is gone."""
        run = self.run
        if op == "create":
            with self.lock:
                mags = sorted(self.mags_up)
                mn_id = PHANTOM_MN_ID.format(self.next_id)
                self.next_id += 1
            mag = self.random.choice(mags)
            pdn_type = self.random.choice(("ipv4", "ipv6", "ipv4v6"))
            reply = run.api(mag).call({"command": "pdn-create", "mn_id": mn_id, "apn": APN, "pdn_type": pdn_type,
                                       "lma": run.transport["lma"], "ue_mac": phantom_mac(mn_id)})
            return Phantom(mn_id, mag, pdn_type, reply["binding"])
        if op == "delete":
            run.api(phantom.mag).call({"command": "pdn-delete", "mn_id": phantom.mn_id, "apn": APN})
            return None
        if op == "handover":
            to = "mag2" if phantom.mag == "mag1" else "mag1"
            request = {"command": "pdn-create", "mn_id": phantom.mn_id, "apn": APN, "pdn_type": phantom.pdn_type,
                       "lma": run.transport["lma"], "handoff": 3, "ue_mac": phantom_mac(phantom.mn_id)}
            if phantom.binding.get("home_prefix"):
                request["home_prefix"] = phantom.binding["home_prefix"].split("/")[0]
            if phantom.binding.get("ipv4_home_address"):
                request["ipv4_home_address"] = phantom.binding["ipv4_home_address"]
            reply = run.api(to).call(request)
            return Phantom(phantom.mn_id, to, phantom.pdn_type, reply["binding"])
        if op == "release-one-family":
            family = self.random.choice(("ipv4", "ipv6"))
            run.api(phantom.mag).call({"command": "pdn-delete", "mn_id": phantom.mn_id, "apn": APN, "only": family})
            kept = "ipv6" if family == "ipv4" else "ipv4"
            binding = dict(phantom.binding)
            binding["ipv4_home_address" if family == "ipv4" else "home_prefix"] = None
            return Phantom(phantom.mn_id, phantom.mag, kept, binding)
        if op == "revoke":
            run.api("lma").call({"command": "binding-revoke", "mn_id": phantom.mn_id})
            return None
        raise ValueError(op)

    def mag_down(self, mag):
        """`mag` is about to restart: nothing more goes to it, what is in flight finishes, and its phantoms are
        forgotten (the LMA must let them expire). Returns their MN-IDs."""
        with self.lock:
            self.mags_up.discard(mag)
        deadline = now() + 60
        while True:
            with self.lock:
                if self.in_flight == 0:
                    lost = [m for m, p in self.live.items() if p.mag == mag]
                    for m in lost:
                        del self.live[m]
                    self.lost.update(lost)
                    return set(self.lost)
            if now() > deadline:
                raise Failed("operations in flight did not finish within 60 s")
            time.sleep(0.05)

    def mag_up(self, mag):
        with self.lock:
            self.mags_up.add(mag)


class SoakRun(e2e.Run):
    def __init__(self, args):
        super().__init__(args)
        self.summary.update({"kind": "soak", "duration_s": args.duration, "rate": args.rate, "live": args.live,
                             "checks": [], "rss": {}, "ops": {}, "ue": {}, "restart": {}, "state": {}})
        self.rss = {g: [] for g in e2e.GATEWAYS}
        self.deferred = []  # failed checks that did not stop the run
        self.ue_at = None
        self.ue_binding = None
        self.pings = {}

    def api(self, gateway):
        return Api(self.path(f"{gateway}.sock"))

    def gateway_config(self, gateway):
        text = super().gateway_config(gateway)
        text = text.replace("table_capacity = 1024", f"table_capacity = {CAPACITY}")
        text = text.replace("max_bindings = 1024", f"max_bindings = {CAPACITY}")
        text = text.replace("mempool_size = 8191", "mempool_size = 16383")
        heartbeat = f"interval_s = {HEARTBEAT_S}\n"
        if gateway == "lma":
            # Stale bindings of a restarted MAG go by expiry, not by the heartbeat's clean-up.
            text = text.replace("[lma.heartbeat]\n", "[lma.heartbeat]\n" + heartbeat + "cleanup_bindings = false\n")
        else:
            text = text.replace("[mag]\n", f"[mag]\nlifetime_s = {LIFETIME_S}\n")
            text = text.replace("[mag.heartbeat]\n", "[mag.heartbeat]\n" + heartbeat)
        return text

    # ---------------------------------------------------------------- measurements

    def sample_rss(self):
        for gateway in e2e.GATEWAYS:
            pid = self.gateway_pid(gateway)
            if pid is None:
                continue
            try:
                with open(f"/proc/{pid}/status") as f:
                    kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
            except (OSError, StopIteration, ValueError):
                continue
            self.rss[gateway].append((round(now() - self.started, 1), kb, pid))

    def grep_log(self, gateway, text):
        try:
            with open(self.path(f"{gateway}.log")) as f:
                return [line.strip()[:300] for line in f if text in line][-20:]
        except OSError:
            return []

    def gateway_pid(self, gateway):
        """The pmipgw process under `ip netns exec` (which execs it: same pid)."""
        proc = self.procs.get(gateway)
        return proc.pid if proc is not None and proc.poll() is None else None

    def stats_of(self, gateway):
        return self.api(gateway).call({"command": "stats"})

    def bindings_of(self, gateway):
        return self.api(gateway).call({"command": "bindings"})["bindings"]

    def check(self, name, ok, detail, fatal=True):
        """Records a check. A failed one stops the run, unless `fatal` is off: then the checks after it still run
        (a failed operation should not hide what the counters and memory say) and the run fails at the end."""
        self.summary["checks"].append({"name": name, "ok": bool(ok), "detail": detail})
        if ok:
            self.out.ok(f"{name}: {detail}")
        elif fatal:
            raise Failed(f"{name}: {detail}")
        else:
            self.out.fail(f"{name}: {detail}")
            self.deferred.append(f"{name}: {detail}")

    # ---------------------------------------------------------------- the UE and its traffic

    def ue_up(self):
        with self.step("UE: ipv4v6 PDN connection on MAG1, addresses, four ping streams"):
            self.ue_attach()
            self.ue_binding = self.pdn_create(self.summary["ue"], "mag1", "ipv4v6", UE_MN_ID)
            self.ue_at = "mag1"
            self.ue_configure_ipv4(self.ue_binding["ipv4_home_address"])
            prefix = self.ue_binding["home_prefix"]
            address, _ = self.wait_for("the UE's SLAAC address", lambda: self.ue_ipv6_address(prefix), 15, 0.2)
            self.summary["ue"]["addresses"] = [self.ue_binding["ipv4_home_address"], address]
            for name, ns, target in (("ue-pdn-v4", "ue", PDN_V4), ("ue-pdn-v6", "ue", PDN_V6),
                                     ("pdn-ue-v4", "pdn", self.ue_binding["ipv4_home_address"]),
                                     ("pdn-ue-v6", "pdn", address)):
                log = open(self.path(f"{name}.log"), "w")
                self.procs[name] = subprocess.Popen(
                    ["ip", "netns", "exec", self.ns[ns], "ping", "-n", "-i", str(self.args.ping_interval),
                     "-W", "1", target], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True)
                log.close()
                self.pings[name] = target
            self.out.ok(f"pings every {self.args.ping_interval * 1000:.0f} ms each way, IPv4 and IPv6")

    def ue_handover(self):
        to = "mag2" if self.ue_at == "mag1" else "mag1"
        self.ip("air", "link", "set", "dev", self.ue_at, "down")
        self.ip("air", "link", "set", "dev", to, "up")
        moved = self.pdn_create(self.summary["ue"], to, "ipv4v6", UE_MN_ID, handoff=3, binding=self.ue_binding)
        if moved.get("uplink_key") != self.ue_binding.get("uplink_key"):
            raise Failed(f"the UE's uplink key changed in the handover: {self.ue_binding} -> {moved}")
        self.ue_binding, self.ue_at = moved, to
        self.summary["ue"]["handovers"] = self.summary["ue"].get("handovers", 0) + 1

    def stop_pings(self):
        results = {}
        for name in self.pings:
            e2e.interrupt(self.procs.pop(name), 5)
            with open(self.path(f"{name}.log")) as f:
                text = f.read()
            sent, received, seqs = e2e.ping_statistics(text)
            # Outages: runs of unanswered requests, with when they began (seconds into the stream).
            gaps = [(round(a * self.args.ping_interval, 2), b - a - 1) for a, b in zip(seqs, seqs[1:]) if b - a > 2]
            other = sorted({re.sub(r"\d+", "N", line) for line in text.splitlines()
                            if line and "bytes from" not in line})
            results[name] = {"sent": sent, "received": received,
                             "gaps": sorted(gaps, key=lambda g: -g[1])[:8], "other_lines": other[:10]}
        self.summary["ue"]["pings"] = results
        return results

    # ---------------------------------------------------------------- MAG2 restart

    def restart_mag2(self, churn):
        if self.ue_at == "mag2":
            self.ue_handover()
        lost = churn.mag_down("mag2")
        proc = self.procs.pop("mag2")
        proc.kill()
        proc.wait()
        started = now()
        # A restart that loses MAG2's state: what this soak checks is the LMA cleaning up after it.
        self.start_gateway("mag2", log_mode="a", extra=["--discard-state"])
        self.wait_for_api("mag2")
        churn.mag_up("mag2")
        self.summary["restart"] = {"at_s": round(started - self.started, 1), "phantoms_lost": len(lost),
                                   "seconds_down": round(now() - started, 2)}
        self.out.ok(f"MAG2 killed and started again in {now() - started:.1f} s; {len(lost)} of its PDN connections "
                    f"are left at the LMA to expire")
        return set(lost)

    # ---------------------------------------------------------------- checks

    def expected(self, churn):
        """mn_id -> MAG, for everything the driver believes alive."""
        want = {p.mn_id: p.mag for p in churn.live.values()}
        if self.ue_at is not None:
            want[UE_MN_ID] = self.ue_at
        return want

    def held(self):
        """mn_id -> MAG as the gateways hold it: the LMA by peer address, each MAG its own."""
        by_address = {self.transport[m]: m for m in ("mag1", "mag2")}
        lma = {b["mn_id"]: by_address.get(b["peer"], b["peer"]) for b in self.bindings_of("lma")}
        mags = {m: {b["mn_id"] for b in self.bindings_of(m)} for m in ("mag1", "mag2")}
        return lma, mags

    def check_bindings(self, churn):
        want = self.expected(churn)

        def agree():
            lma, mags = self.held()
            on = {m: {k for k, v in want.items() if v == m} for m in ("mag1", "mag2")}
            return lma == want and all(mags[m] == on[m] for m in mags)

        try:
            self.wait_for("the gateways' bindings to match the driver's", agree, LIFETIME_S + 15, 0.5)
        except Failed:
            lma, mags = self.held()
            extra = {k: v for k, v in lma.items() if want.get(k) != v}
            missing = {k: v for k, v in want.items() if lma.get(k) != v}
            odd = sorted(set(extra) | set(missing) | (mags["mag1"] ^ {k for k, v in want.items() if v == "mag1"})
                         | (mags["mag2"] ^ {k for k, v in want.items() if v == "mag2"}))[:5]
            views = {m: {"driver": want.get(m), "lma": lma.get(m), "mag1": m in mags["mag1"],
                         "mag2": m in mags["mag2"], "history": churn.history.get(m)} for m in odd}
            self.summary["binding_differences"] = views
            raise Failed(f"the gateways' bindings differ from the driver's: {views}")
        self.check("bindings", True, f"LMA, MAG1 and MAG2 hold exactly the {len(want)} PDN connections alive "
                                     f"({sum(v == 'mag1' for v in want.values())} on MAG1, "
                                     f"{sum(v == 'mag2' for v in want.values())} on MAG2)")

    def check_state(self, label):
        """Each gateway's gauges against its own bindings. The bindings' refreshes go on meanwhile, and each holds
        an update (or a PBU) in flight for a few milliseconds: a gauge of those must come to 0 within a few
        seconds, not be 0 at one arbitrary instant."""
        lma_b = self.bindings_of("lma")
        v4 = sum(1 for b in lma_b if b.get("ipv4_home_address"))
        v6 = sum(1 for b in lma_b if b.get("home_prefix"))
        report = {}
        for gateway in e2e.GATEWAYS:
            deadline = time.monotonic() + 5
            while True:
                stats = self.stats_of(gateway)
                state = stats["state"]
                n = stats["bindings"]
                expect = {"gateway.tunnels": n, "gateway.awaiting_install": 0, "tables.bindings": n,
                          "tables.slots_taken": n, "worker0.table_bindings": n}
                if gateway == "lma":
                    expect.update({"lma.bces": n, "lma.uplink_keys": n, "lma.ipv4_addresses": v4,
                                   "lma.ipv6_prefixes": v6, "lma.awaiting_fastpath": 0})
                else:
                    expect.update({"mag.pdn_connections": n, "mag.pdn_index": n, "mag.downlink_keys": n,
                                   "mag.pbus_outstanding": 0})
                wrong = {k: (state.get(k), v) for k, v in expect.items() if state.get(k) != v}
                if not wrong or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            report[gateway] = state
            if wrong:
                raise Failed(f"{label}: {gateway}'s state disagrees with its {n} bindings (found, expected): {wrong}")
        self.summary["state"][label] = report
        self.check(f"state {label}", True, "bindings, keys, addresses, tunnels, tables and worker tables agree "
                                           f"on every gateway (LMA {len(lma_b)}: {v4} IPv4, {v6} IPv6)")

    def check_counters(self, label):
        """Per-binding counters + removed bindings' = fast-path totals; received = outcomes."""
        lines = []
        for gateway in e2e.GATEWAYS:
            stats = self.stats_of(gateway)
            totals = stats["dataplane"]["totals"]
            drops = stats["dataplane"]["drops"]
            live = {"uplink_packets": 0, "downlink_packets": 0}
            for b in self.bindings_of(gateway):
                for k in live:
                    live[k] += (b.get("counters") or {}).get(k, 0)
            retired = totals["retired"]
            up = live["uplink_packets"] + retired["uplink_packets"]
            down = live["downlink_packets"] + retired["downlink_packets"]
            lma = gateway == "lma"
            want_up = totals["decapsulated"] if lma else totals["encapsulated"]
            want_down = totals["encapsulated"] if lma else totals["decapsulated"]
            after_outcome = sum(drops.get(reason, 0) for reason in
                                ("tx-failed", "punt-queue-full", "signalling-rate-limited", "fragment-failed"))
            outcomes = totals["encapsulated"] + totals["decapsulated"] + totals["punted"] + totals["dropped"] - \
                after_outcome
            # Outer fragments end in a rebuilt packet (which has an outcome of its own) or wait; a packet cut into
            # fragments counts each piece (the identity of FastpathTotals in controlplane/src/api/types.rs).
            outcomes += totals.get("fragments_reassembled", 0) + totals.get("reassembly_held", 0)
            outcomes -= totals.get("reassembled", 0) + totals.get("fragments", 0) - totals.get("fragmented", 0)
            if (up, down) != (want_up, want_down):
                raise Failed(f"{label}: {gateway}: bindings' uplink {up} / downlink {down} packets (live + removed) "
                             f"!= fast path's {want_up} / {want_down}")
            if totals["rx_packets"] != outcomes:
                raise Failed(f"{label}: {gateway}: {totals['rx_packets']} received != {outcomes} outcomes {totals}")
            lines.append(f"{gateway} {want_up} up / {want_down} down ({retired['uplink_packets']} / "
                         f"{retired['downlink_packets']} by removed bindings), {totals['rx_packets']} received")
        self.check(f"counters {label}", True, "; ".join(lines))

    def check_rss(self):
        bound = self.args.rss_bound
        warm = self.args.duration * self.args.warmup
        lines = []
        for gateway in e2e.GATEWAYS:
            samples = self.rss[gateway]
            pid = samples[-1][2] if samples else None
            # MAG2 restarted: its second life is measured from its own warm-up.
            life = [s for s in samples if s[2] == pid]
            start = life[0][0] if life else 0
            after = [s for s in life if s[0] >= start + warm]
            if len(after) < 3:
                self.summary["rss"][gateway] = {"samples": len(life), "note": "too short a life to judge"}
                lines.append(f"{gateway}: not judged ({len(life)} samples)")
                continue
            base = after[0][1]
            peak = max(s[1] for s in after)
            growth = (peak - base) * 100.0 / base
            self.summary["rss"][gateway] = {"after_warmup_kib": base, "peak_kib": peak, "end_kib": after[-1][1],
                                            "growth_percent": round(growth, 3), "samples": len(after)}
            lines.append(f"{gateway} {base / 1024:.1f} -> peak {peak / 1024:.1f} MiB ({growth:+.2f} %)")
            if growth > bound:
                raise Failed(f"rss: {gateway} grew {growth:.2f} % after the warm-up (bound {bound} %): "
                             f"{base} -> {peak} KiB")
        self.check("rss", True, f"growth after the warm-up within {bound} %: " + "; ".join(lines))

    def check_exit(self, gateways=e2e.GATEWAYS):
        lines = []
        for gateway in gateways:
            code = self.gateway_exit.get(gateway)
            doc = self.final_counters.get(gateway)
            if code != 0 or doc is None:
                raise Failed(f"{gateway} exited with {code}, counters {'missing' if doc is None else 'written'}")
            leaked = doc["mempool"]["in_use_after_shutdown"]
            if leaked != 0:
                raise Failed(f"{gateway}: {leaked} mbufs in use after shutdown")
            fast = {p["name"]: p["rx_packets"] for p in doc["fastpath"]["total"]["ports"]}
            for port in doc["ports"]:
                if port["rx_packets"] != fast.get(port["name"]):
                    raise Failed(f"{gateway}: device {port['name']} received {port['rx_packets']}, the fast path "
                                 f"counted {fast.get(port['name'])}")
            lines.append(f"{gateway}: 0 of {doc['mempool']['size']} mbufs held, device rx = fast-path rx on "
                         f"{len(doc['ports'])} ports")
        self.check("exit", True, "; ".join(lines))

    # ---------------------------------------------------------------- the run

    def scenario(self):
        self.started = now()
        self.build_topology()
        self.start_gateways()
        baseline = {g: self.stats_of(g)["state"] for g in e2e.GATEWAYS}
        self.summary["state"]["before"] = baseline
        self.ue_up()
        churn = Churn(self, self.args.rate, self.args.live, self.args.seed)
        stale = set()
        with self.step(f"soak: {self.args.duration} s of traffic, UE handovers every {self.args.handover_every} s, "
                       f"{self.args.rate} operations/s on ~{self.args.live} other PDN connections"):
            self.started = now()
            churn.start()
            end = self.started + self.args.duration
            next_handover = self.started + self.args.handover_every
            restart_at = self.started + self.args.duration * self.args.restart_at if self.args.restart_at else None
            next_report = self.started + 30
            while now() < end:
                for gateway in e2e.GATEWAYS:
                    if gateway in self.procs and not self.check_alive(gateway):
                        raise Failed(f"{gateway} died: {self.log_tail(gateway, 5)}")
                self.sample_rss()
                if restart_at is not None and now() >= restart_at:
                    restart_at = None
                    stale = self.restart_mag2(churn)
                if now() >= next_handover:
                    next_handover += self.args.handover_every
                    self.ue_handover()
                if now() >= next_report:
                    next_report += 30
                    with churn.lock:
                        done, live, failed = dict(churn.done), len(churn.live), len(churn.failed)
                    self.out.info(f"[{now() - self.started:6.0f} s] live {live}, done {done}, failed {failed}, "
                                  f"rss " + ", ".join(f"{g} {s[-1][1] / 1024:.1f} MiB"
                                                      for g, s in self.rss.items() if s))
                time.sleep(1.0)
            churn.finish()
            pings = self.stop_pings()
            # What happened to each subscriber an operation failed on: the driver's operations and every line the
            # gateways logged about it.
            failed_ids = {f.split()[1].rstrip(":") for f in churn.failed if len(f.split()) > 1 and "@" in f.split()[1]}
            self.summary["failed_history"] = {
                m: {"operations": churn.history.get(m),
                    "logs": {g: self.grep_log(g, m) for g in e2e.GATEWAYS}} for m in sorted(failed_ids)[:5]}
            self.summary["ops"] = {"done": churn.done, "failed": churn.failed[:20], "failed_count": len(churn.failed),
                                   "skipped": churn.skipped, "live_at_end": len(churn.live),
                                   "stale_after_restart": len(stale)}
        with self.step("after the soak: operations, traffic, bindings, state, counters, memory"):
            self.check("operations", not churn.failed and all(churn.done.values()),
                       f"{sum(churn.done.values())} done ({churn.done}), {len(churn.failed)} failed"
                       + (f": {churn.failed[:3]}" if churn.failed else ""), fatal=False)
            lost = {k: v["sent"] - v["received"] for k, v in pings.items()}
            self.check("traffic", all(v["sent"] > 0 and v["received"] >= 0.9 * v["sent"] for v in pings.values()),
                       f"{sum(v['received'] for v in pings.values())} echo replies of "
                       f"{sum(v['sent'] for v in pings.values())} requests in four streams (lost {lost}; "
                       f"{self.summary['ue'].get('handovers', 0)} handovers)", fatal=False)
            self.check_bindings(churn)
            self.check_state("with the survivors")
            time.sleep(1.0)  # the last echo replies are through
            self.check_counters("with the survivors")
            self.check_rss()
            events = {g: self.stats_of(g)["events"] for g in e2e.GATEWAYS}
            self.summary["events"] = events
            lma_events = events["lma"]
            refreshes = events["mag1"].get("refreshes", 0) + events["mag2"].get("refreshes", 0)
            exercised = {
                "MAG refreshes": refreshes,
                "LMA handovers": lma_events.get("handovers", 0),
                "LMA revocations after a handover": lma_events.get("handover-revocations", 0),
                "LMA de-registrations": lma_events.get("deregistrations", 0),
                "LMA selective de-registrations": lma_events.get("selective-deregistrations", 0),
                "MAG bindings revoked": events["mag1"].get("bindings-revoked", 0)
                + events["mag2"].get("bindings-revoked", 0),
            }
            if self.args.restart_at:
                exercised["LMA expiries"] = lma_events.get("bindings-expired", 0)
                exercised["LMA peer restarts seen"] = lma_events.get("peer-restarts", 0)
            self.summary["exercised"] = exercised
            # Exactly the bindings MAG2 took down with it expire: no binding whose MAG refreshes it ever does.
            expired = lma_events.get("bindings-expired", 0)
            self.check("expiries", expired == len(stale), f"the LMA let {expired} bindings expire, the "
                                                          f"{len(stale)} MAG2 held when it was killed")
            self.check("procedures", all(exercised.values()),
                       ", ".join(f"{k} {v}" for k, v in exercised.items())
                       + (f" ({len(stale)} bindings left by MAG2's restart)" if self.args.restart_at else ""))
        with self.step("everything deleted: the gateways' state returns to where it started"):
            for phantom in list(churn.live.values()):
                self.api(phantom.mag).call({"command": "pdn-delete", "mn_id": phantom.mn_id, "apn": APN})
            churn.live.clear()
            self.api(self.ue_at).call({"command": "pdn-delete", "mn_id": UE_MN_ID, "apn": APN})
            self.ue_at = None
            self.check_bindings(churn)
            self.check_state("empty")

            def back():
                for g in e2e.GATEWAYS:
                    state = self.stats_of(g)["state"]
                    wrong = {k: (v, baseline[g].get(k)) for k, v in state.items()
                             if k not in NOT_BINDING_STATE and v != baseline[g].get(k)}
                    if wrong:
                        return None
                return True

            try:
                self.wait_for("every gauge back to its starting value", back, 10, 0.5)
            except Failed:
                diff = {g: {k: (v, baseline[g].get(k)) for k, v in self.stats_of(g)["state"].items()
                            if k not in NOT_BINDING_STATE and v != baseline[g].get(k)} for g in e2e.GATEWAYS}
                raise Failed(f"state not back to its start (now, start): {diff}")
            self.check("state back to its start", True, "every gauge of LMA, MAG1 and MAG2 (neighbour entries "
                                                        "aside) equals its value before the first PDN connection")
            self.check_counters("empty")
        with self.step("gateways stop: mbufs and device counters"):
            self.stop_gateways()
            self.check_exit()
        if self.deferred:
            raise Failed("; ".join(self.deferred))


class CycleRun(SoakRun):
    """The VPP-1867 shape: only the LMA, and `pdncycle` (bench) in MAG1's namespace as a MAG of its own, creating
    and deleting --pdn-cycle PDN connections with --cycle-live alive at a time over RFC 5844 IPv4-UDP signalling.
    After each round the LMA's state must be back at its start; from the third round on its memory must stay
    within --rss-bound of the second round's peak."""

    def gateway_config(self, gateway):
        text = super().gateway_config(gateway)
        # A de-registered BCE lingers for MinDelayBeforeBCEDelete (1 s here, RFC 5213 §5.3.5), holding its slot,
        # key and addresses: at ~30k PBUs a second that is ~15k bindings on top of those alive.
        capacity = 2 * self.args.cycle_live + 32768
        text = text.replace(f"table_capacity = {CAPACITY}", f"table_capacity = {capacity}")
        text = text.replace(f"max_bindings = {CAPACITY}", f"max_bindings = {capacity}")
        # pdncycle does not answer heartbeats.
        return text.replace("[lma.heartbeat]\n", "[lma.heartbeat]\nenabled = false\n")

    def start_lma(self):
        with self.step("the LMA (pmipgw on net_af_packet ports); MAG1's namespace gets the kernel's IPv4 stack"):
            self.start_gateway("lma")
            self.wait_for_api("lma")
            self.ip("mag1", "addr", "add", f"{self.transport['mag1']}/24", "dev", "core")
            # Full UDP checksums from the kernel: af_packet would hand the LMA a partial one (RFC 5844 §4 needs it).
            self.sh(["ethtool", "-K", "core", "tx", "off"], ns="mag1")

    def cycle(self, round_no, progress):
        """One round of pdncycle: N PDN connections created and deleted. Returns the driver's summary."""
        n, live = self.args.pdn_cycle, self.args.cycle_live
        argv = ["ip", "netns", "exec", self.ns["mag1"], self.args.pdncycle, "--lma", self.transport["lma"],
                "--local", self.transport["mag1"], "--creates", str(n), "--live", str(live),
                "--rate", str(self.args.cycle_rate), "--first", str(round_no * n)]
        driver = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, start_new_session=True)
        self.procs["pdncycle"] = driver
        lines = []

        def read():
            for line in driver.stdout:
                lines.append(line.strip())
                if line.startswith("progress "):
                    fields = dict(f.split("=") for f in line.split()[1:])
                    progress.append((round(now() - self.started, 1), round_no, int(fields["created"])))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        started = now()
        next_report = now() + 30
        while driver.poll() is None:
            if not self.check_alive("lma"):
                raise Failed(f"the LMA died: {self.log_tail('lma', 5)}")
            self.sample_rss()
            if now() >= next_report:
                next_report += 30
                self.out.info(f"[{now() - self.started:6.0f} s] {lines[-1] if lines else ''}, "
                              f"LMA rss {self.rss['lma'][-1][1] / 1024:.1f} MiB")
            time.sleep(0.5)
        self.sample_rss()
        reader.join(timeout=5)
        self.procs.pop("pdncycle")
        result = next((json.loads(line[len("summary "):]) for line in lines if line.startswith("summary ")), None)
        self.summary["cycle"].append({"driver": result, "exit": driver.returncode, "tail": lines[-3:],
                                      "seconds": round(now() - started, 1)})
        if driver.returncode != 0 or result is None:
            stats = self.stats_of("lma")
            raise Failed(f"round {round_no + 1}: pdncycle failed: {lines[-3:]}; LMA signalling "
                         f"{stats['signalling']}")
        return result

    def scenario(self):
        self.started = now()
        self.build_topology()
        self.start_lma()
        baseline = self.stats_of("lma")["state"]
        self.summary["state"]["before"] = {"lma": baseline}
        self.summary["cycle"] = []
        n, live, rounds = self.args.pdn_cycle, self.args.cycle_live, self.args.cycle_rounds
        progress = []
        peaks = []
        for round_no in range(rounds):
            with self.step(f"round {round_no + 1} of {rounds}: {n} PDN connections created and deleted, {live} "
                           f"alive at a time, at most {self.args.cycle_rate} PBUs/s"):
                first = len(self.rss["lma"])
                result = self.cycle(round_no, progress)
                # The gauge, not the binding list: a list of thousands of lingering BCEs is megabytes of JSON that
                # the API thread's malloc arena keeps, and would show as the LMA's memory growing.
                self.wait_for("the LMA's bindings to be gone",
                              lambda: self.stats_of("lma")["state"]["lma.bces"] == 0, 10, 0.5)
                if self.bindings_of("lma"):
                    raise Failed("the LMA lists bindings although it counts none")
                state = self.stats_of("lma")["state"]
                wrong = {k: (v, baseline.get(k)) for k, v in state.items()
                         if k not in NOT_BINDING_STATE and v != baseline.get(k)}
                self.summary["state"][f"after round {round_no + 1}"] = {"lma": state}
                peaks.append(max(s[1] for s in self.rss["lma"][first:]))
                self.check(f"round {round_no + 1}", not wrong,
                           f"{result['creates']} created and deleted in {result['seconds']:.0f} s "
                           f"({result['pbus_per_second']:.0f} PBUs/s, slowest answer "
                           f"{result['slowest_answer_ms']:.0f} ms, {result['retransmissions']} sent again); every "
                           f"gauge back to its start (BCEs, keys, addresses, tunnels, tables, mbufs); LMA RSS peak "
                           f"{peaks[-1] / 1024:.1f} MiB" if not wrong else f"state differs (now, start): {wrong}")
        with self.step("the LMA's memory: later rounds stay under the second one's high-water mark"):
            # The first round takes a fresh process to its steady state, the second settles what the allocator
            # keeps once everything was freed (a step of 0.2-1.3 % at its start, measured); from then on a leak is
            # growth from round to round.
            first_kib = self.rss["lma"][0][1]
            growth = (max(peaks[2:]) - peaks[1]) * 100.0 / peaks[1] if len(peaks) > 2 else 0.0
            self.summary["rss_series"] = {"lma": [s[:2] for s in self.rss["lma"]], "progress": progress}
            self.summary["rss"]["lma"] = {"start_kib": first_kib, "round_peaks_kib": peaks,
                                          "growth_percent": round(growth, 3)}
            self.check("rss", len(peaks) > 2 and growth <= self.args.rss_bound,
                       f"LMA {first_kib / 1024:.1f} MiB at start; peak per round "
                       + ", ".join(f"{p / 1024:.1f}" for p in peaks)
                       + f" MiB ({growth:+.2f} % after the second, bound {self.args.rss_bound} %)")
        with self.step("the LMA stops: mbufs and device counters"):
            self.stop_gateways()
            self.check_exit(["lma"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=600, help="seconds of soak (default 600)")
    parser.add_argument("--rate", type=float, default=20, help="churn operations per second (default 20)")
    parser.add_argument("--live", type=int, default=300, help="other PDN connections alive at a time (default 300)")
    parser.add_argument("--handover-every", type=float, default=20, help="UE handover period, seconds (default 20)")
    parser.add_argument("--restart-at", type=float, default=0.5,
                        help="restart MAG2 at this share of the duration (default 0.5; 0: never)")
    parser.add_argument("--warmup", type=float, default=0.25,
                        help="share of the duration (of a gateway's life) before memory is judged (default 0.25)")
    parser.add_argument("--rss-bound", type=float, default=1.0, help="allowed RSS growth after warm-up, percent")
    parser.add_argument("--ping-interval", type=float, default=0.005, help="seconds between pings of a stream")
    parser.add_argument("--transport", choices=sorted(e2e.TRANSPORTS), default="v6")
    parser.add_argument("--binary-dir", default=e2e.default_binary_dir())
    parser.add_argument("--summary", help="write machine-readable results (JSON) here")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--run-id", help="names of namespaces and files carry it (default s<pid>)")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--pdn-cycle", type=int, metavar="N",
                        help="instead of the soak: create and delete N PDN connections at the LMA (the VPP-1867 "
                             "shape), with the bench's pdncycle as the MAG; needs --transport v4")
    parser.add_argument("--cycle-live", type=int, default=10000, help="alive at a time with --pdn-cycle")
    parser.add_argument("--pdncycle", help="the pdncycle binary (default: next to pmipgw)")
    parser.add_argument("--cycle-rounds", type=int, default=3,
                        help="rounds of --pdn-cycle (at least 3): memory is judged against the second round's peak")
    parser.add_argument("--cycle-rate", type=int, default=15000, help="PBUs per second at most (default 15000)")
    args = parser.parse_args()
    if args.pdn_cycle:
        args.transport = "v4"
        args.pdncycle = os.path.abspath(args.pdncycle or os.path.join(args.binary_dir, "pdncycle"))
    args.binary_dir = os.path.abspath(args.binary_dir)
    args.run_id = args.run_id or f"s{os.getpid()}"
    args.l2, args.pcap, args.access_pcap = "resolve", None, None
    problems = e2e.preflight(args)
    if problems:
        for p in problems:
            print(f"pmipgw_soak: {p}", file=sys.stderr)
        return 2

    run = CycleRun(args) if args.pdn_cycle else SoakRun(args)
    what = f"{args.pdn_cycle} PDN connections" if args.pdn_cycle else f"{args.duration:.0f} s"
    return e2e.execute(run, args, f"pmipgw soak, run {run.run_id}, transport {args.transport}, {what}")


if __name__ == "__main__":
    sys.exit(main())
