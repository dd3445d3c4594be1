//! The end-to-end demonstration as a test: `deploy/e2e/pmipgw_e2e.py` builds a UE host, a PDN host, two MAGs and
//! an LMA in network namespaces and runs the ipv4, ipv6 and ipv4v6 + handover scenario, once per transport between
//! the gateways. The driver checks as it goes; this test then checks its results independently: the replies and
//! the transferred bytes, tshark on the core-link capture (GRE keys against the bindings, well-formed PBU/PBA, the
//! gateways' counters against the frames on the wire), drops that have an explanation, and nothing left behind.
//!
//! Needs root and network namespaces (CI runs as root): without them the test fails and says so.

mod namespaced;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

/// The two transports run one after the other: each brings up three gateways, and CI has two cores.
static SERIAL: Mutex<()> = Mutex::new(());

/// Hard limit for one driver run (it takes 30-60 s); beyond it the driver is stopped with SIGTERM and the test
/// fails.
const DRIVER_LIMIT: Duration = Duration::from_secs(300);

/// TCP transfer size each way, MiB (the demonstration uses 2).
const TRANSFER_MIB: &str = "1";

#[test]
fn end_to_end_over_ipv6_transport() {
    end_to_end("v6");
}

#[test]
fn end_to_end_over_ipv4_transport() {
    end_to_end("v4");
}

fn end_to_end(transport: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Err(why) = namespaced::preconditions() {
        panic!("the end-to-end test cannot run here: {why}. It needs root, network namespaces, veth, python3, tshark and dumpcap (deploy/install-deps.sh; CI runs as root).");
    }
    let run = Driver::run(transport);
    run.driver.assert_clean(&format!("end to end over {transport} transport"), |summary| {
        let mut problems = check_results(summary);
        problems.extend(check_capture(summary, &run.pcap, transport));
        problems.extend(check_counters(summary, &run.air_pcap, transport));
        problems.extend(check_namespaces(summary));
        problems
    });
}

struct Driver {
    driver: namespaced::DriverRun,
    pcap: PathBuf,
    /// The UE's side of the air link.
    air_pcap: PathBuf,
    _dir: tempfile::TempDir,
}

impl Driver {
    fn run(transport: &str) -> Driver {
        // Unique per test process and transport: namespaces, EAL prefixes and files of parallel runs never meet.
        let run_id = format!("t{}{transport}", std::process::id());
        let dir = tempfile::Builder::new().prefix("pmipgw-e2e-test-").tempdir().expect("temp dir");
        let pcap = dir.path().join("core.pcap");
        let air_pcap = dir.path().join("air.pcap");
        let binary_dir = namespaced::gateway_binaries().expect("the root package's binaries");
        let args: Vec<&OsStr> = [
            OsStr::new("--transport"),
            OsStr::new(transport),
            OsStr::new("--transfer-mib"),
            OsStr::new(TRANSFER_MIB),
            OsStr::new("--binary-dir"),
            binary_dir.as_os_str(),
            OsStr::new("--pcap"),
            pcap.as_os_str(),
            OsStr::new("--access-pcap"),
            air_pcap.as_os_str(),
        ]
        .into();
        let driver = namespaced::DriverRun::start("pmipgw_e2e.py", &args, &run_id, dir.path(), DRIVER_LIMIT);
        Driver { driver, pcap, air_pcap, _dir: dir }
    }
}

fn groups(summary: &Value) -> Vec<(&String, &Value)> {
    summary["groups"].as_object().map(|g| g.iter().collect()).unwrap_or_default()
}

