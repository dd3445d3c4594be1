//! The short soak as a test: `deploy/e2e/pmipgw_soak.py --duration 60 --transport v4` runs the end-to-end
//! topology (UE, PDN host, two MAGs, the LMA, over IPv4 transport) under traffic in every direction, UE
//! handovers, churn of other PDN connections at 20 operations a second (create, handover, de-registration,
//! selective de-registration, revocation), refreshes, and a MAG restart whose bindings the LMA lets expire. The
//! driver checks as it goes (bindings, state gauges, counter reconciliation, memory, mbufs); this test reads its
//! summary again and checks the kernel's view of the traffic (ping's own statistics), the memory figures (from
//! /proc), that every procedure ran, and that nothing is left behind. The 10-minute soak (IPv6 transport) is
//! `bash bench/soak.sh`.
//!
//! Needs root and network namespaces (CI runs as root): without them the test fails and says so.

mod namespaced;

use serde_json::Value;
use std::ffi::OsStr;
use std::time::Duration;

/// Setup, 60 s of soak, the checks and the teardown take about 90 s.
const DRIVER_LIMIT: Duration = Duration::from_secs(300);
const DURATION_S: &str = "60";
/// RSS growth allowed after the warm-up, percent (the bound for the 10-minute soak).
const RSS_BOUND_PERCENT: f64 = 1.0;

#[test]
fn sixty_seconds_of_churn_and_traffic_leave_nothing_behind() {
    if let Err(why) = namespaced::preconditions() {
        panic!("the soak test cannot run here: {why}. It needs root, network namespaces, veth, python3 and ping (deploy/install-deps.sh; CI runs as root).");
    }
    let dir = tempfile::Builder::new().prefix("pmipgw-soak-test-").tempdir().expect("temp dir");
    let binary_dir = namespaced::gateway_binaries().expect("the root package's binaries");
    let args: Vec<&OsStr> = [
        OsStr::new("--duration"),
        OsStr::new(DURATION_S),
        OsStr::new("--rate"),
        OsStr::new("20"),
        OsStr::new("--live"),
        OsStr::new("100"),
        OsStr::new("--handover-every"),
        OsStr::new("15"),
        // The 10-minute soak of bench/soak.sh runs over IPv6 transport; this one covers the IPv4 framings.
        OsStr::new("--transport"),
        OsStr::new("v4"),
        OsStr::new("--binary-dir"),
        binary_dir.as_os_str(),
        OsStr::new("--quiet"),
    ]
    .into();
    let run_id = format!("k{}", std::process::id());
    let run = namespaced::DriverRun::start("pmipgw_soak.py", &args, &run_id, dir.path(), DRIVER_LIMIT);
    run.assert_clean("soak", check_summary);
}

fn check_summary(summary: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let checks: Vec<&str> =
        summary["checks"].as_array().into_iter().flatten().filter_map(|c| c["name"].as_str()).collect();
    for wanted in [
        "operations",
        "traffic",
        "bindings",
        "state with the survivors",
        "counters with the survivors",
        "rss",
        "expiries",
        "procedures",
        "state back to its start",
        "counters empty",
        "exit",
    ] {
        if !checks.contains(&wanted) {
            problems.push(format!("check {wanted:?} did not run (ran: {checks:?})"));
        }
    }
    // Every kind of operation happened, none failed.
    let ops = &summary["ops"];
    if ops["failed_count"] != 0 {
        problems.push(format!("operations failed: {}", ops["failed"]));
    }
    for op in ["create", "delete", "handover", "release-one-family", "revoke"] {
        if ops["done"][op].as_u64().unwrap_or(0) == 0 {
            problems.push(format!("no {op} operation was done: {}", ops["done"]));
        }
    }
    // ping's own statistics: each of the four streams was answered at least 90 % (the handovers cost ~0.5 s).
    let pings = summary["ue"]["pings"].as_object().cloned().unwrap_or_default();
    if pings.len() != 4 {
        problems.push(format!("{} ping streams, not 4", pings.len()));
    }
    for (name, stream) in &pings {
        let (sent, received) = (stream["sent"].as_u64().unwrap_or(0), stream["received"].as_u64().unwrap_or(0));
        if sent < 1000 || received * 10 < sent * 9 {
            problems.push(format!("ping stream {name}: {received} of {sent} answered"));
        }
    }
    if summary["ue"]["handovers"].as_u64().unwrap_or(0) < 3 {
        problems.push(format!("only {} UE handovers", summary["ue"]["handovers"]));
    }
    // Memory from /proc after the warm-up, each gateway (MAG2 over its second life).
    for gateway in ["lma", "mag1", "mag2"] {
        let rss = &summary["rss"][gateway];
        match rss["growth_percent"].as_f64() {
            Some(growth) if growth <= RSS_BOUND_PERCENT => {}
            Some(growth) => problems.push(format!("{gateway}: RSS grew {growth} % after the warm-up")),
            None if gateway == "mag2" => {} // a restarted MAG may live too short a time to judge
            None => problems.push(format!("{gateway}: no RSS figures: {rss}")),
        }
    }
    // The restart: MAG2's bindings, and only those, expired at the LMA.
    let stale = summary["ops"]["stale_after_restart"].as_u64().unwrap_or(0);
    let expired = summary["events"]["lma"]["bindings-expired"].as_u64().unwrap_or(0);
    if stale == 0 || expired != stale {
        problems.push(format!("{expired} bindings expired at the LMA, MAG2 held {stale} when it was killed"));
    }
    if summary["events"]["lma"]["peer-restarts"].as_u64().unwrap_or(0) == 0 {
        problems.push("the LMA did not see MAG2's new restart counter".into());
    }
    problems
}