fn array(value: &Value) -> &[Value] {
    value.as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// Pings answered, pings after a delete not answered, transfers complete with equal hashes, bindings that agree.
fn check_results(summary: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let names: BTreeSet<&str> = groups(summary).iter().map(|(name, _)| name.as_str()).collect();
    if names != BTreeSet::from(["ipv4", "ipv6", "ipv4v6"]) {
        problems.push(format!("groups run: {names:?}"));
    }
    for (name, group) in groups(summary) {
        let pings = array(&group["pings"]);
        if pings.len() < 3 {
            problems.push(format!("{name}: {} ping runs recorded", pings.len()));
        }
        for ping in pings {
            let (sent, received) = (ping["sent"].as_u64().unwrap_or(0), ping["received"].as_u64().unwrap_or(0));
            if sent == 0 || received != sent || array(&ping["rtt_ms"]).len() as u64 != received {
                problems
                    .push(format!("{name}: ping {} → {}: {received} of {sent} answered", ping["from"], ping["target"]));
            }
        }
        let after = array(&group["pings_after_delete"]);
        let families = if name == "ipv4v6" { 2 } else { 1 };
        if after.len() != families {
            problems.push(format!("{name}: {} pings after the delete, expected {families}", after.len()));
        }
        for ping in after {
            if ping["received"] != 0 || ping["sent"].as_u64().unwrap_or(0) == 0 {
                problems.push(format!("{name}: after the delete: {ping}"));
            }
        }
        let transfers = array(&group["transfers"]);
        if transfers.len() < 2 * families {
            problems.push(format!("{name}: {} transfers recorded", transfers.len()));
        }
        for t in transfers {
            let hash = t["sha256_sent"].as_str().unwrap_or("");
            if t["bytes_sent"].as_u64().unwrap_or(0) == 0
                || t["bytes_sent"] != t["bytes_received"]
                || hash.len() != 64
                || t["sha256_sent"] != t["sha256_received"]
            {
                problems.push(format!("{name}: transfer {t}"));
            }
        }
        let checks = if name == "ipv4v6" { &["after-create", "after-handover"][..] } else { &["after-create"][..] };
        for check in checks {
            let views = &group["bindings"][check];
            let mag = if *check == "after-handover" { "mag2" } else { "mag1" };
            let (m, l) = (array(&views[mag]), array(&views["lma"]));
            if m.len() != 1 || l.len() != 1 {
                problems.push(format!("{name} {check}: bindings {views}"));
                continue;
            }
            for field in ["uplink_key", "downlink_key", "home_prefix", "ipv4_home_address"] {
                if m[0][field] != l[0][field] {
                    problems.push(format!("{name} {check}: {field}: {mag} {} LMA {}", m[0][field], l[0][field]));
                }
            }
            if m[0]["local"] != l[0]["peer"] || m[0]["peer"] != l[0]["local"] {
                problems.push(format!("{name} {check}: tunnel endpoints {mag} {}, LMA {}", m[0], l[0]));
            }
        }
        if name == "ipv4v6" {
            let before = &group["bindings"]["after-create"]["lma"][0]["uplink_key"];
            let after = &group["bindings"]["after-handover"]["lma"][0]["uplink_key"];
            if before.is_null() || before != after {
                problems.push(format!("ipv4v6: the uplink key changed in the handover: {before} → {after}"));
            }
            let stream = &group["handover_ping_stream"];
            if stream["received"].as_u64().unwrap_or(0) == 0 || stream["sent"].as_u64() <= stream["lost"].as_u64() {
                problems.push(format!("ipv4v6: the ping stream across the handover: {stream}"));
            }
            if !array(&group["bindings"]["mag1-after-bri"]["mag1"]).is_empty() {
                problems.push("ipv4v6: MAG1 kept its binding after the handover".into());
            }
        }
        for (check, views) in group["bindings"].as_object().into_iter().flatten() {
            if check == "after-delete" && views.as_object().is_some_and(|v| v.values().any(|b| !array(b).is_empty())) {
                problems.push(format!("{name}: bindings left after the delete: {views}"));
            }
        }
        if group["bindings"].get("after-delete").is_none() {
            problems.push(format!("{name}: no check after the delete"));
        }
    }
    problems
}

/// One GRE tunnel direction: source, destination, key.
type Flow = (String, String, u64);

/// The flows the bindings promise: MAG → LMA with the uplink key, LMA → MAG with the downlink key.
fn expected_flows(summary: &Value) -> BTreeSet<Flow> {
    let mut flows = BTreeSet::new();
    for (_, group) in groups(summary) {
        for (check, views) in group["bindings"].as_object().into_iter().flatten() {
            if !check.starts_with("after-create") && !check.starts_with("after-handover") {
                continue;
            }
            for binding in views.as_object().into_iter().flatten().filter(|(g, _)| g.starts_with("mag")) {
                for b in array(binding.1) {
                    let (mag, lma) = (b["local"].as_str().unwrap_or("?"), b["peer"].as_str().unwrap_or("?"));
                    if let (Some(up), Some(down)) = (b["uplink_key"].as_u64(), b["downlink_key"].as_u64()) {
                        flows.insert((mag.to_owned(), lma.to_owned(), up));
                        flows.insert((lma.to_owned(), mag.to_owned(), down));
                    }
                }
            }
        }
    }
    flows
}

fn tshark(pcap: &Path, transport: &str, filter: &str, fields: &[&str]) -> Result<Vec<Vec<String>>, String> {
    let mut command = Command::new("tshark");
    command.arg("-n").arg("-r").arg(pcap);
    if transport == "v4" {
        // TS 29.275 IPv4-UDP signalling: an IPv6 header behind UDP 5436 (Wireshark expects RFC 5844's bare MH).
        command.args(["-d", "udp.port==5436,ipv6"]);
    }
    // The transfers' random bytes would otherwise wake heuristic dissectors up.
    command.args(["-d", "tcp.port==5001,data", "-Y", filter, "-T", "fields", "-E", "separator=|"]);
    for field in fields {
        command.args(["-e", field]);
    }
    let out = command.output().map_err(|e| format!("running tshark: {e}"))?;
    if !out.status.success() {
        return Err(format!("tshark -Y {filter:?} failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| line.split('|').map(|f| f.split(',').next().unwrap_or("").to_owned()).collect())
        .collect())
}

/// The first (outer) address of a frame: IPv4 over IPv4 transport, IPv6 over IPv6 transport.
fn outer(row: &[String], transport: &str) -> (String, String) {
    if transport == "v4" {
        (row[0].clone(), row[1].clone())
    } else {
        (row[2].clone(), row[3].clone())
    }
}

fn parse_key(text: &str) -> Option<u64> {
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// tshark on the core link: GRE with exactly the bindings' keys, as many GRE frames as the LMA counted, and
/// well-formed, accepted PBU/PBA exchanges (plus one BRI/BRA for the handover).
fn check_capture(summary: &Value, pcap: &Path, transport: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if !pcap.exists() {
        return vec![format!("no core capture at {}", pcap.display())];
    }
    let capture = &summary["capture"]["capture-core"];
    if capture["dropped"] != 0 || capture["received"].as_u64().unwrap_or(0) == 0 {
        problems.push(format!("the core capture is incomplete: {capture}"));
    }
    let addresses = &summary["transport_addresses"];
    let lma = addresses["lma"].as_str().unwrap_or("?").to_owned();

    // GRE: the set of (source, destination, key) on the wire is the set the bindings name.
    let rows = match tshark(pcap, transport, "gre", &["ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "gre.key"]) {
        Ok(rows) => rows,
        Err(e) => return vec![e],
    };
    let mut seen: BTreeMap<Flow, u64> = BTreeMap::new();
    for row in &rows {
        let (src, dst) = outer(row, transport);
        match parse_key(&row[4]) {
            Some(key) => *seen.entry((src, dst, key)).or_default() += 1,
            None => problems.push(format!("a GRE frame without a key: {row:?}")),
        }
    }
    let expected = expected_flows(summary);
    // The ipv6 group's uplink key was reserved on the LMA beforehand (a GTP TEID, TS 29.275 §6.3): tshark must see
    // uplink GRE with exactly that key.
    const RESERVED_UPLINK_KEY: u64 = 0x5eed_0001;
    if summary["groups"]["ipv6"]["reserved_uplink_key"] != RESERVED_UPLINK_KEY {
        problems.push(format!("the ipv6 group did not run on the reserved uplink key: {}", summary["groups"]["ipv6"]));
    }
    if !seen.keys().any(|(_, dst, key)| *dst == lma && *key == RESERVED_UPLINK_KEY) {
        problems.push(format!("no uplink GRE with the reserved key {RESERVED_UPLINK_KEY:#010x} on the wire"));
    }
    let seen_flows: BTreeSet<Flow> = seen.keys().cloned().collect();
    if expected.is_empty() || seen_flows != expected {
        problems.push(format!("GRE flows on the wire {seen:?} differ from the bindings' {expected:?}"));
    }
    match tshark(pcap, transport, "gre && (_ws.malformed || _ws.expert.severity >= error)", &["frame.number"]) {
        Ok(bad) if !bad.is_empty() => problems.push(format!("{} malformed GRE frames", bad.len())),
        Ok(_) => {}
        Err(e) => problems.push(e),
    }
    // What the LMA counted is what crossed its core port. A `kill -9` of the LMA (group ipv4v6) loses what its
    // first incarnation counted after the driver last read it, just before a ping stream across the kill: up to
    // one GRE frame each way per ping of that stream.
    let total = &summary["final_counters"]["lma"]["fastpath"]["total"];
    let to_lma: u64 = seen.iter().filter(|((_, d, _), _)| *d == lma).map(|(_, n)| n).sum();
    let from_lma: u64 = seen.iter().filter(|((s, _, _), _)| *s == lma).map(|(_, n)| n).sum();
    let (mut decapsulated, mut encapsulated, mut unseen) =
        (total["decapsulated"].as_u64().unwrap_or(0), total["encapsulated"].as_u64().unwrap_or(0), 0);
    for (_, group) in groups(summary) {
        let restart = &group["restarts"]["lma"];
        decapsulated += restart["counted_before"]["decapsulated"].as_u64().unwrap_or(0);
        encapsulated += restart["counted_before"]["encapsulated"].as_u64().unwrap_or(0);
        unseen += restart["pings"]["sent"].as_u64().unwrap_or(0);
    }
    let counted = |n: u64, on_wire: u64| n <= on_wire && on_wire <= n + unseen;
    if !counted(decapsulated, to_lma) || !counted(encapsulated, from_lma) {
        problems.push(format!(
            "the LMA decapsulated {decapsulated} and encapsulated {encapsulated} packets; the capture holds {to_lma} \
             GRE frames to it and {from_lma} from it ({unseen} pings across a restart)"
        ));
    }

    // Signalling.
    let fields = [
        "ip.src",
        "ip.dst",
        "ipv6.src",
        "ipv6.dst",
        "mip6.mhtype",
        "mip6.bu.seqnr",
        "mip6.ba.seqnr",
        "mip6.ba.status",
        "mip6.bri_br.type",
        "mip6.mnid.identifier",
    ];
    let rows = match tshark(pcap, transport, "mipv6", &fields) {
        Ok(rows) => rows,
        Err(e) => return [problems, vec![e]].concat(),
    };
    let mut pbus = Vec::new();
    let mut pbas = BTreeMap::new();
    let (mut bri, mut bra) = (0, 0);
    for row in &rows {
        let (src, dst) = outer(row, transport);
        match (row[4].as_str(), row[8].as_str()) {
            ("5", _) => pbus.push((src, dst, row[5].clone(), row[9].clone())),
            ("6", _) => {
                if row[7] != "0" {
                    problems.push(format!("PBA with status {} from {src} to {dst}", row[7]));
                }
                pbas.insert((dst, src, row[6].clone()), row[7].clone());
            }
            ("16", "1") => {
                bri += 1;
                if src != lma || dst != addresses["mag1"] {
                    problems.push(format!("BRI from {src} to {dst}, expected LMA → MAG1"));
                }
            }
            ("16", "2") => bra += 1,
            // RFC 5847 heartbeats, when a run outlasts the 60 s interval.
            ("13", _) => {}
            (other, _) => problems.push(format!("unexpected Mobility Header type {other}: {row:?}")),
        }
    }
    // Three PDN connections created and deleted, one handover; retransmissions would add more.
    if pbus.len() < 7 {
        problems.push(format!("{} PBUs on the core link, expected at least 7", pbus.len()));
    }
    for (mag, dst, seq, mn_id) in &pbus {
        if *dst != lma || !pbas.contains_key(&(mag.clone(), dst.clone(), seq.clone())) {
            problems.push(format!("PBU {mag} → {dst} sequence {seq} ({mn_id}) has no PBA"));
        }
        if !groups(summary).iter().any(|(_, g)| g["mn_id"] == mn_id.as_str()) {
            problems.push(format!("PBU for an MN-ID the scenario did not use: {mn_id:?}"));
        }
    }
    if (bri, bra) != (1, 1) {
        problems.push(format!("{bri} BRI and {bra} BRA on the core link, expected one each (the handover)"));
    }
    match tshark(pcap, transport, "mipv6 && (_ws.malformed || _ws.expert.severity >= warning)", &["frame.number"]) {
        Ok(bad) if !bad.is_empty() => problems.push(format!("tshark flags {} Mobility Header frames", bad.len())),
        Ok(_) => {}
        Err(e) => problems.push(e),
    }
    problems
}

/// Final counters: clean exits, no mbuf leaked, and drops only for reasons the scenario explains.
fn check_counters(summary: &Value, air_pcap: &Path, transport: &str) -> Vec<String> {
    let mut problems = Vec::new();
    // The UE's MLDv2 reports (link-scope multicast to ff02::16) reach the MAGs, which have no use for them.
    let ue_mld_reports =
        match tshark(air_pcap, transport, "eth.src == 02:00:00:00:ee:01 && icmpv6.type == 143", &["frame.number"]) {
            Ok(rows) => rows.len() as u64,
            Err(e) => {
                problems.push(e);
                0
            }
        };
    let mut link_scope_drops = 0;
    // Echo requests the UE sent while it had no PDN connection on the MAG: after each delete, and during the handover.
    let mut after_delete: BTreeMap<&str, u64> = BTreeMap::new();
    let mut warm_up_losses = 0;
    // Per gateway: the pings of the streams across its restarts that went unanswered.
    let mut restarts: BTreeMap<&str, u64> = BTreeMap::new();
    for (name, group) in groups(summary) {
        for (victim, restart) in group["restarts"].as_object().into_iter().flatten() {
            *restarts.entry(victim.as_str()).or_default() += restart["pings"]["lost"].as_u64().unwrap_or(0);
        }
        let mag = if name == "ipv4v6" { "mag2" } else { "mag1" };
        *after_delete.entry(mag).or_default() +=
            array(&group["pings_after_delete"]).iter().map(|p| p["sent"].as_u64().unwrap_or(0)).sum::<u64>();
        // The UE's pings that reached MAG2 between the move and MAG2's PBA.
        *after_delete.entry("mag2").or_default() += group["handover_ping_stream"]["lost"].as_u64().unwrap_or(0);
        warm_up_losses +=
            array(&group["pings"]).iter().map(|p| p["warm_up_pings"].as_u64().unwrap_or(1).max(1) - 1).sum::<u64>();
    }
    for gateway in ["lma", "mag1", "mag2"] {
        let counters = &summary["final_counters"][gateway];
        if summary["gateway_exit"][gateway] != 0 {
            problems.push(format!("{gateway} exited with {}", summary["gateway_exit"][gateway]));
        }
        if counters["mempool"]["in_use_after_shutdown"] != 0 {
            problems.push(format!("{gateway}: mbufs in use after shutdown: {}", counters["mempool"]));
        }
        let drops = counters["fastpath"]["total"]["drops"].as_object();
        if drops.is_none() {
            problems.push(format!("{gateway}: no drop counters"));
        }
        for (reason, count) in drops.into_iter().flatten() {
            let count = count.as_u64().unwrap_or(u64::MAX);
            // Which drops the scenario explains, and how many of them.
            let allowed = match (gateway, reason.as_str()) {
                // MAGs: the UE's MLD reports, checked over both MAGs below.
                ("mag1" | "mag2", "link-scope") => {
                    link_scope_drops += count;
                    count
                }
                // The PDN host's MLD reports when its interface and addresses come up (no capture of that link).
                ("lma", "link-scope") => 10,
                // The UE's pings after its PDN connection was deleted.
                ("mag1" | "mag2", "no-binding") => after_delete.get(gateway).copied().unwrap_or(0),
                // A first packet towards a next hop still being resolved (the warm-up pings that went unanswered),
                // and after a restart, until the gateway has resolved its next hops again.
                (_, "next-hop-unresolved") => warm_up_losses + restarts.get(gateway).copied().unwrap_or(0),
                // While a restarted gateway comes back up: frames the core bridge floods to it while it relearns
                // the gateway's MAC (not-our-address), and packets for its own address not yet identified (0-2 a
                // run on the LMA over IPv4 transport, not on the core capture). Bounded by the traffic lost
                // across the restart.
                (_, "local-unsupported" | "not-our-address") => restarts.get(gateway).copied().unwrap_or(0),
                // Too big for the tunnel: path MTU discovery at work, each one answered with an ICMP error.
                (_, "over-mtu") => counters["fastpath"]["total"]["icmp_errors_sent"].as_u64().unwrap_or(0),
                _ => 0,
            };
            if count > allowed {
                problems.push(format!("{gateway}: drop {reason} {count} (explained: at most {allowed})"));
            }
        }
    }
    if link_scope_drops > ue_mld_reports {
        problems.push(format!(
            "the MAGs dropped {link_scope_drops} packets as link-scope; the UE sent {ue_mld_reports} MLD reports"
        ));
    }
    problems
}

/// No namespace, process, EAL runtime directory or file of the run is left.
fn check_namespaces(summary: &Value) -> Vec<String> {
    let created = array(&summary["namespaces"]).len();
    if created == 7 {
        Vec::new()
    } else {
        vec![format!("the summary lists {created} namespaces, the topology has 7")]
    }
}
